/* Normalizers: NFC/NFD/NFKC/NFKD (utf8proc), Lowercase, Strip,
 * StripAccents, Prepend, Replace, Nmt, BertNormalizer, ByteLevel,
 * Sequence.  Each rewrites the splits of a tk_pts and keeps the per-byte
 * alignment to the input the way Hugging Face's NormalizedString does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

enum {
    TKN_NFC, TKN_NFD, TKN_NFKC, TKN_NFKD, TKN_LOWER, TKN_STRIP, TKN_STRIP_ACCENTS, TKN_PREPEND,
    TKN_REPLACE, TKN_NMT, TKN_BERT, TKN_BYTELEVEL, TKN_SEQ
};

struct tk_norm {
    int kind;
    bool left, right;                                     /* Strip */
    char *str;                                            /* Prepend / Replace content */
    size_t slen;
    tk_pattern pat;                                       /* Replace */
    bool clean_text, chinese, strip_accents, lowercase;   /* Bert */
    tk_norm **items;                                      /* Sequence */
    size_t n;
};

void ark_tok_norm_free(tk_norm *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) ark_tok_norm_free(n->items[i]);
    free(n->items);
    free(n->str);
    ark_tok_pattern_free(&n->pat);
    free(n);
}

/* ---- unicode normalization forms -------------------------------------- */

static utf8proc_option_t nf_options(int kind)
{
    switch (kind) {
    case TKN_NFC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    case TKN_NFD: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    case TKN_NFKC: return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    default: return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    }
}

static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Emit the normalized text dst[0,m) of the input chars [a, b): output char
 * j stands for input char j (extra output chars are "inserted" after the
 * last one, missing ones "removed" with the last output char), which is how
 * Hugging Face's alignment-keeping normalization reports a composition or a
 * decomposition. */
static void nf_emit(tk_emit *em, size_t a, size_t b, const char *dst, size_t m)
{
    size_t k = count_chars(em->src + a, b - a), mo = count_chars(dst, m), j = 0;
    em->off = a;
    for (size_t i = 0; i < m; j++) {
        uint32_t cp;
        i += (size_t)ark_tok_utf8_dec(dst + i, m - i, &cp);
        int change = j < k ? 0 : 1;
        if (mo <= k && j + 1 == mo) change = -(int)(k - mo);
        ark_tok_emit_put(em, cp, change);
    }
    em->off = b;
}

static char *nf_map(const char *s, size_t n, utf8proc_option_t opt, size_t *m)
{
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
    if (r < 0) return NULL;
    *m = (size_t)r;
    return (char *)dst;
}

static bool is_starter(const char *s, size_t n)
{
    uint32_t cp;
    ark_tok_utf8_dec(s, n, &cp);
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class == 0;
}

/* One "starter + marks" run [a, b).  A decomposition maps each input char
 * to its own decomposition when no reordering crosses them (Hugging Face
 * aligns every piece of a decomposed char to that char); otherwise, and for
 * compositions, output chars map to input chars in order. */
static bool nf_run(tk_emit *em, size_t a, size_t b, utf8proc_option_t opt)
{
    size_t rm;
    char *rd = nf_map(em->src + a, b - a, opt, &rm);
    if (!rd) return false;
    bool done = false;
    if (!(opt & UTF8PROC_COMPOSE)) {
        tk_buf per = {0};
        bool ok = true;
        for (size_t p = a; ok && p < b; p += (size_t)ark_tok_utf8_len((unsigned char)em->src[p])) {
            size_t cm, k = (size_t)ark_tok_utf8_len((unsigned char)em->src[p]);
            char *cd = nf_map(em->src + p, k, opt, &cm);
            ok = cd && ark_tok_buf_put(&per, cd, cm);
            free(cd);
        }
        if (ok && per.len == rm && memcmp(per.p, rd, rm) == 0) {
            for (size_t p = a; p < b;) {
                size_t cm, k = (size_t)ark_tok_utf8_len((unsigned char)em->src[p]);
                char *cd = nf_map(em->src + p, k, opt, &cm);
                if (!cd) break;
                nf_emit(em, p, p + k, cd, cm);
                free(cd);
                p += k;
            }
            done = true;
        }
        free(per.p);
    }
    if (!done) nf_emit(em, a, b, rd, rm);
    free(rd);
    return true;
}

