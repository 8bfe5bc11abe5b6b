/* The attention tool: detection patterns and head detectors
 * (include/arrakis/tool_attention.h has the definitions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tools/attention_internal.h"

void ark_tl_detection_pattern(ark_head_kind kind, const int32_t *ids, int n, float *out)
{
    memset(out, 0, sizeof(float) * n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            float *d = out + (size_t)i * n + j;
            switch (kind) {
            case ARK_HEAD_PREVIOUS: *d = j == i - 1; break;
            case ARK_HEAD_DUPLICATE: *d = j < i && ids[j] == ids[i]; break;
            case ARK_HEAD_INDUCTION: *d = j >= 1 && ids[j - 1] == ids[i]; break;
            case ARK_HEAD_CUSTOM: break;
            }
        }
}

int ark_offset_mask(ark_head_kind kind, int n, int prefix, int period, float *out)
{
    memset(out, 0, sizeof(float) * n * n);
    int first, offset;
    switch (kind) {
    case ARK_HEAD_PREVIOUS: first = 1; offset = 1; break;
    case ARK_HEAD_DUPLICATE: first = prefix + period; offset = period; break;
    case ARK_HEAD_INDUCTION: first = prefix + period; offset = period - 1; break;
    default: return 0;
    }
    if (kind != ARK_HEAD_PREVIOUS && period < 1) return 0;
    int count = 0;
    for (int i = first; i < n; i++) {
        out[(size_t)i * n + i - offset] = 1.0f;
        count++;
    }
    return count;
}

double ark_tl_similarity(const float *A, const float *D, int n, bool exclude_bos, bool exclude_current,
                         ark_error_measure measure)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            bool excluded = (exclude_bos && j == 0) || (exclude_current && i == j);
            double a = A[(size_t)i * n + j], d = D[(size_t)i * n + j];
            if (measure == ARK_MEASURE_MUL) {
                if (excluded) continue;
                num += a * d;
                den += a;
            } else if (!excluded) {
                num += fabs(a - d);
            }
        }
    if (measure == ARK_MEASURE_MUL) return den == 0 ? NAN : num / den;
    return 1.0 - nearbyint(num / n * 1000.0) / 1000.0; /* TL: 1 - round(mean * size, 3) */
}

/* Accumulated scores of one detector kind. */
typedef struct det_acc {
    ark_head_kind kind;
    float *mask;      /* (n, n) this row's detection pattern or offset mask */
    bool active;      /* this row contributes */
    int *queries;     /* MEAN: the query rows with a nonzero mask entry */
    int n_queries;
    double *sum;      /* (L, H) */
    int count;
} det_acc;

static ark_status check_opts(const ark_config *c, const ark_head_kind *kinds, int n_kinds, const ark_detect_opts *o)
{
    if (n_kinds < 1) return ark_fail(ARK_ERR_ARG, "detectors: none asked for");
    if (o->method != ARK_DETECT_MEAN && o->method != ARK_DETECT_TL)
        return ark_fail(ARK_ERR_ARG, "method: %d is not mean or tl", (int)o->method);
    if (o->measure != ARK_MEASURE_MUL && o->measure != ARK_MEASURE_ABS)
        return ark_fail(ARK_ERR_ARG, "error_measure: %d is not mul or abs", (int)o->measure);
    if (o->period < 0 || o->prefix < 0)
        return ark_fail(ARK_ERR_ARG, "period %d, prefix %d: expected >= 0", o->period, o->prefix);
    for (int k = 0; k < n_kinds; k++) {
        if (kinds[k] < ARK_HEAD_PREVIOUS || kinds[k] > ARK_HEAD_CUSTOM)
            return ark_fail(ARK_ERR_ARG, "detectors[%d]: unknown kind %d", k, (int)kinds[k]);
        if (kinds[k] != ARK_HEAD_CUSTOM) continue;
        if (!o->custom || o->custom_n < 1) return ark_fail(ARK_ERR_ARG, "custom: the custom detector needs a (P, P) mask");
        for (int i = 0; i < o->custom_n; i++)
            for (int j = i + 1; j < o->custom_n; j++)
                if (o->custom[(size_t)i * o->custom_n + j] != 0)
                    return ark_fail(ARK_ERR_ARG, "custom: the mask must be lower triangular (custom[%d][%d] = %g)", i, j,
                                    o->custom[(size_t)i * o->custom_n + j]);
    }
    (void)c;
    return ARK_OK;
}

