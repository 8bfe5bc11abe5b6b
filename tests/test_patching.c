/* The patching and causal tools: sweeps against one full forward pass per
 * cell with ark_plan_patch; normalisation endpoints; causal tracing against
 * full forwards with a noise hook and ark_plan_patch, and against the
 * facts-llama reference tables; the neuron intervention against a full
 * forward with ark_plan_scale. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/interventions.h"
#include "arrakis/tool.h"
#include "arrakis/tool_causal.h"
#include "arrakis/tool_patching.h"
#include "testutil.h"

static ark_model *open_model(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("%s: %s", dir, ark_errmsg());
    return m;
}

/* ---- an independent metric (float64, written here) ---- */

static double lse(const float *x, int V)
{
    double mx = x[0], s = 0;
    for (int i = 1; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < V; i++) s += exp(x[i] - mx);
    return mx + log(s);
}

static double metric_of(const ark_patch_metric *mt, const float *logits, int T, int V, const int32_t *clean)
{
    if (mt->kind == ARK_METRIC_LOSS) {
        double s = 0;
        for (int t = 0; t < T - 1; t++) s += lse(logits + (size_t)t * V, V) - logits[(size_t)t * V + clean[t + 1]];
        return s / (T - 1);
    }
    const float *x = logits + (size_t)(mt->pos < 0 ? T + mt->pos : mt->pos) * V;
    if (mt->kind == ARK_METRIC_LOGIT_DIFF) return (double)x[mt->token] - x[mt->other];
    if (mt->kind == ARK_METRIC_LOGIT) return x[mt->token];
    return exp(x[mt->token] - lse(x, V));
}

