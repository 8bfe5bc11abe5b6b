/* The toy model of superposition (Elhage et al. 2022; include/arrakis/
 * tool_superposition.h, part (c)): x' = ReLU(W^T W x + b), trained with Adam
 * on importance-weighted squared error over synthetic sparse features. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "core/rng.h"

typedef struct toy_buf {
    float *x, *h, *y, *dy, *dh;   /* (B,n) (B,m) (B,n) (B,n) (B,m) */
    float *gW, *gb;               /* (m,n) (n) */
    float *mW, *vW, *mb, *vb;     /* Adam moments */
} toy_buf;

static void adam_step(float *p, float *m, float *v, const float *g, int n, float lr, double t)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float c1 = (float)(1.0 / (1.0 - pow(b1, t))), c2 = (float)(1.0 / (1.0 - pow(b2, t)));
    for (int i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}

/* x_i = 0 with probability S, else uniform in [0, 1). */
static void sample(ark_rng *r, float *x, int count, double S)
{
    for (int i = 0; i < count; i++) {
        double keep = ark_rng_uniform(r);
        double val = ark_rng_uniform(r);
        x[i] = keep < S ? 0.0f : (float)val;
    }
}

/* One step: loss, gradients into gW, gb. */
static double step(const ark_toy *t, toy_buf *w, int B)
{
    int n = t->n, m = t->m;
    double loss = 0;
    memset(w->gW, 0, sizeof(float) * (size_t)m * n);
    memset(w->gb, 0, sizeof(float) * n);
    for (int b = 0; b < B; b++) {
        const float *x = w->x + (size_t)b * n;
        float *h = w->h + (size_t)b * m, *y = w->y + (size_t)b * n, *dy = w->dy + (size_t)b * n, *dh = w->dh + (size_t)b * m;
        for (int k = 0; k < m; k++) {
            float s = 0;
            for (int j = 0; j < n; j++) s += t->W[(size_t)k * n + j] * x[j];
            h[k] = s;
        }
        for (int i = 0; i < n; i++) {
            float s = t->b[i];
            for (int k = 0; k < m; k++) s += t->W[(size_t)k * n + i] * h[k];
            y[i] = s;
            float out = s > 0 ? s : 0.0f, e = out - x[i];
            loss += t->importance[i] * (double)e * e;
            dy[i] = s > 0 ? 2.0f * t->importance[i] * e / (float)B : 0.0f;
            w->gb[i] += dy[i];
        }
        for (int k = 0; k < m; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) {
                s += dy[i] * t->W[(size_t)k * n + i];
                w->gW[(size_t)k * n + i] += h[k] * dy[i];     /* through the output map W^T */
            }
            dh[k] = s;
        }
        for (int k = 0; k < m; k++)
            for (int j = 0; j < n; j++) w->gW[(size_t)k * n + j] += dh[k] * x[j]; /* through the input map W */
    }
    return loss / B;
}

static ark_status check(const ark_toy_opts *o)
{
    if (o->n_features < 2 || o->n_features > 100000) return ark_fail(ARK_ERR_ARG, "toy model: n_features %d, expected 2..100000", o->n_features);
    if (o->m_hidden < 1 || o->m_hidden > o->n_features)
        return ark_fail(ARK_ERR_ARG, "toy model: m_hidden %d, expected 1..n_features (%d)", o->m_hidden, o->n_features);
    if (!(o->sparsity >= 0 && o->sparsity < 1)) return ark_fail(ARK_ERR_ARG, "toy model: sparsity %g, expected 0 <= S < 1", o->sparsity);
    if (!(o->importance_decay > 0 && o->importance_decay <= 1))
        return ark_fail(ARK_ERR_ARG, "toy model: importance_decay %g, expected in (0, 1]", o->importance_decay);
    if (o->steps < 1 || o->batch < 1) return ark_fail(ARK_ERR_ARG, "toy model: steps %d, batch %d: expected >= 1", o->steps, o->batch);
    if (!(o->lr > 0)) return ark_fail(ARK_ERR_ARG, "toy model: lr %g, expected > 0", (double)o->lr);
    return ARK_OK;
}

