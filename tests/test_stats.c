/* Statistics: every expected value comes from outside the code under test —
 * published outputs (R's t.test on Student's sleep data and on its help
 * page's examples), values worked out by hand in the comments, exact
 * enumerations done in Python with rational arithmetic, or properties that
 * must hold (reproducibility, constant shifts, coverage, closed forms). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arrakis/arrakis.h"
#include "arrakis/bench.h"
#include "arrakis/stats.h"
#include "core/rng.h"
#include "testutil.h"

/* Student (1908) / Cushny & Peebles (1905): extra hours of sleep with two
 * drugs, the same ten patients (R's `sleep` data set). */
static const double sleep1[10] = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
static const double sleep2[10] = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};

#define NEAR(x, want, tol) assert_float_equal((x), (want), (tol))

/* R: t.test(extra ~ group, data = sleep)
 *   t = -1.8608, df = 17.776, p-value = 0.07939
 *   95 percent confidence interval: -3.3654832  0.2054832
 *   mean in group 1 0.75, mean in group 2 2.33 */
static void test_welch_sleep(void **state)
{
    (void)state;
    ark_stats_result r;
    assert_int_equal(ark_stats_welch(sleep1, 10, sleep2, 10, NULL, &r), ARK_OK);
    assert_string_equal(r.test, "welch_t");
    NEAR(r.mean_a, 0.75, 1e-12);
    NEAR(r.mean_b, 2.33, 1e-12);
    NEAR(r.mean_diff, -1.58, 1e-12);
    NEAR(r.statistic, -1.8608, 5e-5);
    NEAR(r.df, 17.776, 5e-4);
    NEAR(r.p_value, 0.07939, 5e-6);
    NEAR(r.ci_low, -3.3654832, 5e-8);
    NEAR(r.ci_high, 0.2054832, 5e-8);
    /* t < 0: the one-sided p-values split the two-sided one */
    NEAR(r.p_less, r.p_two_sided / 2, 1e-15);
    NEAR(r.p_greater, 1 - r.p_two_sided / 2, 1e-12);
    assert_false(r.reject);
    assert_non_null(strstr(r.statement, "do not reject H0"));
    /* Cohen's d: pooled SD with equal n is sqrt((s1^2 + s2^2)/2); R's
     * var(): s1^2 = 3.200556, s2^2 = 4.009000 -> sp = 1.898567, d = -0.8322 */
    assert_string_equal(r.effect_name, "cohen_d");
    NEAR(r.effect_size, -1.58 / sqrt((3.200556 + 4.009000) / 2), 1e-6);
}

/* R's ?t.test examples:
 *   t.test(1:10, y = c(7:20))       t = -5.4349, df = 21.982, p-value = 1.855e-05,
 *                                   CI -11.052802  -4.947198
 *   t.test(1:10, y = c(7:20, 200))  t = -1.6329, df = 14.165, p-value = 0.1245,
 *                                   CI -47.242900   6.376233 */
static void test_welch_r_examples(void **state)
{
    (void)state;
    double x[10], y[15];
    for (int i = 0; i < 10; i++) x[i] = i + 1;
    for (int i = 0; i < 14; i++) y[i] = i + 7;
    y[14] = 200;
    ark_stats_result r;
    assert_int_equal(ark_stats_welch(x, 10, y, 14, NULL, &r), ARK_OK);
    NEAR(r.statistic, -5.4349, 5e-5);
    NEAR(r.df, 21.982, 5e-4);
    NEAR(r.p_value, 1.855e-05, 5e-9);
    NEAR(r.ci_low, -11.052802, 5e-7);
    NEAR(r.ci_high, -4.947198, 5e-7);
    assert_true(r.reject);
    assert_non_null(strstr(r.statement, "reject H0: mean(a) - mean(b) = 0, in favour of mean(a) - mean(b) != 0"));
    assert_int_equal(ark_stats_welch(x, 10, y, 15, NULL, &r), ARK_OK);
    NEAR(r.statistic, -1.6329, 5e-5);
    NEAR(r.df, 14.165, 5e-4);
    NEAR(r.p_value, 0.1245, 5e-5);
    NEAR(r.ci_low, -47.242900, 5e-7);
    NEAR(r.ci_high, 6.376233, 5e-7);
}

