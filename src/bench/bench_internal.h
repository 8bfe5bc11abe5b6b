/* The bench's private parts: the store (store.c, store_read.c), hashes and
 * diffs (version.c), source capture (source.c), runs (experiment.c),
 * specs (spec.c, spec_tests.c, yaml.c) and the bench object (bench.c). */
#ifndef ARK_BENCH_INTERNAL_H
#define ARK_BENCH_INTERNAL_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arrakis/bench.h"

#define ARK_STORE_SCHEMA 1
#define ARK_STORE_DB "experiments.db"

/* ---- store.c ---- */

struct ark_exp_store {
    sqlite3 *db;
    char *dir;
};

/* Run `sql` (no results); errors name `what`. */
ark_status store_exec(ark_exp_store *s, const char *sql, const char *what);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
ark_status store_begin(ark_exp_store *s);
ark_status store_commit(ark_exp_store *s);
void store_rollback(ark_exp_store *s);
/* Prepare a statement; errors name the SQL. */
ark_status store_prepare(ark_exp_store *s, const char *sql, sqlite3_stmt **st);
/* The message for a failed SQLite call. */
ark_status store_fail(ark_exp_store *s, const char *what);
/* ISO-8601 UTC with milliseconds of the current time. */
void store_now(char buf[32]);

/* What a run's start row holds. */
typedef struct store_run_start {
    const ark_exp_source *src;
    const char *hash;          /* version hash, 64 hex */
    const char *params;        /* JSON text */
    const char *started;       /* ISO time */
    const char *model_dir;
    const ark_model_identity *model; /* NULL: none */
    const char *tokenizer_file, *tokenizer_sha256;
    const char *host, *system;
} store_run_start;

/* In one transaction: the experiment and version (created if new) and the
 * run row as "running".  Receives the run's id and the version ordinal. */
ark_status store_start_run(ark_exp_store *s, const store_run_start *r, int64_t *run_id, int *ordinal);

/* What a run's end writes. */
typedef struct store_run_end {
    int64_t run_id;
    const char *status;        /* "ok" / "failed" */
    const char *error;
    const char *params, *result;
    double duration_s;
    long peak_rss_kb, peak_rss_start_kb;
    cJSON *metrics;            /* object name -> number|null */
    cJSON *artefacts;          /* array of {name, sha256, bytes} */
    cJSON *attachments;        /* object key -> value */
} store_run_end;
ark_status store_end_run(ark_exp_store *s, const store_run_end *r);

/* Store bytes as an artefact (atomic: temp file + rename); fills hex. */
ark_status store_put_artefact(ark_exp_store *s, const void *data, size_t len, char hex[65]);

/* ---- store_read.c ---- */

/* The JSON of one run (NULL + error if absent). */
ark_status store_run_object(ark_exp_store *s, int64_t run_id, cJSON **out);
/* Resolve a version argument of experiment `exp_id`. */
ark_status store_find_version(ark_exp_store *s, const char *name, const char *version, int64_t *exp_id,
                              int64_t *version_id);
/* A version's JSON with (with_runs) its runs. */
ark_status store_version_object(ark_exp_store *s, int64_t version_id, bool with_runs, cJSON **out);
/* Print o (deleting it) into *json. */
ark_status store_print(cJSON *o, char **json);

/* ---- version.c ---- */

/* SHA-256 of bytes, as 64 hex digits + NUL. */
void ark_sha256_hex(const void *data, size_t len, char hex[65]);
/* SHA-256 of a file's bytes; ARK_ERR_IO naming it. */
ark_status ark_sha256_file(const char *path, char hex[65]);
/* A unified diff (3 lines of context) of two texts by lines; "" when
 * equal.  malloc'd. */
char *ark_text_diff(const char *a, const char *b, const char *label_a, const char *label_b);
/* The paths where two JSON values differ: array of {path, old?, new?} (a
 * missing side is left out). */
cJSON *ark_json_diff(const cJSON *a, const cJSON *b);

/* ---- source.c ---- */

/* Extract the definition of function `name` from C source text: the
 * declaration's first token through the closing brace's line (including its
 * newline).  Returns a malloc'd copy and its 1-based first line, or NULL
 * with a reason in `why`. */
char *ark_c_function_source(const char *text, const char *name, int *first_line, char *why, size_t why_len);

/* ---- bench.c ---- */

struct ark_bench {
    ark_exp_store *store;
    char *dir;
    ark_tool_env env;
    char *model_dir;
    ark_model_identity model_id;
    bool has_model_id;
    char *tokenizer_file;
    char tokenizer_sha256[65];
    const ark_tool_def **tools; /* bench-local */
    int n_tools, cap_tools;
    int64_t last_run;
};

/* uname: "nodename" and "sysname release machine". */
void bench_host(char *host, size_t host_len, char *system, size_t system_len);

/* ---- spec.c, spec_tests.c ---- */

/* The value at a dotted path ("tools.0.result.k": keys, list indices), or NULL. */
const cJSON *spec_get_path(const cJSON *doc, const char *path);
/* "a mapping", "a list", "text", "a number", "a boolean" or "null". */
const char *spec_kind_name(const cJSON *v);
/* The shape of a spec's `tests:` section; errors name tests[i] and the field. */
ark_status spec_tests_validate(const char *where, const cJSON *doc);
/* Run the spec's tests on the run's result: attach "hypothesis_tests" and
 * log "NAME.p_value" per test; errors name tests[i] and the field. */
ark_status spec_tests_run(ark_exp_run *run, const cJSON *doc, const cJSON *result);

/* ---- yaml.c ---- */

/* YAML text to a cJSON tree (caller deletes). */
ark_status ark_yaml_parse(const char *yaml, size_t len, const char *where, cJSON **out);
/* A value given on the command line ("5", "true", "[1, 2]", "text"). */
cJSON *ark_yaml_scalar_value(const char *text);

#endif
