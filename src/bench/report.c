/* ark_exp_report: one logged run as a folder a browser opens (index.html,
 * the artefacts, the tool results as JSON files).  The run is read through
 * the store's public reads (ark_exp_version, ark_exp_run_json); the page is
 * written by report_html.c.  A folder is only written into when it is
 * empty, new, or holds an earlier report (its marker file lists what that
 * report wrote, and only those files are replaced). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrakis/bench.h"
#include "bench/report_internal.h"
#include "core/error.h"
#include "io/fileio.h"

#define MARKER ".arrakis-report"
#define MARKER_HEAD "arrakis report 1"

/* ---- choosing the run ---- */

static int64_t num_of(const cJSON *o, const char *key)
{
    return (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const char *str_of(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "";
}

/* Parse a library JSON text (freeing it). */
static ark_status parse_json(char *text, cJSON **out)
{
    *out = cJSON_Parse(text);
    free(text);
    return *out ? ARK_OK : ark_fail(ARK_ERR_FORMAT, "report: the store's JSON did not parse");
}

/* With a run id but no version: the run's own version (after checking that
 * the run belongs to the experiment). */
static ark_status version_of_run(ark_exp_store *s, const char *name, int64_t run_id, char ver[32])
{
    char *text;
    ARK_TRY(ark_exp_run_json(s, run_id, &text));
    cJSON *r;
    ARK_TRY(parse_json(text, &r));
    ark_status st = ARK_OK;
    if (strcmp(str_of(r, "experiment"), name))
        st = ark_fail(ARK_ERR_MISSING, "run %lld: a run of experiment \"%s\", not of \"%s\"", (long long)run_id,
                      str_of(r, "experiment"), name);
    snprintf(ver, 32, "%lld", (long long)num_of(r, "version"));
    cJSON_Delete(r);
    return st;
}

/* The version object and, in it, the run (borrowed). */
static ark_status load_run(ark_exp_store *s, const char *name, const char *version, int64_t run_id, cJSON **ver,
                           const cJSON **run)
{
    *ver = NULL;
    *run = NULL;
    char own[32];
    if (!version && run_id > 0) {
        ARK_TRY(version_of_run(s, name, run_id, own));
        version = own;
    }
    char *text;
    ARK_TRY(ark_exp_version(s, name, version, &text));
    ARK_TRY(parse_json(text, ver));
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(*ver, "runs"), *r;
    int n = cJSON_GetArraySize(runs);
    if (n == 0) {
        ark_fail(ARK_ERR_MISSING, "experiment \"%s\" version %lld: no runs", name, (long long)num_of(*ver, "version"));
    } else if (run_id <= 0) {
        *run = cJSON_GetArrayItem(runs, n - 1);
    } else {
        cJSON_ArrayForEach(r, runs) if (num_of(r, "id") == run_id) *run = r;
        if (!*run)
            ark_fail(ARK_ERR_MISSING, "run %lld: not a run of experiment \"%s\" version %lld (its runs: %lld to %lld)",
                     (long long)run_id, name, (long long)num_of(*ver, "version"),
                     (long long)num_of(cJSON_GetArrayItem(runs, 0), "id"),
                     (long long)num_of(cJSON_GetArrayItem(runs, n - 1), "id"));
    }
    if (*run) return ARK_OK;
    cJSON_Delete(*ver);
    *ver = NULL;
    return ARK_ERR_MISSING;
}

/* ---- planning the files ---- */

static bool used(const cJSON *names, const char *n)
{
    static const char *reserved[] = {"index.html", "index.html.tmp", "run.json", "results", MARKER, NULL};
    for (int i = 0; reserved[i]; i++)
        if (!strcmp(n, reserved[i])) return true;
    const cJSON *it;
    cJSON_ArrayForEach(it, names) if (!strcmp(it->valuestring, n)) return true;
    return false;
}

/* A file name made of [A-Za-z0-9._-] from `name` (malloc'd; no leading
 * dot, at most 100 characters). */
static char *safe_name(const char *name, const char *fallback)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (!*base) base = fallback;
    char *out = malloc(strlen(base) + 1);
    size_t n = 0;
    for (const char *p = base; *p && n < 100; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  (c == '.' && n > 0);
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    return out;
}

/* Add a unique file name for `name` to `names` and return it. */
static const char *add_name(cJSON *names, const char *dir, const char *name, const char *fallback)
{
    char *base = safe_name(name, fallback);
    size_t cap = strlen(base) + 32;
    char *cand = malloc(cap);
    snprintf(cand, cap, "%s%s", dir, base);
    for (int k = 2; used(names, cand); k++) snprintf(cand, cap, "%s%d_%s", dir, k, base);
    cJSON *item = cJSON_CreateString(cand);
    cJSON_AddItemToArray(names, item);
    free(base);
    free(cand);
    return item->valuestring;
}

static void add_tests(cJSON *tests, const cJSON *v)
{
    const cJSON *it;
    if (cJSON_IsObject(v)) cJSON_AddItemToArray(tests, cJSON_CreateObjectReference(v->child));
    else cJSON_ArrayForEach(it, v) if (cJSON_IsObject(it)) cJSON_AddItemToArray(tests, cJSON_CreateObjectReference(it->child));
}

/* Every file the report writes, in `names` (relative paths); the plan's
 * per-item names point into it. */
static void plan_files(report_plan *p, cJSON *names)
{
    cJSON_AddItemToArray(names, cJSON_CreateString("index.html"));
    cJSON_AddItemToArray(names, cJSON_CreateString("run.json"));
    p->art_files = cJSON_CreateArray();
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p->run, "artefacts"))
        cJSON_AddItemToArray(p->art_files, cJSON_CreateString(add_name(names, "", str_of(it, "name"), "artefact")));
    p->tool_files = cJSON_CreateArray();
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(p->run, "result");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(result, "tools");
    int i = 0;
    if (cJSON_IsArray(tools)) {
        cJSON_ArrayForEach(it, tools) {
            char pre[32];
            snprintf(pre, sizeof pre, "results/%02d_", i++);
            const char *tool = str_of(it, "name");
            char *nm = malloc(strlen(tool) + 8);
            sprintf(nm, "%s.json", *tool ? tool : "tool");
            cJSON_AddItemToArray(p->tool_files, cJSON_CreateString(add_name(names, pre, nm, "tool.json")));
            free(nm);
        }
    } else if (result && !cJSON_IsNull(result)) {
        p->result_file = add_name(names, "results/", "result.json", "result.json");
    }
    p->att_files = cJSON_CreateObject();
    p->tests = cJSON_CreateArray();
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p->run, "attachments")) {
        if (!strcmp(it->string, "plots")) continue;
        if (!strcmp(it->string, "hypothesis_test") || !strcmp(it->string, "hypothesis_tests")) add_tests(p->tests, it);
        char *nm = malloc(strlen(it->string) + 32);
        sprintf(nm, "attachment_%s.json", it->string);
        cJSON_AddStringToObject(p->att_files, it->string, add_name(names, "results/", nm, "attachment.json"));
        free(nm);
    }
}

