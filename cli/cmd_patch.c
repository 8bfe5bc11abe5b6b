/* arrakis patch MODEL_DIR --clean TEXT --corrupted TEXT --metric SPEC [--what POINT] [--by-pos | --all-pos]
 *               [--noising] [--pos P] [--max-rows N] [--raw] [--json]
 *
 * An activation patching sweep through the `patching` tool
 * (include/arrakis/tool_patching.h): a layers x positions (or heads) grid of
 * the normalised metric, or the tool's JSON. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis patch MODEL_DIR (--clean TEXT | --clean-tokens IDS) (--corrupted TEXT | --corrupted-tokens IDS)\n"
           "                    --metric SPEC [--what POINT] [--by-pos | --all-pos] [--noising] [--pos P]\n"
           "                    [--max-rows N] [--raw] [--json]\n\n"
           "Activation patching: copy one activation at a time from a source run into the run being patched and\n"
           "measure a metric at the last token.  Denoising (default) patches the clean run's activations into the\n"
           "corrupted run; --noising patches the corrupted run's into the clean run.  Values are normalised as\n"
           "TransformerLens does: (patched - corrupted) / (clean - corrupted), 0 = corrupted, 1 = clean.\n\n"
           "The two prompts must have the same number of tokens.  Instead of --clean/--corrupted: two --text,\n"
           "two --tokens (clean first) or --tokens-file FILE with two lines, each a JSON array of ids.\n\n"
           "--metric   logit-diff:TOKEN,TOKEN  logit[a] - logit[b]\n"
           "           prob:TOKEN              softmax probability of the token\n"
           "           logit:TOKEN             the token's logit\n"
           "           loss                    mean next-token loss of the clean prompt's tokens\n"
           "           TOKEN: an id, or a string that is one token (\"Paris\", \" Paris\", \"Ġworld\").\n"
           "--pos P    the metric's position (default -1, the last token).\n"
           "--what     resid_pre (default), resid_mid, resid_post, attn_out, mlp_out: cells are layer x position;\n"
           "           heads (= head-z, the heads' outputs), head-q, head-k, head-v, head-pattern: cells are\n"
           "           layer x head (k and v: key/value heads), with --by-pos layer x head x position.\n"
           "--all-pos  residual points: one cell per layer, patching every position at once.\n"
           "--raw      print the raw metric instead of the normalised value.\n"
           "--json     print the tool's JSON (normalised and raw grids, both metrics, tokens).\n\n"
           "Each cell starts from the patched run's cached residual stream at its layer and runs only the\n"
           "layers after it; the cells of a layer share batched runs.  A progress bar shows on a terminal.\n\n"
           "examples:\n"
           "  arrakis patch MODEL_DIR --clean \"When John and Mary went to the store, Mary gave it to\" \\\n"
           "      --corrupted \"When John and Mary went to the store, John gave it to\" --metric \"logit-diff: John, Mary\"\n"
           "  arrakis patch MODEL_DIR --clean-tokens 5,9,2,7 --corrupted-tokens 5,8,2,7 --metric prob:11 --what heads\n"
           "  arrakis patch MODEL_DIR --text \"A B lives in\" --text \"C D lives in\" --metric logit-diff:Paris,Rome --noising --json\n");
}

typedef struct patch_args {
    const char *dir, *metric, *what, *pos, *max_rows;
    const char *clean, *corrupted;   /* text */
    const char *clean_ids, *corr_ids; /* "1,2,3" */
    const char *texts[2], *tokens[2], *tokens_file;
    int n_texts, n_tokens;
    int by_pos; /* -1 default, 0 --all-pos, 1 --by-pos */
    bool noising, raw, json;
} patch_args;

