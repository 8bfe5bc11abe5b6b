/* Residual-stream geometry (include/arrakis/tool_residual.h) and the
 * "residual" tool: norms, movement, cosines between layers, shares. */
#include "arrakis/tool_residual.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tools/logit_lens_common.h"

/* ---- typed functions ---- */

static ark_resid_opts points_opts(const ark_residual_opts *o)
{
    ark_resid_opts r = ARK_RESID_OPTS_INIT;
    r.layer = -1;
    r.incl_mid = o->incl_mid;
    r.pos = o->pos;
    return r;
}

static ark_resid_opts shares_opts(const ark_residual_opts *o)
{
    ark_resid_opts r = ARK_RESID_OPTS_INIT;
    r.layer = o->layer;
    r.pos = o->pos;
    return r;
}

ark_status ark_residual_hooks(const ark_model *m, const ark_residual_opts *o, char ***names)
{
    ark_residual_opts dflt = ARK_RESIDUAL_OPTS_INIT;
    if (!o) o = &dflt;
    ark_resid_opts p = points_opts(o), s = shares_opts(o);
    p.pos = s.pos = ARK_ALL_POS;
    lc_names l = {0};
    ark_status st = lc_names_add_analysis(&l, m, ARK_ANALYSIS_ACCUMULATED_RESID, &p);
    if (st == ARK_OK) st = lc_names_add_analysis(&l, m, ARK_ANALYSIS_DECOMPOSE_RESID, &s);
    if (st == ARK_OK) st = lc_names_add_analysis(&l, m, ARK_ANALYSIS_RESID, &s);
    if (st != ARK_OK) { lc_names_free(&l); return st; }
    return lc_names_pack(&l, names);
}

static void free_labels(char **labels, int n)
{
    for (int i = 0; labels && i < n; i++) free(labels[i]);
    free(labels);
}

static char **copy_labels(char **src, int n)
{
    char **l = calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; l && i < n; i++)
        if (!(l[i] = strdup(src[i]))) { free_labels(l, n); return NULL; }
    return l;
}

void ark_resid_stats_free(ark_resid_stats *s)
{
    if (!s) return;
    free_labels(s->labels, s->n);
    free(s->norm);
    free(s->movement);
    free(s->cosine);
    free(s);
}

void ark_resid_shares_free(ark_resid_shares *s)
{
    if (!s) return;
    free_labels(s->labels, s->k);
    free(s->share);
    free(s->norm_share);
    free(s->part_norm);
    free(s->resid_norm);
    free(s);
}

static double vdot(const float *a, const float *b, int d)
{
    double acc = 0;
    for (int j = 0; j < d; j++) acc += (double)a[j] * b[j];
    return acc;
}

/* Fill norms, movements and cosines from the accumulated stack. */
static void stats_fill(const ark_stack *st, ark_resid_stats *s)
{
    int n = st->n, d = st->d;
    size_t bp = (size_t)st->B * st->P;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < bp; k++) {
            const float *x = st->data + ((size_t)i * bp + k) * d;
            s->norm[i * bp + k] = (float)sqrt(vdot(x, x, d));
        }
    for (int i = 0; i + 1 < n; i++)
        for (size_t k = 0; k < bp; k++) {
            const float *x = st->data + ((size_t)i * bp + k) * d, *y = x + bp * d;
            double diff = 0;
            for (int j = 0; j < d; j++) diff += ((double)y[j] - x[j]) * ((double)y[j] - x[j]);
            double nx = s->norm[i * bp + k];
            s->movement[i * bp + k] = nx > 0 ? (float)(sqrt(diff) / nx) : 0.0f;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (size_t k = 0; k < bp; k++) {
                const float *x = st->data + ((size_t)i * bp + k) * d, *y = st->data + ((size_t)j * bp + k) * d;
                double den = (double)s->norm[i * bp + k] * s->norm[j * bp + k];
                s->cosine[((size_t)i * n + j) * bp + k] = den > 0 ? (float)(vdot(x, y, d) / den) : 0.0f;
            }
}

ark_status ark_residual_stats(const ark_model *m, const ark_cache *c, const ark_residual_opts *o,
                              ark_resid_stats **out)
{
    *out = NULL;
    ark_residual_opts dflt = ARK_RESIDUAL_OPTS_INIT;
    if (!o) o = &dflt;
    ark_resid_opts r = points_opts(o);
    ark_stack *st;
    ARK_TRY(ark_accumulated_resid(m, c, &r, &st));
    int n = st->n;
    size_t bp = (size_t)st->B * st->P;
    ark_resid_stats *s = calloc(1, sizeof *s);
    if (s) {
        *s = (ark_resid_stats){.n = n, .B = st->B, .P = st->P, .T = st->T, .pos = st->pos};
        s->labels = copy_labels(st->labels, n);
        s->norm = malloc(sizeof(float) * (n * bp + 1));
        s->movement = malloc(sizeof(float) * (n * bp + 1));
        s->cosine = malloc(sizeof(float) * ((size_t)n * n * bp + 1));
    }
    if (!s || !s->labels || !s->norm || !s->movement || !s->cosine) {
        ark_stack_free(st);
        ark_resid_stats_free(s);
        return ark_fail(ARK_ERR_NOMEM, "out of memory for residual statistics of %d points", n);
    }
    stats_fill(st, s);
    ark_stack_free(st);
    *out = s;
    return ARK_OK;
}

