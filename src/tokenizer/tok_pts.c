/* The pre-tokenized string: normalized text with per-byte alignments to the
 * input, cut into splits.  See tok_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static bool pts_reserve(tk_pts *p, size_t extra)
{
    if (p->len + extra <= p->cap) return true;
    size_t cap = p->cap ? p->cap : 256;
    while (cap < p->len + extra) cap *= 2;
    char *buf = realloc(p->buf, cap);
    if (!buf) return false;
    p->buf = buf;
    tk_align *al = realloc(p->al, cap * sizeof *al);
    if (!al) return false;
    p->al = al;
    p->cap = cap;
    return true;
}

bool ark_tok_pts_push_split(tk_split **v, size_t *n, size_t *cap, tk_split s)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        tk_split *nv = realloc(*v, c * sizeof *nv);
        if (!nv) return false;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    return true;
}

bool ark_tok_pts_init(tk_pts *p, const char *text, size_t len)
{
    memset(p, 0, sizeof *p);
    if (len >= UINT32_MAX || !pts_reserve(p, len + 1)) return false;
    memcpy(p->buf, text, len);
    p->len = len;
    /* Hugging Face aligns every byte of a char to the whole char */
    for (size_t i = 0; i < len;) {
        size_t k = (size_t)ark_tok_utf8_len((unsigned char)text[i]);
        if (i + k > len) k = len - i;
        for (size_t j = 0; j < k; j++) p->al[i + j] = (tk_align){(uint32_t)i, (uint32_t)(i + k)};
        i += k;
    }
    tk_split s = {0, (uint32_t)len, -1, 0, 0};
    return len == 0 || ark_tok_pts_push_split(&p->sp, &p->n, &p->spcap, s);
}

void ark_tok_pts_free(tk_pts *p)
{
    free(p->buf);
    free(p->al);
    free(p->sp);
    memset(p, 0, sizeof *p);
}

/* ---- the emitter ------------------------------------------------------- */

static void emit_bytes(tk_emit *em, const char *b, size_t k, tk_align a)
{
    tk_pts *o = em->out;
    if (!pts_reserve(o, k)) {
        em->oom = true;
        return;
    }
    memcpy(o->buf + o->len, b, k);
    for (size_t i = 0; i < k; i++) o->al[o->len + i] = a;
    o->len += k;
}

static inline size_t next_char_len(const tk_emit *em)
{
    if (em->off >= em->n) return 0;
    size_t k = (size_t)ark_tok_utf8_len((unsigned char)em->src[em->off]);
    return em->off + k > em->n ? em->n - em->off : k;
}

void ark_tok_emit_skip_chars(tk_emit *em, size_t nchars)
{
    while (nchars-- > 0) em->off += next_char_len(em);
}

/* Hugging Face's NormalizedString::transform_range, one char at a time. */
void ark_tok_emit_put(tk_emit *em, uint32_t cp, int change)
{
    tk_align a;
    size_t idx = em->off;
    if (change > 0)
        a = idx < 1 ? em->base : em->al[idx - 1];
    else
        a = idx < em->n ? em->al[idx] : (em->n ? em->al[em->n - 1] : em->base);
    if (change <= 0) em->off += next_char_len(em);
    for (int r = change; r < 0; r++) em->off += next_char_len(em);
    char b[4];
    emit_bytes(em, b, (size_t)ark_tok_utf8_enc(cp, b), a);
}

void ark_tok_emit_copy(tk_emit *em, size_t nbytes)
{
    tk_pts *o = em->out;
    if (!pts_reserve(o, nbytes)) {
        em->oom = true;
        return;
    }
    memcpy(o->buf + o->len, em->src + em->off, nbytes);
    memcpy(o->al + o->len, em->al + em->off, nbytes * sizeof *o->al);
    o->len += nbytes;
    em->off += nbytes;
}

/* ---- stages ------------------------------------------------------------ */

bool ark_tok_pts_transform(tk_pts *p, tk_transform_fn fn, const void *ctx)
{
    tk_pts out;
    memset(&out, 0, sizeof out);
    if (!pts_reserve(&out, p->len + p->len / 4 + 16)) return false;
    bool ok = true;
    for (size_t i = 0; ok && i < p->n; i++) {
        tk_split s = p->sp[i];
        if (s.added >= 0) {
            ok = ark_tok_pts_push_split(&out.sp, &out.n, &out.spcap, s);
            continue;
        }
        size_t start = out.len;
        tk_align base = s.len ? (tk_align){p->al[s.off].s, p->al[s.off].s} : (tk_align){0, 0};
        tk_emit em = {&out, p->buf + s.off, p->al + s.off, s.len, 0, base, false};
        ok = fn(ctx, &em) && !em.oom;
        if (ok && out.len > start) {
            tk_split ns = {(uint32_t)start, (uint32_t)(out.len - start), -1, 0, 0};
            ok = ark_tok_pts_push_split(&out.sp, &out.n, &out.spcap, ns);
        }
    }
    if (!ok) {
        ark_tok_pts_free(&out);
        return false;
    }
    ark_tok_pts_free(p);
    *p = out;
    return true;
}

bool ark_tok_pts_split(tk_pts *p, tk_split_fn fn, const void *ctx)
{
    tk_split *v = NULL;
    size_t n = 0, cap = 0;
    tk_matches ms = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < p->n; i++) {
        tk_split s = p->sp[i];
        if (s.added >= 0) {
            ok = ark_tok_pts_push_split(&v, &n, &cap, s);
            continue;
        }
        bool at_start = s.len > 0 && p->al[s.off].s == 0;
        ms.n = 0;
        ok = fn(ctx, p->buf + s.off, s.len, at_start, &ms);
        for (size_t k = 0; ok && k < ms.n; k++) {
            if (ms.v[k].m || ms.v[k].e <= ms.v[k].s) continue;
            tk_split ns = {s.off + ms.v[k].s, ms.v[k].e - ms.v[k].s, -1, 0, 0};
            ok = ark_tok_pts_push_split(&v, &n, &cap, ns);
        }
    }
    free(ms.v);
    if (!ok) {
        free(v);
        return false;
    }
    free(p->sp);
    p->sp = v;
    p->n = n;
    p->spcap = cap;
    return true;
}
