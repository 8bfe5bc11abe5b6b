/* The "decomposer" tool (include/arrakis/tool_decomposer.h): op "decompose"
 * (the residual stream at one layer and position as parts, projected onto a
 * direction) and op "svd" (singular directions of a circuit as tokens). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_decomposer.h"
#include "core/error.h"
#include "tools/logit_lens_common.h"

/* ---- op decompose ---- */

typedef struct dec_params {
    ark_resid_opts o;
    float *u;            /* (d) the direction, or NULL */
    char what[160];      /* how the direction was given */
    int top;
    bool vectors;        /* include each part's vector and the residual's */
} dec_params;

/* The direction from "target" [+ "against"], "direction" (numbers) or
 * "direction_file" [+ "direction_key"]; none is fine (u stays NULL). */
static ark_status parse_direction(const ark_tool_env *env, const cJSON *p, dec_params *dp)
{
    int d = ark_model_config(env->model)->d_model;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "target"), *a = cJSON_GetObjectItemCaseSensitive(p, "against");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "direction");
    const char *file, *key;
    ARK_TRY(tool_get_str(p, "direction_file", NULL, &file));
    ARK_TRY(tool_get_str(p, "direction_key", NULL, &key));
    int given = (t && !cJSON_IsNull(t)) + (v && !cJSON_IsNull(v)) + (file != NULL);
    if (given > 1) return ark_fail(ARK_ERR_ARG, "give one of \"target\", \"direction\" and \"direction_file\"");
    if (a && !cJSON_IsNull(a) && !(t && !cJSON_IsNull(t))) return ark_fail(ARK_ERR_ARG, "\"against\" needs \"target\"");
    if (!given) return ARK_OK;
    if (!(dp->u = malloc(sizeof(float) * d))) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    if (file) {
        snprintf(dp->what, sizeof dp->what, "file %s%s%s", file, key ? ":" : "", key ? key : "");
        return ark_direction_load(file, key, d, dp->u);
    }
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != d)
            return ark_fail(ARK_ERR_ARG, "\"direction\": expected a list of %d numbers (the model's width)", d);
        int j = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (!cJSON_IsNumber(x)) return ark_fail(ARK_ERR_ARG, "\"direction\"[%d]: expected a number", j);
            dp->u[j++] = (float)x->valuedouble;
        }
        snprintf(dp->what, sizeof dp->what, "vector");
        return ARK_OK;
    }
    int32_t tok, ag = -1;
    ARK_TRY(tool_token(env, t, "target", &tok));
    if (a && !cJSON_IsNull(a)) ARK_TRY(tool_token(env, a, "against", &ag));
    if (ag >= 0) snprintf(dp->what, sizeof dp->what, "W_U[:, %d] - W_U[:, %d]", tok, ag);
    else snprintf(dp->what, sizeof dp->what, "W_U[:, %d]", tok);
    return ark_unembed_direction(env->model, tok, ag, dp->u);
}

static ark_status parse_decompose(const ark_tool_env *env, const cJSON *p, dec_params *dp)
{
    ark_resid_opts dflt = ARK_RESID_OPTS_INIT;
    dp->o = dflt;
    ARK_TRY(tool_get_int(p, "layer", -1, &dp->o.layer));
    ARK_TRY(tool_get_int(p, "pos", -1, &dp->o.pos));
    ARK_TRY(tool_get_bool(p, "mlp_input", false, &dp->o.mlp_input));
    ARK_TRY(tool_get_bool(p, "heads", false, &dp->o.heads));
    ARK_TRY(tool_get_bool(p, "neurons", false, &dp->o.neurons));
    ARK_TRY(tool_get_int(p, "top", 0, &dp->top));
    ARK_TRY(tool_get_bool(p, "return_vectors", false, &dp->vectors));
    if (dp->top < 0) return ark_fail(ARK_ERR_ARG, "\"top\": %d: expected 0 (every part) or a positive count", dp->top);
    int L = ark_model_config(env->model)->n_layers;
    if (dp->o.layer < -1 || dp->o.layer > L)
        return ark_fail(ARK_ERR_ARG, "\"layer\": %d: expected 0..%d (the stream entering that block) or %d / -1 (the "
                        "final stream)", dp->o.layer, L - 1, L);
    return parse_direction(env, p, dp);
}

static double norm2(const float *v, int d)
{
    double acc = 0;
    for (int j = 0; j < d; j++) acc += (double)v[j] * v[j];
    return sqrt(acc);
}

