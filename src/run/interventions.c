/* Built-in interventions as hook functions (see interventions.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/interventions.h"
#include "arrakis/safetensors.h"
#include "cache/cache_internal.h"
#include "core/error.h"
#include "core/rng.h"
#include "run/hooks.h"

typedef enum { OP_ZERO, OP_MEAN, OP_RESAMPLE, OP_PATCH, OP_STEER, OP_SCALE, OP_FREEZE } op_kind;

typedef struct op_ctx {
    op_kind kind;
    int *positions, n_positions, *heads, n_heads, *neurons, n_neurons;
    const ark_cache *src;   /* MEAN, RESAMPLE, PATCH */
    float *vec;             /* STEER (n), FREEZE (n or full) */
    int64_t n;
    float alpha;            /* STEER alpha, SCALE factor */
    uint64_t seed;
} op_ctx;

static void op_free(void *p)
{
    op_ctx *o = p;
    free(o->positions);
    free(o->heads);
    free(o->neurons);
    free(o->vec);
    free(o);
}

static int *copy_ints(const int *v, int n)
{
    if (!v || n <= 0) return NULL;
    int *c = malloc(sizeof(int) * n);
    memcpy(c, v, sizeof(int) * n);
    return c;
}

/* The activation viewed as (B, P, H, F): rows, positions, heads (1 for
 * points without heads) and features, with attention maps [b, h, q, k]
 * head-major. */
typedef struct view {
    int64_t B, P, H, F;
    bool head_major;
} view;

static view view_of(const ark_tensor *t, const char *name)
{
    view v = {t->shape[0], t->shape[1], 1, 1, false};
    if (strstr(name, "hook_pattern") || strstr(name, "hook_attn_scores")) {
        v.H = t->shape[1]; v.P = t->shape[2]; v.F = t->shape[3]; v.head_major = true;
    } else if (t->ndim == 4) {
        v.H = t->shape[2]; v.F = t->shape[3];
    } else {
        v.F = t->shape[2];
    }
    return v;
}

static size_t offset(const view *v, int64_t b, int64_t p, int64_t h)
{
    return (size_t)(v->head_major ? ((b * v->H + h) * v->P + p) : ((b * v->P + p) * v->H + h)) * v->F;
}

static bool selected(const int *list, int n, int64_t x, int64_t size)
{
    if (!list) return true;
    for (int i = 0; i < n; i++)
        if (list[i] == x || (list[i] < 0 && list[i] + size == x)) return true;
    return false;
}

/* The source tensor of a cache for this hook, checked against the view. */
static ark_status source(const op_ctx *o, const ark_hook_call *call, const ark_tensor *act, const ark_tensor **src)
{
    *src = ark_cache_get(o->src, call->name);
    if (!*src) return ark_fail(ARK_ERR_MISSING, "the source cache has no %s (keep it when making the source run)", call->name);
    const ark_tensor *s = *src;
    if (s->ndim != act->ndim) return ark_fail(ARK_ERR_SHAPE, "source %s has %d dims, the run %d", call->name, s->ndim, act->ndim);
    for (int i = 1; i < s->ndim; i++) {
        bool pos_dim = (view_of(act, call->name).head_major ? i == 2 : i == 1);
        bool key_dim = view_of(act, call->name).head_major && i == 3;
        if (pos_dim || key_dim) continue; /* positions are checked per element */
        if (s->shape[i] != act->shape[i])
            return ark_fail(ARK_ERR_SHAPE, "source %s dim %d is %lld, the run's %lld", call->name, i,
                            (long long)s->shape[i], (long long)act->shape[i]);
    }
    return ARK_OK;
}

/* Per-feature mean of the source over rows and positions: out (H, F). */
static void source_mean(const ark_tensor *s, const char *name, float *out)
{
    view v = view_of(s, name);
    memset(out, 0, sizeof(float) * v.H * v.F);
    for (int64_t b = 0; b < v.B; b++)
        for (int64_t p = 0; p < v.P; p++)
            for (int64_t h = 0; h < v.H; h++) {
                const float *x = s->data + offset(&v, b, p, h);
                for (int64_t f = 0; f < v.F; f++) out[h * v.F + f] += x[f];
            }
    for (int64_t i = 0; i < v.H * v.F; i++) out[i] /= (float)(v.B * v.P);
}

