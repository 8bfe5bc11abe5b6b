/* Loading the "model" section of tokenizer.json: BPE (vocab + ranked
 * merges, both "a b" and ["a", "b"] encodings), WordLevel and WordPiece.
 * Unigram is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

void ark_tok_model_free(tk_model *m)
{
    ark_tok_strmap_free(&m->vocab);
    ark_tok_pairmap_free(&m->merges);
    free(m->id_str);
    free(m->id_len);
    free(m->unk);
    free(m->prefix);
    free(m->suffix);
    memset(m, 0, sizeof *m);
}

/* Copy every vocab key into one pool block and index it both ways. */
static ark_status load_vocab(tk_model *m, const cJSON *vocab, struct ark_tokenizer *t)
{
    if (!cJSON_IsObject(vocab)) return ark_fail(ARK_ERR_FORMAT, "model.vocab: expected an object {token: id}");
    size_t total = 0;
    long max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 2147483646.0 ||
            it->valuedouble != (double)(long)it->valuedouble)
            return ark_fail(ARK_ERR_FORMAT, "model.vocab[\"%s\"]: expected a non-negative integer id", it->string);
        total += strlen(it->string) + 1;
        if ((long)it->valuedouble > max_id) max_id = (long)it->valuedouble;
    }
    char *pool = malloc(total ? total : 1);
    if (!pool || !ark_tok_pool_add(t, pool)) {
        free(pool);
        return ark_fail(ARK_ERR_NOMEM, "model.vocab: out of memory");
    }
    if (!ark_tok_strmap_reserve(&m->vocab, (size_t)cJSON_GetArraySize(vocab)))
        return ark_fail(ARK_ERR_NOMEM, "model.vocab: out of memory");
    m->n_ids = (int32_t)(max_id + 1);
    m->id_str = calloc((size_t)m->n_ids + 1, sizeof *m->id_str);
    m->id_len = calloc((size_t)m->n_ids + 1, sizeof *m->id_len);
    if (!m->id_str || !m->id_len) return ark_fail(ARK_ERR_NOMEM, "model.vocab: out of memory");
    char *p = pool;
    cJSON_ArrayForEach(it, vocab) {
        size_t len = t->json_nul ? ark_tok_unmask(it->string, p) : strlen(it->string);
        if (!t->json_nul) memcpy(p, it->string, len + 1);
        int32_t id = (int32_t)it->valuedouble;
        if (!ark_tok_strmap_put(&m->vocab, p, len, id)) return ark_fail(ARK_ERR_NOMEM, "model.vocab: out of memory");
        m->id_str[id] = p;
        m->id_len[id] = (uint32_t)len;
        p += len + 1;
    }
    m->vocab_count = m->vocab.n;
    return ARK_OK;
}

/* One merge: its two parts as (pointer, length). */
static ark_status merge_parts(const cJSON *it, size_t i, const char **a, size_t *al, const char **b, size_t *bl)
{
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return ark_fail(ARK_ERR_FORMAT, "model.merges[%zu]: \"%s\" is not two tokens separated by one space", i, s);
        *a = s, *al = (size_t)(sp - s), *b = sp + 1, *bl = strlen(sp + 1);
        return ARK_OK;
    }
    if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2) {
        const cJSON *x = cJSON_GetArrayItem(it, 0), *y = cJSON_GetArrayItem(it, 1);
        if (cJSON_IsString(x) && cJSON_IsString(y)) {
            *a = x->valuestring, *al = strlen(*a), *b = y->valuestring, *bl = strlen(*b);
            return ARK_OK;
        }
    }
    return ark_fail(ARK_ERR_FORMAT, "model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", i);
}

/* Copy s[0,n) to a fresh scratch string with 0xFF -> U+0000. */
static const char *unmask_part(const char *s, size_t n, char **scratch, size_t *cap)
{
    if (n + 1 > *cap) {
        char *ns = realloc(*scratch, n + 1);
        if (!ns) return NULL;
        *scratch = ns;
        *cap = n + 1;
    }
    for (size_t i = 0; i < n; i++) (*scratch)[i] = (unsigned char)s[i] == 0xFF ? '\0' : s[i];
    return *scratch;
}

