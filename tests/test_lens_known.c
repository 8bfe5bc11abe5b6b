/* The logit lens, direct logit attribution and the decomposer: known
 * answers, helpers by hand and errors.
 *
 * On trained/induction-gpt2: per-head DLA against the vocabulary mean equals
 * ground_truth.json's direct_logit_attribution (same definition), in value,
 * sign and order.  Plus the lens' top-k / rank helpers, singular directions
 * (U diag(S) V^T is the circuit) and error paths.
 *
 * The comparison against the references of every fixture model is in
 * test_lens.c. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_decomposer.h"
#include "arrakis/tool_logit.h"
#include "arrakis/tool_logit_lens.h"
#include "arrakis/tool_residual.h"
#include "lens_testutil.h"
#include "testutil.h"

/* ---- a known answer: induction heads' direct logit attribution ---- */

static cJSON *read_json(const char *path)
{
    char *text = read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

/* ground_truth.json's direct_logit_attribution [layer][head]: "head output
 * at positions 24..46 mapped through the final LayerNorm (scale frozen from
 * the real residual, centred) and unembedding: logit of the correct next
 * token minus mean logit over the vocab", averaged over eval_ids.json's 100
 * sequences — here ark_logit_attribution by head, against_mean, at every
 * position with the next token as target. */
static void test_induction_dla(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", fixture_path("trained/induction-gpt2"));
    snprintf(path, sizeof path, "%.4000s/ground_truth.json", dir);
    cJSON *gt = read_json(path);
    snprintf(path, sizeof path, "%.4000s/eval_ids.json", dir);
    cJSON *ev = read_json(path);
    if (!gt || !ev) { cJSON_Delete(gt); cJSON_Delete(ev); skip(); }
    const cJSON *dla = cJSON_GetObjectItem(gt, "direct_logit_attribution"), *seqs = cJSON_GetObjectItem(ev, "input_ids");
    ark_model *m;
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    const ark_config *c = ark_model_config(m);
    int H = c->n_heads, nh = c->n_layers * H, N = cJSON_GetArraySize(seqs), count = 0;
    ark_dla_opts o = ARK_DLA_OPTS_INIT;
    o.by = ARK_DLA_BY_HEAD;
    o.against_mean = true;
    char **names;
    ark_plan *plan = (assert_int_equal(ark_dla_hooks(m, &o, &names), ARK_OK), plan_of(m, names));
    double *sum = calloc((size_t)nh, sizeof(double));
    for (int s = 0; s < N; s++) {
        const cJSON *row = cJSON_GetArrayItem(seqs, s);
        int T = cJSON_GetArraySize(row);
        int32_t *ids = malloc(sizeof(int32_t) * T), *next = malloc(sizeof(int32_t) * T);
        for (int t = 0; t < T; t++) ids[t] = (int32_t)cJSON_GetArrayItem(row, t)->valuedouble;
        for (int t = 0; t < T; t++) next[t] = ids[t + 1 < T ? t + 1 : t];
        ark_cache *cache;
        assert_int_equal(ark_run(m, ids, 1, T, NULL, plan, &cache), ARK_OK);
        ark_dla *d;
        assert_int_equal(ark_logit_attribution(m, cache, &o, next, NULL, &d), ARK_OK);
        for (int l = 0; l < c->n_layers; l++)
            for (int h = 0; h < H; h++) {
                char label[32];
                snprintf(label, sizeof label, "L%dH%d", l, h);
                int i = 0;
                while (i < d->n && strcmp(d->labels[i], label)) i++;
                assert_true(i < d->n);
                for (int t = 24; t <= 46 && t + 1 < T; t++) sum[l * H + h] += d->attr[(size_t)i * T + t];
            }
        for (int t = 24; t <= 46 && t + 1 < T; t++) count++;
        ark_dla_free(d);
        ark_cache_free(cache);
        free(ids);
        free(next);
    }
    double *ours = malloc(sizeof(double) * nh), *want = malloc(sizeof(double) * nh);
    printf("  induction-gpt2 per-head DLA over %d sequences, positions 24..46 (ours / ground truth):\n", N);
    for (int l = 0; l < c->n_layers; l++) {
        printf("    layer %d:", l);
        for (int h = 0; h < H; h++) {
            int i = l * H + h;
            ours[i] = sum[i] / count;
            want[i] = cJSON_GetArrayItem(cJSON_GetArrayItem(dla, l), h)->valuedouble;
            printf("  L%dH%d %+.5f / %+.4f", l, h, ours[i], want[i]);
            if (fabs(ours[i] - want[i]) > 2e-4) fail_msg("L%dH%d: DLA %.5f, ground truth %.4f", l, h, ours[i], want[i]);
            if ((ours[i] > 0) != (want[i] > 0)) fail_msg("L%dH%d: sign differs", l, h);
        }
        printf("\n");
    }
    for (int i = 0; i < nh; i++) /* the same order */
        for (int j = 0; j < nh; j++)
            if (want[i] > want[j] && !(ours[i] > ours[j])) fail_msg("heads %d and %d are ordered differently", i, j);
    free(ours);
    free(want);
    free(sum);
    ark_plan_free(plan);
    ark_model_free(m);
    cJSON_Delete(gt);
    cJSON_Delete(ev);
}

/* ---- the lens' helpers, by hand ---- */

static void test_lens_helpers(void **state)
{
    (void)state;
    float x[6] = {1.0f, 3.0f, 3.0f, -2.0f, 0.5f, 2.0f};
    int32_t ids[6];
    float probs[6], logit, prob;
    int rank;
    assert_int_equal(ark_lens_topk(x, 6, 3, ids, probs), 3);
    assert_int_equal(ids[0], 1); /* ties: the lower id first */
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 5);
    double z = 0;
    for (int v = 0; v < 6; v++) z += exp(x[v]);
    assert_true(fabs(probs[0] - exp(3.0) / z) < 1e-6);
    assert_true(fabs(probs[2] - exp(2.0) / z) < 1e-6);
    assert_int_equal(ark_lens_topk(x, 6, 10, ids, probs), 6);
    assert_int_equal(ids[5], 3);
    assert_int_equal(ark_lens_token(x, 6, 5, &logit, &prob, &rank), ARK_OK);
    assert_int_equal(rank, 2);
    assert_true(logit == 2.0f && fabs(prob - exp(2.0) / z) < 1e-6);
    assert_int_equal(ark_lens_token(x, 6, 2, NULL, NULL, &rank), ARK_OK);
    assert_int_equal(rank, 0);
    assert_int_equal(ark_lens_token(x, 6, 6, NULL, NULL, NULL), ARK_ERR_ARG);
    int layer, unit;
    assert_int_equal(ark_dla_part("L3H2", &layer, &unit), 'a');
    assert_true(layer == 3 && unit == 2);
    assert_int_equal(ark_dla_part("1_mlp_bias", &layer, &unit), 'm');
    assert_true(layer == 1 && unit == -1);
    assert_int_equal(ark_dla_part("L0N17", &layer, &unit), 'm');
    assert_int_equal(ark_dla_part("pos_embed", &layer, &unit), 'e');
    assert_int_equal(ark_dla_part("final_post", &layer, &unit), 0);
}

