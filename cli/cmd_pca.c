/* arrakis pca MODEL_DIR --data FILE.jsonl --hook HOOK [--components K] [--reconstruct K] [--vectors] [--json]
 *
 * The covariance [d, d] of a hook point's activations over a dataset and its
 * principal components (the tool "superposition", op "pca";
 * include/arrakis/tool_superposition.h). */
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
    printf("usage: arrakis pca MODEL_DIR (--data FILE.jsonl | --text TEXT | --tokens IDS | --tokens-file FILE) --hook HOOK\n"
           "                   [--components K] [--reconstruct K] [--vectors] [--batch B] [--max-len N] [--max-prompts N]\n"
           "                   [--json]\n\n"
           "PCA of the activations at HOOK (one d-vector per token) over a dataset, streamed: the population\n"
           "covariance C = (1/N) sum (x - mu)(x - mu)^T ([d, d], accumulated in double precision batch by batch)\n"
           "and its eigendecomposition (LAPACK dsyevd).  Prints the variance along the first K components (default\n"
           "10), each one's explained variance ratio lambda_i / trace(C), the cumulative ratio, and how many\n"
           "components explain 50/90/95/99%% of the variance.  --reconstruct K also replaces every activation by its\n"
           "projection on the first K components: the reconstruction's mean squared error and fraction of variance\n"
           "explained, and the model's next-token cross-entropy with the hook point reading the reconstruction.\n"
           "--vectors adds the mean and the K components to --json.\n\n"
           "examples:\n"
           "  arrakis pca MODEL_DIR --data prompts.jsonl --hook blocks.1.hook_resid_post --components 5\n"
           "  arrakis pca MODEL_DIR --tokens-file ids.jsonl --hook blocks.0.mlp.hook_post --reconstruct 16 --json\n");
}

typedef struct pca_args {
    const char *dir, *data, *hook;
    long components, reconstruct, batch, max_len, max_prompts;
    bool vectors, json;
    cli_inputs inputs;
} pca_args;

static int parse_args(int argc, char **argv, pca_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--data", &a->data), CLI_STR_OPT("--hook", &a->hook),
        CLI_INT_OPT("--components", &a->components, CLI_MIN(1)),
        CLI_INT_OPT("--reconstruct", &a->reconstruct, CLI_MIN(1)), CLI_INT_OPT("--batch", &a->batch, CLI_MIN(1)),
        CLI_INT_OPT("--max-len", &a->max_len, CLI_MIN(1)), CLI_INT_OPT("--max-prompts", &a->max_prompts, CLI_MIN(0)),
        CLI_FLAG_OPT("--vectors", &a->vectors), CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "pca", .usage = usage, .opts = opts, .inputs = &a->inputs, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (!a->hook) return cli_arg_error("pca", "--hook: give the hook point, e.g. blocks.0.hook_resid_post");
    int sources = (a->data != NULL) + (a->inputs.tokens_file != NULL) + (a->inputs.n > 0);
    if (sources != 1) return cli_error("pca", sources ? "give one of --data, --tokens-file and --text/--tokens"
                                                      : "no data: give --data FILE.jsonl, --tokens-file FILE, --text or --tokens");
    return 0;
}

static void print_pca(const cJSON *r)
{
    const cJSON *var = cJSON_GetObjectItemCaseSensitive(r, "variance"), *ratio = cJSON_GetObjectItemCaseSensitive(r, "explained_variance_ratio");
    const cJSON *cum = cJSON_GetObjectItemCaseSensitive(r, "cumulative"), *need = cJSON_GetObjectItemCaseSensitive(r, "components_for");
    printf("%s: d = %.0f, %.0f tokens, total variance %.6g\n\n", cJSON_GetObjectItemCaseSensitive(r, "hook")->valuestring,
           cli_num(r, "d"), cli_num(r, "n_tokens"), cli_num(r, "total_variance"));
    printf("%-10s %14s %10s %11s\n", "component", "variance", "ratio", "cumulative");
    for (int i = 0; i < cJSON_GetArraySize(var); i++)
        printf("%-10d %14.6g %10.4f %11.4f\n", i, cJSON_GetArrayItem(var, i)->valuedouble,
               cJSON_GetArrayItem(ratio, i)->valuedouble, cJSON_GetArrayItem(cum, i)->valuedouble);
    printf("\ncomponents needed for 50%% / 90%% / 95%% / 99%% of the variance: %.0f / %.0f / %.0f / %.0f\n", cli_num(need, "0.5"),
           cli_num(need, "0.9"), cli_num(need, "0.95"), cli_num(need, "0.99"));
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(r, "reconstruction");
    if (rec)
        printf("reconstruction from %.0f components: MSE %.6g, FVE %.4f (eigenvalues: %.4f); next-token CE %.5f -> %.5f\n",
               cli_num(rec, "components"), cli_num(rec, "mse"), cli_num(rec, "fve"), cli_num(rec, "fve_eigen"), cli_num(rec, "ce_clean"),
               cli_num(rec, "ce_reconstructed"));
}

int cmd_pca(int argc, char **argv)
{
    pca_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cli_tool_ctx ctx;
    rc = cli_tool_open("pca", a.dir, &ctx);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "hook", a.hook);
    int width;
    if (!rc && !a.components) /* the default: 10, or the hook's width when smaller */
        a.components = ark_hook_width(ctx.model, a.hook, &width) == ARK_OK && width < 10 ? width : 10;
    cJSON_AddNumberToObject(p, "components", (double)a.components);
    if (a.reconstruct) cJSON_AddNumberToObject(p, "reconstruct", (double)a.reconstruct);
    if (a.vectors) cJSON_AddTrueToObject(p, "vectors");
    if (a.batch) cJSON_AddNumberToObject(p, "batch", (double)a.batch);
    if (a.max_len) cJSON_AddNumberToObject(p, "max_len", (double)a.max_len);
    if (a.max_prompts) cJSON_AddNumberToObject(p, "max_prompts", (double)a.max_prompts);
    if (!rc) rc = cli_tool_add_data("pca", a.data, &a.inputs, a.dir, ctx.model, p);
    char *params = cJSON_PrintUnformatted(p), *result = NULL;
    if (!rc) rc = cli_tool_call("pca", &ctx, "superposition", "pca", params, &result);
    if (!rc && a.json) printf("%s\n", result);
    else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        print_pca(r);
        cJSON_Delete(r);
    }
    free(result);
    free(params);
    cJSON_Delete(p);
    cli_tool_close(&ctx);
    cli_inputs_free(&a.inputs);
    return rc;
}
