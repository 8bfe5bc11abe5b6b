/* arrakis heads MODEL_DIR [--detect LIST] (--repeat-random N ... | --text/--tokens/--tokens-file)
 *                 [--method mean|tl] [--ablate zero|mean --metric M] [--json]
 *
 * Head detectors and per-head ablation effects as [layers, heads] tables,
 * through the attention tool (include/arrakis/tool_attention.h: ops detect
 * and ablation). */
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
    printf("usage: arrakis heads MODEL_DIR [--detect previous,duplicate,induction|none] [--custom MASK.json]\n"
           "                    (--repeat-random N [--batch B] [--seed S] [--bos ID] [--id-range LO,HI]\n"
           "                     | --text TEXT | --tokens IDS | --tokens-file FILE)\n"
           "                    [--method mean|tl] [--period P] [--prefix S] [--exclude-bos] [--exclude-current]\n"
           "                    [--error-measure mul|abs] [--threshold X]\n"
           "                    [--ablate zero|mean [--metric loss|logit:TOKEN[@POS]|logit-diff:TOKEN,TOKEN[@POS]]\n"
           "                     [--targets all|repeated|LIST] [--per-row]] [--json]\n\n"
           "Score every attention head as a previous-token, duplicate-token and induction head (a [layers, heads]\n"
           "table per detector; heads at or above --threshold, default 0.4, are marked *), and with --ablate the\n"
           "effect of ablating each head on a metric.\n\n"
           "Input: --repeat-random N feeds B (--batch, default 16) rows of N random ids repeated twice (the\n"
           "standard induction check), ids uniform in [0, vocab) or in [LO, HI) with --id-range, drawn with a\n"
           "seeded generator (--seed, default 0), each row prefixed by --bos ID if given.  Or --text / --tokens\n"
           "(one row each, repeatable) / --tokens-file (one JSON array of ids per line); rows are padded and masked.\n\n"
           "--method mean (default): mean attention over the batch's (row, query) pairs from query i to\n"
           "  key i-1 (previous-token, queries 1..n-1), key i-p (duplicate-token) and key i-p+1 (induction: the\n"
           "  token after the earlier copy), queries s+p..n-1, for rows of s prefix tokens then a block of p\n"
           "  tokens repeated.  s and p are those of --repeat-random (s = 1 with --bos), --prefix/--period, or\n"
           "  found per row (the smallest s, then the smallest p, with the row from s on p-periodic and >= 2p long).\n"
           "--method tl: TransformerLens' head_detector.detect_head per row (its detection patterns from the\n"
           "  tokens; --error-measure mul (default) or abs; --exclude-bos, --exclude-current), mean over rows.\n"
           "--custom MASK.json adds a detector from a (P, P) lower-triangular JSON list of lists (rows of P tokens).\n\n"
           "--ablate zero|mean sets each head's blocks.L.attn.hook_z slice to 0 or to its mean over the batch's\n"
           "real positions, one forward per head over the whole batch (starting at the head's layer), and prints\n"
           "metric(ablated) - metric(clean).  --metric loss (default): mean next-token cross-entropy over the\n"
           "--targets (token positions predicted: all = 1..n-1, repeated = s+p+1..n-1, or a list such as\n"
           "25..47,3; default repeated with --repeat-random, else all); logit:TOKEN[@POS] and\n"
           "logit-diff:TOKEN,TOKEN[@POS] at POS (default -1, the last token), averaged over rows.  TOKEN is an\n"
           "id or a string that is one token (tokens containing ',' or '@' must be given as ids).\n\n"
           "--json prints {\"detectors\": {\"induction\": [[...]], ...}, \"layers\": L, \"heads\": H, \"above_threshold\",\n"
           "\"definitions\", \"counts\", ..., \"ablation\": {\"clean\", \"effects\": [[...]], ...}}; with --per-row the\n"
           "ablation also has \"per_row\": {\"clean\": [row], \"ablated\": [layer][head][row], \"counts\": [row]} (each\n"
           "row's own metric; the human output is unchanged).\n\n"
           "examples:\n"
           "  arrakis heads models/induction-words --repeat-random 12 --batch 24 --seed 1 --bos 1 --id-range 2,56\n"
           "  arrakis heads MODEL_DIR --tokens-file eval.jsonl --ablate zero --metric loss --targets repeated\n"
           "  arrakis heads MODEL_DIR --text \"When Mary and John went to the store, John gave a drink to\" \\\n"
           "      --method tl --exclude-bos --detect duplicate,induction --json\n"
           "  arrakis heads MODEL_DIR --text \"The Eiffel Tower is in\" --detect none --ablate mean \\\n"
           "      --metric \"logit-diff: Paris, Rome\"\n");
}

