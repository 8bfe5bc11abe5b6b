/* Model surgery: scoped edits of a model's layers and weights (delete,
 * permute, replace layers; zero or merge heads; zero neurons; magnitude
 * pruning), undone on restore or kept on commit, and the writing of a
 * model's current weights as a new Hugging Face folder.
 *
 * An edit session changes the model in place.  Every weight an edit changes
 * is first copied into a buffer the session owns (copy on write): a mapped
 * file is never written, and the original views are left as they were, so
 * ark_surgery_restore gives back exactly the original model (the same
 * weights, bit for bit, the same layers and settings).  Layer edits move
 * whole blocks (weights, norms, and the block's attention window and score
 * scale, config.window[l] / attn_scale[l]).
 *
 * Rules: one session per model at a time; no run may be in flight during an
 * edit; a plan (run.h) made before an edit that changes the number of layers
 * must not be used after it, nor after the restore (hook indices move) —
 * make a new plan; layer edits are refused while hook functions are kept on
 * the model (ark_model_add_hook); end the session (restore or commit)
 * before freeing the model.  The tool "surgery" (src/tools/surgery.c)
 * and `arrakis surgery` (docs/tools/surgery.md) are built on these. */
#ifndef ARRAKIS_TOOL_SURGERY_H
#define ARRAKIS_TOOL_SURGERY_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_surgery ark_surgery;

/* Begin an edit session on m (*out owned by the caller, ended by exactly one
 * of ark_surgery_restore / ark_surgery_commit).  ARK_ERR_ARG when m already
 * has a session. */
ark_status ark_surgery_begin(ark_model *m, ark_surgery **out);
/* Undo every edit of the session and end it (NULL-safe). */
void ark_surgery_restore(ark_surgery *s);
/* Keep the edits (the session's buffers become the model's, freed with it)
 * and end the session (NULL-safe). */
void ark_surgery_commit(ark_surgery *s);
/* The edits made so far, one line each ("delete layer 1", ...). */
int ark_surgery_edit_count(const ark_surgery *s);
const char *ark_surgery_edit(const ark_surgery *s, int i);

/* ---- layers ----
 * Layer indices are those of the model as it is at the call (after earlier
 * edits of the session). */

/* Remove block `layer`; the blocks after it move down by one.  At least one
 * block must remain. */
ark_status ark_surgery_delete_layer(ark_surgery *s, int layer);
/* New block i = current block order[i], for i < n (1 <= n <= ARK_MAX_LAYERS).
 * A permutation reorders; an order may also leave blocks out or repeat
 * them (a repeated block is copied, so later edits touch one copy). */
ark_status ark_surgery_permute_layers(ark_surgery *s, const int *order, int n);
/* Block `layer` becomes a copy of block `src_layer` of `src` (NULL: this
 * model as it is now).  src must have the same family, d_model, heads, kv
 * heads, d_head, d_mlp, MLP kind and norm; its weights are copied, so src
 * may be freed afterwards.  The block brings its own window and scale. */
ark_status ark_surgery_replace_layer(ark_surgery *s, int layer, const ark_model *src, int src_layer);

/* ---- heads and neurons ----
 * Per-head blocks (TransformerLens' per-head views, weights.h): W_Q[l, h]
 * (d, dh), b_Q[l, h] (dh), W_O[l, h] (dh, d) (the rows of W_O that read head
 * h's z), and W_K, b_K, W_V, b_V of kv head h / (heads / kv_heads). */

/* Zero head h of `layer`: W_Q[h], b_Q[h] and W_O[h] become 0, so the head
 * writes exactly nothing into the residual stream; without grouped-query
 * attention (kv_heads == heads) its W_K, b_K, W_V, b_V too.  Under GQA the
 * kv head is shared with other query heads and is left alone. */
ark_status ark_surgery_zero_head(ark_surgery *s, int layer, int head);