/* ---- singular directions: U diag(S) V^T is the circuit ---- */

static void test_svd(void **state)
{
    (void)state;
    ark_model *m;
    assert_int_equal(ark_model_open(fixture_path("models/llama"), &m), ARK_OK);
    const ark_config *c = ark_model_config(m);
    for (int kind = ARK_SVD_OV; kind <= ARK_SVD_QK; kind++) {
        ark_svd *s;
        assert_int_equal(ark_circuit_svd(m, (ark_svd_circuit)kind, -1, c->n_heads - 1, &s), ARK_OK);
        ark_factored *f;
        assert_int_equal((kind == ARK_SVD_OV ? ark_ov_circuit : ark_qk_circuit)(m, c->n_layers - 1, c->n_heads - 1, &f), ARK_OK);
        int d = c->d_model;
        float *M = malloc(sizeof(float) * d * d), *R = calloc((size_t)d * d, sizeof(float));
        ark_factored_materialize(f, M);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int k = 0; k < s->r; k++) R[(size_t)i * d + j] += s->U[(size_t)i * s->r + k] * s->S[k] * s->V[(size_t)j * s->r + k];
        size_t worst;
        assert_true(tol_ratio(R, M, (size_t)d * d, 1e-4, 1e-4, &worst) <= 1.0);
        for (int k = 0; k + 1 < s->r; k++) assert_true(s->S[k] >= s->S[k + 1]);
        for (int k = 0; k < s->r; k++) { /* the sign rule */
            float best = 0;
            for (int j = 0; j < d; j++) if (fabsf(s->V[(size_t)j * s->r + k]) > fabsf(best)) best = s->V[(size_t)j * s->r + k];
            assert_true(best > 0);
        }
        assert_int_equal(s->r, c->d_head);
        free(M);
        free(R);
        ark_factored_free(f);
        ark_svd_free(s);
    }
    ark_svd *s;
    assert_int_equal(ark_circuit_svd(m, ARK_SVD_MLP_OUT, 0, -1, &s), ARK_OK);
    assert_int_equal(s->rows, c->d_mlp);
    assert_int_equal(s->r, c->d_model < c->d_mlp ? c->d_model : c->d_mlp);
    ark_svd_free(s);
    ark_svd_circuit k;
    assert_int_equal(ark_svd_circuit_parse("mlp-in", &k), ARK_OK);
    assert_int_equal(k, ARK_SVD_MLP_IN);
    assert_int_equal(ark_svd_circuit_parse("vo", &k), ARK_ERR_ARG);
    assert_int_equal(ark_circuit_svd(m, ARK_SVD_OV, 0, c->n_heads, &s), ARK_ERR_ARG);
    assert_int_equal(ark_circuit_svd(m, ARK_SVD_OV, c->n_layers, 0, &s), ARK_ERR_ARG);
    ark_model_free(m);
}

