/* The attention tool: metrics of a run's logits and per-head ablation
 * effects (include/arrakis/tool_attention.h has the definitions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/interventions.h"
#include "core/error.h"
#include "tools/attention_internal.h"

/* Cross-entropy of predicting `target` from one row of logits (V). */
static double cross_entropy(const float *lg, int V, int32_t target)
{
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
    for (int v = 0; v < V; v++) sum += exp(lg[v] - mx);
    return mx + log(sum) - lg[target];
}

/* The loss targets of row b (n real tokens) into t; returns their count or -1 after a failure. */
static int row_targets(const ark_head_metric *mt, int b, const int32_t *ids, int n, int *t)
{
    int count = 0;
    if (mt->targets == ARK_TARGETS_ALL) {
        for (int i = 1; i < n; i++) t[count++] = i;
    } else if (mt->targets == ARK_TARGETS_LIST) {
        for (int k = 0; k < mt->n_positions; k++) {
            int p = mt->positions[k] < 0 ? mt->positions[k] + n : mt->positions[k];
            if (p < 1 || p >= n) {
                ark_fail(ARK_ERR_ARG, "targets: position %d is outside row %d (%d tokens: targets are 1..%d)",
                         mt->positions[k], b, n, n - 1);
                return -1;
            }
            t[count++] = p;
        }
    } else {
        int s = mt->prefix, p = mt->period;
        if (p == 0 && !ark_repeat_structure(ids, n, &s, &p)) return 0;
        for (int i = s + p + 1; i < n; i++) t[count++] = i;
    }
    return count;
}

static ark_status check_metric(const ark_model *m, const ark_head_metric *mt)
{
    int V = ark_model_config(m)->d_vocab;
    if (!mt) return ark_fail(ARK_ERR_ARG, "metric: none given");
    switch (mt->kind) {
    case ARK_HEAD_METRIC_LOSS:
        if (mt->targets < ARK_TARGETS_ALL || mt->targets > ARK_TARGETS_REPEATED)
            return ark_fail(ARK_ERR_ARG, "targets: unknown kind %d", (int)mt->targets);
        if (mt->targets == ARK_TARGETS_LIST && (!mt->positions || mt->n_positions < 1))
            return ark_fail(ARK_ERR_ARG, "targets: empty list of positions");
        if (mt->period < 0 || mt->prefix < 0)
            return ark_fail(ARK_ERR_ARG, "period %d, prefix %d: expected >= 0", mt->period, mt->prefix);
        return ARK_OK;
    case ARK_HEAD_METRIC_LOGIT_DIFF:
        if (mt->other < 0 || mt->other >= V)
            return ark_fail(ARK_ERR_ARG, "other: token id %d is out of range (vocab size %d)", mt->other, V);
        /* fall through */
    case ARK_HEAD_METRIC_LOGIT:
        if (mt->token < 0 || mt->token >= V)
            return ark_fail(ARK_ERR_ARG, "token: token id %d is out of range (vocab size %d)", mt->token, V);
        return ARK_OK;
    }
    return ark_fail(ARK_ERR_ARG, "metric: unknown kind %d", (int)mt->kind);
}

/* The metric of logits (B, T, vocab): the pooled *value and, when rows is
 * given, each row's own value rows (B) (LOSS: the mean over the row's
 * targets, NaN without one; LOGIT / LOGIT_DIFF: the row's value) and counts
 * (B, may be NULL): how many terms each row's value averages. */
static ark_status metric_eval(const ark_model *m, const ark_attn_input *in, const float *logits,
                              const ark_head_metric *mt, double *value, double *rows, int *counts)
{
    ARK_TRY(check_metric(m, mt));
    int V = ark_model_config(m)->d_vocab, T = in->T;
    int *idx = malloc(sizeof(int) * T), *t = malloc(sizeof(int) * (T + (mt->n_positions > 0 ? mt->n_positions : 0)));
    int32_t *ids = malloc(sizeof(int32_t) * T);
    double sum = 0;
    long count = 0;
    ark_status s = ARK_OK;
    for (int b = 0; b < in->B && s == ARK_OK; b++) {
        int n = attn_row_index(in, b, idx), nb = 0;
        double row_sum = 0;
        attn_row_ids(in, b, idx, n, ids);
        const float *row = logits + (size_t)b * T * V;
        if (mt->kind == ARK_HEAD_METRIC_LOSS) {
            nb = row_targets(mt, b, ids, n, t);
            if (nb < 0) { s = ARK_ERR_ARG; break; }
            for (int k = 0; k < nb; k++) {
                double ce = cross_entropy(row + (size_t)idx[t[k] - 1] * V, V, ids[t[k]]);
                sum += ce;
                row_sum += ce;
            }
        } else {
            int p = mt->pos < 0 ? mt->pos + n : mt->pos;
            if (p < 0 || p >= n) {
                s = ark_fail(ARK_ERR_ARG, "pos: %d is outside row %d (%d tokens)", mt->pos, b, n);
                break;
            }
            const float *lg = row + (size_t)idx[p] * V;
            row_sum = lg[mt->token] - (mt->kind == ARK_HEAD_METRIC_LOGIT_DIFF ? lg[mt->other] : 0.0);
            sum += row_sum;
            nb = 1;
        }
        count += nb;
        if (rows) rows[b] = nb ? row_sum / nb : NAN;
        if (counts) counts[b] = nb;
    }
    if (s == ARK_OK && !count)
        s = ark_fail(ARK_ERR_ARG, "targets: no target position in any row (\"repeated\" needs rows with a repeated block)");
    if (s == ARK_OK) *value = sum / count;
    free(idx);
    free(t);
    free(ids);
    return s;
}

