/* Activation patching sweeps (the `patching` tool).
 *
 * Two prompts of the same length T: a *clean* one, on which the model shows
 * a behaviour, and a *corrupted* one, on which it does not.  A cell of a
 * sweep copies one activation (one hook point at one layer, at one position
 * and/or one head) from a *source* run into the run being *patched*, and
 * measures a metric of the patched run's logits (Vig et al. 2020; Meng et
 * al. 2022; Wang et al. 2022; TransformerLens' patching module,
 * transformer_lens/patching.py):
 *
 *   denoising (default)  patched = corrupted run, source = clean run
 *   noising              patched = clean run, source = corrupted run
 *
 * Normalisation, as TransformerLens' demos do it (0 = the corrupted run's
 * metric, 1 = the clean run's), in both directions:
 *
 *   normalised(cell) = (metric(patched cell) - metric(corrupted)) / (metric(clean) - metric(corrupted))
 *
 * (NaN when the clean and corrupted metrics are equal).  Denoising asks
 * "which activation alone restores the behaviour" (values near 1 = enough);
 * noising asks "which activation, corrupted alone, destroys it" (values
 * near 0 = necessary).
 *
 * Metrics (ark_patch_metric), of one row's logits, in float64:
 *   ARK_METRIC_LOGIT_DIFF  logit[pos][token] - logit[pos][other]
 *   ARK_METRIC_LOGIT       logit[pos][token]
 *   ARK_METRIC_PROB        softmax(logit[pos])[token] (over the whole vocabulary)
 *   ARK_METRIC_LOSS        mean over t = 0..T-2 of -log softmax(logit[t])[target[t+1]],
 *                          the next-token cross-entropy of the *clean* prompt's tokens
 *                          (so lower is cleaner; normalisation still maps clean to 1)
 * pos is the metric's position (negative counts from the end; default -1,
 * the last token).
 *
 * Points and cells (L layers, T positions, H query heads, KV key/value heads):
 *
 *   point          hook point (layer l)              cells: by_pos     cells: !by_pos
 *   resid_pre      blocks.l.hook_resid_pre           L x T (default)   L (all positions at once)
 *   resid_mid      blocks.l.hook_resid_mid           L x T             L   (sequential blocks only)
 *   resid_post     blocks.l.hook_resid_post          L x T             L
 *   attn_out       blocks.l.hook_attn_out            L x T             L
 *   mlp_out        blocks.l.hook_mlp_out             L x T             L
 *   head_z         blocks.l.attn.hook_z     head h   L x H x T         L x H (default)
 *   head_q         blocks.l.attn.hook_q     head h   L x H x T         L x H
 *   head_k         blocks.l.attn.hook_k     kv head  L x KV x T        L x KV
 *   head_v         blocks.l.attn.hook_v     kv head  L x KV x T        L x KV
 *   head_pattern   blocks.l.attn.hook_pattern head h L x H x T (query row)  L x H
 *
 * These are TransformerLens' get_act_patch_resid_pre / _resid_mid /
 * _block_every, _attn_out, _mlp_out, _attn_head_{out,q,k,v,pattern}_all_pos
 * and _by_pos.  With grouped-query attention, k and v are patched per key/
 * value head (the heads the model has: what query heads h with
 * h / (H / KV) = g all read); q, z and pattern per query head.  hook_q and
 * hook_k are the values before rotary embeddings.
 *
 * How a sweep runs (the result is what a full forward pass per cell with
 * ark_plan_patch gives, to float32 rounding):
 *   - the patched and the source runs are made once, with their caches;
 *   - a cell at layer l starts from the patched run's cached residual stream,
 *     not from the embeddings: resid_pre at l starts block l from the cached
 *     blocks.l.hook_resid_pre with the cell's positions replaced; resid_post
 *     and mlp_out at l (and attn_out at l in parallel blocks, where the MLP
 *     does not read it) start block l + 1 from the residual the patched block
 *     would have written (resid_mid + mlp_out, or (mlp_out + attn_out) +
 *     resid_pre, in the forward pass's own float32 order); the other points
 *     start block l from its cached input with a hook writing the cell's
 *     values;
 *   - the cells of one layer are the rows of one batched run (as many rows
 *     as the memory budget allows);
 *   - a metric of one position forms the final norm and the unembedding only
 *     at that position.
 *
 * Every result is freshly allocated and owned by the caller. */
#ifndef ARRAKIS_TOOL_PATCHING_H
#define ARRAKIS_TOOL_PATCHING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_patch_point {
    ARK_PATCH_RESID_PRE,
    ARK_PATCH_RESID_MID,
    ARK_PATCH_RESID_POST,
    ARK_PATCH_ATTN_OUT,
    ARK_PATCH_MLP_OUT,
    ARK_PATCH_HEAD_Z,
    ARK_PATCH_HEAD_Q,
    ARK_PATCH_HEAD_K,
    ARK_PATCH_HEAD_V,
    ARK_PATCH_HEAD_PATTERN,
    ARK_PATCH_N_POINTS
} ark_patch_point;

