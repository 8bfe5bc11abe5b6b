/* Patterns (literal strings, Oniguruma regexes, character classes) and the
 * split behaviours, with Hugging Face's find_matches / split semantics.
 *
 * Regexes go through Oniguruma with its default syntax and no options, as
 * Hugging Face's `onig` crate compiles them (Regex::new), and are iterated
 * the way that crate's find_iter does, including its rule for empty
 * matches. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <oniguruma.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static void onig_setup(void)
{
    OnigEncoding enc[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
}

static bool matches_push(tk_matches *ms, uint32_t s, uint32_t e, bool m)
{
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 16;
        tk_match *v = realloc(ms->v, cap * sizeof *v);
        if (!v) return false;
        ms->v = v;
        ms->cap = cap;
    }
    ms->v[ms->n++] = (tk_match){s, e, m};
    return true;
}

ark_status ark_tok_pattern_regex(tk_pattern *p, const char *re, size_t len, const char *where)
{
    pthread_once(&onig_once, onig_setup);
    OnigRegex reg;
    OnigErrorInfo einfo;
    const UChar *pat = (const UChar *)re;
    int r = onig_new(&reg, pat, pat + len, ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
    if (r != ONIG_NORMAL) {
        UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r, &einfo);
        return ark_fail(ARK_ERR_FORMAT, "%s: cannot compile regex /%.*s/: %s", where, (int)len, re, (char *)msg);
    }
    p->kind = TKP_REGEX;
    p->re = reg;
    return ARK_OK;
}

ark_status ark_tok_pattern_parse(tk_pattern *p, const cJSON *j, const char *where)
{
    memset(p, 0, sizeof *p);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "Regex");
    if (cJSON_IsString(s)) {
        size_t n = strlen(s->valuestring);
        if (n == 0) return ark_tok_pattern_regex(p, "", 0, where); /* matches everywhere, as HF */
        p->kind = TKP_LITERAL;
        p->lit = ark_tok_strdup(s->valuestring);
        if (!p->lit) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
        p->lit_len = n;
        return ARK_OK;
    }
    if (cJSON_IsString(r)) return ark_tok_pattern_regex(p, r->valuestring, strlen(r->valuestring), where);
    return ark_fail(ARK_ERR_FORMAT, "%s: expected {\"String\": ...} or {\"Regex\": ...}", where);
}

void ark_tok_pattern_free(tk_pattern *p)
{
    if (p->re) onig_free((OnigRegex)p->re);
    free(p->lit);
    memset(p, 0, sizeof *p);
}

/* The onig crate's FindMatches over s[0,n), turned into find_matches
 * pieces. */
static bool find_regex(OnigRegex re, const char *s, size_t n, tk_matches *out)
{
    OnigRegion *region = onig_region_new();
    if (!region) return false;
    const UChar *str = (const UChar *)s, *end = str + n;
    size_t last_end = 0, prev = 0;
    bool skip_next_empty = false, ok = true;
    while (ok && last_end <= n) {
        onig_region_clear(region);
        int r = onig_search(re, str, end, str + last_end, end, region, ONIG_OPTION_NONE);
        if (r < 0) break; /* ONIG_MISMATCH, or an engine error: no more matches */
        size_t ms = (size_t)region->beg[0], me = (size_t)region->end[0];
        last_end = me;
        if (ms == me) {
            last_end += last_end < n ? (size_t)ark_tok_utf8_len((unsigned char)s[last_end]) : 1;
            if (skip_next_empty) {
                skip_next_empty = false;
                continue;
            }
        } else
            skip_next_empty = true;
        if (prev != ms) ok = matches_push(out, (uint32_t)prev, (uint32_t)ms, false);
        if (ok) ok = matches_push(out, (uint32_t)ms, (uint32_t)me, true);
        prev = me;
    }
    onig_region_free(region, 1);
    if (ok && prev != n) ok = matches_push(out, (uint32_t)prev, (uint32_t)n, false);
    return ok;
}

