/* Internals of the tokenizer room: shared types and helpers.
 *
 * The pipeline keeps the text being tokenized in a "pre-tokenized string"
 * (tk_pts): one buffer of normalized UTF-8, an alignment per byte (the input
 * bytes it came from, as Hugging Face's NormalizedString keeps them), and a
 * list of splits over the buffer.  Normalizers and byte-level mapping
 * rewrite the buffer (tk_pts_transform), pre-tokenizers only cut splits
 * (tk_pts_split).  Splits that are added tokens are already tokenized and
 * are carried through untouched. */
#ifndef ARK_TOKENIZER_INTERNAL_H
#define ARK_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "arrakis/tokenizer.h"

/* ---- hash maps (tok_hash.c) ------------------------------------------- */

/* String -> int32 map.  Keys are borrowed (ptr, len): the caller keeps them
 * alive (the tokenizer keeps them in its string pool). */
typedef struct tk_strmap {
    struct tk_strent *ents;
    uint64_t *slots; /* 0 = empty, else (hash high bits << 32) | (index + 1) */
    size_t n, cap, mask;
} tk_strmap;

uint64_t ark_tok_hash(const void *p, size_t n);
void ark_tok_strmap_free(tk_strmap *m);
/* Insert or overwrite.  Returns false on allocation failure. */
bool ark_tok_strmap_put(tk_strmap *m, const char *k, size_t len, int32_t v);
/* Make room for n entries in all (avoids rehashing while loading). */
bool ark_tok_strmap_reserve(tk_strmap *m, size_t n);
/* -1 if absent. */
int32_t ark_tok_strmap_get(const tk_strmap *m, const char *k, size_t len);

/* (uint32, uint32) -> (rank, id) map, for BPE merges and trie edges. */
typedef struct tk_pairmap {
    uint64_t *keys; /* key + 1 (0 = empty) */
    uint32_t *rank;
    int32_t *val;
    size_t n, cap, mask;
} tk_pairmap;

void ark_tok_pairmap_free(tk_pairmap *m);
bool ark_tok_pairmap_reserve(tk_pairmap *m, size_t n);
bool ark_tok_pairmap_put(tk_pairmap *m, uint32_t a, uint32_t b, uint32_t rank, int32_t val);
/* Returns false if absent. */
bool ark_tok_pairmap_get(const tk_pairmap *m, uint32_t a, uint32_t b, uint32_t *rank, int32_t *val);

/* ---- growable byte buffer ---------------------------------------------- */

typedef struct tk_buf {
    char *p;
    size_t len, cap;
} tk_buf;

bool ark_tok_buf_reserve(tk_buf *b, size_t extra);
bool ark_tok_buf_put(tk_buf *b, const void *p, size_t n);

/* ---- unicode (tok_unicode.c) ------------------------------------------ */

/* Decode one UTF-8 character of valid text at s (n bytes left); returns its
 * length and stores the code point. */
int ark_tok_utf8_dec(const char *s, size_t n, uint32_t *cp);
/* Length of the character starting with byte c (valid UTF-8). */
static inline int ark_tok_utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
int ark_tok_utf8_enc(uint32_t cp, char *out);
/* Offset of the first invalid UTF-8 sequence, or n if the text is valid. */
size_t ark_tok_utf8_check(const char *s, size_t n);
/* Append s to out, replacing ill-formed sequences by U+FFFD the way Rust's
 * String::from_utf8_lossy does (one per maximal ill-formed subpart). */
bool ark_tok_utf8_lossy(tk_buf *out, const char *s, size_t n);

bool ark_tok_is_whitespace(uint32_t cp); /* Rust char::is_whitespace */
bool ark_tok_is_numeric(uint32_t cp);    /* Rust char::is_numeric (N*) */
bool ark_tok_is_punct(uint32_t cp);      /* ASCII punctuation or P* */
bool ark_tok_is_word(uint32_t cp);       /* Rust regex \w */
bool ark_tok_is_mark(uint32_t cp);       /* M* */

/* GPT-2 byte <-> unicode table. */
extern const uint16_t ark_tok_byte_to_cp[256];
/* -1 if cp is not one of the 256 byte characters. */
int ark_tok_cp_to_byte(uint32_t cp);

/* ---- patterns (tok_pattern.c) ----------------------------------------- */

enum tk_pat_kind { TKP_NONE, TKP_LITERAL, TKP_REGEX, TKP_CHARCLASS };
typedef bool (*tk_char_pred)(uint32_t cp);

