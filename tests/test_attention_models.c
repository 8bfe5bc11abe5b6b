/* The attention tool (include/arrakis/tool_attention.h) on every model:
 *
 *   - attention patterns of every fixture model (discovered) equal Hugging
 *     Face's reference attentions, in single and padded batches, and on the
 *     induction model's two-row reference;
 *   - on every fixture model: detection and ablation run, the TL previous
 *     score equals the mean score times (n-1)/n (an identity of the two
 *     definitions), and per-head ablation equals the interventions' own full
 *     forward (zero: ark_plan_zero_ablate, mean: ark_plan_mean_ablate);
 *   - padded batches (either side) give the pooled scores of their rows.
 *
 * Hand-derived detection, the induction fixture's ground truth and the JSON
 * tool are in test_attention.c. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_attention.h"
#include "attention_testutil.h"
#include "testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

/* ---- patterns against Hugging Face ---- */

static int32_t *ref_ids(ark_st_file *rf, const char *key, int *n)
{
    const ark_st_tensor *t = ark_st_find(rf, key);
    if (!t || t->dtype != ARK_I64) return NULL;
    *n = (int)t->numel;
    int32_t *ids = malloc(sizeof(int32_t) * *n);
    for (int i = 0; i < *n; i++) {
        int64_t v;
        memcpy(&v, (const char *)t->data + 8 * i, 8);
        ids[i] = (int32_t)v;
    }
    return ids;
}

/* ours (n, n) with row stride `stride` against ref (n, n). */
static void expect_close(const float *ours, int stride, const float *ref, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float a = ours[(size_t)i * stride + j], b = ref[(size_t)i * n + j];
            if (!(fabsf(a - b) <= ATOL + RTOL * fabsf(b))) fail_msg("%s [%d][%d]: %g, reference %g", what, i, j, a, b);
        }
}

static void check_patterns(const char *dir)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    ark_st_file *rf;
    ark_model *m;
    assert_int_equal(ark_st_open(path, &rf), ARK_OK);
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, n1 = 0, n0 = 0;
    int32_t *ids1 = ref_ids(rf, "seq1.input_ids", &n1), *ids0 = ref_ids(rf, "seq0.input_ids", &n0);
    assert_non_null(ids1);
    assert_non_null(ids0);
    /* a padded batch: row 0 = seq1, row 1 = seq0 then padding */
    int T = n1;
    int32_t *tok = calloc((size_t)2 * T, sizeof(int32_t));
    uint8_t *mask = calloc((size_t)2 * T, 1);
    memcpy(tok, ids1, sizeof(int32_t) * n1);
    memcpy(tok + T, ids0, sizeof(int32_t) * n0);
    for (int t = 0; t < T; t++) { mask[t] = 1; mask[T + t] = t < n0; }
    ark_attn_input in = {tok, 2, T, mask};
    ark_tensor pat;
    assert_int_equal(ark_attn_patterns(m, &in, NULL, 0, NULL, 0, &pat), ARK_OK);
    assert_int_equal(pat.ndim, 5);
    assert_true(pat.shape[0] == 2 && pat.shape[1] == L && pat.shape[2] == H && pat.shape[3] == T && pat.shape[4] == T);
    for (int l = 0; l < L; l++) {
        char key[64], what[4600];
        for (int r = 0; r < 2; r++) {
            snprintf(key, sizeof key, "seq%d.attentions.%d", r ? 0 : 1, l);
            const ark_st_tensor *t = ark_st_find(rf, key);
            float *ref;
            bool owned;
            assert_non_null(t);
            assert_int_equal(ark_st_to_f32(rf, t, &ref, &owned), ARK_OK);
            int n = r ? n0 : n1;
            for (int h = 0; h < H; h++) {
                snprintf(what, sizeof what, "%s %s head %d", dir, key, h);
                const float *ours = pat.data + (((size_t)r * L + l) * H + h) * T * T;
                expect_close(ours, T, ref + (size_t)h * n * n, n, what);
                for (int q = 0; q < T; q++)
                    for (int k = 0; k < T; k++)
                        if ((q >= n || k >= n) && ours[q * T + k] != 0) fail_msg("%s: padding [%d][%d] not 0", what, q, k);
            }
            if (owned) free(ref);
        }
    }
    free(pat.data);
    /* restricted and reordered: the last layer, heads {H-1, 0} */
    int ls[1] = {-1}, hs[2] = {-1, 0};
    in.B = 1;
    assert_int_equal(ark_attn_patterns(m, &in, ls, 1, hs, 2, &pat), ARK_OK);
    assert_true(pat.shape[0] == 1 && pat.shape[1] == 1 && pat.shape[2] == 2);
    char key[64];
    snprintf(key, sizeof key, "seq1.attentions.%d", L - 1);
    float *ref;
    bool owned;
    assert_int_equal(ark_st_to_f32(rf, ark_st_find(rf, key), &ref, &owned), ARK_OK);
    expect_close(pat.data, T, ref + (size_t)(H - 1) * T * T, T, "restricted head H-1");
    expect_close(pat.data + (size_t)T * T, T, ref, T, "restricted head 0");
    if (owned) free(ref);
    free(pat.data);
    free(tok);
    free(mask);
    free(ids0);
    free(ids1);
    ark_model_free(m);
    ark_st_close(rf);
}

