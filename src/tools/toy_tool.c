/* The superposition tool's "toy" operation: train the toy model of
 * superposition (Elhage et al. 2022) at one or more sparsities and inspect
 * which features it represents (include/arrakis/tool_superposition.h, (c)). */
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "tools/sae_tool.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

static cJSON *toy_json(const ark_toy *t)
{
    float *norms = malloc(sizeof(float) * t->n), *sup = malloc(sizeof(float) * t->n);
    int rep;
    double dpf;
    ark_toy_inspect(t, norms, sup, &rep, &dpf);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "sparsity", t->sparsity);
    cJSON_AddNumberToObject(o, "feature_probability", 1.0 - t->sparsity);
    cJSON_AddItemToObject(o, "loss", sp_num(t->loss));
    cJSON_AddNumberToObject(o, "n_represented", rep);
    cJSON_AddItemToObject(o, "dims_per_feature", sp_num(dpf));
    cJSON_AddItemToObject(o, "norms", sp_floats(norms, t->n));
    cJSON_AddItemToObject(o, "superposition", sp_floats(sup, t->n));
    cJSON *r = cJSON_AddArrayToObject(o, "represented");
    for (int i = 0; i < t->n; i++)
        if (norms[i] > 0.5f) cJSON_AddItemToArray(r, cJSON_CreateNumber(i));
    cJSON_AddItemToObject(o, "W", tool_matrix(t->W, t->m, t->n));
    cJSON_AddItemToObject(o, "b", sp_floats(t->b, t->n));
    free(norms);
    free(sup);
    return o;
}

ark_status sup_op_toy(const ark_tool_env *env, const cJSON *p, char **result)
{
    (void)env;
    ark_toy_opts o = ARK_TOY_OPTS_INIT;
    double lr;
    int seed;
    ARK_TRY(tool_get_int(p, "n_features", o.n_features, &o.n_features));
    ARK_TRY(tool_get_int(p, "m_hidden", o.m_hidden, &o.m_hidden));
    ARK_TRY(tool_get_num(p, "importance_decay", o.importance_decay, &o.importance_decay));
    ARK_TRY(tool_get_int(p, "steps", o.steps, &o.steps));
    ARK_TRY(tool_get_int(p, "batch", o.batch, &o.batch));
    ARK_TRY(tool_get_num(p, "lr", o.lr, &lr));
    ARK_TRY(tool_get_int(p, "seed", 0, &seed));
    o.lr = (float)lr;
    o.seed = (uint64_t)(uint32_t)seed;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(p, "sparsity");
    double list[64];
    int n = 0;
    if (!sv || cJSON_IsNull(sv)) list[n++] = 0.0;
    else if (cJSON_IsNumber(sv)) list[n++] = sv->valuedouble;
    else if (cJSON_IsArray(sv)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, sv) {
            if (!cJSON_IsNumber(x) || n == 64) return ark_fail(ARK_ERR_ARG, "\"sparsity\": expected up to 64 numbers in [0, 1)");
            list[n++] = x->valuedouble;
        }
    } else return ark_fail(ARK_ERR_ARG, "\"sparsity\": expected a number or a list of numbers in [0, 1)");
    cJSON *res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "n_features", o.n_features);
    cJSON_AddNumberToObject(res, "m_hidden", o.m_hidden);
    cJSON_AddNumberToObject(res, "importance_decay", o.importance_decay);
    cJSON *runs = cJSON_AddArrayToObject(res, "runs");
    ark_status s = ARK_OK;
    for (int i = 0; s == ARK_OK && i < n; i++) {
        ark_toy t;
        o.sparsity = list[i];
        s = ark_toy_train(&o, &t);
        if (s != ARK_OK) break;
        if (i == 0) cJSON_AddItemToObject(res, "importance", sp_floats(t.importance, t.n));
        cJSON_AddItemToArray(runs, toy_json(&t));
        ark_toy_free(&t);
    }
    if (s == ARK_OK) return tool_result(res, result);
    cJSON_Delete(res);
    return s;
}
