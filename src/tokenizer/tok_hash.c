/* Open-addressing hash maps for vocabularies, merges and tries, and the
 * growable byte buffer.  Not cryptographic: a fast multiplicative mix. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

struct tk_strent {
    const char *k;
    uint32_t len;
    int32_t v;
    uint64_t h;
};

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

uint64_t ark_tok_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x100000001b3ULL;
    return mix64(h);
}

void ark_tok_strmap_free(tk_strmap *m)
{
    free(m->ents);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static inline uint64_t slot_of(uint64_t h, size_t idx) { return (h & 0xFFFFFFFF00000000ULL) | (uint64_t)(idx + 1); }

static bool strmap_grow_to(tk_strmap *m, size_t cap)
{
    uint64_t *slots = calloc(cap, sizeof *slots);
    struct tk_strent *ents = realloc(m->ents, sizeof *ents * (cap / 2 + 1));
    if (!slots || !ents) {
        free(slots);
        if (ents) m->ents = ents;
        return false;
    }
    m->ents = ents;
    size_t mask = cap - 1;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->ents[i].h & mask;
        while (slots[j]) j = (j + 1) & mask;
        slots[j] = slot_of(m->ents[i].h, i);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->mask = mask;
    return true;
}

static bool strmap_grow(tk_strmap *m) { return strmap_grow_to(m, m->cap ? m->cap * 2 : 64); }

bool ark_tok_strmap_reserve(tk_strmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 64;
    while (cap < 2 * (n + 1)) cap *= 2;
    return cap == m->cap || strmap_grow_to(m, cap);
}

/* The slot holding key k, or the empty slot where it would go. */
static inline size_t strmap_find(const tk_strmap *m, const char *k, size_t len, uint64_t h)
{
    uint64_t tag = h & 0xFFFFFFFF00000000ULL;
    size_t j = h & m->mask;
    for (;;) {
        uint64_t s = m->slots[j];
        if (!s) return j;
        if ((s & 0xFFFFFFFF00000000ULL) == tag) {
            const struct tk_strent *e = &m->ents[(uint32_t)s - 1];
            if (e->len == len && memcmp(e->k, k, len) == 0) return j;
        }
        j = (j + 1) & m->mask;
    }
}

bool ark_tok_strmap_put(tk_strmap *m, const char *k, size_t len, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap && !strmap_grow(m)) return false;
    uint64_t h = ark_tok_hash(k, len);
    size_t j = strmap_find(m, k, len, h);
    if (m->slots[j]) {
        m->ents[(uint32_t)m->slots[j] - 1].v = v;
        return true;
    }
    m->ents[m->n] = (struct tk_strent){k, (uint32_t)len, v, h};
    m->slots[j] = slot_of(h, m->n++);
    return true;
}

int32_t ark_tok_strmap_get(const tk_strmap *m, const char *k, size_t len)
{
    if (!m->cap) return -1;
    uint64_t s = m->slots[strmap_find(m, k, len, ark_tok_hash(k, len))];
    return s ? m->ents[(uint32_t)s - 1].v : -1;
}

void ark_tok_pairmap_free(tk_pairmap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static inline size_t pair_slot(uint64_t key, size_t mask) { return mix64(key) & mask; }

static bool pairmap_grow_to(tk_pairmap *m, size_t cap)
{
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *rank = malloc(cap * sizeof *rank);
    int32_t *val = malloc(cap * sizeof *val);
    if (!keys || !rank || !val) {
        free(keys);
        free(rank);
        free(val);
        return false;
    }
    size_t mask = cap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = pair_slot(m->keys[i] - 1, mask);
        while (keys[j]) j = (j + 1) & mask;
        keys[j] = m->keys[i];
        rank[j] = m->rank[i];
        val[j] = m->val[i];
    }
    free(m->keys);
    free(m->rank);
    free(m->val);
    m->keys = keys;
    m->rank = rank;
    m->val = val;
    m->cap = cap;
    m->mask = mask;
    return true;
}

static bool pairmap_grow(tk_pairmap *m) { return pairmap_grow_to(m, m->cap ? m->cap * 2 : 64); }

bool ark_tok_pairmap_reserve(tk_pairmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 64;
    while (cap < 2 * (n + 1)) cap *= 2;
    return cap == m->cap || pairmap_grow_to(m, cap);
}

bool ark_tok_pairmap_put(tk_pairmap *m, uint32_t a, uint32_t b, uint32_t rank, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && !pairmap_grow(m)) return false;
    uint64_t key = ((uint64_t)a << 32) | b;
    size_t j = pair_slot(key, m->mask);
    while (m->keys[j] && m->keys[j] != key + 1) j = (j + 1) & m->mask;
    if (!m->keys[j]) m->n++;
    m->keys[j] = key + 1;
    m->rank[j] = rank;
    m->val[j] = val;
    return true;
}

bool ark_tok_pairmap_get(const tk_pairmap *m, uint32_t a, uint32_t b, uint32_t *rank, int32_t *val)
{
    if (!m->cap) return false;
    uint64_t key = ((uint64_t)a << 32) | b;
    size_t j = pair_slot(key, m->mask);
    while (m->keys[j]) {
        if (m->keys[j] == key + 1) {
            if (rank) *rank = m->rank[j];
            if (val) *val = m->val[j];
            return true;
        }
        j = (j + 1) & m->mask;
    }
    return false;
}

bool ark_tok_buf_reserve(tk_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool ark_tok_buf_put(tk_buf *b, const void *p, size_t n)
{
    if (!ark_tok_buf_reserve(b, n)) return false;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}
