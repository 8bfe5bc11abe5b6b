/* Model surgery: an edit session over a model (include/arrakis/tool_surgery.h).
 *
 * The session replaces the model's layer array by its own copy, snapshots
 * the configuration and the global weight views, and copies a weight into a
 * buffer it owns before the first write to it (copy on write).  Restoring
 * puts the snapshot back and frees the session's buffers; committing hands
 * them to the model (its `owned` list, freed by ark_model_free).  This is
 * the "make weights private" step of process.c done per matrix, on demand,
 * and reversibly: process.c's privatise() copies every weight at once and
 * for good, which an undoable edit of one head must not do. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_surgery.h"
#include "core/error.h"
#include "model/surgery_internal.h"

/* ---- which models have a session ---- */

#define MAX_SESSIONS 256
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static const ark_model *sessions[MAX_SESSIONS];

static bool session_claim(const ark_model *m)
{
    bool ok = false;
    int free_slot = -1;
    pthread_mutex_lock(&sessions_lock);
    bool taken = false;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (sessions[i] == m) taken = true;
        if (!sessions[i] && free_slot < 0) free_slot = i;
    }
    if (!taken && free_slot >= 0) { sessions[free_slot] = m; ok = true; }
    pthread_mutex_unlock(&sessions_lock);
    return ok;
}

static void session_release(const ark_model *m)
{
    pthread_mutex_lock(&sessions_lock);
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (sessions[i] == m) sessions[i] = NULL;
    pthread_mutex_unlock(&sessions_lock);
}

/* ---- buffers ---- */

float *surg_alloc(ark_surgery *s, size_t n)
{
    if (s->n_bufs == s->cap_bufs) {
        int cap = s->cap_bufs ? 2 * s->cap_bufs : 32;
        void **grown = realloc(s->bufs, sizeof *s->bufs * cap);
        if (!grown) return NULL;
        s->bufs = grown;
        s->cap_bufs = cap;
    }
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (p) s->bufs[s->n_bufs++] = p;
    return p;
}

bool surg_owns(const ark_surgery *s, const void *p)
{
    for (int i = 0; p && i < s->n_bufs; i++)
        if (s->bufs[i] == p) return true;
    return false;
}

ark_status surg_own_vec(ark_surgery *s, const float **v, size_t n)
{
    if (!*v || surg_owns(s, *v)) return ARK_OK;
    float *p = surg_alloc(s, n);
    if (!p) return ark_fail(ARK_ERR_NOMEM, "surgery: out of memory for %zu floats", n);
    memcpy(p, *v, sizeof(float) * n);
    *v = p;
    return ARK_OK;
}

/* A compact copy of L (same orientation) that the session owns, with its
 * bias (when it has one). */
static ark_status copy_linear(ark_surgery *s, ark_linear *L)
{
    int rows = L->in_out ? L->in : L->out, cols = L->in_out ? L->out : L->in;
    float *w = surg_alloc(s, (size_t)rows * cols);
    if (!w) return ark_fail(ARK_ERR_NOMEM, "surgery: out of memory for a %d x %d matrix", rows, cols);
    for (int r = 0; r < rows; r++) memcpy(w + (size_t)r * cols, L->w + (size_t)r * L->ld, sizeof(float) * cols);
    L->w = w;
    L->ld = cols;
    if (L->b) {
        float *b = surg_alloc(s, (size_t)L->out);
        if (!b) return ark_fail(ARK_ERR_NOMEM, "surgery: out of memory for a bias of %d", L->out);
        memcpy(b, L->b, sizeof(float) * L->out);
        L->b = b;
    }
    return ARK_OK;
}

ark_status surg_own_linear(ark_surgery *s, ark_linear *L)
{
    if (!surg_owns(s, L->w)) return copy_linear(s, L);
    return surg_own_vec(s, &L->b, (size_t)L->out);
}

/* ---- the session ---- */

static void invalidate_hooks(ark_model *m)
{
    free(m->hook_table); /* rebuilt on first use for the current layer count */
    m->hook_table = NULL;
    m->n_hooks = 0;
}

