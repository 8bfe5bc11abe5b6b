/* ark_exp_report on a run logged from C (no spec): a metric, artefacts
 * (an SVG, a text with HTML in it, one whose name tries to leave the
 * folder), parameters with HTML-special text, a hypothesis test logged
 * through ark_test_hypothesis and a "hypothesis_tests" array attached
 * afterwards.  Checks: the page holds the escaped texts and the test's
 * numbers (worked out by hand below, not by the code under test), every
 * listed file exists inside the folder, a rerun replaces the report, a
 * foreign folder is refused untouched, and unknown runs and missing
 * artefact files fail naming what. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

static ark_status alt_values(void *ctx, int i, double *v)
{
    (void)ctx;
    *v = 10 + i; /* 10..17: mean 13.5, sample variance 6 */
    return ARK_OK;
}

static ark_status null_values(void *ctx, int i, double *v)
{
    (void)ctx;
    *v = i; /* 0..7: mean 3.5, sample variance 6 */
    return ARK_OK;
}

static const char SVG[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect width=\"10\" "
                          "height=\"10\" fill=\"red\"/></svg>\n";

static ark_status report_c_exp(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    (void)args;
    ark_status st = ark_exp_set_param(run, "label", "\"<i>x</i> & 'y'\"");
    if (st == ARK_OK) st = ark_exp_log_metric(run, "accuracy", 0.875);
    if (st == ARK_OK) st = ark_exp_put_result(run, "answer", "{\"text\": \"<script>alert(1)</script>\"}");
    if (st == ARK_OK) st = ark_exp_log_artefact_data(run, "curve.svg", SVG, strlen(SVG), NULL);
    if (st == ARK_OK) st = ark_exp_log_artefact_data(run, "notes.txt", "<b>bold</b>\n", 12, NULL);
    if (st == ARK_OK) st = ark_exp_log_artefact_data(run, "../evil name.png", "not really a png", 16, NULL);
    ark_hypothesis h = {.name = "the alternative is larger", .metric = "score", .null_fn = null_values,
                        .alt_fn = alt_values, .n = 8, .test = ARK_STATS_TTEST};
    if (st == ARK_OK) st = ark_test_hypothesis(&h, run, NULL, NULL);
    return st;
}

static char *read_all(const char *path)
{
    char *t = read_file(path, NULL);
    if (!t) fail_msg("%s: missing", path);
    return t;
}

static void expect_in(const char *html, const char *needle)
{
    if (!strstr(html, needle)) fail_msg("index.html lacks %s", needle);
}

static char *join(const char *a, const char *b)
{
    char *p = malloc(strlen(a) + strlen(b) + 2);
    sprintf(p, "%s/%s", a, b);
    return p;
}

/* Log the run; returns its store folder. */
static char *log_run(int64_t *run_id)
{
    char *dir = strdup(scratch_dir("report_c"));
    char *store = join(dir, "exps");
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, store, &b), ARK_OK);
    assert_int_equal(ARK_LOG_EXPERIMENT(b, report_c_exp, NULL), ARK_OK);
    *run_id = ark_bench_last_run(b);
    ark_exp_store *s = ark_bench_store(b);
    const char *tests = "[{\"name\": \"second <test>\", \"hypothesis\": \"h2\", \"a\": \"tools.0.x\", \"b\": \"tools.1.x\","
                        " \"test\": \"permutation\", \"n_a\": 5, \"n_b\": 5, \"mean_a\": 1, \"mean_b\": 0.5,"
                        " \"mean_diff\": 0.5, \"statistic\": null, \"p_value\": 0.0312, \"alpha\": 0.05,"
                        " \"ci\": null, \"decision\": \"reject H0\", \"reject\": true}]";
    assert_int_equal(ark_exp_store_attach(s, *run_id, "hypothesis_tests", tests), ARK_OK);
    ark_bench_free(b);
    free(dir);
    return store;
}