/* Build a detector's mask for a row of n ids; fails for rows it cannot score. */
static ark_status row_mask(det_acc *d, const ark_detect_opts *o, int b, const int32_t *ids, int n)
{
    if (d->kind == ARK_HEAD_CUSTOM) {
        if (n != o->custom_n)
            return ark_fail(ARK_ERR_ARG, "custom: the mask is %dx%d but row %d has %d tokens", o->custom_n, o->custom_n, b, n);
        memcpy(d->mask, o->custom, sizeof(float) * n * n);
    } else if (o->method == ARK_DETECT_TL) {
        ark_tl_detection_pattern(d->kind, ids, n, d->mask);
    } else {
        int s = o->prefix, p = o->period;
        if (p == 0 && d->kind != ARK_HEAD_PREVIOUS && !ark_repeat_structure(ids, n, &s, &p)) p = 0;
        ark_offset_mask(d->kind, n, s, p, d->mask);
    }
    if (o->method == ARK_DETECT_TL) {
        if (n < 2) return ark_fail(ARK_ERR_ARG, "tokens: row %d has %d token; TransformerLens' detector needs >= 2", b, n);
        d->active = true;
        return ARK_OK;
    }
    d->n_queries = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            if (d->mask[(size_t)i * n + j] != 0) { d->queries[d->n_queries++] = i; break; }
    d->active = d->n_queries > 0;
    return ARK_OK;
}

/* Add one head's row pattern A (n, n) to a detector's sum. */
static void score_head(det_acc *d, const ark_detect_opts *o, const float *A, int n, size_t lh)
{
    if (o->method == ARK_DETECT_TL) {
        d->sum[lh] += ark_tl_similarity(A, d->mask, n, o->exclude_bos, o->exclude_current, o->measure);
        return;
    }
    double s = 0;
    for (int q = 0; q < d->n_queries; q++) {
        int i = d->queries[q];
        for (int j = 0; j <= i; j++) s += (double)d->mask[(size_t)i * n + j] * A[(size_t)i * n + j];
    }
    d->sum[lh] += s;
}

/* Score row b of the cache's patterns into every detector. */
static ark_status score_row(const ark_config *c, const ark_cache *cache, const ark_attn_input *in, int b,
                            det_acc *dets, int n_kinds, const ark_detect_opts *o, int *idx, int32_t *ids, float *A)
{
    int n = attn_row_index(in, b, idx), L = c->n_layers, H = c->n_heads, T = in->T;
    attn_row_ids(in, b, idx, n, ids);
    for (int k = 0; k < n_kinds; k++) ARK_TRY(row_mask(&dets[k], o, b, ids, n));
    for (int l = 0; l < L; l++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.attn.hook_pattern", l);
        const float *pat = ark_cache_get(cache, name)->data; // (B, H, T, T)
        for (int h = 0; h < H; h++) {
            attn_row_pattern(pat + ((size_t)b * H + h) * T * T, T, idx, n, A);
            for (int k = 0; k < n_kinds; k++)
                if (dets[k].active) score_head(&dets[k], o, A, n, (size_t)l * H + h);
        }
    }
    for (int k = 0; k < n_kinds; k++)
        if (dets[k].active) dets[k].count += o->method == ARK_DETECT_TL ? 1 : dets[k].n_queries;
    return ARK_OK;
}

ark_status ark_detect_heads(ark_model *m, const ark_attn_input *in, const ark_head_kind *kinds, int n_kinds,
                            const ark_detect_opts *opts, float *scores, int *counts)
{
    const ark_config *c = ark_model_config(m);
    ark_detect_opts o = opts ? *opts : (ark_detect_opts)ARK_DETECT_OPTS_INIT;
    ARK_TRY(attn_check_input(m, in));
    ARK_TRY(check_opts(c, kinds, n_kinds, &o));
    int L = c->n_layers, H = c->n_heads, T = in->T;
    ark_plan *plan = ark_plan_new(m);
    ark_status s = ark_plan_keep(plan, "blocks.*.attn.hook_pattern");
    ark_cache *cache = NULL;
    ark_run_opts ro = ARK_RUN_OPTS_INIT;
    ro.mask = in->mask;
    ro.stop_at_layer = L; /* patterns only: no final norm, no unembedding */
    if (s == ARK_OK) s = ark_run_ex(m, in->tokens, in->B, T, &ro, plan, &cache);
    det_acc *dets = calloc((size_t)n_kinds, sizeof *dets);
    int *idx = malloc(sizeof(int) * T);
    int32_t *ids = malloc(sizeof(int32_t) * T);
    float *A = malloc(sizeof(float) * T * T);
    for (int k = 0; k < n_kinds; k++) {
        dets[k].kind = kinds[k];
        dets[k].mask = malloc(sizeof(float) * T * T);
        dets[k].queries = malloc(sizeof(int) * T);
        dets[k].sum = calloc((size_t)L * H, sizeof(double));
    }
    for (int b = 0; b < in->B && s == ARK_OK; b++) s = score_row(c, cache, in, b, dets, n_kinds, &o, idx, ids, A);
    for (int k = 0; k < n_kinds; k++) {
        for (int i = 0; s == ARK_OK && i < L * H; i++)
            scores[(size_t)k * L * H + i] = dets[k].count ? (float)(dets[k].sum[i] / dets[k].count) : NAN;
        if (s == ARK_OK && counts) counts[k] = dets[k].count;
        free(dets[k].mask);
        free(dets[k].queries);
        free(dets[k].sum);
    }
    free(dets);
    free(idx);
    free(ids);
    free(A);
    ark_cache_free(cache);
    ark_plan_free(plan);
    return s;
}