typedef struct tk_pattern {
    int kind;
    char *lit; /* TKP_LITERAL (may be empty: then compiled as a regex) */
    size_t lit_len;
    void *re;  /* TKP_REGEX: an OnigRegex */
    tk_char_pred pred;  /* TKP_CHARCLASS */
    uint32_t ch;        /* TKP_CHARCLASS with pred NULL: this one char */
} tk_pattern;

/* One piece of a text cut by a pattern: [s, e), matched or not. */
typedef struct tk_match {
    uint32_t s, e;
    bool m;
} tk_match;

typedef struct tk_matches {
    tk_match *v;
    size_t n, cap;
} tk_matches;

/* Compile a tokenizer.json pattern object ({"String": s} or {"Regex": r});
 * `where` names the field for messages. */
ark_status ark_tok_pattern_parse(tk_pattern *p, const cJSON *j, const char *where);
ark_status ark_tok_pattern_regex(tk_pattern *p, const char *re, size_t len, const char *where);
void ark_tok_pattern_free(tk_pattern *p);
/* Hugging Face's Pattern::find_matches: the whole of s[0,n) cut into
 * matched and unmatched pieces, in order (one unmatched (0,0) if n == 0). */
bool ark_tok_pattern_find(const tk_pattern *p, const char *s, size_t n, tk_matches *out);

/* Split delimiter behaviours. */
enum { TK_REMOVED, TK_ISOLATED, TK_MERGED_PREV, TK_MERGED_NEXT, TK_CONTIGUOUS };
ark_status ark_tok_behavior_parse(const cJSON *j, const char *where, int *out);
/* Apply a behaviour to a match list in place (Hugging Face's
 * NormalizedString::split); removed pieces get m = true, kept m = false. */
void ark_tok_apply_behavior(tk_matches *ms, int behavior);

/* ---- the pre-tokenized string (tok_pts.c) ----------------------------- */

typedef struct tk_align {
    uint32_t s, e;
} tk_align;

typedef struct tk_split {
    uint32_t off, len; /* bytes of buf */
    int32_t added;     /* >= 0: an added token's id (already tokenized) */
    uint32_t os, oe;   /* added tokens: span in the input */
} tk_split;

typedef struct tk_pts {
    char *buf;
    tk_align *al;
    size_t len, cap;
    tk_split *sp;
    size_t n, spcap;
} tk_pts;

bool ark_tok_pts_init(tk_pts *p, const char *text, size_t len);
void ark_tok_pts_free(tk_pts *p);
bool ark_tok_pts_push_split(tk_split **v, size_t *n, size_t *cap, tk_split s);

/* Writes the transformed text of one split, Hugging Face transform()-style:
 * each output char says how it relates to the input chars (change 0:
 * replaces the next input char; +1: inserted; -k: replaces the next char
 * and removes k more). */
typedef struct tk_emit {
    tk_pts *out;
    const char *src;
    const tk_align *al;
    size_t n, off;
    tk_align base; /* alignment for a char inserted before everything */
    bool oom;
} tk_emit;

void ark_tok_emit_put(tk_emit *em, uint32_t cp, int change);
/* Copy the next input char unchanged (same as put(cp, 0), faster). */
void ark_tok_emit_copy(tk_emit *em, size_t nbytes);
/* Skip input chars (at the start, Hugging Face's initial_offset). */
void ark_tok_emit_skip_chars(tk_emit *em, size_t nchars);

typedef bool (*tk_transform_fn)(const void *ctx, tk_emit *em);
/* Rewrite every non-added split with fn; empty results are dropped. */
bool ark_tok_pts_transform(tk_pts *p, tk_transform_fn fn, const void *ctx);

typedef bool (*tk_split_fn)(const void *ctx, const char *s, size_t n, bool at_input_start,
                            tk_matches *out);
/* Cut every non-added split: fn returns the pieces (matches list where m
 * = true means "drop"); empty pieces are dropped. */
bool ark_tok_pts_split(tk_pts *p, tk_split_fn fn, const void *ctx);

/* ---- pipeline components ---------------------------------------------- */

typedef struct tk_norm tk_norm;
typedef struct tk_pretok tk_pretok;
typedef struct tk_post tk_post;
typedef struct tk_dec tk_dec;

ark_status ark_tok_norm_parse(const cJSON *j, const char *where, tk_norm **out);
void ark_tok_norm_free(tk_norm *n);
bool ark_tok_norm_apply(const tk_norm *n, tk_pts *p);

