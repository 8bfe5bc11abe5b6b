/* Causal tracing (the `causal` tool), as ROME defines it: Meng, Bau,
 * Andonian and Belinkov, "Locating and Editing Factual Associations in
 * GPT" (NeurIPS 2022), section 2.1, and its code (kmeng01/rome,
 * experiments/causal_trace.py: trace_with_patch, calculate_hidden_flow,
 * trace_important_window, collect_embedding_std).
 *
 * A fact is a prompt, a subject that occurs in it, and the answer token the
 * model should predict after the prompt's last token.  Three kinds of run:
 *
 *   clean      the prompt as it is; P_clean = softmax(logits[T-1])[answer]
 *   corrupted  Gaussian noise N(0, nu^2) added to the token embeddings
 *              (hook_embed: after any embedding scale, before learned
 *              position embeddings are added) of every subject token; N
 *              noise samples, P_corrupted = the mean over the samples of
 *              the answer's probability
 *   restored   the corrupted run (same N samples) with one state set back to
 *              its clean value; P_restored = the mean over the samples
 *
 *   total effect     TE = P_clean - P_corrupted
 *   indirect effect  IE(row, t) = P_restored(row, t) - P_corrupted
 *
 * States restored (ark_trace_kind):
 *   ARK_TRACE_RESID  row 0 = the embeddings (blocks.0.hook_resid_pre: token
 *                    + position embeddings), row r >= 1 = the residual
 *                    stream after block r-1 (blocks.{r-1}.hook_resid_post,
 *                    before the final norm): L + 1 rows, at one position t.
 *   ARK_TRACE_MLP /  row l = the MLP (hook_mlp_out) or attention
 *   ARK_TRACE_ATTN   (hook_attn_out) outputs at position t of the window of
 *                    layers [l - floor(W/2), l + ceil(W/2)) clipped to
 *                    [0, L) (ROME's trace_important_window): L rows.
 *
 * Noise: nu = 3 sigma (ROME's setting), sigma = the standard deviation of
 * the embedding values of the subject tokens (ark_trace_subject_sigma), or a
 * given nu.  As in ROME, the N noise samples of a fact are drawn once and
 * shared by its corrupted run and all its restored runs (ROME re-seeds its
 * generator in every trace_with_patch call); here they come from the seed
 * and the fact's index, so facts get independent noise.
 *
 * Positions are grouped as in ROME's average indirect effect (figure 2 and
 * notebooks/average_causal_effects.ipynb) plus the tokens before the
 * subject (ark_trace_pos):
 *   before_subject    t < first subject token
 *   subject_first     the first subject token
 *   subject_middle    the subject tokens between the first and the last
 *   subject_last      the last subject token (a one-token subject is both
 *                     first and last, as in ROME)
 *   first_subsequent  the token right after the subject, unless it is the
 *                     last token
 *   further_tokens    the tokens after that, except the last token
 *   last_token        the prompt's last token, where the answer is predicted
 * A fact contributes, per kind, the mean of its IE over its positions of
 * that kind; the average indirect effect AIE(row, kind) is the mean of
 * those over the facts that have the kind.
 *
 * Every result is freshly allocated and owned by the caller. */
#ifndef ARRAKIS_TOOL_CAUSAL_H
#define ARRAKIS_TOOL_CAUSAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_trace_kind { ARK_TRACE_RESID, ARK_TRACE_MLP, ARK_TRACE_ATTN } ark_trace_kind;

/* "resid", "mlp", "attn"; parse accepts those (and "hidden"/"attention"). */
const char *ark_trace_kind_name(ark_trace_kind k);
ark_status ark_trace_kind_parse(const char *s, ark_trace_kind *out);

typedef enum ark_trace_pos {
    ARK_TPOS_BEFORE_SUBJECT,
    ARK_TPOS_SUBJECT_FIRST,
    ARK_TPOS_SUBJECT_MIDDLE,
    ARK_TPOS_SUBJECT_LAST,
    ARK_TPOS_FIRST_SUBSEQUENT,
    ARK_TPOS_FURTHER_TOKENS,
    ARK_TPOS_LAST_TOKEN,
    ARK_TPOS_N
} ark_trace_pos;

/* "before_subject", "subject_first", ..., "last_token". */
const char *ark_trace_pos_name(ark_trace_pos k);
/* Whether position t of a T-token prompt whose subject is tokens
 * [sb, se) is of kind k (definitions above). */
bool ark_trace_pos_is(ark_trace_pos k, int t, int T, int sb, int se);

/* A fact ready to trace. */
typedef struct ark_trace_prompt {
    int32_t *ids;            /* (T) the prompt's tokens */
    int T;
    int subj_begin, subj_end; /* the subject's tokens [begin, end) */
    int32_t answer;          /* the answer token */
} ark_trace_prompt;

