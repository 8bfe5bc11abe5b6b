/* The logit lens (include/arrakis/tool_logit_lens.h) and its tool,
 * "logit_lens": parameters -> one run per input row -> JSON. */
#include "arrakis/tool_logit_lens.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/kernels.h"
#include "model/model_internal.h"
#include "tools/logit_lens_common.h"

/* ---- typed functions ---- */

static ark_resid_opts resid_opts(const ark_lens_opts *o)
{
    ark_resid_opts r = ARK_RESID_OPTS_INIT;
    r.layer = -1;
    r.incl_mid = o->incl_mid;
    r.pos = o->pos;
    return r;
}

ark_status ark_logit_lens_hooks(const ark_model *m, const ark_lens_opts *o, char ***names)
{
    ark_lens_opts dflt = ARK_LENS_OPTS_INIT;
    if (!o) o = &dflt;
    ark_resid_opts r = resid_opts(o);
    lc_names l = {0};
    ark_status s = lc_names_add_analysis(&l, m, ARK_ANALYSIS_ACCUMULATED_RESID, &r);
    if (s == ARK_OK && o->scale == ARK_LENS_CACHED_SCALE) s = lc_names_add(&l, "ln_final.hook_scale");
    if (s != ARK_OK) { lc_names_free(&l); return s; }
    return lc_names_pack(&l, names);
}

void ark_lens_free(ark_lens *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        if (l->labels) free(l->labels[i]);
        if (l->hooks) free(l->hooks[i]);
    }
    free(l->labels);
    free(l->hooks);
    free(l->logits);
    free(l);
}

/* The hook name of a point label ("3_pre", "3_mid", "final_post"). */
static char *label_hook(const ark_model *m, const char *label)
{
    char buf[96];
    int layer;
    char kind[8];
    if (!strcmp(label, "final_post")) snprintf(buf, sizeof buf, "blocks.%d.hook_resid_post", m->cfg.n_layers - 1);
    else if (sscanf(label, "%d_%7s", &layer, kind) == 2) snprintf(buf, sizeof buf, "blocks.%d.hook_resid_%s", layer, kind);
    else snprintf(buf, sizeof buf, "%s", label);
    return strdup(buf);
}

/* The final norm through every row of s, in place: own statistics, or the
 * cached final scale (the linear part from analysis.h, plus the bias). */
static ark_status lens_normalise(const ark_model *m, const ark_cache *c, ark_stack *s, ark_lens_scale scale)
{
    int d = s->d;
    size_t rows = (size_t)s->n * s->B * s->P;
    if (scale == ARK_LENS_OWN_SCALE) {
        k_norm(m->cfg.norm, s->data, (int)rows, d, m->lnf_w, m->lnf_b, m->cfg.norm_eps, s->data, NULL);
        return ARK_OK;
    }
    ARK_TRY(ark_stack_apply_ln(m, c, s, -1, false));
    for (size_t r = 0; m->lnf_b && r < rows; r++)
        for (int j = 0; j < d; j++) s->data[r * d + j] += m->lnf_b[j];
    return ARK_OK;
}

ark_status ark_logit_lens(const ark_model *m, const ark_cache *c, const ark_lens_opts *o, ark_lens **out)
{
    *out = NULL;
    ark_lens_opts dflt = ARK_LENS_OPTS_INIT;
    if (!o) o = &dflt;
    if (o->scale != ARK_LENS_OWN_SCALE && o->scale != ARK_LENS_CACHED_SCALE)
        return ark_fail(ARK_ERR_ARG, "lens scale %d: expected ARK_LENS_OWN_SCALE or ARK_LENS_CACHED_SCALE", (int)o->scale);
    ark_resid_opts r = resid_opts(o);
    ark_stack *s;
    ARK_TRY(ark_accumulated_resid(m, c, &r, &s));
    ark_status st = lens_normalise(m, c, s, o->scale);
    int V = m->cfg.d_vocab;
    size_t rows = (size_t)s->n * s->B * s->P;
    ark_lens *l = st == ARK_OK ? calloc(1, sizeof *l) : NULL;
    if (st == ARK_OK && l) {
        *l = (ark_lens){.n = s->n, .B = s->B, .P = s->P, .T = s->T, .pos = s->pos, .vocab = V};
        l->labels = calloc((size_t)s->n, sizeof(char *));
        l->hooks = calloc((size_t)s->n, sizeof(char *));
        l->logits = malloc(sizeof(float) * rows * V);
    }
    if (st == ARK_OK && (!l || !l->labels || !l->hooks || !l->logits))
        st = ark_fail(ARK_ERR_NOMEM, "out of memory for the lens' %zu x %d logits", rows, V);
    for (int i = 0; st == ARK_OK && i < s->n; i++) {
        l->labels[i] = strdup(s->labels[i]);
        l->hooks[i] = label_hook(m, s->labels[i]);
        if (!l->labels[i] || !l->hooks[i]) st = ark_fail(ARK_ERR_NOMEM, "out of memory");
    }
    if (st == ARK_OK) k_linear(&m->unembed, s->data, (int)rows, l->logits, V); // (n*B*P, vocab)
    ark_stack_free(s);
    if (st != ARK_OK) { ark_lens_free(l); return st; }
    *out = l;
    return ARK_OK;
}