typedef struct heads_args {
    const char *dir, *detect, *custom, *method, *measure, *ablate, *metric, *targets, *id_range;
    long repeat, batch, seed, bos, period, prefix;
    double threshold;
    bool exclude_bos, exclude_current, json, has_period, has_prefix, per_row;
    cli_inputs inputs;
} heads_args;

static int parse_args(int argc, char **argv, heads_args *a)
{
    const cli_option opts[] = {
        CLI_STR_OPT("--detect", &a->detect), CLI_STR_OPT("--custom", &a->custom), CLI_STR_OPT("--method", &a->method),
        CLI_STR_OPT("--error-measure", &a->measure), CLI_STR_OPT("--ablate", &a->ablate),
        CLI_STR_OPT("--metric", &a->metric), CLI_STR_OPT("--targets", &a->targets),
        CLI_STR_OPT("--id-range", &a->id_range),
        CLI_INT_OPT("--repeat-random", &a->repeat), CLI_INT_OPT("--batch", &a->batch), CLI_INT_OPT("--seed", &a->seed),
        CLI_INT_OPT("--bos", &a->bos), CLI_INT_OPT("--period", &a->period, .seen = &a->has_period),
        CLI_INT_OPT("--prefix", &a->prefix, .seen = &a->has_prefix),
        CLI_DOUBLE_OPT("--threshold", &a->threshold),
        CLI_FLAG_OPT("--exclude-bos", &a->exclude_bos), CLI_FLAG_OPT("--exclude-current", &a->exclude_current),
        CLI_FLAG_OPT("--json", &a->json), CLI_FLAG_OPT("--per-row", &a->per_row), CLI_OPT_END,
    };
    cli_spec spec = {.cmd = "heads", .usage = usage, .opts = opts, .inputs = &a->inputs, .dir = &a->dir};
    int rc = cli_parse(&spec, argc, argv);
    if (rc) return rc;
    bool have_input = a->inputs.n || a->inputs.tokens_file;
    if (a->repeat && have_input) return cli_error("heads", "--repeat-random and --text/--tokens/--tokens-file exclude each other");
    if (!a->repeat && !have_input)
        return cli_error("heads", "no input: give --repeat-random N, --text TEXT, --tokens IDS or --tokens-file FILE");
    if (a->repeat < 0) return cli_error("heads", "--repeat-random %ld: expected a length >= 1", a->repeat);
    if (a->batch < 1) return cli_error("heads", "--batch %ld: expected >= 1", a->batch);
    if (!a->repeat && (a->id_range || a->bos >= 0))
        return cli_error("heads", "%s applies to --repeat-random only", a->id_range ? "--id-range" : "--bos");
    if (a->method && strcmp(a->method, "mean") && strcmp(a->method, "tl"))
        return cli_error("heads", "--method %s: expected mean or tl", a->method);
    if (a->ablate && strcmp(a->ablate, "zero") && strcmp(a->ablate, "mean"))
        return cli_error("heads", "--ablate %s: expected zero or mean", a->ablate);
    if (!a->ablate && (a->metric || a->targets || a->per_row))
        return cli_error("heads", "%s needs --ablate", a->metric ? "--metric" : a->targets ? "--targets" : "--per-row");
    if (a->detect && !strcmp(a->detect, "none") && !a->ablate) return cli_error("heads", "--detect none needs --ablate");
    return 0;
}

/* The input part of the tool's parameters: repeat_random or tokens. */
static int input_json(const heads_args *a, cli_tool_ctx *ctx, cJSON *p)
{
    if (a->repeat) {
        cJSON *r = cJSON_AddObjectToObject(p, "repeat_random");
        cJSON_AddNumberToObject(r, "length", (double)a->repeat);
        cJSON_AddNumberToObject(r, "batch", (double)a->batch);
        cJSON_AddNumberToObject(r, "seed", (double)a->seed);
        if (a->bos >= 0) cJSON_AddNumberToObject(r, "bos", (double)a->bos);
        if (a->id_range) {
            long lo, hi;
            char *comma = strchr(a->id_range, ','), buf[64];
            snprintf(buf, sizeof buf, "%s", a->id_range);
            if (comma) buf[comma - a->id_range] = 0;
            if (!comma || !cli_parse_int(buf, &lo) || !cli_parse_int(comma + 1, &hi))
                return cli_error("heads", "--id-range %s: expected LO,HI (ids drawn from [LO, HI))", a->id_range);
            cJSON_AddNumberToObject(r, "low", (double)lo);
            cJSON_AddNumberToObject(r, "high", (double)hi);
        }
        return 0;
    }
    return cli_tool_add_inputs("heads", &a->inputs, a->dir, ctx->model, p);
}