ark_status ark_toy_train(const ark_toy_opts *opts, ark_toy *t)
{
    memset(t, 0, sizeof *t);
    ark_toy_opts o = opts ? *opts : (ark_toy_opts)ARK_TOY_OPTS_INIT;
    ARK_TRY(check(&o));
    int n = o.n_features, m = o.m_hidden, B = o.batch;
    t->n = n;
    t->m = m;
    t->sparsity = o.sparsity;
    t->W = malloc(sizeof(float) * (size_t)m * n);
    t->b = calloc((size_t)n, sizeof(float));
    t->importance = malloc(sizeof(float) * n);
    toy_buf w = {0};
    w.x = malloc(sizeof(float) * (size_t)B * n);
    w.h = malloc(sizeof(float) * (size_t)B * m);
    w.y = malloc(sizeof(float) * (size_t)B * n);
    w.dy = malloc(sizeof(float) * (size_t)B * n);
    w.dh = malloc(sizeof(float) * (size_t)B * m);
    w.gW = malloc(sizeof(float) * (size_t)m * n);
    w.gb = malloc(sizeof(float) * n);
    w.mW = calloc((size_t)m * n, sizeof(float));
    w.vW = calloc((size_t)m * n, sizeof(float));
    w.mb = calloc((size_t)n, sizeof(float));
    w.vb = calloc((size_t)n, sizeof(float));
    ark_status s = ARK_OK;
    if (!t->W || !t->b || !t->importance || !w.x || !w.h || !w.y || !w.dy || !w.dh || !w.gW || !w.gb || !w.mW || !w.vW ||
        !w.mb || !w.vb)
        s = ark_fail(ARK_ERR_NOMEM, "toy model: out of memory");
    ark_rng rng;
    ark_rng_seed(&rng, o.seed);
    if (s == ARK_OK) {
        double std = sqrt(2.0 / (n + m)); /* Xavier normal, as the paper's code */
        for (size_t i = 0; i < (size_t)m * n; i++) t->W[i] = (float)(std * ark_rng_normal(&rng));
        for (int i = 0; i < n; i++) t->importance[i] = (float)pow(o.importance_decay, i);
        double tail = 0;
        int tail_n = 0;
        for (int it = 0; it < o.steps; it++) {
            sample(&rng, w.x, B * n, o.sparsity);
            double loss = step(t, &w, B);
            if (!isfinite(loss)) { s = ark_fail(ARK_ERR_ARG, "toy model: training diverged at step %d", it); break; }
            adam_step(t->W, w.mW, w.vW, w.gW, m * n, o.lr, it + 1);
            adam_step(t->b, w.mb, w.vb, w.gb, n, o.lr, it + 1);
            if (it >= o.steps - 100) { tail += loss; tail_n++; }
        }
        t->loss = tail_n ? tail / tail_n : NAN;
    }
    void *bufs[] = {w.x, w.h, w.y, w.dy, w.dh, w.gW, w.gb, w.mW, w.vW, w.mb, w.vb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    if (s != ARK_OK) ark_toy_free(t);
    return s;
}

void ark_toy_inspect(const ark_toy *t, float *norms, float *superposition, int *n_represented, double *dims_per_feature)
{
    int n = t->n, m = t->m, rep = 0;
    double fro = 0;
    for (int i = 0; i < n; i++) {
        double q = 0;
        for (int k = 0; k < m; k++) q += (double)t->W[(size_t)k * n + i] * t->W[(size_t)k * n + i];
        fro += q;
        double ni = sqrt(q), sup = 0;
        for (int j = 0; j < n && ni > 0; j++) {
            if (j == i) continue;
            double dot = 0;
            for (int k = 0; k < m; k++) dot += (double)t->W[(size_t)k * n + i] * t->W[(size_t)k * n + j];
            dot /= ni;
            sup += dot * dot;
        }
        if (norms) norms[i] = (float)ni;
        if (superposition) superposition[i] = (float)sup;
        rep += ni > 0.5;
    }
    if (n_represented) *n_represented = rep;
    if (dims_per_feature) *dims_per_feature = fro > 0 ? m / fro : INFINITY;
}

void ark_toy_free(ark_toy *t)
{
    if (!t) return;
    free(t->W);
    free(t->b);
    free(t->importance);
    memset(t, 0, sizeof *t);
}
