/* Cache analysis (internal): the request a stack function resolves, and the
 * helpers the analysis files share. */
#ifndef ARK_CACHE_ANALYSIS_INTERNAL_H
#define ARK_CACHE_ANALYSIS_INTERNAL_H

#include "arrakis/analysis.h"
#include "model/model_internal.h"

/* A request resolved against the model and the cache. */
typedef struct an_ctx {
    const ark_model *m;
    const ark_config *cfg;
    const ark_cache *c;
    int B, T;        /* the cache's batch */
    int P, pos;      /* kept positions: P == T with pos -1, or P == 1 at pos */
    int layer;       /* 0..n_layers (n_layers: the final resid_post) */
    bool mlp_input;
} an_ctx;

/* Resolve o (layer, mlp_input, pos) against m and c.  c may be NULL (no batch:
 * B = T = P = 0), for listing hook names. */
ark_status an_ctx_init(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, an_ctx *x);

/* A kept tensor of shape (B, T, ...) with `inner` values per (row, position);
 * ARK_ERR_MISSING naming the hook and why it is needed, or ARK_ERR_SHAPE. */
ark_status an_fetch(const an_ctx *x, const char *name, const char *why, int64_t inner, const ark_tensor **t);

/* Copy d values per (row, kept position) from src, whose (b, t) row starts at
 * src + (b*T + t)*row_stride, into dst (B, P, d). */
void an_take(const an_ctx *x, const float *src, size_t row_stride, float *dst);

/* A zero-filled stack of n components for the context's (B, P), or NULL. */
ark_stack *an_stack_new(const an_ctx *x, int n);
/* Set label i (printf-style); false on OOM. */
bool an_stack_label(ark_stack *s, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The hook names (and labels "3_pre", "3_mid", "final_post") of an
 * accumulated residual, in order; returns the count.  Either array may be
 * NULL. */
int an_accumulated_names(const an_ctx *x, bool incl_mid, char (*names)[64], char (*labels)[64]);

/* Resolve a per-layer index: negative counts from the end. */
ark_status an_block_index(const ark_model *m, int layer, int *out);

/* The norm that reads the stream at (layer, mlp_input): its scale hook name,
 * weight and bias (may be NULL). */
void an_norm_for(const ark_model *m, int layer, bool mlp_input, char *scale_hook, size_t cap, const float **w,
                 const float **b);

/* The weights of a linear map y = x W (+ b) from input unit i to every
 * output: out[j] = W[i -> j], L->out values (e.g. W_out[n, :] of an MLP). */
void an_weights_from(const ark_linear *L, int i, float *out);
/* The weights into output unit j from every input: out[k] = W[k -> j], L->in
 * values (e.g. W_U[:, t] of the unembedding). */
void an_weights_into(const ark_linear *L, int j, float *out);

#endif
