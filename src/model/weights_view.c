/* TransformerLens' weight views over the canonical weights: every matrix in
 * x @ W orientation, per head, copied out of whatever layout the
 * checkpoint uses. */
#include <stdlib.h>
#include <string.h>

#include "arrakis/weights.h"
#include "core/error.h"
#include "model/weights_internal.h"

typedef enum { SCOPE_GLOBAL, SCOPE_LAYER, SCOPE_HEAD } wscope;
typedef enum { HEADS_NONE, HEADS_Q, HEADS_KV } wheads;

static const struct {
    const char *name;
    wscope scope;
    wheads heads;
} winfo[ARK_N_WEIGHTS] = {
    [ARK_W_E] = {"W_E", SCOPE_GLOBAL, HEADS_NONE},
    [ARK_W_POS] = {"W_pos", SCOPE_GLOBAL, HEADS_NONE},
    [ARK_W_U] = {"W_U", SCOPE_GLOBAL, HEADS_NONE},
    [ARK_B_U] = {"b_U", SCOPE_GLOBAL, HEADS_NONE},
    [ARK_W_Q] = {"W_Q", SCOPE_HEAD, HEADS_Q},
    [ARK_W_K] = {"W_K", SCOPE_HEAD, HEADS_KV},
    [ARK_W_V] = {"W_V", SCOPE_HEAD, HEADS_KV},
    [ARK_W_O] = {"W_O", SCOPE_HEAD, HEADS_Q},
    [ARK_B_Q] = {"b_Q", SCOPE_HEAD, HEADS_Q},
    [ARK_B_K] = {"b_K", SCOPE_HEAD, HEADS_KV},
    [ARK_B_V] = {"b_V", SCOPE_HEAD, HEADS_KV},
    [ARK_B_O] = {"b_O", SCOPE_LAYER, HEADS_NONE},
    [ARK_W_K_UNGROUPED] = {"W_K_ungrouped", SCOPE_HEAD, HEADS_Q},
    [ARK_W_V_UNGROUPED] = {"W_V_ungrouped", SCOPE_HEAD, HEADS_Q},
    [ARK_B_K_UNGROUPED] = {"b_K_ungrouped", SCOPE_HEAD, HEADS_Q},
    [ARK_B_V_UNGROUPED] = {"b_V_ungrouped", SCOPE_HEAD, HEADS_Q},
    [ARK_W_IN] = {"W_in", SCOPE_LAYER, HEADS_NONE},
    [ARK_W_GATE] = {"W_gate", SCOPE_LAYER, HEADS_NONE},
    [ARK_W_OUT] = {"W_out", SCOPE_LAYER, HEADS_NONE},
    [ARK_B_IN] = {"b_in", SCOPE_LAYER, HEADS_NONE},
    [ARK_B_GATE] = {"b_gate", SCOPE_LAYER, HEADS_NONE},
    [ARK_B_OUT] = {"b_out", SCOPE_LAYER, HEADS_NONE},
    [ARK_LN1_W] = {"ln1_w", SCOPE_LAYER, HEADS_NONE},
    [ARK_LN1_B] = {"ln1_b", SCOPE_LAYER, HEADS_NONE},
    [ARK_LN2_W] = {"ln2_w", SCOPE_LAYER, HEADS_NONE},
    [ARK_LN2_B] = {"ln2_b", SCOPE_LAYER, HEADS_NONE},
    [ARK_LNF_W] = {"lnf_w", SCOPE_GLOBAL, HEADS_NONE},
    [ARK_LNF_B] = {"lnf_b", SCOPE_GLOBAL, HEADS_NONE},
};

const char *ark_weight_name(ark_weight w) { return (unsigned)w < ARK_N_WEIGHTS ? winfo[w].name : NULL; }

