/* Per-row values of the attention tool's head ablation
 * (ark_ablate_heads_rows and the "ablation" op's "per_row"), on the trained
 * induction-gpt2 fixture, against independent computations:
 *
 *   - zero ablation: each row's value equals the metric of that row run
 *     alone (its real tokens only, no padding) through ark_run with
 *     ark_plan_zero_ablate on blocks.L.attn.hook_z, the cross-entropy /
 *     logits computed here by hand — for loss on repeated targets, loss on
 *     every target of a batch padded on both sides, and logit_diff;
 *   - mean ablation: each row's value equals the full forward of the batch
 *     with ark_plan_mean_ablate, read row by row here;
 *   - the pooled metric is unchanged (ark_ablate_heads gives the same clean
 *     and effects) and equals the per-row values weighted by the target
 *     counts counted here;
 *   - a row without targets is NaN with count 0 and leaves the pool alone;
 *   - the JSON op: "per_row" only when asked, [layer][head][row], the typed
 *     function's numbers, null for NaN, and a bad "per_row" is refused. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_attention.h"
#include "testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4
#define PERIOD 24 /* the fixture's sequences: 24 random ids repeated twice */

typedef struct fx {
    ark_model *m;
    int B, T, L, H, V;
    int32_t *ids; /* (B, T) eval_ids.json */
} fx;

static bool fx_open(fx *f)
{
    memset(f, 0, sizeof *f);
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", fixture_path("trained/induction-gpt2"));
    snprintf(path, sizeof path, "%s/eval_ids.json", dir);
    char *text = read_file(path, NULL);
    cJSON *ev = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!ev || ark_model_open(dir, &f->m) != ARK_OK) { cJSON_Delete(ev); return false; }
    const cJSON *seqs = cJSON_GetObjectItem(ev, "input_ids");
    f->B = cJSON_GetArraySize(seqs);
    f->T = cJSON_GetArraySize(cJSON_GetArrayItem(seqs, 0));
    f->ids = malloc(sizeof(int32_t) * f->B * f->T);
    for (int b = 0; b < f->B; b++)
        for (int t = 0; t < f->T; t++)
            f->ids[b * f->T + t] = (int32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(seqs, b), t)->valuedouble;
    cJSON_Delete(ev);
    const ark_config *c = ark_model_config(f->m);
    f->L = c->n_layers;
    f->H = c->n_heads;
    f->V = c->d_vocab;
    return true;
}

static void fx_close(fx *f)
{
    ark_model_free(f->m);
    free(f->ids);
}

static void expect_close(double ours, double ref, const char *what, int l, int h, int b)
{
    if (!(fabs(ours - ref) <= ATOL + RTOL * fabs(ref)))
        fail_msg("%s L%dH%d row %d: %.8f, reference %.8f", what, l, h, b, ours, ref);
}

/* Logits (n, V) of ids (n) run alone, head (l, h) zero-ablated through the
 * interventions (l < 0: clean).  Caller frees. */
static float *row_logits(const fx *f, const int32_t *ids, int n, int l, int h)
{
    ark_plan *p = ark_plan_new(f->m);
    if (l >= 0) {
        char z[64];
        snprintf(z, sizeof z, "blocks.%d.attn.hook_z", l);
        ark_select sel = {0};
        sel.heads = &h;
        sel.n_heads = 1;
        assert_int_equal(ark_plan_zero_ablate(p, z, &sel), ARK_OK);
    }
    ark_cache *c;
    assert_int_equal(ark_run(f->m, ids, 1, n, NULL, p, &c), ARK_OK);
    float *out = malloc(sizeof(float) * n * f->V);
    memcpy(out, ark_cache_logits(c)->data, sizeof(float) * n * f->V);
    ark_cache_free(c);
    ark_plan_free(p);
    return out;
}

/* Mean CE (natural log) of predicting ids[t] from logits[t - 1] over t in [first, n). */
static double mean_ce(const float *lg, int V, const int32_t *ids, int first, int n)
{
    double sum = 0;
    for (int t = first; t < n; t++) {
        const float *x = lg + (size_t)(t - 1) * V;
        double mx = x[0], s = 0;
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++) s += exp((double)x[v] - mx);
        sum += mx + log(s) - x[ids[t]];
    }
    return sum / (n - first);
}

