/* The sparsity accumulator (include/arrakis/tool_sparsity.h): density,
 * dead units, L0, moments (Pébay's pairwise merge of central moments) and
 * top-k examples (a min-heap per unit), in one pass over activations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_sparsity.h"
#include "core/error.h"

struct ark_sparsity_acc {
    int width;
    ark_sparsity_opts o;
    int64_t n;
    int64_t *fires;                 /* (width) */
    double *mean, *m2, *m3, *m4;    /* (width) central moment sums */
    float *max, *min;               /* (width) */
    double l0_sum, l0_sq;
    int l0_min, l0_max, bins, bin_w;
    int64_t *hist;                  /* (bins) */
    ark_example *heap;              /* (width, top_k) min-heaps: root = the worst kept */
    int *heap_n;                    /* (width) */
    float *cols;                    /* (width, cap) the batch transposed */
    int *l0;                        /* (cap) */
    int cap;
};

/* a ranks above b: larger activation, then earlier prompt, then earlier position. */
static inline bool better(const ark_example *a, const ark_example *b)
{
    if (a->act != b->act) return a->act > b->act;
    if (a->prompt != b->prompt) return a->prompt < b->prompt;
    return a->pos < b->pos;
}

static void sift_down(ark_example *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l; /* the worse child goes up */
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        ark_example t = h[i]; h[i] = h[w]; h[w] = t;
        i = w;
    }
}

static void heap_offer(ark_example *h, int *n, int k, const ark_example *x)
{
    if (*n < k) {
        int i = (*n)++;
        h[i] = *x;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!better(&h[p], &h[i])) break;
            ark_example t = h[i]; h[i] = h[p]; h[p] = t;
            i = p;
        }
    } else if (k > 0 && better(x, &h[0])) {
        h[0] = *x;
        sift_down(h, *n, 0);
    }
}

ark_status ark_sparsity_acc_new(int width, const ark_sparsity_opts *o, ark_sparsity_acc **out)
{
    *out = NULL;
    ark_sparsity_opts dflt = ARK_SPARSITY_OPTS_INIT;
    if (!o) o = &dflt;
    if (width < 1) return ark_fail(ARK_ERR_ARG, "sparsity: width %d, expected >= 1", width);
    if (o->top_k < 0 || o->top_k > 10000) return ark_fail(ARK_ERR_ARG, "\"top_k\": %d, expected 0..10000", o->top_k);
    if (!isfinite(o->threshold)) return ark_fail(ARK_ERR_ARG, "\"threshold\": expected a finite number");
    ark_sparsity_acc *a = calloc(1, sizeof *a);
    if (!a) return ark_fail(ARK_ERR_NOMEM, "sparsity: out of memory");
    a->width = width;
    a->o = *o;
    a->bins = o->l0_bins > 0 ? o->l0_bins : 32;
    if (a->bins > width + 1) a->bins = width + 1;
    a->bin_w = (width + 1 + a->bins - 1) / a->bins;
    a->l0_min = width + 1;
    a->fires = calloc((size_t)width, sizeof *a->fires);
    a->mean = calloc((size_t)width, sizeof(double));
    a->m2 = calloc((size_t)width, sizeof(double));
    a->m3 = calloc((size_t)width, sizeof(double));
    a->m4 = calloc((size_t)width, sizeof(double));
    a->max = malloc(sizeof(float) * width);
    a->min = malloc(sizeof(float) * width);
    a->hist = calloc((size_t)a->bins, sizeof *a->hist);
    a->heap = malloc(sizeof *a->heap * ((size_t)width * o->top_k + 1));
    a->heap_n = calloc((size_t)width, sizeof(int));
    if (!a->fires || !a->mean || !a->m2 || !a->m3 || !a->m4 || !a->max || !a->min || !a->hist || !a->heap || !a->heap_n) {
        ark_sparsity_acc_free(a);
        return ark_fail(ARK_ERR_NOMEM, "sparsity: out of memory for %d units", width);
    }
    for (int j = 0; j < width; j++) { a->max[j] = -INFINITY; a->min[j] = INFINITY; }
    *out = a;
    return ARK_OK;
}

void ark_sparsity_acc_free(ark_sparsity_acc *a)
{
    if (!a) return;
    free(a->fires);
    free(a->mean);
    free(a->m2);
    free(a->m3);
    free(a->m4);
    free(a->max);
    free(a->min);
    free(a->hist);
    free(a->heap);
    free(a->heap_n);
    free(a->cols);
    free(a->l0);
    free(a);
}

