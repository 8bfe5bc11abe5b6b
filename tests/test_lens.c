/* The logit lens, direct logit attribution, the decomposer and residual
 * statistics against independent references.
 *
 * On every model folder under fixtures/models (discovered, not listed), both
 * reference sequences, |ours - ref| <= 1e-4 + 1e-4 |ref|:
 *   - the lens' last point equals the reference logits; every point equals
 *     the final norm and the unembedding applied here, in double precision,
 *     to the reference streams (hidden_states.j, layers.i.resid_mid,
 *     layers.{L-1}.out), with the final norm's weights and the unembedding
 *     read here from model.safetensors by their Hugging Face names; both the
 *     own-scale lens and the cached-scale lens (the scale computed here from
 *     the reference final stream);
 *   - direct logit attribution by layer, head and neuron, to a token, a
 *     difference and against the vocabulary mean: the parts sum to
 *     logit - b_final . u - b_U . e_u exactly as tool_logit.h states, with the
 *     logits, b_final and W_U from the reference files (and after fold-ln,
 *     where b_U carries the bias instead);
 *   - the decomposer's parts sum to the reference stream, their dot products
 *     with W_U[:, t] to the stream's;
 *   - residual norms, movements, cosines and shares equal those computed here
 *     from the reference streams.
 *
 * The known answer on trained/induction-gpt2 (per-head DLA), the lens'
 * top-k / rank helpers, singular directions and the error paths are in
 * test_lens_known.c. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_decomposer.h"
#include "arrakis/tool_logit.h"
#include "arrakis/tool_logit_lens.h"
#include "arrakis/tool_residual.h"
#include "lens_testutil.h"
#include "testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

/* ---- the reference side: files read here, never through the library ---- */

typedef struct refm {
    const char *dir;
    char family[32];
    ark_st_file *wf, *rf;
    int L, d, V, kind;   /* kind: 0 LayerNorm, 1 RMSNorm, 2 Gemma RMSNorm (1 + w) */
    double eps;
    float *lnf_w, *lnf_b; /* (d); lnf_b NULL without a bias */
    float *W_U;          /* (V, d) as stored by Hugging Face */
} refm;

static float *st_copy(ark_st_file *f, const char *name, int64_t *numel)
{
    const ark_st_tensor *t = ark_st_find(f, name);
    if (!t) return NULL;
    float *data, *copy = malloc(sizeof(float) * t->numel);
    bool owned;
    assert_int_equal(ark_st_to_f32(f, t, &data, &owned), ARK_OK);
    memcpy(copy, data, sizeof(float) * t->numel);
    if (owned) free(data);
    if (numel) *numel = t->numel;
    return copy;
}

static float *ref_get(const refm *r, int seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static float *ref_get(const refm *r, int seq, const char *fmt, ...)
{
    char key[256];
    int n = snprintf(key, sizeof key, "seq%d.", seq);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key + n, sizeof key - n, fmt, ap);
    va_end(ap);
    float *x = st_copy(r->rf, key, NULL);
    if (!x) fail_msg("%s: reference.safetensors has no %s", r->dir, key);
    return x;
}

static int32_t *ref_ids(const refm *r, int seq, int *T)
{
    char key[64];
    snprintf(key, sizeof key, "seq%d.input_ids", seq);
    const ark_st_tensor *t = ark_st_find(r->rf, key);
    assert_non_null(t);
    *T = (int)t->numel;
    int32_t *ids = malloc(sizeof(int32_t) * *T);
    for (int i = 0; i < *T; i++) ids[i] = (int32_t)((const int64_t *)t->data)[i];
    return ids;
}

