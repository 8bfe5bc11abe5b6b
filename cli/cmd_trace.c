/* arrakis trace MODEL_DIR (--prompt TEXT --subject TEXT --answer TOKEN | --facts FILE.jsonl)
 *               [--samples N] [--noise NU|3sigma] [--kind resid|mlp|attn] [--window W] [--seed S]
 *               [--neuron L.N [--scale X] [--positions all|last|subject|IDS]] [--per-fact] [--json]
 *
 * Causal tracing (ROME) and the neuron intervention through the `causal`
 * tool (include/arrakis/tool_causal.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis trace MODEL_DIR (--prompt TEXT --subject TEXT --answer TOKEN | --facts FILE.jsonl)\n"
           "                    [--samples N] [--noise NU|3sigma] [--kind resid|mlp|attn] [--window W] [--seed S]\n"
           "                    [--only-recalled] [--per-fact] [--json]\n"
           "       arrakis trace MODEL_DIR (--prompt TEXT --answer TOKEN | --facts FILE) --neuron L.N [--scale X]\n"
           "                    [--positions all|last|subject|P,P,...] [--json]\n\n"
           "Causal tracing (Meng et al. 2022, ROME): add Gaussian noise to the subject tokens' embeddings (N\n"
           "samples), then restore one clean state at a time and measure the probability of the answer at the\n"
           "last token.  Indirect effect IE = P(restored) - P(corrupted); total effect = P(clean) - P(corrupted).\n"
           "Rows (--kind resid): the embeddings and the residual stream after each block; --kind mlp / attn\n"
           "restores the MLP / attention outputs of a window of W layers centred on each row (ROME's window).\n"
           "The table averages IE over the facts by position kind: before_subject, subject_first / middle /\n"
           "last, first_subsequent, further_tokens, last_token (AIE).\n\n"
           "--facts FILE   one {\"prompt\": ..., \"subject\": ..., \"answer\": ...} per line (extra fields ignored).\n"
           "--answer TOKEN the answer as text (its first token continuing the prompt: \"Paris\" is GPT-2's\n"
           "               \" Paris\") or an id.  --tokens IDS --subject-span B,E --answer ID for a model without\n"
           "               a tokenizer.\n"
           "--noise        nu, the noise's standard deviation, or Ksigma (default 3sigma: sigma = std of the\n"
           "               embedding values of the distinct subject tokens of the facts).\n"
           "--samples N    noise samples per fact (default 10); --seed S (default 0); --window W (default 10).\n"
           "--only-recalled  average over the facts whose clean top prediction is the answer (ROME's \"known\" facts).\n"
           "--per-fact     also print each fact's rows x tokens table (always for a single prompt).\n"
           "--neuron L.N   instead of tracing: multiply blocks.L.mlp.hook_post neuron N by --scale X (default 0,\n"
           "               zero ablation) at --positions (default all) and report P(answer) before and after.\n"
           "--json         print the tool's JSON.\n\n"
           "examples:\n"
           "  arrakis trace MODEL_DIR --prompt \"The Eiffel Tower is in\" --subject \"The Eiffel Tower\" --answer Paris\n"
           "  arrakis trace ../shared/fixtures/trained/facts-llama --facts facts.jsonl --samples 10 --json\n"
           "  arrakis trace MODEL_DIR --facts facts.jsonl --kind mlp --window 5\n"
           "  arrakis trace MODEL_DIR --prompt \"A B lives in\" --answer Paris --neuron 3.117 --scale 0 --positions last\n");
}

typedef struct trace_args {
    const char *dir, *prompt, *subject, *answer, *facts, *tokens, *span;
    const char *samples, *noise, *kind, *window, *seed, *neuron, *scale, *positions;
    bool json, per_fact, only_recalled;
} trace_args;

static int parse_args(int argc, char **argv, trace_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--prompt", &a->prompt), CLI_STR_OPT("--text", &a->prompt), CLI_STR_OPT("--subject", &a->subject),
        CLI_STR_OPT("--answer", &a->answer), CLI_STR_OPT("--facts", &a->facts), CLI_STR_OPT("--tokens", &a->tokens),
        CLI_STR_OPT("--subject-span", &a->span), CLI_STR_OPT("--samples", &a->samples),
        CLI_STR_OPT("--noise", &a->noise), CLI_STR_OPT("--kind", &a->kind), CLI_STR_OPT("--window", &a->window),
        CLI_STR_OPT("--seed", &a->seed), CLI_STR_OPT("--neuron", &a->neuron), CLI_STR_OPT("--scale", &a->scale),
        CLI_STR_OPT("--positions", &a->positions),
        CLI_FLAG_OPT("--json", &a->json), CLI_FLAG_OPT("--per-fact", &a->per_fact),
        CLI_FLAG_OPT("--only-recalled", &a->only_recalled), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "trace", .usage = usage, .opts = opts, .dir = &a->dir,
                     .dir_missing = "missing MODEL_DIR (usage: arrakis trace MODEL_DIR (--prompt TEXT --subject TEXT "
                                    "--answer TOKEN | --facts FILE); see arrakis trace --help)"};
    return cli_parse(&spec, argc, argv);
}

static int add_int(cJSON *p, const char *key, const char *opt, const char *s)
{
    long n;
    if (!s) return 0;
    if (!cli_parse_int(s, &n)) return cli_arg_error("trace", "%s %s: expected an integer", opt, s);
    cJSON_AddNumberToObject(p, key, n);
    return 0;
}

static cJSON *int_list(const char *opt, const char *s)
{
    int32_t *ids = NULL;
    int n = cli_parse_ids("trace", s, &ids);
    if (n <= 0) { free(ids); if (!n) cli_error("trace", "%s: empty list", opt); return NULL; }
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    free(ids);
    return a;
}

/* A list of positions that may hold negative numbers ("-1,2"). */
static cJSON *positions_json(const char *s)
{
    cJSON *a = cJSON_CreateArray();
    const char *c = s;
    while (*c) {
        char *end;
        long v = strtol(c, &end, 10);
        if (end == c || (*end && *end != ',')) { cJSON_Delete(a); cli_arg_error("trace", "--positions %s: expected all, last, subject or integers separated by commas", s); return NULL; }
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v));
        c = *end ? end + 1 : end;
    }
    return a;
}