/* R: t.test(extra ~ group, data = sleep, paired = TRUE)  (or with(sleep, t.test(extra[1:10], extra[11:20], paired = TRUE)))
 *   t = -4.0621, df = 9, p-value = 0.002833
 *   95 percent confidence interval: -2.4598858 -0.7001142
 *   mean difference -1.58 */
static void test_paired_sleep(void **state)
{
    (void)state;
    ark_stats_result r;
    assert_int_equal(ark_stats_paired_t(sleep1, sleep2, 10, NULL, &r), ARK_OK);
    assert_string_equal(r.test, "paired_t");
    NEAR(r.statistic, -4.0621, 5e-5);
    NEAR(r.df, 9, 0);
    NEAR(r.p_value, 0.002833, 5e-7);
    NEAR(r.ci_low, -2.4598858, 5e-8);
    NEAR(r.ci_high, -0.7001142, 5e-8);
    NEAR(r.mean_diff, -1.58, 1e-12);
    /* sd of the differences: R's sd() = 1.229995; d_z = mean/sd = t/sqrt(n) */
    NEAR(r.sd_diff, 1.229995, 5e-7);
    assert_string_equal(r.effect_name, "d_z");
    NEAR(r.effect_size, -1.58 / 1.229995, 1e-6);
    NEAR(r.effect_size, r.statistic / sqrt(10.0), 1e-12);
    assert_true(r.reject);

    /* one-sided, alternative less: p is half the two-sided one; the upper
     * bound is mean + t_{0.95, 9} se with the table value t_{0.95, 9} =
     * 1.833113 and se = 1.229995 / sqrt(10) = 0.3889587 -> -0.866995 */
    ark_stats_opts o = {.alternative = ARK_ALT_LESS};
    assert_int_equal(ark_stats_paired_t(sleep1, sleep2, 10, &o, &r), ARK_OK);
    NEAR(r.p_value, 0.002833 / 2, 5e-7);
    assert_true(isinf(r.ci_low) && r.ci_low < 0);
    NEAR(r.ci_high, -1.58 + 1.833113 * 0.3889587, 1e-6);
    o.alternative = ARK_ALT_GREATER;
    assert_int_equal(ark_stats_paired_t(sleep1, sleep2, 10, &o, &r), ARK_OK);
    NEAR(r.p_value, 1 - 0.002833 / 2, 5e-7);
    assert_false(r.reject);
    assert_true(isinf(r.ci_high) && r.ci_high > 0);
    /* the dispatcher: ttest + paired is the paired test */
    o = (ark_stats_opts){.paired = 1};
    assert_int_equal(ark_stats_run(ARK_STATS_TTEST, sleep1, 10, sleep2, 10, &o, &r), ARK_OK);
    assert_string_equal(r.test, "paired_t");
    /* alpha 0.001: the same p no longer rejects */
    o.alpha = 0.001;
    assert_int_equal(ark_stats_run(ARK_STATS_TTEST, sleep1, 10, sleep2, 10, &o, &r), ARK_OK);
    assert_false(r.reject);
}

/* a = {2, 4, 6}: mean 4, s^2 = (4 + 0 + 4)/2 = 4;  b = {1, 2, 3}: mean 2, s^2 = 1.
 * s_p = sqrt((2*4 + 2*1)/4) = sqrt(2.5);  d = 2 / sqrt(2.5) = 1.2649111.
 * Paired: a - b = {1, 2, 3}: mean 2, sd 1 -> d_z = 2. */
static void test_cohen(void **state)
{
    (void)state;
    double a[3] = {2, 4, 6}, b[3] = {1, 2, 3};
    NEAR(ark_cohen_d(a, 3, b, 3), 1.2649111, 1e-7);
    NEAR(ark_cohen_dz(a, b, 3), 2.0, 1e-12);
    /* unequal sizes: b2 = {1, 2, 3, 6}: mean 3, s^2 = (4+1+0+9)/3 = 14/3;
     * s_p = sqrt((2*4 + 3*14/3)/5) = sqrt(22/5) = 2.0976177; d = 1/2.0976177 */
    double b2[4] = {1, 2, 3, 6};
    NEAR(ark_cohen_d(a, 3, b2, 4), 1 / sqrt(22.0 / 5), 1e-12);
    assert_true(isnan(ark_cohen_dz(a, b, 1)));
}

