/* BPE, WordLevel and WordPiece tokenization of one pre-token.
 *
 * BPE follows Hugging Face's Word::merge_all: the pairs of adjacent symbols
 * sit in a min-heap ordered by (merge rank, position); the best one is
 * merged, stale entries are skipped, and the new neighbour pairs pushed.
 * O(w log w) for a word of w characters.  Words shorter than 256 bytes are
 * memoised in a per-thread cache that lives across encode calls (as Hugging
 * Face's thread-local BPE cache does); it belongs to the last tokenizer the
 * thread used and is emptied when it fills up. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

typedef struct sym {
    int32_t id, prev, next;
    uint32_t len;
} sym;

typedef struct merge_ent {
    uint32_t rank, pos;
    int32_t new_id;
} merge_ent;

typedef struct wtok {
    int32_t id;
    uint32_t len;
} wtok;

typedef struct cache_ent {
    uint64_t h;
    uint32_t koff, klen, toff, tn;
} cache_ent;

#define CACHE_MAX_WORD 256
#define CACHE_MAX_ENTRIES (1u << 18)

struct tk_bpe_cache {
    uint64_t uid; /* the tokenizer the cached words belong to */
    cache_ent *ents; /* open addressing; klen == UINT32_MAX means empty */
    size_t n, cap;
    tk_buf keys;
    wtok *toks;
    size_t ntoks, captoks;
    /* scratch for one word */
    sym *syms;
    size_t capsyms;
    merge_ent *heap;
    size_t nheap, capheap;
    wtok *out;
    size_t nout, capout;
    char *piece;
    size_t cappiece;
};

static void cache_free(void *p)
{
    tk_bpe_cache *c = p;
    if (!c) return;
    free(c->ents);
    free(c->keys.p);
    free(c->toks);
    free(c->syms);
    free(c->heap);
    free(c->out);
    free(c->piece);
    free(c);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* ---- the word cache ---------------------------------------------------- */

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;

static void cache_key_init(void) { cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0; }

static void cache_clear(tk_bpe_cache *c)
{
    for (size_t i = 0; i < c->cap; i++) c->ents[i].klen = UINT32_MAX;
    c->n = 0;
    c->keys.len = 0;
    c->ntoks = 0;
}

tk_bpe_cache *ark_tok_bpe_cache_for(uint64_t uid)
{
    pthread_once(&cache_once, cache_key_init);
    if (!cache_key_ok) return NULL;
    tk_bpe_cache *c = pthread_getspecific(cache_key);
    if (!c) {
        if (!(c = calloc(1, sizeof *c))) return NULL;
        if (pthread_setspecific(cache_key, c) != 0) {
            free(c);
            return NULL;
        }
        c->uid = uid;
    }
    if (c->uid != uid) {
        cache_clear(c);
        c->uid = uid;
    }
    return c;
}

static cache_ent *cache_find(const tk_bpe_cache *c, const char *w, size_t n, uint64_t h)
{
    if (!c->cap) return NULL;
    size_t mask = c->cap - 1, j = h & mask;
    while (c->ents[j].klen != UINT32_MAX) {
        cache_ent *e = &c->ents[j];
        if (e->h == h && e->klen == n && memcmp(c->keys.p + e->koff, w, n) == 0) return e;
        j = (j + 1) & mask;
    }
    return NULL;
}

static bool cache_rehash(tk_bpe_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    cache_ent *ents = malloc(cap * sizeof *ents);
    if (!ents) return false;
    for (size_t i = 0; i < cap; i++) ents[i].klen = UINT32_MAX;
    for (size_t i = 0; i < c->cap; i++) {
        if (c->ents[i].klen == UINT32_MAX) continue;
        size_t j = c->ents[i].h & (cap - 1);
        while (ents[j].klen != UINT32_MAX) j = (j + 1) & (cap - 1);
        ents[j] = c->ents[i];
    }
    free(c->ents);
    c->ents = ents;
    c->cap = cap;
    return true;
}

static void cache_put(tk_bpe_cache *c, const char *w, size_t n, uint64_t h, const wtok *t, size_t nt)
{
    if (c->n >= CACHE_MAX_ENTRIES) cache_clear(c);
    if ((c->n + 1) * 2 > c->cap && !cache_rehash(c)) return;
    if (!grow((void **)&c->toks, &c->captoks, c->ntoks + nt, sizeof *c->toks)) return;
    size_t koff = c->keys.len;
    if (!ark_tok_buf_put(&c->keys, w, n)) return;
    memcpy(c->toks + c->ntoks, t, nt * sizeof *t);
    size_t j = h & (c->cap - 1);
    while (c->ents[j].klen != UINT32_MAX) j = (j + 1) & (c->cap - 1);
    c->ents[j] = (cache_ent){h, (uint32_t)koff, (uint32_t)n, (uint32_t)c->ntoks, (uint32_t)nt};
    c->ntoks += nt;
    c->n++;
}

/* ---- the merge heap ---------------------------------------------------- */

static inline bool ent_less(merge_ent a, merge_ent b)
{
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static bool heap_push(tk_bpe_cache *c, merge_ent e)
{
    if (!grow((void **)&c->heap, &c->capheap, c->nheap + 1, sizeof *c->heap)) return false;
    size_t i = c->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_less(e, c->heap[p])) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = e;
    return true;
}

static merge_ent heap_pop(tk_bpe_cache *c)
{
    merge_ent top = c->heap[0], last = c->heap[--c->nheap];
    size_t i = 0, n = c->nheap;
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        merge_ent bv = last;
        if (l < n && ent_less(c->heap[l], bv)) best = l, bv = c->heap[l];
        if (l + 1 < n && ent_less(c->heap[l + 1], bv)) best = l + 1;
        if (best == i) break;
        c->heap[i] = c->heap[best];
        i = best;
    }
    if (n) c->heap[i] = last;
    return top;
}

