/* Experiment runs: begin (the "running" row), what an experiment logs
 * (parameters, result, metrics, artefacts, attachments), end (one
 * transaction), and ark_bench_log_experiment — a C function run as a
 * logged experiment with its own source as the version. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/bench_internal.h"
#include "core/error.h"
#include "io/fileio.h"

struct ark_exp_run {
    ark_bench *bench;
    int64_t id;
    int ordinal;
    char hash[65];
    cJSON *params;
    char *params_text;
    cJSON *result;      /* NULL until set */
    cJSON *metrics;     /* name -> number|null */
    cJSON *artefacts;   /* [{name, sha256, bytes}] */
    cJSON *attachments; /* key -> value */
    struct timespec t0;
    long rss0_kb;
};

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static void refresh_params_text(ark_exp_run *run)
{
    free(run->params_text);
    run->params_text = cJSON_PrintUnformatted(run->params);
}

static void run_free(ark_exp_run *run)
{
    cJSON_Delete(run->params);
    free(run->params_text);
    cJSON_Delete(run->result);
    cJSON_Delete(run->metrics);
    cJSON_Delete(run->artefacts);
    cJSON_Delete(run->attachments);
    free(run);
}

ark_status ark_exp_begin(ark_bench *b, const ark_exp_source *src, const char *params, ark_exp_run **out)
{
    *out = NULL;
    if (!b) return ark_fail(ARK_ERR_ARG, "experiment: no bench");
    if (!src || !src->name || !*src->name) return ark_fail(ARK_ERR_ARG, "experiment name: empty");
    if (!src->text) return ark_fail(ARK_ERR_ARG, "experiment \"%s\": no source text", src->name);
    cJSON *p = params && *params ? cJSON_Parse(params) : cJSON_CreateObject();
    if (!cJSON_IsObject(p)) {
        cJSON_Delete(p);
        return ark_fail(ARK_ERR_FORMAT, "experiment \"%s\": params: expected a JSON object, got %.60s", src->name, params);
    }
    ark_exp_run *run = calloc(1, sizeof *run);
    run->bench = b;
    run->params = p;
    refresh_params_text(run);
    run->metrics = cJSON_CreateObject();
    run->artefacts = cJSON_CreateArray();
    run->attachments = cJSON_CreateObject();
    ark_sha256_hex(src->text, strlen(src->text), run->hash);

    char started[32], host[256], system[256];
    store_now(started);
    bench_host(host, sizeof host, system, sizeof system);
    store_run_start r = {
        .src = src, .hash = run->hash, .params = run->params_text, .started = started,
        .model_dir = b->model_dir, .model = b->has_model_id ? &b->model_id : NULL,
        .tokenizer_file = b->tokenizer_file,
        .tokenizer_sha256 = b->tokenizer_file ? b->tokenizer_sha256 : NULL,
        .host = host, .system = system,
    };
    run->rss0_kb = peak_rss_kb();
    clock_gettime(CLOCK_MONOTONIC, &run->t0);
    ark_status st = store_start_run(b->store, &r, &run->id, &run->ordinal);
    if (st != ARK_OK) { run_free(run); return st; }
    b->last_run = run->id;
    *out = run;
    return ARK_OK;
}

ark_status ark_exp_end(ark_exp_run *run, ark_status status, const char *error)
{
    if (!run) return ark_fail(ARK_ERR_ARG, "experiment run: NULL");
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char *result = run->result ? cJSON_PrintUnformatted(run->result) : NULL;
    store_run_end r = {
        .run_id = run->id,
        .status = status == ARK_OK ? "ok" : "failed",
        .error = status == ARK_OK ? NULL : error && *error ? error : ark_status_name(status),
        .params = run->params_text, .result = result,
        .duration_s = (double)(t1.tv_sec - run->t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - run->t0.tv_nsec),
        .peak_rss_kb = peak_rss_kb(), .peak_rss_start_kb = run->rss0_kb,
        .metrics = run->metrics, .artefacts = run->artefacts, .attachments = run->attachments,
    };
    ark_status st = store_end_run(run->bench->store, &r);
    free(result);
    run_free(run);
    return st;
}

int64_t ark_exp_run_id(const ark_exp_run *run) { return run->id; }
const char *ark_exp_run_version(const ark_exp_run *run) { return run->hash; }
int ark_exp_run_ordinal(const ark_exp_run *run) { return run->ordinal; }
const char *ark_exp_params(const ark_exp_run *run) { return run->params_text; }

static void put(cJSON *obj, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
}

ark_status ark_exp_set_param(ark_exp_run *run, const char *key, const char *json_value)
{
    if (!key || !*key) return ark_fail(ARK_ERR_ARG, "param key: empty");
    cJSON *v = json_value ? cJSON_Parse(json_value) : cJSON_CreateNull();
    if (!v) v = cJSON_CreateString(json_value);
    put(run->params, key, v);
    refresh_params_text(run);
    return ARK_OK;
}

ark_status ark_exp_log_metric(ark_exp_run *run, const char *name, double value)
{
    if (!name || !*name) return ark_fail(ARK_ERR_ARG, "metric name: empty");
    put(run->metrics, name, isfinite(value) ? cJSON_CreateNumber(value) : cJSON_CreateNull());
    return ARK_OK;
}

ark_status ark_exp_set_result(ark_exp_run *run, const char *json)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    if (!v) return ark_fail(ARK_ERR_FORMAT, "result: not JSON: %.60s", json ? json : "(null)");
    cJSON_Delete(run->result);
    run->result = v;
    return ARK_OK;
}

