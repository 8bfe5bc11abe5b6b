/* The knowledge-graph extractor (the `kg_extractor` tool): what a model
 * predicts about given subjects under relation templates, as triples
 * (subject, relation, object), and the relational view of its heads from
 * the weights.
 *
 * Prompts.  A relation has a name and one or more paraphrase templates,
 * each with "{s}" where the subject goes ("{s} lives in", "the home town of
 * {s} is"); every "{s}" is replaced by the subject and the text is encoded
 * with the tokenizer's special tokens (its BOS, if it adds one).
 *
 * Prediction.  The object a prompt predicts is the top-1 next token after
 * its last token (argmax of the final logits over the whole vocabulary;
 * ties: the lower id), continued greedily up to max_tokens tokens, stopping
 * before stop_token (or an end-of-sequence token the tokenizer names; the
 * first token is always taken):
 *
 *   first_prob     softmax(logits[T-1])[object[0]]
 *   sequence_prob  the product over the greedy steps of each chosen token's
 *                  probability (= first_prob with one token)
 *
 * Triples.  The object of a triple (subject, relation) is the majority of
 * its templates' predicted objects (as token sequences; ties: the larger
 * sum of first_prob over the tied templates, then the earlier template);
 *
 *   agreement  = (templates predicting that object) / (templates)
 *   stable     = agreement == 1        majority = agreement > 1/2
 *
 * and, for every template, the triple's object's first token is scored
 * under that prompt: its probability and its rank (the number of tokens
 * with a strictly larger logit; 0 = top-1).  The triple's "prob" and "rank"
 * are those under its first template.
 *
 * Logit lens (nostalgebraist 2020; include/arrakis/tool_logit_lens.h with
 * its own-scale default): each layer l's blocks.l.hook_resid_post at the
 * prompt's last token, through the final norm and W_U.  Per template,
 *
 *   lens_layer         the first layer whose lens top-1 token is the triple's
 *                      object's first token (-1: none; the last layer's lens
 *                      is the model's output)
 *   lens_stable_layer  the first layer from which it stays top-1 through the
 *                      last layer (-1: none)
 *
 * The triple's lens_layer is its first template's.
 *
 * Causal trace (optional; include/arrakis/tool_causal.h, ROME's
 * hidden-state restoration): the first template's prompt with the subject
 * corrupted, answer = the triple's object's first token; the peak is the
 * (row, position) with the largest indirect effect
 * IE = P_restored - P_corrupted (rows: 0 = embeddings, r = the output of
 * block r - 1, or the MLP/attention windows; ties: the first in row-major
 * order).  With resid restoration the last row at the last token restores
 * the whole output, so that peak is the total effect by construction; the
 * subject peak, the largest IE at the subject's tokens (rows >= 1 for
 * resid, i.e. after the embeddings), says where the subject's fact is
 * picked up.  Noise nu = 3 sigma over the subject tokens of every triple's
 * first prompt, unless given.
 *
 * Relational view of the heads (Elhage et al. 2021, "A Mathematical
 * Framework for Transformer Circuits": the OV circuit W_V W_O says what a
 * head writes for what it reads, the QK circuit W_Q W_K^T where it attends;
 * TransformerLens' SVD interpretation of the circuits' singular vectors,
 * Millidge & Black 2022).  Per query head h of layer l (GQA: kv head
 * h / (n_heads / n_kv_heads)), factored.h's circuits, d x d through d_head,
 * x @ M orientation:
 *
 *   OV = W_V W_O = U S V^T   u_i (input side: a residual direction the head
 *                            reads) read out through the embedding:
 *                            value(t) = W_E[t] . u_i;  v_i (output side: what
 *                            it writes) through the unembedding:
 *                            value(t) = v_i . W_U[:, t]
 *   QK = W_Q W_K^T = U S V^T u_i (query side) and v_i (key side), both
 *                            through the embedding: a query token high on
 *                            u_i attends to key tokens high on v_i
 *
 * Each singular pair's sign is fixed so that the value of largest magnitude
 * on the output (OV) or key (QK) side is positive; the k tokens with the
 * largest and the k with the smallest values of each side are listed.
 * Weights are read as stored (norm weights not folded in).
 *
 * DOT output (GraphViz): one node per distinct subject or object text
 * (subjects boxes, objects ellipses), one edge per triple labelled with the
 * relation and the probability, penwidth 1 + 4 * prob, dashed when the
 * triple is not stable; strings are quoted with '"' and '\' escaped and
 * control characters written as spaces.
 *
 * Every result is owned by the caller (the _free functions). */
#ifndef ARRAKIS_TOOL_KG_H
#define ARRAKIS_TOOL_KG_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_kg_relation {
    const char *name;
    const char *const *templates;
    int n_templates;
} ark_kg_relation;

