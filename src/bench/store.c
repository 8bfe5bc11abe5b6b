/* The experiment store: one SQLite database per save directory plus a
 * content-addressed artefact folder.
 *
 * Safe for many processes at once: WAL journal (readers never block the
 * writer), a 60 s busy timeout, and every record written in one
 * BEGIN IMMEDIATE transaction (taking the write lock up front, so two
 * writers never deadlock upgrading a read lock).  synchronous=NORMAL: in
 * WAL mode a crashed process can never corrupt the database; a power cut
 * may lose the last commits but not consistency.  The schema carries its
 * version (table schema_version); a newer schema is refused, not guessed.
 *
 * Nothing is updated in place except a run's own row, once, from "running"
 * to its outcome. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_internal.h"
#include "core/error.h"
#include "io/fileio.h"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS experiments("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS versions("
    "  id INTEGER PRIMARY KEY, experiment_id INTEGER NOT NULL REFERENCES experiments(id),"
    "  ordinal INTEGER NOT NULL, hash TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,"
    "  source_file TEXT, source_line INTEGER, function TEXT, source_note TEXT,"
    "  created TEXT NOT NULL,"
    "  UNIQUE(experiment_id, hash), UNIQUE(experiment_id, ordinal));"
    "CREATE TABLE IF NOT EXISTS runs("
    "  id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL REFERENCES versions(id),"
    "  status TEXT NOT NULL, params TEXT NOT NULL, result TEXT, error TEXT,"
    "  started TEXT NOT NULL, duration_s REAL, peak_rss_kb INTEGER, peak_rss_start_kb INTEGER,"
    "  model_dir TEXT, model_sha256 TEXT, model_config_sha256 TEXT, model_weights_sha256 TEXT,"
    "  tokenizer_file TEXT, tokenizer_sha256 TEXT, library_version TEXT NOT NULL,"
    "  host TEXT, system TEXT, pid INTEGER);"
    "CREATE INDEX IF NOT EXISTS runs_by_version ON runs(version_id);"
    "CREATE TABLE IF NOT EXISTS metrics("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value REAL,"
    "  PRIMARY KEY(run_id, name));"
    "CREATE TABLE IF NOT EXISTS artefacts("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL, name TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY(run_id, seq));"
    /* Attachments keep their history: attaching a key again adds a row and
     * readers take the newest one. */
    "CREATE TABLE IF NOT EXISTS attachments("
    "  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), key TEXT NOT NULL,"
    "  value TEXT NOT NULL, created TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS attachments_by_run ON attachments(run_id, key);";

ark_status store_fail(ark_exp_store *s, const char *what)
{
    return ark_fail(ARK_ERR_IO, "%s/%s: %s: %s", s->dir, ARK_STORE_DB, what,
                    s->db ? sqlite3_errmsg(s->db) : "not open");
}

ark_status store_exec(ark_exp_store *s, const char *sql, const char *what)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        ark_status st = ark_fail(ARK_ERR_IO, "%s/%s: %s: %s", s->dir, ARK_STORE_DB, what,
                                 err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return st;
    }
    return ARK_OK;
}

ark_status store_begin(ark_exp_store *s) { return store_exec(s, "BEGIN IMMEDIATE", "begin transaction"); }
ark_status store_commit(ark_exp_store *s) { return store_exec(s, "COMMIT", "commit"); }
void store_rollback(ark_exp_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

ark_status store_prepare(ark_exp_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) return store_fail(s, sql);
    return ARK_OK;
}

