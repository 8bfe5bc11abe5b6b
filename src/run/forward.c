/* The forward pass: one canonical block, parameterised by ark_config, with
 * hook points fired where TransformerLens places them. Read top to bottom:
 * run_forward -> embed -> block (attention, mlp) x L -> final norm -> unembed. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "run/run_internal.h"

/* ---- hook points ---- */

static ark_status call_hooks(run_ctx *r, const hook_reg *regs, int n, int id, ark_tensor *t, const ark_hook_call *call)
{
    for (int i = 0; i < n; i++) {
        if (regs[i].id != id) continue;
        ark_clear_error();
        ark_status s = regs[i].fn(t, call, regs[i].ctx);
        if (s != ARK_OK) {
            if (!*ark_errmsg()) ark_fail(s, "hook function on %s failed", call->name);
            return ark_fail_prefix(s, "hook %s", call->name);
        }
    }
    (void)r;
    return ARK_OK;
}

void run_fire(run_ctx *r, ark_hook_kind k, int layer, float *data)
{
    const ark_config *c = r->c;
    int id = hook_id(c->n_layers, k, layer);
    if (r->status != ARK_OK) return;
    ark_tensor t = {.data = data};
    if (r->called[id]) {
        char name[64];
        hook_format_name(k, layer, name, sizeof name);
        int Tk = r->past + r->T;
        t.ndim = hook_shape(c, k, r->B, r->T, t.shape);
        if (k == HK_SCORES || k == HK_PATTERN) t.shape[3] = Tk;
        ark_hook_call call = {.name = name, .layer = k < HK_N_LAYER_KINDS ? layer : -1, .B = r->B, .T = r->T,
                              .pos_offset = r->past, .mask = r->mask};
        r->status = call_hooks(r, r->m->hooks, r->m->n_hooks_fn, id, &t, &call);
        if (r->status == ARK_OK && r->plan) r->status = call_hooks(r, r->plan->regs, r->plan->n_regs, id, &t, &call);
    }
    int s = r->slot[id];
    if (s >= 0) {
        ark_tensor *dst = &r->cache->tensors[s];
        memcpy(dst->data, data, sizeof(float) * (size_t)ark_tensor_numel(dst));
    }
}

/* ---- embeddings ---- */

static void embed(run_ctx *r, const int32_t *tokens)
{
    const ark_config *c = r->c;
    int d = c->d_model;
    for (int i = 0; i < r->BT; i++) {
        const float *e = r->m->embed + (size_t)tokens[i] * d;
        float *xi = r->x + (size_t)i * d;
        if (c->embed_scale != 1.0f)
            for (int j = 0; j < d; j++) xi[j] = e[j] * c->embed_scale;
        else
            memcpy(xi, e, sizeof(float) * d);
    }
    run_fire(r, HK_EMBED, 0, r->x);
    double bytes = 4.0 * r->BT * d;
    if (c->pos != ARK_POS_LEARNED) {
        run_prof(r, "embed", -1, c->embed_scale != 1.0f ? (double)r->BT * d : 0, bytes, "embed");
        return;
    }
    float *pe = r->attn_out; /* scratch (B, T, d) */
    for (int i = 0; i < r->BT; i++)
        memcpy(pe + (size_t)i * d, r->m->pos_embed + (size_t)r->pos[i] * d, sizeof(float) * d);
    run_fire(r, HK_POS_EMBED, 0, pe);
    for (size_t i = 0; i < (size_t)r->BT * d; i++) r->x[i] += pe[i];
    run_prof(r, "embed", -1, (double)r->BT * d, 2 * bytes, "embed");
}

/* ---- norms ---- */

/* A norm with its two hook points.  When a hook may change hook_scale, the
 * output is recomputed from the (changed) scale. */
static void norm(run_ctx *r, const float *in, const float *w, const float *b, float *out, ark_hook_kind scale_k,
                 ark_hook_kind norm_k, int layer)
{
    const ark_config *c = r->c;
    int d = c->d_model;
    k_norm(c->norm, in, r->BT, d, w, b, c->norm_eps, out, r->scale);
    int id = hook_id(c->n_layers, scale_k, layer);
    run_fire(r, scale_k, layer, r->scale);
    if (r->called[id]) k_norm_with_scale(c->norm, in, r->BT, d, w, b, r->scale, out);
    run_fire(r, norm_k, layer, out);
}

