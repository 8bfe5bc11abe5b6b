/* Composition scores between attention heads (include/arrakis/tool_composer.h):
 * all pairs through d_head-sized matrices, one pair through factored
 * circuits, the Gaussian baseline, top pairs, virtual heads. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_composer.h"
#include "arrakis/weights.h"
#include "core/error.h"
#include "core/rng.h"

const char *ark_comp_mode_name(ark_comp_mode mode)
{
    static const char *const names[] = {"q", "k", "v"};
    return (unsigned)mode < 3 ? names[mode] : NULL;
}

ark_status ark_comp_mode_parse(const char *s, ark_comp_mode *out)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcasecmp(s, ark_comp_mode_name((ark_comp_mode)i))) { *out = (ark_comp_mode)i; return ARK_OK; }
    return ark_fail(ARK_ERR_ARG, "composition mode \"%s\": expected q, k or v", s ? s : "(null)");
}

ark_status ark_composer_process(ark_model *m)
{
    unsigned flags = ARK_PROCESS_FOLD_LN;
    if (ark_model_config(m)->norm == ARK_NORM_LAYERNORM) flags |= ARK_PROCESS_CENTER_WRITING;
    return ark_model_process(m, flags & ~ark_model_processing(m));
}

/* ---- the d_head-sized kernel ----
 *
 * With R_A (dh, dh) such that R_A^T R_A = W_V^T W_V and R_B such that
 * R_B^T R_B = N N^T (upper triangular factors of QR decompositions),
 *
 *   ||W_V W_O F N||_F^2 = tr(F^T W_O^T W_V^T W_V W_O F N N^T)
 *                       = ||(R_A W_O) (F R_B^T)||_F^2,
 *
 * so each writer head becomes X_A = R_A W_O (dh, d), each reader head
 * Y_B = F R_B^T (d, dh), and a pair's numerator is the squared norm of the
 * (dh, dh) block X_A Y_B: one GEMM gives every pair of two layers. */

/* Symmetric eigendecomposition (LAPACK; OpenBLAS exports it). */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
            const int *lwork, int *info, size_t jobz_len, size_t uplo_len);

/* R (n, n) with R^T R = X^T X for X (m, n) row-major (trans = false) or
 * X^T X for X given as (n, m) row-major and read transposed (trans = true):
 * from the Gram G = V diag(w) V^T, R = diag(sqrt(w)) V^T (a square root of
 * G that exists for any rank, unlike a Cholesky factor).  work: n*n + 4n. */
static ark_status r_factor(const double *X, int m, int n, bool trans, double *R, double *work)
{
    double *G = work, *w = work + (size_t)n * n, wq = 0;
    if (!trans) cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, m, 1.0, X, n, 0.0, G, n);
    else cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, m, 1.0, X, m, 0.0, G, n);
    /* row-major upper = column-major lower */
    int info = 0, lwork = -1;
    dsyev_("V", "L", &n, G, &n, w, &wq, &lwork, &info, 1, 1);
    lwork = (int)wq;
    double *ws = lwork <= 3 * n ? w + n : malloc(sizeof(double) * lwork);
    if (!ws) return ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
    if (lwork < 3 * n) lwork = 3 * n;
    dsyev_("V", "L", &n, G, &n, w, ws, &lwork, &info, 1, 1);
    if (ws != w + n) free(ws);
    if (info) return ark_fail(ARK_ERR_ARG, "composition: eigendecomposition of a %d x %d Gram matrix failed (LAPACK info %d)", n, n, info);
    /* column-major G holds eigenvectors as columns: V[i][j] = G[i + j n];
     * R[j][i] = sqrt(w_j) V[i][j] */
    for (int j = 0; j < n; j++) {
        double sj = w[j] > 0 ? sqrt(w[j]) : 0.0;
        for (int i = 0; i < n; i++) R[(size_t)j * n + i] = sj * G[i + (size_t)j * n];
    }
    return ARK_OK;
}

