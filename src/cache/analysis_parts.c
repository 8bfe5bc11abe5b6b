/* Cache analysis: the residual stream as a sum of labelled parts
 * (embeddings, attention outputs or heads, MLP outputs or neurons, biases),
 * per-head and per-neuron results, and the hook points each analysis reads.
 * Definitions in include/arrakis/analysis.h. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/analysis_internal.h"
#include "core/error.h"

/* ---- the parts of a residual stream ---- */

typedef enum {
    PART_EMBED, PART_POS_EMBED, PART_ATTN_OUT, PART_HEAD, PART_ATTN_BIAS, PART_MLP_OUT, PART_NEURON, PART_MLP_BIAS
} part_kind;

typedef struct part {
    part_kind kind;
    int layer, index; /* block, and head or neuron */
} part;

/* Which parts to list. */
enum { SEL_EMBEDS = 1, SEL_ATTN = 2, SEL_MLP = 4, SEL_BIASES = 8, SEL_ALL = 15 };

/* The parts of the stream x names, in residual order; returns their count
 * and fills out[] when not NULL. */
static int list_parts(const an_ctx *x, bool heads, bool neurons, unsigned sel, part *out)
{
    const ark_config *c = x->cfg;
    int n = 0;
#define ADD(k, l, i) do { if (out) out[n] = (part){(k), (l), (i)}; n++; } while (0)
    if (sel & SEL_EMBEDS) {
        ADD(PART_EMBED, -1, 0);
        if (c->pos == ARK_POS_LEARNED) ADD(PART_POS_EMBED, -1, 0);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const ark_layer_weights *L = &x->m->layers[l];
        bool attn = l < x->layer || (l == x->layer && x->mlp_input && !c->parallel_residual);
        if (!attn) break;
        if ((sel & SEL_ATTN) && !heads) ADD(PART_ATTN_OUT, l, 0);
        for (int h = 0; (sel & SEL_ATTN) && heads && h < c->n_heads; h++) ADD(PART_HEAD, l, h);
        if ((sel & SEL_ATTN) && heads && (sel & SEL_BIASES) && L->o.b) ADD(PART_ATTN_BIAS, l, 0);
        if (l >= x->layer) break; /* block `layer`'s MLP reads this stream */
        if ((sel & SEL_MLP) && !neurons) ADD(PART_MLP_OUT, l, 0);
        for (int i = 0; (sel & SEL_MLP) && neurons && i < c->d_mlp; i++) ADD(PART_NEURON, l, i);
        if ((sel & SEL_MLP) && neurons && (sel & SEL_BIASES) && L->down.b) ADD(PART_MLP_BIAS, l, 0);
    }
#undef ADD
    return n;
}

static void part_label(const part *p, char *buf, size_t cap)
{
    switch (p->kind) {
    case PART_EMBED: snprintf(buf, cap, "embed"); break;
    case PART_POS_EMBED: snprintf(buf, cap, "pos_embed"); break;
    case PART_ATTN_OUT: snprintf(buf, cap, "%d_attn_out", p->layer); break;
    case PART_HEAD: snprintf(buf, cap, "L%dH%d", p->layer, p->index); break;
    case PART_ATTN_BIAS: snprintf(buf, cap, "%d_attn_bias", p->layer); break;
    case PART_MLP_OUT: snprintf(buf, cap, "%d_mlp_out", p->layer); break;
    case PART_NEURON: snprintf(buf, cap, "L%dN%d", p->layer, p->index); break;
    case PART_MLP_BIAS: snprintf(buf, cap, "%d_mlp_bias", p->layer); break;
    }
}

/* The hook point a part is read from ("" for biases, which come from the
 * weights), why it is needed, and its values per (row, position).  Heads
 * name hook_z; part_fetch prefers hook_result when kept. */