/* Exact two-sample permutations by hand.  a = {3, 5}, b = {1, 2, 4}: the
 * pooled {1..5}; the C(5,2) = 10 splits give group-a sums 3,4,5,6,5,6,7,7,8,9
 * and Δ* = S/2 - (15 - S)/3 = (5S - 30)/6; observed S = 8 (Δ = 5/3).
 *   greater: S >= 8 -> {8, 9}: 2/10;  less: S <= 8: 9/10;
 *   two-sided: |5S - 30| >= 10 -> S >= 8 or S <= 4 -> {3, 4, 8, 9}: 4/10. */
static void test_perm_exact_hand(void **state)
{
    (void)state;
    double a[2] = {3, 5}, b[3] = {1, 2, 4};
    ark_stats_result r;
    assert_int_equal(ark_stats_permutation(a, 2, b, 3, NULL, &r), ARK_OK);
    assert_true(r.exact);
    NEAR(r.permutations, 10, 0);
    NEAR(r.p_greater, 0.2, 1e-15);
    NEAR(r.p_less, 0.9, 1e-15);
    NEAR(r.p_two_sided, 0.4, 1e-15);
    NEAR(r.p_value, 0.4, 1e-15);
    NEAR(r.extreme, 4, 0);
    NEAR(r.statistic, 5.0 / 3, 1e-12);
    assert_true(isnan(r.ci_low));
    /* Paired sign flips: a - b = {1, 2, 3}; the 8 sums ±1±2±3 are
     * 6, 4, 2, 0, 0, -2, -4, -6; observed 6: greater 1/8, two-sided 2/8, less 8/8. */
    double pa[3] = {2, 4, 6}, pb[3] = {1, 2, 3};
    ark_stats_opts o = {.paired = 1};
    assert_int_equal(ark_stats_permutation(pa, 3, pb, 3, &o, &r), ARK_OK);
    NEAR(r.permutations, 8, 0);
    NEAR(r.p_greater, 0.125, 1e-15);
    NEAR(r.p_two_sided, 0.25, 1e-15);
    NEAR(r.p_less, 1.0, 1e-15);
    assert_string_equal(r.effect_name, "d_z");
}

/* The sleep data.  Paired: the differences are -1.2 -2.4 -1.3 -1.3 0 -1.0
 * -1.8 -0.8 -4.6 -1.4, all negative but one zero, so only the all-negative
 * and all-positive sign patterns (each twice: the zero's sign is free) reach
 * |sum| = 15.8: two-sided 4/1024, less 2/1024, greater 1024/1024.
 * Unpaired: all C(20,10) = 184756 splits enumerated in Python with exact
 * rational arithmetic: greater 177621, less 7524, two-sided 15048. */
static void test_perm_exact_sleep(void **state)
{
    (void)state;
    ark_stats_result r;
    ark_stats_opts o = {.paired = 1};
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, &o, &r), ARK_OK);
    assert_true(r.exact);
    NEAR(r.permutations, 1024, 0);
    NEAR(r.p_two_sided, 4.0 / 1024, 1e-15);
    NEAR(r.p_less, 2.0 / 1024, 1e-15);
    NEAR(r.p_greater, 1.0, 1e-15);
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, NULL, &r), ARK_OK);
    assert_true(r.exact);
    NEAR(r.permutations, 184756, 0);
    NEAR(r.p_greater, 177621.0 / 184756, 1e-15);
    NEAR(r.p_less, 7524.0 / 184756, 1e-15);
    NEAR(r.p_two_sided, 15048.0 / 184756, 1e-15);
    NEAR(r.extreme, 15048, 0);
}

/* Monte Carlo: p = (b+1)/(N+1) close to the exact value (within 5 binomial
 * standard errors), reproducible for a seed, never below 1/(N+1). */
