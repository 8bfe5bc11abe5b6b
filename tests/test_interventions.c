/* Hooks that change the run, partial runs and generation, on the fixture
 * models (every folder of fixtures/models, discovered). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/generate.h"
#include "arrakis/interventions.h"
#include "testutil.h"

static int n_models;
static char models[32][512];

static int setup(void **state)
{
    (void)state;
    DIR *d = opendir(fixture_path("models"));
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) && n_models < 32)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md"))
            snprintf(models[n_models++], 512, "%s", fixture_path("models/%s", e->d_name));
    closedir(d);
    return n_models ? 0 : -1;
}

static ark_model *open_model(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("%s", ark_errmsg());
    return m;
}

/* Deterministic token ids in range. */
static void tokens(const ark_model *m, int32_t *ids, int n, int salt)
{
    int V = ark_model_config(m)->d_vocab;
    for (int i = 0; i < n; i++) ids[i] = (i * 37 + salt * 101 + 11) % V;
}

static ark_cache *run(ark_model *m, const int32_t *ids, int B, int T, ark_plan *plan)
{
    ark_cache *c;
    if (ark_run(m, ids, B, T, NULL, plan, &c) != ARK_OK) fail_msg("run: %s", ark_errmsg());
    return c;
}

static void expect_same(const char *what, const ark_tensor *a, const ark_tensor *b, double tol)
{
    assert_int_equal(ark_tensor_numel(a), ark_tensor_numel(b));
    size_t w;
    double r = tol_ratio(a->data, b->data, (size_t)ark_tensor_numel(a), tol, tol, &w);
    if (!(r <= 1)) fail_msg("%s: element %zu: %.8g vs %.8g", what, w, a->data[w], b->data[w]);
}

/* Patching every hook point from a cache of the same run reproduces it. */
static void test_patch_same_run(void **state)
{
    (void)state;
    for (int i = 0; i < n_models; i++) {
        ark_model *m = open_model(models[i]);
        int32_t ids[2 * 9];
        tokens(m, ids, 18, i);
        ark_plan *keep = ark_plan_new(m);
        ark_plan_keep_all(keep);
        ark_plan_keep(keep, "blocks.*.attn.hook_result");
        ark_cache *clean = run(m, ids, 2, 9, keep);
        ark_plan *patch = ark_plan_new(m);
        ark_plan_keep_all(patch);
        assert_int_equal(ark_plan_patch(patch, "*", clean, NULL), ARK_OK);
        ark_cache *again = run(m, ids, 2, 9, patch);
        expect_same(models[i], ark_cache_logits(again), ark_cache_logits(clean), 1e-6);
        for (int k = 0; k < ark_cache_count(again); k++)
            expect_same(ark_cache_name(again, k), ark_cache_at(again, k), ark_cache_get(clean, ark_cache_name(again, k)), 1e-6);
        ark_cache_free(clean); ark_cache_free(again);
        ark_plan_free(keep); ark_plan_free(patch);
        ark_model_free(m);
    }
}

/* Patching another prompt's blocks.0.hook_resid_pre gives that prompt's output. */
static void test_patch_other_prompt(void **state)
{
    (void)state;
    for (int i = 0; i < n_models; i++) {
        ark_model *m = open_model(models[i]);
        int32_t x[12], y[12];
        tokens(m, x, 12, 1);
        tokens(m, y, 12, 2);
        ark_plan *keep = ark_plan_new(m);
        ark_plan_keep(keep, "blocks.0.hook_resid_pre");
        ark_cache *cy = run(m, y, 1, 12, keep);
        ark_plan *patch = ark_plan_new(m);
        assert_int_equal(ark_plan_patch(patch, "resid_pre0", cy, NULL), ARK_OK);
        ark_cache *cx = run(m, x, 1, 12, patch);
        expect_same(models[i], ark_cache_logits(cx), ark_cache_logits(cy), 1e-6);
        ark_cache_free(cx); ark_cache_free(cy);
        ark_plan_free(keep); ark_plan_free(patch);
        ark_model_free(m);
    }
}

/* Zeroing head h's pattern, its z, or its result has the same effect, and
 * it changes the output: modified pattern/z/result flow on through the layer. */
