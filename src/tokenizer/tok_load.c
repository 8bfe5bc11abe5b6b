/* ark_tokenizer_open(): reading tokenizer.json (and tokenizer_config.json),
 * building the pipeline, the id tables and the display pieces; the simple
 * accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

char *ark_tok_pool_add(struct ark_tokenizer *t, char *s)
{
    if (!s) return NULL;
    if (t->n_pool == t->cap_pool) {
        size_t cap = t->cap_pool ? t->cap_pool * 2 : 16;
        char **pool = realloc(t->pool, cap * sizeof *pool);
        if (!pool) return NULL;
        t->pool = pool;
        t->cap_pool = cap;
    }
    t->pool[t->n_pool++] = s;
    return s;
}

char *ark_tok_pool_dup(struct ark_tokenizer *t, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    if (!ark_tok_pool_add(t, d)) {
        free(d);
        return NULL;
    }
    return d;
}

void ark_tokenizer_free(ark_tokenizer *t)
{
    if (!t) return;
    ark_tok_norm_free(t->norm);
    ark_tok_pretok_free(t->pre);
    ark_tok_post_free(t->post);
    ark_tok_dec_free(t->dec);
    ark_tok_model_free(&t->model);
    ark_tok_added_free(t);
    free(t->pad.token);
    free(t->tok_str);
    free(t->tok_len);
    free(t->special);
    free(t->piece_buf);
    free(t->piece_off);
    free(t->piece_len);
    for (size_t i = 0; i < t->n_pool; i++) free(t->pool[i]);
    free(t->pool);
    free(t->path);
    free(t);
}

/* ---- files ------------------------------------------------------------- */

/* A token name in tokenizer_config.json: "<s>" or {"content": "<s>", ...}. */
static const char *config_token(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static int config_flag(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

static ark_status read_config(ark_tokenizer *t, const char *cfg_path)
{
    t->cfg_add_bos = t->cfg_add_eos = -1;
    t->bos_id = ark_tok_post_first_id(t->post);
    t->eos_id = ark_tok_post_last_id(t->post);
    struct stat st;
    if (!cfg_path || stat(cfg_path, &st) != 0) return ARK_OK;
    cJSON *cfg;
    bool nul;
    ARK_TRY(ark_tok_read_json(cfg_path, &cfg, &nul));
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return ark_fail(ARK_ERR_FORMAT, "%s: expected a JSON object", cfg_path);
    }
    t->cfg_add_bos = config_flag(cfg, "add_bos_token");
    t->cfg_add_eos = config_flag(cfg, "add_eos_token");
    const char *bos = config_token(cfg, "bos_token"), *eos = config_token(cfg, "eos_token");
    if (bos && ark_tokenizer_token_to_id(t, bos) >= 0) t->bos_id = ark_tokenizer_token_to_id(t, bos);
    if (eos && ark_tokenizer_token_to_id(t, eos) >= 0) t->eos_id = ark_tokenizer_token_to_id(t, eos);
    cJSON_Delete(cfg);
    return ARK_OK;
}

/* ---- tables ------------------------------------------------------------ */

static ark_status build_tables(ark_tokenizer *t)
{
    int32_t n = t->model.n_ids;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id >= n) n = t->added[i].id + 1;
    t->vocab_size = n;
    t->tok_str = calloc((size_t)n + 1, sizeof *t->tok_str);
    t->tok_len = calloc((size_t)n + 1, sizeof *t->tok_len);
    t->special = calloc((size_t)n + 1, 1);
    if (!t->tok_str || !t->tok_len || !t->special) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < t->model.n_ids; i++) {
        t->tok_str[i] = t->model.id_str[i];
        t->tok_len[i] = t->model.id_len[i];
    }
    tk_strmap specials = {0};
    for (size_t i = 0; i < t->n_added; i++) {
        const tk_added *a = &t->added[i];
        t->tok_str[a->id] = a->norm ? a->norm : a->content; /* Hugging Face shows the normalized form */
        t->tok_len[a->id] = (uint32_t)(a->norm ? a->nlen : a->clen);
        if (a->special && !ark_tok_strmap_put(&specials, a->content, a->clen, 1)) {
            ark_tok_strmap_free(&specials);
            return ark_fail(ARK_ERR_NOMEM, "out of memory");
        }
    }
    for (int32_t i = 0; i < n; i++)
        t->special[i] = t->tok_str[i] && ark_tok_strmap_get(&specials, t->tok_str[i], t->tok_len[i]) >= 0;
    ark_tok_strmap_free(&specials);
    return ARK_OK;
}

static ark_status build_pieces(ark_tokenizer *t)
{
    size_t n = (size_t)t->vocab_size;
    t->piece_off = calloc(n + 1, sizeof *t->piece_off);
    t->piece_len = calloc(n + 1, sizeof *t->piece_len);
    if (!t->piece_off || !t->piece_len) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    tk_buf all = {0}, one = {0};
    bool ok = ark_tok_buf_put(&all, "", 1);
    for (size_t i = 0; ok && i < n; i++) {
        if (!t->tok_str[i]) continue;
        int32_t id = (int32_t)i;
        one.len = 0;
        ok = ark_tok_decode_tokens(t, &id, 1, false, true, &one);
        t->piece_off[i] = (uint32_t)all.len;
        t->piece_len[i] = (uint32_t)one.len;
        ok = ok && ark_tok_buf_put(&all, one.p ? one.p : "", one.len) && ark_tok_buf_put(&all, "", 1);
    }
    free(one.p);
    t->piece_buf = all.p;
    return ok ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory building display pieces");
}

