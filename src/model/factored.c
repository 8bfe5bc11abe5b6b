/* Factored matrices A (m, k) B (k, n): products, transpose, SVD through the
 * small factors (LAPACK), Frobenius norm, eigenvalues; QK and OV circuits. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/factored.h"
#include "arrakis/weights.h"
#include "core/error.h"
#include "model/lapack.h"

struct ark_factored {
    int m, k, n;
    float *A; /* (m, k) */
    float *B; /* (k, n) */
};

static int imin(int a, int b) { return a < b ? a : b; }

/* A factored matrix taking ownership of A and B (freed on failure). */
static ark_status adopt(float *A, float *B, int m, int k, int n, ark_factored **out)
{
    ark_factored *f = malloc(sizeof *f);
    if (!f || !A || !B) {
        free(f); free(A); free(B);
        return ark_fail(ARK_ERR_NOMEM, "factored matrix (%d x %d through %d): out of memory", m, n, k);
    }
    *f = (ark_factored){.m = m, .k = k, .n = n, .A = A, .B = B};
    *out = f;
    return ARK_OK;
}

static float *fdup(const float *src, size_t n)
{
    float *p = malloc(sizeof(float) * n);
    if (p) memcpy(p, src, sizeof(float) * n);
    return p;
}

ark_status ark_factored_new(const float *A, const float *B, int m, int k, int n, ark_factored **out)
{
    *out = NULL;
    if (m < 1 || k < 1 || n < 1)
        return ark_fail(ARK_ERR_ARG, "factored matrix: sizes m %d, k %d, n %d must all be >= 1", m, k, n);
    if (!A || !B) return ark_fail(ARK_ERR_ARG, "factored matrix: factor %s is NULL", !A ? "A" : "B");
    return adopt(fdup(A, (size_t)m * k), fdup(B, (size_t)k * n), m, k, n, out);
}

void ark_factored_free(ark_factored *f)
{
    if (!f) return;
    free(f->A);
    free(f->B);
    free(f);
}

int ark_factored_rows(const ark_factored *f) { return f->m; }
int ark_factored_cols(const ark_factored *f) { return f->n; }
int ark_factored_inner(const ark_factored *f) { return f->k; }
const float *ark_factored_left(const ark_factored *f) { return f->A; }
const float *ark_factored_right(const ark_factored *f) { return f->B; }
int ark_factored_svd_rank(const ark_factored *f) { return imin(f->m, imin(f->k, f->n)); }

/* C (p, q) = X (p, r) Y (r, q), fresh (NULL when out of memory). */
static float *matmul(const float *X, const float *Y, int p, int r, int q)
{
    float *C = malloc(sizeof(float) * (size_t)p * q);
    if (C) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, q, r, 1.0f, X, r, Y, q, 0.0f, C, q);
    return C;
}

/* The transpose of X (p, q), fresh. */
static float *transposed(const float *X, int p, int q)
{
    float *T = malloc(sizeof(float) * (size_t)p * q);
    if (T)
        for (int i = 0; i < p; i++)
            for (int j = 0; j < q; j++) T[(size_t)j * p + i] = X[(size_t)i * q + j];
    return T;
}

void ark_factored_materialize(const ark_factored *f, float *out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f->m, f->n, f->k, 1.0f, f->A, f->k, f->B, f->n, 0.0f,
                out, f->n);
}

ark_status ark_factored_transpose(const ark_factored *f, ark_factored **out)
{
    *out = NULL;
    return adopt(transposed(f->B, f->k, f->n), transposed(f->A, f->m, f->k), f->n, f->k, f->m, out);
}

ark_status ark_factored_mul(const ark_factored *x, const ark_factored *y, ark_factored **out)
{
    *out = NULL;
    if (x->n != y->m)
        return ark_fail(ARK_ERR_SHAPE, "factored product: (%d x %d) times (%d x %d): inner sizes differ", x->m, x->n,
                        y->m, y->n);
    float *mid = matmul(x->B, y->A, x->k, x->n, y->k); /* B1 A2 (k1, k2) */
    if (!mid) return ark_fail(ARK_ERR_NOMEM, "factored product: out of memory");
    ark_status s;
    if (x->k <= y->k) s = adopt(fdup(x->A, (size_t)x->m * x->k), matmul(mid, y->B, x->k, y->k, y->n), x->m, x->k, y->n, out);
    else s = adopt(matmul(x->A, mid, x->m, x->k, y->k), fdup(y->B, (size_t)y->k * y->n), x->m, y->k, y->n, out);
    free(mid);
    return s;
}

