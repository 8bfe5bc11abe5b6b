/* Experiment specs: a YAML file naming a model, inputs, tools with their
 * parameters, metrics and plots, run through the tools' generic entry
 * points and logged with the file's text as the experiment's source.
 * Overrides (--set path=value) and sweeps (--multirun path=a,b,c) are
 * parameters of each run, not part of the version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_internal.h"
#include "arrakis/profile.h"
#include "core/error.h"
#include "tools/tool_util.h"
#include "io/fileio.h"

typedef struct sweep {
    char *path;
    cJSON *values; /* array */
} sweep;

struct ark_spec {
    char *path, *dir, *text;
    cJSON *doc;       /* the spec with overrides applied */
    cJSON *overrides; /* path -> value, in order */
    bool model_from_cli;
    sweep *sweeps;
    int n_sweeps;
};

ark_status ark_spec_load(const char *path, ark_spec **out)
{
    *out = NULL;
    char *text;
    size_t len;
    ARK_TRY(ark_read_text(path, &text, &len));
    cJSON *doc;
    ark_status st = ark_yaml_parse(text, len, path, &doc);
    if (st != ARK_OK) { free(text); return st; }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        free(text);
        return ark_fail(ARK_ERR_FORMAT, "%s: expected a mapping (name:, model:, inputs:, tools:, plots:)", path);
    }
    ark_spec *s = calloc(1, sizeof *s);
    s->path = strdup(path);
    const char *slash = strrchr(path, '/');
    s->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    s->text = text;
    s->doc = doc;
    s->overrides = cJSON_CreateObject();
    *out = s;
    return ARK_OK;
}

void ark_spec_free(ark_spec *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_sweeps; i++) { free(s->sweeps[i].path); cJSON_Delete(s->sweeps[i].values); }
    free(s->sweeps);
    cJSON_Delete(s->doc);
    cJSON_Delete(s->overrides);
    free(s->path);
    free(s->dir);
    free(s->text);
    free(s);
}

char *ark_spec_json(const ark_spec *s) { return cJSON_Print(s->doc); }

/* ---- dotted paths ---- */

static bool index_of(const char *seg, int *idx)
{
    if (!*seg) return false;
    char *end;
    long v = strtol(seg, &end, 10);
    if (*end || v < 0 || v > 1000000) return false;
    *idx = (int)v;
    return true;
}

const char *spec_kind_name(const cJSON *v)
{
    if (cJSON_IsObject(v)) return "a mapping";
    if (cJSON_IsArray(v)) return "a list";
    if (cJSON_IsString(v)) return "text";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    return "null";
}

/* Set doc[path] = value (taken over); missing mappings are created, a list
 * index may be one past the end (append). */
static ark_status set_path(const char *where, cJSON *doc, const char *path, cJSON *value)
{
    char *copy = strdup(path), *save = NULL;
    cJSON *cur = doc;
    ark_status st = ARK_OK;
    char *seg = strtok_r(copy, ".", &save);
    if (!seg) st = ark_fail(ARK_ERR_ARG, "%s: empty override path", where);
    while (st == ARK_OK && seg) {
        char *next = strtok_r(NULL, ".", &save);
        int idx;
        cJSON *child = NULL;
        if (cJSON_IsObject(cur)) {
            child = cJSON_GetObjectItemCaseSensitive(cur, seg);
            if (!next) {
                if (child) cJSON_ReplaceItemInObjectCaseSensitive(cur, seg, value);
                else cJSON_AddItemToObject(cur, seg, value);
                value = NULL;
            } else if (!child) {
                child = cJSON_AddObjectToObject(cur, seg);
            }
        } else if (cJSON_IsArray(cur) && index_of(seg, &idx) && idx <= cJSON_GetArraySize(cur)) {
            int n = cJSON_GetArraySize(cur);
            if (!next) {
                if (idx < n) cJSON_ReplaceItemInArray(cur, idx, value);
                else cJSON_AddItemToArray(cur, value);
                value = NULL;
            } else {
                child = idx < n ? cJSON_GetArrayItem(cur, idx) : cJSON_CreateObject();
                if (idx == n) cJSON_AddItemToArray(cur, child);
            }
        } else if (cJSON_IsArray(cur)) {
            st = ark_fail(ARK_ERR_ARG, "%s: override %s: \"%s\" is not an index of a list of %d", where, path, seg,
                          cJSON_GetArraySize(cur));
        } else {
            st = ark_fail(ARK_ERR_ARG, "%s: override %s: cannot go into \"%s\" of %s", where, path, seg, spec_kind_name(cur));
        }
        cur = child;
        seg = next;
    }
    cJSON_Delete(value);
    free(copy);
    return st;
}

