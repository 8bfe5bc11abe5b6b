/* The attention tool (include/arrakis/tool_attention.h):
 *
 *   - TransformerLens' detection patterns, the mean-offset masks, repeat
 *     structures and TL's similarity score against hand-derived answers
 *     (TransformerLens' head_detector.py read by hand, not run);
 *   - on the trained induction-gpt2 fixture, with its eval_ids.json: the
 *     previous-token, duplicate-token and induction scores and the heads
 *     above its threshold equal ground_truth.json; per-head zero-ablation
 *     effects on the second-half loss agree in sign, order and value; the
 *     metric's losses equal its "losses";
 *   - attention patterns of every fixture model (discovered) equal Hugging
 *     Face's reference attentions, in single and padded batches, and on the
 *     induction model's two-row reference;
 *   - on every fixture model: detection and ablation run, the TL previous
 *     score equals the mean score times (n-1)/n (an identity of the two
 *     definitions), and per-head ablation equals the interventions' own full
 *     forward (zero: ark_plan_zero_ablate, mean: ark_plan_mean_ablate);
 *   - padded batches (either side) give the pooled scores of their rows;
 *   - the JSON tool: every op, repeat_random, and every error path. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_attention.h"
#include "testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

static cJSON *read_json(const char *path)
{
    char *text = read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static double jnum(const cJSON *a, int i, int j) { return cJSON_GetArrayItem(cJSON_GetArrayItem(a, i), j)->valuedouble; }

/* ---- detection patterns by hand ---- */

static void expect_ones(const float *D, int n, const int (*ones)[2], int n_ones, const char *what)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float want = 0;
            for (int k = 0; k < n_ones; k++) want = ones[k][0] == i && ones[k][1] == j ? 1 : want;
            if (D[i * n + j] != want) fail_msg("%s[%d][%d] = %g, expected %g", what, i, j, D[i * n + j], want);
        }
}

static void test_detection_patterns(void **state)
{
    (void)state;
    const int32_t ids[6] = {3, 5, 3, 5, 5, 8};
    float D[36];
    static const int prev[][2] = {{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}};
    static const int dup[][2] = {{2, 0}, {3, 1}, {4, 1}, {4, 3}};
    /* TL's roll of the duplicate pattern: key j marks ids[j-1] == ids[i], j <= i (j == i at i = 4: ids[3] == ids[4]) */
    static const int ind[][2] = {{2, 1}, {3, 2}, {4, 2}, {4, 4}};
    ark_tl_detection_pattern(ARK_HEAD_PREVIOUS, ids, 6, D);
    expect_ones(D, 6, prev, 5, "previous");
    ark_tl_detection_pattern(ARK_HEAD_DUPLICATE, ids, 6, D);
    expect_ones(D, 6, dup, 4, "duplicate");
    ark_tl_detection_pattern(ARK_HEAD_INDUCTION, ids, 6, D);
    expect_ones(D, 6, ind, 4, "induction");

    float M[49];
    static const int oind[][2] = {{4, 2}, {5, 3}, {6, 4}}, odup[][2] = {{4, 1}, {5, 2}, {6, 3}};
    static const int oprev[][2] = {{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}, {6, 5}};
    assert_int_equal(ark_offset_mask(ARK_HEAD_INDUCTION, 7, 1, 3, M), 3);
    expect_ones(M, 7, oind, 3, "offset induction");
    assert_int_equal(ark_offset_mask(ARK_HEAD_DUPLICATE, 7, 1, 3, M), 3);
    expect_ones(M, 7, odup, 3, "offset duplicate");
    assert_int_equal(ark_offset_mask(ARK_HEAD_PREVIOUS, 7, 0, 0, M), 6);
    expect_ones(M, 7, oprev, 6, "offset previous");
    assert_int_equal(ark_offset_mask(ARK_HEAD_INDUCTION, 7, 0, 0, M), 0);
}

