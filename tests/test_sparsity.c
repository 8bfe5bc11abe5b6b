/* Sparsity statistics, top-k examples, dead neurons, model surgery and
 * magnitude pruning (include/arrakis/tool_sparsity.h, tool_surgery.h).
 *
 * References are computed here, independently of the code under test: a
 * brute-force sort of every collected activation for the top-k examples,
 * two-pass double-precision moments for density and kurtosis, the fixture
 * models' own outputs (identical logits) for the surgery round trips, and
 * the original weights for pruning. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_sparsity.h"
#include "arrakis/tool_surgery.h"
#include "testutil.h"

static int list_models(char dirs[][512], int cap)
{
    int n = fixture_folders("models", dirs, cap);
    assert_true(n >= 9);
    return n;
}

static ark_model *open_model(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("open %s: %s", dir, ark_errmsg());
    return m;
}

/* A dataset of n prompts of lengths 2..(2+span) over the vocabulary; every
 * third one starts with token 5 (exact ties at position 0). */
static ark_dataset *random_dataset(int n, int span, int V, unsigned seed)
{
    int32_t *rows[64];
    int lens[64];
    srand(seed);
    for (int i = 0; i < n; i++) {
        lens[i] = 2 + rand() % span;
        rows[i] = malloc(sizeof(int32_t) * lens[i]);
        for (int t = 0; t < lens[i]; t++) rows[i][t] = rand() % V;
        if (i % 3 == 0) rows[i][0] = 5;
    }
    ark_dataset *d;
    assert_int_equal(ark_dataset_from_rows((const int32_t *const *)rows, lens, n, &d), ARK_OK);
    for (int i = 0; i < n; i++) free(rows[i]);
    return d;
}

/* ---- every activation, collected ---- */

typedef struct all_rows {
    float *act;
    int *prompt, *pos;
    int32_t *token;
    int n, cap, width;
} all_rows;

static ark_status collect(const ark_act_rows *r, void *ctx)
{
    all_rows *a = ctx;
    a->width = r->width;
    if (a->n + r->n > a->cap) {
        a->cap = 2 * (a->n + r->n);
        a->act = realloc(a->act, sizeof(float) * (size_t)a->cap * r->width);
        a->prompt = realloc(a->prompt, sizeof(int) * a->cap);
        a->pos = realloc(a->pos, sizeof(int) * a->cap);
        a->token = realloc(a->token, sizeof(int32_t) * a->cap);
    }
    memcpy(a->act + (size_t)a->n * r->width, r->act, sizeof(float) * (size_t)r->n * r->width);
    memcpy(a->prompt + a->n, r->prompt, sizeof(int) * r->n);
    memcpy(a->pos + a->n, r->pos, sizeof(int) * r->n);
    memcpy(a->token + a->n, r->token, sizeof(int32_t) * r->n);
    a->n += r->n;
    return ARK_OK;
}

static void all_rows_free(all_rows *a) { free(a->act); free(a->prompt); free(a->pos); free(a->token); }

static const all_rows *g_rows;
static int g_unit;
static int by_act(const void *x, const void *y)
{
    int i = *(const int *)x, j = *(const int *)y, w = g_rows->width;
    float a = g_rows->act[(size_t)i * w + g_unit], b = g_rows->act[(size_t)j * w + g_unit];
    if (a != b) return a > b ? -1 : 1;
    if (g_rows->prompt[i] != g_rows->prompt[j]) return g_rows->prompt[i] < g_rows->prompt[j] ? -1 : 1;
    return g_rows->pos[i] < g_rows->pos[j] ? -1 : g_rows->pos[i] > g_rows->pos[j];
}