/* Merge head h2 into head h1 of `layer` with weight alpha in [0, 1]:
 *   X[h1] <- alpha X[h1] + (1 - alpha) X[h2]   for X in W_Q, b_Q, W_O
 * and for W_K, b_K, W_V, b_V when each query head has its own kv head;
 * then h2 is zeroed as by ark_surgery_zero_head.  alpha = 1 keeps h1 and
 * deletes h2; 0.5 averages them.  Under GQA, heads that read the same kv
 * head blend W_Q, b_Q, W_O only; heads reading different (shared) kv heads
 * are refused (ARK_ERR_UNSUPPORTED: blending a shared kv head would change
 * other heads). */
ark_status ark_surgery_merge_heads(ark_surgery *s, int layer, int h1, int h2, float alpha);

#define ARK_NEURON_IN 0x1u  /* W_in[:, n], b_in[n], and W_gate[:, n], b_gate[n] of a gated MLP */
#define ARK_NEURON_OUT 0x2u /* W_out[n, :] */
/* Zero MLP neuron n of `layer` on the chosen sides (ARK_NEURON_IN | OUT).
 * With its input side zeroed, the neuron's pre-activation is exactly 0 on
 * every token, so its hook_post is act(0) (* up) = 0 for every activation
 * Arrakis knows (gelu variants, silu, relu, quick_gelu): the neuron is dead. */
ark_status ark_surgery_zero_neuron(ark_surgery *s, int layer, int neuron, unsigned sides);

/* ---- magnitude pruning ----
 *
 * Zero the `fraction` of the chosen matrices' entries with the smallest
 * |w| (Han et al. 2015, "Learning both Weights and Connections"): per
 * matrix (each matrix of each layer loses round(fraction * its size)
 * entries) or global (one threshold over all chosen matrices together).
 * Only matrices: norms and biases are never pruned, and the embeddings
 * (W_E, W_pos, W_U) only when listed.  Ties at the threshold are broken in
 * storage order, so exactly the asked count is zeroed.  With tied
 * embeddings W_E and W_U are one tensor (pruning either prunes both, once). */
typedef struct ark_prune_spec {
    double fraction;            /* in [0, 1] */
    const ark_weight *weights;  /* any of ARK_W_Q, W_K, W_V, W_O, W_IN, W_GATE, W_OUT, W_E, W_POS, W_U;
                                   NULL: W_Q, W_K, W_V, W_O, W_IN, W_GATE (gated MLPs), W_OUT */
    int n_weights;
    const int *layers;          /* NULL: every layer (ignored for W_E, W_pos, W_U) */
    int n_layers;
    bool global;
} ark_prune_spec;

typedef struct ark_prune_result {
    int64_t n_entries;   /* entries of the chosen matrices */
    int64_t n_pruned;    /* entries set to 0 */
    int64_t n_zero_before; /* entries that were already 0 */
    double threshold;    /* the largest |w| pruned (global), or the largest over the matrices */
    int n_matrices;
} ark_prune_result;

ark_status ark_surgery_prune(ark_surgery *s, const ark_prune_spec *spec, ark_prune_result *res);

/* ---- writing ----
 *
 * Write m's current weights (after any edits) as a Hugging Face folder `dir`
 * (created): model.safetensors under the family's tensor names and layout
 * (fused q|k|v and gate|up rebuilt), in the dtype of the weights on disk
 * (F32 where they were mixed), and config.json copied from the model's
 * folder with the layer count (the family's key: n_layer, num_layers or
 * num_hidden_layers) and gpt_neo's per-layer attention kinds set to the
 * edited model's.  The written config is parsed back and every layer's
 * window and score scale compared with the edited model's: a family that
 * derives them from the layer index (gpt2's scale_attn_by_inverse_layer_idx,
 * qwen2's max_window_layers) is refused (ARK_ERR_UNSUPPORTED) rather than
 * written wrong.  The tokenizer files (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, vocab.json, merges.txt, tokenizer.model,
 * generation_config.json) are copied when present.  Processed models
 * (ark_model_process) are refused: their biases and norms have no place in
 * the family's layout. */
ark_status ark_model_save_folder(const ark_model *m, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
