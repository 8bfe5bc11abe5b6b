/* arrakis stats ttest|perm|bootstrap A.json B.json [--paired] [--alpha A] [--samples N] [--seed S]
 *               [--alternative two-sided|greater|less] [--method bca|percentile] [--exact-limit N] [--json] */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arrakis/stats.h"
#include "cli.h"
#include "io/fileio.h"

static void usage(void)
{
    printf("usage: arrakis stats ttest|perm|bootstrap A.json B.json [--paired] [--alpha A] [--samples N]\n"
           "                     [--seed S] [--alternative two-sided|greater|less] [--method bca|percentile]\n"
           "                     [--exact-limit N] [--json]\n\n"
           "Test H0: mean(A) - mean(B) = 0 on two samples of a metric, each file a JSON array of\n"
           "numbers (at least 2).  --paired pairs A[i] with B[i] (equal lengths).\n"
           "  ttest      Welch's t-test (Welch-Satterthwaite df); with --paired the paired t-test\n"
           "  perm       permutation test: label permutations (paired: sign flips of A[i]-B[i]);\n"
           "             exact when there are at most --exact-limit rearrangements (default 1048576),\n"
           "             else --samples random ones (default 10000), p = (b+1)/(N+1)\n"
           "  bootstrap  bootstrap confidence interval of the difference of means, --samples\n"
           "             resamples (default 10000), --method bca (default) or percentile\n"
           "Options: --alpha (default 0.05), --alternative (default two-sided; greater means\n"
           "mean(A) > mean(B)), --seed (default 0).  Effect size: Cohen's d (pooled SD), paired d_z.\n"
           "Formulas and references: docs/stats.md.\n\n"
           "examples:\n"
           "  arrakis stats ttest ablated.json clean.json\n"
           "  arrakis stats ttest ablated.json clean.json --paired --alternative less --json\n"
           "  arrakis stats perm a.json b.json --samples 100000 --seed 7\n"
           "  arrakis stats bootstrap a.json b.json --paired --method percentile --alpha 0.1\n");
}

/* Read FILE (sample `which`, A or B) as a JSON array of
 * at least 2 numbers into *x. Returns the count, or -1 (message printed). */
static long read_sample(const char *which, const char *path, double **x)
{
    char *text;
    if (ark_read_text(path, &text, NULL) != ARK_OK)
        return cli_error("stats", "sample %s: %s (give a JSON file holding an array of numbers such as [1.5, 2, 3])",
                         which, ark_errmsg()), -1;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
    free(text);
    if (!j) return cli_error("stats", "%s: not valid JSON (expected an array of numbers such as [1.5, 2, 3])", path), -1;
    long n = -1;
    if (!cJSON_IsArray(j)) {
        cli_error("stats", "%s: expected a JSON array of numbers, got %s", path,
                  cJSON_IsObject(j) ? "an object" : cJSON_IsString(j) ? "a string" : cJSON_IsNumber(j) ? "a number"
                                                                                     : "another value");
    } else if ((n = cJSON_GetArraySize(j)) < 2) {
        cli_error("stats", "%s: needs at least 2 values, got %ld", path, n);
        n = -1;
    } else {
        *x = malloc(sizeof **x * (size_t)n);
        long i = 0;
        for (cJSON *e = j->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
                cli_error("stats", "%s: element %ld is %s, expected a number", path, i,
                          cJSON_IsString(e) ? "a string" : cJSON_IsNull(e) ? "null" : cJSON_IsBool(e) ? "a boolean"
                          : cJSON_IsNumber(e) ? "not finite" : "an array or object");
                free(*x);
                *x = NULL;
                n = -1;
                break;
            }
            (*x)[i] = e->valuedouble;
        }
    }
    cJSON_Delete(j);
    return n;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

typedef struct stats_args {
    ark_stats_test test;
    const char *files[2];
    ark_stats_opts opts;
    bool json;
} stats_args;