ark_status ark_surgery_begin(ark_model *m, ark_surgery **out)
{
    *out = NULL;
    if (!m) return ark_fail(ARK_ERR_ARG, "surgery: no model");
    if (!session_claim(m)) return ark_fail(ARK_ERR_ARG, "surgery: the model already has an edit session (restore or commit it first)");
    ark_surgery *s = calloc(1, sizeof *s);
    ark_layer_weights *copy = malloc(sizeof *copy * (size_t)m->cfg.n_layers);
    if (!s || !copy) {
        free(s);
        free(copy);
        session_release(m);
        return ark_fail(ARK_ERR_NOMEM, "surgery: out of memory");
    }
    memcpy(copy, m->layers, sizeof *copy * (size_t)m->cfg.n_layers);
    s->m = m;
    s->cfg0 = m->cfg;
    s->layers0 = m->layers;
    s->embed0 = m->embed;
    s->pos0 = m->pos_embed;
    s->unembed0 = m->unembed;
    m->layers = copy;
    *out = s;
    return ARK_OK;
}

static void end_session(ark_surgery *s)
{
    for (int i = 0; i < s->n_edits; i++) free(s->edits[i]);
    free(s->edits);
    free(s->bufs);
    session_release(s->m);
    free(s);
}

void ark_surgery_restore(ark_surgery *s)
{
    if (!s) return;
    ark_model *m = s->m;
    free(m->layers);
    m->layers = s->layers0;
    m->cfg = s->cfg0;
    m->embed = s->embed0;
    m->pos_embed = s->pos0;
    m->unembed = s->unembed0;
    invalidate_hooks(m);
    for (int i = 0; i < s->n_bufs; i++) free(s->bufs[i]);
    end_session(s);
}

void ark_surgery_commit(ark_surgery *s)
{
    if (!s) return;
    ark_model *m = s->m;
    free(s->layers0);
    for (int i = 0; i < s->n_bufs; i++) {
        if (m->n_owned == m->cap_owned) {
            int cap = m->cap_owned ? 2 * m->cap_owned : 64;
            void **grown = realloc(m->owned, sizeof *m->owned * cap);
            if (!grown) { /* cannot hand it over: keep it alive rather than free a live weight */
                continue;
            }
            m->owned = grown;
            m->cap_owned = cap;
        }
        m->owned[m->n_owned++] = s->bufs[i];
    }
    end_session(s);
}

void surg_log(ark_surgery *s, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(s->edits, sizeof *grown * (s->n_edits + 1));
    if (!grown) return;
    s->edits = grown;
    s->edits[s->n_edits] = strdup(buf);
    if (s->edits[s->n_edits]) s->n_edits++;
}

int ark_surgery_edit_count(const ark_surgery *s) { return s ? s->n_edits : 0; }
const char *ark_surgery_edit(const ark_surgery *s, int i) { return s && i >= 0 && i < s->n_edits ? s->edits[i] : NULL; }

/* ---- layers ---- */

/* A deep copy of block L into session buffers (weights and norms). */
static ark_status copy_block(ark_surgery *s, const ark_model *src, ark_layer_weights *L)
{
    size_t d = (size_t)src->cfg.d_model;
    const float **vecs[] = {&L->ln1_w, &L->ln1_b, &L->ln2_w, &L->ln2_b};
    for (size_t i = 0; i < 4; i++)
        if (*vecs[i]) {
            float *p = surg_alloc(s, d);
            if (!p) return ark_fail(ARK_ERR_NOMEM, "surgery: out of memory copying a block");
            memcpy(p, *vecs[i], sizeof(float) * d);
            *vecs[i] = p;
        }
    if (src->qkv_per_head) {
        ARK_TRY(copy_linear(s, &L->qkv));
    } else {
        ARK_TRY(copy_linear(s, &L->q));
        ARK_TRY(copy_linear(s, &L->k));
        ARK_TRY(copy_linear(s, &L->v));
    }
    ARK_TRY(copy_linear(s, &L->o));
    ARK_TRY(copy_linear(s, &L->up));
    if (src->cfg.mlp == ARK_MLP_GATED) ARK_TRY(copy_linear(s, &L->gate));
    return copy_linear(s, &L->down);
}

