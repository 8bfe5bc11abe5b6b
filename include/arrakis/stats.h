/* Statistics for experiments: two-sample and paired hypothesis tests on a
 * metric (e.g. the logit difference with and without an ablation, over
 * prompts), effect sizes, and ark_test_hypothesis(), which runs a null and
 * an alternative function n times, tests, states the decision at level α
 * and records the test in an experiment run.
 *
 * Conventions shared by every function here.
 *   Samples  a (size na) and b (size nb), doubles; every value must be
 *            finite and each sample needs at least 2 values.  Paired tests
 *            need na == nb and work on the differences d_i = a_i - b_i.
 *   The difference tested is always  Δ = mean(a) - mean(b)  (paired: the
 *            mean of d, the same number).  H0: Δ = 0.
 *   Alternatives  two-sided (H1: Δ ≠ 0), greater (H1: Δ > 0), less
 *            (H1: Δ < 0).  p_value is the p-value under the chosen one;
 *            the three p-values are always all reported.
 *   Confidence intervals follow the alternative, as R's t.test does:
 *            two-sided [lo, hi] at level 1-α; greater [lo, +inf);
 *            less (-inf, hi].  (+-inf appear as null in JSON.)
 *   Decision  reject H0 iff p_value <= α (tests with a p-value), or iff the
 *            interval excludes 0 (bootstrap).
 *   Variances are the unbiased sample variances (denominator n-1),
 *            computed in two passes.
 *   p-values and quantiles of the t and normal distributions come from GSL
 *            (gsl_cdf_tdist_P/Q/Pinv, gsl_cdf_ugaussian_P/Pinv).
 *
 * Errors (ARK_ERR_ARG, message naming the argument): a sample with fewer
 * than 2 values ("a: needs at least 2 values, got 1"), a value that is not
 * finite ("b[3]: not a finite number"), paired samples of unequal length,
 * α outside (0, 1), and for the t-tests a zero standard error (constant
 * data: the t statistic is undefined — the permutation test and the
 * bootstrap still work).  Reentrant: no global state; the random tests are
 * seeded and reproducible on every platform (xoshiro256** seeded by
 * splitmix64 from opts.seed). */
#ifndef ARRAKIS_STATS_H
#define ARRAKIS_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "arrakis/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_stats_test {
    ARK_STATS_TTEST = 0,    /* Welch's t-test, or the paired t-test with opts.paired */
    ARK_STATS_PERMUTATION,  /* label permutations, or sign flips with opts.paired */
    ARK_STATS_BOOTSTRAP     /* bootstrap confidence interval of Δ (pairs resampled with opts.paired) */
} ark_stats_test;

typedef enum ark_alternative {
    ARK_ALT_TWO_SIDED = 0,  /* H1: Δ ≠ 0 */
    ARK_ALT_GREATER,        /* H1: Δ > 0 */
    ARK_ALT_LESS            /* H1: Δ < 0 */
} ark_alternative;

typedef enum ark_boot_method {
    ARK_BOOT_BCA = 0,       /* bias-corrected and accelerated (default) */
    ARK_BOOT_PERCENTILE
} ark_boot_method;

/* Default number of Monte Carlo permutations / bootstrap resamples. */
#define ARK_STATS_DEFAULT_SAMPLES 10000
/* Default exact-enumeration limit: the permutation test enumerates every
 * rearrangement when there are at most this many (C(na+nb, na) label
 * assignments, or 2^n sign patterns), otherwise it samples. */
#define ARK_STATS_EXACT_LIMIT 1048576.0

/* Options; all-zero is the default everywhere ({0}: α = 0.05, two-sided,
 * unpaired, 10000 samples, seed 0, exact limit 2^20, BCa). */
typedef struct ark_stats_opts {
    double alpha;                 /* significance level in (0, 1); 0: 0.05 */
    ark_alternative alternative;
    int paired;                   /* paired samples (a_i with b_i) */
    long samples;                 /* Monte Carlo permutations N / bootstrap resamples B; 0: default; >= 1 */
    uint64_t seed;                /* seed of the random permutations / resamples */
    double exact_limit;           /* 0: ARK_STATS_EXACT_LIMIT; < 0: never enumerate; at most 1e9 */
    ark_boot_method boot_method;
} ark_stats_opts;

/* The result of one test.  Fields that do not apply to a test are NAN
 * (numbers) or 0 / NULL; strings are static. */
