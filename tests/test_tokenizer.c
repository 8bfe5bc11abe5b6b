/* Tokenizers: every case of the six Hugging Face fixtures (ids, ids with
 * special tokens, decoded text), the facts-llama WordLevel tokenizer, the
 * accessors, offsets and display pieces, hand-checked small tokenizers for
 * the pipeline pieces the fixtures do not use, long inputs, and the error
 * paths.  Expected values come from the fixtures (Hugging Face's own
 * output) or are worked out by hand, never from the code under test. */
#include "testutil.h"

#include "arrakis/tokenizer.h"
#include "tokenizer/tok_internal.h" /* ark_tok_json_string_field: U+0000-safe JSON strings */

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *names[] = {"gpt2", "llama2", "mistral", "llama3", "qwen3", "gemma3"};
enum { N_TOK = 6 };
static ark_tokenizer *toks[N_TOK];

static ark_tokenizer *tok(const char *name)
{
    for (int i = 0; i < N_TOK; i++)
        if (!strcmp(names[i], name)) return toks[i];
    fail_msg("no tokenizer %s", name);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < N_TOK; i++) {
        if (ark_tokenizer_open(fixture_path("tokenizers/%s", names[i]), &toks[i]) != ARK_OK) {
            fprintf(stderr, "cannot load %s: %s\n", names[i], ark_errmsg());
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_TOK; i++) ark_tokenizer_free(toks[i]);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static bool ids_equal(const ark_encoding *e, const cJSON *arr)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != ark_encoding_count(e)) return false;
    const int32_t *ids = ark_encoding_ids(e);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) if ((int32_t)it->valuedouble != ids[i++]) return false;
    return true;
}

static ark_encoding *encode(ark_tokenizer *t, const char *text, bool special)
{
    ark_encoding *e = NULL;
    ark_status s = ark_tokenizer_encode(t, text, strlen(text), special, &e);
    if (s != ARK_OK) fail_msg("encode \"%s\": %s", text, ark_errmsg());
    return e;
}

static void check_ids(ark_tokenizer *t, const char *text, bool special, const int32_t *want, int n)
{
    ark_encoding *e = encode(t, text, special);
    assert_int_equal(ark_encoding_count(e), n);
    for (int i = 0; i < n; i++) assert_int_equal(ark_encoding_ids(e)[i], want[i]);
    ark_encoding_free(e);
}

static void check_piece(const ark_encoding *e, int i, const char *want)
{
    size_t len;
    const char *p = ark_encoding_piece(e, i, &len);
    assert_non_null(p);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(p, want, len);
}

/* ---- the fixtures' cases ----------------------------------------------- */

static void run_cases(int k)
{
    ark_tokenizer *t = toks[k];
    size_t n;
    char *all = read_file(fixture_path("tokenizers/%s/cases.jsonl", names[k]), &n);
    assert_non_null(all);
    int cases = 0, ok_ids = 0, ok_special = 0, ok_decoded = 0;
    for (char *line = all, *end; line < all + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(all + n - line));
        if (!end) end = all + n;
        if (end == line) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(end - line));
        assert_non_null(j);
        char *text, *decoded;
        size_t tlen, dlen;
        assert_int_equal(ark_tok_json_string_field(line, (size_t)(end - line), "text", &text, &tlen), ARK_OK);
        assert_int_equal(ark_tok_json_string_field(line, (size_t)(end - line), "decoded", &decoded, &dlen), ARK_OK);
        ark_encoding *e, *es;
        assert_int_equal(ark_tokenizer_encode(t, text, tlen, false, &e), ARK_OK);
        assert_int_equal(ark_tokenizer_encode(t, text, tlen, true, &es), ARK_OK);
        bool a = ids_equal(e, cJSON_GetObjectItem(j, "ids"));
        bool b = ids_equal(es, cJSON_GetObjectItem(j, "ids_with_special"));
        char *back;
        size_t blen;
        assert_int_equal(ark_tokenizer_decode_n(t, ark_encoding_ids(e), ark_encoding_count(e), false, &back, &blen),
                         ARK_OK);
        bool c = blen == dlen && memcmp(back, decoded, dlen) == 0;
        if (!a || !b || !c) fprintf(stderr, "%s: case %d differs (ids %d, special %d, decoded %d)\n", names[k], cases, a, b, c);
        ok_ids += a, ok_special += b, ok_decoded += c, cases++;
        free(back);
        ark_encoding_free(e);
        ark_encoding_free(es);
        free(text);
        free(decoded);
        cJSON_Delete(j);
    }
    free(all);
    print_message("%-8s ids %d/%d, ids_with_special %d/%d, decoded %d/%d\n", names[k], ok_ids, cases, ok_special,
                  cases, ok_decoded, cases);
    assert_int_equal(cases, 246);
    assert_int_equal(ok_ids, cases);
    assert_int_equal(ok_special, cases);
    assert_int_equal(ok_decoded, cases);
}

