/* Private to src/io/safetensors*.c: an open-addressing hash index from
 * tensor names to their positions in the caller's array, so that finding a
 * name among thousands of tensors is O(1).  The index stores positions only;
 * the names stay in the caller's array and are read through `name_of`. */
#ifndef ARK_IO_ST_INDEX_H
#define ARK_IO_ST_INDEX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef const char *(*st_name_fn)(const void *ctx, int i);

typedef struct st_index {
    int32_t *slots; /* position + 1; 0 = empty */
    size_t mask;    /* capacity - 1 (capacity is a power of two) */
} st_index;

static inline uint64_t st_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Room for `n` names at load <= 1/2.  Returns 0 on success, -1 on no memory. */
static inline int st_index_init(st_index *ix, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    return ix->slots ? 0 : -1;
}

static inline void st_index_free(st_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
}

/* The slot holding `name`, or the empty slot where it would go. */
static inline size_t st_index_slot(const st_index *ix, const char *name,
                                   st_name_fn name_of, const void *ctx)
{
    size_t i = (size_t)st_hash(name) & ix->mask;
    while (ix->slots[i] && strcmp(name_of(ctx, ix->slots[i] - 1), name) != 0)
        i = (i + 1) & ix->mask;
    return i;
}

/* Position of `name`, or -1. */
static inline int st_index_find(const st_index *ix, const char *name,
                                st_name_fn name_of, const void *ctx)
{
    if (!ix->slots) return -1;
    return ix->slots[st_index_slot(ix, name, name_of, ctx)] - 1;
}

/* Insert position `pos` (named name_of(ctx, pos)).  Returns the position
 * already holding that name, or -1 when it was inserted.  The caller keeps
 * the load at most 1/2 (st_index_init with enough room). */
static inline int st_index_put(st_index *ix, int pos, st_name_fn name_of, const void *ctx)
{
    size_t i = st_index_slot(ix, name_of(ctx, pos), name_of, ctx);
    if (ix->slots[i]) return ix->slots[i] - 1;
    ix->slots[i] = pos + 1;
    return -1;
}

#endif
