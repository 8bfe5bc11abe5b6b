/* Arrakis tokenizers: the Hugging Face tokenizer.json pipeline.
 *
 * A tokenizer is loaded from a model folder (tokenizer.json, and
 * tokenizer_config.json when present) or from a tokenizer.json file, and
 * runs the pipeline that file describes, as Hugging Face `tokenizers` does:
 *
 *   added/special tokens (matched in the raw text) -> normalizer ->
 *   added tokens marked "normalized" -> pre-tokenizer -> model (BPE,
 *   WordLevel, WordPiece) -> post-processor (BOS/EOS templates)
 *
 * and, for ids back to text, the file's decoder.  docs/tokenizer.md lists
 * what is supported and what is refused.
 *
 * Text is UTF-8 and comes with an explicit length, so it may contain U+0000.
 * Invalid UTF-8 given to ark_tokenizer_encode() is refused (ARK_ERR_ARG with
 * the byte offset of the first bad sequence); nothing is replaced silently.
 *
 * Thread safety: a loaded ark_tokenizer is read-only; any number of threads
 * may encode and decode with it at once.  An ark_encoding belongs to its
 * caller. */
#ifndef ARRAKIS_TOKENIZER_H
#define ARRAKIS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arrakis/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_tokenizer ark_tokenizer;
typedef struct ark_encoding ark_encoding;

/* Where a token came from in the input text: bytes [start, end) of the
 * string given to ark_tokenizer_encode().  Tokens inserted by the
 * post-processor (BOS, EOS, ...) have start == end == 0, as in Hugging Face.
 * Where a normalizer changed the text (NFC, Replace, ...), a token covers the
 * input bytes its normalized characters came from; a "▁" added by
 * Prepend/Metaspace belongs to the character after it. */
typedef struct ark_token_span {
    size_t start, end;
} ark_token_span;

/* Load a tokenizer.
 *
 * path  a model folder, or a tokenizer.json file.  From a folder, reads
 *       PATH/tokenizer.json and, if present, PATH/tokenizer_config.json
 *       (add_bos_token, add_eos_token, bos_token, eos_token, ...).  Given a
 *       file, also reads tokenizer_config.json in the same folder, if any.
 * out   receives the tokenizer; free it with ark_tokenizer_free().
 *
 * Special tokens: encode(add_special=true) applies tokenizer.json's
 * post-processor, as Hugging Face `tokenizers` does.  When
 * tokenizer_config.json sets add_bos_token / add_eos_token explicitly, the
 * result follows it, as transformers' Llama/Gemma tokenizers do (they rebuild
 * the template from these flags): a BOS the post-processor does not add is
 * put first, one it adds is left out; EOS likewise at the end.
 *
 * Returns ARK_OK; ARK_ERR_MISSING when the folder has no tokenizer.json (the
 * message names the path); ARK_ERR_IO, ARK_ERR_FORMAT (the message names the
 * JSON field at fault) or ARK_ERR_UNSUPPORTED (e.g. a Unigram model) with
 * *out set to NULL. */
ark_status ark_tokenizer_open(const char *path, ark_tokenizer **out);

/* Free a tokenizer (NULL is fine).  Encodings made with it stay valid. */
void ark_tokenizer_free(ark_tokenizer *t);

/* Text to tokens.
 *
 * text, len    the input, UTF-8, len bytes (it may contain U+0000).
 * add_special  true: apply the post-processor (BOS/EOS/templates), as Hugging
 *              Face's add_special_tokens=True; false: leave it out.  Added and
 *              special tokens written literally in the text are recognised
 *              either way (Hugging Face's default).  The file's
 *              "truncation" and "padding", if set, apply as in Hugging Face
 *              (pad tokens have the span (0, 0)).
 * out          receives the encoding (ids, byte spans, display pieces); the
 *              caller frees it with ark_encoding_free().
 * Returns ARK_OK, or ARK_ERR_ARG for invalid UTF-8 (message gives the byte
 * offset), ARK_ERR_NOMEM.  Time is linear in len (up to the per-word BPE
 * merge, O(w log w) for a word of w characters). */