typedef struct ark_stats_result {
    const char *test;             /* "welch_t", "paired_t", "permutation", "bootstrap" */
    int paired;
    ark_alternative alternative;
    double alpha;
    long n_a, n_b;
    double mean_a, mean_b, sd_a, sd_b; /* sample means and SDs (n-1) */
    double mean_diff;             /* Δ = mean(a) - mean(b) */
    double sd_diff;               /* paired: SD of the differences; else NAN */
    const char *statistic_name;   /* "t" or "mean_diff" */
    double statistic;             /* t (t-tests); Δ (permutation, bootstrap) */
    double df;                    /* degrees of freedom (t-tests) */
    double se;                    /* t-tests: standard error of Δ; bootstrap: SD of the bootstrap distribution */
    double p_value;               /* under `alternative` (NAN for the bootstrap) */
    double p_two_sided, p_greater, p_less;
    double ci_low, ci_high;       /* (1-α) interval of Δ following the alternative (permutation: NAN) */
    const char *ci_method;        /* "t", "percentile", "bca" or NULL */
    const char *effect_name;      /* "cohen_d" (unpaired) or "d_z" (paired) */
    double effect_size;
    /* permutation test */
    int exact;                    /* 1: every rearrangement enumerated; 0: Monte Carlo */
    double permutations;          /* rearrangements enumerated, or N sampled */
    double extreme;               /* how many were at least as extreme as observed (chosen alternative) */
    /* bootstrap and Monte Carlo permutations */
    long resamples;               /* B (bootstrap) or N (Monte Carlo permutations); 0 when exact */
    uint64_t seed;
    double z0, acceleration;      /* BCa bias correction and acceleration (NAN for percentile) */
    const char *note;             /* e.g. why BCa fell back to the percentile interval; NULL if none */
    /* decision */
    int reject;                   /* 1: reject H0 at α */
    char statement[512];          /* "reject H0: ..." or "do not reject H0: ..." */
} ark_stats_result;

/* Cohen's d with the pooled standard deviation (Cohen 1988, §2.2):
 *   d = (mean(a) - mean(b)) / s_p,
 *   s_p = sqrt(((na-1) s_a² + (nb-1) s_b²) / (na + nb - 2)).
 * NAN when na + nb < 3; ±inf/NAN when s_p = 0. */
double ark_cohen_d(const double *a, long na, const double *b, long nb);

/* Cohen's d_z for paired samples (Cohen 1988, §2.3.5; Lakens 2013, eq. 6):
 *   d_z = mean(d) / sd(d),  d_i = a_i - b_i  (sd with n-1).
 * NAN when n < 2. */
double ark_cohen_dz(const double *a, const double *b, long n);

/* Welch's unequal-variance t-test (Welch 1947, Biometrika 34:28-35;
 * Satterthwaite 1946 for the degrees of freedom):
 *   v_a = s_a²/na, v_b = s_b²/nb,  se = sqrt(v_a + v_b),
 *   t = Δ / se,
 *   df = (v_a + v_b)² / (v_a²/(na-1) + v_b²/(nb-1))   (Welch–Satterthwaite),
 *   p_two_sided = 2 Q_t(|t|; df), p_greater = Q_t(t; df), p_less = P_t(t; df),
 *   CI: Δ ± t_{1-α/2; df} se  (one-sided: Δ - t_{1-α; df} se, or + ...).
 * Effect size: Cohen's d (pooled SD).  Assumes independent samples from
 * roughly normal populations (or large ones); variances may differ. */
ark_status ark_stats_welch(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                           ark_stats_result *out);

/* The paired t-test (Student 1908, "The probable error of a mean"), a
 * one-sample t-test on d_i = a_i - b_i:
 *   t = mean(d) / (sd(d)/sqrt(n)),  df = n - 1,  p and CI as above.
 * Effect size: d_z.  Assumes independent pairs with roughly normal
 * differences.  opts->paired is ignored (this test is paired). */
ark_status ark_stats_paired_t(const double *a, const double *b, long n, const ark_stats_opts *opts,
                              ark_stats_result *out);

/* The permutation test of Δ (Fisher 1935; Pitman 1937; Good 2005,
 * "Permutation, Parametric and Bootstrap Tests of Hypotheses").
 *   Unpaired: the pooled na+nb values are re-split into groups of sizes na
 *     and nb; the statistic is Δ* = mean(group a) - mean(group b).
 *   Paired: the signs of the differences are flipped at random;
 *     Δ* = mean(s_i d_i), s_i = ±1.
 *   "At least as extreme": greater Δ* >= Δ, less Δ* <= Δ, two-sided
 *     |Δ*| >= |Δ|, with ties judged with a tolerance of
 *     1e-12 · (na+nb) · max|x| (rounding of equal sums).
 *   Exact when the number of rearrangements (C(na+nb, na), or 2^n) is at
 *     most opts->exact_limit (default 2^20): every one is enumerated, the
 *     observed one included, and p = (#extreme) / (#rearrangements).
 *   Otherwise N = opts->samples random rearrangements (seeded) and
 *     p = (b + 1) / (N + 1), b = #extreme among them (Phipson & Smyth
 *     2010, "Permutation p-values should never be zero", SAGMB 9(1)) —
 *     an exact-level test, never 0.
 * Assumes exchangeability under H0 (unpaired: identical distributions;
 * paired: differences symmetric about 0).  No interval (ci_* NAN). */
ark_status ark_stats_permutation(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                                 ark_stats_result *out);

