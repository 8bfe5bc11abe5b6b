/* Weight views, weight processing and factored matrices.
 *
 * Views: on every model folder under fixtures/models (discovered, not
 * listed), each TransformerLens weight reproduces the model's own
 * computation from Hugging Face's reference activations: x @ W_Q[l,h] + b_Q
 * with x = the reference ln1_out is the run's hook_q for head h, and so on
 * for K, V, O, the MLP, the norms, the embeddings and the unembedding.
 * Processing: each step alone and all together leave log-softmax(logits)
 * equal to the reference's.  Factored matrices: SVD, norm and eigenvalues
 * against dense LAPACK on the materialised product; QK / OV circuits
 * against explicit loops.  Tolerance |ours - ref| <= 1e-4 + 1e-4 |ref|. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "model/lapack.h"
#include "testutil.h"

/* messages built with snprintf may be cut short; that is fine */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define ATOL 1e-4
#define RTOL 1e-4

/* ---- helpers ---- */

static void expect_close(const char *what, const float *ours, const float *ref, size_t n)
{
    size_t worst;
    double r = tol_ratio(ours, ref, n, ATOL, RTOL, &worst);
    if (!(r <= 1.0))
        fail_msg("%s: element %zu is %.7g, reference %.7g (%.2fx the tolerance)", what, worst, ours[worst], ref[worst],
                 r);
}


static ark_model *open_model(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("open %s: %s", dir, ark_errmsg());
    return m;
}

/* A reference file with its sequences ("seq0.", "seq1.", ...). */
typedef struct {
    ark_st_file *f;
    char prefix[8][16];
    int n;
    float *bufs[256];
    int n_bufs;
} refs;

static void refs_open(refs *r, const char *dir)
{
    char path[1024];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    assert_int_equal(ark_st_open(path, &r->f), ARK_OK);
    for (int i = 0; i < ark_st_count(r->f) && r->n < 8; i++) {
        const char *name = ark_st_at(r->f, i)->name, *p = strstr(name, "input_ids");
        if (p && !strcmp(p, "input_ids")) snprintf(r->prefix[r->n++], 16, "%.*s", (int)(p - name), name);
    }
    assert_true(r->n > 0);
}

static void refs_close(refs *r)
{
    for (int i = 0; i < r->n_bufs; i++) free(r->bufs[i]);
    ark_st_close(r->f);
}

/* Reference tensor `key` of sequence s as float32 (NULL when absent). */
static const float *ref_get(refs *r, int s, const char *key)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", r->prefix[s], key);
    const ark_st_tensor *t = ark_st_find(r->f, name);
    if (!t) return NULL;
    float *data;
    bool owned;
    assert_int_equal(ark_st_to_f32(r->f, t, &data, &owned), ARK_OK);
    if (owned && r->n_bufs < 256) r->bufs[r->n_bufs++] = data;
    return data;
}

/* The ids of sequence s (batch 1); *T receives the length.  Caller frees. */
static int32_t *ref_ids(refs *r, int s, int *T)
{
    char name[256];
    snprintf(name, sizeof name, "%sinput_ids", r->prefix[s]);
    const ark_st_tensor *t = ark_st_find(r->f, name);
    assert_non_null(t);
    *T = (int)t->numel;
    int32_t *ids = malloc(sizeof *ids * *T);
    for (int i = 0; i < *T; i++) ids[i] = (int32_t)((const int64_t *)t->data)[i];
    return ids;
}

static float *get_w(const ark_model *m, ark_weight w, int layer, int head)
{
    ark_tensor t;
    if (ark_weight_get(m, w, layer, head, &t) != ARK_OK)
        fail_msg("%s layer %d head %d: %s", ark_weight_name(w), layer, head, ark_errmsg());
    return t.data;
}

/* y (n, q) = x (n, p; row stride ldx) W (p, q) + b (q, may be NULL), in double. */
static void affine(const float *x, int n, int p, int ldx, const float *W, const float *b, int q, float *y)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < q; j++) {
            double acc = b ? b[j] : 0;
            for (int k = 0; k < p; k++) acc += (double)x[(size_t)i * ldx + k] * W[(size_t)k * q + j];
            y[(size_t)i * q + j] = (float)acc;
        }
}

static const float *cached(const ark_cache *c, const char *fmt, int layer)
{
    char name[128];
    snprintf(name, sizeof name, fmt, layer);
    const ark_tensor *t = ark_cache_get(c, name);
    if (!t) fail_msg("hook point %s not in the cache", name);
    return t->data;
}