/* ---- open -------------------------------------------------------------- */

static ark_status build(ark_tokenizer *t, const cJSON *j)
{
    if (!cJSON_IsObject(j)) return ark_fail(ARK_ERR_FORMAT, "expected a JSON object at the top level");
    ARK_TRY(ark_tok_norm_parse(cJSON_GetObjectItemCaseSensitive(j, "normalizer"), "normalizer", &t->norm));
    ARK_TRY(ark_tok_pretok_parse(cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer"), "pre_tokenizer", &t->pre));
    ARK_TRY(ark_tok_model_parse(cJSON_GetObjectItemCaseSensitive(j, "model"), t));
    ARK_TRY(ark_tok_added_parse(cJSON_GetObjectItemCaseSensitive(j, "added_tokens"), t));
    ARK_TRY(ark_tok_post_parse(cJSON_GetObjectItemCaseSensitive(j, "post_processor"), "post_processor", t, &t->post));
    ARK_TRY(ark_tok_dec_parse(cJSON_GetObjectItemCaseSensitive(j, "decoder"), "decoder", &t->dec));
    ARK_TRY(ark_tok_trunc_pad_parse(cJSON_GetObjectItemCaseSensitive(j, "truncation"),
                                    cJSON_GetObjectItemCaseSensitive(j, "padding"), t));
    return build_tables(t);
}

/* Resolve PATH into the tokenizer.json and tokenizer_config.json paths. */
static ark_status locate(const char *path, char **json, char **cfg)
{
    struct stat st;
    *json = *cfg = NULL;
    if (stat(path, &st) != 0) return ark_fail(ARK_ERR_MISSING, "%s: no such file or folder", path);
    size_t n = strlen(path);
    if (S_ISDIR(st.st_mode)) {
        *json = malloc(n + 32);
        *cfg = malloc(n + 32);
        if (!*json || !*cfg) return ark_fail(ARK_ERR_NOMEM, "out of memory");
        sprintf(*json, "%s/tokenizer.json", path);
        sprintf(*cfg, "%s/tokenizer_config.json", path);
        if (stat(*json, &st) != 0) return ark_fail(ARK_ERR_MISSING, "%s: the folder has no tokenizer.json", path);
        return ARK_OK;
    }
    *json = ark_tok_strdup(path);
    *cfg = malloc(n + 32);
    if (!*json || !*cfg) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    const char *slash = strrchr(path, '/');
    if (slash) sprintf(*cfg, "%.*s/tokenizer_config.json", (int)(slash - path), path);
    else strcpy(*cfg, "tokenizer_config.json");
    return ARK_OK;
}

static bool compute_adds_bos(ark_tokenizer *t)
{
    ark_encoding *e;
    if (t->bos_id < 0 || ark_tokenizer_encode(t, "", 0, true, &e) != ARK_OK) return false;
    bool adds = ark_encoding_count(e) > 0 && ark_encoding_ids(e)[0] == t->bos_id;
    ark_encoding_free(e);
    return adds;
}

ark_status ark_tokenizer_open(const char *path, ark_tokenizer **out)
{
    if (!out) return ark_fail(ARK_ERR_ARG, "ark_tokenizer_open: out is NULL");
    *out = NULL;
    if (!path) return ark_fail(ARK_ERR_ARG, "ark_tokenizer_open: path is NULL");
    char *json_path, *cfg_path;
    ark_status s = locate(path, &json_path, &cfg_path);
    cJSON *j = NULL;
    ark_tokenizer *t = calloc(1, sizeof *t);
    if (!t) s = s == ARK_OK ? ark_fail(ARK_ERR_NOMEM, "out of memory") : s;
    static _Atomic uint64_t next_uid = 1;
    if (t) t->uid = next_uid++;
    if (s == ARK_OK) s = ark_tok_read_json(json_path, &j, &t->json_nul);
    if (s == ARK_OK) {
        t->path = ark_tok_strdup(json_path);
        s = build(t, j);
        if (s != ARK_OK) ark_fail_prefix(s, "%s", json_path);
    }
    cJSON_Delete(j);
    if (s == ARK_OK) s = read_config(t, cfg_path);
    if (s == ARK_OK) s = build_pieces(t);
    free(json_path);
    free(cfg_path);
    if (s != ARK_OK) {
        ark_tokenizer_free(t);
        return s;
    }
    t->adds_bos = compute_adds_bos(t);
    *out = t;
    return ARK_OK;
}

/* ---- accessors --------------------------------------------------------- */

int ark_tokenizer_vocab_size(const ark_tokenizer *t) { return t ? t->vocab_size : 0; }

const char *ark_tokenizer_id_to_token(const ark_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->vocab_size) return NULL;
    return t->tok_str[id];
}

int32_t ark_tokenizer_token_to_id(const ark_tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    size_t n = strlen(token);
    int32_t id = ark_tok_strmap_get(&t->added_map, token, n);
    return id >= 0 ? id : ark_tok_strmap_get(&t->model.vocab, token, n);
}

bool ark_tokenizer_is_special(const ark_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->vocab_size && t->special[id];
}

int32_t ark_tokenizer_bos_id(const ark_tokenizer *t) { return t ? t->bos_id : -1; }
int32_t ark_tokenizer_eos_id(const ark_tokenizer *t) { return t ? t->eos_id : -1; }
bool ark_tokenizer_adds_bos(const ark_tokenizer *t) { return t && t->adds_bos; }