/* Call fn on every model folder under fixtures/models. */
static int each_model(void (*fn)(const char *dir))
{
    const char *root = fixture_path("models");
    char rootc[4096];
    snprintf(rootc, sizeof rootc, "%s", root);
    DIR *d = opendir(rootc);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        char dir[4400], cfg[4500];
        snprintf(dir, sizeof dir, "%.4095s/%.255s", rootc, e->d_name);
        snprintf(cfg, sizeof cfg, "%s/reference.safetensors", dir);
        FILE *f = e->d_name[0] != '.' ? fopen(cfg, "r") : NULL;
        if (!f) continue;
        fclose(f);
        fn(dir);
        n++;
    }
    closedir(d);
    return n;
}

static void test_patterns_hf(void **state)
{
    (void)state;
    int n_models = each_model(check_patterns);
    if (!n_models) skip();
    printf("  attention patterns equal Hugging Face's on %d fixture models\n", n_models);
    /* the induction model's two-row reference */
    induction_fx f;
    if (!induction_open(&f)) skip();
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.safetensors", fixture_path("trained/induction-gpt2"));
    ark_st_file *rf;
    assert_int_equal(ark_st_open(path, &rf), ARK_OK);
    int n = 0;
    int32_t *ids = ref_ids(rf, "input_ids", &n);
    assert_non_null(ids);
    const ark_config *c = ark_model_config(f.m);
    int T = n / 2, H = c->n_heads;
    ark_attn_input in = {ids, 2, T, NULL};
    ark_tensor pat;
    assert_int_equal(ark_attn_patterns(f.m, &in, NULL, 0, NULL, 0, &pat), ARK_OK);
    for (int l = 0; l < c->n_layers; l++) {
        char key[32];
        snprintf(key, sizeof key, "attn.%d", l);
        float *ref;
        bool owned;
        assert_int_equal(ark_st_to_f32(rf, ark_st_find(rf, key), &ref, &owned), ARK_OK);
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < H; h++)
                expect_close(pat.data + (((size_t)b * c->n_layers + l) * H + h) * T * T, T,
                             ref + ((size_t)b * H + h) * T * T, T, key);
        if (owned) free(ref);
    }
    free(pat.data);
    free(ids);
    ark_st_close(rf);
    induction_close(&f);
}

/* ---- every fixture model: detection and ablation ---- */

/* The metric with head (l, h) ablated by the interventions' own full forward. */
static double full_ablation(ark_model *m, const ark_attn_input *in, int l, int h, bool mean, const ark_cache *ref,
                            const ark_head_metric *mt)
{
    char z[64];
    snprintf(z, sizeof z, "blocks.%d.attn.hook_z", l);
    ark_select sel = {0};
    sel.heads = &h;
    sel.n_heads = 1;
    ark_plan *p = ark_plan_new(m);
    assert_int_equal(mean ? ark_plan_mean_ablate(p, z, ref, &sel) : ark_plan_zero_ablate(p, z, &sel), ARK_OK);
    ark_cache *c;
    assert_int_equal(ark_run(m, in->tokens, in->B, in->T, in->mask, p, &c), ARK_OK);
    double v;
    assert_int_equal(ark_head_metric_eval(m, in, ark_cache_logits(c)->data, mt, &v), ARK_OK);
    ark_cache_free(c);
    ark_plan_free(p);
    return v;
}

