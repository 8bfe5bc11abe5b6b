/* The bench's tools and experiment specs:
 *   - tools registered on a bench stay on that bench (not in the global
 *     registry, not on another bench), may shadow a built-in, and are
 *     handed out built over the bench's model; errors name the tool;
 *   - a YAML spec runs its tools through the generic entry point with the
 *     inputs merged into each tool's params (the tool's own win), logs the
 *     spec's text as the source, picks metrics from the result by path and
 *     records its plots; --set overrides and --multirun sweeps (Cartesian
 *     product, first sweep slowest) are runs of the same version; one
 *     changed line makes a new version whose diff is that line; failing
 *     tools and missing models are logged as failed runs;
 *   - YAML scalars resolve by the YAML 1.2 core schema (expected JSON
 *     written here by hand); errors carry file:line:column. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "bench/bench_internal.h"
#include "core/error.h"
#include "testutil.h"
#include "bench_testutil.h"

#define FACTS "trained/facts-llama"

/* ---- helpers ---- */

static char *scratch(const char *name) { return strdup(scratch_dir(name)); }


/* ---- tools ---- */

static ark_status echo_create(const ark_tool_env *env, void **state)
{
    *state = (void *)env;
    return ARK_OK;
}

/* Returns {"op": OP, "params": PARAMS, "n_layers": L, "k": params.k}. */
static ark_status echo_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = cJSON_Parse(params && *params ? params : "{}");
    if (!p) return ARK_ERR_FORMAT;
    cJSON *k = cJSON_GetObjectItem(p, "k");
    if (k && !cJSON_IsNumber(k)) {
        cJSON_Delete(p);
        return ARK_ERR_ARG;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", op ? op : "(default)");
    cJSON_AddNumberToObject(o, "n_layers", ark_model_config(env->model)->n_layers);
    cJSON_AddNumberToObject(o, "k", k ? k->valuedouble : -1);
    cJSON_AddItemToObject(o, "params", p);
    *result = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return ARK_OK;
}

static const char *const echo_ops[] = {"echo: returns its parameters", NULL};
static const ark_tool_def echo_local = {"bench_test_echo", "echo (bench-local)", echo_create, echo_run, NULL, echo_ops};
static const ark_tool_def echo_global = {"bench_test_global_echo", "echo (global)", echo_create, echo_run, NULL, echo_ops};

static void test_tools(void **state)
{
    (void)state;
    char *dir = scratch("bench_tools");
    ark_model *m;
    assert_int_equal(ark_model_open(fixture_path(FACTS), &m), ARK_OK);
    ark_bench *b, *other;
    assert_int_equal(ark_bench_open(m, NULL, dir, &b), ARK_OK);
    assert_int_equal(ark_bench_open(m, NULL, dir, &other), ARK_OK);
    int before = ark_bench_tool_count(b);
    assert_int_equal(before, ark_tool_count());
    assert_int_equal(ark_bench_register_tool(b, &echo_local), ARK_OK);
    assert_int_equal(ark_bench_tool_count(b), before + 1);
    assert_ptr_equal(ark_bench_tool_at(b, 0), &echo_local);
    assert_ptr_equal(ark_bench_find_tool(b, "bench_test_echo"), &echo_local);
    /* Per bench: the global registry and another bench do not see it. */
    assert_null(ark_tool_find("bench_test_echo"));
    assert_null(ark_bench_find_tool(other, "bench_test_echo"));
    /* Every global tool is there, under its key. */
    for (int i = 0; i < ark_tool_count(); i++)
        assert_ptr_equal(ark_bench_find_tool(b, ark_tool_at(i)->name), ark_tool_at(i));
    /* A bench tool may shadow a built-in. */
    if (ark_tool_count() > 0) {
        static ark_tool_def shadow;
        shadow = echo_local;
        shadow.name = ark_tool_at(0)->name;
        assert_int_equal(ark_bench_register_tool(b, &shadow), ARK_OK);
        assert_ptr_equal(ark_bench_find_tool(b, shadow.name), &shadow);
        assert_int_equal(ark_bench_tool_count(b), before + 1);
    }

    ark_bench_tool *t;
    assert_int_equal(ark_bench_use_tool(b, "bench_test_echo", &t), ARK_OK);
    assert_ptr_equal(ark_bench_tool_def(t), &echo_local);
    char *res = NULL;
    assert_int_equal(ark_bench_tool_run(t, NULL, "{\"k\": 4}", &res), ARK_OK);
    cJSON *o = cJSON_Parse(res);
    assert_true(num(o, "k") == 4);
    assert_true(num(o, "n_layers") == ark_model_config(m)->n_layers);
    cJSON_Delete(o);
    free(res);
    assert_int_equal(ark_bench_tool_run(t, NULL, "{\"k\": \"x\"}", &res), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "tool bench_test_echo"));
    assert_null(res);
    ark_bench_tool_free(t);

    assert_int_equal(ark_bench_use_tool(b, "no_such_tool", &t), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "no_such_tool"));
    assert_non_null(strstr(ark_errmsg(), "bench_test_echo"));
    assert_int_equal(ark_bench_register_tool(b, &(ark_tool_def){0}), ARK_ERR_ARG);
    ark_bench *bare;
    assert_int_equal(ark_bench_open(NULL, NULL, dir, &bare), ARK_OK);
    assert_int_equal(ark_bench_register_tool(bare, &echo_local), ARK_OK);
    assert_int_equal(ark_bench_use_tool(bare, "bench_test_echo", &t), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "no model"));
    ark_bench_free(bare);
    ark_bench_free(other);
    ark_bench_free(b);
    ark_model_free(m);
    free(dir);
}