static void test_head_ablation_flows(void **state)
{
    (void)state;
    for (int i = 0; i < n_models; i++) {
        ark_model *m = open_model(models[i]);
        int32_t ids[10];
        tokens(m, ids, 10, 3);
        int head[1] = {1};
        ark_select sel = {.heads = head, .n_heads = 1};
        const char *points[] = {"blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.0.attn.hook_result"};
        ark_cache *out[3];
        for (int p = 0; p < 3; p++) {
            ark_plan *plan = ark_plan_new(m);
            assert_int_equal(ark_plan_zero_ablate(plan, points[p], &sel), ARK_OK);
            ark_plan_keep(plan, "blocks.0.attn.hook_z");
            out[p] = run(m, ids, 1, 10, plan);
            ark_plan_free(plan);
        }
        ark_cache *clean = run(m, ids, 1, 10, NULL);
        expect_same("pattern vs z ablation", ark_cache_logits(out[0]), ark_cache_logits(out[1]), 1e-5);
        expect_same("z vs result ablation", ark_cache_logits(out[1]), ark_cache_logits(out[2]), 1e-5);
        const ark_tensor *z = ark_cache_get(out[0], "blocks.0.attn.hook_z");
        int H = ark_model_config(m)->n_heads, dh = ark_model_config(m)->d_head;
        for (int t = 0; t < 10; t++)
            for (int k = 0; k < dh; k++) assert_true(z->data[((size_t)t * H + 1) * dh + k] == 0.0f);
        size_t w;
        const ark_tensor *a = ark_cache_logits(clean), *b = ark_cache_logits(out[0]);
        assert_true(tol_ratio(a->data, b->data, (size_t)ark_tensor_numel(a), 1e-4, 1e-4, &w) > 1);
        for (int p = 0; p < 3; p++) ark_cache_free(out[p]);
        ark_cache_free(clean);
        ark_model_free(m);
    }
}

/* start_at_layer from a cached residual and stop_at_layer reproduce a full run. */
static void test_partial_runs(void **state)
{
    (void)state;
    for (int i = 0; i < n_models; i++) {
        ark_model *m = open_model(models[i]);
        const ark_config *c = ark_model_config(m);
        int32_t ids[8];
        tokens(m, ids, 8, 4);
        ark_plan *keep = ark_plan_new(m);
        ark_plan_keep(keep, "resid_pre");
        ark_cache *full = run(m, ids, 1, 8, keep);
        for (int L = 1; L < c->n_layers; L++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.hook_resid_pre", L);
            ark_run_opts o = ARK_RUN_OPTS_INIT;
            o.stop_at_layer = L;
            ark_cache *head, *tail;
            assert_int_equal(ark_run_ex(m, ids, 1, 8, &o, NULL, &head), ARK_OK);
            assert_null(ark_cache_logits(head));
            expect_same("stop_at_layer", ark_cache_resid(head), ark_cache_get(full, name), 0);
            ark_run_opts o2 = ARK_RUN_OPTS_INIT;
            o2.start_at_layer = L;
            o2.resid = ark_cache_get(full, name)->data;
            assert_int_equal(ark_run_ex(m, NULL, 1, 8, &o2, NULL, &tail), ARK_OK);
            expect_same("start_at_layer", ark_cache_logits(tail), ark_cache_logits(full), 0);
            ark_cache_free(head);
            ark_cache_free(tail);
        }
        ark_cache_free(full);
        ark_plan_free(keep);
        ark_model_free(m);
    }
}

