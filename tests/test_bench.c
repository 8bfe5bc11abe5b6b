/* The bench: versioned experiments in an SQLite store.
 *
 *   - ARK_LOG_EXPERIMENT records exactly the experiment function's text, as
 *     found here between the BEGIN/END markers by plain string search (the
 *     function holds braces in comments, strings and a character literal);
 *   - two source files differing in one line give two versions whose
 *     source diff is that line, and whose result diff is the changed value;
 *     rerunning unchanged code adds a run to the existing version;
 *   - a source file that is not there is recorded with its reason, and the
 *     version is the SHA-256 (computed here with OpenSSL) of what is known;
 *   - 8 forked processes logging 50 runs each into one folder leave 400
 *     runs, all "ok", with distinct ids and an intact database
 *     (PRAGMA integrity_check, run here through SQLite directly);
 *   - a process SIGKILLed inside an experiment leaves the earlier runs and
 *     that run marked unfinished ("interrupted"), in a store that still
 *     takes new runs;
 *   - export JSON parses and holds every run; artefacts are stored under
 *     their SHA-256 (computed here) with their bytes;
 *   - the model identity is SHA-256 of config.json and of the safetensors
 *     header (both computed here from the files), and changes when
 *     config.json changes;
 *   - the hand-written unified diffs and JSON diffs; every error path names
 *     its field.
 * Tools and specs: test_bench_spec.c. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "bench/bench_internal.h"
#include "core/error.h"
#include "testutil.h"
#include "bench_testutil.h"

#define FACTS "trained/facts-llama"

/* ---- helpers ---- */

static char *scratch(const char *name) { return strdup(scratch_dir(name)); }

static void sha256_hex_here(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++) sprintf(hex + 2 * i, "%02x", md[i]);
}


/* "ok" | "integrity problem" of a database, checked through SQLite. */
static void assert_db_intact(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/experiments.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* ---- experiment functions ---- */

static ark_status captured_experiment(ark_bench *b, ark_exp_run *run, void *args);

/* Sets result {"x": params.x} and metric x. */
static ark_status versioned_exp(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    (void)args;
    cJSON *p = cJSON_Parse(ark_exp_params(run));
    double x = cJSON_GetNumberValue(cJSON_GetObjectItem(p, "x"));
    cJSON_Delete(p);
    char buf[64];
    snprintf(buf, sizeof buf, "%g", x);
    ark_status st = ark_exp_put_result(run, "x", buf);
    if (st == ARK_OK) st = ark_exp_log_metric(run, "x", x);
    return st;
}

/* BEGIN captured_experiment */
static ark_status captured_experiment(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    (void)args;
    /* a comment with a brace } and { */
    const char *s = "a string with } and { and \" quote"; // a line comment }
    char c = '}';
    if (s[0] == c) return ARK_ERR_ARG;
    return ark_exp_log_metric(run, "answer", 42);
}
/* END captured_experiment */

static ark_status failing_exp(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    (void)run;
    (void)args;
    fprintf(stderr, "%s", ""); /* nothing */
    return ark_exp_set_result(run, "{\"partial\": true}") == ARK_OK ? (ark_status)ARK_ERR_SHAPE : ARK_ERR_ARG;
}

/* ---- source capture ---- */

static void test_capture_source(void **state)
{
    (void)state;
    char *dir = scratch("bench_capture");
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    assert_int_equal(ARK_LOG_EXPERIMENT(b, captured_experiment, NULL), ARK_OK);

    /* The text between the markers, found by plain search. */
    char *self = read_file(__FILE__, NULL);
    assert_non_null(self);
    const char *begin_marker = "/* BEGIN " "captured_experiment */\n", *end_marker = "/* END " "captured_experiment */";
    char *from = strstr(self, begin_marker);
    assert_non_null(from);
    from += strlen(begin_marker);
    char *to = strstr(from, end_marker);
    assert_non_null(to);
    *to = '\0';

    cJSON *v = version_json(ark_bench_store(b), "captured_experiment", NULL);
    assert_string_equal(str(v, "source"), from);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(v, "source_note")));
    assert_string_equal(str(v, "kind"), "c");
    assert_string_equal(str(v, "function"), "captured_experiment");
    /* The version is the SHA-256 of that text. */
    char hex[65];
    sha256_hex_here(from, strlen(from), hex);
    assert_string_equal(str(v, "hash"), hex);
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "runs"), 0);
    assert_string_equal(str(run, "status"), "ok");
    assert_true(num(cJSON_GetObjectItem(run, "metrics"), "answer") == 42);
    assert_string_equal(str(run, "library_version"), ark_version());
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(run, "model")));
    cJSON_Delete(v);
    free(self);
    ark_bench_free(b);
    free(dir);
}

