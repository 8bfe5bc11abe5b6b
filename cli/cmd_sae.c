/* arrakis sae train|eval|features: sparse autoencoders on a hook point's
 * activations (the tool "superposition", ops sae_train, sae_eval,
 * sae_features; include/arrakis/tool_superposition.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis sae train (MODEL_DIR --data FILE.jsonl --hook HOOK | --activations FILE.safetensors [--key NAME])\n"
           "                         --d-sae N [--k K | --l1 C] [--steps S] [--batch B] [--lr LR] [--seed S] [--lr-decay F]\n"
           "                         [--no-normalize] [--true-features FILE [--true-key NAME]] [--no-eval] [--no-ce]\n"
           "                         --out DIR [--json]\n"
           "       arrakis sae eval SAE_DIR (MODEL_DIR --data FILE.jsonl | --activations FILE [--key NAME]) [--no-ce]\n"
           "                         [--dense-threshold X] [--json]\n"
           "       arrakis sae features SAE_DIR MODEL_DIR --data FILE.jsonl [--feature F] [--k K] [--before N] [--after N]\n"
           "                         [--top N] [--json]\n\n"
           "train: a sparse autoencoder on activations streamed from HOOK over the data (through a shuffle buffer)\n"
           "or on the rows of a stored matrix [N, d] (the tensor NAME of a safetensors file; leading dims flattened).\n"
           "TopK (--k K, the default with K = min(32, d_sae); Gao et al. 2024) or ReLU + L1 (--l1 C: loss = |x_hat - x|^2\n"
           "+ C sum_i f_i |W_dec,i|).  Decoder rows kept at unit norm, Adam (--lr, default 1e-3, linear decay over the\n"
           "last --lr-decay 0.2 of the --steps 2000), batches of --batch 1024 rows, seeded (--seed).  Activations are\n"
           "scaled so that E|x - mean|^2 = d during training (--no-normalize: not); the saved SAE reads raw ones.\n"
           "The SAE is saved in SAELens' format in DIR: cfg.json + sae_weights.safetensors (W_enc [d_in, d_sae],\n"
           "b_enc, W_dec [d_sae, d_in], b_dec).  Then it is evaluated on all of the activations: MSE, FVE = 1 - MSE/Var,\n"
           "L0, dead features (never active) and dense ones (density > 0.1), and, on a model, the CE loss recovered\n"
           "(CE_ablated - CE_sae) / (CE_ablated - CE_clean) with the hook zero-ablated / replaced by the reconstruction.\n"
           "--true-features FILE (rows = known directions, d_in wide) reports for each the best cosine with a decoder\n"
           "row and how many exceed 0.9.\n"
           "With MODEL_DIR, --forward-batch N prompts run per forward pass (default 8), --max-len cuts prompts and\n"
           "--max-prompts limits the data; with --activations, --hook only labels the SAE (cfg.json hook_name).\n"
           "eval: the same metrics for a saved SAE.  features: per-feature densities and the densest features' top\n"
           "tokens, or with --feature F its top --k activating tokens with --before/--after tokens of context and\n"
           "the feature's activation on each.\n\n"
           "examples:\n"
           "  arrakis sae train --activations acts.safetensors --key acts --d-sae 512 --k 8 --steps 3000 --out sae/ --json\n"
           "  arrakis sae train MODEL_DIR --data prompts.jsonl --hook blocks.0.hook_resid_post --d-sae 256 --l1 2 --out sae/\n"
           "  arrakis sae eval sae/ MODEL_DIR --data prompts.jsonl\n"
           "  arrakis sae features sae/ MODEL_DIR --data prompts.jsonl --feature 17 --k 5\n");
}

typedef struct sae_args {
    const char *sub, *pos[2], *data, *hook, *acts, *key, *out, *true_f, *true_key, *lr, *l1, *lr_decay, *dense;
    long d_sae, k, steps, batch, seed, feature, ex_k, before, after, top, max_len, max_prompts, fbatch;
    bool has_k, has_seed, no_normalize, no_eval, no_ce, json;
    int n_pos;
    cli_inputs inputs;
} sae_args;

static int set_long(const char *opt, const char *v, long lo, long *out)
{
    if (!v) return 2;
    if (!cli_parse_int(v, out) || *out < lo) return cli_arg_error("sae", "%s %s: expected an integer >= %ld", opt, v, lo);
    return 0;
}

static int set_num(const char *opt, const char *v, const char **out)
{
    char *end;
    if (!v) return 2;
    double x = strtod(v, &end);
    if (*end || end == v || !isfinite(x)) return cli_arg_error("sae", "%s %s: expected a number", opt, v);
    *out = v;
    return 0;
}

static int parse_opt(int argc, char **argv, int *i, sae_args *a)
{
    const char *v, **s = NULL;
    static const struct { const char *opt; size_t off; } strs[] = {
        {"--data", offsetof(sae_args, data)}, {"--hook", offsetof(sae_args, hook)},
        {"--activations", offsetof(sae_args, acts)}, {"--key", offsetof(sae_args, key)}, {"--out", offsetof(sae_args, out)},
        {"--true-features", offsetof(sae_args, true_f)}, {"--true-key", offsetof(sae_args, true_key)}};
    static const struct { const char *opt; size_t off; long lo; } longs[] = {
        {"--d-sae", offsetof(sae_args, d_sae), 1}, {"--steps", offsetof(sae_args, steps), 1},
        {"--batch", offsetof(sae_args, batch), 1}, {"--feature", offsetof(sae_args, feature), 0},
        {"--before", offsetof(sae_args, before), 0}, {"--after", offsetof(sae_args, after), 0},
        {"--top", offsetof(sae_args, top), 0}, {"--max-len", offsetof(sae_args, max_len), 1},
        {"--max-prompts", offsetof(sae_args, max_prompts), 0}, {"--forward-batch", offsetof(sae_args, fbatch), 1}};
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if (cli_opt(argc, argv, i, strs[k].opt, &v)) { if (!v) return 2; *(const char **)((char *)a + strs[k].off) = v; return 0; }
    for (size_t k = 0; k < sizeof longs / sizeof longs[0]; k++)
        if (cli_opt(argc, argv, i, longs[k].opt, &v)) return set_long(longs[k].opt, v, longs[k].lo, (long *)((char *)a + longs[k].off));
    if (cli_opt(argc, argv, i, "--k", &v)) { a->has_k = true; return set_long("--k", v, 1, !strcmp(a->sub, "features") ? &a->ex_k : &a->k); }
    if (cli_opt(argc, argv, i, "--seed", &v)) { a->has_seed = true; return set_long("--seed", v, 0, &a->seed); }
    if (cli_opt(argc, argv, i, "--lr", &v)) s = &a->lr;
    else if (cli_opt(argc, argv, i, "--l1", &v)) s = &a->l1;
    else if (cli_opt(argc, argv, i, "--lr-decay", &v)) s = &a->lr_decay;
    else if (cli_opt(argc, argv, i, "--dense-threshold", &v)) s = &a->dense;
    if (s) return set_num(argv[*i], v, s);
    if (cli_flag(argv, *i, "--no-normalize")) a->no_normalize = true;
    else if (cli_flag(argv, *i, "--no-eval")) a->no_eval = true;
    else if (cli_flag(argv, *i, "--no-ce")) a->no_ce = true;
    else if (cli_flag(argv, *i, "--json")) a->json = true;
    else if (argv[*i][0] == '-') return cli_arg_error("sae", "unknown option %s", argv[*i]);
    else if (a->n_pos < 2) a->pos[a->n_pos++] = argv[*i];
    else return cli_arg_error("sae", "unexpected argument %s", argv[*i]);
    return 0;
}

static void add_num_str(cJSON *p, const char *key, const char *v) { if (v) cJSON_AddNumberToObject(p, key, strtod(v, NULL)); }

/* Parameters of the op from the flags; *model_dir: the folder to open (or NULL). */
static int build(sae_args *a, cJSON *p, const char **model_dir)
{
    bool train = !strcmp(a->sub, "train");
    const char *sae_dir = train ? NULL : a->pos[0];
    *model_dir = train ? a->pos[0] : a->pos[1];
    if (train && a->n_pos > 1) return cli_error("sae", "train takes at most one MODEL_DIR");
    if (!train && !sae_dir) return cli_error("sae", "%s: missing SAE_DIR (see arrakis sae --help)", a->sub);
    if (sae_dir) cJSON_AddStringToObject(p, "sae", sae_dir);
    bool rows = a->inputs.n > 0 || a->inputs.tokens_file || a->data;
    if (a->acts && (rows || *model_dir)) return cli_arg_error("sae", "--activations excludes MODEL_DIR and --data/--text/--tokens");
    if (!a->acts && !*model_dir) return cli_error("sae", "%s: give MODEL_DIR with --data, or --activations FILE", a->sub);
    if (!a->acts && !rows) return cli_error("sae", "no data: give --data FILE.jsonl, --tokens-file FILE, --text or --tokens");
    if (!strcmp(a->sub, "features") && a->acts) return cli_error("sae", "features needs MODEL_DIR and --data (contexts are tokens)");
    if (a->acts) cJSON_AddStringToObject(p, "activations", a->acts);
    if (a->key) cJSON_AddStringToObject(p, "key", a->key);
    if (a->data || a->inputs.tokens_file) cJSON_AddStringToObject(p, "data", a->data ? a->data : a->inputs.tokens_file);
    if (a->fbatch) cJSON_AddNumberToObject(p, "batch_prompts", (double)a->fbatch);
    if (a->max_len) cJSON_AddNumberToObject(p, "max_len", (double)a->max_len);
    if (a->max_prompts) cJSON_AddNumberToObject(p, "max_prompts", (double)a->max_prompts);
    add_num_str(p, "dense_threshold", a->dense);
    if (a->no_ce) cJSON_AddFalseToObject(p, "ce");
    if (!strcmp(a->sub, "features")) {
        if (a->feature >= 0) cJSON_AddNumberToObject(p, "feature", (double)a->feature);
        if (a->ex_k) cJSON_AddNumberToObject(p, "k", (double)a->ex_k);
        if (a->before >= 0) cJSON_AddNumberToObject(p, "before", (double)a->before);
        if (a->after >= 0) cJSON_AddNumberToObject(p, "after", (double)a->after);
        if (a->top >= 0) cJSON_AddNumberToObject(p, "top", (double)a->top);
        return 0;
    }
    if (!train) return 0;
    if (!a->d_sae) return cli_error("sae", "train: --d-sae N is required");
    if (!a->out) return cli_error("sae", "train: --out DIR is required (the SAE is saved there)");
    if (a->has_k && a->l1) return cli_arg_error("sae", "train: give --k (TopK) or --l1 (ReLU + L1), not both");
    if (!a->acts && !a->hook) return cli_error("sae", "train: --hook HOOK is required with MODEL_DIR");
    if (a->hook) cJSON_AddStringToObject(p, "hook", a->hook);
    cJSON_AddNumberToObject(p, "d_sae", (double)a->d_sae);
    if (a->has_k) cJSON_AddNumberToObject(p, "k", (double)a->k);
    add_num_str(p, "l1", a->l1);
    add_num_str(p, "lr", a->lr);
    add_num_str(p, "lr_decay", a->lr_decay);
    if (a->steps) cJSON_AddNumberToObject(p, "steps", (double)a->steps);
    if (a->batch) cJSON_AddNumberToObject(p, "batch", (double)a->batch);
    if (a->has_seed) cJSON_AddNumberToObject(p, "seed", (double)a->seed);
    if (a->no_normalize) cJSON_AddFalseToObject(p, "normalize");
    if (a->no_eval) cJSON_AddFalseToObject(p, "eval");
    cJSON_AddStringToObject(p, "out", a->out);
    if (a->true_f) cJSON_AddStringToObject(p, "true_features", a->true_f);
    if (a->true_key) cJSON_AddStringToObject(p, "true_key", a->true_key);
    return 0;
}

