/* Two-sample statistics: checks, descriptive numbers, effect sizes, the
 * t-tests (Welch, paired), decisions, JSON and the human summary.  The
 * permutation test and the bootstrap are in stats_resample.c; the formulas
 * and references are in include/arrakis/stats.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_cdf.h>

#include "bench/stats_internal.h"
#include "core/error.h"

double stats_mean(const double *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    double m = s / (double)n, c = 0;
    for (long i = 0; i < n; i++) c += x[i] - m; /* second pass: corrects the rounding of the first */
    return m + c / (double)n;
}

double stats_var(const double *x, long n)
{
    if (n < 2) return NAN;
    double m = stats_mean(x, n), ss = 0, c = 0;
    for (long i = 0; i < n; i++) {
        double e = x[i] - m;
        ss += e * e;
        c += e;
    }
    return (ss - c * c / (double)n) / (double)(n - 1); /* corrected two-pass (Chan, Golub & LeVeque 1983) */
}

double ark_cohen_d(const double *a, long na, const double *b, long nb)
{
    if (!a || !b || na < 1 || nb < 1 || na + nb < 3) return NAN;
    double va = na > 1 ? stats_var(a, na) : 0, vb = nb > 1 ? stats_var(b, nb) : 0;
    double sp = sqrt(((double)(na - 1) * va + (double)(nb - 1) * vb) / (double)(na + nb - 2));
    return (stats_mean(a, na) - stats_mean(b, nb)) / sp;
}

/* Mean and SD of d_i = a_i - b_i. */
static void diff_mean_sd(const double *a, const double *b, long n, double *mean, double *sd)
{
    double *d = malloc(sizeof *d * (size_t)n);
    if (!d) { *mean = *sd = NAN; return; }
    for (long i = 0; i < n; i++) d[i] = a[i] - b[i];
    *mean = stats_mean(d, n);
    *sd = sqrt(stats_var(d, n));
    free(d);
}

double ark_cohen_dz(const double *a, const double *b, long n)
{
    if (!a || !b || n < 2) return NAN;
    double m, sd;
    diff_mean_sd(a, b, n, &m, &sd);
    return m / sd;
}

ark_status stats_opts_resolve(const ark_stats_opts *in, ark_stats_opts *o)
{
    static const ark_stats_opts defaults = {0};
    *o = in ? *in : defaults;
    if (o->alpha == 0) o->alpha = 0.05;
    if (!(o->alpha > 0 && o->alpha < 1)) return ark_fail(ARK_ERR_ARG, "alpha: %g is not in (0, 1)", o->alpha);
    if (o->alternative < ARK_ALT_TWO_SIDED || o->alternative > ARK_ALT_LESS)
        return ark_fail(ARK_ERR_ARG, "alternative: unknown value %d", (int)o->alternative);
    if (o->samples == 0) o->samples = ARK_STATS_DEFAULT_SAMPLES;
    if (o->samples < 1) return ark_fail(ARK_ERR_ARG, "samples: %ld, expected at least 1", o->samples);
    if (o->exact_limit == 0) o->exact_limit = ARK_STATS_EXACT_LIMIT;
    if (!(o->exact_limit <= 1e9)) return ark_fail(ARK_ERR_ARG, "exact_limit: %g is above 1e9", o->exact_limit);
    if (o->boot_method != ARK_BOOT_BCA && o->boot_method != ARK_BOOT_PERCENTILE)
        return ark_fail(ARK_ERR_ARG, "boot_method: unknown value %d", (int)o->boot_method);
    return ARK_OK;
}

static ark_status check_sample(const char *name, const double *x, long n)
{
    if (n < 2) return ark_fail(ARK_ERR_ARG, "%s: needs at least 2 values, got %ld", name, n);
    if (!x) return ark_fail(ARK_ERR_ARG, "%s: NULL", name);
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return ark_fail(ARK_ERR_ARG, "%s[%ld]: not a finite number", name, i);
    return ARK_OK;
}