static int parse_args(int argc, char **argv, patch_args *a)
{
    const char *v;
    a->by_pos = -1;
    for (int i = 1; i < argc; i++) {
        const char **dst = NULL;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(); return -1; }
        if (cli_flag(argv, i, "--by-pos")) { a->by_pos = 1; continue; }
        if (cli_flag(argv, i, "--all-pos")) { a->by_pos = 0; continue; }
        if (cli_flag(argv, i, "--noising")) { a->noising = true; continue; }
        if (cli_flag(argv, i, "--denoising")) { a->noising = false; continue; }
        if (cli_flag(argv, i, "--raw")) { a->raw = true; continue; }
        if (cli_flag(argv, i, "--json")) { a->json = true; continue; }
        if (cli_opt(argc, argv, &i, "--clean", &v)) dst = &a->clean;
        else if (cli_opt(argc, argv, &i, "--corrupted", &v)) dst = &a->corrupted;
        else if (cli_opt(argc, argv, &i, "--clean-tokens", &v)) dst = &a->clean_ids;
        else if (cli_opt(argc, argv, &i, "--corrupted-tokens", &v)) dst = &a->corr_ids;
        else if (cli_opt(argc, argv, &i, "--metric", &v)) dst = &a->metric;
        else if (cli_opt(argc, argv, &i, "--what", &v)) dst = &a->what;
        else if (cli_opt(argc, argv, &i, "--pos", &v)) dst = &a->pos;
        else if (cli_opt(argc, argv, &i, "--max-rows", &v)) dst = &a->max_rows;
        else if (cli_opt(argc, argv, &i, "--tokens-file", &v)) dst = &a->tokens_file;
        else if (cli_opt(argc, argv, &i, "--text", &v)) {
            if (!v) return 2;
            if (a->n_texts == 2) return cli_arg_error("patch", "--text given more than twice (clean, then corrupted)");
            a->texts[a->n_texts++] = v;
            continue;
        } else if (cli_opt(argc, argv, &i, "--tokens", &v)) {
            if (!v) return 2;
            if (a->n_tokens == 2) return cli_arg_error("patch", "--tokens given more than twice (clean, then corrupted)");
            a->tokens[a->n_tokens++] = v;
            continue;
        } else if (argv[i][0] == '-') return cli_arg_error("patch", "unknown option %s", argv[i]);
        else if (!a->dir) { a->dir = argv[i]; continue; }
        else return cli_arg_error("patch", "unexpected argument %s", argv[i]);
        if (!v) return 2;
        *dst = v;
    }
    return 0;
}

/* "1,2,3" as a JSON array of ids. */
static cJSON *ids_json(const char *opt, const char *s)
{
    int32_t *ids = NULL;
    int n = cli_parse_ids("patch", s, &ids);
    if (n < 0) return NULL;
    if (n == 0) { free(ids); cli_error("patch", "%s: no token ids", opt); return NULL; }
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    free(ids);
    return a;
}

/* The two rows of --tokens-file. */
static int tokens_file(const char *path, cJSON *p)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_error("patch", "--tokens-file %s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, rc = 0;
    const char *keys[2] = {"clean_tokens", "corrupted_tokens"};
    while (!rc && getline(&line, &cap, f) >= 0) {
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        cJSON *row = cJSON_Parse(line);
        if (!cJSON_IsArray(row)) { cJSON_Delete(row); rc = cli_error("patch", "--tokens-file %s: line %d is not a JSON array of ids", path, n + 1); break; }
        if (n == 2) { cJSON_Delete(row); rc = cli_error("patch", "--tokens-file %s: more than two rows (clean, corrupted)", path); break; }
        cJSON_AddItemToObject(p, keys[n++], row);
    }
    free(line);
    fclose(f);
    if (!rc && n != 2) rc = cli_arg_error("patch", "--tokens-file %s: expected two rows (clean, corrupted), found %d", path, n);
    return rc;
}

