/* arrakis sparsity MODEL_DIR --data FILE.jsonl --hook HOOK [--top-k K] [--threshold X] [--abs] [--json]
 *                  [--prune FRACTION [--matrices LIST] [--layers LIST] [--global] [--out DIR]]
 *
 * Per-unit activation statistics of a hook point over a dataset (the tool
 * "sparsity", include/arrakis/tool_sparsity.h), or magnitude pruning with
 * its loss change. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis sparsity MODEL_DIR (--data FILE.jsonl | --text TEXT | --tokens IDS | --tokens-file FILE)\n"
           "                        --hook HOOK [--top-k K] [--threshold X] [--abs] [--batch B] [--max-len N]\n"
           "                        [--max-prompts N] [--show N] [--no-examples] [--json]\n"
           "       arrakis sparsity MODEL_DIR --data FILE.jsonl --prune FRACTION [--matrices W_in,W_out,...]\n"
           "                        [--layers 0,1] [--global] [--out DIR] [--json]\n\n"
           "Statistics of every unit of a hook point (e.g. the neurons of blocks.L.mlp.hook_post) over a dataset,\n"
           "streamed a few prompts at a time (--batch prompts per forward pass; no activations are kept):\n"
           "  density      fraction of tokens where the unit fires: act > X (default X = 0; --abs: |act| > X).\n"
           "               A neuron whose input weights are zero has act(0) = 0 and never fires.\n"
           "  dead         units that fire on no token of the dataset (listed in full)\n"
           "  L0           units firing per token: mean, std, min, max, histogram\n"
           "  kurtosis     excess kurtosis of each unit's activations (one pass, Pebay's moment merges)\n"
           "  top-k        the K (prompt, position) pairs with the largest activation (ties: earlier first)\n"
           "  poly         polysemanticity: normalised entropy of the top-k examples' tokens (0 = one token)\n\n"
           "--prune FRACTION zeroes that fraction of the smallest-|w| entries of the chosen matrices (default: every\n"
           "block's W_Q, W_K, W_V, W_O, W_in, W_gate, W_out; never norms or biases; W_E, W_pos, W_U only when listed)\n"
           "per matrix, or with one threshold over all of them (--global), and reports the mean next-token\n"
           "cross-entropy on the data before and after.  --out DIR also writes the pruned model as a new folder;\n"
           "the model in MODEL_DIR is never changed.\n\n"
           "Data: one prompt per line, {\"text\": \"...\"} (encoded with the folder's tokenizer), {\"tokens\": [ids]} or\n"
           "[ids]; --tokens-file FILE is read the same way.  --json prints the tool's JSON (docs/tools/sparsity.md):\n"
           "density, mean, std, kurtosis, max_act, polysemanticity per unit, dead, l0, top_examples.\n\n"
           "examples:\n"
           "  arrakis sparsity MODEL_DIR --data prompts.jsonl --hook blocks.0.mlp.hook_post --top-k 5\n"
           "  arrakis sparsity MODEL_DIR --tokens-file ids.jsonl --hook blocks.1.hook_resid_post --abs --threshold 1 --json\n"
           "  arrakis sparsity MODEL_DIR --data prompts.jsonl --prune 0.3 --matrices W_in,W_out --out pruned/\n");
}

typedef struct sp_args {
    const char *dir, *data, *hook, *matrices, *layers, *out;
    double threshold, prune;
    long top_k, batch, max_len, max_prompts, show;
    bool abs, json, global, no_examples, has_prune;
    cli_inputs inputs;
} sp_args;

static int parse_args(int argc, char **argv, sp_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--data", &a->data), CLI_STR_OPT("--hook", &a->hook), CLI_STR_OPT("--matrices", &a->matrices),
        CLI_STR_OPT("--layers", &a->layers), CLI_STR_OPT("--out", &a->out),
        CLI_INT_OPT("--top-k", &a->top_k, CLI_MIN(0)), CLI_INT_OPT("--batch", &a->batch, CLI_MIN(1)),
        CLI_INT_OPT("--max-len", &a->max_len, CLI_MIN(1)), CLI_INT_OPT("--max-prompts", &a->max_prompts, CLI_MIN(0)),
        CLI_INT_OPT("--show", &a->show, CLI_MIN(0)),
        CLI_DOUBLE_OPT("--threshold", &a->threshold, .finite = true),
        CLI_DOUBLE_OPT("--prune", &a->prune, .seen = &a->has_prune, .finite = true),
        CLI_FLAG_OPT("--abs", &a->abs), CLI_FLAG_OPT("--global", &a->global),
        CLI_FLAG_OPT("--no-examples", &a->no_examples), CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "sparsity", .usage = usage, .opts = opts, .inputs = &a->inputs, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    int sources = (a->data != NULL) + (a->inputs.tokens_file != NULL) + (a->inputs.n > 0);
    if (sources == 0) return cli_error("sparsity", "no data: give --data FILE.jsonl, --tokens-file FILE, --text or --tokens");
    if (sources > 1) return cli_arg_error("sparsity", "give one of --data, --tokens-file and --text/--tokens");
    if (a->has_prune && !(a->prune >= 0 && a->prune <= 1)) return cli_arg_error("sparsity", "--prune %g: expected a fraction in 0..1", a->prune);
    if (!a->has_prune && !a->hook) return cli_arg_error("sparsity", "--hook: give the hook point, e.g. blocks.0.mlp.hook_post");
    if (!a->has_prune && (a->matrices || a->layers || a->global || a->out))
        return cli_arg_error("sparsity", "--matrices, --layers, --global and --out go with --prune");
    return 0;
}

static double at(const cJSON *arr, int i) { const cJSON *v = cJSON_GetArrayItem(arr, i); return cJSON_IsNumber(v) ? v->valuedouble : NAN; }

static void print_stats(const cJSON *r, long show)
{
    int w = (int)cli_num(r, "width");
    const cJSON *dead = cJSON_GetObjectItemCaseSensitive(r, "dead"), *l0 = cJSON_GetObjectItemCaseSensitive(r, "l0");
    const cJSON *dens = cJSON_GetObjectItemCaseSensitive(r, "density"), *kurt = cJSON_GetObjectItemCaseSensitive(r, "kurtosis");
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(r, "top_examples"), *poly = cJSON_GetObjectItemCaseSensitive(r, "polysemanticity");
    printf("%s: %d units over %.0f tokens of %.0f prompts\n", cJSON_GetObjectItemCaseSensitive(r, "hook")->valuestring, w,
           cli_num(r, "n_tokens"), cli_num(r, "n_prompts"));
    printf("%s\n", cJSON_GetObjectItemCaseSensitive(r, "fires")->valuestring);
    printf("dead units: %d", cJSON_GetArraySize(dead));
    const cJSON *x;
    int shown = 0;
    cJSON_ArrayForEach(x, dead) { if (shown++ < 50) printf("%s%d", shown == 1 ? " (" : ", ", (int)x->valuedouble); }
    printf("%s\n", shown > 50 ? ", ...)" : shown ? ")" : "");
    printf("constant units (the same activation on every token): %d\n", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "constant")));
    printf("L0 per token: mean %.2f, std %.2f, min %.0f, max %.0f\n", cli_num(l0, "mean"), cli_num(l0, "std"), cli_num(l0, "min"), cli_num(l0, "max"));
    /* the units with the largest kurtosis */
    int *order = malloc(sizeof(int) * w), n = 0;
    for (int j = 0; j < w; j++) if (isfinite(at(kurt, j))) order[n++] = j;
    for (int i = 0; i < show && i < n; i++)
        for (int j = i + 1; j < n; j++) if (at(kurt, order[j]) > at(kurt, order[i])) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    if (show > 0 && n > 0) {
        printf("\n%-7s %8s %9s %8s  %s\n", "unit", "density", "kurtosis", "poly", "top examples (act, token)");
        for (int i = 0; i < show && i < n; i++) {
            int j = order[i];
            printf("%-7d %8.4f %9.2f %8.3f ", j, at(dens, j), at(kurt, j), at(poly, j));
            const cJSON *ex = cJSON_GetArrayItem(top, j), *e;
            int c = 0;
            cJSON_ArrayForEach(e, ex) {
                if (c++ == 3) break;
                printf(" %.3g ", cli_num(e, "act"));
                cli_print_piece(stdout, cJSON_GetObjectItemCaseSensitive(e, "str")->valuestring, 0);
            }
            printf("\n");
        }
    }
    free(order);
}

