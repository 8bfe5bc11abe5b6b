/* Batches with padding, F16/BF16 checkpoints and random-model folders.
 *
 * - Two sequences of different lengths in one batch, padded on the left or
 *   on the right, give at their real positions what each gives alone, at
 *   every hook point.
 * - A checkpoint stored in F16 or BF16 runs exactly like an F32 checkpoint
 *   of the same (rounded) weights.
 * - `init` writes, for each fixture's config.json, exactly the tensor names
 *   and shapes Hugging Face's save_pretrained wrote for that fixture. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

static int32_t *ref_ids(const char *dir, const char *key, int *T)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    ark_st_file *rf;
    assert_int_equal(ark_st_open(path, &rf), ARK_OK);
    const ark_st_tensor *t = ark_st_find(rf, key);
    assert_non_null(t);
    *T = (int)t->numel;
    int32_t *ids = malloc(sizeof *ids * *T);
    for (int i = 0; i < *T; i++) ids[i] = (int32_t)((const int64_t *)t->data)[i];
    ark_st_close(rf);
    return ids;
}

static ark_cache *run_all(ark_model *m, const int32_t *ids, int B, int T, const uint8_t *mask)
{
    ark_plan *plan = ark_plan_new(m);
    ark_plan_keep_all(plan);
    assert_int_equal(ark_plan_keep(plan, "blocks.*.attn.hook_result"), ARK_OK);
    ark_cache *c;
    if (ark_run(m, ids, B, T, mask, plan, &c) != ARK_OK) fail_msg("run: %s", ark_errmsg());
    ark_plan_free(plan);
    return c;
}

/* Compare batch row `row` (real tokens at offset `off`, `n` of them) with a
 * single run, for one tensor.  Attention maps [b, h, q, k] shift both q and k. */
static void compare_row(const char *what, const ark_tensor *batch, const ark_tensor *single, int row, int off, int n)
{
    bool attn = strstr(what, "pattern") || strstr(what, "attn_scores");
    int64_t Tb = attn ? batch->shape[2] : batch->shape[1];
    if (attn) {
        int64_t H = single->shape[1];
        for (int64_t h = 0; h < H; h++)
            for (int q = 0; q < n; q++) {
                const float *a = batch->data + (((row * H + h) * Tb) + q + off) * Tb + off;
                const float *b = single->data + ((h * n) + q) * n;
                size_t w;
                double r = tol_ratio(a, b, (size_t)n, 1e-4, 1e-4, &w);
                if (!(r <= 1)) fail_msg("%s: head %lld query %d key %zu: %g vs %g", what, (long long)h, q, w, a[w], b[w]);
            }
        return;
    }
    int64_t inner = ark_tensor_numel(single) / single->shape[1];
    const float *a = batch->data + ((size_t)row * Tb + off) * inner;
    size_t w;
    double r = tol_ratio(a, single->data, (size_t)(n * inner), 1e-4, 1e-4, &w);
    if (!(r <= 1)) fail_msg("%s: element %zu: batched %g vs alone %g", what, w, a[w], single->data[w]);
}

static void check_padding(const char *dir, bool left)
{
    ark_model *m;
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    int T0, T1;
    int32_t *s0 = ref_ids(dir, "seq0.input_ids", &T0), *s1 = ref_ids(dir, "seq1.input_ids", &T1);
    int T = T1;
    int32_t *ids = calloc(2 * T, sizeof *ids);
    uint8_t *mask = calloc(2 * T, 1);
    int off0 = left ? T - T0 : 0;
    for (int t = 0; t < T0; t++) { ids[off0 + t] = s0[t]; mask[off0 + t] = 1; }
    for (int t = 0; t < T1; t++) { ids[T + t] = s1[t]; mask[T + t] = 1; }
    ark_cache *batch = run_all(m, ids, 2, T, mask), *a0 = run_all(m, s0, 1, T0, NULL), *a1 = run_all(m, s1, 1, T1, NULL);
    compare_row("logits", ark_cache_logits(batch), ark_cache_logits(a0), 0, off0, T0);
    compare_row("logits", ark_cache_logits(batch), ark_cache_logits(a1), 1, 0, T1);
    for (int i = 0; i < ark_cache_count(batch); i++) {
        const char *name = ark_cache_name(batch, i);
        char what[2048];
        snprintf(what, sizeof what, "%s %s padding %s", dir, left ? "left" : "right", name);
        compare_row(what, ark_cache_at(batch, i), ark_cache_get(a0, name), 0, off0, T0);
        compare_row(what, ark_cache_at(batch, i), ark_cache_get(a1, name), 1, 0, T1);
    }
    ark_cache_free(batch);
    ark_cache_free(a0);
    ark_cache_free(a1);
    free(ids); free(mask); free(s0); free(s1);
    ark_model_free(m);
}

static int list_models(char names[][256], int cap)
{
    DIR *d = opendir(fixture_path("models"));
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md")) snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    return n;
}

static void test_padding(void **state)
{
    (void)state;
    char names[32][256];
    int n = list_models(names, 32);
    for (int i = 0; i < n; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", fixture_path("models/%s", names[i]));
        check_padding(dir, true);
        check_padding(dir, false);
    }
}

/* Copy a fixture folder with every tensor stored as `dtype`; optionally
 * as F32 but rounded through `dtype` (the float32 run of rounded weights). */
