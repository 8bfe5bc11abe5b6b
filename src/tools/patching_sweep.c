/* Activation patching sweeps (include/arrakis/tool_patching.h): each layer's
 * cells are the rows of batched runs that start from the patched run's
 * cached residual stream at that layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_patching.h"
#include "core/error.h"
#include "tools/patching_internal.h"

static const char *const point_names[ARK_PATCH_N_POINTS] = {
    "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out",
    "head_z", "head_q", "head_k", "head_v", "head_pattern"};
/* The hook each point patches, as a TransformerLens shorthand. */
static const char *const point_hooks[ARK_PATCH_N_POINTS] = {
    "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z", "q", "k", "v", "pattern"};
static const char *const point_full[ARK_PATCH_N_POINTS] = {
    "hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out",
    "attn.hook_z", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern"};

const char *ark_patch_point_name(ark_patch_point p)
{
    return p >= 0 && p < ARK_PATCH_N_POINTS ? point_names[p] : NULL;
}

ark_status ark_patch_point_parse(const char *s, ark_patch_point *out)
{
    char buf[32];
    size_t n = s ? strlen(s) : 0;
    if (n && n < sizeof buf) {
        for (size_t i = 0; i <= n; i++) buf[i] = s[i] == '-' ? '_' : s[i];
        if (!strcmp(buf, "heads")) { *out = ARK_PATCH_HEAD_Z; return ARK_OK; }
        for (int i = 0; i < ARK_PATCH_N_POINTS; i++)
            if (!strcmp(buf, point_names[i]) || (i >= ARK_PATCH_HEAD_Z && !strcmp(buf, point_hooks[i]))) {
                *out = (ark_patch_point)i;
                return ARK_OK;
            }
    }
    return ark_fail(ARK_ERR_ARG, "\"%s\" is not a patching point (resid_pre, resid_mid, resid_post, attn_out, mlp_out, "
                    "heads, head_z, head_q, head_k, head_v, head_pattern)", s ? s : "");
}

void ark_patch_point_hook(ark_patch_point p, int layer, char *buf, size_t cap)
{
    snprintf(buf, cap, "blocks.%d.%s", layer, p >= 0 && p < ARK_PATCH_N_POINTS ? point_full[p] : "?");
}

bool ark_patch_point_per_head(ark_patch_point p) { return p >= ARK_PATCH_HEAD_Z && p < ARK_PATCH_N_POINTS; }

int ark_patch_point_heads(const ark_model *m, ark_patch_point p)
{
    const ark_config *c = ark_model_config(m);
    if (!ark_patch_point_per_head(p)) return 0;
    return p == ARK_PATCH_HEAD_K || p == ARK_PATCH_HEAD_V ? c->n_kv_heads : c->n_heads;
}

ark_patch_opts ark_patch_opts_default(ark_patch_point p)
{
    ark_patch_opts o = {0};
    o.point = p;
    o.by_pos = !ark_patch_point_per_head(p);
    return o;
}

void ark_patch_result_free(ark_patch_result *r)
{
    if (!r) return;
    free(r->raw);
    free(r->normalised);
    memset(r, 0, sizeof *r);
}

/* ---- a sweep ---- */

typedef struct sweep {
    ark_model *m;
    const ark_config *c;
    const ark_patch_opts *o;
    const ark_patch_metric *mt;
    const int32_t *base_ids, *clean_ids;
    int T, L, d, n_heads, n_pos, mpos; /* mpos: the metric's position, -1 for LOSS */
    ark_cache *base, *src;             /* the patched run, the source run */
    bool parallel;
} sweep;

/* How a layer's cells start: from block l with a hook on the point, or
 * from block `layer` with the patched residual written directly. */
typedef enum { START_HOOK, START_RESID_PRE, START_AFTER_BLOCK } start_kind;

static start_kind start_of(const sweep *sw)
{
    switch (sw->o->point) {
    case ARK_PATCH_RESID_PRE: return START_RESID_PRE;
    case ARK_PATCH_RESID_POST: case ARK_PATCH_MLP_OUT: return START_AFTER_BLOCK;
    case ARK_PATCH_ATTN_OUT: return sw->parallel ? START_AFTER_BLOCK : START_HOOK;
    default: return START_HOOK;
    }
}

static const float *cached(const ark_cache *c, const char *what, int layer, int pos, int d)
{
    char name[64];
    snprintf(name, sizeof name, "blocks.%d.%s", layer, what);
    const ark_tensor *t = ark_cache_get(c, name);
    return t ? t->data + (size_t)pos * d : NULL;
}

/* The residual stream entering block l + 1 at position p when the point of
 * block l is patched there, in the forward pass's own float32 order. */
static void patched_after_block(const sweep *sw, int l, int p, float *out)
{
    int d = sw->d;
    const float *src;
    switch (sw->o->point) {
    case ARK_PATCH_RESID_POST:
        memcpy(out, cached(sw->src, "hook_resid_post", l, p, d), sizeof(float) * d);
        return;
    case ARK_PATCH_MLP_OUT:
        src = cached(sw->src, "hook_mlp_out", l, p, d);
        if (!sw->parallel) {
            const float *mid = cached(sw->base, "hook_resid_mid", l, p, d);
            for (int j = 0; j < d; j++) out[j] = mid[j] + src[j];
        } else {
            const float *a = cached(sw->base, "hook_attn_out", l, p, d), *x = cached(sw->base, "hook_resid_pre", l, p, d);
            for (int j = 0; j < d; j++) out[j] = (src[j] + a[j]) + x[j];
        }
        return;
    default: { /* attn_out in a parallel block */
        src = cached(sw->src, "hook_attn_out", l, p, d);
        const float *mo = cached(sw->base, "hook_mlp_out", l, p, d), *x = cached(sw->base, "hook_resid_pre", l, p, d);
        for (int j = 0; j < d; j++) out[j] = (mo[j] + src[j]) + x[j];
    }
    }
}

/* Rows for cells [first, first + n) of layer l: their starting residual
 * (n, T, d), and each row's position and head for the hook. */
static void fill_rows(const sweep *sw, int l, start_kind k, int first, int n, float *resid, int *pos, int *head)
{
    int T = sw->T, d = sw->d;
    size_t row = (size_t)T * d;
    const float *start = k == START_AFTER_BLOCK ? cached(sw->base, "hook_resid_post", l, 0, d)
                                                : cached(sw->base, "hook_resid_pre", l, 0, d);
    for (int i = 0; i < n; i++) {
        int cell = first + i;
        pos[i] = sw->o->by_pos ? cell % sw->n_pos : -1;
        head[i] = ark_patch_point_per_head(sw->o->point) ? cell / sw->n_pos : -1;
        float *x = resid + i * row;
        memcpy(x, start, sizeof(float) * row);
        if (k == START_HOOK) continue;
        int p0 = pos[i] < 0 ? 0 : pos[i], p1 = pos[i] < 0 ? T : pos[i] + 1;
        for (int p = p0; p < p1; p++) {
            if (k == START_RESID_PRE) memcpy(x + (size_t)p * d, cached(sw->src, "hook_resid_pre", l, p, d), sizeof(float) * d);
            else patched_after_block(sw, l, p, x + (size_t)p * d);
        }
    }
}

/* The metric of row b of a run's logits ((B, V) at the metric position, or
 * (B, T, V) for LOSS). */
static double row_metric(const sweep *sw, const float *logits, int b)
{
    int V = sw->c->d_vocab;
    if (sw->mpos < 0) return ark_patch_metric_value(sw->mt, logits + (size_t)b * sw->T * V, sw->T, V, sw->clean_ids);
    ark_patch_metric one = *sw->mt;
    one.pos = 0;
    return ark_patch_metric_value(&one, logits + (size_t)b * V, 1, V, NULL);
}

/* Cells [first, first + n) of layer l as one batched run. */
static ark_status run_cells(sweep *sw, int l, int first, int n, double *raw)
{
    start_kind k = start_of(sw);
    int T = sw->T;
    float *resid = malloc(sizeof(float) * (size_t)n * T * sw->d);
    int *pos = malloc(sizeof(int) * n), *head = malloc(sizeof(int) * n);
    ark_status st = resid && pos && head ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for %d patched rows", n);
    ark_plan *plan = NULL;
    float *logits = NULL;
    rows_start rs = {.B = n, .T = T, .layer = k == START_AFTER_BLOCK ? l + 1 : l, .tokens = sw->base_ids, .resid = resid};
    row_patch rp = {.src = sw->src, .B = n, .pos = pos, .head = head};
    if (st == ARK_OK) {
        fill_rows(sw, l, k, first, n, resid, pos, head);
        st = rows_plan_new(sw->m, &rs, &plan);
    }
    if (st == ARK_OK && k == START_HOOK) {
        char hook[64];
        ark_patch_point_hook(sw->o->point, l, hook, sizeof hook);
        st = ark_plan_add_hook(plan, hook, ARK_HOOK_MODIFY, row_patch_hook, &rp);
    }
    if (st == ARK_OK) st = rows_run(sw->m, &rs, plan, sw->mpos, &logits);
    for (int i = 0; st == ARK_OK && i < n; i++) raw[first + i] = row_metric(sw, logits, i);
    free(logits);
    ark_plan_free(plan);
    free(resid);
    free(pos);
    free(head);
    return st;
}

static ark_status check_inputs(const sweep *sw, const int32_t *clean, const int32_t *corrupted, const ark_patch_metric *mt)
{
    int V = sw->c->d_vocab, T = sw->T;
    if (T <= 0) return ark_fail(ARK_ERR_ARG, "the prompts are empty");
    for (int t = 0; t < T; t++) {
        if (clean[t] < 0 || clean[t] >= V) return ark_fail(ARK_ERR_ARG, "clean token %d at position %d is out of range (vocab %d)", clean[t], t, V);
        if (corrupted[t] < 0 || corrupted[t] >= V)
            return ark_fail(ARK_ERR_ARG, "corrupted token %d at position %d is out of range (vocab %d)", corrupted[t], t, V);
    }
    if (mt->kind < ARK_METRIC_LOGIT_DIFF || mt->kind > ARK_METRIC_LOSS) return ark_fail(ARK_ERR_ARG, "metric: unknown kind %d", mt->kind);
    if (mt->kind == ARK_METRIC_LOSS && T < 2) return ark_fail(ARK_ERR_ARG, "metric loss needs at least 2 tokens, the prompts have %d", T);
    if (mt->kind != ARK_METRIC_LOSS) {
        if (mt->pos < -T || mt->pos >= T) return ark_fail(ARK_ERR_ARG, "metric position %d: the prompts have positions 0..%d", mt->pos, T - 1);
        if (mt->token < 0 || mt->token >= V) return ark_fail(ARK_ERR_ARG, "metric token %d is out of range (vocab %d)", mt->token, V);
        if (mt->kind == ARK_METRIC_LOGIT_DIFF && (mt->other < 0 || mt->other >= V))
            return ark_fail(ARK_ERR_ARG, "metric token %d is out of range (vocab %d)", mt->other, V);
    }
    const ark_patch_opts *o = sw->o;
    if (o->point < 0 || o->point >= ARK_PATCH_N_POINTS) return ark_fail(ARK_ERR_ARG, "point: unknown point %d", o->point);
    if (o->point == ARK_PATCH_RESID_MID && sw->parallel)
        return ark_fail(ARK_ERR_ARG, "point resid_mid: this model's blocks are parallel (attention and MLP read the same input), so it has no hook_resid_mid");
    return ARK_OK;
}

/* The two reference runs, keeping what the cells start from and copy. */
static ark_status reference_runs(sweep *sw, const int32_t *src_ids)
{
    ark_plan *pb = ark_plan_new(sw->m), *ps = ark_plan_new(sw->m);
    ark_status st = pb && ps ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for plans");
    const char *base_keep[] = {"resid_pre", "resid_post", NULL, NULL, NULL};
    if (sw->o->point == ARK_PATCH_MLP_OUT || sw->o->point == ARK_PATCH_ATTN_OUT) {
        base_keep[2] = "attn_out";
        base_keep[3] = sw->parallel ? "mlp_out" : "resid_mid";
    }
    for (int i = 0; base_keep[i] && st == ARK_OK; i++) st = ark_plan_keep(pb, base_keep[i]);
    if (st == ARK_OK) st = ark_plan_keep(ps, point_hooks[sw->o->point]);
    if (st == ARK_OK) st = ark_run(sw->m, sw->base_ids, 1, sw->T, NULL, pb, &sw->base);
    if (st == ARK_OK) st = ark_run(sw->m, src_ids, 1, sw->T, NULL, ps, &sw->src);
    ark_plan_free(pb);
    ark_plan_free(ps);
    return st;
}

ark_status ark_patch_sweep(ark_model *m, const int32_t *clean, const int32_t *corrupted, int T,
                           const ark_patch_metric *metric, const ark_patch_opts *opts, ark_patch_result *out)
{
    memset(out, 0, sizeof *out);
    ark_patch_opts dflt = ark_patch_opts_default(ARK_PATCH_RESID_PRE);
    const ark_config *c = ark_model_config(m);
    sweep sw = {.m = m, .c = c, .o = opts ? opts : &dflt, .mt = metric, .T = T, .L = c->n_layers, .d = c->d_model,
                .clean_ids = clean, .parallel = c->parallel_residual};
    if (!clean || !corrupted || !metric) return ark_fail(ARK_ERR_ARG, "patch sweep: no prompts or no metric");
    ARK_TRY(check_inputs(&sw, clean, corrupted, metric));
    sw.base_ids = sw.o->noising ? clean : corrupted;
    sw.n_heads = ark_patch_point_per_head(sw.o->point) ? ark_patch_point_heads(m, sw.o->point) : 1;
    sw.n_pos = sw.o->by_pos ? T : 1;
    sw.mpos = metric->kind == ARK_METRIC_LOSS ? -1 : (metric->pos < 0 ? metric->pos + T : metric->pos);
    int per_layer = sw.n_heads * sw.n_pos, total = sw.L * per_layer;
    out->raw = malloc(sizeof(double) * total);
    out->normalised = malloc(sizeof(double) * total);
    ark_status st = out->raw && out->normalised ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for %d cells", total);
    if (st == ARK_OK) st = reference_runs(&sw, sw.o->noising ? corrupted : clean);
    if (st == ARK_OK) {
        const ark_cache *cl = sw.o->noising ? sw.base : sw.src, *co = sw.o->noising ? sw.src : sw.base;
        out->clean = ark_patch_metric_value(metric, ark_cache_logits(cl)->data, T, c->d_vocab, clean);
        out->corrupted = ark_patch_metric_value(metric, ark_cache_logits(co)->data, T, c->d_vocab, clean);
    }
    bool maps = sw.o->point == ARK_PATCH_HEAD_PATTERN;
    int rows = rows_per_run(m, T, maps, sw.mpos < 0, sw.o->mem_budget, sw.o->max_rows, per_layer), done = 0;
    for (int l = 0; l < sw.L && st == ARK_OK; l++)
        for (int first = 0; first < per_layer && st == ARK_OK; first += rows) {
            int n = per_layer - first < rows ? per_layer - first : rows;
            st = run_cells(&sw, l, first, n, out->raw + (size_t)l * per_layer);
            out->n_runs++;
            done += n;
            if (st == ARK_OK && sw.o->progress) sw.o->progress(done, total, sw.o->progress_ctx);
        }
    ark_cache_free(sw.base);
    ark_cache_free(sw.src);
    if (st != ARK_OK) { ark_patch_result_free(out); return st; }
    double den = out->clean - out->corrupted;
    for (int i = 0; i < total; i++) out->normalised[i] = den != 0 ? (out->raw[i] - out->corrupted) / den : NAN;
    out->point = sw.o->point;
    out->by_pos = sw.o->by_pos;
    out->noising = sw.o->noising;
    out->n_layers = sw.L;
    out->n_heads = sw.n_heads;
    out->n_pos = sw.n_pos;
    return ARK_OK;
}

/* ---- metrics ---- */

static const char *const metric_names[] = {"logit_diff", "logit", "prob", "loss"};

const char *ark_metric_name(ark_metric_kind k)
{
    return k >= ARK_METRIC_LOGIT_DIFF && k <= ARK_METRIC_LOSS ? metric_names[k] : NULL;
}

/* log sum exp of one row of logits, in float64. */
static double log_sum_exp(const float *x, int V)
{
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < V; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

double ark_patch_metric_value(const ark_patch_metric *mt, const float *logits, int T, int V, const int32_t *targets)
{
    if (mt->kind == ARK_METRIC_LOSS) {
        double sum = 0;
        for (int t = 0; t + 1 < T; t++) {
            const float *x = logits + (size_t)t * V;
            sum += log_sum_exp(x, V) - x[targets[t + 1]];
        }
        return T > 1 ? sum / (T - 1) : NAN;
    }
    int p = mt->pos < 0 ? mt->pos + T : mt->pos;
    const float *x = logits + (size_t)p * V;
    switch (mt->kind) {
    case ARK_METRIC_LOGIT_DIFF: return (double)x[mt->token] - x[mt->other];
    case ARK_METRIC_LOGIT: return x[mt->token];
    default: return exp((double)x[mt->token] - log_sum_exp(x, V));
    }
}
