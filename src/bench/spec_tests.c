/* Hypothesis tests inside experiment specs: the optional `tests:` section.
 * Each test picks two samples from the run's result by dotted path (arrays
 * of numbers, e.g. an ablation's per-row losses), runs ark_stats_run on
 * them, and the run gets the attachment "hypothesis_tests" (one object per
 * test) and a metric "NAME.p_value" per test.  docs/bench.md has the
 * format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "bench/stats_internal.h"
#include "core/error.h"

static const char *const test_keys[] = {"name", "test", "a", "b", "paired", "alternative", "alpha",
                                        "samples", "seed", "method", "exact_limit", "hypothesis"};

/* "ttest" | "perm" | "bootstrap" (and the aliases `arrakis stats` takes). */
static bool test_kind(const char *s, ark_stats_test *out)
{
    if (!strcmp(s, "ttest") || !strcmp(s, "t")) *out = ARK_STATS_TTEST;
    else if (!strcmp(s, "perm") || !strcmp(s, "permutation")) *out = ARK_STATS_PERMUTATION;
    else if (!strcmp(s, "bootstrap") || !strcmp(s, "boot")) *out = ARK_STATS_BOOTSTRAP;
    else return false;
    return true;
}

static bool known_key(const char *k)
{
    for (size_t i = 0; i < sizeof test_keys / sizeof test_keys[0]; i++)
        if (!strcmp(test_keys[i], k)) return true;
    return false;
}

/* A whole number in [lo, hi]. */
static bool whole(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo && v->valuedouble <= hi;
}

/* The options of tests[i] (t) into *o; errors name the field. */
static ark_status test_opts(const char *where, int i, const cJSON *t, ark_stats_opts *o)
{
    memset(o, 0, sizeof *o);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "paired")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].paired: expected true or false", where, i);
        o->paired = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "alternative")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || ark_alternative_parse(v->valuestring, &o->alternative) != ARK_OK)
            return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].alternative: expected two-sided, greater or less", where, i);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "alpha")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1))
            return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].alpha: expected a number in (0, 1)", where, i);
        o->alpha = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "samples")) && !cJSON_IsNull(v)) {
        if (!whole(v, 1, 1e9)) return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].samples: expected a whole number >= 1", where, i);
        o->samples = (long)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "seed")) && !cJSON_IsNull(v)) {
        if (!whole(v, 0, 9007199254740992.0))
            return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].seed: expected a whole number >= 0", where, i);
        o->seed = (uint64_t)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "exact_limit")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble <= 1e9) || v->valuedouble == 0)
            return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].exact_limit: expected a number <= 1e9, not 0 (< 0: never enumerate)",
                            where, i);
        o->exact_limit = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(t, "method")) && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "bca")) o->boot_method = ARK_BOOT_BCA;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "percentile")) o->boot_method = ARK_BOOT_PERCENTILE;
        else return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].method: expected bca or percentile", where, i);
    }
    return ARK_OK;
}

/* The shape of tests[i]: keys, name, test, a, b, hypothesis and options. */
static ark_status validate_test(const char *where, int i, const cJSON *t)
{
    if (!cJSON_IsObject(t))
        return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d]: expected {name: NAME, test: ttest|perm|bootstrap, a: PATH, b: PATH}", where, i);
    const cJSON *k;
    cJSON_ArrayForEach(k, t)
        if (!known_key(k->string))
            return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].%s: unknown field (name, test, a, b, paired, alternative, alpha, "
                            "samples, seed, method, exact_limit, hypothesis)", where, i, k->string);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name"), *test = cJSON_GetObjectItemCaseSensitive(t, "test");
    if (!cJSON_IsString(name) || !*name->valuestring)
        return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].name: expected the test's name (text)", where, i);
    ark_stats_test kind;
    if (!cJSON_IsString(test) || !test_kind(test->valuestring, &kind))
        return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].test: expected ttest, perm or bootstrap%s%s%s", where, i,
                        cJSON_IsString(test) ? ", got \"" : "", cJSON_IsString(test) ? test->valuestring : "",
                        cJSON_IsString(test) ? "\"" : "");
    for (int s = 0; s < 2; s++) {
        const char *key = s ? "b" : "a";
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(t, key);
        if (!cJSON_IsString(p) || !*p->valuestring)
            return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].%s: expected a result path (text) to a list of numbers", where, i, key);
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(t, "hypothesis");
    if (h && !cJSON_IsString(h) && !cJSON_IsNull(h))
        return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].hypothesis: expected text", where, i);
    ark_stats_opts o;
    return test_opts(where, i, t, &o);
}