/* The tool's parameters from the flags; 0 or an exit code. */
static int build_params(const patch_args *a, cJSON *p)
{
    int sources = (a->clean || a->clean_ids || a->corrupted || a->corr_ids) + (a->n_texts > 0) + (a->n_tokens > 0) + !!a->tokens_file;
    if (sources > 1) return cli_arg_error("patch", "give the prompts one way: --clean/--corrupted, two --text, two --tokens or --tokens-file");
    if (a->n_texts == 1 || a->n_tokens == 1)
        return cli_error("patch", "%s given once: give it twice, the clean prompt first, then the corrupted one", a->n_texts ? "--text" : "--tokens");
    if (a->tokens_file && tokens_file(a->tokens_file, p)) return 1;
    const char *ct = a->n_texts ? a->texts[0] : a->clean, *rt = a->n_texts ? a->texts[1] : a->corrupted;
    const char *ci = a->n_tokens ? a->tokens[0] : a->clean_ids, *ri = a->n_tokens ? a->tokens[1] : a->corr_ids;
    if (ct) cJSON_AddStringToObject(p, "clean", ct);
    if (rt) cJSON_AddStringToObject(p, "corrupted", rt);
    cJSON *x;
    if (ci) { if (!(x = ids_json("--clean-tokens", ci))) return 1; cJSON_AddItemToObject(p, "clean_tokens", x); }
    if (ri) { if (!(x = ids_json("--corrupted-tokens", ri))) return 1; cJSON_AddItemToObject(p, "corrupted_tokens", x); }
    if (!cJSON_GetObjectItem(p, "clean") && !cJSON_GetObjectItem(p, "clean_tokens"))
        return cli_error("patch", "no clean prompt: give --clean TEXT or --clean-tokens IDS");
    if (!cJSON_GetObjectItem(p, "corrupted") && !cJSON_GetObjectItem(p, "corrupted_tokens"))
        return cli_error("patch", "no corrupted prompt: give --corrupted TEXT or --corrupted-tokens IDS");
    if (!a->metric) return cli_arg_error("patch", "--metric is required (logit-diff:TOKEN,TOKEN, prob:TOKEN, logit:TOKEN or loss)");
    cJSON_AddStringToObject(p, "metric", a->metric);
    if (a->what) cJSON_AddStringToObject(p, "what", a->what);
    if (a->by_pos >= 0) cJSON_AddBoolToObject(p, "by_pos", a->by_pos);
    cJSON_AddBoolToObject(p, "noising", a->noising);
    long n;
    if (a->pos) {
        if (!cli_parse_int(a->pos, &n)) return cli_arg_error("patch", "--pos %s: expected an integer", a->pos);
        cJSON_AddNumberToObject(p, "pos", n);
    }
    if (a->max_rows) {
        if (!cli_parse_int(a->max_rows, &n) || n < 0) return cli_arg_error("patch", "--max-rows %s: expected a count (0 = automatic)", a->max_rows);
        cJSON_AddNumberToObject(p, "max_rows", n);
    }
    return 0;
}

/* ---- the human grid ---- */

static void print_label(const char *s, int w)
{
    char buf[64];
    int k = 0;
    for (const char *c = s; *c && k < w && k < (int)sizeof buf - 1; c++) buf[k++] = (*c == '\n' || *c == '\t') ? ' ' : *c;
    buf[k] = 0;
    printf(" %*s", w, buf);
}

static void print_value(const cJSON *v)
{
    if (cJSON_IsNumber(v)) printf(" %8.3f", fabs(v->valuedouble) < 5e-4 ? 0.0 : v->valuedouble); /* no "-0.000" */
    else printf(" %8s", "nan");
}

