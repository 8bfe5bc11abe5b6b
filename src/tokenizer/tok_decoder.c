/* Decoders: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip,
 * WordPiece, BPEDecoder, CTC, Sequence — Hugging Face's decode_chain on a
 * list of strings.  In "piece" mode (display pieces, see
 * ark_encoding_piece) a single token is decoded as if it stood in the
 * middle of a text: Strip is skipped and the first-token rules of
 * Metaspace, WordPiece and BPEDecoder do not apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

enum {
    TKD_BYTELEVEL, TKD_METASPACE, TKD_REPLACE, TKD_BYTEFALLBACK, TKD_FUSE, TKD_STRIP, TKD_WORDPIECE,
    TKD_BPE, TKD_CTC, TKD_SEQ
};

struct tk_dec {
    int kind;
    tk_pattern pat;            /* Replace */
    char *str, *str2;          /* Replace content; WordPiece prefix; BPE suffix; CTC pad / delimiter */
    uint32_t ch;               /* Metaspace replacement; Strip content */
    bool never_prepend;        /* Metaspace prepend_scheme == never */
    long start, stop;          /* Strip */
    bool cleanup;              /* WordPiece, CTC */
    tk_dec **items;
    size_t n;
};

bool ark_tok_slist_push(tk_slist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint32_t *off = realloc(l->off, cap * sizeof *off);
        if (!off) return false;
        l->off = off;
        uint32_t *len = realloc(l->len, cap * sizeof *len);
        if (!len) return false;
        l->len = len;
        l->cap = cap;
    }
    size_t at = l->b.len;
    if (!ark_tok_buf_put(&l->b, s, n)) return false;
    l->off[l->n] = (uint32_t)at;
    l->len[l->n++] = (uint32_t)n;
    return true;
}

void ark_tok_slist_free(tk_slist *l)
{
    free(l->b.p);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

void ark_tok_dec_free(tk_dec *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) ark_tok_dec_free(d->items[i]);
    free(d->items);
    ark_tok_pattern_free(&d->pat);
    free(d->str);
    free(d->str2);
    free(d);
}

#define STR(l, i) ((l)->b.p + (l)->off[i])

/* ---- the decoders ------------------------------------------------------ */

static bool dec_bytelevel(const tk_slist *in, tk_slist *out)
{
    tk_buf bytes = {0}, text = {0};
    bool ok = ark_tok_buf_put(&bytes, "", 0);
    for (size_t i = 0; ok && i < in->n; i++) {
        const char *s = STR(in, i);
        size_t n = in->len[i], start = bytes.len;
        for (size_t j = 0; ok && j < n;) {
            uint32_t cp;
            j += (size_t)ark_tok_utf8_dec(s + j, n - j, &cp);
            int b = ark_tok_cp_to_byte(cp);
            if (b < 0) { /* not all byte chars: the token's own bytes */
                bytes.len = start;
                ok = ark_tok_buf_put(&bytes, s, n);
                break;
            }
            char c = (char)b;
            ok = ark_tok_buf_put(&bytes, &c, 1);
        }
    }
    ok = ok && ark_tok_buf_put(&text, "", 0) && ark_tok_utf8_lossy(&text, bytes.p, bytes.len) &&
         ark_tok_slist_push(out, text.p, text.len);
    free(bytes.p);
    free(text.p);
    return ok;
}

static bool dec_metaspace(const tk_dec *d, const tk_slist *in, tk_slist *out, bool piece)
{
    tk_buf b = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        const char *s = STR(in, i);
        size_t n = in->len[i];
        b.len = 0;
        ok = ark_tok_buf_put(&b, "", 0);
        for (size_t j = 0; ok && j < n;) {
            uint32_t cp;
            int k = ark_tok_utf8_dec(s + j, n - j, &cp);
            if (cp != d->ch) ok = ark_tok_buf_put(&b, s + j, (size_t)k);
            else if (i != 0 || d->never_prepend || piece) ok = ark_tok_buf_put(&b, " ", 1);
            j += (size_t)k;
        }
        ok = ok && ark_tok_slist_push(out, b.p, b.len);
    }
    free(b.p);
    return ok;
}