static void plan_free(report_plan *p)
{
    cJSON_Delete(p->art_files);
    cJSON_Delete(p->tool_files);
    cJSON_Delete(p->att_files);
    cJSON_Delete(p->tests);
}

/* Every artefact's file is in the store (checked before anything is
 * written). */
static ark_status check_artefacts(const report_plan *p)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p->run, "artefacts")) {
        if (!ark_file_exists(str_of(it, "path")))
            return ark_fail(ARK_ERR_MISSING, "artefact \"%s\" (sha256 %.16s...): its file %s is missing from the store",
                            str_of(it, "name"), str_of(it, "sha256"), str_of(it, "path"));
    }
    return ARK_OK;
}

/* ---- the folder ---- */

/* A path from a marker that may be removed: relative, no "..", safe
 * characters (what plan_files makes). */
static bool removable(const char *rel)
{
    if (!*rel || rel[0] == '/' || rel[0] == '.' || strstr(rel, "..") || strstr(rel, "//")) return false;
    for (const char *c = rel; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", *c)) return false;
    return true;
}

/* Remove the files an earlier report listed in its marker. */
static ark_status remove_old(const char *out, const char *marker_path)
{
    char *text;
    ARK_TRY(ark_read_text(marker_path, &text, NULL));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strcmp(line, MARKER_HEAD) || !removable(line)) continue;
        char *path = ark_path_join(out, line);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) != 0) {
            ark_status s = ark_fail(ARK_ERR_IO, "%s: cannot remove the earlier report's file: %s", path, strerror(errno));
            free(path);
            free(text);
            return s;
        }
        free(path);
    }
    free(text);
    char *results = ark_path_join(out, "results");
    rmdir(results); /* only if empty */
    free(results);
    return ARK_OK;
}

