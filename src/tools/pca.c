/* Covariance and PCA of activations (include/arrakis/tool_superposition.h,
 * part (a)): a streamed [d, d] covariance, its eigendecomposition (LAPACK
 * dsyevd through OpenBLAS), projection, reconstruction, interpolation. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"

/* LAPACK's symmetric eigensolver (divide and conquer), Fortran interface as
 * OpenBLAS exports it (column-major, LP64, hidden string lengths last; see
 * src/model/lapack.h for the convention). */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len, size_t uplo_len);

struct ark_cov_acc {
    int d;
    int64_t n;
    double *mean;   /* (d) */
    double *scatter;/* (d, d) sum of (x - mean)(x - mean)^T, upper triangle */
    float *xc;      /* (cap, d) a centred batch */
    float *syrk;    /* (d, d) */
    int cap;
};

ark_status ark_cov_acc_new(int d, ark_cov_acc **out)
{
    *out = NULL;
    if (d < 1) return ark_fail(ARK_ERR_ARG, "covariance: dimension %d, expected >= 1", d);
    ark_cov_acc *a = calloc(1, sizeof *a);
    if (!a) return ark_fail(ARK_ERR_NOMEM, "covariance: out of memory");
    a->d = d;
    a->mean = calloc((size_t)d, sizeof(double));
    a->scatter = calloc((size_t)d * d, sizeof(double));
    a->syrk = malloc(sizeof(float) * (size_t)d * d);
    if (!a->mean || !a->scatter || !a->syrk) {
        ark_cov_acc_free(a);
        return ark_fail(ARK_ERR_NOMEM, "covariance: out of memory for %d x %d", d, d);
    }
    *out = a;
    return ARK_OK;
}

void ark_cov_acc_free(ark_cov_acc *a)
{
    if (!a) return;
    free(a->mean);
    free(a->scatter);
    free(a->xc);
    free(a->syrk);
    free(a);
}

ark_status ark_cov_acc_add(ark_cov_acc *a, const float *x, int n)
{
    int d = a->d;
    if (n <= 0) return ARK_OK;
    if (n > a->cap) {
        free(a->xc);
        a->xc = malloc(sizeof(float) * (size_t)n * d);
        a->cap = a->xc ? n : 0;
        if (!a->xc) return ark_fail(ARK_ERR_NOMEM, "covariance: out of memory for a batch of %d", n);
    }
    double *mb = calloc((size_t)d, sizeof(double));
    if (!mb) return ark_fail(ARK_ERR_NOMEM, "covariance: out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mb[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mb[j] /= n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) a->xc[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] - mb[j]);
    /* the batch's scatter about its own mean: xc^T xc (upper triangle) */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0f, a->xc, d, 0.0f, a->syrk, d);
    /* Chan, Golub & LeVeque: S = Sa + Sb + delta delta^T na nb / (na + nb) */
    double na = (double)a->n, nb = n, w = na * nb / (na + nb);
    for (int i = 0; i < d; i++) {
        double di = mb[i] - a->mean[i];
        for (int j = i; j < d; j++)
            a->scatter[(size_t)i * d + j] += a->syrk[(size_t)i * d + j] + di * (mb[j] - a->mean[j]) * w;
    }
    for (int j = 0; j < d; j++) a->mean[j] += (mb[j] - a->mean[j]) * nb / (na + nb);
    a->n += n;
    free(mb);
    return ARK_OK;
}

ark_status ark_cov_acc_covariance(const ark_cov_acc *a, double *cov)
{
    int d = a->d;
    if (a->n < 1) return ark_fail(ARK_ERR_ARG, "covariance: no rows were added");
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) cov[(size_t)i * d + j] = cov[(size_t)j * d + i] = a->scatter[(size_t)i * d + j] / (double)a->n;
    return ARK_OK;
}

