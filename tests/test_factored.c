/* Factored matrices (SVD, norms, eigenvalues, products) against dense LAPACK
 * computations, and the QK/OV circuits of every fixture model's heads
 * against explicit loops over the weight views. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "model/lapack.h"
#include "testutil.h"

/* messages built with snprintf may be cut short; that is fine */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define ATOL 1e-4
#define RTOL 1e-4

/* ---- helpers ---- */

static void expect_close(const char *what, const float *ours, const float *ref, size_t n)
{
    size_t worst;
    double r = tol_ratio(ours, ref, n, ATOL, RTOL, &worst);
    if (!(r <= 1.0))
        fail_msg("%s: element %zu is %.7g, reference %.7g (%.2fx the tolerance)", what, worst, ours[worst], ref[worst],
                 r);
}

static ark_model *open_model(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("open %s: %s", dir, ark_errmsg());
    return m;
}

static float *get_w(const ark_model *m, ark_weight w, int layer, int head)
{
    ark_tensor t;
    if (ark_weight_get(m, w, layer, head, &t) != ARK_OK)
        fail_msg("%s layer %d head %d: %s", ark_weight_name(w), layer, head, ark_errmsg());
    return t.data;
}

/* ---- factored matrices ---- */

static uint64_t rng_state = 88172645463325252ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_matrix(int r, int c)
{
    float *x = malloc(sizeof(float) * r * c);
    for (int i = 0; i < r * c; i++) x[i] = frand();
    return x;
}

/* Dense singular values of a row-major (m, n) matrix with sgesvd; s has min(m, n). */
static void dense_singular_values(const float *X, int m, int n, float *s)
{
    /* row-major X is column-major X^T (n, m): same singular values */
    float *a = malloc(sizeof(float) * m * n), q, dummy = 0;
    memcpy(a, X, sizeof(float) * m * n);
    int lwork = -1, info = 0, one = 1;
    sgesvd_("N", "N", &n, &m, a, &n, s, &dummy, &one, &dummy, &one, &q, &lwork, &info, 1, 1);
    lwork = (int)q + 1;
    float *work = malloc(sizeof(float) * lwork);
    sgesvd_("N", "N", &n, &m, a, &n, s, &dummy, &one, &dummy, &one, work, &lwork, &info, 1, 1);
    assert_int_equal(info, 0);
    free(work);
    free(a);
}

/* Dense product in double by loops. */
static double *dense_product(const float *A, const float *B, int m, int k, int n)
{
    double *P = calloc((size_t)m * n, sizeof(double));
    for (int i = 0; i < m; i++)
        for (int t = 0; t < k; t++)
            for (int j = 0; j < n; j++) P[(size_t)i * n + j] += (double)A[(size_t)i * k + t] * B[(size_t)t * n + j];
    return P;
}

static void check_svd(const ark_factored *f, const char *what)
{
    int m = ark_factored_rows(f), n = ark_factored_cols(f), k = ark_factored_inner(f);
    int r = ark_factored_svd_rank(f), mn = m < n ? m : n;
    float *P = malloc(sizeof(float) * m * n), *dense = malloc(sizeof(float) * mn), *S = malloc(sizeof(float) * r);
    float *U = malloc(sizeof(float) * m * r), *V = malloc(sizeof(float) * n * r), *S2 = malloc(sizeof(float) * r);
    ark_factored_materialize(f, P);
    dense_singular_values(P, m, n, dense);
    assert_int_equal(ark_factored_svd(f, U, S, V), ARK_OK);
    assert_int_equal(ark_factored_svd(f, NULL, S2, NULL), ARK_OK);
    char msg[300];
    snprintf(msg, sizeof msg, "%s: singular values vs dense sgesvd", what);
    expect_close(msg, S, dense, (size_t)r);
    snprintf(msg, sizeof msg, "%s: singular values without vectors", what);
    expect_close(msg, S2, S, (size_t)r);
    for (int i = r; i < mn; i++)
        if (dense[i] > 1e-4 * (1 + dense[0])) fail_msg("%s: dense value %d = %g beyond rank %d", what, i, dense[i], r);
    for (int i = 1; i < r; i++) assert_true(S[i] <= S[i - 1]);
    /* U diag(S) V^T == the product; U^T U == I == V^T V */
    float *rec = malloc(sizeof(float) * m * n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int c = 0; c < r; c++) acc += (double)U[i * r + c] * S[c] * V[j * r + c];
            rec[i * n + j] = (float)acc;
        }
    snprintf(msg, sizeof msg, "%s: U diag(S) V^T vs the product", what);
    expect_close(msg, rec, P, (size_t)m * n);
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            double uu = 0, vv = 0;
            for (int i = 0; i < m; i++) uu += (double)U[i * r + a] * U[i * r + b];
            for (int i = 0; i < n; i++) vv += (double)V[i * r + a] * V[i * r + b];
            if (fabs(uu - (a == b)) > 1e-4 || fabs(vv - (a == b)) > 1e-4)
                fail_msg("%s: U or V columns %d, %d not orthonormal (%g, %g)", what, a, b, uu, vv);
        }
    /* Frobenius norm against the direct sum of squares */
    double direct = 0;
    double *Pd = dense_product(ark_factored_left(f), ark_factored_right(f), m, k, n);
    for (int i = 0; i < m * n; i++) direct += Pd[i] * Pd[i];
    direct = sqrt(direct);
    double fro = ark_factored_frobenius(f);
    if (fabs(fro - direct) > 1e-4 + 1e-5 * direct) fail_msg("%s: Frobenius %.9g, direct %.9g", what, fro, direct);
    free(Pd); free(P); free(dense); free(S); free(S2); free(U); free(V); free(rec);
}