static int add_structure(const heads_args *a, cJSON *p)
{
    if (a->has_period) {
        if (a->period < 1) return cli_error("heads", "--period %ld: expected >= 1", a->period);
        cJSON_AddNumberToObject(p, "period", (double)a->period);
    }
    if (a->has_prefix) {
        if (a->prefix < 0) return cli_error("heads", "--prefix %ld: expected >= 0", a->prefix);
        cJSON_AddNumberToObject(p, "prefix", (double)a->prefix);
    }
    return 0;
}

static int detect_params(const heads_args *a, const cJSON *input, cJSON **out)
{
    cJSON *p = cJSON_Duplicate(input, true);
    *out = p;
    if (a->detect) cJSON_AddStringToObject(p, "detectors", a->detect);
    if (a->method) cJSON_AddStringToObject(p, "method", a->method);
    if (a->measure) cJSON_AddStringToObject(p, "error_measure", a->measure);
    if (a->exclude_bos) cJSON_AddTrueToObject(p, "exclude_bos");
    if (a->exclude_current) cJSON_AddTrueToObject(p, "exclude_current");
    cJSON_AddNumberToObject(p, "threshold", a->threshold);
    if (a->custom) {
        char *text = NULL;
        FILE *f = fopen(a->custom, "r");
        size_t cap = 0;
        if (!f) return cli_error("heads", "--custom %s: cannot open", a->custom);
        ssize_t n = getdelim(&text, &cap, '\0', f);
        fclose(f);
        cJSON *m = n > 0 ? cJSON_Parse(text) : NULL;
        free(text);
        if (!cJSON_IsArray(m)) {
            cJSON_Delete(m);
            return cli_error("heads", "--custom %s: expected a JSON list of lists (a (P, P) mask)", a->custom);
        }
        cJSON_AddItemToObject(p, "custom", m);
        if (!a->detect) {
            cJSON_DeleteItemFromObject(p, "detectors");
            cJSON_AddStringToObject(p, "detectors", "previous,duplicate,induction,custom");
        }
    }
    return add_structure(a, p);
}

/* A TOKEN: an id as a number (so that range errors say so), else the string. */
static void add_token(cJSON *p, const char *field, const char *s)
{
    long id;
    if (cli_parse_int(s, &id)) cJSON_AddNumberToObject(p, field, (double)id);
    else cJSON_AddStringToObject(p, field, s);
}

/* "logit:TOKEN[@POS]" or "logit-diff:TOKEN,TOKEN[@POS]" (or "loss"). */
static int metric_params(const heads_args *a, cJSON *p)
{
    const char *m = a->metric ? a->metric : "loss";
    if (!strcmp(m, "loss")) {
        cJSON_AddStringToObject(p, "metric", "loss");
        const char *t = a->targets ? a->targets : a->repeat ? "repeated" : "all";
        if (!strcmp(t, "all") || !strcmp(t, "repeated")) { cJSON_AddStringToObject(p, "targets", t); return 0; }
        cJSON *list = cJSON_AddArrayToObject(p, "targets");
        for (const char *s = t; *s;) {
            char *end, *end2;
            long lo = strtol(s, &end, 10), hi = lo;
            if (end == s) return cli_error("heads", "--targets %s: expected all, repeated or a list such as 25..47,3", t);
            if (!strncmp(end, "..", 2)) {
                hi = strtol(end + 2, &end2, 10);
                if (end2 == end + 2 || hi < lo) return cli_error("heads", "--targets %s: bad range at \"%s\"", t, s);
                end = end2;
            }
            if (*end && *end != ',') return cli_error("heads", "--targets %s: unexpected \"%s\"", t, end);
            for (long x = lo; x <= hi; x++) cJSON_AddItemToArray(list, cJSON_CreateNumber((double)x));
            s = *end ? end + 1 : end;
        }
        return 0;
    }
    bool diff = !strncmp(m, "logit-diff:", 11);
    if (!diff && strncmp(m, "logit:", 6))
        return cli_error("heads", "--metric %s: expected loss, logit:TOKEN[@POS] or logit-diff:TOKEN,TOKEN[@POS]", m);
    if (a->targets) return cli_error("heads", "--targets applies to --metric loss only");
    char *spec = strdup(m + (diff ? 11 : 6)), *at = strrchr(spec, '@');
    long pos = -1;
    if (at && cli_parse_int(at + 1, &pos)) *at = 0;
    char *comma = diff ? strchr(spec, ',') : NULL;
    if (diff && !comma) { free(spec); return cli_error("heads", "--metric %s: logit-diff needs TOKEN,TOKEN", m); }
    if (comma) *comma = 0;
    cJSON_AddStringToObject(p, "metric", diff ? "logit_diff" : "logit");
    add_token(p, "token", spec);
    if (comma) add_token(p, "other", comma + 1);
    cJSON_AddNumberToObject(p, "pos", (double)pos);
    free(spec);
    return 0;
}

