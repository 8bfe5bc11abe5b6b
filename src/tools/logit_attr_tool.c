/* The "logit" tool: direct logit attribution (include/arrakis/tool_logit.h)
 * through the generic JSON entry point, one run per input row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_logit.h"
#include "core/error.h"
#include "tools/logit_lens_common.h"

typedef struct dla_params {
    ark_dla_opts o;
    int32_t target, against;   /* against -1: none */
    int top;
} dla_params;

static ark_status parse_by(const char *s, ark_dla_by *by)
{
    if (!strcmp(s, "layer")) *by = ARK_DLA_BY_LAYER;
    else if (!strcmp(s, "head")) *by = ARK_DLA_BY_HEAD;
    else if (!strcmp(s, "neuron")) *by = ARK_DLA_BY_NEURON;
    else return ark_fail(ARK_ERR_ARG, "\"by\": \"%s\": expected \"layer\", \"head\" or \"neuron\"", s);
    return ARK_OK;
}

static ark_status parse_params(const ark_tool_env *env, const cJSON *p, dla_params *dp)
{
    ark_dla_opts dflt = ARK_DLA_OPTS_INIT;
    dp->o = dflt;
    const char *by;
    ARK_TRY(tool_get_str(p, "by", "layer", &by));
    ARK_TRY(parse_by(by, &dp->o.by));
    ARK_TRY(tool_get_int(p, "pos", -1, &dp->o.pos));
    ARK_TRY(tool_get_int(p, "top", 0, &dp->top));
    if (dp->top < 0) return ark_fail(ARK_ERR_ARG, "\"top\": %d: expected 0 (all parts) or a positive count", dp->top);
    ARK_TRY(tool_get_bool(p, "against_mean", false, &dp->o.against_mean));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "target"), *a = cJSON_GetObjectItemCaseSensitive(p, "against");
    if (!t || cJSON_IsNull(t)) return ark_fail(ARK_ERR_ARG, "\"target\": missing (the token whose logit to attribute)");
    ARK_TRY(tool_token(env, t, "target", &dp->target));
    dp->against = -1;
    if (a && !cJSON_IsNull(a)) ARK_TRY(tool_token(env, a, "against", &dp->against));
    if (dp->against >= 0 && dp->o.against_mean)
        return ark_fail(ARK_ERR_ARG, "\"against\" and \"against_mean\" exclude each other");
    return ARK_OK;
}

static int by_magnitude(const void *x, const void *y, void *ctx)
{
    const float *attr = ctx;
    int i = *(const int *)x, j = *(const int *)y;
    float a = fabsf(attr[i]), b = fabsf(attr[j]);
    return a < b ? 1 : a > b ? -1 : i - j;
}

static cJSON *part_json(const char *label, float attr)
{
    cJSON *e = cJSON_CreateObject();
    int layer, unit;
    char kind = ark_dla_part(label, &layer, &unit);
    cJSON_AddStringToObject(e, "label", label);
    cJSON_AddStringToObject(e, "kind", kind == 'a' ? "attn" : kind == 'm' ? "mlp" : "embed");
    if (layer >= 0) cJSON_AddNumberToObject(e, "layer", layer);
    if (unit >= 0) cJSON_AddNumberToObject(e, kind == 'a' ? "head" : "neuron", unit);
    cJSON_AddNumberToObject(e, "attribution", attr);
    return e;
}

/* Per-layer totals: attention (heads + b_O) and MLP (neurons + b_out). */
static void add_layer_totals(cJSON *r, const ark_dla *d, int n_layers)
{
    double *attn = calloc((size_t)n_layers, sizeof(double)), *mlp = calloc((size_t)n_layers, sizeof(double)), emb = 0;
    for (int i = 0; i < d->n; i++) {
        int layer, unit;
        char kind = ark_dla_part(d->labels[i], &layer, &unit);
        if (kind == 'e') emb += d->attr[i];
        else if (kind == 'a' && layer < n_layers) attn[layer] += d->attr[i];
        else if (kind == 'm' && layer < n_layers) mlp[layer] += d->attr[i];
    }
    cJSON_AddNumberToObject(r, "embed", emb);
    cJSON *layers = cJSON_AddArrayToObject(r, "by_layer");
    for (int l = 0; l < n_layers; l++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "layer", l);
        cJSON_AddNumberToObject(e, "attn", attn[l]);
        cJSON_AddNumberToObject(e, "mlp", mlp[l]);
        cJSON_AddItemToArray(layers, e);
    }
    free(attn);
    free(mlp);
}

