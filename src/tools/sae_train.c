/* Training sparse autoencoders (ark_sae_train, include/arrakis/tool_superposition.h):
 * hand-written gradients, Adam, unit-norm decoder rows.
 *
 * The hot loop.  The encoder's product (B, d) x (d, d_sae) is one BLAS sgemm
 * for both variants.  TopK: everything after it is sparse — each row keeps k
 * features, the reconstruction and the gradients touch only those (B k d
 * multiply-adds each), and the per-feature gradients are gathered through a
 * feature -> entries index so that one parallel loop over features computes
 * each feature's gradient rows, applies Adam and renormalises its decoder row
 * without any [d_sae, d] gradient buffer.  ReLU + L1: the features are dense,
 * so decoding and the three gradient products are sgemms too.
 *
 * Internally the encoder is kept transposed, W_enc^T (d_sae, d), so that a
 * feature's encoder weights are one contiguous row like its decoder row. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "tools/sae_internal.h"

/* Parallel loops only when a step is big enough to pay for the threads (on a
 * busy machine small parallel regions cost more than they save). */
#define PAR(t) ((size_t)(t)->B * (t)->D * (t)->d > ((size_t)1 << 22))

typedef struct trainer {
    ark_sae *s;
    ark_sae_train_opts o;
    int d, D, B, k;
    bool topk;
    float *WeT, *be, *Wd, *bd;                  /* (D,d) (D) (D,d) (d) scaled units */
    float *mWeT, *vWeT, *mbe, *vbe, *mWd, *vWd, *mbd, *vbd;
    float *X, *Xc, *pre, *recon, *dR;           /* (B,d) (B,d) (B,D) (B,d) (B,d) */
    int *idx;                                   /* (B,k) active features (TopK) */
    float *val, *dpre;                          /* (B,k) */
    int *cnt, *off, *ent;                       /* feature -> entries b*k+j */
    float *dF, *gWd, *gWeT;                     /* ReLU: (B,D) (D,d) (D,d) */
    float *gbe, *fsum, *ones;                   /* ReLU: (D) column sums of dPre and f, (B) ones */
    double *tb;                                 /* (threads, d) sum_i gbe_i W_enc^T[i] */
    float *gbd;                                 /* (d) */
    int64_t *last;                              /* (D) tokens seen when last active */
    int64_t tokens;
    int nt;
    double scale;
} trainer;

static float *fbuf(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static ark_status trainer_alloc(trainer *t)
{
    size_t d = t->d, D = t->D, B = t->B, k = t->k;
    t->WeT = fbuf(D * d); t->Wd = fbuf(D * d); t->be = fbuf(D); t->bd = fbuf(d);
    t->mWeT = fbuf(D * d); t->vWeT = fbuf(D * d); t->mWd = fbuf(D * d); t->vWd = fbuf(D * d);
    t->mbe = fbuf(D); t->vbe = fbuf(D); t->mbd = fbuf(d); t->vbd = fbuf(d);
    t->X = fbuf(B * d); t->Xc = fbuf(B * d); t->pre = fbuf(B * D); t->recon = fbuf(B * d); t->dR = fbuf(B * d);
    t->gbd = fbuf(d);
    t->nt = omp_get_max_threads();
    t->tb = calloc((size_t)t->nt * d, sizeof(double));
    t->last = calloc(D, sizeof(int64_t));
    bool ok = t->WeT && t->Wd && t->be && t->bd && t->mWeT && t->vWeT && t->mWd && t->vWd && t->mbe && t->vbe &&
              t->mbd && t->vbd && t->X && t->Xc && t->pre && t->recon && t->dR && t->gbd && t->tb && t->last;
    if (t->topk) {
        t->idx = malloc(sizeof(int) * B * k);
        t->val = fbuf(B * k);
        t->dpre = fbuf(B * k);
        t->cnt = calloc(D, sizeof(int));
        t->off = calloc(D + 1, sizeof(int));
        t->ent = malloc(sizeof(int) * B * k);
        ok = ok && t->idx && t->val && t->dpre && t->cnt && t->off && t->ent;
    } else {
        t->dF = fbuf(B * D);
        t->gWd = fbuf(D * d);
        t->gWeT = fbuf(D * d);
        t->gbe = fbuf(D);
        t->fsum = fbuf(D);
        t->ones = fbuf(B);
        for (size_t b = 0; t->ones && b < B; b++) t->ones[b] = 1.0f;
        ok = ok && t->dF && t->gWd && t->gWeT && t->gbe && t->fsum && t->ones;
    }
    return ok ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "SAE training: out of memory (d_sae %d, d %d, batch %d)", t->D, t->d, t->B);
}