static void test_perm_monte_carlo(void **state)
{
    (void)state;
    ark_stats_result r, r2;
    long N = 20000;
    ark_stats_opts o = {.exact_limit = -1, .samples = N, .seed = 11};
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, &o, &r), ARK_OK);
    assert_false(r.exact);
    NEAR(r.permutations, N, 0);
    double p = 15048.0 / 184756, se = sqrt(p * (1 - p) / N);
    NEAR(r.p_two_sided, p, 5 * se);
    NEAR(r.p_two_sided, (r.extreme + 1) / (N + 1.0), 1e-15);
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, &o, &r2), ARK_OK);
    assert_memory_equal(&r.p_two_sided, &r2.p_two_sided, sizeof(double));
    o.seed = 12;
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, &o, &r2), ARK_OK);
    assert_true(r2.p_two_sided != r.p_two_sided);
    o.paired = 1;
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, &o, &r), ARK_OK);
    p = 4.0 / 1024, se = sqrt(p * (1 - p) / N);
    NEAR(r.p_two_sided, p, 5 * se);
    /* a shift no random split reaches: b = 0, so p = 1/(N+1) exactly
     * (Phipson & Smyth: never 0) */
    double a[20], b[20];
    for (int i = 0; i < 20; i++) a[i] = 100 + i, b[i] = i;
    ark_stats_opts o2 = {.exact_limit = -1, .samples = 999, .alternative = ARK_ALT_GREATER};
    assert_int_equal(ark_stats_permutation(a, 20, b, 20, &o2, &r), ARK_OK);
    NEAR(r.p_value, 1.0 / 1000, 1e-15);
    assert_true(r.reject);
    /* a small exact limit switches to sampling */
    o2 = (ark_stats_opts){.exact_limit = 5};
    double x[2] = {3, 5}, y[3] = {1, 2, 4};
    assert_int_equal(ark_stats_permutation(x, 2, y, 3, &o2, &r), ARK_OK);
    assert_false(r.exact);
    NEAR(r.p_two_sided, 0.4, 5 * sqrt(0.24 / ARK_STATS_DEFAULT_SAMPLES));
}

/* ---- bootstrap ------------------------------------------------------------ */