static bool find_literal(const char *lit, size_t ln, const char *s, size_t n, tk_matches *out)
{
    size_t prev = 0, i = 0;
    while (i + ln <= n) {
        const char *hit = memmem(s + i, n - i, lit, ln);
        if (!hit) break;
        size_t ms = (size_t)(hit - s);
        if (prev != ms && !matches_push(out, (uint32_t)prev, (uint32_t)ms, false)) return false;
        if (!matches_push(out, (uint32_t)ms, (uint32_t)(ms + ln), true)) return false;
        prev = i = ms + ln;
    }
    return prev == n || matches_push(out, (uint32_t)prev, (uint32_t)n, false);
}

static bool find_chars(const tk_pattern *p, const char *s, size_t n, tk_matches *out)
{
    size_t prev = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        int k = ark_tok_utf8_dec(s + i, n - i, &cp);
        bool hit = p->pred ? p->pred(cp) : cp == p->ch;
        if (hit) {
            if (prev < i && !matches_push(out, (uint32_t)prev, (uint32_t)i, false)) return false;
            if (!matches_push(out, (uint32_t)i, (uint32_t)(i + k), true)) return false;
            prev = i + (size_t)k;
        }
        i += (size_t)k;
    }
    return prev >= n || matches_push(out, (uint32_t)prev, (uint32_t)n, false);
}

bool ark_tok_pattern_find(const tk_pattern *p, const char *s, size_t n, tk_matches *out)
{
    out->n = 0;
    if (n == 0) return matches_push(out, 0, 0, false);
    switch (p->kind) {
    case TKP_REGEX: return find_regex((OnigRegex)p->re, s, n, out);
    case TKP_LITERAL: return find_literal(p->lit, p->lit_len, s, n, out);
    case TKP_CHARCLASS: return find_chars(p, s, n, out);
    default: return matches_push(out, 0, (uint32_t)n, false);
    }
}

ark_status ark_tok_behavior_parse(const cJSON *j, const char *where, int *out)
{
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    if (!cJSON_IsString(j)) return ark_fail(ARK_ERR_FORMAT, "%s: expected a split behavior string", where);
    for (int i = 0; i < 5; i++)
        if (!strcmp(j->valuestring, names[i])) {
            *out = i;
            return ARK_OK;
        }
    return ark_fail(ARK_ERR_FORMAT, "%s: unknown split behavior \"%s\"", where, j->valuestring);
}

/* Hugging Face's NormalizedString::split: fold the (piece, is_match) list
 * into the pieces to keep (m = false) or drop (m = true). */
void ark_tok_apply_behavior(tk_matches *ms, int behavior)
{
    size_t n = ms->n, k = 0;
    tk_match *v = ms->v;
    bool prev = false;
    switch (behavior) {
    case TK_REMOVED: return;
    case TK_ISOLATED:
        for (size_t i = 0; i < n; i++) v[i].m = false;
        return;
    case TK_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            bool m = v[i].m;
            if (m == prev && k > 0) v[k - 1].e = v[i].e;
            else v[k++] = (tk_match){v[i].s, v[i].e, false};
            prev = m;
        }
        break;
    case TK_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            bool m = v[i].m;
            if (m && !prev && k > 0) v[k - 1].e = v[i].e;
            else v[k++] = (tk_match){v[i].s, v[i].e, false};
            prev = m;
        }
        break;
    case TK_MERGED_NEXT: {
        /* walk backwards, building the result from the end of the array */
        size_t w = n;
        for (size_t i = n; i-- > 0;) {
            bool m = v[i].m;
            if (m && !prev && w < n) v[w].s = v[i].s;
            else v[--w] = (tk_match){v[i].s, v[i].e, false};
            prev = m;
        }
        memmove(v, v + w, (n - w) * sizeof *v);
        k = n - w;
        break;
    }
    }
    ms->n = k;
}
