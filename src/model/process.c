/* Weight processing with TransformerLens' meanings: fold norms, centre the
 * writing weights, centre the unembedding, fold value biases.  Definitions
 * next to the flags in include/arrakis/weights.h; references in
 * docs/weights.md.
 *
 * Processing first makes every weight a private, compact, owned float32
 * copy with all its biases (a mapped file is read-only and tied or fused
 * views share storage), then changes the copies in place. */
#include <stdlib.h>
#include <string.h>

#include "arrakis/weights.h"
#include "core/error.h"
#include "model/weights_internal.h"

/* ---- private copies ---- */

static float *owned_alloc(ark_model *m, size_t n)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **grown = realloc(m->owned, sizeof *m->owned * cap);
        if (!grown) return NULL;
        m->owned = grown;
        m->cap_owned = cap;
    }
    float *p = calloc(n ? n : 1, sizeof(float));
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

static ark_status own_vec(ark_model *m, const float **v, size_t n, bool create)
{
    if (!*v && !create) return ARK_OK;
    float *p = owned_alloc(m, n);
    if (!p) return ark_fail(ARK_ERR_NOMEM, "processing weights: out of memory for %zu floats", n);
    if (*v) memcpy(p, *v, sizeof(float) * n);
    *v = p;
    return ARK_OK;
}

/* A compact owned copy of L (same orientation) with a bias (zeros when the
 * model had none). */
static ark_status own_linear(ark_model *m, ark_linear *L)
{
    int rows = L->in_out ? L->in : L->out, cols = L->in_out ? L->out : L->in;
    float *w = owned_alloc(m, (size_t)rows * cols);
    if (!w) return ark_fail(ARK_ERR_NOMEM, "processing weights: out of memory for a %d x %d matrix", rows, cols);
    for (int r = 0; r < rows; r++) memcpy(w + (size_t)r * cols, L->w + (size_t)r * L->ld, sizeof(float) * cols);
    L->w = w;
    L->ld = cols;
    return own_vec(m, &L->b, (size_t)L->out, true);
}

/* gpt_neox's fused per-head q|k|v -> separate q, k, v owned linears. */
static ark_status split_qkv(ark_model *m, ark_layer_weights *L)
{
    const ark_config *c = &m->cfg;
    int d = c->d_model, H = c->n_heads, dh = c->d_head;
    ark_linear *parts[3] = {&L->q, &L->k, &L->v};
    for (int p = 0; p < 3; p++) {
        ark_linear *P = parts[p];
        *P = (ark_linear){.in = d, .out = H * dh, .ld = d, .in_out = false};
        float *w = owned_alloc(m, (size_t)H * dh * d), *b = owned_alloc(m, (size_t)H * dh);
        if (!w || !b) return ark_fail(ARK_ERR_NOMEM, "processing weights: out of memory splitting q|k|v");
        for (int h = 0; h < H; h++) {
            int first;
            const ark_linear *src = qkv_head(m, L, (qkv_part)p, h, &first);
            for (int e = 0; e < dh; e++) {
                for (int i = 0; i < d; i++) w[lin_off(P, i, h * dh + e)] = lin_at(src, i, first + e);
                b[h * dh + e] = src->b ? src->b[first + e] : 0.0f;
            }
        }
        P->w = w;
        P->b = b;
    }
    return ARK_OK;
}

