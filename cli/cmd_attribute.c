/* arrakis attribute MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... --target TOKEN
 *                   [--against TOKEN | --against-mean] [--by layer|head|neuron] [--pos P] [--top N]
 *                   [--process STEPS] [--json]
 *
 * Direct logit attribution through the "logit" tool (include/arrakis/tool_logit.h). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_tool.h"
#include "cli_input.h"
#include "cli_process.h"


static void usage(void)
{
    printf("usage: arrakis attribute MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... --target TOKEN\n"
           "                        [--against TOKEN | --against-mean] [--by layer|head|neuron] [--pos P] [--top N]\n"
           "                        [--process STEPS] [--json]\n\n"
           "Direct logit attribution: the final residual stream at position P split into its parts (embeddings,\n"
           "each block's attention and MLP output; --by head: one part per head plus the attention output bias;\n"
           "--by neuron: one per MLP neuron plus the MLP output bias), each passed through the final norm's\n"
           "linear part with the model's own cached scale (centred for LayerNorm, no bias) and dotted with the\n"
           "unembedding column of TOKEN (minus that of --against TOKEN, or minus the vocabulary mean with\n"
           "--against-mean) — TransformerLens' cache.logit_attrs.  The parts sum to the logit (difference)\n"
           "minus two constants, the final norm's bias term b_final.u and the unembedding bias b_U; with them\n"
           "the total is the model's logit (difference), shown on the last line.\n\n"
           "  --target TOKEN   the token (an id, or a string that is one token of the folder's tokenizer)\n"
           "  --by KIND        layer (default), head or neuron\n"
           "  --pos P          the position (default -1, the last; negative counts from the end)\n"
           "  --top N          parts shown, largest |attribution| first (default 20; 0 = all)\n"
           "  %s"
           "  --json           the tool's JSON (parts sorted by |attribution|, per-layer totals, the sum terms)\n\n"
           "examples:\n"
           "  arrakis attribute ../shared/fixtures/trained/induction-gpt2 --tokens-file seqs.jsonl --target 17 --by head\n"
           "  arrakis attribute MODEL_DIR --text \"The Eiffel Tower is in\" --target \" Paris\" --against \" Rome\"\n"
           "  arrakis attribute MODEL_DIR --tokens 1,2,3,4 --target 5 --by neuron --top 10 --json\n",
           CLI_PROCESS_USAGE);
}

typedef struct attr_args {
    const char *dir, *target, *against, *by;
    long pos, top;
    bool mean, json;
    unsigned process;
    cli_inputs inputs;
} attr_args;

static int parse_args(int argc, char **argv, attr_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--target", &a->target), CLI_STR_OPT("--against", &a->against), CLI_STR_OPT("--by", &a->by),
        CLI_INT_OPT("--pos", &a->pos), CLI_INT_OPT("--top", &a->top),
        CLI_FLAG_OPT("--against-mean", &a->mean), CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "attribute", .usage = usage, .opts = opts,
                     .inputs = &a->inputs, .process = &a->process, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (!a->target) return cli_arg_error("attribute", "missing --target TOKEN (the token whose logit to attribute)");
    if (a->against && a->mean) return cli_arg_error("attribute", "--against and --against-mean exclude each other");
    if (a->top < 0) return cli_arg_error("attribute", "--top %ld: expected 0 (all) or a positive count", a->top);
    if (strcmp(a->by, "layer") && strcmp(a->by, "head") && strcmp(a->by, "neuron"))
        return cli_arg_error("attribute", "--by %s: expected layer, head or neuron", a->by);
    return 0;
}

static void print_row(const cJSON *row, int b, const cJSON *out, long top)
{
    printf("row %d: position %d (", b, (int)cli_json_num(row, "pos"));
    cli_print_token(cJSON_GetObjectItem(row, "token"), 0);
    printf("), %d parts\n", (int)cli_json_num(row, "n_parts"));
    const cJSON *parts = cJSON_GetObjectItem(row, "parts"), *p, *l;
    int n = cJSON_GetArraySize(parts), shown = top > 0 && top < n ? (int)top : n, k = 0;
    printf("  %4s  %-16s %13s\n", "rank", "part", "attribution");
    cJSON_ArrayForEach(p, parts) {
        if (k == shown) break;
        printf("  %4d  %-16s %13.5f\n", ++k, cJSON_GetObjectItem(p, "label")->valuestring, cli_json_num(p, "attribution"));
    }
    if (shown < n) printf("  (%d more: --top 0 shows all)\n", n - shown);
    printf("  by layer: embeddings %.5f\n  %5s %13s %13s\n", cli_json_num(row, "embed"), "layer", "attention", "mlp");
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(row, "by_layer"))
        printf("  %5d %13.5f %13.5f\n", (int)cli_json_num(l, "layer"), cli_json_num(l, "attn"), cli_json_num(l, "mlp"));
    double sum = cli_json_num(row, "attribution_sum"), nb = cli_json_num(row, "ln_final_bias"),
           ub = cli_json_num(row, "unembed_bias");
    printf("  parts sum to %.5f; + final-norm bias term %.5f + unembedding bias %.5f = %.5f; model %s %.5f\n", sum,
           nb, ub, sum + nb + ub, cJSON_GetObjectItem(out, "against") ? "logit difference" : "logit",
           cli_json_num(row, "logit"));
}

int cmd_attribute(int argc, char **argv)
{
    attr_args a = {.pos = -1, .top = 20, .by = "layer"};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cJSON *params = cJSON_CreateObject(), *out;
    cli_tool_add_token(params, "target", a.target);
    if (a.against) cli_tool_add_token(params, "against", a.against);
    cJSON_AddBoolToObject(params, "against_mean", a.mean);
    cJSON_AddStringToObject(params, "by", a.by);
    cJSON_AddNumberToObject(params, "pos", (double)a.pos);
    cJSON_AddNumberToObject(params, "top", a.json ? (double)a.top : 0);
    rc = cli_tool_call_json("attribute", a.dir, a.process, "logit", "attribute", &a.inputs, params, a.json, &out);
    if (!rc && out) {
        const cJSON *row, *ag = cJSON_GetObjectItem(out, "against");
        printf("direct logit attribution by %s to ", a.by);
        cli_print_token(cJSON_GetObjectItem(out, "target"), 0);
        if (cJSON_IsString(ag)) printf(" minus the vocabulary mean");
        else if (ag) { printf(" minus "); cli_print_token(ag, 0); }
        printf("\n");
        int b = 0;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(out, "rows")) print_row(row, b++, out, a.top);
    }
    cJSON_Delete(out);
    cJSON_Delete(params);
    cli_inputs_free(&a.inputs);
    return rc;
}
