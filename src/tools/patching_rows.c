/* Batched runs from a given residual stream, and the per-row patch hook
 * (see patching_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tools/patching_internal.h"

/* Layer 0 has no "start from the residual" in ark_run_ex: the run embeds the
 * tokens and this hook writes the given residual over the embeddings. */
static ark_status overwrite_resid(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    (void)call;
    memcpy(act->data, ctx, sizeof(float) * (size_t)ark_tensor_numel(act));
    return ARK_OK;
}

ark_status rows_plan_new(ark_model *m, const rows_start *s, ark_plan **plan)
{
    *plan = ark_plan_new(m);
    if (!*plan) return ark_fail(ARK_ERR_NOMEM, "out of memory for a plan");
    if (s->layer > 0) return ARK_OK;
    ark_status st = ark_plan_add_hook(*plan, "blocks.0.hook_resid_pre", ARK_HOOK_MODIFY, overwrite_resid, (void *)s->resid);
    if (st != ARK_OK) { ark_plan_free(*plan); *plan = NULL; }
    return st;
}

/* rows x T tokens: the prompt in every row (layer 0 embeds them before the
 * overwrite; only their count matters otherwise). */
static int32_t *tile_tokens(const rows_start *s)
{
    int32_t *t = malloc(sizeof *t * (size_t)s->B * s->T);
    if (!t) return NULL;
    for (int b = 0; b < s->B; b++) memcpy(t + (size_t)b * s->T, s->tokens, sizeof *t * s->T);
    return t;
}

/* The final norm and unembedding of (B, 1, d) residuals. */
static ark_status unembed_rows(ark_model *m, const float *x, int B, float **logits)
{
    const ark_config *c = ark_model_config(m);
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.start_at_layer = c->n_layers;
    o.resid = x;
    ark_cache *out;
    ARK_TRY(ark_run_ex(m, NULL, B, 1, &o, NULL, &out));
    size_t n = (size_t)B * c->d_vocab;
    *logits = malloc(sizeof(float) * n);
    if (*logits) memcpy(*logits, ark_cache_logits(out)->data, sizeof(float) * n);
    ark_cache_free(out);
    return *logits ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for %d rows of logits", B);
}

/* (B, T, d) -> (B, 1, d) at position pos. */
static float *gather_pos(const float *x, int B, int T, int d, int pos)
{
    float *g = malloc(sizeof(float) * (size_t)B * d);
    if (!g) return NULL;
    for (int b = 0; b < B; b++) memcpy(g + (size_t)b * d, x + ((size_t)b * T + pos) * d, sizeof(float) * d);
    return g;
}

ark_status rows_run(ark_model *m, const rows_start *s, const ark_plan *plan, int pos, float **logits)
{
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, d = c->d_model;
    *logits = NULL;
    if (s->layer < 0 || s->layer > L) return ark_fail(ARK_ERR_ARG, "start layer %d: expected 0..%d", s->layer, L);
    if (pos >= 0 && s->layer == L) {
        float *g = gather_pos(s->resid, s->B, s->T, d, pos);
        if (!g) return ark_fail(ARK_ERR_NOMEM, "out of memory gathering %d rows", s->B);
        ark_status st = unembed_rows(m, g, s->B, logits);
        free(g);
        return st;
    }
    int32_t *tokens = s->layer == 0 ? tile_tokens(s) : NULL;
    if (s->layer == 0 && !tokens) return ark_fail(ARK_ERR_NOMEM, "out of memory for %d x %d tokens", s->B, s->T);
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.start_at_layer = s->layer;
    o.resid = s->layer > 0 ? s->resid : NULL;
    o.stop_at_layer = pos >= 0 ? L : -1;
    ark_cache *out;
    ark_status st = ark_run_ex(m, tokens, s->B, s->T, &o, plan, &out);
    free(tokens);
    ARK_TRY(st);
    if (pos >= 0) {
        float *g = gather_pos(ark_cache_resid(out)->data, s->B, s->T, d, pos);
        ark_cache_free(out);
        if (!g) return ark_fail(ARK_ERR_NOMEM, "out of memory gathering %d rows", s->B);
        st = unembed_rows(m, g, s->B, logits);
        free(g);
        return st;
    }
    size_t n = (size_t)s->B * s->T * c->d_vocab;
    *logits = malloc(sizeof(float) * n);
    if (*logits) memcpy(*logits, ark_cache_logits(out)->data, sizeof(float) * n);
    ark_cache_free(out);
    return *logits ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for %d x %d logits", s->B, s->T);
}