static void test_c_function_lexer(void **state)
{
    (void)state;
    char why[256];
    int line = 0;
    const char *text =
        "#define f(x) { x }\n"
        "int f(int);\n"
        "static int g(void) { return f(1); }\n"
        "struct s { int a; };\n"
        "/* f(void) { */\n"
        "static const char *k = \"f(int y) {\";\n"
        "__attribute__((unused))\n"
        "static int\n"
        "f(int y) /* c */\n"
        "{\n"
        "    if (y) { return '{'; }\n"
        "    return 0; } // end\n"
        "int after;\n";
    char *got = ark_c_function_source(text, "f", &line, why, sizeof why);
    assert_non_null(got);
    assert_string_equal(got, "__attribute__((unused))\nstatic int\nf(int y) /* c */\n{\n"
                             "    if (y) { return '{'; }\n    return 0; } // end\n");
    assert_int_equal(line, 7);
    free(got);
    assert_null(ark_c_function_source(text, "nothere", &line, why, sizeof why));
    assert_non_null(strstr(why, "no definition of nothere"));
    assert_null(ark_c_function_source("int h(void) { return 1;\n", "h", &line, why, sizeof why));
    assert_non_null(strstr(why, "no closing brace"));
}

static void test_source_unavailable(void **state)
{
    (void)state;
    char *dir = scratch("bench_unavail");
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    const char *missing = "/nonexistent/moved/experiment.c";
    assert_int_equal(ark_bench_log_experiment(b, "versioned_exp", versioned_exp, NULL, "{\"x\": 1}", missing, 17), ARK_OK);
    cJSON *v = version_json(ark_bench_store(b), "versioned_exp", NULL);
    const char *note = str(v, "source_note");
    assert_non_null(note);
    assert_true(!strncmp(note, "source unavailable: ", 20));
    assert_non_null(strstr(note, missing));
    assert_non_null(strstr(note, strerror(ENOENT)));
    char expect[256], hex[65];
    snprintf(expect, sizeof expect, "function versioned_exp at %s:17\n", missing);
    assert_string_equal(str(v, "source"), expect);
    sha256_hex_here(expect, strlen(expect), hex);
    assert_string_equal(str(v, "hash"), hex);
    cJSON_Delete(v);

    /* A file without the definition. */
    char path[4200];
    snprintf(path, sizeof path, "%s/other.c", dir);
    write_text(path, "int unrelated(void) { return 0; }\n");
    assert_int_equal(ark_bench_log_experiment(b, "versioned_exp", versioned_exp, NULL, "{\"x\": 2}", path, 1), ARK_OK);
    v = version_json(ark_bench_store(b), "versioned_exp", "2");
    assert_non_null(strstr(str(v, "source_note"), "source unavailable: no definition of versioned_exp"));
    cJSON_Delete(v);
    ark_bench_free(b);
    free(dir);
}

/* ---- versions, runs, diffs ---- */

static const char *const source_a =
    "#include \"arrakis/bench.h\"\n"
    "/* the experiment, as first written */\n"
    "static ark_status versioned_exp(ark_bench *b, ark_exp_run *run, void *args)\n"
    "{\n"
    "    (void)b;\n"
    "    (void)args;\n"
    "    int x = 1;\n"
    "    return ark_exp_log_metric(run, \"x\", x);\n"
    "}\n";