static const char *part_hook(const an_ctx *x, const part *p, char *buf, size_t cap, int64_t *inner)
{
    const ark_config *c = x->cfg;
    *inner = c->d_model;
    buf[0] = '\0';
    switch (p->kind) {
    case PART_EMBED: snprintf(buf, cap, "hook_embed"); return "decompose the residual stream";
    case PART_POS_EMBED: snprintf(buf, cap, "hook_pos_embed"); return "decompose the residual stream";
    case PART_ATTN_OUT: snprintf(buf, cap, "blocks.%d.hook_attn_out", p->layer); return "decompose the residual stream";
    case PART_MLP_OUT: snprintf(buf, cap, "blocks.%d.hook_mlp_out", p->layer); return "decompose the residual stream";
    case PART_HEAD:
        snprintf(buf, cap, "blocks.%d.attn.hook_z", p->layer);
        *inner = (int64_t)c->n_heads * c->d_head;
        return "split attention into heads";
    case PART_NEURON:
        snprintf(buf, cap, "blocks.%d.mlp.hook_post", p->layer);
        *inner = c->d_mlp;
        return "split MLPs into neurons";
    case PART_ATTN_BIAS: case PART_MLP_BIAS: return NULL;
    }
    return NULL;
}

/* The tensor a part reads, remembered across consecutive parts of a layer. */
typedef struct part_src {
    char name[64];
    const ark_tensor *t;
    bool is_result;   /* heads: hook_result (B, T, H, d) rather than hook_z */
} part_src;

static ark_status part_fetch(const an_ctx *x, const part *p, part_src *src)
{
    char name[64];
    int64_t inner;
    const char *why = part_hook(x, p, name, sizeof name, &inner);
    if (!why || !strcmp(name, src->name)) return ARK_OK;
    snprintf(src->name, sizeof src->name, "%s", name);
    src->is_result = false;
    if (p->kind == PART_HEAD) {
        char res[64];
        snprintf(res, sizeof res, "blocks.%d.attn.hook_result", p->layer);
        if (ark_cache_get(x->c, res)) {
            src->is_result = true;
            return an_fetch(x, res, why, (int64_t)x->cfg->n_heads * x->cfg->d_model, &src->t);
        }
    }
    return an_fetch(x, name, why, inner, &src->t);
}

/* Head h's term z_h W_O,h of block `layer` at the context's positions into
 * dst, whose (b, p) row starts at dst + (b*P + p)*ldc. */
static void head_term(const an_ctx *x, int layer, int h, const part_src *src, float *dst, int ldc)
{
    const ark_config *c = x->cfg;
    int H = c->n_heads, dh = c->d_head, d = c->d_model;
    if (src->is_result) {
        for (int b = 0; b < x->B; b++)
            for (int p = 0; p < x->P; p++) {
                size_t t = (size_t)b * x->T + (x->pos < 0 ? p : x->pos);
                memcpy(dst + ((size_t)b * x->P + p) * ldc, src->t->data + (t * H + h) * d, sizeof(float) * d);
            }
        return;
    }
    const ark_linear *O = &x->m->layers[layer].o;
    /* rows (b, t) of z, head h: all positions are B*T rows of stride H*dh;
     * one position is B rows of stride T*H*dh */
    const float *z = src->t->data + (size_t)(x->pos < 0 ? 0 : x->pos) * H * dh + (size_t)h * dh;
    int rows = x->pos < 0 ? x->B * x->T : x->B, lda = x->pos < 0 ? H * dh : x->T * H * dh;
    const float *w = O->in_out ? O->w + (size_t)h * dh * O->ld : O->w + (size_t)h * dh;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, O->in_out ? CblasNoTrans : CblasTrans, rows, d, dh, 1.0f, z, lda, w,
                O->ld, 0.0f, dst, ldc);
}

/* Neuron i's term post[..., i] W_out[i, :] at the context's positions. */
static void neuron_term(const an_ctx *x, int layer, int i, const ark_tensor *post, float *row, float *dst)
{
    int d = x->cfg->d_model, mm = x->cfg->d_mlp;
    an_weights_from(&x->m->layers[layer].down, i, row);
    for (int b = 0; b < x->B; b++)
        for (int p = 0; p < x->P; p++) {
            size_t t = (size_t)b * x->T + (x->pos < 0 ? p : x->pos);
            float a = post->data[t * mm + i], *o = dst + ((size_t)b * x->P + p) * d;
            for (int j = 0; j < d; j++) o[j] = a * row[j];
        }
}

