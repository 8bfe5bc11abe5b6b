/* The knowledge and kg_extractor tools (include/arrakis/tool_knowledge.h,
 * include/arrakis/tool_kg.h) on fixtures:
 *
 *   - on the trained facts-llama fixture (facts.jsonl, ground_truth.json):
 *     a colour probe reaches high held-out accuracy at the last layer with
 *     the control task near chance; saved probes; the true/false probe
 *     separates true statements from false ones; the knowledge graph
 *     recovers every fact with the recall facts.jsonl records and the
 *     probabilities it records; the heads' view;
 *   - every fixture model (discovered): probe and heads run with the
 *     config's shapes; the JSON tools' error paths.
 *
 * Logistic regression, datasets, splits, control labels and directions
 * against values worked out by hand are in test_knowledge.c. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_kg.h"
#include "arrakis/tool_knowledge.h"
#include "knowledge_testutil.h"
#include "testutil.h"

/* ---- helpers ---- */

static cJSON *read_json(const char *path)
{
    char *text = read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

/* facts.jsonl as a JSON array. */
static cJSON *read_facts(void)
{
    char *text = read_file(fixture_path("trained/facts-llama/facts.jsonl"), NULL);
    assert_non_null(text);
    cJSON *a = cJSON_CreateArray();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) cJSON_AddItemToArray(a, cJSON_Parse(line));
    free(text);
    return a;
}

static const char *jstr(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuestring; }
static double jnum(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuedouble; }

/* ---- the tools on facts-llama ---- */

typedef struct env_t {
    ark_model *m;
    ark_tokenizer *tok;
    ark_tool_env env;
} env_t;

static void env_open(env_t *e, const char *dir)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(ark_model_open(dir, &e->m), ARK_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    struct stat st;
    if (stat(path, &st) == 0) assert_int_equal(ark_tokenizer_open(dir, &e->tok), ARK_OK);
    e->env = (ark_tool_env){e->m, e->tok};
}

static void env_close(env_t *e)
{
    ark_tokenizer_free(e->tok);
    ark_model_free(e->m);
}

/* Run a tool op; NULL on failure (the status in *st). */
static cJSON *tool_call(env_t *e, const char *tool, const char *op, cJSON *params, ark_status *st)
{
    ark_tool *t;
    assert_int_equal(ark_tool_new(tool, &e->env, &t), ARK_OK);
    char *text = cJSON_PrintUnformatted(params), *res = NULL;
    *st = ark_tool_run(t, op, text, &res);
    cJSON *out = *st == ARK_OK ? cJSON_Parse(res) : NULL;
    free(text), free(res);
    ark_tool_free(t);
    return out;
}

static cJSON *tool_ok(env_t *e, const char *tool, const char *op, cJSON *params)
{
    ark_status st;
    cJSON *out = tool_call(e, tool, op, params, &st);
    if (st != ARK_OK) fail_msg("%s %s: %s", tool, op, ark_errmsg());
    return out;
}

/* {"text": prompt, "label": attribute, "entity": subject} for every prompt of relation rel. */
static cJSON *relation_examples(const cJSON *facts, const char *rel, const char *only_a, const char *only_b)
{
    cJSON *ex = cJSON_CreateArray();
    const cJSON *f, *p;
    cJSON_ArrayForEach(f, facts) {
        const char *a = jstr(f, "attribute");
        if (strcmp(jstr(f, "relation"), rel) || (only_a && strcmp(a, only_a) && strcmp(a, only_b))) continue;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(f, "prompts")) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "text", p->valuestring);
            cJSON_AddStringToObject(o, "label", a);
            cJSON_AddStringToObject(o, "entity", jstr(f, "subject"));
            cJSON_AddItemToArray(ex, o);
        }
    }
    return ex;
}

