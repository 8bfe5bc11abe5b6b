/* Knowledge probing (the `knowledge` tool): linear probes on cached
 * activations, control tasks, difference-of-means directions and the
 * true/false probe.
 *
 * Activations.  For each example (a token row) one vector is taken from one
 * hook point per layer (blocks.L.hook_resid_post by default; any hook given
 * as TransformerLens shorthand, run.h's ark_hook_shorthand: resid_pre,
 * resid_mid, attn_out, mlp_out, post, z, ...) at one position of the row:
 * its last real token, a given index (negative: from the end of the row's
 * real tokens), or the first occurrence of a given token.  The vector is the
 * activation's trailing dimensions flattened (d_model for the residual
 * stream, d_mlp for mlp.hook_post, h * d_head for attn.hook_z); the
 * attention maps (hook_pattern, hook_attn_scores) have no per-position
 * vector and are refused.
 *
 * Linear probe (Alain & Bengio 2016, "Understanding intermediate layers
 * using linear classifier probes"): multinomial logistic regression on
 * standardised features.  With mu, sigma (d) the mean and the population
 * standard deviation of each feature over the training rows (sigma := 1
 * where it is below 1e-8; with standardisation off, mu = 0 and sigma = 1),
 *
 *   z_i      = (x_i - mu) / sigma                                    // (d)
 *   logits_i = W z_i + b                       W (k, d), b (k)
 *   p_i      = softmax(logits_i)
 *   J(W, b)  = (1/n) sum_i -log p_i[y_i]  +  (lambda/2) ||W||_F^2
 *
 * over the n training rows (b is not penalised).  J is minimised with
 * full-batch L-BFGS (memory 10, backtracking Armijo line search; Nocedal &
 * Wright, "Numerical Optimization", algorithm 7.5) in double precision from
 * W = 0, b = 0, until ||grad J||_2 <= tol or max_iter iterations.  The
 * gradient is
 *
 *   dJ/dW = (1/n) sum_i (p_i - e_{y_i}) z_i^T + lambda W,   dJ/db = (1/n) sum_i (p_i - e_{y_i})
 *
 * A class with no training row is left out of the fit: its row of W is 0
 * and its bias ARK_PROBE_ABSENT_BIAS, so it is never predicted (and adds
 * nothing to the gradient).  The prediction is argmax_c logits_i[c] (ties:
 * the lower class index).
 *
 * Classes are the distinct label strings, sorted bytewise (so "false" <
 * "true" and "0" < "1"); entities are the distinct entity strings, in order
 * of first appearance.
 *
 * Train/test split by entity (so that no entity's facts leak from training
 * into testing): the entities are shuffled (seeded Fisher-Yates) and the
 * first round(test_fraction * n_entities) go to the test set — at least one
 * when test_fraction > 0 and there are two or more entities, and never all
 * of them.
 *
 * Control task (Hewitt & Liang 2019, "Designing and Interpreting Probes
 * with Control Tasks"): every entity (their "word type") gets a random label,
 * the same for all its examples: the entities' own labels (the label of each
 * entity's first example) permuted at random (seeded), so the control task
 * has the task's label distribution over entities.  A probe of the same
 * kind is fit to the control labels on the same split;
 *
 *   selectivity = test accuracy (task) - test accuracy (control).
 *
 * With a split by entity the control task's test accuracy is at chance:
 * held-out entities' control labels are independent of everything seen in
 * training.  Its train accuracy shows how much the probe can memorise.
 *
 * Difference of means (Marks & Tegmark 2023, "The Geometry of Truth"): on
 * the raw (unstandardised) training activations,
 *
 *   dom[c]  = mean(x_i : y_i = c) - mean(x_i : y_i != c)   per class c (class vs rest)
 *   vector  = mean(x_i : y_i = classes[1]) - mean(x_i : y_i = classes[0])   (two classes)
 *
 * each normalised to unit length (0 where undefined).  With two classes the
 * difference-of-means classifier assigns x to classes[1] when
 * x . vector > (m_0 + m_1) / 2, m_c = mean(x_i . vector : y_i = c) over the
 * training rows.
 *
 * True/false probe: pairs of a true and a false statement; the score of a
 * statement is its activation along a unit direction u, s = x . u, with u
 *   - read from a file (a saved probe's "vector", a steering vector), or
 *   - the unit difference of means mean(x_true) - mean(x_false) over the
 *     training pairs (split by entity, as above), or
 *   - per statement, the unembedding direction of the token that follows the
 *     read position, W_U[:, ids[p + 1]] / ||W_U[:, ids[p + 1]]|| ("unembed":
 *     how far the stream at p points towards the statement's own next token,
 *     the logit lens without the final norm; read at the token before the
 *     claimed object, it scores the object the statement claims).
 *
 *   separation     = (mean(s_true) - mean(s_false)) / sqrt((var(s_true) + var(s_false)) / 2)
 *                    (Cohen's d; sample variances, n - 1)
 *   pair_accuracy  = fraction of pairs with s_true > s_false
 *   sign_accuracy  = fraction of statements on their side of the threshold
 *                    t = (mean(s_true) + mean(s_false)) / 2 of the fitting
 *                    pairs: s > t for true ones, s <= t for false ones
 *
 * Saved probes (ark_probe_save): STEM.safetensors with "W" (k, d), "b" (k),
 * "mean" (d), "std" (d) (the probe above: logits = W ((x - mean) / std) + b),
 * "dom" (k, d) (the unit class-vs-rest directions) and, for two classes,
 * "vector" (d) = the unit difference-of-means direction, which
 * `arrakis run --steer HOOK:STEM.safetensors[:ALPHA]` and write_read's
 * file:STEM.safetensors:vector read; STEM.json describes it (hook, layer,
 * classes, d, position, lambda, accuracies).
 *
 * Every result is owned by the caller (the _free functions). */
