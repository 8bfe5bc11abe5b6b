/* Activation patching benchmark: a full residual-stream sweep (resid_pre,
 * layers x positions) on a GPT-2-small-shaped random model (12 layers,
 * d 768, 12 heads, vocab 50257, F32) and a 20-token prompt pair, done
 *
 *   naive  the way TransformerLens' patching module does it: one full
 *          forward pass per cell, with a patch hook (ark_plan_patch) on
 *          blocks.L.hook_resid_pre at one position, all logits formed;
 *   tool   ark_patch_sweep: each cell starts at its layer from the
 *          corrupted run's cached residual, the cells of a layer are the
 *          rows of one batched run, and only the metric's position is
 *          unembedded.
 *
 * Both in the same process, alternating, median of --runs; the cells of
 * the two must agree (max |difference| printed).  Metric: logit difference
 * of two tokens at the last position.
 *
 * usage: bench_patching [--runs N] [--tokens T] [--dir DIR] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "bench_util.h"
#include "arrakis/interventions.h"
#include "arrakis/tool_patching.h"

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, ark_errmsg());
    exit(1);
}

/* The naive sweep: (L, T) logit differences into out. */
static void naive_sweep(ark_model *m, const int32_t *clean, const int32_t *corr, int T, int32_t a, int32_t b, double *out)
{
    const ark_config *c = ark_model_config(m);
    ark_plan *keep = ark_plan_new(m);
    ark_cache *src;
    if (ark_plan_keep(keep, "resid_pre") != ARK_OK || ark_run(m, clean, 1, T, NULL, keep, &src) != ARK_OK) die("clean run");
    ark_plan_free(keep);
    for (int l = 0; l < c->n_layers; l++)
        for (int p = 0; p < T; p++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.hook_resid_pre", l);
            ark_select sel = {.positions = &p, .n_positions = 1};
            ark_plan *plan = ark_plan_new(m);
            ark_cache *run;
            if (ark_plan_patch(plan, name, src, &sel) != ARK_OK || ark_run(m, corr, 1, T, NULL, plan, &run) != ARK_OK)
                die("patched run");
            const float *x = ark_cache_logits(run)->data + (size_t)(T - 1) * c->d_vocab;
            out[l * T + p] = (double)x[a] - x[b];
            ark_cache_free(run);
            ark_plan_free(plan);
        }
    ark_cache_free(src);
}

int main(int argc, char **argv)
{
    int runs = 3, T = 20;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else { fprintf(stderr, "usage: bench_patching [--runs N] [--tokens T] [--dir DIR]\n"); return 2; }
    }
    if (runs < 1 || T < 2) { fprintf(stderr, "--runs >= 1, --tokens >= 2\n"); return 2; }
    char tmp[] = "/tmp/arrakis-bench-XXXXXX";
    if (!dir) dir = mkdtemp(tmp);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (access(cfg, R_OK) != 0) {
        pid_t pid = fork(); /* build-time buffers stay out of this process */
        if (pid == 0) {
            char *json;
            if (ark_config_build("gpt2", 0, NULL, NULL, &json) != ARK_OK || ark_model_init_folder(json, 1, ARK_F32, dir) != ARK_OK) {
                fprintf(stderr, "init: %s\n", ark_errmsg());
                _exit(1);
            }
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    }
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) die("open");
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, V = c->d_vocab;
    int32_t *clean = malloc(sizeof(int32_t) * T), *corr = malloc(sizeof(int32_t) * T);
    for (int t = 0; t < T; t++) clean[t] = corr[t] = (int32_t)((t * 7919 + 13) % V);
    corr[T / 3] = (clean[T / 3] + 101) % V;
    corr[T / 2] = (clean[T / 2] + 977) % V;
    int32_t a = 1000, b = 2000;
    printf("model: gpt2 random, %d layers, d %d, %d heads, vocab %d; prompt pair of %d tokens; %d threads\n", L, c->d_model,
           c->n_heads, V, T, omp_get_max_threads());
    printf("sweep: resid_pre, %d layers x %d positions = %d cells, metric logit[%d] - logit[%d] at the last token\n", L, T,
           L * T, a, b);
    double *tn = malloc(sizeof(double) * runs), *tt = malloc(sizeof(double) * runs), *ref = malloc(sizeof(double) * L * T);
    ark_patch_metric mt = {ARK_METRIC_LOGIT_DIFF, a, b, -1};
    ark_patch_opts o = ark_patch_opts_default(ARK_PATCH_RESID_PRE);
    double worst = 0;
    int n_runs = 0;
    for (int r = -1; r < runs; r++) { /* r = -1: warm-up, not timed */
        double t0 = now();
        naive_sweep(m, clean, corr, T, a, b, ref);
        double t1 = now();
        ark_patch_result res;
        if (ark_patch_sweep(m, clean, corr, T, &mt, &o, &res) != ARK_OK) die("sweep");
        double t2 = now();
        for (int i = 0; i < L * T; i++) worst = fmax(worst, fabs(res.raw[i] - ref[i]) / (1 + fabs(ref[i])));
        n_runs = res.n_runs;
        ark_patch_result_free(&res);
        if (r >= 0) { tn[r] = t1 - t0; tt[r] = t2 - t1; }
        fprintf(stderr, "run %d: naive %.3fs, tool %.3fs\n", r, t1 - t0, t2 - t1);
    }
    double mn = median(tn, runs), mtool = median(tt, runs);
    printf("naive (one full forward per cell):   median %8.3f s  (%6.1f cells/s, %d forwards)\n", mn, L * T / mn, L * T);
    printf("tool (ark_patch_sweep):              median %8.3f s  (%6.1f cells/s, %d batched runs)\n", mtool, L * T / mtool, n_runs);
    printf("speed-up: %.2fx   (target >= 3x); max |tool - naive| / (1 + |naive|) over the cells: %.2e\n", mn / mtool, worst);
    free(tn); free(tt); free(ref); free(clean); free(corr);
    ark_model_free(m);
    return 0;
}