void store_now(char buf[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

/* The schema, in one transaction (many processes may open a fresh folder at
 * once: the first creates, the others find it). */
static ark_status store_init_schema(ark_exp_store *s)
{
    ARK_TRY(store_begin(s));
    ark_status st = store_exec(s, schema_sql, "create schema");
    sqlite3_stmt *q = NULL;
    if (st == ARK_OK) st = store_prepare(s, "SELECT MAX(version) FROM schema_version", &q);
    if (st == ARK_OK) {
        int rc = sqlite3_step(q);
        if (rc != SQLITE_ROW) st = store_fail(s, "read schema_version");
        else if (sqlite3_column_type(q, 0) == SQLITE_NULL) {
            char sql[96];
            snprintf(sql, sizeof sql, "INSERT INTO schema_version(version) VALUES (%d)", ARK_STORE_SCHEMA);
            st = store_exec(s, sql, "write schema_version");
        } else {
            int v = sqlite3_column_int(q, 0);
            if (v > ARK_STORE_SCHEMA)
                st = ark_fail(ARK_ERR_FORMAT,
                              "%s/%s: schema_version %d was written by a newer arrakis (this one reads %d)",
                              s->dir, ARK_STORE_DB, v, ARK_STORE_SCHEMA);
        }
    }
    sqlite3_finalize(q);
    if (st == ARK_OK) return store_commit(s);
    store_rollback(s);
    return st;
}

ark_status ark_exp_store_open(const char *dir, ark_exp_store **out)
{
    *out = NULL;
    if (!dir || !*dir) dir = "experiments";
    ARK_TRY(ark_mkdirs(dir));
    ark_exp_store *s = calloc(1, sizeof *s);
    s->dir = strdup(dir);
    size_t n = strlen(dir) + sizeof ARK_STORE_DB + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, ARK_STORE_DB);
    ark_status st = ARK_OK;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        st = store_fail(s, "open");
    free(path);
    if (st == ARK_OK) {
        sqlite3_busy_timeout(s->db, 60000);
        /* Switching to WAL needs a moment alone with the file; the busy
         * handler covers most contention, the loop the rest. */
        for (int tries = 0; ; tries++) {
            st = store_exec(s, "PRAGMA journal_mode=WAL", "set WAL mode");
            if (st == ARK_OK || tries == 50) break;
            usleep(100000);
        }
    }
    if (st == ARK_OK) st = store_exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "pragmas");
    if (st == ARK_OK) st = store_init_schema(s);
    if (st != ARK_OK) { ark_exp_store_free(s); return st; }
    *out = s;
    return ARK_OK;
}

void ark_exp_store_free(ark_exp_store *s)
{
    if (!s) return;
    sqlite3_close(s->db);
    free(s->dir);
    free(s);
}

/* ---- writing runs ---- */