static void test_versions(void **state)
{
    (void)state;
    char *dir = scratch("bench_versions");
    char fa[4200], fb[4200];
    snprintf(fa, sizeof fa, "%s/a.c", dir);
    snprintf(fb, sizeof fb, "%s/b.c", dir);
    write_text(fa, source_a);
    char *src_b = strdup(source_a);
    strstr(src_b, "int x = 1;")[8] = '2'; /* the one changed line */
    write_text(fb, src_b);

    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    assert_int_equal(ark_bench_log_experiment(b, "versioned_exp", versioned_exp, NULL, "{\"x\": 1}", fa, 3), ARK_OK);
    int64_t first = ark_bench_last_run(b);
    assert_int_equal(ark_bench_log_experiment(b, "versioned_exp", versioned_exp, NULL, "{\"x\": 1}", fa, 3), ARK_OK);
    cJSON *vs = versions_json(ark_bench_store(b), "versioned_exp");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(vs, "versions")), 1);
    assert_true(num(cJSON_GetArrayItem(cJSON_GetObjectItem(vs, "versions"), 0), "n_runs") == 2);
    cJSON_Delete(vs);

    assert_int_equal(ark_bench_log_experiment(b, "versioned_exp", versioned_exp, NULL, "{\"x\": 2}", fb, 3), ARK_OK);
    /* Back to the first code: a third run of version 1, no new version. */
    assert_int_equal(ark_bench_log_experiment(b, "versioned_exp", versioned_exp, NULL, "{\"x\": 1}", fa, 3), ARK_OK);
    vs = versions_json(ark_bench_store(b), "versioned_exp");
    const cJSON *arr = cJSON_GetObjectItem(vs, "versions");
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    const cJSON *v1 = cJSON_GetArrayItem(arr, 0), *v2 = cJSON_GetArrayItem(arr, 1);
    assert_true(num(v1, "version") == 1 && num(v1, "n_runs") == 3 && num(v1, "n_ok") == 3);
    assert_true(num(v2, "version") == 2 && num(v2, "n_runs") == 1);
    char ha[65], hb[65];
    char *body_a = strstr(source_a, "static ark_status"), *body_b = strstr(src_b, "static ark_status");
    sha256_hex_here(body_a, strlen(body_a), ha);
    sha256_hex_here(body_b, strlen(body_b), hb);
    assert_string_equal(str(v1, "hash"), ha);
    assert_string_equal(str(v2, "hash"), hb);

    /* Version by hash prefix, by "latest"; the first run is kept as it was. */
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", hb);
    cJSON *v = version_json(ark_bench_store(b), "versioned_exp", prefix);
    assert_true(num(v, "version") == 2);
    cJSON_Delete(v);
    v = version_json(ark_bench_store(b), "versioned_exp", "latest");
    assert_true(num(v, "version") == 2);
    cJSON_Delete(v);
    char *json = NULL;
    ark_status st = ark_exp_run_json(ark_bench_store(b), first, &json);
    cJSON *r = parse_ok(st, json);
    assert_string_equal(str(r, "status"), "ok");
    assert_true(num(cJSON_GetObjectItem(r, "result"), "x") == 1);
    assert_true(num(cJSON_GetObjectItem(r, "params"), "x") == 1);
    cJSON_Delete(r);

    /* The diff: exactly the changed line, and the changed value. */
    st = ark_exp_diff(ark_bench_store(b), "versioned_exp", "1", "2", &json);
    cJSON *d = parse_ok(st, json);
    const char *sd = str(d, "source_diff");
    int minus = 0, plus = 0;
    for (const char *p = sd; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!strncmp(p, "---", 3) || !strncmp(p, "+++", 3)) { /* headers */ }
        else if (*p == '-') { minus++; assert_true(n == 15 && !strncmp(p, "-    int x = 1;", n)); }
        else if (*p == '+') { plus++; assert_true(n == 15 && !strncmp(p, "+    int x = 2;", n)); }
        p += n + (e != NULL);
    }
    assert_int_equal(minus, 1);
    assert_int_equal(plus, 1);
    const cJSON *rd = cJSON_GetObjectItem(d, "result_diff");
    assert_int_equal(cJSON_GetArraySize(rd), 2);
    const cJSON *e0 = cJSON_GetArrayItem(rd, 0), *e1 = cJSON_GetArrayItem(rd, 1);
    assert_string_equal(str(e0, "path"), "result.x");
    assert_true(num(e0, "old") == 1 && num(e0, "new") == 2);
    assert_string_equal(str(e1, "path"), "metrics.x");
    cJSON_Delete(d);
    cJSON_Delete(vs);

    /* A failing experiment: recorded "failed" with its message, returned. */
    assert_int_equal(ARK_LOG_EXPERIMENT(b, failing_exp, NULL), ARK_ERR_SHAPE);
    st = ark_exp_run_json(ark_bench_store(b), ark_bench_last_run(b), &json);
    r = parse_ok(st, json);
    assert_string_equal(str(r, "status"), "failed");
    assert_string_equal(str(r, "error"), "shape");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "partial")));
    cJSON_Delete(r);
    ark_bench_free(b);
    free(src_b);
    free(dir);
}

