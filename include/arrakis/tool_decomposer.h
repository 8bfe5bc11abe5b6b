/* The decomposer: the residual stream at one layer and position as labelled
 * parts that sum to it, projected onto a direction; and the singular
 * directions of a head's OV / QK circuit or of an MLP's weights read out as
 * tokens (TransformerLens' SVDInterpreter; Millidge & Black, "The Singular
 * Value Decompositions of Transformer Weight Matrices are Highly
 * Interpretable", 2022).
 *
 * ---- projections ----
 *
 * The parts are those of analysis.h's ark_decompose_resid (embeddings, each
 * block's attention and MLP output, optionally per head and per neuron with
 * their biases).  For a direction u (d) and a part c (d),
 *
 *   dot(c, u)        = c . u
 *   projection(c, u) = c . u / ||u||      (the signed length of c along u)
 *
 * both linear, so the parts' values sum to those of the residual stream.  A
 * direction is a token's unembedding column W_U[:, t] (minus W_U[:, t'],
 * ark_unembed_direction): then dot(c, u) is what c adds to the logit of t
 * with the final norm left out (the norm-free cousin of tool_logit.h's
 * attribution) — or any vector (ark_direction_load).
 *
 * ---- singular directions ----
 *
 * Each circuit is a matrix M = U diag(S) V^T (thin SVD, S descending, r
 * values):
 *
 *   ARK_SVD_OV       M = W_V[l, kv(h)] W_O[l, h]    (d x d, rank <= d_head;
 *                    TransformerLens model.OV / SVDInterpreter "OV").  A source
 *                    residual x makes the head write x M: U's columns are the
 *                    directions it reads, V's the directions it writes.
 *   ARK_SVD_QK       M = W_Q[l, h] W_K[l, kv(h)]^T  (d x d; TransformerLens
 *                    model.QK): x_q M x_k^T is the (unscaled, bias- and
 *                    rotary-free) score; U's columns are query-side
 *                    directions, V's key-side.
 *   ARK_SVD_MLP_IN   M = W_in[l]^T diag(w)           (d_mlp x d; SVDInterpreter
 *                    "w_in"): w the effective weight of the norm that reads
 *                    the MLP's input (ln2, or ln1 in a one-norm parallel
 *                    block; 1 after fold-ln processing).  V's columns are
 *                    residual directions the MLP reads, U's are over neurons.
 *                    For gated MLPs W_in is the up (linear) branch, as in
 *                    TransformerLens.
 *   ARK_SVD_MLP_OUT  M = W_out[l]                    (d_mlp x d; "w_out"):
 *                    V's columns are residual directions the MLP writes.
 *
 * grouped-query heads: query head h uses kv head h / (n_heads / n_kv_heads).
 * Weights as the model holds them (raw Hugging Face weights, i.e.
 * TransformerLens with fold_ln=False, unless ark_model_process ran).
 *
 * A direction is read out as tokens (SVDInterpreter's
 * _get_singular_vectors_from_matrix) through
 *
 *   ARK_READ_UNEMBED  values[t] = v . W_U[:, t]   (default; TransformerLens)
 *   ARK_READ_EMBED    values[t] = v . W_E[t, :]   (which tokens' embeddings
 *                                                  point along v)
 *
 * Singular vectors have no intrinsic sign; each pair (U[:, i], V[:, i]) is
 * flipped together so that V[:, i]'s entry of largest |value| is positive
 * (the product M is unchanged). */
#ifndef ARRAKIS_TOOL_DECOMPOSER_H
#define ARRAKIS_TOOL_DECOMPOSER_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/analysis.h"
#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- projections ---- */

/* u (d, caller-owned) = W_U[:, token] (- W_U[:, against] when against >= 0). */
ark_status ark_unembed_direction(const ark_model *m, int32_t token, int32_t against, float *u);

/* A direction of d floats from a file, into u (d, caller-owned):
 *   *.safetensors  the tensor named `key` (NULL: the file's only tensor, or
 *                  its first when it has several) of d elements (any shape);
 *   anything else  text: d numbers, as a JSON array or separated by white
 *                  space or commas.
 * Errors name the file and say what was found (count, key). */
ark_status ark_direction_load(const char *path, const char *key, int d, float *u);

/* out (n, B, P) = s[i, b, p, :] . u for every part, row and kept position;
 * out->data is malloc'd (free()).  Divide by ||u|| for projections. */
ark_status ark_stack_dot(const ark_stack *s, const float *u, ark_tensor *out);

/* ---- singular directions ---- */

typedef enum ark_svd_circuit {
    ARK_SVD_OV = 0,
    ARK_SVD_QK,
    ARK_SVD_MLP_IN,
    ARK_SVD_MLP_OUT
} ark_svd_circuit;

/* "ov", "qk", "mlp-in", "mlp-out" (NULL out of range), and back. */
const char *ark_svd_circuit_name(ark_svd_circuit k);
ark_status ark_svd_circuit_parse(const char *name, ark_svd_circuit *out);

typedef enum ark_svd_readout {
    ARK_READ_UNEMBED = 0,
    ARK_READ_EMBED
} ark_svd_readout;

typedef struct ark_svd {
    ark_svd_circuit kind;
    int layer, head;    /* head -1 for the MLP circuits */
    int rows, cols;     /* M is rows x cols (d x d, or d_mlp x d) */
    int r;              /* singular values: min(rows, cols, inner dimension) */
    float *S;           /* (r) descending */
    float *U;           /* (rows, r) left singular vectors as columns */
    float *V;           /* (cols, r) right singular vectors as columns */
} ark_svd;

/* The SVD of circuit `kind` of block `layer` (negative: from the end) and
 * query head `head` (OV, QK; ignored for the MLP circuits).  Free with
 * ark_svd_free. */
ark_status ark_circuit_svd(const ark_model *m, ark_svd_circuit kind, int layer, int head, ark_svd **out);
void ark_svd_free(ark_svd *s);

/* A residual direction v (d) read out over the vocabulary into values (vocab,
 * caller-owned), as defined above. */
ark_status ark_direction_readout(const ark_model *m, const float *v, ark_svd_readout how, float *values);

#ifdef __cplusplus
}
#endif
#endif