static void bind_text(sqlite3_stmt *q, int i, const char *v)
{
    if (v) sqlite3_bind_text(q, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(q, i);
}

/* One row's integer from a query with bound text/int args; 0 rows -> *found
 * false. */
static ark_status query_id(ark_exp_store *s, sqlite3_stmt *q, int64_t *id, bool *found)
{
    int rc = sqlite3_step(q);
    *found = rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL;
    if (*found) *id = sqlite3_column_int64(q, 0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return store_fail(s, "query");
    return ARK_OK;
}

static ark_status experiment_id(ark_exp_store *s, const char *name, const char *now, int64_t *id)
{
    sqlite3_stmt *q;
    bool found;
    ARK_TRY(store_prepare(s, "SELECT id FROM experiments WHERE name = ?", &q));
    bind_text(q, 1, name);
    ark_status st = query_id(s, q, id, &found);
    sqlite3_finalize(q);
    if (st != ARK_OK || found) return st;
    ARK_TRY(store_prepare(s, "INSERT INTO experiments(name, created) VALUES (?, ?)", &q));
    bind_text(q, 1, name);
    bind_text(q, 2, now);
    if (sqlite3_step(q) != SQLITE_DONE) st = store_fail(s, "insert experiment");
    sqlite3_finalize(q);
    *id = sqlite3_last_insert_rowid(s->db);
    return st;
}

static ark_status version_id(ark_exp_store *s, int64_t exp, const store_run_start *r, int64_t *id, int *ordinal)
{
    sqlite3_stmt *q;
    bool found;
    ARK_TRY(store_prepare(s, "SELECT id, ordinal FROM versions WHERE experiment_id = ? AND hash = ?", &q));
    sqlite3_bind_int64(q, 1, exp);
    bind_text(q, 2, r->hash);
    ark_status st = query_id(s, q, id, &found);
    if (found) *ordinal = sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    if (st != ARK_OK || found) return st;

    int64_t max = 0;
    ARK_TRY(store_prepare(s, "SELECT MAX(ordinal) FROM versions WHERE experiment_id = ?", &q));
    sqlite3_bind_int64(q, 1, exp);
    st = query_id(s, q, &max, &found);
    sqlite3_finalize(q);
    if (st != ARK_OK) return st;
    *ordinal = (int)(found ? max + 1 : 1);
    ARK_TRY(store_prepare(s,
                          "INSERT INTO versions(experiment_id, ordinal, hash, kind, source, source_file,"
                          " source_line, function, source_note, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                          &q));
    const ark_exp_source *src = r->src;
    sqlite3_bind_int64(q, 1, exp);
    sqlite3_bind_int(q, 2, *ordinal);
    bind_text(q, 3, r->hash);
    bind_text(q, 4, src->kind ? src->kind : "text");
    bind_text(q, 5, src->text);
    bind_text(q, 6, src->file);
    if (src->line > 0) sqlite3_bind_int(q, 7, src->line);
    else sqlite3_bind_null(q, 7);
    bind_text(q, 8, src->function);
    bind_text(q, 9, src->note);
    bind_text(q, 10, r->started);
    if (sqlite3_step(q) != SQLITE_DONE) st = store_fail(s, "insert version");
    sqlite3_finalize(q);
    *id = sqlite3_last_insert_rowid(s->db);
    return st;
}

static ark_status insert_run(ark_exp_store *s, int64_t version, const store_run_start *r, int64_t *run_id)
{
    sqlite3_stmt *q;
    ARK_TRY(store_prepare(s,
                          "INSERT INTO runs(version_id, status, params, started, model_dir, model_sha256,"
                          " model_config_sha256, model_weights_sha256, tokenizer_file, tokenizer_sha256,"
                          " library_version, host, system, pid) VALUES (?,'running',?,?,?,?,?,?,?,?,?,?,?,?)",
                          &q));
    sqlite3_bind_int64(q, 1, version);
    bind_text(q, 2, r->params);
    bind_text(q, 3, r->started);
    bind_text(q, 4, r->model_dir);
    bind_text(q, 5, r->model ? r->model->sha256 : NULL);
    bind_text(q, 6, r->model ? r->model->config_sha256 : NULL);
    bind_text(q, 7, r->model ? r->model->weights_sha256 : NULL);
    bind_text(q, 8, r->tokenizer_file);
    bind_text(q, 9, r->tokenizer_sha256);
    bind_text(q, 10, ark_version());
    bind_text(q, 11, r->host);
    bind_text(q, 12, r->system);
    sqlite3_bind_int64(q, 13, (int64_t)getpid());
    ark_status st = sqlite3_step(q) == SQLITE_DONE ? ARK_OK : store_fail(s, "insert run");
    sqlite3_finalize(q);
    *run_id = sqlite3_last_insert_rowid(s->db);
    return st;
}

ark_status store_start_run(ark_exp_store *s, const store_run_start *r, int64_t *run_id, int *ordinal)
{
    ARK_TRY(store_begin(s));
    int64_t exp = 0, ver = 0;
    ark_status st = experiment_id(s, r->src->name, r->started, &exp);
    if (st == ARK_OK) st = version_id(s, exp, r, &ver, ordinal);
    if (st == ARK_OK) st = insert_run(s, ver, r, run_id);
    if (st == ARK_OK) st = store_commit(s);
    if (st != ARK_OK) store_rollback(s);
    return st;
}

static ark_status end_children(ark_exp_store *s, const store_run_end *r)
{
    sqlite3_stmt *q;
    ark_status st = ARK_OK;
    const cJSON *it;
    ARK_TRY(store_prepare(s, "INSERT INTO metrics(run_id, name, value) VALUES (?,?,?)", &q));
    cJSON_ArrayForEach(it, r->metrics) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, r->run_id);
        bind_text(q, 2, it->string);
        if (cJSON_IsNumber(it)) sqlite3_bind_double(q, 3, it->valuedouble);
        else sqlite3_bind_null(q, 3);
        if (sqlite3_step(q) != SQLITE_DONE) { st = store_fail(s, "insert metric"); break; }
    }
    sqlite3_finalize(q);
    if (st != ARK_OK) return st;

    ARK_TRY(store_prepare(s, "INSERT INTO artefacts(run_id, seq, name, sha256, bytes) VALUES (?,?,?,?,?)", &q));
    int seq = 0;
    cJSON_ArrayForEach(it, r->artefacts) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, r->run_id);
        sqlite3_bind_int(q, 2, seq++);
        bind_text(q, 3, cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")));
        bind_text(q, 4, cJSON_GetStringValue(cJSON_GetObjectItem(it, "sha256")));
        sqlite3_bind_int64(q, 5, (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "bytes")));
        if (sqlite3_step(q) != SQLITE_DONE) { st = store_fail(s, "insert artefact"); break; }
    }
    sqlite3_finalize(q);
    if (st != ARK_OK) return st;

    char now[32];
    store_now(now);
    ARK_TRY(store_prepare(s, "INSERT INTO attachments(run_id, key, value, created) VALUES (?,?,?,?)", &q));
    cJSON_ArrayForEach(it, r->attachments) {
        char *text = cJSON_PrintUnformatted(it);
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, r->run_id);
        bind_text(q, 2, it->string);
        bind_text(q, 3, text);
        bind_text(q, 4, now);
        free(text);
        if (sqlite3_step(q) != SQLITE_DONE) { st = store_fail(s, "insert attachment"); break; }
    }
    sqlite3_finalize(q);
    return st;
}

