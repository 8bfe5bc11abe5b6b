/* Multinomial logistic regression with an L2 penalty, fit by full-batch
 * L-BFGS, and the difference-of-means directions
 * (include/arrakis/tool_knowledge.h has the definitions). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_knowledge.h"
#include "core/error.h"

#define LBFGS_M 10

/* The training problem in double precision: Z (m, d) standardised rows,
 * y (m) in [0, k) (classes renumbered to those present). */
typedef struct problem {
    int m, d, k;
    double l2;
    double *Z;      /* (m, d) */
    int *y;         /* (m) */
    double *logits; /* (m, k) scratch */
} problem;

/* J(theta) and its gradient; theta = [W (k, d), b (k)]. */
static double objective(const problem *pb, const double *theta, double *grad)
{
    int m = pb->m, d = pb->d, k = pb->k;
    const double *W = theta, *b = theta + (size_t)k * d;
    double *L = pb->logits;
    // L (m, k) = Z (m, d) W^T (d, k)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, d, 1.0, pb->Z, d, W, d, 0.0, L, k);
    double loss = 0;
    for (int i = 0; i < m; i++) {
        double *li = L + (size_t)i * k, mx = -INFINITY, sum = 0;
        for (int c = 0; c < k; c++) {
            li[c] += b[c];
            if (li[c] > mx) mx = li[c];
        }
        for (int c = 0; c < k; c++) sum += exp(li[c] - mx);
        double lse = mx + log(sum);
        loss += lse - li[pb->y[i]];
        // li becomes (p_i - e_{y_i}) / m, the residual the gradient needs
        for (int c = 0; c < k; c++) li[c] = exp(li[c] - lse) / m;
        li[pb->y[i]] -= 1.0 / m;
    }
    loss /= m;
    double reg = 0;
    for (size_t j = 0; j < (size_t)k * d; j++) reg += W[j] * W[j];
    loss += 0.5 * pb->l2 * reg;
    if (grad) {
        double *gW = grad, *gb = grad + (size_t)k * d;
        memcpy(gW, W, sizeof(double) * k * d);
        // gW (k, d) = R^T (k, m) Z (m, d) + l2 W
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, d, m, 1.0, L, k, pb->Z, d, pb->l2, gW, d);
        for (int c = 0; c < k; c++) gb[c] = 0;
        for (int i = 0; i < m; i++)
            for (int c = 0; c < k; c++) gb[c] += L[(size_t)i * k + c];
    }
    return loss;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The L-BFGS search direction -H g by the two-loop recursion. */
static void two_loop(size_t P, int used, int head, double **S, double **Yv, const double *rho, const double *g,
                     double *dir)
{
    double alpha[LBFGS_M];
    for (size_t j = 0; j < P; j++) dir[j] = -g[j];
    for (int t = 0; t < used; t++) {
        int i = (head - 1 - t + LBFGS_M) % LBFGS_M;
        alpha[i] = rho[i] * dot(S[i], dir, P);
        for (size_t j = 0; j < P; j++) dir[j] -= alpha[i] * Yv[i][j];
    }
    if (used) {
        int i = (head - 1 + LBFGS_M) % LBFGS_M;
        double gamma = dot(S[i], Yv[i], P) / dot(Yv[i], Yv[i], P);
        for (size_t j = 0; j < P; j++) dir[j] *= gamma;
    }
    for (int t = used - 1; t >= 0; t--) {
        int i = (head - 1 - t + LBFGS_M) % LBFGS_M;
        double beta = rho[i] * dot(Yv[i], dir, P);
        for (size_t j = 0; j < P; j++) dir[j] += (alpha[i] - beta) * S[i][j];
    }
}

typedef struct lbfgs_out {
    int iterations;
    double loss, grad_norm;
} lbfgs_out;