static const char *hook_of(ark_patch_point p)
{
    static const char *const names[] = {"hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out",
                                        "attn.hook_z", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_pattern"};
    return names[p];
}

/* One cell the slow way: a full forward of the patched run with ark_plan_patch. */
static double naive_cell(ark_model *m, const int32_t *base, const ark_cache *src, int T, ark_patch_point p, int layer,
                         int pos, int head, const ark_patch_metric *mt, const int32_t *clean)
{
    char name[64];
    snprintf(name, sizeof name, "blocks.%d.%s", layer, hook_of(p));
    ark_select sel = {0};
    if (pos >= 0) { sel.positions = &pos; sel.n_positions = 1; }
    if (head >= 0) { sel.heads = &head; sel.n_heads = 1; }
    ark_plan *plan = ark_plan_new(m);
    if (ark_plan_patch(plan, name, src, &sel) != ARK_OK) fail_msg("patch %s: %s", name, ark_errmsg());
    ark_cache *c;
    if (ark_run(m, base, 1, T, NULL, plan, &c) != ARK_OK) fail_msg("run: %s", ark_errmsg());
    double v = metric_of(mt, ark_cache_logits(c)->data, T, ark_model_config(m)->d_vocab, clean);
    ark_cache_free(c);
    ark_plan_free(plan);
    return v;
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

static double worst_rel;

static void check_close(double got, double want, const char *what, int cell)
{
    double err = fabs(got - want) / (1e-5 + 1e-5 * fabs(want));
    if (err > worst_rel) worst_rel = err;
    if (err > 1.0) fail_msg("%s cell %d: sweep %.9g, full forward %.9g", what, cell, got, want);
}

/* Every cell of one sweep against full forwards. */
static void check_sweep(ark_model *m, const char *label, const int32_t *clean, const int32_t *corr, int T,
                        const ark_patch_metric *mt, ark_patch_opts o)
{
    ark_patch_result r;
    if (ark_patch_sweep(m, clean, corr, T, mt, &o, &r) != ARK_OK) fail_msg("%s %s: %s", label, ark_patch_point_name(o.point), ark_errmsg());
    const ark_config *c = ark_model_config(m);
    int H = ark_patch_point_per_head(o.point) ? ark_patch_point_heads(m, o.point) : 1;
    assert_int_equal(r.n_layers, c->n_layers);
    assert_int_equal(r.n_heads, H);
    assert_int_equal(r.n_pos, o.by_pos ? T : 1);
    const int32_t *base = o.noising ? clean : corr, *srcids = o.noising ? corr : clean;
    ark_cache *src = run_all(m, srcids, T), *cc = run_all(m, clean, T), *co = run_all(m, corr, T);
    double vc = metric_of(mt, ark_cache_logits(cc)->data, T, c->d_vocab, clean);
    double vo = metric_of(mt, ark_cache_logits(co)->data, T, c->d_vocab, clean);
    char what[160];
    snprintf(what, sizeof what, "%s %s%s%s", label, ark_patch_point_name(o.point), o.by_pos ? " by-pos" : "", o.noising ? " noising" : "");
    check_close(r.clean, vc, what, -1);
    check_close(r.corrupted, vo, what, -2);
    for (int l = 0; l < r.n_layers; l++)
        for (int h = 0; h < r.n_heads; h++)
            for (int p = 0; p < r.n_pos; p++) {
                int i = (l * r.n_heads + h) * r.n_pos + p;
                double want = naive_cell(m, base, src, T, o.point, l, o.by_pos ? p : -1,
                                         ark_patch_point_per_head(o.point) ? h : -1, mt, clean);
                check_close(r.raw[i], want, what, i);
                double norm = (r.raw[i] - r.corrupted) / (r.clean - r.corrupted);
                if (fabs(r.normalised[i] - norm) > 1e-12 * (1 + fabs(norm)))
                    fail_msg("%s cell %d: normalised %.9g, expected %.9g", what, i, r.normalised[i], norm);
            }
    ark_cache_free(src);
    ark_cache_free(cc);
    ark_cache_free(co);
    ark_patch_result_free(&r);
}

/* A prompt pair for a model: deterministic ids, two positions changed. */
static int make_pair(const ark_model *m, int32_t *clean, int32_t *corr)
{
    int V = ark_model_config(m)->d_vocab, T = 7;
    for (int t = 0; t < T; t++) clean[t] = corr[t] = (t * 37 + 11) % V;
    corr[1] = (clean[1] + 5) % V;
    corr[3] = (clean[3] + 91) % V;
    return T;
}

static void sweep_model(const char *dir, const char *label)
{
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    int32_t clean[16], corr[16];
    int T = make_pair(m, clean, corr), V = c->d_vocab;
    ark_patch_metric metrics[4] = {{ARK_METRIC_LOGIT_DIFF, 5 % V, 9 % V, -1}, {ARK_METRIC_PROB, 7 % V, 0, -1},
                                   {ARK_METRIC_LOSS, 0, 0, -1}, {ARK_METRIC_LOGIT, 3 % V, 0, T - 3}};
    for (int p = 0; p < ARK_PATCH_N_POINTS; p++) {
        if (p == ARK_PATCH_RESID_MID && c->parallel_residual) continue;
        for (int dir_ = 0; dir_ < 2; dir_++)
            for (int bp = 0; bp < 2; bp++) {
                ark_patch_opts o = ark_patch_opts_default((ark_patch_point)p);
                o.by_pos = bp;
                o.noising = dir_;
                o.max_rows = (p + bp) % 3 == 0 ? 3 : 0; /* some sweeps in several batches */
                check_sweep(m, label, clean, corr, T, &metrics[(p + dir_ + bp) % 4], o);
            }
    }
    ark_model_free(m);
}

static void test_sweeps_match_full_forwards(void **state)
{
    (void)state;
    DIR *d = opendir(fixture_path("models"));
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md")) continue;
        char dir[600];
        snprintf(dir, sizeof dir, "%s", fixture_path("models/%s", e->d_name));
        sweep_model(dir, e->d_name);
        n++;
    }
    closedir(d);
    sweep_model(fixture_path("trained/facts-llama"), "facts-llama");
    assert_true(n >= 9);
    print_message("sweeps on %d fixture models + facts-llama: worst |sweep - full| / (1e-5 + 1e-5|full|) = %.3f\n", n, worst_rel);
}

/* Patching everything at the embeddings gives the clean run (1) when
 * denoising and the corrupted run (0) when noising; likewise the last
 * residual stream. */
static void test_normalisation_endpoints(void **state)
{
    (void)state;
    ark_model *m = open_model(fixture_path("models/llama"));
    int32_t clean[16], corr[16];
    int T = make_pair(m, clean, corr);
    ark_patch_metric mt = {ARK_METRIC_LOGIT_DIFF, 5, 9, -1};
    for (int noising = 0; noising < 2; noising++) {
        ark_patch_point pts[2] = {ARK_PATCH_RESID_PRE, ARK_PATCH_RESID_POST};
        for (int k = 0; k < 2; k++) {
            ark_patch_opts o = ark_patch_opts_default(pts[k]);
            o.by_pos = false;
            o.noising = noising;
            ark_patch_result r;
            assert_int_equal(ark_patch_sweep(m, clean, corr, T, &mt, &o, &r), ARK_OK);
            int cell = k == 0 ? 0 : r.n_layers - 1; /* resid_pre of layer 0, resid_post of the last */
            double want = noising ? 0.0 : 1.0;
            if (fabs(r.normalised[cell] - want) > 1e-5) fail_msg("endpoint %d/%d: %.9g, expected %g", noising, k, r.normalised[cell], want);
            ark_patch_result_free(&r);
        }
    }
    ark_model_free(m);
}

static void test_patch_errors(void **state)
{
    (void)state;
    ark_model *m = open_model(fixture_path("models/gpt_neox"));
    int32_t clean[16], corr[16];
    int T = make_pair(m, clean, corr);
    ark_patch_metric mt = {ARK_METRIC_LOGIT_DIFF, 5, 9, -1};
    ark_patch_opts o = ark_patch_opts_default(ARK_PATCH_RESID_MID);
    ark_patch_result r;
    assert_int_equal(ark_patch_sweep(m, clean, corr, T, &mt, &o, &r), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "resid_mid"));
    o = ark_patch_opts_default(ARK_PATCH_RESID_PRE);
    mt.token = 100000;
    assert_int_equal(ark_patch_sweep(m, clean, corr, T, &mt, &o, &r), ARK_ERR_ARG);
    mt.token = 5;
    mt.pos = T;
    assert_int_equal(ark_patch_sweep(m, clean, corr, T, &mt, &o, &r), ARK_ERR_ARG);
    ark_patch_point pt;
    assert_int_equal(ark_patch_point_parse("head-pattern", &pt), ARK_OK);
    assert_int_equal(pt, ARK_PATCH_HEAD_PATTERN);
    assert_int_equal(ark_patch_point_parse("heads", &pt), ARK_OK);
    assert_int_equal(pt, ARK_PATCH_HEAD_Z);
    assert_int_equal(ark_patch_point_parse("resid_pree", &pt), ARK_ERR_ARG);
    /* through the tool: prompts of different lengths */
    ark_tool_env env = {m, NULL};
    ark_tool *t;
    char *res = NULL;
    assert_int_equal(ark_tool_new("patching", &env, &t), ARK_OK);
    assert_int_equal(ark_tool_run(t, NULL, "{\"clean_tokens\":[1,2,3],\"corrupted_tokens\":[1,2],\"metric\":\"logit-diff:1,2\"}", &res), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "3 tokens"));
    assert_non_null(strstr(ark_errmsg(), "2"));
    assert_int_equal(ark_tool_run(t, NULL, "{\"clean_tokens\":[1,2,3],\"corrupted_tokens\":[1,2,4],\"metric\":\"logit-diff:1\"}", &res), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "metric"));
    assert_int_equal(ark_tool_run(t, NULL, "{\"clean_tokens\":[1,2,3],\"corrupted_tokens\":[1,2,4],\"metric\":\"prob:7\",\"what\":\"head-k\",\"by_pos\":true}", &res), ARK_OK);
    cJSON *j = cJSON_Parse(res);
    cJSON *shape = cJSON_GetObjectItem(j, "shape");
    assert_int_equal(cJSON_GetArraySize(shape), 3);
    assert_int_equal(cJSON_GetArrayItem(shape, 1)->valueint, ark_model_config(m)->n_kv_heads);
    cJSON_Delete(j);
    free(res);
    ark_tool_free(t);
    ark_model_free(m);
}