/* The run's activation for head h of a [1, T, heads, dh] hook, as (T, dh). */
static void head_slice(const float *act, int T, int heads, int dh, int h, float *out)
{
    for (int t = 0; t < T; t++) memcpy(out + (size_t)t * dh, act + ((size_t)t * heads + h) * dh, sizeof(float) * dh);
}

/* y = normalise(x) * w + b, per row, as the config's norm (w, b effective). */
static void apply_norm(const ark_config *c, const float *x, int T, const float *w, const float *b, float *y)
{
    int d = c->d_model;
    for (int t = 0; t < T; t++) {
        const float *xi = x + (size_t)t * d;
        double mean = 0, var = 0;
        if (c->norm == ARK_NORM_LAYERNORM) {
            for (int j = 0; j < d; j++) mean += xi[j];
            mean /= d;
        }
        for (int j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
        var /= d;
        for (int j = 0; j < d; j++) y[(size_t)t * d + j] = (float)((xi[j] - mean) / sqrt(var + c->norm_eps) * w[j] + b[j]);
    }
}

/* log-softmax over the last axis of (rows, V). */
static void log_softmax(const float *x, int rows, int V, float *y)
{
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * V;
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < V; j++) mx = xi[j] > mx ? xi[j] : mx;
        for (int j = 0; j < V; j++) s += exp(xi[j] - mx);
        double lse = mx + log(s);
        for (int j = 0; j < V; j++) y[(size_t)i * V + j] = (float)(xi[j] - lse);
    }
}

static ark_cache *run_all(ark_model *m, const int32_t *ids, int T)
{
    ark_plan *plan = ark_plan_new(m);
    ark_plan_keep_all(plan);
    ark_cache *c;
    if (ark_run(m, ids, 1, T, NULL, plan, &c) != ARK_OK) fail_msg("run: %s", ark_errmsg());
    ark_plan_free(plan);
    return c;
}

/* ---- views reproduce the model's computation ---- */

/* q/k/v of every head from x = the reference ln1_out, against the run. */
static void check_qkv(const char *dir, const ark_model *m, const ark_cache *cache, const float *x, int T, int l)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, dh = c->d_head;
    float *y = malloc(sizeof(float) * T * dh), *want = malloc(sizeof(float) * T * dh);
    static const struct { ark_weight w, b; const char *hook; bool kv; } parts[] = {
        {ARK_W_Q, ARK_B_Q, "blocks.%d.attn.hook_q", false},
        {ARK_W_K, ARK_B_K, "blocks.%d.attn.hook_k", true},
        {ARK_W_V, ARK_B_V, "blocks.%d.attn.hook_v", true},
    };
    for (int p = 0; p < 3; p++) {
        int heads = parts[p].kv ? c->n_kv_heads : c->n_heads;
        const float *act = cached(cache, parts[p].hook, l);
        for (int h = 0; h < heads; h++) {
            float *W = get_w(m, parts[p].w, l, h), *b = get_w(m, parts[p].b, l, h);
            affine(x, T, d, d, W, b, dh, y);
            head_slice(act, T, heads, dh, h, want);
            char what[1024];
            snprintf(what, sizeof what, "%s layer %d head %d: x @ %s + %s vs %s", dir, l, h,
                     ark_weight_name(parts[p].w), ark_weight_name(parts[p].b), parts[p].hook);
            expect_close(what, y, want, (size_t)T * dh);
            free(W);
            free(b);
        }
    }
    /* ungrouped K/V: query head h sees kv head h / (H / KV), exactly */
    for (int h = 0; h < c->n_heads; h++) {
        int kvh = h / (c->n_heads / c->n_kv_heads);
        ark_weight ug[] = {ARK_W_K_UNGROUPED, ARK_W_V_UNGROUPED, ARK_B_K_UNGROUPED, ARK_B_V_UNGROUPED};
        ark_weight g[] = {ARK_W_K, ARK_W_V, ARK_B_K, ARK_B_V};
        for (int i = 0; i < 4; i++) {
            float *a = get_w(m, ug[i], l, h), *b = get_w(m, g[i], l, kvh);
            assert_memory_equal(a, b, sizeof(float) * (i < 2 ? d * dh : dh));
            free(a);
            free(b);
        }
    }
    free(y);
    free(want);
}

