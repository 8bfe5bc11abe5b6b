/* The `causal` tool's generic entry point: JSON parameters -> causal
 * tracing or the neuron intervention (include/arrakis/tool_causal.h) -> JSON. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arrakis/tool_causal.h"
#include "core/error.h"
#include "tools/builtin.h"
#include "tools/causal_internal.h"
#include "tools/tool_util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cJSON *num(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static cJSON *num_matrix(const double *v, int rows, int cols, double minus)
{
    cJSON *a = cJSON_CreateArray();
    for (int r = 0; r < rows; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < cols; c++) cJSON_AddItemToArray(row, num(v[(size_t)r * cols + c] - minus));
        cJSON_AddItemToArray(a, row);
    }
    return a;
}

/* ---- trace ---- */

/* The noise: a number (nu) or "Ksigma" (nu = K sigma, default "3sigma"). */
static ark_status parse_noise(const cJSON *p, double *nu, double *mult)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "noise");
    *nu = 0;
    *mult = 3;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble > 0)) return ark_fail(ARK_ERR_ARG, "\"noise\": expected a positive number or \"3sigma\"");
        *nu = v->valuedouble;
        *mult = 0;
        return ARK_OK;
    }
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    char *end;
    double k = strtod(s, &end);
    if (end == s) k = 1;
    if (!strcmp(end, "sigma") && k > 0) { *mult = k; return ARK_OK; }
    if (end != s && !*end && k > 0) { *nu = k; *mult = 0; return ARK_OK; }
    return ark_fail(ARK_ERR_ARG, "\"noise\": \"%s\" is neither a number nor \"Ksigma\" (e.g. \"3sigma\")", s);
}

static ark_status parse_trace_opts(const cJSON *p, ark_trace_opts *o, double *mult)
{
    *o = ark_trace_opts_default();
    const char *kind;
    ARK_TRY(tool_get_str(p, "kind", "resid", &kind));
    ARK_TRY(ark_trace_kind_parse(kind, &o->kind));
    ARK_TRY(tool_get_int(p, "samples", 10, &o->samples));
    if (o->samples < 1) return ark_fail(ARK_ERR_ARG, "\"samples\": expected at least 1");
    ARK_TRY(tool_get_int(p, "window", 10, &o->window));
    if (o->window < 1) return ark_fail(ARK_ERR_ARG, "\"window\": expected at least 1 layer");
    double seed;
    ARK_TRY(tool_get_num(p, "seed", 0, &seed));
    if (seed < 0 || seed != floor(seed)) return ark_fail(ARK_ERR_ARG, "\"seed\": expected a non-negative integer");
    o->seed = (uint64_t)seed;
    return parse_noise(p, &o->noise, mult);
}

static const char *label_of(const ark_trace_prompt *p, int t)
{
    for (int k = 0; k < ARK_TPOS_N; k++)
        if (ark_trace_pos_is(k, t, p->T, p->subj_begin, p->subj_end)) return ark_trace_pos_name(k);
    return "";
}