static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double Phi_inv(double p)
{
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (Phi(mid) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}
static int cmpd(const void *x, const void *y)
{
    double u = *(const double *)x, v = *(const double *)y;
    return (u > v) - (u < v);
}
/* Type-7 quantile: h = (B-1)p, linear between the order statistics around h. */
static double q7(const double *s, long n, double p)
{
    double h = (n - 1) * p;
    long i = (long)h;
    return i + 1 < n ? s[i] + (h - i) * (s[i + 1] - s[i]) : s[n - 1];
}

static void fill_normal(double *x, int n, double mu, double sd, uint64_t seed)
{
    ark_rng g;
    ark_rng_seed(&g, seed);
    for (int i = 0; i < n; i++) x[i] = mu + sd * ark_rng_normal(&g);
}

/* A seeded run is reproducible; another seed moves the interval. */
static void test_boot_reproducible(void **state)
{
    (void)state;
    ark_stats_result r1, r2, r3;
    ark_stats_opts o = {.samples = 2000, .seed = 5};
    assert_int_equal(ark_stats_bootstrap(sleep1, 10, sleep2, 10, &o, &r1), ARK_OK);
    assert_int_equal(ark_stats_bootstrap(sleep1, 10, sleep2, 10, &o, &r2), ARK_OK);
    assert_memory_equal(&r1.ci_low, &r2.ci_low, sizeof(double));
    assert_memory_equal(&r1.ci_high, &r2.ci_high, sizeof(double));
    o.seed = 6;
    assert_int_equal(ark_stats_bootstrap(sleep1, 10, sleep2, 10, &o, &r3), ARK_OK);
    assert_true(r3.ci_low != r1.ci_low || r3.ci_high != r1.ci_high);
    assert_string_equal(r1.test, "bootstrap");
    assert_string_equal(r1.ci_method, "bca");
    assert_int_equal(r1.resamples, 2000);
    assert_true(r1.ci_low < -1.58 && r1.ci_high > -1.58);
    assert_true(isnan(r1.p_value));
}

/* A constant shift: b = a + 0.75 paired gives every resample the
 * difference -0.75, so both intervals are [-0.75, -0.75]; two constant
 * samples unpaired likewise. */
static void test_boot_constant_shift(void **state)
{
    (void)state;
    double a[25], b[25];
    fill_normal(a, 25, 1, 2, 99);
    for (int i = 0; i < 25; i++) b[i] = a[i] + 0.75;
    for (int m = 0; m < 2; m++) {
        ark_stats_opts o = {.paired = 1, .samples = 500, .boot_method = m ? ARK_BOOT_PERCENTILE : ARK_BOOT_BCA};
        ark_stats_result r;
        assert_int_equal(ark_stats_bootstrap(a, 25, b, 25, &o, &r), ARK_OK);
        NEAR(r.ci_low, -0.75, 1e-12);
        NEAR(r.ci_high, -0.75, 1e-12);
        assert_true(r.reject);
        assert_non_null(strstr(r.statement, "excludes 0"));
    }
    double c3[3] = {3, 3, 3}, c1[4] = {1, 1, 1, 1};
    ark_stats_result r;
    assert_int_equal(ark_stats_bootstrap(c3, 3, c1, 4, NULL, &r), ARK_OK);
    NEAR(r.ci_low, 2, 0);
    NEAR(r.ci_high, 2, 0);
    NEAR(r.se, 0, 0);
    assert_non_null(r.note);
}

/* The interval from the distribution: sort it, take type-7 quantiles
 * (percentile), and for BCa z0 = Φ⁻¹(#{Δ* < Δ}/B) and the acceleration's
 * closed form for a difference of means: with U_ai = a_i - ā and
 * U_bi = b̄ - b_i (the jackknife terms),
 *   â = (Σ U_a³/na³ + Σ U_b³/nb³) / (6 (Σ U_a²/na² + Σ U_b²/nb²)^{3/2}),
 * then α1 = Φ(z0 + (z0 + z_{α/2})/(1 - â(z0 + z_{α/2}))) and so on. */
static void test_boot_interval_from_dist(void **state)
{
    (void)state;
    /* skewed data: squares of normals */
    double a[30], b[20];
    fill_normal(a, 30, 0, 1, 3);
    fill_normal(b, 20, 0, 1, 4);
    for (int i = 0; i < 30; i++) a[i] = a[i] * a[i] * 2;
    for (int i = 0; i < 20; i++) b[i] = b[i] * b[i];
    long B = 4000;
    double *dist = malloc(sizeof *dist * B);
    for (int paired = 0; paired < 2; paired++) {
        long nb = paired ? 30 : 20;
        double bb[30];
        for (int i = 0; i < 30; i++) bb[i] = i < 20 ? b[i] : b[i - 20] + 0.5;
        const double *bp = paired ? bb : b;
        ark_stats_opts o = {.samples = B, .seed = 17, .paired = paired, .alpha = 0.1};
        assert_int_equal(ark_stats_bootstrap_dist(a, 30, bp, nb, &o, dist), ARK_OK);
        ark_stats_result r;
        assert_int_equal(ark_stats_bootstrap(a, 30, bp, nb, &o, &r), ARK_OK);
        double ma = 0, mb = 0, theta;
        for (int i = 0; i < 30; i++) ma += a[i] / 30;
        for (int i = 0; i < nb; i++) mb += bp[i] / nb;
        theta = ma - mb;
        double below = 0;
        for (long k = 0; k < B; k++) below += dist[k] < theta - 1e-12;
        qsort(dist, B, sizeof *dist, cmpd);
        double num = 0, den = 0;
        if (paired) {
            double md = ma - mb;
            for (int i = 0; i < 30; i++) {
                double u = (a[i] - bp[i]) - md;
                num += u * u * u / (30.0 * 30 * 30), den += u * u / (30.0 * 30);
            }
        } else {
            for (int i = 0; i < 30; i++) {
                double u = a[i] - ma;
                num += u * u * u / (30.0 * 30 * 30), den += u * u / (30.0 * 30);
            }
            for (int i = 0; i < 20; i++) {
                double u = mb - bp[i];
                num += u * u * u / (20.0 * 20 * 20), den += u * u / (20.0 * 20);
            }
        }
        double acc = num / (6 * pow(den, 1.5)), z0 = Phi_inv(below / B);
        NEAR(r.acceleration, acc, 1e-10);
        NEAR(r.z0, z0, 1e-9);
        double zl = Phi_inv(0.05), zh = Phi_inv(0.95);
        double a1 = Phi(z0 + (z0 + zl) / (1 - acc * (z0 + zl))), a2 = Phi(z0 + (z0 + zh) / (1 - acc * (z0 + zh)));
        NEAR(r.ci_low, q7(dist, B, a1), 1e-9);
        NEAR(r.ci_high, q7(dist, B, a2), 1e-9);
        o.boot_method = ARK_BOOT_PERCENTILE;
        assert_int_equal(ark_stats_bootstrap(a, 30, bp, nb, &o, &r), ARK_OK);
        NEAR(r.ci_low, q7(dist, B, 0.05), 1e-12);
        NEAR(r.ci_high, q7(dist, B, 0.95), 1e-12);
        assert_true(isnan(r.z0));
        o.alternative = ARK_ALT_GREATER;
        assert_int_equal(ark_stats_bootstrap(a, 30, bp, nb, &o, &r), ARK_OK);
        NEAR(r.ci_low, q7(dist, B, 0.1), 1e-12);
        assert_true(isinf(r.ci_high));
    }
    free(dist);
}

/* The bootstrap SE of a difference of means approaches the ideal bootstrap
 * value sqrt(Σ(a-ā)²/na² + Σ(b-b̄)²/nb²) (E&T eq. 5.12: the plug-in SE). */
static void test_boot_se(void **state)
{
    (void)state;
    double a[15], b[12];
    fill_normal(a, 15, 2, 1.5, 21);
    fill_normal(b, 12, 0, 0.5, 22);
    double ma = 0, mb = 0, va = 0, vb = 0;
    for (int i = 0; i < 15; i++) ma += a[i] / 15;
    for (int i = 0; i < 12; i++) mb += b[i] / 12;
    for (int i = 0; i < 15; i++) va += (a[i] - ma) * (a[i] - ma) / (15.0 * 15);
    for (int i = 0; i < 12; i++) vb += (b[i] - mb) * (b[i] - mb) / (12.0 * 12);
    ark_stats_opts o = {.samples = 20000, .seed = 1};
    ark_stats_result r;
    assert_int_equal(ark_stats_bootstrap(a, 15, b, 12, &o, &r), ARK_OK);
    NEAR(r.se, sqrt(va + vb), 0.03 * sqrt(va + vb)); /* relative sd of the estimate ~ 1/sqrt(2B) = 0.5% */
}

/* Coverage on simulated normal data: over 1000 data sets the 95% intervals
 * contain the true difference close to 95% of the time.  Bootstrap
 * intervals undercover a little at n = 20 (the plug-in SE is sqrt(19/20)
 * of the unbiased one, and z replaces t with ~28 df): about 93% expected;
 * the binomial sd at 1000 is 0.8%. */
static void test_boot_coverage(void **state)
{
    (void)state;
    int reps = 1000, hit[2] = {0, 0};
    double a[20], b[20], delta = 0.5;
    for (int rep = 0; rep < reps; rep++) {
        fill_normal(a, 20, delta, 1, 1000 + rep);
        fill_normal(b, 20, 0, 2, 5000 + rep);
        for (int m = 0; m < 2; m++) {
            ark_stats_opts o = {.samples = 500, .seed = rep, .boot_method = m ? ARK_BOOT_PERCENTILE : ARK_BOOT_BCA};
            ark_stats_result r;
            assert_int_equal(ark_stats_bootstrap(a, 20, b, 20, &o, &r), ARK_OK);
            hit[m] += r.ci_low <= delta && delta <= r.ci_high;
        }
    }
    printf("bootstrap coverage (nominal 0.95): bca %.3f, percentile %.3f\n", hit[0] / (double)reps,
           hit[1] / (double)reps);
    for (int m = 0; m < 2; m++) assert_true(hit[m] >= 0.90 * reps && hit[m] <= 0.97 * reps);
}

/* ---- errors, JSON ----------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    double a[3] = {1, 2, 3}, b[2] = {1, 2}, c[3] = {5, 5, 5}, bad[3] = {1, NAN, 2};
    ark_stats_result r;
    assert_int_equal(ark_stats_welch(a, 1, b, 2, NULL, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "a: needs at least 2 values, got 1"));
    assert_int_equal(ark_stats_permutation(a, 3, bad, 3, NULL, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "b[1]: not a finite number"));
    ark_stats_opts o = {.paired = 1};
    assert_int_equal(ark_stats_bootstrap(a, 3, b, 2, &o, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "equal sizes"));
    assert_int_equal(ark_stats_run(ARK_STATS_TTEST, a, 3, b, 2, &o, &r), ARK_ERR_ARG);
    o = (ark_stats_opts){.alpha = 1.5};
    assert_int_equal(ark_stats_welch(a, 3, b, 2, &o, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "alpha"));
    o = (ark_stats_opts){.samples = -3};
    assert_int_equal(ark_stats_bootstrap(a, 3, b, 2, &o, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "samples"));
    assert_int_equal(ark_stats_welch(c, 3, c, 3, NULL, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "constant"));
    double d[3] = {2, 3, 4};
    assert_int_equal(ark_stats_paired_t(a, d, 3, NULL, &r), ARK_ERR_ARG); /* differences all -1 */
    assert_non_null(strstr(ark_errmsg(), "constant"));
    ark_alternative alt;
    assert_int_equal(ark_alternative_parse("bigger", &alt), ARK_ERR_ARG);
    assert_int_equal(ark_alternative_parse("less", &alt), ARK_OK);
    assert_int_equal(alt, ARK_ALT_LESS);
    /* the permutation test still works on constant data */
    assert_int_equal(ark_stats_permutation(c, 3, c, 3, NULL, &r), ARK_OK);
    NEAR(r.p_two_sided, 1, 0);
}