static double norm_flops(const run_ctx *r)
{
    return (double)r->BT * r->c->d_model * (r->c->norm == ARK_NORM_LAYERNORM ? 5 : 4);
}

static double norm_bytes(const run_ctx *r) { return 4.0 * r->BT * (r->c->d_model + 1); }

/* ---- MLP ---- */

static void mlp(run_ctx *r, const ark_layer_weights *L, const float *in, int layer)
{
    const ark_config *c = r->c;
    int64_t n = (int64_t)r->BT * c->d_mlp;
    if (c->mlp == ARK_MLP_GATED) {
        k_linear(&L->gate, in, r->BT, r->pre, c->d_mlp);
        k_linear(&L->up, in, r->BT, r->pre_lin, c->d_mlp);
        run_fire(r, HK_MLP_PRE, layer, r->pre);
        run_fire(r, HK_MLP_PRE_LINEAR, layer, r->pre_lin);
        k_act_mul(c->act, r->pre, r->pre_lin, n);
    } else {
        k_linear(&L->up, in, r->BT, r->pre, c->d_mlp);
        run_fire(r, HK_MLP_PRE, layer, r->pre);
        k_act(c->act, r->pre, n);
    }
    run_fire(r, HK_MLP_POST, layer, r->pre);
    k_linear(&L->down, r->pre, r->BT, r->mlp_out, c->d_model);
    run_fire(r, HK_MLP_OUT, layer, r->mlp_out);
}

static void prof_mlp(run_ctx *r, int layer)
{
    const ark_config *c = r->c;
    double BT = r->BT, d = c->d_model, m = c->d_mlp, g = c->mlp == ARK_MLP_GATED ? 2 : 1;
    run_prof(r, "mlp", layer, 2 * BT * d * m * g + 2 * BT * m * d + BT * m * g, 4 * (BT * m * g + BT * d),
             "blocks.%d.mlp", layer);
}

/* ---- the block ---- */

static void block(run_ctx *r, int layer)
{
    const ark_config *c = r->c;
    const ark_layer_weights *L = &r->m->layers[layer];
    size_t n = (size_t)r->BT * c->d_model;
    run_fire(r, HK_RESID_PRE, layer, r->x);
    norm(r, r->x, L->ln1_w, L->ln1_b, r->nrm, HK_LN1_SCALE, HK_LN1_NORM, layer);
    run_prof(r, "norm", layer, norm_flops(r), norm_bytes(r), "blocks.%d.ln1", layer);
    run_attention(r, L, layer);
    if (!c->parallel_residual) {
        for (size_t i = 0; i < n; i++) r->x[i] += r->attn_out[i];
        run_fire(r, HK_RESID_MID, layer, r->x);
        norm(r, r->x, L->ln2_w, L->ln2_b, r->nrm2, HK_LN2_SCALE, HK_LN2_NORM, layer);
        run_prof(r, "norm", layer, norm_flops(r), norm_bytes(r), "blocks.%d.ln2", layer);
        mlp(r, L, r->nrm2, layer);
        for (size_t i = 0; i < n; i++) r->x[i] += r->mlp_out[i];
    } else {
        const float *mlp_in = r->nrm;
        if (!c->shared_parallel_norm) {
            norm(r, r->x, L->ln2_w, L->ln2_b, r->nrm2, HK_LN2_SCALE, HK_LN2_NORM, layer);
            run_prof(r, "norm", layer, norm_flops(r), norm_bytes(r), "blocks.%d.ln2", layer);
            mlp_in = r->nrm2;
        }
        mlp(r, L, mlp_in, layer);
        for (size_t i = 0; i < n; i++) r->x[i] = (r->mlp_out[i] + r->attn_out[i]) + r->x[i];
    }
    prof_mlp(r, layer);
    run_fire(r, HK_RESID_POST, layer, r->x);
}

/* ---- set-up ---- */

