/* The superposition tool's PCA operations: pca (variance, explained
 * variance ratios, components, rank-K reconstruction with its loss) and
 * pca_interpolate (an activation moved along a component, and the logits). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "tools/sae_tool.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

/* ---- reconstruction ---- */

typedef struct recon_ctx {
    const ark_pca *pca;
    int k;
    double se;
    int64_t n;
    float *buf;
    int cap;
} recon_ctx;

static ark_status recon_consume(const ark_act_rows *r, void *ctx)
{
    recon_ctx *c = ctx;
    if (r->n > c->cap) {
        free(c->buf);
        c->buf = malloc(sizeof(float) * (size_t)r->n * r->width);
        c->cap = c->buf ? r->n : 0;
        if (!c->buf) return ark_fail(ARK_ERR_NOMEM, "PCA: out of memory");
    }
    double err;
    ARK_TRY(ark_pca_reconstruct(c->pca, r->act, r->n, c->k, c->buf, &err));
    c->se += err * r->n;
    c->n += r->n;
    return ARK_OK;
}

/* MODIFY hook: every position's activation replaced by its reconstruction. */
static ark_status recon_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    recon_ctx *c = ctx;
    int n = call->B * call->T, d = c->pca->d;
    float *out = malloc(sizeof(float) * (size_t)n * d);
    if (!out) return ark_fail(ARK_ERR_NOMEM, "PCA: out of memory");
    ark_status s = ark_pca_reconstruct(c->pca, act->data, n, c->k, out, NULL);
    if (s == ARK_OK) memcpy(act->data, out, sizeof(float) * (size_t)n * d);
    free(out);
    return s;
}

static ark_status reconstruct_json(const ark_tool_env *env, const ark_dataset *d, const char *hook, const ark_stream_opts *so,
                                   const ark_pca *pca, int k, cJSON *o)
{
    recon_ctx c = {.pca = pca, .k = k};
    ark_status s = ark_stream_acts(env->model, d, hook, so, recon_consume, &c);
    double ce_clean = NAN, ce_rec = NAN;
    if (s == ARK_OK) s = ark_dataset_ce(env->model, d, so, NULL, &ce_clean, NULL);
    ark_plan *p = ark_plan_new(env->model);
    if (s == ARK_OK) s = ark_plan_add_hook(p, hook, ARK_HOOK_MODIFY, recon_hook, &c);
    if (s == ARK_OK) s = ark_dataset_ce(env->model, d, so, p, &ce_rec, NULL);
    ark_plan_free(p);
    free(c.buf);
    if (s != ARK_OK) return s;
    double eig = 0;
    for (int i = 0; i < k; i++) eig += pca->variance[i];
    cJSON *r = cJSON_AddObjectToObject(o, "reconstruction");
    cJSON_AddNumberToObject(r, "components", k);
    cJSON_AddItemToObject(r, "mse", sp_num(c.n ? c.se / c.n : NAN));
    cJSON_AddItemToObject(r, "fve", sp_num(c.n && pca->total_variance > 0 ? 1.0 - c.se / c.n / pca->total_variance : NAN));
    cJSON_AddItemToObject(r, "fve_eigen", sp_num(pca->total_variance > 0 ? eig / pca->total_variance : NAN));
    cJSON_AddItemToObject(r, "ce_clean", sp_num(ce_clean));
    cJSON_AddItemToObject(r, "ce_reconstructed", sp_num(ce_rec));
    return ARK_OK;
}

/* ---- pca ---- */