static ark_status privatise(ark_model *m)
{
    const ark_config *c = &m->cfg;
    size_t d = c->d_model;
    ARK_TRY(own_vec(m, &m->embed, (size_t)c->d_vocab * d, false));
    ARK_TRY(own_vec(m, &m->pos_embed, (size_t)c->n_ctx * d, false));
    ARK_TRY(own_vec(m, &m->lnf_w, d, false));
    ARK_TRY(own_vec(m, &m->lnf_b, d, false));
    ARK_TRY(own_linear(m, &m->unembed)); /* also unties it from the embedding */
    for (int l = 0; l < c->n_layers; l++) {
        ark_layer_weights *L = &m->layers[l];
        ARK_TRY(own_vec(m, &L->ln1_w, d, false));
        ARK_TRY(own_vec(m, &L->ln1_b, d, false));
        ARK_TRY(own_vec(m, &L->ln2_w, d, false));
        ARK_TRY(own_vec(m, &L->ln2_b, d, false));
        if (m->qkv_per_head) {
            ARK_TRY(split_qkv(m, L));
        } else {
            ARK_TRY(own_linear(m, &L->q));
            ARK_TRY(own_linear(m, &L->k));
            ARK_TRY(own_linear(m, &L->v));
        }
        ARK_TRY(own_linear(m, &L->o));
        ARK_TRY(own_linear(m, &L->up));
        if (c->mlp == ARK_MLP_GATED) ARK_TRY(own_linear(m, &L->gate));
        ARK_TRY(own_linear(m, &L->down));
    }
    m->qkv_per_head = false; /* only after every layer was split */
    m->weights_private = true;
    return ARK_OK;
}

/* ---- in-place operations on private linears (W[i][j]: input i, output j) ---- */

static float *wmut(const ark_linear *L) { return (float *)L->w; }
static float *bmut(const ark_linear *L) { return (float *)L->b; }

/* Loops run in storage order: a private linear is `rows` storage rows of
 * `cols` floats (rows = inputs for [in, out] storage, outputs otherwise). */
static int srows(const ark_linear *L) { return L->in_out ? L->in : L->out; }
static int scols(const ark_linear *L) { return L->in_out ? L->out : L->in; }

/* b[j] += sum_i v[i] W[i][j] */
static void add_input_to_bias(const ark_linear *L, const float *v, double *acc)
{
    const float *w = L->w;
    int rows = srows(L), cols = scols(L);
    memset(acc, 0, sizeof(double) * L->out);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double x = (double)w[(size_t)r * cols + c];
            if (L->in_out) acc[c] += v[r] * x; /* r = input, c = output */
            else acc[r] += v[c] * x;            /* r = output, c = input */
        }
    for (int j = 0; j < L->out; j++) bmut(L)[j] += (float)acc[j];
}

/* W[i][j] *= s[i] */
static void scale_inputs(const ark_linear *L, const float *s)
{
    float *w = wmut(L);
    int rows = srows(L), cols = scols(L);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) w[(size_t)r * cols + c] *= s[L->in_out ? r : c];
}

static void center_vec(float *v, size_t n)
{
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) v[i] -= (float)mean;
}

/* Subtract from each storage row its mean, or from each storage column. */
static void center_storage(const ark_linear *L, bool along_rows, double *mean)
{
    float *w = wmut(L);
    size_t rows = srows(L), cols = scols(L);
    if (along_rows) {
        for (size_t r = 0; r < rows; r++) center_vec(w + r * cols, cols);
        return;
    }
    memset(mean, 0, sizeof(double) * cols);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) mean[c] += w[r * cols + c];
    for (size_t c = 0; c < cols; c++) mean[c] /= (double)rows;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) w[r * cols + c] -= (float)mean[c];
}

/* W[i][j] -= mean_i W[i][j]  (for each output, centre over the inputs) */
static void center_over_inputs(const ark_linear *L, double *tmp) { center_storage(L, !L->in_out, tmp); }

/* W[i][j] -= mean_j W[i][j] and b -= mean(b)  (centre every written vector) */
static void center_over_outputs(const ark_linear *L, double *tmp)
{
    center_storage(L, L->in_out, tmp);
    center_vec(bmut(L), (size_t)L->out);
}

/* ---- the steps ---- */

/* The norm's effective scale into s (Gemma: 1 + w). */
static void norm_scale(const ark_config *c, const float *w, float *s)
{
    for (int i = 0; i < c->d_model; i++) s[i] = c->norm == ARK_NORM_RMSNORM_1P ? 1.0f + w[i] : w[i];
}