static bool push_pair(const tk_model *m, tk_bpe_cache *c, uint32_t pos)
{
    const sym *s = c->syms;
    if (s[pos].next < 0) return true;
    uint32_t rank;
    int32_t id;
    if (!ark_tok_pairmap_get(&m->merges, (uint32_t)s[pos].id, (uint32_t)s[s[pos].next].id, &rank, &id)) return true;
    return heap_push(c, (merge_ent){rank, pos, id});
}

static bool merge_all(const tk_model *m, tk_bpe_cache *c, size_t n)
{
    sym *s = c->syms;
    c->nheap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!push_pair(m, c, (uint32_t)i)) return false;
    while (c->nheap) {
        merge_ent top = heap_pop(c);
        sym *a = &s[top.pos];
        if (a->len == 0 || a->next < 0) continue;
        sym *b = &s[a->next];
        int32_t id;
        if (!ark_tok_pairmap_get(&m->merges, (uint32_t)a->id, (uint32_t)b->id, NULL, &id) || id != top.new_id)
            continue; /* stale entry */
        a->id = top.new_id;
        a->len += b->len;
        a->next = b->next;
        b->len = 0;
        if (a->next >= 0) s[a->next].prev = (int32_t)top.pos;
        if (a->prev >= 0 && !push_pair(m, c, (uint32_t)a->prev)) return false;
        if (!push_pair(m, c, top.pos)) return false;
    }
    return true;
}

/* ---- building the initial symbols -------------------------------------- */

static bool add_sym(tk_bpe_cache *c, size_t *n, int32_t id, uint32_t len)
{
    if (!grow((void **)&c->syms, &c->capsyms, *n + 1, sizeof *c->syms)) return false;
    c->syms[*n] = (sym){id, (int32_t)*n - 1, -1, len};
    if (*n) c->syms[*n - 1].next = (int32_t)*n;
    (*n)++;
    return true;
}

/* The vocabulary entry for one character with the prefix/suffix rules;
 * the composed string goes to c->piece. */