ark_status ark_head_metric_eval(const ark_model *m, const ark_attn_input *in, const float *logits,
                                const ark_head_metric *mt, double *value)
{
    return metric_eval(m, in, logits, mt, value, NULL, NULL);
}

/* Per-head mean of hook_z over the batch's real (row, position) pairs:
 * out (H, dh). */
static void z_mean(const ark_tensor *z, const ark_attn_input *in, float *out)
{
    int64_t B = z->shape[0], T = z->shape[1], H = z->shape[2], dh = z->shape[3]; // (B, T, H, dh)
    double *acc = calloc((size_t)(H * dh), sizeof(double));
    long n = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < T; p++) {
            if (in->mask && !in->mask[b * T + p]) continue;
            const float *x = z->data + (size_t)(b * T + p) * H * dh;
            for (int64_t i = 0; i < H * dh; i++) acc[i] += x[i];
            n++;
        }
    for (int64_t i = 0; i < H * dh; i++) out[i] = (float)(acc[i] / n);
    free(acc);
}

/* The metric with head h of layer l ablated, from the clean residual. */
static ark_status ablated_metric(ark_model *m, const ark_attn_input *in, const ark_cache *clean, int l, int h,
                                 const float *mean, const ark_head_metric *mt, double *value, double *rows)
{
    const ark_config *c = ark_model_config(m);
    char z[64], resid[64];
    snprintf(z, sizeof z, "blocks.%d.attn.hook_z", l);
    snprintf(resid, sizeof resid, "blocks.%d.hook_resid_pre", l);
    ark_select sel = {0};
    sel.heads = &h;
    sel.n_heads = 1;
    ark_plan *plan = ark_plan_new(m);
    ark_status s;
    if (mean) {
        ark_tensor v = {.data = (float *)mean + (size_t)h * c->d_head, .ndim = 1, .shape = {c->d_head}};
        s = ark_plan_freeze(plan, z, &v, &sel);
    } else {
        s = ark_plan_zero_ablate(plan, z, &sel);
    }
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.mask = in->mask;
    o.start_at_layer = l;
    o.resid = l > 0 ? ark_cache_get(clean, resid)->data : NULL;
    ark_cache *run = NULL;
    if (s == ARK_OK) s = ark_run_ex(m, in->tokens, in->B, in->T, &o, plan, &run);
    if (s == ARK_OK) s = metric_eval(m, in, ark_cache_logits(run)->data, mt, value, rows, NULL);
    ark_cache_free(run);
    ark_plan_free(plan);
    return s;
}

ark_status ark_ablate_heads_rows(ark_model *m, const ark_attn_input *in, ark_ablate_mode mode,
                                 const ark_head_metric *metric, double *clean, float *effects, double *clean_rows,
                                 double *ablated_rows, int *counts)
{
    const ark_config *c = ark_model_config(m);
    ARK_TRY(attn_check_input(m, in));
    ARK_TRY(check_metric(m, metric));
    if (mode != ARK_ABLATE_ZERO && mode != ARK_ABLATE_MEAN)
        return ark_fail(ARK_ERR_ARG, "mode: %d is not zero or mean", (int)mode);
    int L = c->n_layers, H = c->n_heads;
    ark_plan *plan = ark_plan_new(m);
    ark_status s = ark_plan_keep(plan, "blocks.*.hook_resid_pre");
    if (s == ARK_OK && mode == ARK_ABLATE_MEAN) s = ark_plan_keep(plan, "blocks.*.attn.hook_z");
    ark_cache *cc = NULL;
    if (s == ARK_OK) s = ark_run(m, in->tokens, in->B, in->T, in->mask, plan, &cc);
    if (s == ARK_OK) s = metric_eval(m, in, ark_cache_logits(cc)->data, metric, clean, clean_rows, counts);
    float *mean = mode == ARK_ABLATE_MEAN ? malloc(sizeof(float) * H * c->d_head) : NULL;
    for (int l = 0; l < L && s == ARK_OK; l++) {
        if (mean) {
            char z[64];
            snprintf(z, sizeof z, "blocks.%d.attn.hook_z", l);
            z_mean(ark_cache_get(cc, z), in, mean);
        }
        for (int h = 0; h < H && s == ARK_OK; h++) {
            double v = 0;
            double *rows = ablated_rows ? ablated_rows + ((size_t)l * H + h) * in->B : NULL;
            s = ablated_metric(m, in, cc, l, h, mean, metric, &v, rows);
            effects[(size_t)l * H + h] = (float)(v - *clean);
        }
    }
    free(mean);
    ark_cache_free(cc);
    ark_plan_free(plan);
    return s;
}

ark_status ark_ablate_heads(ark_model *m, const ark_attn_input *in, ark_ablate_mode mode,
                            const ark_head_metric *metric, double *clean, float *effects)
{
    return ark_ablate_heads_rows(m, in, mode, metric, clean, effects, NULL, NULL, NULL);
}