static void test_facts_probe(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    int L = ark_model_config(e.m)->n_layers;
    cJSON *facts = read_facts(), *p = cJSON_CreateObject();
    cJSON *ex = relation_examples(facts, "colour", NULL, NULL);
    int n = cJSON_GetArraySize(ex);
    cJSON_AddItemToObject(p, "examples", ex);
    cJSON_AddNumberToObject(p, "seed", 3);
    cJSON *out = tool_ok(&e, "knowledge", "probe", p);
    const cJSON *d = cJSON_GetObjectItem(out, "data"), *sp = cJSON_GetObjectItem(d, "split"), *layers = cJSON_GetObjectItem(out, "layers");
    int K = cJSON_GetArraySize(cJSON_GetObjectItem(d, "classes")), n_test_ent = (int)jnum(sp, "test_entities");
    assert_int_equal(cJSON_GetArraySize(layers), L);
    assert_int_equal((int)jnum(out, "d"), ark_model_config(e.m)->d_model);
    // the split: no subject on both sides, a quarter of the subjects held out
    const cJSON *it = cJSON_GetObjectItem(sp, "is_test");
    assert_int_equal(cJSON_GetArraySize(it), n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n && j < i + 8; j++)
            if (!strcmp(jstr(cJSON_GetArrayItem(ex, i), "entity"), jstr(cJSON_GetArrayItem(ex, j), "entity")))
                assert_int_equal(cJSON_GetArrayItem(it, i)->valueint, cJSON_GetArrayItem(it, j)->valueint);
    assert_int_equal(n_test_ent, (int)(0.25 * jnum(d, "n_entities") + 0.5));
    // chance margin: held-out subjects' control labels are independent of training, so the control
    // accuracy is a mean over n_test_ent independent subjects of a hit rate near the best constant
    // guess (<= the majority share); three binomial SDs over subjects
    double maj = jnum(d, "majority"), margin = 3 * sqrt(maj * (1 - maj) / n_test_ent);
    const cJSON *last = cJSON_GetArrayItem(layers, L - 1), *first = cJSON_GetArrayItem(layers, 0), *l;
    print_message("colour probe (%d classes, chance %.3f, majority %.3f, %d test subjects):\n", K, 1.0 / K, maj, n_test_ent);
    cJSON_ArrayForEach(l, layers) {
        print_message("  layer %d: train %.3f test %.3f control %.3f/%.3f selectivity %.3f\n", (int)jnum(l, "layer"),
                      jnum(l, "train_accuracy"), jnum(l, "test_accuracy"), jnum(l, "control_train_accuracy"),
                      jnum(l, "control_test_accuracy"), jnum(l, "selectivity"));
        assert_true(jnum(l, "control_test_accuracy") <= maj + margin);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(l, "fit"), "converged")));
    }
    assert_true(jnum(last, "test_accuracy") >= 0.95);
    assert_true(jnum(last, "selectivity") >= 0.75);
    assert_true(jnum(last, "test_accuracy") > jnum(first, "test_accuracy"));
    assert_true(jnum(cJSON_GetObjectItem(out, "best"), "test_accuracy") >= jnum(last, "test_accuracy"));
    cJSON_Delete(out);
    cJSON_Delete(p);
    cJSON_Delete(facts);
    env_close(&e);
}