const cJSON *spec_get_path(const cJSON *doc, const char *path)
{
    char *copy = strdup(path), *save = NULL;
    const cJSON *cur = doc;
    for (char *seg = strtok_r(copy, ".", &save); cur && seg; seg = strtok_r(NULL, ".", &save)) {
        int idx;
        if (cJSON_IsObject(cur)) cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        else if (cJSON_IsArray(cur) && index_of(seg, &idx)) cur = cJSON_GetArrayItem(cur, idx);
        else cur = NULL;
    }
    free(copy);
    return cur;
}

static ark_status split_assignment(const char *where, const char *a, char **path, const char **value)
{
    const char *eq = a ? strchr(a, '=') : NULL;
    if (!eq || eq == a) return ark_fail(ARK_ERR_ARG, "%s: expected PATH=VALUE, got \"%s\"", where, a ? a : "");
    *path = strndup(a, (size_t)(eq - a));
    *value = eq + 1;
    return ARK_OK;
}

ark_status ark_spec_set(ark_spec *s, const char *assignment)
{
    char *path = NULL;
    const char *value = NULL;
    ARK_TRY(split_assignment("--set", assignment, &path, &value));
    ark_status st = set_path(s->path, s->doc, path, ark_yaml_scalar_value(value));
    if (st == ARK_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(s->overrides, path);
        cJSON_AddItemToObject(s->overrides, path, ark_yaml_scalar_value(value));
        if (!strcmp(path, "model")) s->model_from_cli = true;
    }
    free(path);
    return st;
}

ark_status ark_spec_multirun(ark_spec *s, const char *assignment)
{
    char *path = NULL;
    const char *value = NULL;
    ARK_TRY(split_assignment("--multirun", assignment, &path, &value));
    cJSON *values = cJSON_CreateArray();
    /* Split at commas outside brackets and quotes. */
    int depth = 0;
    char quote = 0;
    const char *start = value;
    for (const char *p = value;; p++) {
        if (quote) { if (*p == quote) quote = 0; else if (!*p) break; continue; }
        if (*p == '"' || *p == '\'') quote = *p;
        else if (*p == '[' || *p == '{') depth++;
        else if ((*p == ']' || *p == '}') && depth > 0) depth--;
        else if ((*p == ',' && depth == 0) || !*p) {
            char *item = strndup(start, (size_t)(p - start));
            cJSON_AddItemToArray(values, ark_yaml_scalar_value(item));
            free(item);
            start = p + 1;
            if (!*p) break;
        }
    }
    if (quote) {
        cJSON_Delete(values);
        free(path);
        return ark_fail(ARK_ERR_ARG, "--multirun %s: unterminated quote", assignment);
    }
    s->sweeps = realloc(s->sweeps, sizeof *s->sweeps * (size_t)(s->n_sweeps + 1));
    s->sweeps[s->n_sweeps++] = (sweep){path, values};
    if (!strcmp(path, "model")) s->model_from_cli = true;
    return ARK_OK;
}

/* ---- running ---- */

/* The open model and bench of the current combination; reopened when the
 * model changes. */
typedef struct runner {
    ark_spec *spec;
    const char *save_dir;
    char *model_dir;
    ark_model *model;
    ark_tokenizer *tok;
    ark_bench *bench;
    char *model_error; /* why the model could not be opened */
} runner;