#ifndef ARRAKIS_TOOL_KNOWLEDGE_H
#define ARRAKIS_TOOL_KNOWLEDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The bias of a class that had no training row. */
#define ARK_PROBE_ABSENT_BIAS (-1e30f)

/* ---- datasets ---- */

/* A labelled dataset of texts. */
typedef struct ark_probe_dataset {
    int n;                 /* examples */
    char **text;           /* (n) */
    char **label_str;      /* (n) */
    char **entity_str;     /* (n) */
    int *label;            /* (n) class index (after ark_probe_dataset_index) */
    int *entity;           /* (n) entity index */
    int n_classes, n_entities;
    char **classes;        /* (n_classes) sorted bytewise */
    char **entities;       /* (n_entities) in order of first appearance */
    int cap;
} ark_probe_dataset;

/* Append an example (strings copied; entity NULL: the text itself). */
ark_status ark_probe_dataset_add(ark_probe_dataset *ds, const char *text, const char *label, const char *entity);
/* Number the classes and entities (call after the last add). */
ark_status ark_probe_dataset_index(ark_probe_dataset *ds);
void ark_probe_dataset_free(ark_probe_dataset *ds);

/* ---- activations ---- */

typedef enum ark_probe_pos_kind {
    ARK_PROBE_POS_LAST = 0, /* the row's last real token */
    ARK_PROBE_POS_INDEX,    /* index (negative: from the end of the real tokens) */
    ARK_PROBE_POS_TOKEN     /* the first occurrence of token */
} ark_probe_pos_kind;

typedef struct ark_probe_pos {
    ark_probe_pos_kind kind;
    int index;
    int32_t token;
} ark_probe_pos;

/* The position of row `row` (ids, len real tokens) that pos selects;
 * ARK_ERR_ARG naming the row when it has none. */
ark_status ark_probe_position(const ark_probe_pos *pos, const int32_t *ids, int len, int row, int *out);

/* Activations of n rows at one hook point per layer. */
typedef struct ark_probe_acts {
    int n_layers;
    int *layers;    /* (n_layers) block indices (-1 for a point outside the blocks) */
    char **hooks;   /* (n_layers) full hook names */
    int n, d;
    int *pos;       /* (n) the position read in each row */
    float *X;       /* (n_layers, n, d) */
} ark_probe_acts;

/* Run the model over n token rows (in batches) and keep, for each of the
 * layers (NULL: every block 0..L-1; negative: from the end), the vector of
 * hook `hook` (shorthand or a full name with "{L}"-free layer, see above) at
 * the position pos selects.  A hook outside the blocks (embed, ln_final
 * points) gives one entry whatever the layers.  Runs stop after the last
 * block needed. */
ark_status ark_probe_collect(ark_model *m, const int32_t *const *rows, const int *lens, int n, const char *hook,
                             const int *layers, int n_layers, const ark_probe_pos *pos, ark_probe_acts *out);
void ark_probe_acts_free(ark_probe_acts *a);

/* ---- splits and control labels ---- */

/* is_test (n): 1 for the rows of the test entities (definition above). */
ark_status ark_probe_split(const int *entity, int n, int n_entities, double test_fraction, uint64_t seed,
                           uint8_t *is_test);
