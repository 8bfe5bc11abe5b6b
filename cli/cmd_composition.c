/* arrakis composition MODEL_DIR [--mode q|k|v|all] [--top N] [--baseline-samples S] [--seed S] [--min-z Z]
 *                     [--pair LA.HA,LB.HB] [--process STEPS] [--json]
 *
 * Q-, K- and V-composition scores between attention heads, against a
 * Gaussian baseline (the composer tool, include/arrakis/tool_composer.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_process.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis composition MODEL_DIR [--mode q|k|v|all] [--top N] [--baseline-samples S] [--seed S]\n"
           "                          [--min-z Z] [--pair LA.HA,LB.HB] [--process STEPS] [--json]\n\n"
           "How strongly each attention head's output feeds a later head (Elhage et al. 2021): for writer A and\n"
           "reader B in a later layer, score = ||OV_A R_B||_F / (||OV_A||_F ||R_B||_F) with R_B = QK_B\n"
           "(Q-composition: A's output feeds B's queries), QK_B^T (K: B's keys) or OV_B (V: B's values), as\n"
           "TransformerLens' all_composition_scores.  Biases, rotary embeddings and norms are left out; norm\n"
           "scales are folded in only with --process fold-ln (TransformerLens computes on fold-ln +\n"
           "center-writing weights: --process fold-ln,center-writing for LayerNorm models).\n\n"
           "The baseline scores Gaussian factors of the heads' shapes (--baseline-samples S, default 200;\n"
           "0 = none; --seed S, default 0): z = (score - mean) / std, x = score / mean.  The table lists the\n"
           "--top N pairs (default 10; 0 = all), all modes ranked together, with --min-z Z only those above Z.\n"
           "--json prints the tool's result: the full [L, H, L, H] score array per mode, the baseline, the\n"
           "top list.  --pair LA.HA,LB.HB prints one pair's three scores and its virtual head: the OV circuit\n"
           "OV_A OV_B and the composed QK terms OV_A QK_B (query side) and QK_B OV_A^T (key side), each as\n"
           "its Frobenius norm and top singular values.\n\n" CLI_PROCESS_USAGE "\n"
           "examples:\n"
           "  arrakis composition models/induction-words --mode k --top 5\n"
           "  arrakis composition MODEL_DIR --min-z 3 --baseline-samples 500 --seed 1\n"
           "  arrakis composition MODEL_DIR --pair 0.1,1.0 --process fold-ln,center-writing\n"
           "  arrakis composition MODEL_DIR --mode all --top 0 --json\n");
}

typedef struct comp_args {
    const char *dir, *mode, *pair;
    long top, samples, seed;
    double min_z;
    bool json, have_min_z;
    unsigned process;
} comp_args;

static int parse_args(int argc, char **argv, comp_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--mode", &a->mode), CLI_STR_OPT("--pair", &a->pair),
        CLI_INT_OPT("--top", &a->top), CLI_INT_OPT("--baseline-samples", &a->samples), CLI_INT_OPT("--seed", &a->seed),
        CLI_DOUBLE_OPT("--min-z", &a->min_z, .seen = &a->have_min_z),
        CLI_FLAG_OPT("--json", &a->json), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "composition", .usage = usage, .opts = opts, .process = &a->process, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    if (strcasecmp(a->mode, "q") && strcasecmp(a->mode, "k") && strcasecmp(a->mode, "v") && strcasecmp(a->mode, "all"))
        return cli_arg_error("composition", "--mode %s: expected q, k, v or all", a->mode);
    if (a->top < 0) return cli_arg_error("composition", "--top %ld: expected 0 (all) or a positive count", a->top);
    if (a->samples < 0 || a->samples == 1)
        return cli_arg_error("composition", "--baseline-samples %ld: expected 0 (none) or at least 2", a->samples);
    if (a->seed < 0) return cli_arg_error("composition", "--seed %ld: expected a non-negative integer", a->seed);
    if (a->have_min_z && a->samples == 0) return cli_arg_error("composition", "--min-z needs a baseline (--baseline-samples > 0)");
    return 0;
}

static void print_processed(const cJSON *r)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "processed"), *x;
    if (!cJSON_GetArraySize(p)) { printf("weights as stored (no norm folding; see --process)\n"); return; }
    printf("weights processed:");
    cJSON_ArrayForEach(x, p) printf(" %s", x->valuestring);
    printf("\n");
}

static void print_baseline(const cJSON *b)
{
    if (b)
        printf("baseline: Gaussian factors, %d samples (seed %.0f): mean %.4f, std %.4f\n", (int)cli_num(b, "samples"),
               cli_num(b, "seed"), cli_num(b, "mean"), cli_num(b, "std"));
}

static void print_scores(const cJSON *r, const comp_args *a)
{
    print_processed(r);
    print_baseline(cJSON_GetObjectItemCaseSensitive(r, "baseline"));
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(r, "top"), *e;
    printf("%4s  %-4s  %-7s %-7s %8s %8s %7s\n", "rank", "mode", "writer", "reader", "score", "z", "x base");
    int rank = 0;
    cJSON_ArrayForEach(e, top) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "writer"), *rd = cJSON_GetObjectItemCaseSensitive(e, "reader");
        char ws[32], rs[32];
        snprintf(ws, sizeof ws, "L%dH%d", cJSON_GetArrayItem(w, 0)->valueint, cJSON_GetArrayItem(w, 1)->valueint);
        snprintf(rs, sizeof rs, "L%dH%d", cJSON_GetArrayItem(rd, 0)->valueint, cJSON_GetArrayItem(rd, 1)->valueint);
        printf("%4d  %-4s  %-7s %-7s %8.4f", ++rank, cJSON_GetObjectItemCaseSensitive(e, "mode")->valuestring, ws, rs,
               cli_num(e, "score"));
        double z = cli_num(e, "z"), x = cli_num(e, "ratio");
        if (isfinite(z)) printf(" %8.2f", z); else printf(" %8s", "-");
        if (isfinite(x)) printf(" %7.2f", x); else printf(" %7s", "-");
        printf("\n");
    }
    if (!rank) printf("  (no pairs%s)\n", a->have_min_z ? " above --min-z" : "");
}

static void print_pair(const cJSON *pr, const cJSON *vh)
{
    print_processed(pr);
    print_baseline(cJSON_GetObjectItemCaseSensitive(pr, "baseline"));
    const cJSON *modes = cJSON_GetObjectItemCaseSensitive(pr, "modes"), *e;
    e = cJSON_GetArrayItem(modes, 0);
    printf("pair %s\n", cJSON_GetObjectItemCaseSensitive(e, "label")->valuestring);
    printf("  %-4s %8s %8s %7s\n", "mode", "score", "z", "x base");
    cJSON_ArrayForEach(e, modes) {
        printf("  %-4s %8.4f", e->string, cli_num(e, "score"));
        double z = cli_num(e, "z"), x = cli_num(e, "ratio");
        if (isfinite(z)) printf(" %8.2f", z); else printf(" %8s", "-");
        if (isfinite(x)) printf(" %7.2f", x); else printf(" %7s", "-");
        printf("\n");
    }
    const char *names[3] = {"ov", "qk_q", "qk_k"};
    const char *what[3] = {"OV_A OV_B  (virtual head's OV circuit)", "OV_A QK_B  (query-side QK term)",
                           "QK_B OV_A^T (key-side QK term)"};
    printf("virtual head:\n");
    for (int i = 0; i < 3; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(vh, names[i]), *s;
        printf("  %-5s %-40s |.|_F %.5g  top singular values", names[i], what[i], cli_num(f, "frobenius"));
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(f, "singular_values")) printf(" %.4g", s->valuedouble);
        printf("\n");
    }
}

/* --pair "LA.HA,LB.HB" -> {"writer": "LA.HA", "reader": "LB.HB"} fields. */
static int pair_params(const char *pair, cJSON *p)
{
    const char *comma = strchr(pair, ',');
    if (!comma || comma == pair || !comma[1])
        return cli_arg_error("composition", "--pair %s: expected WRITER,READER as LA.HA,LB.HB (e.g. 0.1,1.0)", pair);
    char *w = strndup(pair, (size_t)(comma - pair));
    cJSON_AddStringToObject(p, "writer", w);
    cJSON_AddStringToObject(p, "reader", comma + 1);
    free(w);
    return 0;
}

