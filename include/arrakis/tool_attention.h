/* The attention tool (key "attention"): attention patterns, the keys a query
 * attends to most, head detectors, and per-head ablation effects.
 *
 * Inputs are batches of token rows (ark_attn_input): tokens (B, T) row-major
 * with an optional mask (B, T) (1 = real token, NULL = every token real;
 * padding may sit on either side).  Every per-row quantity below is computed
 * on the row's real tokens only, in order: "position i" of a row is its i-th
 * real token, and attention patterns are restricted to real queries and
 * real keys.  Attention patterns are hook_pattern (softmax probabilities,
 * [b, h, q, k]); with grouped-query attention each query head has its own
 * pattern, so every function here works per query head.
 *
 * Definitions (one per quantity, next to the function computing it):
 *
 *  - Repeated sequences.  A row of n tokens has the repeat structure
 *    (prefix s, period p) when n - s >= 2p and ids[i] == ids[i - p] for every
 *    i in [s + p, n): a block of p tokens after s others, repeated (the last
 *    copy may be partial).  The standard induction check feeds s = 0 or 1
 *    (a BOS) and p random tokens repeated twice (TransformerLens' main demo,
 *    Olsson et al. 2022 "In-context Learning and Induction Heads").
 *
 *  - Mean-offset scores (ARK_DETECT_MEAN; the scores of the induction-gpt2
 *    fixture's ground_truth.json and of TransformerLens' induction demo):
 *    the attention of query i to key i - o, averaged over every (row, query)
 *    pair of the stated query ranges, pooled over the batch:
 *      previous-token   o = 1       queries i in [1, n)
 *      duplicate-token  o = p       queries i in [s + p, n)   (the earlier copy of token i)
 *      induction        o = p - 1   queries i in [s + p, n)   (the token after the earlier copy)
 *    A custom (P, P) 0/1 mask M gives: mean over (row, query i with some
 *    M[i][j] != 0) of sum_j M[i][j] A[i][j].  The three offset scores are
 *    this with M = the offset masks of ark_offset_mask().
 *
 *  - TransformerLens' detect_head (ARK_DETECT_TL; transformer_lens/
 *    head_detector.py): per row, an (n, n) lower-triangular detection
 *    pattern D (ark_tl_detection_pattern) is compared with the head's
 *    pattern A (ark_tl_similarity):
 *      "mul": A' = A with column 0 zeroed if exclude_bos and the diagonal
 *             zeroed if exclude_current; score = sum(A' * D) / sum(A')
 *      "abs": E = |A - D| with the same exclusions;
 *             score = 1 - round(sum(E) / n, 3)   (TL's 1 - round(mean * size, 3))
 *    and the batch score is the mean of the rows' scores (what detect_head
 *    does for a list of prompts).  TL's own list path calls itself without
 *    forwarding exclude_bos / exclude_current_token / error_measure; here
 *    the options apply to every row, which equals TL's single-prompt calls
 *    averaged.  TL also prepends a BOS in to_tokens; here rows are taken as
 *    given (add the BOS yourself to compare with TL on text).
 *
 *  - Head ablation (ark_ablate_heads): the head's hook_z slice
 *    (blocks.L.attn.hook_z[:, :, h, :]) is set to 0 (zero ablation: the
 *    head's output z W_O vanishes, as with Hugging Face's head_mask = 0 on
 *    its attention probabilities) or to its mean over the batch's real
 *    (row, position) pairs of the clean run (mean ablation); the effect is
 *    metric(ablated) - metric(clean).
 */
#ifndef ARRAKIS_TOOL_ATTENTION_H
#define ARRAKIS_TOOL_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A batch of token rows; borrowed. */
typedef struct ark_attn_input {
    const int32_t *tokens; /* (B, T) */
    int B, T;
    const uint8_t *mask;   /* (B, T) 1 = real token; NULL = all real */
} ark_attn_input;

/* ---- patterns ---- */

/* Attention patterns (blocks.L.attn.hook_pattern) of the chosen layers and
 * heads.  layers / heads: lists of indices (negative: from the end), NULL =
 * every one.  out receives a fresh tensor (B, n_layers, n_heads, T, T) in
 * the list's order (the caller frees out->data); padded queries and keys
 * are 0.  The run stops after the last layer asked for. */