static void print_metrics(const cJSON *m)
{
    if (!m) return;
    printf("on %.0f tokens: MSE %.6g, variance %.6g, FVE %.4f, L0 %.2f, dead %.0f, dense %.0f (density > %g)\n",
           cli_num(m, "n_tokens"), cli_num(m, "mse"), cli_num(m, "variance"), cli_num(m, "fve"), cli_num(m, "l0"), cli_num(m, "n_dead"),
           cli_num(m, "n_dense"), cli_num(m, "dense_threshold"));
    if (cJSON_GetObjectItemCaseSensitive(m, "ce_recovered"))
        printf("next-token CE: clean %.5f, with the SAE %.5f, zero-ablated %.5f -> CE loss recovered %.4f\n",
               cli_num(m, "ce_clean"), cli_num(m, "ce_sae"), cli_num(m, "ce_ablated"), cli_num(m, "ce_recovered"));
}

static void print_result(const sae_args *a, const cJSON *r)
{
    if (!strcmp(a->sub, "features")) {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "result"), *e, *ex;
        if (!res) {
            printf("%.0f tokens, L0 %.2f, dead features %.0f\n%-8s %9s %9s  top tokens\n", cli_num(r, "n_tokens"), cli_num(r, "l0"),
                   cli_num(r, "n_dead"), "feature", "density", "max");
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "densest")) {
                printf("%-8.0f %9.4f %9.4g ", cli_num(e, "feature"), cli_num(e, "density"), cli_num(e, "max_act"));
                cJSON_ArrayForEach(ex, cJSON_GetObjectItemCaseSensitive(e, "top_examples")) {
                    printf(" ");
                    cli_print_piece(stdout, cJSON_GetObjectItemCaseSensitive(ex, "str")->valuestring, 0);
                }
                printf("\n");
            }
            return;
        }
        printf("feature %.0f: density %.4f, max %.4g over %.0f tokens\n", cli_num(r, "feature"), cli_num(res, "density"),
               cli_num(res, "max_act"), cli_num(res, "n_tokens"));
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(res, "examples")) {
            printf("%9.4g  prompt %.0f pos %.0f: ", cli_num(e, "act"), cli_num(e, "prompt"), cli_num(e, "pos"));
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "str_tokens"), *acts = cJSON_GetObjectItemCaseSensitive(e, "acts");
            for (int i = 0; i < cJSON_GetArraySize(s); i++) {
                cli_print_piece(stdout, cJSON_GetArrayItem(s, i)->valuestring, 0);
                const cJSON *x = cJSON_GetArrayItem(acts, i);
                printf("(%.2g) ", cJSON_IsNumber(x) ? x->valuedouble : NAN);
            }
            printf("\n");
        }
        return;
    }
    printf("%s SAE: d_in %.0f, d_sae %.0f", cJSON_GetObjectItemCaseSensitive(r, "architecture")->valuestring, cli_num(r, "d_in"),
           cli_num(r, "d_sae"));
    if (cJSON_GetObjectItemCaseSensitive(r, "k")) printf(", k %.0f", cli_num(r, "k"));
    printf(", hook %s\n", cJSON_GetObjectItemCaseSensitive(r, "hook_name")->valuestring);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "training");
    if (t)
        printf("trained %.0f steps on %.0f tokens in %.2f s (%.0f tokens/s); %.0f features dead in the last steps\n",
               cli_num(t, "steps"), cli_num(t, "tokens"), cli_num(t, "seconds"), cli_num(t, "tokens_per_second"), cli_num(t, "n_dead"));
    print_metrics(cJSON_GetObjectItemCaseSensitive(r, "metrics"));
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(r, "recovery");
    if (rec)
        printf("true directions recovered (cosine > 0.9): %.0f of %.0f (mean best cosine %.4f)\n", cli_num(rec, "n_recovered"),
               cli_num(rec, "n_true"), cli_num(rec, "mean_best_cos"));
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(r, "out");
    if (cJSON_IsString(out)) printf("saved to %s (cfg.json, sae_weights.safetensors)\n", out->valuestring);
}