/* ---- causal tracing ---- */

static void test_position_kinds(void **state)
{
    (void)state;
    /* T, subject [sb, se), then the expected kinds per position (first match in enum order) */
    static const struct { int T, sb, se; const char *kinds; } cases[] = {
        {7, 4, 6, "0000136"},   /* "the favourite colour of A B is" */
        {5, 0, 2, "13456"},     /* "A B works as a" */
        {4, 0, 2, "1346"},      /* "A B lives in": the token after the subject is the last */
        {6, 1, 4, "012346"},    /* a three-token subject has a middle */
        {5, 2, 3, "00146"},     /* a one-token subject is first and last */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < cases[c].T; t++) {
            int want = cases[c].kinds[t] - '0', got = -1;
            for (int k = 0; k < ARK_TPOS_N && got < 0; k++)
                if (ark_trace_pos_is(k, t, cases[c].T, cases[c].sb, cases[c].se)) got = k;
            if (got != want) fail_msg("case %zu position %d: kind %d, expected %d", c, t, got, want);
        }
    assert_true(ark_trace_pos_is(ARK_TPOS_SUBJECT_LAST, 2, 5, 2, 3));
    assert_true(ark_trace_pos_is(ARK_TPOS_LAST_TOKEN, 3, 4, 2, 4) && ark_trace_pos_is(ARK_TPOS_SUBJECT_LAST, 3, 4, 2, 4));
    assert_string_equal(ark_trace_pos_name(ARK_TPOS_FIRST_SUBSEQUENT), "first_subsequent");
}

typedef struct test_noise {
    int sample, sb, se, d;
    const float *z; /* (samples, se - sb, d) */
} test_noise;

static ark_status add_test_noise(ark_tensor *act, const ark_hook_call *call, void *ctx)
{
    const test_noise *n = ctx;
    int ns = n->se - n->sb;
    for (int j = 0; j < ns; j++)
        for (int k = 0; k < n->d; k++)
            act->data[((size_t)n->sb + j) * n->d + k] += n->z[((size_t)n->sample * ns + j) * n->d + k];
    (void)call;
    return ARK_OK;
}

static double prob_last(const ark_cache *c, int T, int V, int answer)
{
    const float *x = ark_cache_logits(c)->data + (size_t)(T - 1) * V;
    return exp(x[answer] - lse(x, V));
}

/* P_restored(row, t) the slow way: per sample, a full forward with the
 * noise hook and ark_plan_patch of the restored states from the clean run. */
