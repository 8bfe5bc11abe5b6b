/* Subspaces of the residual stream and the heads that write into and read
 * from them (include/arrakis/tool_write_read.h). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/analysis.h"
#include "arrakis/factored.h"
#include "arrakis/safetensors.h"
#include "arrakis/tool_write_read.h"
#include "arrakis/weights.h"
#include "core/error.h"

#define RANK_TOL 1e-6f

void ark_subspace_free(ark_subspace *s)
{
    if (!s) return;
    free(s->basis);
    memset(s, 0, sizeof *s);
}

/* Keep the first k columns of U (d, r) whose singular values exceed the
 * tolerance, as s's basis. */
static ark_status keep_columns(const float *U, const float *S, int d, int r, const char *what, ark_subspace *s)
{
    int k = 0;
    while (k < r && S[0] > 0 && S[k] > RANK_TOL * S[0]) k++;
    if (k == 0) return ark_fail(ARK_ERR_ARG, "%s: the vectors are all zero, they span no subspace", what);
    s->basis = malloc(sizeof(float) * (size_t)d * k);
    if (!s->basis) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", what);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < k; j++) s->basis[(size_t)i * k + j] = U[(size_t)i * r + j];
    s->d = d;
    s->k = k;
    return ARK_OK;
}

ark_status ark_subspace_from_rows(const float *X, int n, int d, ark_subspace *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || d < 1) return ark_fail(ARK_ERR_ARG, "subspace: %d vectors of width %d, expected at least one", n, d);
    /* span of the rows = column space of X^T (d, n), factored through the
     * smaller of n and d: X^T I_n, or I_d X^T */
    int inner = n < d ? n : d;
    float *A = calloc((size_t)d * inner, sizeof(float)), *B = calloc((size_t)inner * n, sizeof(float));
    float *U = malloc(sizeof(float) * (size_t)d * inner), *S = malloc(sizeof(float) * inner);
    ark_factored *f = NULL;
    ark_status st = A && B && U && S ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "subspace: out of memory");
    if (st == ARK_OK) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) {
                float x = X[(size_t)i * d + j];
                if (n < d) A[(size_t)j * n + i] = x; /* A = X^T (d, n) */
                else B[(size_t)j * n + i] = x;       /* B = X^T (d, n) */
            }
        for (int i = 0; i < inner; i++) {
            if (n < d) B[(size_t)i * n + i] = 1; /* I_n */
            else A[(size_t)i * inner + i] = 1;   /* I_d */
        }
        st = ark_factored_new(A, B, d, inner, n, &f);
    }
    if (st == ARK_OK) st = ark_factored_svd(f, U, S, NULL);
    if (st == ARK_OK) st = keep_columns(U, S, d, inner, "subspace", out);
    ark_factored_free(f);
    free(A); free(B); free(U); free(S);
    return st;
}

ark_status ark_subspace_token(const ark_model *m, int32_t token, ark_subspace *out)
{
    const ark_config *c = ark_model_config(m);
    memset(out, 0, sizeof *out);
    if (token < 0 || token >= c->d_vocab)
        return ark_fail(ARK_ERR_ARG, "token %d is out of range (vocab size %d)", token, c->d_vocab);
    ark_tensor wu = {0};
    ARK_TRY(ark_weight_get(m, ARK_W_U, -1, -1, &wu)); /* (d, vocab) */
    int d = c->d_model;
    float *u = malloc(sizeof(float) * d);
    double n2 = 0;
    for (int i = 0; u && i < d; i++) {
        u[i] = wu.data[(size_t)i * c->d_vocab + token];
        n2 += (double)u[i] * u[i];
    }
    ark_weight_free(&wu);
    if (!u) return ark_fail(ARK_ERR_NOMEM, "token direction: out of memory");
    if (n2 <= 0) { free(u); return ark_fail(ARK_ERR_ARG, "token %d: its unembedding column is zero", token); }
    for (int i = 0; i < d; i++) u[i] = (float)(u[i] / sqrt(n2));
    *out = (ark_subspace){.d = d, .k = 1, .basis = u};
    return ARK_OK;
}

ark_status ark_subspace_head(const ark_model *m, int layer, int head, ark_subspace *out)
{
    memset(out, 0, sizeof *out);
    ark_factored *ov;
    ARK_TRY(ark_ov_circuit(m, layer, head, &ov));
    int d = ark_factored_cols(ov), r = ark_factored_svd_rank(ov);
    float *V = malloc(sizeof(float) * (size_t)d * r), *S = malloc(sizeof(float) * r);
    ark_status st = V && S ? ark_factored_svd(ov, NULL, S, V) : ark_fail(ARK_ERR_NOMEM, "head subspace: out of memory");
    char what[64];
    snprintf(what, sizeof what, "output space of L%dH%d", layer, head);
    if (st == ARK_OK) st = keep_columns(V, S, d, r, what, out);
    ark_factored_free(ov);
    free(V);
    free(S);
    return st;
}

