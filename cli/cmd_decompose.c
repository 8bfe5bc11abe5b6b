/* arrakis decompose MODEL_DIR (--text TEXT | --tokens IDS)... [--layer L] [--pos P] [--heads] [--neurons]
 *                   [--target TOKEN [--against TOKEN]] [--top N] [--json] [--vectors]
 *
 * The residual stream after one layer, at one position, as the sum of its
 * labelled parts (include/arrakis/analysis.h: ark_decompose_resid), with
 * each part's norm and, given a target token, its direct logit attribution
 * (ark_logit_attrs). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"

static void usage(void)
{
    printf("usage: arrakis decompose MODEL_DIR (--text TEXT | --tokens IDS) [--layer L] [--pos P] [--heads]\n"
           "                        [--neurons] [--target TOKEN [--against TOKEN]] [--top N] [--json] [--vectors]\n\n"
           "Split the residual stream after layer L (blocks.L.hook_resid_post; default: the last layer) at\n"
           "position P (default: the last token; negative counts from the end) into its parts: the token and\n"
           "position embeddings and each block's attention and MLP output, with --heads one part per head plus\n"
           "the attention output bias (\"L3H2\", \"3_attn_bias\"), with --neurons one per MLP neuron plus the\n"
           "MLP output bias (\"L3N17\", \"3_mlp_bias\").  The parts sum to the residual stream; the sum check\n"
           "prints |sum of parts - residual|.\n\n"
           "--target TOKEN adds each part's direct logit attribution to TOKEN (minus --against TOKEN): the part\n"
           "through the final norm's linear part, with the real residual's cached scale, dotted with the\n"
           "unembedding column (TransformerLens' cache.logit_attrs with fold_ln).  At the last layer the\n"
           "attributions plus the final norm's and the unembedding's bias term add up to the model's logit.\n"
           "TOKEN is an id, or a token string of the folder's tokenizer (\"Ġworld\") or a text that encodes to\n"
           "exactly one token (\" world\"); an all-digit TOKEN is read as an id.\n\n"
           "The table is sorted by |attribution| (by norm without --target) and shows the --top N parts\n"
           "(default 20; 0 = all).  --json prints every part in residual order as {label, norm, attribution};\n"
           "--vectors adds each part's vector and the residual stream.  Each --text/--tokens is one row,\n"
           "decomposed on its own (positions count within the row).\n\n"
           "examples:\n"
           "  arrakis decompose ../shared/fixtures/models/gpt2 --tokens 57,316,141,132 --heads --target 12\n"
           "  arrakis decompose MODEL_DIR --text \"The Eiffel Tower is in\" --target \" Paris\" --against \" Rome\"\n"
           "  arrakis decompose MODEL_DIR --tokens 1,2,3,4 --layer 0 --pos -2 --neurons --top 10 --json\n");
}

typedef struct decomp_args {
    const char *dir, *target_s, *against_s;
    long layer, pos, top;
    bool heads, neurons, json, vectors;
    cli_inputs inputs;
} decomp_args;

/* A token given as an id, a vocabulary string, or a text of one token. */
static int parse_token(const char *opt, const char *s, cli_vocab *v, int d_vocab, int32_t *out)
{
    long id;
    if (cli_parse_int(s, &id)) {
        if (id < 0 || id >= d_vocab) return cli_error("decompose", "%s %ld: token ids are 0..%d", opt, id, d_vocab - 1);
        *out = (int32_t)id;
        return 0;
    }
    if (!v->tok)
        return cli_error("decompose", "%s \"%s\": not a token id, and the folder has no tokenizer.json to look it up",
                         opt, s);
    int32_t t = ark_tokenizer_token_to_id(v->tok, s);
    if (t < 0) {
        ark_encoding *e;
        if (ark_tokenizer_encode(v->tok, s, strlen(s), false, &e) != ARK_OK) return cli_lib_error("decompose", opt);
        int n = ark_encoding_count(e);
        t = n == 1 ? ark_encoding_ids(e)[0] : -1;
        ark_encoding_free(e);
        if (n != 1)
            return cli_error("decompose", "%s \"%s\" is not one token: it is no vocabulary entry and encodes to %d tokens",
                             opt, s, n);
    }
    if (t >= d_vocab) return cli_error("decompose", "%s \"%s\" is id %d, outside the model's vocabulary (%d)", opt, s, t, d_vocab);
    *out = t;
    return 0;
}