static double naive_restored(ark_model *m, const ark_trace_prompt *p, const ark_cache *clean, const float *z, int N,
                             ark_trace_kind kind, int W, int row, int t)
{
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers;
    double sum = 0;
    for (int s = 0; s < N; s++) {
        test_noise tn = {s, p->subj_begin, p->subj_end, c->d_model, z};
        ark_plan *plan = ark_plan_new(m);
        assert_int_equal(ark_plan_add_hook(plan, "hook_embed", ARK_HOOK_MODIFY, add_test_noise, &tn), ARK_OK);
        ark_select sel = {.positions = &t, .n_positions = 1};
        char name[64];
        if (row >= 0 && kind == ARK_TRACE_RESID) {
            if (row == 0) snprintf(name, sizeof name, "blocks.0.hook_resid_pre");
            else snprintf(name, sizeof name, "blocks.%d.hook_resid_post", row - 1);
            assert_int_equal(ark_plan_patch(plan, name, clean, &sel), ARK_OK);
        } else if (row >= 0) {
            /* ROME: range(max(0, layer - window // 2), min(num_layers, layer - (-window // 2))) */
            int lo = row - W / 2 > 0 ? row - W / 2 : 0, hi = row + (W + 1) / 2 < L ? row + (W + 1) / 2 : L;
            for (int l = lo; l < hi; l++) {
                snprintf(name, sizeof name, "blocks.%d.hook_%s_out", l, kind == ARK_TRACE_MLP ? "mlp" : "attn");
                assert_int_equal(ark_plan_patch(plan, name, clean, &sel), ARK_OK);
            }
        }
        ark_cache *out;
        if (ark_run(m, p->ids, 1, p->T, NULL, plan, &out) != ARK_OK) fail_msg("run: %s", ark_errmsg());
        sum += prob_last(out, p->T, c->d_vocab, p->answer);
        ark_cache_free(out);
        ark_plan_free(plan);
    }
    return sum / N;
}

static void trace_model(const char *dir)
{
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    int32_t ids[7];
    for (int t = 0; t < 7; t++) ids[t] = (t * 53 + 7) % c->d_vocab;
    ark_trace_prompt p = {ids, 7, 1, 3, 17 % c->d_vocab};
    int N = 3, ns = p.subj_end - p.subj_begin;
    float *z = malloc(sizeof(float) * N * ns * c->d_model);
    for (int i = 0; i < N * ns * c->d_model; i++) z[i] = 0.4f * (float)sin(1.7 * i + 0.3) * (float)cos(0.37 * i);
    ark_plan *keep = ark_plan_new(m);
    ark_plan_keep_all(keep);
    ark_cache *clean;
    assert_int_equal(ark_run(m, ids, 1, 7, NULL, keep, &clean), ARK_OK);
    ark_plan_free(keep);
    ark_trace_kind kinds[3] = {ARK_TRACE_RESID, ARK_TRACE_MLP, ARK_TRACE_ATTN};
    int windows[3] = {10, 1, 2};
    for (int k = 0; k < 3; k++) {
        ark_trace_opts o = ark_trace_opts_default();
        o.kind = kinds[k];
        o.window = windows[k];
        o.samples = N;
        o.noise_values = z;
        o.mem_budget = k == 1 ? 1 : 0; /* one row per batch */
        ark_trace_result r;
        if (ark_trace(m, &p, &o, 0, &r) != ARK_OK) fail_msg("%s: %s", dir, ark_errmsg());
        assert_int_equal(r.n_rows, ark_trace_rows(m, kinds[k]));
        assert_true(fabs(r.p_clean - prob_last(clean, 7, c->d_vocab, p.answer)) < 1e-6);
        double pc = naive_restored(m, &p, clean, z, N, kinds[k], windows[k], -1, 0);
        if (fabs(r.p_corrupted - pc) > 1e-5 + 1e-4 * pc) fail_msg("%s p_corrupted %.9g, full forwards %.9g", dir, r.p_corrupted, pc);
        for (int row = 0; row < r.n_rows; row++)
            for (int t = 0; t < 7; t++) {
                double want = naive_restored(m, &p, clean, z, N, kinds[k], windows[k], row, t), got = r.p_restored[row * 7 + t];
                if (fabs(got - want) > 1e-5 + 1e-4 * want)
                    fail_msg("%s %s row %d position %d: %.9g, full forwards %.9g", dir, ark_trace_kind_name(kinds[k]), row, t, got, want);
            }
        ark_trace_result_free(&r);
    }
    ark_cache_free(clean);
    free(z);
    ark_model_free(m);
}

static void test_trace_matches_full_forwards(void **state)
{
    (void)state;
    trace_model(fixture_path("models/llama"));
    trace_model(fixture_path("models/gpt2"));
    trace_model(fixture_path("models/gpt_neox"));
    trace_model(fixture_path("models/gemma"));
}