/* ---- errors name what is wrong ---- */

static void expect_tool_error(ark_model *m, const char *tool, const char *op, const char *params, const char *needle)
{
    ark_tool_env env = {m, NULL};
    ark_tool *t;
    assert_int_equal(ark_tool_new(tool, &env, &t), ARK_OK);
    char *out = NULL;
    ark_status s = ark_tool_run(t, op, params, &out);
    if (s == ARK_OK) fail_msg("%s %s %s: expected an error", tool, op, params);
    if (!strstr(ark_errmsg(), needle)) fail_msg("%s %s: message \"%s\" lacks \"%s\"", tool, params, ark_errmsg(), needle);
    free(out);
    ark_tool_free(t);
}

static void test_errors(void **state)
{
    (void)state;
    ark_model *m;
    assert_int_equal(ark_model_open(fixture_path("models/gpt2"), &m), ARK_OK);
    int32_t ids[4] = {1, 2, 3, 4}, tok = 5, bad = 1 << 20;
    ark_cache *c; /* a cache with nothing kept */
    assert_int_equal(ark_run(m, ids, 1, 4, NULL, NULL, &c), ARK_OK);
    ark_lens *l;
    assert_int_equal(ark_logit_lens(m, c, NULL, &l), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "hook_resid_pre"));
    ark_dla *d;
    ark_dla_opts o = ARK_DLA_OPTS_INIT;
    o.pos = -1; /* tokens hold one id: (B, P) = (1, 1) */
    assert_int_equal(ark_logit_attribution(m, c, &o, &tok, NULL, &d), ARK_ERR_MISSING);
    o.against_mean = true;
    assert_int_equal(ark_logit_attribution(m, c, &o, &tok, &tok, &d), ARK_ERR_ARG);
    o.against_mean = false;
    o.pos = 4;
    assert_int_equal(ark_logit_attribution(m, c, &o, &tok, NULL, &d), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "position 4"));
    ark_cache_free(c);
    ark_plan *plan = ark_plan_new(m);
    ark_plan_keep_all(plan);
    assert_int_equal(ark_run(m, ids, 1, 4, NULL, plan, &c), ARK_OK);
    o.pos = -1;
    assert_int_equal(ark_logit_attribution(m, c, &o, &bad, NULL, &d), ARK_ERR_ARG);
    ark_lens_opts lo = ARK_LENS_OPTS_INIT;
    lo.pos = -5;
    assert_int_equal(ark_logit_lens(m, c, &lo, &l), ARK_ERR_ARG);
    ark_cache_free(c);
    ark_plan_free(plan);
    expect_tool_error(m, "logit", "attribute", "{\"tokens\": [1, 2]}", "\"target\"");
    expect_tool_error(m, "logit", "attribute", "{\"tokens\": [1, 2], \"target\": 3, \"by\": \"block\"}", "\"by\"");
    expect_tool_error(m, "logit", "attribute", "{\"tokens\": [1, 2], \"target\": 3, \"pos\": 2}", "\"pos\"");
    expect_tool_error(m, "logit", "attribute", "{\"tokens\": [1, 2], \"target\": 99999}", "\"target\"");
    expect_tool_error(m, "logit", "attribute", "{\"tokens\": [1, 2], \"target\": 3, \"against\": 4, \"against_mean\": true}", "exclude");
    expect_tool_error(m, "logit_lens", "lens", "{\"tokens\": [1, 2], \"scale\": \"mine\"}", "\"scale\"");
    expect_tool_error(m, "logit_lens", "lens", "{\"tokens\": [1, 2], \"top_k\": -1}", "\"top_k\"");
    expect_tool_error(m, "logit_lens", "lens", "{\"target\": 3}", "no input");
    expect_tool_error(m, "logit_lens", "nope", "{}", "unknown op");
    expect_tool_error(m, "residual", "stats", "{\"tokens\": [1, 2], \"layer\": 7}", "\"layer\"");
    expect_tool_error(m, "decomposer", "svd", "{\"layer\": 0, \"circuit\": \"vo\", \"head\": 0}", "circuit");
    expect_tool_error(m, "decomposer", "svd", "{\"layer\": 0, \"circuit\": \"ov\"}", "\"head\"");
    expect_tool_error(m, "decomposer", "svd", "{\"circuit\": \"ov\", \"head\": 0}", "\"layer\"");
    expect_tool_error(m, "decomposer", "decompose", "{\"tokens\": [1, 2], \"direction\": [1, 2]}", "\"direction\"");
    expect_tool_error(m, "decomposer", "decompose", "{\"tokens\": [1, 2], \"direction_file\": \"/nonexistent/u.txt\"}",
                      "/nonexistent/u.txt");
    /* direction files: text and safetensors */
    int dm = ark_model_config(m)->d_model;
    const char *tmp = scratch_dir("lens");
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/u.txt", tmp);
    FILE *f = fopen(path, "w");
    for (int j = 0; j < dm; j++) fprintf(f, "%s%d", j ? ", " : "[", j);
    fprintf(f, "]\n");
    fclose(f);
    float *u = malloc(sizeof(float) * dm);
    assert_int_equal(ark_direction_load(path, NULL, dm, u), ARK_OK);
    assert_true(u[0] == 0.0f && u[dm - 1] == (float)(dm - 1));
    assert_int_equal(ark_direction_load(path, NULL, dm + 1, u), ARK_ERR_SHAPE);
    snprintf(path, sizeof path, "%.4000s/u.safetensors", tmp);
    ark_st_writer *w = ark_st_writer_new();
    int64_t shape[1] = {dm};
    for (int j = 0; j < dm; j++) u[j] = 0.5f * j;
    assert_int_equal(ark_st_writer_add_f32(w, "dir", ARK_F32, u, 1, shape), ARK_OK);
    assert_int_equal(ark_st_writer_save(w, path), ARK_OK);
    ark_st_writer_free(w);
    memset(u, 0, sizeof(float) * dm);
    assert_int_equal(ark_direction_load(path, "dir", dm, u), ARK_OK);
    assert_true(u[3] == 1.5f);
    assert_int_equal(ark_direction_load(path, "other", dm, u), ARK_ERR_MISSING);
    free(u);
    ark_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_induction_dla),
        cmocka_unit_test(test_lens_helpers),
        cmocka_unit_test(test_svd),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