ark_status ark_factored_mul_matrix(const ark_factored *f, const float *M, int p, ark_factored **out)
{
    *out = NULL;
    if (p < 1 || !M) return ark_fail(ARK_ERR_ARG, "factored times matrix: the matrix (%d x %d) is empty", f->n, p);
    return adopt(fdup(f->A, (size_t)f->m * f->k), matmul(f->B, M, f->k, f->n, p), f->m, f->k, p, out);
}

ark_status ark_matrix_mul_factored(const float *M, int p, const ark_factored *f, ark_factored **out)
{
    *out = NULL;
    if (p < 1 || !M) return ark_fail(ARK_ERR_ARG, "matrix times factored: the matrix (%d x %d) is empty", p, f->m);
    return adopt(matmul(M, f->A, p, f->m, f->k), fdup(f->B, (size_t)f->k * f->n), p, f->k, f->n, out);
}

/* ---- SVD through QR of the factors ---- */

/* Thin QR of the column-major X (rows, cols) in place: on return X holds Q
 * (rows, r) and R (r, cols, column-major, upper triangular) is written,
 * r = min(rows, cols). */
static ark_status thin_qr(double *X, int rows, int cols, double *R)
{
    int r = imin(rows, cols), info = 0, lwork = -1;
    double *tau = malloc(sizeof(double) * r), q = 0;
    if (!tau) return ark_fail(ARK_ERR_NOMEM, "QR: out of memory");
    dgeqrf_(&rows, &cols, X, &rows, tau, &q, &lwork, &info);
    lwork = (int)q > cols ? (int)q : cols; /* dorgqr needs >= r columns of work too */
    double *work = malloc(sizeof(double) * lwork);
    if (!work) { free(tau); return ark_fail(ARK_ERR_NOMEM, "QR: out of memory"); }
    dgeqrf_(&rows, &cols, X, &rows, tau, work, &lwork, &info);
    for (int j = 0; info == 0 && j < cols; j++)
        for (int i = 0; i < r; i++) R[i + (size_t)j * r] = i <= j ? X[i + (size_t)j * rows] : 0.0;
    if (info == 0) dorgqr_(&rows, &r, &r, X, &rows, tau, work, &lwork, &info);
    free(tau);
    free(work);
    return info ? ark_fail(ARK_ERR_ARG, "QR of a %d x %d factor failed (LAPACK info %d)", rows, cols, info) : ARK_OK;
}

/* SVD of the column-major C (p, q): s (min), u (p, r), vt (r, q), r = min(p, q);
 * u/vt NULL for values only. */
static ark_status small_svd(double *C, int p, int q, double *s, double *u, double *vt)
{
    int r = imin(p, q), info = 0, lwork = -1, ldvt = r > 0 ? r : 1;
    char job = u ? 'S' : 'N';
    double wq, dummy = 0;
    int *iwork = malloc(sizeof(int) * 8 * (size_t)r);
    dgesdd_(&job, &p, &q, C, &p, s, u ? u : &dummy, &p, vt ? vt : &dummy, &ldvt, &wq, &lwork, iwork, &info, 1);
    lwork = (int)wq + 1;
    double *work = malloc(sizeof(double) * lwork);
    if (!work || !iwork) { free(work); free(iwork); return ark_fail(ARK_ERR_NOMEM, "SVD: out of memory"); }
    dgesdd_(&job, &p, &q, C, &p, s, u ? u : &dummy, &p, vt ? vt : &dummy, &ldvt, work, &lwork, iwork, &info, 1);
    free(work);
    free(iwork);
    return info ? ark_fail(ARK_ERR_ARG, "SVD of the %d x %d core did not converge (LAPACK info %d)", p, q, info)
                : ARK_OK;
}

