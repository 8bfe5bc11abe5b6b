/* LayerNorm and RMSNorm, in float32 with double accumulators. */
#include <math.h>

#include "kernels/kernels.h"

void k_norm(ark_norm_kind kind, const float *x, int n, int d, const float *w, const float *b, double eps,
            float *y, float *scale)
{
#pragma omp parallel for schedule(static) if ((long)n * d > 65536)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double mean = 0, var = 0;
        if (kind == ARK_NORM_LAYERNORM) {
            for (int j = 0; j < d; j++) mean += xi[j];
            mean /= d;
            for (int j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
            var /= d; /* biased variance, as torch.nn.LayerNorm */
        } else {
            for (int j = 0; j < d; j++) var += (double)xi[j] * xi[j];
            var /= d;
        }
        double s = sqrt(var + eps);
        float inv = (float)(1.0 / s), m = (float)mean;
        if (scale) scale[i] = (float)s;
        switch (kind) {
        case ARK_NORM_LAYERNORM:
            for (int j = 0; j < d; j++) yi[j] = (xi[j] - m) * inv * w[j] + (b ? b[j] : 0.0f);
            break;
        case ARK_NORM_RMSNORM:
            for (int j = 0; j < d; j++) yi[j] = w[j] * (xi[j] * inv);
            break;
        case ARK_NORM_RMSNORM_1P: /* Gemma stores w and applies (1 + w) */
            for (int j = 0; j < d; j++) yi[j] = (xi[j] * inv) * (1.0f + w[j]);
            break;
        }
    }
}

void k_norm_with_scale(ark_norm_kind kind, const float *x, int n, int d, const float *w, const float *b,
                       const float *scale, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double mean = 0;
        if (kind == ARK_NORM_LAYERNORM) {
            for (int j = 0; j < d; j++) mean += xi[j];
            mean /= d;
        }
        float inv = 1.0f / scale[i], m = (float)mean;
        for (int j = 0; j < d; j++) {
            float v = (xi[j] - m) * inv;
            yi[j] = kind == ARK_NORM_LAYERNORM ? v * w[j] + (b ? b[j] : 0.0f)
                    : kind == ARK_NORM_RMSNORM ? w[j] * v : v * (1.0f + w[j]);
        }
    }
}
