/* The sparsity tool's generic entry point (key "sparsity"): activation
 * statistics of a hook point over a dataset, and magnitude pruning with its
 * loss change.  Definitions in include/arrakis/tool_sparsity.h and
 * tool_surgery.h; docs/tools/sparsity.md describes the JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_sparsity.h"
#include "arrakis/tool_surgery.h"
#include "core/error.h"
#include "tools/sparsity_json.h"
#include "tools/tool_util.h"

static const char *const sparsity_ops[] = {
    "stats: {data|text|tokens, hook, threshold (0), abs (false), top_k (10), l0_bins (32), batch (8), max_len, "
    "max_prompts, examples (true)} -> density, dead units, L0, mean/std/kurtosis, top-k examples, polysemanticity per unit",
    "prune: {data|text|tokens, fraction, matrices ([\"W_Q\",...] or \"W_in,W_out\"; default all block matrices), layers, "
    "global (false), out (write the pruned model there)} -> next-token CE before and after, entries pruned",
    NULL,
};

static ark_status sparsity_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *e = malloc(sizeof *e);
    if (!e) return ark_fail(ARK_ERR_NOMEM, "sparsity: out of memory");
    *e = *env;
    *state = e;
    return ARK_OK;
}

static void sparsity_destroy(void *state) { free(state); }

/* ---- stats ---- */

static cJSON *stats_json(const ark_tool_env *env, const ark_sparsity *s, const char *hook, int n_prompts, bool examples)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "hook", hook);
    cJSON_AddNumberToObject(o, "width", s->width);
    cJSON_AddNumberToObject(o, "n_prompts", n_prompts);
    cJSON_AddNumberToObject(o, "n_tokens", (double)s->n_tokens);
    cJSON_AddNumberToObject(o, "threshold", s->threshold);
    cJSON_AddBoolToObject(o, "abs", s->abs);
    char def[160];
    snprintf(def, sizeof def, "a unit fires on a token when %s > %g; dead = fires on no token of the dataset",
             s->abs ? "|act|" : "act", (double)s->threshold);
    cJSON_AddStringToObject(o, "fires", def);
    cJSON_AddNumberToObject(o, "n_dead", s->n_dead);
    cJSON_AddItemToObject(o, "dead", cJSON_CreateIntArray(s->dead, s->n_dead));
    cJSON_AddNumberToObject(o, "n_constant", s->n_constant);
    cJSON_AddItemToObject(o, "constant", cJSON_CreateIntArray(s->constant, s->n_constant));
    cJSON *l0 = cJSON_AddObjectToObject(o, "l0");
    cJSON_AddNumberToObject(l0, "mean", s->l0_mean);
    cJSON_AddNumberToObject(l0, "std", s->l0_std);
    cJSON_AddNumberToObject(l0, "min", s->l0_min);
    cJSON_AddNumberToObject(l0, "max", s->l0_max);
    cJSON_AddNumberToObject(l0, "bin_width", s->l0_bin_width);
    cJSON *h = cJSON_AddArrayToObject(l0, "hist");
    for (int i = 0; i < s->l0_bins; i++) cJSON_AddItemToArray(h, cJSON_CreateNumber((double)s->l0_hist[i]));
    cJSON_AddItemToObject(o, "density", sp_doubles(s->density, s->width));
    cJSON_AddItemToObject(o, "mean", sp_doubles(s->mean, s->width));
    cJSON_AddItemToObject(o, "std", sp_doubles(s->std, s->width));
    cJSON_AddItemToObject(o, "kurtosis", sp_doubles(s->kurtosis, s->width));
    cJSON_AddItemToObject(o, "max_act", sp_floats(s->max_act, s->width));
    cJSON_AddItemToObject(o, "min_act", sp_floats(s->min_act, s->width));
    cJSON_AddItemToObject(o, "polysemanticity", sp_doubles(s->poly, s->width));
    cJSON_AddNumberToObject(o, "top_k", s->top_k);
    if (examples && s->top_k > 0) {
        cJSON *top = cJSON_AddArrayToObject(o, "top_examples");
        for (int j = 0; j < s->width; j++) {
            cJSON *row = cJSON_CreateArray();
            for (int i = 0; i < s->n_top[j]; i++)
                cJSON_AddItemToArray(row, sp_example_json(env, &s->top[(size_t)j * s->top_k + i]));
            cJSON_AddItemToArray(top, row);
        }
    }
    return o;
}

static ark_status op_stats(const ark_tool_env *env, const cJSON *p, char **result)
{
    ARK_TRY(sp_need_model(env, "sparsity", "stats"));
    const char *hook;
    double thr;
    bool examples;
    ark_sparsity_opts o = ARK_SPARSITY_OPTS_INIT;
    ark_stream_opts so;
    ARK_TRY(tool_get_str(p, "hook", NULL, &hook));
    if (!hook) return ark_fail(ARK_ERR_ARG, "\"hook\": give the hook point, e.g. \"blocks.0.mlp.hook_post\"");
    ARK_TRY(tool_get_num(p, "threshold", 0.0, &thr));
    ARK_TRY(tool_get_bool(p, "abs", false, &o.abs));
    ARK_TRY(tool_get_int(p, "top_k", 10, &o.top_k));
    ARK_TRY(tool_get_int(p, "l0_bins", 32, &o.l0_bins));
    ARK_TRY(tool_get_bool(p, "examples", true, &examples));
    ARK_TRY(sp_stream_json(p, "batch", &so));
    if (o.top_k < 0) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d, expected >= 0", o.top_k);
    if (o.l0_bins < 1) return ark_fail(ARK_ERR_ARG, "\"l0_bins\": %d, expected >= 1", o.l0_bins);
    o.threshold = (float)thr;
    int width;
    ARK_TRY(ark_hook_width(env->model, hook, &width));
    ark_dataset *d;
    ARK_TRY(sp_dataset_json(env, p, &d));
    ark_sparsity s;
    ark_status st = ark_sparsity_compute(env->model, d, hook, &so, &o, &s);
    if (st == ARK_OK) {
        int n = so.count ? so.count : ark_dataset_count(d) - so.first;
        if (n > ark_dataset_count(d) - so.first) n = ark_dataset_count(d) - so.first;
        st = tool_result(stats_json(env, &s, hook, n, examples), result);
    }
    ark_sparsity_free(&s);
    ark_dataset_free(d);
    return st;
}