ark_status ark_attn_patterns(ark_model *m, const ark_attn_input *in, const int *layers, int n_layers,
                             const int *heads, int n_heads, ark_tensor *out);

/* The k keys a query row attends to most: row (n_keys) weights; writes up to
 * k key indices and weights in descending weight (ties: the earlier key).
 * Returns the count written (min(k, n_keys)). */
int ark_attn_top_keys(const float *row, int n_keys, int k, int *keys, float *weights);

/* ---- repeated random sequences ---- */

typedef struct ark_repeat_spec {
    int length;       /* p: random tokens per copy (>= 1) */
    int batch;        /* rows (>= 1) */
    uint64_t seed;
    int low, high;    /* ids uniform in [low, high); high <= 0: the vocabulary size */
    int32_t bos;      /* >= 0: prefix every row with this id; -1: none */
} ark_repeat_spec;
#define ARK_REPEAT_SPEC_INIT {0, 1, 0, 0, 0, -1}

/* Rows [bos] x x, x = `length` ids drawn uniformly from [low, high) with a
 * seeded xoshiro256** generator (same seed, same rows on every platform).
 * out: (batch, (bos >= 0) + 2 * length), caller-allocated.  Errors name the
 * field out of range. */
ark_status ark_repeat_random_tokens(const ark_model *m, const ark_repeat_spec *spec, int32_t *out);

/* The repeat structure of a row (definition above): the smallest prefix s,
 * then the smallest period p.  False when the row has none. */
bool ark_repeat_structure(const int32_t *ids, int n, int *prefix, int *period);

/* ---- detection patterns and scores ---- */

typedef enum {
    ARK_HEAD_PREVIOUS,  /* previous-token head */
    ARK_HEAD_DUPLICATE, /* duplicate-token head */
    ARK_HEAD_INDUCTION, /* induction head */
    ARK_HEAD_CUSTOM     /* a caller's (P, P) mask */
} ark_head_kind;

typedef enum { ARK_DETECT_MEAN, ARK_DETECT_TL } ark_detect_method;
typedef enum { ARK_MEASURE_MUL, ARK_MEASURE_ABS } ark_error_measure;

/* TransformerLens' detection pattern of a row of n ids, out (n, n):
 *   previous:  D[i][i-1] = 1 (i >= 1)
 *   duplicate: D[i][j] = 1 for j < i with ids[j] == ids[i]
 *   induction: the duplicate pattern shifted one key to the right, column 0
 *              cleared, lower triangle kept: D[i][j] = 1 for 1 <= j <= i
 *              with ids[j-1] == ids[i] (the token after an earlier copy;
 *              j == i when token i repeats token i-1)
 * (get_*_detection_pattern).  kind must not be ARK_HEAD_CUSTOM. */
void ark_tl_detection_pattern(ark_head_kind kind, const int32_t *ids, int n, float *out);

/* The mean-offset mask of a row of n tokens with repeat structure
 * (prefix, period), out (n, n): M[i][i-o] = 1 for the queries of the
 * definition above (previous needs no structure: period may be 0 then).
 * Returns the number of query rows set. */
int ark_offset_mask(ark_head_kind kind, int n, int prefix, int period, float *out);

/* TransformerLens' compute_head_attention_similarity_score of a head's
 * pattern A (n, n) against a detection pattern D (n, n) (definition above;
 * NaN when "mul" finds sum(A') = 0). */
double ark_tl_similarity(const float *A, const float *D, int n, bool exclude_bos, bool exclude_current,
                         ark_error_measure measure);

typedef struct ark_detect_opts {
    ark_detect_method method;
    int prefix, period;       /* MEAN: the repeat structure of every row; period 0 = ark_repeat_structure per row */
    bool exclude_bos;         /* TL only */
    bool exclude_current;     /* TL only */
    ark_error_measure measure; /* TL only */
    const float *custom;      /* (custom_n, custom_n) mask for ARK_HEAD_CUSTOM; every row must have custom_n tokens */
    int custom_n;
} ark_detect_opts;
#define ARK_DETECT_OPTS_INIT {ARK_DETECT_MEAN, 0, 0, false, false, ARK_MEASURE_MUL, NULL, 0}

/* Score every head for each detector kind: one forward pass (patterns only,
 * no unembedding), then scores (n_kinds, n_layers, n_heads) as defined above.
 * counts (n_kinds, may be NULL) receives what was averaged: (row, query)
 * pairs for MEAN, rows for TL.  A detector with nothing to average (no row
 * has the repeat structure) scores NaN.  TL needs rows of >= 2 tokens. */
