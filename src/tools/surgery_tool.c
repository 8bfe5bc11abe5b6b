/* The surgery tool's generic entry point (key "surgery"): apply a list of
 * edits to the model inside a session (include/arrakis/tool_surgery.h),
 * optionally write the edited model as a new folder and compare its outputs
 * with the original's on prompts; the session is always restored, so the
 * tool's model is left as it was.  docs/tools/surgery.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_sparsity.h"
#include "arrakis/tool_surgery.h"
#include "core/error.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

static const char *const surgery_ops[] = {
    "edit: {edits: [{op: delete_layer, layer} | {op: permute, order: [..]} | {op: replace_layer, layer, src_layer} | "
    "{op: zero_head, layer, head} | {op: merge_heads, layer, heads: [h1, h2], alpha (0.5)} | {op: zero_neuron, layer, "
    "neuron, sides: in|out|both} | {op: prune, fraction, matrices, layers, global}], out (write the edited folder), "
    "text|tokens (compare outputs)} -> the edits, layer counts, comparison",
    NULL,
};

static ark_status surgery_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "surgery: out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void surgery_destroy(void *state) { free(state); }

static ark_status prune_edit(ark_surgery *s, const cJSON *e, cJSON *info)
{
    double fraction;
    bool global;
    int *layers = NULL, nl = 0;
    ark_weight ws[16];
    int nw = 0;
    ARK_TRY(tool_get_num(e, "fraction", -1, &fraction));
    ARK_TRY(tool_get_bool(e, "global", false, &global));
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(e, "matrices"), *x;
    if (cJSON_IsArray(mx))
        cJSON_ArrayForEach(x, mx) {
            if (!cJSON_IsString(x) || nw == 16 || ark_weight_find(x->valuestring, &ws[nw]) != ARK_OK)
                return ark_fail(ARK_ERR_ARG, "prune: \"matrices\": expected names like \"W_in\"");
            nw++;
        }
    ARK_TRY(tool_get_ints(e, "layers", &layers, &nl));
    ark_prune_spec spec = {fraction, nw ? ws : NULL, nw, layers, nl, global};
    ark_prune_result r;
    ark_status st = ark_surgery_prune(s, &spec, &r);
    if (st == ARK_OK) {
        cJSON_AddNumberToObject(info, "n_pruned", (double)r.n_pruned);
        cJSON_AddNumberToObject(info, "n_entries", (double)r.n_entries);
        cJSON_AddNumberToObject(info, "threshold", r.threshold);
    }
    free(layers);
    return st;
}

/* Apply one {op: ...} edit. */
static ark_status apply_edit(ark_surgery *s, const cJSON *e, int i, cJSON *info)
{
    const char *op;
    int layer, head, neuron, src;
    double alpha;
    ARK_TRY(tool_get_str(e, "op", NULL, &op));
    if (!op) return ark_fail(ARK_ERR_ARG, "\"edits\"[%d]: missing \"op\"", i);
    ARK_TRY(tool_get_int(e, "layer", -1, &layer));
    ARK_TRY(tool_get_int(e, "head", -1, &head));
    ARK_TRY(tool_get_int(e, "neuron", -1, &neuron));
    ARK_TRY(tool_get_int(e, "src_layer", -1, &src));
    ARK_TRY(tool_get_num(e, "alpha", 0.5, &alpha));
    if (!strcmp(op, "delete_layer")) return ark_surgery_delete_layer(s, layer);
    if (!strcmp(op, "replace_layer")) return ark_surgery_replace_layer(s, layer, NULL, src);
    if (!strcmp(op, "zero_head")) return ark_surgery_zero_head(s, layer, head);
    if (!strcmp(op, "prune")) return prune_edit(s, e, info);
    if (!strcmp(op, "permute") || !strcmp(op, "merge_heads")) {
        int *v = NULL, n = 0;
        ARK_TRY(tool_get_ints(e, !strcmp(op, "permute") ? "order" : "heads", &v, &n));
        ark_status st;
        if (!strcmp(op, "permute")) st = ark_surgery_permute_layers(s, v, n);
        else if (n != 2) st = ark_fail(ARK_ERR_ARG, "\"edits\"[%d]: merge_heads needs \"heads\": [h1, h2]", i);
        else st = ark_surgery_merge_heads(s, layer, v[0], v[1], (float)alpha);
        free(v);
        return st;
    }
    if (!strcmp(op, "zero_neuron")) {
        const char *sides;
        ARK_TRY(tool_get_str(e, "sides", "both", &sides));
        unsigned f = !strcmp(sides, "in") ? ARK_NEURON_IN : !strcmp(sides, "out") ? ARK_NEURON_OUT
                   : !strcmp(sides, "both") ? ARK_NEURON_IN | ARK_NEURON_OUT : 0;
        if (!f) return ark_fail(ARK_ERR_ARG, "\"edits\"[%d]: \"sides\": \"%s\", expected in, out or both", i, sides);
        return ark_surgery_zero_neuron(s, layer, neuron, f);
    }
    return ark_fail(ARK_ERR_ARG, "\"edits\"[%d]: unknown op \"%s\" (delete_layer, permute, replace_layer, zero_head, "
                    "merge_heads, zero_neuron, prune)", i, op);
}