/* Eigenvectors and eigenvalues of a symmetric (d, d) matrix (in place). */
static ark_status eigh(double *A, int d, double *w)
{
    int info = 0, lwork = -1, liwork = -1, iw;
    double wq;
    dsyevd_("V", "U", &d, A, &d, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    if (info != 0) return ark_fail(ARK_ERR_UNSUPPORTED, "PCA: LAPACK dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq;
    liwork = iw;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    ark_status s = ARK_OK;
    if (!work || !iwork) s = ark_fail(ARK_ERR_NOMEM, "PCA: out of memory for the eigensolver");
    else {
        dsyevd_("V", "U", &d, A, &d, w, work, &lwork, iwork, &liwork, &info, 1, 1);
        if (info != 0) s = ark_fail(ARK_ERR_UNSUPPORTED, "PCA: LAPACK dsyevd did not converge (info %d)", info);
    }
    free(work);
    free(iwork);
    return s;
}

ark_status ark_cov_acc_pca(const ark_cov_acc *a, ark_pca *out)
{
    memset(out, 0, sizeof *out);
    int d = a->d;
    double *A = malloc(sizeof(double) * (size_t)d * d), *w = malloc(sizeof(double) * d);
    ark_status s = A && w ? ark_cov_acc_covariance(a, A) : ark_fail(ARK_ERR_NOMEM, "PCA: out of memory");
    double trace = 0;
    for (int i = 0; s == ARK_OK && i < d; i++) trace += A[(size_t)i * d + i];
    if (s == ARK_OK) s = eigh(A, d, w); /* column-major: eigenvector j is the j-th run of d values */
    if (s == ARK_OK) {
        out->d = d;
        out->n = a->n;
        out->total_variance = trace;
        out->mean = malloc(sizeof(float) * d);
        out->components = malloc(sizeof(float) * (size_t)d * d);
        out->variance = malloc(sizeof(double) * d);
        if (!out->mean || !out->components || !out->variance) s = ark_fail(ARK_ERR_NOMEM, "PCA: out of memory");
    }
    for (int i = 0; s == ARK_OK && i < d; i++) {
        out->mean[i] = (float)a->mean[i];
        int src = d - 1 - i; /* ascending -> descending */
        const double *v = A + (size_t)src * d;
        int big = 0;
        for (int j = 1; j < d; j++) big = fabs(v[j]) > fabs(v[big]) ? j : big;
        double sign = v[big] < 0 ? -1.0 : 1.0;
        for (int j = 0; j < d; j++) out->components[(size_t)i * d + j] = (float)(sign * v[j]);
        out->variance[i] = w[src] > 0 ? w[src] : 0.0;
    }
    free(A);
    free(w);
    if (s != ARK_OK) ark_pca_free(out);
    return s;
}

void ark_pca_free(ark_pca *p)
{
    if (!p) return;
    free(p->mean);
    free(p->components);
    free(p->variance);
    memset(p, 0, sizeof *p);
}

static ark_status cov_consume(const ark_act_rows *r, void *ctx) { return ark_cov_acc_add(ctx, r->act, r->n); }

ark_status ark_pca_fit(ark_model *m, const ark_dataset *ds, const char *hook, const ark_stream_opts *so, ark_pca *out)
{
    memset(out, 0, sizeof *out);
    int d;
    ARK_TRY(ark_hook_width(m, hook, &d));
    ark_cov_acc *a;
    ARK_TRY(ark_cov_acc_new(d, &a));
    ark_status s = ark_stream_acts(m, ds, hook, so, cov_consume, a);
    if (s == ARK_OK) s = ark_cov_acc_pca(a, out);
    ark_cov_acc_free(a);
    return s;
}

ark_status ark_pca_fit_matrix(const float *x, int64_t n, int d, ark_pca *out)
{
    memset(out, 0, sizeof *out);
    ark_cov_acc *a;
    ARK_TRY(ark_cov_acc_new(d, &a));
    ark_status s = ARK_OK;
    for (int64_t i = 0; s == ARK_OK && i < n; i += 4096) {
        int k = n - i < 4096 ? (int)(n - i) : 4096;
        s = ark_cov_acc_add(a, x + (size_t)i * d, k);
    }
    if (s == ARK_OK) s = ark_cov_acc_pca(a, out);
    ark_cov_acc_free(a);
    return s;
}

static ark_status check_k(const ark_pca *p, int k)
{
    if (k < 1 || k > p->d) return ark_fail(ARK_ERR_ARG, "PCA: %d components asked for, expected 1..%d", k, p->d);
    return ARK_OK;
}

ark_status ark_pca_project(const ark_pca *p, const float *x, int n, int k, float *coords)
{
    ARK_TRY(check_k(p, k));
    int d = p->d;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            const float *v = p->components + (size_t)j * d, *xi = x + (size_t)i * d;
            double c = 0;
            for (int e = 0; e < d; e++) c += (double)(xi[e] - p->mean[e]) * v[e];
            coords[(size_t)i * k + j] = (float)c;
        }
    return ARK_OK;
}

ark_status ark_pca_reconstruct(const ark_pca *p, const float *x, int n, int k, float *out, double *err)
{
    ARK_TRY(check_k(p, k));
    int d = p->d;
    float *c = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * k);
    if (!c) return ark_fail(ARK_ERR_NOMEM, "PCA: out of memory");
    ark_pca_project(p, x, n, k, c);
    double se = 0;
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * d;
        memcpy(o, p->mean, sizeof(float) * d);
        for (int j = 0; j < k; j++)
            for (int e = 0; e < d; e++) o[e] += c[(size_t)i * k + j] * p->components[(size_t)j * d + e];
        for (int e = 0; e < d; e++) {
            double r = (double)x[(size_t)i * d + e] - o[e];
            se += r * r;
        }
    }
    if (err) *err = n > 0 ? se / n : 0.0;
    free(c);
    return ARK_OK;
}

ark_status ark_pca_interpolate(const ark_pca *p, const float *x, int comp, const float *values, int n_values, float *out)
{
    if (comp < 0 || comp >= p->d) return ark_fail(ARK_ERR_ARG, "PCA: component %d, expected 0..%d", comp, p->d - 1);
    int d = p->d;
    const float *v = p->components + (size_t)comp * d;
    double c = 0;
    for (int e = 0; e < d; e++) c += (double)(x[e] - p->mean[e]) * v[e];
    for (int s = 0; s < n_values; s++)
        for (int e = 0; e < d; e++) out[(size_t)s * d + e] = x[e] + (float)(values[s] - c) * v[e];
    return ARK_OK;
}