ark_status ark_weight_find(const char *name, ark_weight *out)
{
    for (int i = 0; i < ARK_N_WEIGHTS; i++)
        if (name && !strcmp(name, winfo[i].name)) { *out = (ark_weight)i; return ARK_OK; }
    return ark_fail(ARK_ERR_MISSING, "no weight named \"%s\" (W_E, W_pos, W_U, b_U, W_Q, W_K, W_V, W_O, b_Q, b_K, "
                    "b_V, b_O, W_K_ungrouped, W_V_ungrouped, b_K_ungrouped, b_V_ungrouped, W_in, W_gate, W_out, b_in, "
                    "b_gate, b_out, ln1_w, ln1_b, ln2_w, ln2_b, lnf_w, lnf_b)", name ? name : "(null)");
}

static int n_heads_of(const ark_config *c, ark_weight w)
{
    return winfo[w].heads == HEADS_KV ? c->n_kv_heads : c->n_heads;
}

/* The shape of one unit (one head, one layer or the global tensor). */
static int unit_shape(const ark_config *c, ark_weight w, int64_t *s)
{
    int64_t d = c->d_model, dh = c->d_head, mm = c->d_mlp;
    switch (w) {
    case ARK_W_E: s[0] = c->d_vocab; s[1] = d; return 2;
    case ARK_W_POS: s[0] = c->n_ctx; s[1] = d; return 2;
    case ARK_W_U: s[0] = d; s[1] = c->d_vocab; return 2;
    case ARK_B_U: s[0] = c->d_vocab; return 1;
    case ARK_W_Q: case ARK_W_K: case ARK_W_V: case ARK_W_K_UNGROUPED: case ARK_W_V_UNGROUPED:
        s[0] = d; s[1] = dh; return 2;
    case ARK_W_O: s[0] = dh; s[1] = d; return 2;
    case ARK_B_Q: case ARK_B_K: case ARK_B_V: case ARK_B_K_UNGROUPED: case ARK_B_V_UNGROUPED:
        s[0] = dh; return 1;
    case ARK_W_IN: case ARK_W_GATE: s[0] = d; s[1] = mm; return 2;
    case ARK_W_OUT: s[0] = mm; s[1] = d; return 2;
    case ARK_B_IN: case ARK_B_GATE: s[0] = mm; return 1;
    default: s[0] = d; return 1; /* b_O, b_out, norms */
    }
}

/* Is this weight present in the model at all? */
static ark_status check_present(const ark_model *m, ark_weight w)
{
    const ark_config *c = &m->cfg;
    if (w == ARK_W_POS && !m->pos_embed)
        return ark_fail(ARK_ERR_MISSING, "W_pos: this %s model has rotary positions, no learned position embedding",
                        c->family);
    if ((w == ARK_W_GATE || w == ARK_B_GATE) && c->mlp != ARK_MLP_GATED)
        return ark_fail(ARK_ERR_MISSING, "%s: this %s model's MLP is not gated (it has W_in and W_out only)",
                        winfo[w].name, c->family);
    if ((w == ARK_LN2_W || w == ARK_LN2_B) && c->shared_parallel_norm)
        return ark_fail(ARK_ERR_MISSING, "%s: this %s model's parallel block has one norm (ln1) feeding both "
                        "attention and MLP", winfo[w].name, c->family);
    return ARK_OK;
}

static ark_status check_part(const ark_model *m, ark_weight w, int layer, int head)
{
    const ark_config *c = &m->cfg;
    if ((unsigned)w >= ARK_N_WEIGHTS) return ark_fail(ARK_ERR_ARG, "weight %d: no such weight", (int)w);
    const char *name = winfo[w].name;
    if (winfo[w].scope == SCOPE_GLOBAL && layer != -1)
        return ark_fail(ARK_ERR_ARG, "%s has no layers: layer must be -1, got %d", name, layer);
    if (layer < -1 || layer >= c->n_layers)
        return ark_fail(ARK_ERR_ARG, "%s: layer %d: expected -1 (all) or 0..%d", name, layer, c->n_layers - 1);
    if (head != -1 && winfo[w].scope != SCOPE_HEAD)
        return ark_fail(ARK_ERR_ARG, "%s has no heads: head must be -1, got %d", name, head);
    if (head != -1 && layer < 0) return ark_fail(ARK_ERR_ARG, "%s: head %d needs a layer (got -1)", name, head);
    int nh = winfo[w].scope == SCOPE_HEAD ? n_heads_of(c, w) : 0;
    if (head < -1 || (head != -1 && head >= nh))
        return ark_fail(ARK_ERR_ARG, "%s: head %d: expected -1 (all) or 0..%d", name, head, nh - 1);
    return check_present(m, w);
}

