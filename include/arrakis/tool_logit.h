/* Direct logit attribution (DLA): how much each part of the final residual
 * stream writes, directly, into the logit of a token (or the difference of
 * two tokens' logits), through the final norm frozen at the model's own
 * scale (Elhage et al. 2021, "A Mathematical Framework for Transformer
 * Circuits"; TransformerLens' cache.logit_attrs with fold_ln=True; the
 * convention of include/arrakis/analysis.h).
 *
 * The final residual x (blocks.{L-1}.hook_resid_post) is split into parts
 * c_i that sum to it (analysis.h's ark_decompose_resid at the final layer):
 *
 *   ARK_DLA_BY_LAYER   "embed", ["pos_embed"], "l_attn_out", "l_mlp_out"
 *   ARK_DLA_BY_HEAD    "embed", ["pos_embed"], per block "LlH0".."LlH{H-1}",
 *                      ["l_attn_bias"] (b_O, when the model has it), "l_mlp_out"
 *   ARK_DLA_BY_NEURON  "embed", ["pos_embed"], per block "l_attn_out",
 *                      "LlN0".."LlN{m-1}", ["l_mlp_bias"] (b_out, when present)
 *
 * With the direction u (d) of the attribution,
 *
 *   u = W_U[:, t]                              (a target t)
 *   u = W_U[:, t] - W_U[:, t']                 (a target t against t')
 *   u = W_U[:, t] - mean_v W_U[:, v]           (against_mean: the target
 *                                               against the mean over the
 *                                               vocabulary, which is also
 *                                               TransformerLens' center_unembed)
 *
 * each part's attribution at row b and position p is
 *
 *   attr_i = N(c_i) . u,   N(c) = (c - mean(c)) / s * w      (LayerNorm)
 *                          N(c) = c / s * w                  (RMSNorm; Gemma: (1 + w))
 *
 * where s is ln_final.hook_scale at (b, p), the scale of the *real* final
 * residual, and w the final norm's weight: the linear part of the final norm,
 * centred for LayerNorm, without its bias b_final.
 *
 * What the parts sum to, exactly (N is linear, and the centring of a sum is
 * the sum of the centrings, so nothing is lost to it):
 *
 *   sum_i attr_i = logit_u - b_final . u - b_U . e_u
 *
 * where logit_u = logits[t] (- logits[t'], or - mean_v logits[v]) are the
 * model's own logits at (b, p), b_final is the final norm's bias (0 for
 * RMSNorm) and b_U . e_u = b_U[t] (- b_U[t'], or - mean_v b_U[v]) the
 * unembedding bias (0 when absent).  The two bias terms are reported as the
 * constant parts "ln_final_bias" = b_final . u and "unembed_bias" = b_U . e_u,
 * so that all parts together sum to logit_u (up to float32 rounding; the
 * test checks both statements on every fixture family).
 *
 * Every result is freshly allocated and owned by the caller. */
#ifndef ARRAKIS_TOOL_LOGIT_H
#define ARRAKIS_TOOL_LOGIT_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/analysis.h"
#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_dla_by {
    ARK_DLA_BY_LAYER = 0, /* embeddings, each block's attention and MLP output */
    ARK_DLA_BY_HEAD,      /* attention split into heads (+ b_O) */
    ARK_DLA_BY_NEURON     /* MLPs split into neurons (+ b_out) */
} ark_dla_by;

typedef struct ark_dla_opts {
    ark_dla_by by;
    int pos;            /* ARK_ALL_POS, or one position (negative: from the end) */
    bool against_mean;  /* u = W_U[:, t] - mean_v W_U[:, v] (needs against == NULL) */
} ark_dla_opts;
#define ARK_DLA_OPTS_INIT {ARK_DLA_BY_LAYER, ARK_ALL_POS, false}

/* Attributions of the parts at each row and kept position (P == T with
 * pos == -1, or P == 1 at `pos`). */
typedef struct ark_dla {
    int n;              /* parts of the residual stream */
    int B, P, T, pos;
    char **labels;      /* n labels, as above */
    float *attr;        /* (n, B, P)  attr_i */
    float *norm_bias;   /* (B, P)     b_final . u        ("ln_final_bias") */
    float *unembed_bias;/* (B, P)     b_U . e_u          ("unembed_bias") */
    float *logit;       /* (B, P)     logit_u, from the cache's logits */
} ark_dla;

/* The hook points ark_logit_attribution reads (one malloc'd block, a
 * NULL-terminated array; free(*names) releases it). */
ark_status ark_dla_hooks(const ark_model *m, const ark_dla_opts *o, char ***names);

/* Direct logit attribution over a cache made by ark_run (o NULL: defaults).
 *
 * tokens   (B, P) the target token at each row and kept position.
 * against  (B, P) the token whose direction is subtracted, or NULL.
 *
 * Fails with ARK_ERR_MISSING naming a hook point the cache lacks, ARK_ERR_ARG
 * for an id out of range, a position outside the cache, or against_mean
 * together with `against`.  Free *out with ark_dla_free. */
ark_status ark_logit_attribution(const ark_model *m, const ark_cache *c, const ark_dla_opts *o,
                                 const int32_t *tokens, const int32_t *against, ark_dla **out);
void ark_dla_free(ark_dla *d);

/* The block a part belongs to and its kind: returns 'e' (embeddings), 'a'
 * (attention: "l_attn_out", a head, "l_attn_bias") or 'm' (MLP: "l_mlp_out",
 * a neuron, "l_mlp_bias"), with *layer the block (-1 for 'e'); 0 for a label
 * of none of these forms.  *unit receives the head or neuron (-1 for a whole
 * layer or a bias). */
char ark_dla_part(const char *label, int *layer, int *unit);

#ifdef __cplusplus
}
#endif
#endif
