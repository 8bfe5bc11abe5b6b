/* The superposition tool's generic entry point (key "superposition") and
 * its SAE operations: train, eval, features.  Definitions in
 * include/arrakis/tool_superposition.h; docs/tools/superposition.md
 * describes the JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_feature_viz.h"
#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "tools/sae_tool.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

static const char *const superposition_ops[] = {
    "pca: {data|text|tokens, hook, components (10), vectors (false), reconstruct (K: also reconstruct from K components, "
    "with the CE of the model reading the reconstruction)} -> variance, explained variance ratios, [components, mean]",
    "pca_interpolate: {data|text|tokens (fit), hook, component, values ([..]) | from, to, steps, prompt_text|prompt_tokens, "
    "pos (-1), top (5)} -> the activation moved along the component, written at the hook, and the logits it gives",
    "sae_train: {activations, key | data|text|tokens, hook, batch_prompts (8), buffer_rows; d_sae, k | l1, steps (2000), "
    "batch (1024 rows), lr (1e-3), seed, lr_decay (0.2), normalize (true), out, eval (true), ce (true), true_features, "
    "true_key} -> training report, metrics, recovery",
    "sae_eval: {sae (dir), data|text|tokens | activations, key; dense_threshold (0.1), ce (true)} -> MSE, FVE, L0, dead/dense, "
    "CE recovered",
    "sae_features: {sae (dir), data|text|tokens, feature (F: top examples with contexts; none: per-feature summary), k (10), "
    "before (8), after (2), top (20)}",
    "toy: {n_features (20), m_hidden (5), sparsity (number or list), importance_decay (0.9), steps (5000), batch (1024), lr, "
    "seed} -> per sparsity: |W_i|, superposition, represented features, dims per feature",
    NULL,
};

static ark_status superposition_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = calloc(1, sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "superposition: out of memory");
    if (env) *e = *env;
    *state = e;
    return ARK_OK;
}

static void superposition_destroy(void *state) { free(state); }

static ark_status superposition_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("superposition", params, &p));
    ark_status s;
    if (!op || !*op || !strcmp(op, "pca")) s = sup_op_pca(env, p, result);
    else if (!strcmp(op, "pca_interpolate")) s = sup_op_pca_interpolate(env, p, result);
    else if (!strcmp(op, "sae_train")) s = sup_op_sae_train(env, p, result);
    else if (!strcmp(op, "sae_eval")) s = sup_op_sae_eval(env, p, result);
    else if (!strcmp(op, "sae_features")) s = sup_op_sae_features(env, p, result);
    else if (!strcmp(op, "toy")) s = sup_op_toy(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "superposition: unknown operation \"%s\" (pca, pca_interpolate, sae_train, sae_eval, "
                      "sae_features, toy)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_superposition = {
    "superposition",
    "PCA of activations; sparse autoencoders (train, eval, features; SAELens format); the toy model of superposition",
    superposition_create,
    superposition_run,
    superposition_destroy,
    superposition_ops,
};

/* ---- activation matrices ---- */

ark_status sup_matrix_open(const char *path, const char *key, sup_matrix *m)
{
    memset(m, 0, sizeof *m);
    ARK_TRY(ark_st_open(path, &m->file));
    const ark_st_tensor *t = NULL;
    if (key) t = ark_st_find(m->file, key);
    else if (ark_st_count(m->file) == 1) t = ark_st_at(m->file, 0);
    ark_status s = ARK_OK;
    if (!t && key) s = ark_fail(ARK_ERR_MISSING, "%s: no tensor \"%s\"", path, key);
    else if (!t) s = ark_fail(ARK_ERR_ARG, "%s holds %d tensors: name one with \"key\" (--key)", path, ark_st_count(m->file));
    else if (t->ndim < 2) s = ark_fail(ARK_ERR_SHAPE, "%s: %s has %d dimension(s), expected [N, d]", path, t->name, t->ndim);
    if (s == ARK_OK) {
        snprintf(m->key, sizeof m->key, "%s", t->name);
        m->d = (int)t->shape[t->ndim - 1];
        m->n = t->numel / (m->d ? m->d : 1);
        if (m->d < 1 || m->n < 1) s = ark_fail(ARK_ERR_SHAPE, "%s: %s is empty", path, t->name);
    }
    if (s == ARK_OK) s = ark_st_to_f32(m->file, t, &m->x, &m->owned);
    if (s != ARK_OK) sup_matrix_close(m);
    return s;
}

void sup_matrix_close(sup_matrix *m)
{
    if (m->owned) free(m->x);
    ark_st_close(m->file);
    memset(m, 0, sizeof *m);
}

/* ---- JSON ---- */

cJSON *sup_metrics_json(const ark_sae_metrics *mt, bool densities)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_tokens", (double)mt->n);
    cJSON_AddItemToObject(o, "mse", sp_num(mt->mse));
    cJSON_AddItemToObject(o, "variance", sp_num(mt->var));
    cJSON_AddItemToObject(o, "fve", sp_num(mt->fve));
    cJSON_AddItemToObject(o, "l0", sp_num(mt->l0));
    cJSON_AddNumberToObject(o, "n_dead", mt->n_dead);
    cJSON_AddItemToObject(o, "dead", cJSON_CreateIntArray(mt->dead, mt->n_dead));
    cJSON_AddNumberToObject(o, "dense_threshold", mt->dense_threshold);
    cJSON_AddNumberToObject(o, "n_dense", mt->n_dense);
    cJSON_AddItemToObject(o, "dense", cJSON_CreateIntArray(mt->dense, mt->n_dense));
    if (mt->has_ce) {
        cJSON_AddItemToObject(o, "ce_clean", sp_num(mt->ce_clean));
        cJSON_AddItemToObject(o, "ce_sae", sp_num(mt->ce_sae));
        cJSON_AddItemToObject(o, "ce_ablated", sp_num(mt->ce_ablated));
        cJSON_AddItemToObject(o, "ce_recovered", sp_num(mt->ce_recovered));
    }
    if (densities && mt->density) cJSON_AddItemToObject(o, "density", sp_doubles(mt->density, mt->d_sae));
    return o;
}
