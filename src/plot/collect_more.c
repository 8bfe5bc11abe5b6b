/* Plot data from a model run: the residual-stream side (logit lens,
 * attribution, norms, norm scales) and neurons. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"

static ark_status keep_names(ark_plan *p, char **names)
{
    ark_status s = ARK_OK;
    for (char **nm = names; *nm && s == ARK_OK; nm++) s = ark_plan_keep(p, *nm);
    free(names);
    return s;
}

/* Run row 0 keeping what analysis `kind` with options ro reads (plus extra). */
static ark_status run_for(const ark_tool_env *env, const pl_input *in, ark_analysis kind, const ark_resid_opts *ro,
                          const char *extra, ark_cache **cache)
{
    char **names;
    ARK_TRY(ark_analysis_hooks(env->model, kind, ro, &names));
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = keep_names(p, names);
    if (s == ARK_OK && extra) s = ark_plan_keep(p, extra);
    if (s == ARK_OK) s = pl_run_row0(env, in, p, -1, cache);
    ark_plan_free(p);
    return s;
}

void pl_lens_free(pl_lens *l)
{
    for (int i = 0; l->labels && i < l->npts; i++) free(l->labels[i]);
    free(l->labels);
    free(l->ids);
    free(l->probs);
    memset(l, 0, sizeof *l);
}

/* The final norm applied afresh to x (d), in place: LayerNorm centres; both
 * divide by their own scale and apply w, b (weights.h gives Gemma's 1 + w). */
static void final_norm(const ark_config *c, const float *w, const float *b, float *x)
{
    int d = c->d_model;
    double mean = 0, ss = 0;
    if (c->norm == ARK_NORM_LAYERNORM) {
        for (int i = 0; i < d; i++) mean += x[i];
        mean /= d;
    }
    for (int i = 0; i < d; i++) ss += (x[i] - mean) * (x[i] - mean);
    double inv = 1.0 / sqrt(ss / d + c->norm_eps);
    for (int i = 0; i < d; i++) x[i] = (float)((x[i] - mean) * inv * w[i] + b[i]);
}

/* Top-k of one row of logits: ids and softmax probabilities. */
static void topk(const float *lg, int V, int k, int32_t *ids, float *probs)
{
    double mx = lg[0], z = 0;
    for (int v = 1; v < V; v++) mx = fmax(mx, lg[v]);
    for (int v = 0; v < V; v++) z += exp(lg[v] - mx);
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int v = 0; v < V; v++) {
            bool taken = false;
            for (int i = 0; i < j && !taken; i++) taken = ids[i] == v;
            if (!taken && (best < 0 || lg[v] > lg[best])) best = v;
        }
        ids[j] = best;
        probs[j] = (float)(exp(lg[best] - mx) / z);
    }
}

ark_status pl_lens_compute(const ark_tool_env *env, const pl_input *in, int k, pl_lens *out)
{
    memset(out, 0, sizeof *out);
    const ark_config *c = ark_model_config(env->model);
    int V = c->d_vocab, d = c->d_model, n = in->n;
    if (k < 1 || k > V) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d (expected 1..%d)", k, V);
    ark_resid_opts ro = ARK_RESID_OPTS_INIT;
    ark_cache *cache = NULL;
    ARK_TRY(run_for(env, in, ARK_ANALYSIS_ACCUMULATED_RESID, &ro, NULL, &cache));
    ark_stack *st = NULL;
    ark_tensor wu = {0}, bu = {0}, lw = {0}, lb = {0};
    ark_status s = ark_accumulated_resid(env->model, cache, &ro, &st);
    if (s == ARK_OK) s = ark_weight_get(env->model, ARK_W_U, -1, -1, &wu);
    if (s == ARK_OK) s = ark_weight_get(env->model, ARK_B_U, -1, -1, &bu);
    if (s == ARK_OK) s = ark_weight_get(env->model, ARK_LNF_W, -1, -1, &lw);
    if (s == ARK_OK) s = ark_weight_get(env->model, ARK_LNF_B, -1, -1, &lb);
    if (s == ARK_OK) {
        int N = st->n * n;
        float *x = malloc(sizeof *x * (size_t)N * d), *lg = malloc(sizeof *lg * (size_t)n * V);
        memcpy(x, st->data, sizeof *x * (size_t)N * d); /* (npts, 1, n, d) */
        for (int i = 0; i < N; i++) final_norm(c, lw.data, lb.data, x + (size_t)i * d);
        out->npts = st->n, out->n = n, out->k = k;
        out->labels = calloc(st->n, sizeof *out->labels);
        out->ids = malloc(sizeof *out->ids * (size_t)N * k);
        out->probs = malloc(sizeof *out->probs * (size_t)N * k);
        for (int i = 0; i < st->n; i++) {
            out->labels[i] = strdup(st->labels[i]);
            /* logits (n, V) = x_i (n, d) W_U (d, V) + b_U */
            for (int p = 0; p < n; p++) memcpy(lg + (size_t)p * V, bu.data, sizeof *lg * V);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, V, d, 1.0f, x + (size_t)i * n * d, d, wu.data, V,
                        1.0f, lg, V);
            for (int p = 0; p < n; p++)
                topk(lg + (size_t)p * V, V, k, out->ids + ((size_t)i * n + p) * k, out->probs + ((size_t)i * n + p) * k);
        }
        free(x);
        free(lg);
    }
    ark_weight_free(&wu), ark_weight_free(&bu), ark_weight_free(&lw), ark_weight_free(&lb);
    ark_stack_free(st);
    ark_cache_free(cache);
    if (s != ARK_OK) pl_lens_free(out);
    return s;
}

