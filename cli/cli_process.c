/* --process: parse the steps and apply them to a model. */
#include "cli_process.h"

#include <stdio.h>

#include "arrakis/weights.h"
#include "cli.h"

int cli_process_arg(int argc, char **argv, int *i, unsigned *flags)
{
    const char *v;
    if (!cli_opt(argc, argv, i, "--process", &v)) return 0;
    if (!v) return -1;
    unsigned f;
    if (ark_process_parse(v, &f) != ARK_OK) {
        cli_arg_error(cli_command(), "--process: %s", ark_errmsg());
        return -1;
    }
    *flags |= f;
    return 1;
}

int cli_apply_process(const char *cmd, ark_model *m, unsigned flags)
{
    if (!flags) return 0;
    if (ark_model_process(m, flags) != ARK_OK) return cli_lib_error(cmd, "--process");
    return 0;
}
