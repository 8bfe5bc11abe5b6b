/* Reading the experiment store back as JSON: experiments, versions, runs,
 * diffs and exports (shapes in docs/bench.md). */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "core/error.h"

ark_status store_print(cJSON *o, char **json)
{
    *json = cJSON_Print(o);
    cJSON_Delete(o);
    return *json ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "cannot print JSON");
}

static const char *col_text(sqlite3_stmt *q, int i) { return (const char *)sqlite3_column_text(q, i); }

/* A text column as a JSON string, or null. */
static cJSON *col_string(sqlite3_stmt *q, int i)
{
    const char *t = col_text(q, i);
    return t ? cJSON_CreateString(t) : cJSON_CreateNull();
}

/* A column holding JSON text, parsed (a malformed text stays a string). */
static cJSON *col_json(sqlite3_stmt *q, int i)
{
    const char *t = col_text(q, i);
    if (!t) return cJSON_CreateNull();
    cJSON *v = cJSON_Parse(t);
    return v ? v : cJSON_CreateString(t);
}

static cJSON *col_number(sqlite3_stmt *q, int i)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) return cJSON_CreateNull();
    return cJSON_CreateNumber(sqlite3_column_double(q, i));
}

/* A "running" row whose process is gone (on this host) was interrupted. */
static const char *run_status(const char *status, const char *host, int64_t pid)
{
    if (!status || strcmp(status, "running") != 0) return status ? status : "unknown";
    char here[256], sys[256];
    bench_host(here, sizeof here, sys, sizeof sys);
    if (host && !strcmp(host, here) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) return "interrupted";
    return "running";
}

static ark_status add_run_children(ark_exp_store *s, int64_t run_id, cJSON *o)
{
    sqlite3_stmt *q;
    cJSON *metrics = cJSON_AddObjectToObject(o, "metrics");
    ARK_TRY(store_prepare(s, "SELECT name, value FROM metrics WHERE run_id = ? ORDER BY name", &q));
    sqlite3_bind_int64(q, 1, run_id);
    while (sqlite3_step(q) == SQLITE_ROW) cJSON_AddItemToObject(metrics, col_text(q, 0), col_number(q, 1));
    sqlite3_finalize(q);

    cJSON *arts = cJSON_AddArrayToObject(o, "artefacts");
    ARK_TRY(store_prepare(s, "SELECT name, sha256, bytes FROM artefacts WHERE run_id = ? ORDER BY seq", &q));
    sqlite3_bind_int64(q, 1, run_id);
    while (sqlite3_step(q) == SQLITE_ROW) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddItemToObject(a, "name", col_string(q, 0));
        cJSON_AddItemToObject(a, "sha256", col_string(q, 1));
        cJSON_AddNumberToObject(a, "bytes", (double)sqlite3_column_int64(q, 2));
        char *path = ark_exp_artefact_path(s, col_text(q, 1) ? col_text(q, 1) : "");
        cJSON_AddStringToObject(a, "path", path);
        free(path);
        cJSON_AddItemToArray(arts, a);
    }
    sqlite3_finalize(q);

    cJSON *att = cJSON_AddObjectToObject(o, "attachments");
    ARK_TRY(store_prepare(s, "SELECT key, value FROM attachments WHERE run_id = ? ORDER BY id", &q));
    sqlite3_bind_int64(q, 1, run_id);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *key = col_text(q, 0);
        if (cJSON_GetObjectItemCaseSensitive(att, key)) cJSON_ReplaceItemInObjectCaseSensitive(att, key, col_json(q, 1));
        else cJSON_AddItemToObject(att, key, col_json(q, 1));
    }
    sqlite3_finalize(q);
    return ARK_OK;
}