ark_status stats_check_samples(const double *a, long na, const double *b, long nb, int paired)
{
    ARK_TRY(check_sample("a", a, na));
    ARK_TRY(check_sample("b", b, nb));
    if (paired && na != nb)
        return ark_fail(ARK_ERR_ARG, "paired samples need equal sizes: a has %ld values, b has %ld", na, nb);
    return ARK_OK;
}

void stats_describe(ark_stats_result *r, const double *a, long na, const double *b, long nb,
                    const ark_stats_opts *o)
{
    memset(r, 0, sizeof *r);
    r->paired = o->paired;
    r->alternative = o->alternative;
    r->alpha = o->alpha;
    r->n_a = na;
    r->n_b = nb;
    r->mean_a = stats_mean(a, na);
    r->mean_b = stats_mean(b, nb);
    r->sd_a = sqrt(stats_var(a, na));
    r->sd_b = sqrt(stats_var(b, nb));
    r->mean_diff = r->mean_a - r->mean_b;
    r->sd_diff = NAN;
    if (o->paired) {
        diff_mean_sd(a, b, na, &r->mean_diff, &r->sd_diff);
        r->effect_name = "d_z";
        r->effect_size = r->mean_diff / r->sd_diff;
    } else {
        r->effect_name = "cohen_d";
        r->effect_size = ark_cohen_d(a, na, b, nb);
    }
    r->statistic = r->df = r->se = NAN;
    r->p_value = r->p_two_sided = r->p_greater = r->p_less = NAN;
    r->ci_low = r->ci_high = NAN;
    r->z0 = r->acceleration = NAN;
    r->permutations = r->extreme = NAN;
}

const char *ark_alternative_name(ark_alternative alt)
{
    return alt == ARK_ALT_GREATER ? "greater" : alt == ARK_ALT_LESS ? "less" : "two-sided";
}

ark_status ark_alternative_parse(const char *s, ark_alternative *out)
{
    if (s && !strcmp(s, "two-sided")) *out = ARK_ALT_TWO_SIDED;
    else if (s && !strcmp(s, "greater")) *out = ARK_ALT_GREATER;
    else if (s && !strcmp(s, "less")) *out = ARK_ALT_LESS;
    else return ark_fail(ARK_ERR_ARG, "alternative: \"%s\" is not two-sided, greater or less", s ? s : "(null)");
    return ARK_OK;
}

/* ---- t-tests ------------------------------------------------------------ */

/* p-values and interval from t, df and se (r->mean_diff, r->alpha set). */
static void t_finish(ark_stats_result *r, double t, double df, double se)
{
    r->statistic_name = "t";
    r->statistic = t;
    r->df = df;
    r->se = se;
    r->p_less = gsl_cdf_tdist_P(t, df);
    r->p_greater = gsl_cdf_tdist_Q(t, df);
    r->p_two_sided = fmin(1.0, 2 * fmin(r->p_less, r->p_greater));
    r->p_value = r->alternative == ARK_ALT_GREATER ? r->p_greater
               : r->alternative == ARK_ALT_LESS    ? r->p_less
                                                   : r->p_two_sided;
    r->ci_method = "t";
    if (r->alternative == ARK_ALT_TWO_SIDED) {
        double q = gsl_cdf_tdist_Qinv(r->alpha / 2, df);
        r->ci_low = r->mean_diff - q * se;
        r->ci_high = r->mean_diff + q * se;
    } else {
        double q = gsl_cdf_tdist_Qinv(r->alpha, df);
        r->ci_low = r->alternative == ARK_ALT_GREATER ? r->mean_diff - q * se : -INFINITY;
        r->ci_high = r->alternative == ARK_ALT_LESS ? r->mean_diff + q * se : INFINITY;
    }
    stats_decide(r);
}