ark_status ark_factored_svd(const ark_factored *f, float *U, float *S, float *V)
{
    int m = f->m, k = f->k, n = f->n, ka = imin(m, k), kb = imin(n, k), r = imin(ka, kb);
    bool vecs = U || V;
    /* column-major copies: A (m, k) and B^T (n, k) */
    double *qa = malloc(sizeof(double) * (size_t)m * k), *qb = malloc(sizeof(double) * (size_t)n * k);
    double *ra = malloc(sizeof(double) * (size_t)ka * k), *rb = malloc(sizeof(double) * (size_t)kb * k);
    double *core = malloc(sizeof(double) * (size_t)ka * kb), *s = malloc(sizeof(double) * r);
    double *uc = vecs ? malloc(sizeof(double) * (size_t)ka * r) : NULL;
    double *vtc = vecs ? malloc(sizeof(double) * (size_t)r * kb) : NULL;
    ark_status st = ARK_OK;
    if (!qa || !qb || !ra || !rb || !core || !s || (vecs && (!uc || !vtc)))
        st = ark_fail(ARK_ERR_NOMEM, "SVD of a %d x %d factored matrix: out of memory", m, n);
    if (st == ARK_OK) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < k; j++) qa[i + (size_t)j * m] = f->A[(size_t)i * k + j];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < n; i++) qb[i + (size_t)j * n] = f->B[(size_t)j * n + i];
        st = thin_qr(qa, m, k, ra);
    }
    if (st == ARK_OK) st = thin_qr(qb, n, k, rb);
    if (st == ARK_OK) { /* core (ka, kb) = Ra Rb^T, column-major */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, ka, kb, k, 1.0, ra, ka, rb, kb, 0.0, core, ka);
        st = small_svd(core, ka, kb, s, uc, vtc);
    }
    double *tmp = st == ARK_OK && vecs ? malloc(sizeof(double) * (size_t)(m > n ? m : n) * r) : NULL;
    if (st == ARK_OK && vecs && !tmp) st = ark_fail(ARK_ERR_NOMEM, "SVD: out of memory");
    if (st == ARK_OK) {
        for (int i = 0; i < r; i++) S[i] = (float)s[i];
        /* U (m, r) = Qa Uc, formed as its transpose Uc^T Qa^T (column-major
         * (r, m) is row-major (m, r)); V (n, r) = Qb Vc likewise: vtc Qb^T */
        if (U) {
            cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, r, m, ka, 1.0, uc, ka, qa, m, 0.0, tmp, r);
            for (size_t i = 0; i < (size_t)m * r; i++) U[i] = (float)tmp[i];
        }
        if (V) {
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, r, n, kb, 1.0, vtc, r, qb, n, 0.0, tmp, r);
            for (size_t i = 0; i < (size_t)n * r; i++) V[i] = (float)tmp[i];
        }
    }
    free(tmp);
    free(qa); free(qb); free(ra); free(rb); free(core); free(s); free(uc); free(vtc);
    return st;
}

/* ---- norms and eigenvalues ---- */

static double *to_double(const float *x, size_t n)
{
    double *y = malloc(sizeof(double) * (n ? n : 1));
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

double ark_factored_frobenius(const ark_factored *f)
{
    int m = f->m, k = f->k, n = f->n;
    double *A = to_double(f->A, (size_t)m * k), *B = to_double(f->B, (size_t)k * n);
    double *G = malloc(sizeof(double) * (size_t)k * k), *H = malloc(sizeof(double) * (size_t)k * k);
    double tr = NAN;
    if (A && B && G && H) {
        /* row-major A (m, k) is column-major A^T (k, m): G = A^T A;
         * row-major B (k, n) is column-major B^T (n, k): H = B B^T */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, k, k, m, 1.0, A, k, A, k, 0.0, G, k);
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, n, 1.0, B, n, B, n, 0.0, H, k);
        tr = 0; /* tr(G H) = sum_ij G_ij H_ji = sum_ij G_ij H_ij (both symmetric) */
        for (size_t i = 0; i < (size_t)k * k; i++) tr += G[i] * H[i];
    }
    free(A); free(B); free(G); free(H);
    return isnan(tr) ? NAN : sqrt(tr > 0 ? tr : 0);
}

typedef struct { double re, im; } cplx;

static int by_modulus_desc(const void *pa, const void *pb)
{
    const cplx *a = pa, *b = pb;
    double ma = hypot(a->re, a->im), mb = hypot(b->re, b->im);
    if (ma != mb) return ma < mb ? 1 : -1;
    if (a->re != b->re) return a->re < b->re ? 1 : -1;
    return a->im < b->im ? 1 : a->im > b->im ? -1 : 0;
}

