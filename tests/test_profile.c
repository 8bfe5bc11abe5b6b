/* Profiles: the entries' times sum to the total, the FLOP counts equal the
 * analytic counts for each fixture model's shapes (computed here from
 * config.json's sizes), and profiling changes no output. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

static void check(const char *dir)
{
    ark_model *m;
    assert_int_equal(ark_model_open(dir, &m), ARK_OK);
    const ark_config *c = ark_model_config(m);
    int B = 2, T = 9;
    int32_t ids[18];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 13 + 5) % c->d_vocab;
    ark_cache *a, *b;
    ark_profile *p;
    assert_int_equal(ark_run(m, ids, B, T, NULL, NULL, &a), ARK_OK);
    assert_int_equal(ark_run_profiled(m, ids, B, T, NULL, NULL, &b, &p), ARK_OK);
    assert_memory_equal(ark_cache_logits(a)->data, ark_cache_logits(b)->data, sizeof(float) * B * T * c->d_vocab);

    double sum = 0;
    for (int i = 0; i < ark_profile_count(p); i++) sum += ark_profile_at(p, i)->seconds;
    assert_true(fabs(sum - ark_profile_total(p)) <= 1e-9 * (1 + sum));
    const char *kinds[] = {"embed", "norm", "attention", "mlp", "unembed"};
    double shares = 0;
    for (int k = 0; k < 5; k++) shares += ark_profile_kind_seconds(p, kinds[k]) / ark_profile_total(p);
    assert_true(fabs(shares - 1.0) < 1e-9);

    /* analytic matrix-product FLOPs for these shapes */
    double BT = B * T, d = c->d_model, H = c->n_heads, KV = c->n_kv_heads, dh = c->d_head, mm = c->d_mlp, V = c->d_vocab;
    double g = c->mlp == ARK_MLP_GATED ? 2 : 1, L = c->n_layers;
    double attn = L * (2 * BT * d * (H + 2 * KV) * dh + 4 * B * H * T * T * dh + 2 * BT * H * dh * d);
    double mlp = L * (2 * BT * d * mm * g + 2 * BT * mm * d + BT * mm * g);
    double nrm_per = BT * d * (c->norm == ARK_NORM_LAYERNORM ? 5 : 4);
    double norms = (L * (c->shared_parallel_norm ? 1 : 2) + 1) * nrm_per;
    assert_float_equal(ark_profile_kind_flops(p, "attention"), attn, 1e-6 * attn);
    assert_float_equal(ark_profile_kind_flops(p, "mlp"), mlp, 1e-6 * mlp);
    assert_float_equal(ark_profile_kind_flops(p, "unembed"), 2 * BT * d * V, 1e-6);
    assert_float_equal(ark_profile_kind_flops(p, "norm"), norms, 1e-6 * norms);
    /* every layer has its components, in order */
    int attn_entries = 0;
    for (int i = 0; i < ark_profile_count(p); i++) attn_entries += !strcmp(ark_profile_at(p, i)->kind, "attention");
    assert_int_equal(attn_entries, 3 * c->n_layers);
    assert_true(ark_profile_peak_rss(p) > 0 && ark_profile_run_bytes(p) >= 4.0 * BT * V);
    char *js = ark_profile_json(p);
    assert_non_null(strstr(js, "\"by_kind\""));
    free(js);
    ark_profile_free(p);
    ark_cache_free(a);
    ark_cache_free(b);
    ark_model_free(m);
}

static void test_profiles(void **state)
{
    (void)state;
    DIR *d = opendir(fixture_path("models"));
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    char names[32][256];
    while ((e = readdir(d)) && n < 32)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md")) snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", fixture_path("models/%s", names[i]));
        check(dir);
    }
}

/* `profile: true` in an experiment spec attaches the profile to the run. */
static void test_profile_in_experiment(void **state)
{
    (void)state;
    char dir[4096], spec_path[4200];
    snprintf(dir, sizeof dir, "%s", scratch_dir("profile_exp"));
    snprintf(spec_path, sizeof spec_path, "%s/spec.yaml", dir);
    FILE *f = fopen(spec_path, "w");
    assert_non_null(f);
    fprintf(f, "name: profiled\nmodel: %s\ninputs:\n  tokens: [[1, 2, 3, 4]]\ntools: []\nprofile: true\n",
            fixture_path("models/llama"));
    fclose(f);
    ark_spec *spec;
    char *report = NULL, *json = NULL, store_dir[4200];
    assert_int_equal(ark_spec_load(spec_path, &spec), ARK_OK);
    snprintf(store_dir, sizeof store_dir, "%s/exp", dir);
    if (ark_spec_run(spec, store_dir, &report) != ARK_OK) fail_msg("%s", ark_errmsg());
    ark_exp_store *st;
    assert_int_equal(ark_exp_store_open(store_dir, &st), ARK_OK);
    assert_int_equal(ark_exp_export(st, "profiled", &json), ARK_OK);
    assert_non_null(strstr(json, "\"profile\""));
    assert_non_null(strstr(json, "\"by_kind\""));
    assert_non_null(strstr(json, "profile_seconds"));
    free(json);
    free(report);
    ark_exp_store_free(st);
    ark_spec_free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_profiles), cmocka_unit_test(test_profile_in_experiment)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