/* sum_h z_h @ W_O[l,h] + b_O against the reference attn_out. */
static void check_out(const char *dir, const ark_model *m, const ark_cache *cache, const float *ref_attn, int T, int l)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, dh = c->d_head, H = c->n_heads;
    const float *z = cached(cache, "blocks.%d.attn.hook_z", l);
    float *sum = calloc((size_t)T * d, sizeof(float)), *y = malloc(sizeof(float) * T * d);
    float *bO = get_w(m, ARK_B_O, l, -1);
    for (int h = 0; h < H; h++) {
        float *W = get_w(m, ARK_W_O, l, h);
        affine(z + (size_t)h * dh, T, dh, H * dh, W, h == 0 ? bO : NULL, d, y);
        for (size_t i = 0; i < (size_t)T * d; i++) sum[i] += y[i];
        free(W);
    }
    char what[1024];
    snprintf(what, sizeof what, "%s layer %d: sum_h z_h @ W_O + b_O vs attn_out", dir, l);
    expect_close(what, sum, ref_attn, (size_t)T * d);
    free(sum);
    free(y);
    free(bO);
}

/* The MLP from x = the reference ln2_out: hook_pre / hook_pre_linear, and
 * hook_post @ W_out + b_out against the reference mlp_out. */
static void check_mlp(const char *dir, const ark_model *m, const ark_cache *cache, const float *x, const float *ref_out,
                      int T, int l)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, mm = c->d_mlp;
    float *y = malloc(sizeof(float) * T * (mm > d ? mm : d));
    char what[1024];
    float *Win = get_w(m, ARK_W_IN, l, -1), *bin = get_w(m, ARK_B_IN, l, -1);
    affine(x, T, d, d, Win, bin, mm, y);
    bool gated = c->mlp == ARK_MLP_GATED;
    snprintf(what, sizeof what, "%s layer %d: x @ W_in + b_in vs %s", dir, l, gated ? "hook_pre_linear" : "hook_pre");
    expect_close(what, y, cached(cache, gated ? "blocks.%d.mlp.hook_pre_linear" : "blocks.%d.mlp.hook_pre", l),
                 (size_t)T * mm);
    if (gated) {
        float *Wg = get_w(m, ARK_W_GATE, l, -1), *bg = get_w(m, ARK_B_GATE, l, -1);
        affine(x, T, d, d, Wg, bg, mm, y);
        snprintf(what, sizeof what, "%s layer %d: x @ W_gate + b_gate vs hook_pre", dir, l);
        expect_close(what, y, cached(cache, "blocks.%d.mlp.hook_pre", l), (size_t)T * mm);
        free(Wg);
        free(bg);
    } else {
        ark_tensor t;
        assert_int_equal(ark_weight_get(m, ARK_W_GATE, l, -1, &t), ARK_ERR_MISSING);
        assert_non_null(strstr(ark_errmsg(), "not gated"));
    }
    float *Wout = get_w(m, ARK_W_OUT, l, -1), *bout = get_w(m, ARK_B_OUT, l, -1);
    affine(cached(cache, "blocks.%d.mlp.hook_post", l), T, mm, mm, Wout, bout, d, y);
    snprintf(what, sizeof what, "%s layer %d: hook_post @ W_out + b_out vs mlp_out", dir, l);
    expect_close(what, y, ref_out, (size_t)T * d);
    free(y); free(Win); free(bin); free(Wout); free(bout);
}

/* A norm from its effective weight and bias views. */
static void check_norm(const char *dir, const ark_model *m, const float *in, const float *ref_out, int T, int l,
                       ark_weight w, ark_weight b)
{
    const ark_config *c = ark_model_config(m);
    float *wv = get_w(m, w, l, -1), *bv = get_w(m, b, l, -1), *y = malloc(sizeof(float) * T * c->d_model);
    apply_norm(c, in, T, wv, bv, y);
    char what[1024];
    snprintf(what, sizeof what, "%s layer %d: normalise(x) * %s + %s", dir, l, ark_weight_name(w), ark_weight_name(b));
    expect_close(what, y, ref_out, (size_t)T * c->d_model);
    free(wv); free(bv); free(y);
}