ark_status ark_weight_shape(const ark_model *m, ark_weight w, int layer, int head, int *ndim, int64_t *shape)
{
    ARK_TRY(check_part(m, w, layer, head));
    int n = 0;
    if (winfo[w].scope != SCOPE_GLOBAL && layer < 0) shape[n++] = m->cfg.n_layers;
    if (winfo[w].scope == SCOPE_HEAD && head < 0) shape[n++] = n_heads_of(&m->cfg, w);
    n += unit_shape(&m->cfg, w, shape + n);
    *ndim = n;
    return ARK_OK;
}

/* ---- filling one unit ---- */

/* W[:, first .. first+n) of a linear as a row-major (in, n) block; or its
 * bias (n) (zeros without one). */
static void linear_cols(const ark_linear *L, int first, int n, float *dst)
{
    for (int i = 0; i < L->in; i++)
        for (int j = 0; j < n; j++) dst[(size_t)i * n + j] = lin_at(L, i, first + j);
}

static void bias_part(const float *b, int first, int n, float *dst)
{
    if (b) memcpy(dst, b + first, sizeof(float) * n);
    else memset(dst, 0, sizeof(float) * n);
}

/* The kv head that query head h reads. */
static int kv_of(const ark_config *c, int h) { return h / (c->n_heads / c->n_kv_heads); }

static void fill_head(const ark_model *m, ark_weight w, int l, int h, float *dst)
{
    const ark_config *c = &m->cfg;
    const ark_layer_weights *L = &m->layers[l];
    int dh = c->d_head, first;
    if (w == ARK_W_K_UNGROUPED || w == ARK_W_V_UNGROUPED || w == ARK_B_K_UNGROUPED || w == ARK_B_V_UNGROUPED) {
        static const ark_weight grouped[] = {ARK_W_K, ARK_W_V, ARK_B_K, ARK_B_V}; /* in enum order */
        fill_head(m, grouped[w - ARK_W_K_UNGROUPED], l, kv_of(c, h), dst);
        return;
    }
    if (w == ARK_W_O) { /* rows h*dh.. of the [in = h*dh, out = d] map */
        for (int e = 0; e < dh; e++)
            for (int j = 0; j < c->d_model; j++) dst[(size_t)e * c->d_model + j] = lin_at(&L->o, h * dh + e, j);
        return;
    }
    qkv_part p = (w == ARK_W_Q || w == ARK_B_Q) ? QKV_Q : (w == ARK_W_K || w == ARK_B_K) ? QKV_K : QKV_V;
    const ark_linear *lin = qkv_head(m, L, p, h, &first);
    if (w == ARK_W_Q || w == ARK_W_K || w == ARK_W_V) linear_cols(lin, first, dh, dst);
    else bias_part(lin->b, first, dh, dst);
}

/* A norm's effective scale (1 + w for Gemma) or shift (0 when absent). */
static void fill_norm(const ark_config *c, const float *w, const float *b, bool scale, float *dst)
{
    int d = c->d_model;
    if (!scale) { bias_part(b, 0, d, dst); return; }
    for (int j = 0; j < d; j++) dst[j] = c->norm == ARK_NORM_RMSNORM_1P ? 1.0f + w[j] : w[j];
}

