/* Human output of `arrakis exp` (cli_exp_print.c): each function prints one
 * of the library's JSON objects (docs/bench.md) as text. */
#ifndef ARK_CLI_EXP_H
#define ARK_CLI_EXP_H

#include <cjson/cJSON.h>

/* One entry of ark_spec_run's report: "NAME version N (HASH) run ID: ok 0.12 s". */
void cli_exp_print_run_line(const cJSON *run);
/* ark_exp_list */
void cli_exp_print_list(const cJSON *list);
/* ark_exp_versions */
void cli_exp_print_versions(const cJSON *versions);
/* ark_exp_version */
void cli_exp_print_version(const cJSON *version);
/* The latest run of a version, without parameters, result and artefact paths (show --brief). */
void cli_exp_print_version_brief(const cJSON *version);
/* ark_exp_diff */
void cli_exp_print_diff(const cJSON *diff);

#endif