/* W_E, W_pos against hidden_states.0; W_U, b_U against the logits. */
static void check_embeddings(const char *dir, const ark_model *m, refs *r, int s, const int32_t *ids, int T)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, V = c->d_vocab, L = c->n_layers;
    float *WE = get_w(m, ARK_W_E, -1, -1), *y = malloc(sizeof(float) * T * (V > d ? V : d));
    ark_tensor pos = {0};
    ark_status ps = ark_weight_get(m, ARK_W_POS, -1, -1, &pos);
    assert_int_equal(ps, c->pos == ARK_POS_LEARNED ? ARK_OK : ARK_ERR_MISSING);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < d; j++)
            y[(size_t)t * d + j] = WE[(size_t)ids[t] * d + j] + (pos.data ? pos.data[(size_t)t * d + j] : 0.0f);
    char what[1024];
    snprintf(what, sizeof what, "%s: W_E[tok] + W_pos[p] vs hidden_states.0", dir);
    expect_close(what, y, ref_get(r, s, "hidden_states.0"), (size_t)T * d);
    float *WU = get_w(m, ARK_W_U, -1, -1), *bU = get_w(m, ARK_B_U, -1, -1);
    affine(ref_get(r, s, "final_norm_out"), T, d, d, WU, bU, V, y);
    snprintf(what, sizeof what, "%s: final_norm_out @ W_U + b_U vs logits", dir);
    expect_close(what, y, ref_get(r, s, "logits"), (size_t)T * V);
    /* the final norm */
    char key[64];
    snprintf(key, sizeof key, "layers.%d.out", L - 1);
    float *w = get_w(m, ARK_LNF_W, -1, -1), *b = get_w(m, ARK_LNF_B, -1, -1);
    apply_norm(c, ref_get(r, s, key), T, w, b, y);
    snprintf(what, sizeof what, "%s: normalise(x) * lnf_w + lnf_b vs final_norm_out", dir);
    expect_close(what, y, ref_get(r, s, "final_norm_out"), (size_t)T * d);
    free(WE); free(y); free(WU); free(bU); free(w); free(b);
    ark_weight_free(&pos);
}

static void views_folder(const char *dir)
{
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    refs r;
    refs_open(&r, dir);
    for (int s = 0; s < r.n; s++) {
        int T;
        int32_t *ids = ref_ids(&r, s, &T);
        ark_cache *cache = run_all(m, ids, T);
        check_embeddings(dir, m, &r, s, ids, T);
        for (int l = 0; l < c->n_layers; l++) {
            char key[64], in_key[64];
            snprintf(key, sizeof key, "layers.%d.ln1_out", l);
            const float *ln1 = ref_get(&r, s, key);
            snprintf(in_key, sizeof in_key, "hidden_states.%d", l);
            check_norm(dir, m, ref_get(&r, s, in_key), ln1, T, l, ARK_LN1_W, ARK_LN1_B);
            check_qkv(dir, m, cache, ln1, T, l);
            snprintf(key, sizeof key, "layers.%d.attn_out", l);
            check_out(dir, m, cache, ref_get(&r, s, key), T, l);
            snprintf(key, sizeof key, "layers.%d.ln2_out", l);
            const float *ln2 = ref_get(&r, s, key);
            if (!c->shared_parallel_norm) {
                if (!c->parallel_residual) snprintf(in_key, sizeof in_key, "layers.%d.resid_mid", l);
                check_norm(dir, m, ref_get(&r, s, in_key), ln2, T, l, ARK_LN2_W, ARK_LN2_B);
            }
            snprintf(key, sizeof key, "layers.%d.mlp_out", l);
            check_mlp(dir, m, cache, ln2 ? ln2 : ln1, ref_get(&r, s, key), T, l);
        }
        ark_cache_free(cache);
        free(ids);
    }
    refs_close(&r);
    ark_model_free(m);
    printf("  %-60s views reproduce the reference\n", dir);
}

