/* The forward pass: one canonical block, parameterised by ark_config, with
 * hook points fired where TransformerLens places them. Read top to bottom:
 * ark_run -> embed -> block (attention, mlp) x L -> final norm -> unembed. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "core/alloc.h"
#include "core/error.h"
#include "kernels/kernels.h"
#include "run/hooks.h"

typedef struct run_ctx {
    ark_model *m;
    const ark_config *c;
    int B, T, BT;
    const uint8_t *mask;  /* (B, T) or NULL */
    int32_t *pos;         /* (B, T) position ids */
    float *cos_t, *sin_t; /* rotary tables (n_pos, rotary_dim/2) */
    ark_cache *cache;
    int *slot;            /* hook id -> cache index, -1 = not kept */
    /* activations, reused layer after layer */
    float *x;        /* (B, T, d) residual stream */
    float *nrm;      /* (B, T, d) norm output feeding attention */
    float *nrm2;     /* (B, T, d) norm output feeding the MLP */
    float *scale;    /* (B, T) norm scales */
    float *q, *k, *v;/* (B, T, H, dh), (B, T, KV, dh) x2 */
    float *qkv;      /* (B, T, 3*H*dh) fused projection (gpt_neox) */
    float *z;        /* (B, T, H, dh) */
    float *attn_out; /* (B, T, d) */
    float *pre, *pre_lin; /* (B, T, m) */
    float *mlp_out;  /* (B, T, d) */
    float *scores, *pattern; /* (B, H, T, T) when a hook asks for them, else NULL */
    float *row_buf;  /* per thread (T, T) */
} run_ctx;

static bool kept(const run_ctx *r, ark_hook_kind k, int layer)
{
    return r->slot[hook_id(r->c->n_layers, k, layer)] >= 0;
}

/* A hook point: copy the activation into the cache when the plan keeps it. */
static void fire(run_ctx *r, ark_hook_kind k, int layer, const float *data)
{
    int s = r->slot[hook_id(r->c->n_layers, k, layer)];
    if (s < 0) return;
    ark_tensor *t = &r->cache->tensors[s];
    memcpy(t->data, data, sizeof(float) * (size_t)ark_tensor_numel(t));
}

/* ---- embeddings ---- */

static void embed(run_ctx *r, const int32_t *tokens)
{
    const ark_config *c = r->c;
    int d = c->d_model;
    for (int i = 0; i < r->BT; i++) {
        const float *e = r->m->embed + (size_t)tokens[i] * d;
        float *xi = r->x + (size_t)i * d;
        if (c->embed_scale != 1.0f)
            for (int j = 0; j < d; j++) xi[j] = e[j] * c->embed_scale;
        else
            memcpy(xi, e, sizeof(float) * d);
    }
    fire(r, HK_EMBED, 0, r->x);
    if (c->pos != ARK_POS_LEARNED) return;
    float *pe = r->attn_out; /* scratch (B, T, d) */
    for (int i = 0; i < r->BT; i++)
        memcpy(pe + (size_t)i * d, r->m->pos_embed + (size_t)r->pos[i] * d, sizeof(float) * d);
    fire(r, HK_POS_EMBED, 0, pe);
    for (size_t i = 0; i < (size_t)r->BT * d; i++) r->x[i] += pe[i];
}

/* ---- attention ---- */

/* q, k, v from the normalised input; gpt_neox's fused [heads, q|k|v] rows
 * are split per head. */
static void project_qkv(run_ctx *r, const ark_layer_weights *L)
{
    const ark_config *c = r->c;
    int H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head;
    if (!r->m->qkv_per_head) {
        k_linear(&L->q, r->nrm, r->BT, r->q, H * dh);
        k_linear(&L->k, r->nrm, r->BT, r->k, KV * dh);
        k_linear(&L->v, r->nrm, r->BT, r->v, KV * dh);
        return;
    }
    k_linear(&L->qkv, r->nrm, r->BT, r->qkv, 3 * H * dh);
    for (int i = 0; i < r->BT; i++)
        for (int h = 0; h < H; h++) {
            const float *src = r->qkv + ((size_t)i * H + h) * 3 * dh;
            size_t dst = ((size_t)i * H + h) * dh;
            memcpy(r->q + dst, src, sizeof(float) * dh);
            memcpy(r->k + dst, src + dh, sizeof(float) * dh);
            memcpy(r->v + dst, src + 2 * dh, sizeof(float) * dh);
        }
}

/* scores -> pattern -> z over every (row, head).  When a hook wants the
 * scores or pattern, they are materialised for the whole batch; otherwise
 * each thread works through one (T, T) buffer. */