static void runner_close(runner *r)
{
    ark_bench_free(r->bench);
    ark_tokenizer_free(r->tok);
    ark_model_free(r->model);
    free(r->model_dir);
    free(r->model_error);
    r->bench = NULL;
    r->tok = NULL;
    r->model = NULL;
    r->model_dir = NULL;
    r->model_error = NULL;
}

/* A bench over `dir` (a failure to open the model leaves a bench without
 * one and the reason in model_error, so the run is still logged). */
static ark_status runner_bench(runner *r, const char *dir)
{
    if (r->bench && r->model_dir && !strcmp(r->model_dir, dir)) return ARK_OK;
    runner_close(r);
    r->model_dir = strdup(dir);
    if (ark_model_open(dir, &r->model) != ARK_OK) {
        r->model_error = strdup(ark_errmsg());
        r->model = NULL;
    } else {
        char *tj = ark_path_join(dir, "tokenizer.json");
        if (ark_file_exists(tj) && ark_tokenizer_open(dir, &r->tok) != ARK_OK) {
            r->model_error = strdup(ark_errmsg());
            r->tok = NULL;
        }
        free(tj);
    }
    ark_status st = ark_bench_open(r->model, r->tok, r->save_dir, &r->bench);
    if (st != ARK_OK) { runner_close(r); return st; }
    return ARK_OK;
}

/* The model folder of a spec: relative paths from the file are resolved
 * against the file's folder, those from the command line against the
 * current directory. */
static char *model_path(const ark_spec *s, const cJSON *doc)
{
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "model"));
    if (!m) return NULL;
    if (m[0] == '/' || s->model_from_cli) return strdup(m);
    return ark_path_join(s->dir, m);
}

/* Check the spec's shape (tests: spec_tests.c); errors name the field. */
/* Whether an override path (a key of `overrides`) starts with the top-level key k. */
static bool overridden(const cJSON *overrides, const char *k)
{
    const cJSON *o;
    size_t n = strlen(k);
    cJSON_ArrayForEach(o, overrides) if (!strncmp(o->string, k, n) && (!o->string[n] || o->string[n] == '.')) return true;
    return false;
}

static ark_status validate(const char *where, const cJSON *doc, const cJSON *overrides)
{
    /* A misspelt key in the file (tool:, plot:) would otherwise be ignored
     * without a word.  Keys added by --set / --multirun are the user's own
     * parameters (a seed, a worker id) and are kept with the run. */
    static const char *const keys[] = {"name", "description", "model", "inputs", "tools", "metrics", "tests", "plots", "profile"};
    const cJSON *k;
    cJSON_ArrayForEach(k, doc) {
        size_t j = 0;
        while (j < sizeof keys / sizeof *keys && strcmp(k->string, keys[j])) j++;
        if (j == sizeof keys / sizeof *keys && !overridden(overrides, k->string))
            return ark_fail(ARK_ERR_FORMAT,
                            "%s: %s: unknown key (a spec has name, description, model, inputs, tools, metrics, tests, "
                            "plots, profile; docs/bench.md)", where, k->string);
    }
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(doc, "description");
    if (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))
        return ark_fail(ARK_ERR_FORMAT, "%s: description: expected text", where);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
    if (!cJSON_IsString(name) || !*name->valuestring) return ark_fail(ARK_ERR_FORMAT, "%s: name: expected the experiment's name (text)", where);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "model")))
        return ark_fail(ARK_ERR_FORMAT, "%s: model: expected a model folder (text)", where);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(doc, "inputs");
    if (inputs && !cJSON_IsObject(inputs) && !cJSON_IsNull(inputs))
        return ark_fail(ARK_ERR_FORMAT, "%s: inputs: expected a mapping ({text: [...]} or {tokens: [[...]]})", where);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(doc, "tools"), *t;
    if (tools && !cJSON_IsArray(tools) && !cJSON_IsNull(tools)) return ark_fail(ARK_ERR_FORMAT, "%s: tools: expected a list", where);
    int i = 0;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(t, "op"), *p = cJSON_GetObjectItemCaseSensitive(t, "params");
        if (!cJSON_IsObject(t) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "name")))
            return ark_fail(ARK_ERR_FORMAT, "%s: tools[%d]: expected {name: TOOL_KEY, op: OP, params: {...}}", where, i);
        if (op && !cJSON_IsString(op) && !cJSON_IsNull(op)) return ark_fail(ARK_ERR_FORMAT, "%s: tools[%d].op: expected text", where, i);
        if (p && !cJSON_IsObject(p) && !cJSON_IsNull(p)) return ark_fail(ARK_ERR_FORMAT, "%s: tools[%d].params: expected a mapping", where, i);
        i++;
    }
    const cJSON *plots = cJSON_GetObjectItemCaseSensitive(doc, "plots");
    i = 0;
    if (plots && !cJSON_IsArray(plots) && !cJSON_IsNull(plots)) return ark_fail(ARK_ERR_FORMAT, "%s: plots: expected a list", where);
    cJSON_ArrayForEach(t, plots) {
        if (!cJSON_IsObject(t) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "type")))
            return ark_fail(ARK_ERR_FORMAT, "%s: plots[%d]: expected {type: ..., out: FILE}", where, i);
        i++;
    }
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(doc, "metrics");
    if (metrics && !cJSON_IsObject(metrics) && !cJSON_IsNull(metrics))
        return ark_fail(ARK_ERR_FORMAT, "%s: metrics: expected a mapping NAME: RESULT_PATH", where);
    cJSON_ArrayForEach(t, metrics)
        if (!cJSON_IsString(t)) return ark_fail(ARK_ERR_FORMAT, "%s: metrics.%s: expected a result path (text)", where, t->string);
    return spec_tests_validate(where, doc);
}