/* Normalize one segment [a, b) of the split (it starts at an ASCII char or
 * at the start of the split).  Alignments are mapped per "starter + its
 * combining marks" run when the runs normalize independently (the usual
 * case), else over the whole segment. */
static bool nf_segment(tk_emit *em, size_t a, size_t b, utf8proc_option_t opt)
{
    size_t m;
    char *dst = nf_map(em->src + a, b - a, opt, &m);
    if (!dst) return false;
    if (m == b - a && memcmp(dst, em->src + a, m) == 0) {
        em->off = a;
        ark_tok_emit_copy(em, b - a);
        free(dst);
        return true;
    }
    tk_buf runs = {0};
    size_t *cut = malloc((b - a + 2) * sizeof *cut), ncut = 0;
    bool ok = cut != NULL;
    for (size_t p = a; ok && p <= b; p += p < b ? (size_t)ark_tok_utf8_len((unsigned char)em->src[p]) : 1)
        if (p == a || p == b || is_starter(em->src + p, b - p)) cut[ncut++] = p;
    /* do the runs normalize to the same text one by one? */
    for (size_t r = 0; ok && r + 1 < ncut; r++) {
        size_t rm;
        char *rd = nf_map(em->src + cut[r], cut[r + 1] - cut[r], opt, &rm);
        ok = rd && ark_tok_buf_put(&runs, rd, rm);
        free(rd);
    }
    if (ok && runs.len == m && memcmp(runs.p, dst, m) == 0) {
        for (size_t r = 0; ok && r + 1 < ncut; r++) ok = nf_run(em, cut[r], cut[r + 1], opt);
    } else if (ok)
        nf_emit(em, a, b, dst, m);
    free(runs.p);
    free(cut);
    free(dst);
    return ok;
}

static bool tf_unicode(const void *ctx, tk_emit *em)
{
    const tk_norm *nm = ctx;
    size_t n = em->n, i = 0;
    while (i < n && (unsigned char)em->src[i] < 0x80) i++;
    if (i == n) {
        ark_tok_emit_copy(em, n);
        return true;
    }
    utf8proc_option_t opt = nf_options(nm->kind);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)em->src, (utf8proc_ssize_t)n, &dst, opt);
    if (m < 0) return false;
    bool same = (size_t)m == n && memcmp(dst, em->src, n) == 0;
    free(dst);
    if (same) {
        ark_tok_emit_copy(em, n);
        return true;
    }
    /* No composition or reordering crosses an ASCII character, so segments
     * that start at one normalize independently. */
    size_t a = 0;
    for (size_t p = 1; p <= n; p++) {
        if (p == n || (unsigned char)em->src[p] < 0x80) {
            if (!nf_segment(em, a, p, opt)) return false;
            a = p;
        }
    }
    return true;
}

/* ---- per-character rewrites ------------------------------------------- */

static bool tf_lower(const void *ctx, tk_emit *em)
{
    (void)ctx;
    while (em->off < em->n) {
        unsigned char c = (unsigned char)em->src[em->off];
        if (c < 0x80) {
            ark_tok_emit_put(em, (c >= 'A' && c <= 'Z') ? c + 32u : c, 0);
            continue;
        }
        uint32_t cp;
        ark_tok_utf8_dec(em->src + em->off, em->n - em->off, &cp);
        if (cp == 0x130) { /* the one unconditional multi-char lowercase */
            ark_tok_emit_put(em, 'i', 0);
            ark_tok_emit_put(em, 0x307, 1);
        } else
            ark_tok_emit_put(em, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), 0);
    }
    return true;
}