static void attend(run_ctx *r, int layer)
{
    const ark_config *c = r->c;
    int B = r->B, T = r->T, H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head;
    k_attn_mask am = {.mask = r->mask, .window = c->window[layer]};
    float scale = c->attn_scale[layer];
    bool whole = r->scores != NULL && (kept(r, HK_SCORES, layer) || kept(r, HK_PATTERN, layer));
    size_t TT = (size_t)T * T;
    if (whole) {
#pragma omp parallel for schedule(dynamic)
        for (int bh = 0; bh < B * H; bh++) {
            k_attn_scores(r->q, r->k, bh / H, bh % H, T, H, KV, dh, scale, &am, r->scores + bh * TT);
            k_softmax_rows(r->scores + bh * TT, T, r->pattern + bh * TT);
        }
        fire(r, HK_SCORES, layer, r->scores);
        fire(r, HK_PATTERN, layer, r->pattern);
#pragma omp parallel for schedule(dynamic)
        for (int bh = 0; bh < B * H; bh++) k_attn_mix(r->pattern + bh * TT, r->v, bh / H, bh % H, T, H, KV, dh, r->z);
        return;
    }
#pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < B * H; bh++) {
        float *buf = r->row_buf + (size_t)omp_get_thread_num() * TT;
        k_attn_scores(r->q, r->k, bh / H, bh % H, T, H, KV, dh, scale, &am, buf);
        k_softmax_rows(buf, T, buf);
        k_attn_mix(buf, r->v, bh / H, bh % H, T, H, KV, dh, r->z);
    }
}

/* hook_result: per head z_h W_O,h (B, T, H, d), without the output bias. */
static void head_results(run_ctx *r, const ark_layer_weights *L, int layer)
{
    if (!kept(r, HK_RESULT, layer)) return;
    const ark_config *c = r->c;
    int H = c->n_heads, dh = c->d_head, d = c->d_model;
    float *res = r->cache->tensors[r->slot[hook_id(c->n_layers, HK_RESULT, layer)]].data;
    for (int h = 0; h < H; h++) {
        ark_linear Wh = {.in = dh, .out = d, .ld = L->o.ld, .in_out = L->o.in_out};
        Wh.w = L->o.in_out ? L->o.w + (size_t)h * dh * L->o.ld : L->o.w + (size_t)h * dh;
        /* z rows have stride H*dh; compute into the strided result */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, Wh.in_out ? CblasNoTrans : CblasTrans, r->BT, d, dh, 1.0f,
                    r->z + (size_t)h * dh, H * dh, Wh.w, Wh.ld, 0.0f, res + (size_t)h * d, H * d);
    }
}

static void attention(run_ctx *r, const ark_layer_weights *L, int layer)
{
    const ark_config *c = r->c;
    int H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head;
    project_qkv(r, L);
    fire(r, HK_Q, layer, r->q);
    fire(r, HK_K, layer, r->k);
    fire(r, HK_V, layer, r->v);
    if (c->pos == ARK_POS_ROTARY) {
        k_rope_apply(r->q, r->BT, H, dh, c->rotary_dim, r->pos, r->cos_t, r->sin_t);
        k_rope_apply(r->k, r->BT, KV, dh, c->rotary_dim, r->pos, r->cos_t, r->sin_t);
        fire(r, HK_ROT_Q, layer, r->q);
        fire(r, HK_ROT_K, layer, r->k);
    }
    attend(r, layer);
    fire(r, HK_Z, layer, r->z);
    head_results(r, L, layer);
    k_linear(&L->o, r->z, r->BT, r->attn_out, c->d_model);
    fire(r, HK_ATTN_OUT, layer, r->attn_out);
}

/* ---- MLP ---- */

static void mlp(run_ctx *r, const ark_layer_weights *L, const float *in, int layer)
{
    const ark_config *c = r->c;
    int64_t n = (int64_t)r->BT * c->d_mlp;
    if (c->mlp == ARK_MLP_GATED) {
        k_linear(&L->gate, in, r->BT, r->pre, c->d_mlp);
        k_linear(&L->up, in, r->BT, r->pre_lin, c->d_mlp);
        fire(r, HK_MLP_PRE, layer, r->pre);
        fire(r, HK_MLP_PRE_LINEAR, layer, r->pre_lin);
        k_act_mul(c->act, r->pre, r->pre_lin, n);
    } else {
        k_linear(&L->up, in, r->BT, r->pre, c->d_mlp);
        fire(r, HK_MLP_PRE, layer, r->pre);
        k_act(c->act, r->pre, n);
    }
    fire(r, HK_MLP_POST, layer, r->pre);
    k_linear(&L->down, r->pre, r->BT, r->mlp_out, c->d_model);
    fire(r, HK_MLP_OUT, layer, r->mlp_out);
}