static void test_cases_gpt2(void **s) { (void)s; run_cases(0); }
static void test_cases_llama2(void **s) { (void)s; run_cases(1); }
static void test_cases_mistral(void **s) { (void)s; run_cases(2); }
static void test_cases_llama3(void **s) { (void)s; run_cases(3); }
static void test_cases_qwen3(void **s) { (void)s; run_cases(4); }
static void test_cases_gemma3(void **s) { (void)s; run_cases(5); }

/* ---- the README's facts ------------------------------------------------ */

static void test_readme_facts(void **state)
{
    (void)state;
    /* "Hello world" sanity ids, BOS ids and vocabulary sizes from README.md */
    static const int32_t hw[N_TOK][2] = {{15496, 995}, {15043, 3186}, {22557, 1526}, {9906, 1917}, {9707, 1879}, {9259, 1902}};
    static const int32_t bos[N_TOK] = {-1, 1, 1, 128000, -1, 2};
    static const int vocab[N_TOK] = {50257, 32000, 32000, 128256, 151669, 262145};
    for (int k = 0; k < N_TOK; k++) {
        check_ids(toks[k], "Hello world", false, hw[k], 2);
        assert_int_equal(ark_tokenizer_vocab_size(toks[k]), vocab[k]);
        ark_encoding *e = encode(toks[k], "", true);
        assert_int_equal(ark_encoding_count(e), bos[k] >= 0 ? 1 : 0);
        if (bos[k] >= 0) {
            assert_int_equal(ark_encoding_ids(e)[0], bos[k]);
            assert_int_equal(ark_tokenizer_bos_id(toks[k]), bos[k]);
        }
        assert_int_equal(ark_tokenizer_adds_bos(toks[k]), bos[k] >= 0);
        ark_encoding_free(e);
    }
    assert_int_equal(ark_tokenizer_token_to_id(tok("gpt2"), "<|endoftext|>"), 50256);
    assert_true(ark_tokenizer_is_special(tok("gpt2"), 50256));
    assert_false(ark_tokenizer_is_special(tok("gpt2"), 995));
    assert_string_equal(ark_tokenizer_id_to_token(tok("gpt2"), 995), "\xC4\xA0world"); /* "Ġworld" */
    assert_int_equal(ark_tokenizer_token_to_id(tok("llama2"), "<s>"), 1);
    assert_int_equal(ark_tokenizer_token_to_id(tok("mistral"), "\xE2\x96\x81Hello"), 22557);
    assert_int_equal(ark_tokenizer_token_to_id(tok("gemma3"), "<image_soft_token>"), 262144);
    assert_int_equal(ark_tokenizer_token_to_id(tok("gpt2"), "no such token"), -1);
    assert_null(ark_tokenizer_id_to_token(tok("gpt2"), 50257));
    assert_null(ark_tokenizer_id_to_token(tok("gpt2"), -1));
    /* literal special tokens are recognised (README examples) */
    static const int32_t eot[] = {50256}, ls[] = {263, 1, 289, 2, 274};
    check_ids(tok("gpt2"), "<|endoftext|>", false, eot, 1);
    check_ids(tok("llama2"), "a<s>b</s>c", false, ls, 5);
}