static void check_model_ops(const char *dir)
{
    ark_model *m;
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, n = L * H;
    ark_repeat_spec spec = ARK_REPEAT_SPEC_INIT;
    spec.length = 6;
    spec.batch = 3;
    spec.seed = 7;
    spec.bos = c->bos_id >= 0 && c->bos_id < c->d_vocab ? c->bos_id : 0;
    int T = 1 + 2 * spec.length;
    int32_t *tok = malloc(sizeof(int32_t) * spec.batch * T);
    assert_int_equal(ark_repeat_random_tokens(m, &spec, tok), ARK_OK);
    ark_attn_input in = {tok, spec.batch, T, NULL};
    ark_head_kind kinds[3] = {ARK_HEAD_PREVIOUS, ARK_HEAD_DUPLICATE, ARK_HEAD_INDUCTION};
    float *mean = malloc(sizeof(float) * 3 * n), *tl = malloc(sizeof(float) * 3 * n);
    ark_detect_opts o = ARK_DETECT_OPTS_INIT;
    o.prefix = 1;
    o.period = spec.length;
    assert_int_equal(ark_detect_heads(m, &in, kinds, 3, &o, mean, NULL), ARK_OK);
    o.method = ARK_DETECT_TL;
    assert_int_equal(ark_detect_heads(m, &in, kinds, 3, &o, tl, NULL), ARK_OK);
    for (int i = 0; i < 3 * n; i++) {
        if (!(mean[i] >= 0 && mean[i] <= 1 + 1e-6 && tl[i] >= 0 && tl[i] <= 1 + 1e-6))
            fail_msg("%s: score %d out of [0, 1]: mean %g, tl %g", dir, i, mean[i], tl[i]);
        /* TL previous (mul) = sum_i A[i][i-1] / n; mean previous = the same sum / (n - 1) */
        if (i < n && fabs(tl[i] - mean[i] * (T - 1) / T) > 1e-5)
            fail_msg("%s: head %d previous: tl %g, mean %g x (n-1)/n = %g", dir, i, tl[i], mean[i], mean[i] * (T - 1) / T);
    }
    /* ablation: zero and mean against the interventions' full forward */
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.targets = ARK_TARGETS_REPEATED;
    mt.prefix = 1;
    mt.period = spec.length;
    float *eff = malloc(sizeof(float) * n);
    double clean;
    ark_plan *keep = ark_plan_new(m);
    assert_int_equal(ark_plan_keep(keep, "blocks.*.attn.hook_z"), ARK_OK);
    ark_cache *ref;
    assert_int_equal(ark_run(m, tok, in.B, T, NULL, keep, &ref), ARK_OK);
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(ark_ablate_heads(m, &in, mode ? ARK_ABLATE_MEAN : ARK_ABLATE_ZERO, &mt, &clean, eff), ARK_OK);
        for (int i = 0; i < n; i += n > 2 ? n - 1 : 1) { /* the first and the last head */
            double want = full_ablation(m, &in, i / H, i % H, mode, ref, &mt) - clean;
            if (!(fabs(eff[i] - want) <= 1e-4 + 1e-4 * fabs(want)))
                fail_msg("%s: %s ablation of L%dH%d: %g, full forward %g", dir, mode ? "mean" : "zero", i / H, i % H, eff[i], want);
        }
    }
    ark_cache_free(ref);
    ark_plan_free(keep);
    free(eff);
    free(mean);
    free(tl);
    free(tok);
    ark_model_free(m);
}

static void test_fixture_models(void **state)
{
    (void)state;
    int n_models = each_model(check_model_ops);
    if (!n_models) skip();
    printf("  detection and ablation checked on %d fixture models\n", n_models);
}

/* ---- padding ---- */