/* The result for one row. */
typedef struct row_result {
    int pos, n;
    int32_t token;
    double *norm, *attr;   /* (n); attr NULL without a target */
    double resid_norm, sum_err, attr_sum, logit;
    float offset;
    ark_stack *s;
    float *resid;          /* (d) */
} row_result;

static int run_row(ark_model *m, const ark_plan *plan, const int32_t *ids, int T, const decomp_args *a,
                   ark_resid_opts o, int32_t target, int32_t against, row_result *r)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model;
    long p = a->pos < 0 ? T + a->pos : a->pos;
    if (p < 0 || p >= T) return cli_error("decompose", "--pos %ld: the row has positions 0..%d", a->pos, T - 1);
    ark_cache *cache;
    if (ark_run(m, ids, 1, T, NULL, plan, &cache) != ARK_OK) return cli_lib_error("decompose", NULL);
    o.pos = (int)p;
    char hook[64];
    int rc = 0;
    ark_resid_hook(m, &o, hook, sizeof hook);
    if (ark_decompose_resid(m, cache, &o, &r->s) != ARK_OK) rc = cli_lib_error("decompose", NULL);
    ark_tensor at = {0};
    if (!rc && a->target_s && ark_logit_attrs(m, cache, r->s, &target, a->against_s ? &against : NULL, &at) != ARK_OK)
        rc = cli_lib_error("decompose", "--target");
    if (!rc && a->target_s) ark_logit_attr_offset(m, target, a->against_s ? against : -1, &r->offset);
    if (!rc) {
        r->pos = (int)p;
        r->token = ids[p];
        r->n = r->s->n;
        r->norm = calloc((size_t)r->n, sizeof(double));
        r->attr = a->target_s ? calloc((size_t)r->n, sizeof(double)) : NULL;
        r->resid = malloc(sizeof(float) * d);
        memcpy(r->resid, ark_cache_get(cache, hook)->data + (size_t)p * d, sizeof(float) * d);
        double *sum = calloc((size_t)d, sizeof(double));
        for (int i = 0; i < r->n; i++) {
            const float *v = r->s->data + (size_t)i * d;
            for (int j = 0; j < d; j++) { r->norm[i] += (double)v[j] * v[j]; sum[j] += v[j]; }
            r->norm[i] = sqrt(r->norm[i]);
            if (r->attr) { r->attr[i] = at.data[i]; r->attr_sum += at.data[i]; }
        }
        for (int j = 0; j < d; j++) {
            r->resid_norm += (double)r->resid[j] * r->resid[j];
            r->sum_err += (sum[j] - r->resid[j]) * (sum[j] - r->resid[j]);
        }
        r->resid_norm = sqrt(r->resid_norm);
        r->sum_err = sqrt(r->sum_err);
        const float *lg = ark_cache_logits(cache)->data + (size_t)p * c->d_vocab;
        r->logit = a->target_s ? lg[target] - (a->against_s ? lg[against] : 0.0f) : 0;
        free(sum);
    }
    free(at.data);
    ark_cache_free(cache);
    return rc;
}

static void row_free(row_result *r)
{
    free(r->norm);
    free(r->attr);
    free(r->resid);
    ark_stack_free(r->s);
}

static cJSON *floats_json(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int j = 0; j < n; j++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[j]));
    return a;
}

static cJSON *token_json(int32_t id, cli_vocab *v)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    const char *s = cli_vocab_piece(v, id);
    if (s) cJSON_AddStringToObject(t, "token", s);
    return t;
}

