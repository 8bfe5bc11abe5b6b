/* The attention tool's generic entry point (key "attention"): JSON
 * parameters -> the typed functions of include/arrakis/tool_attention.h ->
 * a JSON result.  docs/tools/attention.md describes every operation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_attention.h"
#include "core/error.h"
#include "tools/attention_json.h"
#include "tools/tool_util.h"

static const char *const attention_ops[] = {
    "patterns: {text|tokens|repeat_random, layers: [L..], heads: [H..], row: B} -> [layers][heads][q][k] per row, with str_tokens",
    "top_attended: {text|tokens, layer, head, pos (-1), k (5), row (0)} -> the k keys each head's query attends to most",
    "detect: {text|tokens|repeat_random: {length, batch, seed, bos, low, high}, detectors: [previous, duplicate, induction, "
    "custom], method: mean|tl, period, prefix, exclude_bos, exclude_current, error_measure: mul|abs, custom: [[P x P]], "
    "threshold (0.4)} -> [layers][heads] scores per detector",
    "ablation: {text|tokens|repeat_random, mode: zero|mean, metric: loss|logit|logit_diff, targets: all|repeated|[t..], "
    "token, other, pos (-1)} -> [layers][heads] metric(ablated) - metric(clean), and the clean metric",
    NULL,
};

static ark_status attention_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "attention: out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void attention_destroy(void *state) { free(state); }

static ark_status attention_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("attention", params, &p));
    ark_status s;
    if (!op || !*op || !strcmp(op, "patterns")) s = attn_op_patterns(env, p, result);
    else if (!strcmp(op, "top_attended")) s = attn_op_top_attended(env, p, result);
    else if (!strcmp(op, "detect")) s = attn_op_detect(env, p, result);
    else if (!strcmp(op, "ablation")) s = attn_op_ablation(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "attention: unknown operation \"%s\" (patterns, top_attended, detect, ablation)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_attention = {
    "attention",
    "attention patterns, top attended tokens, head detectors (previous/duplicate/induction), per-head ablation",
    attention_create,
    attention_run,
    attention_destroy,
    attention_ops,
};

/* ---- inputs ---- */

static ark_status repeat_spec_json(const ark_model *m, const cJSON *r, ark_repeat_spec *spec)
{
    int bos, seed, V = ark_model_config(m)->d_vocab;
    *spec = (ark_repeat_spec)ARK_REPEAT_SPEC_INIT;
    if (!cJSON_IsObject(r)) return ark_fail(ARK_ERR_ARG, "\"repeat_random\": expected {\"length\": N, \"batch\": B, \"seed\": S}");
    ARK_TRY(tool_get_int(r, "length", 0, &spec->length));
    ARK_TRY(tool_get_int(r, "batch", 1, &spec->batch));
    ARK_TRY(tool_get_int(r, "seed", 0, &seed));
    ARK_TRY(tool_get_int(r, "bos", -1, &bos));
    ARK_TRY(tool_get_int(r, "low", 0, &spec->low));
    ARK_TRY(tool_get_int(r, "high", V, &spec->high));
    if (spec->high <= 0) return ark_fail(ARK_ERR_ARG, "\"repeat_random.high\": %d, expected 1..%d", spec->high, V);
    spec->seed = (uint64_t)(uint32_t)seed;
    spec->bos = bos;
    return ARK_OK;
}

ark_status attn_input_json(const ark_tool_env *env, const cJSON *p, attn_input *in)
{
    memset(in, 0, sizeof *in);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "repeat_random");
    if (!r) {
        ARK_TRY(tool_batch_from_json(env, p, &in->batch));
    } else {
        ARK_TRY(repeat_spec_json(env->model, r, &in->spec));
        int n = (in->spec.bos >= 0) + 2 * in->spec.length, B = in->spec.batch;
        if (in->spec.length < 1 || B < 1) return ark_repeat_random_tokens(env->model, &in->spec, NULL);
        in->repeat = true;
        in->batch.B = B;
        in->batch.T = n;
        in->batch.tokens = malloc(sizeof(int32_t) * B * n);
        in->batch.len = malloc(sizeof(int) * B);
        for (int b = 0; b < B; b++) in->batch.len[b] = n;
        ark_status s = ark_repeat_random_tokens(env->model, &in->spec, in->batch.tokens);
        if (s != ARK_OK) { attn_input_free(in); return s; }
    }
    in->in = (ark_attn_input){in->batch.tokens, in->batch.B, in->batch.T, in->batch.mask};
    return ARK_OK;
}

void attn_input_free(attn_input *in) { tool_batch_free(&in->batch); }

