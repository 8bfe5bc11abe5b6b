/* Per-token values for the tokens view:
 *
 *   logprob                 log p(token[i+1] | tokens[..i]) at position i
 *                           (natural log; the last position has none)
 *   hook:NAME[:INDEX]       a hook point's value at each position: NAME a
 *                           full hook name or shorthand whose activation is
 *                           [b, p, ...]; INDEX into the trailing dimensions
 *                           (flattened); without INDEX the value itself
 *                           when the trailing size is 1 (hook_scale), else
 *                           the Euclidean norm over them
 *   dla:TOKEN[:COMPONENT]   direct logit attribution to TOKEN at each
 *                           position (analysis.h's ark_logit_attrs over the
 *                           final residual split by heads): of COMPONENT
 *                           ("L1H3", "0_mlp_out", "embed", ...), or summed
 *                           over every component without one */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/collect.h"
#include "plot/plot_internal.h"

static ark_status logprob_values(const ark_tool_env *env, const pl_input *in, float *v)
{
    ark_cache *c;
    ARK_TRY(pl_run_row0(env, in, NULL, -1, &c));
    const ark_tensor *lg = ark_cache_logits(c);
    int V = (int)lg->shape[2];
    for (int i = 0; i < in->n; i++) {
        v[i] = NAN;
        if (i + 1 >= in->n) break;
        const float *x = lg->data + (size_t)i * V;
        double mx = x[0], z = 0;
        for (int j = 1; j < V; j++) mx = fmax(mx, x[j]);
        for (int j = 0; j < V; j++) z += exp(x[j] - mx);
        v[i] = (float)(x[in->ids[i + 1]] - mx - log(z));
    }
    ark_cache_free(c);
    return ARK_OK;
}

static ark_status hook_values(const ark_tool_env *env, const char *arg, const pl_input *in, float *v, char *label,
                              size_t cap)
{
    char name[256];
    snprintf(name, sizeof name, "%s", arg);
    long index = -1;
    char *colon = strrchr(name, ':');
    if (colon) {
        char *end;
        index = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || index < 0) return ark_fail(ARK_ERR_ARG, "\"values\": hook index \"%s\" is not a number >= 0", colon + 1);
        *colon = 0;
    }
    ark_plan *p = ark_plan_new(env->model);
    ark_status s = ark_plan_keep(p, name);
    ark_cache *c = NULL;
    if (s == ARK_OK) s = pl_run_row0(env, in, p, -1, &c);
    ark_plan_free(p);
    if (s != ARK_OK) return s;
    if (ark_cache_count(c) != 1) {
        ark_cache_free(c);
        return ark_fail(ARK_ERR_ARG, "\"values\": \"%s\" names %d hook points; name one", name, ark_cache_count(c));
    }
    const ark_tensor *t = ark_cache_at(c, 0);
    const char *full = ark_cache_name(c, 0);
    if (t->ndim < 2 || t->shape[1] != in->n || strstr(full, "attn_scores") || strstr(full, "hook_pattern")) {
        s = ark_fail(ARK_ERR_ARG, "\"values\": %s is not per position ([b, p, ...]); attention maps are in the attention view", full);
        ark_cache_free(c);
        return s;
    }
    long D = ark_tensor_numel(t) / in->n;
    if (index >= D) {
        s = ark_fail(ARK_ERR_ARG, "\"values\": index %ld is out of range for %s (%ld values per position)", index, full, D);
        ark_cache_free(c);
        return s;
    }
    for (int i = 0; i < in->n; i++) {
        const float *x = t->data + (size_t)i * D;
        if (index >= 0) v[i] = x[index];
        else if (D == 1) v[i] = x[0];
        else {
            double ss = 0;
            for (long j = 0; j < D; j++) ss += (double)x[j] * x[j];
            v[i] = (float)sqrt(ss);
        }
    }
    if (index >= 0) snprintf(label, cap, "%s[%ld]", full, index);
    else snprintf(label, cap, D == 1 ? "%s" : "||%s||", full);
    ark_cache_free(c);
    return ARK_OK;
}

static ark_status dla_values(const ark_tool_env *env, const char *arg, const pl_input *in, float *v, char *label,
                             size_t cap)
{
    char tok[256];
    snprintf(tok, sizeof tok, "%s", arg);
    char *comp = strrchr(tok, ':');
    if (comp) *comp++ = 0;
    long idv;
    char *end;
    idv = strtol(tok, &end, 10);
    cJSON *tj = *tok && !*end ? cJSON_CreateNumber(idv) : cJSON_CreateString(tok);
    int32_t target;
    ark_status s = tool_token(env, tj, "values", &target);
    cJSON_Delete(tj);
    if (s != ARK_OK) return s;
    ark_resid_opts ro = ARK_RESID_OPTS_INIT;
    ro.heads = true;
    char **names;
    ARK_TRY(ark_analysis_hooks(env->model, ARK_ANALYSIS_DECOMPOSE_RESID, &ro, &names));
    ark_plan *p = ark_plan_new(env->model);
    for (char **nm = names; *nm && s == ARK_OK; nm++) s = ark_plan_keep(p, *nm);
    free(names);
    if (s == ARK_OK) s = ark_plan_keep(p, "ln_final.hook_scale");
    ark_cache *c = NULL;
    if (s == ARK_OK) s = pl_run_row0(env, in, p, -1, &c);
    ark_plan_free(p);
    ark_stack *st = NULL;
    if (s == ARK_OK) s = ark_decompose_resid(env->model, c, &ro, &st);
    int32_t *targets = malloc(sizeof *targets * in->n);
    for (int i = 0; i < in->n; i++) targets[i] = target;
    ark_tensor at = {0};
    if (s == ARK_OK) s = ark_logit_attrs(env->model, c, st, targets, NULL, &at); /* (n_comp, 1, n) */
    int k = -1;
    if (s == ARK_OK && comp && (k = ark_stack_find(st, comp)) < 0)
        s = ark_fail(ARK_ERR_ARG, "\"values\": no component \"%s\" (e.g. embed, L0H1, 0_mlp_out)", comp);
    if (s == ARK_OK) {
        for (int i = 0; i < in->n; i++) {
            double sum = 0;
            for (int j = 0; j < st->n; j++)
                if (k < 0 || j == k) sum += at.data[(size_t)j * in->n + i];
            v[i] = (float)sum;
        }
        char *ts = tool_token_str(env, target);
        snprintf(label, cap, "direct logit attribution to \"%s\"%s%s", ts, comp ? " of " : "", comp ? comp : "");
        free(ts);
    }
    free(targets);
    free(at.data);
    ark_stack_free(st);
    ark_cache_free(c);
    return s;
}

ark_status pl_view_token_values(const ark_tool_env *env, const char *spec_values, const pl_input *in, float *v,
                                char *label, size_t cap)
{
    if (!strcmp(spec_values, "logprob")) {
        snprintf(label, cap, "log-probability of the next token");
        return logprob_values(env, in, v);
    }
    if (!strncmp(spec_values, "hook:", 5)) return hook_values(env, spec_values + 5, in, v, label, cap);
    if (!strncmp(spec_values, "dla:", 4)) return dla_values(env, spec_values + 4, in, v, label, cap);
    return ark_fail(ARK_ERR_ARG, "\"values\": \"%s\" (expected logprob, hook:NAME[:INDEX] or dla:TOKEN[:COMPONENT])", spec_values);
}
