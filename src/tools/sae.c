/* Sparse autoencoders: initialisation, encoding, decoding, metrics and
 * matching known directions (include/arrakis/tool_superposition.h, (b)). */
#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "core/rng.h"
#include "tools/sae_internal.h"

/* ---- top-k ---- */

/* The k-th largest (1-based k) of a[0..n) by three-way quickselect. */
static float kth_largest(float *a, int n, int k)
{
    int lo = 0, hi = n, want = n - k; /* the (n-k)-th smallest, 0-based */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    while (hi - lo > 1) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        float p = a[lo + (int)(x % (uint64_t)(hi - lo))];
        int lt = lo, i = lo, gt = hi;
        while (i < gt) {
            float v = a[i];
            if (v < p) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v > p) { a[i] = a[--gt]; a[gt] = v; }
            else i++;
        }
        if (want < lt) hi = lt;
        else if (want >= gt) lo = gt;
        else return p;
    }
    return a[lo];
}

/* (value, index) ranks above another: larger value, then lower index. */
static inline bool ranks_above(float va, int ia, float vb, int ib) { return va > vb || (va == vb && ia < ib); }

static int cmp_int(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }

/* Small k: one pass with a min-heap of the k best so far (root = the worst
 * kept); a value enters only when it beats the root, which after the first
 * few hundred values is rare, so the pass costs about one comparison per
 * value.  The heap keeps (value, index) pairs in scratch / idx. */
static void topk_heap(const float *row, int n, int k, float *hv, int *hi)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        float v = row[i];
        if (m == k && !ranks_above(v, i, hv[0], hi[0])) continue;
        int c;
        if (m < k) { /* sift up */
            c = m++;
            while (c > 0) {
                int p = (c - 1) / 2;
                if (!ranks_above(hv[p], hi[p], v, i)) break;
                hv[c] = hv[p]; hi[c] = hi[p];
                c = p;
            }
        } else { /* replace the root, sift down */
            c = 0;
            for (;;) {
                int l = 2 * c + 1, r = l + 1, w = c;
                float wv = v;
                int wi = i;
                if (l < m && ranks_above(wv, wi, hv[l], hi[l])) { w = l; wv = hv[l]; wi = hi[l]; }
                if (r < m && ranks_above(wv, wi, hv[r], hi[r])) w = r;
                if (w == c) break;
                hv[c] = hv[w]; hi[c] = hi[w];
                c = w;
            }
        }
        hv[c] = v;
        hi[c] = i;
    }
}

void sae_topk(const float *row, int n, int k, float *scratch, int *idx)
{
    if (k <= 256 && 16 * k <= n) {
        topk_heap(row, n, k, scratch, idx);
        qsort(idx, (size_t)k, sizeof(int), cmp_int);
        return;
    }
    memcpy(scratch, row, sizeof(float) * n);
    float t = kth_largest(scratch, n, k);
    int above = 0;
    for (int i = 0; i < n; i++) above += row[i] > t;
    int ties = k - above, m = 0;
    for (int i = 0; i < n && m < k; i++)
        if (row[i] > t || (row[i] == t && ties-- > 0)) idx[m++] = i;
}

ark_status sae_activate(const ark_sae *s, float *pre, int n)
{
    int D = s->d_sae;
    if (s->arch == ARK_SAE_STANDARD) {
        for (size_t i = 0; i < (size_t)n * D; i++) pre[i] = pre[i] > 0 ? pre[i] : 0.0f;
        return ARK_OK;
    }
    ark_status st = ARK_OK;
#pragma omp parallel if ((size_t)n * D > ((size_t)1 << 18))
    {
        float *scratch = malloc(sizeof(float) * D), *keep = malloc(sizeof(float) * s->k);
        int *idx = malloc(sizeof(int) * s->k);
        if (!scratch || !keep || !idx) {
#pragma omp atomic write
            st = ARK_ERR_NOMEM;
        }
#pragma omp for schedule(static)
        for (int r = 0; r < n; r++) {
            if (!scratch || !keep || !idx) continue;
            float *row = pre + (size_t)r * D;
            sae_topk(row, D, s->k, scratch, idx);
            for (int j = 0; j < s->k; j++) keep[j] = row[idx[j]] > 0 ? row[idx[j]] : 0.0f;
            memset(row, 0, sizeof(float) * D);
            for (int j = 0; j < s->k; j++) row[idx[j]] = keep[j];
        }
        free(scratch);
        free(keep);
        free(idx);
    }
    return st == ARK_OK ? ARK_OK : ark_fail(st, "SAE: out of memory for the top-k scratch");
}

/* ---- lifetime ---- */

