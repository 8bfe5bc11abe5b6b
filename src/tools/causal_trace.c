/* Causal tracing (include/arrakis/tool_causal.h): the clean and corrupted
 * runs, and the restorations as batched runs from the corrupted residual. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/interventions.h"
#include "arrakis/tool_causal.h"
#include "core/error.h"
#include "core/rng.h"
#include "tools/patching_internal.h"

static const char *const kind_names[] = {"resid", "mlp", "attn"};

const char *ark_trace_kind_name(ark_trace_kind k) { return k >= ARK_TRACE_RESID && k <= ARK_TRACE_ATTN ? kind_names[k] : NULL; }

ark_status ark_trace_kind_parse(const char *s, ark_trace_kind *out)
{
    if (s && (!strcmp(s, "resid") || !strcmp(s, "hidden") || !strcmp(s, "residual"))) *out = ARK_TRACE_RESID;
    else if (s && !strcmp(s, "mlp")) *out = ARK_TRACE_MLP;
    else if (s && (!strcmp(s, "attn") || !strcmp(s, "attention"))) *out = ARK_TRACE_ATTN;
    else return ark_fail(ARK_ERR_ARG, "kind \"%s\": expected resid, mlp or attn", s ? s : "");
    return ARK_OK;
}

ark_trace_opts ark_trace_opts_default(void)
{
    ark_trace_opts o = {ARK_TRACE_RESID, 10, 10, 0.0, 0, 0, NULL};
    return o;
}

int ark_trace_rows(const ark_model *m, ark_trace_kind k)
{
    int L = ark_model_config(m)->n_layers;
    return k == ARK_TRACE_RESID ? L + 1 : L;
}

/* ROME's window around layer l: [l - floor(W/2), l + ceil(W/2)) within [0, L). */
static void window_of(int l, int W, int L, int *lo, int *hi)
{
    *lo = l - W / 2 < 0 ? 0 : l - W / 2;
    *hi = l + (W + 1) / 2 > L ? L : l + (W + 1) / 2;
}

void ark_trace_row_name(const ark_model *m, const ark_trace_opts *o, int row, char *buf, size_t cap)
{
    int L = ark_model_config(m)->n_layers, lo, hi;
    if (o->kind == ARK_TRACE_RESID) {
        if (row == 0) snprintf(buf, cap, "embeddings");
        else snprintf(buf, cap, "block %d output", row - 1);
        return;
    }
    window_of(row, o->window, L, &lo, &hi);
    snprintf(buf, cap, "%s %d (layers %d..%d)", kind_names[o->kind], row, lo, hi - 1);
}

void ark_trace_result_free(ark_trace_result *r)
{
    if (!r) return;
    free(r->p_restored);
    memset(r, 0, sizeof *r);
}

/* softmax(x)[k] in float64. */
static double prob_of(const float *x, int V, int k)
{
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < V; i++) s += exp((double)x[i] - mx);
    return exp((double)x[k] - mx) / s;
}

/* ---- noise ---- */

typedef struct noise_ctx {
    int N, sb, se, d;
    float *noise; /* (N, se - sb, d) */
} noise_ctx;

static ark_status add_noise(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    const noise_ctx *nc = ctx;
    int T = call->T, ns = nc->se - nc->sb;
    for (int b = 0; b < call->B; b++)
        for (int j = 0; j < ns; j++) {
            float *x = act->data + ((size_t)b * T + nc->sb + j) * nc->d;
            const float *z = nc->noise + ((size_t)b * ns + j) * nc->d;
            for (int k = 0; k < nc->d; k++) x[k] += z[k];
        }
    return ARK_OK;
}

static float *draw_noise(const ark_trace_opts *o, uint64_t index, int ns, int d)
{
    size_t n = (size_t)o->samples * ns * d;
    float *z = malloc(sizeof(float) * (n ? n : 1));
    if (!z) return NULL;
    if (o->noise_values) {
        memcpy(z, o->noise_values, sizeof(float) * n);
        return z;
    }
    ark_rng rng;
    ark_rng_seed(&rng, o->seed * 0x9E3779B97F4A7C15ull + index * 0xD1B54A32D192ED03ull + 1);
    for (size_t i = 0; i < n; i++) z[i] = (float)(o->noise * ark_rng_normal(&rng));
    return z;
}

/* ---- one trace ---- */

typedef struct tracer {
    ark_model *m;
    const ark_trace_prompt *p;
    const ark_trace_opts *o;
    int L, d, V, N, T;
    ark_cache *clean, *corrupt;  /* 1 row; N rows */
} tracer;

/* The clean run (1 row) and the corrupted run (N rows, noise hook on
 * hook_embed), keeping the residual stream and the restored outputs. */