static void neuron_model(const char *dir)
{
    ark_model *m = open_model(dir);
    const ark_config *c = ark_model_config(m);
    int32_t ids[7];
    for (int t = 0; t < 7; t++) ids[t] = (t * 29 + 3) % c->d_vocab;
    int answer = 11 % c->d_vocab, layer = c->n_layers - 1, neuron = 5;
    int positions[2] = {-1, 2};
    float factors[3] = {0.0f, 2.5f, -1.0f};
    for (int f = 0; f < 3; f++)
        for (int np = 0; np < 2; np++) {
            double before, after;
            const int *pos = np ? positions : NULL;
            if (ark_trace_neuron(m, ids, 7, answer, layer, neuron, factors[f], pos, np ? 2 : 0, &before, &after) != ARK_OK)
                fail_msg("%s: %s", dir, ark_errmsg());
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.mlp.hook_post", layer);
            ark_select sel = {.positions = pos, .n_positions = np ? 2 : 0, .neurons = &neuron, .n_neurons = 1};
            ark_plan *plan = ark_plan_new(m);
            assert_int_equal(ark_plan_scale(plan, name, factors[f], &sel), ARK_OK);
            ark_cache *a, *b;
            assert_int_equal(ark_run(m, ids, 1, 7, NULL, NULL, &b), ARK_OK);
            assert_int_equal(ark_run(m, ids, 1, 7, NULL, plan, &a), ARK_OK);
            double want_before = prob_last(b, 7, c->d_vocab, answer), want_after = prob_last(a, 7, c->d_vocab, answer);
            if (fabs(before - want_before) > 1e-6 || fabs(after - want_after) > 1e-5 + 1e-5 * want_after)
                fail_msg("%s factor %g: before %.9g/%.9g after %.9g/%.9g", dir, factors[f], before, want_before, after, want_after);
            ark_cache_free(a);
            ark_cache_free(b);
            ark_plan_free(plan);
        }
    double b, a;
    assert_int_equal(ark_trace_neuron(m, ids, 7, answer, c->n_layers, 0, 0, NULL, 0, &b, &a), ARK_ERR_ARG);
    assert_int_equal(ark_trace_neuron(m, ids, 7, answer, 0, c->d_mlp, 0, NULL, 0, &b, &a), ARK_ERR_ARG);
    ark_model_free(m);
}

static void test_neuron_matches_full_forward(void **state)
{
    (void)state;
    neuron_model(fixture_path("models/llama"));
    neuron_model(fixture_path("models/gpt2"));
    neuron_model(fixture_path("trained/facts-llama"));
}
static void test_trace_errors(void **state)
{
    (void)state;
    ark_model *m = open_model(fixture_path("trained/facts-llama"));
    ark_tokenizer *tok;
    assert_int_equal(ark_tokenizer_open(fixture_path("trained/facts-llama"), &tok), ARK_OK);
    ark_trace_prompt p;
    assert_int_equal(ark_trace_prompt_encode(tok, m, "Gaishar Tastei lives in", "Nobody Else", "Prague", &p), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "Nobody Else"));
    assert_int_equal(ark_trace_prompt_encode(tok, m, "Gaishar Tastei lives in", "Tastei", "Prague", &p), ARK_OK);
    assert_int_equal(p.subj_begin, 1);
    assert_int_equal(p.subj_end, 2);
    assert_int_equal(p.answer, ark_tokenizer_token_to_id(tok, "Prague"));
    ark_trace_opts o = ark_trace_opts_default();
    ark_trace_result r;
    assert_int_equal(ark_trace(m, &p, &o, 0, &r), ARK_ERR_ARG); /* no noise given */
    assert_non_null(strstr(ark_errmsg(), "noise"));
    o.noise = 0.3;
    o.samples = 0;
    assert_int_equal(ark_trace(m, &p, &o, 0, &r), ARK_ERR_ARG);
    o.samples = 2;
    o.kind = ARK_TRACE_MLP;
    o.window = 0;
    assert_int_equal(ark_trace(m, &p, &o, 0, &r), ARK_ERR_ARG);
    ark_trace_prompt_free(&p);
    /* through the tool */
    ark_tool_env env = {m, tok};
    ark_tool *t;
    char *res = NULL;
    assert_int_equal(ark_tool_new("causal", &env, &t), ARK_OK);
    assert_int_equal(ark_tool_run(t, NULL, "{\"prompt\":\"Gaishar Tastei lives in\",\"subject\":\"Zed\",\"answer\":\"Prague\"}", &res), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "\"Zed\""));
    assert_int_equal(ark_tool_run(t, NULL, "{\"prompt\":\"Gaishar Tastei lives in\",\"subject\":\"Gaishar Tastei\",\"answer\":\"Prague\",\"noise\":\"lots\"}", &res), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "noise"));
    const char *path = scratch_dir("patching");
    char file[600];
    snprintf(file, sizeof file, "%s/facts.jsonl", path);
    FILE *f = fopen(file, "w");
    fprintf(f, "{\"prompt\":\"Gaishar Tastei lives in\",\"subject\":\"Gaishar Tastei\",\"answer\":\"Prague\",\"extra\":1}\n\n{\"prompt\":\"x\"\n");
    fclose(f);
    char params[800];
    snprintf(params, sizeof params, "{\"facts_file\":\"%s\",\"samples\":2}", file);
    assert_int_equal(ark_tool_run(t, NULL, params, &res), ARK_ERR_FORMAT);
    assert_non_null(strstr(ark_errmsg(), "facts.jsonl:3"));
    /* a facts-style line (canonical_prompt, attribute) and a tokens fact */
    f = fopen(file, "w");
    fprintf(f, "{\"canonical_prompt\":\"Gaishar Tastei lives in\",\"subject\":\"Gaishar Tastei\",\"attribute\":\"Prague\"}\n"
               "{\"tokens\":[111,132,4,5],\"subject_span\":[0,2],\"answer\":22}\n");
    fclose(f);
    snprintf(params, sizeof params, "{\"facts_file\":\"%s\",\"samples\":3,\"seed\":4}", file);
    assert_int_equal(ark_tool_run(t, NULL, params, &res), ARK_OK);
    cJSON *j = cJSON_Parse(res);
    cJSON *facts = cJSON_GetObjectItem(j, "facts");
    assert_int_equal(cJSON_GetArraySize(facts), 2);
    double p0 = cJSON_GetObjectItem(cJSON_GetArrayItem(facts, 0), "p_clean")->valuedouble;
    double p1 = cJSON_GetObjectItem(cJSON_GetArrayItem(facts, 1), "p_clean")->valuedouble;
    assert_true(fabs(p0 - p1) < 1e-12);
    cJSON_Delete(j);
    free(res);
    assert_int_equal(ark_tool_run(t, "neuron", "{\"prompt\":\"Gaishar Tastei lives in\",\"answer\":\"Prague\",\"layer\":1,\"neuron\":300}", &res), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "neuron 300"));
    ark_tool_free(t);
    ark_tokenizer_free(tok);
    ark_model_free(m);
}

