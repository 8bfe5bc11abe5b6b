/* Attention for one (batch row, head): scores, softmax, mixing.  The
 * products go through single-threaded BLAS calls; callers parallelise over
 * (row, head) (OpenBLAS' OpenMP build runs serially inside a parallel region). */
#include <cblas.h>
#include <math.h>

#include "kernels/kernels.h"

void k_attn_scores(const float *q, const float *k, int b, int h, int T, int H, int KV, int dh, float scale,
                   const k_attn_mask *m, float *scores)
{
    int kvh = h / (H / KV);
    const float *qh = q + ((size_t)b * T * H + h) * dh;
    const float *kh = k + ((size_t)b * T * KV + kvh) * dh;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale, qh, H * dh, kh, KV * dh, 0.0f, scores, T);
    const uint8_t *mk = m->mask ? m->mask + (size_t)b * T : NULL;
    for (int i = 0; i < T; i++) {
        float *row = scores + (size_t)i * T;
        bool pad_query = mk && !mk[i];
        for (int j = 0; j < T; j++) {
            bool visible = pad_query ? j == i
                                     : j <= i && (!mk || mk[j]) && (m->window <= 0 || i - j < m->window);
            if (!visible) row[j] = -INFINITY;
        }
    }
}

void k_softmax_rows(const float *scores, int T, float *pattern)
{
    for (int i = 0; i < T; i++) {
        const float *s = scores + (size_t)i * T;
        float *p = pattern + (size_t)i * T;
        float mx = -INFINITY;
        for (int j = 0; j < T; j++) mx = s[j] > mx ? s[j] : mx;
        double sum = 0;
        for (int j = 0; j < T; j++) {
            float e = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
            p[j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < T; j++) p[j] *= inv;
    }
}

void k_attn_mix(const float *pattern, const float *v, int b, int h, int T, int H, int KV, int dh, float *z)
{
    int kvh = h / (H / KV);
    const float *vh = v + ((size_t)b * T * KV + kvh) * dh;
    float *zh = z + ((size_t)b * T * H + h) * dh;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f, pattern, T, vh, KV * dh, 0.0f, zh, H * dh);
}