static void trainer_free(trainer *t)
{
    void *p[] = {t->WeT, t->be, t->Wd, t->bd, t->mWeT, t->vWeT, t->mbe, t->vbe, t->mWd, t->vWd, t->mbd, t->vbd,
                 t->X, t->Xc, t->pre, t->recon, t->dR, t->idx, t->val, t->dpre, t->cnt, t->off, t->ent, t->dF,
                 t->gWd, t->gWeT, t->gbe, t->fsum, t->ones, t->tb, t->gbd, t->last};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

/* One Adam update of n parameters (bias-corrected: c1 = 1/(1-b1^t), c2 = 1/(1-b2^t)). */
typedef struct adam_t { float lr, b1, b2, eps, c1, c2; } adam_t;

static inline void adam(float *p, float *m, float *v, const float *g, int n, const adam_t *a)
{
    for (int j = 0; j < n; j++) {
        m[j] = a->b1 * m[j] + (1.0f - a->b1) * g[j];
        v[j] = a->b2 * v[j] + (1.0f - a->b2) * g[j] * g[j];
        p[j] -= a->lr * (m[j] * a->c1) / (sqrtf(v[j] * a->c2) + a->eps);
    }
}

static inline float dotf(const float *a, const float *b, int n)
{
    float s = 0;
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

static inline void normalise(float *w, int n)
{
    double q = 0;
    for (int j = 0; j < n; j++) q += (double)w[j] * w[j];
    if (q > 0) {
        float inv = (float)(1.0 / sqrt(q));
        for (int j = 0; j < n; j++) w[j] *= inv;
    }
}

/* ---- forward and backward ---- */

/* Xc = X - b_dec;  pre = Xc W_enc (b_enc is added by the activation pass,
 * which reads every pre-activation anyway). */
static void encode(trainer *t)
{
    int d = t->d, D = t->D, B = t->B;
#pragma omp parallel for schedule(static) if (PAR(t))
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) t->Xc[(size_t)b * d + j] = t->X[(size_t)b * d + j] - t->bd[j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, D, d, 1.0f, t->Xc, d, t->WeT, d, 0.0f, t->pre, D);
}

/* dR = (2/B)(recon - X); returns sum of squared errors. */
static double residual(trainer *t)
{
    int d = t->d, B = t->B;
    double se = 0;
    float c = 2.0f / (float)B;
#pragma omp parallel for schedule(static) reduction(+ : se) if (PAR(t))
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) {
            size_t q = (size_t)b * d + j;
            float e = t->recon[q] - t->X[q];
            se += (double)e * e;
            t->dR[q] = c * e;
        }
    return se;
}

/* TopK: select, decode sparsely, gradients at the active entries. Returns the
 * number of nonzero features. */
static double topk_forward(trainer *t, double *se)
{
    int d = t->d, D = t->D, B = t->B, k = t->k;
    double nnz = 0;
#pragma omp parallel reduction(+ : nnz) if (PAR(t))
    {
        float *scratch = malloc(sizeof(float) * D);
#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            int *ix = t->idx + (size_t)b * k;
            float *v = t->val + (size_t)b * k, *r = t->recon + (size_t)b * d, *pre = t->pre + (size_t)b * D;
            for (int i = 0; i < D; i++) pre[i] += t->be[i];
            sae_topk(pre, D, k, scratch, ix);
            memcpy(r, t->bd, sizeof(float) * d);
            for (int j = 0; j < k; j++) {
                v[j] = pre[ix[j]] > 0 ? pre[ix[j]] : 0.0f;
                if (v[j] == 0.0f) continue;
                nnz += 1;
                const float *w = t->Wd + (size_t)ix[j] * d;
                for (int e = 0; e < d; e++) r[e] += v[j] * w[e];
            }
        }
        free(scratch);
    }
    *se = residual(t);
