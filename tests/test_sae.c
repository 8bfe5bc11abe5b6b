/* Sparse autoencoders, PCA and the toy model of superposition
 * (include/arrakis/tool_superposition.h).
 *
 * References computed here: planted sparse directions for recovery, a
 * naive double-precision SAE forward for MSE/FVE/L0, a Jacobi
 * eigendecomposition of a directly computed covariance for PCA, direct
 * logsumexp losses and hand-made interventions for splicing, and the
 * paper's qualitative result for the toy model. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_superposition.h"
#include "testutil.h"

/* ---- planted data: n unit directions in d dims, sparse non-negative coefficients ---- */

static double urand(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static double nrand(uint64_t *s) { return sqrt(-2 * log(urand(s) + 1e-300)) * cos(6.283185307179586 * urand(s)); }

typedef struct planted { int d, n, N; float *dirs, *x; } planted;

static planted plant(int d, int n, int N, double active, uint64_t seed)
{
    planted p = {d, n, N, malloc(sizeof(float) * n * d), calloc((size_t)N * d, sizeof(float))};
    for (int i = 0; i < n; i++) {
        double q = 0;
        for (int j = 0; j < d; j++) { p.dirs[i * d + j] = (float)nrand(&seed); q += (double)p.dirs[i * d + j] * p.dirs[i * d + j]; }
        for (int j = 0; j < d; j++) p.dirs[i * d + j] /= (float)sqrt(q);
    }
    for (int t = 0; t < N; t++)
        for (int i = 0; i < n; i++)
            if (urand(&seed) < active / n) {
                double c = 0.2 + 1.8 * urand(&seed);
                for (int j = 0; j < d; j++) p.x[(size_t)t * d + j] += (float)(c * p.dirs[i * d + j]);
            }
    for (size_t q = 0; q < (size_t)N * d; q++) p.x[q] += 0.3f; /* an offset, for b_dec */
    return p;
}

/* ---- a naive SAE forward in double ---- */

static int cmp_desc(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x < y) - (x > y); }

static void naive_metrics(const ark_sae *s, const float *x, int N, double *mse, double *fve, double *l0)
{
    int d = s->d_in, D = s->d_sae;
    double *pre = malloc(sizeof(double) * D), *sorted = malloc(sizeof(double) * D), *mean = calloc(d, sizeof(double));
    double se = 0, nz = 0, var = 0;
    for (int t = 0; t < N; t++)
        for (int j = 0; j < d; j++) mean[j] += x[(size_t)t * d + j] / (double)N;
    for (int t = 0; t < N; t++) {
        const float *xt = x + (size_t)t * d;
        for (int i = 0; i < D; i++) {
            double a = s->b_enc[i];
            for (int j = 0; j < d; j++) a += ((double)xt[j] - s->b_dec[j]) * s->W_enc[(size_t)j * D + i];
            pre[i] = a;
        }
        double thr = -INFINITY;
        if (s->arch == ARK_SAE_TOPK) {
            memcpy(sorted, pre, sizeof(double) * D);
            qsort(sorted, D, sizeof(double), cmp_desc);
            thr = sorted[s->k - 1];
        }
        for (int j = 0; j < d; j++) {
            double r = s->b_dec[j];
            for (int i = 0; i < D; i++) {
                double f = pre[i] >= thr && pre[i] > 0 ? pre[i] : 0.0;
                r += f * s->W_dec[(size_t)i * d + j];
            }
            se += (r - xt[j]) * (r - xt[j]);
            var += (xt[j] - mean[j]) * (xt[j] - mean[j]);
        }
        for (int i = 0; i < D; i++) nz += pre[i] >= thr && pre[i] > 0;
    }
    *mse = se / N;
    *fve = 1 - se / var;
    *l0 = nz / N;
    free(pre);
    free(sorted);
    free(mean);
}