static ark_status apply(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    op_ctx *o = ctx;
    view v = view_of(act, call->name);
    const ark_tensor *src = NULL;
    view sv = {0};
    float *mean = NULL;
    int64_t *rows = NULL;
    if (o->kind == OP_MEAN || o->kind == OP_RESAMPLE || o->kind == OP_PATCH) {
        ARK_TRY(source(o, call, act, &src));
        sv = view_of(src, call->name);
        if (o->kind == OP_PATCH && sv.B != v.B && sv.B != 1)
            return ark_fail(ARK_ERR_SHAPE, "patch %s: the source has %lld rows, the run %lld (use 1 or the same)",
                            call->name, (long long)sv.B, (long long)v.B);
    }
    if (o->kind == OP_FREEZE && o->n != v.F && o->n != (int64_t)ark_tensor_numel(act))
        return ark_fail(ARK_ERR_SHAPE, "freeze %s: value has %lld values; expected %lld (last dim) or %lld (all)",
                        call->name, (long long)o->n, (long long)v.F, (long long)ark_tensor_numel(act));
    if (o->kind == OP_STEER && o->n != v.F)
        return ark_fail(ARK_ERR_SHAPE, "steer %s: vector has %lld values, the hook's last dimension %lld", call->name,
                        (long long)o->n, (long long)v.F);
    if (o->kind == OP_MEAN) {
        mean = malloc(sizeof(float) * v.H * v.F);
        source_mean(src, call->name, mean);
    }
    if (o->kind == OP_RESAMPLE) {
        ark_rng rng;
        ark_rng_seed(&rng, o->seed + (uint64_t)call->pos_offset * 7919u);
        rows = malloc(sizeof(int64_t) * v.B);
        for (int64_t b = 0; b < v.B; b++) rows[b] = (int64_t)(ark_rng_uniform(&rng) * sv.B);
    }
    int64_t total_pos = call->pos_offset + v.P;
    ark_status st = ARK_OK;
    for (int64_t b = 0; b < v.B && st == ARK_OK; b++)
        for (int64_t p = 0; p < v.P && st == ARK_OK; p++) {
            int64_t ap = call->pos_offset + p; /* absolute position */
            if (!selected(o->positions, o->n_positions, ap, total_pos)) continue;
            for (int64_t h = 0; h < v.H; h++) {
                if (v.H > 1 && !selected(o->heads, o->n_heads, h, v.H)) continue;
                float *x = act->data + offset(&v, b, p, h);
                const float *from = NULL;
                if (o->kind == OP_PATCH || o->kind == OP_RESAMPLE) {
                    int64_t sb = o->kind == OP_RESAMPLE ? rows[b] : (sv.B == 1 ? 0 : b);
                    if (ap >= sv.P) { st = ark_fail(ARK_ERR_SHAPE, "%s: position %lld is beyond the source's %lld positions",
                                                    call->name, (long long)ap, (long long)sv.P); break; }
                    from = src->data + offset(&sv, sb, ap, h);
                }
                for (int64_t f = 0; f < v.F; f++) {
                    if (!selected(o->neurons, o->n_neurons, f, v.F)) continue;
                    switch (o->kind) {
                    case OP_ZERO: x[f] = 0.0f; break;
                    case OP_MEAN: x[f] = mean[h * v.F + f]; break;
                    case OP_PATCH: case OP_RESAMPLE: x[f] = f < sv.F ? from[f] : x[f]; break;
                    case OP_STEER: x[f] += o->alpha * o->vec[f]; break;
                    case OP_SCALE: x[f] *= o->alpha; break;
                    case OP_FREEZE: x[f] = o->n == v.F ? o->vec[f] : o->vec[(x - act->data) + f]; break;
                    }
                }
            }
        }
    free(mean);
    free(rows);
    return st;
}

static void copy_select(op_ctx *o, const ark_select *sel)
{
    if (!sel) return;
    o->positions = copy_ints(sel->positions, sel->n_positions);
    o->n_positions = sel->n_positions;
    o->heads = copy_ints(sel->heads, sel->n_heads);
    o->n_heads = sel->n_heads;
    o->neurons = copy_ints(sel->neurons, sel->n_neurons);
    o->n_neurons = sel->n_neurons;
}

/* Hook names a pattern matches, for sources that must hold them. */
typedef struct names_ctx {
    const ark_model *m;
    const ark_cache *src;
    char (*names)[64];
    int n, missing;
    char first_missing[64];
} names_ctx;

static void collect_name(int id, void *ctx)
{
    names_ctx *nc = ctx;
    const ark_config *c = ark_model_config(nc->m);
    char name[64];
    hook_format_name(hook_id_kind(c->n_layers, id), hook_id_layer(c->n_layers, id), name, sizeof name);
    if (ark_cache_get(nc->src, name)) {
        snprintf(nc->names[nc->n++], 64, "%s", name);
    } else if (!nc->missing++) {
        snprintf(nc->first_missing, sizeof nc->first_missing, "%s", name);
    }
}

/* Register a source-based operation on the points of `pattern` that the
 * source holds.  An exact name the source lacks is an error, and so is a
 * pattern none of whose points it holds. */
