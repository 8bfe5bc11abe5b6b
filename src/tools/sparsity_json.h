/* JSON helpers shared by the sparsity, superposition, feature_viz and
 * surgery tools: datasets and stream options from parameters, numbers that
 * may be NaN, examples. */
#ifndef ARK_TOOLS_SPARSITY_JSON_H
#define ARK_TOOLS_SPARSITY_JSON_H

#include <cjson/cJSON.h>

#include "arrakis/tool.h"
#include "arrakis/tool_sparsity.h"

/* The prompts of a call: "data" (a JSON-lines file, see ark_dataset_open)
 * or inline "text" / "tokens" (as tool_batch_from_json). */
ark_status sp_dataset_json(const ark_tool_env *env, const cJSON *p, ark_dataset **out);
/* batch_key (prompts per forward: "batch", or "batch_prompts" where
 * "batch" means something else), "max_len", "first", "max_prompts". */
ark_status sp_stream_json(const cJSON *p, const char *batch_key, ark_stream_opts *o);
/* A number, or null for NaN / infinities. */
cJSON *sp_num(double x);
cJSON *sp_doubles(const double *x, int n);
cJSON *sp_floats(const float *x, int n);
/* {"act", "prompt", "pos", "token", "str", "next"}. */
cJSON *sp_example_json(const ark_tool_env *env, const ark_example *e);
/* The model the op needs, or an error naming the op. */
ark_status sp_need_model(const ark_tool_env *env, const char *tool, const char *op);

#endif