static void test_facts_probe_save(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    int L = ark_model_config(e.m)->n_layers, dm = ark_model_config(e.m)->d_model;
    cJSON *facts = read_facts(), *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "examples", relation_examples(facts, "city", "Paris", "London"));
    const char *dir = scratch_dir("knowledge_save");
    cJSON_AddStringToObject(p, "save", dir);
    cJSON *lay = cJSON_AddArrayToObject(p, "layers");
    cJSON_AddItemToArray(lay, cJSON_CreateNumber(-1));
    cJSON *out = tool_ok(&e, "knowledge", "probe", p);
    const cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "layers"), 0);
    assert_int_equal((int)jnum(l, "layer"), L - 1);
    assert_true(jnum(cJSON_GetObjectItem(l, "dom"), "test_accuracy") >= 0.9);
    char path[4300];
    snprintf(path, sizeof path, "%s/layer%d.safetensors", dir, L - 1);
    assert_string_equal(jstr(l, "saved"), path);
    ark_st_file *f;
    assert_int_equal(ark_st_open(path, &f), ARK_OK);
    const char *names[6] = {"W", "b", "mean", "std", "dom", "vector"};
    const int64_t numel[6] = {2 * dm, 2, dm, dm, 2 * dm, dm};
    for (int i = 0; i < 6; i++) {
        const ark_st_tensor *t = ark_st_find(f, names[i]);
        assert_non_null(t);
        assert_int_equal(t->numel, numel[i]);
    }
    float *v;
    bool owned;
    assert_int_equal(ark_st_to_f32(f, ark_st_find(f, "vector"), &v, &owned), ARK_OK);
    double nn = 0;
    for (int j = 0; j < dm; j++) nn += (double)v[j] * v[j];
    assert_true(fabs(sqrt(nn) - 1) < 1e-5);
    if (owned) free(v);
    ark_st_close(f);
    snprintf(path, sizeof path, "%s/layer%d.json", dir, L - 1);
    cJSON *side = read_json(path);
    assert_non_null(side);
    assert_int_equal((int)jnum(side, "layer"), L - 1);
    assert_string_equal(jstr(side, "hook"), jstr(l, "hook"));
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(side, "classes"), 0)->valuestring, "London");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(side, "classes"), 1)->valuestring, "Paris");
    cJSON_Delete(side);
    cJSON_Delete(out);
    cJSON_Delete(p);
    cJSON_Delete(facts);
    env_close(&e);
}

/* Pairs: the fact's sentence, and its prompt with another value of the relation (seeded). */
static cJSON *truth_pairs(const cJSON *facts, const cJSON *gt, int every)
{
    cJSON *pairs = cJSON_CreateArray();
    const cJSON *f;
    int i = 0;
    lcg_state = 99;
    cJSON_ArrayForEach(f, facts) {
        if (i++ % every) continue;
        const cJSON *vals = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(gt, "relations"), jstr(f, "relation")), "values");
        int nv = cJSON_GetArraySize(vals), t = (int)(urand() * 4);
        const char *other;
        do other = cJSON_GetArrayItem(vals, (int)(urand() * nv))->valuestring;
        while (!strcmp(other, jstr(f, "attribute")));
        char text[512];
        snprintf(text, sizeof text, "%s %s .", cJSON_GetArrayItem(cJSON_GetObjectItem(f, "prompts"), t)->valuestring, other);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "true", cJSON_GetArrayItem(cJSON_GetObjectItem(f, "sentences"), t)->valuestring);
        cJSON_AddStringToObject(o, "false", text);
        cJSON_AddStringToObject(o, "subject", jstr(f, "subject"));
        cJSON_AddItemToArray(pairs, o);
    }
    return pairs;
}

static void test_facts_truth(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    int L = ark_model_config(e.m)->n_layers;
    cJSON *facts = read_facts(), *gt = read_json(fixture_path("trained/facts-llama/ground_truth.json"));
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "pairs", truth_pairs(facts, gt, 2));
    cJSON_AddStringToObject(p, "direction", "unembed");
    cJSON_AddNumberToObject(p, "pos", -3); // "... lives in | Prague ." : the token before the claimed object
    cJSON *out = tool_ok(&e, "knowledge", "truth", p);
    const cJSON *layers = cJSON_GetObjectItem(out, "layers"), *l;
    assert_int_equal(cJSON_GetArraySize(layers), L);
    cJSON_ArrayForEach(l, layers) {
        const cJSON *a = cJSON_GetObjectItem(l, "all");
        print_message("  truth (unembed) layer %d: separation %.3f pair accuracy %.3f sign accuracy %.3f\n", (int)jnum(l, "layer"),
                      jnum(a, "separation"), jnum(a, "pair_accuracy"), jnum(a, "sign_accuracy"));
    }
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetArrayItem(layers, L - 1), "all");
    assert_true(jnum(a, "pair_accuracy") >= 0.98);
    assert_true(jnum(a, "sign_accuracy") >= 0.9);
    assert_true(jnum(a, "separation") >= 2.0);
    cJSON_Delete(out);
    // the difference of means runs (held-out pairs by subject) and the unembed direction refuses the last token
    cJSON_ReplaceItemInObject(p, "direction", cJSON_CreateString("dom"));
    out = tool_ok(&e, "knowledge", "truth", p);
    l = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "layers"), L - 1);
    assert_non_null(cJSON_GetObjectItem(l, "train"));
    assert_non_null(cJSON_GetObjectItem(l, "test"));
    cJSON_Delete(out);
    cJSON_ReplaceItemInObject(p, "direction", cJSON_CreateString("unembed"));
    cJSON_DeleteItemFromObject(p, "pos");
    ark_status st;
    assert_null(tool_call(&e, "knowledge", "truth", p, &st));
    assert_int_equal(st, ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "unembed"));
    cJSON_Delete(p);
    cJSON_Delete(gt);
    cJSON_Delete(facts);
    env_close(&e);
}

