/* Cache analysis: stacks, the accumulated residual stream, the LN-stack
 * operation and direct logit attribution.  Definitions in
 * include/arrakis/analysis.h; the decomposition is in analysis_parts.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/analysis_internal.h"
#include "core/error.h"

/* ---- shared helpers ---- */

ark_status an_block_index(const ark_model *m, int layer, int *out)
{
    int n = m->cfg.n_layers;
    int l = layer < 0 ? n + layer : layer;
    if (l < 0 || l >= n) return ark_fail(ARK_ERR_ARG, "layer %d: the model has blocks 0..%d", layer, n - 1);
    *out = l;
    return ARK_OK;
}

/* The batch (B, T) of a cache: from its logits, or where a partial run stopped. */
static ark_status cache_batch(const ark_cache *c, int *B, int *T)
{
    const ark_tensor *t = ark_cache_logits(c);
    if (!t) t = ark_cache_resid(c);
    if (!t) return ark_fail(ARK_ERR_ARG, "the cache holds no logits or residual stream to size the batch by");
    *B = (int)t->shape[0];
    *T = (int)t->shape[1];
    return ARK_OK;
}

ark_status an_ctx_init(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, an_ctx *x)
{
    ark_resid_opts dflt = ARK_RESID_OPTS_INIT;
    if (!o) o = &dflt;
    int n = m->cfg.n_layers;
    *x = (an_ctx){.m = m, .cfg = &m->cfg, .c = c, .pos = -1, .mlp_input = o->mlp_input};
    x->layer = o->layer == -1 ? n : o->layer;
    if (x->layer < 0 || x->layer > n)
        return ark_fail(ARK_ERR_ARG, "layer %d: expected 0..%d (the stream entering that block) or %d / -1 (the final "
                        "residual stream)", o->layer, n - 1, n);
    if (o->mlp_input && x->layer == n)
        return ark_fail(ARK_ERR_ARG, "mlp_input needs a block (layer 0..%d), not the final residual stream", n - 1);
    if (!c) return ARK_OK;
    ARK_TRY(cache_batch(c, &x->B, &x->T));
    x->P = x->T;
    if (o->pos != ARK_ALL_POS) {
        int p = o->pos < 0 ? x->T + o->pos : o->pos;
        if (p < 0 || p >= x->T)
            return ark_fail(ARK_ERR_ARG, "position %d: the cache holds positions 0..%d", o->pos, x->T - 1);
        x->pos = p;
        x->P = 1;
    }
    return ARK_OK;
}

ark_status an_fetch(const an_ctx *x, const char *name, const char *why, int64_t inner, const ark_tensor **t)
{
    *t = ark_cache_get(x->c, name);
    if (!*t) return ark_fail(ARK_ERR_MISSING, "%s not in the cache: keep it (ark_plan_keep) to %s", name, why);
    if ((*t)->ndim < 2 || (*t)->shape[0] != x->B || (*t)->shape[1] != x->T ||
        ark_tensor_numel(*t) != (int64_t)x->B * x->T * inner)
        return ark_fail(ARK_ERR_SHAPE, "%s: expected (%d, %d, ...) with %lld values per position", name, x->B, x->T,
                        (long long)inner);
    return ARK_OK;
}

void an_take(const an_ctx *x, const float *src, size_t row_stride, float *dst)
{
    int d = x->cfg->d_model;
    for (int b = 0; b < x->B; b++)
        for (int p = 0; p < x->P; p++) {
            int t = x->pos < 0 ? p : x->pos;
            memcpy(dst + ((size_t)b * x->P + p) * d, src + ((size_t)b * x->T + t) * row_stride, sizeof(float) * d);
        }
}

void an_weights_from(const ark_linear *L, int i, float *out)
{
    if (L->in_out) memcpy(out, L->w + (size_t)i * L->ld, sizeof(float) * L->out);
    else
        for (int j = 0; j < L->out; j++) out[j] = L->w[(size_t)j * L->ld + i];
}

void an_weights_into(const ark_linear *L, int j, float *out)
{
    if (!L->in_out) memcpy(out, L->w + (size_t)j * L->ld, sizeof(float) * L->in);
    else
        for (int k = 0; k < L->in; k++) out[k] = L->w[(size_t)k * L->ld + j];
}

