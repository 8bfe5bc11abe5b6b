/* Pre-tokenizers: ByteLevel, Split, Whitespace, WhitespaceSplit, Metaspace,
 * Digits, Punctuation, BertPreTokenizer, CharDelimiterSplit, Sequence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

enum {
    TKPT_BYTELEVEL, TKPT_SPLIT, TKPT_WHITESPACE, TKPT_WS_SPLIT, TKPT_METASPACE, TKPT_DIGITS,
    TKPT_PUNCT, TKPT_BERT, TKPT_CHARDELIM, TKPT_SEQ
};
enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER };

/* GPT-2's pre-tokenization regex, as Hugging Face's ByteLevel has it. */
static const char gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct tk_pretok {
    int kind;
    bool add_prefix_space, use_regex; /* ByteLevel */
    tk_pattern pat;                   /* Split, ByteLevel's regex, char classes */
    int behavior;
    bool invert;
    uint32_t repl;                    /* Metaspace */
    char repl_s[5];
    size_t repl_len;
    int prepend_scheme;
    bool split;
    tk_pretok **items;                /* Sequence */
    size_t n;
};

void ark_tok_pretok_free(tk_pretok *pt)
{
    if (!pt) return;
    for (size_t i = 0; i < pt->n; i++) ark_tok_pretok_free(pt->items[i]);
    free(pt->items);
    ark_tok_pattern_free(&pt->pat);
    free(pt);
}

/* ---- split functions --------------------------------------------------- */

static bool sf_pattern(const void *ctx, const char *s, size_t n, bool at_start, tk_matches *out)
{
    const tk_pretok *pt = ctx;
    (void)at_start;
    if (!ark_tok_pattern_find(&pt->pat, s, n, out)) return false;
    if (pt->invert)
        for (size_t i = 0; i < out->n; i++) out->v[i].m = !out->v[i].m;
    ark_tok_apply_behavior(out, pt->behavior);
    return true;
}

static bool push_piece(tk_matches *out, size_t s, size_t e, bool drop)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        tk_match *v = realloc(out->v, cap * sizeof *v);
        if (!v) return false;
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = (tk_match){(uint32_t)s, (uint32_t)e, drop};
    return true;
}

/* Whitespace: the matches of \w+|[^\w\s]+ are kept, the rest dropped. */
static bool sf_whitespace(const void *ctx, const char *s, size_t n, bool at_start, tk_matches *out)
{
    (void)ctx;
    (void)at_start;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = ark_tok_utf8_dec(s + i, n - i, &cp);
        int cls = ark_tok_is_word(cp) ? 0 : ark_tok_is_whitespace(cp) ? 2 : 1;
        size_t j = i + (size_t)k;
        while (j < n) {
            uint32_t c2;
            int k2 = ark_tok_utf8_dec(s + j, n - j, &c2);
            int cls2 = ark_tok_is_word(c2) ? 0 : ark_tok_is_whitespace(c2) ? 2 : 1;
            if (cls2 != cls) break;
            j += (size_t)k2;
        }
        if (!push_piece(out, i, j, cls == 2)) return false;
        i = j;
    }
    return true;
}

static ark_status init_charclass(tk_pretok *pt, tk_char_pred pred, uint32_t ch, int behavior)
{
    pt->pat.kind = TKP_CHARCLASS;
    pt->pat.pred = pred;
    pt->pat.ch = ch;
    pt->behavior = behavior;
    return ARK_OK;
}

/* ---- transforms -------------------------------------------------------- */

/* Hugging Face's NormalizedString::prepend(s) on a non-empty split. */
static void emit_prepend(tk_emit *em, const char *s, size_t len)
{
    uint32_t first;
    ark_tok_utf8_dec(em->src, em->n, &first);
    int change = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)ark_tok_utf8_dec(s + i, len - i, &cp);
        ark_tok_emit_put(em, cp, change);
        change = 1;
    }
    ark_tok_emit_put(em, first, 1);
    ark_tok_emit_copy(em, em->n - em->off);
}

static bool tf_prefix_space(const void *ctx, tk_emit *em)
{
    (void)ctx;
    if (em->n > 0 && em->src[0] != ' ') emit_prepend(em, " ", 1);
    else ark_tok_emit_copy(em, em->n);
    return true;
}

static bool tf_bytes(const void *ctx, tk_emit *em)
{
    (void)ctx;
    const unsigned char *b = (const unsigned char *)em->src;
    while (em->off < em->n) {
        size_t i = em->off;
        if (b[i] < 0x80 && ark_tok_byte_to_cp[b[i]] == b[i]) { /* printable ASCII stays */
            size_t j = i + 1;
            while (j < em->n && b[j] < 0x80 && ark_tok_byte_to_cp[b[j]] == b[j]) j++;
            ark_tok_emit_copy(em, j - i);
            continue;
        }
        size_t k = (size_t)ark_tok_utf8_len(b[i]);
        if (i + k > em->n) k = em->n - i;
        for (size_t q = 0; q < k; q++) ark_tok_emit_put(em, ark_tok_byte_to_cp[b[i + q]], q > 0);
    }
    return true;
}