ark_status store_run_object(ark_exp_store *s, int64_t run_id, cJSON **out)
{
    *out = NULL;
    sqlite3_stmt *q;
    ARK_TRY(store_prepare(s,
                          "SELECT e.name, v.ordinal, v.hash, r.status, r.started, r.duration_s, r.peak_rss_kb,"
                          " r.peak_rss_start_kb, r.params, r.result, r.error, r.model_dir, r.model_sha256,"
                          " r.model_config_sha256, r.model_weights_sha256, r.tokenizer_file, r.tokenizer_sha256,"
                          " r.library_version, r.host, r.system, r.pid"
                          " FROM runs r JOIN versions v ON v.id = r.version_id"
                          " JOIN experiments e ON e.id = v.experiment_id WHERE r.id = ?",
                          &q));
    sqlite3_bind_int64(q, 1, run_id);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return ark_fail(ARK_ERR_MISSING, "run %lld: no such run in %s", (long long)run_id, s->dir);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)run_id);
    cJSON_AddItemToObject(o, "experiment", col_string(q, 0));
    cJSON_AddNumberToObject(o, "version", sqlite3_column_int(q, 1));
    cJSON_AddItemToObject(o, "version_hash", col_string(q, 2));
    cJSON_AddStringToObject(o, "status", run_status(col_text(q, 3), col_text(q, 18), sqlite3_column_int64(q, 20)));
    cJSON_AddItemToObject(o, "started", col_string(q, 4));
    cJSON_AddItemToObject(o, "duration_s", col_number(q, 5));
    cJSON_AddItemToObject(o, "peak_rss_kb", col_number(q, 6));
    cJSON_AddItemToObject(o, "peak_rss_start_kb", col_number(q, 7));
    cJSON_AddItemToObject(o, "params", col_json(q, 8));
    cJSON_AddItemToObject(o, "result", col_json(q, 9));
    cJSON_AddItemToObject(o, "error", col_string(q, 10));
    if (col_text(q, 11) || col_text(q, 12)) {
        cJSON *m = cJSON_AddObjectToObject(o, "model");
        cJSON_AddItemToObject(m, "dir", col_string(q, 11));
        cJSON_AddItemToObject(m, "sha256", col_string(q, 12));
        cJSON_AddItemToObject(m, "config_sha256", col_string(q, 13));
        cJSON_AddItemToObject(m, "weights_sha256", col_string(q, 14));
    } else {
        cJSON_AddNullToObject(o, "model");
    }
    if (col_text(q, 16)) {
        cJSON *t = cJSON_AddObjectToObject(o, "tokenizer");
        cJSON_AddItemToObject(t, "file", col_string(q, 15));
        cJSON_AddItemToObject(t, "sha256", col_string(q, 16));
    } else {
        cJSON_AddNullToObject(o, "tokenizer");
    }
    cJSON_AddItemToObject(o, "library_version", col_string(q, 17));
    cJSON_AddItemToObject(o, "host", col_string(q, 18));
    cJSON_AddItemToObject(o, "system", col_string(q, 19));
    cJSON_AddNumberToObject(o, "pid", (double)sqlite3_column_int64(q, 20));
    sqlite3_finalize(q);
    ark_status st = add_run_children(s, run_id, o);
    if (st != ARK_OK) { cJSON_Delete(o); return st; }
    *out = o;
    return ARK_OK;
}

static ark_status exp_run_json_tx(ark_exp_store *s, int64_t run_id, char **json)
{
    *json = NULL;
    cJSON *o;
    ARK_TRY(store_run_object(s, run_id, &o));
    return store_print(o, json);
}

/* ---- experiments and versions ---- */

/* "a, b, c" of the experiments' names (for messages); malloc'd. */
static char *experiment_names(ark_exp_store *s)
{
    sqlite3_stmt *q;
    size_t cap = 256, n = 0;
    char *out = calloc(cap, 1);
    if (store_prepare(s, "SELECT name FROM experiments ORDER BY name", &q) != ARK_OK) return out;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = col_text(q, 0);
        size_t need = n + strlen(name) + 3;
        if (need >= cap) out = realloc(out, cap = 2 * need);
        n += (size_t)sprintf(out + n, "%s%s", n ? ", " : "", name);
    }
    sqlite3_finalize(q);
    return out;
}

