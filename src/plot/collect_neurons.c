/* Plot data from a model run: MLP neurons (blocks.L.mlp.hook_post). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"

/* hook_post of layer l over every row: (B, T, m), padding included. */
static ark_status neuron_acts(const ark_tool_env *env, const pl_input *in, int l, ark_cache **cache, const float **post)
{
    char name[64];
    snprintf(name, sizeof name, "blocks.%d.mlp.hook_post", l);
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ark_plan_keep(p, name);
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.mask = in->batch.mask;
    int L = ark_model_config(env->model)->n_layers;
    o.stop_at_layer = l + 1 < L ? l + 1 : -1;
    if (s == ARK_OK) s = ark_run_ex(env->model, in->batch.tokens, in->batch.B, in->batch.T, &o, p, cache);
    ark_plan_free(p);
    if (s == ARK_OK) *post = ark_cache_get(*cache, name)->data;
    return s;
}

/* The neurons to show: the spec's "neurons", else the top_k by max |act|
 * over row 0 (rows_all: every row's real tokens). */
static ark_status pick_neurons(const cJSON *spec, const pl_input *in, const float *post, int m, int dflt_k,
                               bool rows_all, int **out, int *n_out)
{
    int *ns = NULL, n = 0;
    ARK_TRY(tool_get_ints(spec, "neurons", &ns, &n));
    if (ns) {
        for (int i = 0; i < n; i++)
            if (ns[i] < 0 || ns[i] >= m) {
                free(ns);
                return ark_fail(ARK_ERR_ARG, "\"neurons\": %d is out of range (the MLP has %d neurons)", ns[i], m);
            }
        *out = ns, *n_out = n;
        return ARK_OK;
    }
    int k;
    ARK_TRY(tool_get_int(spec, "top_k", dflt_k, &k));
    if (k < 1) return ark_fail(ARK_ERR_ARG, "\"top_k\": expected >= 1");
    if (k > m) k = m;
    float *score = calloc(m, sizeof *score);
    int B = rows_all ? in->batch.B : 1, T = in->batch.T;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < in->batch.len[b]; t++)
            for (int j = 0; j < m; j++) score[j] = fmaxf(score[j], fabsf(post[((size_t)b * T + t) * m + j]));
    ns = malloc(sizeof *ns * k);
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int j = 0; j < m; j++)
            if (score[j] >= 0 && (best < 0 || score[j] > score[best])) best = j;
        ns[i] = best;
        score[best] = -1;
    }
    free(score);
    *out = ns, *n_out = k;
    return ARK_OK;
}

static cJSON *neuron_labels(int l, const int *ns, int n)
{
    cJSON *a = cJSON_CreateArray();
    char buf[32];
    for (int i = 0; i < n; i++) snprintf(buf, sizeof buf, "L%dN%d", l, ns[i]), cJSON_AddItemToArray(a, cJSON_CreateString(buf));
    return a;
}

ark_status pl_collect_neuron_activation(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int l, m = ark_model_config(env->model)->d_mlp, *ns = NULL, k = 0, B = in->batch.B, T = in->batch.T;
    ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l));
    ark_cache *cache = NULL;
    const float *post;
    ark_status s = neuron_acts(env, in, l, &cache, &post);
    if (s == ARK_OK) s = pick_neurons(spec, in, post, m, 8, true, &ns, &k);
    if (s == ARK_OK) {
        int S = 0;
        for (int b = 0; b < B; b++) S += in->batch.len[b];
        float *v = malloc(sizeof *v * (size_t)k * S);
        for (int i = 0; i < k; i++) {
            int c = 0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < in->batch.len[b]; t++) v[(size_t)i * S + c++] = post[((size_t)b * T + t) * m + ns[i]];
        }
        pl_add_matrix(out, "matrix", v, k, S);
        cJSON_AddItemToObject(out, "row_labels", neuron_labels(l, ns, k));
        char buf[128];
        snprintf(buf, sizeof buf, "MLP neuron activations, layer %d (%d tokens)", l, S);
        cJSON_AddStringToObject(out, "title", buf);
        free(v);
    }
    free(ns);
    ark_cache_free(cache);
    return s;
}

ark_status pl_collect_neuron_trajectories(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int l, m = ark_model_config(env->model)->d_mlp, *ns = NULL, k = 0, n = in->n;
    ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l));
    ark_cache *cache = NULL;
    const float *post;
    ark_status s = neuron_acts(env, in, l, &cache, &post);
    if (s == ARK_OK) s = pick_neurons(spec, in, post, m, 5, false, &ns, &k);
    if (s == ARK_OK) {
        float *v = malloc(sizeof *v * (size_t)k * n);
        for (int i = 0; i < k; i++)
            for (int t = 0; t < n; t++) v[(size_t)i * n + t] = post[(size_t)t * m + ns[i]];
        pl_add_matrix(out, "matrix", v, k, n);
        cJSON_AddItemToObject(out, "row_labels", neuron_labels(l, ns, k));
        cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
        char buf[96];
        snprintf(buf, sizeof buf, "MLP neuron activations over positions, layer %d", l);
        cJSON_AddStringToObject(out, "title", buf);
        free(v);
    }
    free(ns);
    ark_cache_free(cache);
    return s;
}

/* Without a sparse autoencoder, the MLP neurons of a layer stand in for
 * features: density = the fraction of real tokens where hook_post > 0. */
ark_status pl_collect_feature_density(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int l, m = ark_model_config(env->model)->d_mlp, B = in->batch.B, T = in->batch.T, S = 0;
    ARK_TRY(pl_get_layer(env, spec, "layer", 0, &l));
    ark_cache *cache = NULL;
    const float *post;
    ARK_TRY(neuron_acts(env, in, l, &cache, &post));
    float *dens = calloc(m, sizeof *dens);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < in->batch.len[b]; t++, S++)
            for (int j = 0; j < m; j++) dens[j] += post[((size_t)b * T + t) * m + j] > 0;
    cJSON *vals = cJSON_AddArrayToObject(out, "values");
    for (int j = 0; j < m; j++) cJSON_AddItemToArray(vals, cJSON_CreateNumber(dens[j] / S));
    char buf[128];
    snprintf(buf, sizeof buf, "feature density: MLP neurons of layer %d as features (%d tokens)", l, S);
    cJSON_AddStringToObject(out, "title", buf);
    free(dens);
    ark_cache_free(cache);
    return ARK_OK;
}