static void test_text_diff(void **state)
{
    (void)state;
    char *d = ark_text_diff("a\nb\nc\n", "a\nb\nc\n", "x", "y");
    assert_string_equal(d, "");
    free(d);
    d = ark_text_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n",
                      "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n12\n13\n14\nend", "x", "y");
    /* Hand-written: two hunks (the changes are 9 lines apart). */
    assert_string_equal(d, "--- x\n+++ y\n"
                           "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
                           "@@ -12,3 +12,4 @@\n 12\n 13\n 14\n+end\n\\ No newline at end of file\n");
    free(d);
    d = ark_text_diff("", "x\n", "a", "b");
    assert_string_equal(d, "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
    free(d);
}

static void test_json_diff(void **state)
{
    (void)state;
    cJSON *a = cJSON_Parse("{\"k\": 1, \"l\": [1, 2, 3], \"s\": \"x\", \"gone\": true, \"same\": {\"q\": [null]}}");
    cJSON *b = cJSON_Parse("{\"k\": 1.5, \"l\": [1, 5], \"s\": 3, \"same\": {\"q\": [null]}, \"new\": false}");
    cJSON *d = ark_json_diff(a, b);
    char *t = cJSON_PrintUnformatted(d);
    assert_string_equal(t, "[{\"path\":\"k\",\"old\":1,\"new\":1.5},{\"path\":\"l[1]\",\"old\":2,\"new\":5},"
                           "{\"path\":\"l[2]\",\"old\":3},{\"path\":\"s\",\"old\":\"x\",\"new\":3},"
                           "{\"path\":\"gone\",\"old\":true},{\"path\":\"new\",\"new\":false}]");
    free(t);
    cJSON_Delete(d);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* ---- many processes, crashes ---- */

static ark_status parallel_experiment(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    int i = *(int *)args;
    ark_status st = ark_exp_log_metric(run, "i", i);
    /* Every 10th run stores an artefact whose bytes other workers store
     * too: concurrent writers of one hash. */
    if (st == ARK_OK && i % 10 == 0) {
        char data[64];
        int n = snprintf(data, sizeof data, "artefact %d\n", i);
        st = ark_exp_log_artefact_data(run, "shared.txt", data, (size_t)n, NULL);
    }
    return st;
}

static void test_parallel_processes(void **state)
{
    (void)state;
    char *dir = scratch("bench_parallel");
    enum { WORKERS = 8, RUNS = 50 };
    pid_t pids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            ark_bench *b;
            int bad = ark_bench_open(NULL, NULL, dir, &b) != ARK_OK;
            for (int i = 0; i < RUNS && !bad; i++) {
                char params[64];
                snprintf(params, sizeof params, "{\"worker\": %d, \"i\": %d}", w, i);
                bad = ARK_LOG_EXPERIMENT_PARAMS(b, parallel_experiment, &i, params) != ARK_OK;
            }
            if (bad) fprintf(stderr, "worker %d: %s\n", w, ark_errmsg());
            ark_bench_free(b);
            _exit(bad);
        }
    }
    for (int w = 0; w < WORKERS; w++) {
        int status;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_db_intact(dir);
    ark_exp_store *s;
    assert_int_equal(ark_exp_store_open(dir, &s), ARK_OK);
    char *json = NULL;
    ark_status st = ark_exp_export(s, "parallel_experiment", &json);
    cJSON *ex = parse_ok(st, json);
    const cJSON *versions = cJSON_GetObjectItem(ex, "versions");
    assert_int_equal(cJSON_GetArraySize(versions), 1);
    const cJSON *runs = cJSON_GetObjectItem(cJSON_GetArrayItem(versions, 0), "runs"), *r;
    assert_int_equal(cJSON_GetArraySize(runs), WORKERS * RUNS);
    /* Every (worker, i) exactly once, each run whole. */
    static char seen[WORKERS][RUNS];
    memset(seen, 0, sizeof seen);
    cJSON_ArrayForEach(r, runs) {
        assert_string_equal(str(r, "status"), "ok");
        const cJSON *p = cJSON_GetObjectItem(r, "params");
        int w = (int)num(p, "worker"), i = (int)num(p, "i");
        assert_true(w >= 0 && w < WORKERS && i >= 0 && i < RUNS);
        assert_int_equal(seen[w][i]++, 0);
        assert_true(num(cJSON_GetObjectItem(r, "metrics"), "i") == i);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "artefacts")), i % 10 == 0);
    }
    /* The shared artefacts are whole. */
    for (int i = 0; i < RUNS; i += 10) {
        char data[64], hex[65];
        int n = snprintf(data, sizeof data, "artefact %d\n", i);
        sha256_hex_here(data, (size_t)n, hex);
        char *path = ark_exp_artefact_path(s, hex);
        size_t len;
        char *got = read_file(path, &len);
        assert_non_null(got);
        assert_true(len == (size_t)n && !memcmp(got, data, len));
        free(got);
        free(path);
    }
    cJSON_Delete(ex);
    ark_exp_store_free(s);
    free(dir);
}

