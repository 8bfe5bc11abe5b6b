/* Internals shared by the SAE files: top-k selection and the metrics
 * accumulator. */
#ifndef ARK_TOOLS_SAE_INTERNAL_H
#define ARK_TOOLS_SAE_INTERNAL_H

#include "arrakis/tool_superposition.h"

/* Indices of the k largest of row[0..n) into idx (ascending index order);
 * ties at the k-th value go to the lower indices.  scratch: n floats. */
void sae_topk(const float *row, int n, int k, float *scratch, int *idx);

/* The activation function on pre-activations (n, d_sae), in place:
 * ReLU, or ReLU(TopK). scratch: (d_sae) floats, idx: (k) ints per thread
 * (allocated inside). */
ark_status sae_activate(const ark_sae *s, float *pre, int n);

/* Running SAE metrics over batches. */
typedef struct sae_acc {
    int d_in, d_sae;
    int64_t n;
    double se;          /* sum of squared errors */
    double *mean, *m2;  /* (d_in) per-dimension mean and scatter (Chan merges) */
    double nnz;         /* nonzero features in total */
    int64_t *fired;     /* (d_sae) tokens with f_i > 0 */
    float *f, *xh;      /* (cap, d_sae), (cap, d_in) */
    int cap;
} sae_acc;

ark_status sae_acc_init(sae_acc *a, const ark_sae *s);
ark_status sae_acc_add(sae_acc *a, const ark_sae *s, const float *x, int n);
ark_status sae_acc_finish(const sae_acc *a, float dense_threshold, ark_sae_metrics *out);
void sae_acc_free(sae_acc *a);

#endif
