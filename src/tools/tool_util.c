#include "tools/tool_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Rows being collected before they are packed into a batch. */
typedef struct rows_t {
    int n, cap;
    int32_t **ids;
    int *len;
} rows_t;

static void add_row(rows_t *r, int32_t *ids, int n)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->ids = realloc(r->ids, sizeof *r->ids * r->cap);
        r->len = realloc(r->len, sizeof *r->len * r->cap);
    }
    r->ids[r->n] = ids;
    r->len[r->n++] = n;
}

/* Pack the rows into a batch (ark_batch_pack checks them); frees the rows. */
static ark_status pack(const ark_tool_env *env, rows_t *r, tool_batch *b)
{
    ark_status s = ark_batch_pack(env->model, (const int32_t *const *)r->ids, r->len, r->n, b);
    for (int i = 0; i < r->n; i++) free(r->ids[i]);
    free(r->ids);
    free(r->len);
    return s;
}

static ark_status encode(const ark_tool_env *env, const char *text, int32_t **ids, int *n)
{
    if (!env->tokenizer) return ark_fail(ARK_ERR_ARG, "\"text\" needs a tokenizer, and the model folder has none (give \"tokens\")");
    ark_encoding *e;
    ARK_TRY(ark_tokenizer_encode(env->tokenizer, text, strlen(text), true, &e));
    *n = ark_encoding_count(e);
    *ids = malloc(sizeof **ids * (*n ? *n : 1));
    memcpy(*ids, ark_encoding_ids(e), sizeof **ids * *n);
    ark_encoding_free(e);
    return ARK_OK;
}

ark_status tool_batch_from_json(const ark_tool_env *env, const cJSON *params, tool_batch *out)
{
    memset(out, 0, sizeof *out);
    rows_t rows = {0};
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(params, "text");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(params, "tokens");
    ark_status s = ARK_OK;
    if (cJSON_IsString(text) || cJSON_IsArray(text)) {
        bool one = cJSON_IsString(text);
        for (const cJSON *it = one ? text : text->child; it && s == ARK_OK; it = one ? NULL : it->next) {
            if (!cJSON_IsString(it)) { s = ark_fail(ARK_ERR_ARG, "\"text\": expected a string or a list of strings"); break; }
            int32_t *ids = NULL;
            int n = 0;
            if ((s = encode(env, it->valuestring, &ids, &n)) == ARK_OK) add_row(&rows, ids, n);
        }
    } else if (cJSON_IsArray(toks)) {
        bool nested = cJSON_IsArray(toks->child);
        for (const cJSON *row = nested ? toks->child : toks; row && s == ARK_OK; row = nested ? row->next : NULL) {
            int n = cJSON_GetArraySize(row), k = 0;
            int32_t *ids = malloc(sizeof *ids * (n ? n : 1));
            const cJSON *x;
            cJSON_ArrayForEach(x, row) {
                if (!cJSON_IsNumber(x)) { s = ark_fail(ARK_ERR_ARG, "\"tokens\": expected integers"); break; }
                ids[k++] = (int32_t)x->valuedouble;
            }
            add_row(&rows, ids, k);
        }
    } else {
        s = ark_fail(ARK_ERR_ARG, "no input: give \"text\" (a string or a list) or \"tokens\" (ids or a list of id lists)");
    }
    if (s != ARK_OK) {
        for (int i = 0; i < rows.n; i++) free(rows.ids[i]);
        free(rows.ids);
        free(rows.len);
        return s;
    }
    return pack(env, &rows, out);
}

ark_status tool_batch_from_rows(const ark_tool_env *env, const int32_t *const *ids, const int *lens, int B, tool_batch *out)
{
    memset(out, 0, sizeof *out);
    rows_t rows = {0};
    for (int i = 0; i < B; i++) {
        int32_t *copy = malloc(sizeof *copy * (lens[i] ? lens[i] : 1));
        memcpy(copy, ids[i], sizeof *copy * lens[i]);
        add_row(&rows, copy, lens[i]);
    }
    return pack(env, &rows, out);
}

void tool_batch_free(tool_batch *b) { ark_batch_free(b); }