/* The rows of a [d], [n, d] or [d, n] tensor, as (n, d). */
static ark_status file_rows(const ark_st_tensor *t, const float *x, int d, const char *path, float **rows, int *n)
{
    *rows = NULL;
    if (t->ndim == 1 && t->shape[0] == d) *n = 1;
    else if (t->ndim == 2 && t->shape[1] == d) *n = (int)t->shape[0];
    else if (t->ndim == 2 && t->shape[0] == d) *n = (int)t->shape[1];
    else {
        char shape[96] = "";
        for (int i = 0, o = 0; i < t->ndim && o < (int)sizeof shape - 24; i++)
            o += snprintf(shape + o, sizeof shape - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        return ark_fail(ARK_ERR_SHAPE, "%s: tensor %s has shape [%s]; a direction needs [%d], [n, %d] or [%d, n]", path,
                        t->name, shape, d, d, d);
    }
    if (*n < 1) return ark_fail(ARK_ERR_SHAPE, "%s: tensor %s holds no vectors", path, t->name);
    *rows = malloc(sizeof(float) * (size_t)*n * d);
    if (!*rows) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", path);
    bool columns = t->ndim == 2 && t->shape[1] != d;
    for (int i = 0; i < *n; i++)
        for (int j = 0; j < d; j++) (*rows)[(size_t)i * d + j] = columns ? x[(size_t)j * *n + i] : x[(size_t)i * d + j];
    return ARK_OK;
}

ark_status ark_subspace_file(const char *path, const char *key, int d, ark_subspace *out)
{
    memset(out, 0, sizeof *out);
    ark_st_file *f;
    ARK_TRY(ark_st_open(path, &f));
    const ark_st_tensor *t = NULL;
    ark_status st = ARK_OK;
    if (key && *key) {
        if (!(t = ark_st_find(f, key))) st = ark_fail(ARK_ERR_MISSING, "%s: no tensor named \"%s\"", path, key);
    } else if (ark_st_count(f) == 1) {
        t = ark_st_at(f, 0);
    } else {
        char names[256] = "";
        for (int i = 0, o = 0; i < ark_st_count(f) && o < (int)sizeof names - 40; i++)
            o += snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", ark_st_at(f, i)->name);
        st = ark_fail(ARK_ERR_ARG, "%s holds %d tensors (%s): name one as file:PATH:KEY", path, ark_st_count(f), names);
    }
    float *x = NULL, *rows = NULL;
    bool owned = false;
    int n = 0;
    if (st == ARK_OK) st = ark_st_to_f32(f, t, &x, &owned);
    if (st == ARK_OK) st = file_rows(t, x, d, path, &rows, &n);
    if (st == ARK_OK) st = ark_subspace_from_rows(rows, n, d, out);
    if (owned) free(x);
    free(rows);
    ark_st_close(f);
    return st;
}

/* ---- from weights ---- */

static double *read_d(const ark_model *m, ark_weight w, int layer, ark_status *st)
{
    ark_tensor t = {0};
    if (*st != ARK_OK || (*st = ark_weight_get(m, w, layer, -1, &t)) != ARK_OK) return NULL;
    size_t n = (size_t)ark_tensor_numel(&t);
    double *y = malloc(sizeof(double) * n);
    if (!y) *st = ark_fail(ARK_ERR_NOMEM, "write_read: out of memory reading %s", ark_weight_name(w));
    for (size_t i = 0; y && i < n; i++) y[i] = t.data[i];
    ark_weight_free(&t);
    return y;
}

static double sumsq(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

static float ratio(double num2, double den2) { return den2 > 0 && num2 > 0 ? (float)sqrt(num2 / den2) : 0.0f; }

static ark_status check_subspace(const ark_model *m, const ark_subspace *s)
{
    int d = ark_model_config(m)->d_model;
    if (!s || !s->basis || s->k < 1 || s->d != d)
        return ark_fail(ARK_ERR_ARG, "subspace: width %d, k %d; the model's residual stream has width %d",
                        s ? s->d : 0, s ? s->k : 0, d);
    return ARK_OK;
}

/* sum_ij X_ij Y_ij */
static double dot_all(const double *X, const double *Y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += X[i] * Y[i];
    return s;
}

ark_status ark_writers_from_weights(const ark_model *m, const ark_subspace *s, float *write_wo, float *write_ov)
{
    ARK_TRY(check_subspace(m, s));
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, d = c->d_model, dh = c->d_head, k = s->k;
    size_t q = (size_t)dh * dh;
    double *Q = malloc(sizeof(double) * (size_t)d * k), *Y = malloc(sizeof(double) * (size_t)H * dh * k);
    double *GY = malloc(sizeof(double) * (size_t)dh * k), *G = malloc(sizeof(double) * q * 2), *OO = G + q;
    ark_status st = Q && Y && GY && G ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    for (size_t i = 0; st == ARK_OK && i < (size_t)d * k; i++) Q[i] = s->basis[i];
    for (int l = 0; st == ARK_OK && l < L; l++) {
        double *wo = read_d(m, ARK_W_O, l, &st);              /* (H*dh, d) */
        double *wv = read_d(m, ARK_W_V_UNGROUPED, l, &st);    /* (H, d, dh) */
        if (st == ARK_OK) /* Y = W_O Q (H*dh, k) */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, H * dh, k, d, 1.0, wo, d, Q, k, 0.0, Y, k);
        for (int h = 0; st == ARK_OK && h < H; h++) {
            const double *o = wo + (size_t)h * dh * d, *v = wv + (size_t)h * d * dh, *y = Y + (size_t)h * dh * k;
            if (write_wo) write_wo[l * H + h] = ratio(sumsq(y, (size_t)dh * k), sumsq(o, (size_t)dh * d));
            if (!write_ov) continue;
            /* ||W_V Y||^2 = tr(Y^T G Y), ||W_V W_O||^2 = tr(G W_O W_O^T), G = W_V^T W_V (dh, dh) */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dh, dh, d, 1.0, v, dh, v, dh, 0.0, G, dh);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dh, dh, d, 1.0, o, d, o, d, 0.0, OO, dh);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dh, k, dh, 1.0, G, dh, y, k, 0.0, GY, k);
            write_ov[l * H + h] = ratio(dot_all(y, GY, (size_t)dh * k), dot_all(G, OO, q));
        }
        free(wo);
        free(wv);
    }
    free(Q); free(Y); free(GY); free(G);
    return st;
}