/* Stacked, per-layer and per-head reads agree; shapes; errors. */
static void layout_folder(const char *dir)
{
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    for (int wi = 0; wi < ARK_N_WEIGHTS; wi++) {
        ark_weight w = (ark_weight)wi;
        ark_weight back;
        assert_int_equal(ark_weight_find(ark_weight_name(w), &back), ARK_OK);
        assert_int_equal(back, w);
        int nd;
        int64_t shape[ARK_MAX_DIMS];
        ark_status st = ark_weight_shape(m, w, -1, -1, &nd, shape);
        if (st != ARK_OK) {
            assert_int_equal(st, ARK_ERR_MISSING);
            bool expected = (w == ARK_W_POS && c->pos != ARK_POS_LEARNED) ||
                            ((w == ARK_W_GATE || w == ARK_B_GATE) && c->mlp != ARK_MLP_GATED) ||
                            ((w == ARK_LN2_W || w == ARK_LN2_B) && c->shared_parallel_norm);
            if (!expected) fail_msg("%s %s: %s", dir, ark_weight_name(w), ark_errmsg());
            continue;
        }
        float *all = get_w(m, w, -1, -1);
        bool global = w == ARK_W_E || w == ARK_W_POS || w == ARK_W_U || w == ARK_B_U || w == ARK_LNF_W ||
                      w == ARK_LNF_B;
        if (global) {
            assert_int_equal(ark_weight_shape(m, w, 0, -1, &nd, shape), ARK_ERR_ARG);
            free(all);
            continue;
        }
        assert_int_equal(shape[0], c->n_layers);
        int64_t per_layer = 1;
        for (int i = 1; i < nd; i++) per_layer *= shape[i];
        bool per_head = nd >= 3 && w != ARK_W_IN && w != ARK_W_GATE && w != ARK_W_OUT;
        for (int l = 0; l < c->n_layers; l++) {
            float *lay = get_w(m, w, l, -1);
            assert_memory_equal(lay, all + l * per_layer, sizeof(float) * per_layer);
            for (int h = 0; per_head && h < shape[1]; h++) {
                float *hd = get_w(m, w, l, h);
                assert_memory_equal(hd, lay + h * (per_layer / shape[1]), sizeof(float) * (per_layer / shape[1]));
                free(hd);
            }
            if (per_head) assert_int_equal(ark_weight_shape(m, w, l, (int)shape[1], &nd, shape), ARK_ERR_ARG);
            else assert_int_equal(ark_weight_shape(m, w, l, 0, &nd, shape), ARK_ERR_ARG);
            free(lay);
        }
        assert_int_equal(ark_weight_shape(m, w, c->n_layers, -1, &nd, shape), ARK_ERR_ARG);
        assert_int_equal(ark_weight_shape(m, w, -1, 0, &nd, shape), ARK_ERR_ARG);
        free(all);
    }
    /* shapes of a few, TL's conventions */
    int nd;
    int64_t s[ARK_MAX_DIMS];
    assert_int_equal(ark_weight_shape(m, ARK_W_K, -1, -1, &nd, s), ARK_OK);
    assert_int_equal(nd, 4);
    assert_true(s[0] == c->n_layers && s[1] == c->n_kv_heads && s[2] == c->d_model && s[3] == c->d_head);
    assert_int_equal(ark_weight_shape(m, ARK_W_O, 0, 1, &nd, s), ARK_OK);
    assert_true(nd == 2 && s[0] == c->d_head && s[1] == c->d_model);
    assert_int_equal(ark_weight_shape(m, ARK_W_U, -1, -1, &nd, s), ARK_OK);
    assert_true(nd == 2 && s[0] == c->d_model && s[1] == c->d_vocab);
    ark_weight w;
    assert_int_equal(ark_weight_find("W_X", &w), ARK_ERR_MISSING);
    ark_model_free(m);
}

static void test_views(void **state)
{
    (void)state;
    char dirs[64][512];
    int n = fixture_folders("models", dirs, 64);
    for (int i = 0; i < n; i++) {
        layout_folder(dirs[i]);
        views_folder(dirs[i]);
    }
}

/* ---- processing ---- */

static bool all_equal(const float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != v) return false;
    return true;
}

/* |mean| of each row of (rows, cols) stays within eps of 0 */
static void expect_centred_rows(const char *what, const float *x, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++) {
        double mean = 0, mag = 0;
        for (size_t j = 0; j < cols; j++) { mean += x[r * cols + j]; mag += fabs(x[r * cols + j]); }
        mean /= cols;
        mag /= cols;
        if (fabs(mean) > 1e-6 * (1 + mag)) fail_msg("%s: row %zu has mean %g", what, r, mean);
    }
}