static double sumsq(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* sum of squares of the (p, q) block at B with leading dimension ld */
static double block_sumsq(const double *B, int p, int q, int ld)
{
    double s = 0;
    for (int i = 0; i < p; i++) s += sumsq(B + (size_t)i * ld, (size_t)q);
    return s;
}

static double score_of(double num2, double nl2, double nr2)
{
    return nl2 > 0 && nr2 > 0 ? sqrt(num2 / nl2 / nr2) : 0.0;
}

/* X = R_A W_O (dh, d) for one writer head: W_V (d, dh), W_O (dh, d)
 * row-major; work: 2 dh^2 + 4 dh. */
static ark_status writer_head(const double *wv, const double *wo, int d, int dh, double *X, double *work)
{
    double *R = work + (size_t)dh * dh + 4 * (size_t)dh;
    ARK_TRY(r_factor(wv, d, dh, false, R, work));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dh, d, dh, 1.0, R, dh, wo, d, 0.0, X, d);
    return ARK_OK;
}

/* Y = F R_B^T (d, dh) for one reader head: F (d, dh) row-major; N given
 * as N^T (d, dh) row-major, or (n_rows) as N (dh, d) row-major; work:
 * 2 dh^2 + 4 dh. */
static ark_status reader_head(const double *f, const double *n, bool n_rows, int d, int dh, double *Y, double *work)
{
    double *R = work + (size_t)dh * dh + 4 * (size_t)dh;
    ARK_TRY(r_factor(n, d, dh, n_rows, R, work));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, dh, dh, 1.0, f, dh, R, dh, 0.0, Y, dh);
    return ARK_OK;
}

/* ---- all pairs ---- */

/* One layer's heads, as a writer or as a reader of one mode. */
typedef struct side {
    double *x;    /* writer: X_A rows of head h at h*dh (H*dh, n_in); reader: Y_B columns at h*dh (n_in, H*dh) */
    double *n2;   /* (H): ||OV_A||_F^2 or ||R_B||_F^2 */
} side;

static void side_free(side *s)
{
    free(s->x); free(s->n2);
    memset(s, 0, sizeof *s);
}

static double *to_double(const float *x, size_t n)
{
    double *y = malloc(sizeof(double) * (n ? n : 1));
    if (y)
        for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

/* A per-head weight of one layer as doubles: (H, rows, cols). */
static ark_status read_heads(const ark_model *m, ark_weight w, int layer, double **out)
{
    ark_tensor t = {0};
    *out = NULL;
    ARK_TRY(ark_weight_get(m, w, layer, -1, &t));
    *out = to_double(t.data, (size_t)ark_tensor_numel(&t));
    ark_weight_free(&t);
    return *out ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "composition: out of memory reading %s", ark_weight_name(w));
}

/* Writer side of layer l: X_A = R_A W_O per head (times Q when given) and
 * ||OV_A||^2 = ||R_A W_O||^2. */
static ark_status writer_side(const ark_model *m, int l, const double *Q, int k, side *s)
{
    const ark_config *c = ark_model_config(m);
    int H = c->n_heads, d = c->d_model, dh = c->d_head, HD = H * dh;
    double *wv = NULL, *wo = NULL;
    ark_status st = read_heads(m, ARK_W_V_UNGROUPED, l, &wv);          /* (H, d, dh) */
    if (st == ARK_OK) st = read_heads(m, ARK_W_O, l, &wo);             /* (H*dh, d) */
    double *X = malloc(sizeof(double) * (size_t)HD * d);
    s->n2 = malloc(sizeof(double) * H);
    if (st == ARK_OK && (!X || !s->n2)) st = ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
    /* heads in parallel: one thread region instead of BLAS threading each small call */
    ark_status bad = ARK_OK;
#pragma omp parallel if (st == ARK_OK && H > 1)
    {
        double *work = malloc(sizeof(double) * (2 * (size_t)dh * dh + 4 * (size_t)dh));
        ark_status mine = st != ARK_OK ? st : work ? ARK_OK : ARK_ERR_NOMEM;
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (mine != ARK_OK) continue;
            double *xh = X + (size_t)h * dh * d;
            mine = writer_head(wv + (size_t)h * d * dh, wo + (size_t)h * dh * d, d, dh, xh, work);
            s->n2[h] = sumsq(xh, (size_t)dh * d);
        }
#pragma omp critical
        if (mine != ARK_OK && bad == ARK_OK) bad = mine;
        free(work);
    }
    if (st == ARK_OK && bad != ARK_OK) st = ark_fail(bad, "composition: the weights of layer %d's heads could not be factored", l);
    if (st == ARK_OK && Q) {
        s->x = malloc(sizeof(double) * (size_t)HD * k);
        if (!s->x) st = ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
        else cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, HD, k, d, 1.0, X, d, Q, k, 0.0, s->x, k);
        free(X);
    } else {
        s->x = X;
    }
    free(wv); free(wo);
    if (st != ARK_OK) side_free(s);
    return st;
}

