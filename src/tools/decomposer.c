/* The decomposer's typed functions (include/arrakis/tool_decomposer.h):
 * directions, projections of a stack, singular directions of circuits.  The
 * tool's JSON entry point is in decomposer_tool.c. */
#include "arrakis/tool_decomposer.h"

#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/factored.h"
#include "arrakis/safetensors.h"
#include "arrakis/weights.h"
#include "core/error.h"
#include "model/model_internal.h"
#include "tools/logit_lens_common.h"

/* ---- projections ---- */

ark_status ark_unembed_direction(const ark_model *m, int32_t token, int32_t against, float *u)
{
    int V = m->cfg.d_vocab, d = m->cfg.d_model;
    if (token < 0 || token >= V) return ark_fail(ARK_ERR_ARG, "target token id %d is out of range (vocab size %d)", token, V);
    if (against >= V) return ark_fail(ARK_ERR_ARG, "against token id %d is out of range (vocab size %d)", against, V);
    lc_unembed_col(m, token, u);
    if (against < 0) return ARK_OK;
    float *tmp = malloc(sizeof(float) * d);
    if (!tmp) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    lc_unembed_col(m, against, tmp);
    for (int j = 0; j < d; j++) u[j] -= tmp[j];
    free(tmp);
    return ARK_OK;
}

static ark_status load_safetensors(const char *path, const char *key, int d, float *u)
{
    ark_st_file *f;
    ARK_TRY(ark_st_open(path, &f));
    const ark_st_tensor *t = key ? ark_st_find(f, key) : ark_st_count(f) > 0 ? ark_st_at(f, 0) : NULL;
    ark_status s = ARK_OK;
    if (!t) s = key ? ark_fail(ARK_ERR_MISSING, "%s: no tensor named \"%s\"", path, key)
                    : ark_fail(ARK_ERR_MISSING, "%s: the file holds no tensor", path);
    else if (t->numel != d)
        s = ark_fail(ARK_ERR_SHAPE, "%s: tensor \"%s\" has %lld elements, the model's width is %d", path, t->name,
                     (long long)t->numel, d);
    float *data = NULL;
    bool owned = false;
    if (s == ARK_OK) s = ark_st_to_f32(f, t, &data, &owned);
    if (s == ARK_OK) memcpy(u, data, sizeof(float) * d);
    if (owned) free(data);
    ark_st_close(f);
    return s;
}

static ark_status load_text(const char *path, int d, float *u)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ark_fail(ARK_ERR_IO, "%s: cannot open the direction file", path);
    int n = 0, c;
    ark_status s = ARK_OK;
    while (s == ARK_OK && (c = fgetc(f)) != EOF) {
        if (isspace(c) || c == ',' || c == '[' || c == ']') continue;
        ungetc(c, f);
        double v;
        if (fscanf(f, "%lf", &v) != 1) s = ark_fail(ARK_ERR_FORMAT, "%s: value %d is not a number", path, n);
        else if (n < d) u[n++] = (float)v;
        else n++;
    }
    fclose(f);
    if (s == ARK_OK && n != d)
        s = ark_fail(ARK_ERR_SHAPE, "%s: %d numbers, the model's width is %d", path, n, d);
    return s;
}

ark_status ark_direction_load(const char *path, const char *key, int d, float *u)
{
    size_t n = strlen(path);
    if (n >= 12 && !strcmp(path + n - 12, ".safetensors")) return load_safetensors(path, key, d, u);
    if (key) return ark_fail(ARK_ERR_ARG, "%s: a tensor key is only meaningful for a .safetensors file", path);
    return load_text(path, d, u);
}

ark_status ark_stack_dot(const ark_stack *s, const float *u, ark_tensor *out)
{
    memset(out, 0, sizeof *out);
    size_t rows = (size_t)s->n * s->B * s->P;
    out->data = malloc(sizeof(float) * (rows + 1));
    if (!out->data) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    out->ndim = 3;
    out->shape[0] = s->n;
    out->shape[1] = s->B;
    out->shape[2] = s->P;
    for (size_t r = 0; r < rows; r++) {
        const float *v = s->data + r * s->d;
        double acc = 0;
        for (int j = 0; j < s->d; j++) acc += (double)v[j] * u[j];
        out->data[r] = (float)acc;
    }
    return ARK_OK;
}

/* ---- singular directions ---- */

static const char *const circuit_names[] = {"ov", "qk", "mlp-in", "mlp-out"};

const char *ark_svd_circuit_name(ark_svd_circuit k)
{
    return (unsigned)k < sizeof circuit_names / sizeof *circuit_names ? circuit_names[k] : NULL;
}

ark_status ark_svd_circuit_parse(const char *name, ark_svd_circuit *out)
{
    for (unsigned i = 0; i < sizeof circuit_names / sizeof *circuit_names; i++)
        if (!strcmp(name, circuit_names[i])) { *out = (ark_svd_circuit)i; return ARK_OK; }
    return ark_fail(ARK_ERR_ARG, "circuit \"%s\": expected ov, qk, mlp-in or mlp-out", name);
}

void ark_svd_free(ark_svd *s)
{
    if (!s) return;
    free(s->S);
    free(s->U);
    free(s->V);
    free(s);
}

/* The effective weight of the norm that reads block l's MLP input (d). */
static ark_status mlp_norm_weight(const ark_model *m, int l, float *w)
{
    if (!m->cfg.shared_parallel_norm) return ark_weight_read(m, ARK_LN2_W, l, -1, w);
    return ark_weight_read(m, ARK_LN1_W, l, -1, w);
}