static int run_tool(const char *model_dir, const char *op, const char *params, char **result)
{
    if (model_dir) {
        cli_tool_ctx ctx;
        int rc = cli_tool_open("sae", model_dir, &ctx);
        if (!rc) rc = cli_tool_call("sae", &ctx, "superposition", op, params, result);
        cli_tool_close(&ctx);
        return rc;
    }
    ark_tool_env env = {0};
    ark_tool *t;
    if (ark_tool_new("superposition", &env, &t) != ARK_OK) return cli_lib_error("sae", NULL);
    int rc = ark_tool_run(t, op, params, result) == ARK_OK ? 0 : cli_lib_error("sae", NULL);
    ark_tool_free(t);
    return rc;
}

int cmd_sae(int argc, char **argv)
{
    if (argc < 2) return cli_arg_error("sae", "missing the subcommand: train, eval or features");
    if (cli_flag(argv, 1, "--help") || cli_flag(argv, 1, "-h")) { usage(); return 0; }
    sae_args a = {.sub = argv[1], .feature = -1, .before = -1, .after = -1, .top = -1};
    if (strcmp(a.sub, "train") && strcmp(a.sub, "eval") && strcmp(a.sub, "features"))
        return cli_arg_error("sae", "unknown subcommand \"%s\": expected train, eval or features", a.sub);
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(); cli_inputs_free(&a.inputs); return 0; }
        int used = cli_inputs_arg(&a.inputs, argc, argv, &i);
        if (used < 0) rc = 2;
        else if (!used) rc = parse_opt(argc, argv, &i, &a);
    }
    cJSON *p = cJSON_CreateObject();
    const char *model_dir = NULL;
    if (!rc) rc = build(&a, p, &model_dir);
    if (!rc && a.inputs.n > 0) { /* --text/--tokens rows: ids in the parameters */
        cli_tool_ctx ctx;
        rc = cli_tool_open("sae", model_dir, &ctx);
        if (!rc) rc = cli_tool_add_inputs("sae", &a.inputs, model_dir, ctx.model, p);
        cli_tool_close(&ctx);
    }
    char *params = cJSON_PrintUnformatted(p), *result = NULL;
    const char *op = !strcmp(a.sub, "train") ? "sae_train" : !strcmp(a.sub, "eval") ? "sae_eval" : "sae_features";
    if (!rc) rc = run_tool(model_dir, op, params, &result);
    if (!rc && a.json) printf("%s\n", result);
    else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        print_result(&a, r);
        cJSON_Delete(r);
    }
    free(result);
    free(params);
    cJSON_Delete(p);
    cli_inputs_free(&a.inputs);
    return rc;
}
