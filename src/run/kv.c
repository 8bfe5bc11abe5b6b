/* The key/value cache used by generation. */
#include <stdlib.h>

#include "core/alloc.h"
#include "run/run_internal.h"

ark_kv *ark_kv_new(const ark_config *c, int B, int cap)
{
    ark_kv *kv = calloc(1, sizeof *kv);
    kv->B = B;
    kv->cap = cap;
    kv->n_layers = c->n_layers;
    kv->KV = c->n_kv_heads;
    kv->dh = c->d_head;
    size_t n = (size_t)c->n_layers * B * cap * c->n_kv_heads * c->d_head;
    kv->k = ark_alloc_large(sizeof(float) * n);
    kv->v = ark_alloc_large(sizeof(float) * n);
    kv->mask = calloc((size_t)B * cap, 1);
    kv->next_pos = calloc((size_t)B, sizeof(int32_t));
    if (!kv->k || !kv->v || !kv->mask || !kv->next_pos) {
        ark_kv_free(kv);
        return NULL;
    }
    return kv;
}

void ark_kv_free(ark_kv *kv)
{
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->mask);
    free(kv->next_pos);
    free(kv);
}