void an_norm_for(const ark_model *m, int layer, bool mlp_input, char *scale_hook, size_t cap, const float **w,
                 const float **b)
{
    if (layer >= m->cfg.n_layers) {
        snprintf(scale_hook, cap, "ln_final.hook_scale");
        *w = m->lnf_w;
        *b = m->lnf_b;
        return;
    }
    const ark_layer_weights *L = &m->layers[layer];
    bool ln2 = mlp_input && !m->cfg.shared_parallel_norm;
    snprintf(scale_hook, cap, "blocks.%d.%s.hook_scale", layer, ln2 ? "ln2" : "ln1");
    *w = ln2 ? L->ln2_w : L->ln1_w;
    *b = ln2 ? L->ln2_b : L->ln1_b;
}

/* ---- stacks ---- */

ark_stack *an_stack_new(const an_ctx *x, int n)
{
    ark_stack *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    *s = (ark_stack){.n = n, .B = x->B, .P = x->P, .d = x->cfg->d_model, .T = x->T, .pos = x->pos};
    s->data = calloc((size_t)n * x->B * x->P * s->d + 1, sizeof(float));
    s->labels = calloc((size_t)n + 1, sizeof(char *));
    if (!s->data || !s->labels) { ark_stack_free(s); return NULL; }
    return s;
}

bool an_stack_label(ark_stack *s, int i, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->labels[i] = strdup(buf);
    return s->labels[i] != NULL;
}

void ark_stack_free(ark_stack *s)
{
    if (!s) return;
    for (int i = 0; s->labels && i < s->n; i++) free(s->labels[i]);
    free(s->labels);
    free(s->data);
    free(s);
}

int ark_stack_find(const ark_stack *s, const char *label)
{
    for (int i = 0; i < s->n; i++)
        if (s->labels[i] && !strcmp(s->labels[i], label)) return i;
    return -1;
}

ark_status ark_resid_hook(const ark_model *m, const ark_resid_opts *o, char *buf, size_t cap)
{
    an_ctx x;
    ARK_TRY(an_ctx_init(m, NULL, o, &x));
    int n = x.cfg->n_layers;
    if (x.layer == n) snprintf(buf, cap, "blocks.%d.hook_resid_post", n - 1);
    else if (x.mlp_input && !x.cfg->parallel_residual) snprintf(buf, cap, "blocks.%d.hook_resid_mid", x.layer);
    else snprintf(buf, cap, "blocks.%d.hook_resid_pre", x.layer);
    return ARK_OK;
}

/* ---- accumulated residual ---- */

/* One entry of an accumulated residual: its hook name and label. */
static int accumulated_add(char (*names)[64], char (*labels)[64], int n, const char *kind, int layer)
{
    if (names) snprintf(names[n], 64, "blocks.%d.hook_resid_%s", layer, kind);
    if (labels && strcmp(kind, "post")) snprintf(labels[n], 64, "%d_%s", layer, kind);
    else if (labels) snprintf(labels[n], 64, "final_post");
    return n + 1;
}

int an_accumulated_names(const an_ctx *x, bool incl_mid, char (*names)[64], char (*labels)[64])
{
    int n = 0, L = x->cfg->n_layers;
    bool mids = !x->cfg->parallel_residual;
    for (int l = 0; l <= x->layer && l < L; l++) {
        n = accumulated_add(names, labels, n, "pre", l);
        if (mids && ((incl_mid && l < x->layer) || (x->mlp_input && l == x->layer)))
            n = accumulated_add(names, labels, n, "mid", l);
    }
    if (x->layer == L) n = accumulated_add(names, labels, n, "post", L - 1);
    return n;
}