/* An MLP circuit as the factored product M I: M (m, d) is W_in^T diag(w) or
 * W_out. */
static ark_status mlp_circuit(const ark_model *m, ark_svd_circuit kind, int l, ark_factored **out)
{
    int d = m->cfg.d_model, dm = m->cfg.d_mlp;
    float *M = malloc(sizeof(float) * dm * d), *eye = calloc((size_t)d * d, sizeof(float));
    float *w = malloc(sizeof(float) * d);
    ark_tensor t = {0};
    ark_status s = M && eye && w ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for a %d x %d matrix", dm, d);
    if (s == ARK_OK) s = ark_weight_get(m, kind == ARK_SVD_MLP_IN ? ARK_W_IN : ARK_W_OUT, l, -1, &t);
    if (s == ARK_OK && kind == ARK_SVD_MLP_IN) s = mlp_norm_weight(m, l, w);
    if (s == ARK_OK) {
        if (kind == ARK_SVD_MLP_IN) /* W_in (d, m) -> W_in^T diag(w): M[n, j] = W_in[j, n] w[j] */
            for (int n = 0; n < dm; n++)
                for (int j = 0; j < d; j++) M[(size_t)n * d + j] = t.data[(size_t)j * dm + n] * w[j];
        else memcpy(M, t.data, sizeof(float) * dm * d);
        for (int j = 0; j < d; j++) eye[(size_t)j * d + j] = 1.0f;
        s = ark_factored_new(M, eye, dm, d, d, out);
    }
    ark_weight_free(&t);
    free(M);
    free(eye);
    free(w);
    return s;
}

/* Flip (U[:, i], V[:, i]) so that V[:, i]'s largest-|value| entry is positive. */
static void fix_signs(ark_svd *s)
{
    for (int i = 0; i < s->r; i++) {
        float best = 0;
        for (int j = 0; j < s->cols; j++) {
            float v = s->V[(size_t)j * s->r + i];
            if (fabsf(v) > fabsf(best)) best = v;
        }
        if (best >= 0) continue;
        for (int j = 0; j < s->cols; j++) s->V[(size_t)j * s->r + i] = -s->V[(size_t)j * s->r + i];
        for (int j = 0; j < s->rows; j++) s->U[(size_t)j * s->r + i] = -s->U[(size_t)j * s->r + i];
    }
}

ark_status ark_circuit_svd(const ark_model *m, ark_svd_circuit kind, int layer, int head, ark_svd **out)
{
    *out = NULL;
    int L = m->cfg.n_layers, l = layer < 0 ? L + layer : layer;
    if (l < 0 || l >= L) return ark_fail(ARK_ERR_ARG, "layer %d: the model has blocks 0..%d", layer, L - 1);
    bool attn = kind == ARK_SVD_OV || kind == ARK_SVD_QK;
    if (!ark_svd_circuit_name(kind)) return ark_fail(ARK_ERR_ARG, "circuit %d: expected ov, qk, mlp-in or mlp-out", (int)kind);
    if (attn && (head < 0 || head >= m->cfg.n_heads))
        return ark_fail(ARK_ERR_ARG, "head %d: the model has heads 0..%d", head, m->cfg.n_heads - 1);
    ark_factored *f;
    if (kind == ARK_SVD_OV) ARK_TRY(ark_ov_circuit(m, l, head, &f));
    else if (kind == ARK_SVD_QK) ARK_TRY(ark_qk_circuit(m, l, head, &f));
    else ARK_TRY(mlp_circuit(m, kind, l, &f));
    ark_svd *s = calloc(1, sizeof *s);
    ark_status st = s ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    if (st == ARK_OK) {
        *s = (ark_svd){.kind = kind, .layer = l, .head = attn ? head : -1, .rows = ark_factored_rows(f),
                       .cols = ark_factored_cols(f), .r = ark_factored_svd_rank(f)};
        s->S = malloc(sizeof(float) * s->r);
        s->U = malloc(sizeof(float) * s->rows * s->r);
        s->V = malloc(sizeof(float) * s->cols * s->r);
        if (!s->S || !s->U || !s->V) st = ark_fail(ARK_ERR_NOMEM, "out of memory for an SVD of rank %d", s->r);
    }
    if (st == ARK_OK) st = ark_factored_svd(f, s->U, s->S, s->V);
    ark_factored_free(f);
    if (st != ARK_OK) { ark_svd_free(s); return st; }
    fix_signs(s);
    *out = s;
    return ARK_OK;
}

ark_status ark_direction_readout(const ark_model *m, const float *v, ark_svd_readout how, float *values)
{
    int V = m->cfg.d_vocab, d = m->cfg.d_model;
    if (how == ARK_READ_EMBED) { /* W_E (vocab, d) with the embedding scale: values = W_E v */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, V, d, m->cfg.embed_scale, m->embed, d, v, 1, 0.0f, values, 1);
        return ARK_OK;
    }
    if (how != ARK_READ_UNEMBED) return ark_fail(ARK_ERR_ARG, "readout %d: expected ARK_READ_UNEMBED or ARK_READ_EMBED", (int)how);
    const ark_linear *U = &m->unembed; /* values[t] = v . W_U[:, t] */
    if (U->in_out) cblas_sgemv(CblasRowMajor, CblasTrans, d, V, 1.0f, U->w, U->ld, v, 1, 0.0f, values, 1);
    else cblas_sgemv(CblasRowMajor, CblasNoTrans, V, d, 1.0f, U->w, U->ld, v, 1, 0.0f, values, 1);
    return ARK_OK;
}
