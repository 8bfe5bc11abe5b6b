/* The smallest Arrakis program: open a model folder, run it on token ids,
 * print the most likely next token and the attention pattern of layer 0.
 *
 *   cc predict.c $(pkg-config --cflags --libs arrakis) -o predict
 *   ./predict MODEL_DIR 12 7 99 */
#include <arrakis/arrakis.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR ID [ID ...]\n", argv[0]);
        return 2;
    }
    ark_model *m;
    if (ark_model_open(argv[1], &m) != ARK_OK) {
        fprintf(stderr, "%s\n", ark_errmsg());
        return 1;
    }
    int T = argc - 2;
    int32_t *ids = malloc(sizeof *ids * T);
    for (int i = 0; i < T; i++) ids[i] = atoi(argv[i + 2]);

    ark_plan *plan = ark_plan_new(m);
    ark_plan_keep(plan, "pattern0"); /* TransformerLens shorthand: blocks.0.attn.hook_pattern */
    ark_cache *cache;
    if (ark_run(m, ids, 1, T, NULL, plan, &cache) != ARK_OK) {
        fprintf(stderr, "%s\n", ark_errmsg());
        return 1;
    }
    const ark_tensor *logits = ark_cache_logits(cache); /* [1, T, vocab] */
    int V = (int)logits->shape[2], best = 0;
    const float *last = logits->data + (size_t)(T - 1) * V;
    for (int v = 1; v < V; v++)
        if (last[v] > last[best]) best = v;
    printf("next token: %d (logit %.4f)\n", best, last[best]);

    const ark_tensor *pat = ark_cache_get(cache, "blocks.0.attn.hook_pattern"); /* [1, h, T, T] */
    printf("layer 0 head 0 attends from the last token to:");
    for (int k = 0; k < T; k++) printf(" %.3f", pat->data[(size_t)(T - 1) * T + k]);
    printf("\n");

    ark_cache_free(cache);
    ark_plan_free(plan);
    ark_model_free(m);
    free(ids);
    return 0;
}