ark_status spec_tests_validate(const char *where, const cJSON *doc)
{
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(doc, "tests"), *t;
    if (!tests || cJSON_IsNull(tests)) return ARK_OK;
    if (!cJSON_IsArray(tests)) return ark_fail(ARK_ERR_FORMAT, "%s: tests: expected a list", where);
    int i = 0;
    cJSON_ArrayForEach(t, tests) {
        ARK_TRY(validate_test(where, i, t));
        const char *name = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
        for (int j = 0; j < i; j++)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tests, j), "name")->valuestring, name))
                return ark_fail(ARK_ERR_FORMAT, "%s: tests[%d].name: \"%s\" is already the name of tests[%d]", where, i, name, j);
        i++;
    }
    return ARK_OK;
}

/* The sample at result[path] (tests[i].key): a list of finite numbers into a
 * fresh array. */
static ark_status sample(const cJSON *result, int i, const char *key, const char *path, double **x, long *n)
{
    const cJSON *v = spec_get_path(result, path), *e;
    *x = NULL;
    *n = 0;
    if (!cJSON_IsArray(v))
        return ark_fail(ARK_ERR_MISSING, "tests[%d].%s: the result has no list of numbers at \"%s\" (%s)", i, key, path,
                        v ? spec_kind_name(v) : "absent");
    *x = malloc(sizeof **x * (size_t)(cJSON_GetArraySize(v) + 1));
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            free(*x);
            *x = NULL;
            return ark_fail(ARK_ERR_ARG, "tests[%d].%s: item %ld of \"%s\" is %s, not a finite number", i, key, *n, path,
                            spec_kind_name(e));
        }
        (*x)[(*n)++] = e->valuedouble;
    }
    return ARK_OK;
}

/* Run tests[i] (t) on the result; *out receives its JSON object. */
static ark_status run_test(int i, const cJSON *t, const cJSON *result, cJSON **out)
{
    const char *pa = cJSON_GetObjectItemCaseSensitive(t, "a")->valuestring;
    const char *pb = cJSON_GetObjectItemCaseSensitive(t, "b")->valuestring;
    const char *name = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
    ark_stats_test kind = ARK_STATS_TTEST;
    test_kind(cJSON_GetObjectItemCaseSensitive(t, "test")->valuestring, &kind);
    ark_stats_opts o;
    ARK_TRY(test_opts("spec", i, t, &o));
    double *a = NULL, *b = NULL;
    long na = 0, nb = 0;
    ark_stats_result r;
    ark_status st = sample(result, i, "a", pa, &a, &na);
    if (st == ARK_OK) st = sample(result, i, "b", pb, &b, &nb);
    if (st == ARK_OK) {
        st = ark_stats_run(kind, a, na, b, nb, &o, &r);
        if (st != ARK_OK) st = ark_fail_prefix(st, "tests[%d] (%s)", i, name);
    }
    free(a);
    free(b);
    if (st != ARK_OK) return st;
    cJSON *obj = stats_json_object(&r);
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "hypothesis"));
    cJSON_AddStringToObject(obj, "name", name);
    if (h) cJSON_AddStringToObject(obj, "hypothesis", h);
    else cJSON_AddNullToObject(obj, "hypothesis");
    cJSON_AddStringToObject(obj, "a", pa);
    cJSON_AddStringToObject(obj, "b", pb);
    *out = obj;
    return ARK_OK;
}

ark_status spec_tests_run(ark_exp_run *run, const cJSON *doc, const cJSON *result)
{
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(doc, "tests"), *t;
    if (!cJSON_GetArraySize(tests)) return ARK_OK;
    cJSON *list = cJSON_CreateArray();
    ark_status st = ARK_OK;
    int i = 0;
    cJSON_ArrayForEach(t, tests) {
        cJSON *obj = NULL;
        st = run_test(i, t, result, &obj);
        if (st != ARK_OK) break;
        cJSON_AddItemToArray(list, obj);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "p_value");
        if (cJSON_IsNumber(p)) {
            char metric[600];
            snprintf(metric, sizeof metric, "%s.p_value", cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring);
            st = ark_exp_log_metric(run, metric, p->valuedouble);
            if (st != ARK_OK) break;
        }
        i++;
    }
    /* The tests that ran are attached even when a later one failed. */
    if (cJSON_GetArraySize(list)) {
        char *text = cJSON_PrintUnformatted(list);
        char *msg = st != ARK_OK ? strdup(ark_errmsg()) : NULL;
        ark_status ast = ark_exp_attach(run, "hypothesis_tests", text);
        if (st == ARK_OK) st = ast;
        else ark_fail(st, "%s", msg);
        free(msg);
        free(text);
    }
    cJSON_Delete(list);
    return st;
}