/* Loss on the repeated targets 25..47 of 4 full rows: each row alone, and the pooled metric. */
static void test_loss_repeated(void **state)
{
    (void)state;
    fx f;
    if (!fx_open(&f)) skip();
    int B = 4, T = f.T, L = f.L, H = f.H;
    assert_int_equal(T, 2 * PERIOD);
    for (int b = 0; b < B; b++)
        for (int t = PERIOD; t < T; t++) assert_int_equal(f.ids[b * T + t], f.ids[b * T + t - PERIOD]);
    ark_attn_input in = {f.ids, B, T, NULL};
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.targets = ARK_TARGETS_REPEATED;
    double clean, clean0, cr[4], *ar = malloc(sizeof(double) * L * H * B);
    float *eff = malloc(sizeof(float) * L * H), *eff0 = malloc(sizeof(float) * L * H);
    int counts[4];
    assert_int_equal(ark_ablate_heads_rows(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, eff, cr, ar, counts), ARK_OK);
    /* the pooled numbers are ark_ablate_heads' own, bit for bit */
    assert_int_equal(ark_ablate_heads(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean0, eff0), ARK_OK);
    assert_true(clean == clean0);
    assert_memory_equal(eff, eff0, sizeof(float) * L * H);
    int first = PERIOD + 1, want_count = T - first;
    double pooled = 0;
    for (int b = 0; b < B; b++) {
        assert_int_equal(counts[b], want_count);
        float *lg = row_logits(&f, f.ids + b * T, T, -1, 0);
        expect_close(cr[b], mean_ce(lg, f.V, f.ids + b * T, first, T), "clean loss", -1, -1, b);
        free(lg);
        pooled += want_count * cr[b];
    }
    expect_close(pooled / (B * want_count), clean, "weighted mean of clean rows", -1, -1, -1);
    double worst = 0;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            const double *rows = ar + ((size_t)l * H + h) * B;
            double pool = 0;
            for (int b = 0; b < B; b++) {
                float *lg = row_logits(&f, f.ids + b * T, T, l, h);
                double want = mean_ce(lg, f.V, f.ids + b * T, first, T);
                free(lg);
                expect_close(rows[b], want, "zero-ablated loss", l, h, b);
                worst = fmax(worst, fabs(rows[b] - want));
                pool += want_count * rows[b];
            }
            /* effects are float: compare the pool to clean + effect at float precision */
            expect_close(pool / (B * want_count) - clean, eff[l * H + h], "weighted mean - clean vs effect", l, h, -1);
        }
    printf("  %d rows x %d heads: per-row zero-ablated losses equal single-row runs (largest difference %.2g)\n", B,
           L * H, worst);
    free(ar);
    free(eff);
    free(eff0);
    fx_close(&f);
}

/* Every target, a batch padded on the left (row 1) and on the right (row 2). */
static void test_loss_padded(void **state)
{
    (void)state;
    fx f;
    if (!fx_open(&f)) skip();
    int B = 3, T = f.T, L = f.L, H = f.H, len[3] = {T, 40, 30};
    int32_t *tok = calloc((size_t)B * T, sizeof(int32_t));
    uint8_t *mask = calloc((size_t)B * T, 1);
    for (int b = 0; b < B; b++) {
        int off = b == 1 ? T - len[b] : 0; /* row 1 left-padded, row 2 right-padded */
        for (int i = 0; i < len[b]; i++) {
            tok[b * T + off + i] = f.ids[b * T + i];
            mask[b * T + off + i] = 1;
        }
    }
    ark_attn_input in = {tok, B, T, mask};
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    double clean, cr[3], *ar = malloc(sizeof(double) * L * H * B);
    float *eff = malloc(sizeof(float) * L * H);
    int counts[3];
    assert_int_equal(ark_ablate_heads_rows(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, eff, cr, ar, counts), ARK_OK);
    double pool = 0;
    int total = 0;
    for (int b = 0; b < B; b++) {
        assert_int_equal(counts[b], len[b] - 1);
        float *lg = row_logits(&f, f.ids + b * T, len[b], -1, 0);
        expect_close(cr[b], mean_ce(lg, f.V, f.ids + b * T, 1, len[b]), "padded clean loss", -1, -1, b);
        free(lg);
        pool += (len[b] - 1) * cr[b];
        total += len[b] - 1;
    }
    expect_close(pool / total, clean, "padded weighted mean", -1, -1, -1);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++)
            for (int b = 0; b < B; b++) {
                float *lg = row_logits(&f, f.ids + b * T, len[b], l, h);
                expect_close(ar[((size_t)l * H + h) * B + b], mean_ce(lg, f.V, f.ids + b * T, 1, len[b]),
                             "padded zero-ablated loss", l, h, b);
                free(lg);
            }
    free(ar);
    free(eff);
    free(tok);
    free(mask);
    fx_close(&f);
}