/* Minimise J from theta (updated in place). */
static ark_status lbfgs(const problem *pb, double *theta, int max_iter, double tol, lbfgs_out *res)
{
    size_t P = (size_t)pb->k * pb->d + pb->k;
    double *buf = malloc(sizeof(double) * P * (4 + 2 * LBFGS_M));
    if (!buf) return ark_fail(ARK_ERR_NOMEM, "logistic regression: out of memory (%zu parameters)", P);
    double *g = buf, *dir = g + P, *th2 = dir + P, *g2 = th2 + P, *S[LBFGS_M], *Yv[LBFGS_M], rho[LBFGS_M];
    for (int i = 0; i < LBFGS_M; i++) S[i] = g2 + P + 2 * i * P, Yv[i] = S[i] + P;
    double f = objective(pb, theta, g), gn = sqrt(dot(g, g, P));
    int it = 0, used = 0, head = 0, stalls = 0;
    while (gn > tol && it < max_iter) {
        two_loop(P, used, head, S, Yv, rho, g, dir);
        double slope = dot(g, dir, P);
        if (slope >= 0) { // not a descent direction: restart from the gradient
            used = 0;
            for (size_t j = 0; j < P; j++) dir[j] = -g[j];
            slope = -gn * gn;
        }
        double step = used ? 1.0 : fmin(1.0, 1.0 / gn), f2 = f;
        int tries = 0;
        for (; tries < 60; tries++, step *= 0.5) {
            for (size_t j = 0; j < P; j++) th2[j] = theta[j] + step * dir[j];
            f2 = objective(pb, th2, g2);
            if (f2 <= f + 1e-4 * step * slope) break;
        }
        if (tries == 60) break; // no decrease representable: at the optimum to rounding
        double *s = S[head], *y = Yv[head];
        for (size_t j = 0; j < P; j++) s[j] = th2[j] - theta[j], y[j] = g2[j] - g[j];
        double sy = dot(s, y, P);
        if (sy > 1e-12 * sqrt(dot(s, s, P) * dot(y, y, P))) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (used < LBFGS_M) used++;
        }
        stalls = f - f2 <= 1e-16 * fabs(f) ? stalls + 1 : 0;
        memcpy(theta, th2, sizeof(double) * P);
        memcpy(g, g2, sizeof(double) * P);
        f = f2;
        gn = sqrt(dot(g, g, P));
        it++;
        if (stalls >= 5) break;
    }
    res->iterations = it;
    res->loss = f;
    res->grad_norm = gn;
    free(buf);
    return ARK_OK;
}

/* mu, sigma over the used rows (population sd; sigma := 1 below 1e-8). */
static void standardise_stats(const float *X, int n, int d, const uint8_t *use, bool on, float *mean, float *std)
{
    double *s1 = calloc((size_t)d * 2, sizeof(double)), *s2 = s1 + d;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (use && !use[i]) continue;
        m++;
        for (int j = 0; j < d; j++) s1[j] += X[(size_t)i * d + j];
    }
    for (int j = 0; j < d; j++) s1[j] /= m;
    for (int i = 0; i < n; i++) {
        if (use && !use[i]) continue;
        for (int j = 0; j < d; j++) {
            double e = X[(size_t)i * d + j] - s1[j];
            s2[j] += e * e;
        }
    }
    for (int j = 0; j < d; j++) {
        double sd = sqrt(s2[j] / m);
        mean[j] = on ? (float)s1[j] : 0.0f;
        std[j] = on && sd >= 1e-8 ? (float)sd : 1.0f;
    }
    free(s1);
}

void ark_logreg_free(ark_logreg *p)
{
    if (!p) return;
    free(p->W);
    free(p->b);
    free(p->mean);
    free(p->std);
    memset(p, 0, sizeof *p);
}

