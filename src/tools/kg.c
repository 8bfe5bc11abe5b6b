/* The kg_extractor tool's generic entry point (key "kg_extractor"): JSON
 * parameters -> the typed functions of include/arrakis/tool_kg.h -> a JSON
 * result.  docs/tools/kg_extractor.md describes every operation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_causal.h"
#include "core/error.h"
#include "io/fileio.h"
#include "tools/kg_internal.h"

static const char *const kg_ops[] = {
    "extract: {subjects: [..] | subjects_file, relations: [{relation, templates}] | relations_file, top_k (5), "
    "max_tokens (1), stop: TOKEN, lens (true), causal: false|true|{samples, noise, seed, kind, window}, dot (false), "
    "heads (false), vectors (3), heads_top_k (8)} -> triples (object, probability, rank, agreement, lens layer, "
    "trace peak), DOT text",
    "heads: {heads: [[L, H], ..] (all), vectors (3), top_k (8)} -> per head the top singular directions of its OV "
    "(W_E -> W_U) and QK (W_E, W_E) circuits as tokens",
    NULL,
};

static ark_status kg_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "kg_extractor: out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void kg_destroy(void *state) { free(state); }

static ark_status kg_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("kg_extractor", params, &p));
    ark_status s;
    if (!op || !*op || !strcmp(op, "extract")) s = kg_op_extract(env, p, result);
    else if (!strcmp(op, "heads")) s = kg_op_heads(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "kg_extractor: unknown operation \"%s\" (extract, heads)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_kg_extractor = {
    "kg_extractor",
    "knowledge graph: objects predicted for subjects x relation templates, stability, logit-lens layer, trace peak; "
    "heads' OV/QK singular directions as tokens",
    kg_create,
    kg_run,
    kg_destroy,
    kg_ops,
};

/* ---- inputs ---- */

typedef struct kg_inputs {
    int n_subjects, n_relations;
    char **subjects;
    ark_kg_relation *relations;
    cJSON *rel_json; /* owns the relations' strings */
} kg_inputs;

static void inputs_free(kg_inputs *in)
{
    for (int i = 0; i < in->n_subjects; i++) free(in->subjects[i]);
    for (int r = 0; r < in->n_relations; r++) free((void *)in->relations[r].templates);
    free(in->subjects), free(in->relations);
    cJSON_Delete(in->rel_json);
    memset(in, 0, sizeof *in);
}

static void push_subject(kg_inputs *in, const char *s, size_t n)
{
    in->subjects = realloc(in->subjects, sizeof(char *) * (in->n_subjects + 1));
    in->subjects[in->n_subjects++] = strndup(s, n);
}

/* One subject per line (surrounding white space trimmed; blank lines skipped). */
static ark_status subjects_json(const cJSON *p, kg_inputs *in)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "subjects"), *f = cJSON_GetObjectItemCaseSensitive(p, "subjects_file"), *x;
    if (cJSON_IsArray(a)) {
        cJSON_ArrayForEach(x, a) {
            if (!cJSON_IsString(x)) return ark_fail(ARK_ERR_ARG, "\"subjects\": expected a list of strings");
            push_subject(in, x->valuestring, strlen(x->valuestring));
        }
        return ARK_OK;
    }
    if (!cJSON_IsString(f)) return ark_fail(ARK_ERR_ARG, "no subjects: give \"subjects\" (a list) or \"subjects_file\" (one per line)");
    char *text;
    size_t len;
    ark_status s = ark_read_text(f->valuestring, &text, &len);
    if (s != ARK_OK) return ark_fail_prefix(s, "\"subjects_file\"");
    for (char *at = text, *nl; at && *at; at = nl ? nl + 1 : NULL) {
        nl = strchr(at, '\n');
        char *e = nl ? nl : at + strlen(at);
        while (at < e && (*at == ' ' || *at == '\t' || *at == '\r')) at++;
        while (e > at && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
        if (e > at) push_subject(in, at, (size_t)(e - at));
    }
    free(text);
    if (!in->n_subjects) return ark_fail(ARK_ERR_ARG, "\"subjects_file\": %s has no subjects", f->valuestring);
    return ARK_OK;
}

