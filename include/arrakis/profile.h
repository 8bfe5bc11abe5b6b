/* Profiling a forward pass per component.
 *
 * The run is split into consecutive components, each timed from the end of
 * the previous one, so their times add up to the whole run:
 *   embed; per layer L: blocks.L.ln1, blocks.L.attn.qkv (projections and
 *   RoPE), blocks.L.attn.core (scores, softmax, mixing), blocks.L.attn.out
 *   (output projection), blocks.L.ln2 (with the residual add before it),
 *   blocks.L.mlp (in/gate/up, activation, down, residual add);
 *   ln_final; unembed.
 * Hook copies and hook functions run inside the component they belong to.
 *
 * flops: the analytic floating-point operation count of the component for
 * the run's shapes: 2·m·n·k per matrix product (m×k by k×n); attention core
 * 2·T·Tk·dh (scores) + 2·T·Tk·dh (mixing) per row and head (masked entries
 * included, as computed); norms 5·d per position (LayerNorm: mean, centre,
 * variance, scale, affine) or 4·d (RMSNorm); activations 1 per element
 * (gated: 2); embeddings 0 (a gather) or d per position with a learned
 * position add.
 * bytes: float32 bytes of the activations the component produces. */
#ifndef ARRAKIS_PROFILE_H
#define ARRAKIS_PROFILE_H

#include <stdio.h>

#include "arrakis/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_profile_entry {
    char name[64];     /* "embed", "blocks.3.attn.core", "unembed", ... */
    const char *kind;  /* "embed", "norm", "attention", "mlp", "unembed" */
    int layer;         /* -1 for embed, ln_final, unembed */
    double seconds;
    double flops;
    double bytes;
} ark_profile_entry;

typedef struct ark_profile ark_profile;

/* ark_run, timed per component.  *prof belongs to the caller
 * (ark_profile_free). */
ark_status ark_run_profiled(ark_model *m, const int32_t *tokens, int B, int T, const uint8_t *mask,
                            const ark_plan *plan, ark_cache **out, ark_profile **prof);

int ark_profile_count(const ark_profile *p);
const ark_profile_entry *ark_profile_at(const ark_profile *p, int i);
/* Wall time of the whole run (the sum of the entries' seconds). */
double ark_profile_total(const ark_profile *p);
/* Sums over the entries of one kind (NULL: all). */
double ark_profile_kind_seconds(const ark_profile *p, const char *kind);
double ark_profile_kind_flops(const ark_profile *p, const char *kind);
/* Peak resident memory of the process after the run, and bytes the run
 * itself allocated for activations and the cache. */
double ark_profile_peak_rss(const ark_profile *p);
double ark_profile_run_bytes(const ark_profile *p);
/* The profile as JSON (entries, per-kind totals, shares); malloc'd. */
char *ark_profile_json(const ark_profile *p);
/* A human table (per kind, then the top entries). */
void ark_profile_print(const ark_profile *p, FILE *f, int top);
void ark_profile_free(ark_profile *p);

#ifdef __cplusplus
}
#endif
#endif
