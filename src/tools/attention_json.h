/* The attention tool's JSON operations (src/tools/attention.c and
 * attention_ops.c). */
#ifndef ARK_TOOLS_ATTENTION_JSON_H
#define ARK_TOOLS_ATTENTION_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "arrakis/tool.h"
#include "arrakis/tool_attention.h"
#include "tools/tool_util.h"

/* The input rows: "text" / "tokens", or "repeat_random" rows generated here. */
typedef struct attn_input {
    tool_batch batch;
    ark_attn_input in;     /* a view of batch */
    bool repeat;           /* rows from repeat_random */
    ark_repeat_spec spec;
} attn_input;

ark_status attn_input_json(const ark_tool_env *env, const cJSON *p, attn_input *in);
void attn_input_free(attn_input *in);
/* "period" / "prefix" (defaults: the random rows' structure, else 0 = infer). */
ark_status attn_structure_json(const cJSON *p, const attn_input *in, int *prefix, int *period);
/* The rows' ids as a JSON list of lists. */
cJSON *attn_rows_json(const ark_tool_env *env, const attn_input *in);

ark_status attn_op_patterns(const ark_tool_env *env, const cJSON *p, char **result);
ark_status attn_op_top_attended(const ark_tool_env *env, const cJSON *p, char **result);
ark_status attn_op_detect(const ark_tool_env *env, const cJSON *p, char **result);
ark_status attn_op_ablation(const ark_tool_env *env, const cJSON *p, char **result);

#endif
