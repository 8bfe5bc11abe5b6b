/* Superposition: (a) the covariance / PCA of a hook point's activations,
 * (b) sparse autoencoders (SAEs) trained on activations, saved and loaded in
 * SAELens' format and spliced into runs, (c) the toy model of superposition
 * of Elhage et al. 2022.  The tool "superposition" (src/tools/sae_tool.c)
 * and `arrakis pca`, `arrakis sae train|eval|features` are built on these;
 * docs/tools/superposition.md describes them.
 *
 * Activations come from a hook point streamed over a dataset
 * (tool_sparsity.h: ark_dataset, ark_stream_acts) or from a matrix [N, d]
 * (e.g. a safetensors file); a dataset's activations are never all held. */
#ifndef ARRAKIS_TOOL_SUPERPOSITION_H
#define ARRAKIS_TOOL_SUPERPOSITION_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"
#include "arrakis/tool_sparsity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== (a) covariance and PCA ====
 *
 * Over N activation vectors x_n (d dims): mean mu = (1/N) sum x_n and
 * covariance C = (1/N) sum (x_n - mu)(x_n - mu)^T  ([d, d], the population
 * covariance: divided by N, as numpy.cov(..., bias=True)).  Accumulated in
 * double precision batch by batch (each batch's scatter about its own mean
 * from BLAS ssyrk, merged with Chan et al.'s pairwise update), so nothing but
 * [d, d] is kept.  Principal components are C's eigenvectors, by decreasing
 * eigenvalue (LAPACK dsyevd through OpenBLAS); the variance along component
 * i is its eigenvalue lambda_i and its explained variance ratio
 * lambda_i / sum_j lambda_j (= lambda_i / trace C). */
typedef struct ark_pca {
    int d;
    int64_t n;
    float *mean;          /* (d) */
    float *components;    /* (d, d): row i = component i (unit norm; sign: its largest |entry| positive) */
    double *variance;     /* (d) eigenvalues, decreasing (negatives from rounding clipped to 0) */
    double total_variance;/* trace of C */
} ark_pca;

/* The streaming accumulator. */
typedef struct ark_cov_acc ark_cov_acc;
ark_status ark_cov_acc_new(int d, ark_cov_acc **out);
/* Add n rows (n, d). */
ark_status ark_cov_acc_add(ark_cov_acc *a, const float *x, int n);
/* Eigendecompose the covariance so far (*out: ark_pca_free). */
ark_status ark_cov_acc_pca(const ark_cov_acc *a, ark_pca *out);
/* The covariance so far (d, d), double. */
ark_status ark_cov_acc_covariance(const ark_cov_acc *a, double *cov);
void ark_cov_acc_free(ark_cov_acc *a);

/* PCA of a hook point's activations over a dataset. */
ark_status ark_pca_fit(ark_model *m, const ark_dataset *ds, const char *hook, const ark_stream_opts *so, ark_pca *out);
/* PCA of a matrix x (n, d). */
ark_status ark_pca_fit_matrix(const float *x, int64_t n, int d, ark_pca *out);
void ark_pca_free(ark_pca *p);

/* Coordinates on the first k components: c[i][j] = (x_i - mu) . v_j
 * (coords: (n, k)). */
ark_status ark_pca_project(const ark_pca *p, const float *x, int n, int k, float *coords);
/* Reconstruction from the first k components: mu + sum_{j<k} c_j v_j
 * (out: (n, d)); err (may be NULL) receives the mean squared error per row,
 * (1/n) sum_i |x_i - out_i|^2. */
ark_status ark_pca_reconstruct(const ark_pca *p, const float *x, int n, int k, float *out, double *err);
/* Move one vector x (d) along component `comp`: out[s] = x + (values[s] -
 * c_comp(x)) v_comp, so that out[s]'s coordinate on the component is
 * values[s] and every other coordinate is x's (out: (n_values, d)). */
ark_status ark_pca_interpolate(const ark_pca *p, const float *x, int comp, const float *values, int n_values, float *out);

/* ==== (b) sparse autoencoders ====
 *
 * Encoder and decoder (SAELens' "standard" and "topk" architectures, with
 * apply_b_dec_to_input):
 *   pre(x)  = (x - b_dec) W_enc + b_enc                (d_sae)
 *   f(x)    = ReLU(pre)                                 standard (ReLU + L1)
 *           = ReLU(TopK_k(pre))                         topk: the k largest
 *             pre-activations kept, the rest 0 (Gao et al. 2024, "Scaling
 *             and evaluating sparse autoencoders"; ReLU as in SAELens'
 *             TopK activation)
 *   x_hat   = f W_dec + b_dec                           (d_in)
 * Metrics over a set of N tokens:
 *   MSE     = (1/N) sum_n |x_hat_n - x_n|^2 (summed over d_in)
 *   Var     = (1/N) sum_n |x_n - mean(x)|^2
 *   FVE     = 1 - MSE / Var (fraction of variance explained)
 *   L0      = mean number of nonzero features per token
 *   density_i = fraction of tokens with f_i > 0; dead: density 0 on the
 *             set; dense: density > dense_threshold
 *   CE recovered = (CE_ablated - CE_sae) / (CE_ablated - CE_clean): next-token
 *             CE of the model with the hook point replaced by x_hat (no error
 *             term), with it zero-ablated, and untouched. */
typedef enum { ARK_SAE_STANDARD, ARK_SAE_TOPK } ark_sae_arch;

typedef struct ark_sae {
    ark_sae_arch arch;
    int d_in, d_sae, k;       /* k: TopK only */
    float *W_enc;             /* (d_in, d_sae) SAELens layout */
    float *b_enc;             /* (d_sae) */
    float *W_dec;             /* (d_sae, d_in) */
    float *b_dec;             /* (d_in) */
    bool apply_b_dec_to_input;/* SAELens' flag; false: pre = x W_enc + b_enc */
    char hook_name[128];      /* TransformerLens hook name, e.g. blocks.0.hook_resid_pre */
    int hook_layer;           /* -1 for global hook points */
    char model_name[256];
} ark_sae;

/* A fresh SAE: decoder rows random unit vectors (Gaussian, normalised;
 * seeded), W_enc = W_dec^T, b_enc = 0, b_dec = 0 (training sets it to the
 * data mean).  k is used by TopK only (1 <= k <= d_sae). */
ark_status ark_sae_init(ark_sae *s, ark_sae_arch arch, int d_in, int d_sae, int k, uint64_t seed);
void ark_sae_free(ark_sae *s);

/* Features f (n, d_sae) of n rows x (n, d_in); reconstruction (n, d_in). */
ark_status ark_sae_encode(const ark_sae *s, const float *x, int n, float *f);
ark_status ark_sae_decode(const ark_sae *s, const float *f, int n, float *x_hat);

/* SAELens' format in folder dir: cfg.json (d_in, d_sae, hook_name,
 * hook_layer, hook_head_index null, architecture "standard"/"topk",
 * activation_fn_str "relu"/"topk", activation_fn_kwargs {"k": k}, k,
 * apply_b_dec_to_input, normalize_activations "none", dtype "float32",
 * device "cpu", model_name, context_size, prepend_bos) and
 * sae_weights.safetensors (W_enc [d_in, d_sae], b_enc [d_sae], W_dec
 * [d_sae, d_in], b_dec [d_in], float32).  Loading accepts SAELens folders
 * of these two architectures in F32/F16/BF16 (other architectures, e.g.
 * jumprelu or gated, and normalize_activations other than "none" are
 * refused naming the field). */
ark_status ark_sae_save(const ark_sae *s, const char *dir);
ark_status ark_sae_load(const char *dir, ark_sae *out);

/* ---- training ----
 *
 * Loss per batch of B rows (activations scaled by the dataset factor s
 * below):
 *   L = (1/B) sum_b |x_hat_b - x_b|^2 + l1 (1/B) sum_b sum_i f_bi |W_dec,i|
 * (the L1 term weighs each feature by its decoder norm, Anthropic's April
 * 2024 update; it is absent for TopK).  Every step: gradients by hand
 * (sparse for TopK: only the k active features of each row; dense BLAS
 * sgemm for ReLU), the component of each decoder row's gradient parallel to
 * the row removed (SAELens' remove_gradient_parallel_to_decoder_directions),
 * Adam (Kingma & Ba 2015, bias-corrected; own implementation), then every
 * decoder row renormalised to unit norm — so |W_dec,i| = 1 in every forward
 * pass and the L1 term is l1 * sum f.  The learning rate is constant, then
 * decays linearly to 0 over the last lr_decay fraction of the steps.
 * Initialisation: ark_sae_init (seeded), then b_dec = the mean of the first
 * batch (the mean rather than the geometric median).
 * Scale: with normalize, activations are multiplied by s = sqrt(d_in /
 * E|x - mean|^2) (estimated on the first batch) so that l1 and lr mean the
 * same on every model; the saved SAE reads raw activations (b_enc and b_dec
 * are divided by s at the end; W_enc, W_dec are unchanged, features come out
 * in raw units).
 * Dead features: no activation in the last dead_window training tokens. */
typedef struct ark_sae_train_opts {
    int steps;            /* default 2000 */
    int batch;            /* rows per step (default 1024) */
    float lr;             /* default 1e-3 */
    float beta1, beta2, eps; /* Adam (0.9, 0.999, 1e-8) */
    float l1;             /* standard only (default 2) */
    float lr_decay;       /* fraction of steps of linear decay (default 0.2) */
    bool normalize;       /* default true */
    int64_t dead_window;  /* tokens (default: min(10^6, steps*batch/2)) */
    float dense_threshold;/* default 0.1 */
    int log_every;        /* record metrics every N steps (default steps/20; 0: never) */
    uint64_t seed;
} ark_sae_train_opts;
#define ARK_SAE_TRAIN_OPTS_INIT {2000, 1024, 1e-3f, 0.9f, 0.999f, 1e-8f, 2.0f, 0.2f, true, 0, 0.1f, -1, 0}

/* A source of training rows: fills dst (n, d) with the next n rows. */
typedef struct ark_act_source ark_act_source;
/* Rows of a matrix x (n, d) (borrowed), visited in a seeded random order,
 * reshuffled every epoch. */
ark_status ark_act_source_matrix(const float *x, int64_t n, int d, uint64_t seed, ark_act_source **out);
/* Activations of `hook` streamed over the dataset (cycling through it),
 * through a shuffle buffer of buffer_rows rows (default 16 * 4096 when 0):
 * the buffer is filled from consecutive prompts, shuffled (seeded), and
 * served once. */
ark_status ark_act_source_model(ark_model *m, const ark_dataset *ds, const char *hook, const ark_stream_opts *so,
                                int buffer_rows, uint64_t seed, ark_act_source **out);
int ark_act_source_width(const ark_act_source *s);
ark_status ark_act_source_next(ark_act_source *s, float *dst, int n);
/* Rows served so far, and full passes over the data completed. */
int64_t ark_act_source_served(const ark_act_source *s);
int ark_act_source_epochs(const ark_act_source *s);
void ark_act_source_free(ark_act_source *s);

typedef struct ark_sae_log {
    int step;
    double mse, fve, l0, loss; /* on that step's batch (raw units) */
    double seconds;            /* wall time of that step (drawing its batch excluded) */
} ark_sae_log;

typedef struct ark_sae_train_report {
    int steps;
    int64_t tokens;
    double seconds;
    double scale;         /* s (1 without normalize) */
    double mse, fve, l0;  /* the last batch */
    int *dead;            /* features dead at the end (window above), ascending */
    int n_dead;
    ark_sae_log *log;
    int n_log;
} ark_sae_train_report;

/* Train s (from ark_sae_init: its arch, k and seed) on rows from src. */
ark_status ark_sae_train(ark_sae *s, ark_act_source *src, const ark_sae_train_opts *o, ark_sae_train_report *rep);
void ark_sae_train_report_free(ark_sae_train_report *r);

/* ---- evaluation ---- */
typedef struct ark_sae_metrics {
    int64_t n;            /* tokens evaluated */
    int d_sae;
    double mse, var, fve, l0;
    double *density;      /* (d_sae) */
    int *dead, n_dead;    /* density 0 on the set */
    int *dense, n_dense;  /* density > dense_threshold */
    float dense_threshold;
    bool has_ce;
    double ce_clean, ce_sae, ce_ablated, ce_recovered;
} ark_sae_metrics;

ark_status ark_sae_eval_matrix(const ark_sae *s, const float *x, int64_t n, float dense_threshold, ark_sae_metrics *out);
/* Over the dataset's activations at s->hook_name; with_ce adds the three
 * next-token losses and CE recovered. */
ark_status ark_sae_eval_model(const ark_sae *s, ark_model *m, const ark_dataset *ds, const ark_stream_opts *so,
                              float dense_threshold, bool with_ce, ark_sae_metrics *out);
void ark_sae_metrics_free(ark_sae_metrics *mt);

/* Cosine match of known directions: for each row of dirs (n, d_in), the
 * largest cosine with any decoder row (best_cos) and that feature's index. */
ark_status ark_sae_match(const ark_sae *s, const float *dirs, int n, float *best_cos, int *best_feature);

/* ---- splicing into a run ----
 * A MODIFY hook at s->hook_name (on every run of the plan) that encodes the
 * activation x, optionally zeroes some features, and writes
 *   x_hat                    (use_error_term false: the SAE replaces x)
 *   x_hat + (x - x_hat_0)    (use_error_term true: the error of the
 *                             unmodified reconstruction x_hat_0 is added
 *                             back, so with no feature edited the run is
 *                             unchanged; SAELens' use_error_term) */
typedef struct ark_sae_splice_opts {
    bool use_error_term;
    bool cache_features;  /* keep the last run's features (B, T, d_sae) */
    const int *ablate;    /* features set to 0 before decoding (copied) */
    int n_ablate;
} ark_sae_splice_opts;

typedef struct ark_sae_splice ark_sae_splice;
/* The splice is owned by the plan (freed with it); sae must outlive the plan. */
ark_status ark_plan_add_sae(ark_plan *p, const ark_sae *sae, const ark_sae_splice_opts *o, ark_sae_splice **out);
/* The features of the last run (B, T, d_sae), or NULL before a run or
 * without cache_features; owned by the splice. */
const ark_tensor *ark_sae_splice_features(const ark_sae_splice *sp);

/* ==== (c) the toy model of superposition ====
 *
 * Elhage et al. 2022, "Toy Models of Superposition", section 2: n features
 * x_i, each 0 with probability S (the sparsity) and otherwise uniform in
 * [0, 1], mapped through m < n dimensions and back:
 *   h = W x,  x' = ReLU(W^T h + b)      W (m, n), b (n)
 * trained with Adam on the importance-weighted squared error
 *   L = (1/B) sum_b sum_i I_i (x_i - x'_i)^2,   I_i = importance_decay^i.
 * Inspection per feature i: |W_i| (the norm of its column: ~1 when it is
 * represented, ~0 when not), its superposition sum_{j != i} (W^_i . W_j)^2
 * (W^_i = W_i / |W_i|: how much other features share its direction), and
 * represented = |W_i| > 0.5; dimensions per feature m / |W|_F^2.
 * The paper's result: dense features (S = 0) -> only about m features are
 * represented, orthogonally; as S grows, more than m features are
 * represented, in superposition. */
typedef struct ark_toy_opts {
    int n_features, m_hidden;  /* default 20, 5 */
    double sparsity;           /* S in [0, 1) */
    double importance_decay;   /* default 0.9 */
    int steps, batch;          /* default 5000, 1024 */
    float lr;                  /* default 1e-3 */
    uint64_t seed;
} ark_toy_opts;
#define ARK_TOY_OPTS_INIT {20, 5, 0.0, 0.9, 5000, 1024, 1e-3f, 0}

typedef struct ark_toy {
    int n, m;
    double sparsity;
    float *W;            /* (m, n) */
    float *b;            /* (n) */
    float *importance;   /* (n) */
    double loss;         /* mean loss over the last 100 steps */
} ark_toy;

ark_status ark_toy_train(const ark_toy_opts *o, ark_toy *out);
/* norms, superposition: (n) each; represented count and dims per feature
 * (any output may be NULL). */
void ark_toy_inspect(const ark_toy *t, float *norms, float *superposition, int *n_represented, double *dims_per_feature);
void ark_toy_free(ark_toy *t);

#ifdef __cplusplus
}
#endif
#endif