/* logit_diff at the last token: each row's value; the pooled metric is their plain mean. */
static void test_logit_diff(void **state)
{
    (void)state;
    fx f;
    if (!fx_open(&f)) skip();
    int B = 3, T = f.T, L = f.L, H = f.H;
    ark_attn_input in = {f.ids, B, T, NULL};
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.kind = ARK_HEAD_METRIC_LOGIT_DIFF;
    mt.token = 5;
    mt.other = 7;
    mt.pos = -1;
    double clean, cr[3], *ar = malloc(sizeof(double) * L * H * B);
    float *eff = malloc(sizeof(float) * L * H);
    int counts[3];
    assert_int_equal(ark_ablate_heads_rows(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, eff, cr, ar, counts), ARK_OK);
    double mean = 0;
    for (int b = 0; b < B; b++) {
        assert_int_equal(counts[b], 1);
        mean += cr[b] / B;
    }
    expect_close(mean, clean, "mean of logit_diff rows", -1, -1, -1);
    for (int l = -1; l < L; l++)
        for (int h = 0; h < (l < 0 ? 1 : H); h++)
            for (int b = 0; b < B; b++) {
                float *lg = row_logits(&f, f.ids + b * T, T, l, h);
                const float *last = lg + (size_t)(T - 1) * f.V;
                double want = (double)last[5] - last[7];
                expect_close(l < 0 ? cr[b] : ar[((size_t)l * H + h) * B + b], want, "logit_diff", l, h, b);
                free(lg);
            }
    free(ar);
    free(eff);
    fx_close(&f);
}

/* Mean ablation: each row's value equals the batch's full forward with ark_plan_mean_ablate. */
static void test_mean_ablation(void **state)
{
    (void)state;
    fx f;
    if (!fx_open(&f)) skip();
    int B = 3, T = f.T, L = f.L, H = f.H;
    ark_attn_input in = {f.ids, B, T, NULL};
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.targets = ARK_TARGETS_REPEATED;
    double clean, cr[3], *ar = malloc(sizeof(double) * L * H * B);
    float *eff = malloc(sizeof(float) * L * H);
    assert_int_equal(ark_ablate_heads_rows(f.m, &in, ARK_ABLATE_MEAN, &mt, &clean, eff, cr, ar, NULL), ARK_OK);
    ark_plan *keep = ark_plan_new(f.m);
    assert_int_equal(ark_plan_keep(keep, "blocks.*.attn.hook_z"), ARK_OK);
    ark_cache *ref;
    assert_int_equal(ark_run(f.m, f.ids, B, T, NULL, keep, &ref), ARK_OK);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            char z[64];
            snprintf(z, sizeof z, "blocks.%d.attn.hook_z", l);
            ark_select sel = {0};
            sel.heads = &h;
            sel.n_heads = 1;
            ark_plan *p = ark_plan_new(f.m);
            assert_int_equal(ark_plan_mean_ablate(p, z, ref, &sel), ARK_OK);
            ark_cache *c;
            assert_int_equal(ark_run(f.m, f.ids, B, T, NULL, p, &c), ARK_OK);
            for (int b = 0; b < B; b++)
                expect_close(ar[((size_t)l * H + h) * B + b],
                             mean_ce(ark_cache_logits(c)->data + (size_t)b * T * f.V, f.V, f.ids + b * T, PERIOD + 1, T),
                             "mean-ablated loss", l, h, b);
            ark_cache_free(c);
            ark_plan_free(p);
        }
    ark_cache_free(ref);
    ark_plan_free(keep);
    free(ar);
    free(eff);
    fx_close(&f);
}

/* A row without a repeated block has no "repeated" target: NaN, count 0, and the pool is the other row's. */
static void test_row_without_targets(void **state)
{
    (void)state;
    fx f;
    if (!fx_open(&f)) skip();
    int T = f.T, L = f.L, H = f.H;
    int32_t tok[2 * 48];
    assert_true(T <= 48);
    memcpy(tok, f.ids, sizeof(int32_t) * T);
    for (int i = 0; i < T; i++) tok[T + i] = (int32_t)i; /* 0, 1, 2, ...: no repeat structure */
    ark_attn_input in = {tok, 2, T, NULL}, in0 = {tok, 1, T, NULL};
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.targets = ARK_TARGETS_REPEATED;
    double clean, clean0, cr[2], ar[2 * 64];
    float eff[64];
    int counts[2];
    assert_true(L * H <= 64);
    assert_int_equal(ark_ablate_heads_rows(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, eff, cr, ar, counts), ARK_OK);
    assert_int_equal(counts[0], T - PERIOD - 1);
    assert_int_equal(counts[1], 0);
    assert_true(isnan(cr[1]));
    for (int i = 0; i < L * H; i++) assert_true(isnan(ar[i * 2 + 1]) && isfinite(ar[i * 2]));
    ark_cache *c;
    assert_int_equal(ark_run(f.m, tok, 1, T, NULL, NULL, &c), ARK_OK);
    assert_int_equal(ark_head_metric_eval(f.m, &in0, ark_cache_logits(c)->data, &mt, &clean0), ARK_OK);
    ark_cache_free(c);
    expect_close(clean, clean0, "pool without the target-less row", -1, -1, 1);
    expect_close(cr[0], clean0, "row 0", -1, -1, 0);
    fx_close(&f);
}