ark_status ark_tok_pretok_parse(const cJSON *j, const char *where, tk_pretok **out);
void ark_tok_pretok_free(tk_pretok *pt);
bool ark_tok_pretok_apply(const tk_pretok *pt, tk_pts *p);

/* A token in the making (before the encoding is built). */
typedef struct tk_token {
    int32_t id;
    uint32_t s, e;      /* span in the input */
    const char *v;      /* token string (for offset trimming) */
    uint32_t vlen;
    uint8_t added_by_post; /* inserted by the post-processor */
} tk_token;

typedef struct tk_toks {
    tk_token *v;
    size_t n, cap;
} tk_toks;

bool ark_tok_toks_push(tk_toks *t, tk_token tok);

struct ark_tokenizer;
ark_status ark_tok_post_parse(const cJSON *j, const char *where, const struct ark_tokenizer *t,
                              tk_post **out);
void ark_tok_post_free(tk_post *pp);
bool ark_tok_post_apply(const tk_post *pp, const struct ark_tokenizer *t, tk_toks *toks,
                        bool add_special);
/* The ids the post-processor puts before / after the sequence for a single
 * input (for BOS/EOS discovery); -1 if none. */
int32_t ark_tok_post_first_id(const tk_post *pp);
int32_t ark_tok_post_last_id(const tk_post *pp);

/* A list of strings, the decoders' currency. */
typedef struct tk_slist {
    tk_buf b;
    uint32_t *off, *len;
    size_t n, cap;
} tk_slist;

bool ark_tok_slist_push(tk_slist *l, const char *s, size_t n);
void ark_tok_slist_free(tk_slist *l);

ark_status ark_tok_dec_parse(const cJSON *j, const char *where, tk_dec **out);
void ark_tok_dec_free(tk_dec *d);
/* Run the decoder chain.  piece: display mode (see ark_encoding_piece). */
bool ark_tok_dec_apply(const tk_dec *d, tk_slist *l, bool piece);

/* ---- models (tok_bpe.c, tok_wordlevel.c) ------------------------------ */

enum { TKM_BPE, TKM_WORDLEVEL, TKM_WORDPIECE };

typedef struct tk_model {
    int kind;
    tk_strmap vocab;   /* token -> id */
    int32_t n_ids;     /* largest model id + 1 */
    size_t vocab_count;/* entries in vocab (Hugging Face's get_vocab_size) */
    const char **id_str; /* id -> token (into the pool), NULL for holes */
    uint32_t *id_len;
    tk_pairmap merges; /* (a, b) -> (rank, merged id) */
    char *unk;         /* NULL if none */
    char *prefix;      /* continuing_subword_prefix, NULL if none */
    char *suffix;      /* end_of_word_suffix, NULL if none */
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_id[256]; /* <0xXX> tokens, -1 if absent */
    int max_input_chars; /* WordPiece */
} tk_model;

ark_status ark_tok_model_parse(const cJSON *j, struct ark_tokenizer *t);
void ark_tok_model_free(tk_model *m);

/* Memoised words and scratch space for one thread.  Each thread keeps one,
 * for the tokenizer it used last (uid); NULL on allocation failure. */
typedef struct tk_bpe_cache tk_bpe_cache;
tk_bpe_cache *ark_tok_bpe_cache_for(uint64_t uid);
/* Tokenize one pre-token s[0,n) (a split) into toks; span maps bytes of s to
 * input spans. */
ark_status ark_tok_model_tokenize(const tk_model *m, tk_bpe_cache *cache, const char *s, size_t n,
                                  const tk_align *al, tk_toks *toks);

/* ---- added tokens (tok_added.c) --------------------------------------- */

typedef struct tk_added {
    char *content;   /* as written */
    size_t clen;
    char *norm;      /* normalized content (NULL when equal to content) */
    size_t nlen;
    int32_t id;
    bool special, normalized, lstrip, rstrip, single_word;
} tk_added;

typedef struct tk_trie {
    tk_pairmap edges;   /* (node, byte) -> child */
    int32_t *term;      /* node -> index into added[], -1 */
    size_t n_nodes, cap;
    uint8_t first[256]; /* bytes that can start a match */
} tk_trie;

ark_status ark_tok_added_parse(const cJSON *arr, struct ark_tokenizer *t);
void ark_tok_added_free(struct ark_tokenizer *t);
/* Cut the added tokens out of the non-added splits (pass 0: those with
 * normalized=false, on the raw text; pass 1: normalized=true ones, on the
 * normalized text). */