/* The template with every "{s}" replaced by subject (*out malloc'd);
 * ARK_ERR_ARG when the template has no "{s}". */
ark_status ark_kg_fill(const char *tmpl, const char *subject, char **out);

typedef struct ark_kg_opts {
    int max_tokens;      /* object tokens, greedy (>= 1) */
    int32_t stop_token;  /* stop before this token (-1: only the tokenizer's EOS) */
    int top_k;           /* alternatives listed per prompt (>= 0) */
    bool lens;           /* logit-lens layers */
    bool causal;         /* causal-trace peak of each triple */
    int trace_kind;      /* ark_trace_kind (0 = resid) */
    int trace_window;    /* MLP/attention windows (ROME: 10) */
    int trace_samples;   /* noise samples (ROME: 10) */
    double trace_noise;  /* nu; <= 0: 3 sigma */
    uint64_t seed;
    int batch;           /* prompts per batched run (0: 64) */
} ark_kg_opts;
ark_kg_opts ark_kg_opts_default(void); /* 1 token, no stop, top 5, lens on, no trace, window 10, 10 samples */

/* One filled template. */
typedef struct ark_kg_prompt {
    char *text;
    int T;                  /* tokens */
    int32_t *pred;          /* (n_pred) the greedy continuation */
    int n_pred;
    double first_prob, sequence_prob;
    int32_t *top_ids;       /* (k) the top-k next tokens */
    float *top_probs;       /* (k) */
    int k;
    double object_prob;     /* the triple's object's first token under this prompt */
    int object_rank;
    int lens_layer, lens_stable_layer;   /* -1: none (or lens off) */
} ark_kg_prompt;

typedef struct ark_kg_trace {
    bool done;
    int row, pos;           /* the peak */
    char row_name[64];
    double ie;              /* its indirect effect */
    int subj_row, subj_pos; /* the peak over the subject's tokens (rows >= 1
                               for resid: after the embeddings) */
    char subj_row_name[64];
    double subj_ie;
    double p_clean, p_corrupted, total_effect;
    int subj_begin, subj_end;
} ark_kg_trace;

typedef struct ark_kg_triple {
    int subject, relation;  /* indices into the inputs */
    int n_prompts;          /* the relation's templates */
    ark_kg_prompt *prompts;
    int32_t *object;        /* (n_object) the majority object */
    int n_object;
    char *object_text;      /* decoded, surrounding white space trimmed */
    int votes;
    double agreement;
    bool stable, majority;
    double prob;            /* prompts[0].object_prob */
    int rank, lens_layer;   /* prompts[0]'s */
    ark_kg_trace trace;
} ark_kg_triple;

typedef struct ark_kg {
    int n_layers;
    int n;                  /* n_subjects * n_relations, subject-major */
    ark_kg_triple *triples;
    double sigma, noise;    /* the causal trace's noise (0 without it) */
} ark_kg;

/* The triples of every subject under every relation. */
ark_status ark_kg_extract(ark_model *m, const ark_tokenizer *tok, const char *const *subjects, int n_subjects,
                          const ark_kg_relation *relations, int n_relations, const ark_kg_opts *o, ark_kg *out);
void ark_kg_free(ark_kg *g);

/* The graph as GraphViz DOT text (*out malloc'd); subjects / relations are
 * the inputs ark_kg_extract was given. */
ark_status ark_kg_dot(const ark_kg *g, const char *const *subjects, const ark_kg_relation *relations, char **out);
/* s as a DOT quoted string (with the quotes; malloc'd). */
char *ark_kg_dot_quote(const char *s);

/* ---- the heads' relational view ---- */

typedef struct ark_kg_side {
    int32_t *top, *bottom;  /* (k) ids, largest / smallest values first */
    float *top_val, *bottom_val;
} ark_kg_side;

typedef struct ark_kg_direction {
    float s;                /* singular value */
    ark_kg_side a;          /* OV: input (W_E); QK: query (W_E) */
    ark_kg_side b;          /* OV: output (W_U); QK: key (W_E) */
} ark_kg_direction;

typedef struct ark_kg_head {
    int layer, head;
    int r;                  /* singular values of each circuit (d_head) */
    float *ov_s, *qk_s;     /* (r) descending */
    int n, k;               /* directions kept, tokens per end */
    ark_kg_direction *ov, *qk; /* (n) */
} ark_kg_head;

/* The view of the heads (layer, head) given as n_heads pairs (NULL: every
 * head of every layer, layer-major), n_vectors singular directions each and
 * k tokens per end. *out (n_out) freed with ark_kg_heads_free. */
ark_status ark_kg_heads(const ark_model *m, const int *layer_head, int n_heads, int n_vectors, int k,
                        ark_kg_head **out, int *n_out);
void ark_kg_heads_free(ark_kg_head *h, int n);

#ifdef __cplusplus
}
#endif
#endif