static cJSON *tool_call(ark_tool *t, const char *params)
{
    char *out = NULL;
    if (ark_tool_run(t, "ablation", params, &out) != ARK_OK) fail_msg("ablation %s: %s", params, ark_errmsg());
    cJSON *j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    return j;
}

static void test_tool_per_row(void **state)
{
    (void)state;
    fx f;
    if (!fx_open(&f)) skip();
    int T = f.T, L = f.L, H = f.H, B = 3;
    ark_tool_env env = {f.m, NULL};
    ark_tool *t;
    assert_int_equal(ark_tool_new("attention", &env, &t), ARK_OK);
    /* rows 0, 1 of the fixture and one without a repeated block */
    int32_t tok[3 * 48];
    assert_true(T <= 48);
    memcpy(tok, f.ids, sizeof(int32_t) * 2 * T);
    for (int i = 0; i < T; i++) tok[2 * T + i] = (int32_t)i;
    char params[8192];
    int n = snprintf(params, sizeof params, "{\"targets\": \"repeated\", \"tokens\": [");
    for (int b = 0; b < B; b++) {
        n += snprintf(params + n, sizeof params - n, "%s[", b ? "," : "");
        for (int i = 0; i < T; i++) n += snprintf(params + n, sizeof params - n, "%s%d", i ? "," : "", tok[b * T + i]);
        n += snprintf(params + n, sizeof params - n, "]");
    }
    snprintf(params + n, sizeof params - n, "]}");
    cJSON *r = tool_call(t, params);
    assert_null(cJSON_GetObjectItem(r, "per_row"));
    cJSON_Delete(r);
    snprintf(params + n, sizeof params - n, "], \"per_row\": true}");
    r = tool_call(t, params);
    ark_attn_input in = {tok, B, T, NULL};
    ark_head_metric mt = ARK_HEAD_METRIC_INIT;
    mt.targets = ARK_TARGETS_REPEATED;
    double clean, cr[3], ar[3 * 64];
    float eff[64];
    int counts[3];
    assert_true(L * H <= 64);
    assert_int_equal(ark_ablate_heads_rows(f.m, &in, ARK_ABLATE_ZERO, &mt, &clean, eff, cr, ar, counts), ARK_OK);
    assert_true(fabs(cJSON_GetObjectItem(r, "clean")->valuedouble - clean) < 1e-12);
    const cJSON *pr = cJSON_GetObjectItem(r, "per_row");
    const cJSON *jc = cJSON_GetObjectItem(pr, "clean"), *ja = cJSON_GetObjectItem(pr, "ablated"),
                *jn = cJSON_GetObjectItem(pr, "counts");
    assert_int_equal(cJSON_GetArraySize(jc), B);
    assert_int_equal(cJSON_GetArraySize(jn), B);
    assert_int_equal(cJSON_GetArraySize(ja), L);
    for (int b = 0; b < B; b++) {
        assert_int_equal(cJSON_GetArrayItem(jn, b)->valueint, counts[b]);
        const cJSON *v = cJSON_GetArrayItem(jc, b);
        if (b == 2) assert_true(cJSON_IsNull(v));
        else assert_true(fabs(v->valuedouble - cr[b]) <= 1e-12 * fabs(cr[b]));
    }
    for (int l = 0; l < L; l++) {
        const cJSON *layer = cJSON_GetArrayItem(ja, l);
        assert_int_equal(cJSON_GetArraySize(layer), H);
        for (int h = 0; h < H; h++) {
            const cJSON *rows = cJSON_GetArrayItem(layer, h);
            assert_int_equal(cJSON_GetArraySize(rows), B);
            for (int b = 0; b < B; b++) {
                const cJSON *v = cJSON_GetArrayItem(rows, b);
                double want = ar[((size_t)l * H + h) * B + b];
                if (b == 2) assert_true(cJSON_IsNull(v));
                else assert_true(fabs(v->valuedouble - want) <= 1e-12 * fabs(want));
            }
        }
    }
    cJSON_Delete(r);
    char *out = NULL;
    assert_int_not_equal(ark_tool_run(t, "ablation", "{\"tokens\": [1, 2, 3], \"per_row\": \"yes\"}", &out), ARK_OK);
    if (!strstr(ark_errmsg(), "per_row")) fail_msg("message \"%s\" lacks per_row", ark_errmsg());
    free(out);
    ark_tool_free(t);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_repeated), cmocka_unit_test(test_loss_padded),
        cmocka_unit_test(test_logit_diff),    cmocka_unit_test(test_mean_ablation),
        cmocka_unit_test(test_row_without_targets), cmocka_unit_test(test_tool_per_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
