#include "cli_input.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_inputs_arg(cli_inputs *in, int argc, char **argv, int *i)
{
    const char *v;
    bool text;
    if (cli_opt(argc, argv, i, "--tokens-file", &v)) {
        if (!v) return -1;
        in->tokens_file = v;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--tokens", &v)) text = false;
    else if (cli_opt(argc, argv, i, "--text", &v)) text = true;
    else return 0;
    if (!v) return -1;
    if (in->n == in->cap) {
        in->cap = in->cap ? 2 * in->cap : 8;
        in->items = realloc(in->items, sizeof *in->items * in->cap);
    }
    in->items[in->n++] = (cli_input){.is_text = text, .value = v};
    return 1;
}

void cli_inputs_free(cli_inputs *in)
{
    free(in->items);
    *in = (cli_inputs){0};
}

typedef struct { int n, cap; int32_t **ids; int *len; } rows_t;

static void rows_add(rows_t *r, int32_t *ids, int n)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->ids = realloc(r->ids, sizeof *r->ids * r->cap);
        r->len = realloc(r->len, sizeof *r->len * r->cap);
    }
    r->ids[r->n] = ids;
    r->len[r->n++] = n;
}

static int read_tokens_file(const char *cmd, const char *path, rows_t *rows)
{
    FILE *f = fopen(path, "r");
    if (!f) return cli_error(cmd, "--tokens-file %s: cannot open: %s (give a file with one JSON array of ids per line)", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        cJSON *a = cJSON_Parse(line);
        int n = cJSON_GetArraySize(a);
        if (!cJSON_IsArray(a) || n == 0) { rc = cli_error(cmd, "%s:%d: expected a JSON array of token ids", path, lineno); cJSON_Delete(a); break; }
        int32_t *ids = malloc(sizeof *ids * n);
        for (int j = 0; j < n && !rc; j++) {
            const cJSON *x = cJSON_GetArrayItem(a, j);
            if (!cJSON_IsNumber(x) || x->valuedouble != (int32_t)x->valuedouble)
                rc = cli_error(cmd, "%s:%d: entry %d is not an integer token id", path, lineno, j);
            else ids[j] = (int32_t)x->valuedouble;
        }
        cJSON_Delete(a);
        if (rc) free(ids);
        else rows_add(rows, ids, n);
    }
    free(line);
    fclose(f);
    return rc;
}

static int encode_text(const char *cmd, cli_vocab *v, const char *dir, const char *text, rows_t *rows)
{
    if (!v->tok) return cli_error(cmd, "--text needs a tokenizer, and %s has no tokenizer.json (use --tokens)", dir);
    ark_encoding *e;
    if (ark_tokenizer_encode(v->tok, text, strlen(text), true, &e) != ARK_OK) return cli_lib_error(cmd, "--text");
    int n = ark_encoding_count(e);
    if (n == 0) { ark_encoding_free(e); return cli_error(cmd, "--text \"%s\" encodes to no tokens", text); }
    int32_t *ids = malloc(sizeof *ids * n);
    memcpy(ids, ark_encoding_ids(e), sizeof *ids * n);
    ark_encoding_free(e);
    rows_add(rows, ids, n);
    return 0;
}

int cli_inputs_batch(const cli_inputs *in, const char *cmd, const char *dir, const ark_model *m, cli_batch *out,
                     cli_vocab *vocab)
{
    memset(out, 0, sizeof *out);
    char *tok_path = malloc(strlen(dir) + 32);
    sprintf(tok_path, "%s/tokenizer.json", dir);
    if (access(tok_path, R_OK) == 0 && ark_tokenizer_open(dir, &vocab->tok) != ARK_OK) {
        free(tok_path);
        return cli_lib_error(cmd, "tokenizer");
    }
    free(tok_path);
    rows_t rows = {0};
    int rc = 0;
    for (int i = 0; i < in->n && !rc; i++) {
        if (in->items[i].is_text) rc = encode_text(cmd, vocab, dir, in->items[i].value, &rows);
        else {
            int32_t *ids;
            int n = cli_parse_ids(cmd, in->items[i].value, &ids);
            if (n < 0) rc = 2;
            else rows_add(&rows, ids, n);
        }
    }
    if (!rc && in->tokens_file) rc = read_tokens_file(cmd, in->tokens_file, &rows);
    if (!rc && rows.n == 0) rc = cli_error(cmd, "no input: give --tokens IDS, --text TEXT or --tokens-file FILE");
    if (!rc && ark_batch_pack(m, (const int32_t *const *)rows.ids, rows.len, rows.n, out) != ARK_OK)
        rc = cli_lib_error(cmd, "input");
    for (int b = 0; b < rows.n; b++) free(rows.ids[b]);
    free(rows.ids);
    free(rows.len);
    return rc;
}

void cli_batch_free(cli_batch *b) { ark_batch_free(b); }

const char *cli_vocab_piece(cli_vocab *v, int32_t id)
{
    if (!v->tok) return NULL;
    free(v->piece);
    v->piece = NULL;
    if (ark_tokenizer_decode(v->tok, &id, 1, false, &v->piece) != ARK_OK) return NULL;
    return v->piece;
}

void cli_vocab_free(cli_vocab *v)
{
    ark_tokenizer_free(v->tok);
    free(v->piece);
}

void cli_print_piece(FILE *f, const char *s, int width)
{
    int n = 2;
    fputc('\'', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') { fputs("\\n", f); n += 2; }
        else if (*p == '\t') { fputs("\\t", f); n += 2; }
        else if (*p < 0x20) { fprintf(f, "\\x%02x", *p); n += 4; }
        else { fputc(*p, f); if ((*p & 0xC0) != 0x80) n++; }
    }
    fputc('\'', f);
    for (; n < width; n++) fputc(' ', f);
}