static int fact_params(const trace_args *a, cJSON *p)
{
    if (a->facts) {
        if (a->prompt || a->tokens) return cli_arg_error("trace", "give either --facts FILE or one prompt (--prompt / --tokens), not both");
        cJSON_AddStringToObject(p, "facts_file", a->facts);
        return 0;
    }
    if (!a->prompt && !a->tokens) return cli_arg_error("trace", "give --prompt TEXT --subject TEXT --answer TOKEN, or --facts FILE.jsonl");
    if (a->prompt && a->tokens) return cli_arg_error("trace", "give --prompt or --tokens, not both");
    if (!a->answer) return cli_arg_error("trace", "--answer is required with --prompt / --tokens");
    if (a->prompt) cJSON_AddStringToObject(p, "prompt", a->prompt);
    if (a->subject) cJSON_AddStringToObject(p, "subject", a->subject);
    cJSON *x;
    if (a->tokens) {
        if (!(x = int_list("--tokens", a->tokens))) return 1;
        cJSON_AddItemToObject(p, "tokens", x);
        if (a->span) {
            if (!(x = int_list("--subject-span", a->span))) return 1;
            cJSON_AddItemToObject(p, "subject_span", x);
        }
    }
    long id;
    if (cli_parse_int(a->answer, &id)) cJSON_AddNumberToObject(p, "answer", id);
    else cJSON_AddStringToObject(p, "answer", a->answer);
    return 0;
}