static ark_status layer_ops_allowed(const ark_surgery *s, const char *what)
{
    if (s->m->n_hooks_fn > 0)
        return ark_fail(ARK_ERR_ARG, "surgery: %s changes the layers, but the model keeps %d hook function(s) "
                        "(ark_model_add_hook) whose hook points would move; remove them first", what, s->m->n_hooks_fn);
    return ARK_OK;
}

static ark_status check_layer(const ark_model *m, int layer, const char *what)
{
    if (layer < 0 || layer >= m->cfg.n_layers)
        return ark_fail(ARK_ERR_ARG, "surgery: %s %d is out of range (the model has layers 0..%d)", what, layer,
                        m->cfg.n_layers - 1);
    return ARK_OK;
}

/* Rebuild the layer array as new block i = old block order[i]; repeated
 * blocks after their first use are deep-copied. */
static ark_status rebuild(ark_surgery *s, const int *order, int n)
{
    ark_model *m = s->m;
    int old_n = m->cfg.n_layers;
    ark_layer_weights *next = malloc(sizeof *next * (size_t)n);
    bool *used = calloc((size_t)old_n, sizeof *used);
    int window[ARK_MAX_LAYERS];
    float scale[ARK_MAX_LAYERS];
    ark_status st = next && used ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "surgery: out of memory");
    for (int i = 0; st == ARK_OK && i < n; i++) {
        int o = order[i];
        next[i] = m->layers[o];
        window[i] = m->cfg.window[o];
        scale[i] = m->cfg.attn_scale[o];
        if (used[o]) st = copy_block(s, m, &next[i]);
        used[o] = true;
    }
    free(used);
    if (st != ARK_OK) { free(next); return st; }
    free(m->layers);
    m->layers = next;
    m->cfg.n_layers = n;
    for (int i = 0; i < n; i++) { m->cfg.window[i] = window[i]; m->cfg.attn_scale[i] = scale[i]; }
    for (int i = n; i < ARK_MAX_LAYERS; i++) { m->cfg.window[i] = 0; m->cfg.attn_scale[i] = 0; }
    invalidate_hooks(m);
    return ARK_OK;
}

ark_status ark_surgery_delete_layer(ark_surgery *s, int layer)
{
    ark_model *m = s->m;
    ARK_TRY(layer_ops_allowed(s, "deleting a layer"));
    ARK_TRY(check_layer(m, layer, "delete layer"));
    if (m->cfg.n_layers == 1) return ark_fail(ARK_ERR_ARG, "surgery: delete layer %d: the model has one layer, and at least one must remain", layer);
    int order[ARK_MAX_LAYERS], n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (l != layer) order[n++] = l;
    ARK_TRY(rebuild(s, order, n));
    surg_log(s, "delete layer %d", layer);
    return ARK_OK;
}

ark_status ark_surgery_permute_layers(ark_surgery *s, const int *order, int n)
{
    ark_model *m = s->m;
    ARK_TRY(layer_ops_allowed(s, "permuting layers"));
    if (!order || n < 1 || n > ARK_MAX_LAYERS)
        return ark_fail(ARK_ERR_ARG, "surgery: permute: expected 1..%d layer indices, got %d", ARK_MAX_LAYERS, n);
    char desc[200];
    size_t k = (size_t)snprintf(desc, sizeof desc, "layers");
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= m->cfg.n_layers)
            return ark_fail(ARK_ERR_ARG, "surgery: permute: entry %d is layer %d, out of range (the model has layers 0..%d)",
                            i, order[i], m->cfg.n_layers - 1);
        if (k < sizeof desc) k += (size_t)snprintf(desc + k, sizeof desc - k, "%s%d", i ? "," : " ", order[i]);
    }
    ARK_TRY(rebuild(s, order, n));
    surg_log(s, "%s", desc);
    return ARK_OK;
}