/* ---- the block ---- */

static void norm(run_ctx *r, const float *in, const float *w, const float *b, float *out, ark_hook_kind scale_k,
                 ark_hook_kind norm_k, int layer)
{
    const ark_config *c = r->c;
    k_norm(c->norm, in, r->BT, c->d_model, w, b, c->norm_eps, out, r->scale);
    fire(r, scale_k, layer, r->scale);
    fire(r, norm_k, layer, out);
}

static void block(run_ctx *r, int layer)
{
    const ark_config *c = r->c;
    const ark_layer_weights *L = &r->m->layers[layer];
    size_t n = (size_t)r->BT * c->d_model;
    fire(r, HK_RESID_PRE, layer, r->x);
    norm(r, r->x, L->ln1_w, L->ln1_b, r->nrm, HK_LN1_SCALE, HK_LN1_NORM, layer);
    attention(r, L, layer);
    if (!c->parallel_residual) {
        for (size_t i = 0; i < n; i++) r->x[i] += r->attn_out[i];
        fire(r, HK_RESID_MID, layer, r->x);
        norm(r, r->x, L->ln2_w, L->ln2_b, r->nrm2, HK_LN2_SCALE, HK_LN2_NORM, layer);
        mlp(r, L, r->nrm2, layer);
        for (size_t i = 0; i < n; i++) r->x[i] += r->mlp_out[i];
    } else {
        const float *mlp_in = r->nrm;
        if (!c->shared_parallel_norm) {
            norm(r, r->x, L->ln2_w, L->ln2_b, r->nrm2, HK_LN2_SCALE, HK_LN2_NORM, layer);
            mlp_in = r->nrm2;
        }
        mlp(r, L, mlp_in, layer);
        for (size_t i = 0; i < n; i++) r->x[i] = (r->mlp_out[i] + r->attn_out[i]) + r->x[i];
    }
    fire(r, HK_RESID_POST, layer, r->x);
}

/* ---- set-up ---- */

static ark_status check_inputs(const ark_config *c, const int32_t *tokens, int B, int T, const uint8_t *mask)
{
    if (B <= 0 || T <= 0) return ark_fail(ARK_ERR_ARG, "batch of %d x %d tokens: both must be positive", B, T);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = tokens[(size_t)b * T + t];
            if (id < 0 || id >= c->d_vocab)
                return ark_fail(ARK_ERR_ARG, "token id %d at row %d, position %d is out of range (vocab size %d)",
                                id, b, t, c->d_vocab);
            if (mask && mask[(size_t)b * T + t] > 1)
                return ark_fail(ARK_ERR_ARG, "attention mask at row %d, position %d is %d (expected 0 or 1)", b, t,
                                mask[(size_t)b * T + t]);
        }
    return ARK_OK;
}

/* Hugging Face's position ids: cumsum(mask) - 1, and 1 where padded. */
static int positions(run_ctx *r)
{
    int max_pos = 0;
    for (int b = 0; b < r->B; b++) {
        int seen = 0;
        for (int t = 0; t < r->T; t++) {
            size_t i = (size_t)b * r->T + t;
            bool real = !r->mask || r->mask[i];
            seen += real;
            r->pos[i] = real ? seen - 1 : 1;
            if (r->pos[i] > max_pos) max_pos = r->pos[i];
        }
    }
    return max_pos;
}

static ark_status alloc_cache(run_ctx *r, const ark_plan *plan)
{
    const ark_config *c = r->c;
    int n_ids = hook_id_count(c->n_layers);
    r->slot = malloc(sizeof(int) * n_ids);
    for (int i = 0; i < n_ids; i++) r->slot[i] = -1;
    r->cache = ark_cache_new();
    /* Everything kept goes into one block, sized in a first pass. */
    int n = ark_hook_count(r->m);
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        for (int i = 0; plan && i < n; i++) {
            if (!ark_plan_keeps(plan, i)) continue;
            int id = hook_entry_id(r->m, i);
            int64_t shape[ARK_MAX_DIMS], numel = 1;
            int nd = hook_shape(c, hook_id_kind(c->n_layers, id), r->B, r->T, shape);
            for (int j = 0; j < nd; j++) numel *= shape[j];
            if (pass == 1) {
                r->slot[id] = r->cache->n;
                ark_cache_add(r->cache, ark_hook_name(r->m, i), nd, shape, r->cache->arena + off);
            }
            off += (size_t)numel;
        }
        total = off;
        if (pass == 0 && total && !(r->cache->arena = ark_alloc_large(sizeof(float) * total)))
            return ark_fail(ARK_ERR_NOMEM, "out of memory keeping %zu activation values", total);
    }
    int64_t ls[3] = {r->B, r->T, c->d_vocab};
    r->cache->logits.ndim = 3;
    memcpy(r->cache->logits.shape, ls, sizeof ls);
    r->cache->logits.data = ark_alloc_large(sizeof(float) * (size_t)r->BT * c->d_vocab);
    if (!r->cache->logits.data) return ark_fail(ARK_ERR_NOMEM, "out of memory for logits (%d x %d x %d)", r->B, r->T, c->d_vocab);
    return ARK_OK;
}