/* Answers and subjects through byte-level BPE (GPT-2) and SentencePiece-style (Llama 2) tokenizers. */
static void test_answer_and_subject_tokens(void **state)
{
    (void)state;
    const char *dir = scratch_dir("patching_bpe");
    const char *keys[] = {"n_embd", "n_layer", "n_head", "n_positions"}, *vals[] = {"16", "1", "2", "64"};
    char *json;
    assert_int_equal(ark_config_build("gpt2", 4, keys, vals, &json), ARK_OK);
    assert_int_equal(ark_model_init_folder(json, 3, ARK_F32, dir), ARK_OK);
    free(json);
    ark_model *m = open_model(dir);
    const char *toks[2] = {"gpt2", "llama2"}, *space[2] = {"\xc4\xa0", "\xe2\x96\x81"}; /* "Ġ", "▁" */
    for (int k = 0; k < 2; k++) {
        ark_tokenizer *tok;
        assert_int_equal(ark_tokenizer_open(fixture_path("tokenizers/%s/tokenizer.json", toks[k]), &tok), ARK_OK);
        char piece[32];
        snprintf(piece, sizeof piece, "%sParis", space[k]);
        int32_t want = ark_tokenizer_token_to_id(tok, piece);
        assert_true(want >= 0);
        ark_encoding *e;
        const char *prompt = "The Eiffel Tower is in";
        assert_int_equal(ark_tokenizer_encode(tok, prompt, strlen(prompt), true, &e), ARK_OK);
        int32_t got;
        assert_int_equal(ark_trace_answer_token(tok, prompt, ark_encoding_ids(e), ark_encoding_count(e), "Paris", &got), ARK_OK);
        assert_int_equal(got, want);
        assert_int_equal(ark_trace_answer_token(tok, prompt, ark_encoding_ids(e), ark_encoding_count(e), " Paris", &got), ARK_OK);
        assert_int_equal(got, want);
        /* the subject's tokens: those whose text overlaps "Eiffel Tower" */
        if (k == 0) {
            ark_trace_prompt p;
            assert_int_equal(ark_trace_prompt_encode(tok, m, prompt, "Eiffel Tower", "Paris", &p), ARK_OK);
            const ark_token_span *sp = ark_encoding_spans(e);
            int sb = -1, se = -1;
            for (int t = 0; t < ark_encoding_count(e); t++) {
                bool in = sp[t].end > 4 && sp[t].start < 16; /* "Eiffel Tower" is bytes [4, 16) */
                if (in && sb < 0) sb = t;
                if (in) se = t + 1;
            }
            assert_int_equal(p.subj_begin, sb);
            assert_int_equal(p.subj_end, se);
            assert_true(se - sb >= 2);
            assert_int_equal(p.answer, want);
            ark_trace_prompt_free(&p);
        }
        ark_encoding_free(e);
        ark_tokenizer_free(tok);
    }
    ark_model_free(m);
}

/* ---- facts-llama: the reference's causal-tracing tables ---- */

static cJSON *read_json(const char *path)
{
    char *text = read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) fail_msg("%s is not JSON", path);
    return j;
}

static int kind_index(const char *name)
{
    for (int k = 0; k < ARK_TPOS_N; k++)
        if (!strcmp(ark_trace_pos_name(k), name)) return k;
    fail_msg("unknown position kind %s", name);
    return -1;
}

/* The facts of facts.jsonl as prompts: all of them, and those used in the reference tracing. */
static void load_facts(const char *dir, const ark_model *m, const ark_tokenizer *tok, ark_trace_prompt *all, int *n_all,
                       ark_trace_prompt *used, int *n_used)
{
    char path[600];
    snprintf(path, sizeof path, "%s/facts.jsonl", dir);
    char *text = read_file(path, NULL), *save = NULL;
    *n_all = *n_used = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *f = cJSON_Parse(line);
        const char *prompt = cJSON_GetObjectItem(f, "canonical_prompt")->valuestring;
        const char *subject = cJSON_GetObjectItem(f, "subject")->valuestring;
        const char *attr = cJSON_GetObjectItem(f, "attribute")->valuestring;
        assert_true(*n_all < 1024 && *n_used < 128);
        if (ark_trace_prompt_encode(tok, m, prompt, subject, attr, &all[*n_all]) != ARK_OK) fail_msg("%s: %s", prompt, ark_errmsg());
        assert_int_equal(all[*n_all].answer, cJSON_GetObjectItem(f, "attribute_id")->valueint);
        if (cJSON_IsTrue(cJSON_GetObjectItem(f, "used_in_causal_tracing"))) used[(*n_used)++] = all[*n_all];
        (*n_all)++;
        cJSON_Delete(f);
    }
    free(text);
}