/* ---- human output ---- */

static double cell(const cJSON *m, int l, int h)
{
    const cJSON *x = cJSON_GetArrayItem(cJSON_GetArrayItem(m, l), h);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static void print_grid(const cJSON *m, int L, int H, const char *fmt, double threshold, bool mark)
{
    printf("      ");
    for (int h = 0; h < H; h++) { char b[16]; snprintf(b, sizeof b, "H%d", h); printf(" %8s", b); }
    printf("\n");
    for (int l = 0; l < L; l++) {
        char b[16];
        snprintf(b, sizeof b, "L%d", l);
        printf("  %-4s", b);
        for (int h = 0; h < H; h++) {
            double v = cell(m, l, h);
            char s[32];
            if (isnan(v)) snprintf(s, sizeof s, "-");
            else snprintf(s, sizeof s, fmt, v);
            printf(" %7s%c", s, mark && v >= threshold ? '*' : ' ');
        }
        printf("\n");
    }
}

static void print_detect(const cJSON *r, double threshold)
{
    int L = cJSON_GetObjectItem(r, "layers")->valueint, H = cJSON_GetObjectItem(r, "heads")->valueint;
    const cJSON *dets = cJSON_GetObjectItem(r, "detectors"), *d;
    const cJSON *defs = cJSON_GetObjectItem(r, "definitions"), *above = cJSON_GetObjectItem(r, "above_threshold");
    const cJSON *counts = cJSON_GetObjectItem(r, "counts");
    bool tl = !strcmp(cJSON_GetObjectItem(r, "method")->valuestring, "tl");
    cJSON_ArrayForEach(d, dets) {
        const char *name = d->string;
        printf("\n%s: %s\n", name, cJSON_GetObjectItem(defs, name)->valuestring);
        int n = cJSON_GetObjectItem(counts, name)->valueint;
        printf("  (%d %s averaged)\n", n, tl ? (n == 1 ? "row" : "rows") : n == 1 ? "(row, query) pair" : "(row, query) pairs");
        print_grid(d, L, H, "%.3f", threshold, true);
        const cJSON *list = cJSON_GetObjectItem(above, name), *x;
        printf("  * >= %g:", threshold);
        if (!cJSON_GetArraySize(list)) printf(" none");
        cJSON_ArrayForEach(x, list) {
            int l = cJSON_GetArrayItem(x, 0)->valueint, h = cJSON_GetArrayItem(x, 1)->valueint;
            printf(" L%dH%d %.3f", l, h, cell(d, l, h));
        }
        printf("\n");
    }
}

static void print_ablation(const cJSON *r)
{
    int L = cJSON_GetObjectItem(r, "layers")->valueint, H = cJSON_GetObjectItem(r, "heads")->valueint;
    const cJSON *e = cJSON_GetObjectItem(r, "effects"), *t = cJSON_GetObjectItem(r, "targets");
    const char *metric = cJSON_GetObjectItem(r, "metric")->valuestring;
    printf("\n%s ablation of each head (blocks.L.attn.hook_z[:, :, h]): effect on %s", cJSON_GetObjectItem(r, "mode")->valuestring,
           metric);
    if (cJSON_IsString(t)) printf(" (targets: %s)", t->valuestring);
    else if (t) printf(" (%d listed targets)", cJSON_GetArraySize(t));
    if (strcmp(metric, "loss")) {
        printf(" of token %d '%s'", cJSON_GetObjectItem(r, "token")->valueint, cJSON_GetObjectItem(r, "token_str")->valuestring);
        if (!strcmp(metric, "logit_diff"))
            printf(" minus token %d '%s'", cJSON_GetObjectItem(r, "other")->valueint,
                   cJSON_GetObjectItem(r, "other_str")->valuestring);
        printf(" at position %d", cJSON_GetObjectItem(r, "pos")->valueint);
    }
    printf("\n  clean %s = %.5f; table: ablated - clean (%d forwards)\n", metric, cJSON_GetObjectItem(r, "clean")->valuedouble,
           cJSON_GetObjectItem(r, "forwards")->valueint);
    print_grid(e, L, H, "%+.4f", 0, false);
    int n = L * H, shown = n < 3 ? n : 3;
    bool *used = calloc((size_t)n, 1);
    printf("  largest |effect|:");
    for (int k = 0; k < shown; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && (best < 0 || fabs(cell(e, i / H, i % H)) > fabs(cell(e, best / H, best % H)))) best = i;
        used[best] = true;
        printf(" L%dH%d %+.4f", best / H, best % H, cell(e, best / H, best % H));
    }
    printf("\n");
    free(used);
}