static void check_recovery(ark_sae_arch arch, int k, float l1, int steps)
{
    planted p = plant(32, 48, 6000, 2.5, 11);
    ark_sae s;
    assert_int_equal(ark_sae_init(&s, arch, p.d, 96, k, 3), ARK_OK);
    ark_act_source *src;
    assert_int_equal(ark_act_source_matrix(p.x, p.N, p.d, 5, &src), ARK_OK);
    ark_sae_train_opts o = ARK_SAE_TRAIN_OPTS_INIT;
    o.steps = steps;
    o.batch = 256;
    o.l1 = l1;
    o.log_every = 100;
    ark_sae_train_report r;
    if (ark_sae_train(&s, src, &o, &r) != ARK_OK) fail_msg("train: %s", ark_errmsg());
    assert_int_equal(r.tokens, (int64_t)steps * 256);
    assert_true(r.n_log >= steps / 100);
    /* decoder rows stay unit vectors */
    for (int i = 0; i < s.d_sae; i++) {
        double q = 0;
        for (int j = 0; j < s.d_in; j++) q += (double)s.W_dec[i * s.d_in + j] * s.W_dec[i * s.d_in + j];
        assert_true(fabs(q - 1) < 1e-4);
    }
    float cos[48];
    int best[48];
    assert_int_equal(ark_sae_match(&s, p.dirs, p.n, cos, best), ARK_OK);
    int rec = 0;
    for (int i = 0; i < p.n; i++) rec += cos[i] > 0.9f;
    if (rec < 44) fail_msg("%s: %d of 48 directions recovered (cosine > 0.9)", arch == ARK_SAE_TOPK ? "topk" : "relu", rec);
    /* reported metrics against the naive forward */
    ark_sae_metrics mt;
    assert_int_equal(ark_sae_eval_matrix(&s, p.x, p.N, 0.1f, &mt), ARK_OK);
    double mse, fve, l0;
    naive_metrics(&s, p.x, p.N, &mse, &fve, &l0);
    if (fabs(mt.mse - mse) > 1e-4 * mse || fabs(mt.fve - fve) > 1e-4 || fabs(mt.l0 - l0) > 1e-3)
        fail_msg("metrics (%g, %g, %g) vs naive (%g, %g, %g)", mt.mse, mt.fve, mt.l0, mse, fve, l0);
    assert_true(fve > 0.8);
    if (arch == ARK_SAE_TOPK) assert_true(l0 <= k);
    assert_int_equal(mt.n_dead + 0, mt.n_dead);
    for (int i = 0; i < mt.n_dead; i++) assert_true(mt.density[mt.dead[i]] == 0);
    /* save and load: SAELens' layout, bit for bit */
    const char *dir = scratch_dir(arch == ARK_SAE_TOPK ? "sae_topk" : "sae_relu");
    snprintf(s.hook_name, sizeof s.hook_name, "blocks.0.hook_resid_pre");
    assert_int_equal(ark_sae_save(&s, dir), ARK_OK);
    ark_sae b;
    assert_int_equal(ark_sae_load(dir, &b), ARK_OK);
    assert_int_equal(b.arch, arch);
    assert_int_equal(b.k, s.k);
    assert_int_equal(b.hook_layer, 0);
    assert_memory_equal(b.W_enc, s.W_enc, sizeof(float) * s.d_in * s.d_sae);
    assert_memory_equal(b.W_dec, s.W_dec, sizeof(float) * s.d_in * s.d_sae);
    assert_memory_equal(b.b_enc, s.b_enc, sizeof(float) * s.d_sae);
    assert_memory_equal(b.b_dec, s.b_dec, sizeof(float) * s.d_in);
    char path[1024];
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    char *text = read_file(path, NULL);
    cJSON *cfg = cJSON_Parse(text);
    const char *keys[] = {"d_in", "d_sae", "hook_name", "hook_layer", "architecture", "k", "dtype", "model_name"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) assert_non_null(cJSON_GetObjectItemCaseSensitive(cfg, keys[i]));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cfg, "architecture")->valuestring, arch == ARK_SAE_TOPK ? "topk" : "standard");
    cJSON_Delete(cfg);
    free(text);
    ark_sae_free(&b);
    ark_sae_metrics_free(&mt);
    ark_sae_train_report_free(&r);
    ark_act_source_free(src);
    ark_sae_free(&s);
    free(p.dirs);
    free(p.x);
}

static void test_recovery_topk(void **state) { (void)state; check_recovery(ARK_SAE_TOPK, 4, 0, 1500); }
static void test_recovery_relu(void **state) { (void)state; check_recovery(ARK_SAE_STANDARD, 0, 1.0f, 3000); }