static ark_status check_inputs(const ark_config *c, const int32_t *tokens, int B, int T, const uint8_t *mask)
{
    if (B <= 0 || T <= 0) return ark_fail(ARK_ERR_ARG, "batch of %d x %d tokens: both must be positive", B, T);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = tokens ? tokens[(size_t)b * T + t] : 0;
            if (id < 0 || id >= c->d_vocab)
                return ark_fail(ARK_ERR_ARG, "token id %d at row %d, position %d is out of range (vocab size %d)",
                                id, b, t, c->d_vocab);
            if (mask && mask[(size_t)b * T + t] > 1)
                return ark_fail(ARK_ERR_ARG, "attention mask at row %d, position %d is %d (expected 0 or 1)", b, t,
                                mask[(size_t)b * T + t]);
        }
    return ARK_OK;
}

/* Hugging Face's position ids: cumsum(mask) - 1, and 1 where padded;
 * continuing from the cache's next positions during generation. */
static int positions(run_ctx *r)
{
    int max_pos = 0;
    for (int b = 0; b < r->B; b++) {
        int seen = r->kv ? r->kv->next_pos[b] : 0;
        for (int t = 0; t < r->T; t++) {
            size_t i = (size_t)b * r->T + t;
            bool real = !r->mask || r->mask[i];
            r->pos[i] = real ? seen : 1;
            seen += real;
            if (r->pos[i] > max_pos) max_pos = r->pos[i];
        }
        if (r->kv) r->kv->next_pos[b] = seen;
    }
    return max_pos;
}

/* Cache entries for the kept hook points, all in one block. */
static ark_status alloc_cache(run_ctx *r, bool logits)
{
    const ark_config *c = r->c;
    int n_ids = hook_id_count(c->n_layers), n = ark_hook_count(r->m);
    r->slot = malloc(sizeof(int) * n_ids);
    r->called = calloc((size_t)n_ids, sizeof(bool));
    for (int i = 0; i < n_ids; i++) r->slot[i] = -1;
    for (int i = 0; i < r->m->n_hooks_fn; i++) r->called[r->m->hooks[i].id] = true;
    for (int i = 0; r->plan && i < r->plan->n_regs; i++) r->called[r->plan->regs[i].id] = true;
    r->cache = ark_cache_new();
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        for (int i = 0; r->plan && i < n; i++) {
            if (!ark_plan_keeps(r->plan, i)) continue;
            int id = hook_entry_id(r->m, i);
            ark_hook_kind k = hook_id_kind(c->n_layers, id);
            int64_t shape[ARK_MAX_DIMS], numel = 1;
            int nd = hook_shape(c, k, r->B, r->T, shape);
            if (k == HK_SCORES || k == HK_PATTERN) shape[3] = r->past + r->T;
            for (int j = 0; j < nd; j++) numel *= shape[j];
            if (pass == 1) {
                r->slot[id] = r->cache->n;
                ark_cache_add(r->cache, ark_hook_name(r->m, i), nd, shape, r->cache->arena + off);
            }
            off += (size_t)numel;
        }
        total = off;
        if (pass == 0 && total && !(r->cache->arena = ark_alloc_large(sizeof(float) * total)))
            return ark_fail(ARK_ERR_NOMEM, "out of memory keeping %zu activation values", total);
    }
    ark_tensor *out = logits ? &r->cache->logits : &r->cache->resid;
    int64_t shape[3] = {r->B, r->T, logits ? c->d_vocab : c->d_model};
    out->ndim = 3;
    memcpy(out->shape, shape, sizeof shape);
    out->data = ark_alloc_large(sizeof(float) * (size_t)r->BT * shape[2]);
    if (!out->data) return ark_fail(ARK_ERR_NOMEM, "out of memory for the output (%d x %d x %lld)", r->B, r->T, (long long)shape[2]);
    return ARK_OK;
}

static bool attention_maps_wanted(const run_ctx *r)
{
    for (int l = 0; l < r->c->n_layers; l++)
        if (hook_wanted(r, HK_SCORES, l) || hook_wanted(r, HK_PATTERN, l)) return true;
    return false;
}

static bool results_wanted(const run_ctx *r)
{
    for (int l = 0; l < r->c->n_layers; l++)
        if (hook_wanted(r, HK_RESULT, l)) return true;
    return false;
}

