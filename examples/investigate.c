/* The demo's investigation from C (scripts/demo.sh runs the same one as the
 * spec examples/investigation.yaml, with the same settings): which heads of
 * models/induction-words are previous-token and induction heads, what the
 * logit lens and direct logit attribution say about the sentence's last
 * token, what ablating each head costs, which heads carry the answer when
 * it is patched, and whether the top head's effect holds up over rows
 * (a paired t-test, stats.h).
 *
 *   cc investigate.c $(pkg-config --cflags --libs arrakis libcjson) -o investigate
 *   ./investigate [MODEL_DIR]        (default models/induction-words; run from the clone's root)
 *
 * Every tool is used through its generic entry point (JSON in, JSON out);
 * the settings are those of the spec.  Another model folder needs a
 * tokenizer that knows the sentence's words. */
#include <arrakis/arrakis.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The spec's settings: 24 rows of <bos> + 12 random words (ids 2..55), repeated. */
#define ROWS "{\"length\": 12, \"batch\": 24, \"seed\": 1, \"bos\": 1, \"low\": 2, \"high\": 56}"
#define SENTENCE "the red fox jumps over the lazy dog . the red fox jumps over the lazy"
#define CORRUPTED "the red fox jumps over the lazy cat . the red fox jumps over the lazy"

/* Run tool `key` op `op` on params; the parsed result, or NULL (message printed). */
static cJSON *tool(const ark_tool_env *env, const char *key, const char *op, const char *params)
{
    ark_tool *t = NULL;
    char *out = NULL;
    cJSON *j = NULL;
    if (ark_tool_new(key, env, &t) == ARK_OK && ark_tool_run(t, op, params, &out) == ARK_OK)
        j = cJSON_Parse(out);
    else
        fprintf(stderr, "investigate: %s %s: %s\n", key, op ? op : "", ark_errmsg());
    free(out);
    ark_tool_free(t);
    return j;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static const cJSON *at(const cJSON *a, int i) { return cJSON_GetArrayItem(a, i); }
static double at2(const cJSON *m, int i, int k) { return at(at(m, i), k)->valuedouble; }

/* The (layer, head) with the largest value of an [L][H] matrix. */
static double argmax2(const cJSON *m, int *bl, int *bh)
{
    double best = -INFINITY;
    for (int l = 0; l < cJSON_GetArraySize(m); l++)
        for (int h = 0; h < cJSON_GetArraySize(at(m, l)); h++)
            if (at2(m, l, h) > best) best = at2(m, l, h), *bl = l, *bh = h;
    return best;
}

static void print_table(const cJSON *m, const char *fmt)
{
    printf("      ");
    for (int h = 0; h < cJSON_GetArraySize(at(m, 0)); h++) printf("  %6s%d", "H", h);
    printf("\n");
    for (int l = 0; l < cJSON_GetArraySize(m); l++) {
        printf("  L%d  ", l);
        for (int h = 0; h < cJSON_GetArraySize(at(m, l)); h++) printf(fmt, at2(m, l, h));
        printf("\n");
    }
}

/* 1. Head detectors on random repeated rows; returns the induction detector's top head. */
static int detectors(const ark_tool_env *env, int *ind_l, int *ind_h)
{
    cJSON *det = tool(env, "attention", "detect", "{\"repeat_random\": " ROWS "}");
    if (!det) return -1;
    const char *names[] = {"previous", "duplicate", "induction"};
    printf("1. head detectors (24 rows of 12 random words, repeated):\n");
    for (int i = 0; i < 3; i++) {
        int bl = 0, bh = 0;
        double best = argmax2(get(get(det, "detectors"), names[i]), &bl, &bh);
        if (i == 2) *ind_l = bl, *ind_h = bh;
        printf("   %-10s top head L%dH%d  score %.3f\n", names[i], bl, bh, best);
    }
    cJSON_Delete(det);
    return 0;
}

/* 2. The logit lens at the sentence's last position, with "dog" as the target. */
static int lens(const ark_tool_env *env)
{
    cJSON *r = tool(env, "logit_lens", "lens", "{\"text\": \"" SENTENCE "\", \"target\": \"dog\", \"pos\": -1, \"top_k\": 1}");
    if (!r) return -1;
    printf("\n2. logit lens at the last position (\"... the lazy\"):\n");
    const cJSON *pt;
    cJSON_ArrayForEach(pt, get(at(get(at(get(r, "rows"), 0), "positions"), 0), "points"))
    {
        const cJSON *top = at(get(pt, "top"), 0), *tg = get(pt, "target");
        printf("   %-12s top %-6s p %.3f   p(dog) %.4f\n", get(pt, "point")->valuestring,
               get(top, "token")->valuestring, get(top, "prob")->valuedouble, get(tg, "prob")->valuedouble);
    }
    cJSON_Delete(r);
    return 0;
}

/* 3. Direct logit attribution of logit(dog) - logit(lazy), by head. */
static int attribution(const ark_tool_env *env)
{
    cJSON *r = tool(env, "logit", "attribute",
                    "{\"text\": \"" SENTENCE "\", \"target\": \"dog\", \"against\": \"lazy\", \"by\": \"head\", \"top\": 3}");
    if (!r) return -1;
    const cJSON *r0 = at(get(r, "rows"), 0), *pt;
    printf("\n3. direct logit attribution of logit(dog) - logit(lazy), top parts:\n");
    cJSON_ArrayForEach(pt, get(r0, "parts"))
        printf("   %-10s %+.3f\n", get(pt, "label")->valuestring, get(pt, "attribution")->valuedouble);
    cJSON_Delete(r);
    return 0;
}

/* 5 and 6. Zero-ablate each head: the loss on the repeated half, per row;
 * then a paired t-test of the induction head's per-row losses against the
 * clean ones (the spec's test "induction_head"). */
static int ablation(const ark_tool_env *env, int ind_l, int ind_h)
{
    cJSON *r = tool(env, "attention", "ablation",
                    "{\"repeat_random\": " ROWS ", \"mode\": \"zero\", \"metric\": \"loss\", "
                    "\"targets\": \"repeated\", \"per_row\": true}");
    if (!r) return -1;
    const cJSON *eff = get(r, "effects"), *rows = get(r, "per_row");
    printf("\n5. zero ablation: loss on the repeated half, clean %.4f; change per head:\n",
           get(r, "clean")->valuedouble);
    print_table(eff, " %+7.3f");
    int tl = 0, th = 0;
    argmax2(eff, &tl, &th);
    printf("   largest: L%dH%d (the induction detector's top head: L%dH%d)\n", tl, th, ind_l, ind_h);

    const cJSON *clean = get(rows, "clean"), *abl = at(at(get(rows, "ablated"), ind_l), ind_h);
    int n = cJSON_GetArraySize(clean);
    double *a = malloc(sizeof(double) * (size_t)n), *b = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) a[i] = at(abl, i)->valuedouble, b[i] = at(clean, i)->valuedouble;
    ark_stats_result t;
    ark_stats_opts opts = {0};
    opts.alternative = ARK_ALT_GREATER;
    ark_status st = ark_stats_paired_t(a, b, n, &opts, &t);
    free(a);
    free(b);
    cJSON_Delete(r);
    if (st != ARK_OK) {
        fprintf(stderr, "investigate: paired t-test: %s\n", ark_errmsg());
        return -1;
    }
    printf("\n6. paired t-test over %d rows, H1: ablating the induction head L%dH%d raises the loss:\n", n, ind_l,
           ind_h);
    printf("   mean %.3f vs %.3f, diff %+.3f, t %.2f, df %.0f, p %.2g, d_z %.2f\n", t.mean_a, t.mean_b,
           t.mean_diff, t.statistic, t.df, t.p_value, t.effect_size);
    printf("   %s\n", t.statement);
    return 0;
}