static cJSON *fact_json(const ark_tool_env *env, const causal_fact *f, const ark_trace_result *r)
{
    const ark_trace_prompt *p = &f->p;
    cJSON *o = cJSON_CreateObject();
    if (f->prompt) cJSON_AddStringToObject(o, "prompt", f->prompt);
    if (f->subject) cJSON_AddStringToObject(o, "subject", f->subject);
    char *a = tool_token_str(env, p->answer);
    cJSON_AddStringToObject(o, "answer", a);
    free(a);
    cJSON_AddNumberToObject(o, "answer_id", p->answer);
    cJSON *ids = cJSON_CreateArray(), *kinds = cJSON_CreateArray(), *span = cJSON_CreateArray();
    for (int t = 0; t < p->T; t++) {
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(p->ids[t]));
        cJSON_AddItemToArray(kinds, cJSON_CreateString(label_of(p, t)));
    }
    cJSON_AddItemToArray(span, cJSON_CreateNumber(p->subj_begin));
    cJSON_AddItemToArray(span, cJSON_CreateNumber(p->subj_end));
    cJSON_AddItemToObject(o, "input_ids", ids);
    cJSON_AddItemToObject(o, "tokens", tool_str_tokens(env, p->ids, p->T));
    cJSON_AddItemToObject(o, "subject_span", span);
    cJSON_AddItemToObject(o, "position_kinds", kinds);
    cJSON_AddNumberToObject(o, "p_clean", r->p_clean);
    cJSON_AddNumberToObject(o, "p_corrupted", r->p_corrupted);
    cJSON_AddNumberToObject(o, "total_effect", r->p_clean - r->p_corrupted);
    cJSON_AddBoolToObject(o, "recalled", r->clean_top == p->answer);
    char *top = tool_token_str(env, r->clean_top);
    cJSON_AddStringToObject(o, "clean_top", top);
    free(top);
    cJSON_AddItemToObject(o, "p_restored", num_matrix(r->p_restored, r->n_rows, r->T, 0));
    cJSON_AddItemToObject(o, "indirect_effect", num_matrix(r->p_restored, r->n_rows, r->T, r->p_corrupted));
    return o;
}

static cJSON *peak_json(const ark_model *m, const ark_trace_opts *o, int row, int kind, double v)
{
    char name[64];
    ark_trace_row_name(m, o, row, name, sizeof name);
    cJSON *pk = cJSON_CreateObject();
    cJSON_AddNumberToObject(pk, "row", row);
    cJSON_AddStringToObject(pk, "row_name", name);
    if (kind >= 0) cJSON_AddStringToObject(pk, "position_kind", ark_trace_pos_name(kind));
    cJSON_AddNumberToObject(pk, "indirect_effect", v);
    return pk;
}

/* The average indirect effect into j, over the position kinds some fact
 * has (the table's columns, in ark_trace_pos order). */
static void add_aie(cJSON *j, const ark_model *m, const ark_trace_opts *o, const ark_trace_aie *a)
{
    cJSON *kinds = cJSON_CreateArray(), *table = cJSON_CreateArray(), *by = cJSON_CreateObject();
    cJSON *per = cJSON_CreateObject(), *peaks = cJSON_CreateObject();
    int R = a->n_rows, best_r = -1, best_k = -1;
    for (int k = 0; k < ARK_TPOS_N; k++)
        if (a->facts_per_kind[k]) cJSON_AddItemToArray(kinds, cJSON_CreateString(ark_trace_pos_name(k)));
    for (int r = 0; r < R; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k < ARK_TPOS_N; k++)
            if (a->facts_per_kind[k]) cJSON_AddItemToArray(row, num(a->table[(size_t)r * ARK_TPOS_N + k]));
        cJSON_AddItemToArray(table, row);
    }
    for (int k = 0; k < ARK_TPOS_N; k++) {
        if (!a->facts_per_kind[k]) continue;
        cJSON *col = cJSON_CreateArray();
        int kr = 0;
        for (int r = 0; r < R; r++) {
            double v = a->table[(size_t)r * ARK_TPOS_N + k];
            cJSON_AddItemToArray(col, num(v));
            if (v > a->table[(size_t)kr * ARK_TPOS_N + k]) kr = r;
            if (best_r < 0 || v > a->table[(size_t)best_r * ARK_TPOS_N + best_k]) { best_r = r; best_k = k; }
        }
        cJSON_AddItemToObject(by, ark_trace_pos_name(k), col);
        cJSON_AddNumberToObject(per, ark_trace_pos_name(k), a->facts_per_kind[k]);
        cJSON_AddItemToObject(peaks, ark_trace_pos_name(k), peak_json(m, o, kr, -1, a->table[(size_t)kr * ARK_TPOS_N + k]));
    }
    cJSON_AddItemToObject(j, "position_kinds", kinds);
    cJSON_AddNumberToObject(j, "mean_p_clean", a->mean_p_clean);
    cJSON_AddNumberToObject(j, "mean_p_corrupted", a->mean_p_corrupted);
    cJSON_AddNumberToObject(j, "total_effect", a->mean_total_effect);
    cJSON_AddItemToObject(j, "indirect_effect_table", table);
    cJSON_AddItemToObject(j, "aie_by_kind", by);
    cJSON_AddItemToObject(j, "facts_per_kind", per);
    if (best_r >= 0) cJSON_AddItemToObject(j, "peak", peak_json(m, o, best_r, best_k, a->table[(size_t)best_r * ARK_TPOS_N + best_k]));
    cJSON_AddItemToObject(j, "peak_by_kind", peaks);
    /* the informative early site: the subject's tokens, after the embeddings (resid) */
    int sr = -1, sk = -1;
    for (int r = o->kind == ARK_TRACE_RESID ? 1 : 0; r < R; r++)
        for (int k = ARK_TPOS_SUBJECT_FIRST; k <= ARK_TPOS_SUBJECT_LAST; k++) {
            double v = a->table[(size_t)r * ARK_TPOS_N + k];
            if (a->facts_per_kind[k] && (sr < 0 || v > a->table[(size_t)sr * ARK_TPOS_N + sk])) { sr = r; sk = k; }
        }
    if (sr >= 0) cJSON_AddItemToObject(j, o->kind == ARK_TRACE_RESID ? "peak_at_subject_after_embeddings" : "peak_at_subject",
                                       peak_json(m, o, sr, sk, a->table[(size_t)sr * ARK_TPOS_N + sk]));
}

