/* Magnitude pruning inside a surgery session (ark_surgery_prune,
 * include/arrakis/tool_surgery.h): zero the smallest-|w| fraction of chosen
 * matrices, per matrix or with one global threshold. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/surgery_internal.h"

/* One matrix (or the part of a fused one) to prune: a linear's inputs x the
 * output columns j0 + b*step + e (b < n_blocks, e < block), or a plain array
 * of n floats (embeddings). */
typedef struct part {
    float *w;
    const ark_linear *L;
    size_t n;
    int j0, step, n_blocks, block;
} part;

typedef struct parts {
    part *p;
    int n, cap;
} parts;

static size_t part_size(const part *p) { return p->L ? (size_t)p->L->in * p->n_blocks * p->block : p->n; }

/* Call fn on every entry of a part in a fixed order. */
#define FOR_ENTRIES(P, X, BODY)                                                                    \
    do {                                                                                           \
        const part *fp_ = (P);                                                                     \
        if (!fp_->L) {                                                                             \
            for (size_t q_ = 0; q_ < fp_->n; q_++) { float *X = fp_->w + q_; BODY; }               \
        } else {                                                                                   \
            for (int i_ = 0; i_ < fp_->L->in; i_++)                                                \
                for (int b_ = 0; b_ < fp_->n_blocks; b_++)                                         \
                    for (int e_ = 0; e_ < fp_->block; e_++) {                                      \
                        float *X = fp_->w + lin_off(fp_->L, i_, fp_->j0 + b_ * fp_->step + e_);    \
                        BODY;                                                                      \
                    }                                                                              \
        }                                                                                          \
    } while (0)

static ark_status add_part(parts *ps, part p)
{
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 32;
        part *grown = realloc(ps->p, sizeof *grown * cap);
        if (!grown) return ark_fail(ARK_ERR_NOMEM, "pruning: out of memory");
        ps->p = grown;
        ps->cap = cap;
    }
    ps->p[ps->n++] = p;
    return ARK_OK;
}

static part whole(const ark_linear *L) { return (part){(float *)L->w, L, 0, 0, L->out, 1, L->out}; }

/* The part of layer l's weight w, copied on write first. */
static ark_status layer_part(ark_surgery *s, ark_weight w, int l, part *out)
{
    ark_model *m = s->m;
    ark_layer_weights *L = &m->layers[l];
    int dh = m->cfg.d_head, H = m->cfg.n_heads;
    if ((w == ARK_W_Q || w == ARK_W_K || w == ARK_W_V) && m->qkv_per_head) {
        ARK_TRY(surg_own_linear(s, &L->qkv));
        int j0 = w == ARK_W_Q ? 0 : w == ARK_W_K ? dh : 2 * dh;
        *out = (part){(float *)L->qkv.w, &L->qkv, 0, j0, 3 * dh, H, dh};
        return ARK_OK;
    }
    ark_linear *lin = w == ARK_W_Q ? &L->q : w == ARK_W_K ? &L->k : w == ARK_W_V ? &L->v : w == ARK_W_O ? &L->o
                    : w == ARK_W_IN ? &L->up : w == ARK_W_GATE ? &L->gate : &L->down;
    ARK_TRY(surg_own_linear(s, lin));
    *out = whole(lin);
    return ARK_OK;
}

static ark_status global_part(ark_surgery *s, ark_weight w, bool *embed_done, part *out, bool *skip)
{
    ark_model *m = s->m;
    const ark_config *c = &m->cfg;
    *skip = false;
    bool tied = m->unembed.w == m->embed;
    if (w == ARK_W_POS) {
        if (!m->pos_embed) return ark_fail(ARK_ERR_ARG, "pruning: W_pos: this %s model has no learned positions", c->family);
        ARK_TRY(surg_own_vec(s, &m->pos_embed, (size_t)c->n_ctx * c->d_model));
        *out = (part){(float *)m->pos_embed, NULL, (size_t)c->n_ctx * c->d_model, 0, 0, 0, 0};
        return ARK_OK;
    }
    if (w == ARK_W_E || (w == ARK_W_U && tied)) { /* one tensor when tied: prune it once */
        if (*embed_done) { *skip = true; return ARK_OK; }
        *embed_done = true;
        ARK_TRY(surg_own_vec(s, &m->embed, (size_t)c->d_vocab * c->d_model));
        if (tied) m->unembed.w = m->embed;
        *out = (part){(float *)m->embed, NULL, (size_t)c->d_vocab * c->d_model, 0, 0, 0, 0};
        return ARK_OK;
    }
    ARK_TRY(surg_own_linear(s, &m->unembed));
    *out = whole(&m->unembed);
    return ARK_OK;
}