/* ---- spans and display pieces ------------------------------------------ */

static void test_spans_and_pieces(void **state)
{
    (void)state;
    ark_encoding *e = encode(tok("gpt2"), "Hello world", false);
    const ark_token_span *sp = ark_encoding_spans(e);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 5);
    assert_int_equal(sp[1].start, 5);
    assert_int_equal(sp[1].end, 11);
    check_piece(e, 0, "Hello");
    check_piece(e, 1, " world");
    assert_null(ark_encoding_piece(e, 2, NULL));
    ark_encoding_free(e);

    /* llama: "▁world" shows as " world"; BOS is at (0, 0) */
    e = encode(tok("llama2"), "Hello world", true);
    assert_int_equal(ark_encoding_count(e), 3);
    check_piece(e, 0, "<s>");
    check_piece(e, 2, " world");
    sp = ark_encoding_spans(e);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 0);
    assert_int_equal(sp[1].start, 0); /* the "▁" belongs to the char after it */
    assert_int_equal(sp[1].end, 5);
    assert_int_equal(sp[2].start, 5);
    assert_int_equal(sp[2].end, 11);
    ark_encoding_free(e);

    /* the subject of a prompt: the tokens whose spans cover " Eiffel Tower" */
    const char *prompt = "The Eiffel Tower is in";
    for (int k = 0; k < N_TOK; k++) {
        e = encode(toks[k], prompt, true);
        sp = ark_encoding_spans(e);
        size_t covered = 0;
        for (int i = 0; i < ark_encoding_count(e); i++) {
            assert_true(sp[i].start <= sp[i].end && sp[i].end <= strlen(prompt));
            if (sp[i].start >= 3 && sp[i].end <= 16) covered += sp[i].end - sp[i].start;
        }
        assert_true(covered >= 12); /* "Eiffel Tower" without or with its space */
        ark_encoding_free(e);
    }

    /* byte-fallback and byte-level pieces of one emoji: U+FFFD per stray
     * byte; the pieces of a newline */
    e = encode(tok("llama2"), "\xF0\x9F\x98\x80\n", false);
    assert_true(ark_encoding_count(e) >= 4);
    check_piece(e, 1, "\xEF\xBF\xBD"); /* <0xF0> alone */
    check_piece(e, ark_encoding_count(e) - 1, "\n");
    ark_encoding_free(e);
    e = encode(tok("gpt2"), " \xF0\x9F\x98\x80", false);
    for (int i = 0; i < ark_encoding_count(e); i++) {
        size_t len;
        ark_encoding_piece(e, i, &len);
        assert_true(len > 0);
    }
    ark_encoding_free(e);
}

/* ---- decode ------------------------------------------------------------ */

static void test_decode(void **state)
{
    (void)state;
    static const int32_t ids[] = {1, 15043, 3186, 2};
    char *text;
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), ids, 4, false, &text), ARK_OK);
    assert_string_equal(text, "<s> Hello world</s>");
    free(text);
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), ids, 4, true, &text), ARK_OK);
    assert_string_equal(text, "Hello world");
    free(text);
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), ids, 0, false, &text), ARK_OK);
    assert_string_equal(text, "");
    free(text);
    /* <0xE2><0x82><0xAC> is "€"; the first two alone are not UTF-8 */
    int32_t euro[3] = {ark_tokenizer_token_to_id(tok("llama2"), "<0xE2>"), ark_tokenizer_token_to_id(tok("llama2"), "<0x82>"),
                       ark_tokenizer_token_to_id(tok("llama2"), "<0xAC>")};
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), euro, 3, false, &text), ARK_OK);
    assert_string_equal(text, "\xE2\x82\xAC");
    free(text);
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), euro, 2, false, &text), ARK_OK);
    assert_string_equal(text, "\xEF\xBF\xBD\xEF\xBF\xBD");
    free(text);
    /* unknown ids are refused with the position */
    int32_t bad[2] = {15043, 32000};
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), bad, 2, false, &text), ARK_ERR_ARG);
    assert_null(text);
    assert_non_null(strstr(ark_errmsg(), "ids[1]"));
    bad[1] = -5;
    assert_int_equal(ark_tokenizer_decode(tok("llama2"), bad, 2, false, &text), ARK_ERR_ARG);
}

