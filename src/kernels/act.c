/* MLP activations (definitions in include/arrakis/model.h). */
#include <math.h>

#include "kernels/kernels.h"

static inline float act1(ark_act_kind a, float x)
{
    switch (a) {
    case ARK_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case ARK_ACT_GELU_ERF: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ARK_ACT_SILU: return x / (1.0f + expf(-x));
    case ARK_ACT_RELU: return x > 0 ? x : 0.0f;
    case ARK_ACT_GELU_FAST: return 0.5f * x * (1.0f + tanhf(x * 0.7978845608f * (1.0f + 0.044715f * x * x)));
    case ARK_ACT_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
    }
    return x;
}

void k_act(ark_act_kind a, float *x, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) x[i] = act1(a, x[i]);
}

void k_act_mul(ark_act_kind a, float *x, const float *u, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) x[i] = act1(a, x[i]) * u[i];
}