static double cfg_num(const cJSON *c, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItem(c, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Final norm and unembedding by Hugging Face tensor name and family. */
static void refm_open(refm *r, const char *dir)
{
    memset(r, 0, sizeof *r);
    r->dir = dir;
    char path[4400];
    snprintf(path, sizeof path, "%.4000s/config.json", dir);
    char *text = read_file(path, NULL);
    cJSON *c = cJSON_Parse(text);
    free(text);
    assert_non_null(c);
    snprintf(r->family, sizeof r->family, "%s", cJSON_GetObjectItem(c, "model_type")->valuestring);
    const char *f = r->family;
    bool gpt = !strcmp(f, "gpt2") || !strcmp(f, "gpt_neo"), neox = !strcmp(f, "gpt_neox");
    r->kind = gpt || neox || !strcmp(f, "stablelm") ? 0 : !strcmp(f, "gemma") ? 2 : 1;
    r->eps = gpt ? cfg_num(c, "layer_norm_epsilon", 1e-5)
                 : r->kind == 0 ? cfg_num(c, "layer_norm_eps", 1e-5)
                                : cfg_num(c, "rms_norm_eps", !strcmp(f, "phi3") ? 1e-5 : 1e-6);
    cJSON_Delete(c);
    snprintf(path, sizeof path, "%.4000s/model.safetensors", dir);
    assert_int_equal(ark_st_open(path, &r->wf), ARK_OK);
    snprintf(path, sizeof path, "%.4000s/reference.safetensors", dir);
    assert_int_equal(ark_st_open(path, &r->rf), ARK_OK);
    const char *nw = gpt ? "transformer.ln_f.weight" : neox ? "gpt_neox.final_layer_norm.weight" : "model.norm.weight";
    const char *nb = gpt ? "transformer.ln_f.bias" : neox ? "gpt_neox.final_layer_norm.bias" : "model.norm.bias";
    const char *un = neox ? "embed_out.weight" : "lm_head.weight";
    const char *emb = gpt ? "transformer.wte.weight" : neox ? "gpt_neox.embed_in.weight" : "model.embed_tokens.weight";
    int64_t n;
    r->lnf_w = st_copy(r->wf, nw, &n);
    assert_non_null(r->lnf_w);
    r->d = (int)n;
    r->lnf_b = st_copy(r->wf, nb, NULL);
    r->W_U = st_copy(r->wf, un, &n);
    if (!r->W_U) r->W_U = st_copy(r->wf, emb, &n); /* tied */
    assert_non_null(r->W_U);
    r->V = (int)(n / r->d);
    for (r->L = 0;; r->L++) {
        char key[64];
        snprintf(key, sizeof key, "seq0.layers.%d.out", r->L);
        if (!ark_st_find(r->rf, key)) break;
    }
}

static void refm_close(refm *r)
{
    free(r->lnf_w);
    free(r->lnf_b);
    free(r->W_U);
    ark_st_close(r->wf);
    ark_st_close(r->rf);
}

/* The final norm's own scale of x (d). */
static double own_scale(const refm *r, const float *x)
{
    double mean = 0, var = 0;
    if (r->kind == 0) {
        for (int j = 0; j < r->d; j++) mean += x[j];
        mean /= r->d;
    }
    for (int j = 0; j < r->d; j++) var += (x[j] - mean) * (x[j] - mean);
    return sqrt(var / r->d + r->eps);
}

/* lens(x) = norm(x; scale s) W_U^T into out (V). */
static void ref_lens(const refm *r, const float *x, double s, float *out)
{
    int d = r->d;
    double mean = 0, *y = malloc(sizeof(double) * d);
    if (r->kind == 0) {
        for (int j = 0; j < d; j++) mean += x[j];
        mean /= d;
    }
    for (int j = 0; j < d; j++) {
        double w = r->kind == 2 ? 1.0 + r->lnf_w[j] : r->lnf_w[j];
        y[j] = (x[j] - mean) / s * w + (r->lnf_b ? r->lnf_b[j] : 0.0);
    }
    for (int v = 0; v < r->V; v++) {
        double acc = 0;
        for (int j = 0; j < d; j++) acc += y[j] * r->W_U[(size_t)v * d + j];
        out[v] = (float)acc;
    }
    free(y);
}

/* The reference stream of a point label ("3_pre", "3_mid", "final_post"). */
static float *ref_point(const refm *r, int seq, const char *label)
{
    int l;
    if (!strcmp(label, "final_post")) return ref_get(r, seq, "layers.%d.out", r->L - 1);
    if (sscanf(label, "%d_pre", &l) == 1 && strstr(label, "_pre")) return ref_get(r, seq, "hidden_states.%d", l);
    if (sscanf(label, "%d_mid", &l) == 1) return ref_get(r, seq, "layers.%d.resid_mid", l);
    fail_msg("unexpected point label %s", label);
    return NULL;
}

static void check_close(const refm *r, int seq, const char *what, const float *ours, const float *ref, size_t n)
{
    size_t worst;
    double q = tol_ratio(ours, ref, n, ATOL, RTOL, &worst);
    if (!(q <= 1.0))
        fail_msg("%s seq%d %s: element %zu is %.7g, reference %.7g (%.2fx the tolerance)", r->dir, seq, what, worst,
                 ours[worst], ref[worst], q);
}

static void check_num(const refm *r, int seq, const char *what, double ours, double ref)
{
    if (!(fabs(ours - ref) <= ATOL + RTOL * fabs(ref)))
        fail_msg("%s seq%d %s: %.8g, reference %.8g", r->dir, seq, what, ours, ref);
}

/* plan_of: lens_testutil.h */

/* ---- the logit lens ---- */

static void check_lens(const refm *r, ark_model *m, int seq, const int32_t *ids, int T)
{
    ark_lens_opts o = ARK_LENS_OPTS_INIT;
    o.incl_mid = true;
    o.scale = ARK_LENS_CACHED_SCALE;
    char **names;
    ark_plan *plan = (assert_int_equal(ark_logit_lens_hooks(m, &o, &names), ARK_OK), plan_of(m, names));
    ark_cache *c;
    assert_int_equal(ark_run(m, ids, 1, T, NULL, plan, &c), ARK_OK);
    float *logits = ref_get(r, seq, "logits"), *fin = ref_get(r, seq, "layers.%d.out", r->L - 1);
    float *want = malloc(sizeof(float) * T * r->V);
    for (int sc = 0; sc < 2; sc++) {
        o.scale = sc ? ARK_LENS_CACHED_SCALE : ARK_LENS_OWN_SCALE;
        ark_lens *l;
        assert_int_equal(ark_logit_lens(m, c, &o, &l), ARK_OK);
        bool parallel = !strcmp(r->family, "gpt_neox");
        assert_int_equal(l->n, parallel ? r->L + 1 : 2 * r->L + 1);
        assert_string_equal(l->labels[l->n - 1], "final_post");
        assert_int_equal(l->P, T);
        check_close(r, seq, "lens final_post vs logits", ark_lens_at(l, l->n - 1, 0, 0), logits, (size_t)T * r->V);
        for (int i = 0; i < l->n; i++) {
            float *x = ref_point(r, seq, l->labels[i]);
            for (int t = 0; t < T; t++)
                ref_lens(r, x + (size_t)t * r->d, own_scale(r, sc ? fin + (size_t)t * r->d : x + (size_t)t * r->d),
                         want + (size_t)t * r->V);
            char what[96];
            snprintf(what, sizeof what, "lens (%s scale) at %s", sc ? "cached" : "own", l->labels[i]);
            check_close(r, seq, what, ark_lens_at(l, i, 0, 0), want, (size_t)T * r->V);
            free(x);
        }
        ark_lens_free(l);
    }
    /* one position */
    o.pos = -2;
    ark_lens *l;
    assert_int_equal(ark_logit_lens(m, c, &o, &l), ARK_OK);
    assert_int_equal(l->P, 1);
    assert_int_equal(l->pos, T - 2);
    check_close(r, seq, "lens at pos -2", ark_lens_at(l, l->n - 1, 0, 0), logits + (size_t)(T - 2) * r->V, r->V);
    ark_lens_free(l);
    free(want);
    free(fin);
    free(logits);
    ark_cache_free(c);
    ark_plan_free(plan);
}

/* ---- direct logit attribution ---- */

/* u = W_U[:, t] (- W_U[:, a], or - the vocabulary mean when a == -2). */
static void ref_direction(const refm *r, int32_t t, int32_t a, double *u)
{
    for (int j = 0; j < r->d; j++) {
        u[j] = r->W_U[(size_t)t * r->d + j];
        if (a >= 0) u[j] -= r->W_U[(size_t)a * r->d + j];
        if (a == -2) {
            double mean = 0;
            for (int v = 0; v < r->V; v++) mean += r->W_U[(size_t)v * r->d + j];
            u[j] -= mean / r->V;
        }
    }
}

/* Check tool_logit.h's sum rule at every row/position of d, with
 * logit_u from the reference logits, b_final . u from the files, and b_U
 * either 0 (as loaded) or b_final . W_U (after fold-ln, folded == true). */
static void check_dla_sums(const refm *r, int seq, const ark_dla *d, const int32_t *tok, int32_t ag,
                           const float *logits, bool folded, const char *what)
{
    double *u = malloc(sizeof(double) * r->d);
    for (int p = 0; p < d->P; p++) {
        int t = d->pos >= 0 ? d->pos : p;
        ref_direction(r, tok[p], ag, u);
        const float *row = logits + (size_t)t * r->V;
        double lu = row[tok[p]], nb = 0, sum = 0;
        if (ag >= 0) lu -= row[ag];
        if (ag == -2) {
            double mean = 0;
            for (int v = 0; v < r->V; v++) mean += row[v];
            lu -= mean / r->V;
        }
        for (int j = 0; r->lnf_b && j < r->d; j++) nb += r->lnf_b[j] * u[j];
        for (int i = 0; i < d->n; i++) sum += d->attr[(size_t)i * d->P + p];
        char w[160];
        snprintf(w, sizeof w, "%s pos %d: sum of parts = logit - b_final.u - b_U.e_u", what, t);
        check_num(r, seq, w, sum, lu - nb); /* b_final . u moves into b_U . e_u by fold-ln */
        check_num(r, seq, "logit_u", d->logit[p], lu);
        check_num(r, seq, folded ? "b_U . e_u (folded)" : "b_final . u", folded ? d->unembed_bias[p] : d->norm_bias[p], nb);
        assert_true(fabsf(folded ? d->norm_bias[p] : d->unembed_bias[p]) <= 1e-6f);
        check_num(r, seq, "all parts = logit", sum + d->norm_bias[p] + d->unembed_bias[p], lu);
    }
    free(u);
}

static void check_dla(const refm *r, ark_model *m, int seq, const int32_t *ids, int T, bool folded)
{
    float *logits = ref_get(r, seq, "logits");
    int32_t t = ids[1], a = ids[2] != ids[1] ? ids[2] : (ids[1] + 1) % r->V;
    int32_t *next = malloc(sizeof(int32_t) * T), *against = malloc(sizeof(int32_t) * T);
    for (int p = 0; p < T; p++) { next[p] = ids[(p + 1) % T]; against[p] = a; }
    for (int by = ARK_DLA_BY_LAYER; by <= ARK_DLA_BY_NEURON; by++) {
        ark_dla_opts o = ARK_DLA_OPTS_INIT;
        o.by = (ark_dla_by)by;
        char **names;
        ark_plan *plan = (assert_int_equal(ark_dla_hooks(m, &o, &names), ARK_OK), plan_of(m, names));
        ark_cache *c;
        assert_int_equal(ark_run(m, ids, 1, T, NULL, plan, &c), ARK_OK);
        ark_dla *d;
        static const char *bys[] = {"by layer", "by head", "by neuron"};
        o.pos = -1; /* one position: token, difference, vocabulary mean */
        assert_int_equal(ark_logit_attribution(m, c, &o, &t, NULL, &d), ARK_OK);
        check_dla_sums(r, seq, d, &t, -1, logits, folded, bys[by]);
        ark_dla_free(d);
        assert_int_equal(ark_logit_attribution(m, c, &o, &t, &a, &d), ARK_OK);
        check_dla_sums(r, seq, d, &t, a, logits, folded, bys[by]);
        ark_dla_free(d);
        o.against_mean = true;
        assert_int_equal(ark_logit_attribution(m, c, &o, &t, NULL, &d), ARK_OK);
        check_dla_sums(r, seq, d, &t, -2, logits, folded, bys[by]);
        ark_dla_free(d);
        o.against_mean = false;
        o.pos = ARK_ALL_POS; /* every position, each with its own target */
        assert_int_equal(ark_logit_attribution(m, c, &o, next, against, &d), ARK_OK);
        assert_int_equal(d->P, T);
        check_dla_sums(r, seq, d, next, a, logits, folded, bys[by]);
        ark_dla_free(d);
        ark_cache_free(c);
        ark_plan_free(plan);
    }
    free(next);
    free(against);
    free(logits);
}

/* ---- tools over JSON: decomposer, lens ---- */

static cJSON *tool_json(ark_model *m, const char *tool, const char *op, cJSON *params)
{
    ark_tool_env env = {m, NULL};
    ark_tool *t;
    assert_int_equal(ark_tool_new(tool, &env, &t), ARK_OK);
    char *p = cJSON_PrintUnformatted(params), *out = NULL;
    ark_status s = ark_tool_run(t, op, p, &out);
    if (s != ARK_OK) fail_msg("tool %s %s: %s", tool, op, ark_errmsg());
    cJSON *j = cJSON_Parse(out);
    free(p);
    free(out);
    ark_tool_free(t);
    cJSON_Delete(params);
    assert_non_null(j);
    return j;
}

static float *json_floats(const cJSON *a, int n)
{
    assert_int_equal(cJSON_GetArraySize(a), n);
    float *v = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) v[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    return v;
}

static void check_decomposer(const refm *r, ark_model *m, int seq, const int32_t *ids, int T)
{
    int d = r->d;
    for (int layer = 0; layer <= r->L; layer++)
        for (int mlp = 0; mlp < (layer < r->L ? 2 : 1); mlp++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddItemToObject(p, "tokens", cJSON_CreateIntArray(ids, T));
            cJSON_AddNumberToObject(p, "layer", layer == r->L ? -1 : layer);
            cJSON_AddBoolToObject(p, "mlp_input", mlp);
            cJSON_AddBoolToObject(p, "heads", true);
            cJSON_AddBoolToObject(p, "neurons", layer == 1);
            cJSON_AddNumberToObject(p, "pos", -1);
            cJSON_AddNumberToObject(p, "target", ids[0]);
            cJSON_AddBoolToObject(p, "return_vectors", true);
            cJSON *out = tool_json(m, "decomposer", "decompose", p), *row = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "rows"), 0);
            float *x = layer == r->L ? ref_get(r, seq, "layers.%d.out", r->L - 1)
                       : mlp && strcmp(r->family, "gpt_neox") ? ref_get(r, seq, "layers.%d.resid_mid", layer)
                                                              : ref_get(r, seq, "hidden_states.%d", layer);
            const float *want = x + (size_t)(T - 1) * d;
            double *sum = calloc((size_t)d, sizeof(double)), dot_ref = 0;
            const cJSON *part;
            cJSON_ArrayForEach(part, cJSON_GetObjectItem(row, "parts")) {
                float *v = json_floats(cJSON_GetObjectItem(part, "vector"), d);
                for (int j = 0; j < d; j++) sum[j] += v[j];
                free(v);
            }
            float *got = malloc(sizeof(float) * d);
            for (int j = 0; j < d; j++) { got[j] = (float)sum[j]; dot_ref += (double)want[j] * r->W_U[(size_t)ids[0] * d + j]; }
            check_close(r, seq, "decomposer parts sum to the stream", got, want, d);
            const cJSON *res = cJSON_GetObjectItem(row, "residual");
            float *rv = json_floats(cJSON_GetObjectItem(res, "vector"), d);
            check_close(r, seq, "decomposer residual", rv, want, d);
            check_num(r, seq, "residual . W_U[:, t]", cJSON_GetObjectItem(res, "dot")->valuedouble, dot_ref);
            check_num(r, seq, "sum of parts . W_U[:, t]", cJSON_GetObjectItem(row, "parts_dot_sum")->valuedouble, dot_ref);
            free(rv);
            free(got);
            free(sum);
            free(x);
            cJSON_Delete(out);
        }
}

