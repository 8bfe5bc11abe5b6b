/* Helpers shared by the patching and causal tools: batched runs that start
 * from a given residual stream, hooks that patch one cell per row, and the
 * batch size a memory budget allows. */
#ifndef ARK_TOOLS_PATCHING_INTERNAL_H
#define ARK_TOOLS_PATCHING_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arrakis/run.h"

/* Rows that start at block `layer` from given residual streams.
 *
 * Make the plan with rows_plan_new (it holds, for layer 0, the hook that
 * writes `resid` over the embeddings, so it must be the first hook at
 * blocks.0.hook_resid_pre), add the cells' hooks, then call rows_run. */
typedef struct rows_start {
    int B, T;
    int layer;              /* 0..n_layers: the block the rows start at */
    const int32_t *tokens;  /* (T) the prompt every row shares */
    const float *resid;     /* (B, T, d) the residual stream entering `layer` */
} rows_start;

ark_status rows_plan_new(ark_model *m, const rows_start *s, ark_plan **plan);

/* Run the rows to the logits.  pos >= 0: only position pos is put through
 * the final norm and the unembedding, *logits = (B, V); pos < 0: every
 * position, *logits = (B, T, V).  *logits is malloc'd. */
ark_status rows_run(ark_model *m, const rows_start *s, const ark_plan *plan, int pos, float **logits);

/* A hook writing, in row b, the source's values at position pos[b] (-1:
 * every position) and head head[b] (-1 or head NULL: every head) of the hook
 * point it is called at.  The source (`src`, one row) must keep that point.
 * For attention maps [b, h, q, k] the position selects query rows. */
typedef struct row_patch {
    const ark_cache *src;
    int B;
    const int *pos;   /* (B) */
    const int *head;  /* (B) or NULL */
} row_patch;
ark_status row_patch_hook(ark_tensor *act, const ark_hook_call *call, void *ctx);

/* Floats of activations one row of T positions needs in a run (an
 * estimate, with the attention maps when maps is true). */
size_t rows_floats_per_row(const ark_model *m, int T, bool maps, bool full_logits);
/* Rows per run for a budget (bytes; 0 = 256 MiB), at least 1, at most cap. */
int rows_per_run(const ark_model *m, int T, bool maps, bool full_logits, size_t budget, int max_rows, int cap);

#endif