static ark_status find_experiment(ark_exp_store *s, const char *name, int64_t *id)
{
    sqlite3_stmt *q;
    ARK_TRY(store_prepare(s, "SELECT id FROM experiments WHERE name = ?", &q));
    sqlite3_bind_text(q, 1, name ? name : "", -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (rc == SQLITE_ROW) return ARK_OK;
    char *names = experiment_names(s);
    ark_status st = ark_fail(ARK_ERR_MISSING, "experiment \"%s\": not in %s (experiments: %s)", name ? name : "",
                             s->dir, *names ? names : "none");
    free(names);
    return st;
}

static bool all_digits(const char *v)
{
    if (!*v) return false;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v)) return false;
    return true;
}

ark_status store_find_version(ark_exp_store *s, const char *name, const char *version, int64_t *exp_id,
                              int64_t *version_id)
{
    ARK_TRY(find_experiment(s, name, exp_id));
    sqlite3_stmt *q;
    int rc;
    if (!version || !*version || !strcmp(version, "latest")) {
        ARK_TRY(store_prepare(s, "SELECT id FROM versions WHERE experiment_id = ? ORDER BY ordinal DESC LIMIT 1", &q));
        sqlite3_bind_int64(q, 1, *exp_id);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) *version_id = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (rc == SQLITE_ROW) return ARK_OK;
        return ark_fail(ARK_ERR_MISSING, "experiment \"%s\": no versions", name);
    }
    if (all_digits(version) && strlen(version) < 9) {
        ARK_TRY(store_prepare(s, "SELECT id FROM versions WHERE experiment_id = ? AND ordinal = ?", &q));
        sqlite3_bind_int64(q, 1, *exp_id);
        sqlite3_bind_int(q, 2, atoi(version));
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) *version_id = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (rc == SQLITE_ROW) return ARK_OK;
    }
    size_t n = strlen(version);
    bool hex = n >= 4 && n <= 64;
    for (size_t i = 0; hex && i < n; i++) hex = isxdigit((unsigned char)version[i]) && !isupper((unsigned char)version[i]);
    if (!hex)
        return ark_fail(ARK_ERR_MISSING,
                        "version \"%s\" of experiment \"%s\": not an ordinal it has nor a hash prefix"
                        " (4 or more lowercase hex digits)", version, name);
    ARK_TRY(store_prepare(s, "SELECT id FROM versions WHERE experiment_id = ? AND substr(hash, 1, ?) = ?", &q));
    sqlite3_bind_int64(q, 1, *exp_id);
    sqlite3_bind_int(q, 2, (int)n);
    sqlite3_bind_text(q, 3, version, -1, SQLITE_TRANSIENT);
    int found = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        *version_id = sqlite3_column_int64(q, 0);
        found++;
    }
    sqlite3_finalize(q);
    if (found == 1) return ARK_OK;
    if (found > 1) return ark_fail(ARK_ERR_ARG, "version \"%s\" of experiment \"%s\": ambiguous (%d versions start with it)", version, name, found);
    return ark_fail(ARK_ERR_MISSING, "version \"%s\" of experiment \"%s\": no such version", version, name);
}