static void print_prune(const cJSON *r)
{
    printf("pruned %.4g of %.0f matri%s (%s): %.0f of %.0f entries zeroed (%.0f were already 0), largest |w| pruned %.4g\n",
           cli_num(r, "fraction"), cli_num(r, "n_matrices"), cli_num(r, "n_matrices") == 1 ? "x" : "ces",
           cJSON_GetObjectItemCaseSensitive(r, "scope")->valuestring, cli_num(r, "n_pruned"), cli_num(r, "n_entries"),
           cli_num(r, "n_zero_before"), cli_num(r, "threshold"));
    printf("next-token CE over %.0f predicted tokens: before %.5f, after %.5f (%+.5f)\n", cli_num(r, "n_predicted"),
           cli_num(r, "ce_before"), cli_num(r, "ce_after"), cli_num(r, "ce_change"));
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "out");
    if (cJSON_IsString(o)) printf("pruned model written to %s\n", o->valuestring);
}

static cJSON *build_params(const sp_args *a)
{
    cJSON *p = cJSON_CreateObject();
    if (a->batch) cJSON_AddNumberToObject(p, "batch", (double)a->batch);
    if (a->max_len) cJSON_AddNumberToObject(p, "max_len", (double)a->max_len);
    if (a->max_prompts) cJSON_AddNumberToObject(p, "max_prompts", (double)a->max_prompts);
    if (a->has_prune) {
        cJSON_AddNumberToObject(p, "fraction", a->prune);
        if (a->matrices) cJSON_AddStringToObject(p, "matrices", a->matrices);
        if (a->global) cJSON_AddTrueToObject(p, "global");
        if (a->out) cJSON_AddStringToObject(p, "out", a->out);
        return p;
    }
    cJSON_AddStringToObject(p, "hook", a->hook);
    cJSON_AddNumberToObject(p, "threshold", a->threshold);
    cJSON_AddBoolToObject(p, "abs", a->abs);
    cJSON_AddNumberToObject(p, "top_k", (double)a->top_k);
    if (a->no_examples) cJSON_AddFalseToObject(p, "examples");
    return p;
}

int cmd_sparsity(int argc, char **argv)
{
    sp_args a = {.top_k = 10, .show = 10};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cli_tool_ctx ctx;
    rc = cli_tool_open("sparsity", a.dir, &ctx);
    cJSON *p = build_params(&a);
    if (!rc) rc = cli_tool_add_data("sparsity", a.data, &a.inputs, a.dir, ctx.model, p);
    if (!rc && a.layers) {
        int32_t *ids;
        int n = cli_parse_ids("sparsity", a.layers, &ids);
        if (n < 0) rc = 2;
        else { cJSON_AddItemToObject(p, "layers", cJSON_CreateIntArray((const int *)ids, n)); free(ids); }
    }
    char *params = cJSON_PrintUnformatted(p), *result = NULL;
    if (!rc) rc = cli_tool_call("sparsity", &ctx, "sparsity", a.has_prune ? "prune" : "stats", params, &result);
    if (!rc && a.json) printf("%s\n", result);
    else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        if (a.has_prune) print_prune(r);
        else print_stats(r, a.show);
        cJSON_Delete(r);
    }
    free(result);
    free(params);
    cJSON_Delete(p);
    cli_tool_close(&ctx);
    cli_inputs_free(&a.inputs);
    return rc;
}
