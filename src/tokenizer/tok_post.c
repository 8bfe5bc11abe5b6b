/* Post-processors: TemplateProcessing, ByteLevel (offset trimming),
 * RobertaProcessing, BertProcessing, Sequence; and tokenizer.json's
 * truncation and padding.  Only single sequences are encoded, so only the
 * "single" template is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

enum { TKPP_TEMPLATE, TKPP_BYTELEVEL, TKPP_ROBERTA, TKPP_BERT, TKPP_SEQ };

typedef struct tmpl_piece {
    bool seq;
    int32_t *ids;
    char **toks;
    size_t n;
} tmpl_piece;

struct tk_post {
    int kind;
    tmpl_piece *single;
    size_t nsingle;
    int32_t cls_id, sep_id;
    char *cls, *sep;
    bool trim_offsets, add_prefix_space;
    tk_post **items;
    size_t n;
};

bool ark_tok_toks_push(tk_toks *t, tk_token tok)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tk_token *v = realloc(t->v, cap * sizeof *v);
        if (!v) return false;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = tok;
    return true;
}

void ark_tok_post_free(tk_post *pp)
{
    if (!pp) return;
    for (size_t i = 0; i < pp->nsingle; i++) {
        for (size_t k = 0; k < pp->single[i].n; k++) free(pp->single[i].toks[k]);
        free(pp->single[i].ids);
        free(pp->single[i].toks);
    }
    free(pp->single);
    for (size_t i = 0; i < pp->n; i++) ark_tok_post_free(pp->items[i]);
    free(pp->items);
    free(pp->cls);
    free(pp->sep);
    free(pp);
}

/* ---- applying ---------------------------------------------------------- */

static size_t count_spaces(const char *s, size_t n, bool from_end)
{
    size_t cnt = 0, i = from_end ? n : 0;
    while (from_end ? i > 0 : i < n) {
        size_t p = i;
        if (from_end) {
            p = i - 1;
            while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        }
        uint32_t cp;
        int k = ark_tok_utf8_dec(s + p, n - p, &cp);
        if (cp != 0x120 && !ark_tok_is_whitespace(cp)) break; /* U+0120 is GPT-2's "Ġ" */
        cnt++;
        i = from_end ? p : i + (size_t)k;
    }
    return cnt;
}

/* Hugging Face's byte_level::process_offsets. */
static void trim_offsets(tk_toks *toks, bool add_prefix_space)
{
    for (size_t i = 0; i < toks->n; i++) {
        tk_token *t = &toks->v[i];
        if (!t->v) continue;
        size_t lead = count_spaces(t->v, t->vlen, false), trail = count_spaces(t->v, t->vlen, true);
        if (lead > 0) {
            bool first = i == 0 || t->s == 0;
            if (first && add_prefix_space && lead == 1) lead = 0;
            t->s = t->s + lead < t->e ? t->s + (uint32_t)lead : t->e;
        }
        if (trail > 0 && t->e >= trail) t->e = t->e - trail > t->s ? t->e - (uint32_t)trail : t->s;
    }
}

static bool wrap(tk_toks *toks, int32_t first, const char *fv, int32_t last, const char *lv)
{
    tk_toks out = {0};
    bool ok = ark_tok_toks_push(&out, (tk_token){first, 0, 0, fv, (uint32_t)strlen(fv), 1});
    for (size_t i = 0; ok && i < toks->n; i++) ok = ark_tok_toks_push(&out, toks->v[i]);
    ok = ok && ark_tok_toks_push(&out, (tk_token){last, 0, 0, lv, (uint32_t)strlen(lv), 1});
    if (!ok) {
        free(out.v);
        return false;
    }
    free(toks->v);
    *toks = out;
    return true;
}

static bool apply_template(const tk_post *pp, tk_toks *toks)
{
    tk_toks out = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < pp->nsingle; i++) {
        const tmpl_piece *pc = &pp->single[i];
        if (pc->seq)
            for (size_t k = 0; ok && k < toks->n; k++) ok = ark_tok_toks_push(&out, toks->v[k]);
        else
            for (size_t k = 0; ok && k < pc->n; k++)
                ok = ark_tok_toks_push(&out, (tk_token){pc->ids[k], 0, 0, pc->toks[k], (uint32_t)strlen(pc->toks[k]), 1});
    }
    if (!ok) {
        free(out.v);
        return false;
    }
    free(toks->v);
    *toks = out;
    return true;
}

