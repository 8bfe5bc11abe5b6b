/* Added tokens: loading tokenizer.json's "added_tokens" the way Hugging
 * Face's AddedVocabulary::add_tokens does (ids come from the vocabulary when
 * the token is in it, else the next free id), and cutting them out of the
 * text with leftmost-longest matching (byte tries), honouring single_word,
 * lstrip and rstrip.  Tokens with normalized=false are matched in the raw
 * text, those with normalized=true in the normalized text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

void ark_tok_added_free(struct ark_tokenizer *t)
{
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].norm);
    }
    free(t->added);
    t->added = NULL;
    t->n_added = 0;
    ark_tok_strmap_free(&t->added_map);
    for (int p = 0; p < 2; p++) {
        ark_tok_pairmap_free(&t->trie[p].edges);
        free(t->trie[p].term);
        memset(&t->trie[p], 0, sizeof t->trie[p]);
    }
}

/* ---- tries ------------------------------------------------------------- */

static int32_t trie_node(tk_trie *tr)
{
    if (tr->n_nodes == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 64;
        int32_t *term = realloc(tr->term, cap * sizeof *term);
        if (!term) return -1;
        tr->term = term;
        tr->cap = cap;
    }
    tr->term[tr->n_nodes] = -1;
    return (int32_t)tr->n_nodes++;
}

static bool trie_insert(tk_trie *tr, const char *s, size_t n, int32_t idx)
{
    if (tr->n_nodes == 0 && trie_node(tr) < 0) return false;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t child;
        if (!ark_tok_pairmap_get(&tr->edges, node, (unsigned char)s[i], NULL, &child)) {
            child = trie_node(tr);
            if (child < 0 || !ark_tok_pairmap_put(&tr->edges, node, (unsigned char)s[i], 0, child)) return false;
        }
        node = (uint32_t)child;
    }
    tr->term[node] = idx;
    tr->first[(unsigned char)s[0]] = 1;
    return true;
}

/* Longest token starting at s[0]: its length (0 if none) and index. */
static size_t trie_longest(const tk_trie *tr, const char *s, size_t n, int32_t *idx)
{
    uint32_t node = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t child;
        if (!ark_tok_pairmap_get(&tr->edges, node, (unsigned char)s[i], NULL, &child)) break;
        node = (uint32_t)child;
        if (tr->term[node] >= 0) {
            best = i + 1;
            *idx = tr->term[node];
        }
    }
    return best;
}

/* ---- loading ----------------------------------------------------------- */

static ark_status normalize_content(const struct ark_tokenizer *t, tk_added *a)
{
    if (!a->normalized || !t->norm) return ARK_OK;
    tk_pts p;
    if (!ark_tok_pts_init(&p, a->content, a->clen) || !ark_tok_norm_apply(t->norm, &p)) {
        ark_tok_pts_free(&p);
        return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory normalizing \"%s\"", a->content);
    }
    tk_buf b = {0};
    bool ok = ark_tok_buf_put(&b, "", 0);
    for (size_t i = 0; ok && i < p.n; i++) ok = ark_tok_buf_put(&b, p.buf + p.sp[i].off, p.sp[i].len);
    ark_tok_pts_free(&p);
    if (!ok) {
        free(b.p);
        return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory");
    }
    if (b.len == a->clen && memcmp(b.p, a->content, b.len) == 0) free(b.p);
    else {
        a->norm = b.p;
        a->nlen = b.len;
    }
    return ARK_OK;
}