/* ---- specs ---- */

static const char *const spec_text =
    "name: spec_test   # the experiment\n"
    "model: MODEL\n"
    "inputs:\n"
    "  text: [\"Alice lives in\"]\n"
    "  k: 1\n"
    "tools:\n"
    "  - name: bench_test_global_echo\n"
    "    op: default\n"
    "    params: {k: 3, extra: [1, 2]}\n"
    "metrics:\n"
    "  k: tools.0.result.k\n"
    "plots:\n"
    "  - {type: logit_lens, out: lens.png}\n";

static char *write_spec(const char *dir, const char *name, const char *replace_from, const char *replace_to)
{
    char *text = strdup(spec_text);
    char *at = strstr(text, "MODEL");
    const char *model = fixture_path(FACTS);
    size_t n = strlen(text) + strlen(model) + 256;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, model, at + 5);
    if (replace_from) {
        char *r = strstr(out, replace_from);
        char *o2 = malloc(n);
        snprintf(o2, n, "%.*s%s%s", (int)(r - out), out, replace_to, r + strlen(replace_from));
        free(out);
        out = o2;
    }
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    write_text(path, out);
    free(out);
    free(text);
    return path;
}

static void test_spec_runs(void **state)
{
    (void)state;
    assert_int_equal(ark_tool_register(&echo_global), ARK_OK);
    char *dir = scratch("bench_spec");
    char save[4200];
    snprintf(save, sizeof save, "%s/experiments", dir);
    char *p1 = write_spec(dir, "a.yaml", NULL, NULL);
    ark_spec *s;
    assert_int_equal(ark_spec_load(p1, &s), ARK_OK);
    char *report = NULL;
    assert_int_equal(ark_spec_run(s, save, &report), ARK_OK);
    ark_spec_free(s);
    free(report);

    ark_exp_store *st;
    assert_int_equal(ark_exp_store_open(save, &st), ARK_OK);
    cJSON *v = version_json(st, "spec_test", NULL);
    char *text = read_file(p1, NULL);
    assert_string_equal(str(v, "source"), text);
    assert_string_equal(str(v, "kind"), "yaml");
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "runs"), 0);
    assert_string_equal(str(r, "status"), "ok");
    const cJSON *tool = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "tools"), 0);
    assert_string_equal(str(tool, "name"), "bench_test_global_echo");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(tool, "op"))); /* "default" -> the tool's default */
    const cJSON *res = cJSON_GetObjectItem(tool, "result");
    assert_string_equal(str(res, "op"), "(default)");
    /* Inputs merged in, the tool's own params win. */
    const cJSON *params = cJSON_GetObjectItem(res, "params");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(params, "text"), 0)), "Alice lives in");
    assert_true(num(params, "k") == 3);
    assert_true(num(cJSON_GetObjectItem(r, "metrics"), "k") == 3);
    const cJSON *plot = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "attachments"), "plots"), 0);
    assert_string_equal(str(plot, "type"), "logit_lens");
    if (!ark_bench_plotter()) assert_string_equal(str(plot, "status"), "pending: plotting not built");
    assert_non_null(cJSON_GetObjectItem(r, "model"));
    cJSON_Delete(v);

    /* Overrides and sweeps: runs of the same version. */
    assert_int_equal(ark_spec_load(p1, &s), ARK_OK);
    assert_int_equal(ark_spec_set(s, "tools.0.params.k=5"), ARK_OK);
    assert_int_equal(ark_spec_multirun(s, "tools.0.params.extra=[1],[2, 3],x"), ARK_OK);
    assert_int_equal(ark_spec_multirun(s, "inputs.tag=a,b"), ARK_OK);
    assert_int_equal(ark_spec_run(s, save, &report), ARK_OK);
    cJSON *rep = cJSON_Parse(report);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rep, "runs")), 6);
    const cJSON *r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(rep, "runs"), 1);
    char *ov = cJSON_PrintUnformatted(cJSON_GetObjectItem(r1, "overrides"));
    assert_string_equal(ov, "{\"tools.0.params.k\":5,\"tools.0.params.extra\":[1],\"inputs.tag\":\"b\"}");
    free(ov);
    cJSON_Delete(rep);
    free(report);
    ark_spec_free(s);
    cJSON *vs = versions_json(st, "spec_test");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(vs, "versions")), 1);
    assert_true(num(cJSON_GetArrayItem(cJSON_GetObjectItem(vs, "versions"), 0), "n_runs") == 7);
    cJSON_Delete(vs);
    v = version_json(st, "spec_test", NULL);
    r = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "runs"), 6);
    assert_true(num(cJSON_GetObjectItem(r, "metrics"), "k") == 5);
    assert_string_equal(str(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "params"), "spec"), "inputs"), "tag"), "b");
    cJSON_Delete(v);

    /* One changed line: a new version whose diff is that line. */
    char *p2 = write_spec(dir, "b.yaml", "params: {k: 3,", "params: {k: 4,");
    assert_int_equal(ark_spec_load(p2, &s), ARK_OK);
    assert_int_equal(ark_spec_run(s, save, NULL), ARK_OK);
    ark_spec_free(s);
    char *json = NULL;
    ark_status rc = ark_exp_diff(st, "spec_test", "1", "2", &json);
    cJSON *d = parse_ok(rc, json);
    assert_non_null(strstr(str(d, "source_diff"), "\n-    params: {k: 3, extra: [1, 2]}\n+    params: {k: 4, extra: [1, 2]}\n"));
    cJSON_Delete(d);

    /* A failing tool: the run is logged as failed, the error names it. */
    assert_int_equal(ark_spec_load(p1, &s), ARK_OK);
    assert_int_equal(ark_spec_set(s, "tools.0.params.k=text"), ARK_OK);
    assert_int_equal(ark_spec_run(s, save, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "tools[0]"));
    ark_spec_free(s);
    v = version_json(st, "spec_test", "1");
    r = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "runs"), 7);
    assert_string_equal(str(r, "status"), "failed");
    assert_non_null(strstr(str(r, "error"), "tool bench_test_global_echo"));
    cJSON_Delete(v);

    /* A model that is not there: still logged, as failed. */
    assert_int_equal(ark_spec_load(p1, &s), ARK_OK);
    assert_int_equal(ark_spec_set(s, "model=/nonexistent/model"), ARK_OK);
    assert_int_equal(ark_spec_run(s, save, NULL), ARK_ERR_IO);
    assert_non_null(strstr(ark_errmsg(), "/nonexistent/model"));
    ark_spec_free(s);

    /* Spec errors name the field. */
    assert_int_equal(ark_spec_load(p1, &s), ARK_OK);
    assert_int_equal(ark_spec_set(s, "tools.7.name=x"), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "\"7\" is not an index"));
    assert_int_equal(ark_spec_set(s, "name.x=1"), ARK_ERR_ARG);
    assert_int_equal(ark_spec_set(s, "novalue"), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "PATH=VALUE"));
    assert_int_equal(ark_spec_set(s, "tools.0.params=5"), ARK_OK);
    assert_int_equal(ark_spec_run(s, save, NULL), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "tools[0].params"));
    ark_spec_free(s);
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.yaml", dir);
    write_text(bad, "name: x\nmodel: [unclosed\n");
    assert_int_equal(ark_spec_load(bad, &s), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "bad.yaml:"));
    write_text(bad, "- a list\n");
    assert_int_equal(ark_spec_load(bad, &s), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "expected a mapping"));

    ark_exp_store_free(st);
    free(text);
    free(p1);
    free(p2);
    free(dir);
}