/* Run the spec's tools into result {"tools": [...]}. */
static ark_status run_tools(runner *r, const cJSON *doc, cJSON *result)
{
    cJSON *list = cJSON_AddArrayToObject(result, "tools");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(doc, "inputs");
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(doc, "tools")) {
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
        const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "op"));
        if (op && (!*op || !strcmp(op, "default"))) op = NULL;
        /* The inputs, then the tool's own params (which win). */
        cJSON *params = cJSON_IsObject(inputs) ? cJSON_Duplicate(inputs, true) : cJSON_CreateObject();
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t, "params")) {
            cJSON_DeleteItemFromObjectCaseSensitive(params, p->string);
            cJSON_AddItemToObject(params, p->string, cJSON_Duplicate(p, true));
        }
        char *ptext = cJSON_PrintUnformatted(params), *out = NULL;
        cJSON_Delete(params);
        ark_bench_tool *tool = NULL;
        ark_status st = ark_bench_use_tool(r->bench, key, &tool);
        if (st == ARK_OK) st = ark_bench_tool_run(tool, op, ptext, &out);
        ark_bench_tool_free(tool);
        free(ptext);
        if (st != ARK_OK) {
            free(out);
            return ark_fail_prefix(st, "tools[%d]", i);
        }
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "name", key);
        if (op) cJSON_AddStringToObject(entry, "op", op);
        else cJSON_AddNullToObject(entry, "op");
        cJSON *res = cJSON_Parse(out);
        cJSON_AddItemToObject(entry, "result", res ? res : cJSON_CreateString(out ? out : ""));
        cJSON_AddItemToArray(list, entry);
        free(out);
        i++;
    }
    return ARK_OK;
}

/* Metrics named in the spec, picked from the result by path. */
static ark_status pick_metrics(ark_exp_run *run, const cJSON *doc, const cJSON *result)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "metrics")) {
        const cJSON *v = spec_get_path(result, m->valuestring);
        if (!cJSON_IsNumber(v))
            return ark_fail(ARK_ERR_MISSING, "metrics.%s: the result has no number at \"%s\" (%s)", m->string,
                            m->valuestring, v ? spec_kind_name(v) : "absent");
        ARK_TRY(ark_exp_log_metric(run, m->string, v->valuedouble));
    }
    return ARK_OK;
}

/* `profile: true`: one forward pass over the inputs, timed per component
 * (profile.h), attached to the run as "profile" with its total as a metric. */