ark_status ark_tokenizer_encode(const ark_tokenizer *t, const char *text, size_t len,
                                bool add_special, ark_encoding **out);

/* Number of tokens in an encoding. */
int ark_encoding_count(const ark_encoding *e);
/* The token ids, ark_encoding_count() of them; owned by the encoding. */
const int32_t *ark_encoding_ids(const ark_encoding *e);
/* The byte span of each token in the input text; owned by the encoding. */
const ark_token_span *ark_encoding_spans(const ark_encoding *e);
/* The display piece of token i (TransformerLens' to_str_tokens): the text the
 * token stands for when it appears in the middle of a text, i.e. its string
 * decoded on its own, except that decoder steps which only act at the start
 * of a text (Strip, Metaspace's first "▁", WordPiece's first word) are not
 * applied: gpt2 "Ġworld" -> " world", llama "▁world" -> " world",
 * "<0x0A>" -> "\n"; a tokenizer without a decoder joins tokens with spaces,
 * so its tokens show as " word".  A token that holds only part of a UTF-8 character
 * (a byte-fallback <0xE2>, a byte-level piece of an emoji) shows as U+FFFD,
 * one per stray byte, which is what Hugging Face's decode([id]) gives.
 * Returns a NUL-terminated string owned by the encoding; if len is not NULL
 * it receives the byte length (a piece can contain U+0000).  NULL if i is out
 * of range. */
const char *ark_encoding_piece(const ark_encoding *e, int i, size_t *len);
/* Free an encoding (NULL is fine). */
void ark_encoding_free(ark_encoding *e);

/* Ids to text through the tokenizer's decoder (Hugging Face decode()).
 *
 * skip_special  leave out the ids of special added tokens.
 * text          receives a NUL-terminated UTF-8 string (malloc'd, the caller
 *               frees it).  Byte sequences that are not UTF-8 (a lone byte
 *               token) become U+FFFD as in Hugging Face.
 * Returns ARK_OK, or ARK_ERR_ARG naming the first id that is not in the
 * vocabulary (Hugging Face drops such ids silently; we refuse them). */
ark_status ark_tokenizer_decode(const ark_tokenizer *t, const int32_t *ids, int n,
                                bool skip_special, char **text);
/* The same, also giving the byte length of *text (which may contain U+0000). */
ark_status ark_tokenizer_decode_n(const ark_tokenizer *t, const int32_t *ids, int n,
                                  bool skip_special, char **text, size_t *len);

/* Largest id + 1, counting the model's vocabulary and the added tokens. */
int ark_tokenizer_vocab_size(const ark_tokenizer *t);
/* The token string of an id as the vocabulary writes it ("Ġworld", "▁world",
 * "<s>"), owned by the tokenizer; NULL if no token has that id. */
const char *ark_tokenizer_id_to_token(const ark_tokenizer *t, int32_t id);
/* The id of a token string (added tokens first, then the model's
 * vocabulary); -1 if unknown.  token is NUL-terminated. */
int32_t ark_tokenizer_token_to_id(const ark_tokenizer *t, const char *token);
/* True if id is an added token marked "special" (skipped by
 * decode(skip_special=true)). */
bool ark_tokenizer_is_special(const ark_tokenizer *t, int32_t id);

/* The BOS / EOS ids: the bos_token / eos_token named in
 * tokenizer_config.json, else the special token the post-processor puts
 * before / after the text.  -1 if none. */
int32_t ark_tokenizer_bos_id(const ark_tokenizer *t);
int32_t ark_tokenizer_eos_id(const ark_tokenizer *t);

/* Whether ark_tokenizer_encode(add_special=true) starts the ids with the BOS
 * id (the model runner uses this to decide what `--text` gets). */
bool ark_tokenizer_adds_bos(const ark_tokenizer *t);

#ifdef __cplusplus
}
#endif
#endif