/* A bootstrap confidence interval of Δ (Efron & Tibshirani 1993, "An
 * Introduction to the Bootstrap", ch. 13-14), B = opts->samples resamples:
 *   unpaired: a and b resampled independently with replacement,
 *     Δ*_k = mean(a*) - mean(b*);  paired: pairs resampled, Δ*_k = mean(d*).
 *   Quantiles q(p) of the Δ*_k: linear interpolation between order
 *     statistics (Hyndman & Fan 1996, type 7: h = (B-1) p).
 *   Percentile (E&T §13.3): [q(α/2), q(1-α/2)].
 *   BCa (E&T §14.3, eqs. 14.9-14.15): α1 = Φ(z0 + (z0 + z_{α/2}) /
 *     (1 - â (z0 + z_{α/2}))), α2 likewise with z_{1-α/2}; interval
 *     [q(α1), q(α2)];  z0 = Φ⁻¹(#{Δ*_k < Δ} / B);  â from the jackknife,
 *     â = Σ_j Σ_i U_ji³ / n_j³ / (6 (Σ_j Σ_i U_ji² / n_j²)^{3/2}),
 *     U_ji = (n_j - 1)(θ̄_j(·) - θ_j(i)), θ_j(i) the statistic with value i
 *     of sample j left out (Efron 1987, JASA 82:171-185, the multi-sample
 *     form; with one sample it is E&T's eq. 14.15).
 *   One-sided alternatives use α in place of α/2 at the one finite end.
 *   If every Δ*_k is equal the interval is [Δ*, Δ*]; if BCa is undefined
 *   (z0 infinite: Δ lies outside the bootstrap distribution) the
 *   percentile interval is returned and `note` says so.
 * se is the SD of the Δ*_k.  No p-value; the decision is whether the
 * interval excludes 0.  Assumes the samples represent their populations
 * (moderate n: the percentile interval undercovers for small samples). */
ark_status ark_stats_bootstrap(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                               ark_stats_result *out);

/* The bootstrap distribution itself: dist (size opts->samples) receives the
 * Δ*_k in resampling order (the same ones ark_stats_bootstrap sorts). */
ark_status ark_stats_bootstrap_dist(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                                    double *dist);

/* Run `test` (Welch or paired t with opts->paired, permutation, bootstrap). */
ark_status ark_stats_run(ark_stats_test test, const double *a, long na, const double *b, long nb,
                         const ark_stats_opts *opts, ark_stats_result *out);

/* The result as JSON text (malloc'd; shape in docs/stats.md). */
char *ark_stats_json(const ark_stats_result *r);
/* A human summary, in the manner of R's t.test printout. */
void ark_stats_print(const ark_stats_result *r, FILE *f);
/* "two-sided", "greater", "less"; and the reverse (ARK_ERR_ARG on junk). */
const char *ark_alternative_name(ark_alternative alt);
ark_status ark_alternative_parse(const char *s, ark_alternative *out);

/* ---- hypothesis tests over functions ------------------------------- */

typedef struct ark_exp_run ark_exp_run; /* an experiment run (arrakis/bench.h) */

/* A metric: the i-th measurement (i = 0..n-1, e.g. prompt i) stored in
 * *value.  Returns ARK_OK, or an error (with its message) that stops the
 * test.  A non-finite value is an error. */
typedef ark_status (*ark_metric_fn)(void *ctx, int i, double *value);

typedef struct ark_hypothesis {
    const char *name;      /* what is claimed, e.g. "ablating L1H4 lowers the logit difference" (optional) */
    const char *metric;    /* the metric's name, e.g. "logit_diff" (optional) */
    ark_metric_fn null_fn; /* the baseline condition: sample b */
    void *null_ctx;
    ark_metric_fn alt_fn;  /* the condition under the alternative: sample a */
    void *alt_ctx;
    int n;                 /* each function is called for i = 0..n-1 (n >= 2) */
    ark_stats_test test;
    ark_stats_opts opts;   /* opts.paired pairs call i of both functions */
} ark_hypothesis;

/* Run h->alt_fn and h->null_fn for i = 0..n-1 (alternately: alt(i), then
 * null(i)), perform h->test on a = the alternative's values and b = the
 * null's (so Δ = mean(alt) - mean(null)), and state the decision at
 * h->opts.alpha.
 *   out   (optional) the test's result;
 *   json  (optional) malloc'd JSON: the test's JSON plus "hypothesis",
 *         "metric", "n" and "values": {"alternative": [...], "null": [...]};
 *   run   (optional) an experiment run: the JSON is attached to it as
 *         "hypothesis_test" (ark_exp_attach), and the p-value (when there
 *         is one) logged as metric "hypothesis_p_value".
 * Errors: ARK_ERR_ARG for a missing function or n < 2, a callback's own
 * error prefixed with "null_fn(i)" / "alt_fn(i)", the test's errors, and
 * the store's. */
ark_status ark_test_hypothesis(const ark_hypothesis *h, ark_exp_run *run, ark_stats_result *out, char **json);

#ifdef __cplusplus
}
#endif
#endif