static ark_status sleeper(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    ark_exp_log_metric(run, "never", 1);
    int fd = *(int *)args;
    if (write(fd, "x", 1) != 1) return ARK_ERR_IO;
    sleep(60);
    return ARK_OK;
}

static void test_killed_mid_run(void **state)
{
    (void)state;
    char *dir = scratch("bench_killed");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        ark_bench *b;
        if (ark_bench_open(NULL, NULL, dir, &b) != ARK_OK) _exit(3);
        for (int i = 0; i < 3; i++) {
            char params[32];
            snprintf(params, sizeof params, "{\"x\": %d}", i);
            if (ARK_LOG_EXPERIMENT_PARAMS(b, versioned_exp, NULL, params) != ARK_OK) _exit(4);
        }
        ARK_LOG_EXPERIMENT(b, sleeper, &fds[1]);
        _exit(5);
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1); /* inside the experiment */
    close(fds[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    assert_db_intact(dir);
    ark_exp_store *s;
    assert_int_equal(ark_exp_store_open(dir, &s), ARK_OK);
    cJSON *v = version_json(s, "versioned_exp", NULL);
    const cJSON *runs = cJSON_GetObjectItem(v, "runs"), *r;
    assert_int_equal(cJSON_GetArraySize(runs), 3);
    int i = 0;
    cJSON_ArrayForEach(r, runs) {
        assert_string_equal(str(r, "status"), "ok");
        assert_true(num(cJSON_GetObjectItem(r, "result"), "x") == i);
        i++;
    }
    cJSON_Delete(v);
    v = version_json(s, "sleeper", NULL);
    r = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "runs"), 0);
    assert_string_equal(str(r, "status"), "interrupted");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "duration_s")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "metrics")), 0);
    cJSON_Delete(v);
    cJSON *vs = versions_json(s, "sleeper");
    assert_true(num(cJSON_GetArrayItem(cJSON_GetObjectItem(vs, "versions"), 0), "n_interrupted") == 1);
    cJSON_Delete(vs);
    ark_exp_store_free(s);

    /* The store goes on taking runs. */
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    assert_int_equal(ARK_LOG_EXPERIMENT_PARAMS(b, versioned_exp, NULL, "{\"x\": 9}"), ARK_OK);
    ark_bench_free(b);
    free(dir);
}