/* ---- the knowledge graph ---- */

/* The relations of ground_truth.json with the trailing " {a} ." cut. */
typedef struct gt_relations {
    int n;
    ark_kg_relation r[8];
    char *names[8], *tmpl[8][8];
} gt_relations;

static void gt_relations_read(const cJSON *gt, gt_relations *g)
{
    memset(g, 0, sizeof *g);
    const cJSON *r, *t;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(gt, "relations")) {
        int k = 0;
        g->names[g->n] = strdup(r->string);
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(r, "templates")) {
            char *s = strdup(t->valuestring), *cut = strstr(s, " {a}");
            assert_non_null(cut);
            *cut = '\0';
            g->tmpl[g->n][k++] = s;
        }
        g->r[g->n] = (ark_kg_relation){g->names[g->n], (const char *const *)g->tmpl[g->n], k};
        g->n++;
    }
}

static void gt_relations_free(gt_relations *g)
{
    for (int i = 0; i < g->n; i++) {
        free(g->names[i]);
        for (int j = 0; j < g->r[i].n_templates; j++) free(g->tmpl[i][j]);
    }
}

static void test_kg_facts(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    int L = ark_model_config(e.m)->n_layers;
    cJSON *facts = read_facts(), *gt = read_json(fixture_path("trained/facts-llama/ground_truth.json"));
    gt_relations g;
    gt_relations_read(gt, &g);
    // every 5th subject, in file order
    const char *subjects[200];
    const cJSON *by_key[200][8] = {{0}};
    int ns = 0, seen = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, facts) {
        int si = (int)jnum(f, "subject_index");
        if (si % 5) continue;
        if (si + 1 > seen) subjects[ns++] = jstr(f, "subject"), seen = si + 1;
        for (int r = 0; r < g.n; r++)
            if (!strcmp(g.names[r], jstr(f, "relation"))) by_key[ns - 1][r] = f;
    }
    ark_kg_opts o = ark_kg_opts_default();
    ark_kg kg;
    assert_int_equal(ark_kg_extract(e.m, e.tok, subjects, ns, g.r, g.n, &o, &kg), ARK_OK);
    assert_int_equal(kg.n, ns * g.n);
    int hits[8][8] = {{0}}, tot = 0;
    for (int i = 0; i < kg.n; i++) {
        const ark_kg_triple *t = &kg.triples[i];
        const cJSON *fact = by_key[t->subject][t->relation];
        assert_non_null(fact);
        const cJSON *rec = cJSON_GetObjectItem(fact, "recalled_per_template"), *pp = cJSON_GetObjectItem(fact, "p_attribute_per_template");
        int votes = 0;
        for (int j = 0; j < t->n_prompts; j++) {
            const ark_kg_prompt *p = &t->prompts[j];
            assert_string_equal(p->text, cJSON_GetArrayItem(cJSON_GetObjectItem(fact, "prompts"), j)->valuestring);
            char *txt;
            assert_int_equal(ark_tokenizer_decode(e.tok, p->pred, p->n_pred, false, &txt), ARK_OK);
            bool hit = !strcmp(txt, jstr(fact, "attribute"));
            free(txt);
            assert_int_equal(hit, cJSON_IsTrue(cJSON_GetArrayItem(rec, j)));
            hits[t->relation][j] += hit;
            votes += hit;
            // facts.jsonl's probability, rounded to 4 decimals
            if (hit) assert_true(fabs(p->first_prob - cJSON_GetArrayItem(pp, j)->valuedouble) <= 6e-5);
            assert_true(p->lens_layer >= 0 && p->lens_layer < L && p->lens_stable_layer >= p->lens_layer);
            assert_true(p->object_rank >= 0);
        }
        assert_true(fabs(t->agreement - (double)t->votes / t->n_prompts) < 1e-12);
        if (votes == t->n_prompts) assert_true(t->stable && !strcmp(t->object_text, jstr(fact, "attribute")));
        tot++;
    }
    // per-template recall against ground_truth.json (the full set's; a subsample of a set recalled
    // in full must be recalled in full, and in general within a few subsample SDs)
    const cJSON *per = cJSON_GetObjectItem(cJSON_GetObjectItem(gt, "recall"), "per_relation");
    for (int r = 0; r < g.n; r++) {
        const cJSON *pt = cJSON_GetObjectItem(cJSON_GetObjectItem(per, g.names[r]), "per_template"), *x;
        int j = 0;
        cJSON_ArrayForEach(x, pt) {
            double want = x->valuedouble, got = (double)hits[r][j++] / ns, sd = sqrt(want * (1 - want) / ns);
            print_message("  recall %s template %d: %.3f (ground truth %.3f)\n", g.names[r], j - 1, got, want);
            assert_true(fabs(got - want) <= 3 * sd + 1e-12);
        }
    }
    char *dot;
    assert_int_equal(ark_kg_dot(&kg, subjects, g.r, &dot), ARK_OK);
    assert_non_null(strstr(dot, "digraph"));
    free(dot);
    ark_kg_free(&kg);
    gt_relations_free(&g);
    cJSON_Delete(gt);
    cJSON_Delete(facts);
    env_close(&e);
}

