/* The feature_viz tool's generic entry point (key "feature_viz"): top
 * activating examples of a neuron, SAE feature or direction, and the
 * interpolation between two neurons' output directions.  Definitions in
 * include/arrakis/tool_feature_viz.h; docs/tools/feature_viz.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_feature_viz.h"
#include "core/error.h"
#include "tools/sae_tool.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

static const char *const feature_viz_ops[] = {
    "top_examples: {data|text|tokens; hook + neuron | sae (dir) + feature | hook + direction ([..]) | hook + direction_file "
    "+ key; k (10), before (8), after (2)} -> the k top tokens with contexts and the unit's activation on each token",
    "interpolate: {text|tokens (one prompt), layer, neurons [n1, n2], layer2 (= layer), write_layer (= layer), pos (-1), "
    "scale (1), steps (11), top (5)} -> logits of the tracked tokens along (1-t) W_out[n1] + t W_out[n2] written into "
    "the residual stream",
    NULL,
};

static ark_status viz_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void viz_destroy(void *state) { free(state); }

/* The direction: inline numbers or a safetensors file's tensor. */
static ark_status direction_json(const cJSON *p, int width, float **dir)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "direction");
    const char *file, *key;
    ARK_TRY(tool_get_str(p, "direction_file", NULL, &file));
    ARK_TRY(tool_get_str(p, "key", NULL, &key));
    *dir = malloc(sizeof(float) * width);
    if (!*dir) return ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != width)
            return ark_fail(ARK_ERR_ARG, "\"direction\": %d numbers, the hook has %d values per position", cJSON_GetArraySize(v), width);
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (!cJSON_IsNumber(x)) return ark_fail(ARK_ERR_ARG, "\"direction\": expected numbers");
            (*dir)[i++] = (float)x->valuedouble;
        }
        return ARK_OK;
    }
    if (!file) return ark_fail(ARK_ERR_ARG, "\"direction\": expected a list of numbers (or give \"direction_file\")");
    sup_matrix m;
    ARK_TRY(sup_matrix_open(file, key, &m));
    ark_status s = m.n * m.d == width ? ARK_OK
                 : ark_fail(ARK_ERR_SHAPE, "\"direction_file\": %s has %lld values, the hook has %d per position", m.key,
                            (long long)(m.n * m.d), width);
    if (s == ARK_OK) memcpy(*dir, m.x, sizeof(float) * width);
    sup_matrix_close(&m);
    return s;
}

static ark_status op_top(const ark_tool_env *env, const cJSON *p, char **result)
{
    const char *hook, *sae_dir;
    int neuron, feature, k, before, after;
    ark_stream_opts so;
    ARK_TRY(tool_get_str(p, "hook", NULL, &hook));
    ARK_TRY(tool_get_str(p, "sae", NULL, &sae_dir));
    ARK_TRY(tool_get_int(p, "neuron", -1, &neuron));
    ARK_TRY(tool_get_int(p, "feature", -1, &feature));
    ARK_TRY(tool_get_int(p, "k", 10, &k));
    ARK_TRY(tool_get_int(p, "before", 8, &before));
    ARK_TRY(tool_get_int(p, "after", 2, &after));
    ARK_TRY(sp_stream_json(p, "batch", &so));
    bool has_dir = cJSON_GetObjectItemCaseSensitive(p, "direction") || cJSON_GetObjectItemCaseSensitive(p, "direction_file");
    int kinds = (neuron >= 0) + (sae_dir != NULL) + has_dir;
    if (kinds != 1)
        return ark_fail(ARK_ERR_ARG, "give one unit: \"hook\" + \"neuron\", \"sae\" + \"feature\", or \"hook\" + \"direction\" "
                        "(or \"direction_file\")");
    ark_viz_unit u = {.hook = hook, .index = neuron};
    ark_sae sae = {0};
    float *dir = NULL;
    ark_status s = ARK_OK;
    const char *kind = "neuron";
    if (sae_dir) {
        kind = "sae_feature";
        if (feature < 0) return ark_fail(ARK_ERR_ARG, "\"feature\": give the SAE feature index");
        ARK_TRY(ark_sae_load(sae_dir, &sae));
        u = (ark_viz_unit){.kind = ARK_VIZ_SAE_FEATURE, .index = feature, .sae = &sae};
    } else {
        int w = 0;
        if (!hook) return ark_fail(ARK_ERR_ARG, "\"hook\": give the hook point of the %s", has_dir ? "direction" : "neuron");
        ARK_TRY(ark_hook_width(env->model, hook, &w));
        if (has_dir) {
            kind = "direction";
            s = direction_json(p, w, &dir);
            u = (ark_viz_unit){.kind = ARK_VIZ_DIRECTION, .hook = hook, .direction = dir};
        }
    }
    ark_dataset *d = NULL;
    if (s == ARK_OK) s = sp_dataset_json(env, p, &d);
    ark_viz_result r = {0};
    if (s == ARK_OK) s = ark_viz_top_examples(env->model, d, &u, &so, k, before, after, &r);
    if (s == ARK_OK) {
        cJSON *o = sup_viz_json(env, &r);
        cJSON_AddStringToObject(o, "unit", kind);
        cJSON_AddStringToObject(o, "hook", sae_dir ? sae.hook_name : hook);
        if (u.kind != ARK_VIZ_DIRECTION) cJSON_AddNumberToObject(o, "index", u.index);
        s = tool_result(o, result);
    }
    ark_viz_result_free(&r);
    ark_dataset_free(d);
    ark_sae_free(&sae);
    free(dir);
    return s;
}