/* The settings (with the names ROME's and the reference tables' use). */
static cJSON *trace_header(const ark_model *m, const ark_trace_opts *o, double sigma, double mult)
{
    cJSON *j = cJSON_CreateObject(), *rows = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "method", "ROME causal tracing (Meng et al. 2022): Gaussian noise on the subject token embeddings, "
                                         "clean states restored one at a time");
    cJSON_AddStringToObject(j, "kind", ark_trace_kind_name(o->kind));
    if (o->kind != ARK_TRACE_RESID) cJSON_AddNumberToObject(j, "window", o->window);
    cJSON_AddNumberToObject(j, "n_noise_samples", o->samples);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "noise_std", o->noise);
    cJSON_AddItemToObject(j, "embedding_sigma", mult > 0 ? cJSON_CreateNumber(sigma) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "noise_sigmas", mult > 0 ? cJSON_CreateNumber(mult) : cJSON_CreateNull());
    for (int r = 0; r < ark_trace_rows(m, o->kind); r++) {
        char name[64];
        ark_trace_row_name(m, o, r, name, sizeof name);
        cJSON_AddItemToArray(rows, cJSON_CreateString(name));
    }
    cJSON_AddItemToObject(j, "rows", rows);
    return j;
}

/* The AIE over every fact, or over those the model recalls (its top
 * prediction is the answer; ROME traces only such "known" facts). */
static ark_status aie_over(const ark_trace_prompt *pr, const ark_trace_result *res, int n, bool only_recalled, ark_trace_aie *aie)
{
    if (!only_recalled) return ark_trace_aie_compute(pr, res, n, aie);
    ark_trace_prompt *p = malloc(sizeof *p * n);
    ark_trace_result *r = malloc(sizeof *r * n);
    int k = 0;
    for (int i = 0; p && r && i < n; i++)
        if (res[i].clean_top == pr[i].answer) { p[k] = pr[i]; r[k++] = res[i]; }
    ark_status st = !p || !r ? ark_fail(ARK_ERR_NOMEM, "out of memory")
                  : k ? ark_trace_aie_compute(p, r, k, aie)
                      : ark_fail(ARK_ERR_ARG, "\"only_recalled\": the model recalls none of the %d facts", n);
    free(p);
    free(r);
    return st;
}