ark_status ark_resid_cosine_mean(const ark_resid_stats *s, int b, const uint8_t *mask, float *out)
{
    if (b < 0 || b >= s->B) return ark_fail(ARK_ERR_ARG, "row %d: the statistics have rows 0..%d", b, s->B - 1);
    int count = 0;
    for (int p = 0; p < s->P; p++) count += !mask || mask[p];
    if (!count) return ark_fail(ARK_ERR_ARG, "no position selected to average the cosines over");
    size_t bp = (size_t)s->B * s->P;
    for (int i = 0; i < s->n * s->n; i++) {
        double acc = 0;
        for (int p = 0; p < s->P; p++)
            if (!mask || mask[p]) acc += s->cosine[(size_t)i * bp + (size_t)b * s->P + p];
        out[i] = (float)(acc / count);
    }
    return ARK_OK;
}

/* Shares from the parts and the stream x (B, P, d). */
static void shares_fill(const ark_stack *st, const float *x, ark_resid_shares *s)
{
    int k = st->n, d = st->d;
    size_t bp = (size_t)st->B * st->P;
    for (size_t q = 0; q < bp; q++) {
        const float *xq = x + q * d;
        double xx = vdot(xq, xq, d), total = 0;
        s->resid_norm[q] = (float)sqrt(xx);
        for (int i = 0; i < k; i++) {
            const float *c = st->data + ((size_t)i * bp + q) * d;
            double cn = sqrt(vdot(c, c, d));
            s->part_norm[i * bp + q] = (float)cn;
            s->share[i * bp + q] = xx > 0 ? (float)(vdot(c, xq, d) / xx) : 0.0f;
            total += cn;
        }
        for (int i = 0; i < k; i++)
            s->norm_share[i * bp + q] = total > 0 ? (float)(s->part_norm[i * bp + q] / total) : 0.0f;
    }
}

ark_status ark_residual_shares(const ark_model *m, const ark_cache *c, const ark_residual_opts *o,
                               ark_resid_shares **out)
{
    *out = NULL;
    ark_residual_opts dflt = ARK_RESIDUAL_OPTS_INIT;
    if (!o) o = &dflt;
    ark_resid_opts r = shares_opts(o);
    char hook[64];
    ARK_TRY(ark_resid_hook(m, &r, hook, sizeof hook));
    ark_stack *st;
    ARK_TRY(ark_decompose_resid(m, c, &r, &st));
    const ark_tensor *xt = ark_cache_get(c, hook);
    int d = st->d, k = st->n;
    size_t bp = (size_t)st->B * st->P;
    if (!xt) {
        ark_stack_free(st);
        return ark_fail(ARK_ERR_MISSING, "%s not in the cache: keep it (ark_plan_keep) to compute shares", hook);
    }
    float *x = malloc(sizeof(float) * (bp * d + 1));
    ark_resid_shares *s = calloc(1, sizeof *s);
    if (s) {
        *s = (ark_resid_shares){.k = k, .B = st->B, .P = st->P, .T = st->T, .pos = st->pos};
        s->labels = copy_labels(st->labels, k);
        s->share = malloc(sizeof(float) * (k * bp + 1));
        s->norm_share = malloc(sizeof(float) * (k * bp + 1));
        s->part_norm = malloc(sizeof(float) * (k * bp + 1));
        s->resid_norm = malloc(sizeof(float) * (bp + 1));
    }
    if (!x || !s || !s->labels || !s->share || !s->norm_share || !s->part_norm || !s->resid_norm) {
        free(x);
        ark_stack_free(st);
        ark_resid_shares_free(s);
        return ark_fail(ARK_ERR_NOMEM, "out of memory for the shares of %d parts", k);
    }
    for (int b = 0; b < st->B; b++) /* the stream at the kept positions, (B, P, d) */
        for (int p = 0; p < st->P; p++)
            memcpy(x + ((size_t)b * st->P + p) * d, xt->data + ((size_t)b * st->T + (st->pos >= 0 ? st->pos : p)) * d,
                   sizeof(float) * d);
    shares_fill(st, x, s);
    free(x);
    ark_stack_free(st);
    *out = s;
    return ARK_OK;
}
