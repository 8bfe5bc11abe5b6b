/* Model inputs on the command line: --tokens IDS, --text TEXT and
 * --tokens-file FILE (one JSON array of ids per line), turned into one
 * right-padded batch with a mask. */
#ifndef ARK_CLI_INPUT_H
#define ARK_CLI_INPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arrakis/arrakis.h"

typedef struct cli_input {
    bool is_text;
    const char *value;
} cli_input;

typedef struct cli_inputs {
    int n, cap;
    cli_input *items;
    const char *tokens_file;
} cli_inputs;

typedef ark_batch cli_batch;

/* The folder's tokenizer, when it has one (for --text and for printing). */
typedef struct cli_vocab {
    ark_tokenizer *tok;
    char *piece;      /* last piece returned */
} cli_vocab;

/* Consume argv[*i] if it is --tokens/--text/--tokens-file: 1 if used, 0 if
 * not, -1 on error (reported). */
int cli_inputs_arg(cli_inputs *in, int argc, char **argv, int *i);
void cli_inputs_free(cli_inputs *in);

/* Build the batch (opening the folder's tokenizer when present; --text
 * needs one).  Returns 0, or an exit code after reporting. */
int cli_inputs_batch(const cli_inputs *in, const char *cmd, const char *dir, const ark_model *m, cli_batch *out,
                     cli_vocab *vocab);
void cli_batch_free(cli_batch *b);

/* The display string of a token id (NULL without a tokenizer); valid until
 * the next call. */
const char *cli_vocab_piece(cli_vocab *v, int32_t id);
void cli_vocab_free(cli_vocab *v);
/* Print a piece quoted and escaped, padded to `width` columns. */
void cli_print_piece(FILE *f, const char *s, int width);

#endif
