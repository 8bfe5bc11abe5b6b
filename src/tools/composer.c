/* The composer tool's generic entry point: JSON parameters -> the typed
 * functions of include/arrakis/tool_composer.h -> JSON.  docs/tools/composer.md
 * describes every operation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_composer.h"
#include "arrakis/weights.h"
#include "core/error.h"
#include "tools/builtin.h"
#include "tools/composer_internal.h"
#include "tools/tool_util.h"

typedef struct composer {
    ark_tool_env env;
} composer;

static ark_status composer_create(const ark_tool_env *env, void **state)
{
    composer *c = calloc(1, sizeof *c);
    if (!c) return ark_fail(ARK_ERR_NOMEM, "composer: out of memory");
    c->env = *env;
    *state = c;
    return ARK_OK;
}

static void composer_destroy(void *state) { free(state); }

cJSON *composer_processed_json(const ark_model *m)
{
    cJSON *a = cJSON_CreateArray();
    unsigned done = ark_model_processing(m);
    for (unsigned f = 1; f <= ARK_PROCESS_ALL; f <<= 1)
        if (done & f) cJSON_AddItemToArray(a, cJSON_CreateString(ark_process_flag_name(f)));
    return a;
}

ark_status composer_apply_process(ark_model *m, const cJSON *params)
{
    bool process;
    ARK_TRY(tool_get_bool(params, "process", false, &process));
    return process ? ark_composer_process(m) : ARK_OK;
}

ark_status composer_parse_head(const ark_config *c, const cJSON *params, const char *field, int *l, int *h)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, field);
    if (!v) return ark_fail(ARK_ERR_ARG, "\"%s\": missing (give [layer, head] or \"L.H\")", field);
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && cJSON_IsNumber(v->child) && cJSON_IsNumber(v->child->next)) {
        *l = (int)v->child->valuedouble;
        *h = (int)v->child->next->valuedouble;
    } else if (!cJSON_IsString(v) || !composer_parse_head_str(v->valuestring, l, h)) {
        return ark_fail(ARK_ERR_ARG, "\"%s\": expected [layer, head] or \"L.H\"", field);
    }
    if (*l < 0) *l += c->n_layers;
    if (*l < 0 || *l >= c->n_layers)
        return ark_fail(ARK_ERR_ARG, "\"%s\": layer %d out of range (the model has layers 0..%d)", field, *l, c->n_layers - 1);
    if (*h < 0 || *h >= c->n_heads)
        return ark_fail(ARK_ERR_ARG, "\"%s\": head %d out of range (the model has heads 0..%d)", field, *h, c->n_heads - 1);
    return ARK_OK;
}

bool composer_parse_head_str(const char *s, int *l, int *h)
{
    char *end;
    if (*s == 'L' || *s == 'l') s++;
    long a = strtol(s, &end, 10);
    if (end == s || (*end != '.' && *end != 'H' && *end != 'h' && *end != ':')) return false;
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (end == t || *end) return false;
    *l = (int)a;
    *h = (int)b;
    return true;
}

/* [[..]] nesting of the (L, H, L, H) scores. */
static cJSON *scores_json(const float *s, int L, int H)
{
    cJSON *a = cJSON_CreateArray();
    for (int la = 0; la < L; la++) {
        cJSON *b = cJSON_CreateArray();
        for (int ha = 0; ha < H; ha++)
            cJSON_AddItemToArray(b, tool_matrix(s + ((size_t)la * H + ha) * L * H, L, H));
        cJSON_AddItemToArray(a, b);
    }
    return a;
}

static cJSON *baseline_json(const ark_comp_baseline *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", b->mean);
    cJSON_AddNumberToObject(o, "std", b->std);
    cJSON_AddNumberToObject(o, "samples", b->samples);
    cJSON_AddNumberToObject(o, "seed", (double)b->seed);
    return o;
}

static cJSON *head_json(int l, int h)
{
    int v[2] = {l, h};
    return cJSON_CreateIntArray(v, 2);
}