/* {"relation": NAME, "templates": [..]} objects (a list, or JSON lines). */
static ark_status relations_json(const cJSON *p, kg_inputs *in)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "relations"), *f = cJSON_GetObjectItemCaseSensitive(p, "relations_file");
    const char *where = "\"relations\"";
    if (cJSON_IsArray(a)) in->rel_json = cJSON_Duplicate(a, true);
    else if (cJSON_IsString(f)) {
        char *text;
        size_t len;
        ark_status s = ark_read_text(f->valuestring, &text, &len);
        if (s != ARK_OK) return ark_fail_prefix(s, "\"relations_file\"");
        in->rel_json = cJSON_CreateArray();
        int line = 0;
        for (char *at = text, *nl; at && *at && s == ARK_OK; at = nl ? nl + 1 : NULL) {
            nl = strchr(at, '\n');
            if (nl) *nl = '\0';
            line++;
            if (strspn(at, " \t\r") == strlen(at)) continue;
            cJSON *o = cJSON_Parse(at);
            if (!o) s = ark_fail(ARK_ERR_FORMAT, "%s:%d: not JSON", f->valuestring, line);
            else cJSON_AddItemToArray(in->rel_json, o);
        }
        free(text);
        ARK_TRY(s);
        where = f->valuestring;
    } else return ark_fail(ARK_ERR_ARG, "no relations: give \"relations\" (a list) or \"relations_file\" (JSON lines)");
    int n = cJSON_GetArraySize(in->rel_json), r = 0;
    in->relations = calloc(n ? n : 1, sizeof *in->relations);
    const cJSON *o;
    cJSON_ArrayForEach(o, in->rel_json) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "relation"), *t = cJSON_GetObjectItemCaseSensitive(o, "templates"), *x;
        if (!cJSON_IsString(name) || !cJSON_IsArray(t) || !cJSON_GetArraySize(t))
            return ark_fail(ARK_ERR_ARG, "%s: relation %d: expected {\"relation\": NAME, \"templates\": [\"{s} ...\", ...]}", where, r + 1);
        const char **tp = malloc(sizeof(char *) * cJSON_GetArraySize(t));
        in->relations[r] = (ark_kg_relation){name->valuestring, tp, 0};
        in->n_relations = ++r;
        cJSON_ArrayForEach(x, t) {
            if (!cJSON_IsString(x)) return ark_fail(ARK_ERR_ARG, "%s: relation \"%s\": templates must be strings", where, name->valuestring);
            tp[in->relations[r - 1].n_templates++] = x->valuestring;
        }
    }
    if (!n) return ark_fail(ARK_ERR_ARG, "%s: no relations", where);
    return ARK_OK;
}

static ark_status causal_json(const cJSON *p, ark_kg_opts *o)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "causal");
    if (!c || cJSON_IsNull(c) || cJSON_IsFalse(c)) return ARK_OK;
    o->causal = true;
    if (cJSON_IsTrue(c)) return ARK_OK;
    if (!cJSON_IsObject(c)) return ark_fail(ARK_ERR_ARG, "\"causal\": expected true, false or {samples, noise, seed, kind, window}");
    const char *kind;
    int seed;
    ARK_TRY(tool_get_int(c, "samples", o->trace_samples, &o->trace_samples));
    ARK_TRY(tool_get_num(c, "noise", o->trace_noise, &o->trace_noise));
    ARK_TRY(tool_get_int(c, "seed", 0, &seed));
    ARK_TRY(tool_get_int(c, "window", o->trace_window, &o->trace_window));
    ARK_TRY(tool_get_str(c, "kind", "resid", &kind));
    ark_trace_kind k;
    if (ark_trace_kind_parse(kind, &k) != ARK_OK) return ark_fail(ARK_ERR_ARG, "\"causal.kind\": \"%s\", expected resid, mlp or attn", kind);
    if (o->trace_samples < 1) return ark_fail(ARK_ERR_ARG, "\"causal.samples\": %d, expected >= 1", o->trace_samples);
    if (o->trace_window < 1) return ark_fail(ARK_ERR_ARG, "\"causal.window\": %d, expected >= 1", o->trace_window);
    if (o->trace_noise < 0) return ark_fail(ARK_ERR_ARG, "\"causal.noise\": %g, expected > 0 (or 0 for 3 sigma)", o->trace_noise);
    o->trace_kind = (int)k;
    o->seed = (uint64_t)(uint32_t)seed;
    return ARK_OK;
}