static void write_converted(const char *src, const char *dst, ark_dtype dtype, bool rounded_f32)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    ark_st_file *f;
    assert_int_equal(ark_st_open(path, &f), ARK_OK);
    ark_st_writer *w = ark_st_writer_new();
    float **bufs = calloc(ark_st_count(f), sizeof *bufs);
    for (int i = 0; i < ark_st_count(f); i++) {
        const ark_st_tensor *t = ark_st_at(f, i);
        float *x;
        bool owned;
        assert_int_equal(ark_st_to_f32(f, t, &x, &owned), ARK_OK);
        bufs[i] = malloc(sizeof(float) * (t->numel ? t->numel : 1));
        for (int64_t j = 0; j < t->numel; j++)
            bufs[i][j] = !rounded_f32 ? x[j] : dtype == ARK_F16 ? ark_f16_to_f32(ark_f32_to_f16(x[j]))
                                                                : ark_bf16_to_f32(ark_f32_to_bf16(x[j]));
        if (owned) free(x);
        assert_int_equal(ark_st_writer_add_f32(w, t->name, rounded_f32 ? ARK_F32 : dtype, bufs[i], t->ndim, t->shape), ARK_OK);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    assert_int_equal(ark_st_writer_save(w, path), ARK_OK);
    for (int i = 0; i < ark_st_count(f); i++) free(bufs[i]);
    free(bufs);
    ark_st_writer_free(w);
    ark_st_close(f);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/config.json'", src, dst);
    assert_int_equal(system(cmd), 0);
}

static void check_half(const char *name, ark_dtype dtype)
{
    char src[1024];
    snprintf(src, sizeof src, "%s", fixture_path("models/%s", name));
    char half[1024], rounded[1024];
    snprintf(half, sizeof half, "%s", scratch_dir("half"));
    snprintf(rounded, sizeof rounded, "%s", scratch_dir("rounded"));
    write_converted(src, half, dtype, false);
    write_converted(src, rounded, dtype, true);
    int T;
    int32_t *ids = ref_ids(src, "seq1.input_ids", &T);
    ark_model *mh, *mr;
    assert_int_equal(ark_model_open(half, &mh), ARK_OK);
    assert_int_equal(ark_model_open(rounded, &mr), ARK_OK);
    assert_string_equal(ark_model_disk_dtype(mh), ark_dtype_name(dtype));
    ark_cache *ch = run_all(mh, ids, 1, T, NULL), *cr = run_all(mr, ids, 1, T, NULL);
    const ark_tensor *a = ark_cache_logits(ch), *b = ark_cache_logits(cr);
    size_t w;
    double r = tol_ratio(a->data, b->data, (size_t)ark_tensor_numel(a), 1e-6, 1e-6, &w);
    if (!(r <= 1)) fail_msg("%s %s: logits[%zu] %g vs rounded-F32 %g", name, ark_dtype_name(dtype), w, a->data[w], b->data[w]);
    ark_cache_free(ch);
    ark_cache_free(cr);
    ark_model_free(mh);
    ark_model_free(mr);
    free(ids);
}

static void test_half_precision(void **state)
{
    (void)state;
    char names[32][256];
    int n = list_models(names, 32);
    for (int i = 0; i < n; i++) {
        check_half(names[i], ARK_F16);
        check_half(names[i], ARK_BF16);
    }
}

/* init from a fixture's config writes the fixture's tensor names and shapes. */
static void test_init_layout(void **state)
{
    (void)state;
    char names[32][256];
    int n = list_models(names, 32);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s", fixture_path("models/%s/config.json", names[i]));
        char *cfg = read_file(path, NULL);
        assert_non_null(cfg);
        const char *out = scratch_dir("init");
        char outdir[1024];
        snprintf(outdir, sizeof outdir, "%s", out);
        if (ark_model_init_folder(cfg, 7, ARK_F32, outdir) != ARK_OK) fail_msg("init %s: %s", names[i], ark_errmsg());
        ark_st_file *ref, *ours;
        snprintf(path, sizeof path, "%s", fixture_path("models/%s/model.safetensors", names[i]));
        assert_int_equal(ark_st_open(path, &ref), ARK_OK);
        snprintf(path, sizeof path, "%s/model.safetensors", outdir);
        assert_int_equal(ark_st_open(path, &ours), ARK_OK);
        if (ark_st_count(ref) != ark_st_count(ours))
            fail_msg("%s: init wrote %d tensors, Hugging Face %d", names[i], ark_st_count(ours), ark_st_count(ref));
        for (int j = 0; j < ark_st_count(ref); j++) {
            const ark_st_tensor *a = ark_st_at(ref, j), *b = ark_st_find(ours, a->name);
            if (!b) fail_msg("%s: init did not write %s", names[i], a->name);
            assert_int_equal(a->ndim, b->ndim);
            for (int k = 0; k < a->ndim; k++) assert_int_equal(a->shape[k], b->shape[k]);
        }
        ark_st_close(ref);
        ark_st_close(ours);
        /* and it loads and runs to finite logits */
        ark_model *m;
        if (ark_model_open(outdir, &m) != ARK_OK) fail_msg("open init %s: %s", names[i], ark_errmsg());
        int32_t ids[5] = {1, 2, 3, 4, 5};
        ark_cache *c;
        assert_int_equal(ark_run(m, ids, 1, 5, NULL, NULL, &c), ARK_OK);
        const ark_tensor *lg = ark_cache_logits(c);
        for (int64_t k = 0; k < ark_tensor_numel(lg); k++) assert_true(isfinite(lg->data[k]));
        ark_cache_free(c);
        ark_model_free(m);
        free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_half_precision),
        cmocka_unit_test(test_init_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
