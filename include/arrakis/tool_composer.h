/* The composer tool: how attention heads compose (tool key "composer").
 *
 * Definitions (N. Elhage et al., "A Mathematical Framework for Transformer
 * Circuits", Transformer Circuits Thread, 2021, section "Composition";
 * TransformerLens' HookedTransformer.all_composition_scores and
 * utils.composition_scores).  Orientation is TransformerLens' x @ W
 * (factored.h): for head h of layer l
 *
 *   OV_h = W_V[l, kv(h)] W_O[l, h]           (d, d) through d_head: x @ OV_h is
 *                                            what the head writes for a source
 *                                            residual x
 *   QK_h = W_Q[l, h] W_K[l, kv(h)]^T         (d, d): x_q @ QK_h @ x_k^T is the
 *                                            (unscaled) attention score
 *
 * kv(h) = h / (n_heads / n_kv_heads) (grouped-query attention).  For a
 * writing head A in layer la and a reading head B in layer lb > la, with the
 * reader's circuit R_B chosen by the mode:
 *
 *   Q-composition  R_B = QK_B      A's output feeds B's queries:
 *                                  (x OV_A) QK_B y^T
 *   K-composition  R_B = QK_B^T    A's output feeds B's keys:
 *                                  y QK_B (x OV_A)^T = (x OV_A) QK_B^T y^T
 *   V-composition  R_B = OV_B      A's output feeds B's values:
 *                                  (x OV_A) OV_B
 *
 *   score(A, B) = ||OV_A R_B||_F / (||OV_A||_F ||R_B||_F)        in [0, 1]
 *
 * exactly TransformerLens' all_composition_scores(mode) (left = model.OV,
 * right = model.QK, model.QK.T or model.OV); the paper writes the same
 * quantities in its column-vector orientation (||W_QK^T W_OV|| for Q,
 * ||W_QK W_OV|| for K, ||W_OV W_OV|| for V), which have the same norms.
 * A score is 0 for pairs with lb <= la (the reader cannot see the writer),
 * and 0 when a norm in the denominator is 0.
 *
 * Nothing d x d is formed: with OV_A = W_V^A W_O^A and R_B = F_B N_B
 * (F_B = W_Q^B, W_K^B or W_V^B, N_B = W_K^B^T, W_Q^B^T or W_O^B for Q, K, V)
 * and (dh, dh) square roots R_A^T R_A = W_V^A^T W_V^A, R_B^T R_B = N_B N_B^T,
 *
 *   ||OV_A R_B||_F = ||(R_A W_O^A) (F_B R_B^T)||_F        a (dh, dh) product
 *
 * in double precision.  Biases, rotary embeddings and norms are not part of
 * the circuits: the scores read the weights as they are, so a model's
 * LayerNorm/RMSNorm scale sits between the writer and the reader unless it
 * is folded in first.  TransformerLens computes on processed weights
 * (from_pretrained's fold_ln and center_writing_weights);
 * ark_composer_process() does the same to the model, and the tool does it
 * only when asked ("process": true), since it changes the model in place.
 *
 * Chance level: for Gaussian factors of the same shapes (every entry iid
 * N(0, 1); the score is scale-free, so the variance does not matter) the
 * score concentrates near 1/sqrt(d) for d_head << d.  ark_composer_baseline
 * samples it; a pair's z = (score - mean) / std and ratio = score / mean say
 * how far above chance it is. */
#ifndef ARRAKIS_TOOL_COMPOSER_H
#define ARRAKIS_TOOL_COMPOSER_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/factored.h"
#include "arrakis/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ark_comp_mode { ARK_COMP_Q, ARK_COMP_K, ARK_COMP_V } ark_comp_mode;

/* "q", "k", "v" (NULL out of range); parse one of them (case-insensitive). */
const char *ark_comp_mode_name(ark_comp_mode mode);
ark_status ark_comp_mode_parse(const char *s, ark_comp_mode *out);

/* Fold each norm into the weights that read it (ARK_PROCESS_FOLD_LN) and,
 * for LayerNorm models, centre the writing weights
 * (ARK_PROCESS_CENTER_WRITING): the weights TransformerLens' composition
 * scores are computed on.  Modifies the model in place (weights.h:
 * ark_model_process); steps already applied are skipped. */