static cJSON *pca_json(const ark_pca *pca, const char *hook, int k, bool vectors)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "hook", hook);
    cJSON_AddNumberToObject(o, "d", pca->d);
    cJSON_AddNumberToObject(o, "n_tokens", (double)pca->n);
    cJSON_AddNumberToObject(o, "total_variance", pca->total_variance);
    cJSON_AddNumberToObject(o, "components", k);
    double *ratio = malloc(sizeof(double) * pca->d), *cum = malloc(sizeof(double) * pca->d), acc = 0;
    for (int i = 0; i < pca->d; i++) {
        ratio[i] = pca->total_variance > 0 ? pca->variance[i] / pca->total_variance : NAN;
        acc += ratio[i];
        cum[i] = acc;
    }
    cJSON_AddItemToObject(o, "variance", sp_doubles(pca->variance, k));
    cJSON_AddItemToObject(o, "explained_variance_ratio", sp_doubles(ratio, k));
    cJSON_AddItemToObject(o, "cumulative", sp_doubles(cum, k));
    static const double levels[] = {0.5, 0.9, 0.95, 0.99};
    cJSON *need = cJSON_AddObjectToObject(o, "components_for");
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        int c = 0;
        while (c < pca->d && cum[c] < levels[l] - 1e-12) c++;
        char key[16];
        snprintf(key, sizeof key, "%g", levels[l]);
        cJSON_AddNumberToObject(need, key, c < pca->d ? c + 1 : pca->d);
    }
    free(ratio);
    free(cum);
    if (vectors) {
        cJSON_AddItemToObject(o, "mean", sp_floats(pca->mean, pca->d));
        cJSON_AddItemToObject(o, "vectors", tool_matrix(pca->components, k, pca->d));
    }
    return o;
}

ark_status sup_op_pca(const ark_tool_env *env, const cJSON *p, char **result)
{
    const char *hook;
    int k, rk;
    bool vectors;
    ark_stream_opts so;
    ARK_TRY(sp_need_model(env, "superposition", "pca"));
    ARK_TRY(tool_get_str(p, "hook", NULL, &hook));
    ARK_TRY(tool_get_int(p, "components", 10, &k));
    ARK_TRY(tool_get_int(p, "reconstruct", 0, &rk));
    ARK_TRY(tool_get_bool(p, "vectors", false, &vectors));
    ARK_TRY(sp_stream_json(p, "batch", &so));
    if (!hook) return ark_fail(ARK_ERR_ARG, "\"hook\": give the hook point, e.g. \"blocks.0.hook_resid_post\"");
    int d;
    ARK_TRY(ark_hook_width(env->model, hook, &d));
    if (k < 1 || k > d) return ark_fail(ARK_ERR_ARG, "\"components\": %d, expected 1..%d (the hook's width)", k, d);
    if (rk < 0 || rk > d) return ark_fail(ARK_ERR_ARG, "\"reconstruct\": %d, expected 0..%d", rk, d);
    ark_dataset *ds;
    ARK_TRY(sp_dataset_json(env, p, &ds));
    ark_pca pca;
    ark_status s = ark_pca_fit(env->model, ds, hook, &so, &pca);
    cJSON *o = NULL;
    if (s == ARK_OK) {
        o = pca_json(&pca, hook, k, vectors);
        if (rk > 0) s = reconstruct_json(env, ds, hook, &so, &pca, rk, o);
    }
    if (s == ARK_OK) s = tool_result(o, result);
    else cJSON_Delete(o);
    ark_pca_free(&pca);
    ark_dataset_free(ds);
    return s;
}

/* ---- pca_interpolate ---- */

typedef struct write_ctx {
    const float *v;  /* (rows, d) */
    int pos, d;
} write_ctx;

static ark_status write_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    const write_ctx *w = ctx;
    for (int b = 0; b < call->B; b++)
        memcpy(act->data + ((size_t)b * call->T + w->pos) * w->d, w->v + (size_t)b * w->d, sizeof(float) * w->d);
    return ARK_OK;
}

