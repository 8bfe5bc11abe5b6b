/* Timing helpers shared by the benchmarks: a monotonic clock, the median of
 * repeated timings, and the sgemm "ideal" they compare against. */
#ifndef ARK_BENCH_UTIL_H
#define ARK_BENCH_UTIL_H

#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v). */
static inline double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median time of one sgemm C(M,N) = A(M,K) op(B), B stored (N,K) if transB,
 * else (K,N); one untimed warm-up call first. */
static inline double time_gemm(int M, int N, int K, bool transB, int runs)
{
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)N * K);
    float *C = malloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)(i % 13) * 0.01f;
    double *t = malloc(sizeof(double) * runs);
    for (int r = -1; r < runs; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, K, B,
                    transB ? K : N, 0.0f, C, N);
        if (r >= 0) t[r] = now() - t0;
    }
    double m = median(t, runs);
    free(A);
    free(B);
    free(C);
    free(t);
    return m;
}

#endif