/* Reader side of layer l for `mode`: Y_B = F R_B^T per head as columns
 * (Q^T Y_B when projecting) and ||R_B||^2 = ||F R_B^T||^2. */
static ark_status reader_side(const ark_model *m, int l, ark_comp_mode mode, const double *Q, int k, side *s)
{
    const ark_config *c = ark_model_config(m);
    int H = c->n_heads, d = c->d_model, dh = c->d_head, HD = H * dh;
    ark_weight fw = mode == ARK_COMP_Q ? ARK_W_Q : mode == ARK_COMP_K ? ARK_W_K_UNGROUPED : ARK_W_V_UNGROUPED;
    ark_weight nw = mode == ARK_COMP_Q ? ARK_W_K_UNGROUPED : mode == ARK_COMP_K ? ARK_W_Q : ARK_W_O;
    double *fh = NULL, *nh = NULL;
    ark_status st = read_heads(m, fw, l, &fh);                         /* (H, d, dh) */
    if (st == ARK_OK) st = read_heads(m, nw, l, &nh);                  /* N^T (H, d, dh); W_O (H, dh, d) */
    double *Y = malloc(sizeof(double) * (size_t)d * HD);
    s->n2 = malloc(sizeof(double) * H);
    if (st == ARK_OK && (!Y || !s->n2)) st = ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
    ark_status bad = ARK_OK;
#pragma omp parallel if (st == ARK_OK && H > 1)
    {
        double *work = malloc(sizeof(double) * (2 * (size_t)dh * dh + 4 * (size_t)dh));
        double *y = malloc(sizeof(double) * (size_t)d * dh);
        ark_status mine = st != ARK_OK ? st : work && y ? ARK_OK : ARK_ERR_NOMEM;
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (mine != ARK_OK) continue;
            /* N^T = W_K or W_Q (d, dh); for V, N = W_O (dh, d) */
            mine = reader_head(fh + (size_t)h * d * dh, nh + (size_t)h * d * dh, mode == ARK_COMP_V, d, dh, y, work);
            s->n2[h] = sumsq(y, (size_t)d * dh);
            for (int i = 0; i < d; i++) memcpy(Y + (size_t)i * HD + (size_t)h * dh, y + (size_t)i * dh, sizeof(double) * dh);
        }
#pragma omp critical
        if (mine != ARK_OK && bad == ARK_OK) bad = mine;
        free(work);
        free(y);
    }
    if (st == ARK_OK && bad != ARK_OK) st = ark_fail(bad, "composition: the weights of layer %d's heads could not be factored", l);
    if (st == ARK_OK && Q) {
        s->x = malloc(sizeof(double) * (size_t)k * HD);
        if (!s->x) st = ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
        else cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, HD, d, 1.0, Q, k, Y, HD, 0.0, s->x, HD);
        free(Y);
    } else {
        s->x = Y;
    }
    free(fh); free(nh);
    if (st != ARK_OK) side_free(s);
    return st;
}

/* Scores of every writer head of `w` (layer la) into every reader head of
 * `r` (layer lb): out[la, ha, lb, hb]. */
