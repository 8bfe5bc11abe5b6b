/* A seeded pseudo-random generator (xoshiro256** seeded by splitmix64) with
 * uniform and normal draws.  Same seed, same sequence, on every platform. */
#ifndef ARK_CORE_RNG_H
#define ARK_CORE_RNG_H

#include <stdint.h>

typedef struct ark_rng {
    uint64_t s[4];
    double spare;
    int has_spare;
} ark_rng;

void ark_rng_seed(ark_rng *r, uint64_t seed);
uint64_t ark_rng_u64(ark_rng *r);
/* Uniform in [0, 1). */
double ark_rng_uniform(ark_rng *r);
/* Standard normal (Box-Muller). */
double ark_rng_normal(ark_rng *r);

#endif
