/* arrakis tool KEY [--op OP] --params '{...}' MODEL_DIR   |   arrakis tool --list */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_tool.h"

static void usage(void)
{
    printf("usage: arrakis tool KEY [--op OP] [--params JSON] MODEL_DIR\n"
           "       arrakis tool --list\n\n"
           "Run any tool through its generic entry point: parameters in as a JSON object, the result\n"
           "out as JSON.  --list prints every tool's key, summary and operations.\n\n"
           "example: arrakis tool logit_lens --params '{\"text\": \"The Eiffel Tower is in\", \"top_k\": 3}' MODEL_DIR\n");
}

static void list_tools(void)
{
    for (int i = 0; i < ark_tool_count(); i++) {
        const ark_tool_def *d = ark_tool_at(i);
        printf("%-14s %s\n", d->name, d->summary ? d->summary : "");
        for (const char *const *op = d->ops; op && *op; op++) printf("    %s\n", *op);
    }
}

int cmd_tool(int argc, char **argv)
{
    const char *key = NULL, *dir = NULL, *params = NULL, *op = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(); return 0; }
        if (cli_flag(argv, i, "--list")) { list_tools(); return 0; }
        if (cli_opt(argc, argv, &i, "--params", &v)) { if (!v) return 2; params = v; }
        else if (cli_opt(argc, argv, &i, "--op", &v)) { if (!v) return 2; op = v; }
        else if (argv[i][0] == '-') return cli_arg_error("tool", "unknown option %s", argv[i]);
        else if (!key) key = argv[i];
        else if (!dir) dir = argv[i];
        else return cli_arg_error("tool", "unexpected argument %s", argv[i]);
    }
    if (!key) return cli_arg_error("tool", "missing KEY, the tool to run (arrakis tool --list lists them)");
    if (!ark_tool_find(key)) {
        ark_tool *t;
        ark_tool_env env = {0};
        ark_tool_new(key, &env, &t);
        return cli_lib_error("tool", NULL);
    }
    if (!dir) return cli_arg_error("tool", "missing MODEL_DIR (usage: arrakis tool KEY [--op OP] --params JSON MODEL_DIR)");
    cli_tool_ctx ctx;
    int rc = cli_tool_open("tool", dir, &ctx);
    char *result = NULL;
    if (!rc) rc = cli_tool_call("tool", &ctx, key, op, params, &result);
    if (!rc) printf("%s\n", result);
    free(result);
    cli_tool_close(&ctx);
    return rc;
}