static cJSON *row_json(const row_result *r, const int32_t *ids, int T, const decomp_args *a, const char *hook,
                       bool final, int32_t target, int32_t against, cli_vocab *v)
{
    int d = r->s->d;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "tokens", cJSON_CreateIntArray(ids, T));
    cJSON_AddStringToObject(o, "hook", hook);
    cJSON_AddNumberToObject(o, "pos", r->pos);
    cJSON_AddItemToObject(o, "token", token_json(r->token, v));
    if (a->target_s) cJSON_AddItemToObject(o, "target", token_json(target, v));
    if (a->against_s) cJSON_AddItemToObject(o, "against", token_json(against, v));
    cJSON *comps = cJSON_AddArrayToObject(o, "components");
    for (int i = 0; i < r->n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "label", r->s->labels[i]);
        cJSON_AddNumberToObject(c, "norm", r->norm[i]);
        if (r->attr) cJSON_AddNumberToObject(c, "attribution", r->attr[i]);
        if (a->vectors) cJSON_AddItemToObject(c, "vector", floats_json(r->s->data + (size_t)i * d, d));
        cJSON_AddItemToArray(comps, c);
    }
    if (a->vectors) cJSON_AddItemToObject(o, "residual", floats_json(r->resid, d));
    cJSON_AddNumberToObject(o, "residual_norm", r->resid_norm);
    cJSON_AddNumberToObject(o, "sum_error", r->sum_err);
    if (r->attr) {
        cJSON_AddNumberToObject(o, "attribution_sum", r->attr_sum);
        cJSON_AddNumberToObject(o, "excluded_bias_term", r->offset);
        if (final) cJSON_AddNumberToObject(o, "logit", r->logit);
    }
    return o;
}

/* Sort order of the table: |attribution| (or norm) descending. */
static const row_result *sort_row;
static int by_size(const void *x, const void *y)
{
    int i = *(const int *)x, j = *(const int *)y;
    double a = sort_row->attr ? fabs(sort_row->attr[i]) : sort_row->norm[i];
    double b = sort_row->attr ? fabs(sort_row->attr[j]) : sort_row->norm[j];
    return a < b ? 1 : a > b ? -1 : i - j;
}

static void row_print(const row_result *r, int b, const char *hook, bool final, const decomp_args *a, int32_t target,
                      int32_t against, cli_vocab *v)
{
    printf("row %d: %s at position %d (token %d", b, hook, r->pos, r->token);
    const char *s = cli_vocab_piece(v, r->token);
    if (s) { printf(" "); cli_print_piece(stdout, s, 0); }
    printf("), %d components\n", r->n);
    if (a->target_s) {
        printf("  attribution to token %d", target);
        if ((s = cli_vocab_piece(v, target))) { printf(" "); cli_print_piece(stdout, s, 0); }
        if (a->against_s) {
            printf(" minus token %d", against);
            if ((s = cli_vocab_piece(v, against))) { printf(" "); cli_print_piece(stdout, s, 0); }
        }
        printf("\n");
    }
    int *order = malloc(sizeof(int) * r->n), shown = a->top > 0 && a->top < r->n ? (int)a->top : r->n;
    for (int i = 0; i < r->n; i++) order[i] = i;
    sort_row = r;
    qsort(order, r->n, sizeof *order, by_size);
    printf("  %4s  %-16s %12s%s\n", "rank", "component", "norm", r->attr ? "   attribution" : "");
    for (int k = 0; k < shown; k++) {
        int i = order[k];
        printf("  %4d  %-16s %12.5f", k + 1, r->s->labels[i], r->norm[i]);
        if (r->attr) printf("  %12.5f", r->attr[i]);
        printf("\n");
    }
    if (shown < r->n) printf("  (%d more: --top 0 shows all)\n", r->n - shown);
    printf("  residual norm %.5f; |sum of components - residual| = %.3g\n", r->resid_norm, r->sum_err);
    if (r->attr) {
        printf("  attributions sum to %.5f; with the excluded bias term %.5f: %.5f", r->attr_sum, r->offset,
               r->attr_sum + r->offset);
        if (final) printf(" (model logit%s %.5f)", a->against_s ? " difference" : "", r->logit);
        printf("\n");
    }
    free(order);
}

static int parse_args(int argc, char **argv, decomp_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--target", &a->target_s), CLI_STR_OPT("--against", &a->against_s),
        CLI_INT_OPT("--layer", &a->layer), CLI_INT_OPT("--pos", &a->pos), CLI_INT_OPT("--top", &a->top),
        CLI_FLAG_OPT("--heads", &a->heads), CLI_FLAG_OPT("--neurons", &a->neurons), CLI_FLAG_OPT("--json", &a->json),
        CLI_FLAG_OPT("--vectors", &a->vectors), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "decompose", .usage = usage, .opts = opts, .inputs = &a->inputs, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (a->against_s && !a->target_s) return cli_arg_error("decompose", "--against needs --target");
    if (a->top < 0) return cli_arg_error("decompose", "--top %ld: expected 0 (all) or a positive count", a->top);
    return 0;
}