static double dot(const float *a, const float *b, int d)
{
    double acc = 0;
    for (int j = 0; j < d; j++) acc += (double)a[j] * b[j];
    return acc;
}

static int by_value_desc(const void *x, const void *y, void *ctx)
{
    const double *key = ctx;
    int i = *(const int *)x, j = *(const int *)y;
    return key[i] < key[j] ? 1 : key[i] > key[j] ? -1 : i - j;
}

/* The parts of one row's decomposition as JSON, plus the residual and sums. */
static void decomposition_json(const ark_stack *s, const float *resid, const dec_params *dp, cJSON *r)
{
    int d = s->d, n = s->n;
    double un = dp->u ? norm2(dp->u, d) : 0, *key = malloc(sizeof(double) * (n + 1)), sum_dot = 0;
    double *sum = calloc((size_t)d, sizeof(double)), err = 0;
    int *order = malloc(sizeof(int) * (n + 1));
    for (int i = 0; i < n; i++) {
        const float *c = s->data + (size_t)i * d;
        order[i] = i;
        key[i] = dp->u ? fabs(dot(c, dp->u, d)) : norm2(c, d);
        for (int j = 0; j < d; j++) sum[j] += c[j];
    }
    for (int j = 0; j < d; j++) err += (sum[j] - resid[j]) * (sum[j] - resid[j]);
    if (dp->top > 0) qsort_r(order, (size_t)n, sizeof *order, by_value_desc, key);
    int shown = dp->top > 0 && dp->top < n ? dp->top : n;
    cJSON *parts = cJSON_AddArrayToObject(r, "parts");
    for (int k = 0; k < shown; k++) {
        const float *c = s->data + (size_t)order[k] * d;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "label", s->labels[order[k]]);
        cJSON_AddNumberToObject(e, "norm", norm2(c, d));
        if (dp->u) {
            double dt = dot(c, dp->u, d);
            cJSON_AddNumberToObject(e, "dot", dt);
            cJSON_AddNumberToObject(e, "projection", un > 0 ? dt / un : 0);
        }
        if (dp->vectors) cJSON_AddItemToObject(e, "vector", lc_floats(c, d));
        cJSON_AddItemToArray(parts, e);
    }
    for (int i = 0; dp->u && i < n; i++) sum_dot += dot(s->data + (size_t)i * d, dp->u, d);
    cJSON *res = cJSON_AddObjectToObject(r, "residual");
    cJSON_AddNumberToObject(res, "norm", norm2(resid, d));
    if (dp->vectors) cJSON_AddItemToObject(res, "vector", lc_floats(resid, d));
    if (dp->u) {
        double dt = dot(resid, dp->u, d);
        cJSON_AddNumberToObject(res, "dot", dt);
        cJSON_AddNumberToObject(res, "projection", un > 0 ? dt / un : 0);
        cJSON_AddNumberToObject(r, "parts_dot_sum", sum_dot);
        cJSON_AddNumberToObject(r, "parts_projection_sum", un > 0 ? sum_dot / un : 0);
    }
    cJSON_AddNumberToObject(r, "n_parts", n);
    cJSON_AddNumberToObject(r, "sum_error", sqrt(err));
    free(key);
    free(sum);
    free(order);
}

static ark_status decompose_row(const ark_tool_env *env, const ark_plan *plan, const int32_t *row, int T,
                                const dec_params *dp, cJSON *rows)
{
    ark_resid_opts o = dp->o;
    ARK_TRY(lc_resolve_pos(o.pos, T, "pos", &o.pos));
    char hook[64];
    ARK_TRY(ark_resid_hook(env->model, &o, hook, sizeof hook));
    ark_cache *cache;
    ARK_TRY(ark_run(env->model, row, 1, T, NULL, plan, &cache));
    ark_stack *s;
    ark_status st = ark_decompose_resid(env->model, cache, &o, &s);
    if (st == ARK_OK) {
        int d = s->d;
        const float *resid = ark_cache_get(cache, hook)->data + (size_t)o.pos * d;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "tokens", cJSON_CreateIntArray(row, T));
        if (env->tokenizer) cJSON_AddItemToObject(r, "str_tokens", tool_str_tokens(env, row, T));
        cJSON_AddStringToObject(r, "hook", hook);
        cJSON_AddNumberToObject(r, "pos", o.pos);
        cJSON_AddItemToObject(r, "token", lc_token_json(env, row[o.pos]));
        decomposition_json(s, resid, dp, r);
        cJSON_AddItemToArray(rows, r);
        ark_stack_free(s);
    }
    ark_cache_free(cache);
    return st;
}