static void print_grid(const cJSON *r, bool raw)
{
    const cJSON *grid = cJSON_GetObjectItem(r, raw ? "raw" : "normalised"), *axes = cJSON_GetObjectItem(r, "axes");
    const cJSON *ctoks = cJSON_GetObjectItem(r, "clean_tokens"), *rtoks = cJSON_GetObjectItem(r, "corrupted_tokens");
    int n_axes = cJSON_GetArraySize(axes);
    bool heads = cJSON_GetObjectItem(r, "n_heads") != NULL, by_pos = cJSON_IsTrue(cJSON_GetObjectItem(r, "by_pos"));
    const char *row_name = heads && by_pos ? "layer.head" : "layer";
    printf("%-10s", row_name);
    if (by_pos) {
        for (int t = 0; t < cJSON_GetArraySize(ctoks); t++) {
            const char *c = cJSON_GetArrayItem(ctoks, t)->valuestring, *d = cJSON_GetArrayItem(rtoks, t)->valuestring;
            char lab[64];
            snprintf(lab, sizeof lab, "%d%s%.5s", t, strcmp(c, d) ? "*" : ":", c);
            print_label(lab, 8);
        }
    } else if (heads) {
        for (int h = 0; h < cJSON_GetObjectItem(r, "n_heads")->valueint; h++) {
            char lab[16];
            snprintf(lab, sizeof lab, "%s%d", strcmp(cJSON_GetArrayItem(axes, 1)->valuestring, "kv_head") ? "H" : "KV", h);
            print_label(lab, 8);
        }
    } else {
        print_label("all pos", 8);
    }
    printf("\n");
    for (int l = 0; l < cJSON_GetArraySize(grid); l++) {
        const cJSON *row = cJSON_GetArrayItem(grid, l);
        if (heads && by_pos) {
            for (int h = 0; h < cJSON_GetArraySize(row); h++) {
                char lab[24];
                snprintf(lab, sizeof lab, "L%dH%d", l, h);
                printf("%-10s", lab);
                const cJSON *x;
                cJSON_ArrayForEach(x, cJSON_GetArrayItem(row, h)) print_value(x);
                printf("\n");
            }
            continue;
        }
        printf("%-10d", l);
        const cJSON *x;
        cJSON_ArrayForEach(x, row) print_value(x);
        printf("\n");
    }
    (void)n_axes;
}

static void print_human(const cJSON *r, bool raw)
{
    const cJSON *mt = cJSON_GetObjectItem(r, "metric");
    const char *kind = cJSON_GetObjectItem(mt, "kind")->valuestring;
    printf("activation patching: %s (%s), %s, %d cells in %d batched runs, %.2fs\n",
           cJSON_GetObjectItem(r, "what")->valuestring, cJSON_GetObjectItem(r, "hook")->valuestring,
           cJSON_GetObjectItem(r, "direction")->valuestring, (int)cJSON_GetObjectItem(r, "cells")->valuedouble,
           cJSON_GetObjectItem(r, "runs")->valueint, cJSON_GetObjectItem(r, "seconds")->valuedouble);
    printf("metric: %s", kind);
    const cJSON *tok = cJSON_GetObjectItem(mt, "token_str"), *other = cJSON_GetObjectItem(mt, "other_str");
    if (tok) printf(" \"%s\" (%d)", tok->valuestring, cJSON_GetObjectItem(mt, "token")->valueint);
    if (other) printf(" - \"%s\" (%d)", other->valuestring, cJSON_GetObjectItem(mt, "other")->valueint);
    if (tok) printf(" at position %d", cJSON_GetObjectItem(mt, "pos")->valueint);
    const cJSON *cm = cJSON_GetObjectItem(r, "clean_metric"), *om = cJSON_GetObjectItem(r, "corrupted_metric");
    printf("; clean %.4f, corrupted %.4f\n", cJSON_IsNumber(cm) ? cm->valuedouble : NAN, cJSON_IsNumber(om) ? om->valuedouble : NAN);
    printf("%s (0 = corrupted, 1 = clean); columns: position*token where the prompts differ\n\n",
           raw ? "raw metric" : "normalised metric");
    print_grid(r, raw);
}

int cmd_patch(int argc, char **argv)
{
    patch_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (!a.dir) return cli_arg_error("patch", "missing MODEL_DIR (usage: arrakis patch MODEL_DIR --clean TEXT --corrupted TEXT --metric SPEC; see arrakis patch --help)");
    cJSON *p = cJSON_CreateObject();
    if ((rc = build_params(&a, p))) { cJSON_Delete(p); return rc; }
    char *params = cJSON_PrintUnformatted(p), *result = NULL;
    cJSON_Delete(p);
    cli_tool_ctx ctx;
    rc = cli_tool_open("patch", a.dir, &ctx);
    if (!rc) rc = cli_tool_call("patch", &ctx, "patching", "sweep", params, &result);
    if (!rc && a.json) printf("%s\n", result);
    else if (!rc) {
        cJSON *r = cJSON_Parse(result);
        print_human(r, a.raw);
        cJSON_Delete(r);
    }
    free(result);
    free(params);
    cli_tool_close(&ctx);
    return rc;
}