ark_status ark_exp_put_result(ark_exp_run *run, const char *key, const char *json_value)
{
    if (!key || !*key) return ark_fail(ARK_ERR_ARG, "result key: empty");
    cJSON *v = json_value ? cJSON_Parse(json_value) : NULL;
    if (!v) return ark_fail(ARK_ERR_FORMAT, "result \"%s\": not JSON: %.60s", key, json_value ? json_value : "(null)");
    if (!run->result) run->result = cJSON_CreateObject();
    if (!cJSON_IsObject(run->result)) {
        cJSON_Delete(v);
        return ark_fail(ARK_ERR_ARG, "result \"%s\": the result is already set to a value that is not an object", key);
    }
    put(run->result, key, v);
    return ARK_OK;
}

ark_status ark_exp_attach(ark_exp_run *run, const char *key, const char *json)
{
    if (!key || !*key) return ark_fail(ARK_ERR_ARG, "attachment key: empty");
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    if (!v) return ark_fail(ARK_ERR_FORMAT, "attachment \"%s\": not JSON: %.60s", key, json ? json : "(null)");
    put(run->attachments, key, v);
    return ARK_OK;
}

ark_status ark_exp_log_artefact_data(ark_exp_run *run, const char *name, const void *data, size_t len, char *sha256_hex)
{
    if (!name || !*name) return ark_fail(ARK_ERR_ARG, "artefact name: empty");
    char hex[65];
    ARK_TRY(store_put_artefact(run->bench->store, data, len, hex));
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "name", name);
    cJSON_AddStringToObject(a, "sha256", hex);
    cJSON_AddNumberToObject(a, "bytes", (double)len);
    cJSON_AddItemToArray(run->artefacts, a);
    if (sha256_hex) memcpy(sha256_hex, hex, 65);
    return ARK_OK;
}

ark_status ark_exp_log_artefact(ark_exp_run *run, const char *path, const char *name, char *sha256_hex)
{
    if (!path) return ark_fail(ARK_ERR_ARG, "artefact path: NULL");
    char *data;
    size_t len;
    ark_status st = ark_read_text(path, &data, &len);
    if (st != ARK_OK) return ark_fail_prefix(st, "artefact");
    if (!name) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    st = ark_exp_log_artefact_data(run, name, data, len, sha256_hex);
    free(data);
    return st;
}

/* ---- C functions as experiments ---- */

/* Does one of lines [line-5, line] of t mention name?  (Where the macro
 * call sits; a file edited since it was compiled usually no longer does.) */
static bool call_site_mentions(const char *t, int line, const char *name)
{
    int at = 1;
    const char *p = t;
    while (*p && at < line - 5) { if (*p++ == '\n') at++; }
    const char *end = p;
    while (*end && at <= line) { if (*end++ == '\n') at++; }
    size_t n = strlen(name);
    for (const char *q = p; q + n <= end; q++)
        if (!memcmp(q, name, n)) return true;
    return false;
}

/* The source of `name` from `file`, or what is known of it with the reason
 * in *note.  *text and *note are malloc'd (note NULL when all is well). */
static void capture_source(const char *name, const char *file, int line, char **text, int *first, char **note)
{
    char why[512] = "", *body = NULL, *content = NULL;
    *note = NULL;
    *first = 0;
    if (!file) snprintf(why, sizeof why, "no source file given");
    else if (ark_read_text(file, &content, NULL) != ARK_OK) snprintf(why, sizeof why, "%s", ark_errmsg());
    else if (!(body = ark_c_function_source(content, name, first, why, sizeof why - 64)))
        snprintf(why + strlen(why), sizeof why - strlen(why), " in %s", file);
    if (body) {
        *text = body;
        if (line > 0 && !call_site_mentions(content, line, name)) {
            char buf[600];
            snprintf(buf, sizeof buf, "source file changed since it was compiled? line %d of %s does not mention %s",
                     line, file, name);
            *note = strdup(buf);
        }
    } else {
        char buf[1200];
        snprintf(buf, sizeof buf, "source unavailable: %s", why);
        *note = strdup(buf);
        snprintf(buf, sizeof buf, "function %s at %s:%d\n", name, file ? file : "?", line);
        *text = strdup(buf);
    }
    free(content);
}

ark_status ark_bench_log_experiment(ark_bench *b, const char *name, ark_exp_fn fn, void *args, const char *params,
                                    const char *file, int line)
{
    if (!fn) return ark_fail(ARK_ERR_ARG, "experiment \"%s\": no function", name ? name : "");
    char *text, *note;
    int first;
    capture_source(name ? name : "", file, line, &text, &first, &note);
    ark_exp_source src = {.name = name, .text = text, .kind = "c", .file = file,
                          .line = first ? first : line, .function = name, .note = note};
    ark_exp_run *run;
    ark_status st = ark_exp_begin(b, &src, params, &run);
    free(text);
    free(note);
    if (st != ARK_OK) return st;
    ark_clear_error();
    ark_status fst = fn(b, run, args);
    char *msg = fst != ARK_OK ? strdup(ark_errmsg()) : NULL;
    st = ark_exp_end(run, fst, msg);
    if (fst != ARK_OK) {
        /* The experiment's own failure comes first; the store's, if any,
         * is appended. */
        if (st != ARK_OK) {
            char *serr = strdup(ark_errmsg());
            ark_fail(fst, "%s (and the run could not be recorded: %s)", msg, serr);
            free(serr);
        } else {
            ark_fail(fst, "%s", msg);
        }
        free(msg);
        return fst;
    }
    return st;
}
