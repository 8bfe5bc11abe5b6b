/* arrakis write-read MODEL_DIR --direction SPEC [--text TEXT | --tokens IDS | --tokens-file FILE]
 *                    [--flow SRC,DST] [--row R] [--top N] [--process STEPS] [--json]
 *
 * Which heads write into and read from a direction or subspace of the
 * residual stream, and what moves between two positions (the write_read
 * tool, include/arrakis/tool_write_read.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_process.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis write-read MODEL_DIR --direction SPEC [--text TEXT | --tokens IDS | --tokens-file FILE]\n"
           "                         [--flow SRC,DST [--row R]] [--top N] [--process STEPS] [--json]\n\n"
           "Which attention heads write into, and which read from, a direction or subspace S of the residual\n"
           "stream (orthonormal basis Q, k vectors).  SPEC is one of\n"
           "  token:ID | token:STRING    the token's unembedding column W_U[:, t] (STRING must be one token)\n"
           "  head:L.H                   the output space of head H of layer L (row space of its OV circuit)\n"
           "  file:V.safetensors[:KEY]   vectors from a file: [d], [n, d] or [d, n] (KEY: which tensor)\n\n"
           "Writers (from the weights): W_O = ||W_O[h] Q||_F / ||W_O[h]||_F and OV = ||OV_h Q||_F / ||OV_h||_F,\n"
           "the share of what the head writes that lies in S (chance: sqrt(k/d)).  With a prompt, also the mean\n"
           "over its positions of ||Q^T r_h|| (proj), ||r_h|| (norm) and, for one direction, r_h . q (dot),\n"
           "r_h = z_h W_O[h] the head's output.  Readers: ||Q^T W_Q[h]||_F / ||W_Q[h]||_F, the same for W_K and\n"
           "W_V (of the head's kv group).  Two-hop pairs: the composition score of writer A into a later reader\n"
           "B (as arrakis composition) with A's output projected onto S first; full = without the projection.\n"
           "--flow SRC,DST (with a prompt; negative counts from the end; --row R picks the row, default 0):\n"
           "per head, the attention DST pays to SRC and the norm of what it moves, ||a v_SRC W_O[h]||, with its\n"
           "part in S.  Tables show the --top N heads (default 10; 0 = all); --json prints the tool's result\n"
           "with every head's numbers as [layer][head] arrays.  Norm scales are not folded in unless\n"
           "--process fold-ln.\n\n" CLI_PROCESS_USAGE "\n"
           "examples:\n"
           "  arrakis write-read models/induction-words --direction token:dog\n"
           "  arrakis write-read MODEL_DIR --direction \"token: Paris\" --text \"The Eiffel Tower is in\"\n"
           "  arrakis write-read MODEL_DIR --direction head:0.1 --tokens 5,9,2,5,9,2 --flow 1,4\n"
           "  arrakis write-read MODEL_DIR --direction file:probe.safetensors:weight --json\n");
}

typedef struct wr_args {
    const char *dir, *direction, *flow;
    long top, row;
    bool json;
    unsigned process;
    cli_inputs inputs;
} wr_args;

static int parse_args(int argc, char **argv, wr_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--direction", &a->direction), CLI_STR_OPT("--flow", &a->flow),
        CLI_INT_OPT("--top", &a->top), CLI_INT_OPT("--row", &a->row),
        CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "write-read", .usage = usage, .opts = opts,
                     .inputs = &a->inputs, .process = &a->process, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (!a->direction) return cli_arg_error("write-read", "missing --direction (token:ID, token:STRING, head:L.H or file:PATH[:KEY])");
    if (a->top < 0) return cli_arg_error("write-read", "--top %ld: expected 0 (all) or a positive count", a->top);
    if (a->flow && !a->inputs.n && !a->inputs.tokens_file)
        return cli_arg_error("write-read", "--flow needs a prompt (--text, --tokens or --tokens-file)");
    return 0;
}

static void cell(const cJSON *e, const char *k)
{
    double x = cli_num(e, k);
    if (isfinite(x)) printf(" %10.4f", x); else printf(" %10s", "-");
}

/* One ranked table: a header and the given columns of each "top" entry. */
static void table(const cJSON *sec, const char *title, const char *const *cols, const char *const *heads, int n)
{
    if (!sec) return;
    printf("\n%s\n  %4s  %-8s", title, "rank", "head");
    for (int j = 0; j < n; j++) printf(" %10s", heads[j]);
    printf("\n");
    int rank = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sec, "top")) {
        printf("  %4d  %-8s", ++rank, cJSON_GetObjectItemCaseSensitive(e, "label")->valuestring);
        for (int j = 0; j < n; j++) cell(e, cols[j]);
        printf("\n");
    }
}