static ark_status do_profile(runner *r, ark_exp_run *run, const cJSON *doc)
{
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "profile"))) return ARK_OK;
    tool_batch batch;
    ARK_TRY(tool_batch_from_json(ark_bench_env(r->bench), cJSON_GetObjectItemCaseSensitive(doc, "inputs"), &batch));
    ark_cache *cache = NULL;
    ark_profile *prof = NULL;
    ark_status st = ark_run_profiled(r->model, batch.tokens, batch.B, batch.T, batch.mask, NULL, &cache, &prof);
    if (st == ARK_OK) {
        char *js = ark_profile_json(prof);
        st = ark_exp_attach(run, "profile", js);
        if (st == ARK_OK) st = ark_exp_log_metric(run, "profile_seconds", ark_profile_total(prof));
        free(js);
    }
    ark_profile_free(prof);
    ark_cache_free(cache);
    tool_batch_free(&batch);
    return st == ARK_OK ? ARK_OK : ark_fail_prefix(st, "profile");
}

/* Plots: rendered by the installed plotter into artefacts, or recorded as
 * pending.  Attached to the run as "plots". */
static void do_plots(runner *r, ark_exp_run *run, const cJSON *doc, const cJSON *result)
{
    const cJSON *plots = cJSON_GetObjectItemCaseSensitive(doc, "plots"), *p;
    if (!cJSON_GetArraySize(plots)) return;
    ark_plot_render_fn render = ark_bench_plotter();
    cJSON *out = cJSON_CreateArray();
    char *rtext = cJSON_PrintUnformatted(result);
    int i = 0;
    cJSON_ArrayForEach(p, plots) {
        cJSON *e = cJSON_Duplicate(p, true);
        if (!render) {
            cJSON_AddStringToObject(e, "status", "pending: plotting not built");
        } else {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "out"));
            char fallback[64], *tmp_dir = ark_path_join(r->save_dir ? r->save_dir : "experiments", "tmp"), tmp[4200];
            snprintf(fallback, sizeof fallback, "plot%d.png", i);
            if (!name) name = fallback;
            const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
            snprintf(tmp, sizeof tmp, "%s/%lld-%ld-%s", tmp_dir, (long long)ark_exp_run_id(run), (long)getpid(), base);
            char *ptext = cJSON_PrintUnformatted(p), hex[65];
            ark_status st = ark_mkdirs(tmp_dir);
            if (st == ARK_OK) st = render(ark_bench_env(r->bench), ptext, rtext, tmp);
            if (st == ARK_OK) st = ark_exp_log_artefact(run, tmp, name, hex);
            if (st == ARK_OK) {
                cJSON_AddStringToObject(e, "status", "ok");
                cJSON_AddStringToObject(e, "sha256", hex);
            } else {
                char msg[2100];
                snprintf(msg, sizeof msg, "failed: %s", ark_errmsg());
                cJSON_AddStringToObject(e, "status", msg);
            }
            unlink(tmp);
            free(ptext);
            free(tmp_dir);
        }
        cJSON_AddItemToArray(out, e);
        i++;
    }
    char *text = cJSON_PrintUnformatted(out);
    ark_exp_attach(run, "plots", text);
    free(text);
    free(rtext);
    cJSON_Delete(out);
}

/* One run of the spec `doc` (overrides applied); its report entry is added
 * to `report`. */