static ark_status check_fit_args(const int *y, int n, int d, int k, const uint8_t *use, const ark_logreg_opts *o,
                                 int *m)
{
    if (n < 1 || d < 1) return ark_fail(ARK_ERR_ARG, "logistic regression: no data (%d rows of %d features)", n, d);
    if (k < 2) return ark_fail(ARK_ERR_ARG, "logistic regression: %d class; a probe needs at least 2", k);
    if (!(o->l2 >= 0) || !isfinite(o->l2)) return ark_fail(ARK_ERR_ARG, "l2: %g, expected a number >= 0", o->l2);
    if (o->max_iter < 0) return ark_fail(ARK_ERR_ARG, "max_iter: %d, expected >= 0", o->max_iter);
    *m = 0;
    for (int i = 0; i < n; i++) {
        if (use && !use[i]) continue;
        if (y[i] < 0 || y[i] >= k) return ark_fail(ARK_ERR_ARG, "label of row %d: %d, expected 0..%d", i, y[i], k - 1);
        (*m)++;
    }
    if (!*m) return ark_fail(ARK_ERR_ARG, "logistic regression: no training row");
    return ARK_OK;
}

ark_status ark_logreg_fit(const float *X, const int *y, int n, int d, int k, const uint8_t *use,
                          const ark_logreg_opts *o, ark_logreg *out)
{
    memset(out, 0, sizeof *out);
    int m = 0;
    ARK_TRY(check_fit_args(y, n, d, k, use, o, &m));
    out->d = d;
    out->k = k;
    out->W = calloc((size_t)k * d, sizeof(float));
    out->b = calloc((size_t)k, sizeof(float));
    out->mean = malloc(sizeof(float) * d);
    out->std = malloc(sizeof(float) * d);
    int *cls = malloc(sizeof(int) * k), ke = 0; // class -> fitted index, -1 absent
    problem pb = {m, d, 0, o->l2, malloc(sizeof(double) * (size_t)m * d), malloc(sizeof(int) * m), NULL};
    if (!out->W || !out->b || !out->mean || !out->std || !cls || !pb.Z || !pb.y) {
        free(cls), free(pb.Z), free(pb.y), ark_logreg_free(out);
        return ark_fail(ARK_ERR_NOMEM, "logistic regression: out of memory (%d x %d)", m, d);
    }
    standardise_stats(X, n, d, use, o->standardize, out->mean, out->std);
    for (int c = 0; c < k; c++) cls[c] = -1;
    for (int i = 0; i < n; i++)
        if ((!use || use[i]) && cls[y[i]] < 0) cls[y[i]] = 0;
    for (int c = 0; c < k; c++)
        if (!cls[c]) cls[c] = ke++;
    pb.k = ke;
    for (int i = 0, r = 0; i < n; i++) {
        if (use && !use[i]) continue;
        for (int j = 0; j < d; j++) pb.Z[(size_t)r * d + j] = ((double)X[(size_t)i * d + j] - out->mean[j]) / out->std[j];
        pb.y[r++] = cls[y[i]];
    }
    size_t P = (size_t)ke * d + ke;
    double *theta = calloc(P, sizeof(double));
    pb.logits = malloc(sizeof(double) * (size_t)m * (ke ? ke : 1));
    ark_status s = theta && pb.logits ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "logistic regression: out of memory");
    lbfgs_out res = {0};
    if (s == ARK_OK && ke >= 2) s = lbfgs(&pb, theta, o->max_iter, o->tol, &res);
    if (s == ARK_OK) {
        for (int c = 0; c < k; c++) {
            if (cls[c] < 0) { out->b[c] = ARK_PROBE_ABSENT_BIAS; continue; }
            for (int j = 0; j < d; j++) out->W[(size_t)c * d + j] = (float)theta[(size_t)cls[c] * d + j];
            out->b[c] = ke >= 2 ? (float)theta[(size_t)ke * d + cls[c]] : 0.0f;
        }
        out->iterations = res.iterations;
        out->loss = res.loss;
        out->grad_norm = res.grad_norm;
        out->converged = res.grad_norm <= o->tol;
    }
    free(theta), free(pb.logits), free(pb.Z), free(pb.y), free(cls);
    if (s != ARK_OK) ark_logreg_free(out);
    return s;
}

