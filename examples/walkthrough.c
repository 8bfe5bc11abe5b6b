/* A walkthrough of Arrakis in five steps, after the original Python
 * library's README:
 *
 *   1. a config for a family, and a random model built from it;
 *   2. a bench (a versioned store of experiments) with a tool of our own;
 *   3. an experiment logged with ARK_LOG_EXPERIMENT, run twice, and its
 *      versions read back (each version with its source and runs);
 *   4. a built-in tool used by key: write_read (heads writing into and
 *      reading from a token's direction);
 *   5. an attention heatmap of layer 0, head 0, as a PNG.
 *
 *   cc walkthrough.c $(pkg-config --cflags --libs arrakis libcjson) -o walkthrough
 *   ./walkthrough [OUT_DIR]        (default: a fresh folder under /tmp)
 *
 * Everything it writes (the model folder, the bench's store, the PNG) goes
 * under OUT_DIR. */
#include <arrakis/arrakis.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(const char *what)
{
    fprintf(stderr, "walkthrough: %s: %s\n", what, ark_errmsg());
    return 1;
}

/* ---- step 2: a tool of our own --------------------------------------- */

/* "resid_norms": the norm of the residual stream after every layer at the
 * last position, for params {"tokens": [ids]}. */
typedef struct {
    ark_model *m;
} norms_state;

static ark_status norms_create(const ark_tool_env *env, void **state)
{
    norms_state *s = malloc(sizeof *s);
    if (!s) return ARK_ERR_NOMEM;
    s->m = env->model; /* borrowed: the bench outlives the tool */
    *state = s;
    return ARK_OK;
}

static ark_status norms_run(void *state, const char *op, const char *params, char **result)
{
    (void)op;
    norms_state *s = state;
    cJSON *p = cJSON_Parse(params ? params : "{}");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(p, "tokens");
    int T = cJSON_GetArraySize(toks);
    if (!cJSON_IsArray(toks) || T == 0) {
        cJSON_Delete(p);
        return ARK_ERR_ARG;
    }
    int32_t *ids = malloc(sizeof *ids * (size_t)T);
    for (int i = 0; i < T; i++) ids[i] = (int32_t)cJSON_GetArrayItem(toks, i)->valuedouble;
    cJSON_Delete(p);

    ark_plan *plan = ark_plan_new(s->m);
    ark_plan_keep(plan, "resid_post"); /* every layer */
    ark_cache *c;
    ark_status st = ark_run(s->m, ids, 1, T, NULL, plan, &c);
    if (st == ARK_OK) {
        const ark_config *cfg = ark_model_config(s->m);
        cJSON *out = cJSON_CreateObject(), *norms = cJSON_AddArrayToObject(out, "norms");
        for (int l = 0; l < cfg->n_layers; l++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.hook_resid_post", l);
            const ark_tensor *x = ark_cache_get(c, name); /* [1, T, d] */
            const float *v = x->data + (size_t)(T - 1) * cfg->d_model;
            double ss = 0;
            for (int j = 0; j < cfg->d_model; j++) ss += (double)v[j] * v[j];
            cJSON_AddItemToArray(norms, cJSON_CreateNumber(sqrt(ss)));
        }
        *result = cJSON_PrintUnformatted(out);
        cJSON_Delete(out);
        ark_cache_free(c);
    }
    ark_plan_free(plan);
    free(ids);
    return st;
}

static void norms_destroy(void *state) { free(state); }

static const char *const norms_ops[] = {"default: {\"tokens\": [ids]} -> {\"norms\": [...]}", NULL};
static const ark_tool_def norms_tool = {"resid_norms", "residual norm after each layer (walkthrough)",
                                        norms_create, norms_run, norms_destroy, norms_ops};

/* ---- step 3: an experiment ------------------------------------------- */

/* Uses our tool and a built-in one (the logit lens), logs a result and a
 * metric.  Its source, read from this file at run time, is its version. */
