/* Commands built on tools: open a model (and its tokenizer) as a tool
 * environment, call a tool's generic entry point. */
#ifndef ARK_CLI_TOOL_H
#define ARK_CLI_TOOL_H

#include "arrakis/arrakis.h"
#include "arrakis/tool.h"

typedef struct cli_tool_ctx {
    ark_model *model;
    ark_tokenizer *tokenizer;
    ark_tool_env env;
} cli_tool_ctx;

/* 0, or an exit code after reporting. */
int cli_tool_open(const char *cmd, const char *dir, cli_tool_ctx *ctx);
int cli_tool_call(const char *cmd, cli_tool_ctx *ctx, const char *tool, const char *op, const char *params, char **result);
void cli_tool_close(cli_tool_ctx *ctx);

#endif
