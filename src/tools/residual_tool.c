/* The "residual" tool (include/arrakis/tool_residual.h) through the generic
 * JSON entry point, one run per input row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_residual.h"
#include "core/error.h"
#include "tools/logit_lens_common.h"

typedef struct res_params {
    ark_residual_opts o;
    bool per_position_cosine;
} res_params;

static ark_status parse_params(const ark_tool_env *env, const cJSON *p, res_params *rp)
{
    ark_residual_opts dflt = ARK_RESIDUAL_OPTS_INIT;
    rp->o = dflt;
    ARK_TRY(tool_get_bool(p, "mid", false, &rp->o.incl_mid));
    ARK_TRY(tool_get_int(p, "layer", -1, &rp->o.layer));
    ARK_TRY(tool_get_bool(p, "cosine_per_position", false, &rp->per_position_cosine));
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(p, "pos");
    if (pos && !cJSON_IsNull(pos)) ARK_TRY(tool_get_int(p, "pos", 0, &rp->o.pos));
    int L = ark_model_config(env->model)->n_layers;
    if (rp->o.layer < -1 || rp->o.layer > L)
        return ark_fail(ARK_ERR_ARG, "\"layer\": %d: expected 0..%d (the stream entering that block) or %d / -1 (the "
                        "final stream)", rp->o.layer, L - 1, L);
    return ARK_OK;
}

/* rows x P values of a (rows, 1, P) array as a JSON matrix. */
static cJSON *per_pos(const float *v, int rows, int P) { return tool_matrix(v, rows, P); }

/* The mean over positions of each of `rows` series of P values. */
static cJSON *pos_mean(const float *v, int rows, int P)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < rows; i++) {
        double acc = 0;
        for (int p = 0; p < P; p++) acc += v[(size_t)i * P + p];
        cJSON_AddItemToArray(a, cJSON_CreateNumber(acc / P));
    }
    return a;
}

static cJSON *labels_json(char **labels, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(labels[i]));
    return a;
}

static void stats_json(const ark_resid_stats *s, const res_params *rp, cJSON *r)
{
    int n = s->n, P = s->P;
    cJSON_AddItemToObject(r, "points", labels_json(s->labels, n));
    cJSON_AddItemToObject(r, "norm", per_pos(s->norm, n, P));
    cJSON_AddItemToObject(r, "movement", per_pos(s->movement, n - 1, P));
    cJSON_AddItemToObject(r, "mean_movement", pos_mean(s->movement, n - 1, P));
    float *mean = malloc(sizeof(float) * n * n);
    ark_resid_cosine_mean(s, 0, NULL, mean);
    cJSON_AddItemToObject(r, "cosine_mean", tool_matrix(mean, n, n));
    free(mean);
    if (!rp->per_position_cosine) return;
    cJSON *all = cJSON_AddArrayToObject(r, "cosine");
    float *one = malloc(sizeof(float) * n * n);
    for (int p = 0; p < P; p++) {
        for (int i = 0; i < n * n; i++) one[i] = s->cosine[(size_t)i * P + p];
        cJSON_AddItemToArray(all, tool_matrix(one, n, n));
    }
    free(one);
}

static void shares_json(const ark_resid_shares *s, const char *hook, cJSON *r)
{
    cJSON *o = cJSON_AddObjectToObject(r, "shares");
    cJSON_AddStringToObject(o, "hook", hook);
    cJSON_AddItemToObject(o, "parts", labels_json(s->labels, s->k));
    cJSON_AddItemToObject(o, "share", per_pos(s->share, s->k, s->P));
    cJSON_AddItemToObject(o, "norm_share", per_pos(s->norm_share, s->k, s->P));
    cJSON_AddItemToObject(o, "part_norm", per_pos(s->part_norm, s->k, s->P));
    cJSON_AddItemToObject(o, "resid_norm", lc_floats(s->resid_norm, s->P));
    cJSON_AddItemToObject(o, "mean_share", pos_mean(s->share, s->k, s->P));
    cJSON_AddItemToObject(o, "mean_norm_share", pos_mean(s->norm_share, s->k, s->P));
}

