/* The attention block of the forward pass, with its hook points:
 * q/k/v -> (rot_q/rot_k) -> scores -> pattern -> z -> (result) -> attn_out. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "run/run_internal.h"

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

/* Where keys and values live for this call: the run's own buffers, or the
 * key/value cache after this call's positions were appended to it. */
static k_attn_geom geometry(run_ctx *r, int layer, const float **k, const float **v)
{
    const ark_config *c = r->c;
    k_attn_geom g = {.T = r->T, .Tk = r->T, .off = 0, .H = c->n_heads, .KV = c->n_kv_heads, .dh = c->d_head,
                     .kv_bstride = (size_t)r->T * c->n_kv_heads * c->d_head, .qmask = r->mask,
                     .kmask = r->mask, .kmask_ld = r->T, .window = c->window[layer]};
    *k = r->k;
    *v = r->v;
    ark_kv *kv = r->kv;
    if (!kv) return g;
    size_t row = (size_t)kv->KV * kv->dh, bstride = (size_t)kv->cap * row;
    float *kl = kv->k + (size_t)layer * kv->B * bstride, *vl = kv->v + (size_t)layer * kv->B * bstride;
    for (int b = 0; b < r->B; b++) {
        memcpy(kl + b * bstride + (size_t)r->past * row, r->k + (size_t)b * r->T * row, sizeof(float) * r->T * row);
        memcpy(vl + b * bstride + (size_t)r->past * row, r->v + (size_t)b * r->T * row, sizeof(float) * r->T * row);
    }
    g.Tk = r->past + r->T;
    g.off = r->past;
    g.kv_bstride = bstride;
    g.kmask = kv->mask;
    g.kmask_ld = kv->cap;
    *k = kl;
    *v = vl;
    return g;
}

/* scores -> pattern -> z over every (row, head).  When a hook wants the
 * scores or pattern, they are materialised for the whole batch so hooks can
 * read or change them; otherwise each thread works through one buffer. */
static void attend(run_ctx *r, int layer)
{
    const float *k, *v;
    k_attn_geom g = geometry(r, layer, &k, &v);
    int BH = r->B * g.H;
    float scale = r->c->attn_scale[layer];
    size_t TT = (size_t)g.T * g.Tk;
    /* Threads only pay off above a few hundred thousand multiply-adds; below
     * that, waking them costs more than the work (and much more when the
     * other core is busy). */
    bool par = (double)BH * TT * g.dh > 2e5;
    if (hook_wanted(r, HK_SCORES, layer) || hook_wanted(r, HK_PATTERN, layer)) {
#pragma omp parallel for schedule(dynamic) if (par)
        for (int bh = 0; bh < BH; bh++) k_attn_scores(r->q, k, bh / g.H, bh % g.H, &g, scale, r->scores + bh * TT);
        run_fire(r, HK_SCORES, layer, r->scores);
#pragma omp parallel for schedule(dynamic) if (par)
        for (int bh = 0; bh < BH; bh++) k_softmax_rows(r->scores + bh * TT, g.T, g.Tk, r->pattern + bh * TT);
        run_fire(r, HK_PATTERN, layer, r->pattern);
#pragma omp parallel for schedule(dynamic) if (par)
        for (int bh = 0; bh < BH; bh++) k_attn_mix(r->pattern + bh * TT, v, bh / g.H, bh % g.H, &g, r->z);
        return;
    }
#pragma omp parallel for schedule(dynamic) if (par)
    for (int bh = 0; bh < BH; bh++) {
        float *buf = r->row_buf + (size_t)omp_get_thread_num() * TT;
        k_attn_scores(r->q, k, bh / g.H, bh % g.H, &g, scale, buf);
        k_softmax_rows(buf, g.T, g.Tk, buf);
        k_attn_mix(buf, v, bh / g.H, bh % g.H, &g, r->z);
    }
}

/* The output projection.  When a hook wants hook_result, the per-head
 * outputs z_h W_O,h (B, T, H, d) are formed, hooked, and summed (plus the
 * output bias) into attn_out, so a changed result flows on. */
static void project_out(run_ctx *r, const ark_layer_weights *L, int layer)
{
    const ark_config *c = r->c;
    int H = c->n_heads, dh = c->d_head, d = c->d_model;
    if (!hook_wanted(r, HK_RESULT, layer)) {
        k_linear(&L->o, r->z, r->BT, r->attn_out, d);
        return;
    }
    for (int h = 0; h < H; h++) {
        /* the h-th block of W_O: rows h*dh.. of an [in, out] matrix, or
         * columns h*dh.. of an [out, in] one */
        const float *w = L->o.in_out ? L->o.w + (size_t)h * dh * L->o.ld : L->o.w + (size_t)h * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, L->o.in_out ? CblasNoTrans : CblasTrans, r->BT, d, dh, 1.0f,
                    r->z + (size_t)h * dh, H * dh, w, L->o.ld, 0.0f, r->result + (size_t)h * d, H * d);
    }
    run_fire(r, HK_RESULT, layer, r->result);
    for (int i = 0; i < r->BT; i++) {
        float *out = r->attn_out + (size_t)i * d;
        const float *res = r->result + (size_t)i * H * d;
        for (int j = 0; j < d; j++) out[j] = L->o.b ? L->o.b[j] : 0.0f;
        for (int h = 0; h < H; h++)
            for (int j = 0; j < d; j++) out[j] += res[(size_t)h * d + j];
    }
}

void run_attention(run_ctx *r, const ark_layer_weights *L, int layer)
{
    const ark_config *c = r->c;
    int H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head;
    project_qkv(r, L);
    run_fire(r, HK_Q, layer, r->q);
    run_fire(r, HK_K, layer, r->k);
    run_fire(r, HK_V, layer, r->v);
    if (c->pos == ARK_POS_ROTARY) {
        k_rope_apply(r->q, r->BT, H, dh, c->rotary_dim, r->pos, r->cos_t, r->sin_t);
        k_rope_apply(r->k, r->BT, KV, dh, c->rotary_dim, r->pos, r->cos_t, r->sin_t);
        run_fire(r, HK_ROT_Q, layer, r->q);
        run_fire(r, HK_ROT_K, layer, r->k);
    }
    double BT = r->BT, d = c->d_model, Tk = r->past + r->T;
    run_prof(r, "attention", layer, 2 * BT * d * (H + 2 * KV) * dh, 4 * BT * (H + 2 * KV) * dh, "blocks.%d.attn.qkv", layer);
    attend(r, layer);
    run_fire(r, HK_Z, layer, r->z);
    double maps = r->scores ? 8.0 * r->B * H * r->T * Tk : 0;
    run_prof(r, "attention", layer, 4.0 * r->B * H * r->T * Tk * dh, 4 * BT * H * dh + maps, "blocks.%d.attn.core", layer);
    project_out(r, L, layer);
    run_fire(r, HK_ATTN_OUT, layer, r->attn_out);
    double res = hook_wanted(r, HK_RESULT, layer) ? 1 : 0;
    run_prof(r, "attention", layer, 2 * BT * H * dh * d, 4 * BT * d * (1 + res * H), "blocks.%d.attn.out", layer);
}