/* Statistics and top-k of one hook point against the brute-force references. */
static void check_stats(ark_model *m, const ark_dataset *d, const char *hook, int K)
{
    ark_stream_opts so = ARK_STREAM_OPTS_INIT;
    so.batch = 3; /* several batches, with padding */
    all_rows a = {0};
    assert_int_equal(ark_stream_acts(m, d, hook, &so, collect, &a), ARK_OK);
    ark_sparsity_opts o = ARK_SPARSITY_OPTS_INIT;
    o.top_k = K;
    ark_sparsity s;
    if (ark_sparsity_compute(m, d, hook, &so, &o, &s) != ARK_OK) fail_msg("%s: %s", hook, ark_errmsg());
    assert_int_equal(s.width, a.width);
    assert_int_equal(s.n_tokens, a.n);
    int *idx = malloc(sizeof(int) * a.n), w = a.width;
    double l0 = 0;
    for (int t = 0; t < a.n; t++)
        for (int j = 0; j < w; j++) l0 += a.act[(size_t)t * w + j] > 0;
    assert_true(fabs(s.l0_mean - l0 / a.n) < 1e-9);
    for (int j = 0; j < w; j++) {
        double mean = 0, m2 = 0, m4 = 0, fired = 0;
        for (int t = 0; t < a.n; t++) { double x = a.act[(size_t)t * w + j]; mean += x; fired += x > 0; }
        mean /= a.n;
        for (int t = 0; t < a.n; t++) { double e = a.act[(size_t)t * w + j] - mean; m2 += e * e; m4 += e * e * e * e; }
        assert_true(fabs(s.density[j] - fired / a.n) < 1e-12);
        assert_true(fabs(s.mean[j] - mean) <= 1e-9 + 1e-9 * fabs(mean));
        if (m2 > 1e-12 * a.n) {
            double kurt = a.n * m4 / (m2 * m2) - 3.0;
            if (!(fabs(s.kurtosis[j] - kurt) <= 1e-6 + 1e-6 * fabs(kurt))) fail_msg("%s unit %d: kurtosis %g, want %g", hook, j, s.kurtosis[j], kurt);
        }
        /* top-k: the first K of every (prompt, position) sorted by (act desc, prompt, position) */
        for (int t = 0; t < a.n; t++) idx[t] = t;
        g_rows = &a;
        g_unit = j;
        qsort(idx, (size_t)a.n, sizeof(int), by_act);
        int want = a.n < K ? a.n : K;
        assert_int_equal(s.n_top[j], want);
        for (int r = 0; r < want; r++) {
            const ark_example *e = &s.top[(size_t)j * K + r];
            int t = idx[r];
            if (e->prompt != a.prompt[t] || e->pos != a.pos[t] || e->act != a.act[(size_t)t * w + j])
                fail_msg("%s unit %d rank %d: (%d, %d, %g), brute force (%d, %d, %g)", hook, j, r, e->prompt, e->pos,
                         (double)e->act, a.prompt[t], a.pos[t], (double)a.act[(size_t)t * w + j]);
            assert_int_equal(e->token, a.token[t]);
        }
    }
    free(idx);
    ark_sparsity_free(&s);
    all_rows_free(&a);
}

static void test_stats_brute_force(void **state)
{
    (void)state;
    char dirs[16][512];
    int n = list_models(dirs, 16);
    for (int i = 0; i < n; i++) {
        ark_model *m = open_model(dirs[i]);
        ark_dataset *d = random_dataset(10, 12, ark_model_config(m)->d_vocab, 7u + (unsigned)i);
        check_stats(m, d, "blocks.1.mlp.hook_post", 5);
        check_stats(m, d, "blocks.0.hook_resid_post", 3);
        ark_dataset_free(d);
        ark_model_free(m);
    }
}

/* Zeroed input weights make exactly those neurons dead, in every family. */
static void test_dead_neurons(void **state)
{
    (void)state;
    char dirs[16][512];
    int n = list_models(dirs, 16);
    static const int chosen[] = {0, 17, 42, 100};
    for (int i = 0; i < n; i++) {
        ark_model *m = open_model(dirs[i]);
        ark_dataset *d = random_dataset(12, 20, ark_model_config(m)->d_vocab, 99u);
        ark_surgery *s;
        assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
        for (size_t k = 0; k < sizeof chosen / sizeof chosen[0]; k++)
            assert_int_equal(ark_surgery_zero_neuron(s, 1, chosen[k], ARK_NEURON_IN), ARK_OK);
        ark_sparsity st;
        assert_int_equal(ark_sparsity_compute(m, d, "blocks.1.mlp.hook_post", NULL, NULL, &st), ARK_OK);
        if (st.n_dead != 4) fail_msg("%s: %d dead neurons, want 4", dirs[i], st.n_dead);
        for (int k = 0; k < 4; k++) {
            assert_int_equal(st.dead[k], chosen[k]);
            assert_true(st.max_act[chosen[k]] == 0.0f); /* exactly act(0) = 0 */
            assert_int_equal(st.constant[k], chosen[k]);
        }
        assert_int_equal(st.n_constant, 4);
        ark_sparsity_free(&st);
        ark_surgery_restore(s);
        assert_int_equal(ark_sparsity_compute(m, d, "blocks.1.mlp.hook_post", NULL, NULL, &st), ARK_OK);
        assert_int_equal(st.n_dead, 0);
        ark_sparsity_free(&st);
        ark_dataset_free(d);
        ark_model_free(m);
    }
}