static void test_kg_greedy_and_trace(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    const char *tmpl[1] = {"{s} lives in"};
    ark_kg_relation rel = {"city", tmpl, 1};
    const char *subjects[2] = {"Gaishar Tastei", "Veiflus Flebrepler"};
    ark_kg_opts o = ark_kg_opts_default();
    o.max_tokens = 4;
    o.stop_token = ark_tokenizer_token_to_id(e.tok, ".");
    o.causal = true;
    o.trace_samples = 4;
    ark_kg kg;
    assert_int_equal(ark_kg_extract(e.m, e.tok, subjects, 2, &rel, 1, &o, &kg), ARK_OK);
    for (int i = 0; i < 2; i++) {
        const ark_kg_triple *t = &kg.triples[i];
        // training sentences end "<city> ." so greedy decoding stops before the "."
        assert_int_equal(t->n_object, 1);
        assert_true(t->prompts[0].sequence_prob == t->prompts[0].first_prob);
        assert_true(t->trace.done);
        assert_true(t->trace.ie > 0 && t->trace.ie >= t->trace.subj_ie - 1e-12);
        assert_true(t->trace.subj_pos >= t->trace.subj_begin && t->trace.subj_pos < t->trace.subj_end);
        assert_true(t->trace.subj_row >= 1);
        assert_true(t->trace.p_clean > 0.9);
    }
    assert_true(kg.sigma > 0 && fabs(kg.noise - 3 * kg.sigma) < 1e-12);
    ark_kg_free(&kg);
    env_close(&e);
}