bool ark_tok_added_extract(const struct ark_tokenizer *t, tk_pts *p, int pass);

/* tokenizer.json's "truncation" and "padding" (single sequences). */
typedef struct tk_trunc {
    bool on, left, only_second;
    size_t max_len;
} tk_trunc;

typedef struct tk_pad {
    bool on, fixed, left;
    size_t len, multiple;
    int32_t id;
    char *token;
} tk_pad;

ark_status ark_tok_trunc_pad_parse(const cJSON *trunc, const cJSON *pad, struct ark_tokenizer *t);
/* Tokens the post-processor adds to a single sequence. */
size_t ark_tok_post_added(const tk_post *pp);
ark_status ark_tok_truncate(const struct ark_tokenizer *t, tk_toks *toks, bool add_special);
bool ark_tok_pad(const struct ark_tokenizer *t, tk_toks *toks);

/* ---- the tokenizer ----------------------------------------------------- */

struct ark_tokenizer {
    char *path;
    uint64_t uid;         /* unique per loaded tokenizer (word caches) */
    tk_norm *norm;
    tk_pretok *pre;
    tk_model model;
    tk_post *post;
    tk_dec *dec;
    tk_trunc trunc;
    tk_pad pad;

    tk_added *added;
    size_t n_added;
    tk_strmap added_map;  /* content -> id */
    tk_trie trie[2];      /* 0: raw-text tokens, 1: normalized tokens */
    bool has_trie[2];

    int32_t vocab_size;   /* largest id + 1 */
    const char **tok_str; /* id -> string (added first, then model) */
    uint32_t *tok_len;
    uint8_t *special;     /* id -> skipped by decode(skip_special) */

    char *piece_buf;      /* display pieces, NUL-separated */
    uint32_t *piece_off, *piece_len;

    int32_t bos_id, eos_id;
    int cfg_add_bos, cfg_add_eos; /* -1: not in tokenizer_config.json */
    bool adds_bos;

    bool json_nul;        /* tokenizer.json has "\u0000" in strings */
    char **pool;          /* strings owned by the tokenizer */
    size_t n_pool, cap_pool;
};

/* Keep a malloc'd string for the tokenizer's lifetime. */
char *ark_tok_pool_add(struct ark_tokenizer *t, char *s);
/* A copy of s[0,n) (NUL-terminated) kept in the pool; NULL on OOM. */
char *ark_tok_pool_dup(struct ark_tokenizer *t, const char *s, size_t n);

/* ---- JSON helpers (tok_json.c) ---------------------------------------- */

/* Read a field that may be absent or null: *out keeps its default then. */
ark_status ark_tok_json_bool(const cJSON *obj, const char *key, const char *where, bool *out);
ark_status ark_tok_json_int(const cJSON *obj, const char *key, const char *where, long *out);
/* *out = NULL when absent or null; points into the cJSON tree. */
ark_status ark_tok_json_str(const cJSON *obj, const char *key, const char *where, const char **out);
/* The "type" string of a component; ARK_ERR_FORMAT if missing. */
ark_status ark_tok_json_type(const cJSON *obj, const char *where, const char **out);
char *ark_tok_strdup(const char *s);

/* Read and parse a JSON file.  cJSON strings end at U+0000, so "\u0000"
 * escapes inside strings are read as the byte 0xFF (never in valid UTF-8);
 * *had_nul says whether any was seen, and ark_tok_unmask() turns a string's
 * 0xFF bytes back into U+0000. */
ark_status ark_tok_read_json(const char *path, cJSON **out, bool *had_nul);
/* Copy s (strlen(s) bytes) to dst, 0xFF -> 0x00; returns the length. */
size_t ark_tok_unmask(const char *s, char *dst);

/* Decode the string value of the top-level key `key` of the JSON object in
 * line[0,n) into a malloc'd buffer (*out, *len; NUL-terminated), keeping
 * U+0000 (which cJSON strings cannot hold).  Returns ARK_ERR_MISSING if the
 * key is absent or not a string, ARK_ERR_FORMAT for a malformed line. */
ark_status ark_tok_json_string_field(const char *line, size_t n, const char *key, char **out,
                                     size_t *len);

/* Internal: decode ids to the text Hugging Face would give (no checks). */
bool ark_tok_decode_tokens(const struct ark_tokenizer *t, const int32_t *ids, size_t n,
                           bool skip_special, bool piece, tk_buf *out);

#endif
