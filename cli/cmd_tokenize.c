/* arrakis tokenize / detokenize: text <-> token ids with a model folder's
 * tokenizer (tokenizer.json). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arrakis/tokenizer.h"
#include "cli.h"
#include "tokenizer/tok_internal.h"

static const char tokenize_usage[] =
    "usage: arrakis tokenize PATH [--special] [--jsonl] [--offsets]\n"
    "\n"
    "Tokenize text with the tokenizer of PATH (a model folder or a tokenizer.json).\n"
    "  plain mode   reads all of stdin as one text (one trailing newline is dropped)\n"
    "               and prints the ids, then one line per token: index, id, piece, bytes\n"
    "  --jsonl      each input line is {\"text\": ...}; each output line is\n"
    "               {\"ids\": [...], \"pieces\": [...]}\n"
    "  --special    add the tokenizer's special tokens (BOS, ...) as Hugging Face's\n"
    "               add_special_tokens=True does\n"
    "  --offsets    (with --jsonl) also give \"offsets\": [[start, end], ...], byte spans\n"
    "               of the tokens in the UTF-8 text\n"
    "\n"
    "examples:\n"
    "  echo \"Gaishar Tastei lives in\" | arrakis tokenize ../shared/fixtures/trained/facts-llama\n"
    "  echo '{\"text\": \"Hello world\"}' | arrakis tokenize MODEL_DIR --jsonl --offsets --special\n";

static const char detokenize_usage[] =
    "usage: arrakis detokenize PATH [--jsonl] [--skip-special]\n"
    "\n"
    "Turn token ids back into text with the tokenizer of PATH.\n"
    "  plain mode      reads ids (separated by spaces, commas or newlines) from stdin\n"
    "                  and prints the text\n"
    "  --jsonl         each input line is {\"ids\": [...]}; each output line {\"text\": ...}\n"
    "  --skip-special  leave out special tokens\n"
    "\n"
    "examples:\n"
    "  echo 5,12,40 | arrakis detokenize ../shared/fixtures/trained/facts-llama\n"
    "  echo '{\"ids\": [1, 5, 12]}' | arrakis detokenize MODEL_DIR --jsonl --skip-special\n";

/* A JSON string literal of s[0,n) (which may hold U+0000).  Like the
 * fixtures' cases.jsonl, U+007F-U+009F, U+2028 and U+2029 are escaped too,
 * so that no line splitter can cut a record. */
static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F) {
            fprintf(f, "\\u%04x", (unsigned char)s[++i]);
            continue;
        }
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            fprintf(f, "\\u%04x", 0x2000 + ((unsigned char)s[i + 2] - 0x80));
            i += 2;
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (c < 0x20 || c == 0x7F) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}

static int open_tokenizer(const char *cmd, const char *path, ark_tokenizer **t)
{
    if (ark_tokenizer_open(path, t) != ARK_OK)
        return cli_error(cmd, "cannot load the tokenizer: %s (PATH is a model folder with a tokenizer.json, or the file)",
                         ark_errmsg());
    return 0;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

static void print_encoding(const ark_encoding *e, bool jsonl, bool offsets)
{
    int n = ark_encoding_count(e);
    const int32_t *ids = ark_encoding_ids(e);
    const ark_token_span *sp = ark_encoding_spans(e);
    if (!jsonl) {
        printf("ids:");
        for (int i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
        for (int i = 0; i < n; i++) {
            size_t len;
            const char *p = ark_encoding_piece(e, i, &len);
            printf("%5d %8d  ", i, ids[i]);
            json_str(stdout, p, len);
            printf("  %zu..%zu\n", sp[i].start, sp[i].end);
        }
        return;
    }
    printf("{\"ids\": [");
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    printf("], \"pieces\": [");
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *p = ark_encoding_piece(e, i, &len);
        if (i) printf(", ");
        json_str(stdout, p, len);
    }
    printf("]");
    if (offsets) {
        printf(", \"offsets\": [");
        for (int i = 0; i < n; i++) printf(i ? ", [%zu, %zu]" : "[%zu, %zu]", sp[i].start, sp[i].end);
        printf("]");
    }
    printf("}\n");
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

static int tokenize_jsonl(const ark_tokenizer *t, bool special, bool offsets)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (blank(line, (size_t)got)) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)got);
        bool obj = cJSON_IsObject(j);
        cJSON_Delete(j);
        char *text;
        size_t len;
        if (!obj) {
            rc = cli_error("tokenize", "stdin line %ld: not a JSON object", lineno);
            break;
        }
        if (ark_tok_json_string_field(line, (size_t)got, "text", &text, &len) != ARK_OK) {
            rc = cli_error("tokenize", "stdin line %ld: %s", lineno, ark_errmsg());
            break;
        }
        ark_encoding *e;
        if (ark_tokenizer_encode(t, text, len, special, &e) != ARK_OK)
            rc = cli_error("tokenize", "stdin line %ld: %s", lineno, ark_errmsg());
        else {
            print_encoding(e, true, offsets);
            ark_encoding_free(e);
        }
        free(text);
    }
    free(line);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    bool special = false, jsonl = false, offsets = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(tokenize_usage, stdout);
            return 0;
        } else if (cli_flag(argv, i, "--special")) special = true;
        else if (cli_flag(argv, i, "--jsonl")) jsonl = true;
        else if (cli_flag(argv, i, "--offsets")) offsets = true;
        else if (argv[i][0] == '-') return cli_arg_error("tokenize", "unknown option %s", argv[i]);
        else if (path) return cli_arg_error("tokenize", "unexpected argument %s (the text is read from stdin)", argv[i]);
        else path = argv[i];
    }
    if (!path) return cli_arg_error("tokenize", "missing PATH, a model folder or a tokenizer.json");
    ark_tokenizer *t;
    if (open_tokenizer("tokenize", path, &t)) return 1;
    int rc = 0;
    if (jsonl) rc = tokenize_jsonl(t, special, offsets);
    else {
        size_t len;
        char *text = read_all(stdin, &len);
        if (!text) rc = cli_error("tokenize", "cannot read stdin");
        else {
            if (len > 0 && text[len - 1] == '\n') len--;
            ark_encoding *e;
            if (ark_tokenizer_encode(t, text, len, special, &e) != ARK_OK) rc = cli_lib_error("tokenize", "stdin");
            else {
                print_encoding(e, false, false);
                ark_encoding_free(e);
            }
        }
        free(text);
    }
    ark_tokenizer_free(t);
    if (fflush(stdout) != 0) rc = cli_error("tokenize", "cannot write stdout: %s", strerror(errno));
    return rc;
}