static void test_json(void **state)
{
    (void)state;
    ark_stats_result r;
    ark_stats_opts o = {.alternative = ARK_ALT_LESS};
    assert_int_equal(ark_stats_paired_t(sleep1, sleep2, 10, &o, &r), ARK_OK);
    char *s = ark_stats_json(&r);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "test")->valuestring, "paired_t");
    assert_string_equal(cJSON_GetObjectItem(j, "alternative")->valuestring, "less");
    NEAR(cJSON_GetObjectItem(j, "statistic")->valuedouble, -4.0621, 5e-5);
    NEAR(cJSON_GetObjectItem(j, "df")->valuedouble, 9, 0);
    NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "p_values"), "two-sided")->valuedouble, 0.002833, 5e-7);
    cJSON *ci = cJSON_GetObjectItem(j, "ci");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(ci, "low")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(ci, "high")));
    assert_string_equal(cJSON_GetObjectItem(j, "decision")->valuestring, "reject H0");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "reject")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "effect_size"), "name")->valuestring, "d_z");
    cJSON_Delete(j);
    free(s);
    assert_int_equal(ark_stats_permutation(sleep1, 10, sleep2, 10, NULL, &r), ARK_OK);
    s = ark_stats_json(&r);
    j = cJSON_Parse(s);
    cJSON *p = cJSON_GetObjectItem(j, "permutation");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "exact")));
    NEAR(cJSON_GetObjectItem(p, "permutations")->valuedouble, 184756, 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "ci")));
    cJSON_Delete(j);
    free(s);
    FILE *f = fopen("/dev/null", "w");
    ark_stats_print(&r, f);
    fclose(f);
}