static void fill_layer(const ark_model *m, ark_weight w, int l, float *dst)
{
    const ark_config *c = &m->cfg;
    const ark_layer_weights *L = &m->layers[l];
    int d = c->d_model, mm = c->d_mlp;
    switch (w) {
    case ARK_B_O: bias_part(L->o.b, 0, d, dst); break;
    case ARK_W_IN: linear_cols(&L->up, 0, mm, dst); break;
    case ARK_W_GATE: linear_cols(&L->gate, 0, mm, dst); break;
    case ARK_W_OUT: linear_cols(&L->down, 0, d, dst); break;
    case ARK_B_IN: bias_part(L->up.b, 0, mm, dst); break;
    case ARK_B_GATE: bias_part(L->gate.b, 0, mm, dst); break;
    case ARK_B_OUT: bias_part(L->down.b, 0, d, dst); break;
    case ARK_LN1_W: fill_norm(c, L->ln1_w, L->ln1_b, true, dst); break;
    case ARK_LN1_B: fill_norm(c, L->ln1_w, L->ln1_b, false, dst); break;
    case ARK_LN2_W: fill_norm(c, L->ln2_w, L->ln2_b, true, dst); break;
    case ARK_LN2_B: fill_norm(c, L->ln2_w, L->ln2_b, false, dst); break;
    default: {
        /* a per-head weight asked for one whole layer: heads stacked */
        int nh = n_heads_of(c, w);
        int64_t s[ARK_MAX_DIMS], unit = 1;
        int nd = unit_shape(c, w, s);
        for (int i = 0; i < nd; i++) unit *= s[i];
        for (int h = 0; h < nh; h++) fill_head(m, w, l, h, dst + (size_t)h * unit);
    }
    }
}

static void fill_global(const ark_model *m, ark_weight w, float *dst)
{
    const ark_config *c = &m->cfg;
    size_t d = c->d_model, V = c->d_vocab;
    switch (w) {
    case ARK_W_E:
        for (size_t i = 0; i < V * d; i++) dst[i] = m->embed[i] * c->embed_scale;
        break;
    case ARK_W_POS: memcpy(dst, m->pos_embed, sizeof(float) * (size_t)c->n_ctx * d); break;
    case ARK_W_U: linear_cols(&m->unembed, 0, (int)V, dst); break;
    case ARK_B_U: bias_part(m->unembed.b, 0, (int)V, dst); break;
    case ARK_LNF_W: fill_norm(c, m->lnf_w, m->lnf_b, true, dst); break;
    case ARK_LNF_B: fill_norm(c, m->lnf_w, m->lnf_b, false, dst); break;
    default: break;
    }
}

ark_status ark_weight_read(const ark_model *m, ark_weight w, int layer, int head, float *dst)
{
    ARK_TRY(check_part(m, w, layer, head));
    if (winfo[w].scope == SCOPE_GLOBAL) { fill_global(m, w, dst); return ARK_OK; }
    if (head >= 0) { fill_head(m, w, layer, head, dst); return ARK_OK; }
    int ndim;
    int64_t s[ARK_MAX_DIMS], per_layer = 1;
    ARK_TRY(ark_weight_shape(m, w, 0, -1, &ndim, s));
    for (int i = 0; i < ndim; i++) per_layer *= s[i];
    int first = layer < 0 ? 0 : layer, last = layer < 0 ? m->cfg.n_layers - 1 : layer;
    for (int l = first; l <= last; l++) fill_layer(m, w, l, dst + (size_t)(l - first) * per_layer);
    return ARK_OK;
}

ark_status ark_weight_get(const ark_model *m, ark_weight w, int layer, int head, ark_tensor *out)
{
    memset(out, 0, sizeof *out);
    ark_tensor t = {0};
    ARK_TRY(ark_weight_shape(m, w, layer, head, &t.ndim, t.shape));
    int64_t n = ark_tensor_numel(&t);
    t.data = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!t.data)
        return ark_fail(ARK_ERR_NOMEM, "%s: out of memory for %lld floats", winfo[w].name, (long long)n);
    ark_status s = ark_weight_read(m, w, layer, head, t.data);
    if (s != ARK_OK) { free(t.data); return s; }
    *out = t;
    return ARK_OK;
}

void ark_weight_free(ark_tensor *t)
{
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}