int ark_logreg_predict(const ark_logreg *p, const float *x, float *logits)
{
    int best = 0;
    double bv = -INFINITY;
    for (int c = 0; c < p->k; c++) {
        const float *w = p->W + (size_t)c * p->d;
        double v = p->b[c];
        for (int j = 0; j < p->d; j++) v += (double)w[j] * (((double)x[j] - p->mean[j]) / p->std[j]);
        if (logits) logits[c] = (float)v;
        if (v > bv) bv = v, best = c;
    }
    return best;
}

double ark_logreg_accuracy(const ark_logreg *p, const float *X, const int *y, int n, const uint8_t *use, uint8_t want)
{
    int hit = 0, tot = 0;
    for (int i = 0; i < n; i++) {
        if (use && use[i] != want) continue;
        tot++;
        hit += ark_logreg_predict(p, X + (size_t)i * p->d, NULL) == y[i];
    }
    return tot ? (double)hit / tot : NAN;
}

/* ---- difference of means ---- */

static void unit(double *v, int d, float *out)
{
    double nn = sqrt(dot(v, v, d));
    for (int j = 0; j < d; j++) out[j] = nn > 0 ? (float)(v[j] / nn) : 0.0f;
}

ark_status ark_probe_dom(const float *X, const int *y, int n, int d, int k, const uint8_t *use, uint8_t want,
                         float *dom)
{
    double *sum = calloc((size_t)(k + 2) * d, sizeof(double)), *all = sum + (size_t)k * d, *v = all + d;
    int *cnt = calloc(k, sizeof(int)), tot = 0;
    if (!sum || !cnt) { free(sum), free(cnt); return ark_fail(ARK_ERR_NOMEM, "difference of means: out of memory"); }
    for (int i = 0; i < n; i++) {
        if (use && use[i] != want) continue;
        if (y[i] < 0 || y[i] >= k) { free(sum), free(cnt); return ark_fail(ARK_ERR_ARG, "label of row %d: %d, expected 0..%d", i, y[i], k - 1); }
        cnt[y[i]]++, tot++;
        for (int j = 0; j < d; j++) sum[(size_t)y[i] * d + j] += X[(size_t)i * d + j], all[j] += X[(size_t)i * d + j];
    }
    for (int c = 0; c < k; c++) {
        int rest = tot - cnt[c];
        for (int j = 0; j < d; j++)
            v[j] = cnt[c] && rest ? sum[(size_t)c * d + j] / cnt[c] - (all[j] - sum[(size_t)c * d + j]) / rest : 0.0;
        unit(v, d, dom + (size_t)c * d);
    }
    free(sum);
    free(cnt);
    return ARK_OK;
}

ark_status ark_probe_mean_difference(const float *X, const int *y, int n, int d, int pos, int neg,
                                     const uint8_t *use, uint8_t want, float *v, double *threshold)
{
    double *mp = calloc((size_t)d * 2, sizeof(double)), *mn = mp + d;
    if (!mp) return ark_fail(ARK_ERR_NOMEM, "difference of means: out of memory");
    int np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        if ((use && use[i] != want) || (y[i] != pos && y[i] != neg)) continue;
        double *acc = y[i] == pos ? mp : mn;
        if (y[i] == pos) np++;
        else nn++;
        for (int j = 0; j < d; j++) acc[j] += X[(size_t)i * d + j];
    }
    double proj_p = 0, proj_n = 0;
    for (int j = 0; j < d; j++) {
        mp[j] = np ? mp[j] / np : 0;
        mn[j] = nn ? mn[j] / nn : 0;
    }
    double *diff = malloc(sizeof(double) * d);
    for (int j = 0; j < d; j++) diff[j] = np && nn ? mp[j] - mn[j] : 0;
    unit(diff, d, v);
    for (int j = 0; j < d; j++) proj_p += mp[j] * v[j], proj_n += mn[j] * v[j];
    if (threshold) *threshold = np && nn ? 0.5 * (proj_p + proj_n) : NAN;
    free(diff);
    free(mp);
    return ARK_OK;
}