static cJSON *pair_json(const ark_comp_pair *p, const ark_comp_baseline *b)
{
    cJSON *o = cJSON_CreateObject();
    char label[64];
    snprintf(label, sizeof label, "L%dH%d->L%dH%d", p->la, p->ha, p->lb, p->hb);
    cJSON_AddStringToObject(o, "mode", ark_comp_mode_name(p->mode));
    cJSON_AddItemToObject(o, "writer", head_json(p->la, p->ha));
    cJSON_AddItemToObject(o, "reader", head_json(p->lb, p->hb));
    cJSON_AddStringToObject(o, "label", label);
    cJSON_AddNumberToObject(o, "score", p->score);
    if (b && isfinite(p->z)) cJSON_AddNumberToObject(o, "z", p->z);
    if (b && b->mean > 0) cJSON_AddNumberToObject(o, "ratio", p->score / b->mean);
    return o;
}

/* The modes named by "mode": "q", "k", "v" or "all". */
static ark_status parse_modes(const cJSON *params, bool modes[3])
{
    const char *ms;
    ARK_TRY(tool_get_str(params, "mode", "all", &ms));
    memset(modes, 0, 3 * sizeof(bool));
    if (!strcasecmp(ms, "all")) { modes[0] = modes[1] = modes[2] = true; return ARK_OK; }
    ark_comp_mode mode;
    if (ark_comp_mode_parse(ms, &mode) != ARK_OK)
        return ark_fail(ARK_ERR_ARG, "\"mode\": \"%s\": expected \"q\", \"k\", \"v\" or \"all\"", ms);
    modes[mode] = true;
    return ARK_OK;
}

/* The baseline the parameters ask for (baseline_samples 0: none). */
static ark_status get_baseline(const ark_config *c, const cJSON *params, ark_comp_baseline *b, bool *have)
{
    int samples, seed;
    ARK_TRY(tool_get_int(params, "baseline_samples", 200, &samples));
    ARK_TRY(tool_get_int(params, "seed", 0, &seed));
    if (samples < 0 || samples == 1) return ark_fail(ARK_ERR_ARG, "\"baseline_samples\": %d, expected 0 (none) or >= 2", samples);
    if (seed < 0) return ark_fail(ARK_ERR_ARG, "\"seed\": %d, expected >= 0", seed);
    *have = samples > 0;
    return *have ? ark_composer_baseline(c->d_model, c->d_head, samples, (uint64_t)seed, b) : ARK_OK;
}

static int by_score(const void *x, const void *y)
{
    const ark_comp_pair *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : (int)a->mode - (int)b->mode;
}

static ark_status op_scores(composer *t, const cJSON *params, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int L = c->n_layers, H = c->n_heads, top;
    bool modes[3], have_b = false, include;
    double min_z;
    ark_comp_baseline b;
    ARK_TRY(parse_modes(params, modes));
    ARK_TRY(tool_get_int(params, "top", 10, &top));
    ARK_TRY(tool_get_num(params, "min_z", -INFINITY, &min_z));
    ARK_TRY(tool_get_bool(params, "include_scores", true, &include));
    if (top < 0) return ark_fail(ARK_ERR_ARG, "\"top\": %d, expected 0 (all) or a positive count", top);
    bool all = top == 0;
    if (all) top = L * (L - 1) / 2 * H * H;
    ARK_TRY(get_baseline(c, params, &b, &have_b));
    size_t n = (size_t)L * H * L * H;
    float *s = malloc(sizeof(float) * (n ? n : 1));
    ark_comp_pair *pairs = malloc(sizeof *pairs * (3 * (size_t)top + 1));
    if (!s || !pairs) { free(s); free(pairs); return ark_fail(ARK_ERR_NOMEM, "composer: out of memory"); }
    cJSON *jm = cJSON_AddObjectToObject(out, "modes");
    int np = 0;
    ark_status st = ARK_OK;
    for (int mi = 0; mi < 3 && st == ARK_OK; mi++) {
        if (!modes[mi]) continue;
        if ((st = ark_composition_scores(t->env.model, (ark_comp_mode)mi, s)) != ARK_OK) break;
        cJSON *o = cJSON_AddObjectToObject(jm, ark_comp_mode_name((ark_comp_mode)mi));
        if (include) cJSON_AddItemToObject(o, "scores", scores_json(s, L, H));
        np += ark_composition_top(s, L, H, (ark_comp_mode)mi, have_b ? &b : NULL, min_z, top, pairs + np);
    }
    if (st == ARK_OK) {
        qsort(pairs, (size_t)np, sizeof *pairs, by_score);
        if (!all && np > top) np = top;
        if (have_b) cJSON_AddItemToObject(out, "baseline", baseline_json(&b));
        cJSON *jt = cJSON_AddArrayToObject(out, "top");
        for (int i = 0; i < np; i++) cJSON_AddItemToArray(jt, pair_json(&pairs[i], have_b ? &b : NULL));
    }
    free(s);
    free(pairs);
    return st;
}