static void check_lens_tool(const refm *r, ark_model *m, int seq, const int32_t *ids, int T)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "tokens", cJSON_CreateIntArray(ids, T));
    cJSON_AddNumberToObject(p, "target", ids[0]);
    cJSON_AddNumberToObject(p, "top_k", 3);
    cJSON_AddNumberToObject(p, "pos", -1);
    cJSON *out = tool_json(m, "logit_lens", "lens", p);
    const cJSON *pos = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "rows"), 0), "positions"), 0);
    const cJSON *pts = cJSON_GetObjectItem(pos, "points"), *last = cJSON_GetArrayItem(pts, cJSON_GetArraySize(pts) - 1);
    float *logits = ref_get(r, seq, "logits");
    const float *row = logits + (size_t)(T - 1) * r->V;
    check_num(r, seq, "lens tool target logit", cJSON_GetObjectItem(cJSON_GetObjectItem(last, "target"), "logit")->valuedouble, row[ids[0]]);
    const cJSON *top0 = cJSON_GetArrayItem(cJSON_GetObjectItem(last, "top"), 0);
    float mx = row[0];
    for (int v = 1; v < r->V; v++) mx = row[v] > mx ? row[v] : mx;
    check_num(r, seq, "lens tool top-1 logit", cJSON_GetObjectItem(top0, "logit")->valuedouble, mx);
    free(logits);
    cJSON_Delete(out);
}