ark_status ark_surgery_replace_layer(ark_surgery *s, int layer, const ark_model *src, int src_layer)
{
    ark_model *m = s->m;
    if (!src) src = m;
    ARK_TRY(check_layer(m, layer, "replace layer"));
    if (src_layer < 0 || src_layer >= src->cfg.n_layers)
        return ark_fail(ARK_ERR_ARG, "surgery: replace layer %d: source layer %d is out of range (the source has layers 0..%d)",
                        layer, src_layer, src->cfg.n_layers - 1);
    const ark_config *a = &m->cfg, *b = &src->cfg;
    if (strcmp(a->family, b->family) || a->d_model != b->d_model || a->n_heads != b->n_heads ||
        a->n_kv_heads != b->n_kv_heads || a->d_head != b->d_head || a->d_mlp != b->d_mlp || a->mlp != b->mlp ||
        a->norm != b->norm || m->qkv_per_head != src->qkv_per_head || a->mlp_bias != b->mlp_bias ||
        a->q_bias != b->q_bias || a->k_bias != b->k_bias || a->v_bias != b->v_bias || a->o_bias != b->o_bias)
        return ark_fail(ARK_ERR_ARG, "surgery: replace layer %d: the source model (%s, d_model %d, %d/%d heads of %d, d_mlp %d) "
                        "does not have this model's block shape (%s, d_model %d, %d/%d heads of %d, d_mlp %d)", layer,
                        b->family, b->d_model, b->n_heads, b->n_kv_heads, b->d_head, b->d_mlp, a->family, a->d_model,
                        a->n_heads, a->n_kv_heads, a->d_head, a->d_mlp);
    ark_layer_weights L = src->layers[src_layer];
    ARK_TRY(copy_block(s, src, &L));
    m->layers[layer] = L;
    m->cfg.window[layer] = b->window[src_layer];
    m->cfg.attn_scale[layer] = b->attn_scale[src_layer];
    surg_log(s, "replace layer %d with %s layer %d", layer, src == m ? "this model's" : "the source's", src_layer);
    return ARK_OK;
}

/* ---- heads ---- */

/* Output block [j0, j0 + n) of a linear: W[i][j] and b[j]. */
static void out_block_mix(ark_linear *L, int dst, int src, int n, float a, bool zero)
{
    float *w = (float *)L->w, *b = (float *)L->b;
    for (int i = 0; i < L->in; i++)
        for (int e = 0; e < n; e++) {
            float *x = &w[lin_off(L, i, dst + e)];
            *x = zero ? 0.0f : a * *x + (1.0f - a) * w[lin_off(L, i, src + e)];
        }
    if (b)
        for (int e = 0; e < n; e++) b[dst + e] = zero ? 0.0f : a * b[dst + e] + (1.0f - a) * b[src + e];
}

/* Input block [i0, i0 + n) of a linear: W[i][j] (the bias is not per input). */
static void in_block_mix(ark_linear *L, int dst, int src, int n, float a, bool zero)
{
    float *w = (float *)L->w;
    for (int e = 0; e < n; e++)
        for (int j = 0; j < L->out; j++) {
            float *x = &w[lin_off(L, dst + e, j)];
            *x = zero ? 0.0f : a * *x + (1.0f - a) * w[lin_off(L, src + e, j)];
        }
}

/* The (copied-on-write) linear holding part p of head h, and the output
 * index of the head's first dimension in it. */
static ark_status head_part(ark_surgery *s, ark_layer_weights *L, qkv_part p, int h, ark_linear **lin, int *first)
{
    const ark_linear *c = qkv_head(s->m, L, p, h, first);
    *lin = (ark_linear *)c;
    return surg_own_linear(s, *lin);
}

static ark_status check_head(const ark_model *m, int layer, int h, const char *what)
{
    ARK_TRY(check_layer(m, layer, what));
    if (h < 0 || h >= m->cfg.n_heads)
        return ark_fail(ARK_ERR_ARG, "surgery: %s: head %d is out of range (layer %d has heads 0..%d)", what, h, layer,
                        m->cfg.n_heads - 1);
    return ARK_OK;
}

/* Blend (or zero, when zero) head `src` into head `dst` for the parts
 * listed; src is ignored when zeroing. */