ark_status ark_stats_welch(const double *a, long na, const double *b, long nb, const ark_stats_opts *opts,
                           ark_stats_result *out)
{
    ark_stats_opts o;
    ARK_TRY(stats_opts_resolve(opts, &o));
    o.paired = 0;
    ARK_TRY(stats_check_samples(a, na, b, nb, 0));
    ark_stats_result r;
    stats_describe(&r, a, na, b, nb, &o);
    double va = r.sd_a * r.sd_a / (double)na, vb = r.sd_b * r.sd_b / (double)nb;
    double se = sqrt(va + vb);
    if (!(se > 0))
        return ark_fail(ARK_ERR_ARG, "a, b: both samples are constant (zero variance): the t statistic is undefined "
                                     "(the permutation test and the bootstrap still apply)");
    double df = (va + vb) * (va + vb) / (va * va / (double)(na - 1) + vb * vb / (double)(nb - 1));
    double t = r.mean_diff / se;
    if (!isfinite(t) || !isfinite(df) || !isfinite(se))
        return ark_fail(ARK_ERR_ARG, "a, b: the t statistic overflows (values too large)");
    r.test = "welch_t";
    t_finish(&r, t, df, se);
    *out = r;
    return ARK_OK;
}

ark_status ark_stats_paired_t(const double *a, const double *b, long n, const ark_stats_opts *opts,
                              ark_stats_result *out)
{
    ark_stats_opts o;
    ARK_TRY(stats_opts_resolve(opts, &o));
    o.paired = 1;
    ARK_TRY(stats_check_samples(a, n, b, n, 1));
    ark_stats_result r;
    stats_describe(&r, a, n, b, n, &o);
    double se = r.sd_diff / sqrt((double)n);
    if (!(se > 0))
        return ark_fail(ARK_ERR_ARG, "a - b: the differences are constant (zero variance): the t statistic is "
                                     "undefined (the permutation test and the bootstrap still apply)");
    double t = r.mean_diff / se;
    if (!isfinite(t) || !isfinite(se))
        return ark_fail(ARK_ERR_ARG, "a - b: the t statistic overflows (values too large)");
    r.test = "paired_t";
    t_finish(&r, t, (double)(n - 1), se);
    *out = r;
    return ARK_OK;
}

ark_status ark_stats_run(ark_stats_test test, const double *a, long na, const double *b, long nb,
                         const ark_stats_opts *opts, ark_stats_result *out)
{
    int paired = opts && opts->paired;
    switch (test) {
    case ARK_STATS_TTEST:
        if (paired) {
            if (na != nb)
                return ark_fail(ARK_ERR_ARG, "paired samples need equal sizes: a has %ld values, b has %ld", na, nb);
            return ark_stats_paired_t(a, b, na, opts, out);
        }
        return ark_stats_welch(a, na, b, nb, opts, out);
    case ARK_STATS_PERMUTATION: return ark_stats_permutation(a, na, b, nb, opts, out);
    case ARK_STATS_BOOTSTRAP: return ark_stats_bootstrap(a, na, b, nb, opts, out);
    }
    return ark_fail(ARK_ERR_ARG, "test: unknown test %d", (int)test);
}

/* ---- decision ----------------------------------------------------------- */

void stats_decide(ark_stats_result *r) { stats_decide_as(r, "a", "b"); }