/* ---- detokenize -------------------------------------------------------- */

static int ids_from_json(const cJSON *arr, int32_t **ids, int *n)
{
    int cnt = cJSON_GetArraySize(arr);
    *ids = malloc(sizeof **ids * (size_t)(cnt + 1));
    *n = 0;
    if (!*ids) return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsNumber(it) || it->valuedouble != (double)(int32_t)it->valuedouble) return -1;
        (*ids)[(*n)++] = (int32_t)it->valuedouble;
    }
    return 0;
}

static int print_decoded(const ark_tokenizer *t, const int32_t *ids, int n, bool skip, bool jsonl, long lineno)
{
    char *text;
    size_t len;
    if (ark_tokenizer_decode_n(t, ids, n, skip, &text, &len) != ARK_OK) {
        if (jsonl) return cli_error("detokenize", "stdin line %ld: %s", lineno, ark_errmsg());
        return cli_lib_error("detokenize", "stdin");
    }
    if (jsonl) {
        printf("{\"text\": ");
        json_str(stdout, text, len);
        printf("}\n");
    } else {
        fwrite(text, 1, len, stdout);
        putchar('\n');
    }
    free(text);
    return 0;
}

static int detokenize_jsonl(const ark_tokenizer *t, bool skip)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (blank(line, (size_t)got)) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)got);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "ids");
        int32_t *ids = NULL;
        int n = 0;
        if (!cJSON_IsArray(arr) || ids_from_json(arr, &ids, &n) != 0)
            rc = cli_error("detokenize", "stdin line %ld: expected {\"ids\": [integer, ...]}", lineno);
        else
            rc = print_decoded(t, ids, n, skip, true, lineno);
        free(ids);
        cJSON_Delete(j);
    }
    free(line);
    return rc;
}

static int detokenize_plain(const ark_tokenizer *t, bool skip)
{
    size_t len;
    char *s = read_all(stdin, &len);
    if (!s) return cli_error("detokenize", "cannot read stdin");
    int32_t *ids = malloc(sizeof *ids * (len / 2 + 1));
    int n = 0, rc = 0;
    for (size_t i = 0; ids && i < len && rc == 0;) {
        if (s[i] == ' ' || s[i] == ',' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
            i++;
            continue;
        }
        char num[32];
        size_t k = 0;
        while (i < len && k < sizeof num - 1 && ((s[i] >= '0' && s[i] <= '9') || (k == 0 && s[i] == '-')))
            num[k++] = s[i++];
        num[k] = '\0';
        long v;
        if (k == 0 || !cli_parse_int(num, &v) || v < INT32_MIN || v > INT32_MAX)
            rc = cli_error("detokenize", "cannot read token ids from stdin near byte %zu", i);
        else
            ids[n++] = (int32_t)v;
    }
    if (!ids) rc = cli_error("detokenize", "out of memory");
    if (rc == 0) rc = print_decoded(t, ids, n, skip, false, 0);
    free(ids);
    free(s);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *path = NULL;
    bool skip = false, jsonl = false;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(detokenize_usage, stdout);
            return 0;
        } else if (cli_flag(argv, i, "--skip-special")) skip = true;
        else if (cli_flag(argv, i, "--jsonl")) jsonl = true;
        else if (argv[i][0] == '-') return cli_arg_error("detokenize", "unknown option %s", argv[i]);
        else if (path) return cli_arg_error("detokenize", "unexpected argument %s (the ids are read from stdin)", argv[i]);
        else path = argv[i];
    }
    if (!path) return cli_arg_error("detokenize", "missing PATH, a model folder or a tokenizer.json");
    ark_tokenizer *t;
    if (open_tokenizer("detokenize", path, &t)) return 1;
    int rc = jsonl ? detokenize_jsonl(t, skip) : detokenize_plain(t, skip);
    ark_tokenizer_free(t);
    if (fflush(stdout) != 0) rc = cli_error("detokenize", "cannot write stdout: %s", strerror(errno));
    return rc;
}