/* ---- residual statistics ---- */

static void check_residual(const refm *r, ark_model *m, int seq, const int32_t *ids, int T)
{
    ark_residual_opts o = ARK_RESIDUAL_OPTS_INIT;
    o.incl_mid = true;
    char **names;
    ark_plan *plan = (assert_int_equal(ark_residual_hooks(m, &o, &names), ARK_OK), plan_of(m, names));
    ark_cache *c;
    assert_int_equal(ark_run(m, ids, 1, T, NULL, plan, &c), ARK_OK);
    ark_resid_stats *s;
    assert_int_equal(ark_residual_stats(m, c, &o, &s), ARK_OK);
    int d = r->d, n = s->n;
    float **x = malloc(sizeof(float *) * n), *got = malloc(sizeof(float) * T), *want = malloc(sizeof(float) * T);
    for (int i = 0; i < n; i++) x[i] = ref_point(r, seq, s->labels[i]);
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < T; t++) {
            double a = 0, diff = 0, xy = 0, b = 0;
            const float *xi = x[i] + (size_t)t * d, *xf = x[n - 1] + (size_t)t * d;
            for (int j = 0; j < d; j++) { a += (double)xi[j] * xi[j]; b += (double)xf[j] * xf[j]; xy += (double)xi[j] * xf[j]; }
            want[t] = (float)sqrt(a);
            got[t] = s->norm[(size_t)i * T + t];
            if (i + 1 < n) {
                const float *xn = x[i + 1] + (size_t)t * d;
                for (int j = 0; j < d; j++) diff += ((double)xn[j] - xi[j]) * ((double)xn[j] - xi[j]);
                check_num(r, seq, "movement", s->movement[(size_t)i * T + t], sqrt(diff) / sqrt(a));
            }
            check_num(r, seq, "cosine with final", s->cosine[((size_t)i * n + n - 1) * T + t], xy / sqrt(a * b));
        }
        check_close(r, seq, s->labels[i], got, want, T);
    }
    ark_resid_shares *sh; /* shares of the final stream: attention / MLP parts against the reference outputs */
    assert_int_equal(ark_residual_shares(m, c, &o, &sh), ARK_OK);
    for (int t = 0; t < T; t++) {
        const float *xf = x[n - 1] + (size_t)t * d;
        double xx = 0, total = 0, emb = 0;
        for (int j = 0; j < d; j++) xx += (double)xf[j] * xf[j];
        for (int k = 0; k < sh->k; k++) {
            total += sh->share[(size_t)k * T + t];
            int l = -1;
            char kind[16] = "";
            if (!strcmp(sh->labels[k], "embed") || !strcmp(sh->labels[k], "pos_embed")) emb += sh->share[(size_t)k * T + t];
            else if (sscanf(sh->labels[k], "%d_%15s", &l, kind) == 2) {
                float *part = ref_get(r, seq, "layers.%d.%s", l, !strcmp(kind, "attn_out") ? "attn_out" : "mlp_out");
                double dot = 0;
                for (int j = 0; j < d; j++) dot += (double)part[(size_t)t * d + j] * xf[j];
                check_num(r, seq, sh->labels[k], sh->share[(size_t)k * T + t], dot / xx);
                free(part);
            }
        }
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)x[0][(size_t)t * d + j] * xf[j];
        check_num(r, seq, "embedding share", emb, dot / xx);
        check_num(r, seq, "shares sum to 1", total, 1.0);
    }
    for (int i = 0; i < n; i++) free(x[i]);
    free(x);
    free(got);
    free(want);
    ark_resid_shares_free(sh);
    ark_resid_stats_free(s);
    ark_cache_free(c);
    ark_plan_free(plan);
}

/* ---- every fixture model ---- */

static void check_folder(const char *dir)
{
    refm r;
    refm_open(&r, dir);
    ark_model *m, *folded;
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    assert_int_equal(ark_model_open(dir, &folded), ARK_OK);
    assert_int_equal(ark_model_process(folded, ARK_PROCESS_FOLD_LN), ARK_OK);
    for (int seq = 0; seq < 2; seq++) {
        int T;
        int32_t *ids = ref_ids(&r, seq, &T);
        check_lens(&r, m, seq, ids, T);
        check_dla(&r, m, seq, ids, T, false);
        check_dla(&r, folded, seq, ids, T, true);
        check_decomposer(&r, m, seq, ids, T);
        check_lens_tool(&r, m, seq, ids, T);
        check_residual(&r, m, seq, ids, T);
        free(ids);
    }
    printf("  %s: lens, attribution (raw and fold-ln), decomposer, residual agree with the references\n", r.family);
    ark_model_free(m);
    ark_model_free(folded);
    refm_close(&r);
}

static void test_fixture_models(void **state)
{
    (void)state;
    static char dirs[64][512];
    int n = fixture_folders("models", dirs, 64);
    for (int i = 0; i < n; i++) check_folder(dirs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
