/* arrakis info MODEL_DIR [--json] */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"

static const char *norm_name(ark_norm_kind k)
{
    return k == ARK_NORM_LAYERNORM ? "layernorm" : k == ARK_NORM_RMSNORM ? "rmsnorm" : "rmsnorm(1+w)";
}

static const char *act_name(ark_act_kind a)
{
    static const char *names[] = {"gelu_tanh", "gelu", "silu", "relu", "gelu_fast", "quick_gelu"};
    return names[a];
}

static cJSON *describe(const ark_model *m)
{
    const ark_config *c = ark_model_config(m);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "family", c->family);
    cJSON_AddNumberToObject(o, "n_layers", c->n_layers);
    cJSON_AddNumberToObject(o, "d_model", c->d_model);
    cJSON_AddNumberToObject(o, "n_heads", c->n_heads);
    cJSON_AddNumberToObject(o, "n_kv_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(o, "d_head", c->d_head);
    cJSON_AddNumberToObject(o, "d_mlp", c->d_mlp);
    cJSON_AddNumberToObject(o, "d_vocab", c->d_vocab);
    cJSON_AddNumberToObject(o, "n_ctx", c->n_ctx);
    cJSON_AddNumberToObject(o, "n_params", (double)ark_model_n_params(m));
    cJSON_AddStringToObject(o, "dtype_on_disk", ark_model_disk_dtype(m));
    cJSON_AddStringToObject(o, "norm", norm_name(c->norm));
    cJSON_AddNumberToObject(o, "norm_eps", c->norm_eps);
    cJSON_AddStringToObject(o, "positional", c->pos == ARK_POS_LEARNED ? "learned" : "rotary");
    if (c->pos == ARK_POS_ROTARY) {
        cJSON_AddNumberToObject(o, "rotary_dim", c->rotary_dim);
        cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
        cJSON_AddStringToObject(o, "rope_scaling", c->rope_scaling == ARK_ROPE_LINEAR ? "linear"
                                                   : c->rope_scaling == ARK_ROPE_LLAMA3 ? "llama3" : "none");
    }
    cJSON_AddStringToObject(o, "mlp", c->mlp == ARK_MLP_GATED ? "gated" : "plain");
    cJSON_AddStringToObject(o, "activation", act_name(c->act));
    cJSON_AddStringToObject(o, "residual", c->parallel_residual ? "parallel" : "sequential");
    cJSON_AddBoolToObject(o, "tied_embeddings", c->tied_embeddings);
    cJSON *win = cJSON_AddArrayToObject(o, "attention_window");
    for (int l = 0; l < c->n_layers; l++)
        cJSON_AddItemToArray(win, c->window[l] ? cJSON_CreateNumber(c->window[l]) : cJSON_CreateNull());
    cJSON *hooks = cJSON_AddArrayToObject(o, "hook_points");
    for (int i = 0; i < ark_hook_count(m); i++) cJSON_AddItemToArray(hooks, cJSON_CreateString(ark_hook_name(m, i)));
    return o;
}

static void print_human(const ark_model *m, const cJSON *o)
{
    const ark_config *c = ark_model_config(m);
    printf("model      %s (%s)\n", ark_model_dir(m), c->family);
    printf("layers     %d   d_model %d   heads %d (kv %d)   d_head %d   d_mlp %d\n", c->n_layers, c->d_model,
           c->n_heads, c->n_kv_heads, c->d_head, c->d_mlp);
    printf("vocab      %d   context %d\n", c->d_vocab, c->n_ctx);
    printf("params     %lld (%s on disk)\n", (long long)ark_model_n_params(m), ark_model_disk_dtype(m));
    printf("norm       %s (eps %g)\n", norm_name(c->norm), c->norm_eps);
    if (c->pos == ARK_POS_ROTARY)
        printf("positions  rotary: %d of %d dims, theta %g%s\n", c->rotary_dim, c->d_head, c->rope_theta,
               c->rope_scaling == ARK_ROPE_LINEAR ? ", linear scaling" : c->rope_scaling == ARK_ROPE_LLAMA3 ? ", llama3 scaling" : "");
    else
        printf("positions  learned\n");
    printf("block      %s residual, %s MLP (%s), %s embeddings\n", c->parallel_residual ? "parallel" : "sequential",
           c->mlp == ARK_MLP_GATED ? "gated" : "plain", act_name(c->act), c->tied_embeddings ? "tied" : "untied");
    int windowed = 0;
    for (int l = 0; l < c->n_layers; l++) windowed += c->window[l] != 0;
    if (windowed) {
        printf("windows   ");
        for (int l = 0; l < c->n_layers; l++) c->window[l] ? printf(" %d", c->window[l]) : printf(" global");
        printf("\n");
    }
    const cJSON *hooks = cJSON_GetObjectItem(o, "hook_points"), *h;
    printf("hook points (%d):\n", cJSON_GetArraySize(hooks));
    cJSON_ArrayForEach(h, hooks) {
        /* list the global points and layer 0's; other layers repeat them */
        if (strncmp(h->valuestring, "blocks.", 7) == 0 && strncmp(h->valuestring, "blocks.0.", 9) != 0) continue;
        printf("  %s\n", h->valuestring);
    }
    if (c->n_layers > 1) printf("  (blocks.1 .. blocks.%d have the same points as blocks.0)\n", c->n_layers - 1);
}

static void usage(void)
{
    printf("usage: arrakis info MODEL_DIR [--json]\n\n"
           "Describe a Hugging Face model folder: family, sizes, heads, kv heads, head dim,\n"
           "MLP width, vocab, parameter count, dtype on disk, norm, positions, hook points.\n\n"
           "example: arrakis info models/induction-words --json\n");
}

int cmd_info(int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    const cli_option opts[] = {CLI_FLAG_OPT("--json", &json), CLI_OPT_END};
    cli_spec spec = {.cmd = "info", .usage = usage, .opts = opts, .dir = &dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) return cli_lib_error("info", NULL);
    cJSON *o = describe(m);
    if (json) {
        char *s = cJSON_Print(o);
        printf("%s\n", s);
        free(s);
    } else {
        print_human(m, o);
    }
    cJSON_Delete(o);
    ark_model_free(m);
    return 0;
}