static bool tf_strip(const void *ctx, tk_emit *em)
{
    const tk_norm *nm = ctx;
    size_t a = 0, b = em->n;
    while (nm->left && a < b) {
        uint32_t cp;
        int k = ark_tok_utf8_dec(em->src + a, b - a, &cp);
        if (!ark_tok_is_whitespace(cp)) break;
        a += (size_t)k;
    }
    while (nm->right && b > a) {
        size_t p = b - 1;
        while (p > a && ((unsigned char)em->src[p] & 0xC0) == 0x80) p--;
        uint32_t cp;
        ark_tok_utf8_dec(em->src + p, b - p, &cp);
        if (!ark_tok_is_whitespace(cp)) break;
        b = p;
    }
    em->off = a;
    ark_tok_emit_copy(em, b - a);
    return true;
}

/* Keep the chars `keep` accepts, each with its own alignment. */
static bool filter_chars(tk_emit *em, bool (*keep)(uint32_t cp, const void *ctx), const void *ctx)
{
    while (em->off < em->n) {
        uint32_t cp;
        int k = ark_tok_utf8_dec(em->src + em->off, em->n - em->off, &cp);
        if (keep(cp, ctx)) ark_tok_emit_copy(em, (size_t)k);
        else em->off += (size_t)k;
    }
    return true;
}

static bool keep_nonmark(uint32_t cp, const void *ctx)
{
    (void)ctx;
    return !ark_tok_is_mark(cp);
}

static bool keep_nonspacing(uint32_t cp, const void *ctx)
{
    (void)ctx;
    return cp < 0x80 || utf8proc_category((utf8proc_int32_t)cp) != UTF8PROC_CATEGORY_MN;
}

static bool tf_strip_accents(const void *ctx, tk_emit *em)
{
    (void)ctx;
    return filter_chars(em, keep_nonmark, NULL);
}

static bool tf_prepend(const void *ctx, tk_emit *em)
{
    const tk_norm *nm = ctx;
    if (em->n == 0) return true;
    uint32_t first;
    ark_tok_utf8_dec(em->src, em->n, &first);
    int change = 0;
    for (size_t i = 0; i < nm->slen;) {
        uint32_t cp;
        i += (size_t)ark_tok_utf8_dec(nm->str + i, nm->slen - i, &cp);
        ark_tok_emit_put(em, cp, change);
        change = 1;
    }
    if (nm->slen) ark_tok_emit_put(em, first, 1);
    ark_tok_emit_copy(em, em->n - em->off);
    return true;
}

static bool tf_replace(const void *ctx, tk_emit *em)
{
    const tk_norm *nm = ctx;
    tk_matches ms = {0};
    if (!ark_tok_pattern_find(&nm->pat, em->src, em->n, &ms)) {
        free(ms.v);
        return false;
    }
    for (size_t i = 0; i < ms.n; i++) {
        em->off = ms.v[i].s;
        if (!ms.v[i].m) {
            ark_tok_emit_copy(em, ms.v[i].e - ms.v[i].s);
            continue;
        }
        em->off = ms.v[i].e; /* the content is "inserted" after the match */
        for (size_t j = 0; j < nm->slen;) {
            uint32_t cp;
            j += (size_t)ark_tok_utf8_dec(nm->str + j, nm->slen - j, &cp);
            ark_tok_emit_put(em, cp, 1);
        }
    }
    free(ms.v);
    return true;
}