static int run_pair(cli_tool_ctx *ctx, const comp_args *a, cJSON *p)
{
    int rc = pair_params(a->pair, p);
    char *text = NULL, *r1 = NULL, *r2 = NULL;
    if (!rc) {
        text = cJSON_PrintUnformatted(p);
        rc = cli_tool_call("composition", ctx, "composer", "pair", text, &r1);
    }
    if (!rc) rc = cli_tool_call("composition", ctx, "composer", "virtual_head", text, &r2);
    if (!rc && a->json) {
        printf("{\"pair\":%s,\"virtual_head\":%s}\n", r1, r2);
    } else if (!rc) {
        cJSON *j1 = cJSON_Parse(r1), *j2 = cJSON_Parse(r2);
        print_pair(j1, j2);
        cJSON_Delete(j1);
        cJSON_Delete(j2);
    }
    free(text); free(r1); free(r2);
    return rc;
}

int cmd_composition(int argc, char **argv)
{
    comp_args a = {.mode = "all", .top = 10, .samples = 200, .seed = 0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    cli_tool_ctx ctx;
    rc = cli_tool_open("composition", a.dir, &ctx);
    if (!rc) rc = cli_apply_process("composition", ctx.model, a.process);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "mode", a.mode);
    cJSON_AddNumberToObject(p, "top", (double)a.top);
    cJSON_AddNumberToObject(p, "baseline_samples", (double)a.samples);
    cJSON_AddNumberToObject(p, "seed", (double)a.seed);
    if (a.have_min_z) cJSON_AddNumberToObject(p, "min_z", a.min_z);
    if (!rc && a.pair) {
        rc = run_pair(&ctx, &a, p);
    } else if (!rc) {
        if (!a.json) cJSON_AddBoolToObject(p, "include_scores", false);
        char *text = cJSON_PrintUnformatted(p), *result = NULL;
        rc = cli_tool_call("composition", &ctx, "composer", "scores", text, &result);
        if (!rc && a.json) printf("%s\n", result);
        else if (!rc) {
            cJSON *r = cJSON_Parse(result);
            const ark_config *c = ark_model_config(ctx.model);
            printf("composition scores: %d layers x %d heads, d_model %d, d_head %d\n", c->n_layers, c->n_heads,
                   c->d_model, c->d_head);
            print_scores(r, &a);
            cJSON_Delete(r);
        }
        free(text);
        free(result);
    }
    cJSON_Delete(p);
    cli_tool_close(&ctx);
    return rc;
}