/* Eigenvalues of a square factored matrix against dgeev on the dense
 * product: each of ours matches a distinct dense one; the rest are ~0. */
static void check_eigen(const ark_factored *f, const char *what)
{
    int m = ark_factored_rows(f), k = ark_factored_inner(f);
    float *re = malloc(sizeof(float) * k), *im = malloc(sizeof(float) * k);
    assert_int_equal(ark_factored_eigenvalues(f, re, im), ARK_OK);
    double *P = dense_product(ark_factored_left(f), ark_factored_right(f), m, k, m);
    double *wr = malloc(sizeof(double) * m), *wi = malloc(sizeof(double) * m), q, dummy = 0;
    int lwork = -1, info = 0, one = 1;
    dgeev_("N", "N", &m, P, &m, wr, wi, &dummy, &one, &dummy, &one, &q, &lwork, &info, 1, 1);
    lwork = (int)q + 1;
    double *work = malloc(sizeof(double) * lwork);
    dgeev_("N", "N", &m, P, &m, wr, wi, &dummy, &one, &dummy, &one, work, &lwork, &info, 1, 1);
    assert_int_equal(info, 0);
    double top = 0;
    for (int i = 0; i < m; i++) top = fmax(top, hypot(wr[i], wi[i]));
    bool *used = calloc((size_t)(m > 0 ? m : 1), sizeof(bool));
    int nz = k < m ? k : m;
    for (int i = 0; i < k; i++) {
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < m; j++)
            if (!used[j] && hypot(wr[j] - re[i], wi[j] - im[i]) < bd) { bd = hypot(wr[j] - re[i], wi[j] - im[i]); best = j; }
        if (i >= nz) continue;
        if (bd > 1e-4 * (1 + top))
            fail_msg("%s: eigenvalue %d (%g%+gi) has no dense match (nearest off by %g)", what, i, re[i], im[i], bd);
        used[best] = true;
        if (i > 0) assert_true(hypot(re[i], im[i]) <= hypot(re[i - 1], im[i - 1]) + 1e-6);
    }
    for (int j = 0; j < m; j++)
        if (!used[j] && hypot(wr[j], wi[j]) > 1e-4 * (1 + top))
            fail_msg("%s: dense eigenvalue %g%+gi is not among the factored ones", what, wr[j], wi[j]);
    free(re); free(im); free(P); free(wr); free(wi); free(work); free(used);
}