static ark_status run_one(runner *r, cJSON *doc, cJSON *overrides, cJSON *report)
{
    ark_spec *s = r->spec;
    ARK_TRY(validate(s->path, doc, overrides));
    char *mdir = model_path(s, doc);
    ark_status st = runner_bench(r, mdir);
    free(mdir);
    if (st != ARK_OK) return st;

    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "name"));
    ark_exp_source src = {.name = name, .text = s->text, .kind = "yaml", .file = s->path, .line = 1};
    cJSON *params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "overrides", cJSON_Duplicate(overrides, true));
    cJSON_AddItemToObject(params, "spec", cJSON_Duplicate(doc, true));
    char *ptext = cJSON_PrintUnformatted(params);
    cJSON_Delete(params);
    ark_exp_run *run;
    st = ark_exp_begin(r->bench, &src, ptext, &run);
    free(ptext);
    if (st != ARK_OK) return st;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cJSON *result = cJSON_CreateObject();
    ark_status rst = r->model ? ARK_OK : ark_fail(ARK_ERR_IO, "model: %s", r->model_error);
    if (rst == ARK_OK) rst = run_tools(r, doc, result);
    if (rst == ARK_OK) rst = pick_metrics(run, doc, result);
    if (rst == ARK_OK) rst = spec_tests_run(run, doc, result);
    if (rst == ARK_OK) rst = do_profile(r, run, doc);
    char *err = rst != ARK_OK ? strdup(ark_errmsg()) : NULL;
    if (rst == ARK_OK) do_plots(r, run, doc, result);
    char *rtext = cJSON_PrintUnformatted(result);
    ark_exp_set_result(run, rtext);
    free(rtext);
    cJSON_Delete(result);

    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "experiment", name);
    cJSON_AddNumberToObject(e, "version", ark_exp_run_ordinal(run));
    cJSON_AddStringToObject(e, "hash", ark_exp_run_version(run));
    cJSON_AddNumberToObject(e, "run", (double)ark_exp_run_id(run));
    cJSON_AddStringToObject(e, "status", rst == ARK_OK ? "ok" : "failed");
    st = ark_exp_end(run, rst, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cJSON_AddNumberToObject(e, "duration_s", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    cJSON_AddItemToObject(e, "overrides", cJSON_Duplicate(overrides, true));
    if (err) cJSON_AddStringToObject(e, "error", err);
    cJSON_AddItemToArray(report, e);
    if (st == ARK_OK && rst != ARK_OK) st = ark_fail(rst, "%s", err);
    free(err);
    return st;
}

ark_status ark_spec_run(ark_spec *s, const char *save_dir, char **report)
{
    if (report) *report = NULL;
    long combos = 1;
    for (int i = 0; i < s->n_sweeps; i++) {
        int n = cJSON_GetArraySize(s->sweeps[i].values);
        if (n == 0) return ark_fail(ARK_ERR_ARG, "--multirun %s: no values", s->sweeps[i].path);
        combos *= n;
        if (combos > 100000) return ark_fail(ARK_ERR_ARG, "--multirun: more than 100000 combinations");
    }
    runner r = {.spec = s, .save_dir = save_dir};
    cJSON *rep = cJSON_CreateObject();
    cJSON *runs = cJSON_AddArrayToObject(rep, "runs");
    ark_status first = ARK_OK;
    char *first_msg = NULL;
    for (long c = 0; c < combos; c++) {
        cJSON *doc = cJSON_Duplicate(s->doc, true);
        cJSON *ov = cJSON_Duplicate(s->overrides, true);
        ark_status st = ARK_OK;
        /* The first sweep varies slowest. */
        long rest = c, div = combos;
        for (int i = 0; i < s->n_sweeps && st == ARK_OK; i++) {
            int n = cJSON_GetArraySize(s->sweeps[i].values);
            div /= n;
            const cJSON *v = cJSON_GetArrayItem(s->sweeps[i].values, (int)(rest / div));
            rest %= div;
            st = set_path(s->path, doc, s->sweeps[i].path, cJSON_Duplicate(v, true));
            cJSON_DeleteItemFromObjectCaseSensitive(ov, s->sweeps[i].path);
            cJSON_AddItemToObject(ov, s->sweeps[i].path, cJSON_Duplicate(v, true));
        }
        if (st == ARK_OK) st = run_one(&r, doc, ov, runs);
        if (st != ARK_OK && first == ARK_OK) {
            first = st;
            first_msg = strdup(ark_errmsg());
        }
        cJSON_Delete(doc);
        cJSON_Delete(ov);
    }
    runner_close(&r);
    if (report) *report = cJSON_Print(rep);
    cJSON_Delete(rep);
    if (first != ARK_OK) {
        ark_fail(first, "%s", first_msg);
        free(first_msg);
    }
    return first;
}