void stats_decide_as(ark_stats_result *r, const char *la, const char *lb)
{
    char diff[96];
    if (r->paired) snprintf(diff, sizeof diff, "mean(%s - %s)", la, lb);
    else snprintf(diff, sizeof diff, "mean(%s) - mean(%s)", la, lb);
    const char *rel = r->alternative == ARK_ALT_GREATER ? ">" : r->alternative == ARK_ALT_LESS ? "<" : "!=";
    char why[160];
    if (!isnan(r->p_value)) {
        r->reject = r->p_value <= r->alpha;
        snprintf(why, sizeof why, "%s, p = %.4g %s alpha = %g", r->test, r->p_value, r->reject ? "<=" : ">",
                 r->alpha);
    } else {
        r->reject = r->ci_low > 0 || r->ci_high < 0;
        snprintf(why, sizeof why, "the %g%% %s interval [%.4g, %.4g] %s 0", 100 * (1 - r->alpha),
                 r->ci_method ? r->ci_method : "", r->ci_low, r->ci_high, r->reject ? "excludes" : "contains");
    }
    if (r->reject)
        snprintf(r->statement, sizeof r->statement, "reject H0: %s = 0, in favour of %s %s 0 (%s)", diff, diff, rel,
                 why);
    else
        snprintf(r->statement, sizeof r->statement, "do not reject H0: %s = 0 (%s)", diff, why);
}

