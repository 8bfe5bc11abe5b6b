/* Helpers shared by the logit_lens, logit, decomposer and residual tools
 * (src/tools/logit_lens.c, logit_attr.c, decomposer*.c, residual.c): hook
 * lists, one-row runs, unembedding columns, JSON pieces. */
#ifndef ARK_TOOLS_LOGIT_LENS_COMMON_H
#define ARK_TOOLS_LOGIT_LENS_COMMON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "arrakis/analysis.h"
#include "arrakis/tool.h"
#include "tools/tool_util.h"

/* A growing list of distinct hook names. */
typedef struct lc_names {
    int n, cap;
    char **v;
} lc_names;

/* Add a name (skipped when already there) / every name of a NULL-terminated
 * block from ark_analysis_hooks (freed here, even on failure). */
ark_status lc_names_add(lc_names *l, const char *name);
ark_status lc_names_add_block(lc_names *l, char **block);
/* The analysis' hooks with options o, added to l. */
ark_status lc_names_add_analysis(lc_names *l, const ark_model *m, ark_analysis kind, const ark_resid_opts *o);
/* Pack into one malloc'd NULL-terminated block (as ark_analysis_hooks) and
 * empty the list. */
ark_status lc_names_pack(lc_names *l, char ***out);
void lc_names_free(lc_names *l);

/* A plan keeping every name of a NULL-terminated block (freed here). */
ark_status lc_plan_from(const ark_model *m, char **names, ark_plan **out);

/* Resolve a position (negative from the end) against T; error names `field`. */
ark_status lc_resolve_pos(int pos, int T, const char *field, int *out);

/* Columns of the unembedding: W_U[:, t] (d) and mean_v W_U[:, v] (d, in
 * double), b_U[t] and mean_v b_U[v] (0 without b_U). */
void lc_unembed_col(const ark_model *m, int32_t t, float *out);
void lc_unembed_mean(const ark_model *m, double *out);
float lc_unembed_bias(const ark_model *m, int32_t t);
double lc_unembed_bias_mean(const ark_model *m);

/* {"id": 12, "token": " Paris"} (the string only with a tokenizer). */
cJSON *lc_token_json(const ark_tool_env *env, int32_t id);
/* A JSON array of n floats (non-finite values as null). */
cJSON *lc_floats(const float *v, int n);

#endif