static int build_params(const trace_args *a, cJSON *p)
{
    int rc = fact_params(a, p);
    if (rc) return rc;
    if (a->neuron) {
        int L, N, k = 0;
        if (sscanf(a->neuron, "%d.%d%n", &L, &N, &k) != 2 || a->neuron[k])
            return cli_arg_error("trace", "--neuron %s: expected LAYER.NEURON, e.g. 3.117", a->neuron);
        cJSON_AddNumberToObject(p, "layer", L);
        cJSON_AddNumberToObject(p, "neuron", N);
        if (a->scale) {
            char *end;
            double s = strtod(a->scale, &end);
            if (end == a->scale || *end) return cli_arg_error("trace", "--scale %s: expected a number", a->scale);
            cJSON_AddNumberToObject(p, "scale", s);
        }
        if (a->positions) {
            if (!strcmp(a->positions, "all") || !strcmp(a->positions, "last") || !strcmp(a->positions, "subject"))
                cJSON_AddStringToObject(p, "positions", a->positions);
            else {
                cJSON *x = positions_json(a->positions);
                if (!x) return 1;
                cJSON_AddItemToObject(p, "positions", x);
            }
        }
        return 0;
    }
    if (a->scale || a->positions) return cli_arg_error("trace", "--scale and --positions go with --neuron L.N");
    if (a->only_recalled && !a->facts) return cli_arg_error("trace", "--only-recalled goes with --facts");
    if (!a->facts && !a->subject && !a->span) return cli_arg_error("trace", "--subject is required for tracing (the text to corrupt)");
    if ((rc = add_int(p, "samples", "--samples", a->samples)) || (rc = add_int(p, "window", "--window", a->window)) ||
        (rc = add_int(p, "seed", "--seed", a->seed)))
        return rc;
    if (a->kind) cJSON_AddStringToObject(p, "kind", a->kind);
    if (a->only_recalled) cJSON_AddBoolToObject(p, "only_recalled", true);
    if (a->noise) {
        char *end;
        double nu = strtod(a->noise, &end);
        if (end != a->noise && !*end) cJSON_AddNumberToObject(p, "noise", nu);
        else cJSON_AddStringToObject(p, "noise", a->noise);
    }
    return 0;
}

/* ---- human output ---- */

static void print_aie(const cJSON *r)
{
    const cJSON *rows = cJSON_GetObjectItem(r, "rows"), *kinds = cJSON_GetObjectItem(r, "position_kinds");
    const cJSON *per = cJSON_GetObjectItem(r, "facts_per_kind"), *table = cJSON_GetObjectItem(r, "indirect_effect_table");
    printf("mean P(answer): clean %.4f, corrupted %.4f; total effect %.4f\n\n", cli_num(r, "mean_p_clean"),
           cli_num(r, "mean_p_corrupted"), cli_num(r, "total_effect"));
    printf("average indirect effect (rows x position kinds; facts per kind in brackets):\n%-28s", "row");
    const cJSON *k;
    cJSON_ArrayForEach(k, kinds) printf(" %16s", k->valuestring);
    printf("\n%-28s", "");
    cJSON_ArrayForEach(k, kinds) {
        char b[24];
        snprintf(b, sizeof b, "[%d]", (int)cli_num(per, k->valuestring));
        printf(" %16s", b);
    }
    printf("\n");
    for (int i = 0; i < cJSON_GetArraySize(rows); i++) {
        printf("%-28s", cJSON_GetArrayItem(rows, i)->valuestring);
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetArrayItem(table, i))
            printf(" %16.3f", cJSON_IsNumber(v) ? (fabs(v->valuedouble) < 5e-4 ? 0.0 : v->valuedouble) : NAN);
        printf("\n");
    }
    const cJSON *pk = cJSON_GetObjectItem(r, "peak"), *ps = cJSON_GetObjectItem(r, "peak_at_subject_after_embeddings");
    if (!ps) ps = cJSON_GetObjectItem(r, "peak_at_subject");
    if (pk)
        printf("\npeak: %s at %s (%.3f)\n", cJSON_GetObjectItem(pk, "row_name")->valuestring,
               cJSON_GetObjectItem(pk, "position_kind")->valuestring, cli_num(pk, "indirect_effect"));
    if (ps)
        printf("peak at the subject%s: %s at %s (%.3f)\n", cJSON_GetObjectItem(r, "peak_at_subject") ? "" : " after the embeddings",
               cJSON_GetObjectItem(ps, "row_name")->valuestring, cJSON_GetObjectItem(ps, "position_kind")->valuestring,
               cli_num(ps, "indirect_effect"));
}