static void test_sae_errors(void **state)
{
    (void)state;
    ark_sae s;
    assert_int_equal(ark_sae_init(&s, ARK_SAE_TOPK, 8, 16, 17, 0), ARK_ERR_ARG);
    assert_int_equal(ark_sae_init(&s, ARK_SAE_TOPK, 8, 16, 4, 0), ARK_OK);
    float x[8 * 4] = {0};
    ark_act_source *src;
    assert_int_equal(ark_act_source_matrix(x, 4, 8, 0, &src), ARK_OK);
    ark_sae_train_opts o = ARK_SAE_TRAIN_OPTS_INIT;
    ark_sae_train_report r;
    o.steps = 0;
    assert_int_equal(ark_sae_train(&s, src, &o, &r), ARK_ERR_ARG);
    ark_act_source_free(src);
    assert_int_equal(ark_act_source_matrix(x, 4, 7, 0, &src), ARK_OK);
    o.steps = 2;
    assert_int_equal(ark_sae_train(&s, src, &o, &r), ARK_ERR_SHAPE);
    ark_act_source_free(src);
    ark_sae_free(&s);
    ark_sae b;
    assert_int_not_equal(ark_sae_load(scratch_dir("no_sae"), &b), ARK_OK);
    const char *dir = scratch_dir("jumprelu");
    char path[1024];
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"d_in\": 4, \"d_sae\": 8, \"architecture\": \"jumprelu\"}");
    fclose(f);
    assert_int_equal(ark_sae_load(dir, &b), ARK_ERR_UNSUPPORTED);
    assert_non_null(strstr(ark_errmsg(), "jumprelu"));
}

/* ---- PCA against a Jacobi eigendecomposition ---- */

static void jacobi(double *A, int n, double *w)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
        if (off < 1e-22) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                if (fabs(A[p * n + q]) < 1e-300) continue;
                double theta = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1)), c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++) w[i] = A[i * n + i];
    qsort(w, n, sizeof(double), cmp_desc);
}

static void test_pca(void **state)
{
    (void)state;
    int d = 12, N = 3001;
    uint64_t seed = 5;
    float *x = malloc(sizeof(float) * N * d), mix[12 * 12];
    for (int i = 0; i < d * d; i++) mix[i] = (float)nrand(&seed) / (1 + i % d);
    for (int t = 0; t < N; t++)
        for (int j = 0; j < d; j++) {
            double v = 100.0; /* a large offset: the streaming merge must not lose precision */
            for (int k = 0; k < d; k++) v += mix[j * d + k] * nrand(&seed) * 0 + mix[j * d + k] * (t % 7 == k % 7 ? 1.5 : urand(&seed));
            x[t * d + j] = (float)v;
        }
    ark_pca p;
    assert_int_equal(ark_pca_fit_matrix(x, N, d, &p), ARK_OK);
    double *C = calloc(d * d, sizeof(double)), mean[12] = {0}, w[12];
    for (int t = 0; t < N; t++) for (int j = 0; j < d; j++) mean[j] += x[t * d + j] / (double)N;
    for (int t = 0; t < N; t++)
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) C[i * d + j] += (x[t * d + i] - mean[i]) * (x[t * d + j] - mean[j]) / N;
    double trace = 0;
    for (int i = 0; i < d; i++) trace += C[i * d + i];
    /* the accumulator's covariance, in uneven batches */
    ark_cov_acc *a;
    assert_int_equal(ark_cov_acc_new(d, &a), ARK_OK);
    for (int t = 0, b = 1; t < N; t += b, b = b * 3 % 1000 + 1) assert_int_equal(ark_cov_acc_add(a, x + (size_t)t * d, t + b <= N ? b : N - t), ARK_OK);
    double *C2 = malloc(sizeof(double) * d * d);
    assert_int_equal(ark_cov_acc_covariance(a, C2), ARK_OK);
    for (int i = 0; i < d * d; i++) assert_true(fabs(C2[i] - C[i]) <= 1e-5 * trace);
    ark_cov_acc_free(a);
    jacobi(C, d, w);
    assert_true(fabs(p.total_variance - trace) <= 1e-6 * trace);
    for (int i = 0; i < d; i++)
        if (fabs(p.variance[i] / p.total_variance - w[i] / trace) > 1e-6) fail_msg("ratio %d: %g vs %g", i, p.variance[i] / p.total_variance, w[i] / trace);
    /* projection / reconstruction / interpolation */
    float coords[12], rec[12], out[3 * 12], vals[3] = {-1, 0, 2};
    assert_int_equal(ark_pca_project(&p, x, 1, d, coords), ARK_OK);
    double err;
    assert_int_equal(ark_pca_reconstruct(&p, x, 1, d, rec, &err), ARK_OK);
    assert_true(err < 1e-6);
    assert_int_equal(ark_pca_interpolate(&p, x, 2, vals, 3, out), ARK_OK);
    for (int s = 0; s < 3; s++) {
        float c[12];
        ark_pca_project(&p, out + s * d, 1, d, c);
        assert_true(fabsf(c[2] - vals[s]) < 1e-3f);
        assert_true(fabsf(c[0] - coords[0]) < 1e-3f);
    }
    assert_int_equal(ark_pca_project(&p, x, 1, d + 1, coords), ARK_ERR_ARG);
    ark_pca_free(&p);
    free(C);
    free(C2);
    free(x);
}