ark_status ark_sae_init(ark_sae *s, ark_sae_arch arch, int d_in, int d_sae, int k, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    if (d_in < 1 || d_sae < 1) return ark_fail(ARK_ERR_ARG, "SAE: d_in %d, d_sae %d: expected >= 1", d_in, d_sae);
    if (arch == ARK_SAE_TOPK && (k < 1 || k > d_sae))
        return ark_fail(ARK_ERR_ARG, "SAE: k %d, expected 1..d_sae (%d)", k, d_sae);
    s->arch = arch;
    s->d_in = d_in;
    s->d_sae = d_sae;
    s->k = arch == ARK_SAE_TOPK ? k : 0;
    s->apply_b_dec_to_input = true;
    s->hook_layer = -1;
    size_t n = (size_t)d_in * d_sae;
    s->W_enc = malloc(sizeof(float) * n);
    s->W_dec = malloc(sizeof(float) * n);
    s->b_enc = calloc((size_t)d_sae, sizeof(float));
    s->b_dec = calloc((size_t)d_in, sizeof(float));
    if (!s->W_enc || !s->W_dec || !s->b_enc || !s->b_dec) {
        ark_sae_free(s);
        return ark_fail(ARK_ERR_NOMEM, "SAE: out of memory for %d x %d", d_sae, d_in);
    }
    ark_rng rng;
    ark_rng_seed(&rng, seed);
    for (int i = 0; i < d_sae; i++) {
        float *w = s->W_dec + (size_t)i * d_in;
        double nrm = 0;
        for (int j = 0; j < d_in; j++) {
            w[j] = (float)ark_rng_normal(&rng);
            nrm += (double)w[j] * w[j];
        }
        float inv = nrm > 0 ? (float)(1.0 / sqrt(nrm)) : 0.0f;
        for (int j = 0; j < d_in; j++) {
            w[j] *= inv;
            s->W_enc[(size_t)j * d_sae + i] = w[j];
        }
    }
    return ARK_OK;
}

void ark_sae_free(ark_sae *s)
{
    if (!s) return;
    free(s->W_enc);
    free(s->W_dec);
    free(s->b_enc);
    free(s->b_dec);
    s->W_enc = s->W_dec = s->b_enc = s->b_dec = NULL;
}

/* ---- encode / decode ---- */

ark_status ark_sae_encode(const ark_sae *s, const float *x, int n, float *f)
{
    int d = s->d_in, D = s->d_sae;
    if (n <= 0) return ARK_OK;
    float *xc = malloc(sizeof(float) * (size_t)n * d);
    if (!xc) return ark_fail(ARK_ERR_NOMEM, "SAE: out of memory encoding %d rows", n);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < d; j++) xc[(size_t)r * d + j] = x[(size_t)r * d + j] - (s->apply_b_dec_to_input ? s->b_dec[j] : 0.0f);
    for (int r = 0; r < n; r++) memcpy(f + (size_t)r * D, s->b_enc, sizeof(float) * D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, d, 1.0f, xc, d, s->W_enc, D, 1.0f, f, D);
    free(xc);
    return sae_activate(s, f, n);
}

ark_status ark_sae_decode(const ark_sae *s, const float *f, int n, float *x_hat)
{
    int d = s->d_in, D = s->d_sae;
    if (n <= 0) return ARK_OK;
    for (int r = 0; r < n; r++) memcpy(x_hat + (size_t)r * d, s->b_dec, sizeof(float) * d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, D, 1.0f, f, D, s->W_dec, d, 1.0f, x_hat, d);
    return ARK_OK;
}

/* ---- metrics ---- */

ark_status sae_acc_init(sae_acc *a, const ark_sae *s)
{
    memset(a, 0, sizeof *a);
    a->d_in = s->d_in;
    a->d_sae = s->d_sae;
    a->mean = calloc((size_t)s->d_in, sizeof(double));
    a->m2 = calloc((size_t)s->d_in, sizeof(double));
    a->fired = calloc((size_t)s->d_sae, sizeof(int64_t));
    if (!a->mean || !a->m2 || !a->fired) { sae_acc_free(a); return ark_fail(ARK_ERR_NOMEM, "SAE metrics: out of memory"); }
    return ARK_OK;
}

void sae_acc_free(sae_acc *a)
{
    free(a->mean);
    free(a->m2);
    free(a->fired);
    free(a->f);
    free(a->xh);
    memset(a, 0, sizeof *a);
}