/* What each step promises about the weights afterwards. */
static void check_processed_weights(const char *dir, const ark_model *m, unsigned flags)
{
    const ark_config *c = ark_model_config(m);
    size_t L = c->n_layers, d = c->d_model, V = c->d_vocab, dh = c->d_head;
    char what[1024];
    if (flags & ARK_PROCESS_FOLD_LN) {
        ark_weight ws[] = {ARK_LN1_W, ARK_LN2_W, ARK_LNF_W}, bs[] = {ARK_LN1_B, ARK_LN2_B, ARK_LNF_B};
        for (int i = 0; i < 3; i++) {
            if (i == 1 && c->shared_parallel_norm) continue;
            float *w = get_w(m, ws[i], -1, -1), *b = get_w(m, bs[i], -1, -1);
            size_t n = i == 2 ? d : L * d;
            if (!all_equal(w, n, 1.0f) || !all_equal(b, n, 0.0f))
                fail_msg("%s: after fold-ln %s / %s are not the identity", dir, ark_weight_name(ws[i]),
                         ark_weight_name(bs[i]));
            free(w);
            free(b);
        }
    }
    if (flags & ARK_PROCESS_CENTER_WRITING) {
        float *WE = get_w(m, ARK_W_E, -1, -1), *WO = get_w(m, ARK_W_O, -1, -1), *bO = get_w(m, ARK_B_O, -1, -1);
        float *Wout = get_w(m, ARK_W_OUT, -1, -1), *bout = get_w(m, ARK_B_OUT, -1, -1);
        snprintf(what, sizeof what, "%s center-writing W_E", dir);
        expect_centred_rows(what, WE, V, d);
        snprintf(what, sizeof what, "%s center-writing W_O", dir);
        expect_centred_rows(what, WO, L * c->n_heads * dh, d);
        snprintf(what, sizeof what, "%s center-writing b_O", dir);
        expect_centred_rows(what, bO, L, d);
        snprintf(what, sizeof what, "%s center-writing W_out", dir);
        expect_centred_rows(what, Wout, L * c->d_mlp, d);
        snprintf(what, sizeof what, "%s center-writing b_out", dir);
        expect_centred_rows(what, bout, L, d);
        free(WE); free(WO); free(bO); free(Wout); free(bout);
    }
    if (flags & ARK_PROCESS_CENTER_UNEMBED) {
        float *WU = get_w(m, ARK_W_U, -1, -1), *bU = get_w(m, ARK_B_U, -1, -1);
        snprintf(what, sizeof what, "%s center-unembed W_U", dir);
        expect_centred_rows(what, WU, d, V);
        snprintf(what, sizeof what, "%s center-unembed b_U", dir);
        expect_centred_rows(what, bU, 1, V);
        free(WU);
        free(bU);
    }
    if (flags & ARK_PROCESS_FOLD_VALUE_BIASES) {
        float *bV = get_w(m, ARK_B_V, -1, -1);
        if (!all_equal(bV, L * c->n_kv_heads * dh, 0.0f)) fail_msg("%s: b_V not zero after fold-value-biases", dir);
        free(bV);
    }
}

/* After processing, the views still reproduce the processed model's own
 * run: q from ln1.hook_normalized, attn_out from hook_z. */
static void check_views_on_run(const char *dir, const ark_model *m, const ark_cache *cache, int T)
{
    const ark_config *c = ark_model_config(m);
    for (int l = 0; l < c->n_layers; l++) {
        check_qkv(dir, m, cache, cached(cache, "blocks.%d.ln1.hook_normalized", l), T, l);
        check_out(dir, m, cache, cached(cache, "blocks.%d.hook_attn_out", l), T, l);
    }
}

/* Log-probabilities of the processed model against the reference logits'
 * (ref_lp: (T, V) per sequence, or NULL to read them from the reference). */
static void expect_logprobs(const char *dir, ark_model *m, refs *r, unsigned flags)
{
    const ark_config *c = ark_model_config(m);
    int V = c->d_vocab;
    for (int s = 0; s < r->n; s++) {
        int T;
        int32_t *ids = ref_ids(r, s, &T);
        ark_cache *cache = run_all(m, ids, T);
        float *ours = malloc(sizeof(float) * T * V), *ref = malloc(sizeof(float) * T * V);
        log_softmax(ark_cache_logits(cache)->data, T, V, ours);
        log_softmax(ref_get(r, s, "logits"), T, V, ref);
        char what[1024];
        snprintf(what, sizeof what, "%s %slog_softmax(logits) after processing 0x%x", dir, r->prefix[s], flags);
        expect_close(what, ours, ref, (size_t)T * V);
        if (flags == ark_model_processing(m) && s == 0) check_views_on_run(dir, m, cache, T);
        free(ours);
        free(ref);
        ark_cache_free(cache);
        free(ids);
    }
}