ark_status ark_factored_eigenvalues(const ark_factored *f, float *re, float *im)
{
    if (f->m != f->n)
        return ark_fail(ARK_ERR_SHAPE, "eigenvalues of a %d x %d factored matrix: it must be square", f->m, f->n);
    int k = f->k, n = f->n, info = 0, lwork = -1, one = 1;
    double *A = to_double(f->A, (size_t)n * k), *B = to_double(f->B, (size_t)k * n);
    double *BA = malloc(sizeof(double) * (size_t)k * k), *wr = malloc(sizeof(double) * k);
    double *wi = malloc(sizeof(double) * k), wq = 0, dummy = 0;
    cplx *ev = malloc(sizeof(cplx) * k);
    ark_status st = ARK_OK;
    if (!A || !B || !BA || !wr || !wi || !ev) st = ark_fail(ARK_ERR_NOMEM, "eigenvalues: out of memory");
    if (st == ARK_OK) {
        /* BA (k, k) row-major; LAPACK reads it as its transpose, which has
         * the same eigenvalues */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, k, n, 1.0, B, n, A, k, 0.0, BA, k);
        dgeev_("N", "N", &k, BA, &k, wr, wi, &dummy, &one, &dummy, &one, &wq, &lwork, &info, 1, 1);
        lwork = (int)wq + 1;
        double *work = malloc(sizeof(double) * lwork);
        if (!work) st = ark_fail(ARK_ERR_NOMEM, "eigenvalues: out of memory");
        else dgeev_("N", "N", &k, BA, &k, wr, wi, &dummy, &one, &dummy, &one, work, &lwork, &info, 1, 1);
        free(work);
        if (st == ARK_OK && info)
            st = ark_fail(ARK_ERR_ARG, "eigenvalues of the %d x %d matrix B A did not converge (LAPACK info %d)", k, k,
                          info);
    }
    if (st == ARK_OK) {
        for (int i = 0; i < k; i++) ev[i] = (cplx){wr[i], wi[i]};
        qsort(ev, (size_t)k, sizeof *ev, by_modulus_desc);
        for (int i = 0; i < k; i++) { re[i] = (float)ev[i].re; im[i] = (float)ev[i].im; }
    }
    free(A); free(B); free(BA); free(wr); free(wi); free(ev);
    return st;
}

/* ---- circuits ---- */

static ark_status head_circuit(const ark_model *m, int layer, int head, bool qk, ark_factored **out)
{
    *out = NULL;
    const ark_config *c = ark_model_config(m);
    if (layer < 0 || layer >= c->n_layers || head < 0 || head >= c->n_heads)
        return ark_fail(ARK_ERR_ARG, "%s circuit of layer %d head %d: expected layer 0..%d and head 0..%d",
                        qk ? "QK" : "OV", layer, head, c->n_layers - 1, c->n_heads - 1);
    int d = c->d_model, dh = c->d_head, kvh = head / (c->n_heads / c->n_kv_heads);
    float *A = malloc(sizeof(float) * (size_t)d * dh), *X = malloc(sizeof(float) * (size_t)d * dh);
    float *B = NULL;
    ark_status s = A && X ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "circuit: out of memory");
    if (qk) {
        if (s == ARK_OK) s = ark_weight_read(m, ARK_W_Q, layer, head, A);   /* (d, dh) */
        if (s == ARK_OK) s = ark_weight_read(m, ARK_W_K, layer, kvh, X);    /* (d, dh) */
        if (s == ARK_OK && !(B = transposed(X, d, dh))) s = ark_fail(ARK_ERR_NOMEM, "circuit: out of memory");
        free(X);
    } else {
        B = X;                                                               /* (dh, d) */
        if (s == ARK_OK) s = ark_weight_read(m, ARK_W_V, layer, kvh, A);    /* (d, dh) */
        if (s == ARK_OK) s = ark_weight_read(m, ARK_W_O, layer, head, B);
    }
    if (s != ARK_OK) { free(A); free(B); return s; }
    return adopt(A, B, d, dh, d, out);
}

ark_status ark_qk_circuit(const ark_model *m, int layer, int head, ark_factored **out)
{
    return head_circuit(m, layer, head, true, out);
}

ark_status ark_ov_circuit(const ark_model *m, int layer, int head, ark_factored **out)
{
    return head_circuit(m, layer, head, false, out);
}