static bool nmt_keep(uint32_t c, const void *ctx)
{
    (void)ctx;
    return !((c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F);
}

static bool tf_nmt(const void *ctx, tk_emit *em)
{
    (void)ctx;
    while (em->off < em->n) {
        uint32_t c;
        int k = ark_tok_utf8_dec(em->src + em->off, em->n - em->off, &c);
        if (!nmt_keep(c, NULL)) {
            em->off += (size_t)k;
            continue;
        }
        bool space = c == 9 || c == 10 || c == 12 || c == 13 || c == 0x1680 || (c >= 0x200B && c <= 0x200F) ||
                     c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF || c == 0xFFFD;
        ark_tok_emit_put(em, space ? ' ' : c, 0);
    }
    return true;
}

static bool tf_bytelevel(const void *ctx, tk_emit *em)
{
    (void)ctx;
    while (em->off < em->n) {
        size_t k = (size_t)ark_tok_utf8_len((unsigned char)em->src[em->off]);
        const unsigned char *b = (const unsigned char *)em->src + em->off;
        for (size_t i = 0; i < k; i++) ark_tok_emit_put(em, ark_tok_byte_to_cp[b[i]], i > 0);
    }
    return true;
}

/* ---- BertNormalizer ---------------------------------------------------- */

/* "Other" chars that clean_text drops: control, format, private use.
 * Unassigned code points are kept, as Hugging Face keeps them. */
static bool bert_other(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
           k == UTF8PROC_CATEGORY_CS;
}

static bool tf_bert_clean(const void *ctx, tk_emit *em)
{
    (void)ctx;
    while (em->off < em->n) {
        uint32_t c;
        int k = ark_tok_utf8_dec(em->src + em->off, em->n - em->off, &c);
        bool ws = c == '\t' || c == '\n' || c == '\r' || ark_tok_is_whitespace(c);
        bool control = c != '\t' && c != '\n' && c != '\r' && bert_other(c); /* drops U+0085 too */
        if (c == 0 || c == 0xFFFD || control) {
            em->off += (size_t)k;
            continue;
        }
        ark_tok_emit_put(em, ws ? ' ' : c, 0);
    }
    return true;
}

static bool is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool tf_bert_chinese(const void *ctx, tk_emit *em)
{
    (void)ctx;
    while (em->off < em->n) {
        uint32_t c;
        int k = ark_tok_utf8_dec(em->src + em->off, em->n - em->off, &c);
        if (!is_cjk(c)) {
            ark_tok_emit_copy(em, (size_t)k);
            continue;
        }
        ark_tok_emit_put(em, ' ', 0);
        ark_tok_emit_put(em, c, 1);
        ark_tok_emit_put(em, ' ', 1);
    }
    return true;
}

static bool tf_bert_unaccent(const void *ctx, tk_emit *em)
{
    (void)ctx;
    return filter_chars(em, keep_nonspacing, NULL);
}

static bool apply_bert(const tk_norm *n, tk_pts *p)
{
    static const tk_norm nfd = {.kind = TKN_NFD};
    if (n->clean_text && !ark_tok_pts_transform(p, tf_bert_clean, n)) return false;
    if (n->chinese && !ark_tok_pts_transform(p, tf_bert_chinese, n)) return false;
    if (n->strip_accents &&
        (!ark_tok_pts_transform(p, tf_unicode, &nfd) || !ark_tok_pts_transform(p, tf_bert_unaccent, n)))
        return false;
    return !n->lowercase || ark_tok_pts_transform(p, tf_lower, n);
}

bool ark_tok_norm_apply(const tk_norm *n, tk_pts *p)
{
    switch (n->kind) {
    case TKN_SEQ:
        for (size_t i = 0; i < n->n; i++)
            if (!ark_tok_norm_apply(n->items[i], p)) return false;
        return true;
    case TKN_NFC:
    case TKN_NFD:
    case TKN_NFKC:
    case TKN_NFKD: return ark_tok_pts_transform(p, tf_unicode, n);
    case TKN_LOWER: return ark_tok_pts_transform(p, tf_lower, n);
    case TKN_STRIP: return ark_tok_pts_transform(p, tf_strip, n);
    case TKN_STRIP_ACCENTS: return ark_tok_pts_transform(p, tf_strip_accents, n);
    case TKN_PREPEND: return ark_tok_pts_transform(p, tf_prepend, n);
    case TKN_REPLACE: return ark_tok_pts_transform(p, tf_replace, n);
    case TKN_NMT: return ark_tok_pts_transform(p, tf_nmt, n);
    case TKN_BYTELEVEL: return ark_tok_pts_transform(p, tf_bytelevel, n);
    case TKN_BERT: return apply_bert(n, p);
    }
    return false;
}

/* ---- parsing ----------------------------------------------------------- */

static ark_status parse_seq(const cJSON *j, const char *where, tk_norm *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
    if (!cJSON_IsArray(arr)) return ark_fail(ARK_ERR_FORMAT, "%s.normalizers: expected an array", where);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    n->items = calloc(cnt ? cnt : 1, sizeof *n->items);
    if (!n->items) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char w[256];
        snprintf(w, sizeof w, "%s.normalizers[%zu]", where, n->n);
        ARK_TRY(ark_tok_norm_parse(it, w, &n->items[n->n]));
        n->n++;
    }
    return ARK_OK;
}

