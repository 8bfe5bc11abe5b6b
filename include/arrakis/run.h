/* Running a model: hook points, plans, the forward pass and its cache.
 *
 * Hook points carry TransformerLens' names (see docs/hooks.md):
 *   hook_embed, hook_pos_embed                       [b, p, d]
 *   blocks.L.hook_resid_pre / hook_resid_mid / hook_resid_post / hook_attn_out / hook_mlp_out  [b, p, d]
 *   blocks.L.ln1.hook_scale, ln2.hook_scale          [b, p, 1]   (sqrt(var+eps) or sqrt(mean(x^2)+eps))
 *   blocks.L.ln1.hook_normalized, ln2.hook_normalized [b, p, d]  (the norm's output, weight and bias applied)
 *   blocks.L.attn.hook_q, hook_rot_q                 [b, p, h, dh]   (before / after RoPE)
 *   blocks.L.attn.hook_k, hook_v, hook_rot_k         [b, p, kv, dh]
 *   blocks.L.attn.hook_attn_scores                   [b, h, q, k]    (scaled; masked entries -inf)
 *   blocks.L.attn.hook_pattern                       [b, h, q, k]    (softmax; masked entries 0)
 *   blocks.L.attn.hook_z                             [b, p, h, dh]
 *   blocks.L.attn.hook_result                        [b, p, h, d]    (z_h W_O,h per head; no output bias)
 *   blocks.L.mlp.hook_pre / hook_pre_linear / hook_post [b, p, m]   (gate branch / up branch / act(gate)*up)
 *   ln_final.hook_scale [b, p, 1], ln_final.hook_normalized [b, p, d]
 * A model has only the points its architecture computes: no hook_pos_embed
 * or hook_rot_* without learned / rotary positions, no hook_resid_mid in a
 * parallel block, no hook_pre_linear in a plain MLP, no ln2 hooks where the
 * parallel block shares one norm. */
#ifndef ARRAKIS_RUN_H
#define ARRAKIS_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A dense float32 tensor, row-major.  In a cache, owned by the cache. */
typedef struct ark_tensor {
    float *data;
    int ndim;
    int64_t shape[ARK_MAX_DIMS];
} ark_tensor;

int64_t ark_tensor_numel(const ark_tensor *t);

/* ---- hook points ---- */

/* Number of hook points of this model, and each one's full name in the
 * order a forward pass reaches them (0 <= i < count). */
int ark_hook_count(const ark_model *m);
const char *ark_hook_name(const ark_model *m, int i);
/* Index of an exact hook name, or -1. */
int ark_hook_find(const ark_model *m, const char *name);

/* The TransformerLens shorthand: ("pattern", 3) -> "blocks.3.attn.hook_pattern";
 * a negative layer counts from the end (-1 = last); global points ("embed",
 * "scale" without a layer -> ln_final) ignore `layer`.  Writes into buf. */
ark_status ark_hook_shorthand(const ark_model *m, const char *shortname, int layer, char *buf, size_t cap);

/* ---- plans ---- */

/* A plan says, before a run starts, which hook points to keep.  Only what it
 * names is copied out; a run with an empty plan costs what a plain forward
 * costs. */
typedef struct ark_plan ark_plan;

ark_plan *ark_plan_new(const ark_model *m);
void ark_plan_free(ark_plan *p);
/* Keep every hook point matching `pattern`: an exact name, a glob ("*" and
 * "?", e.g. "blocks.*.attn.hook_pattern"), a shorthand for every layer
 * ("pattern", "resid_post"), or a shorthand with a layer ("pattern3",
 * "pattern:3", "resid_post:-1").  A pattern matching nothing is an error
 * that suggests the closest hook name. */
ark_status ark_plan_keep(ark_plan *p, const char *pattern);
/* Keep every hook point the model has except hook_result (which is opt-in,
 * as in TransformerLens, since it costs heads x memory). */
void ark_plan_keep_all(ark_plan *p);
bool ark_plan_keeps(const ark_plan *p, int hook_index);

/* ---- hook functions ---- */

/* What a hook function is told about the call. */
typedef struct ark_hook_call {
    const char *name;      /* full hook name, e.g. "blocks.3.attn.hook_z" */
    int layer;             /* -1 for hook_embed, hook_pos_embed, ln_final.* */
    int B, T;              /* rows, and positions in this call */
    int pos_offset;        /* index of this call's first position in the whole
                              sequence (> 0 while generating with a key/value cache) */
    const uint8_t *mask;   /* (B, T) 1 = real token, NULL = all real */
} ark_hook_call;

typedef enum {
    ARK_HOOK_OBSERVE, /* reads the activation; must not write it */
    ARK_HOOK_MODIFY   /* may overwrite act->data in place (same shape); the
                         rest of the run reads the changed values */
} ark_hook_mode;

