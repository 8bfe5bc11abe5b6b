/* arrakis run MODEL_DIR (--tokens IDS | --text TEXT)... [--hooks NAMES] [--out FILE] [--top-k N] [--json] */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_interv.h"
#include "cli_process.h"

static void usage(void)
{
    printf("usage: arrakis run MODEL_DIR (--tokens IDS | --text TEXT) [--tokens ... | --text ...]\n"
           "                  [--hooks NAME_OR_GLOB[,...]] [--out FILE.safetensors] [--top-k N] [--json]\n"
           "                  [--ablate HOOK[:pos=..][:head=..][:neuron=..][:mode=zero|mean]]\n"
           "                  [--patch HOOK[:pos=..][:head=..] --from CACHE.safetensors]\n"
           "                  [--steer HOOK:VECTOR.safetensors[:ALPHA]] [--process STEPS]\n\n"
           "Run the model on one batch: each --tokens (comma-separated ids) or --text (encoded with the\n"
           "folder's tokenizer, BOS added where tokenizer_config.json says so) is one row; shorter rows are\n"
           "padded and masked.  Prints the top-k next-token predictions after each row's last token.\n"
           "--hooks keeps hook points: exact names, globs (blocks.*.attn.hook_pattern), TransformerLens\n"
           "shorthand (pattern, resid_post:-1, k3), or 'all'.  --out writes 'logits' [b, p, vocab] and every\n"
           "kept hook point under its name, float32, to a safetensors file (of the intervened run).\n"
           "--ablate zeroes (or mean-ablates, the mean over the batch's rows and positions) a hook point,\n"
           "optionally only at some positions / heads / last-dim indices; --patch writes values from a\n"
           "cache file written by --out; --steer adds ALPHA (default 1) times a vector.\n"
           CLI_PROCESS_USAGE "\n"
           "examples:\n"
           "  arrakis run ../shared/fixtures/models/gpt2 --tokens 12,7,99 --tokens 5,6 --top-k 3\n"
           "  arrakis run MODEL_DIR --text \"The Eiffel Tower is in\" --hooks 'blocks.*.hook_resid_post' --out cache.safetensors\n"
           "  arrakis run MODEL_DIR --tokens 5,6,7 --ablate blocks.0.attn.hook_z:head=1 --top-k 3\n"
           "  arrakis run MODEL_DIR --tokens 5,6,9 --patch resid_pre1:pos=2 --from cache.safetensors\n");
}

/* Top-k of a row of logits, with softmax probabilities. */
static void top_k(const float *logits, int V, int k, int *ids, float *vals, float *probs)
{
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < V; i++) sum += exp(logits[i] - mx);
    for (int j = 0; j < k; j++) { ids[j] = -1; vals[j] = -INFINITY; }
    for (int i = 0; i < V; i++) {
        if (logits[i] <= vals[k - 1] && ids[k - 1] >= 0) continue;
        int j = k - 1;
        while (j > 0 && (ids[j - 1] < 0 || logits[i] > vals[j - 1])) { ids[j] = ids[j - 1]; vals[j] = vals[j - 1]; j--; }
        ids[j] = i;
        vals[j] = logits[i];
    }
    for (int j = 0; j < k; j++) probs[j] = (float)(exp(vals[j] - mx) / sum);
}