static void test_report_c_run(void **state)
{
    (void)state;
    int64_t run;
    char *store = log_run(&run);
    char *out = join(store, "../report");
    char *index = NULL, *files = NULL;
    if (ark_exp_report(store, "report_c_exp", NULL, 0, out, &index, &files) != ARK_OK) fail_msg("%s", ark_errmsg());
    char *html = read_all(index);
    expect_in(html, "<title>report_c_exp");
    expect_in(html, "&lt;i&gt;x&lt;/i&gt; &amp; &#39;y&#39;");           /* the parameter, escaped */
    expect_in(html, "&lt;script&gt;alert(1)&lt;/script&gt;");          /* the result preview */
    assert_null(strstr(html, "<script>alert"));
    assert_null(strstr(html, "<i>x</i>"));
    expect_in(html, "accuracy</td><td class=\"num\">0.875<");
    /* Welch: means 13.5 and 3.5, Δ 10, t = 10 / sqrt(6/8 + 6/8) = 8.165, df 14, p ~ 1e-6. */
    expect_in(html, "the alternative is larger");
    expect_in(html, ">13.5<");
    expect_in(html, ">3.5<");
    expect_in(html, ">10<");
    expect_in(html, "t = 8.165");
    expect_in(html, "df 14<");
    expect_in(html, "&lt; 1e-4");
    expect_in(html, "reject H0");
    /* the second test, from "hypothesis_tests" */
    expect_in(html, "second &lt;test&gt;");
    expect_in(html, "a: <code>tools.0.x</code>");
    expect_in(html, ">0.031<");
    /* files: the SVG shown, the text linked, the odd name kept inside */
    expect_in(html, "<img src=\"curve.svg\"");
    expect_in(html, "href=\"notes.txt\"");
    expect_in(html, "evil_name.png");
    cJSON *fj = cJSON_Parse(files);
    assert_non_null(fj);
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(fj, "files")) {
        assert_true(access(it->valuestring, R_OK) == 0);
        assert_non_null(strstr(it->valuestring, "/report/"));
        n++;
    }
    assert_true(n >= 6);
    cJSON_Delete(fj);
    char *svg_copy = join(out, "curve.svg");
    char *copied = read_all(svg_copy);
    assert_string_equal(copied, SVG);
    free(copied);
    free(svg_copy);

    /* A rerun into the same folder replaces the report and keeps a file of the user's. */
    char *mine = join(out, "my-notes.md");
    FILE *f = fopen(mine, "w");
    fputs("mine\n", f);
    fclose(f);
    free(index);
    free(files);
    assert_int_equal(ark_exp_report(store, "report_c_exp", "1", run, out, &index, NULL), ARK_OK);
    assert_true(access(mine, R_OK) == 0);
    free(mine);
    free(index);
    free(html);
    free(out);
    free(store);
}

static void test_report_errors(void **state)
{
    (void)state;
    int64_t run;
    char *store = log_run(&run);

    /* A foreign non-empty folder: refused, its file untouched. */
    char *foreign = join(store, "../foreign");
    mkdir(foreign, 0777);
    char *keep = join(foreign, "index.html");
    FILE *f = fopen(keep, "w");
    fputs("precious\n", f);
    fclose(f);
    assert_int_equal(ark_exp_report(store, "report_c_exp", NULL, 0, foreign, NULL, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "choose another folder or empty"));
    char *t = read_all(keep);
    assert_string_equal(t, "precious\n");
    free(t);
    free(keep);
    free(foreign);

    char *out = join(store, "../r");
    assert_int_equal(ark_exp_report(store, "no_such_exp", NULL, 0, out, NULL, NULL), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "no_such_exp"));
    assert_int_equal(ark_exp_report(store, "report_c_exp", "7", 0, out, NULL, NULL), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "\"7\""));
    assert_int_equal(ark_exp_report(store, "report_c_exp", NULL, run + 100, out, NULL, NULL), ARK_ERR_MISSING);
    assert_int_equal(ark_exp_report(store, "report_c_exp", "1", run + 100, out, NULL, NULL), ARK_ERR_MISSING);
    char *nostore = join(store, "../nostore");
    assert_int_equal(ark_exp_report(nostore, "report_c_exp", NULL, 0, out, NULL, NULL), ARK_ERR_MISSING);
    assert_true(access(nostore, F_OK) != 0); /* nothing created */
    free(nostore);

    /* An artefact file gone from the store: refused before anything is written. */
    char *json = NULL;
    ark_exp_store *s;
    assert_int_equal(ark_exp_store_open(store, &s), ARK_OK);
    assert_int_equal(ark_exp_run_json(s, run, &json), ARK_OK);
    ark_exp_store_free(s);
    cJSON *r = cJSON_Parse(json);
    free(json);
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "artefacts"), 1), "path"));
    assert_int_equal(unlink(path), 0);
    cJSON_Delete(r);
    assert_int_equal(ark_exp_report(store, "report_c_exp", NULL, 0, out, NULL, NULL), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "artefact \"notes.txt\""));
    assert_true(access(out, F_OK) != 0);
    free(out);
    free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_c_run),
        cmocka_unit_test(test_report_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
