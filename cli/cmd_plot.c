/* arrakis plot TYPE MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file F)... [options] --out FILE
 * arrakis plot TYPE --from RESULT.json [options] --out FILE
 * arrakis plot --list
 *
 * A plot spec built from flags (include/arrakis/plot.h), its data made from
 * a model run (ark_plot_collect) or read from a tool's JSON result or a
 * plain matrix JSON, rendered to PNG, SVG or PDF. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_tool.h"
#include "io/fileio.h"

static void usage(void)
{
    printf("usage: arrakis plot TYPE MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)... [options] --out FILE\n"
           "       arrakis plot TYPE --from RESULT.json [options] --out FILE\n"
           "       arrakis plot --list\n\n"
           "Render a plot to FILE.png, FILE.svg or FILE.pdf.  With MODEL_DIR the data comes from a run of the\n"
           "model on the input (hook points and the engine's analyses); with --from it is read from a JSON\n"
           "file: a tool's --json output, or the plain form {\"matrix\": [[...]], \"row_labels\": [...],\n"
           "\"col_labels\": [...]} (also \"matrices\", \"values\", \"series\"; docs/plots.md).\n\n"
           "options (what each type reads: docs/plots.md):\n"
           "  --layer L --head H           attention, attention_grid, qk_dot_product, neuron_* (default 0)\n"
           "  --score S                    head_scores: previous, induction, duplicate, dla\n"
           "  --mode q|k|v                 composition\n"
           "  --target TOKEN --against T   attribution, head_scores dla (default: the top prediction)\n"
           "  --pos P                      position for attribution / dla (default -1, the last)\n"
           "  --corrupted TEXT --answer TOKEN --wrong TOKEN --patch resid|heads   patching\n"
           "  --subject TEXT --answer TOKEN --samples N --noise X                causal_trace\n"
           "  --neurons 1,2,3 --top-k K --kind violin|histogram --bins N         neuron_*, feature_density\n"
           "  --title T --width W --height H --signed --unsigned --vmin V --vmax V --annotate\n"
           "  --set KEY=VALUE              any other spec field (VALUE read as JSON, else as text)\n"
           "  --spec JSON                  a whole spec object to start from\n"
           "  --data-out FILE              also write the plot's data (plain JSON)\n"
           "TOKEN is an id or a string that is one token of the folder's tokenizer (\" Paris\").\n\n"
           "examples:\n"
           "  arrakis plot attention ../shared/fixtures/models/gpt2 --tokens 5,6,7,8 --layer 0 --head 1 --out a.png\n"
           "  arrakis plot logit_lens MODEL_DIR --text \"The Eiffel Tower is in\" --out lens.svg\n"
           "  arrakis plot patching MODEL_DIR --text \"...\" --corrupted \"...\" --answer \" Paris\" --out p.png\n"
           "  arrakis tool attention MODEL_DIR --params '{\"text\": \"a b a b\"}' > r.json\n"
           "  arrakis plot attention_grid --from r.json --layer 0 --out grid.pdf\n"
           "  arrakis plot head_scores --from scores.json --out heads.png   # {\"matrix\": [[...]]}\n");
}

/* A token flag: a number when all digits, else the string. */
static cJSON *token_json(const char *s)
{
    long v;
    return cli_parse_int(s, &v) ? cJSON_CreateNumber(v) : cJSON_CreateString(s);
}

/* VALUE as JSON when it parses, else as a string. */
static cJSON *value_json(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    return j ? j : cJSON_CreateString(s);
}

static void set(cJSON *spec, const char *key, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(spec, key);
    cJSON_AddItemToObject(spec, key, v);
}

static void add_input(cJSON *spec, const char *key, cJSON *v)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!cJSON_IsArray(a)) {
        a = cJSON_CreateArray();
        set(spec, key, a);
    }
    cJSON_AddItemToArray(a, v);
}