/* ---- prune ---- */

static ark_status matrices_json(const cJSON *p, ark_weight *ws, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "matrices");
    *n = 0;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    char buf[512];
    if (cJSON_IsString(v)) snprintf(buf, sizeof buf, "%s", v->valuestring);
    else if (cJSON_IsArray(v)) {
        size_t k = 0;
        buf[0] = '\0';
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (!cJSON_IsString(x)) return ark_fail(ARK_ERR_ARG, "\"matrices\": expected names like \"W_in\"");
            k += (size_t)snprintf(buf + k, k < sizeof buf ? sizeof buf - k : 0, "%s%s", k ? "," : "", x->valuestring);
        }
    } else return ark_fail(ARK_ERR_ARG, "\"matrices\": expected a list of names or \"W_in,W_out\"");
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (*n == 16) return ark_fail(ARK_ERR_ARG, "\"matrices\": too many names");
        if (ark_weight_find(t, &ws[*n]) != ARK_OK)
            return ark_fail(ARK_ERR_ARG, "\"matrices\": unknown matrix \"%s\" (W_Q, W_K, W_V, W_O, W_in, W_gate, W_out, W_E, "
                            "W_pos, W_U)", t);
        (*n)++;
    }
    if (*n == 0) return ark_fail(ARK_ERR_ARG, "\"matrices\": no names given");
    return ARK_OK;
}

static ark_status op_prune(const ark_tool_env *env, const cJSON *p, char **result)
{
    ARK_TRY(sp_need_model(env, "sparsity", "prune"));
    double fraction;
    ark_weight ws[16];
    int nw = 0, *layers = NULL, nl = 0;
    bool global;
    const char *out;
    ark_stream_opts so;
    ARK_TRY(tool_get_num(p, "fraction", -1.0, &fraction));
    if (!(fraction >= 0.0 && fraction <= 1.0)) return ark_fail(ARK_ERR_ARG, "\"fraction\": give the fraction to prune, 0..1");
    ARK_TRY(matrices_json(p, ws, &nw));
    ARK_TRY(tool_get_bool(p, "global", false, &global));
    ARK_TRY(tool_get_str(p, "out", NULL, &out));
    ARK_TRY(sp_stream_json(p, "batch", &so));
    ARK_TRY(tool_get_ints(p, "layers", &layers, &nl));
    ark_prune_spec spec = {fraction, nw ? ws : NULL, nw, layers, nl, global};
    ark_dataset *d = NULL;
    ark_status st = sp_dataset_json(env, p, &d);
    double before = NAN, after = NAN;
    int64_t n_pred = 0;
    if (st == ARK_OK) st = ark_dataset_ce(env->model, d, &so, NULL, &before, &n_pred);
    ark_surgery *s = NULL;
    ark_prune_result r = {0};
    if (st == ARK_OK) st = ark_surgery_begin(env->model, &s);
    if (st == ARK_OK) st = ark_surgery_prune(s, &spec, &r);
    if (st == ARK_OK) st = ark_dataset_ce(env->model, d, &so, NULL, &after, NULL);
    if (st == ARK_OK && out) st = ark_model_save_folder(env->model, out);
    ark_surgery_restore(s); /* the tool's model is left as it was */
    if (st == ARK_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "fraction", fraction);
        cJSON_AddStringToObject(o, "scope", global ? "global" : "per_matrix");
        cJSON_AddNumberToObject(o, "n_matrices", r.n_matrices);
        cJSON_AddNumberToObject(o, "n_entries", (double)r.n_entries);
        cJSON_AddNumberToObject(o, "n_pruned", (double)r.n_pruned);
        cJSON_AddNumberToObject(o, "n_zero_before", (double)r.n_zero_before);
        cJSON_AddNumberToObject(o, "threshold", r.threshold);
        cJSON_AddNumberToObject(o, "n_predicted", (double)n_pred);
        cJSON_AddItemToObject(o, "ce_before", sp_num(before));
        cJSON_AddItemToObject(o, "ce_after", sp_num(after));
        cJSON_AddItemToObject(o, "ce_change", sp_num(after - before));
        if (out) cJSON_AddStringToObject(o, "out", out);
        st = tool_result(o, result);
    }
    ark_dataset_free(d);
    free(layers);
    return st;
}

static ark_status sparsity_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p = NULL;
    ARK_TRY(tool_parse_params("sparsity", params, &p));
    ark_status s;
    if (!op || !*op || !strcmp(op, "stats")) s = op_stats(env, p, result);
    else if (!strcmp(op, "prune")) s = op_prune(env, p, result);
    else s = ark_fail(ARK_ERR_ARG, "sparsity: unknown operation \"%s\" (stats, prune)", op);
    cJSON_Delete(p);
    return s;
}

const ark_tool_def ark_tool_sparsity = {
    "sparsity",
    "activation density, dead units, L0, kurtosis, top-k examples, polysemanticity; magnitude pruning with its loss change",
    sparsity_create,
    sparsity_run,
    sparsity_destroy,
    sparsity_ops,
};
