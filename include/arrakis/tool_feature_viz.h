/* Feature visualisation: the top activating examples of a neuron, an SAE
 * feature or a direction, with their contexts and the unit's activation on
 * every context token; and the interpolation between two neurons' output
 * directions, written into the residual stream, with its effect on the
 * logits.  The tool "feature_viz" (src/tools/feature_viz_tool.c) and
 * `arrakis sae features` are built on these; docs/tools/feature_viz.md. */
#ifndef ARRAKIS_TOOL_FEATURE_VIZ_H
#define ARRAKIS_TOOL_FEATURE_VIZ_H

#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/tool_sparsity.h"
#include "arrakis/tool_superposition.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A unit and its activation a(x) on a token whose activation at the hook
 * point is x (width values):
 *   neuron     a = x[index]                 (e.g. hook_post of an MLP)
 *   SAE        a = f_index(x)               (the SAE's feature; its hook_name
 *                                            is the hook point)
 *   direction  a = x . direction            (give a unit vector for a
 *                                            projection) */
typedef enum { ARK_VIZ_NEURON, ARK_VIZ_SAE_FEATURE, ARK_VIZ_DIRECTION } ark_viz_kind;

typedef struct ark_viz_unit {
    ark_viz_kind kind;
    const char *hook;         /* neuron, direction: the hook point (ignored for SAE features) */
    int index;                /* neuron index, or SAE feature index */
    const ark_sae *sae;       /* SAE feature */
    const float *direction;   /* (width) direction */
} ark_viz_unit;

typedef struct ark_viz_example {
    float act;                /* a at (prompt, pos) */
    int prompt, pos;
    int start, n;             /* the context: positions [start, start + n) of the prompt */
    int32_t *tokens;          /* (n) */
    float *acts;              /* (n) a on each context token */
} ark_viz_example;

typedef struct ark_viz_result {
    ark_viz_example *ex;      /* best first: a desc, then prompt, then position */
    int n;
    int64_t n_tokens;
    double density;           /* fraction of tokens with a > 0 */
    double mean;              /* mean of a */
    float max_act;
} ark_viz_result;

/* The k tokens of the dataset with the largest a (one pass, a min-heap, ties
 * to the earlier (prompt, position)), each with the `before` tokens before
 * it and `after` tokens after it (cut at the prompt's ends) and a on each. */
ark_status ark_viz_top_examples(ark_model *m, const ark_dataset *d, const ark_viz_unit *u, const ark_stream_opts *so,
                                int k, int before, int after, ark_viz_result *out);
void ark_viz_result_free(ark_viz_result *r);

/* Interpolating two neurons' output directions.  w1 = W_out[layer1, n1],
 * w2 = W_out[layer2, n2] (rows of W_out, (d_model)), and for t in
 * alpha[s] = s / (n_steps - 1):
 *   v(t) = (1 - t) w1 + t w2
 * is added, times `scale`, to blocks.write_layer.hook_resid_post at
 * position pos of the prompt (negative: from the end); the logits at that
 * position are read for the tracked tokens (the union of the top `top`
 * tokens at t = 0 and at t = 1, plus those at the unmodified run).  All
 * n_steps runs go through the model as one batch. */
typedef struct ark_viz_interp {
    int n_steps;
    float *alpha;         /* (n_steps) */
    int n_tokens;
    int32_t *tokens;      /* (n_tokens) tracked tokens */
    float *logits;        /* (n_steps, n_tokens) */
    float *base;          /* (n_tokens) logits of the unmodified run */
    int32_t *top;         /* (n_steps) the argmax token at each step */
    double cos_w1_w2;     /* cosine between the two output directions */
} ark_viz_interp;

ark_status ark_viz_interpolate_neurons(ark_model *m, const int32_t *ids, int len, int layer1, int n1, int layer2, int n2,
                                       int write_layer, int pos, float scale, int n_steps, int top, ark_viz_interp *out);
void ark_viz_interp_free(ark_viz_interp *r);

#ifdef __cplusplus
}
#endif
#endif