static ark_status op_decompose(const ark_tool_env *env, const cJSON *p, cJSON *out)
{
    dec_params dp = {0};
    tool_batch batch = {0};
    ark_plan *plan = NULL;
    lc_names names = {0};
    char **block = NULL;
    ark_status s = parse_decompose(env, p, &dp);
    if (s == ARK_OK) s = tool_batch_from_json(env, p, &batch);
    ark_resid_opts all = dp.o;
    all.pos = ARK_ALL_POS;
    if (s == ARK_OK) s = lc_names_add_analysis(&names, env->model, ARK_ANALYSIS_DECOMPOSE_RESID, &all);
    if (s == ARK_OK) s = lc_names_add_analysis(&names, env->model, ARK_ANALYSIS_RESID, &all);
    if (s == ARK_OK) s = lc_names_pack(&names, &block);
    if (s == ARK_OK) s = lc_plan_from(env->model, block, &plan);
    cJSON *rows = cJSON_AddArrayToObject(out, "rows");
    for (int b = 0; s == ARK_OK && b < batch.B; b++)
        s = decompose_row(env, plan, batch.tokens + (size_t)b * batch.T, batch.len[b], &dp, rows);
    if (s == ARK_OK) {
        int L = ark_model_config(env->model)->n_layers;
        cJSON_AddNumberToObject(out, "layer", dp.o.layer < 0 ? L : dp.o.layer);
        cJSON_AddBoolToObject(out, "mlp_input", dp.o.mlp_input);
        if (dp.u) {
            cJSON *dir = cJSON_AddObjectToObject(out, "direction");
            cJSON_AddStringToObject(dir, "source", dp.what);
            cJSON_AddNumberToObject(dir, "norm", norm2(dp.u, ark_model_config(env->model)->d_model));
        }
    }
    lc_names_free(&names);
    ark_plan_free(plan);
    tool_batch_free(&batch);
    free(dp.u);
    return s;
}

/* ---- op svd ---- */

/* Top and bottom k tokens of a readout. */
static void readout_json(const ark_tool_env *env, const float *values, int V, int k, cJSON *o)
{
    int *ids = malloc(sizeof(int) * (V + 1));
    double *key = malloc(sizeof(double) * (V + 1));
    for (int v = 0; v < V; v++) { ids[v] = v; key[v] = values[v]; }
    qsort_r(ids, (size_t)V, sizeof *ids, by_value_desc, key);
    k = k < V ? k : V;
    cJSON *top = cJSON_AddArrayToObject(o, "top"), *bottom = cJSON_AddArrayToObject(o, "bottom");
    for (int i = 0; i < k; i++) {
        cJSON *e = lc_token_json(env, ids[i]);
        cJSON_AddNumberToObject(e, "value", values[ids[i]]);
        cJSON_AddItemToArray(top, e);
        e = lc_token_json(env, ids[V - 1 - i]);
        cJSON_AddNumberToObject(e, "value", values[ids[V - 1 - i]]);
        cJSON_AddItemToArray(bottom, e);
    }
    free(ids);
    free(key);
}

/* Column i of a (rows, r) matrix into v. */
static void column(const float *M, int rows, int r, int i, float *v)
{
    for (int j = 0; j < rows; j++) v[j] = M[(size_t)j * r + i];
}