/* Steering, scaling, freezing and mean ablation write what they say. */
static void test_value_interventions(void **state)
{
    (void)state;
    ark_model *m = open_model(models[0]);
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, T = 6;
    int32_t ids[6];
    tokens(m, ids, T, 5);
    ark_plan *keep = ark_plan_new(m);
    ark_plan_keep(keep, "blocks.1.hook_resid_pre");
    ark_cache *clean = run(m, ids, 1, T, keep);
    const float *x = ark_cache_get(clean, "blocks.1.hook_resid_pre")->data;
    float *v = malloc(sizeof(float) * d);
    for (int j = 0; j < d; j++) v[j] = (float)(j % 5) - 2.0f;
    int pos[1] = {2};
    ark_select at2 = {.positions = pos, .n_positions = 1};

    ark_plan *steer = ark_plan_new(m);
    ark_plan_keep(steer, "blocks.1.hook_resid_pre");
    assert_int_equal(ark_plan_steer(steer, "blocks.1.hook_resid_pre", v, d, 0.5f, &at2), ARK_OK);
    ark_cache *cs = run(m, ids, 1, T, steer);
    const float *y = ark_cache_get(cs, "blocks.1.hook_resid_pre")->data;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < d; j++)
            assert_float_equal(y[t * d + j], x[t * d + j] + (t == 2 ? 0.5f * v[j] : 0.0f), 1e-6);

    ark_plan *mean = ark_plan_new(m);
    ark_plan_keep(mean, "blocks.1.hook_resid_pre");
    assert_int_equal(ark_plan_mean_ablate(mean, "blocks.1.hook_resid_pre", clean, NULL), ARK_OK);
    ark_cache *cm = run(m, ids, 1, T, mean);
    const float *z = ark_cache_get(cm, "blocks.1.hook_resid_pre")->data;
    for (int j = 0; j < d; j++) {
        double mu = 0;
        for (int t = 0; t < T; t++) mu += x[t * d + j];
        mu /= T;
        for (int t = 0; t < T; t++) assert_float_equal(z[t * d + j], mu, 1e-5);
    }

    ark_plan *sc = ark_plan_new(m);
    ark_plan_keep(sc, "blocks.1.hook_resid_pre");
    int neuron[2] = {0, 3};
    ark_select ns = {.neurons = neuron, .n_neurons = 2};
    assert_int_equal(ark_plan_scale(sc, "blocks.1.hook_resid_pre", -2.0f, &ns), ARK_OK);
    ark_cache *cc = run(m, ids, 1, T, sc);
    const float *s = ark_cache_get(cc, "blocks.1.hook_resid_pre")->data;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < d; j++)
            assert_float_equal(s[t * d + j], (j == 0 || j == 3) ? -2.0f * x[t * d + j] : x[t * d + j], 1e-6);

    ark_tensor val = {.data = v, .ndim = 1, .shape = {d}};
    ark_plan *fr = ark_plan_new(m);
    ark_plan_keep(fr, "blocks.1.hook_resid_pre");
    assert_int_equal(ark_plan_freeze(fr, "blocks.1.hook_resid_pre", &val, &at2), ARK_OK);
    ark_cache *cf = run(m, ids, 1, T, fr);
    assert_memory_equal(ark_cache_get(cf, "blocks.1.hook_resid_pre")->data + 2 * d, v, sizeof(float) * d);

    /* patching from a source that lacks the point is refused, naming it */
    ark_plan *bad = ark_plan_new(m);
    assert_int_equal(ark_plan_patch(bad, "blocks.0.hook_mlp_out", clean, NULL), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "blocks.0.hook_mlp_out"));
    /* a glob patches the points the source holds */
    assert_int_equal(ark_plan_patch(bad, "blocks.*.hook_resid_pre", clean, NULL), ARK_OK);

    ark_cache *caches[] = {clean, cs, cm, cc, cf};
    ark_plan *plans[] = {keep, steer, mean, sc, fr, bad};
    for (size_t k = 0; k < 5; k++) ark_cache_free(caches[k]);
    for (size_t k = 0; k < 6; k++) ark_plan_free(plans[k]);
    free(v);
    ark_model_free(m);
}

static ark_status counter_hook(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    (void)act; (void)call;
    (*(int *)ctx)++;
    return ARK_OK;
}

/* Hooks kept on the model run until removed. */
static void test_model_hooks(void **state)
{
    (void)state;
    ark_model *m = open_model(models[0]);
    int count = 0, L = ark_model_config(m)->n_layers;
    int h = ark_model_add_hook(m, "resid_post", ARK_HOOK_OBSERVE, counter_hook, &count);
    assert_true(h >= 0);
    int32_t ids[4] = {1, 2, 3, 4};
    ark_cache *c = run(m, ids, 1, 4, NULL);
    ark_cache_free(c);
    assert_int_equal(count, L);
    ark_model_remove_hook(m, h);
    c = run(m, ids, 1, 4, NULL);
    ark_cache_free(c);
    assert_int_equal(count, L);
    assert_int_equal(ark_model_add_hook(m, "blocks.0.hook_nothing", ARK_HOOK_OBSERVE, counter_hook, &count), -1);
    ark_model_free(m);
}

/* Greedy generation with the key/value cache equals argmax over repeated
 * full forward passes, with padding on either side. */
