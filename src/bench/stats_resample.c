/* Resampling tests: the permutation test (exact enumeration or seeded
 * Monte Carlo) and bootstrap confidence intervals (percentile, BCa).
 * Definitions and references: include/arrakis/stats.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "bench/stats_internal.h"
#include "core/error.h"
#include "core/rng.h"

/* Uniform integer in [0, k) without modulo bias (Lemire 2019, "Fast random
 * integer generation in an interval", ACM TOMACS 29(1)). */
static uint64_t rng_below(ark_rng *r, uint64_t k)
{
    __uint128_t m = (__uint128_t)ark_rng_u64(r) * k;
    uint64_t low = (uint64_t)m;
    if (low < k) {
        uint64_t floor = -k % k;
        while (low < floor) {
            m = (__uint128_t)ark_rng_u64(r) * k;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

static double plain_sum(const double *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}

/* ---- permutation test ---------------------------------------------------- */

/* Counts of rearrangements at least as extreme as the observed statistic. */
typedef struct perm_count {
    double obs, tol;
    double ge, le, two, total;
} perm_count;

static inline void perm_tally(perm_count *c, double stat)
{
    c->ge += stat >= c->obs - c->tol;
    c->le += stat <= c->obs + c->tol;
    c->two += fabs(stat) >= fabs(c->obs) - c->tol;
    c->total += 1;
}

/* C(n, k) as a double (exact below 2^53, overflowing to inf). */
static double choose(long n, long k)
{
    if (k > n - k) k = n - k;
    double c = 1;
    for (long i = 1; i <= k; i++) c = c * (double)(n - k + i) / (double)i;
    return nearbyint(c);
}

/* Every split of the pooled x (n values; the first k were sample a) into
 * groups of k and n-k: statistic S/k - (T-S)/(n-k), S the group's sum. */
static void perm_exact_two(const double *x, long n, long k, perm_count *c)
{
    long *idx = malloc(sizeof *idx * (size_t)k);
    double T = plain_sum(x, n);
    for (long i = 0; i < k; i++) idx[i] = i;
    for (;;) {
        double S = 0;
        for (long i = 0; i < k; i++) S += x[idx[i]];
        perm_tally(c, S / (double)k - (T - S) / (double)(n - k));
        long i = k - 1;
        while (i >= 0 && idx[i] == n - k + i) i--;
        if (i < 0) break;
        idx[i]++;
        for (long j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1;
    }
    free(idx);
}

/* N random splits: a partial Fisher–Yates shuffle picks group a. */
static void perm_mc_two(const double *x, long n, long k, long N, uint64_t seed, perm_count *c)
{
    double *y = malloc(sizeof *y * (size_t)n), T = plain_sum(x, n);
    memcpy(y, x, sizeof *y * (size_t)n);
    ark_rng rng;
    ark_rng_seed(&rng, seed);
    for (long s = 0; s < N; s++) {
        double S = 0;
        for (long i = 0; i < k; i++) {
            long j = i + (long)rng_below(&rng, (uint64_t)(n - i));
            double t = y[i];
            y[i] = y[j];
            y[j] = t;
            S += y[i];
        }
        perm_tally(c, S / (double)k - (T - S) / (double)(n - k));
    }
    free(y);
}

/* Every sign pattern of the differences d (n <= 62 here): mean(s_i d_i). */
static void perm_exact_signs(const double *d, long n, perm_count *c)
{
    uint64_t count = 1ull << n;
    for (uint64_t mask = 0; mask < count; mask++) {
        double s = 0;
        for (long i = 0; i < n; i++) s += (mask >> i & 1) ? -d[i] : d[i];
        perm_tally(c, s / (double)n);
    }
}

static void perm_mc_signs(const double *d, long n, long N, uint64_t seed, perm_count *c)
{
    ark_rng rng;
    ark_rng_seed(&rng, seed);
    for (long s = 0; s < N; s++) {
        double sum = 0;
        uint64_t bits = 0;
        for (long i = 0; i < n; i++) {
            if (i % 64 == 0) bits = ark_rng_u64(&rng);
            sum += (bits & 1) ? -d[i] : d[i];
            bits >>= 1;
        }
        perm_tally(c, sum / (double)n);
    }
}

static double max_abs(const double *x, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

ark_status ark_stats_permutation(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                                 ark_stats_result *out)
{
    ark_stats_opts o;
    ARK_TRY(stats_opts_resolve(opts, &o));
    ARK_TRY(stats_check_samples(a, na, b, nb, o.paired));
    ark_stats_result r;
    stats_describe(&r, a, na, b, nb, &o);
    long n = o.paired ? na : na + nb;
    double *x = malloc(sizeof *x * (size_t)n); /* paired: the differences; else a then b */
    if (!x) return ark_fail(ARK_ERR_NOMEM, "permutation test: %ld values", n);
    if (o.paired) for (long i = 0; i < n; i++) x[i] = a[i] - b[i];
    else {
        memcpy(x, a, sizeof *x * (size_t)na);
        memcpy(x + na, b, sizeof *x * (size_t)nb);
    }
    perm_count c = {0};
    c.tol = 1e-12 * (double)n * max_abs(x, n);
    c.obs = o.paired ? plain_sum(x, n) / (double)n : plain_sum(x, na) / (double)na - plain_sum(x + na, nb) / (double)nb;
    double count = o.paired ? (n < 1000 ? ldexp(1.0, (int)n) : INFINITY) : choose(n, na);
    r.exact = o.exact_limit > 0 && count <= o.exact_limit;
    if (r.exact && o.paired) perm_exact_signs(x, n, &c);
    else if (r.exact) perm_exact_two(x, n, na, &c);
    else if (o.paired) perm_mc_signs(x, n, o.samples, o.seed, &c);
    else perm_mc_two(x, n, na, o.samples, o.seed, &c);
    free(x);
    double add = r.exact ? 0 : 1; /* Phipson & Smyth: (b + 1) / (N + 1) */
    r.p_greater = (c.ge + add) / (c.total + add);
    r.p_less = (c.le + add) / (c.total + add);
    r.p_two_sided = (c.two + add) / (c.total + add);
    r.p_value = o.alternative == ARK_ALT_GREATER ? r.p_greater : o.alternative == ARK_ALT_LESS ? r.p_less : r.p_two_sided;
    r.extreme = o.alternative == ARK_ALT_GREATER ? c.ge : o.alternative == ARK_ALT_LESS ? c.le : c.two;
    r.permutations = c.total;
    r.resamples = r.exact ? 0 : o.samples;
    r.seed = r.exact ? 0 : o.seed;
    r.test = "permutation";
    r.statistic_name = "mean_diff";
    r.statistic = r.mean_diff;
    stats_decide(&r);
    *out = r;
    return ARK_OK;
}

/* ---- bootstrap ------------------------------------------------------------ */

/* The B bootstrap statistics, in resampling order. */
static void boot_draw(const double *a, long na, const double *b, long nb, int paired, long B, uint64_t seed,
                      double *dist)
{
    ark_rng rng;
    ark_rng_seed(&rng, seed);
    for (long k = 0; k < B; k++) {
        double sa = 0, sb = 0;
        if (paired) {
            for (long i = 0; i < na; i++) {
                uint64_t j = rng_below(&rng, (uint64_t)na);
                sa += a[j] - b[j];
            }
            dist[k] = sa / (double)na;
        } else {
            for (long i = 0; i < na; i++) sa += a[rng_below(&rng, (uint64_t)na)];
            for (long i = 0; i < nb; i++) sb += b[rng_below(&rng, (uint64_t)nb)];
            dist[k] = sa / (double)na - sb / (double)nb;
        }
    }
}

ark_status ark_stats_bootstrap_dist(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                                    double *dist)
{
    ark_stats_opts o;
    ARK_TRY(stats_opts_resolve(opts, &o));
    ARK_TRY(stats_check_samples(a, na, b, nb, o.paired));
    if (!dist) return ark_fail(ARK_ERR_ARG, "dist: NULL");
    boot_draw(a, na, b, nb, o.paired, o.samples, o.seed, dist);
    return ARK_OK;
}

static int cmp_double(const void *x, const void *y)
{
    double u = *(const double *)x, v = *(const double *)y;
    return (u > v) - (u < v);
}

/* Quantile p of sorted x (Hyndman & Fan type 7). */
static double quantile7(const double *x, long n, double p)
{
    double h = (double)(n - 1) * p;
    long lo = (long)floor(h);
    if (lo < 0) return x[0];
    if (lo >= n - 1) return x[n - 1];
    return x[lo] + (h - (double)lo) * (x[lo + 1] - x[lo]);
}

/* Add one sample's jackknife terms: theta(i) = (S - x_i)/(n-1) * sign + rest. */
static void jack_terms(const double *x, long n, double sign, double *num, double *den)
{
    double S = plain_sum(x, n), mean_th = 0;
    for (long i = 0; i < n; i++) mean_th += sign * (S - x[i]) / (double)(n - 1);
    mean_th /= (double)n;
    double n3 = (double)n * (double)n * (double)n, n2 = (double)n * (double)n;
    for (long i = 0; i < n; i++) {
        double U = (double)(n - 1) * (mean_th - sign * (S - x[i]) / (double)(n - 1));
        *num += U * U * U / n3;
        *den += U * U / n2;
    }
}

/* The BCa acceleration (multi-sample jackknife, see stats.h). */
static double bca_acceleration(const double *a, long na, const double *b, long nb, int paired)
{
    double num = 0, den = 0;
    if (paired) {
        double *d = malloc(sizeof *d * (size_t)na);
        if (!d) return NAN;
        for (long i = 0; i < na; i++) d[i] = a[i] - b[i];
        jack_terms(d, na, 1, &num, &den);
        free(d);
    } else {
        jack_terms(a, na, 1, &num, &den);  /* the term of mean(b) is constant within sample a */
        jack_terms(b, nb, -1, &num, &den);
    }
    return den > 0 ? num / (6 * pow(den, 1.5)) : 0;
}

/* BCa-adjusted probability for nominal p (E&T eq. 14.10); NAN if undefined. */
static double bca_adjust(double p, double z0, double acc)
{
    double zp = gsl_cdf_ugaussian_Pinv(p), w = z0 + zp, den = 1 - acc * w;
    if (!(den > 0)) return NAN;
    return gsl_cdf_ugaussian_P(z0 + w / den);
}

/* The interval's ends from the nominal probabilities pl, ph (NAN: that end
 * is infinite), BCa-adjusted when bca.  Returns 0 when BCa is undefined. */
static int boot_interval(ark_stats_result *r, const double *dist, long B, double pl, double ph, double z0,
                         double acc, int bca)
{
    if (bca && !isnan(pl) && isnan(pl = bca_adjust(pl, z0, acc))) return 0;
    if (bca && !isnan(ph) && isnan(ph = bca_adjust(ph, z0, acc))) return 0;
    r->ci_low = isnan(pl) ? -INFINITY : quantile7(dist, B, pl);
    r->ci_high = isnan(ph) ? INFINITY : quantile7(dist, B, ph);
    return 1;
}

ark_status ark_stats_bootstrap(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                               ark_stats_result *out)
{
    ark_stats_opts o;
    ARK_TRY(stats_opts_resolve(opts, &o));
    ARK_TRY(stats_check_samples(a, na, b, nb, o.paired));
    long B = o.samples;
    double *dist = malloc(sizeof *dist * (size_t)B);
    if (!dist) return ark_fail(ARK_ERR_NOMEM, "bootstrap: %ld resamples", B);
    ark_stats_result r;
    stats_describe(&r, a, na, b, nb, &o);
    boot_draw(a, na, b, nb, o.paired, B, o.seed, dist);
    /* theta-hat summed exactly as the resamples are, so constant data give equal values */
    double theta = 0;
    if (o.paired) {
        for (long i = 0; i < na; i++) theta += a[i] - b[i];
        theta /= (double)na;
    } else theta = plain_sum(a, na) / (double)na - plain_sum(b, nb) / (double)nb;
    double below = 0;
    for (long k = 0; k < B; k++) below += dist[k] < theta;
    r.se = B > 1 ? sqrt(stats_var(dist, B)) : NAN;
    qsort(dist, (size_t)B, sizeof *dist, cmp_double);
    double al = o.alternative == ARK_ALT_TWO_SIDED ? o.alpha / 2 : o.alpha;
    double pl = o.alternative == ARK_ALT_LESS ? NAN : al, ph = o.alternative == ARK_ALT_GREATER ? NAN : 1 - al;
    int bca = o.boot_method == ARK_BOOT_BCA;
    r.ci_method = bca ? "bca" : "percentile";
    if (dist[0] == dist[B - 1]) {
        r.note = "every resample gave the same difference: the interval is that value";
        if (bca) r.z0 = 0, r.acceleration = 0;
        boot_interval(&r, dist, B, pl, ph, 0, 0, 0);
    } else if (bca) {
        r.z0 = (below > 0 && below < B) ? gsl_cdf_ugaussian_Pinv(below / (double)B) : NAN;
        r.acceleration = bca_acceleration(a, na, b, nb, o.paired);
        if (isnan(r.z0) || !boot_interval(&r, dist, B, pl, ph, r.z0, r.acceleration, 1)) {
            r.note = "BCa undefined (the estimate lies outside the bootstrap distribution, or the acceleration is "
                     "too large): percentile interval";
            r.ci_method = "percentile";
            boot_interval(&r, dist, B, pl, ph, 0, 0, 0);
        }
    } else boot_interval(&r, dist, B, pl, ph, 0, 0, 0);
    free(dist);
    r.test = "bootstrap";
    r.statistic_name = "mean_diff";
    r.statistic = r.mean_diff;
    r.resamples = B;
    r.seed = o.seed;
    stats_decide(&r);
    *out = r;
    return ARK_OK;
}