static ark_status prompt_json(const ark_tool_env *env, const cJSON *p, tool_batch *b)
{
    cJSON *q = cJSON_CreateObject();
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "prompt_text"), *k = cJSON_GetObjectItemCaseSensitive(p, "prompt_tokens");
    if (t) cJSON_AddItemToObject(q, "text", cJSON_Duplicate(t, true));
    if (k) cJSON_AddItemToObject(q, "tokens", cJSON_Duplicate(k, true));
    ark_status s = t || k ? tool_batch_from_json(env, q, b) : ark_fail(ARK_ERR_ARG, "give \"prompt_text\" or \"prompt_tokens\" (one prompt)");
    cJSON_Delete(q);
    if (s == ARK_OK && b->B != 1) { tool_batch_free(b); s = ark_fail(ARK_ERR_ARG, "\"prompt_*\": give one prompt, not %d", b->B); }
    return s;
}

static ark_status interp_values(const cJSON *p, const ark_pca *pca, int comp, float **vals, int *n)
{
    int k = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "values");
    if (cJSON_IsArray(v)) {
        *n = cJSON_GetArraySize(v);
        *vals = malloc(sizeof(float) * (*n ? *n : 1));
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (!cJSON_IsNumber(x)) { free(*vals); return ark_fail(ARK_ERR_ARG, "\"values\": expected numbers"); }
            (*vals)[k++] = (float)x->valuedouble;
        }
        if (*n < 1) { free(*vals); return ark_fail(ARK_ERR_ARG, "\"values\": empty"); }
        return ARK_OK;
    }
    double sd = sqrt(pca->variance[comp]), from, to;
    int steps;
    ARK_TRY(tool_get_num(p, "from", -3 * sd, &from));
    ARK_TRY(tool_get_num(p, "to", 3 * sd, &to));
    ARK_TRY(tool_get_int(p, "steps", 7, &steps));
    if (steps < 2 || steps > 1000) return ark_fail(ARK_ERR_ARG, "\"steps\": %d, expected 2..1000", steps);
    *n = steps;
    *vals = malloc(sizeof(float) * steps);
    for (int i = 0; i < steps; i++) (*vals)[i] = (float)(from + (to - from) * i / (steps - 1));
    return ARK_OK;
}

/* Add the `top` largest entries of row r (V values) to the tracked set. */
static void track(const float *r, int V, int top, int32_t *set, int *n)
{
    for (int t = 0; t < top; t++) {
        int best = -1;
        for (int v = 0; v < V; v++) {
            bool seen = false;
            for (int i = 0; i < *n && !seen; i++) seen = set[i] == v;
            if (!seen && (best < 0 || r[v] > r[best])) best = v;
        }
        if (best < 0) return;
        set[(*n)++] = best;
    }
}

/* Logits at pos for each row, for the tokens on top at the first and last
 * rows: {tokens, str_tokens, logits [rows][tracked]}. */
static cJSON *interp_logits_json(const ark_tool_env *env, const float *z, int rows, int T, int pos, int V, int top)
{
    int32_t *tr = malloc(sizeof(int32_t) * (size_t)(2 * top));
    int nt = 0;
    track(z + (size_t)pos * V, V, top, tr, &nt);
    track(z + ((size_t)(rows - 1) * T + pos) * V, V, top, tr, &nt);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "tokens", cJSON_CreateIntArray(tr, nt));
    cJSON_AddItemToObject(o, "str_tokens", tool_str_tokens(env, tr, nt));
    cJSON *L = cJSON_AddArrayToObject(o, "logits");
    for (int s = 0; s < rows; s++) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < nt; i++) cJSON_AddItemToArray(row, sp_num(z[((size_t)s * T + pos) * V + tr[i]]));
        cJSON_AddItemToArray(L, row);
    }
    free(tr);
    return o;
}