static void print_fact(const cJSON *f, const cJSON *rows)
{
    const cJSON *toks = cJSON_GetObjectItem(f, "tokens"), *ie = cJSON_GetObjectItem(f, "indirect_effect");
    const cJSON *span = cJSON_GetObjectItem(f, "subject_span"), *prompt = cJSON_GetObjectItem(f, "prompt");
    int sb = cJSON_GetArrayItem(span, 0)->valueint, se = cJSON_GetArrayItem(span, 1)->valueint;
    printf("\n%s -> \"%s\": P clean %.4f, corrupted %.4f, total effect %.4f%s\n", prompt ? prompt->valuestring : "(tokens)",
           cJSON_GetObjectItem(f, "answer")->valuestring, cli_num(f, "p_clean"), cli_num(f, "p_corrupted"), cli_num(f, "total_effect"),
           cJSON_IsTrue(cJSON_GetObjectItem(f, "recalled")) ? "" : " (not the top prediction)");
    printf("indirect effect (rows x tokens; * = subject):\n%-28s", "row");
    for (int t = 0; t < cJSON_GetArraySize(toks); t++) {
        char lab[24];
        snprintf(lab, sizeof lab, "%s%.8s", t >= sb && t < se ? "*" : "", cJSON_GetArrayItem(toks, t)->valuestring);
        printf(" %9s", lab);
    }
    printf("\n");
    for (int i = 0; i < cJSON_GetArraySize(ie); i++) {
        printf("%-28s", cJSON_GetArrayItem(rows, i)->valuestring);
        const cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetArrayItem(ie, i))
            printf(" %9.3f", cJSON_IsNumber(x) ? (fabs(x->valuedouble) < 5e-4 ? 0.0 : x->valuedouble) : NAN);
        printf("\n");
    }
}

static void print_trace(const cJSON *r, bool per_fact)
{
    const cJSON *sigma = cJSON_GetObjectItem(r, "embedding_sigma");
    printf("causal tracing: %d facts (%d recalled%s), kind %s", (int)cli_num(r, "n_facts"), (int)cli_num(r, "n_recalled"),
           cJSON_IsTrue(cJSON_GetObjectItem(r, "only_recalled")) ? "; the averages are over those" : "",
           cJSON_GetObjectItem(r, "kind")->valuestring);
    if (cJSON_GetObjectItem(r, "window")) printf(" (window %d)", (int)cli_num(r, "window"));
    printf(", %d samples, seed %.0f, noise %.5f", (int)cli_num(r, "n_noise_samples"), cli_num(r, "seed"), cli_num(r, "noise_std"));
    if (cJSON_IsNumber(sigma)) printf(" (%g x sigma %.5f)", cli_num(r, "noise_sigmas"), sigma->valuedouble);
    printf(", %.2fs\n", cli_num(r, "seconds"));
    print_aie(r);
    const cJSON *facts = cJSON_GetObjectItem(r, "facts"), *f;
    if (per_fact || cJSON_GetArraySize(facts) == 1) cJSON_ArrayForEach(f, facts) print_fact(f, cJSON_GetObjectItem(r, "rows"));
}

static void print_neuron(const cJSON *r)
{
    printf("neuron %s[%d] x %g\n", cJSON_GetObjectItem(r, "hook")->valuestring, (int)cli_num(r, "neuron"), cli_num(r, "scale"));
    printf("%-40s %10s %10s %10s\n", "prompt -> answer", "P before", "P after", "effect");
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(r, "results")) {
        const cJSON *pr = cJSON_GetObjectItem(x, "prompt");
        char lab[160];
        snprintf(lab, sizeof lab, "%s -> %s", pr ? pr->valuestring : "(tokens)", cJSON_GetObjectItem(x, "answer")->valuestring);
        printf("%-40.40s %10.4f %10.4f %+10.4f\n", lab, cli_num(x, "p_before"), cli_num(x, "p_after"), cli_num(x, "effect"));
    }
    printf("mean effect %+.4f\n", cli_num(r, "mean_effect"));
}

int cmd_trace(int argc, char **argv)
{
    trace_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    cJSON *p = cJSON_CreateObject();
    if ((rc = build_params(&a, p))) { cJSON_Delete(p); return rc; }
    if (!a.json && !a.per_fact && a.facts && !a.neuron) cJSON_AddBoolToObject(p, "per_fact", false);
    char *params = cJSON_PrintUnformatted(p), *result = NULL;
    cJSON_Delete(p);
    cli_tool_ctx ctx;
    rc = cli_tool_open("trace", a.dir, &ctx);
    if (!rc) rc = cli_tool_call("trace", &ctx, "causal", a.neuron ? "neuron" : "trace", params, &result);
    if (!rc && a.json) printf("%s\n", result);
    else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        if (a.neuron) print_neuron(r);
        else print_trace(r, a.per_fact);
        cJSON_Delete(r);
    }
    free(result);
    free(params);
    cli_tool_close(&ctx);
    return rc;
}
