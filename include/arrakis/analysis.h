/* Cache analysis: the residual stream taken apart (TransformerLens'
 * ActivationCache methods, over an ark_cache).
 *
 * The residual stream of a pre-norm transformer is a sum.  With e the token
 * embedding (hook_embed, after any embedding scale), p the learned position
 * embedding (hook_pos_embed; absent with rotary positions), a_l and m_l the
 * attention and MLP outputs of block l (hook_attn_out, hook_mlp_out):
 *
 *   resid_pre(L)  = e + p + sum_{l<L} (a_l + m_l)          // (B, T, d)
 *   resid_mid(L)  = resid_pre(L) + a_L                      (sequential blocks)
 *   resid_post(L) = resid_pre(L + 1)                        (the last one: the
 *                                                            "final" residual)
 *
 * for sequential and parallel blocks alike (a parallel block adds a_L and m_L
 * to the same input, so it has no resid_mid).  Each a_l splits further into
 * one term per head plus the output bias (Elhage et al. 2021, "A
 * Mathematical Framework for Transformer Circuits"):
 *
 *   a_l = sum_h z_{l,h} W_O^{l,h} + b_O^l                   z_{l,h}: (B, T, dh) slice of hook_z
 *
 * and each m_l into one term per neuron plus the down projection's bias:
 *
 *   m_l = sum_n post_l[..., n] W_out^l[n, :] + b_out^l        post_l: hook_post (B, T, m)
 *
 * Functions here read a cache made by ark_run and the model's weights; each
 * returns a freshly allocated result the caller owns.  When the cache lacks a
 * hook point a function needs, it fails with ARK_ERR_MISSING and a message
 * naming that point ("blocks.3.attn.hook_z not in the cache: keep it
 * (ark_plan_keep) to split attention into heads"); ark_analysis_hooks() lists
 * the points beforehand so that a plan can keep them.
 *
 * Layer numbering follows TransformerLens' accumulated_resid /
 * decompose_resid: "layer L" names the residual stream *entering* block L
 * (its resid_pre), 0 <= L < n_layers, and L == n_layers (or -1) names the
 * final resid_post, the stream the final norm and the unembedding read.
 *
 * Norm convention (one for the whole header).  Applying a norm to a stack
 * ("the LN-stack operation") maps each component x through the norm's
 * *linear part*, with the scale s the cache recorded for the real residual
 * stream at that row and position (hook_scale):
 *
 *   LayerNorm      (x - mean(x)) / s * w
 *   RMSNorm        x / s * w
 *   Gemma RMSNorm  x / s * (1 + w)
 *
 * The norm's bias b is never applied to a stack: it is a constant that
 * belongs to no component (like b_O), and adding it to each of n components
 * would count it n times.  With this convention the parts of a
 * decomposition, normalised, sum to the norm's output minus b.  (This is
 * TransformerLens' apply_ln_to_stack, which centres and divides, followed by
 * the weight w that TransformerLens folds into the next matrix with
 * fold_ln=True, its default.)
 *
 * Logit attribution (TransformerLens' cache.logit_attrs on a model loaded
 * with fold_ln=True, center_unembed=False):
 *
 *   attr(x, t) = norm_final(x) . W_U[:, t]                       (linear part, as above)
 *   attr(x, t, t') = norm_final(x) . (W_U[:, t] - W_U[:, t'])
 *
 * For a full decomposition of the final residual, at every row and position,
 *
 *   sum_components attr(c, t) + ark_logit_attr_offset(t) = logit[t]
 *
 * where the offset b_final . W_U[:, t] + b_U[t] (the final norm's bias read
 * out, plus the unembedding bias) is the part of a logit that no component
 * accounts for; it is 0 for models without those biases.  (TransformerLens'
 * default center_unembed=True subtracts mean_v W_U[:, v] from every
 * direction; attributions to a token then differ from ours by the same
 * constant per component, and attributions to a difference of two tokens
 * agree.)
 *
 * References: N. Elhage et al., "A Mathematical Framework for Transformer
 * Circuits", Transformer Circuits Thread, 2021; TransformerLens
 * (transformer_lens/ActivationCache.py: accumulated_resid, decompose_resid,
 * stack_head_results, stack_neuron_results, apply_ln_to_stack, logit_attrs).
 * docs/analysis.md has worked examples. */