static void process_folder(const char *dir)
{
    static const unsigned cases[] = {ARK_PROCESS_FOLD_LN, ARK_PROCESS_CENTER_WRITING, ARK_PROCESS_CENTER_UNEMBED,
                                     ARK_PROCESS_FOLD_VALUE_BIASES, ARK_PROCESS_ALL};
    refs r;
    refs_open(&r, dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ark_model *m = open_model(dir);
        const ark_config *c = ark_model_config(m);
        unsigned flags = cases[i];
        if (c->norm != ARK_NORM_LAYERNORM && (flags & ARK_PROCESS_CENTER_WRITING)) {
            /* refused before anything changes */
            assert_int_equal(ark_model_process(m, flags), ARK_ERR_UNSUPPORTED);
            assert_non_null(strstr(ark_errmsg(), "RMSNorm"));
            assert_int_equal(ark_model_processing(m), 0);
            flags &= ~ARK_PROCESS_CENTER_WRITING;
            if (!flags) { ark_model_free(m); continue; }
        }
        if (ark_model_process(m, flags) != ARK_OK) fail_msg("%s process 0x%x: %s", dir, flags, ark_errmsg());
        assert_int_equal(ark_model_processing(m), flags);
        check_processed_weights(dir, m, flags);
        expect_logprobs(dir, m, &r, flags);
        ark_model_free(m);
    }
    /* one step at a time, in reverse order, reaches the same place */
    ark_model *m = open_model(dir);
    unsigned want = 0;
    for (int i = 3; i >= 0; i--) {
        unsigned f = 1u << i;
        if (f == ARK_PROCESS_CENTER_WRITING && ark_model_config(m)->norm != ARK_NORM_LAYERNORM) continue;
        assert_int_equal(ark_model_process(m, f), ARK_OK);
        want |= f;
        assert_int_equal(ark_model_process(m, f), ARK_OK); /* again: a no-op */
    }
    assert_int_equal(ark_model_processing(m), want);
    check_processed_weights(dir, m, want);
    expect_logprobs(dir, m, &r, want);
    assert_int_equal(ark_model_process(m, 0x100), ARK_ERR_ARG);
    ark_model_free(m);
    refs_close(&r);
    printf("  %-60s processing keeps log-probabilities\n", dir);
}

static void test_processing(void **state)
{
    (void)state;
    char dirs[64][512];
    int n = fixture_folders("models", dirs, 64);
    for (int i = 0; i < n; i++) process_folder(dirs[i]);
}

/* Models the fixtures lack (a parallel block with one shared norm, biases
 * on every projection, tied embeddings stored as F16), built with
 * ark_model_init_folder and given random norms and biases; the processed
 * model's log-probabilities against the unprocessed model's own. */
static void perturb_constants(const char *dir, ark_dtype dtype)
{
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s/perturbed.safetensors", dir);
    ark_st_file *f;
    assert_int_equal(ark_st_open(path, &f), ARK_OK);
    ark_st_writer *w = ark_st_writer_new();
    float *bufs[512];
    int nb = 0;
    uint64_t seed = 12345;
    for (int i = 0; i < ark_st_count(f) && nb < 512; i++) {
        const ark_st_tensor *t = ark_st_at(f, i);
        float *data;
        bool owned;
        assert_int_equal(ark_st_to_f32(f, t, &data, &owned), ARK_OK);
        float *copy = malloc(sizeof(float) * t->numel);
        memcpy(copy, data, sizeof(float) * t->numel);
        if (owned) free(data);
        /* norm weights and biases are initialised constant: make them random */
        if (all_equal(copy, (size_t)t->numel, copy[0]))
            for (int64_t j = 0; j < t->numel; j++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                copy[j] += (float)((double)(seed >> 11) / 9007199254740992.0 - 0.5) * 0.4f;
            }
        bufs[nb++] = copy;
        assert_int_equal(ark_st_writer_add_f32(w, t->name, dtype, copy, t->ndim, t->shape), ARK_OK);
    }
    assert_int_equal(ark_st_writer_save(w, tmp), ARK_OK);
    ark_st_writer_free(w);
    ark_st_close(f);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    assert_int_equal(rename(tmp, path), 0);
}