static void test_repeat_structure(void **state)
{
    (void)state;
    static const struct { int32_t ids[8]; int n, ok, s, p; } cases[] = {
        {{1, 2, 3, 1, 2, 3}, 6, 1, 0, 3}, {{9, 1, 2, 1, 2}, 5, 1, 1, 2}, {{1, 2, 3, 4}, 4, 0, 0, 0},
        {{7, 7, 7, 7}, 4, 1, 0, 1},       {{1, 2, 1, 2, 1}, 5, 1, 0, 2}, {{1, 2, 3, 1, 2}, 5, 0, 0, 0},
        {{4}, 1, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int s = -1, p = -1;
        bool ok = ark_repeat_structure(cases[i].ids, cases[i].n, &s, &p);
        if (ok != (bool)cases[i].ok || (ok && (s != cases[i].s || p != cases[i].p)))
            fail_msg("case %zu: got %d (s %d, p %d), expected %d (s %d, p %d)", i, ok, s, p, cases[i].ok, cases[i].s, cases[i].p);
    }
}

static void test_similarity(void **state)
{
    (void)state;
    const float A[9] = {1, 0, 0, 0.4f, 0.6f, 0, 0.2f, 0.3f, 0.5f};
    const float D[9] = {0, 0, 0, 1, 0, 0, 0, 1, 0}; /* previous-token */
    /* mul: sum(A' * D) / sum(A') */
    assert_true(fabs(ark_tl_similarity(A, D, 3, false, false, ARK_MEASURE_MUL) - 0.7 / 3.0) < 1e-6);
    assert_true(fabs(ark_tl_similarity(A, D, 3, true, false, ARK_MEASURE_MUL) - 0.3 / 1.4) < 1e-6);
    assert_true(fabs(ark_tl_similarity(A, D, 3, false, true, ARK_MEASURE_MUL) - 0.7 / 0.9) < 1e-6);
    assert_true(fabs(ark_tl_similarity(A, D, 3, true, true, ARK_MEASURE_MUL) - 1.0) < 1e-6);
    /* abs: 1 - round(sum |A - D| / n, 3) */
    assert_true(fabs(ark_tl_similarity(A, D, 3, false, false, ARK_MEASURE_ABS) - (1 - 1.2)) < 1e-9);
    assert_true(fabs(ark_tl_similarity(A, D, 3, true, false, ARK_MEASURE_ABS) - (1 - 0.6)) < 1e-9);
    assert_true(fabs(ark_tl_similarity(A, D, 3, false, true, ARK_MEASURE_ABS) - (1 - 0.5)) < 1e-9);
    const float A2[4] = {1, 0, 0.24691f, 0.75309f}, D2[4] = {0, 0, 1, 0};
    assert_true(fabs(ark_tl_similarity(A2, D2, 2, false, false, ARK_MEASURE_ABS) - (1 - 1.253)) < 1e-9);
    const float Z[4] = {1, 0, 0, 1};
    assert_true(isnan(ark_tl_similarity(Z, D2, 2, false, true, ARK_MEASURE_MUL)));
}

static void test_top_keys(void **state)
{
    (void)state;
    const float row[5] = {0.1f, 0.5f, 0.1f, 0.3f, 0};
    int keys[8];
    float w[8];
    assert_int_equal(ark_attn_top_keys(row, 5, 3, keys, w), 3);
    assert_int_equal(keys[0], 1);
    assert_int_equal(keys[1], 3);
    assert_int_equal(keys[2], 0); /* ties: the earlier key */
    assert_true(w[0] == 0.5f && w[1] == 0.3f && w[2] == 0.1f);
    assert_int_equal(ark_attn_top_keys(row, 5, 8, keys, w), 5);
    assert_int_equal(keys[3], 2);
    assert_int_equal(keys[4], 4);
    assert_int_equal(ark_attn_top_keys(row, 5, 0, keys, w), 0);
}

/* ---- the induction fixture ---- */

typedef struct induction_fx {
    ark_model *m;
    cJSON *gt;
    int B, T;
    int32_t *ids; /* (B, T) */
} induction_fx;

static bool induction_open(induction_fx *f)
{
    memset(f, 0, sizeof *f);
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", fixture_path("trained/induction-gpt2"));
    snprintf(path, sizeof path, "%s/ground_truth.json", dir);
    f->gt = read_json(path);
    snprintf(path, sizeof path, "%s/eval_ids.json", dir);
    cJSON *ev = read_json(path);
    if (!f->gt || !ev || ark_model_open(dir, &f->m) != ARK_OK) { cJSON_Delete(f->gt); cJSON_Delete(ev); return false; }
    const cJSON *seqs = cJSON_GetObjectItem(ev, "input_ids");
    f->B = cJSON_GetArraySize(seqs);
    f->T = cJSON_GetArraySize(cJSON_GetArrayItem(seqs, 0));
    f->ids = malloc(sizeof(int32_t) * f->B * f->T);
    for (int b = 0; b < f->B; b++)
        for (int t = 0; t < f->T; t++) f->ids[b * f->T + t] = (int32_t)jnum(seqs, b, t);
    cJSON_Delete(ev);
    return true;
}

static void induction_close(induction_fx *f)
{
    ark_model_free(f->m);
    cJSON_Delete(f->gt);
    free(f->ids);
}

/* The heads of a [layer][head] table with score > thr (and layer in range) equal the list. */
static void expect_heads(const float *s, int L, int H, double thr, int lmin, int lmax, const cJSON *list, const char *what)
{
    int found = 0;
    for (int l = lmin; l <= lmax && l < L; l++)
        for (int h = 0; h < H; h++) {
            if (!(s[l * H + h] > thr)) continue;
            bool listed = false;
            const cJSON *x;
            cJSON_ArrayForEach(x, list) listed |= cJSON_GetArrayItem(x, 0)->valueint == l && cJSON_GetArrayItem(x, 1)->valueint == h;
            if (!listed) fail_msg("%s: L%dH%d scores %.4f > %g but is not listed", what, l, h, s[l * H + h], thr);
            found++;
        }
    if (found != cJSON_GetArraySize(list)) fail_msg("%s: %d heads above %g, %d listed", what, found, thr, cJSON_GetArraySize(list));
}

static void test_induction_detect(void **state)
{
    (void)state;
    induction_fx f;
    if (!induction_open(&f)) skip();
    const ark_config *c = ark_model_config(f.m);
    int L = c->n_layers, H = c->n_heads, counts[3];
    ark_head_kind kinds[3] = {ARK_HEAD_PREVIOUS, ARK_HEAD_DUPLICATE, ARK_HEAD_INDUCTION};
    const char *keys[3] = {"previous_token_score", "duplicate_token_score", "induction_score"};
    float *s = malloc(sizeof(float) * 3 * L * H), *s2 = malloc(sizeof(float) * 3 * L * H);
    ark_attn_input in = {f.ids, f.B, f.T, NULL};
    ark_detect_opts o = ARK_DETECT_OPTS_INIT; /* the repeat structure found per row */
    assert_int_equal(ark_detect_heads(f.m, &in, kinds, 3, &o, s, counts), ARK_OK);
    assert_int_equal(counts[0], f.B * (f.T - 1));
    assert_int_equal(counts[1], f.B * f.T / 2);
    assert_int_equal(counts[2], f.B * f.T / 2);
    o.period = f.T / 2;
    assert_int_equal(ark_detect_heads(f.m, &in, kinds, 3, &o, s2, NULL), ARK_OK);
    printf("  induction-gpt2 over %d sequences (ours / ground truth):\n", f.B);
    for (int k = 0; k < 3; k++) {
        const cJSON *want = cJSON_GetObjectItem(f.gt, keys[k]);
        for (int l = 0; l < L; l++) {
            printf("    %-22s L%d:", keys[k], l);
            for (int h = 0; h < H; h++) {
                double ours = s[(k * L + l) * H + h], gt = jnum(want, l, h);
                printf("  %.5f/%.4f", ours, gt);
                if (fabs(ours - gt) > 2e-4) fail_msg("%s L%dH%d: %.5f, ground truth %.4f", keys[k], l, h, ours, gt);
                assert_true(s2[(k * L + l) * H + h] == (float)ours);
            }
            printf("\n");
        }
    }
    double thr = cJSON_GetObjectItem(f.gt, "threshold")->valuedouble;
    expect_heads(s + 2 * L * H, L, H, thr, 0, L - 1, cJSON_GetObjectItem(f.gt, "induction_heads"), "induction_heads");
    expect_heads(s, L, H, thr, 0, L - 1, cJSON_GetObjectItem(f.gt, "previous_token_heads"), "previous_token_heads");
    /* "positional_offset_heads: layer-0 heads with induction_score > 0.1" (its notes) */
    expect_heads(s + 2 * L * H, L, H, 0.1, 0, 0, cJSON_GetObjectItem(f.gt, "positional_offset_heads"), "positional_offset_heads");
    free(s);
    free(s2);
    induction_close(&f);
}

/* Rank of each element (0 = largest). */
static void ranks(const double *v, int n, int *r)
{
    for (int i = 0; i < n; i++) {
        r[i] = 0;
        for (int j = 0; j < n; j++) r[i] += v[j] > v[i] || (v[j] == v[i] && j < i);
    }
}

static void test_induction_ablation(void **state)
{
    (void)state;
    induction_fx f;
    if (!induction_open(&f)) skip();
    const ark_config *c = ark_model_config(f.m);
    int L = c->n_layers, H = c->n_heads, n = L * H;
    ark_attn_input in = {f.ids, f.B, f.T, NULL};
    const cJSON *losses = cJSON_GetObjectItem(f.gt, "losses");
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.targets = ARK_TARGETS_REPEATED;
    double clean;
    float *eff = malloc(sizeof(float) * n);
    assert_int_equal(ark_ablate_heads(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, eff), ARK_OK);
    double want_clean = cJSON_GetObjectItem(losses, "second_half")->valuedouble;
    printf("  second-half loss %.5f (ground truth %.4f); zero-ablation effects (ours / ground truth):\n", clean, want_clean);
    assert_true(fabs(clean - want_clean) < 1e-4);
    const cJSON *want = cJSON_GetObjectItem(f.gt, "zero_ablation_second_half_loss_increase");
    double ours[64], gt[64];
    int ro[64], rg[64];
    for (int i = 0; i < n; i++) {
        ours[i] = eff[i];
        gt[i] = jnum(want, i / H, i % H);
        printf("    L%dH%d %+.5f / %+.4f\n", i / H, i % H, ours[i], gt[i]);
        if ((ours[i] > 0) != (gt[i] > 0)) fail_msg("L%dH%d: effect %+.5f, ground truth %+.4f (sign)", i / H, i % H, ours[i], gt[i]);
        if (fabs(ours[i] - gt[i]) > 2e-4) fail_msg("L%dH%d: effect %+.5f, ground truth %+.4f", i / H, i % H, ours[i], gt[i]);
    }
    ranks(ours, n, ro);
    ranks(gt, n, rg);
    for (int i = 0; i < n; i++) assert_int_equal(ro[i], rg[i]);
    /* the other losses of the fixture: first half (targets 1..23), boundary (24), all */
    int first[23], boundary[1] = {f.T / 2};
    for (int t = 1; t <= 23; t++) first[t - 1] = t;
    ark_head_metric m2 = ARK_HEAD_METRIC_INIT;
    double v, none;
    ark_cache *cache;
    assert_int_equal(ark_run(f.m, f.ids, f.B, f.T, NULL, NULL, &cache), ARK_OK);
    const float *lg = ark_cache_logits(cache)->data;
    assert_int_equal(ark_head_metric_eval(f.m, &in, lg, &m2, &v), ARK_OK);
    assert_true(fabs(v - cJSON_GetObjectItem(losses, "all")->valuedouble) < 1e-4);
    m2.targets = ARK_TARGETS_LIST;
    m2.positions = first;
    m2.n_positions = f.T / 2 - 1;
    assert_int_equal(ark_head_metric_eval(f.m, &in, lg, &m2, &v), ARK_OK);
    assert_true(fabs(v - cJSON_GetObjectItem(losses, "first_half")->valuedouble) < 1e-4);
    m2.positions = boundary;
    m2.n_positions = 1;
    assert_int_equal(ark_head_metric_eval(f.m, &in, lg, &m2, &v), ARK_OK);
    assert_true(fabs(v - cJSON_GetObjectItem(losses, "boundary_target24")->valuedouble) < 1e-4);
    /* logit metrics: the logits themselves, averaged over rows */
    m2 = (ark_head_metric)ARK_HEAD_METRIC_INIT;
    m2.kind = ARK_HEAD_METRIC_LOGIT_DIFF;
    m2.token = 5;
    m2.other = 7;
    m2.pos = -2;
    double want_diff = 0;
    for (int b = 0; b < f.B; b++) {
        const float *r = lg + ((size_t)b * f.T + f.T - 2) * c->d_vocab;
        want_diff += (r[5] - r[7]) / f.B;
    }
    assert_int_equal(ark_head_metric_eval(f.m, &in, lg, &m2, &v), ARK_OK);
    assert_true(fabs(v - want_diff) < 1e-5);
    /* errors */
    m2.pos = f.T;
    assert_int_equal(ark_head_metric_eval(f.m, &in, lg, &m2, &none), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "pos"));
    m2 = (ark_head_metric)ARK_HEAD_METRIC_INIT;
    m2.targets = ARK_TARGETS_LIST;
    m2.positions = boundary;
    boundary[0] = 0;
    m2.n_positions = 1;
    assert_int_equal(ark_head_metric_eval(f.m, &in, lg, &m2, &none), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "targets"));
    ark_cache_free(cache);
    free(eff);
    induction_close(&f);
}

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

