/* The knowledge tool's generic entry point (key "knowledge"): JSON
 * parameters -> the typed functions of include/arrakis/tool_knowledge.h ->
 * a JSON result.  docs/tools/knowledge.md describes every operation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fileio.h"
#include "tools/knowledge_internal.h"

static const char *const knowledge_ops[] = {
    "probe: {data: FILE.jsonl | examples: [{text|tokens, label, entity|subject}], hook (resid_post), pos: last|N|{token}, "
    "layers: [L..], control: shuffle|none, test_fraction (0.25), l2 (0.01), seed (0), max_iter (1000), tol (1e-6), "
    "standardize (true), save: DIR} -> per layer train/test/control accuracy, selectivity; the best layer",
    "truth: {pairs: FILE.jsonl | [{true, false, entity|subject}], hook, pos, layers, direction: dom|unembed|file:PATH[:KEY], "
    "test_fraction (0.25), seed, save: DIR} -> per layer separation (Cohen's d), pair and sign accuracy",
    NULL,
};

static ark_status knowledge_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "knowledge: out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void knowledge_destroy(void *state) { free(state); }

static ark_status knowledge_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("knowledge", params, &p));
    ark_status s;
    if (!op || !*op || !strcmp(op, "probe")) s = kn_op_probe(env, p, result);
    else if (!strcmp(op, "truth")) s = kn_op_truth(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "knowledge: unknown operation \"%s\" (probe, truth)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_knowledge = {
    "knowledge",
    "linear probes per layer (split by entity, control task, selectivity), difference-of-means directions, true/false probe",
    knowledge_create,
    knowledge_run,
    knowledge_destroy,
    knowledge_ops,
};

/* ---- shared parameter handling ---- */

void kn_add_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static ark_status layers_json(const ark_model *m, const cJSON *p, kn_site *site)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "layers");
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "all")) return ARK_OK;
    ARK_TRY(tool_get_ints(p, "layers", &site->layers, &site->n_layers));
    int L = ark_model_config(m)->n_layers;
    if (site->layers && !site->n_layers) return ark_fail(ARK_ERR_ARG, "\"layers\": empty (give indices or \"all\")");
    for (int i = 0; i < site->n_layers; i++)
        if (site->layers[i] < -L || site->layers[i] >= L)
            return ark_fail(ARK_ERR_ARG, "\"layers\": %d is out of range (the model has %d layers)", site->layers[i], L);
    return ARK_OK;
}

static ark_status site_parse(const ark_tool_env *env, const cJSON *p, kn_site *site)
{
    ARK_TRY(tool_get_str(p, "hook", "resid_post", &site->hook));
    ARK_TRY(layers_json(env->model, p, site));
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(p, "pos");
    snprintf(site->pos_desc, sizeof site->pos_desc, "last");
    if (!pos || cJSON_IsNull(pos) || (cJSON_IsString(pos) && !strcmp(pos->valuestring, "last"))) return ARK_OK;
    if (cJSON_IsNumber(pos)) {
        if (pos->valuedouble != floor(pos->valuedouble)) return ark_fail(ARK_ERR_ARG, "\"pos\": expected an integer");
        site->pos = (ark_probe_pos){ARK_PROBE_POS_INDEX, (int)pos->valuedouble, 0};
        snprintf(site->pos_desc, sizeof site->pos_desc, "%d", site->pos.index);
        return ARK_OK;
    }
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(pos, "token");
    if (!cJSON_IsObject(pos) || !tok)
        return ark_fail(ARK_ERR_ARG, "\"pos\": expected \"last\", an index or {\"token\": ID or one-token string}");
    site->pos.kind = ARK_PROBE_POS_TOKEN;
    ARK_TRY(tool_token(env, tok, "pos.token", &site->pos.token));
    snprintf(site->pos_desc, sizeof site->pos_desc, "token %d", (int)site->pos.token);
    return ARK_OK;
}

ark_status kn_site_json(const ark_tool_env *env, const cJSON *p, kn_site *site)
{
    memset(site, 0, sizeof *site);
    ark_status s = site_parse(env, p, site);
    if (s != ARK_OK) kn_site_free(site);
    return s;
}

void kn_site_free(kn_site *site)
{
    free(site->layers);
    site->layers = NULL;
}

