/* Human output of `arrakis exp`: experiments, versions, one version with
 * its runs, diffs.  Times are UTC. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_exp.h"

static const char *str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "";
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* "2026-11-27T06:05:10.123Z" -> "2026-11-27 06:05:10". */
static const char *when(const char *iso)
{
    static char buf[4][24];
    static int k;
    char *b = buf[k++ & 3];
    if (!iso || strlen(iso) < 19) return iso && *iso ? iso : "-";
    snprintf(b, 24, "%.10s %.8s", iso, iso + 11);
    return b;
}

/* Compact JSON, cut to `max` characters. */
static void print_json_cut(const cJSON *v, size_t max)
{
    char *t = cJSON_PrintUnformatted(v);
    if (!t) return;
    if (strlen(t) > max) printf("%.*s ... (%zu chars; --json for all)", (int)max, t, strlen(t));
    else printf("%s", t);
    free(t);
}

void cli_exp_print_run_line(const cJSON *r)
{
    printf("%s  version %.0f (%.12s)  run %.0f  %s  %.3f s", str(r, "experiment"), num(r, "version"), str(r, "hash"),
           num(r, "run"), str(r, "status"), num(r, "duration_s"));
    const cJSON *ov = cJSON_GetObjectItemCaseSensitive(r, "overrides");
    if (cJSON_GetArraySize(ov)) {
        printf("  ");
        print_json_cut(ov, 200);
    }
    printf("\n");
}

void cli_exp_print_list(const cJSON *o)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "experiments"), *e;
    if (!cJSON_GetArraySize(arr)) { printf("no experiments in %s\n", str(o, "dir")); return; }
    printf("%-32s %8s %6s  %s\n", "EXPERIMENT", "VERSIONS", "RUNS", "LAST RUN (UTC)");
    cJSON_ArrayForEach(e, arr)
        printf("%-32s %8.0f %6.0f  %s\n", str(e, "name"), num(e, "n_versions"), num(e, "n_runs"), when(str(e, "last_run")));
}

void cli_exp_print_versions(const cJSON *o)
{
    printf("%s\n", str(o, "experiment"));
    printf("  %3s  %-12s  %-4s  %5s  %-19s  %-19s  %s\n", "VER", "HASH", "KIND", "RUNS", "FIRST RUN (UTC)", "LAST RUN (UTC)",
           "OUTCOMES");
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, "versions")) {
        printf("  %3.0f  %.12s  %-4s  %5.0f  %-19s  %-19s  %.0f ok", num(v, "version"), str(v, "hash"), str(v, "kind"),
               num(v, "n_runs"), when(str(v, "first_run")), when(str(v, "last_run")), num(v, "n_ok"));
        if (num(v, "n_failed")) printf(", %.0f failed", num(v, "n_failed"));
        if (num(v, "n_running")) printf(", %.0f running", num(v, "n_running"));
        if (num(v, "n_interrupted")) printf(", %.0f interrupted", num(v, "n_interrupted"));
        printf("\n");
    }
}

static void print_indented(const char *text, const char *indent)
{
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        int n = e ? (int)(e - p) : (int)strlen(p);
        printf("%s%.*s\n", indent, n, p);
        p += n + (e != NULL);
    }
}

/* A number of a test's JSON ("-" when null or absent; +-inf for open interval ends). */
static void print_num(const char *label, const cJSON *o, const char *key, double missing)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (label) printf("%s", label);
    if (cJSON_IsNumber(v)) printf("%.4g", v->valuedouble);
    else if (missing != 0) printf("%sinf", missing < 0 ? "-" : "");
    else printf("-");
}

/* The spec's hypothesis tests (attachment "hypothesis_tests"), two lines each. */
static void print_tests(const cJSON *tests)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tests) {
        printf("    test       %s: %s%s  ", str(t, "name"), str(t, "test"), cJSON_IsTrue(cJSON_GetObjectItem(t, "paired")) &&
               !strstr(str(t, "test"), "paired") ? " (paired)" : "");
        print_num("mean_a ", t, "mean_a", 0);
        print_num("  mean_b ", t, "mean_b", 0);
        print_num("  diff ", t, "mean_diff", 0);
        const cJSON *ci = cJSON_GetObjectItemCaseSensitive(t, "ci");
        if (cJSON_IsObject(ci)) {
            printf("  %g%% CI [", 100 * num(ci, "level"));
            print_num(NULL, ci, "low", -1);
            print_num(", ", ci, "high", 1);
            printf("]");
        }
        printf("\n               %s = ", str(t, "statistic_name"));
        print_num(NULL, t, "statistic", 0);
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "df"))) print_num(", df ", t, "df", 0);
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "p_value"))) print_num("  p = ", t, "p_value", 0);
        printf("  (%s, alpha %g)  %s\n", str(t, "alternative"), num(t, "alpha"), str(t, "decision"));
        if (*str(t, "hypothesis")) printf("               hypothesis: %s\n", str(t, "hypothesis"));
        printf("               a = %s, b = %s\n", str(t, "a"), str(t, "b"));
    }
}