/* ---- the JSON tool ---- */

static cJSON *tool_call(ark_tool *t, const char *op, const char *params)
{
    char *out = NULL;
    ark_status s = ark_tool_run(t, op, params, &out);
    if (s != ARK_OK) fail_msg("%s %s: %s", op, params, ark_errmsg());
    cJSON *j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    return j;
}

static void tool_error(ark_tool *t, const char *op, const char *params, const char *needle)
{
    char *out = NULL;
    ark_status s = ark_tool_run(t, op, params, &out);
    if (s == ARK_OK) fail_msg("%s %s: expected an error", op, params);
    if (!strstr(ark_errmsg(), needle)) fail_msg("%s %s: message \"%s\" lacks \"%s\"", op, params, ark_errmsg(), needle);
    free(out);
}

static void test_tool_induction(void **state)
{
    (void)state;
    induction_fx f;
    if (!induction_open(&f)) skip();
    ark_tool_env env = {f.m, NULL};
    ark_tool *t;
    assert_int_equal(ark_tool_new("attention", &env, &t), ARK_OK);
    const ark_config *c = ark_model_config(f.m);
    /* detect on random repeated rows: the ground truth's heads, scores near its (other sequences) */
    cJSON *r = tool_call(t, "detect", "{\"repeat_random\": {\"length\": 24, \"batch\": 50, \"seed\": 1}}");
    assert_int_equal(cJSON_GetObjectItem(r, "layers")->valueint, c->n_layers);
    assert_int_equal(cJSON_GetObjectItem(r, "heads")->valueint, c->n_heads);
    const cJSON *above = cJSON_GetObjectItem(r, "above_threshold"), *det = cJSON_GetObjectItem(r, "detectors");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "tokens")), 50);
    float s[64];
    const cJSON *ind = cJSON_GetObjectItem(det, "induction");
    for (int i = 0; i < c->n_layers * c->n_heads; i++) s[i] = (float)jnum(ind, i / c->n_heads, i % c->n_heads);
    double thr = cJSON_GetObjectItem(f.gt, "threshold")->valuedouble;
    expect_heads(s, c->n_layers, c->n_heads, thr, 0, c->n_layers - 1, cJSON_GetObjectItem(f.gt, "induction_heads"), "random rows");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(above, "induction")),
                     cJSON_GetArraySize(cJSON_GetObjectItem(f.gt, "induction_heads")));
    for (int i = 0; i < c->n_layers * c->n_heads; i++)
        if (fabs(s[i] - jnum(cJSON_GetObjectItem(f.gt, "induction_score"), i / c->n_heads, i % c->n_heads)) > 0.05)
            fail_msg("random rows: induction L%dH%d %.4f far from the ground truth", i / c->n_heads, i % c->n_heads, s[i]);
    cJSON_Delete(r);
    /* two rows given as tokens: the typed function's scores */
    char rows_s[4096], params[4200];
    int n = snprintf(rows_s, sizeof rows_s, "[");
    for (int b = 0; b < 2; b++) {
        n += snprintf(rows_s + n, sizeof rows_s - n, "%s[", b ? "," : "");
        for (int i = 0; i < f.T; i++) n += snprintf(rows_s + n, sizeof rows_s - n, "%s%d", i ? "," : "", f.ids[b * f.T + i]);
        n += snprintf(rows_s + n, sizeof rows_s - n, "]");
    }
    snprintf(rows_s + n, sizeof rows_s - n, "]");
    snprintf(params, sizeof params, "{\"detectors\": \"induction\", \"tokens\": %s}", rows_s);
    r = tool_call(t, "detect", params);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "counts"), "induction")->valueint, 2 * f.T / 2);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "detectors"), "previous"));
    ark_attn_input in2 = {f.ids, 2, f.T, NULL};
    ark_head_kind kind = ARK_HEAD_INDUCTION;
    ark_detect_opts o = ARK_DETECT_OPTS_INIT;
    assert_int_equal(ark_detect_heads(f.m, &in2, &kind, 1, &o, s, NULL), ARK_OK);
    ind = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "detectors"), "induction");
    for (int i = 0; i < c->n_layers * c->n_heads; i++) assert_true(fabs(jnum(ind, i / c->n_heads, i % c->n_heads) - s[i]) < 1e-6);
    cJSON_Delete(r);
    /* top_attended: an induction head at query 40 of row 1 looks at 40 - 23 */
    snprintf(params, sizeof params, "{\"tokens\": %s, \"row\": 1, \"layer\": 1, \"head\": 2, \"pos\": 40, \"k\": 3}", rows_s);
    r = tool_call(t, "top_attended", params);
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "heads"), 0), *top = cJSON_GetObjectItem(h, "top");
    assert_int_equal(cJSON_GetArraySize(top), 3);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "pos")->valueint, 40 - (f.T / 2 - 1));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "id")->valueint, f.ids[f.T + 40 - (f.T / 2 - 1)]);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "query"), "pos")->valueint, 40);
    cJSON_Delete(r);
    /* patterns: shapes and restriction */
    r = tool_call(t, "patterns", "{\"tokens\": [[1, 2, 3, 1, 2, 3], [5, 6]], \"layers\": [-1], \"heads\": [0, 3]}");
    const cJSON *rows = cJSON_GetObjectItem(r, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    const cJSON *p1 = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1), "patterns");
    assert_int_equal(cJSON_GetArraySize(p1), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(p1, 0)), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetArrayItem(p1, 0), 0)), 2); /* row 1 has 2 tokens */
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "layers"), 0)->valueint, c->n_layers - 1);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "heads"), 1)->valueint, 3);
    cJSON_Delete(r);
    /* ablation through JSON equals the typed function */
    r = tool_call(t, "ablation", "{\"repeat_random\": {\"length\": 24, \"batch\": 4, \"seed\": 3}, \"targets\": \"repeated\"}");
    assert_int_equal(cJSON_GetObjectItem(r, "forwards")->valueint, 1 + c->n_layers * c->n_heads);
    assert_true(jnum(cJSON_GetObjectItem(r, "effects"), 0, 0) > 0);
    cJSON_Delete(r);
    ark_tool_free(t);
    induction_close(&f);
}