ark_status store_version_object(ark_exp_store *s, int64_t version_id, bool with_runs, cJSON **out)
{
    *out = NULL;
    sqlite3_stmt *q;
    ARK_TRY(store_prepare(s,
                          "SELECT e.name, v.ordinal, v.hash, v.kind, v.created, v.function, v.source_file,"
                          " v.source_line, v.source_note, v.source,"
                          " (SELECT COUNT(*) FROM runs r WHERE r.version_id = v.id)"
                          " FROM versions v JOIN experiments e ON e.id = v.experiment_id WHERE v.id = ?",
                          &q));
    sqlite3_bind_int64(q, 1, version_id);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        return ark_fail(ARK_ERR_MISSING, "version id %lld: not in %s", (long long)version_id, s->dir);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "experiment", col_string(q, 0));
    cJSON_AddNumberToObject(o, "version", sqlite3_column_int(q, 1));
    cJSON_AddItemToObject(o, "hash", col_string(q, 2));
    cJSON_AddItemToObject(o, "kind", col_string(q, 3));
    cJSON_AddItemToObject(o, "created", col_string(q, 4));
    cJSON_AddItemToObject(o, "function", col_string(q, 5));
    cJSON_AddItemToObject(o, "file", col_string(q, 6));
    cJSON_AddItemToObject(o, "line", col_number(q, 7));
    cJSON_AddItemToObject(o, "source_note", col_string(q, 8));
    cJSON_AddItemToObject(o, "source", col_string(q, 9));
    cJSON_AddNumberToObject(o, "n_runs", (double)sqlite3_column_int64(q, 10));
    sqlite3_finalize(q);
    if (!with_runs) { *out = o; return ARK_OK; }

    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    ark_status st = store_prepare(s, "SELECT id FROM runs WHERE version_id = ? ORDER BY id", &q);
    if (st == ARK_OK) {
        sqlite3_bind_int64(q, 1, version_id);
        while (st == ARK_OK && sqlite3_step(q) == SQLITE_ROW) {
            cJSON *r;
            st = store_run_object(s, sqlite3_column_int64(q, 0), &r);
            if (st == ARK_OK) cJSON_AddItemToArray(runs, r);
        }
        sqlite3_finalize(q);
    }
    if (st != ARK_OK) { cJSON_Delete(o); return st; }
    *out = o;
    return ARK_OK;
}

static ark_status exp_version_tx(ark_exp_store *s, const char *name, const char *version, char **json)
{
    *json = NULL;
    int64_t exp, ver;
    ARK_TRY(store_find_version(s, name, version, &exp, &ver));
    cJSON *o;
    ARK_TRY(store_version_object(s, ver, true, &o));
    return store_print(o, json);
}

static ark_status exp_list_tx(ark_exp_store *s, char **json)
{
    *json = NULL;
    sqlite3_stmt *q;
    ARK_TRY(store_prepare(s,
                          "SELECT e.name, e.created,"
                          " (SELECT COUNT(*) FROM versions v WHERE v.experiment_id = e.id),"
                          " (SELECT COUNT(*) FROM runs r JOIN versions v ON v.id = r.version_id WHERE v.experiment_id = e.id),"
                          " (SELECT MAX(r.started) FROM runs r JOIN versions v ON v.id = r.version_id WHERE v.experiment_id = e.id)"
                          " FROM experiments e ORDER BY e.name",
                          &q));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dir", s->dir);
    cJSON *arr = cJSON_AddArrayToObject(o, "experiments");
    while (sqlite3_step(q) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "name", col_string(q, 0));
        cJSON_AddItemToObject(e, "created", col_string(q, 1));
        cJSON_AddNumberToObject(e, "n_versions", (double)sqlite3_column_int64(q, 2));
        cJSON_AddNumberToObject(e, "n_runs", (double)sqlite3_column_int64(q, 3));
        cJSON_AddItemToObject(e, "last_run", col_string(q, 4));
        cJSON_AddItemToArray(arr, e);
    }
    sqlite3_finalize(q);
    return store_print(o, json);
}

/* Run counts of one version by status (interrupted ones resolved). */
static void count_statuses(ark_exp_store *s, int64_t version_id, cJSON *v)
{
    int ok = 0, failed = 0, running = 0, interrupted = 0;
    sqlite3_stmt *q;
    if (store_prepare(s, "SELECT status, host, pid FROM runs WHERE version_id = ?", &q) != ARK_OK) return;
    sqlite3_bind_int64(q, 1, version_id);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *st = run_status(col_text(q, 0), col_text(q, 1), sqlite3_column_int64(q, 2));
        if (!strcmp(st, "ok")) ok++;
        else if (!strcmp(st, "failed")) failed++;
        else if (!strcmp(st, "interrupted")) interrupted++;
        else running++;
    }
    sqlite3_finalize(q);
    cJSON_AddNumberToObject(v, "n_ok", ok);
    cJSON_AddNumberToObject(v, "n_failed", failed);
    cJSON_AddNumberToObject(v, "n_running", running);
    cJSON_AddNumberToObject(v, "n_interrupted", interrupted);
}