/* One option at argv[*i]; 0 = handled, 1/2 = exit code, -1 = not an option. */
static int parse_option(int argc, char **argv, int *i, stats_args *a)
{
    const char *v;
    long n;
    if (cli_flag(argv, *i, "--paired")) a->opts.paired = 1;
    else if (cli_flag(argv, *i, "--json")) a->json = true;
    else if (cli_opt(argc, argv, i, "--alpha", &v)) {
        if (!v) return 2;
        if (!parse_double(v, &a->opts.alpha) || !(a->opts.alpha > 0 && a->opts.alpha < 1))
            return cli_arg_error("stats", "--alpha %s: expected a number in (0, 1)", v);
    } else if (cli_opt(argc, argv, i, "--samples", &v)) {
        if (!v) return 2;
        if (!cli_parse_int(v, &n) || n < 1) return cli_arg_error("stats", "--samples %s: expected a positive count", v);
        a->opts.samples = n;
    } else if (cli_opt(argc, argv, i, "--seed", &v)) {
        if (!v) return 2;
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') return cli_arg_error("stats", "--seed %s: expected a non-negative integer", v);
        a->opts.seed = s;
    } else if (cli_opt(argc, argv, i, "--exact-limit", &v)) {
        if (!v) return 2;
        if (!cli_parse_int(v, &n) || n < 0 || n > 1000000000)
            return cli_arg_error("stats", "--exact-limit %s: expected a count from 0 (never exact) to 1000000000", v);
        a->opts.exact_limit = n == 0 ? -1 : (double)n;
    } else if (cli_opt(argc, argv, i, "--alternative", &v)) {
        if (!v) return 2;
        if (ark_alternative_parse(v, &a->opts.alternative) != ARK_OK)
            return cli_arg_error("stats", "--alternative %s: expected two-sided, greater or less", v);
    } else if (cli_opt(argc, argv, i, "--method", &v)) {
        if (!v) return 2;
        if (!strcmp(v, "bca")) a->opts.boot_method = ARK_BOOT_BCA;
        else if (!strcmp(v, "percentile")) a->opts.boot_method = ARK_BOOT_PERCENTILE;
        else return cli_arg_error("stats", "--method %s: expected bca or percentile", v);
    } else return -1;
    return 0;
}

static int parse_args(int argc, char **argv, stats_args *a)
{
    const char *t = argv[1];
    if (!strcmp(t, "ttest") || !strcmp(t, "t")) a->test = ARK_STATS_TTEST;
    else if (!strcmp(t, "perm") || !strcmp(t, "permutation")) a->test = ARK_STATS_PERMUTATION;
    else if (!strcmp(t, "bootstrap") || !strcmp(t, "boot")) a->test = ARK_STATS_BOOTSTRAP;
    else return cli_arg_error("stats", "unknown test \"%s\": expected ttest, perm or bootstrap", t);
    int nfiles = 0;
    for (int i = 2; i < argc; i++) {
        int rc = parse_option(argc, argv, &i, a);
        if (rc > 0) return rc;
        if (rc == 0) continue;
        if (argv[i][0] == '-' && argv[i][1]) return cli_arg_error("stats", "unknown option %s", argv[i]);
        if (nfiles == 2) return cli_arg_error("stats", "unexpected argument %s (two files: A.json B.json)", argv[i]);
        a->files[nfiles++] = argv[i];
    }
    if (nfiles < 2) return cli_arg_error("stats", "missing %s (usage: arrakis stats %s A.json B.json ...)", nfiles ? "B.json" : "A.json and B.json", t);
    return 0;
}

int cmd_stats(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(); return 0; }
    if (argc < 2) return cli_arg_error("stats", "missing the test: ttest, perm or bootstrap");
    stats_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    double *x = NULL, *y = NULL;
    long nx = read_sample("A", a.files[0], &x), ny = nx < 0 ? -1 : read_sample("B", a.files[1], &y);
    if (nx < 0 || ny < 0) { free(x); free(y); return 1; }
    if (a.opts.paired && nx != ny) {
        free(x);
        free(y);
        return cli_arg_error("stats", "--paired needs samples of equal length: %s has %ld values, %s has %ld", a.files[0], nx,
                         a.files[1], ny);
    }
    ark_stats_result r;
    if (ark_stats_run(a.test, x, nx, y, ny, &a.opts, &r) != ARK_OK) rc = cli_lib_error("stats", NULL);
    else if (a.json) {
        char *s = ark_stats_json(&r);
        printf("%s\n", s);
        free(s);
    } else {
        printf("a: %s\nb: %s\n", a.files[0], a.files[1]);
        ark_stats_print(&r, stdout);
    }
    free(x);
    free(y);
    return rc;
}