/* ---- surgery ---- */

static float *logits(ark_model *m, const int32_t *tok, int T, size_t *n)
{
    ark_cache *c;
    if (ark_run(m, tok, 1, T, NULL, NULL, &c) != ARK_OK) fail_msg("run: %s", ark_errmsg());
    const ark_tensor *t = ark_cache_logits(c);
    *n = (size_t)ark_tensor_numel(t);
    float *out = malloc(sizeof(float) * *n);
    memcpy(out, t->data, sizeof(float) * *n);
    ark_cache_free(c);
    return out;
}

static void assert_same(const float *a, const float *b, size_t n, const char *what, const char *dir)
{
    if (memcmp(a, b, sizeof(float) * n)) fail_msg("%s: %s: logits differ", dir, what);
}

static void surgery_folder(const char *dir)
{
    static const int32_t tok[] = {3, 17, 5, 99, 250, 1, 42, 7, 300, 11, 12, 13};
    int T = 12;
    size_t n, n2;
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    float *ref = logits(m, tok, T, &n), *got;
    ark_surgery *s;
    /* delete a layer and restore */
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    ark_surgery *again;
    assert_int_equal(ark_surgery_begin(m, &again), ARK_ERR_ARG);
    assert_int_equal(ark_surgery_delete_layer(s, 1), ARK_OK);
    assert_int_equal(c->n_layers, 1);
    got = logits(m, tok, T, &n2);
    assert_true(memcmp(got, ref, sizeof(float) * n) != 0);
    free(got);
    assert_int_equal(ark_surgery_delete_layer(s, 0), ARK_ERR_ARG); /* one must remain */
    ark_surgery_restore(s);
    assert_int_equal(c->n_layers, 2);
    got = logits(m, tok, T, &n2);
    assert_same(got, ref, n, "delete + restore", dir);
    free(got);
    /* identity permutation, and every edit, restored */
    int ident[2] = {0, 1};
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    assert_int_equal(ark_surgery_permute_layers(s, ident, 2), ARK_OK);
    got = logits(m, tok, T, &n2);
    assert_same(got, ref, n, "identity permutation", dir);
    free(got);
    int swap[2] = {1, 0};
    assert_int_equal(ark_surgery_permute_layers(s, swap, 2), ARK_OK);
    assert_int_equal(ark_surgery_zero_head(s, 0, 1), ARK_OK);
    assert_int_equal(ark_surgery_merge_heads(s, 1, 0, 1, 0.3f), ARK_OK);
    assert_int_equal(ark_surgery_zero_neuron(s, 1, 5, ARK_NEURON_IN | ARK_NEURON_OUT), ARK_OK);
    assert_int_equal(ark_surgery_replace_layer(s, 0, NULL, 1), ARK_OK);
    assert_int_equal(ark_surgery_zero_head(s, 0, c->n_heads), ARK_ERR_ARG);
    assert_int_equal(ark_surgery_edit_count(s), 6);
    float *edited = logits(m, tok, T, &n2);
    int ew[2] = {c->window[0], c->window[1]}; /* gpt_neo: local and global swapped */
    /* the written folder reloads to the same model */
    const char *out = scratch_dir("surgery");
    if (ark_model_save_folder(m, out) != ARK_OK) fail_msg("%s: save: %s", dir, ark_errmsg());
    ark_surgery_restore(s);
    got = logits(m, tok, T, &n2);
    assert_same(got, ref, n, "edits + restore", dir);
    free(got);
    ark_model *w = open_model(out);
    assert_int_equal(ark_model_config(w)->n_layers, 2);
    for (int l = 0; l < 2; l++) {
        assert_int_equal(ark_model_config(w)->window[l], ew[l]);
    }
    assert_int_equal(ew[1], c->window[0]); /* swapped, then layer 0 replaced by a copy of (old) layer 0 */
    {
    }
    got = logits(w, tok, T, &n2);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - edited[i]));
    if (worst != 0) fail_msg("%s: the written folder's logits differ from the edited model's by %g", dir, worst);
    free(got);
    ark_model_free(w);
    /* a deleted layer written out: a one-layer folder */
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    assert_int_equal(ark_surgery_delete_layer(s, 0), ARK_OK);
    float *one = logits(m, tok, T, &n2);
    out = scratch_dir("surgery_del");
    assert_int_equal(ark_model_save_folder(m, out), ARK_OK);
    ark_surgery_commit(s); /* the edit stays in m */
    w = open_model(out);
    assert_int_equal(ark_model_config(w)->n_layers, 1);
    got = logits(w, tok, T, &n2);
    assert_same(got, one, n, "deleted layer, written", dir);
    free(got);
    got = logits(m, tok, T, &n2);
    assert_same(got, one, n, "deleted layer, committed", dir);
    free(got);
    ark_model_free(w);
    free(one);
    free(edited);
    free(ref);
    ark_model_free(m);
}