static void print_direction(const cJSON *d)
{
    const char *kind = cJSON_GetObjectItemCaseSensitive(d, "kind")->valuestring;
    printf("direction %s", cJSON_GetObjectItemCaseSensitive(d, "spec")->valuestring);
    if (!strcmp(kind, "token")) {
        printf(" (token %d ", (int)cli_num(d, "token"));
        cli_print_piece(stdout, cJSON_GetObjectItemCaseSensitive(d, "token_str")->valuestring, 0);
        printf(")");
    }
    printf(": k = %d of d = %d (chance share sqrt(k/d) = %.4f)\n", (int)cli_num(d, "k"), (int)cli_num(d, "d"), cli_num(d, "chance"));
}

static void print_two_hop(const cJSON *t)
{
    if (!t) return;
    printf("\ntwo-hop pairs through the subspace (composition score with the writer's output projected)\n");
    printf("  %4s  %-4s  %-14s %10s %10s %10s\n", "rank", "mode", "pair", "score", "full", "share");
    int rank = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t, "top")) {
        printf("  %4d  %-4s  %-14s", ++rank, cJSON_GetObjectItemCaseSensitive(e, "mode")->valuestring,
               cJSON_GetObjectItemCaseSensitive(e, "label")->valuestring);
        cell(e, "score"); cell(e, "full"); cell(e, "share");
        printf("\n");
    }
}

static void print_result(const cJSON *r, bool prompt)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "processed"), *x;
    print_direction(cJSON_GetObjectItemCaseSensitive(r, "direction"));
    if (cJSON_GetArraySize(p)) {
        printf("weights processed:");
        cJSON_ArrayForEach(x, p) printf(" %s", x->valuestring);
        printf("\n");
    }
    static const char *const wc[] = {"weights_wo", "weights_ov", "cache_proj", "cache_norm", "cache_frac", "cache_dot"};
    static const char *const wh[] = {"W_O share", "OV share", "proj", "norm", "proj/norm", "dot"};
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(r, "writers");
    bool dot = cJSON_GetObjectItemCaseSensitive(w, "cache_dot") != NULL;
    table(w, prompt ? "writers (weights; prompt: mean over positions), ranked by proj"
                    : "writers (from the weights), ranked by OV share",
          wc, wh, prompt ? (dot ? 6 : 5) : 2);
    static const char *const rc[] = {"q", "k", "v"};
    static const char *const rh[] = {"Q share", "K share", "V share"};
    table(cJSON_GetObjectItemCaseSensitive(r, "readers"), "readers (from the weights), ranked by the largest share", rc, rh, 3);
    print_two_hop(cJSON_GetObjectItemCaseSensitive(r, "two_hop"));
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(r, "flow");
    if (f) {
        char title[256];
        snprintf(title, sizeof title, "information flow, row %d: position %d (token %d) -> position %d (token %d), ranked by moved",
                 (int)cli_num(f, "row"), (int)cli_num(f, "src"), (int)cli_num(f, "src_token"), (int)cli_num(f, "dst"), (int)cli_num(f, "dst_token"));
        static const char *const fc[] = {"attention", "moved", "moved_proj", "moved_dot"};
        static const char *const fh[] = {"attention", "moved", "in S", "dot"};
        table(f, title, fc, fh, cJSON_GetObjectItemCaseSensitive(f, "moved_dot") ? 4 : 3);
    }
}

/* The prompt as {"tokens": [[...], ...]}. */
static int add_inputs(wr_args *a, cli_tool_ctx *ctx, cJSON *p)
{
    if (!a->inputs.n && !a->inputs.tokens_file) return 0;
    return cli_tool_add_inputs("write-read", &a->inputs, a->dir, ctx->model, p);
}

static int add_flow(const wr_args *a, cJSON *p)
{
    if (!a->flow) return 0;
    int32_t *ids = NULL;
    int n = cli_parse_ids("write-read", a->flow, &ids);
    if (n != 2) { free(ids); return n < 0 ? 2 : cli_arg_error("write-read", "--flow %s: expected SRC,DST", a->flow); }
    int fl[2] = {ids[0], ids[1]};
    free(ids);
    cJSON_AddItemToObject(p, "flow", cJSON_CreateIntArray(fl, 2));
    cJSON_AddNumberToObject(p, "row", (double)a->row);
    return 0;
}

int cmd_write_read(int argc, char **argv)
{
    wr_args a = {.top = 10};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cli_tool_ctx ctx;
    rc = cli_tool_open("write-read", a.dir, &ctx);
    if (!rc) rc = cli_apply_process("write-read", ctx.model, a.process);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "direction", a.direction);
    cJSON_AddNumberToObject(p, "top", (double)a.top);
    if (!rc) rc = add_inputs(&a, &ctx, p);
    if (!rc) rc = add_flow(&a, p);
    char *text = NULL, *result = NULL;
    if (!rc) {
        text = cJSON_PrintUnformatted(p);
        rc = cli_tool_call("write-read", &ctx, "write_read", "analyze", text, &result);
    }
    if (!rc && a.json) {
        printf("%s\n", result);
    } else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        print_result(r, cJSON_GetObjectItemCaseSensitive(p, "tokens") != NULL);
        cJSON_Delete(r);
    }
    free(text);
    free(result);
    cJSON_Delete(p);
    cli_tool_close(&ctx);
    cli_inputs_free(&a.inputs);
    return rc;
}
