/* Model weights as TransformerLens sees them: per-head views, and weight
 * processing (folding norms, centring, folding value biases).
 *
 * Orientation follows TransformerLens (x @ W): every matrix maps its first
 * axis to its second, so for query head h of layer l
 *     q = x @ W_Q[l, h] + b_Q[l, h]          x (d_model), q (d_head)
 * whatever the checkpoint's storage (nn.Linear [out, in], GPT-2 Conv1D
 * [in, out], fused q|k|v blocks, gpt_neox's per-head fused q|k|v, phi3's
 * fused gate|up).  Definitions and TransformerLens references:
 * docs/weights.md. */
#ifndef ARRAKIS_WEIGHTS_H
#define ARRAKIS_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- weight views ----
 *
 * Shapes of the whole stacked view (L layers, h query heads, kv key/value
 * heads, d = d_model, dh = d_head, m = d_mlp):
 *
 *   W_E [vocab, d]  token embedding, times the family's embedding scale
 *                   (Gemma: sqrt(d)), so W_E[t] is hook_embed for token t
 *   W_pos [n_ctx, d]  learned positions (ARK_ERR_MISSING with rotary ones)
 *   W_U [d, vocab], b_U [vocab]  unembedding (b_U zeros unless processing
 *                   created one)
 *   W_Q [L, h, d, dh], b_Q [L, h, dh]
 *   W_K, W_V [L, kv, d, dh], b_K, b_V [L, kv, dh]   grouped-query heads kept
 *   W_K_ungrouped ... b_V_ungrouped: the same with [L, h, ...], query head
 *                   h reading kv head h / (h_total / kv) (TransformerLens'
 *                   model.W_K / W_V are these; its attn._W_K the grouped)
 *   W_O [L, h, dh, d], b_O [L, d]
 *   W_in [L, d, m], b_in [L, m]   plain MLP input, or the gated MLP's up
 *                   (linear) branch: hook_pre_linear = x @ W_in + b_in
 *   W_gate [L, d, m], b_gate [L, m]  gated MLPs only (ARK_ERR_MISSING
 *                   otherwise): hook_pre = x @ W_gate + b_gate
 *                   (TransformerLens has no b_gate and adds its b_in after
 *                   act(gate) * up; here each branch keeps its own bias, as
 *                   Hugging Face's gate_proj / up_proj do)
 *   W_out [L, m, d], b_out [L, d]
 *   ln1_w, ln1_b, ln2_w, ln2_b [L, d], lnf_w, lnf_b [d]: the norms' effective
 *                   scale and shift, y = normalise(x) * w + b (Gemma's
 *                   stored weight is returned as 1 + w; RMSNorm's b is 0);
 *                   ln2 is ARK_ERR_MISSING where a parallel block shares one
 *                   norm (stablelm)
 *
 * A weight the model does not have (a bias) reads as zeros. */
typedef enum ark_weight {
    ARK_W_E, ARK_W_POS, ARK_W_U, ARK_B_U,
    ARK_W_Q, ARK_W_K, ARK_W_V, ARK_W_O,
    ARK_B_Q, ARK_B_K, ARK_B_V, ARK_B_O,
    ARK_W_K_UNGROUPED, ARK_W_V_UNGROUPED, ARK_B_K_UNGROUPED, ARK_B_V_UNGROUPED,
    ARK_W_IN, ARK_W_GATE, ARK_W_OUT, ARK_B_IN, ARK_B_GATE, ARK_B_OUT,
    ARK_LN1_W, ARK_LN1_B, ARK_LN2_W, ARK_LN2_B, ARK_LNF_W, ARK_LNF_B,
    ARK_N_WEIGHTS
} ark_weight;

/* "W_Q", "b_K_ungrouped", "ln1_w", ... (NULL out of range). */
const char *ark_weight_name(ark_weight w);
/* The weight named `name` (as ark_weight_name spells it). */
ark_status ark_weight_find(const char *name, ark_weight *out);

/* Which part of a weight to read.
 *   layer  -1: all layers stacked (the shapes above); l >= 0: layer l only
 *          (the leading L axis dropped).  Must be -1 for global weights
 *          (W_E, W_pos, W_U, b_U, lnf_w, lnf_b).
 *   head   -1: all heads; h >= 0: head h only (the head axis dropped;
 *          needs layer >= 0).  Only for per-head weights (W_Q/K/V/O,
 *          b_Q/K/V and the ungrouped ones); h < kv for grouped W_K/W_V/b_K/b_V.
 * Out-of-range values give ARK_ERR_ARG. */

/* The shape of that part: writes up to ARK_MAX_DIMS sizes and *ndim. */
ark_status ark_weight_shape(const ark_model *m, ark_weight w, int layer, int head, int *ndim, int64_t *shape);

/* Copy that part, row-major float32, into dst (ark_weight_shape's numel
 * floats, caller-owned).  No allocation. */
ark_status ark_weight_read(const ark_model *m, ark_weight w, int layer, int head, float *dst);

/* The same into a freshly allocated tensor; free it with ark_weight_free. */
ark_status ark_weight_get(const ark_model *m, ark_weight w, int layer, int head, ark_tensor *out);

/* Free a tensor from ark_weight_get (data and shape reset; NULL-safe). */
void ark_weight_free(ark_tensor *t);

/* ---- weight processing ----
 *
 * TransformerLens' weight processing (HookedTransformer.process_weights_,
 * from_pretrained's fold_ln / center_writing_weights / center_unembed /
 * fold_value_biases), applied to the model in place.  Each step leaves
 * every log-probability the model computes unchanged (up to float32
 * rounding); logits may shift by a constant per position
 * (ARK_PROCESS_CENTER_UNEMBED).  Hook-point activations change where the
 * step says so. */

/* Fold each norm's weight (and LayerNorm bias) into the weights that read
 * its output: ln1 into W_Q, W_K, W_V (b_Q/b_K/b_V += b_ln @ W); ln2 into
 * W_in and W_gate (stablelm's shared parallel norm, ln1, into q/k/v and the
 * MLP); ln_final into W_U (creating b_U = b_lnf @ W_U).  W' = diag(w) W (Gemma:
 * diag(1 + w) W).  With LayerNorm the reading weights are then centred over
 * their input axis (W -= mean over d), since a LayerNorm's output has zero
 * mean (TransformerLens fold_layer_norm with center_weights).  The norms are
 * left as pure normalisation: weight 1 (Gemma's stored 0), bias 0, so
 * ln*.hook_normalized becomes the unscaled normalised input (TL's LNPre). */
#define ARK_PROCESS_FOLD_LN 0x1u
/* Subtract from every vector written into the residual stream its mean over
 * d: rows of W_E and W_pos, W_O[l, h] rows and b_O, W_out rows and b_out
 * (TransformerLens center_writing_weights).  Only with LayerNorm, which
 * removes the mean of everything it reads; RMSNorm models are refused with
 * ARK_ERR_UNSUPPORTED (TransformerLens skips them with a warning).  The
 * residual stream hook points change by a per-position constant. */
#define ARK_PROCESS_CENTER_WRITING 0x2u
/* Subtract from each row of W_U (one per d) its mean over the vocabulary,
 * and from b_U its mean (TransformerLens center_unembed): logits shift by a
 * constant per position, softmax is unchanged. */
#define ARK_PROCESS_CENTER_UNEMBED 0x4u
/* b_O[l] += sum_h b_V[l, kv(h)] @ W_O[l, h]; b_V[l] = 0 (TransformerLens
 * fold_value_biases).  Exact because each attention pattern row sums to 1,
 * so a constant added to every value reaches z unchanged.  With grouped
 * queries a kv head's bias is counted once per query head reading it.
 * hook_v and hook_z lose the bias. */
#define ARK_PROCESS_FOLD_VALUE_BIASES 0x8u
#define ARK_PROCESS_ALL 0xfu

/* Apply the steps in `flags` (any order given; applied in the order above;
 * a step already applied is skipped).  The first call copies the weights
 * into owned float32 buffers (a mapped file is never written; tied
 * embeddings become two matrices; gpt_neox's fused per-head q|k|v becomes
 * separate q, k, v); the original mapped or converted weights stay until
 * ark_model_free.  Every flag is checked before anything changes: on error
 * the model is untouched.  Not thread-safe against runs on the same model. */
ark_status ark_model_process(ark_model *m, unsigned flags);

/* The steps applied so far (ARK_PROCESS_* bits). */
unsigned ark_model_processing(const ark_model *m);

/* The command-line spelling of one flag: "fold-ln", "center-writing",
 * "center-unembed", "fold-value-biases" (NULL for anything else). */
const char *ark_process_flag_name(unsigned flag);
/* Parse a comma-separated list of those names (or "all") into flags. */
ark_status ark_process_parse(const char *list, unsigned *flags);

#ifdef __cplusplus
}
#endif
#endif