static ark_status op_svd(const ark_tool_env *env, const cJSON *p, cJSON *out)
{
    const ark_config *c = ark_model_config(env->model);
    int layer, head, top_k, vectors;
    const char *circ, *read;
    ark_svd_circuit kind;
    ark_svd_readout how;
    const cJSON *lj = cJSON_GetObjectItemCaseSensitive(p, "layer");
    if (!lj || cJSON_IsNull(lj)) return ark_fail(ARK_ERR_ARG, "\"layer\": missing (the block, 0..%d)", c->n_layers - 1);
    ARK_TRY(tool_get_int(p, "layer", 0, &layer));
    ARK_TRY(tool_get_int(p, "head", -1, &head));
    ARK_TRY(tool_get_int(p, "top_k", 10, &top_k));
    ARK_TRY(tool_get_int(p, "vectors", 5, &vectors));
    ARK_TRY(tool_get_str(p, "circuit", "ov", &circ));
    ARK_TRY(tool_get_str(p, "readout", "unembed", &read));
    ARK_TRY(ark_svd_circuit_parse(circ, &kind));
    if (!strcmp(read, "unembed")) how = ARK_READ_UNEMBED;
    else if (!strcmp(read, "embed")) how = ARK_READ_EMBED;
    else return ark_fail(ARK_ERR_ARG, "\"readout\": \"%s\": expected \"unembed\" (W_U) or \"embed\" (W_E)", read);
    if (top_k < 0 || vectors < 0) return ark_fail(ARK_ERR_ARG, "\"%s\": expected a count >= 0", top_k < 0 ? "top_k" : "vectors");
    bool attn = kind == ARK_SVD_OV || kind == ARK_SVD_QK;
    if (attn && head < 0) return ark_fail(ARK_ERR_ARG, "\"head\": missing: the %s circuit is per head (0..%d)", circ, c->n_heads - 1);
    ark_svd *s;
    ARK_TRY(ark_circuit_svd(env->model, kind, layer, head, &s));
    cJSON_AddStringToObject(out, "circuit", circ);
    cJSON_AddNumberToObject(out, "layer", s->layer);
    if (attn) cJSON_AddNumberToObject(out, "head", head);
    cJSON_AddStringToObject(out, "readout", read);
    cJSON_AddItemToObject(out, "shape", cJSON_CreateIntArray((int[]){s->rows, s->cols}, 2));
    cJSON_AddItemToObject(out, "singular_values", lc_floats(s->S, s->r));
    int V = c->d_vocab, d = c->d_model, n = vectors < s->r ? vectors : s->r;
    float *v = malloc(sizeof(float) * d), *values = malloc(sizeof(float) * V);
    cJSON *dirs = cJSON_AddArrayToObject(out, "directions");
    ark_status st = ARK_OK;
    for (int i = 0; st == ARK_OK && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", i);
        cJSON_AddNumberToObject(e, "value", s->S[i]);
        column(s->V, s->cols, s->r, i, v);
        cJSON *o = cJSON_AddObjectToObject(e, attn ? (kind == ARK_SVD_OV ? "output" : "key") : "residual");
        if ((st = ark_direction_readout(env->model, v, how, values)) == ARK_OK) readout_json(env, values, V, top_k, o);
        if (st == ARK_OK && attn) {
            column(s->U, s->rows, s->r, i, v);
            o = cJSON_AddObjectToObject(e, kind == ARK_SVD_OV ? "input" : "query");
            if ((st = ark_direction_readout(env->model, v, how, values)) == ARK_OK) readout_json(env, values, V, top_k, o);
        }
        cJSON_AddItemToArray(dirs, e);
    }
    free(v);
    free(values);
    ark_svd_free(s);
    return st;
}

/* ---- the tool ---- */

static ark_status dec_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    bool svd = op && !strcmp(op, "svd");
    if (op && *op && !svd && strcmp(op, "decompose"))
        return ark_fail(ARK_ERR_ARG, "unknown op \"%s\" (ops: decompose, svd)", op);
    cJSON *p;
    ARK_TRY(tool_parse_params("decomposer", params, &p));
    cJSON *out = cJSON_CreateObject();
    ark_status s = svd ? op_svd(env, p, out) : op_decompose(env, p, out);
    cJSON_Delete(p);
    if (s != ARK_OK) { cJSON_Delete(out); return s; }
    return tool_result(out, result);
}

static ark_status dec_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void dec_destroy(void *state) { free(state); }

static const char *const dec_ops[] = {
    "decompose: text|tokens, layer (-1 = final; else the stream entering that block), mlp_input, pos (-1), heads, "
    "neurons, direction: target (TOKEN) [against] | direction ([d numbers]) | direction_file [direction_key], top (0), "
    "return_vectors (false: include each part's vector and the residual's)",
    "svd: layer, head (ov, qk), circuit (\"ov\" | \"qk\" | \"mlp-in\" | \"mlp-out\"), top_k (10), vectors (5), "
    "readout (\"unembed\" | \"embed\")",
    NULL,
};

const ark_tool_def ark_tool_decomposer = {
    "decomposer", "residual stream parts projected on a direction; singular directions of OV/QK/MLP weights as tokens",
    dec_create, dec_run, dec_destroy, dec_ops,
};