/* ---- records: artefacts, attachments, export ---- */

static ark_status recording_exp(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)b;
    const char *file = args;
    ARK_TRY(ark_exp_set_param(run, "seed", "7"));
    ARK_TRY(ark_exp_set_param(run, "label", "plain words"));
    ARK_TRY(ark_exp_set_result(run, "{\"logit_diff\": 2.5, \"top\": [\"Paris\", \"Rome\"]}"));
    ARK_TRY(ark_exp_log_metric(run, "logit_diff", 2.5));
    ARK_TRY(ark_exp_log_metric(run, "nan", NAN));
    ARK_TRY(ark_exp_log_artefact(run, file, NULL, NULL));
    ARK_TRY(ark_exp_log_artefact_data(run, "cache.bin", "\0\1\2", 3, NULL));
    ARK_TRY(ark_exp_attach(run, "profile", "{\"total_s\": 1}"));
    return ark_exp_attach(run, "profile", "{\"total_s\": 2}");
}

static void test_records_and_export(void **state)
{
    (void)state;
    char *dir = scratch("bench_records");
    char file[4200];
    snprintf(file, sizeof file, "%s/plot.svg", dir);
    const char *svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n";
    write_text(file, svg);
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    for (int k = 0; k < 3; k++) assert_int_equal(ARK_LOG_EXPERIMENT_PARAMS(b, recording_exp, file, "{\"k\": 1}"), ARK_OK);
    int64_t last = ark_bench_last_run(b);
    /* Attach after the run: kept as history, the newest one shown. */
    assert_int_equal(ark_exp_store_attach(ark_bench_store(b), last, "hypothesis_test", "{\"p\": 0.01}"), ARK_OK);
    assert_int_equal(ark_exp_store_attach(ark_bench_store(b), last, "hypothesis_test", "{\"p\": 0.02}"), ARK_OK);
    assert_int_equal(ark_exp_store_attach(ark_bench_store(b), 99999, "x", "{}"), ARK_ERR_MISSING);
    assert_int_equal(ark_exp_store_attach(ark_bench_store(b), last, "x", "not json"), ARK_ERR_FORMAT);

    char *json = NULL;
    ark_status st = ark_exp_export(ark_bench_store(b), "recording_exp", &json);
    cJSON *ex = parse_ok(st, json);
    assert_string_equal(str(ex, "format"), "arrakis-experiment");
    const cJSON *runs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(ex, "versions"), 0), "runs"), *r;
    assert_int_equal(cJSON_GetArraySize(runs), 3);
    char hex_svg[65], hex_bin[65];
    sha256_hex_here(svg, strlen(svg), hex_svg);
    sha256_hex_here("\0\1\2", 3, hex_bin);
    cJSON_ArrayForEach(r, runs) {
        const cJSON *p = cJSON_GetObjectItem(r, "params");
        assert_true(num(p, "k") == 1 && num(p, "seed") == 7);
        assert_string_equal(str(p, "label"), "plain words");
        assert_true(num(cJSON_GetObjectItem(r, "result"), "logit_diff") == 2.5);
        const cJSON *m = cJSON_GetObjectItem(r, "metrics");
        assert_true(num(m, "logit_diff") == 2.5);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "nan")));
        const cJSON *a = cJSON_GetObjectItem(r, "artefacts");
        assert_int_equal(cJSON_GetArraySize(a), 2);
        const cJSON *a0 = cJSON_GetArrayItem(a, 0), *a1 = cJSON_GetArrayItem(a, 1);
        assert_string_equal(str(a0, "name"), "plot.svg");
        assert_string_equal(str(a0, "sha256"), hex_svg);
        assert_true(num(a0, "bytes") == (double)strlen(svg));
        size_t len;
        char *got = read_file(str(a0, "path"), &len);
        assert_non_null(got);
        assert_string_equal(got, svg);
        free(got);
        assert_string_equal(str(a1, "name"), "cache.bin");
        assert_string_equal(str(a1, "sha256"), hex_bin);
        const cJSON *att = cJSON_GetObjectItem(r, "attachments");
        assert_true(num(cJSON_GetObjectItem(att, "profile"), "total_s") == 2);
        if (num(r, "id") == (double)last) assert_true(num(cJSON_GetObjectItem(att, "hypothesis_test"), "p") == 0.02);
        else assert_null(cJSON_GetObjectItem(att, "hypothesis_test"));
        assert_true(num(r, "duration_s") >= 0);
        assert_true(num(r, "peak_rss_kb") > 0);
        assert_non_null(str(r, "host"));
        assert_non_null(str(r, "started"));
    }
    cJSON_Delete(ex);
    ark_bench_free(b);
    free(dir);
}