ark_status pl_collect_logit_lens(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    (void)spec;
    pl_lens l;
    ARK_TRY(pl_lens_compute(env, in, 1, &l));
    float *m = malloc(sizeof *m * l.npts * l.n);
    cJSON *ct = cJSON_AddArrayToObject(out, "cell_text"), *rl = cJSON_AddArrayToObject(out, "row_labels");
    for (int i = 0; i < l.npts; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < l.n; p++) {
            m[i * l.n + p] = l.probs[(size_t)i * l.n + p];
            cJSON_AddItemToArray(row, pl_token_json(env, l.ids[(size_t)i * l.n + p]));
        }
        cJSON_AddItemToArray(ct, row);
        cJSON_AddItemToArray(rl, cJSON_CreateString(l.labels[i]));
    }
    pl_add_matrix(out, "matrix", m, l.npts, l.n);
    cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
    cJSON_AddStringToObject(out, "title", "logit lens: top next-token prediction at each layer");
    free(m);
    pl_lens_free(&l);
    return ARK_OK;
}

ark_status pl_collect_attribution(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    int pos;
    int32_t target, against;
    const char *by;
    ARK_TRY(pl_get_pos(spec, in->n, &pos));
    ARK_TRY(pl_get_token(env, spec, "target", &target));
    ARK_TRY(pl_get_token(env, spec, "against", &against));
    ARK_TRY(tool_get_str(spec, "by", "head", &by));
    if (strcmp(by, "head") && strcmp(by, "layer") && strcmp(by, "neuron"))
        return ark_fail(ARK_ERR_ARG, "\"by\": \"%s\" (expected layer, head or neuron)", by);
    ark_resid_opts ro = ARK_RESID_OPTS_INIT;
    ro.pos = pos, ro.heads = !strcmp(by, "head"), ro.neurons = !strcmp(by, "neuron");
    ark_cache *cache = NULL;
    ARK_TRY(run_for(env, in, ARK_ANALYSIS_DECOMPOSE_RESID, &ro, "ln_final.hook_scale", &cache));
    ark_stack *st = NULL;
    ark_tensor at = {0};
    ark_status s = ark_decompose_resid(env->model, cache, &ro, &st);
    if (s == ARK_OK && target < 0) {
        const ark_tensor *lg = ark_cache_logits(cache);
        target = pl_argmax(lg->data + (size_t)pos * lg->shape[2], (int)lg->shape[2]);
    }
    if (s == ARK_OK) s = ark_logit_attrs(env->model, cache, st, &target, against >= 0 ? &against : NULL, &at);
    if (s == ARK_OK) {
        cJSON *vals = cJSON_AddArrayToObject(out, "values");
        for (int i = 0; i < st->n; i++) cJSON_AddItemToArray(vals, cJSON_CreateNumber(at.data[i]));
        cJSON *lab = cJSON_AddArrayToObject(out, "labels");
        for (int i = 0; i < st->n; i++) cJSON_AddItemToArray(lab, cJSON_CreateString(st->labels[i]));
        char *t = tool_token_str(env, target), buf[256];
        snprintf(buf, sizeof buf, "direct logit attribution to \"%s\" at position %d", t, pos);
        free(t);
        cJSON_AddStringToObject(out, "title", buf);
    }
    free(at.data);
    ark_stack_free(st);
    ark_cache_free(cache);
    return s;
}