/* ---- facts-llama (WordLevel + Whitespace) ------------------------------ */

static void test_facts_llama(void **state)
{
    (void)state;
    ark_tokenizer *t;
    assert_int_equal(ark_tokenizer_open(fixture_path("trained/facts-llama"), &t), ARK_OK);
    assert_int_equal(ark_tokenizer_vocab_size(t), 181);
    assert_false(ark_tokenizer_adds_bos(t)); /* README: no BOS/EOS is added */
    assert_int_equal(ark_tokenizer_bos_id(t), 2);
    assert_int_equal(ark_tokenizer_eos_id(t), 3);
    /* vocab.json is the same word -> id map; sentences are space-separated */
    char *vj = read_file(fixture_path("trained/facts-llama/vocab.json"), NULL);
    cJSON *vocab = cJSON_Parse(vj);
    assert_non_null(vocab);
    size_t n;
    char *facts = read_file(fixture_path("trained/facts-llama/facts.jsonl"), &n);
    assert_non_null(facts);
    int sentences = 0;
    for (char *line = strtok(facts, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *f = cJSON_Parse(line);
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(f, "sentences")) {
            ark_encoding *e = encode(t, s->valuestring, true);
            char *copy = strdup(s->valuestring), *save = NULL;
            int i = 0;
            for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save), i++) {
                assert_true(i < ark_encoding_count(e));
                assert_int_equal(ark_encoding_ids(e)[i], cJSON_GetObjectItem(vocab, w)->valueint);
            }
            assert_int_equal(i, ark_encoding_count(e));
            free(copy);
            ark_encoding_free(e);
            sentences++;
        }
        const char *attr = cJSON_GetObjectItem(f, "attribute")->valuestring;
        assert_int_equal(ark_tokenizer_token_to_id(t, attr), cJSON_GetObjectItem(f, "attribute_id")->valueint);
        cJSON_Delete(f);
    }
    assert_int_equal(sentences, 2400);
    /* README: "Paris." splits into "Paris" "."; unknown words are <unk> = 0 */
    static const int32_t paris[] = {16, 6}, unk[] = {0, 5, 16};
    check_ids(t, "Paris.", false, paris, 2);
    check_ids(t, "Zorblax in Paris", false, unk, 3);
    free(facts);
    free(vj);
    cJSON_Delete(vocab);
    ark_tokenizer_free(t);
}

/* reference.safetensors: input_ids of the sentence in its metadata. */
static void test_facts_llama_reference(void **state)
{
    (void)state;
    size_t n;
    unsigned char *st = (unsigned char *)read_file(fixture_path("trained/facts-llama/reference.safetensors"), &n);
    assert_non_null(st);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st[i];
    cJSON *h = cJSON_ParseWithLength((const char *)st + 8, hlen);
    const char *text = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "__metadata__"), "text")->valuestring;
    const cJSON *ii = cJSON_GetObjectItem(h, "input_ids");
    int count = cJSON_GetArrayItem(cJSON_GetObjectItem(ii, "shape"), 1)->valueint;
    size_t off = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(ii, "data_offsets"), 0)->valuedouble;
    ark_tokenizer *t;
    assert_int_equal(ark_tokenizer_open(fixture_path("trained/facts-llama/tokenizer.json"), &t), ARK_OK);
    ark_encoding *e = encode(t, text, true);
    assert_int_equal(ark_encoding_count(e), count);
    for (int i = 0; i < count; i++) {
        int64_t v = 0;
        for (int b = 7; b >= 0; b--) v = v << 8 | st[8 + hlen + off + 8 * (size_t)i + (size_t)b];
        assert_int_equal(ark_encoding_ids(e)[i], v);
    }
    ark_encoding_free(e);
    ark_tokenizer_free(t);
    cJSON_Delete(h);
    free(st);
}