/* Every error of the JSON entry point names the parameter at fault. */
static void test_tool_errors(void **state)
{
    (void)state;
    induction_fx f;
    if (!induction_open(&f)) skip();
    ark_tool_env env = {f.m, NULL};
    ark_tool *t;
    assert_int_equal(ark_tool_new("attention", &env, &t), ARK_OK);
    tool_error(t, "nope", "{}", "unknown operation");
    tool_error(t, "detect", "{}", "no input");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"method\": \"x\"}", "\"method\"");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"detectors\": [\"bogus\"]}", "bogus");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"exclude_bos\": true}", "exclude_bos");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"method\": \"tl\", \"error_measure\": \"sq\"}", "error_measure");
    tool_error(t, "detect", "{\"tokens\": [1, 2], \"custom\": [[0, 1], [1, 0]]}", "lower triangular");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"custom\": [[0, 0], [1, 0]]}", "custom");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"custom\": [[0, 0], [1]]}", "custom");
    tool_error(t, "detect", "{\"tokens\": [5], \"method\": \"tl\"}", ">= 2");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 999]}", "out of range");
    tool_error(t, "detect", "{\"repeat_random\": {\"length\": 0}}", "length");
    tool_error(t, "detect", "{\"repeat_random\": {\"length\": 4, \"batch\": 0}}", "batch");
    tool_error(t, "detect", "{\"repeat_random\": {\"length\": 4, \"low\": 5, \"high\": 5}}", "range");
    tool_error(t, "detect", "{\"repeat_random\": {\"length\": 4, \"bos\": 100000}}", "bos");
    tool_error(t, "detect", "{\"tokens\": [1, 2, 3], \"period\": -2}", "period");
    tool_error(t, "patterns", "{\"tokens\": [1, 2, 3], \"layers\": [9]}", "layers");
    tool_error(t, "patterns", "{\"tokens\": [1, 2, 3], \"heads\": [-9]}", "heads");
    tool_error(t, "patterns", "{\"tokens\": [1, 2, 3], \"row\": 1}", "row");
    tool_error(t, "top_attended", "{\"tokens\": [1, 2, 3], \"pos\": 3}", "pos");
    tool_error(t, "top_attended", "{\"tokens\": [1, 2, 3], \"layer\": 5}", "layer");
    tool_error(t, "top_attended", "{\"tokens\": [1, 2, 3], \"head\": 4}", "head");
    tool_error(t, "top_attended", "{\"tokens\": [1, 2, 3], \"k\": 0}", "\"k\"");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"mode\": \"resample\"}", "mode");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"metric\": \"acc\"}", "metric");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"metric\": \"logit\"}", "token");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"metric\": \"logit_diff\", \"token\": 1}", "other");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"metric\": \"logit\", \"token\": 500}", "token");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"metric\": \"logit\", \"token\": \"abc\"}", "token");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"targets\": \"repeated\"}", "targets");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"targets\": [3]}", "targets");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"targets\": \"some\"}", "targets");
    tool_error(t, "ablation", "{\"tokens\": [1, 2, 3], \"metric\": \"logit\", \"token\": 1, \"pos\": -4}", "pos");
    ark_tool_free(t);
    induction_close(&f);
}