static ark_status norms_and_lens(ark_bench *b, ark_exp_run *run, void *args)
{
    (void)args;
    ark_bench_tool *norms, *lens;
    ark_status st = ark_bench_use_tool(b, "resid_norms", &norms);
    if (st != ARK_OK) return st;
    st = ark_bench_use_tool(b, "logit_lens", &lens);
    if (st != ARK_OK) {
        ark_bench_tool_free(norms);
        return st;
    }
    char *n_out = NULL, *l_out = NULL;
    st = ark_bench_tool_run(norms, NULL, "{\"tokens\": [5, 17, 42, 5, 17]}", &n_out);
    if (st == ARK_OK) st = ark_bench_tool_run(lens, NULL, "{\"tokens\": [[5, 17, 42, 5, 17]], \"pos\": -1, \"top_k\": 1}", &l_out);
    if (st == ARK_OK) st = ark_exp_put_result(run, "resid_norms", n_out);
    if (st == ARK_OK) st = ark_exp_put_result(run, "logit_lens", l_out);
    if (st == ARK_OK) {
        cJSON *j = cJSON_Parse(n_out);
        const cJSON *norms_arr = cJSON_GetObjectItemCaseSensitive(j, "norms");
        int L = cJSON_GetArraySize(norms_arr);
        st = ark_exp_log_metric(run, "final_norm", L ? cJSON_GetArrayItem(norms_arr, L - 1)->valuedouble : 0);
        cJSON_Delete(j);
    }
    free(n_out);
    free(l_out);
    ark_bench_tool_free(lens);
    ark_bench_tool_free(norms);
    return st;
}

/* ---- helpers ---------------------------------------------------------- */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

/* Print the first `max` lines of a text, indented. */
static void print_lines(const char *text, int max)
{
    int n = 0;
    const char *p = text;
    while (p && *p && n < max) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        printf("    | %.*s\n", len, p);
        n++;
        p = e ? e + 1 : NULL;
    }
    if (p && *p) printf("    | ...\n");
}

