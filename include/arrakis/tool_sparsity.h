/* Sparsity of activations over a dataset: datasets of prompts, streaming a
 * hook point's activations batch by batch, next-token loss over a dataset,
 * and per-unit statistics (density, dead units, L0, kurtosis, top-k
 * activating examples, polysemanticity).  Magnitude pruning is
 * ark_surgery_prune (tool_surgery.h); the tool "sparsity" reports its loss
 * change.  docs/tools/sparsity.md describes the tool and `arrakis sparsity`.
 *
 * Nothing here holds a dataset's activations: a pass runs the model over a
 * few prompts at a time, hands the activations of their real tokens to a
 * consumer, and drops them. */
#ifndef ARRAKIS_TOOL_SPARSITY_H
#define ARRAKIS_TOOL_SPARSITY_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"
#include "arrakis/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- datasets ----
 *
 * A JSON-lines file of prompts, one per non-empty line:
 *   {"text": "..."}    encoded with the tokenizer (with its special tokens,
 *                      e.g. BOS, as tool_batch_from_json does)
 *   {"tokens": [ids]}  (or "input_ids"), or a bare array [ids] (the
 *                      --tokens-file format)
 * Opening checks every line (JSON, field types; "text" needs a tokenizer)
 * and keeps only each line's offset, length and number: prompts are read
 * and encoded when a pass reaches them (16 bytes per prompt in memory).  Ids are checked
 * against the model's vocabulary by each pass, naming file and line. */
typedef struct ark_dataset ark_dataset;

/* tok: borrowed, must outlive the dataset (NULL: "tokens" lines only). */
ark_status ark_dataset_open(const char *path, const ark_tokenizer *tok, ark_dataset **out);
/* A dataset of n rows held in memory (copied). */
ark_status ark_dataset_from_rows(const int32_t *const *rows, const int *lens, int n, ark_dataset **out);
int ark_dataset_count(const ark_dataset *d);
/* Prompt i's ids into a fresh array (*ids malloc'd, *n >= 1). */
ark_status ark_dataset_get(const ark_dataset *d, int i, int32_t **ids, int *n);
/* "FILE:LINE" of prompt i, or "row i" (into buf). */
void ark_dataset_where(const ark_dataset *d, int i, char *buf, size_t cap);
void ark_dataset_free(ark_dataset *d);

/* How a pass walks a dataset. */
typedef struct ark_stream_opts {
    int batch;        /* prompts per forward pass (default 8) */
    int max_len;      /* prompts longer than this are cut to their first max_len
                         tokens (0: the model's n_ctx) */
    int first, count; /* prompts [first, first + count) (count 0: to the end) */
} ark_stream_opts;
#define ARK_STREAM_OPTS_INIT {8, 0, 0, 0}

/* One batch of activations at a hook point, real tokens only (padding
 * dropped), in (prompt, position) order.  The hook's dimensions after
 * [b, p] are flattened: width = d, m, or h * dh (hook_z, hook_q, ...).
 * Valid during the consumer's call only. */
typedef struct ark_act_rows {
    const float *act;      /* (n, width) */
    int n, width;
    const int *prompt;     /* (n) dataset index of each row */
    const int *pos;        /* (n) position in its prompt */
    const int32_t *token;  /* (n) the token at that position */
    const int32_t *next;   /* (n) the token after it, -1 at the prompt's end */
} ark_act_rows;

typedef ark_status (*ark_act_consumer)(const ark_act_rows *rows, void *ctx);

/* Run the model over the dataset and hand each batch's activations at
 * `hook` (an exact hook name of a position-major point: [b, p, ...]; not
 * hook_attn_scores / hook_pattern) to fn.  Each run stops after the hook's
 * block (the rest of the model is not computed).  A non-OK status from fn
 * stops the pass and is returned. */
ark_status ark_stream_acts(ark_model *m, const ark_dataset *d, const char *hook, const ark_stream_opts *o,
                           ark_act_consumer fn, void *ctx);

/* The width of a hook point's rows (d, m, h * dh, 1); error for a name the
 * model lacks (with the closest name) or an attention map. */
ark_status ark_hook_width(const ark_model *m, const char *hook, int *width);

/* Mean next-token cross-entropy over the dataset: over every position t of
 * every prompt that has a next token, CE = logsumexp(logits[t]) -
 * logits[t][ids[t + 1]] (natural log), averaged over all such positions
 * (pooled, not per prompt).  plan (may be NULL) applies interventions. */
ark_status ark_dataset_ce(ark_model *m, const ark_dataset *d, const ark_stream_opts *o, const ark_plan *plan,
                          double *ce, int64_t *n_predicted);

