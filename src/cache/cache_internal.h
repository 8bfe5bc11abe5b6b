/* The activation cache (internal layout). */
#ifndef ARK_CACHE_INTERNAL_H
#define ARK_CACHE_INTERNAL_H

#include "arrakis/run.h"

struct ark_cache {
    ark_tensor logits;
    int n, cap;
    char **names;
    ark_tensor *tensors;
};

ark_cache *ark_cache_new(void);
/* Append a zero-filled tensor under `name`; returns it (NULL on OOM). */
ark_tensor *ark_cache_add(ark_cache *c, const char *name, int ndim, const int64_t *shape);

#endif