ark_status store_end_run(ark_exp_store *s, const store_run_end *r)
{
    ARK_TRY(store_begin(s));
    sqlite3_stmt *q;
    ark_status st = store_prepare(s,
                                  "UPDATE runs SET status=?, error=?, params=?, result=?, duration_s=?,"
                                  " peak_rss_kb=?, peak_rss_start_kb=? WHERE id=? AND status='running'",
                                  &q);
    if (st == ARK_OK) {
        bind_text(q, 1, r->status);
        bind_text(q, 2, r->error);
        bind_text(q, 3, r->params);
        bind_text(q, 4, r->result);
        sqlite3_bind_double(q, 5, r->duration_s);
        sqlite3_bind_int64(q, 6, r->peak_rss_kb);
        sqlite3_bind_int64(q, 7, r->peak_rss_start_kb);
        sqlite3_bind_int64(q, 8, r->run_id);
        if (sqlite3_step(q) != SQLITE_DONE) st = store_fail(s, "finish run");
        else if (sqlite3_changes(s->db) != 1)
            st = ark_fail(ARK_ERR_ARG, "%s/%s: run %lld is not running", s->dir, ARK_STORE_DB,
                          (long long)r->run_id);
        sqlite3_finalize(q);
    }
    if (st == ARK_OK) st = end_children(s, r);
    if (st == ARK_OK) st = store_commit(s);
    if (st != ARK_OK) store_rollback(s);
    return st;
}

ark_status ark_exp_store_attach(ark_exp_store *s, int64_t run_id, const char *key, const char *json)
{
    if (!key || !*key) return ark_fail(ARK_ERR_ARG, "attachment key: empty");
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    if (!v) return ark_fail(ARK_ERR_FORMAT, "attachment \"%s\": not JSON", key);
    char *text = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    char now[32];
    store_now(now);
    ark_status st = store_begin(s);
    sqlite3_stmt *q = NULL;
    int64_t id;
    bool found = false;
    if (st == ARK_OK) st = store_prepare(s, "SELECT id FROM runs WHERE id = ?", &q);
    if (st == ARK_OK) {
        sqlite3_bind_int64(q, 1, run_id);
        st = query_id(s, q, &id, &found);
        sqlite3_finalize(q);
        if (st == ARK_OK && !found) st = ark_fail(ARK_ERR_MISSING, "run %lld: no such run in %s", (long long)run_id, s->dir);
    }
    if (st == ARK_OK) st = store_prepare(s, "INSERT INTO attachments(run_id, key, value, created) VALUES (?,?,?,?)", &q);
    if (st == ARK_OK) {
        sqlite3_bind_int64(q, 1, run_id);
        bind_text(q, 2, key);
        bind_text(q, 3, text);
        bind_text(q, 4, now);
        if (sqlite3_step(q) != SQLITE_DONE) st = store_fail(s, "insert attachment");
        sqlite3_finalize(q);
    }
    if (st == ARK_OK) st = store_commit(s);
    if (st != ARK_OK) store_rollback(s);
    free(text);
    return st;
}

/* ---- artefacts ---- */

char *ark_exp_artefact_path(const ark_exp_store *s, const char *hex)
{
    size_t n = strlen(s->dir) + strlen(hex) + 32;
    char *p = malloc(n);
    snprintf(p, n, "%s/artefacts/%.2s/%s", s->dir, hex, hex);
    return p;
}

static ark_status write_all(int fd, const void *data, size_t len, const char *path)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return ark_fail(ARK_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return ARK_OK;
}

ark_status store_put_artefact(ark_exp_store *s, const void *data, size_t len, char hex[65])
{
    ark_sha256_hex(data, len, hex);
    char *path = ark_exp_artefact_path(s, hex);
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len) { free(path); return ARK_OK; }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    ark_status rc = ark_mkdirs(path);
    *slash = '/';
    /* Content-addressed: two writers of one hash write the same bytes, and
     * rename() makes the file appear whole or not at all. */
    size_t n = strlen(path) + 48;
    char *tmp = malloc(n);
    static int counter;
    snprintf(tmp, n, "%s.tmp.%ld.%d", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    int fd = rc == ARK_OK ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (rc == ARK_OK && fd < 0) rc = ark_fail(ARK_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    if (fd >= 0) {
        rc = write_all(fd, data, len, tmp);
        if (rc == ARK_OK && fsync(fd) != 0) rc = ark_fail(ARK_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
        close(fd);
        if (rc == ARK_OK && rename(tmp, path) != 0)
            rc = ark_fail(ARK_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        if (rc != ARK_OK) unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}