static ark_status layer_pair(const side *w, const side *r, int H, int dh, int n_in, float *out, int la, int lb, int L)
{
    int HD = H * dh;
    double *P = malloc(sizeof(double) * (size_t)HD * HD);   /* (H*dh, H*dh): block (a, b) = X_a Y_b */
    if (!P) return ark_fail(ARK_ERR_NOMEM, "composition: out of memory (%d x %d)", HD, HD);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, HD, HD, n_in, 1.0, w->x, n_in, r->x, HD, 0.0, P, HD);
    for (int a = 0; a < H; a++)
        for (int b = 0; b < H; b++) {
            double num2 = block_sumsq(P + (size_t)a * dh * HD + (size_t)b * dh, dh, dh, HD);
            out[(((size_t)la * H + a) * L + lb) * H + b] = (float)score_of(num2, w->n2[a], r->n2[b]);
        }
    free(P);
    return ARK_OK;
}

static ark_status scores_impl(const ark_model *m, ark_comp_mode mode, const float *Qf, int k, float *out)
{
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, d = c->d_model, dh = c->d_head;
    if ((unsigned)mode > ARK_COMP_V) return ark_fail(ARK_ERR_ARG, "composition: mode %d is not q, k or v", (int)mode);
    if (Qf && (k < 1 || k > d)) return ark_fail(ARK_ERR_ARG, "composition through a subspace: k = %d, expected 1..%d", k, d);
    memset(out, 0, sizeof(float) * (size_t)L * H * L * H);
    double *Q = Qf ? to_double(Qf, (size_t)d * k) : NULL;
    if (Qf && !Q) return ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
    /* Every reader side is kept when they fit in 512 MiB (always, through a
     * small subspace); otherwise one is rebuilt per layer pair, which costs
     * about 1/H of that pair's GEMM. */
    int HD = H * dh, n_in = Q ? k : d;
    bool keep = (double)n_in * HD * sizeof(double) * (L - 1) <= 512.0 * 1024 * 1024;
    side *rs = calloc((size_t)L, sizeof *rs);
    ark_status st = rs ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "composition: out of memory");
    for (int lb = 1; keep && st == ARK_OK && lb < L; lb++) st = reader_side(m, lb, mode, Q, k, &rs[lb]);
    for (int la = 0; st == ARK_OK && la + 1 < L; la++) {
        side w = {0};
        st = writer_side(m, la, Q, k, &w);
        for (int lb = la + 1; st == ARK_OK && lb < L; lb++) {
            if (!keep) st = reader_side(m, lb, mode, Q, k, &rs[lb]);
            if (st == ARK_OK) st = layer_pair(&w, &rs[lb], H, dh, n_in, out, la, lb, L);
            if (!keep) side_free(&rs[lb]);
        }
        side_free(&w);
    }
    for (int l = 0; rs && l < L; l++) side_free(&rs[l]);
    free(rs);
    free(Q);
    return st;
}

ark_status ark_composition_scores(const ark_model *m, ark_comp_mode mode, float *out)
{
    return scores_impl(m, mode, NULL, 0, out);
}

ark_status ark_composition_scores_through(const ark_model *m, ark_comp_mode mode, const float *Q, int k, float *out)
{
    if (!Q) return ark_fail(ARK_ERR_ARG, "composition through a subspace: the basis Q is NULL");
    return scores_impl(m, mode, Q, k, out);
}

/* ---- one pair, through factored circuits ---- */

static ark_status check_head(const ark_config *c, const char *who, int l, int h)
{
    if (l < 0 || l >= c->n_layers) return ark_fail(ARK_ERR_ARG, "%s layer %d: expected 0..%d", who, l, c->n_layers - 1);
    if (h < 0 || h >= c->n_heads) return ark_fail(ARK_ERR_ARG, "%s head %d: expected 0..%d", who, h, c->n_heads - 1);
    return ARK_OK;
}

