/* JSON helpers shared by the sparsity-family tools (sparsity_json.h). */
#include "tools/sparsity_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tools/tool_util.h"

ark_status sp_need_model(const ark_tool_env *env, const char *tool, const char *op)
{
    if (!env || !env->model) return ark_fail(ARK_ERR_ARG, "%s: operation \"%s\" needs a model", tool, op);
    return ARK_OK;
}

ark_status sp_dataset_json(const ark_tool_env *env, const cJSON *p, ark_dataset **out)
{
    *out = NULL;
    const char *path;
    ARK_TRY(tool_get_str(p, "data", NULL, &path));
    if (path) return ark_dataset_open(path, env->tokenizer, out);
    if (!cJSON_GetObjectItemCaseSensitive(p, "text") && !cJSON_GetObjectItemCaseSensitive(p, "tokens"))
        return ark_fail(ARK_ERR_ARG, "no prompts: give \"data\" (a JSON-lines file), \"text\" or \"tokens\"");
    tool_batch b;
    ARK_TRY(tool_batch_from_json(env, p, &b));
    int32_t **rows = malloc(sizeof *rows * b.B);
    for (int i = 0; i < b.B; i++) rows[i] = b.tokens + (size_t)i * b.T;
    ark_status s = ark_dataset_from_rows((const int32_t *const *)rows, b.len, b.B, out);
    free(rows);
    tool_batch_free(&b);
    return s;
}

ark_status sp_stream_json(const cJSON *p, const char *batch_key, ark_stream_opts *o)
{
    *o = (ark_stream_opts)ARK_STREAM_OPTS_INIT;
    ARK_TRY(tool_get_int(p, batch_key, 8, &o->batch));
    ARK_TRY(tool_get_int(p, "max_len", 0, &o->max_len));
    ARK_TRY(tool_get_int(p, "first", 0, &o->first));
    ARK_TRY(tool_get_int(p, "max_prompts", 0, &o->count));
    if (o->batch < 1) return ark_fail(ARK_ERR_ARG, "\"%s\": %d, expected >= 1 prompts per forward pass", batch_key, o->batch);
    if (o->max_len < 0) return ark_fail(ARK_ERR_ARG, "\"max_len\": %d, expected >= 1 (or 0 for the model's context)", o->max_len);
    if (o->count < 0) return ark_fail(ARK_ERR_ARG, "\"max_prompts\": %d, expected >= 0 (0 = all)", o->count);
    if (o->first < 0) return ark_fail(ARK_ERR_ARG, "\"first\": %d, expected >= 0", o->first);
    return ARK_OK;
}

cJSON *sp_num(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

cJSON *sp_doubles(const double *x, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, sp_num(x[i]));
    return a;
}

cJSON *sp_floats(const float *x, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, sp_num(x[i]));
    return a;
}

cJSON *sp_example_json(const ark_tool_env *env, const ark_example *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "act", sp_num(e->act));
    cJSON_AddNumberToObject(o, "prompt", e->prompt);
    cJSON_AddNumberToObject(o, "pos", e->pos);
    cJSON_AddNumberToObject(o, "token", e->token);
    char *s = tool_token_str(env, e->token);
    cJSON_AddStringToObject(o, "str", s);
    free(s);
    cJSON_AddNumberToObject(o, "next", e->next);
    return o;
}