static ark_status alloc_buffers(run_ctx *r)
{
    const ark_config *c = r->c;
    size_t BT = r->BT, d = c->d_model, H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head, m = c->d_mlp;
    size_t TT = (size_t)r->T * (r->past + r->T), nthreads = (size_t)omp_get_max_threads();
    bool maps = attention_maps_wanted(r);
    float **bufs[] = {&r->x, &r->nrm, &r->nrm2, &r->scale, &r->q, &r->k, &r->v, &r->qkv, &r->z, &r->attn_out,
                      &r->pre, &r->pre_lin, &r->mlp_out, &r->row_buf, &r->scores, &r->pattern, &r->result};
    size_t sizes[] = {BT * d, BT * d, BT * d, BT, BT * H * dh, BT * KV * dh, BT * KV * dh,
                      r->m->qkv_per_head ? BT * 3 * H * dh : 0, BT * H * dh, BT * d, BT * m,
                      c->mlp == ARK_MLP_GATED ? BT * m : 0, BT * d, nthreads * TT,
                      maps ? r->B * H * TT : 0, maps ? r->B * H * TT : 0, results_wanted(r) ? BT * H * d : 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *bufs[i] = sizes[i] ? ark_alloc_large(sizeof(float) * sizes[i]) : NULL;
        if (sizes[i] && !*bufs[i]) return ark_fail(ARK_ERR_NOMEM, "out of memory for activations (batch %d x %d)", r->B, r->T);
    }
    return ARK_OK;
}

/* Bytes this run allocated for activations, the cache and the output. */
static double run_alloc_bytes(const run_ctx *r)
{
    const ark_config *c = r->c;
    double BT = r->BT, d = c->d_model, H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head, m = c->d_mlp;
    double TT = (double)r->T * (r->past + r->T), n = 6 * BT * d + BT + BT * (H + 2 * KV) * dh + BT * H * dh + BT * m;
    n += r->m->qkv_per_head ? BT * 3 * H * dh : 0;
    n += c->mlp == ARK_MLP_GATED ? BT * m : 0;
    n += omp_get_max_threads() * TT + (r->scores ? 2 * r->B * H * TT : 0) + (r->result ? BT * H * d : 0);
    for (int i = 0; i < r->cache->n; i++) n += (double)ark_tensor_numel(&r->cache->tensors[i]);
    n += r->cache->logits.data ? (double)ark_tensor_numel(&r->cache->logits) : 0;
    n += r->cache->resid.data ? (double)ark_tensor_numel(&r->cache->resid) : 0;
    return 4 * n;
}

static void free_run(run_ctx *r)
{
    float *bufs[] = {r->x, r->nrm, r->nrm2, r->scale, r->q, r->k, r->v, r->qkv, r->z, r->attn_out, r->pre,
                     r->pre_lin, r->mlp_out, r->row_buf, r->scores, r->pattern, r->result, r->cos_t, r->sin_t};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(r->pos);
    free(r->slot);
    free(r->called);
}

static ark_status check_opts(const ark_config *c, const int32_t *tokens, const ark_run_opts *o, const ark_kv *kv, int B, int T)
{
    if (o->start_at_layer < 0 || o->start_at_layer > c->n_layers)
        return ark_fail(ARK_ERR_ARG, "start_at_layer %d: expected 0..%d", o->start_at_layer, c->n_layers);
    if (o->stop_at_layer != -1 && (o->stop_at_layer < o->start_at_layer || o->stop_at_layer > c->n_layers))
        return ark_fail(ARK_ERR_ARG, "stop_at_layer %d: expected -1 or %d..%d", o->stop_at_layer, o->start_at_layer, c->n_layers);
    if (o->start_at_layer > 0 && !o->resid)
        return ark_fail(ARK_ERR_ARG, "start_at_layer %d needs the residual stream entering that block", o->start_at_layer);
    if (o->start_at_layer == 0 && !tokens) return ark_fail(ARK_ERR_ARG, "no tokens given");
    if (kv && (kv->B != B || kv->len + T > kv->cap))
        return ark_fail(ARK_ERR_ARG, "key/value cache holds %d rows and %d of %d positions; %d x %d more do not fit",
                        kv->B, kv->len, kv->cap, B, T);
    return ARK_OK;
}