static ark_status collect(ark_surgery *s, const ark_prune_spec *sp, parts *ps, int *group_of, int *n_groups)
{
    static const ark_weight dflt[] = {ARK_W_Q, ARK_W_K, ARK_W_V, ARK_W_O, ARK_W_IN, ARK_W_GATE, ARK_W_OUT};
    const ark_config *c = &s->m->cfg;
    const ark_weight *ws = sp->weights ? sp->weights : dflt;
    int nw = sp->weights ? sp->n_weights : (int)(sizeof dflt / sizeof dflt[0]);
    bool embed_done = false;
    *n_groups = 0;
    for (int i = 0; i < nw; i++) {
        ark_weight w = ws[i];
        bool layer_w = w == ARK_W_Q || w == ARK_W_K || w == ARK_W_V || w == ARK_W_O || w == ARK_W_IN ||
                       w == ARK_W_GATE || w == ARK_W_OUT;
        if (!layer_w && w != ARK_W_E && w != ARK_W_POS && w != ARK_W_U)
            return ark_fail(ARK_ERR_ARG, "pruning: %s is not a prunable matrix (W_Q, W_K, W_V, W_O, W_in, W_gate, W_out, "
                            "W_E, W_pos, W_U; norms and biases are never pruned)", ark_weight_name(w) ? ark_weight_name(w) : "?");
        if (w == ARK_W_GATE && c->mlp != ARK_MLP_GATED) {
            if (!sp->weights) continue;
            return ark_fail(ARK_ERR_ARG, "pruning: W_gate: this %s model's MLP is not gated", c->family);
        }
        for (int j = 0; i > 0 && j < i; j++)
            if (ws[j] == w) return ark_fail(ARK_ERR_ARG, "pruning: %s is listed twice", ark_weight_name(w));
        if (!layer_w) {
            part p = {0};
            bool skip;
            ARK_TRY(global_part(s, w, &embed_done, &p, &skip));
            if (!skip) { group_of[ps->n] = (*n_groups)++; ARK_TRY(add_part(ps, p)); }
            continue;
        }
        int nl = sp->layers ? sp->n_layers : c->n_layers;
        for (int k = 0; k < nl; k++) {
            int l = sp->layers ? sp->layers[k] : k;
            if (l < 0 || l >= c->n_layers)
                return ark_fail(ARK_ERR_ARG, "pruning: layer %d is out of range (the model has layers 0..%d)", l, c->n_layers - 1);
            part p = {0};
            ARK_TRY(layer_part(s, w, l, &p));
            group_of[ps->n] = (*n_groups)++;
            ARK_TRY(add_part(ps, p));
        }
    }
    return ARK_OK;
}

/* The k-th smallest (0-based) of a[0..n) by quickselect with a three-way
 * partition around a pseudo-random pivot (reorders a). */
static float kth_smallest(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the answer lies in [lo, hi) */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    while (hi - lo > 1) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        float p = a[lo + x % (hi - lo)];
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < p, [lt,gt) == p, [gt,hi) > p */
        while (i < gt) {
            float v = a[i];
            if (v < p) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v > p) { a[i] = a[--gt]; a[gt] = v; }
            else i++;
        }
        if (k < lt) hi = lt;
        else if (k >= gt) lo = gt;
        else return p;
    }
    return a[lo];
}

/* Prune the parts of one group (indices idx[0..n)); returns counts. */
static ark_status prune_group(const parts *ps, const int *idx, int n, double fraction, ark_prune_result *r)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) total += part_size(&ps->p[idx[i]]);
    r->n_entries += (int64_t)total;
    for (int i = 0; i < n; i++) FOR_ENTRIES(&ps->p[idx[i]], x, r->n_zero_before += *x == 0.0f);
    size_t k = (size_t)llround(fraction * (double)total);
    if (k == 0 || total == 0) return ARK_OK;
    float *a = malloc(sizeof(float) * total);
    if (!a) return ark_fail(ARK_ERR_NOMEM, "pruning: out of memory for %zu magnitudes", total);
    size_t q = 0;
    for (int i = 0; i < n; i++) FOR_ENTRIES(&ps->p[idx[i]], x, a[q++] = fabsf(*x));
    float t = kth_smallest(a, total, k - 1);
    free(a);
    size_t below = 0;
    for (int i = 0; i < n; i++) FOR_ENTRIES(&ps->p[idx[i]], x, below += fabsf(*x) < t);
    size_t at_t = k - below; /* entries equal to t still to zero, in order */
    for (int i = 0; i < n; i++)
        FOR_ENTRIES(&ps->p[idx[i]], x, {
            float ax = fabsf(*x);
            if (ax < t) *x = 0.0f;
            else if (ax == t && at_t > 0) { *x = 0.0f; at_t--; }
        });
    r->n_pruned += (int64_t)k;
    if (t > r->threshold) r->threshold = t;
    return ARK_OK;
}

ark_status ark_surgery_prune(ark_surgery *s, const ark_prune_spec *sp, ark_prune_result *res)
{
    memset(res, 0, sizeof *res);
    if (!sp || !(sp->fraction >= 0.0 && sp->fraction <= 1.0))
        return ark_fail(ARK_ERR_ARG, "pruning: fraction %g, expected 0..1", sp ? sp->fraction : -1.0);
    if (sp->weights && sp->n_weights < 1) return ark_fail(ARK_ERR_ARG, "pruning: no matrices chosen");
    const ark_config *c = &s->m->cfg;
    int cap = (sp->weights ? sp->n_weights : 7) * (c->n_layers + 1) + 4;
    int *group_of = malloc(sizeof(int) * cap), *idx = malloc(sizeof(int) * cap), n_groups = 0;
    parts ps = {0};
    ark_status st = group_of && idx ? collect(s, sp, &ps, group_of, &n_groups) : ark_fail(ARK_ERR_NOMEM, "pruning: out of memory");
    if (st == ARK_OK && sp->global) {
        for (int i = 0; i < ps.n; i++) idx[i] = i;
        st = prune_group(&ps, idx, ps.n, sp->fraction, res);
    } else {
        for (int g = 0; st == ARK_OK && g < n_groups; g++) {
            int n = 0;
            for (int i = 0; i < ps.n; i++)
                if (group_of[i] == g) idx[n++] = i;
            st = prune_group(&ps, idx, n, sp->fraction, res);
        }
    }
    res->n_matrices = ps.n;
    if (st == ARK_OK)
        surg_log(s, "prune %.4g of %d matri%s (%s): %lld of %lld entries", sp->fraction, ps.n, ps.n == 1 ? "x" : "ces",
                 sp->global ? "global" : "per matrix", (long long)res->n_pruned, (long long)res->n_entries);
    free(ps.p);
    free(group_of);
    free(idx);
    return st;
}