static void test_yaml(void **state)
{
    (void)state;
    const char *y = "a: 1\nb: -2.5e3\nc: [true, False, ~, null, '', 0x1f, 0o17, .5]\n"
                    "d: \"5\"\ne: text, with comma\nf: {x: [1, {y: 2}]}\ng: &anchor [1, 2]\nh: *anchor\n"
                    "i: |\n  block\n  text\nj: 1_000\nk: .inf\n";
    char *json = NULL;
    assert_int_equal(ark_yaml_to_json(y, strlen(y), "t.yaml", &json), ARK_OK);
    assert_string_equal(json, "{\"a\":1,\"b\":-2500,\"c\":[true,false,null,null,\"\",31,15,0.5],\"d\":\"5\","
                              "\"e\":\"text, with comma\",\"f\":{\"x\":[1,{\"y\":2}]},\"g\":[1,2],\"h\":[1,2],"
                              "\"i\":\"block\\ntext\\n\",\"j\":\"1_000\",\"k\":\".inf\"}");
    free(json);
    assert_int_equal(ark_yaml_to_json("a: 1\na: 2\n", strlen("a: 1\na: 2\n"), "t.yaml", &json), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "t.yaml:2:1: duplicate key \"a\""));
    assert_int_equal(ark_yaml_to_json("a: [1\n", strlen("a: [1\n"), "t.yaml", &json), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "t.yaml:"));
    assert_int_equal(ark_yaml_to_json("a: 1\n---\nb: 2\n", strlen("a: 1\n---\nb: 2\n"), "t.yaml", &json), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "more than one"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools),
        cmocka_unit_test(test_spec_runs),
        cmocka_unit_test(test_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
