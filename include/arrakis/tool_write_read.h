/* The write_read tool: which heads write into, and which read from, a
 * direction or subspace of the residual stream (tool key "write_read").
 *
 * A subspace S of the residual stream (width d) is given by an orthonormal
 * basis Q (d, k), P = Q Q^T the projection onto it.  Sources:
 *   - a token's unembedding column W_U[:, t] (k = 1): the direction whose
 *     component becomes the token's logit (before the final norm);
 *   - vectors from a file (a probe, a steering vector, an SAE's decoder
 *     rows), orthonormalised;
 *   - the output space of head h of layer l: the row space of its OV circuit
 *     x @ OV = x W_V W_O (factored.h), the space the head can write into
 *     (k = rank(OV) <= d_head).
 *
 * Orientation, circuits and GQA as in factored.h and tool_composer.h:
 * x @ W, query head h reads kv head kv(h) = h / (n_heads / n_kv_heads).
 * Weights are read as they are (norm scales not folded in); the tool's
 * "process" parameter first folds them in (ark_composer_process).
 *
 * Definitions (Elhage et al. 2021, "A Mathematical Framework for
 * Transformer Circuits": the residual stream as a communication channel
 * that heads read from and write to through W_Q, W_K, W_V and W_O):
 *
 *   write_wo[l, h] = ||W_O[l, h] Q||_F / ||W_O[l, h]||_F
 *                    the share of the head's output weights lying in S
 *   write_ov[l, h] = ||OV[l, h] Q||_F / ||OV[l, h]||_F
 *                    the same for the whole OV circuit (what the head can
 *                    write for any input)
 *   read_q[l, h]   = ||Q^T W_Q[l, h]||_F / ||W_Q[l, h]||_F
 *   read_k[l, h], read_v[l, h]  the same with W_K, W_V of kv head kv(h)
 *                    (how much of what the head reads comes from S)
 *
 * Each is in [0, 1], 0 for a zero weight; a random matrix scores about
 * sqrt(k / d) ("chance").  From a run (analysis.h's per-head results
 * r[b, t, h] = z[b, t, h] W_O[l, h], no bias):
 *
 *   cache_proj[l, h] = mean over real positions of ||Q^T r||
 *   cache_norm[l, h] = mean over real positions of ||r||
 *   cache_dot[l, h]  = mean over real positions of r . q   (k = 1 only,
 *                      q the unit direction: signed, e.g. towards a token)
 *
 * Two-hop pairs: ark_composition_scores_through (tool_composer.h), the
 * composition score of writer A into reader B with A's output restricted
 * to S.  Information flow from source position s to destination t of one
 * row, for head h of layer l (v the values, hook_v, of kv head kv(h)):
 *
 *   attention[l, h] = pattern[row, h, t, s]
 *   moved[l, h]     = || pattern[row, h, t, s] * v[row, s, kv(h)] W_O[l, h] ||
 *   moved_proj[l, h] = || Q^T (the same vector) ||
 *   moved_dot[l, h]  = (the same vector) . q      (k = 1 only: signed)
 *
 * the part of head h's output at t that it brings from s (its output at t
 * is the sum of these over s). */
#ifndef ARRAKIS_TOOL_WRITE_READ_H
#define ARRAKIS_TOOL_WRITE_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An orthonormal basis of a subspace of the residual stream. */
typedef struct ark_subspace {
    int d, k;
    float *basis;   /* (d, k) row-major: column j is the j-th basis vector */
} ark_subspace;

/* The span of the rows of X (n, d), orthonormalised through an SVD;
 * directions with singular value <= 1e-6 times the largest are dropped
 * (k = the numerical rank).  Fails (ARK_ERR_ARG) when every row is 0. */
ark_status ark_subspace_from_rows(const float *X, int n, int d, ark_subspace *out);
/* The unembedding direction of `token`: W_U[:, token] / ||W_U[:, token]||. */
ark_status ark_subspace_token(const ark_model *m, int32_t token, ark_subspace *out);
/* The output space of head (layer, head): the right singular vectors of its
 * OV circuit with non-zero singular values (as ark_subspace_from_rows). */
ark_status ark_subspace_head(const ark_model *m, int layer, int head, ark_subspace *out);
/* Vectors from a safetensors file: tensor `key` (NULL: the file's only
 * tensor), shaped [d] (one direction), [n, d] (n rows) or [d, n] (n columns;
 * when both fit, rows).  Errors name the file, the key and the shape. */
ark_status ark_subspace_file(const char *path, const char *key, int d, ark_subspace *out);
void ark_subspace_free(ark_subspace *s);

/* write_wo and write_ov (L, H each, caller-owned; either may be NULL). */
ark_status ark_writers_from_weights(const ark_model *m, const ark_subspace *s, float *write_wo, float *write_ov);

/* read_q, read_k, read_v (L, H each, caller-owned; any may be NULL). */
ark_status ark_readers_from_weights(const ark_model *m, const ark_subspace *s, float *read_q, float *read_k,
                                    float *read_v);

/* The cache's per-head writing: cache_proj, cache_norm (L, H) and, when
 * s->k == 1, cache_dot (L, H; may be NULL), averaged over the positions
 * where mask (B, T) is 1 (NULL: every position).  Needs every layer's
 * blocks.L.attn.hook_z (or hook_result) in the cache. */
ark_status ark_writers_from_cache(const ark_model *m, const ark_cache *c, const uint8_t *mask, const ark_subspace *s,
                                  float *cache_proj, float *cache_norm, float *cache_dot);

/* Information flow from position src to position dst (0 <= src <= dst < T)
 * of row `row`: attention, moved and, with a subspace s, moved_proj and
 * (s->k == 1) moved_dot; (L, H) each, caller-owned (moved_proj and
 * moved_dot may be NULL; NAN where undefined).  Needs
 * blocks.L.attn.hook_pattern and blocks.L.attn.hook_v of every layer in the
 * cache. */
ark_status ark_info_flow(const ark_model *m, const ark_cache *c, int row, int src, int dst, const ark_subspace *s,
                         float *attention, float *moved, float *moved_proj, float *moved_dot);

#ifdef __cplusplus
}
#endif
#endif