#ifndef ARRAKIS_ANALYSIS_H
#define ARRAKIS_ANALYSIS_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- stacks ---- */

/* Every position of the cache (ark_resid_opts.pos). */
#define ARK_ALL_POS INT32_MIN

/* Labelled components of the residual stream, each a (B, P, d) tensor:
 *
 *   data  (n, B, P, d) row-major: component i, row b, kept position p.
 *
 * P == T when every position was kept (pos == -1), else P == 1 and the one
 * kept position is `pos` (0 <= pos < T, the cache's T).
 *
 * Labels, as TransformerLens writes them:
 *   "embed", "pos_embed"                  token / learned position embedding
 *   "3_attn_out", "3_mlp_out"             block 3's attention / MLP output
 *   "L3H2"                                head 2 of block 3 (z W_O, no bias)
 *   "3_attn_bias"                         block 3's attention output bias b_O
 *   "L3N17"                               neuron 17 of block 3's MLP
 *   "3_mlp_bias"                          block 3's MLP output bias
 *   "3_pre", "3_mid", "final_post"        residual streams (ark_accumulated_resid)
 *
 * `norm` names the scale hook whose norm ark_stack_apply_ln() applied ("" if
 * none), so that a stack is not normalised twice.  Free with ark_stack_free. */
typedef struct ark_stack {
    int n;              /* components */
    int B, P, d;        /* rows, kept positions, model width */
    int T;              /* positions of the cache the stack came from */
    int pos;            /* the kept position when P == 1 of T, else -1 */
    float *data;        /* (n, B, P, d) */
    char **labels;      /* n NUL-terminated labels */
    char norm[64];      /* scale hook applied, "" if none */
} ark_stack;

/* Free a stack (NULL is fine). */
void ark_stack_free(ark_stack *s);

/* Index of the component labelled `label`, or -1. */
int ark_stack_find(const ark_stack *s, const char *label);

/* ---- which residual stream, which parts ---- */

/* Options shared by the stack-making functions below.  Fields a function
 * does not read are ignored. */
typedef struct ark_resid_opts {
    int layer;       /* the residual stream entering block `layer`
                        (0..n_layers-1), or the final resid_post
                        (n_layers or -1) */
    bool mlp_input;  /* the stream entering block `layer`'s MLP instead:
                        resid_mid(layer) in a sequential block (so
                        block `layer`'s attention is included), resid_pre
                        in a parallel one.  Needs layer < n_layers. */
    bool incl_mid;   /* accumulated: also each resid_mid of the blocks below
                        `layer` (sequential blocks; parallel ones have none) */
    bool heads;      /* decompose: split each attention output into its heads
                        plus "L_attn_bias" (when the model has b_O) */
    bool neurons;    /* decompose: split each MLP output into its neurons plus
                        "L_mlp_bias" (when the down projection has a bias) */
    bool apply_ln;   /* pass every component through the linear part of the
                        norm that reads this stream (ark_stack_apply_ln with
                        the same layer and mlp_input) */
    int pos;         /* ARK_ALL_POS, or one position (negative: from the end
                        of the cache's T positions, -1 = last) */
} ark_resid_opts;
#define ARK_RESID_OPTS_INIT {-1, false, false, false, false, false, ARK_ALL_POS}

/* The name of the hook point holding the residual stream `o` describes:
 * blocks.L.hook_resid_pre, blocks.L.hook_resid_mid (mlp_input, sequential),
 * or blocks.{n_layers-1}.hook_resid_post (final).  Writes into buf. */
ark_status ark_resid_hook(const ark_model *m, const ark_resid_opts *o, char *buf, size_t cap);

/* ---- accumulated residual ---- */

