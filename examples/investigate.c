/* A short investigation of a trained model, from C: which heads are
 * previous-token and induction heads on repeated random tokens, what the
 * logit lens and direct logit attribution say about a repeated token, what
 * ablating each head costs, and whether the top head's effect holds up
 * over rows (Welch's t-test, stats.h).
 *
 *   cc investigate.c $(pkg-config --cflags --libs arrakis libcjson) -o investigate
 *   ./investigate [MODEL_DIR]      (default ../shared/fixtures/trained/induction-gpt2)
 *
 * Every tool is used through its generic entry point (JSON in, JSON out). */
#include <arrakis/arrakis.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define LEN 12  /* random tokens, repeated once */
#define ROWS 8

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
static double at2(const cJSON *m, int i, int k) { return cJSON_GetArrayItem(cJSON_GetArrayItem(m, i), k)->valuedouble; }

/* The (layer, head) with the largest value of an [L][H] matrix. */
static double argmax2(const cJSON *m, int *bl, int *bh)
{
    double best = -INFINITY;
    for (int l = 0; l < cJSON_GetArraySize(m); l++)
        for (int h = 0; h < cJSON_GetArraySize(cJSON_GetArrayItem(m, l)); h++)
            if (at2(m, l, h) > best) best = at2(m, l, h), *bl = l, *bh = h;
    return best;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/fixtures/trained/induction-gpt2";
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) {
        fprintf(stderr, "investigate: %s\n", ark_errmsg());
        return 1;
    }
    const ark_config *cfg = ark_model_config(m);
    ark_tool_env env = {m, NULL};
    int rc = 1, L = cfg->n_layers, H = cfg->n_heads;
    cJSON *det = NULL, *lens = NULL, *dla = NULL, *abl = NULL;
    printf("model: %s (%s, %d layers x %d heads)\n", dir, cfg->family, L, H);

    /* 1. Head detectors on repeated random tokens. */
    char params[4096];
    snprintf(params, sizeof params,
             "{\"repeat_random\": {\"length\": %d, \"batch\": %d, \"seed\": 1}, "
             "\"detectors\": [\"previous\", \"duplicate\", \"induction\"]}", LEN, ROWS);
    if (!(det = tool(&env, "attention", "detect", params))) goto done;
    const char *names[] = {"previous", "duplicate", "induction"};
    int ind_l = 0, ind_h = 0;
    printf("\nhead detectors (%d rows of %d random tokens repeated):\n", ROWS, LEN);
    for (int i = 0; i < 3; i++) {
        const cJSON *sc = get(get(det, "detectors"), names[i]);
        int bl = 0, bh = 0;
        double best = argmax2(sc, &bl, &bh);
        if (i == 2) ind_l = bl, ind_h = bh;
        printf("  %-10s top head L%dH%d  score %.3f\n", names[i], bl, bh, best);
    }
    const cJSON *tokens = get(det, "tokens");

    /* The first row's tokens; position p = 2*LEN-2 predicts the repeat of
     * token 2*LEN-1. */
    char *row0 = cJSON_PrintUnformatted(cJSON_GetArrayItem(tokens, 0));
    int pos = 2 * LEN - 2, target = cJSON_GetArrayItem(cJSON_GetArrayItem(tokens, 0), pos + 1)->valueint;

    /* 2. Logit lens at that position. */
    snprintf(params, sizeof params, "{\"tokens\": [%s], \"pos\": %d, \"top_k\": 1, \"target\": %d}", row0, pos, target);
    if (!(lens = tool(&env, "logit_lens", "lens", params))) goto done0;
    printf("\nlogit lens at position %d (the next token is %d):\n", pos, target);
    const cJSON *pt;
    cJSON_ArrayForEach(pt, get(cJSON_GetArrayItem(get(cJSON_GetArrayItem(get(lens, "rows"), 0), "positions"), 0), "points"))
    {
        const cJSON *top = cJSON_GetArrayItem(get(pt, "top"), 0);
        printf("  %-12s top %3d  p %.3f\n", get(pt, "point")->valuestring, get(top, "id")->valueint,
               get(top, "prob")->valuedouble);
    }

    /* 3. Direct logit attribution of that token by head. */
    snprintf(params, sizeof params, "{\"tokens\": [%s], \"pos\": %d, \"target\": %d, \"by\": \"head\", \"top\": 3}",
             row0, pos, target);
    if (!(dla = tool(&env, "logit", "attribute", params))) goto done0;
    const cJSON *r0 = cJSON_GetArrayItem(get(dla, "rows"), 0);
    printf("\ndirect logit attribution to %d (logit %.3f), top parts:\n", target, get(r0, "logit")->valuedouble);
    cJSON_ArrayForEach(pt, get(r0, "parts"))
        printf("  %-10s %+.3f\n", get(pt, "label")->valuestring, get(pt, "attribution")->valuedouble);

    /* 4. Zero-ablating each head: the loss on the repeated half. */
    snprintf(params, sizeof params,
             "{\"repeat_random\": {\"length\": %d, \"batch\": %d, \"seed\": 1}, \"metric\": \"loss\", "
             "\"targets\": \"repeated\"}", LEN, ROWS);
    if (!(abl = tool(&env, "attention", "ablation", params))) goto done0;
    const cJSON *eff = get(abl, "effects");
    printf("\nablation (zero): loss on the repeated half, clean %.3f; change per head:\n      ",
           get(abl, "clean")->valuedouble);
    for (int h = 0; h < H; h++) printf("     H%d", h);
    printf("\n");
    for (int l = 0; l < L; l++) {
        printf("  L%d  ", l);
        for (int h = 0; h < H; h++) printf(" %+.3f", at2(eff, l, h));
        printf("\n");
    }
    int top_l = 0, top_h = 0;
    argmax2(eff, &top_l, &top_h);
    printf("  largest: L%dH%d (induction detector's top head: L%dH%d)\n", top_l, top_h, ind_l, ind_h);

    /* 5. Per row: loss with and without the top head; Welch's t-test. */
    double clean[ROWS], ablated[ROWS];
    for (int r = 0; r < ROWS; r++) {
        char *row = cJSON_PrintUnformatted(cJSON_GetArrayItem(tokens, r));
        snprintf(params, sizeof params, "{\"tokens\": [%s], \"metric\": \"loss\", \"targets\": \"repeated\"}", row);
        free(row);
        cJSON *a = tool(&env, "attention", "ablation", params);
        if (!a) goto done0;
        clean[r] = get(a, "clean")->valuedouble;
        ablated[r] = clean[r] + at2(get(a, "effects"), top_l, top_h);
        cJSON_Delete(a);
    }
    ark_stats_result t;
    ark_stats_opts opts = {0};
    if (ark_stats_welch(ablated, ROWS, clean, ROWS, &opts, &t) != ARK_OK) {
        fprintf(stderr, "investigate: welch: %s\n", ark_errmsg());
        goto done0;
    }
    printf("\nwelch t-test, loss with L%dH%d ablated vs clean over %d rows:\n", top_l, top_h, ROWS);
    printf("  mean %.3f vs %.3f, diff %+.3f, t %.2f, df %.1f, p %.2g, d %.2f\n", t.mean_a, t.mean_b, t.mean_diff,
           t.statistic, t.df, t.p_value, t.effect_size);
    printf("  %s\n", t.statement);
    rc = 0;
done0:
    free(row0);
done:
    cJSON_Delete(det);
    cJSON_Delete(lens);
    cJSON_Delete(dla);
    cJSON_Delete(abl);
    ark_model_free(m);
    return rc;
}
