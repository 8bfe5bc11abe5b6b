/* MLP activations (definitions in include/arrakis/model.h).
 *
 * This file is built with -ffast-math so that GCC vectorises tanhf, erff
 * and expf through glibc's libmvec; target_clones picks AVX-512, AVX2 or
 * SSE2 at load time.  The formulas are evaluated as written (no
 * reassociation across elements), so results agree with the scalar ones
 * to float32 rounding. */
#include <math.h>

#include "kernels/kernels.h"

#define ARK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/* One loop per activation, so each is a straight vectorisable loop. */
#define ACT_LOOP(EXPR)                                                                     \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) { float v = x[i]; x[i] = (EXPR) * (u ? u[i] : 1.0f); }

ARK_CLONES static void act_range(ark_act_kind a, float *restrict x, const float *restrict u, int64_t n)
{
    switch (a) {
    case ARK_ACT_GELU_TANH: ACT_LOOP(0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)))); break;
    case ARK_ACT_GELU_ERF: ACT_LOOP(0.5f * v * (1.0f + erff(v * 0.70710678118654752f))); break;
    case ARK_ACT_SILU: ACT_LOOP(v / (1.0f + expf(-v))); break;
    case ARK_ACT_RELU: ACT_LOOP(v > 0 ? v : 0.0f); break;
    case ARK_ACT_GELU_FAST: ACT_LOOP(0.5f * v * (1.0f + tanhf(v * 0.7978845608f * (1.0f + 0.044715f * v * v)))); break;
    case ARK_ACT_QUICK_GELU: ACT_LOOP(v / (1.0f + expf(-1.702f * v))); break;
    }
}

void k_act(ark_act_kind a, float *x, int64_t n)
{
    const int64_t chunk = 4096;
#pragma omp parallel for schedule(static) if (n > 4 * chunk)
    for (int64_t s = 0; s < n; s += chunk) act_range(a, x + s, NULL, n - s < chunk ? n - s : chunk);
}

void k_act_mul(ark_act_kind a, float *x, const float *u, int64_t n)
{
    const int64_t chunk = 4096;
#pragma omp parallel for schedule(static) if (n > 4 * chunk)
    for (int64_t s = 0; s < n; s += chunk) act_range(a, x + s, u + s, n - s < chunk ? n - s : chunk);
}
