/* Feature visualisation (include/arrakis/tool_feature_viz.h): top
 * activating examples with contexts, and neuron-direction interpolation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_feature_viz.h"
#include "arrakis/weights.h"
#include "core/error.h"

/* ---- the unit's activation ---- */

static const char *unit_hook(const ark_viz_unit *u) { return u->kind == ARK_VIZ_SAE_FEATURE ? u->sae->hook_name : u->hook; }

static ark_status check_unit(const ark_model *m, const ark_viz_unit *u)
{
    int w;
    if (u->kind == ARK_VIZ_SAE_FEATURE) {
        if (!u->sae) return ark_fail(ARK_ERR_ARG, "feature_viz: no SAE given");
        ARK_TRY(ark_hook_width(m, u->sae->hook_name, &w));
        if (w != u->sae->d_in)
            return ark_fail(ARK_ERR_SHAPE, "feature_viz: the SAE reads %d values at %s, the model has %d", u->sae->d_in,
                            u->sae->hook_name, w);
        if (u->index < 0 || u->index >= u->sae->d_sae)
            return ark_fail(ARK_ERR_ARG, "feature_viz: feature %d is out of range (the SAE has 0..%d)", u->index, u->sae->d_sae - 1);
        return ARK_OK;
    }
    ARK_TRY(ark_hook_width(m, u->hook, &w));
    if (u->kind == ARK_VIZ_NEURON && (u->index < 0 || u->index >= w))
        return ark_fail(ARK_ERR_ARG, "feature_viz: neuron %d is out of range (%s has 0..%d)", u->index, u->hook, w - 1);
    if (u->kind == ARK_VIZ_DIRECTION && !u->direction) return ark_fail(ARK_ERR_ARG, "feature_viz: no direction given");
    return ARK_OK;
}

/* a for each of the n rows (a: n floats). */
static ark_status unit_acts(const ark_viz_unit *u, const float *x, int n, int w, float *a)
{
    if (u->kind == ARK_VIZ_NEURON) {
        for (int r = 0; r < n; r++) a[r] = x[(size_t)r * w + u->index];
        return ARK_OK;
    }
    if (u->kind == ARK_VIZ_DIRECTION) {
        for (int r = 0; r < n; r++) {
            double s = 0;
            for (int j = 0; j < w; j++) s += (double)x[(size_t)r * w + j] * u->direction[j];
            a[r] = (float)s;
        }
        return ARK_OK;
    }
    int D = u->sae->d_sae, chunk = 256;
    float *f = malloc(sizeof(float) * (size_t)chunk * D);
    if (!f) return ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    ark_status s = ARK_OK;
    for (int r0 = 0; s == ARK_OK && r0 < n; r0 += chunk) {
        int b = n - r0 < chunk ? n - r0 : chunk;
        s = ark_sae_encode(u->sae, x + (size_t)r0 * w, b, f);
        for (int r = 0; s == ARK_OK && r < b; r++) a[r0 + r] = f[(size_t)r * D + u->index];
    }
    free(f);
    return s;
}

/* ---- pass 1: the top examples ---- */

typedef struct pass1 {
    const ark_viz_unit *u;
    ark_sparsity_acc *acc;
    float *a;
    int cap;
} pass1;

static ark_status pass1_consume(const ark_act_rows *r, void *ctx)
{
    pass1 *p = ctx;
    if (r->n > p->cap) {
        free(p->a);
        p->a = malloc(sizeof(float) * r->n);
        p->cap = p->a ? r->n : 0;
        if (!p->a) return ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    }
    ARK_TRY(unit_acts(p->u, r->act, r->n, r->width, p->a));
    ark_act_rows one = *r;
    one.act = p->a;
    one.width = 1;
    return ark_sparsity_acc_add(p->acc, &one);
}

/* ---- pass 2: one prompt's activations ---- */

typedef struct pass2 {
    const ark_viz_unit *u;
    float *a;       /* (len) */
    int32_t *tok;   /* (len) */
    int len;
} pass2;

static ark_status pass2_consume(const ark_act_rows *r, void *ctx)
{
    pass2 *p = ctx;
    float *a = malloc(sizeof(float) * (r->n ? r->n : 1));
    if (!a) return ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    ark_status s = unit_acts(p->u, r->act, r->n, r->width, a);
    for (int i = 0; s == ARK_OK && i < r->n; i++)
        if (r->pos[i] < p->len) { p->a[r->pos[i]] = a[i]; p->tok[r->pos[i]] = r->token[i]; }
    free(a);
    return s;
}

