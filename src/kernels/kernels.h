/* Numeric kernels of the forward pass.  They know nothing of hooks. */
#ifndef ARK_KERNELS_H
#define ARK_KERNELS_H

#include <stdint.h>

#include "model/model_internal.h"

/* y (n, ldy) = x (n, L->in) W^T + b; writes L->out columns of each row. */
void k_linear(const ark_linear *L, const float *x, int n, float *y, int ldy);

/* Normalise each of n rows of x (n, d) into y (may alias x); scale[i]
 * receives sqrt(var + eps) (LayerNorm) or sqrt(mean(x^2) + eps) (RMSNorm)
 * when scale is not NULL. */
void k_norm(ark_norm_kind kind, const float *x, int n, int d, const float *w, const float *b, double eps,
            float *y, float *scale);

/* The norm's output from given scales (after a hook changed them):
 * LayerNorm (x - mean) / scale * w + b; RMSNorm x / scale * w (or (1+w)). */
void k_norm_with_scale(ark_norm_kind kind, const float *x, int n, int d, const float *w, const float *b,
                       const float *scale, float *y);

/* In-place activation over n values. */
void k_act(ark_act_kind act, float *x, int64_t n);
/* a[i] = act(a[i]) * u[i]  (gated MLPs). */
void k_act_mul(ark_act_kind act, float *a, const float *u, int64_t n);

/* Rotary tables for positions 0..n_pos-1: cos/sin (n_pos, rotary_dim/2). */
void k_rope_tables(const ark_config *c, int n_pos, float *cos_t, float *sin_t);
/* Rotate x (n, heads, d_head) in place: row i at position pos[i]. */
void k_rope_apply(float *x, int n, int heads, int d_head, int rotary_dim, const int32_t *pos,
                  const float *cos_t, const float *sin_t);

/* The geometry of one attention call.  Queries are the T newest positions
 * of a sequence of Tk keys: query i has absolute index off + i (off = Tk - T,
 * > 0 when earlier keys come from a cache).  Query i of row b sees key j
 * when j <= off + i, kmask[b][j] is set (or kmask is NULL) and, with a
 * window W > 0, off + i - j < W.  A padding query (qmask 0) sees only itself. */
typedef struct k_attn_geom {
    int T, Tk, off;
    int H, KV, dh;
    size_t kv_bstride;      /* floats between batch rows of k and v */
    const uint8_t *qmask;   /* (B, T), NULL = all real */
    const uint8_t *kmask;   /* (B, kmask_ld), NULL = all real */
    int kmask_ld;
    int window;
} k_attn_geom;

/* scores (T, Tk) = scale * q_h k_kv^T for row b, head h; hidden entries -inf.
 * q is (B, T, H, dh); k is addressed as k + b*kv_bstride + (j*KV + kvh)*dh. */
void k_attn_scores(const float *q, const float *k, int b, int h, const k_attn_geom *g, float scale, float *scores);
/* Row softmax of (rows, cols) scores; -inf entries give exactly 0. */
void k_softmax_rows(const float *scores, int rows, int cols, float *pattern);
/* z_h (rows of z (B, T, H, dh)) = pattern (T, Tk) v_kv. */
void k_attn_mix(const float *pattern, const float *v, int b, int h, const k_attn_geom *g, float *z);

#endif