/* For each head of a (H', d, dh) weight: ||Q^T W||_F / ||W||_F. */
static void read_fracs(const double *w, int nh, int d, int dh, const double *Q, int k, double *tmp, double *out)
{
    for (int h = 0; h < nh; h++) {
        const double *x = w + (size_t)h * d * dh;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, dh, d, 1.0, Q, k, x, dh, 0.0, tmp, dh);
        out[h] = ratio(sumsq(tmp, (size_t)k * dh), sumsq(x, (size_t)d * dh));
    }
}

ark_status ark_readers_from_weights(const ark_model *m, const ark_subspace *s, float *read_q, float *read_k,
                                    float *read_v)
{
    ARK_TRY(check_subspace(m, s));
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, kv = c->n_kv_heads, d = c->d_model, dh = c->d_head, k = s->k;
    int group = H / kv;
    double *Q = malloc(sizeof(double) * (size_t)d * k), *tmp = malloc(sizeof(double) * (size_t)k * dh);
    double *fr = malloc(sizeof(double) * H);
    ark_status st = Q && tmp && fr ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "write_read: out of memory");
    for (size_t i = 0; st == ARK_OK && i < (size_t)d * k; i++) Q[i] = s->basis[i];
    const ark_weight ws[3] = {ARK_W_Q, ARK_W_K, ARK_W_V};
    float *outs[3] = {read_q, read_k, read_v};
    for (int l = 0; st == ARK_OK && l < L; l++)
        for (int i = 0; st == ARK_OK && i < 3; i++) {
            if (!outs[i]) continue;
            int nh = i == 0 ? H : kv; /* K and V: the grouped kv heads, each read by `group` query heads */
            double *w = read_d(m, ws[i], l, &st);
            if (st == ARK_OK) read_fracs(w, nh, d, dh, Q, k, tmp, fr);
            for (int h = 0; st == ARK_OK && h < H; h++) outs[i][l * H + h] = (float)fr[i == 0 ? h : h / group];
            free(w);
        }
    free(Q); free(tmp); free(fr);
    return st;
}

/* ---- from a cache ---- */