/* The used fact whose prompt decodes to `prompt`, checked against the reference's tokens, span and kinds. */
static const ark_trace_prompt *match_fact(const ark_tokenizer *tok, const ark_trace_prompt *used, int n_used, const cJSON *rf)
{
    const char *prompt = cJSON_GetObjectItem(rf, "prompt")->valuestring;
    const ark_trace_prompt *p = NULL;
    for (int u = 0; u < n_used && !p; u++) {
        char *pr;
        assert_int_equal(ark_tokenizer_decode(tok, used[u].ids, used[u].T, false, &pr), ARK_OK);
        if (!strcmp(pr, prompt)) p = &used[u];
        free(pr);
    }
    if (!p) fail_msg("fact %s not among the used facts", prompt);
    cJSON *ids = cJSON_GetObjectItem(rf, "input_ids"), *span = cJSON_GetObjectItem(rf, "subject_span"), *kinds = cJSON_GetObjectItem(rf, "position_kinds");
    assert_int_equal(cJSON_GetArraySize(ids), p->T);
    for (int t = 0; t < p->T; t++) assert_int_equal(cJSON_GetArrayItem(ids, t)->valueint, p->ids[t]);
    assert_int_equal(cJSON_GetArrayItem(span, 0)->valueint, p->subj_begin);
    assert_int_equal(cJSON_GetArrayItem(span, 1)->valueint, p->subj_end);
    for (int t = 0; t < p->T; t++)
        assert_true(ark_trace_pos_is(kind_index(cJSON_GetArrayItem(kinds, t)->valuestring), t, p->T, p->subj_begin, p->subj_end));
    return p;
}

/* The AIE table against the reference's (printed), within its sampling error. */
static void compare_table(const ark_trace_aie *aie, const cJSON *ct)
{
    cJSON *table = cJSON_GetObjectItem(ct, "indirect_effect_table"), *kinds = cJSON_GetObjectItem(ct, "position_kinds");
    assert_int_equal(cJSON_GetArraySize(table), aie->n_rows);
    double worst = 0, sum = 0;
    int n = 0;
    print_message("AIE (ours / reference), rows x kinds:\n");
    for (int r = 0; r < aie->n_rows; r++) {
        cJSON *row = cJSON_GetArrayItem(table, r);
        char line[512];
        int at = 0;
        for (int c = 0; c < cJSON_GetArraySize(kinds); c++) {
            int k = kind_index(cJSON_GetArrayItem(kinds, c)->valuestring);
            double ours = aie->table[r * ARK_TPOS_N + k], ref = cJSON_GetArrayItem(row, c)->valuedouble;
            at += snprintf(line + at, sizeof line - at, " %6.3f/%6.3f", ours, ref);
            worst = fmax(worst, fabs(ours - ref));
            sum += fabs(ours - ref);
            n++;
        }
        print_message("  row %d:%s\n", r, line);
    }
    cJSON *facts_per_kind = cJSON_GetObjectItem(ct, "facts_per_kind");
    for (int c = 0; c < cJSON_GetArraySize(kinds); c++) {
        const char *name = cJSON_GetArrayItem(kinds, c)->valuestring;
        assert_int_equal(aie->facts_per_kind[kind_index(name)], cJSON_GetObjectItem(facts_per_kind, name)->valueint);
    }
    double pc = cJSON_GetObjectItem(ct, "mean_p_clean")->valuedouble, po = cJSON_GetObjectItem(ct, "mean_p_corrupted")->valuedouble;
    print_message("mean |ours - reference| %.4f, worst %.4f; P_clean %.4f (%.4f), P_corrupted %.4f (%.4f)\n", sum / n, worst,
                  aie->mean_p_clean, pc, aie->mean_p_corrupted, po);
    /* The reference used 10 noise samples; its cells carry a sampling error of a few hundredths. */
    assert_true(sum / n < 0.02);
    assert_true(worst < 0.08); /* subject_last, rows 0-1: see docs/tools/causal.md */
    assert_true(fabs(aie->mean_p_clean - pc) < 1e-4);
    assert_true(fabs(aie->mean_p_corrupted - po) < 0.04);
}