static ark_status head_mix(ark_surgery *s, int layer, int dst, int src, float a, bool zero, bool kv_too)
{
    ark_model *m = s->m;
    ark_layer_weights *L = &m->layers[layer];
    int dh = m->cfg.d_head;
    qkv_part parts[3] = {QKV_Q, QKV_K, QKV_V};
    for (int p = 0; p < (kv_too ? 3 : 1); p++) {
        ark_linear *lin;
        int f_dst, f_src;
        ARK_TRY(head_part(s, L, parts[p], dst, &lin, &f_dst));
        qkv_head(m, L, parts[p], src, &f_src);
        out_block_mix(lin, f_dst, f_src, dh, a, zero);
    }
    ARK_TRY(surg_own_linear(s, &L->o));
    in_block_mix(&L->o, dst * dh, src * dh, dh, a, zero);
    return ARK_OK;
}

ark_status ark_surgery_zero_head(ark_surgery *s, int layer, int head)
{
    ARK_TRY(check_head(s->m, layer, head, "zero head"));
    bool own_kv = s->m->cfg.n_kv_heads == s->m->cfg.n_heads;
    ARK_TRY(head_mix(s, layer, head, head, 0.0f, true, own_kv));
    surg_log(s, "zero head L%dH%d", layer, head);
    return ARK_OK;
}

ark_status ark_surgery_merge_heads(ark_surgery *s, int layer, int h1, int h2, float alpha)
{
    const ark_config *c = &s->m->cfg;
    ARK_TRY(check_head(s->m, layer, h1, "merge heads"));
    ARK_TRY(check_head(s->m, layer, h2, "merge heads"));
    if (h1 == h2) return ark_fail(ARK_ERR_ARG, "surgery: merge heads: L%dH%d with itself", layer, h1);
    if (!(alpha >= 0.0f && alpha <= 1.0f)) return ark_fail(ARK_ERR_ARG, "surgery: merge heads: alpha %g, expected 0..1", alpha);
    int group = c->n_heads / c->n_kv_heads;
    bool own_kv = group == 1, same_kv = h1 / group == h2 / group;
    if (!own_kv && !same_kv)
        return ark_fail(ARK_ERR_UNSUPPORTED, "surgery: merge heads L%dH%d and L%dH%d: they read different kv heads (%d and %d), "
                        "each shared with %d query heads, so blending them would change other heads", layer, h1, layer, h2,
                        h1 / group, h2 / group, group);
    ARK_TRY(head_mix(s, layer, h1, h2, alpha, false, own_kv));
    ARK_TRY(head_mix(s, layer, h2, h2, 0.0f, true, own_kv));
    surg_log(s, "merge head L%dH%d into L%dH%d (alpha %g)", layer, h2, layer, h1, alpha);
    return ARK_OK;
}

/* ---- neurons ---- */

ark_status ark_surgery_zero_neuron(ark_surgery *s, int layer, int neuron, unsigned sides)
{
    ark_model *m = s->m;
    ARK_TRY(check_layer(m, layer, "zero neuron: layer"));
    if (neuron < 0 || neuron >= m->cfg.d_mlp)
        return ark_fail(ARK_ERR_ARG, "surgery: zero neuron: neuron %d is out of range (layer %d has neurons 0..%d)", neuron,
                        layer, m->cfg.d_mlp - 1);
    if (!sides || (sides & ~(ARK_NEURON_IN | ARK_NEURON_OUT)))
        return ark_fail(ARK_ERR_ARG, "surgery: zero neuron: sides 0x%x, expected ARK_NEURON_IN and/or ARK_NEURON_OUT", sides);
    ark_layer_weights *L = &m->layers[layer];
    if (sides & ARK_NEURON_IN) {
        ARK_TRY(surg_own_linear(s, &L->up));
        out_block_mix(&L->up, neuron, neuron, 1, 0.0f, true);
        if (m->cfg.mlp == ARK_MLP_GATED) {
            ARK_TRY(surg_own_linear(s, &L->gate));
            out_block_mix(&L->gate, neuron, neuron, 1, 0.0f, true);
        }
    }
    if (sides & ARK_NEURON_OUT) {
        ARK_TRY(surg_own_linear(s, &L->down));
        in_block_mix(&L->down, neuron, neuron, 1, 0.0f, true);
    }
    surg_log(s, "zero neuron L%dN%d (%s)", layer, neuron,
             sides == (ARK_NEURON_IN | ARK_NEURON_OUT) ? "in and out" : sides == ARK_NEURON_IN ? "in" : "out");
    return ARK_OK;
}