static inline bool fires(const ark_sparsity_acc *a, float x) { return (a->o.abs ? fabsf(x) : x) > a->o.threshold; }

/* Merge a batch's (nb, mean, M2, M3, M4) of one unit into the totals
 * (Pébay 2008, eqs. 2.1-2.4 for p = 2, 3, 4). */
static void merge_moments(ark_sparsity_acc *a, int j, double nb, double mb, double m2b, double m3b, double m4b)
{
    double na = (double)a->n, n = na + nb, d = mb - a->mean[j], d2 = d * d;
    double m2a = a->m2[j], m3a = a->m3[j], m4a = a->m4[j];
    a->m4[j] = m4a + m4b + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
               6.0 * d2 * (na * na * m2b + nb * nb * m2a) / (n * n) + 4.0 * d * (na * m3b - nb * m3a) / n;
    a->m3[j] = m3a + m3b + d2 * d * na * nb * (na - nb) / (n * n) + 3.0 * d * (na * m2b - nb * m2a) / n;
    a->m2[j] = m2a + m2b + d2 * na * nb / n;
    a->mean[j] = a->mean[j] + d * nb / n;
}

static void unit_update(ark_sparsity_acc *a, int j, const float *x, const ark_act_rows *r)
{
    int n = r->n;
    double s = 0;
    int64_t f = 0;
    float mx = a->max[j], mn = a->min[j];
    for (int t = 0; t < n; t++) {
        s += x[t];
        f += fires(a, x[t]);
        mx = x[t] > mx ? x[t] : mx;
        mn = x[t] < mn ? x[t] : mn;
    }
    double mb = s / n, c2 = 0, c3 = 0, c4 = 0;
    for (int t = 0; t < n; t++) {
        double e = x[t] - mb, e2 = e * e;
        c2 += e2;
        c3 += e2 * e;
        c4 += e2 * e2;
    }
    merge_moments(a, j, n, mb, c2, c3, c4);
    a->fires[j] += f;
    a->max[j] = mx;
    a->min[j] = mn;
    int k = a->o.top_k;
    if (k == 0) return;
    ark_example *h = a->heap + (size_t)j * k;
    for (int t = 0; t < n; t++) {
        if (a->heap_n[j] == k && !(x[t] >= h[0].act)) continue; /* cannot enter (ties resolved by better()) */
        ark_example e = {x[t], r->prompt[t], r->pos[t], r->token[t], r->next[t]};
        heap_offer(h, &a->heap_n[j], k, &e);
    }
}

ark_status ark_sparsity_acc_add(ark_sparsity_acc *a, const ark_act_rows *r)
{
    if (r->width != a->width) return ark_fail(ARK_ERR_SHAPE, "sparsity: rows of width %d, expected %d", r->width, a->width);
    int n = r->n, w = a->width;
    if (n <= 0) return ARK_OK;
    if (n > a->cap) {
        free(a->cols);
        free(a->l0);
        a->cols = malloc(sizeof(float) * (size_t)n * w);
        a->l0 = malloc(sizeof(int) * (size_t)n);
        a->cap = a->cols && a->l0 ? n : 0;
        if (!a->cap) return ark_fail(ARK_ERR_NOMEM, "sparsity: out of memory for a batch of %d x %d", n, w);
    }
    /* per token: L0; and the transpose, so each unit reads its values contiguously */
#pragma omp parallel for schedule(static) if ((size_t)n * w > ((size_t)1 << 18))
    for (int t = 0; t < n; t++) {
        const float *row = r->act + (size_t)t * w;
        int c = 0;
        for (int j = 0; j < w; j++) {
            c += fires(a, row[j]);
            a->cols[(size_t)j * n + t] = row[j];
        }
        a->l0[t] = c;
    }
    for (int t = 0; t < n; t++) {
        int c = a->l0[t];
        a->l0_sum += c;
        a->l0_sq += (double)c * c;
        a->l0_min = c < a->l0_min ? c : a->l0_min;
        a->l0_max = c > a->l0_max ? c : a->l0_max;
        a->hist[c / a->bin_w]++;
    }
#pragma omp parallel for schedule(dynamic, 16) if ((size_t)n * w > ((size_t)1 << 18))
    for (int j = 0; j < w; j++) unit_update(a, j, a->cols + (size_t)j * n, r);
    a->n += n;
    return ARK_OK;
}

