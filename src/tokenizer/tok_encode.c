/* Encoding (text -> ids, spans, pieces) and decoding (ids -> text). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

struct ark_encoding {
    int n;
    int32_t *ids;
    ark_token_span *spans;
    uint32_t *poff, *plen;
    char *pbuf;
};

void ark_encoding_free(ark_encoding *e)
{
    if (!e) return;
    free(e->ids);
    free(e->spans);
    free(e->poff);
    free(e->plen);
    free(e->pbuf);
    free(e);
}

int ark_encoding_count(const ark_encoding *e) { return e ? e->n : 0; }
const int32_t *ark_encoding_ids(const ark_encoding *e) { return e ? e->ids : NULL; }
const ark_token_span *ark_encoding_spans(const ark_encoding *e) { return e ? e->spans : NULL; }

const char *ark_encoding_piece(const ark_encoding *e, int i, size_t *len)
{
    if (!e || i < 0 || i >= e->n) return NULL;
    if (len) *len = e->plen[i];
    return e->pbuf + e->poff[i];
}

/* ---- the pipeline ------------------------------------------------------ */

/* Normalize, cut out added tokens, pre-tokenize. */
static ark_status pre_tokenize(const ark_tokenizer *t, tk_pts *p)
{
    if (!ark_tok_added_extract(t, p, 0) || (t->norm && !ark_tok_norm_apply(t->norm, p)) ||
        !ark_tok_added_extract(t, p, 1) || (t->pre && !ark_tok_pretok_apply(t->pre, p)))
        return ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    return ARK_OK;
}

static ark_status run_model(const ark_tokenizer *t, const tk_pts *p, const char *text, tk_toks *toks)
{
    tk_bpe_cache *cache = ark_tok_bpe_cache_for(t->uid);
    if (!cache) return ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    ark_status s = ARK_OK;
    for (size_t i = 0; s == ARK_OK && i < p->n; i++) {
        const tk_split *sp = &p->sp[i];
        if (sp->added >= 0) {
            /* the matched text (with any l/rstrip blanks) is the token's value */
            tk_token tok = {sp->added, sp->os, sp->oe, text + sp->os, sp->oe - sp->os, 0};
            if (!ark_tok_toks_push(toks, tok)) s = ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
            continue;
        }
        s = ark_tok_model_tokenize(&t->model, cache, p->buf + sp->off, sp->len, p->al + sp->off, toks);
    }
    return s;
}

/* tokenizer_config.json's add_bos_token / add_eos_token, when given, win
 * over the post-processor (transformers rebuilds the template from them). */
static bool apply_config(const ark_tokenizer *t, tk_toks *toks)
{
    if (t->cfg_add_bos == 1 && t->bos_id >= 0 &&
        (toks->n == 0 || toks->v[0].id != t->bos_id || !toks->v[0].added_by_post)) {
        if (!ark_tok_toks_push(toks, (tk_token){0})) return false;
        memmove(toks->v + 1, toks->v, (toks->n - 1) * sizeof *toks->v);
        toks->v[0] = (tk_token){t->bos_id, 0, 0, NULL, 0, 1};
    } else if (t->cfg_add_bos == 0 && toks->n > 0 && toks->v[0].added_by_post && toks->v[0].id == t->bos_id) {
        memmove(toks->v, toks->v + 1, (toks->n - 1) * sizeof *toks->v);
        toks->n--;
    }
    if (t->cfg_add_eos == 1 && t->eos_id >= 0 && (toks->n == 0 || toks->v[toks->n - 1].id != t->eos_id ||
                                                  !toks->v[toks->n - 1].added_by_post)) {
        if (!ark_tok_toks_push(toks, (tk_token){t->eos_id, 0, 0, NULL, 0, 1})) return false;
    } else if (t->cfg_add_eos == 0 && toks->n > 0 && toks->v[toks->n - 1].added_by_post &&
               toks->v[toks->n - 1].id == t->eos_id)
        toks->n--;
    return true;
}