static void rows_push(kn_rows *r, int32_t *ids, int n)
{
    r->ids = realloc(r->ids, sizeof *r->ids * (r->n + 1));
    r->len = realloc(r->len, sizeof *r->len * (r->n + 1));
    r->ids[r->n] = ids;
    r->len[r->n++] = n;
}

ark_status kn_rows_add_text(const ark_tool_env *env, kn_rows *r, const char *text, int line)
{
    if (!env->tokenizer) return ark_fail(ARK_ERR_ARG, "example %d: text needs a tokenizer, and the model folder has none (give \"tokens\")", line);
    ark_encoding *e;
    ARK_TRY(ark_tokenizer_encode(env->tokenizer, text, strlen(text), true, &e));
    int n = ark_encoding_count(e);
    if (!n) { ark_encoding_free(e); return ark_fail(ARK_ERR_ARG, "example %d: the text encodes to no token", line); }
    int32_t *ids = malloc(sizeof *ids * n);
    memcpy(ids, ark_encoding_ids(e), sizeof *ids * n);
    ark_encoding_free(e);
    rows_push(r, ids, n);
    return ARK_OK;
}

ark_status kn_rows_add_tokens(const ark_tool_env *env, kn_rows *r, const cJSON *tokens, int line)
{
    int n = cJSON_GetArraySize(tokens), k = 0, V = ark_model_config(env->model)->d_vocab;
    if (!cJSON_IsArray(tokens) || n < 1) return ark_fail(ARK_ERR_ARG, "example %d: \"tokens\": expected a non-empty list of ids", line);
    int32_t *ids = malloc(sizeof *ids * n);
    const cJSON *x;
    cJSON_ArrayForEach(x, tokens) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= V) {
            free(ids);
            return ark_fail(ARK_ERR_ARG, "example %d: \"tokens\": expected ids in [0, %d)", line, V);
        }
        ids[k++] = (int32_t)x->valuedouble;
    }
    rows_push(r, ids, n);
    return ARK_OK;
}

void kn_rows_free(kn_rows *r)
{
    for (int i = 0; i < r->n; i++) free(r->ids[i]);
    free(r->ids);
    free(r->len);
    memset(r, 0, sizeof *r);
}

/* JSON lines of a file into an array of objects. */
static ark_status read_jsonl(const char *field, const char *path, cJSON **items)
{
    char *text;
    size_t len;
    ark_status s = ark_read_text(path, &text, &len);
    if (s != ARK_OK) return ark_fail_prefix(s, "\"%s\"", field);
    *items = cJSON_CreateArray();
    int line = 0;
    for (char *at = text, *nl; s == ARK_OK && at && *at; at = nl ? nl + 1 : NULL) {
        nl = strchr(at, '\n');
        if (nl) *nl = '\0';
        line++;
        char *q = at;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        cJSON *o = cJSON_Parse(q);
        if (!cJSON_IsObject(o)) s = ark_fail(ARK_ERR_FORMAT, "%s:%d: not a JSON object", path, line);
        if (s == ARK_OK) cJSON_AddNumberToObject(o, "__line", line), cJSON_AddItemToArray(*items, o);
        else cJSON_Delete(o);
    }
    free(text);
    if (s == ARK_OK && !cJSON_GetArraySize(*items)) s = ark_fail(ARK_ERR_ARG, "\"%s\": %s has no examples", field, path);
    if (s != ARK_OK) cJSON_Delete(*items), *items = NULL;
    return s;
}

ark_status kn_items_json(const cJSON *p, const char *field_file, const char *field_inline, cJSON **items)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, field_file);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(p, field_inline);
    if (cJSON_IsString(f)) return read_jsonl(field_file, f->valuestring, items);
    if (cJSON_IsArray(in) || cJSON_IsArray(f)) {
        *items = cJSON_Duplicate(cJSON_IsArray(in) ? in : f, true);
        int line = 0;
        cJSON *o;
        cJSON_ArrayForEach(o, *items) {
            line++;
            if (!cJSON_IsObject(o)) { cJSON_Delete(*items); return ark_fail(ARK_ERR_ARG, "\"%s\": item %d is not an object", field_inline, line); }
            cJSON_AddNumberToObject(o, "__line", line);
        }
        if (line) return ARK_OK;
        cJSON_Delete(*items);
    }
    return ark_fail(ARK_ERR_ARG, "no data: give \"%s\" (a JSON-lines file) or \"%s\" (a list of objects)", field_file, field_inline);
}