/* One run; brief: without its parameters, result and artefact paths. */
static void print_run(const cJSON *r, bool brief)
{
    printf("  run %.0f  %s  %s UTC  %.3f s", num(r, "id"), str(r, "status"), when(str(r, "started")), num(r, "duration_s"));
    if (num(r, "peak_rss_kb")) printf("  peak memory %.1f MB", num(r, "peak_rss_kb") / 1024.0);
    printf("  %s (pid %.0f)\n", str(r, "host"), num(r, "pid"));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "model");
    if (cJSON_IsObject(m)) printf("    model      %s (sha256 %.16s)\n", str(m, "dir"), str(m, "sha256"));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "tokenizer");
    if (cJSON_IsObject(t)) printf("    tokenizer  %s (sha256 %.16s)\n", str(t, "file"), str(t, "sha256"));
    if (!brief) {
        printf("    params     ");
        print_json_cut(cJSON_GetObjectItemCaseSensitive(r, "params"), 300);
        printf("\n");
    }
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(r, "metrics"), *it;
    if (cJSON_GetArraySize(metrics)) {
        printf("    metrics   ");
        cJSON_ArrayForEach(it, metrics) {
            if (cJSON_IsNumber(it)) printf(" %s=%.6g", it->string, it->valuedouble);
            else printf(" %s=null", it->string);
        }
        printf("\n");
    }
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(r, "result");
    if (!brief && result && !cJSON_IsNull(result)) {
        printf("    result     ");
        print_json_cut(result, 300);
        printf("\n");
    }
    if (!brief)
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "artefacts"))
            printf("    artefact   %s  %.0f bytes  sha256 %.16s  %s\n", str(it, "name"), num(it, "bytes"), str(it, "sha256"),
               str(it, "path"));
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(r, "attachments");
    if (cJSON_GetArraySize(att)) {
        printf("    attached  ");
        cJSON_ArrayForEach(it, att) printf(" %s", it->string);
        printf("\n");
        const cJSON *plots = cJSON_GetObjectItemCaseSensitive(att, "plots");
        cJSON_ArrayForEach(it, plots) printf("    plot       %s -> %s: %s\n", str(it, "type"), str(it, "out"), str(it, "status"));
        print_tests(cJSON_GetObjectItemCaseSensitive(att, "hypothesis_tests"));
    }
    const char *err = str(r, "error");
    if (*err) printf("    error      %s\n", err);
}

/* A spec's description (its "description:" field), wrapped. */
static void print_description(const cJSON *run)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "params"), "spec");
    const char *d = str(spec, "description");
    int col = 0;
    while (*d) {
        size_t w = strcspn(d, " \n");
        if (col && col + (int)w > 96) printf("\n"), col = 0;
        printf("%s%.*s", col ? " " : "  ", (int)w, d);
        col += (int)w + 1 + !col;
        d += w;
        while (*d == ' ' || *d == '\n') d++;
    }
    if (col) printf("\n");
}

void cli_exp_print_version_brief(const cJSON *o)
{
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(o, "runs");
    int n = cJSON_GetArraySize(runs);
    printf("experiment %s, version %.0f (%.12s), %d run%s; the latest:\n", str(o, "experiment"), num(o, "version"),
           str(o, "hash"), n, n == 1 ? "" : "s");
    if (!n) return;
    const cJSON *last = cJSON_GetArrayItem(runs, n - 1);
    print_description(last);
    print_run(last, true);
}

void cli_exp_print_version(const cJSON *o)
{
    printf("experiment %s, version %.0f (%s)\n", str(o, "experiment"), num(o, "version"), str(o, "hash"));
    printf("  kind %s, created %s UTC", str(o, "kind"), when(str(o, "created")));
    if (*str(o, "file")) printf(", from %s:%.0f", str(o, "file"), num(o, "line"));
    printf("\n");
    if (*str(o, "source_note")) printf("  note: %s\n", str(o, "source_note"));
    printf("source:\n");
    print_indented(str(o, "source"), "  | ");
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(o, "runs"), *r;
    printf("runs (%d):\n", cJSON_GetArraySize(runs));
    cJSON_ArrayForEach(r, runs) print_run(r, false);
}

void cli_exp_print_diff(const cJSON *o)
{
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from"), *to = cJSON_GetObjectItemCaseSensitive(o, "to");
    printf("experiment %s: version %.0f (%.12s) -> version %.0f (%.12s)\n", str(o, "experiment"), num(from, "version"),
           str(from, "hash"), num(to, "version"), str(to, "hash"));
    const char *d = str(o, "source_diff");
    if (*d) {
        printf("source:\n");
        fputs(d, stdout);
    } else {
        printf("source: identical\n");
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(from, "run"), *rt = cJSON_GetObjectItemCaseSensitive(to, "run");
    if (!cJSON_IsNumber(rf) || !cJSON_IsNumber(rt)) {
        printf("results: a version has no runs\n");
        return;
    }
    const cJSON *diffs = cJSON_GetObjectItemCaseSensitive(o, "result_diff"), *it;
    printf("results (latest runs %.0f -> %.0f): %s\n", rf->valuedouble, rt->valuedouble,
           cJSON_GetArraySize(diffs) ? "" : "identical");
    cJSON_ArrayForEach(it, diffs) {
        printf("  %s: ", str(it, "path"));
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "old"), *b = cJSON_GetObjectItemCaseSensitive(it, "new");
        if (a) print_json_cut(a, 100);
        else printf("(absent)");
        printf(" -> ");
        if (b) print_json_cut(b, 100);
        else printf("(absent)");
        printf("\n");
    }
}