/* The residual stream at each boundary up to `layer` (TransformerLens'
 * accumulated_resid):
 *
 *   "0_pre", ["0_mid"], "1_pre", ["1_mid"], ..., "L_pre"     (layer L < n_layers)
 *   "0_pre", ["0_mid"], ..., "{n-1}_pre", ["{n-1}_mid"], "final_post"   (final)
 *
 * "l_pre" is blocks.l.hook_resid_pre, "l_mid" blocks.l.hook_resid_mid
 * (present for l < layer when incl_mid, and for l == layer when mlp_input;
 * never in parallel blocks), "final_post" blocks.{n-1}.hook_resid_post.
 * With apply_ln every entry goes through the linear part of the norm that
 * reads the stream at `layer` (ln1 of block layer, its ln2 with mlp_input,
 * ln_final for the final layer), with that norm's cached hook_scale: the
 * last entry is then that norm's output minus its bias (for the final
 * layer, ln_final.hook_normalized - b_final), the earlier ones a "logit
 * lens" view at the same scale.
 *
 * Reads o->layer, mlp_input, incl_mid, apply_ln, pos.  *out: (n, B, P, d). */
ark_status ark_accumulated_resid(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, ark_stack **out);

/* ---- decomposition ---- */

/* The residual stream at `layer` as the sum of its parts (TransformerLens'
 * decompose_resid, with biases made explicit):
 *
 *   "embed", ["pos_embed"], then for each block l below `layer` (and block
 *   `layer`'s attention with mlp_input in a sequential block):
 *     "l_attn_out"                   or, with heads,   "LlH0".."LlH{H-1}", ["l_attn_bias"]
 *     "l_mlp_out"                    or, with neurons, "LlN0".."LlN{m-1}", ["l_mlp_bias"]
 *
 * The components sum to the stream ark_resid_hook() names, up to float32
 * rounding.  A head's term is z_h W_O,h, from blocks.l.attn.hook_result when
 * the cache has it, else computed from blocks.l.attn.hook_z; a neuron's term
 * is hook_post[..., n] W_out[n, :] from blocks.l.mlp.hook_post.  A bias
 * component is the bias vector at every row and position.
 *
 * Reads every field of *o except incl_mid.  *out: (n, B, P, d). */
ark_status ark_decompose_resid(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, ark_stack **out);

/* Every head's term z_h W_O,h of the blocks below `layer` (with mlp_input in
 * a sequential block, also block `layer`'s), labelled "LlHh"
 * (TransformerLens' stack_head_results).  No biases, no embeddings.
 * Reads o->layer, mlp_input, apply_ln, pos. */
ark_status ark_stack_head_results(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, ark_stack **out);

/* Every neuron's term of the blocks below `layer`, labelled "LlNn"
 * (TransformerLens' stack_neuron_results).  n_layers * d_mlp components of
 * (B, P, d) each: select one position for large models.  Reads o->layer,
 * apply_ln, pos (mlp_input adds nothing: block `layer`'s MLP is not below
 * the stream that enters it). */
ark_status ark_stack_neuron_results(const ark_model *m, const ark_cache *c, const ark_resid_opts *o,
                                    ark_stack **out);

/* ---- per-layer tensors ----
 *
 * `layer` is a block, 0..n_layers-1; a negative value counts from the end
 * (-1 = the last block), as TransformerLens' cache["result", -1]. */

/* Per-head outputs of block `layer` (TransformerLens' hook_result, computed
 * when not kept):
 *
 *   out[b, t, h, :] = z[b, t, h, :] W_O^{layer}[h*dh:(h+1)*dh, :]     // (B, T, H, d)
 *
 * so that sum_h out[b, t, h, :] + b_O = hook_attn_out[b, t, :].  Reads
 * blocks.L.attn.hook_result if kept, else blocks.L.attn.hook_z.
 * out->data is malloc'd; the caller frees it with free(). */
ark_status ark_head_results(const ark_model *m, const ark_cache *c, int layer, ark_tensor *out);

/* Per-neuron outputs of block `layer`'s MLP:
 *
 *   out[b, t, n, :] = post[b, t, n] * W_out[n, :]                        // (B, T, m, d)
 *
 * so that sum_n out[b, t, n, :] + b_out = hook_mlp_out[b, t, :].  Reads
 * blocks.L.mlp.hook_post.  B*T*m*d floats: see ark_neuron_results_along.
 * out->data is malloc'd; the caller frees it with free(). */
ark_status ark_neuron_results(const ark_model *m, const ark_cache *c, int layer, ark_tensor *out);

/* Per-neuron outputs projected onto a direction u (d,), without forming
 * them:
 *
 *   out[b, t, n] = post[b, t, n] * (W_out[n, :] . u)                     // (B, T, m)
 *
 * equal to ark_neuron_results(...) . u.  out->data is malloc'd (free()). */