/* --tokens-file: one JSON array of ids per line. */
static int tokens_file(cJSON *spec, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_error("plot", "--tokens-file %s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, rc = 0;
    while (getline(&line, &cap, f) > 0) {
        n++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        cJSON *row = cJSON_Parse(line);
        if (!cJSON_IsArray(row)) {
            cJSON_Delete(row);
            rc = cli_error("plot", "--tokens-file %s line %d: expected a JSON array of ids", path, n);
            break;
        }
        add_input(spec, "tokens", row);
    }
    free(line);
    fclose(f);
    return rc;
}

typedef struct plot_flag {
    const char *flag, *key;
    char kind; /* 's' string, 'i' integer JSON, 't' token, 'n' number, 'l' id list */
} plot_flag;

static const plot_flag flags[] = {
    {"--layer", "layer", 'n'}, {"--head", "head", 'n'}, {"--score", "score", 's'}, {"--mode", "mode", 's'},
    {"--target", "target", 't'}, {"--against", "against", 't'}, {"--pos", "pos", 'n'},
    {"--corrupted", "corrupted", 's'}, {"--answer", "answer", 't'}, {"--wrong", "wrong", 't'},
    {"--patch", "patch", 's'}, {"--subject", "subject", 's'}, {"--samples", "samples", 'n'},
    {"--noise", "noise", 'n'}, {"--neurons", "neurons", 'l'}, {"--top-k", "top_k", 'n'}, {"--kind", "kind", 's'},
    {"--bins", "bins", 'n'}, {"--title", "title", 's'}, {"--width", "width", 'n'}, {"--height", "height", 'n'},
    {"--vmin", "vmin", 'n'}, {"--vmax", "vmax", 'n'}, {"--seed", "seed", 'n'},
};

static int flag_value(cJSON *spec, const plot_flag *fl, const char *v)
{
    if (fl->kind == 's') set(spec, fl->key, cJSON_CreateString(v));
    else if (fl->kind == 't') set(spec, fl->key, token_json(v));
    else if (fl->kind == 'n') {
        char *end;
        double x = strtod(v, &end);
        if (end == v || *end) return cli_error("plot", "%s \"%s\": expected a number", fl->flag, v);
        set(spec, fl->key, cJSON_CreateNumber(x));
    } else {
        int32_t *ids;
        int n = cli_parse_ids("plot", v, &ids);
        if (n < 0) return 2;
        set(spec, fl->key, cJSON_CreateIntArray(ids, n));
        free(ids);
    }
    return 0;
}

typedef struct plot_args {
    const char *type, *dir, *from, *out, *data_out;
    cJSON *spec;
} plot_args;

static int parse_args(int argc, char **argv, plot_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool used = false;
        for (size_t k = 0; k < sizeof flags / sizeof flags[0] && !used; k++)
            if (cli_opt(argc, argv, &i, flags[k].flag, &v)) {
                if (!v) return 2;
                int rc = flag_value(a->spec, &flags[k], v);
                if (rc) return rc;
                used = true;
            }
        if (used) continue;
        if (cli_opt(argc, argv, &i, "--text", &v)) { if (!v) return 2; add_input(a->spec, "text", cJSON_CreateString(v)); }
        else if (cli_opt(argc, argv, &i, "--tokens", &v)) {
            if (!v) return 2;
            int32_t *ids;
            int n = cli_parse_ids("plot", v, &ids);
            if (n < 0) return 2;
            add_input(a->spec, "tokens", cJSON_CreateIntArray(ids, n));
            free(ids);
        } else if (cli_opt(argc, argv, &i, "--tokens-file", &v)) { if (!v || tokens_file(a->spec, v)) return 2; }
        else if (cli_opt(argc, argv, &i, "--from", &v)) { if (!v) return 2; a->from = v; }
        else if (cli_opt(argc, argv, &i, "--out", &v)) { if (!v) return 2; a->out = v; }
        else if (cli_opt(argc, argv, &i, "--data-out", &v)) { if (!v) return 2; a->data_out = v; }
        else if (cli_opt(argc, argv, &i, "--set", &v)) {
            if (!v) return 2;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) return cli_arg_error("plot", "--set \"%s\": expected KEY=VALUE", v);
            char *key = strndup(v, eq - v);
            set(a->spec, key, value_json(eq + 1));
            free(key);
        } else if (cli_opt(argc, argv, &i, "--spec", &v)) {
            if (!v) return 2;
            cJSON *s = cJSON_Parse(v);
            if (!cJSON_IsObject(s)) { cJSON_Delete(s); return cli_error("plot", "--spec: expected a JSON object"); }
            for (cJSON *it = s->child; it; it = it->next) set(a->spec, it->string, cJSON_Duplicate(it, 1));
            cJSON_Delete(s);
        } else if (cli_flag(argv, i, "--signed")) set(a->spec, "signed", cJSON_CreateTrue());
        else if (cli_flag(argv, i, "--unsigned")) set(a->spec, "signed", cJSON_CreateFalse());
        else if (cli_flag(argv, i, "--annotate")) set(a->spec, "annotate", cJSON_CreateTrue());
        else if (argv[i][0] == '-' && argv[i][1]) return cli_arg_error("plot", "unknown option %s", argv[i]);
        else if (!a->type) a->type = argv[i];
        else if (!a->dir) a->dir = argv[i];
        else return cli_arg_error("plot", "unexpected argument \"%s\"", argv[i]);
    }
    /* one --text / --tokens: a single row, not a list */
    const char *keys[] = {"text", "tokens"};
    for (int k = 0; k < 2; k++) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(a->spec, keys[k]);
        if (cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 1) set(a->spec, keys[k], cJSON_DetachItemFromArray(arr, 0));
    }
    return 0;
}

