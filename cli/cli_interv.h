/* Intervention flags shared by run and generate:
 *   --ablate HOOK[:pos=P,..][:head=H,..][:neuron=N,..][:mode=zero|mean]
 *   --patch HOOK[:pos=..][:head=..] --from CACHE.safetensors
 *   --steer HOOK:VECTOR.safetensors[:ALPHA][:pos=..]
 * HOOK is a name, glob or shorthand (resid_post:-1 keeps its colon). */
#ifndef ARK_CLI_INTERV_H
#define ARK_CLI_INTERV_H

#include "arrakis/arrakis.h"
#include "cli_input.h"

typedef struct cli_interv_item {
    char kind;            /* 'a' ablate, 'p' patch, 's' steer */
    const char *spec;
} cli_interv_item;

typedef struct cli_interv {
    cli_interv_item *items;
    int n, cap;
    const char *from;     /* --from for patches */
    ark_cache *from_cache, *mean_ref;
    float **vectors;      /* steering vectors, freed with the struct */
    int n_vectors;
} cli_interv;

/* Consume argv[*i] if it is one of the flags: 1 used, 0 not, -1 error. */
int cli_interv_arg(cli_interv *iv, int argc, char **argv, int *i);
/* The same as a cli_spec.arg hook (ctx: the cli_interv; -2 after an error). */
int cli_interv_spec_arg(void *iv, int argc, char **argv, int *i);
/* Add the interventions to `plan` (runs a clean pass first for mean
 * ablation).  Returns 0 or an exit code after reporting. */
int cli_interv_apply(cli_interv *iv, const char *cmd, ark_model *m, const cli_batch *batch, ark_plan *plan);
void cli_interv_free(cli_interv *iv);

#endif
