/* arrakis residual MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... [--mid] [--pos P]
 *                  [--layer L] [--cosine-per-position] [--process STEPS] [--json]
 *
 * Residual-stream norms, movement, cosine similarity between layers and
 * each part's share, through the "residual" tool (include/arrakis/tool_residual.h). */
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
    printf("usage: arrakis residual MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... [--mid] [--pos P]\n"
           "                       [--layer L] [--cosine-per-position] [--process STEPS] [--json]\n\n"
           "The residual stream's geometry across layers, at every point 0_pre (the embedding), 1_pre, ...,\n"
           "final_post (before the final norm):\n"
           "  norm       ||x_i||\n"
           "  movement   ||x_{i+1} - x_i|| / ||x_i||   (what the next block adds, relative to the stream)\n"
           "  cosine     x_i . x_j / (||x_i|| ||x_j||), averaged over the positions; the table shows each\n"
           "             point's cosine with the previous point and with the final one\n"
           "and the shares of the stream x at --layer L (default: the final stream) supplied by its parts c\n"
           "(embeddings, each block's attention and MLP output):\n"
           "  share      c . x / ||x||^2     (the part's projection on the stream; the shares sum to 1)\n"
           "  norm share ||c|| / sum ||c_j|| (the part's relative size, ignoring directions)\n"
           "The table averages over the positions (--pos P: one position; negative counts from the end).\n\n"
           "  --mid                   also each block's resid_mid (sequential blocks)\n"
           "  --layer L               shares of the stream entering block L (default: the final stream)\n"
           "  --cosine-per-position   --json: also the full [points x points] cosine matrix per position\n"
           "  %s"
           "  --json                  the tool's JSON (per-position values)\n\n"
           "examples:\n"
           "  arrakis residual ../shared/fixtures/trained/facts-llama --text \"Alice Smith lives in\"\n"
           "  arrakis residual MODEL_DIR --tokens 57,316,141,132 --mid --pos -1 --json\n",
           CLI_PROCESS_USAGE);
}

typedef struct res_args {
    const char *dir;
    long pos, layer;
    bool has_pos, mid, json, cos_pos;
    unsigned process;
    cli_inputs inputs;
} res_args;

static int parse_args(int argc, char **argv, res_args *a)
{
    const cli_option opts[] = {
        CLI_INT_OPT("--pos", &a->pos, .seen = &a->has_pos), CLI_INT_OPT("--layer", &a->layer),
        CLI_FLAG_OPT("--mid", &a->mid), CLI_FLAG_OPT("--cosine-per-position", &a->cos_pos),
        CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "residual", .usage = usage, .opts = opts,
                     .inputs = &a->inputs, .process = &a->process, .dir = &a->dir};
    return cli_parse(&spec, argc, argv);
}

/* The mean over positions of row i of a JSON matrix. */
static double row_mean(const cJSON *m, int i)
{
    const cJSON *r = cJSON_GetArrayItem(m, i), *v;
    double acc = 0;
    int n = 0;
    cJSON_ArrayForEach(v, r) { acc += v->valuedouble; n++; }
    return n ? acc / n : 0;
}

static void print_row(const cJSON *row, int b)
{
    const cJSON *points = cJSON_GetObjectItem(row, "points"), *norm = cJSON_GetObjectItem(row, "norm");
    const cJSON *mv = cJSON_GetObjectItem(row, "mean_movement"), *cos = cJSON_GetObjectItem(row, "cosine_mean");
    int n = cJSON_GetArraySize(points), P = cJSON_GetArraySize(cJSON_GetObjectItem(row, "positions"));
    printf("row %d (%d tokens, %d position%s averaged)\n", b, cJSON_GetArraySize(cJSON_GetObjectItem(row, "tokens")),
           P, P == 1 ? "" : "s");
    printf("  %-12s %12s %12s %12s %12s\n", "point", "norm", "movement", "cos(prev)", "cos(final)");
    for (int i = 0; i < n; i++) {
        printf("  %-12s %12.5f ", cJSON_GetArrayItem(points, i)->valuestring, row_mean(norm, i));
        if (i + 1 < n) printf("%12.5f ", cJSON_GetArrayItem(mv, i)->valuedouble);
        else printf("%12s ", "");
        if (i > 0) printf("%12.5f ", cJSON_GetArrayItem(cJSON_GetArrayItem(cos, i), i - 1)->valuedouble);
        else printf("%12s ", "");
        printf("%12.5f\n", cJSON_GetArrayItem(cJSON_GetArrayItem(cos, i), n - 1)->valuedouble);
    }
    const cJSON *sh = cJSON_GetObjectItem(row, "shares"), *parts = cJSON_GetObjectItem(sh, "parts");
    const cJSON *share = cJSON_GetObjectItem(sh, "mean_share"), *nshare = cJSON_GetObjectItem(sh, "mean_norm_share");
    printf("  shares of %s:\n  %-16s %12s %12s %12s\n", cJSON_GetObjectItem(sh, "hook")->valuestring, "part", "share",
           "norm share", "norm");
    double total = 0;
    for (int k = 0; k < cJSON_GetArraySize(parts); k++) {
        double s = cJSON_GetArrayItem(share, k)->valuedouble;
        total += s;
        printf("  %-16s %12.5f %12.5f %12.5f\n", cJSON_GetArrayItem(parts, k)->valuestring, s,
               cJSON_GetArrayItem(nshare, k)->valuedouble, row_mean(cJSON_GetObjectItem(sh, "part_norm"), k));
    }
    printf("  %-16s %12.5f\n", "(sum)", total);
}

int cmd_residual(int argc, char **argv)
{
    res_args a = {.layer = -1};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cJSON *params = cJSON_CreateObject(), *out;
    cJSON_AddBoolToObject(params, "mid", a.mid);
    cJSON_AddNumberToObject(params, "layer", (double)a.layer);
    cJSON_AddBoolToObject(params, "cosine_per_position", a.cos_pos);
    if (a.has_pos) cJSON_AddNumberToObject(params, "pos", (double)a.pos);
    rc = cli_tool_call_json("residual", a.dir, a.process, "residual", "stats", &a.inputs, params, a.json, &out);
    if (!rc && out) {
        const cJSON *row;
        int b = 0;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(out, "rows")) print_row(row, b++);
    }
    cJSON_Delete(out);
    cJSON_Delete(params);
    cli_inputs_free(&a.inputs);
    return rc;
}