static ark_status residual_row(const ark_tool_env *env, const ark_plan *plan, const int32_t *row, int T,
                               const res_params *rp, cJSON *rows)
{
    ark_residual_opts o = rp->o;
    if (o.pos != ARK_ALL_POS) ARK_TRY(lc_resolve_pos(o.pos, T, "pos", &o.pos));
    ark_cache *cache;
    ARK_TRY(ark_run(env->model, row, 1, T, NULL, plan, &cache));
    ark_resid_stats *st = NULL;
    ark_resid_shares *sh = NULL;
    ark_resid_opts ro = ARK_RESID_OPTS_INIT;
    ro.layer = o.layer;
    char hook[64];
    ark_status s = ark_resid_hook(env->model, &ro, hook, sizeof hook);
    if (s == ARK_OK) s = ark_residual_stats(env->model, cache, &o, &st);
    if (s == ARK_OK) s = ark_residual_shares(env->model, cache, &o, &sh);
    if (s == ARK_OK) {
        cJSON *r = cJSON_CreateObject(), *pos = cJSON_CreateArray();
        cJSON_AddItemToObject(r, "tokens", cJSON_CreateIntArray(row, T));
        if (env->tokenizer) cJSON_AddItemToObject(r, "str_tokens", tool_str_tokens(env, row, T));
        for (int p = 0; p < st->P; p++) cJSON_AddItemToArray(pos, cJSON_CreateNumber(st->pos >= 0 ? st->pos : p));
        cJSON_AddItemToObject(r, "positions", pos);
        stats_json(st, rp, r);
        shares_json(sh, hook, r);
        cJSON_AddItemToArray(rows, r);
    }
    ark_resid_stats_free(st);
    ark_resid_shares_free(sh);
    ark_cache_free(cache);
    return s;
}

static ark_status residual_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    if (op && *op && strcmp(op, "stats")) return ark_fail(ARK_ERR_ARG, "unknown op \"%s\" (ops: stats)", op);
    cJSON *p;
    ARK_TRY(tool_parse_params("residual", params, &p));
    res_params rp;
    tool_batch batch = {0};
    ark_plan *plan = NULL;
    char **names = NULL;
    ark_status s = parse_params(env, p, &rp);
    if (s == ARK_OK) s = tool_batch_from_json(env, p, &batch);
    if (s == ARK_OK) s = ark_residual_hooks(env->model, &rp.o, &names);
    if (s == ARK_OK) s = lc_plan_from(env->model, names, &plan);
    cJSON *out = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(out, "rows");
    for (int b = 0; s == ARK_OK && b < batch.B; b++)
        s = residual_row(env, plan, batch.tokens + (size_t)b * batch.T, batch.len[b], &rp, rows);
    if (s == ARK_OK) {
        cJSON_AddBoolToObject(out, "mid", rp.o.incl_mid);
        cJSON_AddStringToObject(out, "share_definition", "share = c . x / |x|^2 (sums to 1); norm_share = |c| / sum |c_j|");
        cJSON_AddStringToObject(out, "movement_definition", "|x_{i+1} - x_i| / |x_i|");
    }
    ark_plan_free(plan);
    tool_batch_free(&batch);
    cJSON_Delete(p);
    if (s != ARK_OK) { cJSON_Delete(out); return s; }
    return tool_result(out, result);
}

static ark_status residual_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void residual_destroy(void *state) { free(state); }

static const char *const residual_ops[] = {
    "stats: text|tokens, mid (false), pos (all), layer (-1: the final stream, for shares), cosine_per_position (false)",
    NULL,
};

const ark_tool_def ark_tool_residual = {
    "residual", "residual-stream norms, movement and cosine similarity between layers, and each part's share",
    residual_create, residual_run, residual_destroy, residual_ops,
};