ark_status ark_composer_process(ark_model *m);

/* The score of one pair: writer (la, ha), reader (lb, hb).  0 when lb <= la.
 * Errors name the layer or head out of range. */
ark_status ark_composition_score(const ark_model *m, ark_comp_mode mode, int la, int ha, int lb, int hb,
                                 double *out);

/* Every pair at once: out (L, H, L, H) row-major, out[la, ha, lb, hb] the
 * score of writer (la, ha) into reader (lb, hb); 0 where lb <= la
 * (TransformerLens' layout and mask).  out: L*H*L*H floats, caller-owned. */
ark_status ark_composition_scores(const ark_model *m, ark_comp_mode mode, float *out);

/* The same with the writer's output restricted to a subspace of the
 * residual stream before the reader reads it:
 *
 *   score_P(A, B) = ||OV_A P R_B||_F / (||OV_A||_F ||R_B||_F),  P = Q Q^T
 *
 * Q (d, k) row-major with orthonormal columns (k >= 1).  With Q = I it is
 * ark_composition_scores; it measures how much of A's output that B reads
 * passes through span(Q).  out (L, H, L, H) as above. */
ark_status ark_composition_scores_through(const ark_model *m, ark_comp_mode mode, const float *Q, int k,
                                          float *out);

/* The chance level of a score for heads of width dh in a residual stream of
 * width d: `samples` draws of Gaussian factors W_V, F (d, dh) and W_O, N
 * (dh, d), every entry iid N(0, 1) from `seed` (same seed, same numbers),
 * each scored with the formula above (OV = W_V W_O, R = F N).  The three
 * modes share this distribution (their reader circuits differ only in which
 * weights play F and N, and all four factors are iid).  samples >= 2. */
typedef struct ark_comp_baseline {
    double mean, std;   /* over the samples (std with n - 1) */
    int samples;
    uint64_t seed;
} ark_comp_baseline;
ark_status ark_composer_baseline(int d, int dh, int samples, uint64_t seed, ark_comp_baseline *out);

/* One scored pair. */
typedef struct ark_comp_pair {
    ark_comp_mode mode;
    int la, ha, lb, hb;   /* writer, reader */
    float score;
    float z;              /* (score - mean) / std of the mode's baseline; NAN without one */
} ark_comp_pair;

/* The n highest pairs of one mode's scores (L, H, L, H), only pairs with
 * lb > la.  With a baseline (b non-NULL), z is filled in and pairs with
 * z < min_z are left out (min_z = -INFINITY keeps all).  Sorted by score
 * descending (ties: writer, then reader, in order).  out: n entries,
 * caller-owned.  Returns how many were written (<= n). */
int ark_composition_top(const float *scores, int L, int H, ark_comp_mode mode, const ark_comp_baseline *b,
                        double min_z, int n, ark_comp_pair *out);

/* The virtual attention head of writer A = (la, ha) and reader B = (lb, hb)
 * (Elhage et al. 2021, "Virtual Attention Heads"), as factored matrices
 * (d, d) through d_head:
 *
 *   ov    = OV_A OV_B       V-composition: the OV circuit of the virtual
 *                           head, x @ ov is what reaches B's output from a
 *                           source residual x through A's output
 *   qk_q  = OV_A QK_B       Q-composition: x_src @ qk_q @ y^T is the part
 *                           of B's score whose query is A's output for x_src
 *   qk_k  = QK_B OV_A^T     K-composition: y @ qk_k @ x_src^T is the part
 *                           of B's score whose key is A's output for x_src
 *
 * (attention patterns, biases and rotary embeddings left out).  Needs
 * lb > la.  Free with ark_virtual_head_free. */
typedef struct ark_virtual_head {
    ark_factored *ov, *qk_q, *qk_k;
} ark_virtual_head;
ark_status ark_virtual_head_of(const ark_model *m, int la, int ha, int lb, int hb, ark_virtual_head *out);
void ark_virtual_head_free(ark_virtual_head *v);

#ifdef __cplusplus
}
#endif
#endif
