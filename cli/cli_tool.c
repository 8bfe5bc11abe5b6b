/* Commands built on tools: a model and its tokenizer as a tool environment,
 * inputs and TOKEN flags as JSON parameters, results back as JSON. */
#include "cli_tool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_process.h"

int cli_tool_open(const char *cmd, const char *dir, cli_tool_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    if (ark_model_open(dir, &ctx->model) != ARK_OK) return cli_lib_error(cmd, NULL);
    char *tok = malloc(strlen(dir) + 32);
    sprintf(tok, "%s/tokenizer.json", dir);
    int rc = 0;
    if (access(tok, R_OK) == 0 && ark_tokenizer_open(dir, &ctx->tokenizer) != ARK_OK) rc = cli_lib_error(cmd, "tokenizer");
    free(tok);
    ctx->env.model = ctx->model;
    ctx->env.tokenizer = ctx->tokenizer;
    return rc;
}

int cli_tool_call(const char *cmd, cli_tool_ctx *ctx, const char *tool, const char *op, const char *params, char **result)
{
    ark_tool *t;
    if (ark_tool_new(tool, &ctx->env, &t) != ARK_OK) return cli_lib_error(cmd, NULL);
    int rc = 0;
    if (ark_tool_run(t, op, params, result) != ARK_OK) rc = cli_lib_error(cmd, NULL);
    ark_tool_free(t);
    return rc;
}

void cli_tool_close(cli_tool_ctx *ctx)
{
    ark_tokenizer_free(ctx->tokenizer);
    ark_model_free(ctx->model);
}

/* The input rows as params "tokens": [[ids], ...] (text encoded with the
 * folder's tokenizer, with its special tokens).  0, or an exit code. */
int cli_tool_add_inputs(const char *cmd, const cli_inputs *in, const char *dir, const ark_model *m, cJSON *params)
{
    cli_batch batch;
    cli_vocab vocab = {0};
    int rc = cli_inputs_batch(in, cmd, dir, m, &batch, &vocab);
    if (!rc) {
        cJSON *rows = cJSON_AddArrayToObject(params, "tokens");
        for (int b = 0; b < batch.B; b++)
            cJSON_AddItemToArray(rows, cJSON_CreateIntArray(batch.tokens + (size_t)b * batch.T, batch.len[b]));
        cli_batch_free(&batch);
    }
    cli_vocab_free(&vocab);
    return rc;
}

/* Open the folder, apply --process, call tool/op with params, and hand back
 * the parsed result (*out, the caller deletes it); with --json print it as
 * the tool returned it instead (*out NULL).  0, or an exit code. */
int cli_tool_call_json(const char *cmd, const char *dir, unsigned process, const char *tool, const char *op,
                  const cli_inputs *in, cJSON *params, bool json, cJSON **out)
{
    *out = NULL;
    cli_tool_ctx ctx;
    int rc = cli_tool_open(cmd, dir, &ctx);
    if (!rc) rc = cli_apply_process(cmd, ctx.model, process);
    if (!rc && in) rc = cli_tool_add_inputs(cmd, in, dir, ctx.model, params);
    char *text = NULL, *ptext = rc ? NULL : cJSON_PrintUnformatted(params);
    if (!rc) rc = cli_tool_call(cmd, &ctx, tool, op, ptext, &text);
    if (!rc && json) printf("%s\n", text);
    else if (!rc && !(*out = cJSON_Parse(text))) rc = cli_error(cmd, "the %s tool returned unreadable JSON", tool);
    free(ptext);
    free(text);
    cli_tool_close(&ctx);
    return rc;
}

/* A TOKEN flag into params: an integer as a number (so that the tool
 * checks it as an id), anything else as a string (a one-token string). */
void cli_tool_add_token(cJSON *params, const char *key, const char *s)
{
    long id;
    if (cli_parse_int(s, &id)) cJSON_AddNumberToObject(params, key, (double)id);
    else cJSON_AddStringToObject(params, key, s);
}

/* A token of a result ({"id": 12, "token": " x"}) as 12 ' x' (width-padded). */
void cli_print_token(const cJSON *t, int width)
{
    const cJSON *id = cJSON_GetObjectItem(t, "id"), *s = cJSON_GetObjectItem(t, "token");
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", id ? id->valueint : -1);
    fputs(buf, stdout);
    if (cJSON_IsString(s)) { fputc(' ', stdout); cli_print_piece(stdout, s->valuestring, width - n - 1); }
    else for (; n < width; n++) fputc(' ', stdout);
}

double cli_json_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}


int cli_tool_add_data(const char *cmd, const char *data, const cli_inputs *in, const char *dir, const ark_model *m,
                      cJSON *params)
{
    if (data || in->tokens_file) {
        cJSON_AddStringToObject(params, "data", data ? data : in->tokens_file);
        return 0;
    }
    return cli_tool_add_inputs(cmd, in, dir, m, params);
}

double cli_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *cli_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}