ark_status sup_op_pca_interpolate(const ark_tool_env *env, const cJSON *p, char **result)
{
    const char *hook;
    int comp, pos, top;
    ark_stream_opts so;
    ARK_TRY(sp_need_model(env, "superposition", "pca_interpolate"));
    ARK_TRY(tool_get_str(p, "hook", NULL, &hook));
    ARK_TRY(tool_get_int(p, "component", 0, &comp));
    ARK_TRY(tool_get_int(p, "pos", -1, &pos));
    ARK_TRY(tool_get_int(p, "top", 5, &top));
    ARK_TRY(sp_stream_json(p, "batch", &so));
    if (!hook) return ark_fail(ARK_ERR_ARG, "\"hook\": give the hook point");
    int d, V = ark_model_config(env->model)->d_vocab;
    ARK_TRY(ark_hook_width(env->model, hook, &d));
    if (comp < 0 || comp >= d) return ark_fail(ARK_ERR_ARG, "\"component\": %d, expected 0..%d", comp, d - 1);
    if (top < 1 || top > V) return ark_fail(ARK_ERR_ARG, "\"top\": %d, expected 1..%d", top, V);
    tool_batch b;
    ARK_TRY(prompt_json(env, p, &b));
    int T = b.T;
    if (pos < 0) pos += T;
    ark_dataset *ds = NULL;
    ark_pca pca = {0};
    float *vals = NULL, *vecs = NULL;
    int nv = 0;
    int32_t *tok = NULL;
    ark_cache *c0 = NULL, *c1 = NULL;
    ark_status s = pos >= 0 && pos < T ? sp_dataset_json(env, p, &ds) : ark_fail(ARK_ERR_ARG, "\"pos\": out of range for %d tokens", T);
    if (s == ARK_OK) s = ark_pca_fit(env->model, ds, hook, &so, &pca);
    if (s == ARK_OK) s = interp_values(p, &pca, comp, &vals, &nv);
    ark_plan *keep = ark_plan_new(env->model);
    if (s == ARK_OK) s = ark_plan_keep(keep, hook);
    if (s == ARK_OK) s = ark_run(env->model, b.tokens, 1, T, NULL, keep, &c0);
    ark_plan_free(keep);
    if (s == ARK_OK) {
        vecs = malloc(sizeof(float) * (size_t)nv * d);
        tok = malloc(sizeof(int32_t) * (size_t)nv * T);
        for (int i = 0; i < nv; i++) memcpy(tok + (size_t)i * T, b.tokens, sizeof(int32_t) * T);
        s = ark_pca_interpolate(&pca, ark_cache_get(c0, hook)->data + (size_t)pos * d, comp, vals, nv, vecs);
    }
    write_ctx w = {vecs, pos, d};
    ark_plan *wp = ark_plan_new(env->model);
    if (s == ARK_OK) s = ark_plan_add_hook(wp, hook, ARK_HOOK_MODIFY, write_hook, &w);
    if (s == ARK_OK) s = ark_run(env->model, tok, nv, T, NULL, wp, &c1);
    ark_plan_free(wp);
    cJSON *o = NULL;
    if (s == ARK_OK) {
        float *coords = malloc(sizeof(float) * (comp + 1));
        ark_pca_project(&pca, ark_cache_get(c0, hook)->data + (size_t)pos * d, 1, comp + 1, coords);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "hook", hook);
        cJSON_AddNumberToObject(o, "component", comp);
        cJSON_AddNumberToObject(o, "pos", pos);
        cJSON_AddItemToObject(o, "explained_variance_ratio", sp_num(pca.variance[comp] / pca.total_variance));
        cJSON_AddItemToObject(o, "coordinate", sp_num(coords[comp]));
        cJSON_AddItemToObject(o, "values", sp_floats(vals, nv));
        cJSON_AddItemToObject(o, "output", interp_logits_json(env, ark_cache_logits(c1)->data, nv, T, pos, V, top));
        free(coords);
    }
    if (s == ARK_OK) s = tool_result(o, result);
    ark_cache_free(c0);
    ark_cache_free(c1);
    free(vals);
    free(vecs);
    free(tok);
    ark_pca_free(&pca);
    ark_dataset_free(ds);
    tool_batch_free(&b);
    return s;
}