ark_status ark_accumulated_resid(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, ark_stack **out)
{
    *out = NULL;
    an_ctx x;
    ARK_TRY(an_ctx_init(m, c, o, &x));
    bool incl_mid = o && o->incl_mid;
    int n = an_accumulated_names(&x, incl_mid, NULL, NULL);
    char (*names)[64] = malloc(sizeof *names * n), (*labels)[64] = malloc(sizeof *labels * n);
    ark_stack *s = names && labels ? an_stack_new(&x, n) : NULL;
    ark_status st = s ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for an accumulated residual of %d entries", n);
    if (st == ARK_OK) an_accumulated_names(&x, incl_mid, names, labels);
    size_t each = (size_t)x.B * x.P * x.cfg->d_model;
    for (int i = 0; st == ARK_OK && i < n; i++) {
        const ark_tensor *t;
        st = an_fetch(&x, names[i], "accumulate the residual stream", x.cfg->d_model, &t);
        if (st == ARK_OK) an_take(&x, t->data, x.cfg->d_model, s->data + i * each);
        if (st == ARK_OK && !an_stack_label(s, i, "%s", labels[i])) st = ark_fail(ARK_ERR_NOMEM, "out of memory");
    }
    if (st == ARK_OK && o && o->apply_ln) st = ark_stack_apply_ln(m, c, s, x.layer, x.mlp_input);
    free(names);
    free(labels);
    if (st != ARK_OK) { ark_stack_free(s); return st; }
    *out = s;
    return ARK_OK;
}

/* ---- the LN-stack operation ---- */

/* x (d) through a norm's linear part with scale s: centre (LayerNorm),
 * divide, multiply by w (or 1 + w). */
static void norm_linear(ark_norm_kind kind, float *v, int d, const float *w, float s)
{
    double mean = 0;
    if (kind == ARK_NORM_LAYERNORM) {
        for (int j = 0; j < d; j++) mean += v[j];
        mean /= d;
    }
    for (int j = 0; j < d; j++) {
        float g = w ? (kind == ARK_NORM_RMSNORM_1P ? 1.0f + w[j] : w[j]) : 1.0f;
        v[j] = (float)(v[j] - mean) / s * g;
    }
}

/* Does s match the cache's batch?  Returns the context for s's positions. */
static ark_status stack_ctx(const ark_model *m, const ark_cache *c, const ark_stack *s, an_ctx *x)
{
    ark_resid_opts o = ARK_RESID_OPTS_INIT;
    ARK_TRY(an_ctx_init(m, c, &o, x));
    bool all = s->pos < 0 && s->P == s->T, one = s->pos >= 0 && s->pos < s->T && s->P == 1;
    if (s->B != x->B || s->T != x->T || s->d != x->cfg->d_model || !(all || one))
        return ark_fail(ARK_ERR_ARG, "the stack (%d rows, %d of %d positions, width %d) does not come from this cache "
                        "(%d rows, %d positions, width %d)", s->B, s->P, s->T, s->d, x->B, x->T, x->cfg->d_model);
    x->P = s->P;
    x->pos = s->pos;
    return ARK_OK;
}

ark_status ark_stack_apply_ln(const ark_model *m, const ark_cache *c, ark_stack *s, int layer, bool mlp_input)
{
    an_ctx x;
    ARK_TRY(stack_ctx(m, c, s, &x));
    int n_layers = m->cfg.n_layers, d = s->d;
    if (layer == -1) layer = n_layers;
    if (layer < 0 || layer > n_layers)
        return ark_fail(ARK_ERR_ARG, "layer %d: expected 0..%d (a block's norm) or %d / -1 (ln_final)", layer,
                        n_layers - 1, n_layers);
    if (s->norm[0])
        return ark_fail(ARK_ERR_ARG, "the stack was already passed through the norm of %s", s->norm);
    char hook[64];
    const float *w, *b;
    an_norm_for(m, layer, mlp_input, hook, sizeof hook, &w, &b);
    const ark_tensor *scale;
    ARK_TRY(an_fetch(&x, hook, "apply the norm to a stack", 1, &scale));
    for (int i = 0; i < s->n; i++)
        for (int bi = 0; bi < s->B; bi++)
            for (int p = 0; p < s->P; p++) {
                int t = x.pos < 0 ? p : x.pos;
                float *v = s->data + (((size_t)i * s->B + bi) * s->P + p) * d;
                norm_linear(m->cfg.norm, v, d, w, scale->data[(size_t)bi * x.T + t]);
            }
    snprintf(s->norm, sizeof s->norm, "%s", hook);
    return ARK_OK;
}

/* ---- logit attribution ---- */

static ark_status check_token(const ark_model *m, int32_t id, const char *what)
{
    if (id < 0 || id >= m->cfg.d_vocab)
        return ark_fail(ARK_ERR_ARG, "%s token id %d is out of range (vocab size %d)", what, id, m->cfg.d_vocab);
    return ARK_OK;
}

/* The logit direction of (token - against) with the final norm's weight
 * folded in (g = w * dir), and sum(g) for the centring. */
