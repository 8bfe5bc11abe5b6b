/* arrakis init --arch FAMILY [--set key=value ...] [--seed N] [--dtype f32|f16|bf16] --out DIR */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arrakis/arrakis.h"
#include "cli.h"

static void usage(void)
{
    printf("usage: arrakis init --arch FAMILY [--set key=value ...] [--seed N] [--dtype f32|f16|bf16] --out DIR\n\n"
           "Write a randomly initialised Hugging Face model folder (config.json + model.safetensors).\n"
           "FAMILY is one of gpt2, gpt_neo, gpt_neox, llama, gemma, phi3, qwen2, mistral, stablelm;\n"
           "--set overrides config.json keys by their Hugging Face names (values parsed as JSON).\n"
           "Weights ~ N(0, initializer_range) from the seed (default 0); biases 0; norms at identity.\n\n"
           "example: arrakis init --arch llama --set hidden_size=64 --set num_hidden_layers=2 \\\n"
           "           --set num_attention_heads=4 --set num_key_value_heads=2 --set intermediate_size=128 \\\n"
           "           --set vocab_size=512 --out tiny-llama\n");
}

int cmd_init(int argc, char **argv)
{
    const char *arch = NULL, *out = NULL, *v;
    const char *keys[256], *vals[256];
    char *owned[256];
    int n = 0, rc = 0;
    long seed = 0;
    ark_dtype dtype = ARK_F32;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(); return 0; }
        if (cli_opt(argc, argv, &i, "--arch", &v)) { if (!v) return 2; arch = v; }
        else if (cli_opt(argc, argv, &i, "--out", &v)) { if (!v) return 2; out = v; }
        else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            if (!v) return 2;
            if (!cli_parse_int(v, &seed)) return cli_arg_error("init", "--seed %s: expected an integer", v);
        } else if (cli_opt(argc, argv, &i, "--dtype", &v)) {
            if (!v) return 2;
            if (!strcasecmp(v, "f32") || !strcasecmp(v, "float32")) dtype = ARK_F32;
            else if (!strcasecmp(v, "f16") || !strcasecmp(v, "float16")) dtype = ARK_F16;
            else if (!strcasecmp(v, "bf16") || !strcasecmp(v, "bfloat16")) dtype = ARK_BF16;
            else return cli_arg_error("init", "--dtype %s: expected f32, f16 or bf16", v);
        } else if (cli_opt(argc, argv, &i, "--set", &v)) {
            if (!v) return 2;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) return cli_arg_error("init", "--set %s: expected key=value", v);
            if (n == 256) return cli_error("init", "too many --set options");
            owned[n] = strndup(v, (size_t)(eq - v));
            keys[n] = owned[n];
            vals[n++] = eq + 1;
        } else return cli_arg_error("init", "unknown argument %s", argv[i]);
    }
    if (!arch) rc = cli_arg_error("init", "missing --arch FAMILY (one of gpt2, gpt_neo, gpt_neox, llama, gemma, phi3, qwen2, mistral, stablelm)");
    else if (!out) rc = cli_arg_error("init", "missing --out DIR");
    char *json = NULL;
    if (!rc && ark_config_build(arch, n, keys, vals, &json) != ARK_OK) rc = cli_lib_error("init", NULL);
    if (!rc && ark_model_init_folder(json, (uint64_t)seed, dtype, out) != ARK_OK) rc = cli_lib_error("init", NULL);
    if (!rc) {
        ark_config c;
        ark_config_parse(json, "config", &c);
        printf("wrote %s: %s, %d layers, d_model %d, %d heads (kv %d), vocab %d, %s weights, seed %ld\n", out,
               c.family, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.d_vocab, ark_dtype_name(dtype), seed);
    }
    free(json);
    for (int i = 0; i < n; i++) free(owned[i]);
    return rc;
}