/* Scratch for the steps, allocated before anything changes so that a step,
 * once begun, cannot fail. */
typedef struct {
    double *acc;  /* (widest side of any linear) */
    float *vec;   /* (d_model or heads * d_head) */
} scratch;

/* A linear reading norm(x) * s + b  ->  reading norm(x). */
static void fold_into(const ark_config *c, const ark_linear *L, const float *s, const float *b, double *tmp)
{
    if (b) add_input_to_bias(L, b, tmp);
    scale_inputs(L, s);
    if (c->norm == ARK_NORM_LAYERNORM) center_over_inputs(L, tmp);
}

/* The norm becomes pure normalisation. */
static void norm_to_identity(const ark_config *c, const float *w, const float *b)
{
    for (int i = 0; i < c->d_model; i++) ((float *)w)[i] = c->norm == ARK_NORM_RMSNORM_1P ? 0.0f : 1.0f;
    if (b) memset((float *)b, 0, sizeof(float) * c->d_model);
}

static void fold_ln(ark_model *m, const scratch *t)
{
    const ark_config *c = &m->cfg;
    float *s = t->vec;
    for (int l = 0; l < c->n_layers; l++) {
        ark_layer_weights *L = &m->layers[l];
        norm_scale(c, L->ln1_w, s);
        fold_into(c, &L->q, s, L->ln1_b, t->acc);
        fold_into(c, &L->k, s, L->ln1_b, t->acc);
        fold_into(c, &L->v, s, L->ln1_b, t->acc);
        const float *mw = c->shared_parallel_norm ? L->ln1_w : L->ln2_w;
        const float *mb = c->shared_parallel_norm ? L->ln1_b : L->ln2_b;
        norm_scale(c, mw, s);
        fold_into(c, &L->up, s, mb, t->acc);
        if (c->mlp == ARK_MLP_GATED) fold_into(c, &L->gate, s, mb, t->acc);
        norm_to_identity(c, L->ln1_w, L->ln1_b);
        if (!c->shared_parallel_norm) norm_to_identity(c, L->ln2_w, L->ln2_b);
    }
    norm_scale(c, m->lnf_w, s);
    fold_into(c, &m->unembed, s, m->lnf_b, t->acc);
    norm_to_identity(c, m->lnf_w, m->lnf_b);
}

static void center_rows(const float *rows, size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++) center_vec((float *)rows + r * d, d);
}

static void center_writing(ark_model *m, const scratch *t)
{
    const ark_config *c = &m->cfg;
    center_rows(m->embed, (size_t)c->d_vocab, (size_t)c->d_model);
    if (m->pos_embed) center_rows(m->pos_embed, (size_t)c->n_ctx, (size_t)c->d_model);
    for (int l = 0; l < c->n_layers; l++) {
        center_over_outputs(&m->layers[l].o, t->acc);
        center_over_outputs(&m->layers[l].down, t->acc);
    }
}

static void fold_value_biases(ark_model *m, const scratch *t)
{
    const ark_config *c = &m->cfg;
    int H = c->n_heads, dh = c->d_head, group = c->n_heads / c->n_kv_heads;
    float *bv = t->vec; /* b_V per query head, (H * dh) */
    for (int l = 0; l < c->n_layers; l++) {
        const ark_layer_weights *L = &m->layers[l];
        for (int h = 0; h < H; h++) memcpy(bv + h * dh, L->v.b + (h / group) * dh, sizeof(float) * dh);
        add_input_to_bias(&L->o, bv, t->acc); /* b_O += sum_h b_V[kv(h)] @ W_O[h] */
        memset(bmut(&L->v), 0, sizeof(float) * L->v.out);
    }
}