ark_status ark_detect_heads(ark_model *m, const ark_attn_input *in, const ark_head_kind *kinds, int n_kinds,
                            const ark_detect_opts *opts, float *scores, int *counts);

/* ---- metrics and head ablation ---- */

typedef enum {
    ARK_HEAD_METRIC_LOSS,      /* mean next-token cross-entropy over target positions */
    ARK_HEAD_METRIC_LOGIT,     /* logit of `token` at `pos`, mean over rows */
    ARK_HEAD_METRIC_LOGIT_DIFF /* logit(token) - logit(other) at `pos`, mean over rows */
} ark_head_metric_kind;

typedef enum {
    ARK_TARGETS_ALL,      /* every target t in [1, n) */
    ARK_TARGETS_LIST,     /* the given targets (negative: from the row's end), each in [1, n) of every row */
    ARK_TARGETS_REPEATED  /* t in [s + p + 1, n): tokens an induction circuit can predict (the second copy
                             after its first token; 25..47 for s = 0, p = 24) */
} ark_targets_kind;

/* A metric of a run's logits.  Loss: the target t is predicted from the
 * logits at t - 1, CE = logsumexp(logits[t-1]) - logits[t-1][ids[t]]
 * (natural log), averaged over every (row, target) pair (pooled). */
typedef struct ark_head_metric {
    ark_head_metric_kind kind;
    ark_targets_kind targets;    /* LOSS */
    const int *positions;        /* LOSS with ARK_TARGETS_LIST */
    int n_positions;
    int prefix, period;          /* ARK_TARGETS_REPEATED: period 0 = ark_repeat_structure per row */
    int32_t token, other;        /* LOGIT: token; LOGIT_DIFF: token - other */
    int pos;                     /* LOGIT, LOGIT_DIFF: position (negative: from the row's end) */
} ark_head_metric;
#define ARK_HEAD_METRIC_INIT {ARK_HEAD_METRIC_LOSS, ARK_TARGETS_ALL, NULL, 0, 0, 0, -1, -1, -1}

/* The metric of logits (B, T, vocab) of the batch `in`.  Errors name the
 * position or token at fault (or say that no target remains). */
ark_status ark_head_metric_eval(const ark_model *m, const ark_attn_input *in, const float *logits,
                                const ark_head_metric *metric, double *value);

typedef enum { ARK_ABLATE_ZERO, ARK_ABLATE_MEAN } ark_ablate_mode;

/* Per-head ablation effects: *clean = the metric of the clean run; effects
 * (n_layers, n_heads) = metric(head ablated) - *clean.  Cost: one clean
 * forward, then one forward per head over the whole batch, each starting at
 * the head's layer from the clean residual stream (ark_run_ex
 * start_at_layer), so n_heads * sum_L (n_layers - L) block passes. */
ark_status ark_ablate_heads(ark_model *m, const ark_attn_input *in, ark_ablate_mode mode,
                            const ark_head_metric *metric, double *clean, float *effects);

/* ark_ablate_heads, also returning each row's own metric from the same
 * forwards (no extra pass; *clean and effects are exactly ark_ablate_heads').
 * A row's metric is the metric of that row alone: LOSS = the mean CE over
 * the row's targets (NaN for a row without one, e.g. "repeated" targets in
 * a row with no repeat structure); LOGIT / LOGIT_DIFF = the row's value.
 *   clean_rows    (B) each row's metric in the clean run;
 *   ablated_rows  (n_layers, n_heads, B) each row's metric with head (l, h)
 *                 ablated (the metric itself, not the effect);
 *   counts        (B) how many terms each row's value averages (LOSS: its
 *                 targets; LOGIT, LOGIT_DIFF: 1), so that the pooled metric
 *                 is sum_b counts[b] rows[b] / sum_b counts[b].
 * Each may be NULL.  Mean ablation uses the batch's mean, so a row's value
 * depends on the other rows there (zero ablation does not). */
ark_status ark_ablate_heads_rows(ark_model *m, const ark_attn_input *in, ark_ablate_mode mode,
                                 const ark_head_metric *metric, double *clean, float *effects, double *clean_rows,
                                 double *ablated_rows, int *counts);

#ifdef __cplusplus
}
#endif
#endif
