/* arrakis kg MODEL_DIR --subjects FILE --relations FILE [--dot OUT.dot] [--top-k K] [--max-tokens N]
 *            [--stop TOKEN] [--no-lens] [--causal ...] [--heads [--vectors V]] [--json]
 *
 * A knowledge graph of what the model predicts, through the kg_extractor
 * tool (include/arrakis/tool_kg.h: ops extract and heads). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis kg MODEL_DIR --subjects FILE --relations FILE [--dot OUT.dot] [--top-k K]\n"
           "                 [--max-tokens N] [--stop TOKEN] [--no-lens] [--causal [--samples N] [--noise NU]\n"
           "                 [--seed S] [--kind resid|mlp|attn] [--window W]] [--heads [--vectors V] [--head-tokens K]]\n"
           "                 [--json]\n\n"
           "For every subject and relation, the object the model predicts: each template (\"{s} lives in\") is\n"
           "filled with the subject and the top-1 next token read (greedily continued up to --max-tokens\n"
           "tokens, stopping before --stop TOKEN or the tokenizer's EOS).  A triple's object is the majority\n"
           "of its templates' objects; agreement = the share of templates predicting it (stable when all do).\n"
           "Per template: the object's probability and rank, the top --top-k tokens (default 5), and the first\n"
           "layer whose resid_post, read through the final norm and W_U (logit lens), has the object on top.\n"
           "--causal adds each triple's causal-trace peak (ROME; the first template, the subject's embeddings\n"
           "noised with nu = 3 sigma or --noise, --samples noise samples (10)): the peak overall and the peak\n"
           "over the subject's tokens.  --heads adds the relational view of every head from its weights: the\n"
           "top --vectors (3) singular directions of its OV circuit (input through W_E -> output through W_U)\n"
           "and QK circuit (query and key sides through W_E), each as its top and bottom tokens.\n\n"
           "  --subjects FILE    one subject per line\n"
           "  --relations FILE   one {\"relation\": NAME, \"templates\": [\"{s} lives in\", ...]} per line\n"
           "  --dot OUT.dot      the graph for GraphViz: subjects and objects as nodes, relations as edges\n"
           "                     labelled with the probability (penwidth), dashed when not stable\n"
           "  --json             the tool's JSON: triples with every template, summary, causal, heads\n\n"
           "examples:\n"
           "  arrakis kg ../shared/fixtures/trained/facts-llama --subjects people.txt --relations relations.jsonl \\\n"
           "      --dot facts.dot\n"
           "  arrakis kg MODEL_DIR --subjects s.txt --relations r.jsonl --max-tokens 3 --stop . --causal --json\n"
           "  arrakis kg MODEL_DIR --subjects s.txt --relations r.jsonl --heads --vectors 1\n");
}

typedef struct kg_args {
    const char *dir, *subjects, *relations, *dot, *stop, *noise, *kind;
    long top_k, max_tokens, samples, seed, window, vectors, head_tokens;
    bool json, no_lens, causal, heads;
} kg_args;

static int parse_args(int argc, char **argv, kg_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--subjects", &a->subjects), CLI_STR_OPT("--relations", &a->relations),
        CLI_STR_OPT("--dot", &a->dot), CLI_STR_OPT("--stop", &a->stop), CLI_STR_OPT("--noise", &a->noise),
        CLI_STR_OPT("--kind", &a->kind),
        CLI_INT_OPT("--top-k", &a->top_k), CLI_INT_OPT("--max-tokens", &a->max_tokens),
        CLI_INT_OPT("--samples", &a->samples), CLI_INT_OPT("--seed", &a->seed), CLI_INT_OPT("--window", &a->window),
        CLI_INT_OPT("--vectors", &a->vectors), CLI_INT_OPT("--head-tokens", &a->head_tokens),
        CLI_FLAG_OPT("--json", &a->json), CLI_FLAG_OPT("--no-lens", &a->no_lens), CLI_FLAG_OPT("--causal", &a->causal),
        CLI_FLAG_OPT("--heads", &a->heads), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "kg", .usage = usage, .opts = opts, .dir = &a->dir};
    return cli_parse(&spec, argc, argv);
}

static int build_params(const kg_args *a, cJSON *p)
{
    cJSON_AddStringToObject(p, "subjects_file", a->subjects);
    cJSON_AddStringToObject(p, "relations_file", a->relations);
    cJSON_AddNumberToObject(p, "top_k", (double)a->top_k);
    cJSON_AddNumberToObject(p, "max_tokens", (double)a->max_tokens);
    if (a->stop) cJSON_AddStringToObject(p, "stop", a->stop);
    if (a->no_lens) cJSON_AddFalseToObject(p, "lens");
    if (a->dot) cJSON_AddTrueToObject(p, "dot");
    if (a->heads) {
        cJSON_AddTrueToObject(p, "heads");
        cJSON_AddNumberToObject(p, "vectors", (double)a->vectors);
        cJSON_AddNumberToObject(p, "heads_top_k", (double)a->head_tokens);
    }
    if (!a->causal) return 0;
    cJSON *c = cJSON_AddObjectToObject(p, "causal");
    cJSON_AddNumberToObject(c, "samples", (double)a->samples);
    cJSON_AddNumberToObject(c, "seed", (double)a->seed);
    if (a->kind) cJSON_AddStringToObject(c, "kind", a->kind);
    cJSON_AddNumberToObject(c, "window", (double)a->window);
    if (a->noise && strcmp(a->noise, "3sigma")) {
        char *end;
        double nu = strtod(a->noise, &end);
        if (*end || end == a->noise || !(nu > 0)) return cli_arg_error("kg", "--noise %s: expected a number > 0 or 3sigma", a->noise);
        cJSON_AddNumberToObject(c, "noise", nu);
    }
    return 0;
}

static void print_triples(const cJSON *out)
{
    const cJSON *t, *s = cJSON_GetObjectItem(out, "summary");
    bool lens = cJSON_GetObjectItem(s, "lens_never") != NULL, causal = cJSON_GetObjectItem(out, "causal") != NULL;
    printf("%-24s %-12s %-16s %8s %5s %6s%s\n", "subject", "relation", "object", "prob", "agree", lens ? "lens" : "",
           causal ? "  trace peak (overall; subject tokens)" : "");
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(out, "triples")) {
        printf("%-24s %-12s %-16s %8.4f %2d/%-2d", cli_str(t, "subject"), cli_str(t, "relation"), cli_str(t, "object"), cli_num(t, "prob"),
               (int)cli_num(t, "votes"), cJSON_GetArraySize(cJSON_GetObjectItem(t, "templates")));
        if (lens) printf(" %6d", (int)cli_num(t, "lens_layer"));
        const cJSON *c = cJSON_GetObjectItem(t, "causal_trace"), *sp = cJSON_GetObjectItem(c, "subject_peak");
        if (c) printf("  %s @ %d (%.3f)", cli_str(c, "row_name"), (int)cli_num(c, "pos"), cli_num(c, "indirect_effect"));
        if (sp) printf("; %s @ %d (%.3f)", cli_str(sp, "row_name"), (int)cli_num(sp, "pos"), cli_num(sp, "indirect_effect"));
        printf("%s\n", cJSON_IsTrue(cJSON_GetObjectItem(t, "stable")) ? "" : "  (not stable)");
    }
    printf("\n%d triples: %d stable, %d with a majority, mean agreement %.3f, mean probability %.4f\n", (int)cli_num(s, "n_triples"),
           (int)cli_num(s, "stable"), (int)cli_num(s, "majority"), cli_num(s, "mean_agreement"), cli_num(s, "mean_prob"));
    const cJSON *lc = cJSON_GetObjectItem(s, "lens_layer_counts"), *x;
    if (lc) {
        int l = 0;
        printf("templates whose object first tops the logit lens at layer:");
        cJSON_ArrayForEach(x, lc) printf(" %d: %d", l++, x->valueint);
        printf(", never: %d\n", (int)cli_num(s, "lens_never"));
    }
}

static void print_tokens(const cJSON *side, const char *end)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(side, end)) printf(" %s", cli_str(t, "token"));
}

static void print_heads(const cJSON *heads)
{
    const cJSON *h;
    printf("\nheads (first singular direction; top tokens):\n");
    cJSON_ArrayForEach(h, heads) {
        const cJSON *ov = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "ov"), "directions"), 0);
        const cJSON *qk = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "qk"), "directions"), 0);
        printf("  L%dH%d  OV (S %.3g): reads", (int)cli_num(h, "layer"), (int)cli_num(h, "head"), cli_num(ov, "value"));
        print_tokens(cJSON_GetObjectItem(ov, "input"), "top");
        printf(" -> writes");
        print_tokens(cJSON_GetObjectItem(ov, "output"), "top");
        printf("\n        QK (S %.3g): queries", cli_num(qk, "value"));
        print_tokens(cJSON_GetObjectItem(qk, "query"), "top");
        printf(" -> keys");
        print_tokens(cJSON_GetObjectItem(qk, "key"), "top");
        printf("\n");
    }
}

static int write_dot(const kg_args *a, cJSON *out)
{
    cJSON *dot = cJSON_DetachItemFromObject(out, "dot");
    FILE *f = cJSON_IsString(dot) ? fopen(a->dot, "w") : NULL;
    int rc = 0;
    if (!f) rc = cli_error("kg", "--dot %s: cannot write the file", a->dot);
    else {
        fputs(dot->valuestring, f);
        if (fclose(f)) rc = cli_error("kg", "--dot %s: write failed", a->dot);
    }
    cJSON_Delete(dot);
    return rc;
}

int cmd_kg(int argc, char **argv)
{
    kg_args a = {.top_k = 5, .max_tokens = 1, .samples = 10, .window = 10, .vectors = 3, .head_tokens = 8};
    int prc = parse_args(argc, argv, &a);
    if (prc) return prc < 0 ? 0 : prc;
    if (!a.subjects || !a.relations) return cli_arg_error("kg", "give --subjects FILE and --relations FILE");
    cJSON *params = cJSON_CreateObject();
    int rc = build_params(&a, params);
    char *text = rc ? NULL : cJSON_PrintUnformatted(params), *result = NULL;
    cJSON_Delete(params);
    cli_tool_ctx ctx;
    if (!rc) {
        rc = cli_tool_open("kg", a.dir, &ctx);
        if (!rc) rc = cli_tool_call("kg", &ctx, "kg_extractor", "extract", text, &result);
        cli_tool_close(&ctx);
    }
    cJSON *out = rc ? NULL : cJSON_Parse(result);
    if (!rc && a.dot) rc = write_dot(&a, out);
    if (!rc && a.json) {
        char *s = cJSON_PrintUnformatted(out);
        printf("%s\n", s);
        free(s);
    } else if (!rc) {
        print_triples(out);
        if (a.heads) print_heads(cJSON_GetObjectItem(out, "heads"));
        if (a.dot) printf("graph written to %s\n", a.dot);
    }
    cJSON_Delete(out);
    free(text);
    free(result);
    return rc;
}