/* The repeat structure asked for: explicit period/prefix, else that of the
 * random rows, else 0 (inferred per row). */
ark_status attn_structure_json(const cJSON *p, const attn_input *in, int *prefix, int *period)
{
    int dp = in->repeat ? in->spec.bos >= 0 : 0, dn = in->repeat ? in->spec.length : 0;
    ARK_TRY(tool_get_int(p, "period", dn, period));
    ARK_TRY(tool_get_int(p, "prefix", dp, prefix));
    if (*period < 0) return ark_fail(ARK_ERR_ARG, "\"period\": %d, expected >= 1 (or 0 to infer it per row)", *period);
    if (*prefix < 0) return ark_fail(ARK_ERR_ARG, "\"prefix\": %d, expected >= 0", *prefix);
    return ARK_OK;
}

cJSON *attn_rows_json(const ark_tool_env *env, const attn_input *in)
{
    cJSON *rows = cJSON_CreateArray();
    for (int b = 0; b < in->batch.B; b++)
        cJSON_AddItemToArray(rows, cJSON_CreateIntArray(in->batch.tokens + (size_t)b * in->batch.T, in->batch.len[b]));
    (void)env;
    return rows;
}

/* An (n, n) block of a (T, T) matrix as JSON. */
static cJSON *square_json(const float *a, int T, int n)
{
    cJSON *m = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateArray();
        for (int j = 0; j < n; j++) cJSON_AddItemToArray(r, cJSON_CreateNumber(a[(size_t)i * T + j]));
        cJSON_AddItemToArray(m, r);
    }
    return m;
}

/* ---- patterns ---- */

ark_status attn_op_patterns(const ark_tool_env *env, const cJSON *p, char **result)
{
    int *ls = NULL, *hs = NULL, nl = 0, nh = 0, row;
    attn_input in;
    ARK_TRY(tool_get_int(p, "row", -1, &row));
    ARK_TRY(attn_input_json(env, p, &in));
    ark_status s = tool_get_ints(p, "layers", &ls, &nl);
    if (s == ARK_OK) s = tool_get_ints(p, "heads", &hs, &nh);
    if (s == ARK_OK && (row < -1 || row >= in.batch.B))
        s = ark_fail(ARK_ERR_ARG, "\"row\": %d is out of range (%d rows)", row, in.batch.B);
    ark_tensor t = {0};
    if (s == ARK_OK) s = ark_attn_patterns(env->model, &in.in, ls, nl, hs, nh, &t);
    if (s == ARK_OK) {
        const ark_config *c = ark_model_config(env->model);
        int NL = (int)t.shape[1], NH = (int)t.shape[2], T = in.batch.T;
        cJSON *o = cJSON_CreateObject(), *la = cJSON_AddArrayToObject(o, "layers"), *ha = cJSON_AddArrayToObject(o, "heads");
        for (int i = 0; i < NL; i++) cJSON_AddItemToArray(la, cJSON_CreateNumber(ls ? (ls[i] + c->n_layers) % c->n_layers : i));
        for (int i = 0; i < NH; i++) cJSON_AddItemToArray(ha, cJSON_CreateNumber(hs ? (hs[i] + c->n_heads) % c->n_heads : i));
        cJSON *rows = cJSON_AddArrayToObject(o, "rows");
        for (int b = row < 0 ? 0 : row; b < (row < 0 ? in.batch.B : row + 1); b++) {
            int n = in.batch.len[b];
            const int32_t *ids = in.batch.tokens + (size_t)b * T;
            cJSON *r = cJSON_CreateObject(), *pl = cJSON_CreateArray();
            cJSON_AddNumberToObject(r, "row", b);
            cJSON_AddItemToObject(r, "tokens", cJSON_CreateIntArray(ids, n));
            cJSON_AddItemToObject(r, "str_tokens", tool_str_tokens(env, ids, n));
            for (int li = 0; li < NL; li++) {
                cJSON *lh = cJSON_CreateArray();
                for (int hi = 0; hi < NH; hi++)
                    cJSON_AddItemToArray(lh, square_json(t.data + (((size_t)b * NL + li) * NH + hi) * T * T, T, n));
                cJSON_AddItemToArray(pl, lh);
            }
            cJSON_AddItemToObject(r, "patterns", pl);
            cJSON_AddItemToArray(rows, r);
        }
        s = tool_result(o, result);
    }
    free(t.data);
    free(ls);
    free(hs);
    attn_input_free(&in);
    return s;
}

/* ---- top_attended ---- */

