/* Text generation: greedy, temperature, top-k and top-p sampling with a
 * key/value cache, so each new token costs one position.  The plan's hook
 * functions stay active at every step (they see the new positions, with
 * ark_hook_call.pos_offset telling where they stand). */
#ifndef ARRAKIS_GENERATE_H
#define ARRAKIS_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_gen_opts {
    int max_new;        /* tokens to add to each row */
    float temperature;  /* 0: greedy (argmax, lowest id on ties) */
    int top_k;          /* keep the k most likely tokens (0: all) */
    float top_p;        /* keep the smallest set whose probability reaches top_p (1: all) */
    uint64_t seed;      /* sampling seed */
    int eos_id;         /* stop a row at this token (kept in the output); -1: never;
                           ARK_EOS_DEFAULT: the config's eos_token_id */
    bool no_kv_cache;   /* rerun the whole sequence at each step (for checking) */
} ark_gen_opts;
#define ARK_EOS_DEFAULT (-2)
#define ARK_GEN_OPTS_INIT {16, 0.0f, 0, 1.0f, 0, ARK_EOS_DEFAULT, false}

typedef struct ark_generation ark_generation;

/* Generate after each row of a (B, T) prompt batch (mask as in ark_run;
 * padding on either side).  With a plan that keeps hook points, the kept
 * activations are those of a final forward pass over each whole generated
 * sequence with the same plan (ark_generation_cache).
 * *out belongs to the caller (ark_generation_free). */
ark_status ark_generate(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask,
                        const ark_gen_opts *opts, const ark_plan *plan, ark_generation **out);

int ark_generation_rows(const ark_generation *g);
/* Row b's real prompt tokens followed by its generated tokens; *n gets the
 * count.  Owned by the generation. */
const int32_t *ark_generation_tokens(const ark_generation *g, int b, int *n);
/* How many of those tokens were generated. */
int ark_generation_new(const ark_generation *g, int b);
/* Whether row b stopped at the end-of-sequence token. */
bool ark_generation_stopped(const ark_generation *g, int b);
/* The final pass's cache ((B, T + max_new) padded layout, with the padding
 * mask in ark_generation_mask), or NULL when the plan kept nothing. */
const ark_cache *ark_generation_cache(const ark_generation *g);
const uint8_t *ark_generation_mask(const ark_generation *g, int *T);
void ark_generation_free(ark_generation *g);

#ifdef __cplusplus
}
#endif
#endif
