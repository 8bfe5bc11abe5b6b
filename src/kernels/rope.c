/* Rotary position embeddings, rotate-half layout (GPT-NeoX / Llama).
 *
 * inv_freq[k] = theta^(-2k/r) for k < r/2, computed in float32 as Hugging
 * Face does; linear scaling divides positions by the factor; llama3 scaling
 * rescales inv_freq by wavelength (low frequencies / factor, high ones kept,
 * a smooth blend between).  angle = position * inv_freq in float32. */
#include <math.h>

#include "kernels/kernels.h"

static float llama3_inv_freq(const ark_config *c, float f)
{
    double wavelen = 2.0 * M_PI / f;
    double low_wl = c->rope_original_ctx / c->rope_low_freq_factor;
    double high_wl = c->rope_original_ctx / c->rope_high_freq_factor;
    if (wavelen < high_wl) return f;
    if (wavelen > low_wl) return (float)(f / c->rope_factor);
    double smooth = (c->rope_original_ctx / wavelen - c->rope_low_freq_factor) /
                    (c->rope_high_freq_factor - c->rope_low_freq_factor);
    return (float)((1.0 - smooth) * f / c->rope_factor + smooth * f);
}

void k_rope_tables(const ark_config *c, int n_pos, float *cos_t, float *sin_t)
{
    int half = c->rotary_dim / 2;
    for (int k = 0; k < half; k++) {
        float e = (float)(2 * k) / (float)c->rotary_dim;
        float f = 1.0f / powf((float)c->rope_theta, e);
        if (c->rope_scaling == ARK_ROPE_LLAMA3) f = llama3_inv_freq(c, f);
        for (int p = 0; p < n_pos; p++) {
            float pos = (float)p;
            if (c->rope_scaling == ARK_ROPE_LINEAR) pos = pos / (float)c->rope_factor;
            float a = pos * f;
            cos_t[(size_t)p * half + k] = (float)cos((double)a);
            sin_t[(size_t)p * half + k] = (float)sin((double)a);
        }
    }
}

void k_rope_apply(float *x, int n, int heads, int d_head, int rotary_dim, const int32_t *pos,
                  const float *cos_t, const float *sin_t)
{
    int half = rotary_dim / 2;
#pragma omp parallel for schedule(static) if ((long)n * heads * rotary_dim > 65536)
    for (int i = 0; i < n; i++) {
        const float *cs = cos_t + (size_t)pos[i] * half, *sn = sin_t + (size_t)pos[i] * half;
        for (int h = 0; h < heads; h++) {
            float *v = x + ((size_t)i * heads + h) * d_head;
            for (int k = 0; k < half; k++) {
                float x1 = v[k], x2 = v[k + half];
                v[k] = x1 * cs[k] - x2 * sn[k];
                v[k + half] = x2 * cs[k] + x1 * sn[k];
            }
        }
    }
}
