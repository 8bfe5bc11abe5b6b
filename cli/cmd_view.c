/* arrakis view attention|lens|tokens MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file F) [options] --out FILE.html
 * arrakis view attention|lens|tokens --from DATA.json --out FILE.html
 *
 * A self-contained interactive HTML page (include/arrakis/plot.h: ark_view_collect,
 * ark_view_render): styles, script and data inlined, nothing fetched. */
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
    printf("usage: arrakis view attention|lens|tokens MODEL_DIR (--text TEXT | --tokens IDS | --tokens-file FILE)\n"
           "                   [--layer L] [--top-k K] [--values SPEC] [--title T] --out FILE.html\n"
           "       arrakis view attention|lens|tokens --from DATA.json --out FILE.html\n\n"
           "Write a self-contained HTML page (no network: styles, script and data inlined) that opens from\n"
           "disk in a browser:\n"
           "  attention  the heads of --layer L (default: every layer, with a menu) as thumbnails; hover a token\n"
           "             to see what it attends to and what attends to it; click a head to enlarge it\n"
           "  lens       the logit lens as a table (layers x positions, top token coloured by probability);\n"
           "             hover a cell for its --top-k K tokens (default 5)\n"
           "  tokens     the text coloured by a value per token, hover for the value.  --values:\n"
           "               logprob (default)        log p(next token) at each position\n"
           "               hook:NAME[:INDEX]        a hook point per position, e.g. hook:blocks.0.mlp.hook_post:17\n"
           "                                        (no INDEX: the value of a [b,p,1] hook, else the norm)\n"
           "               dla:TOKEN[:COMPONENT]    direct logit attribution to TOKEN (of one component: L1H3,\n"
           "                                        0_mlp_out, embed; default: all of them)\n"
           "Only the first --text/--tokens row is shown.  --from reads the view's data (docs/plots.md).\n\n"
           "examples:\n"
           "  arrakis view attention models/induction-words --text \"a red fox . a red fox\" --out a.html\n"
           "  arrakis view lens MODEL_DIR --text \"Gaishar Tastei lives in\" --out lens.html\n"
           "  arrakis view tokens MODEL_DIR --text \"...\" --values dla:Prague --out dla.html\n");
}

typedef struct view_args {
    const char *kind, *dir, *from, *out, *title;
    cJSON *spec;
    int n_inputs;
} view_args;

static int parse_args(int argc, char **argv, view_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "--text", &v)) {
            if (!v) return 2;
            if (!a->n_inputs++) cJSON_AddStringToObject(a->spec, "text", v);
        } else if (cli_opt(argc, argv, &i, "--tokens", &v)) {
            if (!v) return 2;
            int32_t *ids;
            int n = cli_parse_ids("view", v, &ids);
            if (n < 0) return 2;
            if (!a->n_inputs++) cJSON_AddItemToObject(a->spec, "tokens", cJSON_CreateIntArray(ids, n));
            free(ids);
        } else if (cli_opt(argc, argv, &i, "--tokens-file", &v)) {
            if (!v) return 2;
            char *text;
            if (ark_read_text(v, &text, NULL) != ARK_OK) return cli_lib_error("view", "--tokens-file");
            char *nl = strchr(text, '\n');
            if (nl) *nl = 0;
            cJSON *row = cJSON_Parse(text);
            free(text);
            if (!cJSON_IsArray(row)) { cJSON_Delete(row); return cli_error("view", "--tokens-file %s: line 1 is not a JSON array of ids", v); }
            if (!a->n_inputs++) cJSON_AddItemToObject(a->spec, "tokens", row);
            else cJSON_Delete(row);
        } else if (cli_opt(argc, argv, &i, "--layer", &v)) {
            long l;
            if (!v) return 2;
            if (!cli_parse_int(v, &l)) return cli_arg_error("view", "--layer \"%s\": expected an integer", v);
            cJSON_AddNumberToObject(a->spec, "layer", l);
        } else if (cli_opt(argc, argv, &i, "--top-k", &v)) {
            long k;
            if (!v) return 2;
            if (!cli_parse_int(v, &k) || k < 1) return cli_arg_error("view", "--top-k \"%s\": expected an integer >= 1", v);
            cJSON_AddNumberToObject(a->spec, "top_k", k);
        } else if (cli_opt(argc, argv, &i, "--values", &v)) { if (!v) return 2; cJSON_AddStringToObject(a->spec, "values", v); }
        else if (cli_opt(argc, argv, &i, "--title", &v)) { if (!v) return 2; a->title = v; }
        else if (cli_opt(argc, argv, &i, "--from", &v)) { if (!v) return 2; a->from = v; }
        else if (cli_opt(argc, argv, &i, "--out", &v)) { if (!v) return 2; a->out = v; }
        else if (argv[i][0] == '-' && argv[i][1]) return cli_arg_error("view", "unknown option %s", argv[i]);
        else if (!a->kind) a->kind = argv[i];
        else if (!a->dir) a->dir = argv[i];
        else return cli_arg_error("view", "unexpected argument \"%s\"", argv[i]);
    }
    return 0;
}

static int check_args(const view_args *a)
{
    if (!a->kind) return cli_arg_error("view", "missing the view: attention, lens or tokens");
    if (strcmp(a->kind, "attention") && strcmp(a->kind, "lens") && strcmp(a->kind, "tokens"))
        return cli_arg_error("view", "unknown view \"%s\": expected attention, lens or tokens", a->kind);
    if (!a->out) return cli_arg_error("view", "missing --out FILE.html");
    if (!a->from && !a->dir) return cli_arg_error("view", "give MODEL_DIR (with --text or --tokens) or --from DATA.json");
    if (a->from && a->dir) return cli_arg_error("view", "give MODEL_DIR or --from, not both");
    if (a->dir && !a->n_inputs) return cli_error("view", "%s needs an input: --text TEXT, --tokens IDS or --tokens-file FILE", a->dir);
    return 0;
}

int cmd_view(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
    view_args a = {0};
    a.spec = cJSON_CreateObject();
    int rc = parse_args(argc, argv, &a);
    if (!rc) rc = check_args(&a);
    char *data = NULL;
    if (!rc && a.from && ark_read_text(a.from, &data, NULL) != ARK_OK) rc = cli_lib_error("view", "--from");
    if (!rc && !a.from) {
        cli_tool_ctx ctx;
        rc = cli_tool_open("view", a.dir, &ctx);
        char *spec = cJSON_PrintUnformatted(a.spec);
        if (!rc && ark_view_collect(&ctx.env, a.kind, spec, &data) != ARK_OK) rc = cli_lib_error("view", a.kind);
        cli_tool_close(&ctx);
        free(spec);
    }
    if (!rc && a.title) {
        cJSON *d = cJSON_Parse(data);
        if (cJSON_IsObject(d)) {
            cJSON_DeleteItemFromObjectCaseSensitive(d, "title");
            cJSON_AddStringToObject(d, "title", a.title);
            free(data);
            data = cJSON_PrintUnformatted(d);
        }
        cJSON_Delete(d);
    }
    if (!rc && ark_view_render(a.kind, data, a.out) != ARK_OK) rc = cli_lib_error("view", a.out);
    if (!rc) printf("wrote %s\n", a.out);
    free(data);
    cJSON_Delete(a.spec);
    return rc;
}
