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
 *   - the JSON tool: every op, repeat_random, and every error path.
 *
 * Patterns against Hugging Face, every fixture model's detection and
 * ablation, and padded batches are in test_attention_models.c; per-row
 * ablation values in test_attention_rows.c. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_attention.h"
#include "attention_testutil.h"
#include "testutil.h"

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

/* induction_fx, induction_open, induction_close: attention_testutil.h */

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
        cmocka_unit_test(test_tool_induction),     cmocka_unit_test(test_tool_errors),
        cmocka_unit_test(test_tool_text),          cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