#pragma omp parallel for schedule(static) if (PAR(t))
    for (int b = 0; b < B; b++)
        for (int j = 0; j < k; j++) {
            size_t q = (size_t)b * k + j;
            t->dpre[q] = t->val[q] > 0 ? dotf(t->dR + (size_t)b * d, t->Wd + (size_t)t->idx[q] * d, d) : 0.0f;
        }
    /* feature -> active entries */
    memset(t->cnt, 0, sizeof(int) * D);
    for (int q = 0; q < B * k; q++)
        if (t->val[q] > 0) t->cnt[t->idx[q]]++;
    t->off[0] = 0;
    for (int i = 0; i < D; i++) t->off[i + 1] = t->off[i] + t->cnt[i];
    memset(t->cnt, 0, sizeof(int) * D);
    for (int q = 0; q < B * k; q++)
        if (t->val[q] > 0) { int i = t->idx[q]; t->ent[t->off[i] + t->cnt[i]++] = q; }
    return nnz;
}

/* ReLU + L1: dense decode and gradients through sgemm. */
static double relu_forward(trainer *t, double *se, double *l1sum)
{
    int d = t->d, D = t->D, B = t->B;
    double nnz = 0, fs = 0;
#pragma omp parallel for schedule(static) reduction(+ : nnz, fs) if (PAR(t))
    for (size_t q = 0; q < (size_t)B * D; q++) {
        float p = t->pre[q] + t->be[q % D], f = p > 0 ? p : 0.0f;
        t->pre[q] = f;
        nnz += f > 0;
        fs += f;
    }
    for (int b = 0; b < B; b++) memcpy(t->recon + (size_t)b * d, t->bd, sizeof(float) * d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, d, D, 1.0f, t->pre, D, t->Wd, d, 1.0f, t->recon, d);
    *se = residual(t);
    *l1sum = fs;
    /* dF = dR W_dec^T + l1/B |W_dec,i| (unit rows); dPre = dF where f > 0 */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, D, d, 1.0f, t->dR, d, t->Wd, d, 0.0f, t->dF, D);
    float pen = t->o.l1 / (float)B;
#pragma omp parallel for schedule(static) if (PAR(t))
    for (size_t q = 0; q < (size_t)B * D; q++) t->dF[q] = t->pre[q] > 0 ? t->dF[q] + pen : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, d, B, 1.0f, t->pre, D, t->dR, d, 0.0f, t->gWd, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, d, B, 1.0f, t->dF, D, t->Xc, d, 0.0f, t->gWeT, d);
    cblas_sgemv(CblasRowMajor, CblasTrans, B, D, 1.0f, t->dF, D, t->ones, 1, 0.0f, t->gbe, 1);
    cblas_sgemv(CblasRowMajor, CblasTrans, B, D, 1.0f, t->pre, D, t->ones, 1, 0.0f, t->fsum, 1);
    return nnz;
}

/* Per feature: gradient rows, Adam, renormalisation; then b_dec. */
static void update(trainer *t, const adam_t *a)
{
    int d = t->d, D = t->D, B = t->B, k = t->k;
    memset(t->tb, 0, sizeof(double) * (size_t)t->nt * d);
#pragma omp parallel if (PAR(t))
    {
        int tid = omp_get_thread_num();
        double *tb = t->tb + (size_t)tid * d;
        float *gd = malloc(sizeof(float) * d), *ge = malloc(sizeof(float) * d);
#pragma omp for schedule(static)
        for (int i = 0; i < D; i++) {
            float *wd = t->Wd + (size_t)i * d, *we = t->WeT + (size_t)i * d, gb = 0;
            bool active;
            if (t->topk) {
                memset(gd, 0, sizeof(float) * d);
                memset(ge, 0, sizeof(float) * d);
                for (int e = t->off[i]; e < t->off[i + 1]; e++) {
                    int q = t->ent[e], b = q / k;
                    float v = t->val[q], g = t->dpre[q];
                    const float *dr = t->dR + (size_t)b * d, *xc = t->Xc + (size_t)b * d;
                    for (int j = 0; j < d; j++) { gd[j] += v * dr[j]; ge[j] += g * xc[j]; }
                    gb += g;
                }
                active = t->off[i + 1] > t->off[i];
            } else {
                memcpy(gd, t->gWd + (size_t)i * d, sizeof(float) * d);
                memcpy(ge, t->gWeT + (size_t)i * d, sizeof(float) * d);
                gb = t->gbe[i];
                active = t->fsum[i] > 0;
            }
            for (int j = 0; j < d; j++) tb[j] += (double)gb * we[j];
            float par = dotf(gd, wd, d); /* keep the step tangent to the unit sphere */
            for (int j = 0; j < d; j++) gd[j] -= par * wd[j];
            adam(wd, t->mWd + (size_t)i * d, t->vWd + (size_t)i * d, gd, d, a);
            adam(we, t->mWeT + (size_t)i * d, t->vWeT + (size_t)i * d, ge, d, a);
            adam(t->be + i, t->mbe + i, t->vbe + i, &gb, 1, a);
            normalise(wd, d);
            if (active) t->last[i] = t->tokens;
        }
        free(gd);
        free(ge);
    }
    /* b_dec: through the reconstruction (+ sum dR) and the centred input (- sum_i gbe_i W_enc^T[i]) */
    for (int j = 0; j < d; j++) {
        double g = 0;
        for (int b = 0; b < B; b++) g += t->dR[(size_t)b * d + j];
        for (int th = 0; th < t->nt; th++) g -= t->tb[(size_t)th * d + j];
        t->gbd[j] = (float)g;
    }
    adam(t->bd, t->mbd, t->vbd, t->gbd, d, a);
}