/* ---- ark_test_hypothesis ------------------------------------------------------ */

typedef struct metric_ctx {
    const double *values;
    int fail_at;   /* -1: never */
    int calls;
} metric_ctx;

static ark_status metric(void *ctx, int i, double *value)
{
    metric_ctx *c = ctx;
    c->calls++;
    if (i == c->fail_at) return ARK_ERR_IO;
    *value = c->values[i];
    return ARK_OK;
}

static void test_hypothesis(void **state)
{
    (void)state;
    metric_ctx nul = {sleep2, -1, 0}, alt = {sleep1, -1, 0};
    ark_hypothesis h = {.name = "drug 1 gives less extra sleep than drug 2", .metric = "extra_hours",
                        .null_fn = metric, .null_ctx = &nul, .alt_fn = metric, .alt_ctx = &alt, .n = 10,
                        .test = ARK_STATS_TTEST, .opts = {.paired = 1, .alternative = ARK_ALT_LESS}};
    ark_stats_result r;
    char *js;
    assert_int_equal(ark_test_hypothesis(&h, NULL, &r, &js), ARK_OK);
    assert_int_equal(nul.calls, 10);
    assert_int_equal(alt.calls, 10);
    NEAR(r.statistic, -4.0621, 5e-5);
    NEAR(r.p_value, 0.002833 / 2, 5e-7);
    assert_true(r.reject);
    assert_non_null(strstr(r.statement, "reject H0: mean(alternative - null) = 0, in favour of mean(alternative - null) < 0"));
    cJSON *j = cJSON_Parse(js);
    assert_string_equal(cJSON_GetObjectItem(j, "hypothesis")->valuestring, h.name);
    assert_string_equal(cJSON_GetObjectItem(j, "metric")->valuestring, "extra_hours");
    cJSON *v = cJSON_GetObjectItem(j, "values");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "null")), 10);
    NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "alternative"), 1)->valuedouble, -1.6, 0);
    assert_string_equal(cJSON_GetObjectItem(j, "decision")->valuestring, "reject H0");
    cJSON_Delete(j);
    free(js);

    /* permutation through the same entry: exact 2/1024 for "less" */
    h.test = ARK_STATS_PERMUTATION;
    assert_int_equal(ark_test_hypothesis(&h, NULL, &r, NULL), ARK_OK);
    NEAR(r.p_value, 2.0 / 1024, 1e-15);

    /* errors: a failing callback, a non-finite value, missing functions */
    alt.fail_at = 3;
    assert_int_equal(ark_test_hypothesis(&h, NULL, &r, &js), ARK_ERR_IO);
    assert_null(js);
    assert_non_null(strstr(ark_errmsg(), "alt_fn(3)"));
    alt.fail_at = -1;
    double inf_vals[10] = {1, 2, 3, 4, INFINITY, 6, 7, 8, 9, 10};
    nul.values = inf_vals;
    assert_int_equal(ark_test_hypothesis(&h, NULL, &r, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "null_fn(4)"));
    h.null_fn = NULL;
    assert_int_equal(ark_test_hypothesis(&h, NULL, &r, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "null_fn"));
    h.null_fn = metric;
    h.n = 1;
    assert_int_equal(ark_test_hypothesis(&h, NULL, &r, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "hypothesis.n"));
}