static int cmp_examples(const void *x, const void *y)
{
    const ark_example *a = x, *b = y;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Normalised entropy of the tokens of n examples (NaN for n < 2). */
static double token_entropy(const ark_example *e, int n)
{
    if (n < 2) return NAN;
    double h = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = e[j].token == e[i].token;
        if (seen) continue;
        int c = 0;
        for (int j = i; j < n; j++) c += e[j].token == e[i].token;
        double p = (double)c / n;
        h -= p * log(p);
    }
    return h / log((double)n);
}

ark_status ark_sparsity_acc_result(const ark_sparsity_acc *a, ark_sparsity *s)
{
    memset(s, 0, sizeof *s);
    if (a->n == 0) return ark_fail(ARK_ERR_ARG, "sparsity: no tokens were seen");
    int w = a->width, k = a->o.top_k;
    double n = (double)a->n;
    s->width = w;
    s->n_tokens = a->n;
    s->threshold = a->o.threshold;
    s->abs = a->o.abs;
    s->density = malloc(sizeof(double) * w);
    s->mean = malloc(sizeof(double) * w);
    s->std = malloc(sizeof(double) * w);
    s->kurtosis = malloc(sizeof(double) * w);
    s->max_act = malloc(sizeof(float) * w);
    s->min_act = malloc(sizeof(float) * w);
    s->dead = malloc(sizeof(int) * w);
    s->constant = malloc(sizeof(int) * w);
    s->l0_hist = malloc(sizeof(int64_t) * a->bins);
    s->top = malloc(sizeof(ark_example) * ((size_t)w * k + 1));
    s->n_top = malloc(sizeof(int) * w);
    s->poly = malloc(sizeof(double) * w);
    if (!s->density || !s->mean || !s->std || !s->kurtosis || !s->max_act || !s->min_act || !s->dead || !s->constant ||
        !s->l0_hist || !s->top || !s->n_top || !s->poly) {
        ark_sparsity_free(s);
        return ark_fail(ARK_ERR_NOMEM, "sparsity: out of memory");
    }
    for (int j = 0; j < w; j++) {
        s->density[j] = (double)a->fires[j] / n;
        s->mean[j] = a->mean[j];
        s->std[j] = sqrt(a->m2[j] / n);
        s->kurtosis[j] = a->m2[j] > 0 ? n * a->m4[j] / (a->m2[j] * a->m2[j]) - 3.0 : NAN;
        s->max_act[j] = a->max[j];
        s->min_act[j] = a->min[j];
        if (a->fires[j] == 0) s->dead[s->n_dead++] = j;
        if (a->min[j] == a->max[j]) s->constant[s->n_constant++] = j;
        ark_example *top = s->top + (size_t)j * k;
        s->n_top[j] = a->heap_n[j];
        if (k) {
            memcpy(top, a->heap + (size_t)j * k, sizeof *top * a->heap_n[j]);
            qsort(top, (size_t)a->heap_n[j], sizeof *top, cmp_examples);
        }
        s->poly[j] = token_entropy(top, s->n_top[j]);
    }
    s->l0_mean = a->l0_sum / n;
    double var = a->l0_sq / n - s->l0_mean * s->l0_mean;
    s->l0_std = sqrt(var > 0 ? var : 0);
    s->l0_min = a->l0_min;
    s->l0_max = a->l0_max;
    s->l0_bins = a->bins;
    s->l0_bin_width = a->bin_w;
    memcpy(s->l0_hist, a->hist, sizeof(int64_t) * a->bins);
    s->top_k = k;
    return ARK_OK;
}

void ark_sparsity_free(ark_sparsity *s)
{
    if (!s) return;
    free(s->density);
    free(s->mean);
    free(s->std);
    free(s->kurtosis);
    free(s->max_act);
    free(s->min_act);
    free(s->dead);
    free(s->constant);
    free(s->l0_hist);
    free(s->top);
    free(s->n_top);
    free(s->poly);
    memset(s, 0, sizeof *s);
}

static ark_status acc_consume(const ark_act_rows *rows, void *ctx) { return ark_sparsity_acc_add(ctx, rows); }

ark_status ark_sparsity_compute(ark_model *m, const ark_dataset *d, const char *hook, const ark_stream_opts *so,
                                const ark_sparsity_opts *o, ark_sparsity *out)
{
    memset(out, 0, sizeof *out);
    int width;
    ARK_TRY(ark_hook_width(m, hook, &width));
    ark_sparsity_acc *a;
    ARK_TRY(ark_sparsity_acc_new(width, o, &a));
    ark_status s = ark_stream_acts(m, d, hook, so, acc_consume, a);
    if (s == ARK_OK) s = ark_sparsity_acc_result(a, out);
    ark_sparsity_acc_free(a);
    return s;
}