bool ark_tok_post_apply(const tk_post *pp, const struct ark_tokenizer *t, tk_toks *toks, bool add_special)
{
    switch (pp->kind) {
    case TKPP_SEQ:
        for (size_t i = 0; i < pp->n; i++)
            if (!ark_tok_post_apply(pp->items[i], t, toks, add_special)) return false;
        return true;
    case TKPP_BYTELEVEL:
        if (pp->trim_offsets) trim_offsets(toks, pp->add_prefix_space);
        return true;
    case TKPP_ROBERTA:
        if (pp->trim_offsets) trim_offsets(toks, pp->add_prefix_space);
        return !add_special || wrap(toks, pp->cls_id, pp->cls, pp->sep_id, pp->sep);
    case TKPP_BERT: return !add_special || wrap(toks, pp->cls_id, pp->cls, pp->sep_id, pp->sep);
    default: return !add_special || apply_template(pp, toks);
    }
}

int32_t ark_tok_post_first_id(const tk_post *pp)
{
    if (!pp) return -1;
    switch (pp->kind) {
    case TKPP_SEQ:
        for (size_t i = 0; i < pp->n; i++) {
            int32_t id = ark_tok_post_first_id(pp->items[i]);
            if (id >= 0) return id;
        }
        return -1;
    case TKPP_ROBERTA:
    case TKPP_BERT: return pp->cls_id;
    case TKPP_TEMPLATE:
        return pp->nsingle && !pp->single[0].seq && pp->single[0].n ? pp->single[0].ids[0] : -1;
    default: return -1;
    }
}

int32_t ark_tok_post_last_id(const tk_post *pp)
{
    if (!pp) return -1;
    switch (pp->kind) {
    case TKPP_SEQ:
        for (size_t i = pp->n; i-- > 0;) {
            int32_t id = ark_tok_post_last_id(pp->items[i]);
            if (id >= 0) return id;
        }
        return -1;
    case TKPP_ROBERTA:
    case TKPP_BERT: return pp->sep_id;
    case TKPP_TEMPLATE: {
        if (pp->nsingle < 2) return -1;
        const tmpl_piece *last = &pp->single[pp->nsingle - 1];
        return !last->seq && last->n ? last->ids[last->n - 1] : -1;
    }
    default: return -1;
    }
}

/* ---- parsing ----------------------------------------------------------- */

static ark_status parse_special(const cJSON *specials, const char *name, const char *where, tmpl_piece *pc)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(specials, name);
    if (!cJSON_IsObject(sp))
        return ark_fail(ARK_ERR_FORMAT, "%s: special token \"%s\" is not in special_tokens", where, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids"), *toks = cJSON_GetObjectItemCaseSensitive(sp, "tokens");
    if (!cJSON_IsArray(ids) || !cJSON_IsArray(toks) || cJSON_GetArraySize(ids) != cJSON_GetArraySize(toks))
        return ark_fail(ARK_ERR_FORMAT, "%s.special_tokens[\"%s\"]: expected ids and tokens of the same length", where, name);
    size_t n = (size_t)cJSON_GetArraySize(ids);
    pc->ids = calloc(n ? n : 1, sizeof *pc->ids);
    pc->toks = calloc(n ? n : 1, sizeof *pc->toks);
    if (!pc->ids || !pc->toks) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    for (size_t k = 0; k < n; k++) {
        const cJSON *id = cJSON_GetArrayItem(ids, (int)k), *tk = cJSON_GetArrayItem(toks, (int)k);
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !cJSON_IsString(tk))
            return ark_fail(ARK_ERR_FORMAT, "%s.special_tokens[\"%s\"]: bad id or token at %zu", where, name, k);
        pc->ids[k] = (int32_t)id->valuedouble;
        if (!(pc->toks[k] = ark_tok_strdup(tk->valuestring))) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
        pc->n++;
    }
    return ARK_OK;
}

static ark_status parse_piece(const cJSON *it, const cJSON *specials, const char *where, tmpl_piece *pc)
{
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
    const cJSON *spt = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
    if (seq) {
        pc->seq = true;
        return ARK_OK;
    }
    if (spt) {
        const char *name;
        ARK_TRY(ark_tok_json_str(spt, "id", where, &name));
        if (!name) return ark_fail(ARK_ERR_FORMAT, "%s.SpecialToken.id: missing", where);
        return parse_special(specials, name, where, pc);
    }
    if (cJSON_IsString(it)) { /* the "$A" / "[CLS]:0" shorthand */
        char name[256];
        snprintf(name, sizeof name, "%s", it->valuestring);
        char *colon = strchr(name, ':');
        if (colon) *colon = '\0';
        if (name[0] == '$') {
            pc->seq = true;
            return ARK_OK;
        }
        return parse_special(specials, name, where, pc);
    }
    return ark_fail(ARK_ERR_FORMAT, "%s: expected {\"Sequence\": ...} or {\"SpecialToken\": ...}", where);
}