/* Make `out` ready: created, or empty, or an earlier report's folder whose
 * files are removed.  A foreign non-empty folder is refused untouched. */
static ark_status prepare_out(const char *out)
{
    struct stat st;
    if (stat(out, &st) != 0) {
        ark_status s = ark_mkdirs(out);
        return s == ARK_OK ? s : ark_fail_prefix(s, "report folder %s: cannot create it", out);
    }
    if (!S_ISDIR(st.st_mode)) return ark_fail(ARK_ERR_ARG, "report folder %s: exists and is not a folder", out);
    DIR *d = opendir(out);
    if (!d) return ark_fail(ARK_ERR_IO, "report folder %s: %s", out, strerror(errno));
    bool empty = true;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
    closedir(d);
    if (empty) return ARK_OK;
    char *marker = ark_path_join(out, MARKER);
    ark_status s = ARK_OK;
    if (!ark_file_exists(marker))
        s = ark_fail(ARK_ERR_ARG,
                     "report folder %s: exists, is not empty and holds no earlier report (no %s); choose another"
                     " folder or empty this one", out, MARKER);
    else s = remove_old(out, marker);
    free(marker);
    return s;
}

static ark_status write_text(const char *out, const char *rel, const char *text)
{
    char *path = ark_path_join(out, rel);
    ark_status s = ark_write_file_atomic(path, text, strlen(text));
    if (s != ARK_OK) ark_fail_prefix(s, "report");
    free(path);
    return s;
}

static ark_status write_json(const char *out, const char *rel, const cJSON *v)
{
    char *text = cJSON_Print(v);
    if (!text) return ark_fail(ARK_ERR_NOMEM, "%s: cannot print JSON", rel);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    strcpy(text + n, "\n");
    ark_status s = write_text(out, rel, text);
    free(text);
    return s;
}

static ark_status write_marker(const char *out, const cJSON *names)
{
    size_t cap = 64;
    const cJSON *it;
    cJSON_ArrayForEach(it, names) cap += strlen(it->valuestring) + 1;
    char *text = malloc(cap);
    size_t n = (size_t)sprintf(text, "%s\n", MARKER_HEAD);
    cJSON_ArrayForEach(it, names) n += (size_t)sprintf(text + n, "%s\n", it->valuestring);
    ark_status s = write_text(out, MARKER, text);
    free(text);
    return s;
}

static ark_status copy_file(const char *from, const char *out, const char *rel)
{
    FILE *f = fopen(from, "rb");
    if (!f) return ark_fail(ARK_ERR_MISSING, "artefact file %s: %s", from, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) buf = realloc(buf, cap *= 2);
    bool bad = ferror(f);
    fclose(f);
    ark_status s = bad ? ark_fail(ARK_ERR_IO, "artefact file %s: read failed", from) : ARK_OK;
    if (s == ARK_OK) {
        char *path = ark_path_join(out, rel);
        s = ark_write_file_atomic(path, buf, n);
        if (s != ARK_OK) ark_fail_prefix(s, "report");
        free(path);
    }
    free(buf);
    return s;
}