/* ---- splicing into a run ---- */

static void test_splice(void **state)
{
    (void)state;
    ark_model *m;
    assert_int_equal(ark_model_open(fixture_path("models/gpt2"), &m), ARK_OK);
    int d = ark_model_config(m)->d_model, V = ark_model_config(m)->d_vocab;
    const char *hook = "blocks.0.hook_resid_post";
    ark_sae s;
    assert_int_equal(ark_sae_init(&s, ARK_SAE_TOPK, d, 96, 8, 9), ARK_OK);
    snprintf(s.hook_name, sizeof s.hook_name, "%s", hook);
    for (int j = 0; j < d; j++) s.b_dec[j] = 0.01f * j;
    int32_t tok[2 * 6] = {1, 2, 3, 4, 5, 6, 9, 8, 7, 6, 5, 4};
    ark_plan *keep = ark_plan_new(m);
    ark_cache *clean;
    assert_int_equal(ark_plan_keep(keep, hook), ARK_OK);
    assert_int_equal(ark_run(m, tok, 2, 6, NULL, keep, &clean), ARK_OK);
    const ark_tensor *x = ark_cache_get(clean, hook);
    /* with the error term and no edit: the run is unchanged; features cached */
    ark_plan *p = ark_plan_new(m);
    ark_sae_splice_opts o = {.use_error_term = true, .cache_features = true};
    ark_sae_splice *sp;
    assert_int_equal(ark_plan_add_sae(p, &s, &o, &sp), ARK_OK);
    assert_null(ark_sae_splice_features(sp));
    ark_cache *c;
    assert_int_equal(ark_run(m, tok, 2, 6, NULL, p, &c), ARK_OK);
    assert_memory_equal(ark_cache_logits(c)->data, ark_cache_logits(clean)->data, sizeof(float) * 12 * V);
    float *f = malloc(sizeof(float) * 12 * 96), *xh = malloc(sizeof(float) * 12 * d);
    assert_int_equal(ark_sae_encode(&s, x->data, 12, f), ARK_OK);
    const ark_tensor *ft = ark_sae_splice_features(sp);
    assert_non_null(ft);
    assert_int_equal(ft->shape[2], 96);
    assert_memory_equal(ft->data, f, sizeof(float) * 12 * 96);
    ark_cache_free(c);
    ark_plan_free(p);
    /* without the error term: the same as freezing the hook at the reconstruction */
    assert_int_equal(ark_sae_decode(&s, f, 12, xh), ARK_OK);
    ark_tensor frozen = {xh, 3, {2, 6, d}};
    ark_cache *c2;
    p = ark_plan_new(m);
    assert_int_equal(ark_plan_add_sae(p, &s, NULL, NULL), ARK_OK);
    assert_int_equal(ark_run(m, tok, 2, 6, NULL, p, &c), ARK_OK);
    ark_plan_free(p);
    p = ark_plan_new(m);
    assert_int_equal(ark_plan_freeze(p, hook, &frozen, NULL), ARK_OK);
    assert_int_equal(ark_run(m, tok, 2, 6, NULL, p, &c2), ARK_OK);
    assert_memory_equal(ark_cache_logits(c)->data, ark_cache_logits(c2)->data, sizeof(float) * 12 * V);
    ark_cache_free(c);
    ark_cache_free(c2);
    ark_plan_free(p);
    int bad = 96;
    ark_sae_splice_opts ob = {.ablate = &bad, .n_ablate = 1};
    p = ark_plan_new(m);
    assert_int_equal(ark_plan_add_sae(p, &s, &ob, NULL), ARK_ERR_ARG);
    ark_plan_free(p);
    /* CE over a dataset, and the recovered fraction's definition */
    const int32_t *rows[2] = {tok, tok + 6};
    int lens[2] = {6, 4};
    ark_dataset *ds;
    assert_int_equal(ark_dataset_from_rows(rows, lens, 2, &ds), ARK_OK);
    ark_sae_metrics mt;
    assert_int_equal(ark_sae_eval_model(&s, m, ds, NULL, 0.1f, true, &mt), ARK_OK);
    double ce = 0;
    int cnt = 0;
    const float *z = ark_cache_logits(clean)->data;
    for (int b = 0; b < 2; b++)
        for (int t = 0; t + 1 < lens[b]; t++) {
            const float *r = z + ((size_t)b * 6 + t) * V;
            double mx = -INFINITY, se = 0;
            for (int v = 0; v < V; v++) mx = fmax(mx, r[v]);
            for (int v = 0; v < V; v++) se += exp(r[v] - mx);
            ce += mx + log(se) - r[tok[b * 6 + t + 1]];
            cnt++;
        }
    assert_true(fabs(mt.ce_clean - ce / cnt) < 1e-5);
    assert_true(fabs(mt.ce_recovered - (mt.ce_ablated - mt.ce_sae) / (mt.ce_ablated - mt.ce_clean)) < 1e-12);
    assert_int_equal(mt.n, 10);
    ark_sae_metrics_free(&mt);
    ark_dataset_free(ds);
    free(f);
    free(xh);
    ark_cache_free(clean);
    ark_plan_free(keep);
    ark_sae_free(&s);
    ark_model_free(m);
}