static cJSON *token_json(const ark_tool_env *env, int pos, int32_t id, const float *weight)
{
    cJSON *o = cJSON_CreateObject();
    char *str = tool_token_str(env, id);
    cJSON_AddNumberToObject(o, "pos", pos);
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "token", str);
    if (weight) cJSON_AddNumberToObject(o, "weight", *weight);
    free(str);
    return o;
}

static ark_status top_json(const ark_tool_env *env, const attn_input *in, const ark_tensor *t, int row, int pos,
                           int k, const int *ls, const int *hs, cJSON *o)
{
    int NL = (int)t->shape[1], NH = (int)t->shape[2], T = in->batch.T, n = in->batch.len[row];
    int q = pos < 0 ? pos + n : pos;
    if (q < 0 || q >= n) return ark_fail(ARK_ERR_ARG, "\"pos\": %d is outside row %d (%d tokens)", pos, row, n);
    const int32_t *ids = in->batch.tokens + (size_t)row * T;
    cJSON_AddNumberToObject(o, "row", row);
    cJSON_AddItemToObject(o, "query", token_json(env, q, ids[q], NULL));
    cJSON *heads = cJSON_AddArrayToObject(o, "heads");
    int *keys = malloc(sizeof(int) * (k > 0 ? k : 1));
    float *w = malloc(sizeof(float) * (k > 0 ? k : 1));
    for (int li = 0; li < NL; li++)
        for (int hi = 0; hi < NH; hi++) {
            const float *r = t->data + ((((size_t)row * NL + li) * NH + hi) * T + q) * T;
            int got = ark_attn_top_keys(r, q + 1, k, keys, w);
            cJSON *h = cJSON_CreateObject(), *top = cJSON_CreateArray();
            cJSON_AddNumberToObject(h, "layer", ls[li]);
            cJSON_AddNumberToObject(h, "head", hs[hi]);
            for (int j = 0; j < got; j++) cJSON_AddItemToArray(top, token_json(env, keys[j], ids[keys[j]], &w[j]));
            cJSON_AddItemToObject(h, "top", top);
            cJSON_AddItemToArray(heads, h);
        }
    free(keys);
    free(w);
    return ARK_OK;
}

ark_status attn_op_top_attended(const ark_tool_env *env, const cJSON *p, char **result)
{
    const ark_config *c = ark_model_config(env->model);
    int layer, head, pos, k, row;
    ARK_TRY(tool_get_int(p, "layer", INT32_MIN, &layer));
    ARK_TRY(tool_get_int(p, "head", INT32_MIN, &head));
    ARK_TRY(tool_get_int(p, "pos", -1, &pos));
    ARK_TRY(tool_get_int(p, "k", 5, &k));
    ARK_TRY(tool_get_int(p, "row", 0, &row));
    if (k < 1) return ark_fail(ARK_ERR_ARG, "\"k\": %d, expected >= 1", k);
    if (layer != INT32_MIN && (layer < -c->n_layers || layer >= c->n_layers))
        return ark_fail(ARK_ERR_ARG, "\"layer\": %d is out of range (the model has %d layers)", layer, c->n_layers);
    if (head != INT32_MIN && (head < -c->n_heads || head >= c->n_heads))
        return ark_fail(ARK_ERR_ARG, "\"head\": %d is out of range (the model has %d heads)", head, c->n_heads);
    attn_input in;
    ARK_TRY(attn_input_json(env, p, &in));
    ark_status s = row < 0 || row >= in.batch.B ? ark_fail(ARK_ERR_ARG, "\"row\": %d is out of range (%d rows)", row, in.batch.B)
                                                : ARK_OK;
    int nl = layer == INT32_MIN ? c->n_layers : 1, nh = head == INT32_MIN ? c->n_heads : 1;
    int *ls = malloc(sizeof(int) * nl), *hs = malloc(sizeof(int) * nh);
    for (int i = 0; i < nl; i++) ls[i] = layer == INT32_MIN ? i : (layer + c->n_layers) % c->n_layers;
    for (int i = 0; i < nh; i++) hs[i] = head == INT32_MIN ? i : (head + c->n_heads) % c->n_heads;
    ark_tensor t = {0};
    if (s == ARK_OK) s = ark_attn_patterns(env->model, &in.in, ls, nl, hs, nh, &t);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k", k);
    if (s == ARK_OK) s = top_json(env, &in, &t, row, pos, k, ls, hs, o);
    if (s == ARK_OK) s = tool_result(o, result);
    else cJSON_Delete(o);
    free(t.data);
    free(ls);
    free(hs);
    attn_input_free(&in);
    return s;
}