static bool plan_wants_attention_maps(const run_ctx *r)
{
    for (int l = 0; l < r->c->n_layers; l++)
        if (kept(r, HK_SCORES, l) || kept(r, HK_PATTERN, l)) return true;
    return false;
}

static ark_status alloc_buffers(run_ctx *r)
{
    const ark_config *c = r->c;
    size_t BT = r->BT, d = c->d_model, H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head, m = c->d_mlp;
    size_t TT = (size_t)r->T * r->T, nthreads = (size_t)omp_get_max_threads();
    float **bufs[] = {&r->x, &r->nrm, &r->nrm2, &r->scale, &r->q, &r->k, &r->v, &r->qkv, &r->z, &r->attn_out,
                      &r->pre, &r->pre_lin, &r->mlp_out, &r->row_buf};
    size_t sizes[] = {BT * d, BT * d, BT * d, BT, BT * H * dh, BT * KV * dh, BT * KV * dh,
                      r->m->qkv_per_head ? BT * 3 * H * dh : 0, BT * H * dh, BT * d, BT * m,
                      c->mlp == ARK_MLP_GATED ? BT * m : 0, BT * d, nthreads * TT};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *bufs[i] = sizes[i] ? malloc(sizeof(float) * sizes[i]) : NULL;
        if (sizes[i] && !*bufs[i]) return ark_fail(ARK_ERR_NOMEM, "out of memory for activations (batch %d x %d)", r->B, r->T);
    }
    if (plan_wants_attention_maps(r)) {
        r->scores = malloc(sizeof(float) * r->B * H * TT);
        r->pattern = malloc(sizeof(float) * r->B * H * TT);
        if (!r->scores || !r->pattern) return ark_fail(ARK_ERR_NOMEM, "out of memory for attention patterns");
    }
    return ARK_OK;
}

static void free_run(run_ctx *r)
{
    float *bufs[] = {r->x, r->nrm, r->nrm2, r->scale, r->q, r->k, r->v, r->qkv, r->z, r->attn_out,
                     r->pre, r->pre_lin, r->mlp_out, r->row_buf, r->scores, r->pattern, r->cos_t, r->sin_t};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(r->pos);
    free(r->slot);
}

ark_status ark_run(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask, const ark_plan *plan,
                   ark_cache **out)
{
    const ark_config *c = &m->cfg;
    *out = NULL;
    if (plan && plan->model != m) return ark_fail(ARK_ERR_ARG, "the plan was made for another model");
    ARK_TRY(check_inputs(c, tokens, B, T, mask));
    run_ctx r = {.m = m, .c = c, .B = B, .T = T, .BT = B * T, .mask = mask};
    r.pos = malloc(sizeof(int32_t) * r.BT);
    int max_pos = positions(&r);
    ark_status s = ARK_OK;
    if (c->pos == ARK_POS_LEARNED && max_pos >= c->n_ctx)
        s = ark_fail(ARK_ERR_ARG, "a sequence of %d tokens exceeds the model's %d learned positions", max_pos + 1, c->n_ctx);
    if (s == ARK_OK) s = alloc_cache(&r, plan);
    if (s == ARK_OK) s = alloc_buffers(&r);
    if (s == ARK_OK && c->pos == ARK_POS_ROTARY) {
        size_t half = c->rotary_dim / 2;
        r.cos_t = malloc(sizeof(float) * (max_pos + 1) * half);
        r.sin_t = malloc(sizeof(float) * (max_pos + 1) * half);
        k_rope_tables(c, max_pos + 1, r.cos_t, r.sin_t);
    }
    if (s == ARK_OK) {
        embed(&r, tokens);
        for (int l = 0; l < c->n_layers; l++) block(&r, l);
        norm(&r, r.x, m->lnf_w, m->lnf_b, r.nrm, HK_LNF_SCALE, HK_LNF_NORM, 0);
        k_linear(&m->unembed, r.nrm, r.BT, r.cache->logits.data, c->d_vocab);
        *out = r.cache;
        r.cache = NULL;
    }
    ark_cache_free(r.cache);
    free_run(&r);
    return s;
}