const float *ark_lens_at(const ark_lens *l, int i, int b, int p)
{
    if (i < 0 || i >= l->n || b < 0 || b >= l->B || p < 0 || p >= l->P) return NULL;
    return l->logits + (((size_t)i * l->B + b) * l->P + p) * l->vocab;
}

/* log sum_v exp(logits[v]), in double. */
static double log_sum_exp(const float *x, int V)
{
    double mx = -INFINITY, acc = 0;
    for (int v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    if (!isfinite(mx)) return mx;
    for (int v = 0; v < V; v++) acc += exp((double)x[v] - mx);
    return mx + log(acc);
}

int ark_lens_topk(const float *logits, int vocab, int k, int32_t *ids, float *probs)
{
    k = k < vocab ? k : vocab;
    if (k <= 0) return 0;
    int n = 0;
    for (int v = 0; v < vocab; v++) {
        float x = logits[v];
        if (n == k && !(x > logits[ids[n - 1]])) continue;
        int j = n < k ? n++ : k - 1; /* insertion point from the end; ties keep the lower id first */
        while (j > 0 && x > logits[ids[j - 1]]) { ids[j] = ids[j - 1]; j--; }
        ids[j] = v;
    }
    double lse = log_sum_exp(logits, vocab);
    for (int i = 0; probs && i < k; i++) probs[i] = (float)exp((double)logits[ids[i]] - lse);
    return k;
}

ark_status ark_lens_token(const float *logits, int vocab, int32_t token, float *logit, float *prob, int *rank)
{
    if (token < 0 || token >= vocab)
        return ark_fail(ARK_ERR_ARG, "token id %d is out of range (vocab size %d)", token, vocab);
    float x = logits[token];
    if (logit) *logit = x;
    if (prob) *prob = (float)exp((double)x - log_sum_exp(logits, vocab));
    if (rank) {
        int r = 0;
        for (int v = 0; v < vocab; v++) r += logits[v] > x;
        *rank = r;
    }
    return ARK_OK;
}

/* ---- the tool ---- */

typedef struct lens_params {
    ark_lens_opts o;
    int top_k;
    bool has_target, logits;
    int32_t target;
} lens_params;

static ark_status parse_params(const ark_tool_env *env, const cJSON *p, lens_params *lp)
{
    ark_lens_opts dflt = ARK_LENS_OPTS_INIT;
    lp->o = dflt;
    const char *scale;
    ARK_TRY(tool_get_int(p, "top_k", 5, &lp->top_k));
    if (lp->top_k < 0) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d is negative", lp->top_k);
    ARK_TRY(tool_get_bool(p, "mid", false, &lp->o.incl_mid));
    ARK_TRY(tool_get_bool(p, "logits", false, &lp->logits));
    ARK_TRY(tool_get_str(p, "scale", "own", &scale));
    if (!strcmp(scale, "cached")) lp->o.scale = ARK_LENS_CACHED_SCALE;
    else if (strcmp(scale, "own"))
        return ark_fail(ARK_ERR_ARG, "\"scale\": \"%s\": expected \"own\" (each residual's own norm statistics) or "
                        "\"cached\" (the final residual's ln_final.hook_scale)", scale);
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(p, "pos");
    if (pos && !cJSON_IsNull(pos)) ARK_TRY(tool_get_int(p, "pos", 0, &lp->o.pos));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "target");
    lp->has_target = t && !cJSON_IsNull(t);
    if (lp->has_target) ARK_TRY(tool_token(env, t, "target", &lp->target));
    return ARK_OK;
}

/* One position of one row: every point's top-k and target. */
static cJSON *position_json(const ark_tool_env *env, const ark_lens *l, int p, const lens_params *lp, int32_t *ids,
                            float *probs)
{
    cJSON *points = cJSON_CreateArray();
    for (int i = 0; i < l->n; i++) {
        const float *x = ark_lens_at(l, i, 0, p);
        cJSON *pt = cJSON_CreateObject(), *top = cJSON_CreateArray();
        cJSON_AddStringToObject(pt, "point", l->labels[i]);
        int k = ark_lens_topk(x, l->vocab, lp->top_k, ids, probs);
        for (int j = 0; j < k; j++) {
            cJSON *e = lc_token_json(env, ids[j]);
            cJSON_AddNumberToObject(e, "logit", x[ids[j]]);
            cJSON_AddNumberToObject(e, "prob", probs[j]);
            cJSON_AddItemToArray(top, e);
        }
        cJSON_AddItemToObject(pt, "top", top);
        if (lp->has_target) {
            float logit, prob;
            int rank;
            ark_lens_token(x, l->vocab, lp->target, &logit, &prob, &rank);
            cJSON *tg = cJSON_AddObjectToObject(pt, "target");
            cJSON_AddNumberToObject(tg, "logit", logit);
            cJSON_AddNumberToObject(tg, "prob", prob);
            cJSON_AddNumberToObject(tg, "rank", rank);
        }
        if (lp->logits) cJSON_AddItemToObject(pt, "logits", lc_floats(x, l->vocab));
        cJSON_AddItemToArray(points, pt);
    }
    return points;
}