static void list_types(void)
{
    for (const char *const *t = ark_plot_types(); *t; t++) printf("%-20s %s\n", *t, ark_plot_type_summary(*t));
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return cli_error("plot", "--data-out %s: cannot open for writing", path);
    fputs(text, f);
    fputc('\n', f);
    return fclose(f) ? cli_error("plot", "--data-out %s: write failed", path) : 0;
}

/* The data: from --from, or a run of the model. */
static int plot_data(plot_args *a, const char *spec, char **data)
{
    if (a->from) {
        return ark_read_text(a->from, data, NULL) == ARK_OK ? 0 : cli_lib_error("plot", "--from");
    }
    cli_tool_ctx ctx;
    int rc = cli_tool_open("plot", a->dir, &ctx);
    if (!rc && ark_plot_collect(&ctx.env, spec, data) != ARK_OK) rc = cli_lib_error("plot", a->type);
    cli_tool_close(&ctx);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
        if (!strcmp(argv[i], "--list")) { list_types(); return 0; }
    }
    plot_args a = {0};
    a.spec = cJSON_CreateObject();
    int rc = parse_args(argc, argv, &a);
    if (!rc && !a.type) rc = cli_arg_error("plot", "missing TYPE (arrakis plot --list shows the types)");
    if (!rc && !ark_plot_type_summary(a.type)) rc = cli_error("plot", "unknown plot type \"%s\" (arrakis plot --list lists them)", a.type);
    if (!rc && !a.out) rc = cli_arg_error("plot", "missing --out FILE (.png, .svg or .pdf)");
    if (!rc && !a.from && !a.dir) rc = cli_arg_error("plot", "give MODEL_DIR (with --text or --tokens) or --from RESULT.json");
    if (!rc && a.from && a.dir) rc = cli_arg_error("plot", "give MODEL_DIR or --from, not both");
    if (!rc && a.dir && !cJSON_GetObjectItemCaseSensitive(a.spec, "text") && !cJSON_GetObjectItemCaseSensitive(a.spec, "tokens"))
        rc = cli_error("plot", "%s needs an input: --text TEXT, --tokens IDS or --tokens-file FILE", a.dir);
    char *spec = NULL, *data = NULL;
    if (!rc) {
        set(a.spec, "type", cJSON_CreateString(a.type));
        spec = cJSON_PrintUnformatted(a.spec);
        rc = plot_data(&a, spec, &data);
    }
    if (!rc && a.data_out) rc = write_text(a.data_out, data);
    int w = 0, h = 0;
    if (!rc && ark_plot_render_file(spec, data, a.out, &w, &h) != ARK_OK) rc = cli_lib_error("plot", a.out);
    if (!rc) printf("wrote %s (%d x %d)\n", a.out, w, h);
    free(spec);
    free(data);
    cJSON_Delete(a.spec);
    ark_plot_release();
    return rc;
}