/* ---- small hand-checked tokenizers ------------------------------------- */

static ark_tokenizer *open_json(const char *json)
{
    const char *dir = scratch_dir("tok_json");
    assert_non_null(dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    ark_tokenizer *t = NULL;
    if (ark_tokenizer_open(dir, &t) != ARK_OK) fail_msg("open: %s", ark_errmsg());
    return t;
}

static ark_status open_json_status(const char *json, const char **msg)
{
    const char *dir = scratch_dir("tok_bad");
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    fputs(json, f);
    fclose(f);
    ark_tokenizer *t = (ark_tokenizer *)1;
    ark_status s = ark_tokenizer_open(path, &t);
    assert_null(t);
    *msg = ark_errmsg();
    return s;
}

static void test_small_bpe(void **state)
{
    (void)state;
    /* merges rank "a b" before "b c": "abc" -> "ab" "c"; "\u0000" is a token */
    ark_tokenizer *t = open_json(
        "{\"added_tokens\":[{\"id\":7,\"content\":\"<x>\",\"special\":true,\"normalized\":false,\"lstrip\":true,"
        "\"rstrip\":false,\"single_word\":false}],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Whitespace\"},"
        "\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"BPE\",\"unk_token\":\"?\",\"fuse_unk\":true,"
        "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"?\":5,\"\\u0000\":6,\"<x>\":7},\"merges\":[\"a b\",\"b c\"]}}");
    static const int32_t abc[] = {3, 2}, bc[] = {4}, unk[] = {0, 5, 2}, nul[] = {6}, x[] = {0, 7, 1};
    check_ids(t, "abc", false, abc, 2);
    check_ids(t, "bc", false, bc, 1);
    check_ids(t, "azzc", false, unk, 3); /* fuse_unk: one "?" for "zz" */
    ark_encoding *e;
    assert_int_equal(ark_tokenizer_encode(t, "\0", 1, false, &e), ARK_OK);
    assert_int_equal(ark_encoding_count(e), 1);
    assert_int_equal(ark_encoding_ids(e)[0], nul[0]);
    ark_encoding_free(e);
    e = encode(t, "a  <x>b", false); /* lstrip: "<x>" takes the blanks before it */
    assert_int_equal(ark_encoding_count(e), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(ark_encoding_ids(e)[i], x[i]);
    assert_int_equal(ark_encoding_spans(e)[1].start, 1);
    assert_int_equal(ark_encoding_spans(e)[1].end, 6);
    ark_encoding_free(e);
    char *text;
    assert_int_equal(ark_tokenizer_decode(t, abc, 2, false, &text), ARK_OK);
    assert_string_equal(text, "ab c"); /* no decoder: tokens joined by spaces */
    free(text);
    ark_tokenizer_free(t);
}

static void test_small_wordpiece(void **state)
{
    (void)state;
    /* the classic "unaffable" -> un ##aff ##able, with [CLS] ... [SEP] */
    ark_tokenizer *t = open_json(
        "{\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"special\":true},{\"id\":1,\"content\":\"[CLS]\",\"special\":true},"
        "{\"id\":2,\"content\":\"[SEP]\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
        "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]},"
        "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
        "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"un\":3,"
        "\"##aff\":4,\"##able\":5,\"!\":6,\"runs\":7}}}");
    static const int32_t want[] = {1, 3, 4, 5, 6, 0, 2};
    check_ids(t, "UnAffable! xyz", true, want, 7);
    char *text;
    assert_int_equal(ark_tokenizer_decode(t, want, 7, true, &text), ARK_OK);
    assert_string_equal(text, "unaffable!"); /* [UNK] is special, skipped; " !" cleaned */
    free(text);
    ark_encoding *e = encode(t, "runs", false);
    check_piece(e, 0, " runs"); /* a word start shows its space */
    ark_encoding_free(e);
    ark_tokenizer_free(t);
}

static void test_small_metaspace(void **state)
{
    (void)state;
    ark_tokenizer *t = open_json(
        "{\"added_tokens\":[],\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true},"
        "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true},"
        "\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,\"\\u2581a\":1,\"\\u2581bc\":2}}}");
    static const int32_t want[] = {1, 2, 0};
    check_ids(t, "a bc d", false, want, 3);
    char *text;
    assert_int_equal(ark_tokenizer_decode(t, want, 2, false, &text), ARK_OK);
    assert_string_equal(text, "a bc"); /* the first "▁" is dropped */
    free(text);
    ark_tokenizer_free(t);
}

/* ---- long inputs and invalid UTF-8 ------------------------------------- */

static void test_long_inputs(void **state)
{
    (void)state;
    size_t n = 200000;
    char *s = malloc(n + 1);
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < n; i++) s[i] = kind == 0 ? 'a' : kind == 1 ? ' ' : "The tower. \n"[i % 12];
        for (int k = 0; k < N_TOK; k++) {
            ark_encoding *e;
            assert_int_equal(ark_tokenizer_encode(toks[k], s, n, false, &e), ARK_OK);
            assert_true(ark_encoding_count(e) > 0);
            const ark_token_span *sp = ark_encoding_spans(e);
            assert_true(sp[ark_encoding_count(e) - 1].end <= n);
            if (k == 0) { /* byte-level BPE decodes back to the input */
                char *back;
                size_t blen;
                assert_int_equal(ark_tokenizer_decode_n(toks[k], ark_encoding_ids(e), ark_encoding_count(e), false, &back,
                                                        &blen), ARK_OK);
                assert_int_equal(blen, n);
                assert_memory_equal(back, s, n);
                free(back);
            }
            ark_encoding_free(e);
        }
    }
    free(s);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *bad[] = {"ab\xFF", "\xC3", "x\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF", "ok\xE2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ark_encoding *e = (ark_encoding *)1;
        assert_int_equal(ark_tokenizer_encode(tok("gpt2"), bad[i], strlen(bad[i]), false, &e), ARK_ERR_ARG);
        assert_null(e);
        assert_non_null(strstr(ark_errmsg(), "UTF-8"));
    }
    ark_encoding *e;
    assert_int_equal(ark_tokenizer_encode(tok("gpt2"), "\xF4\x8F\xBF\xBF", 4, false, &e), ARK_OK); /* U+10FFFF */
    ark_encoding_free(e);
    assert_int_equal(ark_tokenizer_encode(tok("gpt2"), NULL, 3, false, &e), ARK_ERR_ARG);
    assert_int_equal(ark_tokenizer_encode(tok("gpt2"), NULL, 0, false, &e), ARK_OK);
    assert_int_equal(ark_encoding_count(e), 0);
    ark_encoding_free(e);
}