static void test_kg_fill_dot(void **state)
{
    (void)state;
    char *s;
    assert_int_equal(ark_kg_fill("{s} met {s}.", "Ann", &s), ARK_OK);
    assert_string_equal(s, "Ann met Ann.");
    free(s);
    assert_int_equal(ark_kg_fill("no subject", "Ann", &s), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "{s}"));
    s = ark_kg_dot_quote("a \"b\" \\c\nd");
    assert_string_equal(s, "\"a \\\"b\\\" \\\\c d\"");
    free(s);
    // a graph by hand: two subjects sharing an object, one unstable triple
    ark_kg_triple tr[2] = {{0}};
    tr[0] = (ark_kg_triple){.subject = 0, .relation = 0, .object_text = "Paris", .prob = 0.5, .stable = true};
    tr[1] = (ark_kg_triple){.subject = 1, .relation = 0, .object_text = "Paris", .prob = 1.0, .stable = false};
    ark_kg g = {.n_layers = 1, .n = 2, .triples = tr};
    const char *subj[2] = {"A \"x\"", "B"}, *tm[1] = {"{s} in"};
    ark_kg_relation rel = {"lives", tm, 1};
    char *dot;
    assert_int_equal(ark_kg_dot(&g, subj, &rel, &dot), ARK_OK);
    assert_non_null(strstr(dot, "n0 [label=\"A \\\"x\\\"\", shape=box];"));
    assert_non_null(strstr(dot, "n1 [label=\"Paris\", shape=ellipse];"));
    assert_non_null(strstr(dot, "n2 [label=\"B\", shape=box];"));
    assert_non_null(strstr(dot, "n0 -> n1 [label=\"lives (0.50)\", penwidth=3.00];"));
    assert_non_null(strstr(dot, "n2 -> n1 [label=\"lives (1.00)\", penwidth=5.00, style=dashed];"));
    free(dot);
}

/* ||OV||_F^2 from the weights, by hand: W_V of the kv head times W_O. */
static double ov_frob2(const ark_model *m, int l, int h)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, dh = c->d_head, kv = h / (c->n_heads / c->n_kv_heads);
    float *wv = malloc(sizeof(float) * d * dh), *wo = malloc(sizeof(float) * dh * d);
    assert_int_equal(ark_weight_read(m, ARK_W_V, l, kv, wv), ARK_OK);
    assert_int_equal(ark_weight_read(m, ARK_W_O, l, h, wo), ARK_OK);
    double s = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double v = 0;
            for (int a = 0; a < dh; a++) v += (double)wv[i * dh + a] * wo[a * d + j];
            s += v * v;
        }
    free(wv), free(wo);
    return s;
}

static void check_heads(const ark_model *m, const ark_kg_head *hs, int n, int nv, int k)
{
    const ark_config *c = ark_model_config(m);
    assert_int_equal(n, c->n_layers * c->n_heads);
    for (int i = 0; i < n; i++) {
        const ark_kg_head *h = &hs[i];
        assert_int_equal(h->layer, i / c->n_heads), assert_int_equal(h->head, i % c->n_heads);
        assert_int_equal(h->r, c->d_head < c->d_model ? c->d_head : c->d_model);
        assert_int_equal(h->n, nv), assert_int_equal(h->k, k);
        double s2 = 0;
        for (int j = 0; j < h->r; j++) {
            s2 += (double)h->ov_s[j] * h->ov_s[j];
            if (j) assert_true(h->ov_s[j] <= h->ov_s[j - 1] && h->qk_s[j] <= h->qk_s[j - 1]);
        }
        double want = ov_frob2(m, h->layer, h->head);
        if (fabs(s2 - want) > 1e-4 * want) fail_msg("head %d.%d: sum S^2 = %g, ||OV||_F^2 = %g", h->layer, h->head, s2, want);
        for (int j = 0; j < h->n; j++) {
            const ark_kg_direction *dirs[2] = {&h->ov[j], &h->qk[j]};
            for (int q = 0; q < 2; q++) {
                const ark_kg_side *b = &dirs[q]->b;
                assert_true(b->top_val[0] >= -b->bottom_val[0]); // the sign rule
                for (int t = 1; t < k; t++) assert_true(b->top_val[t] <= b->top_val[t - 1] && b->bottom_val[t] >= b->bottom_val[t - 1]);
            }
        }
    }
}

static void test_kg_heads(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    ark_kg_head *h;
    int n;
    assert_int_equal(ark_kg_heads(e.m, NULL, 0, 2, 5, &h, &n), ARK_OK);
    check_heads(e.m, h, n, 2, 5);
    ark_kg_heads_free(h, n);
    const int bad[2] = {0, 99};
    assert_int_equal(ark_kg_heads(e.m, bad, 1, 2, 5, &h, &n), ARK_ERR_ARG);
    assert_int_equal(ark_kg_heads(e.m, NULL, 0, 0, 5, &h, &n), ARK_ERR_ARG);
    env_close(&e);
}

/* ---- every fixture model ---- */