static ark_status parse_template(const cJSON *j, const char *where, tk_post *pp)
{
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    if (!cJSON_IsArray(single)) return ark_fail(ARK_ERR_FORMAT, "%s.single: expected an array", where);
    size_t n = (size_t)cJSON_GetArraySize(single);
    pp->single = calloc(n ? n : 1, sizeof *pp->single);
    if (!pp->single) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, single) {
        char w[256];
        snprintf(w, sizeof w, "%s.single[%zu]", where, pp->nsingle);
        ARK_TRY(parse_piece(it, specials, w, &pp->single[pp->nsingle++]));
    }
    return ARK_OK;
}

static ark_status parse_pair_token(const cJSON *j, const char *key, const char *where, char **s, int32_t *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || !cJSON_IsString(a) || !cJSON_IsNumber(b) || b->valuedouble < 0)
        return ark_fail(ARK_ERR_FORMAT, "%s.%s: expected [\"token\", id]", where, key);
    *id = (int32_t)b->valuedouble;
    *s = ark_tok_strdup(a->valuestring);
    return *s ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
}

static ark_status parse_seq(const cJSON *j, const char *where, const struct ark_tokenizer *t, tk_post *pp)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "processors");
    if (!cJSON_IsArray(arr)) return ark_fail(ARK_ERR_FORMAT, "%s.processors: expected an array", where);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    pp->items = calloc(cnt ? cnt : 1, sizeof *pp->items);
    if (!pp->items) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char w[256];
        snprintf(w, sizeof w, "%s.processors[%zu]", where, pp->n);
        ARK_TRY(ark_tok_post_parse(it, w, t, &pp->items[pp->n]));
        if (!pp->items[pp->n]) return ark_fail(ARK_ERR_FORMAT, "%s: null post-processor", w);
        pp->n++;
    }
    return ARK_OK;
}

static ark_status parse_kind(const cJSON *j, const char *where, const char *type, const struct ark_tokenizer *t,
                             tk_post *pp)
{
    if (!strcmp(type, "TemplateProcessing")) return pp->kind = TKPP_TEMPLATE, parse_template(j, where, pp);
    if (!strcmp(type, "Sequence")) return pp->kind = TKPP_SEQ, parse_seq(j, where, t, pp);
    if (!strcmp(type, "ByteLevel")) {
        pp->kind = TKPP_BYTELEVEL;
        pp->trim_offsets = pp->add_prefix_space = true;
        ARK_TRY(ark_tok_json_bool(j, "trim_offsets", where, &pp->trim_offsets));
        return ark_tok_json_bool(j, "add_prefix_space", where, &pp->add_prefix_space);
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        pp->kind = type[0] == 'R' ? TKPP_ROBERTA : TKPP_BERT;
        ARK_TRY(parse_pair_token(j, "cls", where, &pp->cls, &pp->cls_id));
        ARK_TRY(parse_pair_token(j, "sep", where, &pp->sep, &pp->sep_id));
        pp->trim_offsets = pp->add_prefix_space = pp->kind == TKPP_ROBERTA;
        ARK_TRY(ark_tok_json_bool(j, "trim_offsets", where, &pp->trim_offsets));
        return ark_tok_json_bool(j, "add_prefix_space", where, &pp->add_prefix_space);
    }
    return ark_fail(ARK_ERR_UNSUPPORTED, "%s: post-processor type \"%s\" is not supported", where, type);
}

ark_status ark_tok_post_parse(const cJSON *j, const char *where, const struct ark_tokenizer *t, tk_post **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ARK_OK;
    const char *type;
    ARK_TRY(ark_tok_json_type(j, where, &type));
    tk_post *pp = calloc(1, sizeof *pp);
    if (!pp) return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", where);
    ark_status s = parse_kind(j, where, type, t, pp);
    if (s != ARK_OK) {
        ark_tok_post_free(pp);
        return s;
    }
    *out = pp;
    return ARK_OK;
}

/* ---- truncation and padding -------------------------------------------- */

size_t ark_tok_post_added(const tk_post *pp)
{
    if (!pp) return 0;
    size_t n = 0;
    switch (pp->kind) {
    case TKPP_SEQ:
        for (size_t i = 0; i < pp->n; i++) n += ark_tok_post_added(pp->items[i]);
        return n;
    case TKPP_ROBERTA:
    case TKPP_BERT: return 2;
    case TKPP_TEMPLATE:
        for (size_t i = 0; i < pp->nsingle; i++) n += pp->single[i].seq ? 0 : pp->single[i].n;
        return n;
    default: return 0;
    }
}