/* ---- setup and the loop ---- */

static ark_status check_opts(const ark_sae *s, const ark_sae_train_opts *o)
{
    if (o->steps < 1) return ark_fail(ARK_ERR_ARG, "SAE training: steps %d, expected >= 1", o->steps);
    if (o->batch < 1) return ark_fail(ARK_ERR_ARG, "SAE training: batch %d, expected >= 1", o->batch);
    if (!(o->lr > 0)) return ark_fail(ARK_ERR_ARG, "SAE training: lr %g, expected > 0", (double)o->lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0))
        return ark_fail(ARK_ERR_ARG, "SAE training: Adam betas must be in [0, 1) and eps > 0");
    if (s->arch == ARK_SAE_STANDARD && !(o->l1 >= 0)) return ark_fail(ARK_ERR_ARG, "SAE training: l1 %g, expected >= 0", (double)o->l1);
    if (!(o->lr_decay >= 0 && o->lr_decay <= 1)) return ark_fail(ARK_ERR_ARG, "SAE training: lr_decay %g, expected 0..1", (double)o->lr_decay);
    if (!s->apply_b_dec_to_input) return ark_fail(ARK_ERR_UNSUPPORTED, "SAE training: only SAEs with apply_b_dec_to_input");
    return ARK_OK;
}

/* b_dec = mean of the first batch; the scale s from its spread. */
static void init_from_batch(trainer *t)
{
    int d = t->d, B = t->B;
    double var = 0;
    for (int j = 0; j < d; j++) {
        double m = 0, q = 0;
        for (int b = 0; b < B; b++) m += t->X[(size_t)b * d + j];
        m /= B;
        for (int b = 0; b < B; b++) { double e = t->X[(size_t)b * d + j] - m; q += e * e; }
        t->bd[j] = (float)m;
        var += q / B;
    }
    t->scale = t->o.normalize && var > 0 ? sqrt((double)d / var) : 1.0;
    for (int j = 0; j < d; j++) t->bd[j] = (float)(t->bd[j] * t->scale);
}

static double batch_var(const trainer *t)
{
    int d = t->d, B = t->B;
    double var = 0;
    for (int j = 0; j < d; j++) {
        double m = 0, q = 0;
        for (int b = 0; b < B; b++) m += t->X[(size_t)b * d + j];
        m /= B;
        for (int b = 0; b < B; b++) { double e = t->X[(size_t)b * d + j] - m; q += e * e; }
        var += q / B;
    }
    return var;
}

static void write_back(trainer *t)
{
    ark_sae *s = t->s;
    int d = t->d, D = t->D;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < d; j++) s->W_enc[(size_t)j * D + i] = t->WeT[(size_t)i * d + j];
    memcpy(s->W_dec, t->Wd, sizeof(float) * (size_t)D * d);
    for (int i = 0; i < D; i++) s->b_enc[i] = (float)(t->be[i] / t->scale);
    for (int j = 0; j < d; j++) s->b_dec[j] = (float)(t->bd[j] / t->scale);
}