static int call_json(cli_tool_ctx *ctx, const char *op, cJSON *params, cJSON **out)
{
    char *text = cJSON_PrintUnformatted(params), *result = NULL;
    int rc = cli_tool_call("heads", ctx, "attention", op, text, &result);
    free(text);
    if (!rc && !(*out = cJSON_Parse(result))) rc = cli_error("heads", "the attention tool returned malformed JSON");
    free(result);
    return rc;
}

static int run_heads(const heads_args *a, cli_tool_ctx *ctx)
{
    cJSON *input = cJSON_CreateObject(), *dp = NULL, *ap = NULL, *det = NULL, *abl = NULL;
    int rc = input_json(a, ctx, input);
    bool detect = !a->detect || strcmp(a->detect, "none");
    if (!rc && detect && !(rc = detect_params(a, input, &dp))) rc = call_json(ctx, "detect", dp, &det);
    if (!rc && a->ablate) {
        ap = cJSON_Duplicate(input, true);
        cJSON_AddStringToObject(ap, "mode", a->ablate);
        if (a->per_row) cJSON_AddTrueToObject(ap, "per_row");
        if (!(rc = metric_params(a, ap)) && !(rc = add_structure(a, ap))) rc = call_json(ctx, "ablation", ap, &abl);
    }
    const ark_config *c = ark_model_config(ctx->model);
    if (!rc && a->json) {
        cJSON *out = det ? det : cJSON_CreateObject();
        det = NULL;
        cJSON_AddStringToObject(out, "model", a->dir);
        if (!cJSON_GetObjectItem(out, "layers")) cJSON_AddNumberToObject(out, "layers", c->n_layers);
        if (!cJSON_GetObjectItem(out, "heads")) cJSON_AddNumberToObject(out, "heads", c->n_heads);
        if (abl) { cJSON_DeleteItemFromObject(abl, "tokens"); cJSON_AddItemToObject(out, "ablation", abl); abl = NULL; }
        char *s = cJSON_PrintUnformatted(out);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(out);
    } else if (!rc) {
        const cJSON *rows = cJSON_GetObjectItem(det ? det : abl, "rows");
        printf("%s (%s): %d layers x %d heads; %d row%s", a->dir, c->family, c->n_layers, c->n_heads, rows->valueint,
               rows->valueint == 1 ? "" : "s");
        if (a->repeat) printf(" of %ld random ids repeated twice (seed %ld%s)", a->repeat, a->seed, a->bos >= 0 ? ", BOS" : "");
        if (det) printf("; method %s", cJSON_GetObjectItem(det, "method")->valuestring);
        printf("\n");
        if (det) print_detect(det, a->threshold);
        if (abl) print_ablation(abl);
    }
    cJSON_Delete(input);
    cJSON_Delete(dp);
    cJSON_Delete(ap);
    cJSON_Delete(det);
    cJSON_Delete(abl);
    return rc;
}

int cmd_heads(int argc, char **argv)
{
    heads_args a = {.batch = 16, .bos = -1, .threshold = 0.4};
    int rc = parse_args(argc, argv, &a);
    if (rc) { cli_inputs_free(&a.inputs); return rc < 0 ? 0 : rc; }
    cli_tool_ctx ctx;
    rc = cli_tool_open("heads", a.dir, &ctx);
    if (!rc) rc = run_heads(&a, &ctx);
    cli_tool_close(&ctx);
    cli_inputs_free(&a.inputs);
    return rc;
}
