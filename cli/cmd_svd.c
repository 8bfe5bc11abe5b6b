/* arrakis svd MODEL_DIR --layer L [--head H] --circuit ov|qk|mlp-in|mlp-out [--top-k K] [--vectors V]
 *             [--readout unembed|embed] [--process STEPS] [--json]
 *
 * Singular directions of a head's OV / QK circuit or an MLP's weights, read
 * out as tokens, through the "decomposer" tool's svd op
 * (include/arrakis/tool_decomposer.h). */
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
    printf("usage: arrakis svd MODEL_DIR --layer L [--head H] --circuit ov|qk|mlp-in|mlp-out [--top-k K]\n"
           "                  [--vectors V] [--readout unembed|embed] [--process STEPS] [--json]\n\n"
           "The singular value decomposition M = U diag(S) V^T of a circuit, with its top V singular directions\n"
           "read out as tokens (TransformerLens' SVDInterpreter; Millidge & Black 2022):\n"
           "  ov       W_V W_O of head H (d x d): V's columns are what the head writes (\"output\"), U's what\n"
           "           it reads (\"input\")\n"
           "  qk       W_Q W_K^T of head H: U query-side (\"query\"), V key-side (\"key\") directions\n"
           "  mlp-in   W_in^T diag(w_ln2) (d_mlp x d): V's columns are residual directions the MLP reads\n"
           "  mlp-out  W_out (d_mlp x d): V's columns are residual directions the MLP writes\n"
           "Grouped-query heads use kv head H / (heads / kv heads).  Each direction v is read out as\n"
           "v . W_U[:, t] for every token t (--readout embed: v . W_E[t]); the K most positive and most\n"
           "negative tokens are shown.  Signs are fixed so that each V column's largest entry is positive.\n\n"
           "  --layer L        the block (negative counts from the end)\n"
           "  --head H         the query head (ov, qk)\n"
           "  --top-k K        tokens per end of each direction (default 10)\n"
           "  --vectors V      singular directions shown (default 5)\n"
           "  %s"
           "  --json           every singular value and each shown direction's tokens as JSON\n\n"
           "examples:\n"
           "  arrakis svd models/induction-words --layer 1 --head 2 --circuit ov --vectors 3\n"
           "  arrakis svd MODEL_DIR --layer 0 --circuit mlp-out --top-k 5 --json\n",
           CLI_PROCESS_USAGE);
}

typedef struct svd_args {
    const char *dir, *circuit, *readout;
    long layer, head, top_k, vectors;
    bool has_layer, json;
    unsigned process;
} svd_args;

static int parse_args(int argc, char **argv, svd_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--circuit", &a->circuit), CLI_STR_OPT("--readout", &a->readout),
        CLI_INT_OPT("--layer", &a->layer, .seen = &a->has_layer), CLI_INT_OPT("--head", &a->head),
        CLI_INT_OPT("--top-k", &a->top_k), CLI_INT_OPT("--vectors", &a->vectors),
        CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "svd", .usage = usage, .opts = opts, .process = &a->process, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (!a->has_layer) return cli_arg_error("svd", "missing --layer L");
    if (!a->circuit) return cli_arg_error("svd", "missing --circuit ov|qk|mlp-in|mlp-out");
    bool attn = !strcmp(a->circuit, "ov") || !strcmp(a->circuit, "qk");
    if (attn && a->head < 0) return cli_arg_error("svd", "--circuit %s needs --head H", a->circuit);
    if (a->top_k < 0 || a->vectors < 0) return cli_arg_error("svd", "--top-k and --vectors take counts >= 0");
    return 0;
}

static void print_tokens(const char *what, const cJSON *side)
{
    const char *ends[2] = {"top", "bottom"};
    for (int e = 0; e < 2; e++) {
        printf("    %-7s %-7s", e ? "" : what, ends[e]);
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(side, ends[e])) {
            printf(" ");
            cli_print_token(t, 0);
            printf(" %.3f", cli_json_num(t, "value"));
        }
        printf("\n");
    }
}

static void print_result(const cJSON *out)
{
    printf("%s circuit of block %d", cJSON_GetObjectItem(out, "circuit")->valuestring, (int)cli_json_num(out, "layer"));
    if (cJSON_GetObjectItem(out, "head")) printf(", head %d", (int)cli_json_num(out, "head"));
    const cJSON *shape = cJSON_GetObjectItem(out, "shape"), *sv = cJSON_GetObjectItem(out, "singular_values"), *v;
    printf(" (%d x %d), read out through %s\n  singular values:", cJSON_GetArrayItem(shape, 0)->valueint,
           cJSON_GetArrayItem(shape, 1)->valueint,
           strcmp(cJSON_GetObjectItem(out, "readout")->valuestring, "embed") ? "W_U" : "W_E");
    int k = 0;
    cJSON_ArrayForEach(v, sv) {
        if (k++ == 16) { printf(" ... (%d in all)", cJSON_GetArraySize(sv)); break; }
        printf(" %.4g", v->valuedouble);
    }
    printf("\n");
    const cJSON *d;
    static const char *sides[] = {"output", "input", "key", "query", "residual"};
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(out, "directions")) {
        printf("  direction %d (S = %.5g)\n", (int)cli_json_num(d, "index"), cli_json_num(d, "value"));
        for (int s = 0; s < 5; s++) {
            const cJSON *side = cJSON_GetObjectItem(d, sides[s]);
            if (side) print_tokens(sides[s], side);
        }
    }
}

int cmd_svd(int argc, char **argv)
{
    svd_args a = {.head = -1, .top_k = 10, .vectors = 5, .readout = "unembed"};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    cJSON *params = cJSON_CreateObject(), *out;
    cJSON_AddNumberToObject(params, "layer", (double)a.layer);
    if (a.head >= 0) cJSON_AddNumberToObject(params, "head", (double)a.head);
    cJSON_AddStringToObject(params, "circuit", a.circuit);
    cJSON_AddNumberToObject(params, "top_k", (double)a.top_k);
    cJSON_AddNumberToObject(params, "vectors", (double)a.vectors);
    cJSON_AddStringToObject(params, "readout", a.readout);
    rc = cli_tool_call_json("svd", a.dir, a.process, "decomposer", "svd", NULL, params, a.json, &out);
    if (!rc && out) print_result(out);
    cJSON_Delete(out);
    cJSON_Delete(params);
    return rc;
}