int main(int argc, char **argv)
{
    char dir[4096];
    if (argc > 1) {
        snprintf(dir, sizeof dir, "%s", argv[1]);
        mkdir(dir, 0755);
    } else {
        snprintf(dir, sizeof dir, "/tmp/arrakis-walkthrough.XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    char model_dir[4200], save_dir[4200], png[4200];
    snprintf(model_dir, sizeof model_dir, "%s/model", dir);
    snprintf(save_dir, sizeof save_dir, "%s/experiments", dir);
    snprintf(png, sizeof png, "%s/attention_L0H0.png", dir);
    printf("output folder: %s\n", dir);

    /* 1. A config for a family (its Hugging Face defaults plus overrides)
     *    and a random model from it. */
    const char *keys[] = {"n_layer", "n_head", "n_embd", "vocab_size", "n_positions"};
    const char *vals[] = {"2", "4", "64", "128", "64"};
    char *config = NULL;
    if (ark_config_build("gpt2", 5, keys, vals, &config) != ARK_OK) return fail("config");
    if (ark_model_init_folder(config, 42, ARK_F32, model_dir) != ARK_OK) {
        free(config);
        return fail("init model");
    }
    free(config);
    ark_model *m;
    if (ark_model_open(model_dir, &m) != ARK_OK) return fail("open model");
    const ark_config *cfg = ark_model_config(m);
    printf("[1] model: %s, %d layers, %d heads, d_model %d, vocab %d (random, seed 42) in %s\n", cfg->family,
           cfg->n_layers, cfg->n_heads, cfg->d_model, cfg->d_vocab, model_dir);

    /* 2. A bench over the model, saving to its own folder, with our tool. */
    ark_bench *b;
    if (ark_bench_open(m, NULL, save_dir, &b) != ARK_OK) {
        ark_model_free(m);
        return fail("bench");
    }
    int rc = 1;
    char *json = NULL;
    cJSON *j = NULL;
    if (ark_bench_register_tool(b, &norms_tool) != ARK_OK) {
        fail("register tool");
        goto done;
    }
    printf("[2] bench in %s: %d tools, ours first: %s (%s)\n", ark_bench_dir(b), ark_bench_tool_count(b),
           ark_bench_tool_at(b, 0)->name, ark_bench_tool_at(b, 0)->summary);

    /* 3. The experiment, twice (same code: one version, two runs). */
    for (int i = 0; i < 2; i++) {
        char params[64];
        snprintf(params, sizeof params, "{\"attempt\": %d}", i + 1);
        if (ARK_LOG_EXPERIMENT_PARAMS(b, norms_and_lens, NULL, params) != ARK_OK) {
            fail("experiment");
            goto done;
        }
        printf("[3] logged run %lld of norms_and_lens\n", (long long)ark_bench_last_run(b));
    }
    if (ark_exp_versions(ark_bench_store(b), "norms_and_lens", &json) != ARK_OK) {
        fail("versions");
        goto done;
    }
    j = cJSON_Parse(json);
    free(json);
    json = NULL;
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "versions");
    printf("[3] versions of norms_and_lens: %d\n", cJSON_GetArraySize(vs));
    const cJSON *v;
    cJSON_ArrayForEach(v, vs) printf("    version %d  %.12s  %s  runs %d  (%s .. %s)\n", (int)num(v, "version"),
                                     str(v, "hash"), str(v, "kind"), (int)num(v, "n_runs"), str(v, "first_run"),
                                     str(v, "last_run"));
    cJSON_Delete(j);
    j = NULL;
    if (ark_exp_version(ark_bench_store(b), "norms_and_lens", "1", &json) != ARK_OK) {
        fail("version 1");
        goto done;
    }
    j = cJSON_Parse(json);
    free(json);
    json = NULL;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    printf("[3] version 1: %s, function %s at %s:%d, source:\n", str(j, "kind"), str(j, "function"), str(j, "file"),
           (int)num(j, "line"));
    print_lines(cJSON_IsString(src) ? src->valuestring : "?", 6);
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(j, "runs");
    printf("[3] version 1 has %d runs:\n", cJSON_GetArraySize(runs));
    const cJSON *r;
    cJSON_ArrayForEach(r, runs)
    {
        const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(r, "metrics");
        char *p = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "params"));
        printf("    run %d  %s  params %s  final_norm %.4f\n", (int)num(r, "id"), str(r, "status"), p ? p : "{}",
               num(metrics, "final_norm"));
        free(p);
    }
    cJSON_Delete(j);
    j = NULL;

    /* 4. A built-in tool by key: which heads write into / read from the
     *    unembedding direction of token 7. */
    ark_bench_tool *wr;
    if (ark_bench_use_tool(b, "write_read", &wr) != ARK_OK) {
        fail("write_read");
        goto done;
    }
    ark_status st = ark_bench_tool_run(wr, "analyze", "{\"direction\": \"token:7\", \"top\": 3}", &json);
    ark_bench_tool_free(wr);
    if (st != ARK_OK) {
        fail("write_read analyze");
        goto done;
    }
    j = cJSON_Parse(json);
    free(json);
    json = NULL;
    const cJSON *dirn = cJSON_GetObjectItemCaseSensitive(j, "direction");
    printf("[4] write_read on %s (chance %.3f)\n", str(dirn, "spec"), num(dirn, "chance"));
    const cJSON *writers = cJSON_GetObjectItemCaseSensitive(j, "writers");
    const cJSON *w;
    printf("    top writers:");
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(writers, "top"))
        printf(" %s (%.3f)", str(w, "label"), num(w, "weights_ov"));
    printf("\n    top readers:");
    const cJSON *readers = cJSON_GetObjectItemCaseSensitive(j, "readers");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(readers, "top");
    cJSON_ArrayForEach(w, rt) printf(" %s (q %.3f k %.3f v %.3f)", str(w, "label"), num(w, "q"), num(w, "k"), num(w, "v"));
    printf("\n");
    cJSON_Delete(j);
    j = NULL;

    /* 5. An attention heatmap: layer 0, head 0 on a short prompt. */
    const ark_tool_env *env = ark_bench_env(b);
    const char *spec = "{\"type\": \"attention\", \"tokens\": [5, 17, 42, 5, 17, 42], \"layer\": 0, \"head\": 0}";
    if (ark_plot_collect(env, spec, &json) != ARK_OK) {
        fail("plot data");
        goto done;
    }
    int width = 0, height = 0;
    st = ark_plot_render_file(spec, json, png, &width, &height);
    free(json);
    json = NULL;
    if (st != ARK_OK) {
        fail("plot");
        goto done;
    }
    printf("[5] attention plot (layer 0, head 0): %s (%dx%d)\n", png, width, height);
    printf("done\n");
    rc = 0;
done:
    cJSON_Delete(j);
    free(json);
    ark_bench_free(b);
    ark_model_free(m);
    ark_plot_release();
    return rc;
}