static ark_status op_pair(composer *t, const cJSON *params, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int la, ha, lb, hb;
    bool have_b = false;
    ark_comp_baseline b;
    ARK_TRY(composer_parse_head(c, params, "writer", &la, &ha));
    ARK_TRY(composer_parse_head(c, params, "reader", &lb, &hb));
    if (lb <= la) return ark_fail(ARK_ERR_ARG, "\"reader\": layer %d must come after the writer's layer %d", lb, la);
    ARK_TRY(get_baseline(c, params, &b, &have_b));
    cJSON_AddItemToObject(out, "writer", head_json(la, ha));
    cJSON_AddItemToObject(out, "reader", head_json(lb, hb));
    cJSON *jm = cJSON_AddObjectToObject(out, "modes");
    for (int mi = 0; mi < 3; mi++) {
        double s;
        ARK_TRY(ark_composition_score(t->env.model, (ark_comp_mode)mi, la, ha, lb, hb, &s));
        ark_comp_pair p = {(ark_comp_mode)mi, la, ha, lb, hb, (float)s,
                           have_b && b.std > 0 ? (float)((s - b.mean) / b.std) : NAN};
        cJSON_AddItemToObject(jm, ark_comp_mode_name((ark_comp_mode)mi), pair_json(&p, have_b ? &b : NULL));
    }
    if (have_b) cJSON_AddItemToObject(out, "baseline", baseline_json(&b));
    return ARK_OK;
}

static ark_status op_baseline(composer *t, const cJSON *params, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    bool have_b;
    ark_comp_baseline b;
    ARK_TRY(get_baseline(c, params, &b, &have_b));
    if (!have_b) return ark_fail(ARK_ERR_ARG, "\"baseline_samples\": 0 asks for no baseline");
    cJSON_AddNumberToObject(out, "d_model", c->d_model);
    cJSON_AddNumberToObject(out, "d_head", c->d_head);
    cJSON_AddItemToObject(out, "baseline", baseline_json(&b));
    return ARK_OK;
}

static ark_status op_virtual_head(composer *t, const cJSON *params, cJSON *out)
{
    const ark_config *c = ark_model_config(t->env.model);
    int la, ha, lb, hb, top_k;
    bool mat;
    ARK_TRY(composer_parse_head(c, params, "writer", &la, &ha));
    ARK_TRY(composer_parse_head(c, params, "reader", &lb, &hb));
    ARK_TRY(tool_get_int(params, "top_k", 5, &top_k));
    ARK_TRY(tool_get_bool(params, "materialize", false, &mat));
    if (top_k < 0) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d, expected >= 0", top_k);
    ark_virtual_head v;
    ARK_TRY(ark_virtual_head_of(t->env.model, la, ha, lb, hb, &v));
    cJSON_AddItemToObject(out, "writer", head_json(la, ha));
    cJSON_AddItemToObject(out, "reader", head_json(lb, hb));
    const ark_factored *f[3] = {v.ov, v.qk_q, v.qk_k};
    const char *names[3] = {"ov", "qk_q", "qk_k"};
    ark_status st = ARK_OK;
    for (int i = 0; i < 3 && st == ARK_OK; i++) {
        cJSON *o = NULL;
        st = composer_factored_json(f[i], top_k, mat, &o);
        if (st == ARK_OK) cJSON_AddItemToObject(out, names[i], o);
    }
    ark_virtual_head_free(&v);
    return st;
}