/* ---- the per-row patch hook ---- */

/* An activation as (rows, positions, heads, features); attention maps
 * [b, h, q, k] are head-major. */
typedef struct act_view {
    int64_t B, P, H, F;
    bool head_major;
} act_view;

static act_view view_of(const ark_tensor *t, const char *name)
{
    act_view v = {t->shape[0], t->shape[1], 1, t->shape[t->ndim - 1], false};
    if (strstr(name, "hook_pattern") || strstr(name, "hook_attn_scores")) {
        v.H = t->shape[1];
        v.P = t->shape[2];
        v.head_major = true;
    } else if (t->ndim == 4) {
        v.H = t->shape[2];
    }
    return v;
}

static size_t view_at(const act_view *v, int64_t b, int64_t p, int64_t h)
{
    return (size_t)(v->head_major ? ((b * v->H + h) * v->P + p) : ((b * v->P + p) * v->H + h)) * v->F;
}

ark_status row_patch_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    const row_patch *rp = ctx;
    const ark_tensor *src = ark_cache_get(rp->src, call->name);
    if (!src) return ark_fail(ARK_ERR_MISSING, "the source run did not keep %s", call->name);
    act_view v = view_of(act, call->name), sv = view_of(src, call->name);
    if (sv.P != v.P || sv.H != v.H || sv.F != v.F || v.B != rp->B)
        return ark_fail(ARK_ERR_SHAPE, "%s: source and patched runs differ in shape", call->name);
    for (int64_t b = 0; b < v.B; b++) {
        int p0 = rp->pos[b] < 0 ? 0 : rp->pos[b], p1 = rp->pos[b] < 0 ? (int)v.P : rp->pos[b] + 1;
        int hs = rp->head ? rp->head[b] : -1;
        int h0 = hs < 0 ? 0 : hs, h1 = hs < 0 ? (int)v.H : hs + 1;
        for (int p = p0; p < p1; p++)
            for (int h = h0; h < h1; h++)
                memcpy(act->data + view_at(&v, b, p, h), src->data + view_at(&sv, 0, p, h), sizeof(float) * v.F);
    }
    return ARK_OK;
}

/* ---- batch sizes ---- */

size_t rows_floats_per_row(const ark_model *m, int T, bool maps, bool full_logits)
{
    const ark_config *c = ark_model_config(m);
    size_t d = c->d_model, qkv = (size_t)(c->n_heads + 2 * c->n_kv_heads) * c->d_head, mlp = c->d_mlp;
    size_t per_pos = 8 * d + 2 * qkv + (size_t)c->n_heads * c->d_head + 2 * mlp + 1;
    size_t n = (size_t)T * per_pos + (maps ? 2 * (size_t)c->n_heads * T * T : 0);
    n += full_logits ? (size_t)T * c->d_vocab : (size_t)c->d_vocab;
    return n;
}

int rows_per_run(const ark_model *m, int T, bool maps, bool full_logits, size_t budget, int max_rows, int cap)
{
    if (!budget) budget = (size_t)256 << 20;
    size_t per = rows_floats_per_row(m, T, maps, full_logits) * sizeof(float);
    size_t n = budget / (per ? per : 1);
    int rows = n > (size_t)cap ? cap : (int)n;
    if (max_rows > 0 && rows > max_rows) rows = max_rows;
    return rows < 1 ? 1 : rows;
}
