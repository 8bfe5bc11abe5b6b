/* Built-in interventions: hook functions that change an activation, added
 * to a plan by hook name (exact, glob or shorthand, as ark_plan_keep).
 *
 * Each can be restricted by an ark_select to some positions, some heads
 * (per-head hook points: q, k, v, z, result, attn_scores, pattern) and some
 * indices of the last dimension ("neurons": a unit of hook_post, a residual
 * dimension, a key position of a pattern).  For attention maps [b, h, q, k]
 * the positions select query rows.  During generation with a key/value
 * cache, positions are absolute positions in the growing sequence.
 *
 * Sources (`ref`, `src`, `other`) are caches from earlier runs (ark_run, or
 * ark_cache_load of a file written by `arrakis run --out`); they must keep
 * the hook points named, and stay alive as long as the plan. */
#ifndef ARRAKIS_INTERVENTIONS_H
#define ARRAKIS_INTERVENTIONS_H

#include <stdint.h>

#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_select {
    const int *positions; /* NULL: every position (negative: from the end) */
    int n_positions;
    const int *heads;     /* NULL: every head */
    int n_heads;
    const int *neurons;   /* NULL: every index of the last dimension */
    int n_neurons;
} ark_select;

/* Zero ablation: the selected values become 0. */
ark_status ark_plan_zero_ablate(ark_plan *p, const char *pattern, const ark_select *sel);

/* Mean ablation: the selected values become the mean of the same hook point
 * over every row and position of `ref` (a per-feature mean: [d], [h, dh],
 * [m]; for attention maps the mean over rows and query positions of each
 * head's key column). */
ark_status ark_plan_mean_ablate(ark_plan *p, const char *pattern, const ark_cache *ref, const ark_select *sel);

/* Resample ablation: each row takes, at the same positions, the value of a
 * row of `other` drawn uniformly at random (seeded). */
ark_status ark_plan_resample_ablate(ark_plan *p, const char *pattern, const ark_cache *other, uint64_t seed,
                                    const ark_select *sel);

/* Activation patching: the selected values are written from the same hook
 * point of `src` (row b from row b, or from row 0 when src has one row; the
 * same position).  Patching a clean run's cache into a corrupted run is
 * "denoising"; the other way round "noising". */
ark_status ark_plan_patch(ark_plan *p, const char *pattern, const ark_cache *src, const ark_select *sel);

/* Steering: add alpha * vec at the selected positions (and heads); vec has
 * the size of the last dimension (d for residual points). */
ark_status ark_plan_steer(ark_plan *p, const char *pattern, const float *vec, int n, float alpha,
                          const ark_select *sel);

/* Scale the selected values by `factor`. */
ark_status ark_plan_scale(ark_plan *p, const char *pattern, float factor, const ark_select *sel);

/* Freeze: the selected values become `value`, which has either the
 * activation's full shape (for the same B and T) or the size of its last
 * dimension (broadcast). */
ark_status ark_plan_freeze(ark_plan *p, const char *pattern, const ark_tensor *value, const ark_select *sel);

/* Load a cache written by ark_cache_save / `arrakis run --out` (every tensor
 * under its name; "logits" becomes the logits). */
ark_status ark_cache_load(const char *path, ark_cache **out);

#ifdef __cplusplus
}
#endif
#endif