/* ---- threads ----------------------------------------------------------- */

/* Several threads encode with the same tokenizers at once (each thread has
 * its own word cache; the regexes and tables are shared read-only) and must
 * get what one thread gets. */
typedef struct thread_job {
    const char *text;
    int32_t want[N_TOK][64];
    int nwant[N_TOK];
    int errors;
} thread_job;

static void *encode_all(void *arg)
{
    thread_job *job = arg;
    for (int rep = 0; rep < 20; rep++)
        for (int k = 0; k < N_TOK; k++) {
            ark_encoding *e;
            if (ark_tokenizer_encode(toks[k], job->text, strlen(job->text), true, &e) != ARK_OK) {
                job->errors++;
                continue;
            }
            if (ark_encoding_count(e) != job->nwant[k] ||
                memcmp(ark_encoding_ids(e), job->want[k], sizeof(int32_t) * (size_t)job->nwant[k]) != 0)
                job->errors++;
            ark_encoding_free(e);
        }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static const char *texts[4] = {"The Eiffel Tower is in Paris. ", "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC 123456",
                                   "When Mary and John went to the store,", "  code: x = f(y)\n\treturn x<|endoftext|>"};
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].text = texts[i];
        jobs[i].errors = 0;
        for (int k = 0; k < N_TOK; k++) {
            ark_encoding *e = encode(toks[k], texts[i], true);
            jobs[i].nwant[k] = ark_encoding_count(e);
            assert_true(jobs[i].nwant[k] <= 64);
            memcpy(jobs[i].want[k], ark_encoding_ids(e), sizeof(int32_t) * (size_t)jobs[i].nwant[k]);
            ark_encoding_free(e);
        }
    }
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, encode_all, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].errors, 0);
    }
}