static int report(const cli_batch *in, const ark_cache *cache, int k, bool json, cli_vocab *vocab)
{
    const ark_tensor *lg = ark_cache_logits(cache);
    int T = (int)lg->shape[1], V = (int)lg->shape[2];
    if (k > V) k = V;
    int *ids = malloc(sizeof(int) * k);
    float *vals = malloc(sizeof(float) * k), *probs = malloc(sizeof(float) * k);
    cJSON *rows = cJSON_CreateArray();
    for (int b = 0; b < in->B; b++) {
        int last = in->len[b] - 1;
        top_k(lg->data + ((size_t)b * T + last) * V, V, k, ids, vals, probs);
        cJSON *row = cJSON_CreateObject(), *toks = cJSON_AddArrayToObject(row, "tokens");
        for (int t = 0; t < in->len[b]; t++) cJSON_AddItemToArray(toks, cJSON_CreateNumber(in->tokens[(size_t)b * in->T + t]));
        cJSON *preds = cJSON_AddArrayToObject(row, "top_k");
        if (!json) printf("row %d (%d tokens): next-token predictions\n", b, in->len[b]);
        for (int j = 0; j < k; j++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "id", ids[j]);
            const char *s = cli_vocab_piece(vocab, ids[j]);
            if (s) cJSON_AddStringToObject(p, "token", s);
            cJSON_AddNumberToObject(p, "logit", vals[j]);
            cJSON_AddNumberToObject(p, "prob", probs[j]);
            cJSON_AddItemToArray(preds, p);
            if (!json) {
                printf("  %2d. id %-7d", j + 1, ids[j]);
                if (s) { printf(" "); cli_print_piece(stdout, s, 16); }
                printf("  logit %9.4f  prob %.4f\n", vals[j], probs[j]);
            }
        }
        cJSON_AddItemToArray(rows, row);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "rows", rows);
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(rows);
    }
    free(ids);
    free(vals);
    free(probs);
    return 0;
}

/* --hooks a,b,c: each entry through the plan (exact, glob, shorthand, all). */
static int keep_hooks(ark_plan *plan, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!strcmp(tok, "all")) ark_plan_keep_all(plan);
        else if (ark_plan_keep(plan, tok) != ARK_OK) rc = cli_lib_error("run", "--hooks");
    }
    free(copy);
    return rc;
}

/* --hooks (repeatable) and the intervention flags, for cli_parse. */
typedef struct run_extra {
    const char *hooks[64];
    int n_hooks;
    cli_interv iv;
} run_extra;

static int extra_arg(void *ctx, int argc, char **argv, int *i)
{
    run_extra *x = ctx;
    const char *v;
    if (!cli_opt(argc, argv, i, "--hooks", &v)) return cli_interv_spec_arg(&x->iv, argc, argv, i);
    if (!v) return -2;
    if (x->n_hooks < 64) x->hooks[x->n_hooks++] = v;
    return 1;
}

int cmd_run(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    long k = 5;
    bool json = false;
    cli_inputs inputs = {0};
    run_extra x = {0};
    cli_interv *iv = &x.iv;
    unsigned process = 0;
    const cli_option opts[] = {
        CLI_STR_OPT("--out", &out),
        CLI_INT_OPT("--top-k", &k, CLI_MIN(1), .expect = "a positive integer"),
        CLI_FLAG_OPT("--json", &json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "run", .usage = usage, .opts = opts, .inputs = &inputs, .process = &process,
                     .dir = &dir, .arg = extra_arg, .arg_ctx = &x};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) { /* --help (rc -1) or an argument error */
        cli_inputs_free(&inputs);
        cli_interv_free(iv);
        return rc < 0 ? 0 : rc;
    }
    ark_model *m = NULL;
    if (ark_model_open(dir, &m) != ARK_OK) {
        cli_inputs_free(&inputs);
        cli_interv_free(iv);
        return cli_lib_error("run", NULL);
    }
    cli_batch batch = {0};
    cli_vocab vocab = {0};
    rc = cli_apply_process("run", m, process);
    if (!rc) rc = cli_inputs_batch(&inputs, "run", dir, m, &batch, &vocab);
    ark_plan *plan = ark_plan_new(m);
    for (int i = 0; !rc && i < x.n_hooks; i++) rc = keep_hooks(plan, x.hooks[i]);
    if (!rc) rc = cli_interv_apply(iv, "run", m, &batch, plan);
    ark_cache *cache = NULL;
    if (!rc && ark_run(m, batch.tokens, batch.B, batch.T, batch.mask, plan, &cache) != ARK_OK)
        rc = cli_lib_error("run", NULL);
    if (!rc && out && ark_cache_save(cache, out) != ARK_OK) rc = cli_lib_error("run", "--out");
    if (!rc) rc = report(&batch, cache, (int)k, json, &vocab);
    if (!rc && out && !json) fprintf(stderr, "wrote %s (logits and %d hook points)\n", out, ark_cache_count(cache));
    ark_cache_free(cache);
    ark_plan_free(plan);
    cli_batch_free(&batch);
    cli_vocab_free(&vocab);
    cli_inputs_free(&inputs);
    cli_interv_free(iv);
    ark_model_free(m);
    return rc;
}