static ark_status add_log(ark_sae_train_report *r, ark_sae_log e)
{
    ark_sae_log *g = realloc(r->log, sizeof *g * (r->n_log + 1));
    if (!g) return ark_fail(ARK_ERR_NOMEM, "SAE training: out of memory for the log");
    r->log = g;
    r->log[r->n_log++] = e;
    return ARK_OK;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ark_status run_steps(trainer *t, ark_act_source *src, ark_sae_train_report *rep)
{
    const ark_sae_train_opts *o = &t->o;
    int d = t->d, B = t->B, log_every = o->log_every < 0 ? (o->steps >= 20 ? o->steps / 20 : 1) : o->log_every;
    int decay_from = (int)(o->steps * (1.0 - o->lr_decay));
    double b1t = 1, b2t = 1;
    for (int step = 0; step < o->steps; step++) {
        ARK_TRY(ark_act_source_next(src, t->X, B));
        if (step == 0) init_from_batch(t);
        double t0 = now();
        if (t->scale != 1.0)
            for (size_t q = 0; q < (size_t)B * d; q++) t->X[q] = (float)(t->X[q] * t->scale);
        encode(t);
        double se = 0, l1sum = 0, nnz = t->topk ? topk_forward(t, &se) : relu_forward(t, &se, &l1sum);
        if (!isfinite(se))
            return ark_fail(ARK_ERR_ARG, "SAE training diverged at step %d (non-finite loss): lower the learning rate", step);
        t->tokens += B;
        b1t *= o->beta1;
        b2t *= o->beta2;
        float lr = o->lr;
        if (step >= decay_from && o->steps > decay_from) lr *= (float)(o->steps - step) / (float)(o->steps - decay_from);
        adam_t a = {lr, o->beta1, o->beta2, o->eps, (float)(1.0 / (1.0 - b1t)), (float)(1.0 / (1.0 - b2t))};
        update(t, &a);
        double dt = now() - t0;
        bool last = step == o->steps - 1;
        if (last || (log_every > 0 && step % log_every == 0)) {
            double s2 = t->scale * t->scale, mse = se / B, var = batch_var(t);
            ark_sae_log e = {step, mse / s2, var > 0 ? 1.0 - mse / var : NAN, nnz / B, (se + o->l1 * l1sum) / B, dt};
            if (log_every > 0) ARK_TRY(add_log(rep, e));
            if (last) { rep->mse = e.mse; rep->fve = e.fve; rep->l0 = e.l0; }
        }
    }
    return ARK_OK;
}

ark_status ark_sae_train(ark_sae *s, ark_act_source *src, const ark_sae_train_opts *opts, ark_sae_train_report *rep)
{
    memset(rep, 0, sizeof *rep);
    ark_sae_train_opts o = opts ? *opts : (ark_sae_train_opts)ARK_SAE_TRAIN_OPTS_INIT;
    ARK_TRY(check_opts(s, &o));
    if (ark_act_source_width(src) != s->d_in)
        return ark_fail(ARK_ERR_SHAPE, "SAE training: activations have %d dims, the SAE's d_in is %d", ark_act_source_width(src), s->d_in);
    int64_t total = (int64_t)o.steps * o.batch;
    if (o.dead_window <= 0) o.dead_window = total / 2 < 1000000 ? (total / 2 > 0 ? total / 2 : 1) : 1000000;
    trainer t = {.s = s, .o = o, .d = s->d_in, .D = s->d_sae, .B = o.batch, .k = s->k, .topk = s->arch == ARK_SAE_TOPK};
    ark_status st = trainer_alloc(&t);
    if (st == ARK_OK) {
        for (int i = 0; i < t.D; i++)
            for (int j = 0; j < t.d; j++) t.WeT[(size_t)i * t.d + j] = s->W_enc[(size_t)j * t.D + i];
        memcpy(t.Wd, s->W_dec, sizeof(float) * (size_t)t.D * t.d);
        memcpy(t.be, s->b_enc, sizeof(float) * t.D);
        struct timespec t0, t1;
        /* A small SAE's steps are too short to share between threads: run
         * them, BLAS included (the OpenMP OpenBLAS follows this thread's
         * setting), on this thread alone, and put the setting back after. */
        int threads = omp_get_max_threads();
        if (!PAR(&t)) omp_set_num_threads(1);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = run_steps(&t, src, rep);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        omp_set_num_threads(threads);
        rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
    if (st == ARK_OK) {
        write_back(&t);
        rep->steps = o.steps;
        rep->tokens = t.tokens;
        rep->scale = t.scale;
        rep->dead = malloc(sizeof(int) * t.D);
        for (int i = 0; rep->dead && i < t.D; i++)
            if (t.tokens - t.last[i] >= o.dead_window) rep->dead[rep->n_dead++] = i;
    }
    trainer_free(&t);
    if (st != ARK_OK) ark_sae_train_report_free(rep);
    return st;
}

void ark_sae_train_report_free(ark_sae_train_report *r)
{
    if (!r) return;
    free(r->dead);
    free(r->log);
    r->dead = NULL;
    r->log = NULL;
    r->n_dead = r->n_log = 0;
}
