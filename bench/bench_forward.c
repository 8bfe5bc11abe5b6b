/* Forward-pass benchmark on a GPT-2-small-shaped random model (12 layers,
 * d 768, 12 heads, vocab 50257, F32), 1 x 128 tokens.
 *
 * Prints medians of: the plain forward; the forward keeping every hook point
 * (and again with hook_result); the same matrix products timed alone
 * through OpenBLAS (the "ideal": each product of the forward at the rate
 * sgemm reaches on that shape), the forward as a multiple of that ideal,
 * and the peak RSS after the plain runs against weights + activations.
 *
 * usage: bench_forward [--runs N] [--tokens T] [--dir DIR] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "bench_util.h"

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Median time of one sgemm C(M,N) = A(M,K) op(B), B stored (N,K) if transB. */
static double time_forward(ark_model *m, const int32_t *ids, int T, const ark_plan *plan, int runs)
{
    double *t = malloc(sizeof(double) * runs);
    for (int r = -1; r < runs; r++) {
        ark_cache *c;
        double t0 = now();
        if (ark_run(m, ids, 1, T, NULL, plan, &c) != ARK_OK) { fprintf(stderr, "run: %s\n", ark_errmsg()); exit(1); }
        double dt = now() - t0;
        ark_cache_free(c);
        if (r >= 0) t[r] = dt;
    }
    double md = median(t, runs);
    free(t);
    return md;
}

int main(int argc, char **argv)
{
    int runs = 9, T = 128;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    }
    char tmp[] = "/tmp/arrakis-bench-XXXXXX";
    if (!dir) dir = mkdtemp(tmp);
    /* Write the random model in a child, so its build-time buffers do not
     * count in this process's peak RSS. */
    pid_t pid = fork();
    if (pid == 0) {
        char *json;
        if (ark_config_build("gpt2", 0, NULL, NULL, &json) != ARK_OK ||
            ark_model_init_folder(json, 1, ARK_F32, dir) != ARK_OK) {
            fprintf(stderr, "init: %s\n", ark_errmsg());
            _exit(1);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) { fprintf(stderr, "open: %s\n", ark_errmsg()); return 1; }
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, V = c->d_vocab, L = c->n_layers, H = c->n_heads, dh = c->d_head, mlp = c->d_mlp;
    int32_t *ids = malloc(sizeof *ids * T);
    for (int i = 0; i < T; i++) ids[i] = (i * 7919) % V;
    printf("model: gpt2 random, %d layers, d %d, %d heads, vocab %d, %lld params (F32, mapped); %d tokens; %d threads\n",
           L, d, H, V, (long long)ark_model_n_params(m), T, omp_get_max_threads());

    double rss0 = peak_rss_mb();
    double plain = time_forward(m, ids, T, NULL, runs);
    double rss_plain = peak_rss_mb();

    /* The ideal: every matrix product of the forward at sgemm's measured rate. */
    double g_qkv = time_gemm(T, 3 * d, d, false, runs), g_o = time_gemm(T, d, d, false, runs);
    double g_fc = time_gemm(T, mlp, d, false, runs), g_proj = time_gemm(T, d, mlp, false, runs);
    double g_unembed = time_gemm(T, V, d, true, runs);
    double g_qk = time_gemm(T, T, dh, true, runs), g_pv = time_gemm(T, dh, T, false, runs);
    double ideal = L * (g_qkv + g_o + g_fc + g_proj + H * (g_qk + g_pv)) + g_unembed;
    double flops = 2.0 * T * (L * ((double)d * 3 * d + (double)d * d + 2.0 * d * mlp + 2.0 * H * T * dh) + (double)d * V);

    ark_plan *all = ark_plan_new(m);
    ark_plan_keep_all(all);
    double hooked = time_forward(m, ids, T, all, runs);
    ark_plan_keep(all, "blocks.*.attn.hook_result");
    double hooked_res = time_forward(m, ids, T, all, runs);
    ark_plan_free(all);

    double weights_mb = ark_model_n_params(m) * 4.0 / (1 << 20);
    double act_mb = ((double)T * V + (double)T * (8.0 * d + 2.0 * H * dh + 2.0 * mlp) + 2.0 * T * T) * 4 / (1 << 20);
    printf("matmul work        %.2f GFLOP; sgemm on the same shapes: %.1f ms (%.1f GFLOP/s)\n", flops * 1e-9,
           ideal * 1e3, flops / ideal * 1e-9);
    printf("plain forward      median %.1f ms  = %.3fx the ideal\n", plain * 1e3, plain / ideal);
    printf("every hook point   median %.1f ms  = %.3fx the plain forward (hook_result excluded)\n", hooked * 1e3, hooked / plain);
    printf("  + hook_result    median %.1f ms  = %.3fx the plain forward\n", hooked_res * 1e3, hooked_res / plain);
    printf("peak RSS           %.0f MB after the plain runs (%.0f MB before any run); weights %.0f MB, "
           "activations %.0f MB: %.3fx of weights + activations\n", rss_plain, rss0, weights_mb, act_mb,
           rss_plain / (weights_mb + act_mb));
    ark_model_free(m);
    free(ids);
    if (dir == tmp) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) return 1;
    }
    return 0;
}