static ark_status make_encoding(const ark_tokenizer *t, const tk_toks *toks, ark_encoding **out)
{
    ark_encoding *e = calloc(1, sizeof *e);
    size_t n = toks->n, bytes = 1;
    if (!e) return ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    for (size_t i = 0; i < n; i++) bytes += t->piece_len[toks->v[i].id] + 1;
    e->n = (int)n;
    e->ids = malloc((n + 1) * sizeof *e->ids);
    e->spans = malloc((n + 1) * sizeof *e->spans);
    e->poff = malloc((n + 1) * sizeof *e->poff);
    e->plen = malloc((n + 1) * sizeof *e->plen);
    e->pbuf = malloc(bytes);
    if (!e->ids || !e->spans || !e->poff || !e->plen || !e->pbuf) {
        ark_encoding_free(e);
        return ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const tk_token *k = &toks->v[i];
        e->ids[i] = k->id;
        e->spans[i] = (ark_token_span){k->s, k->e};
        uint32_t pl = t->piece_len[k->id];
        memcpy(e->pbuf + at, t->piece_buf + t->piece_off[k->id], pl);
        e->pbuf[at + pl] = '\0';
        e->poff[i] = (uint32_t)at;
        e->plen[i] = pl;
        at += pl + 1;
    }
    e->pbuf[at] = '\0';
    *out = e;
    return ARK_OK;
}

ark_status ark_tokenizer_encode(const ark_tokenizer *t, const char *text, size_t len, bool add_special,
                                ark_encoding **out)
{
    if (!out) return ark_fail(ARK_ERR_ARG, "encode: out is NULL");
    *out = NULL;
    if (!t || (!text && len)) return ark_fail(ARK_ERR_ARG, "encode: tokenizer or text is NULL");
    if (len > UINT32_MAX / 2) return ark_fail(ARK_ERR_ARG, "encode: text of %zu bytes is too long (max 2 GiB)", len);
    if (!text) text = "";
    size_t bad = ark_tok_utf8_check(text, len);
    if (bad < len)
        return ark_fail(ARK_ERR_ARG, "encode: the text is not valid UTF-8 (byte %zu of %zu, 0x%02X)", bad, len,
                        (unsigned char)text[bad]);
    tk_pts p;
    tk_toks toks = {0};
    if (!ark_tok_pts_init(&p, text, len)) return ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    ark_status s = pre_tokenize(t, &p);
    if (s == ARK_OK) s = run_model(t, &p, text, &toks);
    if (s == ARK_OK) s = ark_tok_truncate(t, &toks, add_special);
    if (s == ARK_OK && t->post && !ark_tok_post_apply(t->post, t, &toks, add_special))
        s = ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    if (s == ARK_OK && add_special && !apply_config(t, &toks)) s = ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    if (s == ARK_OK && !ark_tok_pad(t, &toks)) s = ark_fail(ARK_ERR_NOMEM, "encode: out of memory");
    if (s == ARK_OK) s = make_encoding(t, &toks, out);
    ark_tok_pts_free(&p);
    free(toks.v);
    return s;
}

/* ---- decoding ---------------------------------------------------------- */

bool ark_tok_decode_tokens(const struct ark_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, bool piece,
                           tk_buf *out)
{
    tk_slist l = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        int32_t id = ids[i];
        if (skip_special && t->special[id]) continue;
        ok = ark_tok_slist_push(&l, t->tok_str[id], t->tok_len[id]);
    }
    if (ok && t->dec) ok = ark_tok_dec_apply(t->dec, &l, piece);
    ok = ok && ark_tok_buf_put(out, "", 0);
    for (size_t i = 0; ok && i < l.n; i++) {
        /* without a decoder Hugging Face joins tokens with spaces, so a token
         * in the middle of a text stands for " token" */
        if (!t->dec && (i > 0 || piece)) ok = ark_tok_buf_put(out, " ", 1);
        ok = ok && ark_tok_buf_put(out, l.b.p + l.off[i], l.len[i]);
    }
    ark_tok_slist_free(&l);
    return ok;
}

ark_status ark_tokenizer_decode_n(const ark_tokenizer *t, const int32_t *ids, int n, bool skip_special, char **text,
                                  size_t *len)
{
    if (!text) return ark_fail(ARK_ERR_ARG, "decode: text is NULL");
    *text = NULL;
    if (len) *len = 0;
    if (!t || n < 0 || (!ids && n > 0)) return ark_fail(ARK_ERR_ARG, "decode: tokenizer or ids are NULL");
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->vocab_size || !t->tok_str[ids[i]])
            return ark_fail(ARK_ERR_ARG, "decode: ids[%d] = %ld is not a token id of this tokenizer (vocabulary size %d)",
                            i, (long)ids[i], t->vocab_size);
    tk_buf b = {0};
    if (!ark_tok_decode_tokens(t, ids, (size_t)n, skip_special, false, &b)) {
        free(b.p);
        return ark_fail(ARK_ERR_NOMEM, "decode: out of memory");
    }
    *text = b.p;
    if (len) *len = b.len;
    return ARK_OK;
}

ark_status ark_tokenizer_decode(const ark_tokenizer *t, const int32_t *ids, int n, bool skip_special, char **text)
{
    return ark_tokenizer_decode_n(t, ids, n, skip_special, text, NULL);
}