static ark_status opts_json(const ark_tool_env *env, const cJSON *p, ark_kg_opts *o)
{
    *o = ark_kg_opts_default();
    ARK_TRY(tool_get_int(p, "top_k", o->top_k, &o->top_k));
    ARK_TRY(tool_get_int(p, "max_tokens", o->max_tokens, &o->max_tokens));
    ARK_TRY(tool_get_bool(p, "lens", o->lens, &o->lens));
    ARK_TRY(tool_get_int(p, "batch", o->batch, &o->batch));
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(p, "stop");
    if (stop && !cJSON_IsNull(stop)) ARK_TRY(tool_token(env, stop, "stop", &o->stop_token));
    if (o->top_k < 0) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d, expected >= 0", o->top_k);
    if (o->max_tokens < 1) return ark_fail(ARK_ERR_ARG, "\"max_tokens\": %d, expected >= 1", o->max_tokens);
    return causal_json(p, o);
}

/* ---- operations ---- */

/* "heads": [[L, H], ...] into pairs (NULL: all). */
static ark_status head_list_json(const cJSON *p, int **pairs, int *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "heads"), *x;
    *pairs = NULL;
    *n = 0;
    if (!a || cJSON_IsNull(a) || cJSON_IsBool(a) || (cJSON_IsString(a) && !strcmp(a->valuestring, "all"))) return ARK_OK;
    if (!cJSON_IsArray(a) || !cJSON_GetArraySize(a)) return ark_fail(ARK_ERR_ARG, "\"heads\": expected [[LAYER, HEAD], ...] or \"all\"");
    *pairs = malloc(sizeof(int) * 2 * cJSON_GetArraySize(a));
    cJSON_ArrayForEach(x, a) {
        const cJSON *l = cJSON_GetArrayItem(x, 0), *h = cJSON_GetArrayItem(x, 1);
        if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 2 || !cJSON_IsNumber(l) || !cJSON_IsNumber(h)) {
            free(*pairs), *pairs = NULL, *n = 0;
            return ark_fail(ARK_ERR_ARG, "\"heads\": expected [[LAYER, HEAD], ...]");
        }
        (*pairs)[2 * *n] = (int)l->valuedouble, (*pairs)[2 * *n + 1] = (int)h->valuedouble, (*n)++;
    }
    return ARK_OK;
}

static ark_status heads_into(const ark_tool_env *env, const cJSON *p, const char *topk_field, cJSON *out)
{
    int *pairs, n, nv, k, got = 0;
    ARK_TRY(tool_get_int(p, "vectors", 3, &nv));
    ARK_TRY(tool_get_int(p, topk_field, 8, &k));
    ARK_TRY(head_list_json(p, &pairs, &n));
    ark_kg_head *h = NULL;
    ark_status s = ark_kg_heads(env->model, pairs, n, nv, k, &h, &got);
    if (s == ARK_OK) cJSON_AddItemToObject(out, "heads", kg_heads_json(env, h, got));
    ark_kg_heads_free(h, got);
    free(pairs);
    return s;
}

ark_status kg_op_heads(const ark_tool_env *env, const cJSON *p, char **result)
{
    cJSON *out = cJSON_CreateObject();
    ark_status s = heads_into(env, p, "top_k", out);
    if (s != ARK_OK) { cJSON_Delete(out); return s; }
    return tool_result(out, result);
}

ark_status kg_op_extract(const ark_tool_env *env, const cJSON *p, char **result)
{
    ark_kg_opts o;
    bool dot, heads;
    ARK_TRY(opts_json(env, p, &o));
    ARK_TRY(tool_get_bool(p, "dot", false, &dot));
    const cJSON *hv = cJSON_GetObjectItemCaseSensitive(p, "heads");
    heads = hv && !cJSON_IsFalse(hv) && !cJSON_IsNull(hv);
    kg_inputs in = {0};
    ark_kg g = {0};
    ark_status s = subjects_json(p, &in);
    if (s == ARK_OK) s = relations_json(p, &in);
    if (s == ARK_OK) s = ark_kg_extract(env->model, env->tokenizer, (const char *const *)in.subjects, in.n_subjects,
                                        in.relations, in.n_relations, &o, &g);
    cJSON *out = NULL;
    if (s == ARK_OK) out = kg_result_json(env, &g, (const char *const *)in.subjects, in.n_subjects, in.relations, in.n_relations, &o);
    if (s == ARK_OK && dot) {
        char *text;
        s = ark_kg_dot(&g, (const char *const *)in.subjects, in.relations, &text);
        if (s == ARK_OK) cJSON_AddStringToObject(out, "dot", text), free(text);
    }
    if (s == ARK_OK && heads) s = heads_into(env, p, "heads_top_k", out);
    ark_kg_free(&g);
    inputs_free(&in);
    if (s != ARK_OK) { cJSON_Delete(out); return s; }
    return tool_result(out, result);
}
