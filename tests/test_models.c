/* Parity with Hugging Face: every model folder under fixtures/models and
 * fixtures/trained is run on its reference inputs, and every key of its
 * reference.safetensors is compared with the matching hook point at
 * |ours - ref| <= 1e-4 + 1e-4 |ref|.  Model folders are discovered, not
 * listed, so new fixtures are picked up as they come. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "testutil.h"

#define ATOL 1e-4
#define RTOL 1e-4

/* Map a reference key (without its "seqN." prefix) to our hook name.
 * Returns false for keys that are inputs. Fails the test on an unknown key. */
static bool ref_to_hook(const char *key, int n_layers, char *hook, size_t cap)
{
    int i;
    char rest[128];
    if (!strcmp(key, "input_ids")) return false;
    if (!strcmp(key, "logits")) { snprintf(hook, cap, "logits"); return true; }
    if (!strcmp(key, "final_norm_out")) { snprintf(hook, cap, "ln_final.hook_normalized"); return true; }
    if (sscanf(key, "hidden_states.%d", &i) == 1) {
        /* HF: 0 = embeddings, j = output of layer j-1, L = after the final norm */
        if (i == 0) snprintf(hook, cap, "blocks.0.hook_resid_pre");
        else if (i == n_layers) snprintf(hook, cap, "ln_final.hook_normalized");
        else snprintf(hook, cap, "blocks.%d.hook_resid_post", i - 1);
        return true;
    }
    if (sscanf(key, "hidden.%d", &i) == 1) { /* trained fixtures: raw residual stream */
        if (i == 0) snprintf(hook, cap, "blocks.0.hook_resid_pre");
        else snprintf(hook, cap, "blocks.%d.hook_resid_post", i - 1);
        return true;
    }
    if (sscanf(key, "attentions.%d", &i) == 1 || sscanf(key, "attn.%d", &i) == 1) {
        snprintf(hook, cap, "blocks.%d.attn.hook_pattern", i);
        return true;
    }
    if (sscanf(key, "layers.%d.%127s", &i, rest) == 2) {
        static const struct { const char *ref, *hook; } map[] = {
            {"ln1_out", "ln1.hook_normalized"}, {"attn_out", "hook_attn_out"}, {"ln2_out", "ln2.hook_normalized"},
            {"resid_mid", "hook_resid_mid"}, {"mlp_out", "hook_mlp_out"}, {"out", "hook_resid_post"},
        };
        for (size_t j = 0; j < sizeof map / sizeof map[0]; j++)
            if (!strcmp(rest, map[j].ref)) { snprintf(hook, cap, "blocks.%d.%s", i, map[j].hook); return true; }
    }
    fail_msg("reference key %s has no mapping to a hook point", key);
    return false;
}

/* Compare one reference tensor with a cache tensor (ours has a leading batch
 * dim of B; the reference may or may not). */
static void compare(const char *model, const char *key, const ark_st_file *rf, const ark_st_tensor *rt,
                    const ark_tensor *ours)
{
    float *ref;
    bool owned;
    assert_int_equal(ark_st_to_f32(rf, rt, &ref, &owned), ARK_OK);
    int64_t n = ark_tensor_numel(ours);
    if (n != rt->numel) fail_msg("%s %s: %lld values, reference has %lld", model, key, (long long)n, (long long)rt->numel);
    size_t worst;
    double r = tol_ratio(ours->data, ref, (size_t)n, ATOL, RTOL, &worst);
    if (!(r <= 1.0))
        fail_msg("%s %s: element %zu is %.7g, reference %.7g (%.2fx the tolerance)", model, key, worst,
                 ours->data[worst], ref[worst], r);
    if (owned) free(ref);
}

/* The sequences of a reference file: "seqN.input_ids" keys, or "input_ids". */
static int ref_prefixes(const ark_st_file *rf, char prefixes[][16])
{
    int n = 0;
    for (int i = 0; i < ark_st_count(rf); i++) {
        const char *name = ark_st_at(rf, i)->name;
        const char *dot = strstr(name, "input_ids");
        if (!dot || strcmp(dot, "input_ids")) continue;
        snprintf(prefixes[n++], 16, "%.*s", (int)(dot - name), name);
    }
    return n;
}

static void check_folder(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("open %s: %s", dir, ark_errmsg());
    const ark_config *c = ark_model_config(m);
    char path[1024];
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    ark_st_file *rf;
    assert_int_equal(ark_st_open(path, &rf), ARK_OK);
    char prefixes[8][16];
    int np = ref_prefixes(rf, prefixes), compared = 0;
    assert_true(np > 0);
    for (int p = 0; p < np; p++) {
        char key[256];
        snprintf(key, sizeof key, "%sinput_ids", prefixes[p]);
        const ark_st_tensor *ids_t = ark_st_find(rf, key);
        int B = ids_t->ndim == 2 ? (int)ids_t->shape[0] : 1, T = (int)ids_t->shape[ids_t->ndim - 1];
        int32_t *ids = malloc(sizeof *ids * B * T);
        for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((const int64_t *)ids_t->data)[i];
        ark_plan *plan = ark_plan_new(m);
        ark_plan_keep_all(plan);
        ark_cache *cache;
        if (ark_run(m, ids, B, T, NULL, plan, &cache) != ARK_OK) fail_msg("run %s: %s", dir, ark_errmsg());
        size_t plen = strlen(prefixes[p]);
        for (int i = 0; i < ark_st_count(rf); i++) {
            const ark_st_tensor *rt = ark_st_at(rf, i);
            char hook[128];
            if (strncmp(rt->name, prefixes[p], plen) || !ref_to_hook(rt->name + plen, c->n_layers, hook, sizeof hook))
                continue;
            const ark_tensor *ours = !strcmp(hook, "logits") ? ark_cache_logits(cache) : ark_cache_get(cache, hook);
            if (!ours) fail_msg("%s: no hook point %s for reference key %s", dir, hook, rt->name);
            compare(dir, rt->name, rf, rt, ours);
            compared++;
        }
        ark_cache_free(cache);
        ark_plan_free(plan);
        free(ids);
    }
    printf("  %-55s %d reference tensors match\n", dir, compared);
    ark_st_close(rf);
    ark_model_free(m);
}

static void each_folder(const char *group, void (*fn)(const char *dir))
{
    static char dirs[64][512];
    int n = fixture_folders(group, dirs, 64);
    for (int i = 0; i < n; i++) fn(dirs[i]);
}

static void test_fixture_models(void **state)
{
    (void)state;
    each_folder("models", check_folder);
}

static void test_trained_models(void **state)
{
    (void)state;
    each_folder("trained", check_folder);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_models),
        cmocka_unit_test(test_trained_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