/* ---- loading errors ---------------------------------------------------- */

static void test_open_errors(void **state)
{
    (void)state;
    ark_tokenizer *t = (ark_tokenizer *)1;
    assert_int_equal(ark_tokenizer_open("/nonexistent/folder", &t), ARK_ERR_MISSING);
    assert_null(t);
    assert_non_null(strstr(ark_errmsg(), "/nonexistent/folder"));
    const char *empty = scratch_dir("tok_empty");
    assert_int_equal(ark_tokenizer_open(empty, &t), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "no tokenizer.json"));
    assert_int_equal(ark_tokenizer_open(NULL, &t), ARK_ERR_ARG);

    const char *msg;
    assert_int_equal(open_json_status("{\"model\": ", &msg), ARK_ERR_FORMAT);
    assert_non_null(strstr(msg, "invalid JSON"));
    assert_int_equal(open_json_status("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", &msg), ARK_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "Unigram"));
    assert_int_equal(open_json_status("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", &msg),
                     ARK_ERR_FORMAT);
    assert_non_null(strstr(msg, "model.merges[0]"));
    assert_int_equal(open_json_status("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", &msg),
                     ARK_ERR_FORMAT);
    assert_non_null(strstr(msg, "model.vocab"));
    assert_int_equal(open_json_status("{\"normalizer\":{\"type\":\"Precompiled\"},\"model\":{\"type\":\"WordLevel\","
                                      "\"vocab\":{}}}", &msg), ARK_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "normalizer"));
    assert_int_equal(open_json_status("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                                      "\"behavior\":\"Isolated\",\"invert\":false},\"model\":{\"type\":\"WordLevel\","
                                      "\"vocab\":{}}}", &msg), ARK_ERR_FORMAT);
    assert_non_null(strstr(msg, "pre_tokenizer.pattern"));
    assert_int_equal(open_json_status("{\"decoder\":{\"type\":\"Nope\"},\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}",
                                      &msg), ARK_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "decoder"));
    assert_int_equal(open_json_status("{}", &msg), ARK_ERR_MISSING);
    assert_non_null(strstr(msg, "model"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_gpt2),
        cmocka_unit_test(test_cases_llama2),
        cmocka_unit_test(test_cases_mistral),
        cmocka_unit_test(test_cases_llama3),
        cmocka_unit_test(test_cases_qwen3),
        cmocka_unit_test(test_cases_gemma3),
        cmocka_unit_test(test_readme_facts),
        cmocka_unit_test(test_spans_and_pieces),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_facts_llama),
        cmocka_unit_test(test_facts_llama_reference),
        cmocka_unit_test(test_small_bpe),
        cmocka_unit_test(test_small_wordpiece),
        cmocka_unit_test(test_small_metaspace),
        cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
