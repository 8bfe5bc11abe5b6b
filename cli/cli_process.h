/* --process for subcommands that run a model (run, generate): weight
 * processing as TransformerLens' from_pretrained does it (see weights.h). */
#ifndef ARK_CLI_PROCESS_H
#define ARK_CLI_PROCESS_H

#include "arrakis/model.h"

/* If argv[*i] is --process LIST or --process=LIST (LIST: comma-separated
 * fold-ln, center-writing, center-unembed, fold-value-biases, or all), add
 * its steps to *flags, advance *i past it and return 1; return 0 when
 * argv[*i] is something else; -1 after printing an error (missing value,
 * unknown step) on stderr (the caller exits with 2). */
int cli_process_arg(int argc, char **argv, int *i, unsigned *flags);

/* Apply `flags` to the model (nothing when 0).  Returns 0, or 1 after
 * printing "arrakis CMD: error: --process: ..." on stderr. */
int cli_apply_process(const char *cmd, ark_model *m, unsigned flags);

/* One line for a subcommand's usage text. */
#define CLI_PROCESS_USAGE                                                                              \
    "--process STEPS  process the weights first (TransformerLens' meanings; comma-separated):\n"     \
    "                 fold-ln, center-writing (LayerNorm models only), center-unembed,\n"           \
    "                 fold-value-biases, or all; log-probabilities are unchanged\n"

#endif