ark_status pl_collect_residual(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    bool mid;
    ARK_TRY(tool_get_bool(spec, "incl_mid", false, &mid));
    ark_resid_opts ro = ARK_RESID_OPTS_INIT;
    ro.incl_mid = mid;
    ark_cache *cache = NULL;
    ARK_TRY(run_for(env, in, ARK_ANALYSIS_ACCUMULATED_RESID, &ro, NULL, &cache));
    ark_stack *st = NULL;
    ark_status s = ark_accumulated_resid(env->model, cache, &ro, &st);
    if (s == ARK_OK) {
        int n = in->n, d = st->d;
        float *v = malloc(sizeof *v * 2 * st->n);
        for (int i = 0; i < st->n; i++) {
            double mean = 0, last = 0;
            for (int p = 0; p < n; p++) {
                const float *x = st->data + ((size_t)i * n + p) * d;
                double ss = 0;
                for (int j = 0; j < d; j++) ss += (double)x[j] * x[j];
                mean += sqrt(ss) / n;
                if (p == n - 1) last = sqrt(ss);
            }
            v[i] = (float)mean, v[st->n + i] = (float)last;
        }
        pl_add_matrix(out, "matrix", v, 2, st->n);
        cJSON *rl = cJSON_AddArrayToObject(out, "row_labels"), *cl = cJSON_AddArrayToObject(out, "col_labels");
        cJSON_AddItemToArray(rl, cJSON_CreateString("mean over positions"));
        char buf[128];
        const cJSON *lt = cJSON_GetArrayItem(in->tokens, n - 1);
        snprintf(buf, sizeof buf, "last token (%.80s)", cJSON_IsString(lt) ? lt->valuestring : "?");
        cJSON_AddItemToArray(rl, cJSON_CreateString(buf));
        for (int i = 0; i < st->n; i++) cJSON_AddItemToArray(cl, cJSON_CreateString(st->labels[i]));
        cJSON_AddStringToObject(out, "title", "residual stream norm ||x|| by layer");
        free(v);
    }
    ark_stack_free(st);
    ark_cache_free(cache);
    return s;
}

ark_status pl_collect_layer_norms(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out)
{
    (void)spec;
    const ark_config *c = ark_model_config(env->model);
    int n = in->n, rows = 0;
    char (*names)[64] = malloc(sizeof *names * (2 * c->n_layers + 1));
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 1; k <= 2; k++) {
            snprintf(names[rows], 64, "blocks.%d.ln%d.hook_scale", l, k);
            if (ark_hook_find(env->model, names[rows]) >= 0) rows++;
        }
    snprintf(names[rows++], 64, "ln_final.hook_scale");
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ARK_OK;
    for (int r = 0; r < rows && s == ARK_OK; r++) s = ark_plan_keep(p, names[r]);
    ark_cache *cache = NULL;
    if (s == ARK_OK) s = pl_run_row0(env, in, p, -1, &cache);
    ark_plan_free(p);
    if (s == ARK_OK) {
        float *m = malloc(sizeof *m * rows * n);
        cJSON *rl = cJSON_AddArrayToObject(out, "row_labels");
        for (int r = 0; r < rows; r++) {
            memcpy(m + (size_t)r * n, ark_cache_get(cache, names[r])->data, sizeof *m * n); /* [1, n, 1] */
            char lab[64];
            int l, k;
            if (sscanf(names[r], "blocks.%d.ln%d", &l, &k) == 2) snprintf(lab, sizeof lab, "%d ln%d", l, k);
            else snprintf(lab, sizeof lab, "ln_final");
            cJSON_AddItemToArray(rl, cJSON_CreateString(lab));
        }
        pl_add_matrix(out, "matrix", m, rows, n);
        cJSON_AddItemToObject(out, "col_labels", cJSON_Duplicate(in->tokens, 1));
        cJSON_AddStringToObject(out, "title", "norm scales (hook_scale: the divisor of each norm)");
        free(m);
    }
    ark_cache_free(cache);
    free(names);
    return s;
}