/* The peaks the reference names: overall, at the subject after the embeddings, per kind. */
static void compare_peaks(const ark_trace_aie *aie, const cJSON *ct)
{
    const char *peak_keys[2] = {"peak", "peak_at_subject_after_embeddings"};
    for (int q = 0; q < 2; q++) {
        cJSON *pk = cJSON_GetObjectItem(ct, peak_keys[q]);
        int want_row = cJSON_GetObjectItem(pk, "row")->valueint, want_k = kind_index(cJSON_GetObjectItem(pk, "position_kind")->valuestring);
        int br = -1, bk = -1;
        for (int r = q; r < aie->n_rows; r++)
            for (int k = 0; k < ARK_TPOS_N; k++) {
                bool subj = k == ARK_TPOS_SUBJECT_FIRST || k == ARK_TPOS_SUBJECT_MIDDLE || k == ARK_TPOS_SUBJECT_LAST;
                double v = aie->table[r * ARK_TPOS_N + k];
                if (isnan(v) || (q == 1 && !subj)) continue;
                if (br < 0 || v > aie->table[br * ARK_TPOS_N + bk]) { br = r; bk = k; }
            }
        if (br != want_row || bk != want_k)
            fail_msg("%s: ours at row %d %s, reference row %d %s", peak_keys[q], br, ark_trace_pos_name(bk), want_row, ark_trace_pos_name(want_k));
    }
    const char *row_keys[2] = {"peak_row_for_subject_last", "peak_row_for_last_token"};
    int row_kinds[2] = {ARK_TPOS_SUBJECT_LAST, ARK_TPOS_LAST_TOKEN};
    for (int q = 0; q < 2; q++) {
        int br = 0;
        for (int r = 1; r < aie->n_rows; r++)
            if (aie->table[r * ARK_TPOS_N + row_kinds[q]] > aie->table[br * ARK_TPOS_N + row_kinds[q]]) br = r;
        assert_int_equal(br, cJSON_GetObjectItem(cJSON_GetObjectItem(ct, row_keys[q]), "row")->valueint);
    }
}

static void test_facts_llama_aie(void **state)
{
    (void)state;
    const char *dir = fixture_path("trained/facts-llama");
    char path[600];
    ark_model *m = open_model(dir);
    ark_tokenizer *tok;
    assert_int_equal(ark_tokenizer_open(dir, &tok), ARK_OK);
    snprintf(path, sizeof path, "%s/ground_truth.json", dir);
    cJSON *gt = read_json(path), *ct = cJSON_GetObjectItem(gt, "causal_tracing");
    snprintf(path, sizeof path, "%s/causal_tracing_per_fact.json", dir);
    cJSON *per_fact = read_json(path);
    static ark_trace_prompt all[1024], used[128], ordered[128];
    static ark_trace_result res[128];
    int n_all, n_used;
    load_facts(dir, m, tok, all, &n_all, used, &n_used);
    assert_int_equal(n_used, (int)cJSON_GetObjectItem(ct, "n_facts")->valuedouble);
    assert_int_equal(cJSON_GetArraySize(per_fact), n_used);
    /* sigma over the distinct subject tokens of every fact */
    double sigma, ref_sigma = cJSON_GetObjectItem(ct, "embedding_sigma")->valuedouble;
    assert_int_equal(ark_trace_subject_sigma(m, all, n_all, &sigma), ARK_OK);
    print_message("sigma %.6f (reference %.5f)\n", sigma, ref_sigma);
    assert_true(fabs(sigma - ref_sigma) < 1e-5);
    ark_trace_opts o = ark_trace_opts_default();
    o.noise = 3 * sigma;
    o.samples = 40;
    o.seed = 1;
    for (int i = 0; i < n_used; i++) { /* in the reference's order, with its tokens, spans and p_clean */
        cJSON *rf = cJSON_GetArrayItem(per_fact, i);
        ordered[i] = *match_fact(tok, used, n_used, rf);
        if (ark_trace(m, &ordered[i], &o, (uint64_t)i, &res[i]) != ARK_OK) fail_msg("fact %d: %s", i, ark_errmsg());
        double pc = cJSON_GetObjectItem(rf, "p_clean")->valuedouble;
        if (fabs(res[i].p_clean - pc) > 1e-4) fail_msg("fact %d: p_clean %.6f, reference %.5f", i, res[i].p_clean, pc);
    }
    ark_trace_aie aie;
    assert_int_equal(ark_trace_aie_compute(ordered, res, n_used, &aie), ARK_OK);
    compare_table(&aie, ct);
    compare_peaks(&aie, ct);
    ark_trace_aie_free(&aie);
    for (int i = 0; i < n_used; i++) ark_trace_result_free(&res[i]);
    for (int i = 0; i < n_all; i++) ark_trace_prompt_free(&all[i]);
    cJSON_Delete(gt);
    cJSON_Delete(per_fact);
    ark_tokenizer_free(tok);
    ark_model_free(m);
}

int main(void)
{
    /* Hundreds of tiny runs: one thread keeps them fast on a busy machine
     * (OpenMP's barriers dominate otherwise); results do not depend on it. */
    ark_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweeps_match_full_forwards),
        cmocka_unit_test(test_normalisation_endpoints),
        cmocka_unit_test(test_patch_errors),
        cmocka_unit_test(test_position_kinds),
        cmocka_unit_test(test_trace_matches_full_forwards),
        cmocka_unit_test(test_neuron_matches_full_forward),
        cmocka_unit_test(test_trace_errors),
        cmocka_unit_test(test_answer_and_subject_tokens),
        cmocka_unit_test(test_facts_llama_aie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