ark_status composer_factored_json(const ark_factored *f, int top_k, bool materialize, cJSON **out)
{
    int m = ark_factored_rows(f), n = ark_factored_cols(f), r = ark_factored_svd_rank(f);
    float *S = malloc(sizeof(float) * (r ? r : 1));
    if (!S) return ark_fail(ARK_ERR_NOMEM, "composer: out of memory");
    ark_status st = ark_factored_svd(f, NULL, S, NULL);
    if (st != ARK_OK) { free(S); return st; }
    cJSON *o = cJSON_CreateObject();
    int shape[2] = {m, n};
    cJSON_AddItemToObject(o, "shape", cJSON_CreateIntArray(shape, 2));
    cJSON_AddNumberToObject(o, "inner", ark_factored_inner(f));
    cJSON_AddNumberToObject(o, "frobenius", ark_factored_frobenius(f));
    cJSON *sv = cJSON_AddArrayToObject(o, "singular_values");
    for (int i = 0; i < r && i < top_k; i++) cJSON_AddItemToArray(sv, cJSON_CreateNumber(S[i]));
    free(S);
    if (materialize) {
        float *M = malloc(sizeof(float) * (size_t)m * n);
        if (!M) { cJSON_Delete(o); return ark_fail(ARK_ERR_NOMEM, "composer: out of memory materialising %d x %d", m, n); }
        ark_factored_materialize(f, M);
        cJSON_AddItemToObject(o, "matrix", tool_matrix(M, m, n));
        free(M);
    }
    *out = o;
    return ARK_OK;
}

static ark_status composer_run(void *state, const char *op, const char *params, char **result)
{
    composer *t = state;
    cJSON *p;
    *result = NULL;
    ARK_TRY(tool_parse_params("composer", params, &p));
    const ark_config *c = ark_model_config(t->env.model);
    cJSON *out = cJSON_CreateObject();
    ark_status st = composer_apply_process(t->env.model, p);
    cJSON_AddNumberToObject(out, "n_layers", c->n_layers);
    cJSON_AddNumberToObject(out, "n_heads", c->n_heads);
    cJSON_AddItemToObject(out, "processed", composer_processed_json(t->env.model));
    if (st != ARK_OK) {
    } else if (!op || !*op || !strcmp(op, "scores")) {
        st = op_scores(t, p, out);
    } else if (!strcmp(op, "pair")) {
        st = op_pair(t, p, out);
    } else if (!strcmp(op, "virtual_head")) {
        st = op_virtual_head(t, p, out);
    } else if (!strcmp(op, "baseline")) {
        st = op_baseline(t, p, out);
    } else {
        st = ark_fail(ARK_ERR_ARG, "composer: unknown operation \"%s\" (scores, pair, virtual_head, baseline)", op);
    }
    cJSON_Delete(p);
    if (st != ARK_OK) { cJSON_Delete(out); return st; }
    return tool_result(out, result);
}

static const char *const composer_ops[] = {
    "scores: mode (q|k|v|all), top, baseline_samples (0 = none), seed, min_z, include_scores, process",
    "pair: writer [L, H], reader [L, H], baseline_samples, seed, process",
    "virtual_head: writer [L, H], reader [L, H], top_k, materialize, process",
    "baseline: baseline_samples, seed",
    NULL,
};

const ark_tool_def ark_tool_composer = {
    "composer", "Q-, K- and V-composition scores between heads, a random baseline, virtual heads",
    composer_create, composer_run, composer_destroy, composer_ops,
};