/* control (n): the control task's labels (definition above). */
ark_status ark_probe_control_labels(const int *label, const int *entity, int n, int n_entities, uint64_t seed,
                                    int *control);

/* ---- logistic regression ---- */

typedef struct ark_logreg_opts {
    double l2;        /* lambda >= 0 */
    int max_iter;     /* L-BFGS iterations */
    double tol;       /* stop when ||grad J||_2 <= tol */
    bool standardize; /* z = (x - mu) / sigma (else z = x) */
} ark_logreg_opts;
#define ARK_LOGREG_OPTS_INIT {1e-2, 1000, 1e-6, true}

typedef struct ark_logreg {
    int d, k;
    float *W;          /* (k, d) on standardised features */
    float *b;          /* (k) */
    float *mean, *std; /* (d) */
    int iterations;
    double loss;       /* J at the returned weights */
    double grad_norm;  /* ||grad J||_2 there */
    bool converged;    /* grad_norm <= tol */
} ark_logreg;

/* Fit on the rows of X (n, d) with use[i] != 0 (use NULL: every row);
 * y (n) in [0, k), k >= 2. */
ark_status ark_logreg_fit(const float *X, const int *y, int n, int d, int k, const uint8_t *use,
                          const ark_logreg_opts *o, ark_logreg *out);
/* The predicted class of one vector x (d); logits (k) may be NULL. */
int ark_logreg_predict(const ark_logreg *p, const float *x, float *logits);
/* Accuracy over the rows with use[i] == want (use NULL: every row); NaN
 * when there is none. */
double ark_logreg_accuracy(const ark_logreg *p, const float *X, const int *y, int n, const uint8_t *use, uint8_t want);
void ark_logreg_free(ark_logreg *p);

/* ---- difference of means ---- */

/* dom (k, d) unit class-vs-rest directions over the rows with use[i] ==
 * want (use NULL: every row). */
ark_status ark_probe_dom(const float *X, const int *y, int n, int d, int k, const uint8_t *use, uint8_t want,
                         float *dom);
/* v (d) = unit (mean of class pos - mean of class neg) over the same rows;
 * *threshold (may be NULL) = the midpoint of the two classes' mean
 * projections on v. */
ark_status ark_probe_mean_difference(const float *X, const int *y, int n, int d, int pos, int neg,
                                     const uint8_t *use, uint8_t want, float *v, double *threshold);

/* ---- a probe per layer ---- */

typedef struct ark_probe_opts {
    ark_logreg_opts fit;
    bool control;          /* also fit the control task */
} ark_probe_opts;

typedef struct ark_probe_result {
    int layer;
    int n_train, n_test;
    ark_logreg probe, control;            /* control: zeroed when not fit */
    double train_acc, test_acc;           /* NaN when a set is empty */
    double control_train_acc, control_test_acc, selectivity;
    float *dom;                           /* (k, d) */
    float *vector;                        /* (d), two classes only (else NULL) */
    double dom_threshold, dom_train_acc, dom_test_acc; /* two classes only */
} ark_probe_result;

/* Fit the probe (and the control probe, with control labels ctrl (n)) on
 * X (n, d) with labels y (n) of k classes, is_test (n) the split. */
ark_status ark_probe_fit(const float *X, int n, int d, const int *y, const int *ctrl, int k, const uint8_t *is_test,
                         const ark_probe_opts *o, ark_probe_result *out);
void ark_probe_result_free(ark_probe_result *r);

/* Write STEM.safetensors and STEM.json (definition above).  classes (k);
 * hook, pos_desc describe where the activations came from. */
ark_status ark_probe_save(const ark_probe_result *r, const char *const *classes, int k, const char *hook,
                          const char *pos_desc, double l2, const char *stem);

/* ---- true/false statements ---- */

typedef struct ark_truth_stats {
    int n_pairs;
    double mean_true, mean_false, mean_difference, pooled_sd, separation;
    double pair_accuracy, sign_accuracy, threshold;
} ark_truth_stats;

/* The statistics of scores s_true, s_false (n) of the pairs with use[i] ==
 * want (use NULL: every pair).  threshold: the midpoint to use (NaN: that
 * of these pairs). */
void ark_truth_stats_scores(const double *s_true, const double *s_false, int n, const uint8_t *use, uint8_t want,
                            double threshold, ark_truth_stats *out);
/* The same with scores along unit(u) (d): x_true, x_false (n, d). */
ark_status ark_truth_stats_compute(const float *x_true, const float *x_false, int n, int d, const float *u,
                                   const uint8_t *use, uint8_t want, double threshold, ark_truth_stats *out);

#ifdef __cplusplus
}
#endif
#endif