static bool dec_replace(const tk_dec *d, const tk_slist *in, tk_slist *out)
{
    tk_buf b = {0};
    tk_matches ms = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        const char *s = STR(in, i);
        b.len = 0;
        ok = ark_tok_buf_put(&b, "", 0) && ark_tok_pattern_find(&d->pat, s, in->len[i], &ms);
        for (size_t k = 0; ok && k < ms.n; k++)
            ok = ms.v[k].m ? ark_tok_buf_put(&b, d->str, strlen(d->str))
                           : ark_tok_buf_put(&b, s + ms.v[k].s, ms.v[k].e - ms.v[k].s);
        ok = ok && ark_tok_slist_push(out, b.p, b.len);
    }
    free(ms.v);
    free(b.p);
    return ok;
}

static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

/* A run of byte tokens: their UTF-8 text, or one U+FFFD per byte if the
 * run as a whole is not UTF-8. */
static bool flush_bytes(tk_buf *bytes, tk_slist *out)
{
    bool ok = true;
    if (bytes->len == 0) return true;
    if (ark_tok_utf8_check(bytes->p, bytes->len) == bytes->len) ok = ark_tok_slist_push(out, bytes->p, bytes->len);
    else
        for (size_t k = 0; ok && k < bytes->len; k++) ok = ark_tok_slist_push(out, "\xEF\xBF\xBD", 3);
    bytes->len = 0;
    return ok;
}

static bool dec_bytefallback(const tk_slist *in, tk_slist *out)
{
    tk_buf bytes = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        int v = byte_token(STR(in, i), in->len[i]);
        if (v >= 0) {
            char c = (char)v;
            ok = ark_tok_buf_put(&bytes, &c, 1);
            continue;
        }
        ok = flush_bytes(&bytes, out) && ark_tok_slist_push(out, STR(in, i), in->len[i]);
    }
    ok = ok && flush_bytes(&bytes, out);
    free(bytes.p);
    return ok;
}

static bool dec_fuse(const tk_slist *in, tk_slist *out)
{
    return ark_tok_slist_push(out, in->b.p ? in->b.p : "", in->b.len); /* strings are contiguous */
}

static bool dec_strip(const tk_dec *d, const tk_slist *in, tk_slist *out)
{
    for (size_t i = 0; i < in->n; i++) {
        const char *s = STR(in, i);
        size_t a = 0, b = in->len[i];
        for (long k = 0; k < d->start && a < b; k++) {
            uint32_t cp;
            int len = ark_tok_utf8_dec(s + a, b - a, &cp);
            if (cp != d->ch) break;
            a += (size_t)len;
        }
        for (long k = 0; k < d->stop && b > a; k++) {
            size_t p = b - 1;
            while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
            uint32_t cp;
            ark_tok_utf8_dec(s + p, b - p, &cp);
            if (cp != d->ch) break;
            b = p;
        }
        if (!ark_tok_slist_push(out, s + a, b - a)) return false;
    }
    return true;
}

/* WordPiece's cleanup(): the English detokenisation rules, in order. */
static bool cleanup(tk_buf *b)
{
    static const char *rules[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},
                                     {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
                                     {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        const char *from = rules[r][0], *to = rules[r][1];
        size_t fl = strlen(from), tl = strlen(to);
        tk_buf o = {0};
        if (!ark_tok_buf_put(&o, "", 0)) return false;
        for (size_t i = 0; i < b->len;) {
            if (i + fl <= b->len && memcmp(b->p + i, from, fl) == 0) {
                if (!ark_tok_buf_put(&o, to, tl)) return free(o.p), false;
                i += fl;
            } else {
                if (!ark_tok_buf_put(&o, b->p + i, 1)) return free(o.p), false;
                i++;
            }
        }
        free(b->p);
        *b = o;
    }
    return true;
}

static bool dec_wordpiece(const tk_dec *d, const tk_slist *in, tk_slist *out, bool piece)
{
    size_t pl = strlen(d->str);
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        const char *s = STR(in, i);
        size_t n = in->len[i];
        tk_buf b = {0};
        ok = ark_tok_buf_put(&b, "", 0);
        if (i != 0 || piece) {
            if (n >= pl && memcmp(s, d->str, pl) == 0) s += pl, n -= pl;
            else ok = ok && ark_tok_buf_put(&b, " ", 1);
        }
        ok = ok && ark_tok_buf_put(&b, s, n) && (!d->cleanup || cleanup(&b)) && ark_tok_slist_push(out, b.p, b.len);
        free(b.p);
    }
    return ok;
}