/* 4. Activation patching of each head's output from the sentence into the
 * one ending in "cat": which heads restore logit(dog) - logit(cat)? */
static int patching(const ark_tool_env *env)
{
    cJSON *r = tool(env, "patching", "sweep",
                    "{\"clean\": \"" SENTENCE "\", \"corrupted\": \"" CORRUPTED "\", "
                    "\"metric\": \"logit-diff:dog,cat\", \"what\": \"heads\"}");
    if (!r) return -1;
    printf("\n4. activation patching of head outputs, clean -> corrupted (1 = restores \"dog\"):\n");
    print_table(get(r, "normalised"), " %7.3f");
    cJSON_Delete(r);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "models/induction-words";
    ark_model *m = NULL;
    ark_tokenizer *tok = NULL;
    if (ark_model_open(dir, &m) != ARK_OK || ark_tokenizer_open(dir, &tok) != ARK_OK) {
        fprintf(stderr, "investigate: %s\n", ark_errmsg());
        ark_model_free(m);
        return 1;
    }
    const ark_config *cfg = ark_model_config(m);
    printf("model: %s (%s, %d layers x %d heads)\n\n", dir, cfg->family, cfg->n_layers, cfg->n_heads);
    ark_tool_env env = {m, tok};
    int ind_l = 0, ind_h = 0;
    int rc = detectors(&env, &ind_l, &ind_h) || lens(&env) || attribution(&env) || patching(&env) ||
             ablation(&env, ind_l, ind_h);
    ark_tokenizer_free(tok);
    ark_model_free(m);
    return rc ? 1 : 0;
}