static ark_status parse_one(const cJSON *it, size_t i, bool nul, tk_added *a)
{
    char where[64];
    snprintf(where, sizeof where, "added_tokens[%zu]", i);
    const char *content;
    ARK_TRY(ark_tok_json_str(it, "content", where, &content));
    if (!content) return ark_fail(ARK_ERR_FORMAT, "%s.content: missing", where);
    memset(a, 0, sizeof *a);
    a->normalized = true;
    ARK_TRY(ark_tok_json_bool(it, "special", where, &a->special));
    a->normalized = !a->special; /* Hugging Face's default when the field is absent */
    ARK_TRY(ark_tok_json_bool(it, "normalized", where, &a->normalized));
    ARK_TRY(ark_tok_json_bool(it, "lstrip", where, &a->lstrip));
    ARK_TRY(ark_tok_json_bool(it, "rstrip", where, &a->rstrip));
    ARK_TRY(ark_tok_json_bool(it, "single_word", where, &a->single_word));
    a->content = ark_tok_strdup(content);
    if (!a->content) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    a->clen = nul ? ark_tok_unmask(a->content, a->content) : strlen(content);
    return ARK_OK;
}

static bool same_token(const tk_added *x, const tk_added *y)
{
    return x->clen == y->clen && !memcmp(x->content, y->content, x->clen) && x->special == y->special &&
           x->normalized == y->normalized && x->lstrip == y->lstrip && x->rstrip == y->rstrip &&
           x->single_word == y->single_word;
}

/* Add one token (AddedVocabulary::add_tokens' loop body). */
static ark_status add_token(struct ark_tokenizer *t, tk_added *a, tk_pairmap *by_id, int32_t *next_id)
{
    int32_t id = ark_tok_strmap_get(&t->added_map, a->content, a->clen), slot;
    if (id >= 0 && ark_tok_pairmap_get(by_id, (uint32_t)id, 0, NULL, &slot) && same_token(&t->added[slot], a)) {
        free(a->content);
        return ARK_OK; /* an exact duplicate */
    }
    if (id < 0) id = ark_tok_strmap_get(&t->model.vocab, a->content, a->clen);
    if (id < 0) id = (*next_id)++;
    a->id = id;
    ARK_TRY(normalize_content(t, a));
    if (ark_tok_pairmap_get(by_id, (uint32_t)id, 0, NULL, &slot)) { /* replaces the token with this id */
        ark_tok_pool_add(t, t->added[slot].content); /* added_map may still point at it */
        free(t->added[slot].norm);
        t->added[slot] = *a;
    } else {
        slot = (int32_t)t->n_added++;
        t->added[slot] = *a;
        if (!ark_tok_pairmap_put(by_id, (uint32_t)id, 0, 0, slot)) return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory");
    }
    const tk_added *s = &t->added[slot];
    if (!ark_tok_strmap_put(&t->added_map, s->content, s->clen, id))
        return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory");
    return ARK_OK;
}

static ark_status build_tries(struct ark_tokenizer *t)
{
    /* added_map keys point into added[].content: re-point them after the
     * array stopped moving */
    ark_tok_strmap_free(&t->added_map);
    for (size_t i = 0; i < t->n_added; i++)
        if (!ark_tok_strmap_put(&t->added_map, t->added[i].content, t->added[i].clen, t->added[i].id))
            return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory");
    for (size_t i = 0; i < t->n_added; i++) {
        const tk_added *a = &t->added[i];
        int pass = a->normalized ? 1 : 0;
        const char *s = (pass && a->norm) ? a->norm : a->content;
        size_t n = (pass && a->norm) ? a->nlen : a->clen;
        if (n == 0) continue;
        if (!trie_insert(&t->trie[pass], s, n, (int32_t)i)) return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory");
        t->has_trie[pass] = true;
    }
    return ARK_OK;
}

ark_status ark_tok_added_parse(const cJSON *arr, struct ark_tokenizer *t)
{
    if (!arr || cJSON_IsNull(arr)) return build_tries(t);
    if (!cJSON_IsArray(arr)) return ark_fail(ARK_ERR_FORMAT, "added_tokens: expected an array");
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return ark_fail(ARK_ERR_NOMEM, "added_tokens: out of memory");
    int32_t next_id = (int32_t)t->model.vocab_count;
    tk_pairmap by_id = {0};
    ark_status st = ARK_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        tk_added a;
        if ((st = parse_one(it, i++, t->json_nul, &a)) != ARK_OK) break;
        if (a.clen == 0) {
            free(a.content);
            continue;
        }
        if ((st = add_token(t, &a, &by_id, &next_id)) != ARK_OK) break;
    }
    ark_tok_pairmap_free(&by_id);
    return st != ARK_OK ? st : build_tries(t);
}