/* The reader's circuit for `mode`: QK, QK^T or OV. */
static ark_status reader_circuit(const ark_model *m, ark_comp_mode mode, int l, int h, ark_factored **out)
{
    if (mode == ARK_COMP_V) return ark_ov_circuit(m, l, h, out);
    ark_factored *qk;
    ARK_TRY(ark_qk_circuit(m, l, h, &qk));
    if (mode == ARK_COMP_Q) { *out = qk; return ARK_OK; }
    ark_status s = ark_factored_transpose(qk, out);
    ark_factored_free(qk);
    return s;
}

ark_status ark_composition_score(const ark_model *m, ark_comp_mode mode, int la, int ha, int lb, int hb, double *out)
{
    const ark_config *c = ark_model_config(m);
    *out = 0;
    ARK_TRY(check_head(c, "writer", la, ha));
    ARK_TRY(check_head(c, "reader", lb, hb));
    if ((unsigned)mode > ARK_COMP_V) return ark_fail(ARK_ERR_ARG, "composition: mode %d is not q, k or v", (int)mode);
    if (lb <= la) return ARK_OK;
    ark_factored *ov = NULL, *r = NULL, *prod = NULL;
    ark_status s = ark_ov_circuit(m, la, ha, &ov);
    if (s == ARK_OK) s = reader_circuit(m, mode, lb, hb, &r);
    if (s == ARK_OK) s = ark_factored_mul(ov, r, &prod);
    if (s == ARK_OK) {
        double a = ark_factored_frobenius(ov), b = ark_factored_frobenius(r), p = ark_factored_frobenius(prod);
        *out = a > 0 && b > 0 ? p / a / b : 0.0;
    }
    ark_factored_free(ov); ark_factored_free(r); ark_factored_free(prod);
    return s;
}

/* ---- baseline ---- */

static void gaussian(ark_rng *g, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = ark_rng_normal(g);
}

ark_status ark_composer_baseline(int d, int dh, int samples, uint64_t seed, ark_comp_baseline *out)
{
    memset(out, 0, sizeof *out);
    if (d < 1 || dh < 1) return ark_fail(ARK_ERR_ARG, "baseline: d = %d and d_head = %d must be >= 1", d, dh);
    if (samples < 2) return ark_fail(ARK_ERR_ARG, "baseline: %d samples, expected at least 2", samples);
    size_t n = (size_t)d * dh;
    double *scores = malloc(sizeof(double) * samples);
    if (!scores) return ark_fail(ARK_ERR_NOMEM, "baseline: out of memory");
    ark_status bad = ARK_OK;
    /* sample i draws from its own generator (seeded from seed and i), so the
     * numbers do not depend on the thread count */
#pragma omp parallel
    {
        double *buf = malloc(sizeof(double) * (6 * n + 3 * (size_t)dh * dh + 4 * (size_t)dh));
        ark_status mine = buf ? ARK_OK : ARK_ERR_NOMEM;
#pragma omp for schedule(static)
        for (int i = 0; i < samples; i++) {
            if (mine != ARK_OK) continue;
            double *wv = buf, *wo = buf + n, *f = buf + 2 * n, *nt = buf + 3 * n, *X = buf + 4 * n, *Y = buf + 5 * n;
            double *M = buf + 6 * n, *work = M + (size_t)dh * dh;
            ark_rng g;
            ark_rng_seed(&g, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)));
            gaussian(&g, wv, n); /* W_V (d, dh) */
            gaussian(&g, wo, n); /* W_O (dh, d) */
            gaussian(&g, f, n);  /* F (d, dh) */
            gaussian(&g, nt, n); /* N^T (d, dh) */
            mine = writer_head(wv, wo, d, dh, X, work);
            if (mine == ARK_OK) mine = reader_head(f, nt, false, d, dh, Y, work);
            if (mine != ARK_OK) continue;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dh, dh, d, 1.0, X, d, Y, dh, 0.0, M, dh);
            scores[i] = score_of(sumsq(M, (size_t)dh * dh), sumsq(X, n), sumsq(Y, n));
        }
