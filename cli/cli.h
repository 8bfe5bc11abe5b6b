/* The arrakis command: shared helpers for the subcommands. */
#ifndef ARK_CLI_H
#define ARK_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* One subcommand: argv[0] is the subcommand's name. Returns the exit code. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tool(int argc, char **argv);
int cmd_patch(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_composition(int argc, char **argv);
int cmd_write_read(int argc, char **argv);
int cmd_exp(int argc, char **argv);
int cmd_heads(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_decompose(int argc, char **argv);
int cmd_lens(int argc, char **argv);
int cmd_attribute(int argc, char **argv);
int cmd_residual(int argc, char **argv);
int cmd_svd(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_view(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_sparsity(int argc, char **argv);
int cmd_sae(int argc, char **argv);
int cmd_pca(int argc, char **argv);
int cmd_surgery(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_kg(int argc, char **argv);

/* Print "arrakis CMD: error: ..." on stderr; returns 1 (the exit code to use). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error in the command's arguments (unknown option, missing or bad
 * value, conflicting options): "arrakis CMD: error: MSG (see arrakis CMD
 * --help)".  The hint is left out when MSG already names a command to run
 * (contains "arrakis " or "--help").  Returns 1. */
int cli_arg_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Name the subcommand being run (main does it), so that cli_opt's "needs a
 * value" message names it and its --help. */
void cli_set_command(const char *name);
/* That name ("" before main set it), for shared helpers that report
 * argument errors without being given the command (cli_process_arg). */
const char *cli_command(void);
/* The name in names[0..n) closest to word (a typo or a prefix), or NULL
 * when none is close: for "did you mean" hints. */
const char *cli_closest(const char *word, const char *const *names, size_t n);
/* cli_error with the library's last error message appended. */
int cli_lib_error(const char *cmd, const char *what);

/* If argv[*i] is `name` (as "--name VALUE" or "--name=VALUE"), store the value,
 * advance *i past it and return true.  A missing value is reported on stderr
 * and *value is set to NULL (the caller then exits with 2). */
bool cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* True when argv[i] is exactly `name` (a boolean flag). */
bool cli_flag(char **argv, int i, const char *name);

/* ---- declarative argument parsing ----
 *
 * A subcommand lists its options in a table and hands it to cli_parse with
 * what else it takes (model inputs, --process, one positional MODEL_DIR).
 * Every argument is read in order: --help/-h prints the usage; the inputs
 * (--text/--tokens/--tokens-file), --process and the command's own `arg`
 * hook come next; then the table; then "unknown option X" for anything else
 * starting with '-', the positional, and "unexpected argument X".  Choices,
 * ranges and combinations the table cannot say are checked by the command
 * afterwards. */
typedef enum {
    CLI_FLAG,   /* bool *: set to true */
    CLI_STR,    /* const char **: the value (the last given wins) */
    CLI_INT,    /* long *: a whole decimal number */
    CLI_DOUBLE, /* double *: a number (strtod) */
} cli_kind;

typedef struct cli_option {
    const char *name;   /* "--top-k"; also read as "--top-k=V" (not for CLI_FLAG) */
    cli_kind kind;
    void *dst;          /* by kind, above */
    bool *seen;         /* NULL, or set to true when the option is given */
    bool has_min;       /* CLI_INT: reject values below min */
    long min;
    bool finite;        /* CLI_DOUBLE: reject inf and nan */
    const char *expect; /* the "NAME V: expected ..." text for a bad value; NULL: "an integer"
                         * ("an integer >= MIN" with has_min) or "a number" */
} cli_option;

/* Table entries, with the destination's type checked; more fields may
 * follow as designated initializers:
 *   CLI_INT_OPT("--pos", &a->pos, .seen = &a->has_pos)
 *   CLI_INT_OPT("--batch", &a->batch, CLI_MIN(1))  */
#define CLI_FLAG_OPT(n, d, ...) {.name = (n), .kind = CLI_FLAG, .dst = (1 ? (d) : (bool *)0), __VA_ARGS__}
#define CLI_STR_OPT(n, d, ...) {.name = (n), .kind = CLI_STR, .dst = (1 ? (d) : (const char **)0), __VA_ARGS__}
#define CLI_INT_OPT(n, d, ...) {.name = (n), .kind = CLI_INT, .dst = (1 ? (d) : (long *)0), __VA_ARGS__}
#define CLI_DOUBLE_OPT(n, d, ...) {.name = (n), .kind = CLI_DOUBLE, .dst = (1 ? (d) : (double *)0), __VA_ARGS__}
/* An integer of at least `lo` (inside CLI_INT_OPT). */
#define CLI_MIN(lo) .has_min = true, .min = (lo)
/* The end of a table. */
#define CLI_OPT_END {.name = NULL}

typedef struct cli_spec {
    const char *cmd;          /* the subcommand, for messages */
    void (*usage)(void);      /* printed on stdout for --help / -h */
    const cli_option *opts;   /* ended by an entry with a NULL name; NULL: none */
    struct cli_inputs *inputs; /* NULL: no --text/--tokens/--tokens-file */
    unsigned *process;        /* NULL: no --process */
    const char **dir;         /* the one positional (MODEL_DIR), required; NULL: none */
    const char *dir_missing;  /* the message when it is absent (NULL: "missing MODEL_DIR") */
    /* NULL, or the command's own arguments: 1 when argv[*i] (and its value,
     * cli_opt advancing *i) was used, 0 when not, or minus the exit code
     * after an error was reported (-2 where cli_inputs_arg gives -1). */
    int (*arg)(void *ctx, int argc, char **argv, int *i);
    void *arg_ctx;
} cli_spec;

/* Parse argv[1..argc) by `s`.  Returns 0; -1 after --help printed the usage
 * (the command exits 0); or the exit code after an error was reported on
 * stderr (2 for a missing value or a bad input/--process, 1 otherwise).
 * What was stored before an error (s->inputs' list) is the caller's to
 * free. */
int cli_parse(const cli_spec *s, int argc, char **argv);

/* Parse "12,7,99" into a fresh int32 array (caller frees). Returns the count,
 * or -1 with a message on stderr. */
int cli_parse_ids(const char *cmd, const char *s, int32_t **ids);
/* Parse a whole decimal integer; false on junk. */
bool cli_parse_int(const char *s, long *out);

/* Write `s` as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

#endif
