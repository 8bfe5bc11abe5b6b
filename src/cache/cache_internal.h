/* The activation cache (internal layout). */
#ifndef ARK_CACHE_INTERNAL_H
#define ARK_CACHE_INTERNAL_H

#include "arrakis/run.h"

struct ark_cache {
    ark_tensor logits;
    ark_tensor resid;     /* where a partial run stopped */
    int n, cap;
    char **names;
    ark_tensor *tensors;
    bool *owned;      /* per tensor: data is its own allocation (else inside `arena`) */
    float *arena;     /* one block holding the tensors a run kept */
};

ark_cache *ark_cache_new(void);
/* Append a tensor under `name`.  data: memory the cache may point into
 * (inside c->arena), or NULL to allocate a zero-filled tensor.  Returns the
 * tensor, NULL on OOM. */
ark_tensor *ark_cache_add(ark_cache *c, const char *name, int ndim, const int64_t *shape, float *data);

#endif