static ark_status load_merges(tk_model *m, const cJSON *merges, bool nul)
{
    char *sa = NULL, *sb = NULL;
    size_t ca = 0, cb = 0;
    if (!cJSON_IsArray(merges)) return ark_fail(ARK_ERR_FORMAT, "model.merges: expected an array");
    size_t pl = m->prefix ? strlen(m->prefix) : 0, cap = 256, i = 0;
    char *buf = malloc(cap);
    if (!buf || !ark_tok_pairmap_reserve(&m->merges, (size_t)cJSON_GetArraySize(merges))) {
        free(buf);
        return ark_fail(ARK_ERR_NOMEM, "model.merges: out of memory");
    }
    ark_status st = ARK_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        if ((st = merge_parts(it, i, &a, &al, &b, &bl)) != ARK_OK) break;
        if (nul && (!(a = unmask_part(a, al, &sa, &ca)) || !(b = unmask_part(b, bl, &sb, &cb)))) {
            st = ark_fail(ARK_ERR_NOMEM, "model.merges: out of memory");
            break;
        }
        int32_t ia = ark_tok_strmap_get(&m->vocab, a, al), ib = ark_tok_strmap_get(&m->vocab, b, bl);
        if (ia < 0 || ib < 0) {
            st = ark_fail(ARK_ERR_FORMAT, "model.merges[%zu]: token \"%.*s\" is not in model.vocab", i,
                          (int)(ia < 0 ? al : bl), ia < 0 ? a : b);
            break;
        }
        size_t skip = bl >= pl ? pl : bl; /* the prefix is dropped from the second part */
        if (al + bl + 1 > cap) {
            cap = (al + bl + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                st = ark_fail(ARK_ERR_NOMEM, "model.merges: out of memory");
                break;
            }
            buf = nb;
        }
        memcpy(buf, a, al);
        memcpy(buf + al, b + skip, bl - skip);
        int32_t id = ark_tok_strmap_get(&m->vocab, buf, al + bl - skip);
        if (id < 0) {
            st = ark_fail(ARK_ERR_FORMAT, "model.merges[%zu]: merged token \"%.*s\" is not in model.vocab", i,
                          (int)(al + bl - skip), buf);
            break;
        }
        if (!ark_tok_pairmap_put(&m->merges, (uint32_t)ia, (uint32_t)ib, (uint32_t)i, id)) {
            st = ark_fail(ARK_ERR_NOMEM, "model.merges: out of memory");
            break;
        }
        i++;
    }
    free(buf);
    free(sa);
    free(sb);
    return st;
}

static ark_status opt_str(const cJSON *j, const char *key, char **out)
{
    const char *s;
    ARK_TRY(ark_tok_json_str(j, key, "model", &s));
    if (!s) return ARK_OK;
    *out = ark_tok_strdup(s);
    return *out ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "model.%s: out of memory", key);
}

static ark_status parse_bpe(const cJSON *j, tk_model *m, bool nul)
{
    ARK_TRY(opt_str(j, "unk_token", &m->unk));
    ARK_TRY(opt_str(j, "continuing_subword_prefix", &m->prefix));
    ARK_TRY(opt_str(j, "end_of_word_suffix", &m->suffix));
    ARK_TRY(ark_tok_json_bool(j, "fuse_unk", "model", &m->fuse_unk));
    ARK_TRY(ark_tok_json_bool(j, "byte_fallback", "model", &m->byte_fallback));
    ARK_TRY(ark_tok_json_bool(j, "ignore_merges", "model", &m->ignore_merges));
    /* dropout is a training-time regulariser; inference ignores it */
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_id[b] = ark_tok_strmap_get(&m->vocab, name, 6);
    }
    return load_merges(m, cJSON_GetObjectItemCaseSensitive(j, "merges"), nul);
}

ark_status ark_tok_model_parse(const cJSON *j, struct ark_tokenizer *t)
{
    tk_model *m = &t->model;
    const char *type = NULL;
    if (!cJSON_IsObject(j)) return ark_fail(ARK_ERR_MISSING, "model: missing or not an object");
    ARK_TRY(ark_tok_json_str(j, "type", "model", &type));
    if (!type) { /* very old files: guess from the fields */
        if (cJSON_GetObjectItemCaseSensitive(j, "merges")) type = "BPE";
        else if (cJSON_GetObjectItemCaseSensitive(j, "max_input_chars_per_word")) type = "WordPiece";
        else type = "WordLevel";
    }
    if (!strcmp(type, "Unigram"))
        return ark_fail(ARK_ERR_UNSUPPORTED, "model.type: Unigram models are not supported (BPE, WordLevel, WordPiece are)");
    if (strcmp(type, "BPE") && strcmp(type, "WordLevel") && strcmp(type, "WordPiece"))
        return ark_fail(ARK_ERR_UNSUPPORTED, "model.type: unknown model type \"%s\"", type);
    ARK_TRY(load_vocab(m, cJSON_GetObjectItemCaseSensitive(j, "vocab"), t));
    if (!strcmp(type, "BPE")) {
        m->kind = TKM_BPE;
        return parse_bpe(j, m, t->json_nul);
    }
    if (!strcmp(type, "WordLevel")) {
        m->kind = TKM_WORDLEVEL;
        ARK_TRY(opt_str(j, "unk_token", &m->unk));
        if (!m->unk && !(m->unk = ark_tok_strdup("<unk>"))) return ark_fail(ARK_ERR_NOMEM, "model: out of memory");
        return ARK_OK;
    }
    m->kind = TKM_WORDPIECE;
    long maxc = 100;
    ARK_TRY(opt_str(j, "unk_token", &m->unk));
    ARK_TRY(opt_str(j, "continuing_subword_prefix", &m->prefix));
    ARK_TRY(ark_tok_json_int(j, "max_input_chars_per_word", "model", &maxc));
    if (!m->unk && !(m->unk = ark_tok_strdup("[UNK]"))) return ark_fail(ARK_ERR_NOMEM, "model: out of memory");
    if (!m->prefix && !(m->prefix = ark_tok_strdup("##"))) return ark_fail(ARK_ERR_NOMEM, "model: out of memory");
    m->max_input_chars = (int)maxc;
    return ARK_OK;
}