static void test_surgery_round_trips(void **state)
{
    (void)state;
    char dirs[16][512];
    int n = list_models(dirs, 16);
    for (int i = 0; i < n; i++) surgery_folder(dirs[i]);
}

/* Families that derive per-layer settings from the index are refused. */
static void test_surgery_refusals(void **state)
{
    (void)state;
    const char *keys[] = {"n_layer", "n_embd", "n_head", "vocab_size", "n_positions", "scale_attn_by_inverse_layer_idx"};
    const char *vals[] = {"2", "16", "2", "32", "16", "true"};
    char *cfg;
    assert_int_equal(ark_config_build("gpt2", 6, keys, vals, &cfg), ARK_OK);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", scratch_dir("inv_layer"));
    assert_int_equal(ark_model_init_folder(cfg, 1, ARK_F32, dir), ARK_OK);
    free(cfg);
    ark_model *m = open_model(dir);
    ark_surgery *s;
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    int swap[2] = {1, 0};
    assert_int_equal(ark_surgery_permute_layers(s, swap, 2), ARK_OK);
    assert_int_equal(ark_model_save_folder(m, scratch_dir("inv_layer_out")), ARK_ERR_UNSUPPORTED);
    assert_non_null(strstr(ark_errmsg(), "layer index"));
    assert_int_equal(ark_model_save_folder(m, dir), ARK_ERR_UNSUPPORTED);
    int bad[1] = {2};
    assert_int_equal(ark_surgery_permute_layers(s, bad, 1), ARK_ERR_ARG);
    ark_surgery_restore(s);
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    assert_int_equal(ark_surgery_zero_head(s, 0, 0), ARK_OK);
    assert_int_equal(ark_model_save_folder(m, dir), ARK_ERR_ARG); /* its own folder */
    ark_surgery_restore(s);
    ark_model_free(m);
    /* GQA: merging heads of different kv heads is refused */
    m = open_model(fixture_path("models/llama"));
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    assert_int_equal(ark_surgery_merge_heads(s, 0, 0, 3, 0.5f), ARK_ERR_UNSUPPORTED);
    assert_int_equal(ark_surgery_merge_heads(s, 0, 0, 1, 0.5f), ARK_OK);
    assert_int_equal(ark_surgery_merge_heads(s, 0, 2, 2, 0.5f), ARK_ERR_ARG);
    ark_surgery_restore(s);
    ark_model_free(m);
}

/* ---- pruning ---- */

static int cmp_float(const void *a, const void *b) { float x = *(const float *)a, y = *(const float *)b; return (x > y) - (x < y); }