/* ---- output ------------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void add_seed(cJSON *o, uint64_t seed)
{
    if (seed < (1ull << 53)) cJSON_AddNumberToObject(o, "seed", (double)seed);
    else {
        char s[32];
        snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
        cJSON_AddStringToObject(o, "seed", s);
    }
}

static void json_method_parts(cJSON *o, const ark_stats_result *r)
{
    if (!strcmp(r->test, "permutation")) {
        cJSON *p = cJSON_AddObjectToObject(o, "permutation");
        cJSON_AddBoolToObject(p, "exact", r->exact);
        add_num(p, "permutations", r->permutations);
        add_num(p, "extreme", r->extreme);
        if (r->exact) cJSON_AddNullToObject(p, "seed");
        else add_seed(p, r->seed);
    } else if (!strcmp(r->test, "bootstrap")) {
        cJSON *p = cJSON_AddObjectToObject(o, "bootstrap");
        cJSON_AddNumberToObject(p, "resamples", (double)r->resamples);
        add_seed(p, r->seed);
        cJSON_AddStringToObject(p, "method", r->ci_method);
        add_num(p, "z0", r->z0);
        add_num(p, "acceleration", r->acceleration);
    }
}

cJSON *stats_json_object(const ark_stats_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "test", r->test ? r->test : "");
    cJSON_AddBoolToObject(o, "paired", r->paired);
    cJSON_AddStringToObject(o, "alternative", ark_alternative_name(r->alternative));
    cJSON_AddNumberToObject(o, "alpha", r->alpha);
    cJSON_AddNumberToObject(o, "n_a", (double)r->n_a);
    cJSON_AddNumberToObject(o, "n_b", (double)r->n_b);
    add_num(o, "mean_a", r->mean_a);
    add_num(o, "mean_b", r->mean_b);
    add_num(o, "sd_a", r->sd_a);
    add_num(o, "sd_b", r->sd_b);
    add_num(o, "mean_diff", r->mean_diff);
    add_num(o, "sd_diff", r->sd_diff);
    cJSON_AddStringToObject(o, "statistic_name", r->statistic_name ? r->statistic_name : "");
    add_num(o, "statistic", r->statistic);
    add_num(o, "df", r->df);
    add_num(o, "se", r->se);
    add_num(o, "p_value", r->p_value);
    cJSON *p = cJSON_AddObjectToObject(o, "p_values");
    add_num(p, "two-sided", r->p_two_sided);
    add_num(p, "greater", r->p_greater);
    add_num(p, "less", r->p_less);
    if (r->ci_method) {
        cJSON *ci = cJSON_AddObjectToObject(o, "ci");
        cJSON_AddNumberToObject(ci, "level", 1 - r->alpha);
        add_num(ci, "low", r->ci_low);
        add_num(ci, "high", r->ci_high);
        cJSON_AddStringToObject(ci, "method", r->ci_method);
    } else cJSON_AddNullToObject(o, "ci");
    cJSON *e = cJSON_AddObjectToObject(o, "effect_size");
    cJSON_AddStringToObject(e, "name", r->effect_name ? r->effect_name : "");
    add_num(e, "value", r->effect_size);
    json_method_parts(o, r);
    if (r->note) cJSON_AddStringToObject(o, "note", r->note);
    cJSON_AddStringToObject(o, "decision", r->reject ? "reject H0" : "do not reject H0");
    cJSON_AddBoolToObject(o, "reject", r->reject);
    cJSON_AddStringToObject(o, "statement", r->statement);
    return o;
}

char *ark_stats_json(const ark_stats_result *r)
{
    if (!r) return NULL;
    cJSON *o = stats_json_object(r);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static const char *title(const ark_stats_result *r)
{
    if (!strcmp(r->test, "welch_t")) return "Welch two-sample t-test";
    if (!strcmp(r->test, "paired_t")) return "Paired t-test";
    if (!strcmp(r->test, "permutation"))
        return r->paired ? "Permutation test (paired: sign flips)" : "Permutation test (two-sample: label permutations)";
    return r->paired ? "Bootstrap confidence interval (paired: pairs resampled)"
                     : "Bootstrap confidence interval (two-sample)";
}

void ark_stats_print(const ark_stats_result *r, FILE *f)
{
    fprintf(f, "%s, alternative: %s, alpha = %g\n", title(r), ark_alternative_name(r->alternative), r->alpha);
    fprintf(f, "  a: n = %ld, mean = %.6g, sd = %.6g\n", r->n_a, r->mean_a, r->sd_a);
    fprintf(f, "  b: n = %ld, mean = %.6g, sd = %.6g\n", r->n_b, r->mean_b, r->sd_b);
    fprintf(f, "  %s = %.6g", r->paired ? "mean(a - b)" : "mean(a) - mean(b)", r->mean_diff);
    if (r->paired) fprintf(f, ", sd of differences = %.6g", r->sd_diff);
    if (!isnan(r->se)) fprintf(f, ", %s = %.6g", strcmp(r->test, "bootstrap") ? "se" : "bootstrap se", r->se);
    fputc('\n', f);
    if (!strcmp(r->statistic_name, "t"))
        fprintf(f, "  t = %.6g, df = %.6g, p = %.6g\n", r->statistic, r->df, r->p_value);
    else if (!strcmp(r->test, "permutation")) {
        if (r->exact) fprintf(f, "  exact: %.0f of %.0f rearrangements at least as extreme", r->extreme, r->permutations);
        else fprintf(f, "  Monte Carlo: %.0f of %.0f random rearrangements at least as extreme (seed %llu)", r->extreme,
                     r->permutations, (unsigned long long)r->seed);
        fprintf(f, ", p = %.6g\n", r->p_value);
    }
    if (!isnan(r->p_value))
        fprintf(f, "  p-values: two-sided %.6g, greater %.6g, less %.6g\n", r->p_two_sided, r->p_greater, r->p_less);
    if (r->ci_method) {
        fprintf(f, "  %g%% confidence interval (%s): [%.6g, %.6g]", 100 * (1 - r->alpha), r->ci_method, r->ci_low,
                r->ci_high);
        if (!strcmp(r->test, "bootstrap"))
            fprintf(f, "  (B = %ld, seed %llu)", r->resamples, (unsigned long long)r->seed);
        fputc('\n', f);
        if (!strcmp(r->test, "bootstrap") && !isnan(r->z0))
            fprintf(f, "  z0 = %.6g, acceleration = %.6g\n", r->z0, r->acceleration);
    }
    if (r->note) fprintf(f, "  note: %s\n", r->note);
    fprintf(f, "  effect size: %s = %.6g (%s)\n", !strcmp(r->effect_name, "d_z") ? "d_z" : "Cohen's d", r->effect_size,
            !strcmp(r->effect_name, "d_z") ? "mean difference / SD of differences" : "pooled SD");
    fprintf(f, "%s\n", r->statement);
}