static bool tf_meta_replace(const void *ctx, tk_emit *em)
{
    const tk_pretok *pt = ctx;
    while (em->off < em->n) {
        size_t i = em->off, j = i;
        while (j < em->n && em->src[j] != ' ') j++;
        if (j > i) ark_tok_emit_copy(em, j - i);
        if (j == em->n) break;
        em->off = j + 1; /* the replacement is "inserted" after the space */
        ark_tok_emit_put(em, pt->repl, 1);
    }
    return true;
}

static bool tf_meta_prepend(const void *ctx, tk_emit *em)
{
    const tk_pretok *pt = ctx;
    bool starts = em->n >= pt->repl_len && memcmp(em->src, pt->repl_s, pt->repl_len) == 0;
    bool want = !starts && (pt->prepend_scheme == TK_PREPEND_ALWAYS ||
                            (pt->prepend_scheme == TK_PREPEND_FIRST && em->n > 0 && em->al[0].s == 0));
    if (want && em->n > 0) emit_prepend(em, pt->repl_s, pt->repl_len);
    else ark_tok_emit_copy(em, em->n);
    return true;
}

bool ark_tok_pretok_apply(const tk_pretok *pt, tk_pts *p)
{
    switch (pt->kind) {
    case TKPT_SEQ:
        for (size_t i = 0; i < pt->n; i++)
            if (!ark_tok_pretok_apply(pt->items[i], p)) return false;
        return true;
    case TKPT_BYTELEVEL:
        if (pt->add_prefix_space && !ark_tok_pts_transform(p, tf_prefix_space, pt)) return false;
        if (pt->use_regex && !ark_tok_pts_split(p, sf_pattern, pt)) return false;
        return ark_tok_pts_transform(p, tf_bytes, pt);
    case TKPT_METASPACE:
        if (!ark_tok_pts_transform(p, tf_meta_replace, pt)) return false;
        if (pt->prepend_scheme != TK_PREPEND_NEVER && !ark_tok_pts_transform(p, tf_meta_prepend, pt))
            return false;
        return !pt->split || ark_tok_pts_split(p, sf_pattern, pt);
    case TKPT_WHITESPACE: return ark_tok_pts_split(p, sf_whitespace, pt);
    case TKPT_BERT:
        if (!ark_tok_pts_split(p, sf_pattern, pt->items[0])) return false;
        return ark_tok_pts_split(p, sf_pattern, pt->items[1]);
    default: return ark_tok_pts_split(p, sf_pattern, pt);
    }
}

/* ---- parsing ----------------------------------------------------------- */

static ark_status parse_seq(const cJSON *j, const char *where, tk_pretok *pt)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
    if (!cJSON_IsArray(arr)) return ark_fail(ARK_ERR_FORMAT, "%s.pretokenizers: expected an array", where);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    pt->items = calloc(cnt ? cnt : 1, sizeof *pt->items);
    if (!pt->items) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char w[256];
        snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, pt->n);
        ARK_TRY(ark_tok_pretok_parse(it, w, &pt->items[pt->n]));
        if (!pt->items[pt->n]) return ark_fail(ARK_ERR_FORMAT, "%s: null pre-tokenizer", w);
        pt->n++;
    }
    return ARK_OK;
}

static ark_status parse_bytelevel(const cJSON *j, const char *where, tk_pretok *pt)
{
    pt->add_prefix_space = true;
    pt->use_regex = true;
    ARK_TRY(ark_tok_json_bool(j, "add_prefix_space", where, &pt->add_prefix_space));
    ARK_TRY(ark_tok_json_bool(j, "use_regex", where, &pt->use_regex));
    pt->behavior = TK_ISOLATED;
    return pt->use_regex ? ark_tok_pattern_regex(&pt->pat, gpt2_regex, strlen(gpt2_regex), where) : ARK_OK;
}

static ark_status parse_split(const cJSON *j, const char *where, tk_pretok *pt)
{
    char w[256];
    snprintf(w, sizeof w, "%s.pattern", where);
    ARK_TRY(ark_tok_pattern_parse(&pt->pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), w));
    snprintf(w, sizeof w, "%s.behavior", where);
    ARK_TRY(ark_tok_behavior_parse(cJSON_GetObjectItemCaseSensitive(j, "behavior"), w, &pt->behavior));
    return ark_tok_json_bool(j, "invert", where, &pt->invert);
}