/* ---- model identity ---- */

static void test_model_identity(void **state)
{
    (void)state;
    char *dir = scratch("bench_identity");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/model.safetensors' '%s/tokenizer.json' '%s/'",
             fixture_path(FACTS), fixture_path(FACTS), fixture_path(FACTS), dir);
    assert_int_equal(system(cmd), 0);
    ark_model_identity id1, id2;
    assert_int_equal(ark_model_identity_of(dir, &id1), ARK_OK);

    /* Independently: SHA-256 of config.json, and of the header as documented. */
    char path[4200], hex[65];
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *cfg = read_file(path, &len);
    sha256_hex_here(cfg, len, hex);
    assert_string_equal(id1.config_sha256, hex);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char *st = read_file(path, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)st[i];
    size_t n = sizeof "model.safetensors" + 8 + hl;
    char *buf = malloc(n);
    memcpy(buf, "model.safetensors", sizeof "model.safetensors");
    memcpy(buf + sizeof "model.safetensors", st, 8 + hl);
    sha256_hex_here(buf, n, hex);
    assert_string_equal(id1.weights_sha256, hex);
    char both[140];
    snprintf(both, sizeof both, "%s:%s", id1.config_sha256, id1.weights_sha256);
    sha256_hex_here(both, strlen(both), hex);
    assert_string_equal(id1.sha256, hex);
    free(buf);
    free(st);

    /* A changed config.json changes the identity, not the weights part. */
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "a");
    fputs("\n", f);
    fclose(f);
    assert_int_equal(ark_model_identity_of(dir, &id2), ARK_OK);
    assert_string_not_equal(id1.config_sha256, id2.config_sha256);
    assert_string_not_equal(id1.sha256, id2.sha256);
    assert_string_equal(id1.weights_sha256, id2.weights_sha256);
    free(cfg);

    /* A bench over the model records it (and its tokenizer) in each run. */
    ark_model *m;
    ark_tokenizer *tok;
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    assert_int_equal(ark_tokenizer_open(dir, &tok), ARK_OK);
    char save[4200];
    snprintf(save, sizeof save, "%s/exp", dir);
    ark_bench *b;
    assert_int_equal(ark_bench_open(m, tok, save, &b), ARK_OK);
    assert_int_equal(ARK_LOG_EXPERIMENT_PARAMS(b, versioned_exp, NULL, "{\"x\": 3}"), ARK_OK);
    char *json = NULL;
    ark_status s = ark_exp_run_json(ark_bench_store(b), ark_bench_last_run(b), &json);
    cJSON *r = parse_ok(s, json);
    const cJSON *mo = cJSON_GetObjectItem(r, "model");
    assert_string_equal(str(mo, "sha256"), id2.sha256);
    assert_string_equal(str(mo, "config_sha256"), id2.config_sha256);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *tj = read_file(path, &len);
    sha256_hex_here(tj, len, hex);
    free(tj);
    assert_string_equal(str(cJSON_GetObjectItem(r, "tokenizer"), "sha256"), hex);
    cJSON_Delete(r);
    ark_bench_free(b);
    ark_tokenizer_free(tok);
    ark_model_free(m);

    snprintf(path, sizeof path, "%s/nothere", dir);
    assert_int_equal(ark_model_identity_of(path, &id2), ARK_ERR_IO);
    assert_non_null(strstr(ark_errmsg(), "config.json"));
    free(dir);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    char *dir = scratch("bench_errors");
    ark_bench *b;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_OK);
    ark_exp_run *run;
    ark_exp_source src = {.name = "e", .text = "x"};
    assert_int_equal(ark_exp_begin(b, &src, "[1]", &run), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "params"));
    src.name = "";
    assert_int_equal(ark_exp_begin(b, &src, NULL, &run), ARK_ERR_ARG);
    src.name = "e";
    assert_int_equal(ark_exp_begin(b, &src, NULL, &run), ARK_OK);
    assert_int_equal(ark_exp_set_result(run, "{bad"), ARK_ERR_FORMAT);
    assert_int_equal(ark_exp_put_result(run, "k", "{bad"), ARK_ERR_FORMAT);
    assert_int_equal(ark_exp_set_result(run, "3"), ARK_OK);
    assert_int_equal(ark_exp_put_result(run, "k", "1"), ARK_ERR_ARG);
    assert_int_equal(ark_exp_attach(run, "p", "nope"), ARK_ERR_FORMAT);
    assert_int_equal(ark_exp_log_metric(run, "", 1), ARK_ERR_ARG);
    assert_int_equal(ark_exp_log_artefact(run, "/nonexistent/file", NULL, NULL), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "/nonexistent/file"));
    assert_int_equal(ark_exp_end(run, ARK_OK, NULL), ARK_OK);

    ark_exp_store *s = ark_bench_store(b);
    char *json = NULL;
    assert_int_equal(ark_exp_version(s, "nope", NULL, &json), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "experiments: e"));
    assert_int_equal(ark_exp_version(s, "e", "7", &json), ARK_ERR_MISSING);
    assert_int_equal(ark_exp_version(s, "e", "zz", &json), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "hash prefix"));
    assert_int_equal(ark_exp_run_json(s, 12345, &json), ARK_ERR_MISSING);
    assert_int_equal(ark_exp_diff(s, "e", "1", "3", &json), ARK_ERR_MISSING);
    assert_int_equal(ark_exp_export(s, "nope", &json), ARK_ERR_MISSING);
    ark_bench_free(b);

    /* A store of a newer schema is refused, not guessed at. */
    char path[4200];
    snprintf(path, sizeof path, "%s/experiments.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &b), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "newer"));
    /* A save directory that is a file. */
    snprintf(path, sizeof path, "%s/afile", dir);
    write_text(path, "x");
    assert_int_equal(ark_bench_open(NULL, NULL, path, &b), ARK_ERR_IO);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_source),
        cmocka_unit_test(test_c_function_lexer),
        cmocka_unit_test(test_source_unavailable),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_text_diff),
        cmocka_unit_test(test_json_diff),
        cmocka_unit_test(test_parallel_processes),
        cmocka_unit_test(test_killed_mid_run),
        cmocka_unit_test(test_records_and_export),
        cmocka_unit_test(test_model_identity),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