static ark_status exp_versions_tx(ark_exp_store *s, const char *name, char **json)
{
    *json = NULL;
    int64_t exp;
    ARK_TRY(find_experiment(s, name, &exp));
    sqlite3_stmt *q;
    ARK_TRY(store_prepare(s,
                          "SELECT v.id, v.ordinal, v.hash, v.kind, v.created, COUNT(r.id), MIN(r.started), MAX(r.started)"
                          " FROM versions v LEFT JOIN runs r ON r.version_id = v.id"
                          " WHERE v.experiment_id = ? GROUP BY v.id ORDER BY v.ordinal",
                          &q));
    sqlite3_bind_int64(q, 1, exp);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "experiment", name);
    cJSON *arr = cJSON_AddArrayToObject(o, "versions");
    while (sqlite3_step(q) == SQLITE_ROW) {
        cJSON *v = cJSON_CreateObject();
        cJSON_AddNumberToObject(v, "version", sqlite3_column_int(q, 1));
        cJSON_AddItemToObject(v, "hash", col_string(q, 2));
        cJSON_AddItemToObject(v, "kind", col_string(q, 3));
        cJSON_AddItemToObject(v, "created", col_string(q, 4));
        cJSON_AddNumberToObject(v, "n_runs", (double)sqlite3_column_int64(q, 5));
        count_statuses(s, sqlite3_column_int64(q, 0), v);
        cJSON_AddItemToObject(v, "first_run", col_string(q, 6));
        cJSON_AddItemToObject(v, "last_run", col_string(q, 7));
        cJSON_AddItemToArray(arr, v);
    }
    sqlite3_finalize(q);
    return store_print(o, json);
}

/* ---- diff and export ---- */

/* The latest finished ("ok") run of a version, else its latest run; 0 if
 * none. */
static int64_t latest_run(ark_exp_store *s, int64_t version_id)
{
    sqlite3_stmt *q;
    int64_t id = 0;
    if (store_prepare(s,
                      "SELECT id FROM runs WHERE version_id = ? ORDER BY (status = 'ok') DESC, id DESC LIMIT 1",
                      &q) != ARK_OK)
        return 0;
    sqlite3_bind_int64(q, 1, version_id);
    if (sqlite3_step(q) == SQLITE_ROW) id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return id;
}

/* {"result": ..., "metrics": {...}} of a run (an empty object without one). */
static ark_status diff_side(ark_exp_store *s, int64_t run, cJSON *side, cJSON **values)
{
    *values = cJSON_CreateObject();
    if (!run) { cJSON_AddNullToObject(side, "run"); return ARK_OK; }
    cJSON_AddNumberToObject(side, "run", (double)run);
    cJSON *r;
    ARK_TRY(store_run_object(s, run, &r));
    cJSON_AddItemToObject(*values, "result", cJSON_DetachItemFromObject(r, "result"));
    cJSON_AddItemToObject(*values, "metrics", cJSON_DetachItemFromObject(r, "metrics"));
    cJSON_Delete(r);
    return ARK_OK;
}

static ark_status exp_diff_tx(ark_exp_store *s, const char *name, const char *v1, const char *v2, char **json)
{
    *json = NULL;
    int64_t exp, id[2];
    ARK_TRY(store_find_version(s, name, v1, &exp, &id[0]));
    ARK_TRY(store_find_version(s, name, v2, &exp, &id[1]));
    cJSON *ver[2] = {NULL, NULL}, *vals[2] = {NULL, NULL};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "experiment", name);
    ark_status st = ARK_OK;
    char label[2][96];
    for (int k = 0; k < 2 && st == ARK_OK; k++) {
        st = store_version_object(s, id[k], false, &ver[k]);
        if (st != ARK_OK) break;
        cJSON *side = cJSON_AddObjectToObject(o, k ? "to" : "from");
        int ord = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(ver[k], "version"));
        const char *hash = cJSON_GetStringValue(cJSON_GetObjectItem(ver[k], "hash"));
        cJSON_AddNumberToObject(side, "version", ord);
        cJSON_AddStringToObject(side, "hash", hash);
        snprintf(label[k], sizeof label[k], "%s version %d (%.12s)", name, ord, hash);
        st = diff_side(s, latest_run(s, id[k]), side, &vals[k]);
    }
    if (st == ARK_OK) {
        char *d = ark_text_diff(cJSON_GetStringValue(cJSON_GetObjectItem(ver[0], "source")),
                                cJSON_GetStringValue(cJSON_GetObjectItem(ver[1], "source")), label[0], label[1]);
        cJSON_AddStringToObject(o, "source_diff", d);
        free(d);
        cJSON_AddItemToObject(o, "result_diff", ark_json_diff(vals[0], vals[1]));
    }
    for (int k = 0; k < 2; k++) { cJSON_Delete(ver[k]); cJSON_Delete(vals[k]); }
    if (st != ARK_OK) { cJSON_Delete(o); return st; }
    return store_print(o, json);
}