static ark_status parse_metaspace(const cJSON *j, const char *where, tk_pretok *pt)
{
    const char *r, *scheme;
    ARK_TRY(ark_tok_json_str(j, "replacement", where, &r));
    if (!r) r = "\xE2\x96\x81";
    size_t rl = strlen(r);
    if (rl == 0 || rl > 4 || (size_t)ark_tok_utf8_len((unsigned char)r[0]) != rl)
        return ark_fail(ARK_ERR_FORMAT, "%s.replacement: expected one character, got \"%s\"", where, r);
    ark_tok_utf8_dec(r, rl, &pt->repl);
    memcpy(pt->repl_s, r, rl);
    pt->repl_len = rl;
    pt->prepend_scheme = TK_PREPEND_ALWAYS;
    ARK_TRY(ark_tok_json_str(j, "prepend_scheme", where, &scheme));
    if (scheme && !strcmp(scheme, "first")) pt->prepend_scheme = TK_PREPEND_FIRST;
    else if (scheme && !strcmp(scheme, "never")) pt->prepend_scheme = TK_PREPEND_NEVER;
    else if (scheme && strcmp(scheme, "always"))
        return ark_fail(ARK_ERR_FORMAT, "%s.prepend_scheme: unknown value \"%s\"", where, scheme);
    bool add_prefix_space = true;
    ARK_TRY(ark_tok_json_bool(j, "add_prefix_space", where, &add_prefix_space));
    if (!add_prefix_space) pt->prepend_scheme = TK_PREPEND_NEVER; /* legacy files */
    pt->split = true;
    ARK_TRY(ark_tok_json_bool(j, "split", where, &pt->split));
    return init_charclass(pt, NULL, pt->repl, TK_MERGED_NEXT);
}

static ark_status parse_bert_pretok(const char *where, tk_pretok *pt)
{
    pt->items = calloc(2, sizeof *pt->items);
    if (!pt->items) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    for (int i = 0; i < 2; i++) {
        pt->items[i] = calloc(1, sizeof **pt->items);
        if (!pt->items[i]) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
        pt->n++;
    }
    init_charclass(pt->items[0], ark_tok_is_whitespace, 0, TK_REMOVED);
    return init_charclass(pt->items[1], ark_tok_is_punct, 0, TK_ISOLATED);
}

static ark_status parse_kind(const cJSON *j, const char *where, const char *type, tk_pretok *pt)
{
    if (!strcmp(type, "Sequence")) return pt->kind = TKPT_SEQ, parse_seq(j, where, pt);
    if (!strcmp(type, "ByteLevel")) return pt->kind = TKPT_BYTELEVEL, parse_bytelevel(j, where, pt);
    if (!strcmp(type, "Split")) return pt->kind = TKPT_SPLIT, parse_split(j, where, pt);
    if (!strcmp(type, "Metaspace")) return pt->kind = TKPT_METASPACE, parse_metaspace(j, where, pt);
    if (!strcmp(type, "Whitespace")) return pt->kind = TKPT_WHITESPACE, ARK_OK;
    if (!strcmp(type, "WhitespaceSplit"))
        return pt->kind = TKPT_WS_SPLIT, init_charclass(pt, ark_tok_is_whitespace, 0, TK_REMOVED);
    if (!strcmp(type, "BertPreTokenizer")) return pt->kind = TKPT_BERT, parse_bert_pretok(where, pt);
    if (!strcmp(type, "Digits")) {
        bool individual = false;
        ARK_TRY(ark_tok_json_bool(j, "individual_digits", where, &individual));
        pt->kind = TKPT_DIGITS;
        return init_charclass(pt, ark_tok_is_numeric, 0, individual ? TK_ISOLATED : TK_CONTIGUOUS);
    }
    if (!strcmp(type, "Punctuation")) {
        pt->kind = TKPT_PUNCT;
        init_charclass(pt, ark_tok_is_punct, 0, TK_ISOLATED);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
        char w[256];
        snprintf(w, sizeof w, "%s.behavior", where);
        return b && !cJSON_IsNull(b) ? ark_tok_behavior_parse(b, w, &pt->behavior) : ARK_OK;
    }
    if (!strcmp(type, "CharDelimiterSplit")) {
        const char *d;
        ARK_TRY(ark_tok_json_str(j, "delimiter", where, &d));
        if (!d || !*d || strlen(d) != (size_t)ark_tok_utf8_len((unsigned char)d[0]))
            return ark_fail(ARK_ERR_FORMAT, "%s.delimiter: expected one character", where);
        uint32_t cp;
        ark_tok_utf8_dec(d, strlen(d), &cp);
        pt->kind = TKPT_CHARDELIM;
        return init_charclass(pt, NULL, cp, TK_REMOVED);
    }
    return ark_fail(ARK_ERR_UNSUPPORTED, "%s: pre-tokenizer type \"%s\" is not supported", where, type);
}

ark_status ark_tok_pretok_parse(const cJSON *j, const char *where, tk_pretok **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ARK_OK;
    const char *type;
    ARK_TRY(ark_tok_json_type(j, where, &type));
    tk_pretok *pt = calloc(1, sizeof *pt);
    if (!pt) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    ark_status s = parse_kind(j, where, type, pt);
    if (s != ARK_OK) {
        ark_tok_pretok_free(pt);
        return s;
    }
    *out = pt;
    return ARK_OK;
}