static int32_t char_id(const tk_model *m, tk_bpe_cache *c, const char *ch, size_t k, bool first, bool last,
                       size_t *plen)
{
    size_t pl = (!first && m->prefix) ? strlen(m->prefix) : 0, sl = (last && m->suffix) ? strlen(m->suffix) : 0;
    if (pl == 0 && sl == 0) {
        *plen = k;
        return ark_tok_strmap_get(&m->vocab, ch, k);
    }
    if (!grow((void **)&c->piece, &c->cappiece, pl + k + sl + 1, 1)) return -2;
    memcpy(c->piece, m->prefix ? m->prefix : "", pl);
    memcpy(c->piece + pl, ch, k);
    memcpy(c->piece + pl + k, m->suffix ? m->suffix : "", sl);
    *plen = pl + k + sl;
    return ark_tok_strmap_get(&m->vocab, c->piece, *plen);
}

static ark_status initial_symbols(const tk_model *m, tk_bpe_cache *c, const char *w, size_t n, size_t *nsym)
{
    int32_t unk_id = -1;
    uint32_t unk_len = 0;
    for (size_t i = 0; i < n;) {
        size_t k = (size_t)ark_tok_utf8_len((unsigned char)w[i]), plen;
        if (i + k > n) k = n - i;
        int32_t id = char_id(m, c, w + i, k, i == 0, i + k == n, &plen);
        if (id == -2) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
        if (id >= 0) {
            if (unk_id >= 0 && !add_sym(c, nsym, unk_id, unk_len)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
            unk_id = -1;
            if (!add_sym(c, nsym, id, (uint32_t)k)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
            i += k;
            continue;
        }
        const unsigned char *piece = (plen == k) ? (const unsigned char *)w + i : (const unsigned char *)c->piece;
        bool fell_back = m->byte_fallback;
        for (size_t b = 0; fell_back && b < plen; b++) fell_back = m->byte_id[piece[b]] >= 0;
        if (fell_back) {
            for (size_t b = 0; b < plen; b++)
                if (!add_sym(c, nsym, m->byte_id[piece[b]], 1)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
            i += k;
            continue;
        }
        if (m->unk) {
            int32_t u = ark_tok_strmap_get(&m->vocab, m->unk, strlen(m->unk));
            if (u < 0) return ark_fail(ARK_ERR_FORMAT, "model.unk_token \"%s\" is not in model.vocab", m->unk);
            if (unk_id >= 0 && m->fuse_unk)
                unk_len += (uint32_t)k;
            else {
                if (unk_id >= 0 && !add_sym(c, nsym, unk_id, unk_len))
                    return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
                unk_id = u;
                unk_len = (uint32_t)k;
            }
        }
        i += k;
    }
    if (unk_id >= 0 && !add_sym(c, nsym, unk_id, unk_len)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
    return ARK_OK;
}

/* BPE on one word: the resulting (id, byte length) list in c->out. */
static ark_status bpe_word(const tk_model *m, tk_bpe_cache *c, const char *w, size_t n)
{
    c->nout = 0;
    if (m->ignore_merges) {
        int32_t id = ark_tok_strmap_get(&m->vocab, w, n);
        if (id >= 0) {
            if (!grow((void **)&c->out, &c->capout, 1, sizeof *c->out)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
            c->out[c->nout++] = (wtok){id, (uint32_t)n};
            return ARK_OK;
        }
    }
    uint64_t h = 0;
    if (n < CACHE_MAX_WORD) {
        h = ark_tok_hash(w, n);
        const cache_ent *e = cache_find(c, w, n, h);
        if (e) {
            if (!grow((void **)&c->out, &c->capout, e->tn, sizeof *c->out)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
            memcpy(c->out, c->toks + e->toff, e->tn * sizeof *c->out);
            c->nout = e->tn;
            return ARK_OK;
        }
    }
    size_t nsym = 0;
    ARK_TRY(initial_symbols(m, c, w, n, &nsym));
    if (nsym > 1 && !merge_all(m, c, nsym)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
    if (!grow((void **)&c->out, &c->capout, nsym, sizeof *c->out)) return ark_fail(ARK_ERR_NOMEM, "BPE: out of memory");
    for (size_t i = 0; i < nsym; i++)
        if (c->syms[i].len) c->out[c->nout++] = (wtok){c->syms[i].id, c->syms[i].len};
    if (n < CACHE_MAX_WORD) cache_put(c, w, n, h, c->out, c->nout);
    return ARK_OK;
}

/* ---- WordLevel and WordPiece ------------------------------------------- */

static ark_status unk_of(const tk_model *m, int32_t *id)
{
    const char *unk = m->unk ? m->unk : "";
    *id = ark_tok_strmap_get(&m->vocab, unk, strlen(unk));
    if (*id < 0) return ark_fail(ARK_ERR_FORMAT, "model.unk_token \"%s\" is not in model.vocab", unk);
    return ARK_OK;
}

static ark_status wordlevel_word(const tk_model *m, tk_bpe_cache *c, const char *w, size_t n)
{
    int32_t id = ark_tok_strmap_get(&m->vocab, w, n);
    if (id < 0) ARK_TRY(unk_of(m, &id));
    if (!grow((void **)&c->out, &c->capout, 1, sizeof *c->out)) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    c->out[0] = (wtok){id, (uint32_t)n};
    c->nout = 1;
    return ARK_OK;
}

static ark_status wordpiece_word(const tk_model *m, tk_bpe_cache *c, const char *w, size_t n)
{
    size_t chars = 0, pl = m->prefix ? strlen(m->prefix) : 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)w[i] & 0xC0) != 0x80;
    c->nout = 0;
    bool bad = chars > (size_t)m->max_input_chars;
    for (size_t start = 0; !bad && start < n;) {
        size_t end = n;
        int32_t id = -1;
        while (start < end) {
            size_t len = (start > 0 ? pl : 0) + end - start;
            if (!grow((void **)&c->piece, &c->cappiece, len + 1, 1)) return ark_fail(ARK_ERR_NOMEM, "out of memory");
            size_t p = 0;
            if (start > 0) memcpy(c->piece, m->prefix, pl), p = pl;
            memcpy(c->piece + p, w + start, end - start);
            id = ark_tok_strmap_get(&m->vocab, c->piece, len);
            if (id >= 0) break;
            do end--; while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            bad = true;
            break;
        }
        if (!grow((void **)&c->out, &c->capout, c->nout + 1, sizeof *c->out)) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        c->out[c->nout++] = (wtok){id, (uint32_t)(end - start)};
        start = end;
    }
    if (bad) {
        int32_t id;
        ARK_TRY(unk_of(m, &id));
        if (!grow((void **)&c->out, &c->capout, 1, sizeof *c->out)) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        c->out[0] = (wtok){id, (uint32_t)n};
        c->nout = 1;
    }
    return ARK_OK;
}

ark_status ark_tok_model_tokenize(const tk_model *m, tk_bpe_cache *c, const char *s, size_t n, const tk_align *al,
                                  tk_toks *toks)
{
    if (n == 0) return ARK_OK;
    switch (m->kind) {
    case TKM_BPE: ARK_TRY(bpe_word(m, c, s, n)); break;
    case TKM_WORDLEVEL: ARK_TRY(wordlevel_word(m, c, s, n)); break;
    default: ARK_TRY(wordpiece_word(m, c, s, n)); break;
    }
    size_t pos = 0;
    for (size_t i = 0; i < c->nout; i++) {
        size_t e = pos + c->out[i].len;
        if (e > n) e = n; /* byte-fallback of a prefixed char can overrun */
        int32_t id = c->out[i].id;
        tk_token t = {id, 0, 0, m->id_str[id], m->id_len[id], 0};
        if (e > pos) {
            t.s = al[pos].s;
            t.e = al[e - 1].e;
        } else {
            t.s = (uint32_t)pos;
            t.e = (uint32_t)e;
        }
        if (!ark_tok_toks_push(toks, t)) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        pos = e;
    }
    return ARK_OK;
}