/* A folder with a tokenizer: str_tokens and tokens given as strings. */
static void test_tool_text(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", fixture_path("trained/facts-llama"));
    ark_model *m;
    ark_tokenizer *tok;
    if (ark_model_open(dir, &m) != ARK_OK) skip();
    assert_int_equal(ark_tokenizer_open(dir, &tok), ARK_OK);
    ark_tool_env env = {m, tok};
    ark_tool *t;
    assert_int_equal(ark_tool_new("attention", &env, &t), ARK_OK);
    cJSON *r = tool_call(t, "patterns", "{\"text\": \"Gaishar Tastei lives in\", \"layers\": [0], \"heads\": [1]}");
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0), *st = cJSON_GetObjectItem(row, "str_tokens");
    assert_int_equal(cJSON_GetArraySize(st), 4);
    assert_string_equal(cJSON_GetArrayItem(st, 2)->valuestring, "lives");
    cJSON_Delete(r);
    r = tool_call(t, "ablation", "{\"text\": \"Gaishar Tastei lives in\", \"metric\": \"logit_diff\", \"token\": \"Prague\", "
                                 "\"other\": \"Paris\", \"mode\": \"mean\"}");
    assert_string_equal(cJSON_GetObjectItem(r, "token_str")->valuestring, "Prague");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "effects")), ark_model_config(m)->n_layers);
    cJSON_Delete(r);
    r = tool_call(t, "top_attended", "{\"text\": \"Gaishar Tastei lives in\", \"layer\": -1, \"k\": 2}");
    const cJSON *heads = cJSON_GetObjectItem(r, "heads");
    assert_int_equal(cJSON_GetArraySize(heads), ark_model_config(m)->n_heads);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "query"), "token")->valuestring, "in");
    cJSON_Delete(r);
    tool_error(t, "ablation", "{\"text\": \"Gaishar lives\", \"metric\": \"logit\", \"token\": \"lives in\"}", "token");
    ark_tool_free(t);
    ark_tokenizer_free(tok);
    ark_model_free(m);
}

