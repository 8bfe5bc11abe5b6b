/* Shared pieces of the kg_extractor tool (src/tools/kg*.c). */
#ifndef ARK_TOOLS_KG_INTERNAL_H
#define ARK_TOOLS_KG_INTERNAL_H

#include <cjson/cJSON.h>

#include "arrakis/run.h"
#include "arrakis/tool_kg.h"
#include "tools/tool_util.h"

/* Encode text (with special tokens) into *ids with room for `extra` more
 * tokens; ids checked against the model's vocabulary. */
ark_status kg_encode(const ark_model *m, const ark_tokenizer *tok, const char *text, int extra, int32_t **ids, int *len);

/* Run B rows left-padded (every row ends at the last position). */
ark_status kg_run_left(ark_model *m, int32_t *const *rows, const int *lens, int B, const ark_plan *plan, ark_cache **out);

/* The causal-trace peak of every triple (its first prompt). */
ark_status kg_trace_all(ark_model *m, const ark_tokenizer *tok, const char *const *subjects, const ark_kg_opts *o, ark_kg *g);

/* The tool's operations. */
ark_status kg_op_extract(const ark_tool_env *env, const cJSON *p, char **result);
ark_status kg_op_heads(const ark_tool_env *env, const cJSON *p, char **result);
/* The extraction's result object (without DOT text and heads). */
cJSON *kg_result_json(const ark_tool_env *env, const ark_kg *g, const char *const *subjects, int n_subjects,
                      const ark_kg_relation *rels, int n_relations, const ark_kg_opts *o);
/* The heads' view as JSON (token strings through env's tokenizer). */
cJSON *kg_heads_json(const ark_tool_env *env, const ark_kg_head *h, int n);

#endif