static cJSON *row_json(const ark_tool_env *env, const ark_dla *d, const int32_t *row, int T, const dla_params *dp)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "tokens", cJSON_CreateIntArray(row, T));
    if (env->tokenizer) cJSON_AddItemToObject(r, "str_tokens", tool_str_tokens(env, row, T));
    cJSON_AddNumberToObject(r, "pos", d->pos);
    cJSON_AddItemToObject(r, "token", lc_token_json(env, row[d->pos]));
    double sum = 0;
    for (int i = 0; i < d->n; i++) sum += d->attr[i];
    cJSON_AddNumberToObject(r, "logit", d->logit[0]);
    cJSON_AddNumberToObject(r, "attribution_sum", sum);
    cJSON_AddNumberToObject(r, "ln_final_bias", d->norm_bias[0]);
    cJSON_AddNumberToObject(r, "unembed_bias", d->unembed_bias[0]);
    cJSON_AddNumberToObject(r, "n_parts", d->n);
    int *order = malloc(sizeof(int) * (d->n + 1)), shown = dp->top > 0 && dp->top < d->n ? dp->top : d->n;
    for (int i = 0; i < d->n; i++) order[i] = i;
    qsort_r(order, (size_t)d->n, sizeof *order, by_magnitude, d->attr);
    cJSON *parts = cJSON_AddArrayToObject(r, "parts");
    for (int k = 0; k < shown; k++) cJSON_AddItemToArray(parts, part_json(d->labels[order[k]], d->attr[order[k]]));
    free(order);
    add_layer_totals(r, d, ark_model_config(env->model)->n_layers);
    return r;
}

static ark_status dla_row(const ark_tool_env *env, const ark_plan *plan, const int32_t *row, int T,
                          const dla_params *dp, cJSON *rows)
{
    ark_dla_opts o = dp->o;
    ARK_TRY(lc_resolve_pos(o.pos, T, "pos", &o.pos));
    ark_cache *cache;
    ARK_TRY(ark_run(env->model, row, 1, T, NULL, plan, &cache));
    ark_dla *d;
    ark_status s = ark_logit_attribution(env->model, cache, &o, &dp->target, dp->against >= 0 ? &dp->against : NULL, &d);
    ark_cache_free(cache);
    ARK_TRY(s);
    cJSON_AddItemToArray(rows, row_json(env, d, row, T, dp));
    ark_dla_free(d);
    return ARK_OK;
}

static ark_status dla_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    if (op && *op && strcmp(op, "attribute")) return ark_fail(ARK_ERR_ARG, "unknown op \"%s\" (ops: attribute)", op);
    cJSON *p;
    ARK_TRY(tool_parse_params("logit", params, &p));
    dla_params dp;
    tool_batch batch = {0};
    ark_plan *plan = NULL;
    char **names = NULL;
    ark_status s = parse_params(env, p, &dp);
    if (s == ARK_OK) s = tool_batch_from_json(env, p, &batch);
    if (s == ARK_OK) s = ark_dla_hooks(env->model, &dp.o, &names);
    if (s == ARK_OK) s = lc_plan_from(env->model, names, &plan);
    cJSON *out = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(out, "rows");
    for (int b = 0; s == ARK_OK && b < batch.B; b++)
        s = dla_row(env, plan, batch.tokens + (size_t)b * batch.T, batch.len[b], &dp, rows);
    if (s == ARK_OK) {
        static const char *by_names[] = {"layer", "head", "neuron"};
        cJSON_AddStringToObject(out, "by", by_names[dp.o.by]);
        cJSON_AddItemToObject(out, "target", lc_token_json(env, dp.target));
        if (dp.against >= 0) cJSON_AddItemToObject(out, "against", lc_token_json(env, dp.against));
        else if (dp.o.against_mean) cJSON_AddStringToObject(out, "against", "mean");
        cJSON_AddStringToObject(out, "sum_rule", "attribution_sum = logit - ln_final_bias - unembed_bias");
    }
    ark_plan_free(plan);
    tool_batch_free(&batch);
    cJSON_Delete(p);
    if (s != ARK_OK) { cJSON_Delete(out); return s; }
    return tool_result(out, result);
}

static ark_status dla_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void dla_destroy(void *state) { free(state); }

static const char *const dla_ops[] = {
    "attribute: text|tokens, target (TOKEN, required), against (TOKEN) | against_mean (false), "
    "by (\"layer\" | \"head\" | \"neuron\"), pos (-1), top (0 = every part, sorted by |attribution|)",
    NULL,
};

const ark_tool_def ark_tool_logit = {
    "logit", "direct logit attribution to a token (or a difference) by layer, head or neuron",
    dla_create, dla_run, dla_destroy, dla_ops,
};