static void synthetic_case(const char *family, int n, const char *const *keys, const char *const *vals, ark_dtype dt)
{
    char *json;
    assert_int_equal(ark_config_build(family, n, keys, vals, &json), ARK_OK);
    const char *dir = scratch_dir(family);
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    assert_int_equal(ark_model_init_folder(json, 7, dt, d), ARK_OK);
    free(json);
    perturb_constants(d, dt);
    ark_model *base = open_model(d);
    const ark_config *c = ark_model_config(base);
    int T = 11, V = c->d_vocab;
    int32_t ids[11];
    for (int t = 0; t < T; t++) ids[t] = (int32_t)((t * 37 + 5) % V);
    ark_cache *ref_c = run_all(base, ids, T);
    float *ref = malloc(sizeof(float) * T * V), *ours = malloc(sizeof(float) * T * V);
    log_softmax(ark_cache_logits(ref_c)->data, T, V, ref);
    for (unsigned f = 1; f <= ARK_PROCESS_ALL; f++) {
        if ((f & ARK_PROCESS_CENTER_WRITING) && c->norm != ARK_NORM_LAYERNORM) continue;
        ark_model *m = open_model(d);
        if (ark_model_process(m, f) != ARK_OK) fail_msg("%s process 0x%x: %s", family, f, ark_errmsg());
        check_processed_weights(family, m, f);
        ark_cache *cache = run_all(m, ids, T);
        log_softmax(ark_cache_logits(cache)->data, T, V, ours);
        char what[200];
        snprintf(what, sizeof what, "synthetic %s (%s) process 0x%x", family, ark_dtype_name(dt), f);
        expect_close(what, ours, ref, (size_t)T * V);
        check_views_on_run(what, m, cache, T);
        ark_cache_free(cache);
        ark_model_free(m);
    }
    printf("  synthetic %-12s %s: every combination of steps keeps log-probabilities\n", family, ark_dtype_name(dt));
    free(ref);
    free(ours);
    ark_cache_free(ref_c);
    ark_model_free(base);
}

static void test_processing_synthetic(void **state)
{
    (void)state;
    const char *small_k[] = {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                             "num_attention_heads", "num_key_value_heads", "max_position_embeddings"};
    const char *small_v[] = {"97", "32", "48", "2", "4", "2", "64"};
    {
        const char *k[9], *v[9];
        memcpy(k, small_k, sizeof small_k); memcpy(v, small_v, sizeof small_v);
        k[7] = "use_parallel_residual"; v[7] = "true";
        k[8] = "use_qkv_bias"; v[8] = "true";
        synthetic_case("stablelm", 9, k, v, ARK_F32);
    }
    {
        const char *k[10], *v[10];
        memcpy(k, small_k, sizeof small_k); memcpy(v, small_v, sizeof small_v);
        k[7] = "attention_bias"; v[7] = "true";
        k[8] = "mlp_bias"; v[8] = "true";
        k[9] = "tie_word_embeddings"; v[9] = "true";
        synthetic_case("llama", 10, k, v, ARK_F32);
    }
    {
        const char *k[] = {"vocab_size", "n_embd", "n_layer", "n_head", "n_positions"};
        const char *v[] = {"97", "32", "2", "4", "64"};
        synthetic_case("gpt2", 5, k, v, ARK_F16);
    }
    {
        const char *k[] = {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                           "num_attention_heads", "max_position_embeddings", "use_parallel_residual"};
        const char *v[] = {"97", "32", "48", "2", "4", "64", "false"};
        synthetic_case("gpt_neox", 7, k, v, ARK_BF16);
    }
}

static void test_process_names(void **state)
{
    (void)state;
    unsigned f;
    assert_int_equal(ark_process_parse("fold-ln, center-unembed", &f), ARK_OK);
    assert_int_equal(f, ARK_PROCESS_FOLD_LN | ARK_PROCESS_CENTER_UNEMBED);
    assert_int_equal(ark_process_parse("all", &f), ARK_OK);
    assert_int_equal(f, ARK_PROCESS_ALL);
    assert_int_equal(ark_process_parse("fold-ln,center-writing,center-unembed,fold-value-biases", &f), ARK_OK);
    assert_int_equal(f, ARK_PROCESS_ALL);
    assert_int_equal(ark_process_parse("fold-ln,fold_ln", &f), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "fold_ln"));
    assert_int_equal(ark_process_parse("", &f), ARK_ERR_ARG);
    assert_int_equal(ark_process_parse("fold-ln,,center-unembed", &f), ARK_ERR_ARG);
    for (int i = 0; i < 4; i++) {
        unsigned g;
        assert_int_equal(ark_process_parse(ark_process_flag_name(1u << i), &g), ARK_OK);
        assert_int_equal(g, 1u << i);
    }
    assert_null(ark_process_flag_name(3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_processing),
        cmocka_unit_test(test_processing_synthetic),
        cmocka_unit_test(test_process_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