static void test_fixture_models(void **state)
{
    (void)state;
    DIR *dir = opendir(fixture_path("models"));
    assert_non_null(dir);
    struct dirent *de;
    int models = 0;
    while ((de = readdir(dir))) {
        char path[4200];
        snprintf(path, sizeof path, "%s", fixture_path("models/%s/config.json", de->d_name));
        struct stat st;
        if (de->d_name[0] == '.' || stat(path, &st) != 0) continue;
        snprintf(path, sizeof path, "%s", fixture_path("models/%s", de->d_name));
        env_t e;
        env_open(&e, path);
        const ark_config *c = ark_model_config(e.m);
        // a probe on token rows: label = parity of the last token, entity = the row
        cJSON *p = cJSON_CreateObject(), *ex = cJSON_AddArrayToObject(p, "examples");
        lcg_state = 5;
        for (int i = 0; i < 40; i++) {
            int n = 3 + i % 4, ids[8];
            for (int t = 0; t < n; t++) ids[t] = (int)(urand() * c->d_vocab);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "tokens", cJSON_CreateIntArray(ids, n));
            cJSON_AddNumberToObject(o, "label", ids[n - 1] % 2);
            cJSON_AddItemToArray(ex, o);
        }
        cJSON *out = tool_ok(&e, "knowledge", "probe", p);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "layers")), c->n_layers);
        assert_int_equal((int)jnum(out, "d"), c->d_model);
        const cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItem(out, "layers")) {
            double a = jnum(l, "train_accuracy"), t = jnum(l, "test_accuracy");
            assert_true(a >= 0 && a <= 1 && t >= 0 && t <= 1);
        }
        cJSON_Delete(out);
        cJSON_AddStringToObject(p, "hook", "z");
        out = tool_ok(&e, "knowledge", "probe", p);
        assert_int_equal((int)jnum(out, "d"), c->n_heads * c->d_head);
        cJSON_Delete(out);
        cJSON_Delete(p);
        ark_kg_head *h;
        int n;
        assert_int_equal(ark_kg_heads(e.m, NULL, 0, 1, 3, &h, &n), ARK_OK);
        check_heads(e.m, h, n, 1, 3);
        ark_kg_heads_free(h, n);
        // the graph needs a tokenizer (templates are text), and these folders have none
        const char *tm[1] = {"{s} is"}, *subj[1] = {"x"};
        ark_kg_relation rel = {"r", tm, 1};
        ark_kg kg;
        assert_int_equal(ark_kg_extract(e.m, e.tok, subj, 1, &rel, 1, NULL, &kg), ARK_ERR_ARG);
        assert_non_null(strstr(ark_errmsg(), "tokenizer"));
        env_close(&e);
        models++;
    }
    closedir(dir);
    assert_true(models >= 9);
}

/* ---- errors through the JSON tools ---- */

static void expect_error(env_t *e, const char *tool, const char *op, const char *params, const char *needle)
{
    cJSON *p = cJSON_Parse(params);
    assert_non_null(p);
    ark_status st;
    cJSON *out = tool_call(e, tool, op, p, &st);
    if (st == ARK_OK) fail_msg("%s %s %s: succeeded", tool, op, params);
    if (!strstr(ark_errmsg(), needle)) fail_msg("%s %s %s: message \"%s\" lacks \"%s\"", tool, op, params, ark_errmsg(), needle);
    cJSON_Delete(out);
    cJSON_Delete(p);
}

