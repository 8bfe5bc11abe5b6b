/* SAE training throughput: TopK (k 32), d 768, d_sae 16384, batches of 4096
 * synthetic activations (sparse non-negative combinations of random unit
 * directions plus Gaussian noise), as ark_sae_train runs them.
 *
 * Prints the median step time (after one warm-up step), the training rate
 * in activations per second, the step's arithmetic in GFLOP/s, and the rate
 * OpenBLAS' sgemm reaches in the same run on the step's dominant product
 * (the encoder, (B, d) x (d, d_sae)), so the figure is a ratio to the
 * machine's GEMM speed.
 *
 * FLOPs counted per TopK step: the encoder 2 B d D, and the sparse parts
 * 2 B k d each for the reconstruction, the features' gradients, and the
 * decoder and encoder row gradients (4 of them: 8 B k d).  Adam, top-k
 * selection and renormalisation are not counted (they are memory-bound).
 * With --relu the ReLU + L1 variant is timed too (five dense products:
 * 10 B d D FLOPs per step).
 *
 * usage: bench_sae [--steps N] [--batch B] [--d D] [--d-sae N] [--k K] [--relu] */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arrakis/arrakis.h"
#include "bench_util.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static double urand(void)
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

/* N rows: 32 of n_dirs random unit directions with uniform [0, 2) weights, plus N(0, 0.1^2) noise. */
static float *synthetic(int N, int d, int n_dirs)
{
    float *dirs = malloc(sizeof(float) * (size_t)n_dirs * d), *x = malloc(sizeof(float) * (size_t)N * d);
    for (int i = 0; i < n_dirs; i++) {
        double q = 0;
        for (int j = 0; j < d; j++) { dirs[(size_t)i * d + j] = (float)nrand(); q += dirs[(size_t)i * d + j] * dirs[(size_t)i * d + j]; }
        for (int j = 0; j < d; j++) dirs[(size_t)i * d + j] /= (float)sqrt(q);
    }
    for (int t = 0; t < N; t++) {
        float *r = x + (size_t)t * d;
        for (int j = 0; j < d; j++) r[j] = (float)(0.1 * nrand());
        for (int a = 0; a < 32; a++) {
            const float *v = dirs + (size_t)(urand() * n_dirs) * d;
            float c = (float)(2 * urand());
            for (int j = 0; j < d; j++) r[j] += c * v[j];
        }
    }
    free(dirs);
    return x;
}

/* Median time of C(M, N) = A(M, K) B(N, K)^T, the encoder's product. */
/* Median step time of training (the first step, a warm-up, left out). */
static double time_training(ark_sae_arch arch, const float *x, int N, int d, int D, int k, int B, int steps)
{
    ark_sae s;
    if (ark_sae_init(&s, arch, d, D, k, 1) != ARK_OK) { fprintf(stderr, "init: %s\n", ark_errmsg()); exit(1); }
    ark_act_source *src;
    ark_act_source_matrix(x, N, d, 2, &src);
    ark_sae_train_opts o = ARK_SAE_TRAIN_OPTS_INIT;
    o.steps = steps + 1;
    o.batch = B;
    o.log_every = 1;
    ark_sae_train_report r;
    if (ark_sae_train(&s, src, &o, &r) != ARK_OK) { fprintf(stderr, "train: %s\n", ark_errmsg()); exit(1); }
    double *t = malloc(sizeof(double) * steps);
    for (int i = 0; i < steps; i++) t[i] = r.log[i + 1].seconds;
    double m = median(t, steps);
    printf("  last step: MSE %.4g, FVE %.4f, L0 %.1f\n", r.log[steps].mse, r.log[steps].fve, r.log[steps].l0);
    free(t);
    ark_sae_train_report_free(&r);
    ark_act_source_free(src);
    ark_sae_free(&s);
    return m;
}

int main(int argc, char **argv)
{
    int steps = 7, B = 4096, d = 768, D = 16384, k = 32;
    bool relu = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) d = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--d-sae") && i + 1 < argc) D = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--relu")) relu = true;
        else { fprintf(stderr, "usage: bench_sae [--steps N] [--batch B] [--d D] [--d-sae N] [--k K] [--relu]\n"); return 2; }
    }
    if (steps < 1 || B < 1 || d < 1 || D < 1 || k < 1 || k > D) { fprintf(stderr, "bench_sae: bad sizes\n"); return 2; }
    int N = 4 * B;
    printf("SAE training: d %d, d_sae %d, batch %d, TopK k %d; %d threads; median of %d steps after 1 warm-up\n", d, D, B, k,
           omp_get_max_threads(), steps);
    float *x = synthetic(N, d, 4 * d);
    double gemm = time_gemm(B, D, d, true, steps);
    double gemm_flops = 2.0 * B * d * D;
    printf("sgemm (%d x %d) x (%d x %d)^T: %.4f s, %.1f GFLOP/s\n", B, d, D, d, gemm, gemm_flops / gemm * 1e-9);
    double t = time_training(ARK_SAE_TOPK, x, N, d, D, k, B, steps);
    double flops = gemm_flops + 8.0 * B * k * d;
    printf("TopK step: %.4f s -> %.0f activations/s, %.1f GFLOP/s = %.2f of sgemm's rate (step = %.2f x the encoder sgemm)\n",
           t, B / t, flops / t * 1e-9, (flops / t) / (gemm_flops / gemm), t / gemm);
    if (relu) {
        double tr = time_training(ARK_SAE_STANDARD, x, N, d, D, k, B, steps > 3 ? 3 : steps);
        double fr = 5 * gemm_flops;
        printf("ReLU+L1 step: %.4f s -> %.0f activations/s, %.1f GFLOP/s = %.2f of sgemm's rate\n", tr, B / tr, fr / tr * 1e-9,
               (fr / tr) / (gemm_flops / gemm));
    }
    free(x);
    return 0;
}
