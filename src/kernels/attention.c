/* Attention for one (batch row, head): scores, softmax, mixing.  The
 * products go through single-threaded BLAS calls; callers parallelise over
 * (row, head) (OpenBLAS' OpenMP build runs serially inside a parallel region). */
#include <cblas.h>
#include <math.h>

#include "kernels/kernels.h"

void k_attn_scores(const float *q, const float *k, int b, int h, const k_attn_geom *g, float scale, float *scores)
{
    int T = g->T, Tk = g->Tk, H = g->H, KV = g->KV, dh = g->dh;
    int kvh = h / (H / KV);
    const float *qh = q + ((size_t)b * T * H + h) * dh;
    const float *kh = k + (size_t)b * g->kv_bstride + (size_t)kvh * dh;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, Tk, dh, scale, qh, H * dh, kh, KV * dh, 0.0f, scores, Tk);
    const uint8_t *qm = g->qmask ? g->qmask + (size_t)b * T : NULL;
    const uint8_t *km = g->kmask ? g->kmask + (size_t)b * g->kmask_ld : NULL;
    for (int i = 0; i < T; i++) {
        float *row = scores + (size_t)i * Tk;
        int qi = g->off + i;
        bool pad_query = qm && !qm[i];
        for (int j = 0; j < Tk; j++) {
            bool visible = pad_query ? j == qi
                                     : j <= qi && (!km || km[j]) && (g->window <= 0 || qi - j < g->window);
            if (!visible) row[j] = -INFINITY;
        }
    }
}

void k_softmax_rows(const float *scores, int rows, int cols, float *pattern)
{
    for (int i = 0; i < rows; i++) {
        const float *s = scores + (size_t)i * cols;
        float *p = pattern + (size_t)i * cols;
        float mx = -INFINITY;
        for (int j = 0; j < cols; j++) mx = s[j] > mx ? s[j] : mx;
        if (mx == -INFINITY) { /* a row a hook masked entirely: no attention */
            for (int j = 0; j < cols; j++) p[j] = 0.0f;
            continue;
        }
        double sum = 0;
        for (int j = 0; j < cols; j++) {
            float e = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
            p[j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < cols; j++) p[j] *= inv;
    }
}

void k_attn_mix(const float *pattern, const float *v, int b, int h, const k_attn_geom *g, float *z)
{
    int T = g->T, Tk = g->Tk, H = g->H, KV = g->KV, dh = g->dh;
    int kvh = h / (H / KV);
    const float *vh = v + (size_t)b * g->kv_bstride + (size_t)kvh * dh;
    float *zh = z + ((size_t)b * T * H + h) * dh;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, Tk, 1.0f, pattern, Tk, vh, KV * dh, 0.0f, zh, H * dh);
}