ark_status sae_acc_add(sae_acc *a, const ark_sae *s, const float *x, int n)
{
    int d = a->d_in, D = a->d_sae;
    for (int off = 0; off < n; off += 1024) {
        int b = n - off < 1024 ? n - off : 1024;
        const float *xb = x + (size_t)off * d;
        if (b > a->cap) {
            free(a->f);
            free(a->xh);
            a->f = malloc(sizeof(float) * (size_t)b * D);
            a->xh = malloc(sizeof(float) * (size_t)b * d);
            a->cap = a->f && a->xh ? b : 0;
            if (!a->cap) return ark_fail(ARK_ERR_NOMEM, "SAE metrics: out of memory for %d rows", b);
        }
        ARK_TRY(ark_sae_encode(s, xb, b, a->f));
        ARK_TRY(ark_sae_decode(s, a->f, b, a->xh));
        for (size_t i = 0; i < (size_t)b * d; i++) {
            double e = (double)a->xh[i] - xb[i];
            a->se += e * e;
        }
        for (int r = 0; r < b; r++)
            for (int i = 0; i < D; i++)
                if (a->f[(size_t)r * D + i] > 0) { a->fired[i]++; a->nnz += 1; }
        /* per-dimension mean and scatter: the batch's own, merged (Chan et al.) */
        double nb = b, na = (double)(a->n + off), nt = na + nb;
        for (int j = 0; j < d; j++) {
            double mb = 0, sb = 0;
            for (int r = 0; r < b; r++) mb += xb[(size_t)r * d + j];
            mb /= nb;
            for (int r = 0; r < b; r++) { double e = xb[(size_t)r * d + j] - mb; sb += e * e; }
            double delta = mb - a->mean[j];
            a->m2[j] += sb + delta * delta * na * nb / nt;
            a->mean[j] += delta * nb / nt;
        }
    }
    a->n += n;
    return ARK_OK;
}

ark_status sae_acc_finish(const sae_acc *a, float dense_threshold, ark_sae_metrics *o)
{
    memset(o, 0, sizeof *o);
    if (a->n == 0) return ark_fail(ARK_ERR_ARG, "SAE metrics: no tokens");
    int D = a->d_sae;
    double n = (double)a->n, var = 0;
    for (int j = 0; j < a->d_in; j++) var += a->m2[j];
    o->n = a->n;
    o->d_sae = D;
    o->mse = a->se / n;
    o->var = var / n;
    o->fve = o->var > 0 ? 1.0 - o->mse / o->var : NAN;
    o->l0 = a->nnz / n;
    o->dense_threshold = dense_threshold;
    o->density = malloc(sizeof(double) * D);
    o->dead = malloc(sizeof(int) * D);
    o->dense = malloc(sizeof(int) * D);
    if (!o->density || !o->dead || !o->dense) { ark_sae_metrics_free(o); return ark_fail(ARK_ERR_NOMEM, "SAE metrics: out of memory"); }
    for (int i = 0; i < D; i++) {
        o->density[i] = (double)a->fired[i] / n;
        if (a->fired[i] == 0) o->dead[o->n_dead++] = i;
        if (o->density[i] > dense_threshold) o->dense[o->n_dense++] = i;
    }
    o->ce_clean = o->ce_sae = o->ce_ablated = o->ce_recovered = NAN;
    return ARK_OK;
}

void ark_sae_metrics_free(ark_sae_metrics *mt)
{
    if (!mt) return;
    free(mt->density);
    free(mt->dead);
    free(mt->dense);
    mt->density = NULL;
    mt->dead = mt->dense = NULL;
}

ark_status ark_sae_eval_matrix(const ark_sae *s, const float *x, int64_t n, float dense_threshold, ark_sae_metrics *out)
{
    memset(out, 0, sizeof *out);
    sae_acc a;
    ARK_TRY(sae_acc_init(&a, s));
    ark_status st = ARK_OK;
    for (int64_t i = 0; st == ARK_OK && i < n; i += 65536) {
        int b = n - i < 65536 ? (int)(n - i) : 65536;
        st = sae_acc_add(&a, s, x + (size_t)i * s->d_in, b);
    }
    if (st == ARK_OK) st = sae_acc_finish(&a, dense_threshold, out);
    sae_acc_free(&a);
    return st;
}

ark_status ark_sae_match(const ark_sae *s, const float *dirs, int n, float *best_cos, int *best_feature)
{
    int d = s->d_in, D = s->d_sae;
    double *dn = malloc(sizeof(double) * D);
    if (!dn) return ark_fail(ARK_ERR_NOMEM, "SAE match: out of memory");
    for (int i = 0; i < D; i++) {
        double q = 0;
        for (int j = 0; j < d; j++) q += (double)s->W_dec[(size_t)i * d + j] * s->W_dec[(size_t)i * d + j];
        dn[i] = sqrt(q);
    }
#pragma omp parallel for schedule(static) if ((size_t)n * D * d > ((size_t)1 << 22))
    for (int r = 0; r < n; r++) {
        const float *v = dirs + (size_t)r * d;
        double vn = 0, best = -2;
        int bi = -1;
        for (int j = 0; j < d; j++) vn += (double)v[j] * v[j];
        vn = sqrt(vn);
        for (int i = 0; i < D; i++) {
            double dot = 0;
            const float *w = s->W_dec + (size_t)i * d;
            for (int j = 0; j < d; j++) dot += (double)v[j] * w[j];
            double c = vn > 0 && dn[i] > 0 ? dot / (vn * dn[i]) : 0.0;
            if (c > best) { best = c; bi = i; }
        }
        best_cos[r] = (float)best;
        if (best_feature) best_feature[r] = bi;
    }
    free(dn);
    return ARK_OK;
}