static bool replace_all(tk_buf *b, const char *s, size_t n, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    for (size_t i = 0; i < n;) {
        if (fl && i + fl <= n && memcmp(s + i, from, fl) == 0) {
            if (!ark_tok_buf_put(b, to, tl)) return false;
            i += fl;
        } else {
            if (!ark_tok_buf_put(b, s + i, 1)) return false;
            i++;
        }
    }
    return true;
}

static bool dec_bpe(const tk_dec *d, const tk_slist *in, tk_slist *out, bool piece)
{
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        tk_buf b = {0};
        const char *rep = (i + 1 == in->n && !piece) ? "" : " ";
        ok = ark_tok_buf_put(&b, "", 0) && replace_all(&b, STR(in, i), in->len[i], d->str, rep) &&
             ark_tok_slist_push(out, b.p, b.len);
        free(b.p);
    }
    return ok;
}

static bool dec_ctc(const tk_dec *d, const tk_slist *in, tk_slist *out)
{
    bool ok = true;
    for (size_t i = 0; ok && i < in->n; i++) {
        if (i > 0 && in->len[i] == in->len[i - 1] && !memcmp(STR(in, i), STR(in, i - 1), in->len[i])) continue;
        tk_buf b = {0}, c = {0};
        ok = ark_tok_buf_put(&b, "", 0) && replace_all(&b, STR(in, i), in->len[i], d->str, "");
        if (ok && d->cleanup)
            ok = cleanup(&b) && ark_tok_buf_put(&c, "", 0) && replace_all(&c, b.p, b.len, d->str2, " ");
        const tk_buf *r = d->cleanup ? &c : &b;
        if (ok && r->len) ok = ark_tok_slist_push(out, r->p, r->len);
        free(b.p);
        free(c.p);
    }
    return ok;
}

static bool dec_one(const tk_dec *d, const tk_slist *in, tk_slist *out, bool piece)
{
    switch (d->kind) {
    case TKD_BYTELEVEL: return dec_bytelevel(in, out);
    case TKD_METASPACE: return dec_metaspace(d, in, out, piece);
    case TKD_REPLACE: return dec_replace(d, in, out);
    case TKD_BYTEFALLBACK: return dec_bytefallback(in, out);
    case TKD_FUSE: return dec_fuse(in, out);
    case TKD_STRIP:
        if (piece) {
            for (size_t i = 0; i < in->n; i++)
                if (!ark_tok_slist_push(out, STR(in, i), in->len[i])) return false;
            return true;
        }
        return dec_strip(d, in, out);
    case TKD_WORDPIECE: return dec_wordpiece(d, in, out, piece);
    case TKD_BPE: return dec_bpe(d, in, out, piece);
    default: return dec_ctc(d, in, out);
    }
}

bool ark_tok_dec_apply(const tk_dec *d, tk_slist *l, bool piece)
{
    if (d->kind == TKD_SEQ) {
        for (size_t i = 0; i < d->n; i++)
            if (!ark_tok_dec_apply(d->items[i], l, piece)) return false;
        return true;
    }
    tk_slist out = {0};
    if (!dec_one(d, l, &out, piece)) {
        ark_tok_slist_free(&out);
        return false;
    }
    ark_tok_slist_free(l);
    *l = out;
    return true;
}

/* ---- parsing ----------------------------------------------------------- */

static ark_status dup_field(const cJSON *j, const char *key, const char *where, const char *dflt, char **out)
{
    const char *s;
    ARK_TRY(ark_tok_json_str(j, key, where, &s));
    if (!s) s = dflt;
    if (!s) return ark_fail(ARK_ERR_FORMAT, "%s.%s: missing", where, key);
    *out = ark_tok_strdup(s);
    return *out ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
}