static void bias_term(const an_ctx *x, const float *bias, float *dst)
{
    int d = x->cfg->d_model;
    for (int r = 0; r < x->B * x->P; r++) memcpy(dst + (size_t)r * d, bias, sizeof(float) * d);
}

static ark_status fill_part(const an_ctx *x, const part *p, part_src *src, float *row, float *dst)
{
    ARK_TRY(part_fetch(x, p, src));
    const ark_layer_weights *L = p->layer >= 0 ? &x->m->layers[p->layer] : NULL;
    switch (p->kind) {
    case PART_EMBED: case PART_POS_EMBED: case PART_ATTN_OUT: case PART_MLP_OUT:
        an_take(x, src->t->data, x->cfg->d_model, dst);
        break;
    case PART_HEAD: head_term(x, p->layer, p->index, src, dst, x->cfg->d_model); break;
    case PART_NEURON: neuron_term(x, p->layer, p->index, src->t, row, dst); break;
    case PART_ATTN_BIAS: bias_term(x, L->o.b, dst); break;
    case PART_MLP_BIAS: bias_term(x, L->down.b, dst); break;
    }
    return ARK_OK;
}

/* A stack of the parts (heads, neurons, sel) of the stream o names. */
static ark_status stack_parts(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, bool heads,
                              bool neurons, unsigned sel, ark_stack **out)
{
    *out = NULL;
    an_ctx x;
    ARK_TRY(an_ctx_init(m, c, o, &x));
    int n = list_parts(&x, heads, neurons, sel, NULL);
    part *parts = malloc(sizeof *parts * (n + 1));
    float *row = malloc(sizeof(float) * x.cfg->d_model);
    ark_stack *s = parts && row ? an_stack_new(&x, n) : NULL;
    ark_status st = s ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory for %d components of %d x %d x %d", n, x.B,
                                          x.P, x.cfg->d_model);
    if (st == ARK_OK) list_parts(&x, heads, neurons, sel, parts);
    part_src src = {0};
    size_t each = (size_t)x.B * x.P * x.cfg->d_model;
    for (int i = 0; st == ARK_OK && i < n; i++) {
        char label[64];
        part_label(&parts[i], label, sizeof label);
        st = fill_part(&x, &parts[i], &src, row, s->data + i * each);
        if (st == ARK_OK && !an_stack_label(s, i, "%s", label)) st = ark_fail(ARK_ERR_NOMEM, "out of memory");
    }
    if (st == ARK_OK && o && o->apply_ln) st = ark_stack_apply_ln(m, c, s, x.layer, x.mlp_input);
    free(parts);
    free(row);
    if (st != ARK_OK) { ark_stack_free(s); return st; }
    *out = s;
    return ARK_OK;
}

ark_status ark_decompose_resid(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, ark_stack **out)
{
    ark_resid_opts d = ARK_RESID_OPTS_INIT;
    if (!o) o = &d;
    return stack_parts(m, c, o, o->heads, o->neurons, SEL_ALL, out);
}

ark_status ark_stack_head_results(const ark_model *m, const ark_cache *c, const ark_resid_opts *o, ark_stack **out)
{
    return stack_parts(m, c, o, true, false, SEL_ATTN, out);
}

ark_status ark_stack_neuron_results(const ark_model *m, const ark_cache *c, const ark_resid_opts *o,
                                    ark_stack **out)
{
    return stack_parts(m, c, o, false, true, SEL_MLP, out);
}

/* ---- per-layer tensors ---- */

/* A context over every position of block `layer`'s cache, and the part
 * source for its heads or neurons. */
static ark_status layer_ctx(const ark_model *m, const ark_cache *c, int layer, part_kind kind, an_ctx *x,
                            part_src *src, int *l)
{
    ARK_TRY(an_block_index(m, layer, l));
    ark_resid_opts o = ARK_RESID_OPTS_INIT;
    ARK_TRY(an_ctx_init(m, c, &o, x));
    part p = {kind, *l, 0};
    memset(src, 0, sizeof *src);
    return part_fetch(x, &p, src);
}

