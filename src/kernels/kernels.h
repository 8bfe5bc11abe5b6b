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

/* In-place activation over n values. */
void k_act(ark_act_kind act, float *x, int64_t n);
/* a[i] = act(a[i]) * u[i]  (gated MLPs). */
void k_act_mul(ark_act_kind act, float *a, const float *u, int64_t n);

/* Rotary tables for positions 0..n_pos-1: cos/sin (n_pos, rotary_dim/2). */
void k_rope_tables(const ark_config *c, int n_pos, float *cos_t, float *sin_t);
/* Rotate x (n, heads, d_head) in place: row i at position pos[i]. */
void k_rope_apply(float *x, int n, int heads, int d_head, int rotary_dim, const int32_t *pos,
                  const float *cos_t, const float *sin_t);

/* Which keys query i of row b sees. */
typedef struct k_attn_mask {
    const uint8_t *mask;  /* (B, T) 1 = real, NULL = all real */
    int window;           /* 0 = global */
} k_attn_mask;

/* Scaled, masked scores and softmax for head h of batch row b:
 * scores (T, T) = scale * q_h k_kv^T with masked entries -inf; pattern
 * (T, T) its row softmax (masked entries 0).  q (B, T, H, dh), k (B, T, KV, dh). */
void k_attn_scores(const float *q, const float *k, int b, int h, int T, int H, int KV, int dh, float scale,
                   const k_attn_mask *m, float *scores);
void k_softmax_rows(const float *scores, int T, float *pattern);
/* z_h (rows of z (B, T, H, dh)) = pattern (T, T) v_kv. */
void k_attn_mix(const float *pattern, const float *v, int b, int h, int T, int H, int KV, int dh, float *z);

#endif