/* Called with the activation at a hook point (shape as in the table above;
 * during cached generation p = the new positions and attention maps are
 * [b, h, q_new, k_all]).  A non-OK status stops the run and is returned by
 * it (set a message with the usual ark_errmsg conventions). */
typedef ark_status (*ark_hook_fn)(ark_tensor *act, const ark_hook_call *call, void *ctx);

/* Attach fn to every hook point matching `pattern` (as ark_plan_keep), for
 * runs with this plan.  Hook functions run in registration order (the
 * model's own hooks first, see ark_model_add_hook); a kept activation is
 * copied after all of them, so the cache shows the intervened values.
 * Modifying hook_attn_scores, hook_pattern, hook_z, hook_result, q/k/v or a
 * norm's hook_scale changes what the rest of the layer computes. */
ark_status ark_plan_add_hook(ark_plan *p, const char *pattern, ark_hook_mode mode, ark_hook_fn fn, void *ctx);
/* The same, with ctx freed by free_ctx when the plan is freed. */
ark_status ark_plan_add_hook_owned(ark_plan *p, const char *pattern, ark_hook_mode mode, ark_hook_fn fn, void *ctx,
                                   void (*free_ctx)(void *));

/* Hooks kept on the model for every run until removed.  Returns a handle
 * (>= 0) for ark_model_remove_hook, or -1 with an error message. */
int ark_model_add_hook(ark_model *m, const char *pattern, ark_hook_mode mode, ark_hook_fn fn, void *ctx);
void ark_model_remove_hook(ark_model *m, int handle);
void ark_model_clear_hooks(ark_model *m);

/* ---- batches ---- */

/* Token sequences of different lengths as one right-padded batch. */
typedef struct ark_batch {
    int B, T;
    int32_t *tokens;  /* (B, T) */
    uint8_t *mask;    /* (B, T) 1 = real token; NULL when no row is padded */
    int *len;         /* (B) real tokens per row */
} ark_batch;

/* Pack B rows (lens[b] ids each) into *out, padding with the model's
 * pad_token_id (0 when it has none).  Every row must be non-empty and every
 * id in [0, vocab); errors name the row and position.  Free with
 * ark_batch_free. */
ark_status ark_batch_pack(const ark_model *m, const int32_t *const *rows, const int *lens, int B, ark_batch *out);
void ark_batch_free(ark_batch *b);

/* ---- running ---- */

typedef struct ark_cache ark_cache;

/* Run the model on a batch of token sequences.
 *
 * tokens  (B, T) row-major ids, each in [0, vocab).
 * mask    (B, T) 1 = real token, 0 = padding (NULL: all real).  Padding may
 *         sit on either side.  Position ids follow Hugging Face:
 *         cumsum(mask) - 1 for real tokens (so a row's real tokens get the
 *         values they get when run alone), 1 for padding.  A padding
 *         position attends only to itself; its outputs are meaningless.
 * plan    which hook points to keep and which functions to call (NULL: none).
 * out     receives logits (B, T, vocab) and the kept activations; the caller
 *         owns it (ark_cache_free).
 * Returns ARK_OK, or an error naming the input at fault. */
ark_status ark_run(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask,
                   const ark_plan *plan, ark_cache **out);

/* Partial runs (TransformerLens' start_at_layer / stop_at_layer). */
typedef struct ark_run_opts {
    const uint8_t *mask;   /* as in ark_run */
    int start_at_layer;    /* 0: from the embeddings; L > 0: from `resid` */
    const float *resid;    /* (B, T, d): the residual stream entering block
                              start_at_layer (its hook_resid_pre) */
    int stop_at_layer;     /* -1: to the logits; L: stop before block L and
                              return its input residual (ark_cache_resid) */
} ark_run_opts;
#define ARK_RUN_OPTS_INIT {NULL, 0, NULL, -1}

/* ark_run with options.  tokens may be NULL when start_at_layer > 0 (only
 * the mask then matters, for positions and attention). */
ark_status ark_run_ex(ark_model *m, const int32_t *tokens, int B, int T, const ark_run_opts *opts,
                      const ark_plan *plan, ark_cache **out);

/* ---- the cache ---- */

/* Logits (B, T, vocab); NULL after a run that stopped early. */
const ark_tensor *ark_cache_logits(const ark_cache *c);
/* The residual stream (B, T, d) where a run with stop_at_layer stopped;
 * NULL otherwise. */
const ark_tensor *ark_cache_resid(const ark_cache *c);
/* A kept activation by full hook name (NULL if not kept). */
const ark_tensor *ark_cache_get(const ark_cache *c, const char *name);
int ark_cache_count(const ark_cache *c);
const char *ark_cache_name(const ark_cache *c, int i);
const ark_tensor *ark_cache_at(const ark_cache *c, int i);
void ark_cache_free(ark_cache *c);

/* Write logits (as "logits") and every kept activation, float32, to a
 * safetensors file. */
ark_status ark_cache_save(const ark_cache *c, const char *path);

#ifdef __cplusplus
}
#endif
#endif
