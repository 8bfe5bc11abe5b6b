/* The knowledge tool's JSON side (src/tools/knowledge*.c): examples read
 * from files or parameters, the probing site, and the two operations. */
#ifndef ARK_TOOLS_KNOWLEDGE_INTERNAL_H
#define ARK_TOOLS_KNOWLEDGE_INTERNAL_H

#include <cjson/cJSON.h>

#include "arrakis/tool_knowledge.h"
#include "tools/tool_util.h"

/* Where activations are read: hook, layers, position (from params). */
typedef struct kn_site {
    const char *hook;
    int *layers, n_layers; /* NULL: every block */
    ark_probe_pos pos;
    char pos_desc[64];
} kn_site;

ark_status kn_site_json(const ark_tool_env *env, const cJSON *p, kn_site *site);
void kn_site_free(kn_site *site);

/* Token rows of texts (with the tokenizer's special tokens). */
typedef struct kn_rows {
    int n;
    int32_t **ids;
    int *len;
} kn_rows;

ark_status kn_rows_add_text(const ark_tool_env *env, kn_rows *r, const char *text, int line);
ark_status kn_rows_add_tokens(const ark_tool_env *env, kn_rows *r, const cJSON *tokens, int line);
void kn_rows_free(kn_rows *r);

/* The JSON lines of params[field_file] (a path) or the array
 * params[field_inline]; *items is an array of objects (caller deletes). */
ark_status kn_items_json(const cJSON *p, const char *field_file, const char *field_inline, cJSON **items);

/* A JSON number, or null when not finite. */
void kn_add_num(cJSON *o, const char *key, double v);

ark_status kn_op_probe(const ark_tool_env *env, const cJSON *p, char **result);
ark_status kn_op_truth(const ark_tool_env *env, const cJSON *p, char **result);

#endif
