/* Element access to canonical weight views, shared by the weight views,
 * weight processing and factored circuits. */
#ifndef ARK_WEIGHTS_INTERNAL_H
#define ARK_WEIGHTS_INTERNAL_H

#include <stddef.h>

#include "model/model_internal.h"

/* Offset of W[i][j] (input i, output j) in L->w, whatever the storage. */
static inline size_t lin_off(const ark_linear *L, int i, int j)
{
    return L->in_out ? (size_t)i * L->ld + j : (size_t)j * L->ld + i;
}

static inline float lin_at(const ark_linear *L, int i, int j) { return L->w[lin_off(L, i, j)]; }

/* Which of q, k, v. */
typedef enum { QKV_Q, QKV_K, QKV_V } qkv_part;

/* The linear holding part `p` of `L` and the output index of head h's first
 * dimension in it (gpt_neox's fused per-head matrix, or a separate view). */
static inline const ark_linear *qkv_head(const ark_model *m, const ark_layer_weights *L, qkv_part p, int h,
                                         int *first)
{
    int dh = m->cfg.d_head;
    if (m->qkv_per_head) {
        *first = h * 3 * dh + (int)p * dh;
        return &L->qkv;
    }
    *first = h * dh;
    return p == QKV_Q ? &L->q : p == QKV_K ? &L->k : &L->v;
}

#endif