static ark_status alloc_out(ark_tensor *out, int ndim, const int64_t *shape)
{
    out->ndim = ndim;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= out->shape[i] = shape[i];
    out->data = malloc(sizeof(float) * (size_t)(n + 1));
    if (!out->data) return ark_fail(ARK_ERR_NOMEM, "out of memory for %lld values", (long long)n);
    return ARK_OK;
}

ark_status ark_head_results(const ark_model *m, const ark_cache *c, int layer, ark_tensor *out)
{
    memset(out, 0, sizeof *out);
    an_ctx x;
    part_src src;
    int l;
    ARK_TRY(layer_ctx(m, c, layer, PART_HEAD, &x, &src, &l));
    int H = x.cfg->n_heads, d = x.cfg->d_model;
    int64_t shape[4] = {x.B, x.T, H, d};
    ARK_TRY(alloc_out(out, 4, shape));
    for (int h = 0; h < H; h++) head_term(&x, l, h, &src, out->data + (size_t)h * d, H * d);
    return ARK_OK;
}

ark_status ark_neuron_results(const ark_model *m, const ark_cache *c, int layer, ark_tensor *out)
{
    memset(out, 0, sizeof *out);
    an_ctx x;
    part_src src;
    int l;
    ARK_TRY(layer_ctx(m, c, layer, PART_NEURON, &x, &src, &l));
    int mm = x.cfg->d_mlp, d = x.cfg->d_model;
    int64_t shape[4] = {x.B, x.T, mm, d};
    float *w = malloc(sizeof(float) * (size_t)mm * d); /* W_out as (m, d) */
    if (!w) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    ark_status st = alloc_out(out, 4, shape);
    for (int i = 0; st == ARK_OK && i < mm; i++) an_weights_from(&m->layers[l].down, i, w + (size_t)i * d);
    for (size_t bt = 0; st == ARK_OK && bt < (size_t)x.B * x.T; bt++)
        for (int i = 0; i < mm; i++) {
            float a = src.t->data[bt * mm + i], *o = out->data + (bt * mm + i) * d;
            for (int j = 0; j < d; j++) o[j] = a * w[(size_t)i * d + j];
        }
    free(w);
    return st;
}

ark_status ark_neuron_results_along(const ark_model *m, const ark_cache *c, int layer, const float *u,
                                    ark_tensor *out)
{
    memset(out, 0, sizeof *out);
    if (!u) return ark_fail(ARK_ERR_ARG, "no direction given");
    an_ctx x;
    part_src src;
    int l;
    ARK_TRY(layer_ctx(m, c, layer, PART_NEURON, &x, &src, &l));
    int mm = x.cfg->d_mlp, d = x.cfg->d_model;
    int64_t shape[3] = {x.B, x.T, mm};
    float *row = malloc(sizeof(float) * d), *wu = malloc(sizeof(float) * mm); /* wu[i] = W_out[i, :] . u */
    ark_status st = row && wu ? alloc_out(out, 3, shape) : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; st == ARK_OK && i < mm; i++) {
        an_weights_from(&m->layers[l].down, i, row);
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)row[j] * u[j];
        wu[i] = (float)s;
    }
    for (size_t k = 0; st == ARK_OK && k < (size_t)x.B * x.T * mm; k++) out->data[k] = src.t->data[k] * wu[k % mm];
    free(row);
    free(wu);
    return st;
}

/* ---- what to keep ---- */

typedef struct name_list {
    int n, cap;
    char (*names)[64];
} name_list;

static ark_status names_add(name_list *l, const char *name)
{
    if (!name[0]) return ARK_OK;
    for (int i = l->n - 1; i >= 0; i--)
        if (!strcmp(l->names[i], name)) return ARK_OK;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        void *p = realloc(l->names, sizeof *l->names * cap);
        if (!p) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        l->names = p;
        l->cap = cap;
    }
    snprintf(l->names[l->n++], 64, "%s", name);
    return ARK_OK;
}