static void test_factored(void **state)
{
    (void)state;
    static const int shapes[][3] = {{20, 5, 30}, {6, 10, 8}, {64, 16, 64}, {33, 7, 33}, {1, 3, 4}, {12, 12, 12}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int m = shapes[i][0], k = shapes[i][1], n = shapes[i][2];
        float *A = rand_matrix(m, k), *B = rand_matrix(k, n);
        ark_factored *f;
        assert_int_equal(ark_factored_new(A, B, m, k, n, &f), ARK_OK);
        char what[64];
        snprintf(what, sizeof what, "(%d x %d)(%d x %d)", m, k, k, n);
        check_svd(f, what);
        if (m == n) check_eigen(f, what);
        else assert_int_equal(ark_factored_eigenvalues(f, A, B), ARK_ERR_SHAPE);
        /* transpose */
        ark_factored *t;
        assert_int_equal(ark_factored_transpose(f, &t), ARK_OK);
        assert_true(ark_factored_rows(t) == n && ark_factored_cols(t) == m && ark_factored_inner(t) == k);
        float *P = malloc(sizeof(float) * m * n), *PT = malloc(sizeof(float) * m * n), *T2 = malloc(sizeof(float) * m * n);
        ark_factored_materialize(f, P);
        ark_factored_materialize(t, PT);
        for (int a = 0; a < m; a++)
            for (int b = 0; b < n; b++) T2[b * m + a] = P[a * n + b];
        expect_close("transpose", PT, T2, (size_t)m * n);
        /* products: f (m, n) times g (n, p), factored and plain */
        int p = 9, k2 = 3 + (int)i;
        float *C = rand_matrix(n, k2), *D = rand_matrix(k2, p), *M = rand_matrix(n, p), *M2 = rand_matrix(p, m);
        ark_factored *g, *fg, *fm, *mf;
        assert_int_equal(ark_factored_new(C, D, n, k2, p, &g), ARK_OK);
        assert_int_equal(ark_factored_mul(f, g, &fg), ARK_OK);
        assert_int_equal(ark_factored_inner(fg), k < k2 ? k : k2);
        float *G = malloc(sizeof(float) * n * p), *got = malloc(sizeof(float) * m * p), *want = malloc(sizeof(float) * m * p);
        ark_factored_materialize(g, G);
        ark_factored_materialize(fg, got);
        double *W = dense_product(P, G, m, n, p);
        for (int j = 0; j < m * p; j++) want[j] = (float)W[j];
        expect_close("factored x factored", got, want, (size_t)m * p);
        free(W);
        assert_int_equal(ark_factored_mul_matrix(f, M, p, &fm), ARK_OK);
        ark_factored_materialize(fm, got);
        W = dense_product(P, M, m, n, p);
        for (int j = 0; j < m * p; j++) want[j] = (float)W[j];
        expect_close("factored x matrix", got, want, (size_t)m * p);
        free(W);
        assert_int_equal(ark_matrix_mul_factored(M2, p, f, &mf), ARK_OK);
        float *got2 = malloc(sizeof(float) * p * n), *want2 = malloc(sizeof(float) * p * n);
        ark_factored_materialize(mf, got2);
        W = dense_product(M2, P, p, m, n);
        for (int j = 0; j < p * n; j++) want2[j] = (float)W[j];
        expect_close("matrix x factored", got2, want2, (size_t)p * n);
        free(W);
        ark_factored *bad;
        assert_int_equal(ark_factored_mul(g, g, &bad), n == p ? ARK_OK : ARK_ERR_SHAPE);
        if (n == p) ark_factored_free(bad);
        ark_factored_free(f); ark_factored_free(t); ark_factored_free(g); ark_factored_free(fg);
        ark_factored_free(fm); ark_factored_free(mf);
        free(A); free(B); free(P); free(PT); free(T2); free(C); free(D); free(M); free(M2); free(G);
        free(got); free(want); free(got2); free(want2);
    }
    ark_factored *f;
    float one = 1;
    assert_int_equal(ark_factored_new(&one, &one, 0, 1, 1, &f), ARK_ERR_ARG);
    assert_null(f);
}

/* QK and OV of every head of every fixture model against explicit loops. */
static void circuits_folder(const char *dir)
{
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, dh = c->d_head;
    float *got = malloc(sizeof(float) * d * d), *want = malloc(sizeof(float) * d * d);
    for (int l = 0; l < c->n_layers; l++)
        for (int h = 0; h < c->n_heads; h++) {
            int kvh = h / (c->n_heads / c->n_kv_heads);
            float *WQ = get_w(m, ARK_W_Q, l, h), *WK = get_w(m, ARK_W_K, l, kvh);
            float *WV = get_w(m, ARK_W_V, l, kvh), *WO = get_w(m, ARK_W_O, l, h);
            ark_factored *qk, *ov;
            assert_int_equal(ark_qk_circuit(m, l, h, &qk), ARK_OK);
            assert_int_equal(ark_ov_circuit(m, l, h, &ov), ARK_OK);
            assert_true(ark_factored_rows(qk) == d && ark_factored_inner(qk) == dh && ark_factored_cols(qk) == d);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) {
                    double acc = 0;
                    for (int e = 0; e < dh; e++) acc += (double)WQ[i * dh + e] * WK[j * dh + e];
                    want[i * d + j] = (float)acc;
                }
            ark_factored_materialize(qk, got);
            char what[1024];
            snprintf(what, sizeof what, "%s QK layer %d head %d", dir, l, h);
            expect_close(what, got, want, (size_t)d * d);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) {
                    double acc = 0;
                    for (int e = 0; e < dh; e++) acc += (double)WV[i * dh + e] * WO[e * d + j];
                    want[i * d + j] = (float)acc;
                }
            ark_factored_materialize(ov, got);
            snprintf(what, sizeof what, "%s OV layer %d head %d", dir, l, h);
            expect_close(what, got, want, (size_t)d * d);
            if (l == 0 && h == 0) { check_svd(qk, what); check_eigen(ov, what); }
            ark_factored_free(qk);
            ark_factored_free(ov);
            free(WQ); free(WK); free(WV); free(WO);
        }
    ark_factored *f;
    assert_int_equal(ark_qk_circuit(m, c->n_layers, 0, &f), ARK_ERR_ARG);
    assert_int_equal(ark_ov_circuit(m, 0, c->n_heads, &f), ARK_ERR_ARG);
    free(got);
    free(want);
    ark_model_free(m);
}

static void test_circuits(void **state)
{
    (void)state;
    char dirs[64][512];
    int n = fixture_folders("models", dirs, 64);
    for (int i = 0; i < n; i++) circuits_folder(dirs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_factored),
        cmocka_unit_test(test_circuits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
