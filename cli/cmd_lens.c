/* arrakis lens MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... [--target TOKEN] [--top-k K]
 *              [--pos P] [--mid] [--scale own|cached] [--process STEPS] [--json]
 *
 * The logit lens through the "logit_lens" tool (include/arrakis/tool_logit_lens.h). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_input.h"
#include "cli_process.h"
#include "cli_tool.h"

/* ---- arrakis lens ---- */

static void usage(void)
{
    printf("usage: arrakis lens MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... [--target TOKEN]\n"
           "                   [--top-k K] [--pos P] [--mid] [--scale own|cached] [--process STEPS] [--json]\n\n"
           "The logit lens (nostalgebraist 2020): the residual stream entering every block (and the final one)\n"
           "read through the final norm and the unembedding, lens(x) = norm_final(x) W_U + b_U, as if the\n"
           "remaining blocks were skipped.  The last row (final_post) is the model's own logits.\n\n"
           "  --target TOKEN   also show TOKEN's logit, probability and rank (0 = top) at every layer; an id\n"
           "                   or a string that is one token of the folder's tokenizer\n"
           "  --top-k K        tokens shown per layer (default 5)\n"
           "  --pos P          one position (negative counts from the end); default every position\n"
           "  --mid            also read each block's resid_mid (between attention and MLP)\n"
           "  --scale own      (default) the final norm applied to each residual with its own statistics (the\n"
           "                   standard logit lens); cached: with the scale the final norm recorded for the\n"
           "                   final residual (TransformerLens' accumulated_resid(apply_ln=True))\n"
           "  %s"
           "  --json           the tool's JSON (every position's points, top tokens and target)\n\n"
           "Each --text / --tokens is one row; --tokens-file FILE has one JSON array of ids per line.\n\n"
           "examples:\n"
           "  arrakis lens ../shared/fixtures/trained/facts-llama --text \"Alice Smith lives in\" --top-k 3 --pos -1\n"
           "  arrakis lens MODEL_DIR --tokens 57,316,141,132 --target 12 --mid --json\n",
           CLI_PROCESS_USAGE);
}

typedef struct lens_args {
    const char *dir, *target;
    long top_k, pos;
    bool has_pos, mid, json;
    const char *scale;
    unsigned process;
    cli_inputs inputs;
} lens_args;

static int parse_args(int argc, char **argv, lens_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--target", &a->target), CLI_STR_OPT("--scale", &a->scale),
        CLI_INT_OPT("--top-k", &a->top_k), CLI_INT_OPT("--pos", &a->pos, .seen = &a->has_pos),
        CLI_FLAG_OPT("--mid", &a->mid), CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "lens", .usage = usage, .opts = opts,
                     .inputs = &a->inputs, .process = &a->process, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (a->top_k < 0) return cli_arg_error("lens", "--top-k %ld: expected a count >= 0", a->top_k);
    if (strcmp(a->scale, "own") && strcmp(a->scale, "cached"))
        return cli_arg_error("lens", "--scale %s: expected own or cached", a->scale);
    return 0;
}

static void print_position(const cJSON *e, bool target)
{
    printf("  position %d: ", (int)cli_json_num(e, "pos"));
    cli_print_token(cJSON_GetObjectItem(e, "token"), 0);
    const cJSON *next = cJSON_GetObjectItem(e, "next");
    if (next) { printf("  (next: "); cli_print_token(next, 0); printf(")"); }
    printf("\n    %-12s %s\n", "point", target ? "target logit   prob     rank  | top tokens (prob)" : "top tokens (prob)");
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItem(e, "points")) {
        printf("    %-12s ", cJSON_GetObjectItem(pt, "point")->valuestring);
        const cJSON *tg = cJSON_GetObjectItem(pt, "target"), *t;
        if (target)
            printf("%12.4f %8.5f %6d  | ", cli_json_num(tg, "logit"), cli_json_num(tg, "prob"), (int)cli_json_num(tg, "rank"));
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(pt, "top")) {
            cli_print_token(t, 0);
            printf(" %.3f  ", cli_json_num(t, "prob"));
        }
        printf("\n");
    }
}

int cmd_lens(int argc, char **argv)
{
    lens_args a = {.top_k = 5, .scale = "own"};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cJSON *params = cJSON_CreateObject(), *out;
    cJSON_AddNumberToObject(params, "top_k", (double)a.top_k);
    if (a.has_pos) cJSON_AddNumberToObject(params, "pos", (double)a.pos);
    if (a.target) cli_tool_add_token(params, "target", a.target);
    cJSON_AddBoolToObject(params, "mid", a.mid);
    cJSON_AddStringToObject(params, "scale", a.scale);
    rc = cli_tool_call_json("lens", a.dir, a.process, "logit_lens", "lens", &a.inputs, params, a.json, &out);
    if (!rc && out) {
        const cJSON *row, *tg = cJSON_GetObjectItem(out, "target");
        int b = 0;
        printf("logit lens (%s scale)", a.scale);
        if (tg) { printf("; target "); cli_print_token(tg, 0); }
        printf("\n");
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(out, "rows")) {
            printf("row %d (%d tokens)\n", b++, cJSON_GetArraySize(cJSON_GetObjectItem(row, "tokens")));
            const cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItem(row, "positions")) print_position(e, tg != NULL);
        }
    }
    cJSON_Delete(out);
    cJSON_Delete(params);
    cli_inputs_free(&a.inputs);
    return rc;
}