/* Streamed training rows: one buffer holds every activation once. */
static void test_model_source(void **state)
{
    (void)state;
    ark_model *m;
    assert_int_equal(ark_model_open(fixture_path("models/llama"), &m), ARK_OK);
    int32_t a[5] = {1, 2, 3, 4, 5}, b[3] = {7, 8, 9};
    const int32_t *rows[2] = {a, b};
    int lens[2] = {5, 3};
    ark_dataset *ds;
    assert_int_equal(ark_dataset_from_rows(rows, lens, 2, &ds), ARK_OK);
    ark_act_source *src;
    assert_int_equal(ark_act_source_model(m, ds, "blocks.1.hook_resid_pre", NULL, 8, 1, &src), ARK_OK);
    int d = ark_act_source_width(src);
    float *got = malloc(sizeof(float) * 8 * d);
    assert_int_equal(ark_act_source_next(src, got, 8), ARK_OK);
    ark_plan *p = ark_plan_new(m);
    ark_plan_keep(p, "blocks.1.hook_resid_pre");
    double want = 0, sum = 0;
    for (int r = 0; r < 2; r++) {
        ark_cache *c;
        assert_int_equal(ark_run(m, rows[r], 1, lens[r], NULL, p, &c), ARK_OK);
        const ark_tensor *t = ark_cache_get(c, "blocks.1.hook_resid_pre");
        for (int i = 0; i < lens[r] * d; i++) want += t->data[i];
        ark_cache_free(c);
    }
    for (int i = 0; i < 8 * d; i++) sum += got[i];
    assert_true(fabs(sum - want) < 1e-3 * (1 + fabs(want)));
    assert_int_equal(ark_act_source_served(src), 8);
    ark_plan_free(p);
    free(got);
    ark_act_source_free(src);
    ark_dataset_free(ds);
    ark_model_free(m);
}

/* ---- the toy model ---- */

static void test_toy_model(void **state)
{
    (void)state;
    ark_toy_opts o = ARK_TOY_OPTS_INIT;
    o.steps = 4000;
    int rep[2];
    double dpf[2], S[2] = {0.0, 0.97};
    for (int i = 0; i < 2; i++) {
        o.sparsity = S[i];
        o.seed = 4;
        ark_toy t;
        assert_int_equal(ark_toy_train(&o, &t), ARK_OK);
        float norms[20], sup[20];
        ark_toy_inspect(&t, norms, sup, &rep[i], &dpf[i]);
        if (i == 0) /* dense: the most important features get their own, orthogonal dimensions */
            for (int f = 0; f < 3; f++) assert_true(norms[f] > 0.95f && sup[f] < 0.1f);
        ark_toy_free(&t);
    }
    /* dense: about m features (a 6th may be half-learned after 4000 steps), one dimension each */
    if (!(rep[0] >= o.m_hidden - 1 && rep[0] <= o.m_hidden + 1)) fail_msg("dense: %d features represented, want ~%d", rep[0], o.m_hidden);
    assert_true(dpf[0] > 0.9);
    /* sparse: many more than m features, in superposition (well under one dimension each) */
    if (!(rep[1] >= o.m_hidden + 5)) fail_msg("sparse: %d features represented, want at least %d", rep[1], o.m_hidden + 5);
    assert_true(dpf[1] < 0.5);
    o.m_hidden = 30;
    ark_toy t;
    assert_int_equal(ark_toy_train(&o, &t), ARK_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovery_topk),
        cmocka_unit_test(test_recovery_relu),
        cmocka_unit_test(test_sae_errors),
        cmocka_unit_test(test_pca),
        cmocka_unit_test(test_splice),
        cmocka_unit_test(test_model_source),
        cmocka_unit_test(test_toy_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