static ark_status add_sourced(ark_plan *p, const char *pattern, op_ctx *o, const ark_select *sel)
{
    const ark_model *m = p->model;
    names_ctx nc = {.m = m, .src = o->src, .names = malloc(64 * (size_t)hook_id_count(ark_model_config(m)->n_layers))};
    ark_status s = hook_resolve(m, pattern, collect_name, &nc);
    bool exact = !strpbrk(pattern, "*?[");
    if (s == ARK_OK && (nc.n == 0 || (exact && nc.missing)))
        s = ark_fail(ARK_ERR_MISSING, "%s: the source cache has no %s (keep it when making the source run)", pattern,
                     nc.first_missing);
    if (s != ARK_OK) {
        free(nc.names);
        op_free(o);
        return s;
    }
    copy_select(o, sel);
    for (int i = 0; i < nc.n && s == ARK_OK; i++) /* the first registration owns the context */
        s = ark_plan_add_hook_owned(p, nc.names[i], ARK_HOOK_MODIFY, apply, o, i == 0 ? op_free : NULL);
    free(nc.names);
    return s;
}

static ark_status add(ark_plan *p, const char *pattern, op_ctx *o, const ark_select *sel)
{
    if (o->src) return add_sourced(p, pattern, o, sel);
    copy_select(o, sel);
    return ark_plan_add_hook_owned(p, pattern, ARK_HOOK_MODIFY, apply, o, op_free);
}

static op_ctx *new_op(op_kind k)
{
    op_ctx *o = calloc(1, sizeof *o);
    o->kind = k;
    return o;
}

ark_status ark_plan_zero_ablate(ark_plan *p, const char *pattern, const ark_select *sel)
{
    return add(p, pattern, new_op(OP_ZERO), sel);
}

ark_status ark_plan_mean_ablate(ark_plan *p, const char *pattern, const ark_cache *ref, const ark_select *sel)
{
    if (!ref) return ark_fail(ARK_ERR_ARG, "mean ablation of %s: no reference cache", pattern);
    op_ctx *o = new_op(OP_MEAN);
    o->src = ref;
    return add(p, pattern, o, sel);
}

ark_status ark_plan_resample_ablate(ark_plan *p, const char *pattern, const ark_cache *other, uint64_t seed,
                                    const ark_select *sel)
{
    if (!other) return ark_fail(ARK_ERR_ARG, "resample ablation of %s: no source cache", pattern);
    op_ctx *o = new_op(OP_RESAMPLE);
    o->src = other;
    o->seed = seed;
    return add(p, pattern, o, sel);
}

ark_status ark_plan_patch(ark_plan *p, const char *pattern, const ark_cache *src, const ark_select *sel)
{
    if (!src) return ark_fail(ARK_ERR_ARG, "patch of %s: no source cache", pattern);
    op_ctx *o = new_op(OP_PATCH);
    o->src = src;
    return add(p, pattern, o, sel);
}

ark_status ark_plan_steer(ark_plan *p, const char *pattern, const float *vec, int n, float alpha, const ark_select *sel)
{
    if (!vec || n <= 0) return ark_fail(ARK_ERR_ARG, "steering %s: empty vector", pattern);
    op_ctx *o = new_op(OP_STEER);
    o->vec = malloc(sizeof(float) * n);
    memcpy(o->vec, vec, sizeof(float) * n);
    o->n = n;
    o->alpha = alpha;
    return add(p, pattern, o, sel);
}

ark_status ark_plan_scale(ark_plan *p, const char *pattern, float factor, const ark_select *sel)
{
    op_ctx *o = new_op(OP_SCALE);
    o->alpha = factor;
    return add(p, pattern, o, sel);
}

ark_status ark_plan_freeze(ark_plan *p, const char *pattern, const ark_tensor *value, const ark_select *sel)
{
    if (!value || !value->data) return ark_fail(ARK_ERR_ARG, "freeze %s: no value", pattern);
    op_ctx *o = new_op(OP_FREEZE);
    o->n = ark_tensor_numel(value);
    o->vec = malloc(sizeof(float) * o->n);
    memcpy(o->vec, value->data, sizeof(float) * o->n);
    return add(p, pattern, o, sel);
}

ark_status ark_cache_load(const char *path, ark_cache **out)
{
    ark_st_file *f;
    ARK_TRY(ark_st_open(path, &f));
    ark_cache *c = ark_cache_new();
    ark_status s = ARK_OK;
    for (int i = 0; i < ark_st_count(f) && s == ARK_OK; i++) {
        const ark_st_tensor *t = ark_st_at(f, i);
        float *data;
        bool owned;
        if ((s = ark_st_to_f32(f, t, &data, &owned)) != ARK_OK) break;
        ark_tensor *dst = !strcmp(t->name, "logits") ? &c->logits : ark_cache_add(c, t->name, t->ndim, t->shape, NULL);
        if (dst == &c->logits) {
            dst->ndim = t->ndim;
            memcpy(dst->shape, t->shape, sizeof(int64_t) * t->ndim);
            dst->data = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        }
        if (!dst || !dst->data) s = ark_fail(ARK_ERR_NOMEM, "%s: out of memory for %s", path, t->name);
        else memcpy(dst->data, data, sizeof(float) * t->numel);
        if (owned) free(data);
    }
    ark_st_close(f);
    if (s != ARK_OK) { ark_cache_free(c); return s; }
    *out = c;
    return ARK_OK;
}