ark_status tool_token(const ark_tool_env *env, const cJSON *v, const char *field, int32_t *id)
{
    int V = ark_model_config(env->model)->d_vocab;
    if (cJSON_IsNumber(v)) {
        *id = (int32_t)v->valuedouble;
        if (*id < 0 || *id >= V) return ark_fail(ARK_ERR_ARG, "\"%s\": token id %d is out of range (vocab size %d)", field, *id, V);
        return ARK_OK;
    }
    if (!cJSON_IsString(v)) return ark_fail(ARK_ERR_ARG, "\"%s\": expected a token id or a one-token string", field);
    const char *s = v->valuestring;
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end && n >= 0 && n < V) { *id = (int32_t)n; return ARK_OK; }
    if (!env->tokenizer) return ark_fail(ARK_ERR_ARG, "\"%s\": \"%s\" is not a token id, and the model has no tokenizer", field, s);
    int32_t raw = ark_tokenizer_token_to_id(env->tokenizer, s);
    ark_encoding *e;
    ARK_TRY(ark_tokenizer_encode(env->tokenizer, s, strlen(s), false, &e));
    int count = ark_encoding_count(e);
    ark_status st = ARK_OK;
    if (count == 1) *id = ark_encoding_ids(e)[0];
    else if (raw >= 0) *id = raw;
    else st = ark_fail(ARK_ERR_ARG, "\"%s\": \"%s\" is %d tokens, not one (give an id, or a string that is one token)",
                       field, s, count);
    ark_encoding_free(e);
    return st;
}

char *tool_token_str(const ark_tool_env *env, int32_t id)
{
    char *s = NULL;
    if (env->tokenizer && ark_tokenizer_decode(env->tokenizer, &id, 1, false, &s) == ARK_OK) return s;
    s = malloc(16);
    snprintf(s, 16, "%d", id);
    return s;
}

cJSON *tool_str_tokens(const ark_tool_env *env, const int32_t *ids, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char *s = tool_token_str(env, ids[i]);
        cJSON_AddItemToArray(a, cJSON_CreateString(s));
        free(s);
    }
    return a;
}

ark_status tool_get_int(const cJSON *p, const char *field, int dflt, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, field);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return ark_fail(ARK_ERR_ARG, "\"%s\": expected an integer", field);
    *out = (int)v->valuedouble;
    return ARK_OK;
}

ark_status tool_get_num(const cJSON *p, const char *field, double dflt, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, field);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsNumber(v)) return ark_fail(ARK_ERR_ARG, "\"%s\": expected a number", field);
    *out = v->valuedouble;
    return ARK_OK;
}

ark_status tool_get_bool(const cJSON *p, const char *field, bool dflt, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, field);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsBool(v)) return ark_fail(ARK_ERR_ARG, "\"%s\": expected true or false", field);
    *out = cJSON_IsTrue(v);
    return ARK_OK;
}

ark_status tool_get_str(const cJSON *p, const char *field, const char *dflt, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, field);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsString(v)) return ark_fail(ARK_ERR_ARG, "\"%s\": expected a string", field);
    *out = v->valuestring;
    return ARK_OK;
}

ark_status tool_get_ints(const cJSON *p, const char *field, int **out, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, field), *x;
    *out = NULL;
    *n = 0;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (cJSON_IsNumber(v)) {
        *out = malloc(sizeof(int));
        (*out)[(*n)++] = (int)v->valuedouble;
        return ARK_OK;
    }
    if (!cJSON_IsArray(v)) return ark_fail(ARK_ERR_ARG, "\"%s\": expected a list of integers", field);
    *out = malloc(sizeof(int) * (cJSON_GetArraySize(v) + 1));
    cJSON_ArrayForEach(x, v) {
        if (!cJSON_IsNumber(x)) { free(*out); *out = NULL; *n = 0; return ark_fail(ARK_ERR_ARG, "\"%s\": expected integers", field); }
        (*out)[(*n)++] = (int)x->valuedouble;
    }
    return ARK_OK;
}

ark_status tool_parse_params(const char *tool, const char *params, cJSON **out)
{
    if (!params || !*params) { *out = cJSON_CreateObject(); return ARK_OK; }
    *out = cJSON_Parse(params);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return ark_fail(ARK_ERR_ARG, "%s: parameters are not a JSON object: %.80s", tool, params);
    }
    return ARK_OK;
}

ark_status tool_result(cJSON *o, char **result)
{
    *result = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *result ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory printing a result");
}

cJSON *tool_matrix(const float *data, int rows, int cols)
{
    cJSON *m = cJSON_CreateArray();
    for (int i = 0; i < rows; i++) {
        cJSON *r = cJSON_CreateArray();
        for (int j = 0; j < cols; j++) {
            float v = data[(size_t)i * cols + j];
            cJSON_AddItemToArray(r, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
        }
        cJSON_AddItemToArray(m, r);
    }
    return m;
}
