/* Commands built on tools: open a model (and its tokenizer) as a tool
 * environment, call a tool's generic entry point. */
#ifndef ARK_CLI_TOOL_H
#define ARK_CLI_TOOL_H

#include "arrakis/arrakis.h"
#include "arrakis/tool.h"
#include "cli_input.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef struct cli_tool_ctx {
    ark_model *model;
    ark_tokenizer *tokenizer;
    ark_tool_env env;
} cli_tool_ctx;

/* 0, or an exit code after reporting. */
int cli_tool_open(const char *cmd, const char *dir, cli_tool_ctx *ctx);
int cli_tool_call(const char *cmd, cli_tool_ctx *ctx, const char *tool, const char *op, const char *params, char **result);
void cli_tool_close(cli_tool_ctx *ctx);

/* The input rows as params "tokens": [[ids], ...] (text encoded with the
 * folder's tokenizer, with its special tokens).  0, or an exit code. */
int cli_tool_add_inputs(const char *cmd, const cli_inputs *in, const char *dir, const ark_model *m, cJSON *params);
/* The data of a dataset tool (sparsity, pca): "data": FILE from --data or
 * --tokens-file, else the input rows as cli_tool_add_inputs gives them. */
int cli_tool_add_data(const char *cmd, const char *data, const cli_inputs *in, const char *dir, const ark_model *m,
                      cJSON *params);
/* A result's number field, NAN when it is absent or not a number; a text
 * field, "" when absent. */
double cli_num(const cJSON *o, const char *key);
const char *cli_str(const cJSON *o, const char *key);
/* Open the folder, apply --process, add the inputs (when `in`), call
 * tool/op with params, and hand back the parsed result (*out, the caller
 * deletes it); with json, print the tool's text instead (*out NULL).
 * 0, or an exit code. */
int cli_tool_call_json(const char *cmd, const char *dir, unsigned process, const char *tool, const char *op,
                       const cli_inputs *in, cJSON *params, bool json, cJSON **out);
/* A TOKEN flag into params: an integer as a number (checked as an id),
 * anything else as a string (a one-token string). */
void cli_tool_add_token(cJSON *params, const char *key, const char *s);
/* A result token ({"id": 12, "token": " x"}) as 12 ' x', padded to width. */
void cli_print_token(const cJSON *t, int width);
/* A number field of a JSON object (0 when absent). */
double cli_json_num(const cJSON *o, const char *key);

#endif