static ark_status op_trace(const ark_tool_env *env, const cJSON *p, char **result)
{
    double t0 = now_s(), mult, sigma = 0;
    ark_trace_opts o;
    bool per_fact, only_recalled;
    ARK_TRY(parse_trace_opts(p, &o, &mult));
    ARK_TRY(tool_get_bool(p, "per_fact", true, &per_fact));
    ARK_TRY(tool_get_bool(p, "only_recalled", false, &only_recalled));
    causal_facts fs;
    ARK_TRY(causal_facts_from_params(env, p, true, &fs));
    ark_trace_prompt *pr = malloc(sizeof *pr * fs.n);
    ark_trace_result *res = calloc((size_t)fs.n, sizeof *res);
    ark_status st = pr && res ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; st == ARK_OK && i < fs.n; i++) pr[i] = fs.f[i].p;
    if (st == ARK_OK && mult > 0 && (st = ark_trace_subject_sigma(env->model, pr, fs.n, &sigma)) == ARK_OK) o.noise = mult * sigma;
    if (st == ARK_OK && mult > 0 && !(o.noise > 0))
        st = ark_fail(ARK_ERR_ARG, "\"noise\": the subject embeddings have no spread (sigma 0); give nu as a number");
    for (int i = 0; st == ARK_OK && i < fs.n; i++) {
        st = ark_trace(env->model, &pr[i], &o, (uint64_t)i, &res[i]);
        if (st != ARK_OK) ark_fail_prefix(st, "%s", fs.f[i].where);
    }
    ark_trace_aie aie = {0};
    if (st == ARK_OK) st = aie_over(pr, res, fs.n, only_recalled, &aie);
    if (st == ARK_OK) {
        cJSON *j = trace_header(env->model, &o, sigma, mult), *facts = cJSON_CreateArray();
        int recalled = 0;
        for (int i = 0; i < fs.n; i++) {
            recalled += res[i].clean_top == pr[i].answer;
            if (per_fact) cJSON_AddItemToArray(facts, fact_json(env, &fs.f[i], &res[i]));
        }
        cJSON_AddNumberToObject(j, "n_facts", fs.n);
        cJSON_AddNumberToObject(j, "n_recalled", recalled);
        cJSON_AddNumberToObject(j, "n_facts_not_recalled", fs.n - recalled);
        cJSON_AddBoolToObject(j, "only_recalled", only_recalled);
        add_aie(j, env->model, &o, &aie);
        cJSON_AddItemToObject(j, "facts", facts);
        cJSON_AddNumberToObject(j, "seconds", now_s() - t0);
        st = tool_result(j, result);
    }
    ark_trace_aie_free(&aie);
    for (int i = 0; res && i < fs.n; i++) ark_trace_result_free(&res[i]);
    free(res);
    free(pr);
    causal_facts_free(&fs);
    return st;
}

/* ---- neuron ---- */

/* "all" (NULL), "last", "subject", or a list of ints. */
static ark_status parse_positions(const cJSON *p, const ark_trace_prompt *pr, int **pos, int *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "positions");
    *pos = NULL;
    *n = 0;
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, "all"))) return ARK_OK;
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "last")) {
        *pos = malloc(sizeof(int));
        (*pos)[(*n)++] = pr->T - 1;
        return ARK_OK;
    }
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "subject")) {
        if (pr->subj_end <= pr->subj_begin) return ark_fail(ARK_ERR_ARG, "\"positions\": \"subject\" needs a \"subject\"");
        *pos = malloc(sizeof(int) * (pr->subj_end - pr->subj_begin));
        for (int t = pr->subj_begin; t < pr->subj_end; t++) (*pos)[(*n)++] = t;
        return ARK_OK;
    }
    if (cJSON_IsString(v)) return ark_fail(ARK_ERR_ARG, "\"positions\": \"%s\" (expected all, last, subject or a list of ints)", v->valuestring);
    return tool_get_ints(p, "positions", pos, n);
}