/* Logits of the batch (a fresh copy). */
static ark_status logits_of(ark_model *m, const tool_batch *b, float **out, size_t *n)
{
    ark_cache *c = NULL;
    ARK_TRY(ark_run(m, b->tokens, b->B, b->T, b->mask, NULL, &c));
    const ark_tensor *t = ark_cache_logits(c);
    *n = (size_t)ark_tensor_numel(t);
    *out = malloc(sizeof(float) * *n);
    if (*out) memcpy(*out, t->data, sizeof(float) * *n);
    ark_cache_free(c);
    return *out ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "surgery: out of memory");
}

static cJSON *compare_json(const tool_batch *b, const float *a, const float *e, int V)
{
    double maxd = 0;
    int agree = 0, total = 0;
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->len[r]; t++) {
            const float *x = a + ((size_t)r * b->T + t) * V, *y = e + ((size_t)r * b->T + t) * V;
            int ia = 0, ie = 0;
            for (int v = 0; v < V; v++) {
                double dd = fabs((double)x[v] - y[v]);
                maxd = dd > maxd ? dd : maxd;
                ia = x[v] > x[ia] ? v : ia;
                ie = y[v] > y[ie] ? v : ie;
            }
            agree += ia == ie;
            total++;
        }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "positions", total);
    cJSON_AddNumberToObject(o, "max_abs_logit_change", maxd);
    cJSON_AddNumberToObject(o, "top1_agreement", total ? (double)agree / total : 0.0);
    return o;
}

static ark_status op_edit(const ark_tool_env *env, const cJSON *p, char **result)
{
    ARK_TRY(sp_need_model(env, "surgery", "edit"));
    const cJSON *edits = cJSON_GetObjectItemCaseSensitive(p, "edits");
    const char *out;
    ARK_TRY(tool_get_str(p, "out", NULL, &out));
    if (!cJSON_IsArray(edits) || cJSON_GetArraySize(edits) < 1)
        return ark_fail(ARK_ERR_ARG, "\"edits\": give a list of edits, e.g. [{\"op\": \"delete_layer\", \"layer\": 1}]");
    bool compare = cJSON_GetObjectItemCaseSensitive(p, "text") || cJSON_GetObjectItemCaseSensitive(p, "tokens");
    tool_batch b = {0};
    float *before = NULL, *after = NULL;
    size_t n = 0;
    ark_model *m = env->model;
    int layers0 = ark_model_config(m)->n_layers, V = ark_model_config(m)->d_vocab;
    if (compare) {
        ARK_TRY(tool_batch_from_json(env, p, &b));
        ark_status s0 = logits_of(m, &b, &before, &n);
        if (s0 != ARK_OK) { tool_batch_free(&b); return s0; }
    }
    ark_surgery *s = NULL;
    ark_status st = ark_surgery_begin(m, &s);
    cJSON *o = cJSON_CreateObject(), *infos = cJSON_CreateArray();
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, edits) {
        if (st != ARK_OK) break;
        cJSON *info = cJSON_CreateObject();
        st = cJSON_IsObject(e) ? apply_edit(s, e, i++, info) : ark_fail(ARK_ERR_ARG, "\"edits\"[%d]: expected an object", i);
        cJSON_AddItemToArray(infos, info);
    }
    int layers1 = ark_model_config(m)->n_layers;
    if (st == ARK_OK && out) st = ark_model_save_folder(m, out);
    size_t n2 = 0;
    if (st == ARK_OK && compare) st = logits_of(m, &b, &after, &n2);
    if (st == ARK_OK) {
        cJSON *list = cJSON_AddArrayToObject(o, "edits");
        for (int k = 0; k < ark_surgery_edit_count(s); k++) cJSON_AddItemToArray(list, cJSON_CreateString(ark_surgery_edit(s, k)));
        cJSON_AddItemToObject(o, "details", infos);
        infos = NULL;
        cJSON_AddNumberToObject(o, "n_layers_before", layers0);
        cJSON_AddNumberToObject(o, "n_layers_after", layers1);
        if (out) cJSON_AddStringToObject(o, "out", out);
        if (compare) cJSON_AddItemToObject(o, "comparison", compare_json(&b, before, after, V));
    }
    ark_surgery_restore(s);
    cJSON_Delete(infos);
    if (st == ARK_OK) st = tool_result(o, result);
    else cJSON_Delete(o);
    free(before);
    free(after);
    tool_batch_free(&b);
    return st;
}

static ark_status surgery_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("surgery", params, &p));
    ark_status s;
    if (!op || !*op || !strcmp(op, "edit")) s = op_edit(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "surgery: unknown operation \"%s\" (edit)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_surgery = {
    "surgery",
    "edit a model (delete/permute/replace layers, zero/merge heads, zero neurons, prune), write it as a new folder",
    surgery_create,
    surgery_run,
    surgery_destroy,
    surgery_ops,
};