/* ---- extraction -------------------------------------------------------- */

static uint32_t char_before(const char *s, size_t at)
{
    size_t p = at - 1;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
    uint32_t cp;
    ark_tok_utf8_dec(s + p, at - p, &cp);
    return cp;
}

static bool single_word_ok(const char *s, size_t n, size_t start, size_t stop)
{
    if (start > 0 && ark_tok_is_word(char_before(s, start))) return false;
    if (stop < n) {
        uint32_t cp;
        ark_tok_utf8_dec(s + stop, n - stop, &cp);
        if (ark_tok_is_word(cp)) return false;
    }
    return true;
}

static size_t ws_run_before(const char *s, size_t at)
{
    while (at > 0) {
        size_t p = at - 1;
        while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        uint32_t cp;
        ark_tok_utf8_dec(s + p, at - p, &cp);
        if (!ark_tok_is_whitespace(cp)) break;
        at = p;
    }
    return at;
}

static size_t ws_run_after(const char *s, size_t n, size_t at)
{
    while (at < n) {
        uint32_t cp;
        int k = ark_tok_utf8_dec(s + at, n - at, &cp);
        if (!ark_tok_is_whitespace(cp)) break;
        at += (size_t)k;
    }
    return at;
}

typedef struct cut_out {
    tk_split *v;
    size_t n, cap;
} cut_out;

static bool push_piece(cut_out *o, const tk_pts *p, const tk_split *sp, size_t s, size_t e, int32_t id)
{
    if (e <= s) return true;
    tk_split ns = {sp->off + (uint32_t)s, (uint32_t)(e - s), id, 0, 0};
    if (id >= 0) {
        ns.os = p->al[ns.off].s;
        ns.oe = p->al[ns.off + ns.len - 1].e;
    }
    return ark_tok_pts_push_split(&o->v, &o->n, &o->cap, ns);
}

/* AddedVocabulary::find_matches on one split. */
static bool cut_split(const struct ark_tokenizer *t, const tk_trie *tr, const tk_pts *p, const tk_split *sp,
                      cut_out *o)
{
    const char *s = p->buf + sp->off;
    size_t n = sp->len, start_offset = 0, i = 0;
    while (i < n) {
        int32_t idx = -1;
        size_t len = tr->first[(unsigned char)s[i]] ? trie_longest(tr, s + i, n - i, &idx) : 0;
        if (len == 0) {
            i++;
            continue;
        }
        size_t start = i, stop = i + len;
        i = stop; /* the search goes on after the match, kept or not */
        const tk_added *a = &t->added[idx];
        if (a->single_word && !single_word_ok(s, n, start, stop)) continue;
        if (a->lstrip) {
            size_t ns = ws_run_before(s, start);
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) stop = ws_run_after(s, n, stop);
        if (start_offset < start && !push_piece(o, p, sp, start_offset, start, -1)) return false;
        if (!push_piece(o, p, sp, start, stop, a->id)) return false;
        start_offset = stop;
    }
    return start_offset >= n || push_piece(o, p, sp, start_offset, n, -1);
}

bool ark_tok_added_extract(const struct ark_tokenizer *t, tk_pts *p, int pass)
{
    if (!t->has_trie[pass]) return true;
    cut_out o = {0};
    for (size_t i = 0; i < p->n; i++) {
        const tk_split *sp = &p->sp[i];
        bool ok = sp->added >= 0 ? ark_tok_pts_push_split(&o.v, &o.n, &o.cap, *sp)
                                 : cut_split(t, &t->trie[pass], p, sp, &o);
        if (!ok) {
            free(o.v);
            return false;
        }
    }
    free(p->sp);
    p->sp = o.v;
    p->n = o.n;
    p->spcap = o.cap;
    return true;
}