static void test_padding(void **state)
{
    (void)state;
    induction_fx f;
    if (!induction_open(&f)) skip();
    const ark_config *c = ark_model_config(f.m);
    int L = c->n_layers, H = c->n_heads, n = L * H, T = f.T, lens[3] = {T, 30, T - 1};
    ark_head_kind kinds[3] = {ARK_HEAD_PREVIOUS, ARK_HEAD_DUPLICATE, ARK_HEAD_INDUCTION};
    int32_t *right = calloc((size_t)3 * T, sizeof(int32_t)), *left = calloc((size_t)3 * T, sizeof(int32_t));
    uint8_t *mr = calloc((size_t)3 * T, 1), *ml = calloc((size_t)3 * T, 1);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < lens[b]; t++) {
            right[b * T + t] = left[b * T + T - lens[b] + t] = f.ids[b * T + t];
            mr[b * T + t] = ml[b * T + T - lens[b] + t] = 1;
        }
    for (int method = 0; method < 2; method++) {
        ark_detect_opts o = ARK_DETECT_OPTS_INIT;
        o.method = method ? ARK_DETECT_TL : ARK_DETECT_MEAN;
        float *sr = malloc(sizeof(float) * 3 * n), *sl = malloc(sizeof(float) * 3 * n), *one = malloc(sizeof(float) * 3 * n);
        double *pooled = calloc((size_t)3 * n, sizeof(double));
        int cr[3], cl[3], c1[3], total[3] = {0};
        ark_attn_input ir = {right, 3, T, mr}, il = {left, 3, T, ml};
        assert_int_equal(ark_detect_heads(f.m, &ir, kinds, 3, &o, sr, cr), ARK_OK);
        assert_int_equal(ark_detect_heads(f.m, &il, kinds, 3, &o, sl, cl), ARK_OK);
        for (int b = 0; b < 3; b++) {
            ark_attn_input i1 = {f.ids + b * T, 1, lens[b], NULL};
            assert_int_equal(ark_detect_heads(f.m, &i1, kinds, 3, &o, one, c1), ARK_OK);
            for (int k = 0; k < 3; k++) {
                total[k] += c1[k];
                for (int i = 0; c1[k] && i < n; i++) pooled[k * n + i] += (double)one[k * n + i] * c1[k];
            }
        }
        for (int k = 0; k < 3; k++) {
            assert_int_equal(cr[k], total[k]);
            assert_int_equal(cl[k], total[k]);
            for (int i = 0; i < n; i++) {
                double want = pooled[k * n + i] / total[k];
                if (fabs(sr[k * n + i] - want) > 1e-5 || fabs(sl[k * n + i] - want) > 1e-5)
                    fail_msg("method %d kind %d head %d: right %g, left %g, rows alone %g", method, k, i, sr[k * n + i],
                             sl[k * n + i], want);
            }
        }
        free(sr);
        free(sl);
        free(one);
        free(pooled);
    }
    /* ablation of a padded batch (row 1 cut to 40 tokens, left-padded) pools its rows' losses over all targets */
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    int len2[2] = {T, 40};
    float er[64], e1[64];
    double cr, want_clean = 0, want_abl[64] = {0};
    int32_t *two = calloc((size_t)2 * T, sizeof(int32_t));
    uint8_t *m2 = calloc((size_t)2 * T, 1);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < len2[b]; t++) {
            two[b * T + T - len2[b] + t] = f.ids[b * T + t];
            m2[b * T + T - len2[b] + t] = 1;
        }
    assert_true(n <= 64);
    ark_attn_input in2 = {two, 2, T, m2};
    assert_int_equal(ark_ablate_heads(f.m, &in2, ARK_ABLATE_ZERO, &mt, &cr, er), ARK_OK);
    for (int b = 0; b < 2; b++) {
        ark_attn_input i1 = {f.ids + b * T, 1, len2[b], NULL};
        double cb, w = (len2[b] - 1.0) / (len2[0] + len2[1] - 2.0);
        assert_int_equal(ark_ablate_heads(f.m, &i1, ARK_ABLATE_ZERO, &mt, &cb, e1), ARK_OK);
        want_clean += w * cb;
        for (int i = 0; i < n; i++) want_abl[i] += w * (e1[i] + cb);
    }
    assert_true(fabs(cr - want_clean) < 1e-5);
    for (int i = 0; i < n; i++)
        if (fabs(er[i] - (want_abl[i] - want_clean)) > 1e-5)
            fail_msg("padded ablation L%dH%d: %g, rows alone %g", i / H, i % H, er[i], want_abl[i] - want_clean);
    free(two);
    free(m2);
    free(right);
    free(left);
    free(mr);
    free(ml);
    induction_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_hf),
        cmocka_unit_test(test_fixture_models),
        cmocka_unit_test(test_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
