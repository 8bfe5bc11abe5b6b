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

/* Parse "12,7,99" into a fresh int32 array (caller frees). Returns the count,
 * or -1 with a message on stderr. */
int cli_parse_ids(const char *cmd, const char *s, int32_t **ids);
/* Parse a whole decimal integer; false on junk. */
bool cli_parse_int(const char *s, long *out);

/* Write `s` as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

#endif