/* Encode a fact with a tokenizer.
 *
 * prompt   encoded with the tokenizer's special tokens (its BOS, if any).
 * subject  found in the prompt as text (its first occurrence); its tokens
 *          are those whose byte spans overlap it.  ARK_ERR_ARG naming the
 *          subject when it does not occur.  NULL: no subject (an empty
 *          range; enough for ark_trace_neuron, not for ark_trace).
 * answer   text: the first token after the prompt's tokens in the encoding
 *          of prompt + " " + answer (no space added when the answer starts
 *          with one), so "Paris" becomes GPT-2's " Paris"; failing that
 *          (the boundary merged), a vocabulary entry or a text of one
 *          token.  ARK_ERR_ARG naming the answer otherwise.
 * Free with ark_trace_prompt_free. */
ark_status ark_trace_prompt_encode(const ark_tokenizer *tok, const ark_model *m, const char *prompt,
                                   const char *subject, const char *answer, ark_trace_prompt *out);
/* The answer resolution alone (as above); `ids` are the prompt's tokens. */
ark_status ark_trace_answer_token(const ark_tokenizer *tok, const char *prompt, const int32_t *ids, int T,
                                  const char *answer, int32_t *out);
void ark_trace_prompt_free(ark_trace_prompt *p);

/* sigma: the standard deviation, with Bessel's correction (torch.std), of
 * all the embedding values (W_E rows times the embedding scale, i.e.
 * hook_embed) of the *distinct* subject tokens of the n prompts.  (ROME's
 * collect_embedding_std takes the subjects' embeddings with repetition;
 * the facts-llama reference takes each distinct token once.) */
ark_status ark_trace_subject_sigma(ark_model *m, const ark_trace_prompt *p, int n, double *sigma);

typedef struct ark_trace_opts {
    ark_trace_kind kind;
    int window;          /* MLP/attention windows: W layers (ROME: 10) */
    int samples;         /* N noise samples per fact (ROME: 10) */
    double noise;        /* nu, the noise's standard deviation (> 0) */
    uint64_t seed;
    size_t mem_budget;   /* bytes of activations per batched run; 0: 256 MiB */
    const float *noise_values; /* (samples, subject tokens, d): the noise itself,
                                  used as given (noise and seed then unused);
                                  NULL: drawn from N(0, noise^2) */
} ark_trace_opts;
/* kind resid, window 10, samples 10, noise 0 (must be set), seed 0, no
 * noise values. */
ark_trace_opts ark_trace_opts_default(void);

/* Rows of a trace: L + 1 for ARK_TRACE_RESID, L otherwise; and each row's
 * label ("embeddings", "block 3 output", "mlp 3 (window 1..5)"). */
int ark_trace_rows(const ark_model *m, ark_trace_kind k);
void ark_trace_row_name(const ark_model *m, const ark_trace_opts *o, int row, char *buf, size_t cap);

typedef struct ark_trace_result {
    int n_rows, T;
    double p_clean, p_corrupted;
    int32_t clean_top;     /* the clean run's most likely token at T-1 */
    double *p_restored;    /* (n_rows, T) */
} ark_trace_result;

/* Trace one fact.  `index` selects the fact's noise (with opts->seed): the
 * same (seed, index) gives the same samples.  Each row's restorations run
 * as batches of (position, sample) rows that start at that row's layer
 * from the corrupted run's cached residual stream. */
ark_status ark_trace(ark_model *m, const ark_trace_prompt *p, const ark_trace_opts *opts, uint64_t index,
                     ark_trace_result *out);
void ark_trace_result_free(ark_trace_result *r);

typedef struct ark_trace_aie {
    int n_rows;
    double *table;                 /* (n_rows, ARK_TPOS_N): AIE; NaN for a kind no fact has */
    int facts_per_kind[ARK_TPOS_N];
    double mean_p_clean, mean_p_corrupted, mean_total_effect;
} ark_trace_aie;

/* The average indirect effect of n traced facts (definitions above). */
ark_status ark_trace_aie_compute(const ark_trace_prompt *p, const ark_trace_result *r, int n, ark_trace_aie *out);
void ark_trace_aie_free(ark_trace_aie *a);

/* The neuron-level intervention: blocks.{layer}.mlp.hook_post index
 * `neuron` multiplied by `factor` (0 = zero ablation) at the given
 * positions (NULL: every position; negative: from the end) of the clean
 * prompt, and the answer's probability at the last token before and after.
 * The intervened run starts at `layer` from the clean run's residual. */
ark_status ark_trace_neuron(ark_model *m, const int32_t *ids, int T, int32_t answer, int layer, int neuron,
                            float factor, const int *positions, int n_positions, double *p_before, double *p_after);

#ifdef __cplusplus
}
#endif
#endif
