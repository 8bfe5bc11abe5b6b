/* Factored matrices: a lazy product A (m x k) . B (k x n) with k small
 * (TransformerLens' FactoredMatrix), and the QK / OV circuits of attention
 * heads as factored d x d matrices.
 *
 * Everything goes through the small factors, never the m x n product
 * (except ark_factored_materialize): the SVD through a QR of each factor
 * and an SVD of the small core, the Frobenius norm through
 * tr((A^T A)(B B^T)), eigenvalues through the k x k matrix B A.
 * Internal linear algebra runs in double precision (LAPACK); results are
 * float32.  Definitions and references: docs/weights.md. */
#ifndef ARRAKIS_FACTORED_H
#define ARRAKIS_FACTORED_H

#include "arrakis/core.h"
#include "arrakis/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_factored ark_factored;

/* A new factored matrix A B from A (m, k) and B (k, n), row-major float32;
 * both are copied.  m, k, n >= 1.  Free with ark_factored_free. */
ark_status ark_factored_new(const float *A, const float *B, int m, int k, int n, ark_factored **out);
void ark_factored_free(ark_factored *f);

int ark_factored_rows(const ark_factored *f);  /* m */
int ark_factored_cols(const ark_factored *f);  /* n */
int ark_factored_inner(const ark_factored *f); /* k */
/* The factors, row-major: A (m, k) and B (k, n); valid while f lives. */
const float *ark_factored_left(const ark_factored *f);
const float *ark_factored_right(const ark_factored *f);

/* The product (m, n), row-major, into out (m * n floats, caller-owned). */
void ark_factored_materialize(const ark_factored *f, float *out);

/* (A B)^T = B^T A^T as a new factored matrix (n, m) with the same k. */
ark_status ark_factored_transpose(const ark_factored *f, ark_factored **out);

/* x y for factored x (m, n) and y (n, p), keeping the smaller inner
 * dimension: with x = A1 B1 (inner k1) and y = A2 B2 (inner k2), the result
 * is A1 . ((B1 A2) B2) when k1 <= k2, else (A1 (B1 A2)) . B2. */
ark_status ark_factored_mul(const ark_factored *x, const ark_factored *y, ark_factored **out);
/* f M for a plain M (n, p), row-major: A (B M). */
ark_status ark_factored_mul_matrix(const ark_factored *f, const float *M, int p, ark_factored **out);
/* M f for a plain M (p, m), row-major: (M A) B. */
ark_status ark_matrix_mul_factored(const float *M, int p, const ark_factored *f, ark_factored **out);

/* r = min(m, k, n): the most non-zero singular values the product has, and
 * the number of values and vectors the SVD returns. */
int ark_factored_svd_rank(const ark_factored *f);

/* Thin SVD of the product, A B = U diag(S) V^T, singular values descending:
 * U (m, r), S (r), V (n, r), row-major, caller-owned; U and V may be NULL
 * (then they are not computed).  Computed as A = Qa Ra, B^T = Qb Rb,
 * Ra Rb^T = Uc S Vc^T, U = Qa Uc, V = Qb Vc.  (TransformerLens' svd()
 * returns U, S, Vh with Vh meaning this V.) */
ark_status ark_factored_svd(const ark_factored *f, float *U, float *S, float *V);

/* ||A B||_F = sqrt(tr((A^T A)(B B^T))), without forming the product. */
double ark_factored_frobenius(const ark_factored *f);

/* Eigenvalues of a square product (m == n, else ARK_ERR_SHAPE): the k
 * eigenvalues of B A, which are the non-zero eigenvalues of A B (A B has m - k
 * further zeros when m > k).  re, im (k each, caller-owned), sorted by
 * modulus descending (a complex-conjugate pair: positive imaginary part
 * first). */
ark_status ark_factored_eigenvalues(const ark_factored *f, float *re, float *im);

/* The QK circuit of query head h of layer l (TransformerLens' model.QK):
 * W_Q[l, h] W_K[l, kv(h)]^T, d x d through d_head: x_q^T QK x_k is the
 * attention score (before scaling) of a query residual x_q on a key
 * residual x_k, without biases and rotary embeddings. */
ark_status ark_qk_circuit(const ark_model *m, int layer, int head, ark_factored **out);
/* The OV circuit (TransformerLens' model.OV): W_V[l, kv(h)] W_O[l, h],
 * d x d through d_head: what head h writes for a source residual x
 * (x @ OV), before attention weighting and biases. */
ark_status ark_ov_circuit(const ark_model *m, int layer, int head, ark_factored **out);

#ifdef __cplusplus
}
#endif
#endif
