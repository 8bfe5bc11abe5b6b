/* Helpers shared by the statistics files (stats.c, stats_resample.c,
 * stats_hypothesis.c). */
#ifndef ARK_BENCH_STATS_INTERNAL_H
#define ARK_BENCH_STATS_INTERNAL_H

#include "arrakis/stats.h"

/* Mean and unbiased variance (two passes). */
double stats_mean(const double *x, long n);
double stats_var(const double *x, long n);

/* Fill *o from `in` (NULL: defaults) and check it; errors name the field. */
ark_status stats_opts_resolve(const ark_stats_opts *in, ark_stats_opts *o);

/* Check the samples (sizes >= 2, finite values, equal sizes when paired). */
ark_status stats_check_samples(const double *a, long na, const double *b, long nb, int paired);

/* Reset *r and fill the descriptive fields (sizes, means, SDs, Δ, the SD of
 * the differences when paired, the effect size) and the options. */
void stats_describe(ark_stats_result *r, const double *a, long na, const double *b, long nb,
                    const ark_stats_opts *o);

/* Set r->reject and r->statement from the p-value (or, without one, the
 * interval). */
void stats_decide(ark_stats_result *r);
/* The same naming the samples la and lb ("mean(la) - mean(lb)"). */
void stats_decide_as(ark_stats_result *r, const char *la, const char *lb);

/* The result as a cJSON object (the caller deletes it). */
struct cJSON;
struct cJSON *stats_json_object(const ark_stats_result *r);

#endif
