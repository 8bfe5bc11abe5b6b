/* Matrix products through OpenBLAS. */
#include <cblas.h>
#include <string.h>

#include "kernels/kernels.h"

void k_linear(const ark_linear *L, const float *x, int n, float *y, int ldy)
{
    if (n <= 0) return;
    if (L->b) {
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * ldy, L->b, sizeof(float) * L->out);
    }
    /* nn.Linear stores W as (out, in): y = x W^T.  Conv1D stores (in, out): y = x W. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, L->in_out ? CblasNoTrans : CblasTrans, n, L->out, L->in, 1.0f, x,
                L->in, L->w, L->ld, L->b ? 1.0f : 0.0f, y, ldy);
}