/* Recorded in an experiment run: the JSON appears under the run's
 * attachments as "hypothesis_test" and the p-value as a metric. */
static void test_hypothesis_recorded(void **state)
{
    (void)state;
    const char *dir = scratch_dir("stats_hypothesis");
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    ark_exp_source src = {.name = "sleep_test", .text = "the sleep data, paired"};
    ark_exp_run *run;
    assert_int_equal(ark_exp_begin(b, &src, NULL, &run), ARK_OK);
    int64_t id = ark_exp_run_id(run);
    metric_ctx nul = {sleep2, -1, 0}, alt = {sleep1, -1, 0};
    ark_hypothesis h = {.name = "drug 1 differs from drug 2", .null_fn = metric, .null_ctx = &nul,
                        .alt_fn = metric, .alt_ctx = &alt, .n = 10, .test = ARK_STATS_TTEST, .opts = {.paired = 1}};
    assert_int_equal(ark_test_hypothesis(&h, run, NULL, NULL), ARK_OK);
    assert_int_equal(ark_exp_end(run, ARK_OK, NULL), ARK_OK);
    char *js;
    assert_int_equal(ark_exp_run_json(ark_bench_store(b), id, &js), ARK_OK);
    cJSON *j = cJSON_Parse(js), *t = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "attachments"), "hypothesis_test");
    assert_non_null(t);
    assert_string_equal(cJSON_GetObjectItem(t, "test")->valuestring, "paired_t");
    assert_string_equal(cJSON_GetObjectItem(t, "hypothesis")->valuestring, "drug 1 differs from drug 2");
    assert_string_equal(cJSON_GetObjectItem(t, "decision")->valuestring, "reject H0");
    NEAR(cJSON_GetObjectItem(t, "p_value")->valuedouble, 0.002833, 5e-7);
    NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "hypothesis_p_value")->valuedouble, 0.002833, 5e-7);
    cJSON_Delete(j);
    free(js);
    ark_bench_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_welch_sleep),
        cmocka_unit_test(test_welch_r_examples),
        cmocka_unit_test(test_paired_sleep),
        cmocka_unit_test(test_cohen),
        cmocka_unit_test(test_perm_exact_hand),
        cmocka_unit_test(test_perm_exact_sleep),
        cmocka_unit_test(test_perm_monte_carlo),
        cmocka_unit_test(test_boot_reproducible),
        cmocka_unit_test(test_boot_constant_shift),
        cmocka_unit_test(test_boot_interval_from_dist),
        cmocka_unit_test(test_boot_se),
        cmocka_unit_test(test_boot_coverage),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_hypothesis),
        cmocka_unit_test(test_hypothesis_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