ark_status ark_neuron_results_along(const ark_model *m, const ark_cache *c, int layer, const float *u,
                                    ark_tensor *out);

/* ---- norms and logits ---- */

/* The LN-stack operation: map every component of s, in place, through the
 * linear part of a norm (see the convention at the top: centre for
 * LayerNorm, divide by the cached scale, multiply by w or 1 + w; no bias),
 * with the scale the cache recorded at each row and position.  The norm:
 *
 *   layer == n_layers or -1        ln_final   (ln_final.hook_scale)
 *   0 <= layer < n_layers          block layer's ln1 (blocks.L.ln1.hook_scale),
 *                                  or with mlp_input its ln2 (the one norm of a
 *                                  shared-norm parallel block: ln1)
 *
 * Fails with ARK_ERR_ARG when s was already normalised, or does not match
 * the cache's batch (B, T). */
ark_status ark_stack_apply_ln(const ark_model *m, const ark_cache *c, ark_stack *s, int layer, bool mlp_input);

/* Direct logit attribution of every component of s (TransformerLens'
 * cache.logit_attrs; see the convention at the top):
 *
 *   out[i, b, p] = norm_final(s[i, b, p, :]) . (W_U[:, tokens[b, p]] - W_U[:, against[b, p]])
 *
 * norm_final is the final norm's linear part with ln_final.hook_scale at
 * (b, position of p); a stack already passed through ln_final
 * (ark_stack_apply_ln) is used as it is, one passed through another norm is
 * refused (ARK_ERR_ARG).
 *
 * tokens   (B, P) target ids, one per row and kept position.
 * against  (B, P) ids whose direction is subtracted, or NULL.
 * out      (n, B, P); out->data is malloc'd (free()). */
ark_status ark_logit_attrs(const ark_model *m, const ark_cache *c, const ark_stack *s, const int32_t *tokens,
                           const int32_t *against, ark_tensor *out);

/* The part of the logit of `token` (minus that of `against`, when
 * against >= 0) that no component accounts for:
 *
 *   *out = b_final . W_U[:, token] + b_U[token]   (- the same for against)
 *
 * b_final: the final norm's bias (0 for RMSNorm), b_U: the unembedding's
 * bias (0 when absent).  Independent of the input. */
ark_status ark_logit_attr_offset(const ark_model *m, int32_t token, int32_t against, float *out);

/* ---- what to keep ---- */

typedef enum ark_analysis {
    ARK_ANALYSIS_ACCUMULATED_RESID, /* ark_accumulated_resid(o) */
    ARK_ANALYSIS_DECOMPOSE_RESID,   /* ark_decompose_resid(o) */
    ARK_ANALYSIS_STACK_HEADS,       /* ark_stack_head_results(o) */
    ARK_ANALYSIS_STACK_NEURONS,     /* ark_stack_neuron_results(o) */
    ARK_ANALYSIS_HEAD_RESULTS,      /* ark_head_results(o->layer): o->layer is a block */
    ARK_ANALYSIS_NEURON_RESULTS,    /* ark_neuron_results(_along)(o->layer): a block */
    ARK_ANALYSIS_LOGIT_ATTRS,       /* ark_logit_attrs (o unused: NULL is fine) */
    ARK_ANALYSIS_RESID              /* the stream itself: ark_resid_hook(o) */
} ark_analysis;

/* The hook points an analysis with options `o` reads, so that a plan can
 * keep them before the run (ark_plan_keep on each):
 *
 *   char **names;  ark_analysis_hooks(m, ARK_ANALYSIS_DECOMPOSE_RESID, &o, &names);
 *   for (char **p = names; *p; p++) ark_plan_keep(plan, *p);
 *   free(names);
 *
 * *names is one malloc'd block: a NULL-terminated array of full hook names
 * (strings inside the same block); free(*names) releases all of it.  Heads
 * are listed through hook_z (hook_result is used when kept but not
 * required). */
ark_status ark_analysis_hooks(const ark_model *m, ark_analysis kind, const ark_resid_opts *o, char ***names);

#ifdef __cplusplus
}
#endif
#endif
