/* The residual stream's geometry across layers: norms, how far each block
 * moves it, how similar the layers' streams are, and how much of the stream
 * each part supplies.
 *
 * Points are the streams of analysis.h's ark_accumulated_resid at the final
 * layer, in order: "0_pre" (the embedding), ["0_mid"], "1_pre", ...,
 * ["{L-1}_mid"], "final_post" (blocks.{L-1}.hook_resid_post, before the final
 * norm); mids only with incl_mid and only in sequential blocks.  With x_i (d)
 * point i at one row and position (||.|| the Euclidean norm):
 *
 *   norm[i]        = ||x_i||
 *   movement[i]    = ||x_{i+1} - x_i|| / ||x_i||        (i < n - 1; the
 *                    relative size of what the next block (half) adds;
 *                    0 / 0 reads as 0)
 *   cosine[i][j]   = x_i . x_j / (||x_i|| ||x_j||)        (0 when a norm is 0)
 *
 * Shares: the stream x at `layer` (analysis.h's numbering: the stream
 * entering block `layer`, or the final one) is the sum of its parts c_k
 * ("embed", ["pos_embed"], "l_attn_out", "l_mlp_out" for the blocks below;
 * ark_decompose_resid).  Two shares are reported:
 *
 *   share[k]       = c_k . x / ||x||^2
 *                    the part's projection onto the stream's own direction,
 *                    relative to the stream's length; these sum to exactly 1
 *                    (since sum_k c_k = x, sum_k c_k . x = ||x||^2), and are
 *                    negative for a part that points against the stream.
 *   norm_share[k]  = ||c_k|| / sum_j ||c_j||
 *                    the part's size relative to all parts, whatever their
 *                    directions (sums to 1, each >= 0).
 *
 * (The first is the decomposition of ||x||^2 into direct contributions, in
 * the spirit of Elhage et al. 2021's "residual stream as a sum of parts"; the
 * second ignores interference between parts.)  Every result is freshly
 * allocated and owned by the caller. */
#ifndef ARRAKIS_TOOL_RESIDUAL_H
#define ARRAKIS_TOOL_RESIDUAL_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/analysis.h"
#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_residual_opts {
    bool incl_mid;   /* also each block's resid_mid (sequential blocks) */
    int pos;         /* ARK_ALL_POS, or one position (negative: from the end) */
    int layer;       /* shares: the stream entering block `layer`, or the final
                        stream (n_layers or -1) */
} ark_residual_opts;
#define ARK_RESIDUAL_OPTS_INIT {false, ARK_ALL_POS, -1}

typedef struct ark_resid_stats {
    int n;              /* points */
    int B, P, T, pos;   /* P == T with pos -1, or P == 1 at pos */
    char **labels;      /* n: "0_pre", ..., "final_post" */
    float *norm;        /* (n, B, P) */
    float *movement;    /* (n - 1, B, P) */
    float *cosine;      /* (n, n, B, P) */
} ark_resid_stats;

typedef struct ark_resid_shares {
    int k;              /* parts */
    int B, P, T, pos;
    char **labels;      /* k: "embed", "pos_embed", "0_attn_out", ... */
    float *share;       /* (k, B, P) c_k . x / ||x||^2 */
    float *norm_share;  /* (k, B, P) ||c_k|| / sum_j ||c_j|| */
    float *part_norm;   /* (k, B, P) ||c_k|| */
    float *resid_norm;  /* (B, P)    ||x|| */
} ark_resid_shares;

/* The hook points both functions read with options o (one malloc'd block, a
 * NULL-terminated array; free(*names) releases it). */
ark_status ark_residual_hooks(const ark_model *m, const ark_residual_opts *o, char ***names);

/* Norms, movements and cosines of every point (o NULL: defaults; reads
 * incl_mid and pos).  Free with ark_resid_stats_free. */
ark_status ark_residual_stats(const ark_model *m, const ark_cache *c, const ark_residual_opts *o,
                              ark_resid_stats **out);
void ark_resid_stats_free(ark_resid_stats *s);

/* cosine averaged over row b's kept positions p with mask[p] set (mask (P)
 * or NULL: all): out (n, n), caller-owned.  ARK_ERR_ARG when no position is
 * selected. */
ark_status ark_resid_cosine_mean(const ark_resid_stats *s, int b, const uint8_t *mask, float *out);

/* Shares of the stream at o->layer (reads layer and pos).  Free with
 * ark_resid_shares_free. */
ark_status ark_residual_shares(const ark_model *m, const ark_cache *c, const ark_residual_opts *o,
                               ark_resid_shares **out);
void ark_resid_shares_free(ark_resid_shares *s);

#ifdef __cplusplus
}
#endif
#endif
