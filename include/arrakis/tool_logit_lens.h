/* The logit lens: the residual stream at every layer read out through the
 * final norm and the unembedding, as if the remaining blocks were skipped
 * (nostalgebraist, "interpreting GPT: the logit lens", LessWrong, 2020).
 *
 * Points read, in order (labels as analysis.h's ark_accumulated_resid):
 *
 *   "0_pre", ["0_mid"], "1_pre", ["1_mid"], ..., "{L-1}_pre", ["{L-1}_mid"], "final_post"
 *
 * "l_pre" is blocks.l.hook_resid_pre (the stream entering block l; "0_pre"
 * is the embedding), "l_mid" blocks.l.hook_resid_mid (only with incl_mid, and
 * only in sequential blocks: a parallel block has no mid point), and
 * "final_post" blocks.{L-1}.hook_resid_post, the stream the final norm reads.
 * For a residual vector x (d) at one row and position,
 *
 *   lens(x) = norm_final(x) W_U + b_U                                   // (vocab)
 *
 * with W_U (d, vocab) and b_U as weights.h's ARK_W_U / ARK_B_U (b_U is 0
 * unless the model has one), and norm_final the model's final norm with its
 * weight w and bias b (LayerNorm (x - mean) / s * w + b, RMSNorm x / s * w,
 * Gemma x / s * (1 + w)), where the scale s is one of:
 *
 *   ARK_LENS_OWN_SCALE     (default; the standard logit lens) x's own
 *                          statistics: s = sqrt(var(x) + eps) (LayerNorm) or
 *                          sqrt(mean(x^2) + eps) (RMSNorm): the final norm
 *                          applied afresh to each residual.
 *   ARK_LENS_CACHED_SCALE  the scale the final norm recorded for the *final*
 *                          residual at that row and position
 *                          (ln_final.hook_scale): TransformerLens'
 *                          cache.accumulated_resid(apply_ln=True) followed by
 *                          the unembedding (TransformerLens folds w into W_U
 *                          and b into b_U; the logits are the same).  Earlier
 *                          points keep their relative size, so their logits
 *                          are smaller where the stream is still short.
 *
 * With either scale the "final_post" point is exactly the model's logits (up
 * to float32 rounding).  Probabilities are the softmax of a point's logits
 * over the whole vocabulary.  Defined over a cache from ark_run; every
 * result is freshly allocated and owned by the caller. */
#ifndef ARRAKIS_TOOL_LOGIT_LENS_H
#define ARRAKIS_TOOL_LOGIT_LENS_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/analysis.h"
#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_lens_scale {
    ARK_LENS_OWN_SCALE = 0, /* each residual normalised with its own statistics */
    ARK_LENS_CACHED_SCALE   /* with the final residual's ln_final.hook_scale */
} ark_lens_scale;

typedef struct ark_lens_opts {
    bool incl_mid;        /* also each block's resid_mid (sequential blocks) */
    ark_lens_scale scale; /* see above */
    int pos;              /* ARK_ALL_POS, or one position (negative: from the
                             end of the cache's T positions, -1 = last) */
} ark_lens_opts;
#define ARK_LENS_OPTS_INIT {false, ARK_LENS_OWN_SCALE, ARK_ALL_POS}

/* The lens' logits at every point.
 *
 *   logits  (n, B, P, vocab): point i, row b, kept position p.
 *
 * P == T (pos == -1) when every position was read, else P == 1 and `pos` is
 * the one position (0 <= pos < T). */
typedef struct ark_lens {
    int n;            /* points */
    int B, P, T;      /* rows, kept positions, the cache's positions */
    int pos;          /* the kept position when P == 1, else -1 */
    int vocab;
    char **labels;    /* n labels: "0_pre", "0_mid", ..., "final_post" */
    char **hooks;     /* n hook names: "blocks.0.hook_resid_pre", ... */
    float *logits;    /* (n, B, P, vocab) */
} ark_lens;

/* The hook points ark_logit_lens reads with options o (NULL: defaults), for
 * a plan to keep before the run.  *names: one malloc'd block, a
 * NULL-terminated array of names (free(*names) releases all of it). */
ark_status ark_logit_lens_hooks(const ark_model *m, const ark_lens_opts *o, char ***names);

/* The logit lens over a cache (o NULL: defaults).  Fails with
 * ARK_ERR_MISSING naming a hook point the cache lacks, ARK_ERR_ARG for a
 * position outside the cache.  Free *out with ark_lens_free. */
ark_status ark_logit_lens(const ark_model *m, const ark_cache *c, const ark_lens_opts *o, ark_lens **out);
void ark_lens_free(ark_lens *l);

/* The logits (vocab) of point i, row b, kept position p (NULL when out of
 * range); valid while l lives. */
const float *ark_lens_at(const ark_lens *l, int i, int b, int p);

/* The k highest logits of one row of `vocab` logits, highest first (ties: the
 * lower id first): ids (k) and their softmax probabilities over the whole row
 * (k), caller-owned; k is clamped to vocab (returns the number written). */
int ark_lens_topk(const float *logits, int vocab, int k, int32_t *ids, float *probs);

/* One token of a row of logits: its logit, its softmax probability over the
 * row, and its rank = the number of tokens whose logit is strictly larger
 * (0: the top token).  Any pointer may be NULL.  ARK_ERR_ARG for an id
 * outside [0, vocab). */
ark_status ark_lens_token(const float *logits, int vocab, int32_t token, float *logit, float *prob, int *rank);

#ifdef __cplusplus
}
#endif
#endif
