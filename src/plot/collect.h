/* Collecting a plot's (or view's) plain data from a model run: the input,
 * runs of its first row, option getters.  Shared by collect*.c and view.c. */
#ifndef ARK_PLOT_COLLECT_H
#define ARK_PLOT_COLLECT_H

#include <cjson/cJSON.h>

#include "arrakis/arrakis.h"
#include "tools/tool_util.h"

typedef struct pl_input {
    tool_batch batch;   /* every row, right-padded */
    const int32_t *ids; /* row 0's real tokens */
    int n;              /* how many */
    cJSON *tokens;      /* row 0's display strings (a JSON array) */
} pl_input;

/* The spec's "text" / "tokens" (tool_util.h's forms). */
ark_status pl_input_of(const ark_tool_env *env, const cJSON *spec, pl_input *in);
void pl_input_free(pl_input *in);

/* Run row 0 (unpadded) with plan; stop before block `stop` (-1: to the
 * logits). */
ark_status pl_run_row0(const ark_tool_env *env, const pl_input *in, const ark_plan *plan, int stop, ark_cache **out);

/* A layer option (negative counts from the end), default dflt. */
ark_status pl_get_layer(const ark_tool_env *env, const cJSON *spec, const char *key, int dflt, int *out);
/* A head option in [0, n_heads). */
ark_status pl_get_head(const ark_tool_env *env, const cJSON *spec, int *out);
/* A position option of row 0 (negative from the end), default -1. */
ark_status pl_get_pos(const cJSON *spec, int n, int *out);
/* A token option (id or one-token string); *out -1 when absent. */
ark_status pl_get_token(const ark_tool_env *env, const cJSON *spec, const char *key, int32_t *out);
/* The top prediction of logits (vocab). */
int32_t pl_argmax(const float *logits, int vocab);
/* A token's display string as a fresh JSON string. */
cJSON *pl_token_json(const ark_tool_env *env, int32_t id);
/* Labels "L0H0", ... (L x H) or "L3N17". */
cJSON *pl_head_labels(int L, int H);

/* Add a (rows, cols) float matrix (NaN → null) to o under key. */
void pl_add_matrix(cJSON *o, const char *key, const float *v, int rows, int cols);

/* The collectors (collect.c, collect_more.c, collect_patch.c): each fills
 * the plain data object `out`. */
typedef ark_status (*pl_collect_fn)(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_attention(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_attention_grid(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_qk(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_head_scores(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_composition(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_patching(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_causal_trace(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_logit_lens(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_attribution(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_residual(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_layer_norms(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_neuron_activation(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_neuron_trajectories(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);
ark_status pl_collect_feature_density(const ark_tool_env *env, const cJSON *spec, const pl_input *in, cJSON *out);

/* The logit lens of row 0 (own-scale, nostalgebraist): per point and
 * position, the top-k tokens and probabilities.  ids / probs (npts, n, k);
 * labels: npts malloc'd strings.  Shared with the lens view. */
typedef struct pl_lens {
    int npts, n, k;
    char **labels;
    int32_t *ids;
    float *probs;
} pl_lens;
ark_status pl_lens_compute(const ark_tool_env *env, const pl_input *in, int k, pl_lens *out);
void pl_lens_free(pl_lens *l);

/* The tokens view's values (view_values.c): v (n) for row 0 and a label. */
ark_status pl_view_token_values(const ark_tool_env *env, const char *spec_values, const pl_input *in, float *v,
                                char *label, size_t cap);

#endif