/* ---- sparsity statistics ----
 *
 * Over every real token of the dataset, for each unit j (neuron of
 * hook_post, dimension of a residual point, SAE feature, ...), with
 * activation a_j:
 *   fires       a_j > threshold   (or |a_j| > threshold with abs).  Default
 *               threshold 0: a ReLU/GELU/SiLU neuron "fires" when its
 *               post-activation is positive; a neuron whose pre-activation
 *               is exactly 0 (zeroed input weights) has act(0) = 0 and never
 *               fires.
 *   density_j   fraction of tokens on which j fires.
 *   dead        units with density 0 (never fire on the dataset).
 *   constant    units whose activation is the same on every token (min ==
 *               max; e.g. zeroed input weights with a nonzero bias give
 *               act(bias) everywhere); listed apart from dead.
 *   L0(token)   number of units firing on the token; its mean, standard
 *               deviation, min, max and histogram over tokens.
 *   kurtosis_j  excess kurtosis n M4 / M2^2 - 3 of a_j over tokens (central
 *               moments merged batch by batch with Pébay's formulas, 2008,
 *               "Formulas for robust, one-pass parallel computation of
 *               covariances and arbitrary-order statistical moments"); NaN
 *               for a constant unit (M2 = 0).
 *   top_j       the top_k (prompt, position) examples with the largest a_j,
 *               kept in one pass with a min-heap of size top_k per unit;
 *               ties are broken towards the earlier (prompt, position), so
 *               the result equals sorting all examples by (a_j desc, prompt
 *               asc, position asc) and taking the first top_k.
 *   poly_j      polysemanticity: the normalised entropy of the tokens at j's
 *               top examples, H(p) / ln(n) with p the distribution of the
 *               n = |top_j| examples' tokens: 0 when all top examples are
 *               the same token (token-monosemantic), 1 when all differ.  A
 *               token-level proxy in the spirit of the max-activating-example
 *               diversity used to spot polysemantic neurons (Olah et al.
 *               2020 "Zoom In"; Elhage et al. 2022 "Toy Models of
 *               Superposition"); NaN with fewer than 2 examples. */
typedef struct ark_sparsity_opts {
    float threshold;  /* default 0 */
    bool abs;         /* fire on |a| > threshold */
    int top_k;        /* examples kept per unit (default 10; 0: none) */
    int l0_bins;      /* histogram bins (default 32) */
} ark_sparsity_opts;
#define ARK_SPARSITY_OPTS_INIT {0.0f, false, 10, 32}

typedef struct ark_example {
    float act;
    int prompt, pos;
    int32_t token, next; /* next: -1 at the prompt's end */
} ark_example;

typedef struct ark_sparsity {
    int width;
    int64_t n_tokens;
    float threshold;
    bool abs;
    double *density;    /* (width) */
    double *mean;       /* (width) */
    double *std;        /* (width) population standard deviation */
    double *kurtosis;   /* (width) excess kurtosis (NaN: constant) */
    float *max_act;     /* (width) */
    float *min_act;     /* (width) */
    int *dead;          /* indices of dead units, ascending */
    int n_dead;
    int *constant;      /* indices of constant units, ascending */
    int n_constant;
    double l0_mean, l0_std;
    int l0_min, l0_max;
    int l0_bins, l0_bin_width; /* bin i counts tokens with L0 in [i*w, (i+1)*w) */
    int64_t *l0_hist;   /* (l0_bins) */
    int top_k;
    ark_example *top;   /* (width, top_k) best first; n_top[j] of each row are used */
    int *n_top;         /* (width) */
    double *poly;       /* (width) polysemanticity (NaN: < 2 examples) */
} ark_sparsity;

/* A one-pass accumulator, for activations from anywhere (the model stream,
 * SAE features, a matrix). */
typedef struct ark_sparsity_acc ark_sparsity_acc;
ark_status ark_sparsity_acc_new(int width, const ark_sparsity_opts *o, ark_sparsity_acc **out);
/* Add rows (act (n, width) with their prompts, positions and tokens). */
ark_status ark_sparsity_acc_add(ark_sparsity_acc *a, const ark_act_rows *rows);
/* The statistics so far (*out owned by the caller: ark_sparsity_free). */
ark_status ark_sparsity_acc_result(const ark_sparsity_acc *a, ark_sparsity *out);
void ark_sparsity_acc_free(ark_sparsity_acc *a);

/* The statistics of `hook` over the dataset (ark_stream_acts + the
 * accumulator). */
ark_status ark_sparsity_compute(ark_model *m, const ark_dataset *d, const char *hook, const ark_stream_opts *so,
                                const ark_sparsity_opts *o, ark_sparsity *out);
void ark_sparsity_free(ark_sparsity *s);

#ifdef __cplusplus
}
#endif
#endif