#pragma omp critical
        if (mine != ARK_OK && bad == ARK_OK) bad = mine;
        free(buf);
    }
    double sum = 0, sum2 = 0;
    for (int i = 0; i < samples; i++) { sum += scores[i]; sum2 += scores[i] * scores[i]; }
    free(scores);
    if (bad != ARK_OK) return ark_fail(bad, "baseline: sampling failed (out of memory or LAPACK)");
    out->samples = samples;
    out->seed = seed;
    out->mean = sum / samples;
    double var = (sum2 - samples * out->mean * out->mean) / (samples - 1);
    out->std = var > 0 ? sqrt(var) : 0;
    return ARK_OK;
}

/* ---- top pairs ---- */

static int by_score_desc(const void *x, const void *y)
{
    const ark_comp_pair *a = x, *b = y;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    int ka[4] = {a->la, a->ha, a->lb, a->hb}, kb[4] = {b->la, b->ha, b->lb, b->hb};
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i]) return ka[i] - kb[i];
    return 0;
}

int ark_composition_top(const float *scores, int L, int H, ark_comp_mode mode, const ark_comp_baseline *b,
                        double min_z, int n, ark_comp_pair *out)
{
    if (n <= 0 || L < 2 || H < 1) return 0;
    size_t cap = (size_t)L * (L - 1) / 2 * H * H, cnt = 0;
    ark_comp_pair *all = malloc(sizeof *all * cap);
    if (!all) return 0;
    for (int la = 0; la < L; la++)
        for (int ha = 0; ha < H; ha++)
            for (int lb = la + 1; lb < L; lb++)
                for (int hb = 0; hb < H; hb++) {
                    float s = scores[(((size_t)la * H + ha) * L + lb) * H + hb];
                    float z = b && b->std > 0 ? (float)((s - b->mean) / b->std) : NAN;
                    if (b && z < min_z) continue; /* a NaN z (std 0) is kept */
                    all[cnt++] = (ark_comp_pair){mode, la, ha, lb, hb, s, z};
                }
    qsort(all, cnt, sizeof *all, by_score_desc);
    int k = cnt < (size_t)n ? (int)cnt : n;
    memcpy(out, all, sizeof *all * k);
    free(all);
    return k;
}

/* ---- virtual heads ---- */

ark_status ark_virtual_head_of(const ark_model *m, int la, int ha, int lb, int hb, ark_virtual_head *out)
{
    const ark_config *c = ark_model_config(m);
    memset(out, 0, sizeof *out);
    ARK_TRY(check_head(c, "writer", la, ha));
    ARK_TRY(check_head(c, "reader", lb, hb));
    if (lb <= la)
        return ark_fail(ARK_ERR_ARG, "virtual head: the reader's layer %d must come after the writer's layer %d", lb, la);
    ark_factored *ova = NULL, *ovb = NULL, *qkb = NULL, *ovat = NULL;
    ark_status s = ark_ov_circuit(m, la, ha, &ova);
    if (s == ARK_OK) s = ark_ov_circuit(m, lb, hb, &ovb);
    if (s == ARK_OK) s = ark_qk_circuit(m, lb, hb, &qkb);
    if (s == ARK_OK) s = ark_factored_transpose(ova, &ovat);
    if (s == ARK_OK) s = ark_factored_mul(ova, ovb, &out->ov);
    if (s == ARK_OK) s = ark_factored_mul(ova, qkb, &out->qk_q);
    if (s == ARK_OK) s = ark_factored_mul(qkb, ovat, &out->qk_k);
    ark_factored_free(ova); ark_factored_free(ovb); ark_factored_free(qkb); ark_factored_free(ovat);
    if (s != ARK_OK) ark_virtual_head_free(out);
    return s;
}

void ark_virtual_head_free(ark_virtual_head *v)
{
    if (!v) return;
    ark_factored_free(v->ov);
    ark_factored_free(v->qk_q);
    ark_factored_free(v->qk_k);
    memset(v, 0, sizeof *v);
}