static void logit_direction(const ark_model *m, int32_t tok, int32_t against, bool fold, float *dir, float *tmp,
                            double *gsum)
{
    int d = m->cfg.d_model;
    an_weights_into(&m->unembed, tok, dir);
    if (against >= 0) {
        an_weights_into(&m->unembed, against, tmp);
        for (int j = 0; j < d; j++) dir[j] -= tmp[j];
    }
    *gsum = 0;
    for (int j = 0; j < d; j++) {
        if (fold && m->lnf_w) dir[j] *= m->cfg.norm == ARK_NORM_RMSNORM_1P ? 1.0f + m->lnf_w[j] : m->lnf_w[j];
        *gsum += dir[j];
    }
}

ark_status ark_logit_attrs(const ark_model *m, const ark_cache *c, const ark_stack *s, const int32_t *tokens,
                           const int32_t *against, ark_tensor *out)
{
    memset(out, 0, sizeof *out);
    an_ctx x;
    ARK_TRY(stack_ctx(m, c, s, &x));
    bool normed = s->norm[0] != '\0';
    if (normed && strcmp(s->norm, "ln_final.hook_scale"))
        return ark_fail(ARK_ERR_ARG, "the stack was passed through the norm of %s; logit attribution reads the final "
                        "norm (ln_final.hook_scale)", s->norm);
    for (int i = 0; i < s->B * s->P; i++) {
        ARK_TRY(check_token(m, tokens[i], "target"));
        if (against) ARK_TRY(check_token(m, against[i], "against"));
    }
    const ark_tensor *scale = NULL;
    if (!normed) ARK_TRY(an_fetch(&x, "ln_final.hook_scale", "attribute logits through the final norm", 1, &scale));
    int d = s->d;
    bool centre = !normed && m->cfg.norm == ARK_NORM_LAYERNORM;
    float *dir = malloc(sizeof(float) * d), *tmp = malloc(sizeof(float) * d);
    out->data = malloc(sizeof(float) * ((size_t)s->n * s->B * s->P + 1));
    if (!dir || !tmp || !out->data) {
        free(dir); free(tmp); free(out->data); out->data = NULL;
        return ark_fail(ARK_ERR_NOMEM, "out of memory for %d x %d x %d attributions", s->n, s->B, s->P);
    }
    out->ndim = 3;
    out->shape[0] = s->n; out->shape[1] = s->B; out->shape[2] = s->P;
    for (int bp = 0; bp < s->B * s->P; bp++) {
        double gsum;
        logit_direction(m, tokens[bp], against ? against[bp] : -1, !normed, dir, tmp, &gsum);
        int b = bp / s->P, t = x.pos < 0 ? bp % s->P : x.pos;
        double sc = normed ? 1.0 : scale->data[(size_t)b * x.T + t];
        for (int i = 0; i < s->n; i++) {
            const float *v = s->data + ((size_t)i * s->B * s->P + bp) * d;
            double dot = 0, mean = 0;
            for (int j = 0; j < d; j++) dot += (double)v[j] * dir[j];
            if (centre) {
                for (int j = 0; j < d; j++) mean += v[j];
                mean /= d;
            }
            out->data[(size_t)i * s->B * s->P + bp] = (float)((dot - mean * gsum) / sc);
        }
    }
    free(dir);
    free(tmp);
    return ARK_OK;
}

ark_status ark_logit_attr_offset(const ark_model *m, int32_t token, int32_t against, float *out)
{
    ARK_TRY(check_token(m, token, "target"));
    if (against >= 0) ARK_TRY(check_token(m, against, "against"));
    int d = m->cfg.d_model;
    float *dir = malloc(sizeof(float) * d), *tmp = malloc(sizeof(float) * d);
    if (!dir || !tmp) { free(dir); free(tmp); return ark_fail(ARK_ERR_NOMEM, "out of memory"); }
    double gsum, off = 0;
    logit_direction(m, token, against, false, dir, tmp, &gsum);
    for (int j = 0; m->lnf_b && j < d; j++) off += (double)m->lnf_b[j] * dir[j];
    if (m->unembed.b) off += m->unembed.b[token] - (against >= 0 ? m->unembed.b[against] : 0.0f);
    *out = (float)off;
    free(dir);
    free(tmp);
    return ARK_OK;
}