/* The typed functions' own argument checks. */
static void test_errors(void **state)
{
    (void)state;
    induction_fx f;
    if (!induction_open(&f)) skip();
    int32_t ids[4] = {1, 2, 1, 2};
    uint8_t none[4] = {0, 0, 0, 0};
    ark_attn_input in = {ids, 1, 4, NULL}, empty = {ids, 1, 4, none}, nothing = {NULL, 0, 0, NULL};
    ark_head_kind k = ARK_HEAD_CUSTOM, bad = (ark_head_kind)9;
    float s[64];
    ark_detect_opts o = ARK_DETECT_OPTS_INIT;
    assert_int_equal(ark_detect_heads(f.m, &nothing, &k, 1, &o, s, NULL), ARK_ERR_ARG);
    assert_int_equal(ark_detect_heads(f.m, &empty, &k, 1, &o, s, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "no real token"));
    assert_int_equal(ark_detect_heads(f.m, &in, &k, 1, &o, s, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "custom"));
    assert_int_equal(ark_detect_heads(f.m, &in, &bad, 1, &o, s, NULL), ARK_ERR_ARG);
    assert_int_equal(ark_detect_heads(f.m, &in, &k, 0, &o, s, NULL), ARK_ERR_ARG);
    o.method = (ark_detect_method)5;
    k = ARK_HEAD_PREVIOUS;
    assert_int_equal(ark_detect_heads(f.m, &in, &k, 1, &o, s, NULL), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "method"));
    /* a detector with nothing to average scores NaN */
    o = (ark_detect_opts)ARK_DETECT_OPTS_INIT;
    int32_t plain[3] = {1, 2, 3};
    ark_attn_input pin = {plain, 1, 3, NULL};
    k = ARK_HEAD_INDUCTION;
    int count = -1;
    assert_int_equal(ark_detect_heads(f.m, &pin, &k, 1, &o, s, &count), ARK_OK);
    assert_int_equal(count, 0);
    assert_true(isnan(s[0]));
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    double clean;
    assert_int_equal(ark_ablate_heads(f.m, &in, (ark_ablate_mode)7, &mt, &clean, s), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "mode"));
    mt.kind = ARK_HEAD_METRIC_LOGIT;
    assert_int_equal(ark_ablate_heads(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, s), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "token"));
    ark_repeat_spec spec = ARK_REPEAT_SPEC_INIT;
    spec.length = 3;
    spec.low = -1;
    assert_int_equal(ark_repeat_random_tokens(f.m, &spec, (int32_t *)s), ARK_ERR_ARG);
    /* same seed, same rows; another seed, other rows; ids in [low, high) */
    int32_t a[2 * 21], b[2 * 21], c2[2 * 21];
    spec = (ark_repeat_spec)ARK_REPEAT_SPEC_INIT;
    spec.length = 10;
    spec.batch = 2;
    spec.bos = 0;
    spec.low = 3;
    spec.high = 9;
    assert_int_equal(ark_repeat_random_tokens(f.m, &spec, a), ARK_OK);
    assert_int_equal(ark_repeat_random_tokens(f.m, &spec, b), ARK_OK);
    spec.seed = 1;
    assert_int_equal(ark_repeat_random_tokens(f.m, &spec, c2), ARK_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c2, sizeof a);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(a[r * 21], 0);
        for (int i = 1; i < 21; i++) assert_true(a[r * 21 + i] >= 3 && a[r * 21 + i] < 9);
        for (int i = 0; i < 10; i++) assert_int_equal(a[r * 21 + 1 + i], a[r * 21 + 11 + i]);
    }
    induction_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detection_patterns), cmocka_unit_test(test_repeat_structure),
        cmocka_unit_test(test_similarity),         cmocka_unit_test(test_top_keys),
        cmocka_unit_test(test_induction_detect),   cmocka_unit_test(test_induction_ablation),
        cmocka_unit_test(test_patterns_hf),        cmocka_unit_test(test_fixture_models),
        cmocka_unit_test(test_padding),           cmocka_unit_test(test_tool_induction),
        cmocka_unit_test(test_tool_errors),       cmocka_unit_test(test_tool_text),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