static ark_status reference_runs(tracer *tr, noise_ctx *nc)
{
    ark_plan *pc = ark_plan_new(tr->m), *pn = ark_plan_new(tr->m);
    int32_t *tiled = malloc(sizeof(int32_t) * (size_t)tr->N * tr->T);
    ark_status st = pc && pn && tiled ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for the trace's runs");
    for (int s = 0; st == ARK_OK && s < tr->N; s++) memcpy(tiled + (size_t)s * tr->T, tr->p->ids, sizeof(int32_t) * tr->T);
    ark_trace_kind k = tr->o->kind;
    const char *keep = k == ARK_TRACE_MLP ? "mlp_out" : k == ARK_TRACE_ATTN ? "attn_out" : "resid_post";
    if (st == ARK_OK) st = ark_plan_keep(pc, "resid_pre");
    if (st == ARK_OK) st = ark_plan_keep(pc, keep);
    if (st == ARK_OK) st = ark_plan_keep(pn, "resid_pre");
    if (st == ARK_OK) st = ark_plan_keep(pn, "resid_post");
    if (st == ARK_OK) st = ark_plan_add_hook(pn, "hook_embed", ARK_HOOK_MODIFY, add_noise, nc);
    if (st == ARK_OK) st = ark_run(tr->m, tr->p->ids, 1, tr->T, NULL, pc, &tr->clean);
    if (st == ARK_OK) st = ark_run(tr->m, tiled, tr->N, tr->T, NULL, pn, &tr->corrupt);
    free(tiled);
    ark_plan_free(pc);
    ark_plan_free(pn);
    return st;
}

/* The block a row's restorations start at, and for ARK_TRACE_RESID the
 * hook whose state is restored (it is also the starting residual). */
static int row_start(const tracer *tr, int row, char *state, size_t cap)
{
    if (tr->o->kind != ARK_TRACE_RESID) {
        int lo, hi;
        window_of(row, tr->o->window, tr->L, &lo, &hi);
        snprintf(state, cap, "blocks.%d.hook_resid_pre", lo);
        return lo;
    }
    if (row < tr->L) snprintf(state, cap, "blocks.%d.hook_resid_pre", row);
    else snprintf(state, cap, "blocks.%d.hook_resid_post", tr->L - 1);
    return row;
}

/* Restorations [first, first + n) of `row`: batch row i is (position t,
 * sample s) with i + first = t * N + s.  Adds each row's probability of
 * the answer into sum[t]. */
static ark_status restore_batch(tracer *tr, int row, int first, int n, double *sum)
{
    char start_name[64];
    int layer = row_start(tr, row, start_name, sizeof start_name), T = tr->T, d = tr->d;
    const float *corr = ark_cache_get(tr->corrupt, start_name)->data; /* (N, T, d) */
    const float *clean = ark_cache_get(tr->clean, start_name)->data;  /* (1, T, d) */
    size_t rowsz = (size_t)T * d;
    float *resid = malloc(sizeof(float) * n * rowsz), *logits = NULL;
    int *pos = malloc(sizeof(int) * n);
    ark_status st = resid && pos ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for %d restored rows", n);
    for (int i = 0; st == ARK_OK && i < n; i++) {
        int t = (first + i) / tr->N, s = (first + i) % tr->N;
        pos[i] = t;
        memcpy(resid + i * rowsz, corr + s * rowsz, sizeof(float) * rowsz);
        if (tr->o->kind == ARK_TRACE_RESID)
            memcpy(resid + i * rowsz + (size_t)t * d, clean + (size_t)t * d, sizeof(float) * d);
    }
    rows_start rs = {.B = n, .T = T, .layer = layer, .tokens = tr->p->ids, .resid = resid};
    row_patch rp = {.src = tr->clean, .B = n, .pos = pos, .head = NULL};
    ark_plan *plan = NULL;
    if (st == ARK_OK) st = rows_plan_new(tr->m, &rs, &plan);
    if (st == ARK_OK && tr->o->kind != ARK_TRACE_RESID) {
        int lo, hi;
        window_of(row, tr->o->window, tr->L, &lo, &hi);
        for (int l = lo; l < hi && st == ARK_OK; l++) {
            char hook[64];
            snprintf(hook, sizeof hook, "blocks.%d.hook_%s_out", l, tr->o->kind == ARK_TRACE_MLP ? "mlp" : "attn");
            st = ark_plan_add_hook(plan, hook, ARK_HOOK_MODIFY, row_patch_hook, &rp);
        }
    }
    if (st == ARK_OK) st = rows_run(tr->m, &rs, plan, T - 1, &logits);
    for (int i = 0; st == ARK_OK && i < n; i++) sum[pos[i]] += prob_of(logits + (size_t)i * tr->V, tr->V, tr->p->answer);
    free(logits);
    ark_plan_free(plan);
    free(resid);
    free(pos);
    return st;
}