static ark_status exp_export_tx(ark_exp_store *s, const char *name, char **json)
{
    *json = NULL;
    int64_t exp;
    ARK_TRY(find_experiment(s, name, &exp));
    char now[32];
    store_now(now);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "arrakis-experiment");
    cJSON_AddNumberToObject(o, "schema_version", ARK_STORE_SCHEMA);
    cJSON_AddStringToObject(o, "experiment", name);
    cJSON_AddStringToObject(o, "exported", now);
    cJSON_AddStringToObject(o, "library_version", ark_version());
    cJSON_AddStringToObject(o, "dir", s->dir);
    cJSON *arr = cJSON_AddArrayToObject(o, "versions");
    sqlite3_stmt *q;
    ark_status st = store_prepare(s, "SELECT id FROM versions WHERE experiment_id = ? ORDER BY ordinal", &q);
    if (st == ARK_OK) {
        sqlite3_bind_int64(q, 1, exp);
        while (st == ARK_OK && sqlite3_step(q) == SQLITE_ROW) {
            cJSON *v;
            st = store_version_object(s, sqlite3_column_int64(q, 0), true, &v);
            if (st == ARK_OK) cJSON_AddItemToArray(arr, v);
        }
        sqlite3_finalize(q);
    }
    if (st != ARK_OK) { cJSON_Delete(o); return st; }
    return store_print(o, json);
}

/* ---- the public reads: each in one read transaction, so a store that
 * other processes are writing is seen as one consistent snapshot ---- */

static ark_status read_begin(ark_exp_store *s) { return store_exec(s, "BEGIN", "begin read"); }
static void read_end(ark_exp_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

ark_status ark_exp_run_json(ark_exp_store *s, int64_t run_id, char **json)
{
    *json = NULL;
    ARK_TRY(read_begin(s));
    ark_status st = exp_run_json_tx(s, run_id, json);
    read_end(s);
    return st;
}

ark_status ark_exp_version(ark_exp_store *s, const char *name, const char *version, char **json)
{
    *json = NULL;
    ARK_TRY(read_begin(s));
    ark_status st = exp_version_tx(s, name, version, json);
    read_end(s);
    return st;
}

ark_status ark_exp_list(ark_exp_store *s, char **json)
{
    *json = NULL;
    ARK_TRY(read_begin(s));
    ark_status st = exp_list_tx(s, json);
    read_end(s);
    return st;
}

ark_status ark_exp_versions(ark_exp_store *s, const char *name, char **json)
{
    *json = NULL;
    ARK_TRY(read_begin(s));
    ark_status st = exp_versions_tx(s, name, json);
    read_end(s);
    return st;
}

ark_status ark_exp_diff(ark_exp_store *s, const char *name, const char *v1, const char *v2, char **json)
{
    *json = NULL;
    ARK_TRY(read_begin(s));
    ark_status st = exp_diff_tx(s, name, v1, v2, json);
    read_end(s);
    return st;
}

ark_status ark_exp_export(ark_exp_store *s, const char *name, char **json)
{
    *json = NULL;
    ARK_TRY(read_begin(s));
    ark_status st = exp_export_tx(s, name, json);
    read_end(s);
    return st;
}