static ark_status fill_context(ark_model *m, const ark_dataset *d, const ark_viz_unit *u, const ark_stream_opts *so,
                               int before, int after, ark_viz_example *e)
{
    int32_t *ids;
    int len;
    ARK_TRY(ark_dataset_get(d, e->prompt, &ids, &len));
    free(ids);
    int max_len = so && so->max_len > 0 ? so->max_len : ark_model_config(m)->n_ctx;
    if (len > max_len) len = max_len;
    pass2 p = {u, calloc((size_t)len, sizeof(float)), calloc((size_t)len, sizeof(int32_t)), len};
    ark_stream_opts one = so ? *so : (ark_stream_opts)ARK_STREAM_OPTS_INIT;
    one.first = e->prompt;
    one.count = 1;
    ark_status s = p.a && p.tok ? ark_stream_acts(m, d, unit_hook(u), &one, pass2_consume, &p)
                                : ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    if (s == ARK_OK) {
        e->start = e->pos - before > 0 ? e->pos - before : 0;
        int end = e->pos + after + 1 < len ? e->pos + after + 1 : len;
        e->n = end - e->start;
        e->tokens = malloc(sizeof(int32_t) * e->n);
        e->acts = malloc(sizeof(float) * e->n);
        if (!e->tokens || !e->acts) s = ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
        for (int i = 0; s == ARK_OK && i < e->n; i++) {
            e->tokens[i] = p.tok[e->start + i];
            e->acts[i] = p.a[e->start + i];
        }
    }
    free(p.a);
    free(p.tok);
    return s;
}

ark_status ark_viz_top_examples(ark_model *m, const ark_dataset *d, const ark_viz_unit *u, const ark_stream_opts *so,
                                int k, int before, int after, ark_viz_result *out)
{
    memset(out, 0, sizeof *out);
    ARK_TRY(check_unit(m, u));
    if (k < 1 || before < 0 || after < 0)
        return ark_fail(ARK_ERR_ARG, "feature_viz: k %d, before %d, after %d: expected k >= 1, before/after >= 0", k, before, after);
    ark_sparsity_opts o = ARK_SPARSITY_OPTS_INIT;
    o.top_k = k;
    pass1 p = {.u = u};
    ARK_TRY(ark_sparsity_acc_new(1, &o, &p.acc));
    ark_status s = ark_stream_acts(m, d, unit_hook(u), so, pass1_consume, &p);
    ark_sparsity st = {0};
    if (s == ARK_OK) s = ark_sparsity_acc_result(p.acc, &st);
    ark_sparsity_acc_free(p.acc);
    free(p.a);
    if (s == ARK_OK) {
        out->n_tokens = st.n_tokens;
        out->density = st.density[0];
        out->mean = st.mean[0];
        out->max_act = st.max_act[0];
        out->ex = calloc((size_t)st.n_top[0] + 1, sizeof *out->ex);
        if (!out->ex) s = ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    }
    for (int i = 0; s == ARK_OK && i < st.n_top[0]; i++) {
        ark_viz_example *e = &out->ex[i];
        e->act = st.top[i].act;
        e->prompt = st.top[i].prompt;
        e->pos = st.top[i].pos;
        out->n = i + 1;
        s = fill_context(m, d, u, so, before, after, e);
    }
    ark_sparsity_free(&st);
    if (s != ARK_OK) ark_viz_result_free(out);
    return s;
}

void ark_viz_result_free(ark_viz_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->ex[i].tokens);
        free(r->ex[i].acts);
    }
    free(r->ex);
    memset(r, 0, sizeof *r);
}

/* ---- interpolation between two neurons' output directions ---- */

typedef struct steer_ctx {
    const float *v;   /* (rows, d) the vector added in each row */
    int pos, d;
} steer_ctx;

static ark_status steer_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    const steer_ctx *s = ctx;
    for (int b = 0; b < call->B; b++) {
        float *x = act->data + ((size_t)b * call->T + s->pos) * s->d;
        for (int j = 0; j < s->d; j++) x[j] += s->v[(size_t)b * s->d + j];
    }
    return ARK_OK;
}

static ark_status out_row(const ark_model *m, int layer, int n, float *w)
{
    const ark_config *c = ark_model_config(m);
    if (layer < 0 || layer >= c->n_layers)
        return ark_fail(ARK_ERR_ARG, "feature_viz: layer %d is out of range (0..%d)", layer, c->n_layers - 1);
    if (n < 0 || n >= c->d_mlp) return ark_fail(ARK_ERR_ARG, "feature_viz: neuron %d is out of range (0..%d)", n, c->d_mlp - 1);
    float *all = malloc(sizeof(float) * (size_t)c->d_mlp * c->d_model);
    if (!all) return ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    ark_status s = ark_weight_read(m, ARK_W_OUT, layer, -1, all);
    if (s == ARK_OK) memcpy(w, all + (size_t)n * c->d_model, sizeof(float) * c->d_model);
    free(all);
    return s;
}

/* Add the top `top` tokens of a logit row to the tracked set. */
static void track_top(const float *z, int V, int top, int32_t *set, int *n)
{
    for (int t = 0; t < top; t++) {
        int best = -1;
        for (int v = 0; v < V; v++) {
            bool taken = false;
            for (int i = 0; i < *n && !taken; i++) taken = set[i] == v;
            if (!taken && (best < 0 || z[v] > z[best])) best = v;
        }
        if (best >= 0) {
            bool in = false;
            for (int i = 0; i < *n && !in; i++) in = set[i] == best;
            if (!in) set[(*n)++] = best;
        }
    }
}