ark_status run_forward(ark_model *m, const int32_t *tokens, int B, int T, const ark_run_opts *o, const ark_plan *plan,
                       ark_kv *kv, ark_cache **out)
{
    return run_forward_profiled(m, tokens, B, T, o, plan, kv, out, NULL);
}

ark_status run_forward_profiled(ark_model *m, const int32_t *tokens, int B, int T, const ark_run_opts *o,
                                const ark_plan *plan, ark_kv *kv, ark_cache **out, struct ark_profile *prof)
{
    const ark_config *c = &m->cfg;
    *out = NULL;
    ark_run_opts dflt = ARK_RUN_OPTS_INIT;
    if (!o) o = &dflt;
    if (plan && plan->model != m) return ark_fail(ARK_ERR_ARG, "the plan was made for another model");
    ARK_TRY(check_opts(c, tokens, o, kv, B, T));
    ARK_TRY(check_inputs(c, tokens, B, T, o->mask));
    int stop = o->stop_at_layer < 0 ? c->n_layers : o->stop_at_layer;
    bool to_logits = o->stop_at_layer < 0;
    run_ctx r = {.m = m, .c = c, .plan = plan, .B = B, .T = T, .BT = B * T, .mask = o->mask, .kv = kv,
                 .past = kv ? kv->len : 0, .prof = prof};
    run_prof_start(&r);
    r.pos = malloc(sizeof(int32_t) * r.BT);
    if (kv) /* the new positions' key mask */
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) kv->mask[(size_t)b * kv->cap + kv->len + t] = o->mask ? o->mask[(size_t)b * T + t] : 1;
    int max_pos = positions(&r);
    ark_status s = ARK_OK;
    if (c->pos == ARK_POS_LEARNED && max_pos >= c->n_ctx)
        s = ark_fail(ARK_ERR_ARG, "a sequence of %d tokens exceeds the model's %d learned positions", max_pos + 1, c->n_ctx);
    if (s == ARK_OK) s = alloc_cache(&r, to_logits);
    if (s == ARK_OK) s = alloc_buffers(&r);
    if (s == ARK_OK && prof) run_prof_bytes(&r, run_alloc_bytes(&r));
    if (s == ARK_OK && c->pos == ARK_POS_ROTARY) {
        size_t half = c->rotary_dim / 2;
        r.cos_t = malloc(sizeof(float) * (max_pos + 1) * half);
        r.sin_t = malloc(sizeof(float) * (max_pos + 1) * half);
        k_rope_tables(c, max_pos + 1, r.cos_t, r.sin_t);
    }
    if (s == ARK_OK) {
        if (o->start_at_layer == 0) embed(&r, tokens);
        else memcpy(r.x, o->resid, sizeof(float) * (size_t)r.BT * c->d_model);
        for (int l = o->start_at_layer; l < stop && r.status == ARK_OK; l++) block(&r, l);
        if (to_logits && r.status == ARK_OK) {
            norm(&r, r.x, m->lnf_w, m->lnf_b, r.nrm, HK_LNF_SCALE, HK_LNF_NORM, 0);
            run_prof(&r, "norm", -1, norm_flops(&r), norm_bytes(&r), "ln_final");
            k_linear(&m->unembed, r.nrm, r.BT, r.cache->logits.data, c->d_vocab);
            run_prof(&r, "unembed", -1, 2.0 * r.BT * c->d_model * c->d_vocab, 4.0 * r.BT * c->d_vocab, "unembed");
        } else if (!to_logits) {
            memcpy(r.cache->resid.data, r.x, sizeof(float) * (size_t)r.BT * c->d_model);
        }
        s = r.status;
    }
    if (s == ARK_OK) {
        if (kv) kv->len += T;
        *out = r.cache;
        r.cache = NULL;
    }
    ark_cache_free(r.cache);
    free_run(&r);
    return s;
}

ark_status ark_run_ex(ark_model *m, const int32_t *tokens, int B, int T, const ark_run_opts *opts,
                      const ark_plan *plan, ark_cache **out)
{
    return run_forward(m, tokens, B, T, opts, plan, NULL, out);
}

ark_status ark_run(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask, const ark_plan *plan,
                   ark_cache **out)
{
    ark_run_opts o = ARK_RUN_OPTS_INIT;
    o.mask = mask;
    return run_forward(m, tokens, B, T, &o, plan, NULL, out);
}
