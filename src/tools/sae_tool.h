/* The superposition tool's operations, split over sae_tool.c (SAEs),
 * pca_tool.c (PCA) and toy_tool.c (the toy model). */
#ifndef ARK_TOOLS_SAE_TOOL_H
#define ARK_TOOLS_SAE_TOOL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "arrakis/tool.h"
#include "arrakis/tool_superposition.h"

ark_status sup_op_pca(const ark_tool_env *env, const cJSON *p, char **result);
ark_status sup_op_pca_interpolate(const ark_tool_env *env, const cJSON *p, char **result);
ark_status sup_op_toy(const ark_tool_env *env, const cJSON *p, char **result);
ark_status sup_op_sae_train(const ark_tool_env *env, const cJSON *p, char **result);
ark_status sup_op_sae_eval(const ark_tool_env *env, const cJSON *p, char **result);
ark_status sup_op_sae_features(const ark_tool_env *env, const cJSON *p, char **result);

/* A float32 matrix [N, d] from a safetensors file (the leading dimensions
 * flattened into N).  key NULL: the file's only tensor.  *x is valid while
 * *file is open; free *x when *owned. */
typedef struct sup_matrix {
    ark_st_file *file;
    float *x;
    bool owned;
    int64_t n;
    int d;
    char key[256];
} sup_matrix;
ark_status sup_matrix_open(const char *path, const char *key, sup_matrix *out);
void sup_matrix_close(sup_matrix *m);

/* Top examples (feature_viz) as JSON: {n_tokens, density, mean, max_act,
 * examples: [{act, prompt, pos, start, tokens, str_tokens, acts}]}. */
struct ark_viz_result;
cJSON *sup_viz_json(const ark_tool_env *env, const struct ark_viz_result *r);

/* SAE metrics as JSON. */
cJSON *sup_metrics_json(const ark_sae_metrics *mt, bool densities);

#endif