static void test_generation(void **state)
{
    (void)state;
    for (int i = 0; i < n_models; i++) {
        ark_model *m = open_model(models[i]);
        int T = 7;
        int32_t ids[2 * 7];
        uint8_t mask[2 * 7];
        tokens(m, ids, 2 * T, 6);
        for (int t = 0; t < 2 * T; t++) mask[t] = 1;
        mask[0] = mask[1] = 0;       /* row 0: left padded */
        mask[T + 6] = 0;             /* row 1: right padded */
        ark_gen_opts o = ARK_GEN_OPTS_INIT;
        o.max_new = 12;
        o.eos_id = -1;
        ark_generation *fast, *slow;
        assert_int_equal(ark_generate(m, ids, 2, T, mask, &o, NULL, &fast), ARK_OK);
        o.no_kv_cache = true;
        assert_int_equal(ark_generate(m, ids, 2, T, mask, &o, NULL, &slow), ARK_OK);
        for (int b = 0; b < 2; b++) {
            int na, nb;
            const int32_t *a = ark_generation_tokens(fast, b, &na), *s = ark_generation_tokens(slow, b, &nb);
            assert_int_equal(na, nb);
            assert_int_equal(ark_generation_new(fast, b), 12);
            for (int k = 0; k < na; k++)
                if (a[k] != s[k]) fail_msg("%s row %d token %d: cached %d, full %d", models[i], b, k, a[k], s[k]);
        }
        /* each row alone gives the same continuation */
        int na;
        const int32_t *row0 = ark_generation_tokens(fast, 0, &na);
        ark_generation *alone;
        o.no_kv_cache = false;
        assert_int_equal(ark_generate(m, ids + 2, 1, T - 2, NULL, &o, NULL, &alone), ARK_OK);
        int nalone;
        const int32_t *r = ark_generation_tokens(alone, 0, &nalone);
        assert_int_equal(na, nalone);
        assert_memory_equal(row0, r, sizeof(int32_t) * na);
        ark_generation_free(alone);
        ark_generation_free(fast);
        ark_generation_free(slow);
        ark_model_free(m);
    }
}

/* Sampling is seeded: the same seed gives the same tokens; top_k = 1 is greedy. */
static void test_sampling(void **state)
{
    (void)state;
    ark_model *m = open_model(models[0]);
    int32_t ids[5];
    tokens(m, ids, 5, 7);
    ark_gen_opts o = ARK_GEN_OPTS_INIT;
    o.max_new = 10; o.eos_id = -1; o.temperature = 1.0f; o.top_p = 0.9f; o.seed = 42;
    ark_generation *a, *b, *g, *k1;
    assert_int_equal(ark_generate(m, ids, 1, 5, NULL, &o, NULL, &a), ARK_OK);
    assert_int_equal(ark_generate(m, ids, 1, 5, NULL, &o, NULL, &b), ARK_OK);
    int na, nb;
    assert_memory_equal(ark_generation_tokens(a, 0, &na), ark_generation_tokens(b, 0, &nb), sizeof(int32_t) * 15);
    o.top_k = 1; o.top_p = 1.0f;
    assert_int_equal(ark_generate(m, ids, 1, 5, NULL, &o, NULL, &k1), ARK_OK);
    ark_gen_opts greedy = ARK_GEN_OPTS_INIT;
    greedy.max_new = 10; greedy.eos_id = -1;
    assert_int_equal(ark_generate(m, ids, 1, 5, NULL, &greedy, NULL, &g), ARK_OK);
    assert_memory_equal(ark_generation_tokens(k1, 0, &na), ark_generation_tokens(g, 0, &nb), sizeof(int32_t) * 15);
    ark_generation_free(a); ark_generation_free(b); ark_generation_free(g); ark_generation_free(k1);
    ark_model_free(m);
}

/* Hooks stay active during generation and the generated sequence's
 * activations can be kept. */
static void test_generation_hooks(void **state)
{
    (void)state;
    ark_model *m = open_model(models[0]);
    int32_t ids[5];
    tokens(m, ids, 5, 8);
    ark_plan *plan = ark_plan_new(m);
    int count = 0;
    ark_plan_add_hook(plan, "blocks.0.hook_resid_pre", ARK_HOOK_OBSERVE, counter_hook, &count);
    ark_plan_keep(plan, "blocks.0.hook_resid_post");
    ark_gen_opts o = ARK_GEN_OPTS_INIT;
    o.max_new = 4; o.eos_id = -1;
    ark_generation *g;
    assert_int_equal(ark_generate(m, ids, 1, 5, NULL, &o, plan, &g), ARK_OK);
    assert_int_equal(count, 4 + 1); /* one call per step, and the final pass */
    const ark_tensor *t = ark_cache_get(ark_generation_cache(g), "blocks.0.hook_resid_post");
    assert_non_null(t);
    assert_int_equal(t->shape[1], 9);
    ark_generation_free(g);
    ark_plan_free(plan);
    ark_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_same_run),   cmocka_unit_test(test_patch_other_prompt),
        cmocka_unit_test(test_head_ablation_flows), cmocka_unit_test(test_partial_runs),
        cmocka_unit_test(test_value_interventions), cmocka_unit_test(test_model_hooks),
        cmocka_unit_test(test_generation),        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_generation_hooks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