ark_status ark_viz_interpolate_neurons(ark_model *m, const int32_t *ids, int len, int layer1, int n1, int layer2, int n2,
                                       int write_layer, int pos, float scale, int n_steps, int top, ark_viz_interp *out)
{
    memset(out, 0, sizeof *out);
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, V = c->d_vocab;
    if (!ids || len < 1) return ark_fail(ARK_ERR_ARG, "feature_viz: interpolation needs a prompt");
    if (n_steps < 2 || n_steps > 1000) return ark_fail(ARK_ERR_ARG, "feature_viz: steps %d, expected 2..1000", n_steps);
    if (top < 1 || top > V) return ark_fail(ARK_ERR_ARG, "feature_viz: top %d, expected 1..%d", top, V);
    if (write_layer < 0 || write_layer >= c->n_layers)
        return ark_fail(ARK_ERR_ARG, "feature_viz: write layer %d is out of range (0..%d)", write_layer, c->n_layers - 1);
    if (pos < 0) pos += len;
    if (pos < 0 || pos >= len) return ark_fail(ARK_ERR_ARG, "feature_viz: position out of range for a prompt of %d tokens", len);
    float *w1 = malloc(sizeof(float) * d), *w2 = malloc(sizeof(float) * d);
    float *v = malloc(sizeof(float) * (size_t)(n_steps + 1) * d);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(n_steps + 1) * len);
    ark_status s = w1 && w2 && v && tok ? out_row(m, layer1, n1, w1) : ark_fail(ARK_ERR_NOMEM, "feature_viz: out of memory");
    if (s == ARK_OK) s = out_row(m, layer2, n2, w2);
    ark_cache *cache = NULL;
    if (s == ARK_OK) {
        double dot = 0, q1 = 0, q2 = 0;
        for (int j = 0; j < d; j++) { dot += (double)w1[j] * w2[j]; q1 += (double)w1[j] * w1[j]; q2 += (double)w2[j] * w2[j]; }
        out->cos_w1_w2 = q1 > 0 && q2 > 0 ? dot / sqrt(q1 * q2) : NAN;
        out->n_steps = n_steps;
        out->alpha = malloc(sizeof(float) * n_steps);
        for (int st = 0; st <= n_steps; st++) { /* row n_steps: the unmodified run */
            float t = st < n_steps ? (float)st / (float)(n_steps - 1) : 0.0f;
            if (st < n_steps) out->alpha[st] = t;
            for (int j = 0; j < d; j++) v[(size_t)st * d + j] = st < n_steps ? scale * ((1 - t) * w1[j] + t * w2[j]) : 0.0f;
            memcpy(tok + (size_t)st * len, ids, sizeof(int32_t) * len);
        }
        char hook[64];
        snprintf(hook, sizeof hook, "blocks.%d.hook_resid_post", write_layer);
        steer_ctx sc = {v, pos, d};
        ark_plan *p = ark_plan_new(m);
        s = ark_plan_add_hook(p, hook, ARK_HOOK_MODIFY, steer_hook, &sc);
        if (s == ARK_OK) s = ark_run(m, tok, n_steps + 1, len, NULL, p, &cache);
        ark_plan_free(p);
    }
    if (s == ARK_OK) {
        const float *z = ark_cache_logits(cache)->data;
#define ROW(st) (z + ((size_t)(st) * len + pos) * V)
        int cap = 3 * top;
        out->tokens = malloc(sizeof(int32_t) * cap);
        out->n_tokens = 0;
        track_top(ROW(n_steps), V, top, out->tokens, &out->n_tokens);
        track_top(ROW(0), V, top, out->tokens, &out->n_tokens);
        track_top(ROW(n_steps - 1), V, top, out->tokens, &out->n_tokens);
        out->logits = malloc(sizeof(float) * (size_t)n_steps * out->n_tokens);
        out->base = malloc(sizeof(float) * out->n_tokens);
        out->top = malloc(sizeof(int32_t) * n_steps);
        for (int i = 0; i < out->n_tokens; i++) out->base[i] = ROW(n_steps)[out->tokens[i]];
        for (int st = 0; st < n_steps; st++) {
            const float *r = ROW(st);
            int best = 0;
            for (int x = 1; x < V; x++) best = r[x] > r[best] ? x : best;
            out->top[st] = best;
            for (int i = 0; i < out->n_tokens; i++) out->logits[(size_t)st * out->n_tokens + i] = r[out->tokens[i]];
        }
#undef ROW
    }
    ark_cache_free(cache);
    free(w1);
    free(w2);
    free(v);
    free(tok);
    if (s != ARK_OK) ark_viz_interp_free(out);
    return s;
}

void ark_viz_interp_free(ark_viz_interp *r)
{
    if (!r) return;
    free(r->alpha);
    free(r->tokens);
    free(r->logits);
    free(r->base);
    free(r->top);
    memset(r, 0, sizeof *r);
}