ark_status ark_model_process(ark_model *m, unsigned flags)
{
    const ark_config *c = &m->cfg;
    if (flags & ~ARK_PROCESS_ALL)
        return ark_fail(ARK_ERR_ARG, "process flags 0x%x: unknown bits 0x%x (known: ARK_PROCESS_FOLD_LN, "
                        "ARK_PROCESS_CENTER_WRITING, ARK_PROCESS_CENTER_UNEMBED, ARK_PROCESS_FOLD_VALUE_BIASES)",
                        flags, flags & ~ARK_PROCESS_ALL);
    if ((flags & ARK_PROCESS_CENTER_WRITING) && c->norm != ARK_NORM_LAYERNORM)
        return ark_fail(ARK_ERR_UNSUPPORTED, "center-writing: this %s model uses RMSNorm, which does not remove the "
                        "residual stream's mean, so centring the writing weights would change its outputs "
                        "(LayerNorm models only; ask for the other steps without it)", c->family);
    flags &= ~m->processed;
    if (!flags) return ARK_OK;
    size_t n = (size_t)c->d_vocab;
    size_t sides[] = {(size_t)c->d_model, (size_t)c->d_mlp, (size_t)c->n_heads * c->d_head};
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) n = sides[i] > n ? sides[i] : n;
    scratch t = {malloc(sizeof(double) * n), malloc(sizeof(float) * n)};
    ark_status s = t.acc && t.vec ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "processing weights: out of memory");
    /* a failure while copying leaves views equal to the originals */
    if (s == ARK_OK && !m->weights_private) s = privatise(m);
    if (s == ARK_OK) {
        if (flags & ARK_PROCESS_FOLD_LN) fold_ln(m, &t);
        if (flags & ARK_PROCESS_CENTER_WRITING) center_writing(m, &t);
        if (flags & ARK_PROCESS_CENTER_UNEMBED) center_over_outputs(&m->unembed, t.acc);
        /* folding ln1's bias makes value biases again: keep the earlier promise b_V = 0 */
        bool refold = (flags & ARK_PROCESS_FOLD_LN) && (m->processed & ARK_PROCESS_FOLD_VALUE_BIASES);
        if ((flags & ARK_PROCESS_FOLD_VALUE_BIASES) || refold) fold_value_biases(m, &t);
        m->processed |= flags;
    }
    free(t.acc);
    free(t.vec);
    return s;
}

unsigned ark_model_processing(const ark_model *m) { return m->processed; }

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {ARK_PROCESS_FOLD_LN, "fold-ln"},
    {ARK_PROCESS_CENTER_WRITING, "center-writing"},
    {ARK_PROCESS_CENTER_UNEMBED, "center-unembed"},
    {ARK_PROCESS_FOLD_VALUE_BIASES, "fold-value-biases"},
};
#define N_FLAG_NAMES (sizeof flag_names / sizeof flag_names[0])

const char *ark_process_flag_name(unsigned flag)
{
    for (size_t i = 0; i < N_FLAG_NAMES; i++)
        if (flag_names[i].flag == flag) return flag_names[i].name;
    return NULL;
}

ark_status ark_process_parse(const char *list, unsigned *flags)
{
    *flags = 0;
    if (!list || !*list) return ark_fail(ARK_ERR_ARG, "no processing steps given (expected fold-ln, "
                                         "center-writing, center-unembed, fold-value-biases or all)");
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && *p == ' ') { p++; n--; }
        while (n && p[n - 1] == ' ') n--;
        bool found = false;
        if (n == 3 && !strncmp(p, "all", 3)) { *flags |= ARK_PROCESS_ALL; found = true; }
        for (size_t i = 0; !found && i < N_FLAG_NAMES; i++)
            if (strlen(flag_names[i].name) == n && !strncmp(p, flag_names[i].name, n)) {
                *flags |= flag_names[i].flag;
                found = true;
            }
        if (!found)
            return ark_fail(ARK_ERR_ARG, "processing step \"%.*s\" in \"%s\": expected fold-ln, center-writing, "
                            "center-unembed, fold-value-biases or all", (int)n, p, list);
        if (!end) break;
        p = end + 1;
    }
    return ARK_OK;
}