static ark_status check_trace(const ark_model *m, const ark_trace_prompt *p, const ark_trace_opts *o)
{
    const ark_config *c = ark_model_config(m);
    if (!p->ids || p->T <= 0) return ark_fail(ARK_ERR_ARG, "the prompt is empty");
    for (int t = 0; t < p->T; t++)
        if (p->ids[t] < 0 || p->ids[t] >= c->d_vocab)
            return ark_fail(ARK_ERR_ARG, "prompt token %d at position %d is out of range (vocab %d)", p->ids[t], t, c->d_vocab);
    if (p->subj_begin < 0 || p->subj_end > p->T || p->subj_begin >= p->subj_end)
        return ark_fail(ARK_ERR_ARG, "subject tokens [%d, %d): expected a non-empty range within 0..%d", p->subj_begin, p->subj_end, p->T);
    if (p->answer < 0 || p->answer >= c->d_vocab) return ark_fail(ARK_ERR_ARG, "answer token %d is out of range (vocab %d)", p->answer, c->d_vocab);
    if (o->samples < 1) return ark_fail(ARK_ERR_ARG, "samples %d: expected at least 1", o->samples);
    if (!o->noise_values && (!(o->noise > 0) || !isfinite(o->noise))) return ark_fail(ARK_ERR_ARG, "noise %g: expected a positive standard deviation", o->noise);
    if (o->kind != ARK_TRACE_RESID && o->window < 1) return ark_fail(ARK_ERR_ARG, "window %d: expected at least 1 layer", o->window);
    if (o->kind < ARK_TRACE_RESID || o->kind > ARK_TRACE_ATTN) return ark_fail(ARK_ERR_ARG, "kind %d is not a trace kind", o->kind);
    return ARK_OK;
}

/* P_clean, the clean top token and P_corrupted from the reference runs. */
static void reference_probs(const tracer *tr, ark_trace_result *out)
{
    const float *cl = ark_cache_logits(tr->clean)->data + (size_t)(tr->T - 1) * tr->V;
    out->p_clean = prob_of(cl, tr->V, tr->p->answer);
    int top = 0;
    for (int v = 1; v < tr->V; v++) top = cl[v] > cl[top] ? v : top;
    out->clean_top = top;
    double sum = 0;
    for (int s = 0; s < tr->N; s++)
        sum += prob_of(ark_cache_logits(tr->corrupt)->data + ((size_t)s * tr->T + tr->T - 1) * tr->V, tr->V, tr->p->answer);
    out->p_corrupted = sum / tr->N;
}

ark_status ark_trace(ark_model *m, const ark_trace_prompt *p, const ark_trace_opts *opts, uint64_t index,
                     ark_trace_result *out)
{
    memset(out, 0, sizeof *out);
    const ark_config *c = ark_model_config(m);
    ARK_TRY(check_trace(m, p, opts));
    tracer tr = {.m = m, .p = p, .o = opts, .L = c->n_layers, .d = c->d_model, .V = c->d_vocab, .N = opts->samples, .T = p->T};
    int ns = p->subj_end - p->subj_begin, rows = ark_trace_rows(m, opts->kind), cells = p->T * tr.N;
    noise_ctx nc = {tr.N, p->subj_begin, p->subj_end, tr.d, draw_noise(opts, index, ns, tr.d)};
    out->p_restored = calloc((size_t)rows * p->T, sizeof(double));
    ark_status st = nc.noise && out->p_restored ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for a trace");
    if (st == ARK_OK) st = reference_runs(&tr, &nc);
    if (st == ARK_OK) reference_probs(&tr, out);
    int batch = rows_per_run(m, p->T, false, false, opts->mem_budget, 0, cells);
    for (int r = 0; r < rows && st == ARK_OK; r++) {
        double *sum = out->p_restored + (size_t)r * p->T;
        for (int first = 0; first < cells && st == ARK_OK; first += batch)
            st = restore_batch(&tr, r, first, cells - first < batch ? cells - first : batch, sum);
        for (int t = 0; t < p->T; t++) sum[t] /= tr.N;
    }
    free(nc.noise);
    ark_cache_free(tr.clean);
    ark_cache_free(tr.corrupt);
    if (st != ARK_OK) { ark_trace_result_free(out); return st; }
    out->n_rows = rows;
    out->T = p->T;
    return ARK_OK;
}