/* One row: every kept position, read one position at a time so that the
 * logits held are (points, vocab), whatever the row's length. */
static ark_status lens_row(const ark_tool_env *env, const ark_plan *plan, const int32_t *row, int T,
                           const lens_params *lp, cJSON *rows)
{
    int first = 0, last = T - 1;
    if (lp->o.pos != ARK_ALL_POS) { ARK_TRY(lc_resolve_pos(lp->o.pos, T, "pos", &first)); last = first; }
    ark_cache *cache;
    ARK_TRY(ark_run(env->model, row, 1, T, NULL, plan, &cache));
    int32_t *ids = malloc(sizeof(int32_t) * (lp->top_k + 1));
    float *probs = malloc(sizeof(float) * (lp->top_k + 1));
    cJSON *r = cJSON_CreateObject(), *positions = cJSON_CreateArray();
    cJSON_AddItemToObject(r, "tokens", cJSON_CreateIntArray(row, T));
    if (env->tokenizer) cJSON_AddItemToObject(r, "str_tokens", tool_str_tokens(env, row, T));
    cJSON_AddItemToObject(r, "positions", positions);
    ark_status s = ids && probs ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int t = first; s == ARK_OK && t <= last; t++) {
        ark_lens_opts o = lp->o;
        o.pos = t;
        ark_lens *l;
        if ((s = ark_logit_lens(env->model, cache, &o, &l)) != ARK_OK) break;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "pos", t);
        cJSON_AddItemToObject(e, "token", lc_token_json(env, row[t]));
        if (t + 1 < T) cJSON_AddItemToObject(e, "next", lc_token_json(env, row[t + 1]));
        cJSON_AddItemToObject(e, "points", position_json(env, l, 0, lp, ids, probs));
        cJSON_AddItemToArray(positions, e);
        ark_lens_free(l);
    }
    if (s == ARK_OK) cJSON_AddItemToArray(rows, r);
    else cJSON_Delete(r);
    free(ids);
    free(probs);
    ark_cache_free(cache);
    return s;
}

static ark_status lens_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    if (op && *op && strcmp(op, "lens")) return ark_fail(ARK_ERR_ARG, "unknown op \"%s\" (ops: lens)", op);
    cJSON *p;
    ARK_TRY(tool_parse_params("logit_lens", params, &p));
    lens_params lp;
    tool_batch batch = {0};
    ark_plan *plan = NULL;
    char **names = NULL;
    ark_status s = parse_params(env, p, &lp);
    if (s == ARK_OK) s = tool_batch_from_json(env, p, &batch);
    if (s == ARK_OK) s = ark_logit_lens_hooks(env->model, &lp.o, &names);
    if (s == ARK_OK) s = lc_plan_from(env->model, names, &plan);
    cJSON *out = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(out, "rows");
    for (int b = 0; s == ARK_OK && b < batch.B; b++)
        s = lens_row(env, plan, batch.tokens + (size_t)b * batch.T, batch.len[b], &lp, rows);
    if (s == ARK_OK) {
        cJSON_AddStringToObject(out, "scale", lp.o.scale == ARK_LENS_OWN_SCALE ? "own" : "cached");
        cJSON_AddBoolToObject(out, "mid", lp.o.incl_mid);
        cJSON_AddNumberToObject(out, "n_layers", ark_model_config(env->model)->n_layers);
        if (lp.has_target) cJSON_AddItemToObject(out, "target", lc_token_json(env, lp.target));
    }
    ark_plan_free(plan);
    tool_batch_free(&batch);
    cJSON_Delete(p);
    if (s != ARK_OK) { cJSON_Delete(out); return s; }
    return tool_result(out, result);
}

static ark_status lens_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void lens_destroy(void *state) { free(state); }

static const char *const lens_ops[] = {
    "lens: text|tokens, target (TOKEN), top_k (5), pos (all; negative from the end), mid (false), "
    "scale (\"own\" | \"cached\"), logits (false: include every point's full logits)",
    NULL,
};

const ark_tool_def ark_tool_logit_lens = {
    "logit_lens", "the residual stream at every layer through the final norm and the unembedding (logit lens)",
    lens_create, lens_run, lens_destroy, lens_ops,
};