ark_status ark_tok_truncate(const struct ark_tokenizer *t, tk_toks *toks, bool add_special)
{
    if (!t->trunc.on) return ARK_OK;
    size_t added = add_special ? ark_tok_post_added(t->post) : 0, max = t->trunc.max_len;
    max = max > added ? max - added : 0;
    if (toks->n <= max) return ARK_OK;
    if (t->trunc.only_second)
        return ark_fail(ARK_ERR_ARG, "encode: truncation strategy OnlySecond needs a second sequence");
    if (t->trunc.left) memmove(toks->v, toks->v + (toks->n - max), max * sizeof *toks->v);
    toks->n = max;
    return ARK_OK;
}

bool ark_tok_pad(const struct ark_tokenizer *t, tk_toks *toks)
{
    const tk_pad *p = &t->pad;
    if (!p->on) return true;
    size_t len = p->fixed ? p->len : toks->n;
    if (p->multiple > 0 && len % p->multiple) len += p->multiple - len % p->multiple;
    if (toks->n >= len) return true;
    size_t add = len - toks->n, n0 = toks->n;
    tk_token pad = {p->id, 0, 0, p->token, (uint32_t)strlen(p->token), 1};
    for (size_t i = 0; i < add; i++)
        if (!ark_tok_toks_push(toks, pad)) return false;
    if (p->left) {
        memmove(toks->v + add, toks->v, n0 * sizeof *toks->v);
        for (size_t i = 0; i < add; i++) toks->v[i] = pad;
    }
    return true;
}

static ark_status parse_trunc(const cJSON *j, tk_trunc *tr)
{
    const char *dir, *strategy;
    long max = -1;
    ARK_TRY(ark_tok_json_int(j, "max_length", "truncation", &max));
    ARK_TRY(ark_tok_json_str(j, "direction", "truncation", &dir));
    ARK_TRY(ark_tok_json_str(j, "strategy", "truncation", &strategy));
    if (max < 0) return ark_fail(ARK_ERR_FORMAT, "truncation.max_length: missing or negative");
    if (dir && strcmp(dir, "Left") && strcmp(dir, "Right"))
        return ark_fail(ARK_ERR_FORMAT, "truncation.direction: unknown value \"%s\"", dir);
    tr->on = true;
    tr->max_len = (size_t)max;
    tr->left = dir && !strcmp(dir, "Left");
    tr->only_second = strategy && !strcmp(strategy, "OnlySecond");
    return ARK_OK;
}

static ark_status parse_pad(const cJSON *j, tk_pad *p)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "strategy");
    const char *dir, *tok;
    long id = 0, mult = 0;
    if (cJSON_IsObject(st)) {
        const cJSON *fixed = cJSON_GetObjectItemCaseSensitive(st, "Fixed");
        if (!cJSON_IsNumber(fixed) || fixed->valuedouble < 0)
            return ark_fail(ARK_ERR_FORMAT, "padding.strategy: expected \"BatchLongest\" or {\"Fixed\": n}");
        p->fixed = true;
        p->len = (size_t)fixed->valuedouble;
    } else if (!cJSON_IsString(st) || strcmp(st->valuestring, "BatchLongest"))
        return ark_fail(ARK_ERR_FORMAT, "padding.strategy: expected \"BatchLongest\" or {\"Fixed\": n}");
    ARK_TRY(ark_tok_json_str(j, "direction", "padding", &dir));
    ARK_TRY(ark_tok_json_str(j, "pad_token", "padding", &tok));
    ARK_TRY(ark_tok_json_int(j, "pad_id", "padding", &id));
    ARK_TRY(ark_tok_json_int(j, "pad_to_multiple_of", "padding", &mult));
    if (id < 0 || mult < 0) return ark_fail(ARK_ERR_FORMAT, "padding: pad_id and pad_to_multiple_of must be >= 0");
    p->on = true;
    p->left = dir && !strcmp(dir, "Left");
    p->id = (int32_t)id;
    p->multiple = (size_t)mult;
    p->token = ark_tok_strdup(tok ? tok : "[PAD]");
    return p->token ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "padding: out of memory");
}

ark_status ark_tok_trunc_pad_parse(const cJSON *trunc, const cJSON *pad, struct ark_tokenizer *t)
{
    if (trunc && !cJSON_IsNull(trunc)) ARK_TRY(parse_trunc(trunc, &t->trunc));
    if (pad && !cJSON_IsNull(pad)) ARK_TRY(parse_pad(pad, &t->pad));
    return ARK_OK;
}