static void test_tool_errors(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, fixture_path("trained/facts-llama"));
    const char *two = "[{\"text\": \"a b\", \"label\": \"x\"}, {\"text\": \"b a\", \"label\": \"y\"}]";
    char buf[1024];
    expect_error(&e, "knowledge", "nope", "{}", "unknown operation");
    expect_error(&e, "knowledge", "probe", "{}", "no data");
    expect_error(&e, "knowledge", "probe", "{\"data\": \"/nonexistent/x.jsonl\"}", "data");
    expect_error(&e, "knowledge", "probe", "{\"examples\": [{\"text\": \"a\"}]}", "example 1: \"label\"");
    expect_error(&e, "knowledge", "probe", "{\"examples\": [{\"text\": \"a\", \"label\": 1}, {\"text\": \"b\", \"label\": 1}]}", "at least 2");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"hook\": \"pattern\"}", two);
    expect_error(&e, "knowledge", "probe", buf, "attention map");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"hook\": \"resid_postx\"}", two);
    expect_error(&e, "knowledge", "probe", buf, "resid_postx");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"layers\": [9]}", two);
    expect_error(&e, "knowledge", "probe", buf, "\"layers\"");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"pos\": 5}", two);
    expect_error(&e, "knowledge", "probe", buf, "\"pos\"");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"pos\": {\"token\": \"Prague\"}}", two);
    expect_error(&e, "knowledge", "probe", buf, "does not occur in row 0");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"pos\": {\"token\": \"two words\"}}", two);
    expect_error(&e, "knowledge", "probe", buf, "pos.token");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"test_fraction\": 1}", two);
    expect_error(&e, "knowledge", "probe", buf, "test_fraction");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"control\": \"random\"}", two);
    expect_error(&e, "knowledge", "probe", buf, "\"control\"");
    snprintf(buf, sizeof buf, "{\"examples\": %s, \"l2\": -1}", two);
    expect_error(&e, "knowledge", "probe", buf, "\"l2\"");
    expect_error(&e, "knowledge", "truth", "{\"pairs\": [{\"true\": \"a\"}]}", "pair 1");
    expect_error(&e, "knowledge", "truth", "{\"pairs\": [{\"true\": \"a\", \"false\": \"b\"}], \"direction\": \"up\"}", "\"direction\"");
    expect_error(&e, "knowledge", "truth", "{\"pairs\": [{\"true\": \"a\", \"false\": \"b\"}], \"direction\": \"file:/nonexistent.safetensors\"}", "direction");
    const char *rel = "\"relations\": [{\"relation\": \"city\", \"templates\": [\"{s} lives in\"]}]";
    expect_error(&e, "kg_extractor", "nope", "{}", "unknown operation");
    snprintf(buf, sizeof buf, "{%s}", rel);
    expect_error(&e, "kg_extractor", "extract", buf, "subjects");
    expect_error(&e, "kg_extractor", "extract", "{\"subjects\": [\"A\"]}", "relations");
    expect_error(&e, "kg_extractor", "extract", "{\"subjects\": [\"A\"], \"relations\": [{\"relation\": \"r\", \"templates\": [\"no slot\"]}]}", "{s}");
    expect_error(&e, "kg_extractor", "extract", "{\"subjects\": [\"A\"], \"relations\": [{\"relation\": \"r\"}]}", "relation 1");
    snprintf(buf, sizeof buf, "{\"subjects\": [\"A\"], %s, \"causal\": {\"kind\": \"x\"}}", rel);
    expect_error(&e, "kg_extractor", "extract", buf, "causal.kind");
    snprintf(buf, sizeof buf, "{\"subjects\": [\"A\"], %s, \"stop\": \"two words\"}", rel);
    expect_error(&e, "kg_extractor", "extract", buf, "\"stop\"");
    snprintf(buf, sizeof buf, "{\"subjects\": [\"A\"], %s, \"max_tokens\": 0}", rel);
    expect_error(&e, "kg_extractor", "extract", buf, "max_tokens");
    snprintf(buf, sizeof buf, "{\"subjects_file\": \"/nonexistent\", %s}", rel);
    expect_error(&e, "kg_extractor", "extract", buf, "subjects_file");
    expect_error(&e, "kg_extractor", "heads", "{\"heads\": [[0, 7]]}", "head 0.7");
    expect_error(&e, "kg_extractor", "heads", "{\"heads\": [[0]]}", "\"heads\"");
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_facts_probe),       cmocka_unit_test(test_facts_probe_save),
        cmocka_unit_test(test_facts_truth),       cmocka_unit_test(test_kg_facts),
        cmocka_unit_test(test_kg_greedy_and_trace), cmocka_unit_test(test_kg_fill_dot),
        cmocka_unit_test(test_kg_heads),          cmocka_unit_test(test_fixture_models),
        cmocka_unit_test(test_tool_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