/* "resid_pre", ..., "head_z", "head_q", "head_k", "head_v", "head_pattern"
 * (NULL out of range). */
const char *ark_patch_point_name(ark_patch_point p);
/* A point by name: the names above, with '-' for '_' ("head-z"), "heads"
 * (= head_z, the heads' outputs) and the bare hook names "z", "q", "k", "v",
 * "pattern".  ARK_ERR_ARG naming the text and the choices otherwise. */
ark_status ark_patch_point_parse(const char *s, ark_patch_point *out);
/* The hook point patched at `layer` ("blocks.3.attn.hook_z"), into buf. */
void ark_patch_point_hook(ark_patch_point p, int layer, char *buf, size_t cap);
/* Whether the point is per head. */
bool ark_patch_point_per_head(ark_patch_point p);
/* Heads of the point in this model: H for z/q/pattern, KV for k/v, 0 for
 * the residual-width points. */
int ark_patch_point_heads(const ark_model *m, ark_patch_point p);

typedef enum ark_metric_kind {
    ARK_METRIC_LOGIT_DIFF,
    ARK_METRIC_LOGIT,
    ARK_METRIC_PROB,
    ARK_METRIC_LOSS
} ark_metric_kind;

typedef struct ark_patch_metric {
    ark_metric_kind kind;
    int32_t token;   /* LOGIT_DIFF (minuend), LOGIT, PROB */
    int32_t other;   /* LOGIT_DIFF (subtrahend) */
    int pos;         /* the position read (negative: from the end); not for LOSS */
} ark_patch_metric;
#define ARK_PATCH_METRIC_INIT {ARK_METRIC_LOGIT_DIFF, 0, 0, -1}

/* "logit_diff", "logit", "prob", "loss". */
const char *ark_metric_name(ark_metric_kind k);

/* The metric of one row's logits (T, V) (definitions above; `targets` (T)
 * are LOSS's token ids, ignored otherwise).  pos must be in range. */
double ark_patch_metric_value(const ark_patch_metric *mt, const float *logits, int T, int V, const int32_t *targets);

/* Called after each batched run with the cells done so far. */
typedef void (*ark_patch_progress_fn)(int done, int total, void *ctx);

typedef struct ark_patch_opts {
    ark_patch_point point;
    bool by_pos;        /* one cell per position (see the table above) */
    bool noising;       /* false: denoising (clean into corrupted) */
    int max_rows;       /* rows per batched run; 0: as many as mem_budget allows */
    size_t mem_budget;  /* bytes of activations per batched run; 0: 256 MiB */
    ark_patch_progress_fn progress;  /* NULL: none */
    void *progress_ctx;
} ark_patch_opts;
/* Residual points by position, head points by head (all positions). */
ark_patch_opts ark_patch_opts_default(ark_patch_point p);

typedef struct ark_patch_result {
    ark_patch_point point;
    bool by_pos, noising;
    int n_layers;
    int n_heads;        /* head columns (H or KV) of a head point; 1 otherwise */
    int n_pos;          /* T when by_pos; 1 otherwise */
    /* (n_layers, n_heads, n_pos) row-major: cell (l, h, p) at (l * n_heads + h) * n_pos + p */
    double *raw;        /* the metric of each patched cell */
    double *normalised; /* (raw - corrupted) / (clean - corrupted); NaN when clean == corrupted */
    double clean;       /* the metric of the clean run */
    double corrupted;   /* the metric of the corrupted run */
    int n_runs;         /* batched runs made for the cells */
} ark_patch_result;

/* An activation patching sweep.
 *
 * clean, corrupted  (T) token ids each, the same length (a prompt pair of
 *                   different lengths must be aligned by the caller).
 * metric            what is measured; metric->pos in [-T, T).
 * opts              the point, cells and direction (NULL: the default of
 *                   resid_pre).
 * out               filled on success; free with ark_patch_result_free().
 * Returns ARK_OK; ARK_ERR_ARG naming the input at fault (an id out of
 * range, a position, a point the model lacks such as resid_mid in a
 * parallel block); ARK_ERR_NOMEM. */
ark_status ark_patch_sweep(ark_model *m, const int32_t *clean, const int32_t *corrupted, int T,
                           const ark_patch_metric *metric, const ark_patch_opts *opts, ark_patch_result *out);
void ark_patch_result_free(ark_patch_result *r);

#ifdef __cplusplus
}
#endif
#endif
