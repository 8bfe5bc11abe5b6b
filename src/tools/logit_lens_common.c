#include "tools/logit_lens_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

ark_status lc_names_add(lc_names *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], name)) return ARK_OK;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, sizeof *v * cap);
        if (!v) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    l->n++;
    return ARK_OK;
}

ark_status lc_names_add_block(lc_names *l, char **block)
{
    ark_status s = ARK_OK;
    for (char **p = block; p && *p && s == ARK_OK; p++) s = lc_names_add(l, *p);
    free(block);
    return s;
}

ark_status lc_names_add_analysis(lc_names *l, const ark_model *m, ark_analysis kind, const ark_resid_opts *o)
{
    char **block;
    ARK_TRY(ark_analysis_hooks(m, kind, o, &block));
    return lc_names_add_block(l, block);
}

ark_status lc_names_pack(lc_names *l, char ***out)
{
    size_t bytes = sizeof(char *) * (size_t)(l->n + 1);
    for (int i = 0; i < l->n; i++) bytes += strlen(l->v[i]) + 1;
    char **block = malloc(bytes);
    if (!block) { lc_names_free(l); return ark_fail(ARK_ERR_NOMEM, "out of memory"); }
    char *p = (char *)(block + l->n + 1);
    for (int i = 0; i < l->n; i++) {
        size_t k = strlen(l->v[i]) + 1;
        memcpy(p, l->v[i], k);
        block[i] = p;
        p += k;
    }
    block[l->n] = NULL;
    lc_names_free(l);
    *out = block;
    return ARK_OK;
}

void lc_names_free(lc_names *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

ark_status lc_plan_from(const ark_model *m, char **names, ark_plan **out)
{
    ark_plan *p = ark_plan_new(m);
    ark_status s = p ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (char **n = names; s == ARK_OK && n && *n; n++) s = ark_plan_keep(p, *n);
    free(names);
    if (s != ARK_OK) { ark_plan_free(p); return s; }
    *out = p;
    return ARK_OK;
}

ark_status lc_resolve_pos(int pos, int T, const char *field, int *out)
{
    int p = pos < 0 ? T + pos : pos;
    if (p < 0 || p >= T)
        return ark_fail(ARK_ERR_ARG, "\"%s\": position %d is outside the input's positions 0..%d (negative counts "
                        "from the end)", field, pos, T - 1);
    *out = p;
    return ARK_OK;
}

void lc_unembed_col(const ark_model *m, int32_t t, float *out)
{
    const ark_linear *L = &m->unembed;
    if (!L->in_out) memcpy(out, L->w + (size_t)t * L->ld, sizeof(float) * L->in);
    else
        for (int k = 0; k < L->in; k++) out[k] = L->w[(size_t)k * L->ld + t];
}

void lc_unembed_mean(const ark_model *m, double *out)
{
    const ark_linear *L = &m->unembed;
    int d = L->in, V = L->out;
    memset(out, 0, sizeof(double) * d);
    if (L->in_out) {
        for (int k = 0; k < d; k++) {
            const float *row = L->w + (size_t)k * L->ld;
            double acc = 0;
            for (int v = 0; v < V; v++) acc += row[v];
            out[k] = acc / V;
        }
        return;
    }
    for (int v = 0; v < V; v++) {
        const float *row = L->w + (size_t)v * L->ld;
        for (int k = 0; k < d; k++) out[k] += row[k];
    }
    for (int k = 0; k < d; k++) out[k] /= V;
}

float lc_unembed_bias(const ark_model *m, int32_t t) { return m->unembed.b ? m->unembed.b[t] : 0.0f; }

double lc_unembed_bias_mean(const ark_model *m)
{
    if (!m->unembed.b) return 0;
    double acc = 0;
    for (int v = 0; v < m->unembed.out; v++) acc += m->unembed.b[v];
    return acc / m->unembed.out;
}

cJSON *lc_token_json(const ark_tool_env *env, int32_t id)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    if (env->tokenizer) {
        char *s = tool_token_str(env, id);
        cJSON_AddStringToObject(t, "token", s);
        free(s);
    }
    return t;
}

cJSON *lc_floats(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
    return a;
}