static ark_status op_neuron(const ark_tool_env *env, const cJSON *p, char **result)
{
    int layer, neuron;
    double scale;
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(p, "layer"), *nv = cJSON_GetObjectItemCaseSensitive(p, "neuron");
    if (!lv || !nv) return ark_fail(ARK_ERR_ARG, "\"layer\" and \"neuron\" are required (blocks.LAYER.mlp.hook_post index NEURON)");
    ARK_TRY(tool_get_int(p, "layer", 0, &layer));
    ARK_TRY(tool_get_int(p, "neuron", 0, &neuron));
    ARK_TRY(tool_get_num(p, "scale", 0, &scale));
    causal_facts fs;
    ARK_TRY(causal_facts_from_params(env, p, false, &fs));
    cJSON *j = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddNumberToObject(j, "layer", layer);
    cJSON_AddNumberToObject(j, "neuron", neuron);
    char hook[64];
    snprintf(hook, sizeof hook, "blocks.%d.mlp.hook_post", layer);
    cJSON_AddStringToObject(j, "hook", hook);
    cJSON_AddNumberToObject(j, "scale", scale);
    ark_status st = ARK_OK;
    double mean = 0;
    for (int i = 0; st == ARK_OK && i < fs.n; i++) {
        const ark_trace_prompt *pr = &fs.f[i].p;
        int *pos = NULL, n = 0;
        double before = 0, after = 0;
        st = parse_positions(p, pr, &pos, &n);
        if (st == ARK_OK) st = ark_trace_neuron(env->model, pr->ids, pr->T, pr->answer, layer, neuron, (float)scale, pos, n, &before, &after);
        if (st != ARK_OK) { ark_fail_prefix(st, "%s", fs.f[i].where); free(pos); break; }
        cJSON *o = cJSON_CreateObject(), *pa = cJSON_CreateArray();
        if (fs.f[i].prompt) cJSON_AddStringToObject(o, "prompt", fs.f[i].prompt);
        char *a = tool_token_str(env, pr->answer);
        cJSON_AddStringToObject(o, "answer", a);
        free(a);
        cJSON_AddNumberToObject(o, "answer_id", pr->answer);
        for (int k = 0; k < (pos ? n : pr->T); k++) {
            int t = pos ? (pos[k] < 0 ? pos[k] + pr->T : pos[k]) : k;
            cJSON_AddItemToArray(pa, cJSON_CreateNumber(t));
        }
        cJSON_AddItemToObject(o, "positions", pa);
        cJSON_AddNumberToObject(o, "p_before", before);
        cJSON_AddNumberToObject(o, "p_after", after);
        cJSON_AddNumberToObject(o, "effect", after - before);
        cJSON_AddItemToArray(list, o);
        mean += (after - before) / fs.n;
        free(pos);
    }
    cJSON_AddItemToObject(j, "results", list);
    cJSON_AddNumberToObject(j, "mean_effect", mean);
    causal_facts_free(&fs);
    if (st != ARK_OK) { cJSON_Delete(j); return st; }
    return tool_result(j, result);
}

/* ---- the tool ---- */

static ark_status causal_create(const ark_tool_env *env, void **state)
{
    ark_tool_env *copy = malloc(sizeof *copy);
    if (!copy) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    *copy = *env;
    *state = copy;
    return ARK_OK;
}

static void causal_destroy(void *state) { free(state); }

static ark_status causal_run(void *state, const char *op, const char *params, char **result)
{
    const ark_tool_env *env = state;
    cJSON *p;
    *result = NULL;
    ARK_TRY(tool_parse_params("causal", params, &p));
    ark_status st;
    if (!op || !*op || !strcmp(op, "trace")) st = op_trace(env, p, result);
    else if (!strcmp(op, "neuron")) st = op_neuron(env, p, result);
    else st = ark_fail(ARK_ERR_ARG, "causal: unknown operation \"%s\" (trace, neuron)", op);
    cJSON_Delete(p);
    return st;
}

static const char *const causal_ops[] = {
    "trace: prompt+subject+answer | tokens+subject_span+answer | facts (list) | facts_file (JSONL); samples (10), "
    "noise (nu or \"3sigma\"), kind (resid|mlp|attn), window (10), seed, per_fact, only_recalled",
    "neuron: prompt|tokens, answer, [subject], layer, neuron, scale (0 = zero), positions (all|last|subject|[ints]); or facts",
    NULL};

const ark_tool_def ark_tool_causal = {"causal", "causal tracing (ROME): restore clean states into subject-corrupted runs; AIE; neuron interventions",
                                      causal_create, causal_run, causal_destroy, causal_ops};