/* Keep what the decomposition, the residual and the attribution read. */
static int build_plan(ark_model *m, const ark_resid_opts *o, bool attrs, ark_plan *plan)
{
    ark_analysis kinds[3] = {ARK_ANALYSIS_DECOMPOSE_RESID, ARK_ANALYSIS_RESID, ARK_ANALYSIS_LOGIT_ATTRS};
    for (int k = 0; k < (attrs ? 3 : 2); k++) {
        char **names;
        if (ark_analysis_hooks(m, kinds[k], o, &names) != ARK_OK) return cli_lib_error("decompose", NULL);
        for (char **p = names; *p; p++)
            if (ark_plan_keep(plan, *p) != ARK_OK) { free(names); return cli_lib_error("decompose", *p); }
        free(names);
    }
    return 0;
}

static int decompose_rows(ark_model *m, const cli_batch *batch, const decomp_args *a, cli_vocab *vocab)
{
    const ark_config *c = ark_model_config(m);
    int n = c->n_layers, rc = 0;
    long layer = a->layer < 0 ? n + a->layer : a->layer;
    if (layer < 0 || layer >= n) return cli_error("decompose", "--layer %ld: the model has layers 0..%d", a->layer, n - 1);
    int32_t target = -1, against = -1;
    if (a->target_s && (rc = parse_token("--target", a->target_s, vocab, c->d_vocab, &target))) return rc;
    if (a->against_s && (rc = parse_token("--against", a->against_s, vocab, c->d_vocab, &against))) return rc;
    ark_resid_opts o = ARK_RESID_OPTS_INIT;
    o.layer = (int)layer + 1 == n ? -1 : (int)layer + 1; /* the stream after block L enters block L+1 */
    o.heads = a->heads;
    o.neurons = a->neurons;
    ark_plan *plan = ark_plan_new(m);
    rc = build_plan(m, &o, a->target_s != NULL, plan);
    char hook[64];
    snprintf(hook, sizeof hook, "blocks.%ld.hook_resid_post", layer);
    cJSON *rows = cJSON_CreateArray();
    for (int b = 0; !rc && b < batch->B; b++) {
        row_result r = {0};
        const int32_t *ids = batch->tokens + (size_t)b * batch->T;
        rc = run_row(m, plan, ids, batch->len[b], a, o, target, against, &r);
        if (!rc && a->json)
            cJSON_AddItemToArray(rows, row_json(&r, ids, batch->len[b], a, hook, o.layer == -1, target, against, vocab));
        else if (!rc) row_print(&r, b, hook, o.layer == -1, a, target, against, vocab);
        row_free(&r);
    }
    if (!rc && a->json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "model", ark_model_dir(m) ? ark_model_dir(m) : "");
        cJSON_AddNumberToObject(out, "layer", (double)layer);
        cJSON_AddStringToObject(out, "hook", hook);
        cJSON_AddItemToObject(out, "rows", rows);
        rows = NULL;
        char *s = cJSON_PrintUnformatted(out);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(out);
    }
    cJSON_Delete(rows);
    ark_plan_free(plan);
    return rc;
}

int cmd_decompose(int argc, char **argv)
{
    decomp_args a = {.layer = -1, .pos = -1, .top = 20};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    ark_model *m = NULL;
    if (ark_model_open(a.dir, &m) != ARK_OK) { cli_inputs_free(&a.inputs); return cli_lib_error("decompose", NULL); }
    cli_batch batch = {0};
    cli_vocab vocab = {0};
    rc = cli_inputs_batch(&a.inputs, "decompose", a.dir, m, &batch, &vocab);
    if (!rc) rc = decompose_rows(m, &batch, &a, &vocab);
    cli_batch_free(&batch);
    cli_vocab_free(&vocab);
    cli_inputs_free(&a.inputs);
    ark_model_free(m);
    return rc;
}
