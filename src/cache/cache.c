/* The activation cache: logits plus kept hook points, by name. */
#include <stdlib.h>
#include <string.h>

#include "arrakis/safetensors.h"
#include "cache/cache_internal.h"
#include "core/error.h"

int64_t ark_tensor_numel(const ark_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

ark_cache *ark_cache_new(void) { return calloc(1, sizeof(ark_cache)); }

ark_tensor *ark_cache_add(ark_cache *c, const char *name, int ndim, const int64_t *shape, float *data)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->names = realloc(c->names, sizeof *c->names * c->cap);
        c->tensors = realloc(c->tensors, sizeof *c->tensors * c->cap);
        c->owned = realloc(c->owned, sizeof *c->owned * c->cap);
    }
    ark_tensor *t = &c->tensors[c->n];
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * ndim);
    c->owned[c->n] = data == NULL;
    t->data = data ? data : calloc((size_t)ark_tensor_numel(t) + 1, sizeof(float));
    if (!t->data) return NULL;
    c->names[c->n++] = strdup(name);
    return t;
}

const ark_tensor *ark_cache_logits(const ark_cache *c) { return c->logits.data ? &c->logits : NULL; }

const ark_tensor *ark_cache_resid(const ark_cache *c) { return c->resid.data ? &c->resid : NULL; }

const ark_tensor *ark_cache_get(const ark_cache *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name)) return &c->tensors[i];
    return NULL;
}

int ark_cache_count(const ark_cache *c) { return c->n; }
const char *ark_cache_name(const ark_cache *c, int i) { return i >= 0 && i < c->n ? c->names[i] : NULL; }
const ark_tensor *ark_cache_at(const ark_cache *c, int i) { return i >= 0 && i < c->n ? &c->tensors[i] : NULL; }

void ark_cache_free(ark_cache *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->names[i]);
        if (c->owned[i]) free(c->tensors[i].data);
    }
    free(c->names);
    free(c->tensors);
    free(c->owned);
    free(c->arena);
    free(c->logits.data);
    free(c->resid.data);
    free(c);
}

ark_status ark_cache_save(const ark_cache *c, const char *path)
{
    ark_st_writer *w = ark_st_writer_new();
    ark_status s = ARK_OK;
    if (c->logits.data) s = ark_st_writer_add_f32(w, "logits", ARK_F32, c->logits.data, c->logits.ndim, c->logits.shape);
    for (int i = 0; s == ARK_OK && i < c->n; i++)
        s = ark_st_writer_add_f32(w, c->names[i], ARK_F32, c->tensors[i].data, c->tensors[i].ndim, c->tensors[i].shape);
    if (s == ARK_OK) s = ark_st_writer_save(w, path);
    ark_st_writer_free(w);
    return s;
}