static void test_prune(void **state)
{
    (void)state;
    ark_model *m = open_model(fixture_path("models/gpt2"));
    const ark_config *c = ark_model_config(m);
    size_t n = (size_t)c->d_model * c->d_mlp;
    float *orig = malloc(sizeof(float) * n * 2), *now = malloc(sizeof(float) * n);
    assert_int_equal(ark_weight_read(m, ARK_W_IN, 0, -1, orig), ARK_OK);
    assert_int_equal(ark_weight_read(m, ARK_W_IN, 1, -1, orig + n), ARK_OK);
    ark_surgery *s;
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    ark_weight ws[1] = {ARK_W_IN};
    ark_prune_spec spec = {0.3, ws, 1, NULL, 0, false};
    ark_prune_result r;
    assert_int_equal(ark_surgery_prune(s, &spec, &r), ARK_OK);
    size_t k = (size_t)llround(0.3 * n);
    assert_int_equal(r.n_pruned, 2 * (int64_t)k);
    assert_int_equal(r.n_matrices, 2);
    for (int l = 0; l < 2; l++) {
        assert_int_equal(ark_weight_read(m, ARK_W_IN, l, -1, now), ARK_OK);
        float *mag = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++) mag[i] = fabsf(orig[l * n + i]);
        qsort(mag, n, sizeof(float), cmp_float);
        size_t zeros = 0;
        for (size_t i = 0; i < n; i++) {
            if (now[i] == 0.0f) { zeros++; assert_true(fabsf(orig[l * n + i]) <= mag[k - 1]); }
            else { assert_true(now[i] == orig[l * n + i]); assert_true(fabsf(now[i]) >= mag[k - 1]); }
        }
        assert_int_equal(zeros, k);
        free(mag);
    }
    /* global: one threshold over both layers */
    ark_surgery_restore(s);
    assert_int_equal(ark_surgery_begin(m, &s), ARK_OK);
    spec.global = true;
    spec.fraction = 0.5;
    assert_int_equal(ark_surgery_prune(s, &spec, &r), ARK_OK);
    float *mag = malloc(sizeof(float) * 2 * n);
    for (size_t i = 0; i < 2 * n; i++) mag[i] = fabsf(orig[i]);
    qsort(mag, 2 * n, sizeof(float), cmp_float);
    assert_true(r.threshold == mag[n - 1]);
    free(mag);
    ark_weight norm[1] = {ARK_LN1_W};
    ark_prune_spec bad = {0.1, norm, 1, NULL, 0, false};
    assert_int_equal(ark_surgery_prune(s, &bad, &r), ARK_ERR_ARG);
    ark_surgery_restore(s);
    assert_int_equal(ark_weight_read(m, ARK_W_IN, 1, -1, now), ARK_OK);
    assert_memory_equal(now, orig + n, sizeof(float) * n);
    free(orig);
    free(now);
    ark_model_free(m);
}

/* ---- datasets ---- */

static void test_dataset_errors(void **state)
{
    (void)state;
    const char *dir = scratch_dir("datasets");
    char path[1024];
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"tokens\": [1, 2, 3]}\n\n[4, 5]\n{\"text\": 3}\n");
    fclose(f);
    ark_dataset *d;
    assert_int_equal(ark_dataset_open(path, NULL, &d), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "bad.jsonl:4"));
    f = fopen(path, "w");
    fprintf(f, "{\"tokens\": [1, 2, 3]}\n\n[4, 5, 9999]\n{\"text\": \"hello\"}\n");
    fclose(f);
    assert_int_equal(ark_dataset_open(path, NULL, &d), ARK_ERR_ARG); /* text without a tokenizer */
    f = fopen(path, "w");
    fprintf(f, "{\"tokens\": [1, 2, 3]}\n\n[4, 5, 9999]\n");
    fclose(f);
    assert_int_equal(ark_dataset_open(path, NULL, &d), ARK_OK);
    assert_int_equal(ark_dataset_count(d), 2);
    ark_model *m = open_model(fixture_path("models/gpt2"));
    double ce;
    assert_int_equal(ark_dataset_ce(m, d, NULL, NULL, &ce, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "bad.jsonl:3"));
    int w;
    assert_int_equal(ark_hook_width(m, "blocks.0.attn.hook_pattern", &w), ARK_ERR_ARG);
    assert_int_not_equal(ark_hook_width(m, "blocks.9.mlp.hook_post", &w), ARK_OK);
    assert_int_equal(ark_hook_width(m, "blocks.1.attn.hook_z", &w), ARK_OK);
    assert_int_equal(w, ark_model_config(m)->n_heads * ark_model_config(m)->d_head);
    ark_model_free(m);
    ark_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_brute_force),
        cmocka_unit_test(test_dead_neurons),
        cmocka_unit_test(test_surgery_round_trips),
        cmocka_unit_test(test_surgery_refusals),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_dataset_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