/* Names of the parts' hook points (each once). */
static ark_status names_of_parts(const an_ctx *x, bool heads, bool neurons, unsigned sel, name_list *l)
{
    int n = list_parts(x, heads, neurons, sel, NULL);
    part *parts = malloc(sizeof *parts * (n + 1));
    if (!parts) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    list_parts(x, heads, neurons, sel, parts);
    ark_status st = ARK_OK;
    char name[64], last[64] = "";
    for (int i = 0; st == ARK_OK && i < n; i++) {
        int64_t inner;
        part_hook(x, &parts[i], name, sizeof name, &inner);
        if (strcmp(name, last)) st = names_add(l, name);
        snprintf(last, sizeof last, "%s", name);
    }
    free(parts);
    return st;
}

static ark_status collect_names(const ark_model *m, ark_analysis kind, const ark_resid_opts *o, name_list *l)
{
    ark_resid_opts dflt = ARK_RESID_OPTS_INIT;
    if (!o) o = &dflt;
    an_ctx x;
    char name[64];
    const float *w, *b;
    int blk;
    switch (kind) {
    case ARK_ANALYSIS_LOGIT_ATTRS: return names_add(l, "ln_final.hook_scale");
    case ARK_ANALYSIS_RESID: ARK_TRY(ark_resid_hook(m, o, name, sizeof name)); return names_add(l, name);
    case ARK_ANALYSIS_HEAD_RESULTS: case ARK_ANALYSIS_NEURON_RESULTS:
        ARK_TRY(an_block_index(m, o->layer, &blk));
        snprintf(name, sizeof name, kind == ARK_ANALYSIS_HEAD_RESULTS ? "blocks.%d.attn.hook_z" : "blocks.%d.mlp.hook_post", blk);
        return names_add(l, name);
    case ARK_ANALYSIS_ACCUMULATED_RESID: case ARK_ANALYSIS_DECOMPOSE_RESID: case ARK_ANALYSIS_STACK_HEADS:
    case ARK_ANALYSIS_STACK_NEURONS:
        break;
    default: return ark_fail(ARK_ERR_ARG, "unknown analysis %d", (int)kind);
    }
    ARK_TRY(an_ctx_init(m, NULL, o, &x));
    if (kind == ARK_ANALYSIS_ACCUMULATED_RESID) {
        int n = an_accumulated_names(&x, o->incl_mid, NULL, NULL);
        char (*names)[64] = malloc(sizeof *names * (n + 1));
        if (!names) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        an_accumulated_names(&x, o->incl_mid, names, NULL);
        ark_status st = ARK_OK;
        for (int i = 0; st == ARK_OK && i < n; i++) st = names_add(l, names[i]);
        free(names);
        ARK_TRY(st);
    } else if (kind == ARK_ANALYSIS_DECOMPOSE_RESID) ARK_TRY(names_of_parts(&x, o->heads, o->neurons, SEL_ALL, l));
    else if (kind == ARK_ANALYSIS_STACK_HEADS) ARK_TRY(names_of_parts(&x, true, false, SEL_ATTN, l));
    else ARK_TRY(names_of_parts(&x, false, true, SEL_MLP, l));
    if (!o->apply_ln) return ARK_OK;
    an_norm_for(m, x.layer, x.mlp_input, name, sizeof name, &w, &b);
    return names_add(l, name);
}

ark_status ark_analysis_hooks(const ark_model *m, ark_analysis kind, const ark_resid_opts *o, char ***names)
{
    *names = NULL;
    name_list l = {0};
    ark_status st = collect_names(m, kind, o, &l);
    size_t bytes = sizeof(char *) * (size_t)(l.n + 1);
    for (int i = 0; i < l.n; i++) bytes += strlen(l.names[i]) + 1;
    char **out = st == ARK_OK ? malloc(bytes) : NULL;
    if (st == ARK_OK && !out) st = ark_fail(ARK_ERR_NOMEM, "out of memory");
    if (st == ARK_OK) {
        char *p = (char *)(out + l.n + 1);
        for (int i = 0; i < l.n; i++) {
            size_t k = strlen(l.names[i]) + 1;
            memcpy(p, l.names[i], k);
            out[i] = p;
            p += k;
        }
        out[l.n] = NULL;
        *names = out;
    }
    free(l.names);
    return st;
}