static ark_status one_char(const cJSON *j, const char *key, const char *where, const char *dflt, uint32_t *cp)
{
    const char *s;
    ARK_TRY(ark_tok_json_str(j, key, where, &s));
    if (!s) s = dflt;
    if (!s || !*s || strlen(s) != (size_t)ark_tok_utf8_len((unsigned char)s[0]))
        return ark_fail(ARK_ERR_FORMAT, "%s.%s: expected one character", where, key);
    ark_tok_utf8_dec(s, strlen(s), cp);
    return ARK_OK;
}

static ark_status parse_seq(const cJSON *j, const char *where, tk_dec *d)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "decoders");
    if (!cJSON_IsArray(arr)) return ark_fail(ARK_ERR_FORMAT, "%s.decoders: expected an array", where);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    d->items = calloc(cnt ? cnt : 1, sizeof *d->items);
    if (!d->items) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char w[256];
        snprintf(w, sizeof w, "%s.decoders[%zu]", where, d->n);
        ARK_TRY(ark_tok_dec_parse(it, w, &d->items[d->n]));
        if (!d->items[d->n]) return ark_fail(ARK_ERR_FORMAT, "%s: null decoder", w);
        d->n++;
    }
    return ARK_OK;
}

static ark_status parse_kind(const cJSON *j, const char *where, const char *type, tk_dec *d)
{
    if (!strcmp(type, "ByteLevel")) return d->kind = TKD_BYTELEVEL, ARK_OK;
    if (!strcmp(type, "ByteFallback")) return d->kind = TKD_BYTEFALLBACK, ARK_OK;
    if (!strcmp(type, "Fuse")) return d->kind = TKD_FUSE, ARK_OK;
    if (!strcmp(type, "Sequence")) return d->kind = TKD_SEQ, parse_seq(j, where, d);
    if (!strcmp(type, "Replace")) {
        d->kind = TKD_REPLACE;
        char w[256];
        snprintf(w, sizeof w, "%s.pattern", where);
        ARK_TRY(ark_tok_pattern_parse(&d->pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), w));
        return dup_field(j, "content", where, NULL, &d->str);
    }
    if (!strcmp(type, "Metaspace")) {
        d->kind = TKD_METASPACE;
        const char *scheme;
        bool add_prefix_space = true;
        ARK_TRY(one_char(j, "replacement", where, "\xE2\x96\x81", &d->ch));
        ARK_TRY(ark_tok_json_str(j, "prepend_scheme", where, &scheme));
        ARK_TRY(ark_tok_json_bool(j, "add_prefix_space", where, &add_prefix_space));
        d->never_prepend = (scheme && !strcmp(scheme, "never")) || !add_prefix_space;
        return ARK_OK;
    }
    if (!strcmp(type, "Strip")) {
        d->kind = TKD_STRIP;
        ARK_TRY(one_char(j, "content", where, " ", &d->ch));
        ARK_TRY(ark_tok_json_int(j, "start", where, &d->start));
        return ark_tok_json_int(j, "stop", where, &d->stop);
    }
    if (!strcmp(type, "WordPiece")) {
        d->kind = TKD_WORDPIECE;
        d->cleanup = true;
        ARK_TRY(ark_tok_json_bool(j, "cleanup", where, &d->cleanup));
        return dup_field(j, "prefix", where, "##", &d->str);
    }
    if (!strcmp(type, "BPEDecoder")) {
        d->kind = TKD_BPE;
        return dup_field(j, "suffix", where, "</w>", &d->str);
    }
    if (!strcmp(type, "CTC")) {
        d->kind = TKD_CTC;
        d->cleanup = true;
        ARK_TRY(ark_tok_json_bool(j, "cleanup", where, &d->cleanup));
        ARK_TRY(dup_field(j, "pad_token", where, "<pad>", &d->str));
        return dup_field(j, "word_delimiter_token", where, "|", &d->str2);
    }
    return ark_fail(ARK_ERR_UNSUPPORTED, "%s: decoder type \"%s\" is not supported", where, type);
}

ark_status ark_tok_dec_parse(const cJSON *j, const char *where, tk_dec **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ARK_OK;
    const char *type;
    ARK_TRY(ark_tok_json_type(j, where, &type));
    tk_dec *d = calloc(1, sizeof *d);
    if (!d) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    ark_status s = parse_kind(j, where, type, d);
    if (s != ARK_OK) {
        ark_tok_dec_free(d);
        return s;
    }
    *out = d;
    return ARK_OK;
}