/* The data files: artefacts, tool results, attachments, run.json. */
static ark_status write_data(const char *out, const report_plan *p)
{
    ARK_TRY(write_json(out, "run.json", p->run));
    const cJSON *run = p->run, *it;
    int i = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(run, "artefacts"))
        ARK_TRY(copy_file(str_of(it, "path"), out, cJSON_GetArrayItem(p->art_files, i++)->valuestring));
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(run, "result");
    i = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(result, "tools")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "result");
        cJSON *null = cJSON_CreateNull();
        ark_status s = write_json(out, cJSON_GetArrayItem(p->tool_files, i++)->valuestring, r ? r : null);
        cJSON_Delete(null);
        ARK_TRY(s);
    }
    if (p->result_file) ARK_TRY(write_json(out, p->result_file, result));
    cJSON_ArrayForEach(it, p->att_files)
        ARK_TRY(write_json(out, it->valuestring,
                           cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "attachments"), it->string)));
    return ARK_OK;
}

static ark_status write_index(const char *out, const report_plan *p)
{
    char *tmp = ark_path_join(out, "index.html.tmp"), *path = ark_path_join(out, "index.html");
    FILE *f = fopen(tmp, "w");
    ark_status s = f ? ARK_OK : ark_fail(ARK_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    if (f) {
        report_write_html(f, p);
        if (ferror(f) | fclose(f)) s = ark_fail(ARK_ERR_IO, "%s: write failed", tmp);
        if (s == ARK_OK && rename(tmp, path) != 0) s = ark_fail(ARK_ERR_IO, "%s: cannot rename: %s", path, strerror(errno));
        if (s != ARK_OK) unlink(tmp);
    }
    free(tmp);
    free(path);
    return s;
}

static ark_status write_report(const char *out, report_plan *p, const cJSON *names)
{
    ARK_TRY(check_artefacts(p));
    ARK_TRY(prepare_out(out));
    char *results = ark_path_join(out, "results");
    ark_status s = ark_mkdirs(results);
    free(results);
    if (s != ARK_OK) return ark_fail_prefix(s, "report folder %s", out);
    ARK_TRY(write_marker(out, names));
    ARK_TRY(write_data(out, p));
    return write_index(out, p);
}

static void fill_outputs(const char *out, const cJSON *names, char **index_path, char **files_json)
{
    char *index = ark_path_join(out, "index.html");
    if (files_json) {
        cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateArray(), *it;
        cJSON_AddStringToObject(o, "index", index);
        cJSON_ArrayForEach(it, names) {
            char *f = ark_path_join(out, it->valuestring);
            cJSON_AddItemToArray(files, cJSON_CreateString(f));
            free(f);
        }
        cJSON_AddItemToObject(o, "files", files);
        *files_json = cJSON_Print(o);
        cJSON_Delete(o);
    }
    if (index_path) *index_path = index;
    else free(index);
}

ark_status ark_exp_report(const char *store_dir, const char *name, const char *version, int64_t run_id,
                          const char *out_dir, char **index_path, char **files_json)
{
    if (index_path) *index_path = NULL;
    if (files_json) *files_json = NULL;
    if (!store_dir) store_dir = "experiments";
    if (!name || !*name) return ark_fail(ARK_ERR_ARG, "report: no experiment name");
    if (!out_dir || !*out_dir) return ark_fail(ARK_ERR_ARG, "report: no output folder");
    if (run_id < 0) return ark_fail(ARK_ERR_ARG, "report: run id %lld (expected a positive id, or 0)", (long long)run_id);
    char *db = ark_path_join(store_dir, "experiments.db");
    bool exists = ark_file_exists(db);
    free(db);
    if (!exists) return ark_fail(ARK_ERR_MISSING, "%s: no experiment store here (no experiments.db)", store_dir);
    ark_exp_store *s;
    ARK_TRY(ark_exp_store_open(store_dir, &s));
    cJSON *ver = NULL;
    const cJSON *run = NULL;
    ark_status st = load_run(s, name, version, run_id, &ver, &run);
    ark_exp_store_free(s);
    if (st != ARK_OK) return st;
    report_plan p = {.store_dir = store_dir, .version = ver, .run = run};
    cJSON *names = cJSON_CreateArray();
    plan_files(&p, names);
    st = write_report(out_dir, &p, names);
    if (st == ARK_OK) fill_outputs(out_dir, names, index_path, files_json);
    plan_free(&p);
    cJSON_Delete(names);
    cJSON_Delete(ver);
    return st;
}