static ark_status op_interpolate(const ark_tool_env *env, const cJSON *p, char **result)
{
    int layer, layer2, wl, pos, steps, top, *ns = NULL, nn = 0;
    double scale;
    ARK_TRY(tool_get_int(p, "layer", -1, &layer));
    ARK_TRY(tool_get_int(p, "layer2", layer, &layer2));
    ARK_TRY(tool_get_int(p, "write_layer", layer, &wl));
    ARK_TRY(tool_get_int(p, "pos", -1, &pos));
    ARK_TRY(tool_get_int(p, "steps", 11, &steps));
    ARK_TRY(tool_get_int(p, "top", 5, &top));
    ARK_TRY(tool_get_num(p, "scale", 1.0, &scale));
    ARK_TRY(tool_get_ints(p, "neurons", &ns, &nn));
    if (nn != 2) { free(ns); return ark_fail(ARK_ERR_ARG, "\"neurons\": give two neuron indices [n1, n2]"); }
    tool_batch b;
    ark_status s = tool_batch_from_json(env, p, &b);
    if (s == ARK_OK && b.B != 1) { tool_batch_free(&b); s = ark_fail(ARK_ERR_ARG, "give one prompt (\"text\" or \"tokens\"), not %d", b.B); }
    if (s != ARK_OK) { free(ns); return s; }
    ark_viz_interp r;
    s = ark_viz_interpolate_neurons(env->model, b.tokens, b.len[0], layer, ns[0], layer2, ns[1], wl, pos, (float)scale, steps,
                                    top, &r);
    if (s == ARK_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", layer);
        cJSON_AddNumberToObject(o, "layer2", layer2);
        cJSON_AddItemToObject(o, "neurons", cJSON_CreateIntArray(ns, 2));
        cJSON_AddNumberToObject(o, "write_layer", wl);
        cJSON_AddNumberToObject(o, "pos", pos < 0 ? pos + b.len[0] : pos);
        cJSON_AddNumberToObject(o, "scale", scale);
        cJSON_AddItemToObject(o, "cos_w1_w2", sp_num(r.cos_w1_w2));
        cJSON_AddItemToObject(o, "alpha", sp_floats(r.alpha, r.n_steps));
        cJSON_AddItemToObject(o, "tokens", cJSON_CreateIntArray(r.tokens, r.n_tokens));
        cJSON_AddItemToObject(o, "str_tokens", tool_str_tokens(env, r.tokens, r.n_tokens));
        cJSON_AddItemToObject(o, "base_logits", sp_floats(r.base, r.n_tokens));
        cJSON_AddItemToObject(o, "logits", tool_matrix(r.logits, r.n_steps, r.n_tokens));
        cJSON_AddItemToObject(o, "argmax", cJSON_CreateIntArray(r.top, r.n_steps));
        s = tool_result(o, result);
    }
    ark_viz_interp_free(&r);
    tool_batch_free(&b);
    free(ns);
    return s;
}

static ark_status viz_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("feature_viz", params, &p));
    ark_status s = sp_need_model(env, "feature_viz", op && *op ? op : "top_examples");
    if (s != ARK_OK) {}
    else if (!op || !*op || !strcmp(op, "top_examples")) s = op_top(env, p, result);
    else if (!strcmp(op, "interpolate")) s = op_interpolate(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "feature_viz: unknown operation \"%s\" (top_examples, interpolate)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_feature_viz = {
    "feature_viz",
    "top activating examples (with contexts) of a neuron, SAE feature or direction; interpolating neuron output directions",
    viz_create,
    viz_run,
    viz_destroy,
    feature_viz_ops,
};