static ark_status parse_content(const cJSON *j, const char *key, const char *where, tk_norm *n)
{
    const char *s;
    ARK_TRY(ark_tok_json_str(j, key, where, &s));
    if (!s) return ark_fail(ARK_ERR_FORMAT, "%s.%s: missing", where, key);
    n->str = ark_tok_strdup(s);
    if (!n->str) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    n->slen = strlen(s);
    return ARK_OK;
}

static ark_status parse_bert(const cJSON *j, const char *where, tk_norm *n)
{
    n->clean_text = n->chinese = n->lowercase = true;
    ARK_TRY(ark_tok_json_bool(j, "clean_text", where, &n->clean_text));
    ARK_TRY(ark_tok_json_bool(j, "handle_chinese_chars", where, &n->chinese));
    ARK_TRY(ark_tok_json_bool(j, "lowercase", where, &n->lowercase));
    n->strip_accents = n->lowercase; /* strip_accents: null means "as lowercase" */
    return ark_tok_json_bool(j, "strip_accents", where, &n->strip_accents);
}

static ark_status parse_kind(const cJSON *j, const char *where, const char *type, tk_norm *n)
{
    static const struct { const char *name; int kind; } simple[] = {
        {"NFC", TKN_NFC}, {"NFD", TKN_NFD}, {"NFKC", TKN_NFKC}, {"NFKD", TKN_NFKD},
        {"Lowercase", TKN_LOWER}, {"StripAccents", TKN_STRIP_ACCENTS}, {"Nmt", TKN_NMT},
        {"ByteLevel", TKN_BYTELEVEL},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(type, simple[i].name)) {
            n->kind = simple[i].kind;
            return ARK_OK;
        }
    if (!strcmp(type, "Sequence")) {
        n->kind = TKN_SEQ;
        return parse_seq(j, where, n);
    }
    if (!strcmp(type, "Strip")) {
        n->kind = TKN_STRIP;
        n->left = n->right = true;
        ARK_TRY(ark_tok_json_bool(j, "strip_left", where, &n->left));
        return ark_tok_json_bool(j, "strip_right", where, &n->right);
    }
    if (!strcmp(type, "Prepend")) {
        n->kind = TKN_PREPEND;
        return parse_content(j, "prepend", where, n);
    }
    if (!strcmp(type, "Replace")) {
        n->kind = TKN_REPLACE;
        char w[256];
        snprintf(w, sizeof w, "%s.pattern", where);
        ARK_TRY(ark_tok_pattern_parse(&n->pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), w));
        return parse_content(j, "content", where, n);
    }
    if (!strcmp(type, "BertNormalizer")) {
        n->kind = TKN_BERT;
        return parse_bert(j, where, n);
    }
    if (!strcmp(type, "Precompiled"))
        return ark_fail(ARK_ERR_UNSUPPORTED,
                        "%s: the Precompiled (sentencepiece charsmap) normalizer is not supported", where);
    return ark_fail(ARK_ERR_UNSUPPORTED, "%s: unknown normalizer type \"%s\"", where, type);
}

ark_status ark_tok_norm_parse(const cJSON *j, const char *where, tk_norm **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ARK_OK;
    const char *type;
    ARK_TRY(ark_tok_json_type(j, where, &type));
    tk_norm *n = calloc(1, sizeof *n);
    if (!n) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    ark_status s = parse_kind(j, where, type, n);
    if (s != ARK_OK) {
        ark_tok_norm_free(n);
        return s;
    }
    *out = n;
    return ARK_OK;
}