ark_status ark_writers_from_cache(const ark_model *m, const ark_cache *c, const uint8_t *mask, const ark_subspace *s,
                                  float *cache_proj, float *cache_norm, float *cache_dot)
{
    ARK_TRY(check_subspace(m, s));
    const ark_config *cfg = ark_model_config(m);
    int L = cfg->n_layers, H = cfg->n_heads, d = cfg->d_model, k = s->k;
    ark_status st = ARK_OK;
    for (int l = 0; st == ARK_OK && l < L; l++) {
        ark_tensor r = {0};
        if ((st = ark_head_results(m, c, l, &r)) != ARK_OK) break;     /* (B, T, H, d) */
        size_t BT = (size_t)r.shape[0] * r.shape[1];
        float *proj = malloc(sizeof(float) * BT * H * k);              /* (B*T*H, k) */
        if (!proj) { free(r.data); st = ark_fail(ARK_ERR_NOMEM, "write_read: out of memory"); break; }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(BT * H), k, d, 1.0f, r.data, d, s->basis, k, 0.0f,
                    proj, k);
        for (int h = 0; h < H; h++) {
            double sp = 0, sn = 0, sd = 0;
            size_t n = 0;
            for (size_t p = 0; p < BT; p++) {
                if (mask && !mask[p]) continue;
                const float *x = r.data + (p * H + h) * d, *y = proj + (p * H + h) * k;
                double a = 0, b = 0;
                for (int j = 0; j < k; j++) a += (double)y[j] * y[j];
                for (int j = 0; j < d; j++) b += (double)x[j] * x[j];
                sp += sqrt(a);
                sn += sqrt(b);
                sd += y[0];
                n++;
            }
            int i = l * H + h;
            if (cache_proj) cache_proj[i] = n ? (float)(sp / n) : 0.0f;
            if (cache_norm) cache_norm[i] = n ? (float)(sn / n) : 0.0f;
            if (cache_dot) cache_dot[i] = n && k == 1 ? (float)(sd / n) : NAN;
        }
        free(proj);
        free(r.data);
    }
    return st;
}

ark_status ark_info_flow(const ark_model *m, const ark_cache *c, int row, int src, int dst, const ark_subspace *s,
                         float *attention, float *moved, float *moved_proj, float *moved_dot)
{
    const ark_config *cfg = ark_model_config(m);
    int L = cfg->n_layers, H = cfg->n_heads, kv = cfg->n_kv_heads, d = cfg->d_model, dh = cfg->d_head;
    if (s) ARK_TRY(check_subspace(m, s));
    float *vec = malloc(sizeof(float) * d);
    if (!vec) return ark_fail(ARK_ERR_NOMEM, "information flow: out of memory");
    ark_status st = ARK_OK;
    for (int l = 0; st == ARK_OK && l < L; l++) {
        char pn[64], vn[64];
        snprintf(pn, sizeof pn, "blocks.%d.attn.hook_pattern", l);
        snprintf(vn, sizeof vn, "blocks.%d.attn.hook_v", l);
        const ark_tensor *pat = ark_cache_get(c, pn), *v = ark_cache_get(c, vn);   /* (B, H, T, T), (B, T, kv, dh) */
        if (!pat || !v) { st = ark_fail(ARK_ERR_MISSING, "%s not in the cache: keep it for the information flow", pat ? vn : pn); break; }
        int B = (int)pat->shape[0], T = (int)pat->shape[2];
        if (row < 0 || row >= B) { st = ark_fail(ARK_ERR_ARG, "information flow: row %d, the cache has rows 0..%d", row, B - 1); break; }
        if (src < 0 || dst >= T || src > dst) {
            st = ark_fail(ARK_ERR_ARG, "information flow: source %d and destination %d must satisfy 0 <= source <= destination < %d", src, dst, T);
            break;
        }
        float *wo = malloc(sizeof(float) * (size_t)H * dh * d);            /* (H, dh, d) */
        if (!wo) { st = ark_fail(ARK_ERR_NOMEM, "information flow: out of memory"); break; }
        if ((st = ark_weight_read(m, ARK_W_O, l, -1, wo)) != ARK_OK) { free(wo); break; }
        for (int h = 0; h < H; h++) {
            float a = pat->data[(((size_t)row * H + h) * T + dst) * T + src];
            const float *vv = v->data + (((size_t)row * T + src) * kv + h / (H / kv)) * dh;
            cblas_sgemv(CblasRowMajor, CblasTrans, dh, d, a, wo + (size_t)h * dh * d, d, vv, 1, 0.0f, vec, 1);
            double n2 = 0, p2 = 0, dot0 = 0;
            for (int j = 0; j < d; j++) n2 += (double)vec[j] * vec[j];
            for (int q = 0; s && q < s->k; q++) {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += (double)vec[j] * s->basis[(size_t)j * s->k + q];
                p2 += dot * dot;
                if (q == 0) dot0 = dot;
            }
            attention[l * H + h] = a;
            moved[l * H + h] = (float)sqrt(n2);
            if (moved_proj) moved_proj[l * H + h] = s ? (float)sqrt(p2) : NAN;
            if (moved_dot) moved_dot[l * H + h] = s && s->k == 1 ? (float)dot0 : NAN;
        }
        free(wo);
    }
    free(vec);
    return st;
}
