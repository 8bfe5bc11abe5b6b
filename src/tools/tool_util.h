/* Helpers shared by the tools' generic entry points: inputs from JSON
 * parameters, tokens given as ids or strings, JSON results. */
#ifndef ARK_TOOLS_UTIL_H
#define ARK_TOOLS_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "arrakis/run.h"
#include "arrakis/tool.h"

/* A right-padded batch of prompts (run.h's ark_batch). */
typedef ark_batch tool_batch;

/* params: {"text": "..." | ["...", ...]} (encoded with the tokenizer, with
 * its special tokens such as BOS) or {"tokens": [ids] | [[ids], ...]}.
 * Fails naming the field when neither is there or an id is out of range. */
ark_status tool_batch_from_json(const ark_tool_env *env, const cJSON *params, tool_batch *out);
/* A batch from rows of ids (copied). */
ark_status tool_batch_from_rows(const ark_tool_env *env, const int32_t *const *rows, const int *lens, int B, tool_batch *out);
void tool_batch_free(tool_batch *b);

/* A token given as an id (number) or as a string that is exactly one token
 * of the tokenizer (" Paris", "Ġworld"). */
ark_status tool_token(const ark_tool_env *env, const cJSON *v, const char *field, int32_t *id);
/* The display string of a token (TransformerLens to_str_tokens), or its id
 * as text without a tokenizer; malloc'd. */
char *tool_token_str(const ark_tool_env *env, int32_t id);
/* A JSON array of the display strings of ids. */
cJSON *tool_str_tokens(const ark_tool_env *env, const int32_t *ids, int n);

/* Typed getters; a present field of the wrong type is an error naming it. */
ark_status tool_get_int(const cJSON *params, const char *field, int dflt, int *out);
ark_status tool_get_num(const cJSON *params, const char *field, double dflt, double *out);
ark_status tool_get_bool(const cJSON *params, const char *field, bool dflt, bool *out);
ark_status tool_get_str(const cJSON *params, const char *field, const char *dflt, const char **out);
/* An array of ints ("heads": [1, 2]) into a fresh array; absent -> NULL, 0. */
ark_status tool_get_ints(const cJSON *params, const char *field, int **out, int *n);

/* Parse params text (NULL/"" = {}); error names the tool. */
ark_status tool_parse_params(const char *tool, const char *params, cJSON **out);
/* Print o as the result text and delete it. */
ark_status tool_result(cJSON *o, char **result);
/* A JSON matrix (array of arrays) of rows x cols floats. */
cJSON *tool_matrix(const float *data, int rows, int cols);

#endif
