/* The composer and write_read tools.
 *
 * Composition scores: on induction-gpt2, K-composition from the known
 * previous-token heads into the known induction heads (ground_truth.json)
 * ranks at the top and far above the Gaussian baseline; on every model under
 * fixtures/models (discovered) every score, the factored single-pair route
 * and the subspace-restricted scores equal a dense double-precision
 * computation made here from the grouped weight views (explicit kv index);
 * baseline, top pairs and virtual heads; every error path.  write_read:
 * subspaces (rows, files, tokens, heads), writers/readers against dense loops,
 * cache writing and information flow against properties that hold exactly
 * (a head's output lies in its own output space; position 0 only attends to
 * itself), and the tools' JSON entry points.  Tolerance 1e-4 + 1e-4 |ref|
 * unless said otherwise. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_composer.h"
#include "arrakis/tool_write_read.h"
#include "testutil.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define TOL(ref) (1e-4 + 1e-4 * fabs(ref))

static ark_model *open_model(const char *dir)
{
    ark_model *m;
    if (ark_model_open(dir, &m) != ARK_OK) fail_msg("open %s: %s", dir, ark_errmsg());
    return m;
}

/* Every model folder under fixtures/models, plus induction-gpt2. */
static int model_dirs(char dirs[][512], int cap)
{
    int n = fixture_folders("models", dirs, cap - 1);
    assert_true(n >= 9);
    snprintf(dirs[n++], 512, "%s", fixture_path("trained/induction-gpt2"));
    return n;
}

/* ---- dense references (double, d x d) ---- */

/* A per-head weight through the grouped views: W_Q/W_O of head h, W_K/W_V of
 * its kv head, read explicitly. */
static double *head_weight(const ark_model *m, ark_weight w, int l, int h)
{
    const ark_config *c = ark_model_config(m);
    int d = c->d_model, dh = c->d_head, hh = (w == ARK_W_K || w == ARK_W_V) ? h / (c->n_heads / c->n_kv_heads) : h;
    float *f = malloc(sizeof(float) * d * dh);
    assert_int_equal(ark_weight_read(m, w, l, hh, f), ARK_OK);
    double *x = malloc(sizeof(double) * d * dh);
    for (int i = 0; i < d * dh; i++) x[i] = f[i];
    free(f);
    return x;
}

/* C (p, q) = A (p, r) B (r, q), or with B transposed (B given as (q, r)). */
static double *mul(const double *A, const double *B, int p, int r, int q, bool bt)
{
    double *C = calloc((size_t)p * q, sizeof(double));
    for (int i = 0; i < p; i++)
        for (int k = 0; k < r; k++)
            for (int j = 0; j < q; j++) C[i * q + j] += A[i * r + k] * (bt ? B[j * r + k] : B[k * q + j]);
    return C;
}

static double fro(const double *A, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += A[i] * A[i];
    return sqrt(s);
}

/* OV = W_V W_O and QK = W_Q W_K^T of a head, dense (d, d). */
static double *dense_ov(const ark_model *m, int l, int h)
{
    int d = ark_model_config(m)->d_model, dh = ark_model_config(m)->d_head;
    double *v = head_weight(m, ARK_W_V, l, h), *o = head_weight(m, ARK_W_O, l, h), *r = mul(v, o, d, dh, d, false);
    free(v); free(o);
    return r;
}

static double *dense_qk(const ark_model *m, int l, int h)
{
    int d = ark_model_config(m)->d_model, dh = ark_model_config(m)->d_head;
    double *q = head_weight(m, ARK_W_Q, l, h), *k = head_weight(m, ARK_W_K, l, h), *r = mul(q, k, d, dh, d, true);
    free(q); free(k);
    return r;
}

static double *transpose(const double *A, int d)
{
    double *T = malloc(sizeof(double) * d * d);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) T[j * d + i] = A[i * d + j];
    return T;
}

/* The reader's circuit for a mode: QK, QK^T, OV. */
static double *dense_reader(const ark_model *m, ark_comp_mode mode, int l, int h)
{
    if (mode == ARK_COMP_V) return dense_ov(m, l, h);
    double *qk = dense_qk(m, l, h);
    if (mode == ARK_COMP_Q) return qk;
    double *t = transpose(qk, ark_model_config(m)->d_model);
    free(qk);
    return t;
}

/* ||OV_A [P] R_B|| / (||OV_A|| ||R_B||), P (d, d) or NULL. */
static double dense_score(const ark_model *m, ark_comp_mode mode, int la, int ha, int lb, int hb, const double *P)
{
    int d = ark_model_config(m)->d_model;
    double *ov = dense_ov(m, la, ha), *r = dense_reader(m, mode, lb, hb);
    double *left = P ? mul(ov, P, d, d, d, false) : ov;
    double *prod = mul(left, r, d, d, d, false);
    double s = fro(prod, d * d) / fro(ov, d * d) / fro(r, d * d);
    if (P) free(left);
    free(ov); free(r); free(prod);
    return s;
}

/* ---- composition ---- */

static int head_list(const cJSON *gt, const char *key, int heads[][2], int cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(gt, key), *x;
    int n = 0;
    cJSON_ArrayForEach(x, a) {
        if (n == cap) break;
        heads[n][0] = cJSON_GetArrayItem(x, 0)->valueint;
        heads[n][1] = cJSON_GetArrayItem(x, 1)->valueint;
        n++;
    }
    assert_true(n > 0);
    return n;
}

/* The previous-token heads K-compose with the induction heads: every such
 * pair is among the top P*I K-composition pairs, with z > 5. */
static void check_induction(ark_model *m, const cJSON *gt)
{
    const ark_config *c = ark_model_config(m);
    int prev[16][2], ind[16][2], L = c->n_layers, H = c->n_heads;
    int np = head_list(gt, "previous_token_heads", prev, 16), ni = head_list(gt, "induction_heads", ind, 16);
    float *s = malloc(sizeof(float) * L * H * L * H);
    assert_int_equal(ark_composition_scores(m, ARK_COMP_K, s), ARK_OK);
    ark_comp_baseline b;
    assert_int_equal(ark_composer_baseline(c->d_model, c->d_head, 200, 1, &b), ARK_OK);
    ark_comp_pair top[64];
    int n = ark_composition_top(s, L, H, ARK_COMP_K, &b, -INFINITY, np * ni, top);
    assert_int_equal(n, np * ni);
    for (int i = 0; i < np; i++)
        for (int j = 0; j < ni; j++) {
            bool found = false;
            for (int k = 0; k < n; k++)
                if (top[k].la == prev[i][0] && top[k].ha == prev[i][1] && top[k].lb == ind[j][0] && top[k].hb == ind[j][1]) {
                    found = true;
                    if (!(top[k].z > 5 && top[k].score > 1.5 * b.mean))
                        fail_msg("L%dH%d->L%dH%d: K score %.4f, z %.2f (baseline %.4f +- %.4f)", prev[i][0], prev[i][1],
                                 ind[j][0], ind[j][1], top[k].score, top[k].z, b.mean, b.std);
                }
            if (!found) fail_msg("K-composition L%dH%d->L%dH%d is not among the top %d pairs", prev[i][0], prev[i][1], ind[j][0], ind[j][1], np * ni);
        }
    free(s);
}

static void test_induction(void **state)
{
    (void)state;
    char *text = read_file(fixture_path("trained/induction-gpt2/ground_truth.json"), NULL);
    assert_non_null(text);
    cJSON *gt = cJSON_Parse(text);
    assert_non_null(gt);
    ark_model *m = open_model(fixture_path("trained/induction-gpt2"));
    check_induction(m, gt);
    assert_int_equal(ark_composer_process(m), ARK_OK); /* TransformerLens' processed weights: still at the top */
    assert_int_equal(ark_model_processing(m), ARK_PROCESS_FOLD_LN | ARK_PROCESS_CENTER_WRITING);
    check_induction(m, gt);
    assert_int_equal(ark_composer_process(m), ARK_OK); /* again: nothing left to do */
    ark_model_free(m);
    cJSON_Delete(gt);
    free(text);
}

/* Every score of every model against the dense reference, and the factored
 * single-pair route against both. */
static void test_scores_dense(void **state)
{
    (void)state;
    char dirs[32][512];
    int nd = model_dirs(dirs, 32);
    for (int di = 0; di < nd; di++) {
        ark_model *m = open_model(dirs[di]);
        const ark_config *c = ark_model_config(m);
        int L = c->n_layers, H = c->n_heads;
        float *s = malloc(sizeof(float) * L * H * L * H);
        for (int mi = 0; mi < 3; mi++) {
            ark_comp_mode mode = (ark_comp_mode)mi;
            assert_int_equal(ark_composition_scores(m, mode, s), ARK_OK);
            for (int la = 0; la < L; la++)
                for (int ha = 0; ha < H; ha++)
                    for (int lb = 0; lb < L; lb++)
                        for (int hb = 0; hb < H; hb++) {
                            float got = s[((la * H + ha) * L + lb) * H + hb];
                            double one;
                            assert_int_equal(ark_composition_score(m, mode, la, ha, lb, hb, &one), ARK_OK);
                            double ref = lb > la ? dense_score(m, mode, la, ha, lb, hb, NULL) : 0.0;
                            if (fabs(got - ref) > TOL(ref) || fabs(one - ref) > TOL(ref))
                                fail_msg("%s mode %s L%dH%d->L%dH%d: batched %.7f, pair %.7f, dense %.7f", dirs[di],
                                         ark_comp_mode_name(mode), la, ha, lb, hb, got, one, ref);
                            assert_true(got >= 0 && got <= 1);
                        }
        }
        free(s);
        ark_model_free(m);
    }
}

/* A random orthonormal basis (d, k) via ark_subspace_from_rows. */
static ark_subspace random_subspace(int d, int k, unsigned seed)
{
    float *rows = malloc(sizeof(float) * k * d);
    srand(seed);
    for (int i = 0; i < k * d; i++) rows[i] = (float)rand() / RAND_MAX - 0.5f;
    ark_subspace s;
    assert_int_equal(ark_subspace_from_rows(rows, k, d, &s), ARK_OK);
    assert_int_equal(s.k, k);
    free(rows);
    return s;
}

static void test_through(void **state)
{
    (void)state;
    const char *names[3] = {"models/llama", "models/gemma", "trained/induction-gpt2"};
    for (int di = 0; di < 3; di++) {
        ark_model *m = open_model(fixture_path("%s", names[di]));
        const ark_config *c = ark_model_config(m);
        int L = c->n_layers, H = c->n_heads, d = c->d_model, n = L * H * L * H;
        float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *I = calloc((size_t)d * d, sizeof(float));
        for (int i = 0; i < d; i++) I[i * d + i] = 1;
        ark_subspace s = random_subspace(d, 5, 7 + di);
        double *P = calloc((size_t)d * d, sizeof(double)); /* Q Q^T */
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int q = 0; q < s.k; q++) P[i * d + j] += (double)s.basis[i * s.k + q] * s.basis[j * s.k + q];
        for (int mi = 0; mi < 3; mi++) {
            ark_comp_mode mode = (ark_comp_mode)mi;
            assert_int_equal(ark_composition_scores(m, mode, a), ARK_OK);
            assert_int_equal(ark_composition_scores_through(m, mode, I, d, b), ARK_OK);
            for (int i = 0; i < n; i++)
                if (fabs(a[i] - b[i]) > TOL(a[i])) fail_msg("%s: through I differs at %d: %g vs %g", names[di], i, b[i], a[i]);
            assert_int_equal(ark_composition_scores_through(m, mode, s.basis, s.k, b), ARK_OK);
            for (int ha = 0; ha < H; ha++)
                for (int hb = 0; hb < H; hb++) {
                    double ref = dense_score(m, mode, 0, ha, L - 1, hb, P);
                    float got = b[((0 * H + ha) * L + L - 1) * H + hb];
                    if (fabs(got - ref) > TOL(ref)) fail_msg("%s mode %d: through Q %.7f, dense %.7f", names[di], mi, got, ref);
                }
        }
        assert_int_equal(ark_composition_scores_through(m, ARK_COMP_K, s.basis, 0, b), ARK_ERR_ARG);
        assert_int_equal(ark_composition_scores_through(m, ARK_COMP_K, NULL, 1, b), ARK_ERR_ARG);
        ark_subspace_free(&s);
        free(a); free(b); free(I); free(P);
        ark_model_free(m);
    }
}

static void test_baseline_and_top(void **state)
{
    (void)state;
    ark_comp_baseline a, b, c;
    assert_int_equal(ark_composer_baseline(64, 16, 300, 5, &a), ARK_OK);
    assert_int_equal(ark_composer_baseline(64, 16, 300, 5, &b), ARK_OK);
    assert_int_equal(ark_composer_baseline(64, 16, 300, 6, &c), ARK_OK);
    assert_true(a.mean == b.mean && a.std == b.std);
    assert_true(a.mean != c.mean);
    assert_true(a.std > 0 && a.std < 0.05);
    /* Gaussian low-rank factors: the score concentrates near 1/sqrt(d) */
    assert_true(fabs(a.mean - 1 / sqrt(64.0)) < 0.15 / sqrt(64.0));
    assert_int_equal(ark_composer_baseline(256, 8, 50, 1, &c), ARK_OK);
    assert_true(fabs(c.mean - 1 / sqrt(256.0)) < 0.15 / sqrt(256.0));
    assert_int_equal(ark_composer_baseline(64, 16, 1, 5, &c), ARK_ERR_ARG);
    assert_int_equal(ark_composer_baseline(0, 16, 10, 5, &c), ARK_ERR_ARG);

    /* top: L = 3, H = 2, only lb > la, sorted, min_z, n */
    float s[3 * 2 * 3 * 2] = {0};
    for (int i = 0; i < 36; i++) s[i] = 0.01f * (float)((i * 7) % 36);
    ark_comp_pair p[32];
    int n = ark_composition_top(s, 3, 2, ARK_COMP_V, NULL, 0, 32, p);
    assert_int_equal(n, 3 * 4); /* (0->1, 0->2, 1->2) x 2 x 2 */
    for (int i = 0; i < n; i++) {
        assert_true(p[i].lb > p[i].la);
        assert_true(i == 0 || p[i].score <= p[i - 1].score);
        assert_true(isnan(p[i].z) && p[i].mode == ARK_COMP_V);
        assert_true(p[i].score == s[((p[i].la * 2 + p[i].ha) * 3 + p[i].lb) * 2 + p[i].hb]);
    }
    ark_comp_baseline bl = {.mean = 0.1, .std = 0.05, .samples = 10};
    int k = ark_composition_top(s, 3, 2, ARK_COMP_V, &bl, 2.0, 32, p);
    for (int i = 0; i < k; i++) assert_true(p[i].z >= 2.0f && p[i].score >= 0.2f - 1e-6f);
    assert_true(k > 0 && k < n);
    assert_int_equal(ark_composition_top(s, 3, 2, ARK_COMP_V, NULL, 0, 3, p), 3);
    assert_int_equal(ark_composition_top(s, 1, 2, ARK_COMP_V, NULL, 0, 3, p), 0);

    ark_comp_mode mode;
    assert_int_equal(ark_comp_mode_parse("K", &mode), ARK_OK);
    assert_int_equal(mode, ARK_COMP_K);
    assert_int_equal(ark_comp_mode_parse("x", &mode), ARK_ERR_ARG);
    assert_null(ark_comp_mode_name((ark_comp_mode)7));
}

static void test_virtual_head(void **state)
{
    (void)state;
    ark_model *m = open_model(fixture_path("models/llama"));
    int d = ark_model_config(m)->d_model, L = ark_model_config(m)->n_layers;
    ark_virtual_head v;
    assert_int_equal(ark_virtual_head_of(m, 0, 1, L - 1, 3, &v), ARK_OK);
    double *ova = dense_ov(m, 0, 1), *ovb = dense_ov(m, L - 1, 3), *qkb = dense_qk(m, L - 1, 3);
    double *ovat = transpose(ova, d);
    double *r_ov = mul(ova, ovb, d, d, d, false), *r_q = mul(ova, qkb, d, d, d, false), *r_k = mul(qkb, ovat, d, d, d, false);
    const ark_factored *f[3] = {v.ov, v.qk_q, v.qk_k};
    double *refs[3] = {r_ov, r_q, r_k};
    float *M = malloc(sizeof(float) * d * d);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ark_factored_rows(f[i]), d);
        assert_int_equal(ark_factored_cols(f[i]), d);
        double ref = fro(refs[i], d * d);
        assert_true(fabs(ark_factored_frobenius(f[i]) - ref) <= TOL(ref));
        ark_factored_materialize(f[i], M);
        for (int j = 0; j < d * d; j++)
            if (fabs(M[j] - refs[i][j]) > TOL(refs[i][j])) fail_msg("virtual head %d: element %d %g vs %g", i, j, M[j], refs[i][j]);
    }
    ark_virtual_head_free(&v);
    ark_virtual_head_free(&v); /* twice is fine */
    assert_int_equal(ark_virtual_head_of(m, 1, 0, 1, 1, &v), ARK_ERR_ARG);
    assert_int_equal(ark_virtual_head_of(m, 0, 9, 1, 1, &v), ARK_ERR_ARG);
    double sc;
    assert_int_equal(ark_composition_score(m, ARK_COMP_Q, 0, 0, 5, 0, &sc), ARK_ERR_ARG);
    assert_int_equal(ark_composition_score(m, ARK_COMP_Q, 0, -1, 1, 0, &sc), ARK_ERR_ARG);
    assert_int_equal(ark_composition_score(m, ARK_COMP_Q, 1, 0, 0, 0, &sc), ARK_OK);
    assert_true(sc == 0);
    free(M); free(ova); free(ovb); free(qkb); free(ovat); free(r_ov); free(r_q); free(r_k);
    ark_model_free(m);
}

/* ---- write_read ---- */

/* P = Q Q^T (d, d) of a subspace. */
static double *projector(const ark_subspace *s)
{
    int d = s->d, k = s->k;
    double *P = calloc((size_t)d * d, sizeof(double));
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            for (int q = 0; q < k; q++) P[i * d + j] += (double)s->basis[i * k + q] * s->basis[j * k + q];
    return P;
}

static void expect_orthonormal(const ark_subspace *s)
{
    for (int a = 0; a < s->k; a++)
        for (int b = 0; b < s->k; b++) {
            double dot = 0;
            for (int i = 0; i < s->d; i++) dot += (double)s->basis[i * s->k + a] * s->basis[i * s->k + b];
            if (fabs(dot - (a == b)) > 1e-5) fail_msg("basis columns %d, %d: dot %g", a, b, dot);
        }
}

static void write_vectors(const char *path, int d)
{
    ark_st_writer *w = ark_st_writer_new();
    float one[64], rows[3 * 64], cols[64 * 3], bad[35] = {0};
    for (int i = 0; i < d; i++) {
        one[i] = (float)(i % 5) - 2;
        for (int r = 0; r < 3; r++) rows[r * d + i] = cols[i * 3 + r] = (float)((i * (r + 3)) % 7) - 3;
    }
    int64_t s1[1] = {d}, s2[2] = {3, d}, s3[2] = {d, 3}, s4[2] = {5, 7};
    assert_int_equal(ark_st_writer_add_f32(w, "one", ARK_F32, one, 1, s1), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "rows", ARK_F32, rows, 2, s2), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "cols", ARK_F16, cols, 2, s3), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "bad", ARK_F32, bad, 2, s4), ARK_OK);
    assert_int_equal(ark_st_writer_save(w, path), ARK_OK);
    ark_st_writer_free(w);
}

static void test_subspaces(void **state)
{
    (void)state;
    int d = 8;
    float rows[3 * 8] = {0};
    rows[0] = 1;                 /* e0 */
    rows[8] = 1; rows[9] = 1;    /* e0 + e1 */
    rows[16] = 2;                /* 2 e0 */
    ark_subspace s;
    assert_int_equal(ark_subspace_from_rows(rows, 3, d, &s), ARK_OK);
    assert_int_equal(s.k, 2);
    expect_orthonormal(&s);
    double *P = projector(&s);
    for (int i = 0; i < d; i++) /* P = diag(1, 1, 0, ...) */
        for (int j = 0; j < d; j++) assert_true(fabs(P[i * d + j] - (i == j && i < 2)) < 1e-6);
    free(P);
    ark_subspace_free(&s);
    float zeros[16] = {0}, many[20 * 8];
    assert_int_equal(ark_subspace_from_rows(zeros, 2, d, &s), ARK_ERR_ARG);
    for (int i = 0; i < 20 * 8; i++) many[i] = (float)((i * 37) % 11) - 5;
    assert_int_equal(ark_subspace_from_rows(many, 20, d, &s), ARK_OK); /* more rows than d */
    assert_int_equal(s.k, d);
    expect_orthonormal(&s);
    ark_subspace_free(&s);

    /* files: [d], [n, d], [d, n] (same span as the rows), errors */
    const char *dir = scratch_dir("composer");
    char path[4200], single[4200];
    snprintf(path, sizeof path, "%s/v.safetensors", dir);
    write_vectors(path, 64);
    ark_subspace a, b;
    assert_int_equal(ark_subspace_file(path, "one", 64, &a), ARK_OK);
    assert_int_equal(a.k, 1);
    ark_subspace_free(&a);
    assert_int_equal(ark_subspace_file(path, "rows", 64, &a), ARK_OK);
    assert_int_equal(ark_subspace_file(path, "cols", 64, &b), ARK_OK);
    assert_int_equal(a.k, 3);
    assert_int_equal(b.k, 3);
    double *Pa = projector(&a), *Pb = projector(&b);
    for (int i = 0; i < 64 * 64; i++) assert_true(fabs(Pa[i] - Pb[i]) < 1e-5);
    free(Pa); free(Pb);
    ark_subspace_free(&a); ark_subspace_free(&b);
    assert_int_equal(ark_subspace_file(path, NULL, 64, &a), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "file:PATH:KEY"));
    assert_int_equal(ark_subspace_file(path, "nope", 64, &a), ARK_ERR_MISSING);
    assert_int_equal(ark_subspace_file(path, "bad", 64, &a), ARK_ERR_SHAPE);
    assert_non_null(strstr(ark_errmsg(), "[5, 7]"));
    assert_int_equal(ark_subspace_file(path, "one", 32, &a), ARK_ERR_SHAPE);
    snprintf(single, sizeof single, "%s/missing.safetensors", dir);
    assert_int_not_equal(ark_subspace_file(single, NULL, 64, &a), ARK_OK);

    /* a token's unembedding column; a head's output space */
    ark_model *m = open_model(fixture_path("models/llama"));
    const ark_config *c = ark_model_config(m);
    float *wu = malloc(sizeof(float) * c->d_model * c->d_vocab);
    assert_int_equal(ark_weight_read(m, ARK_W_U, -1, -1, wu), ARK_OK);
    assert_int_equal(ark_subspace_token(m, 17, &a), ARK_OK);
    double n2 = 0;
    for (int i = 0; i < c->d_model; i++) n2 += (double)wu[i * c->d_vocab + 17] * wu[i * c->d_vocab + 17];
    for (int i = 0; i < c->d_model; i++) assert_true(fabs(a.basis[i] - wu[i * c->d_vocab + 17] / sqrt(n2)) < 1e-6);
    ark_subspace_free(&a);
    assert_int_equal(ark_subspace_token(m, c->d_vocab, &a), ARK_ERR_ARG);
    assert_int_equal(ark_subspace_head(m, 1, 2, &a), ARK_OK);
    assert_true(a.k >= 1 && a.k <= c->d_head);
    expect_orthonormal(&a);
    int dm = c->d_model;
    double *ov = dense_ov(m, 1, 2), *Ph = projector(&a), *ovp = mul(ov, Ph, dm, dm, dm, false);
    assert_true(fabs(fro(ovp, dm * dm) - fro(ov, dm * dm)) < 1e-4 * fro(ov, dm * dm)); /* OV's rows lie in it */
    free(ov); free(Ph); free(ovp);
    ark_subspace_free(&a);
    assert_int_equal(ark_subspace_head(m, 1, 9, &a), ARK_ERR_ARG);
    free(wu);
    ark_model_free(m);
}

/* Writers and readers of a subspace against dense loops. */
static void check_writers_readers(ark_model *m, const ark_subspace *s, const char *what)
{
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, d = c->d_model, dh = c->d_head, n = L * H;
    float *wo = malloc(sizeof(float) * n), *ov = malloc(sizeof(float) * n), *rq = malloc(sizeof(float) * n);
    float *rk = malloc(sizeof(float) * n), *rv = malloc(sizeof(float) * n);
    assert_int_equal(ark_writers_from_weights(m, s, wo, ov), ARK_OK);
    assert_int_equal(ark_readers_from_weights(m, s, rq, rk, rv), ARK_OK);
    double *P = projector(s);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            double *o = head_weight(m, ARK_W_O, l, h), *o_p = mul(o, P, dh, d, d, false);
            double *ovd = dense_ov(m, l, h), *ov_p = mul(ovd, P, d, d, d, false);
            double ref[5] = {fro(o_p, dh * d) / fro(o, dh * d), fro(ov_p, d * d) / fro(ovd, d * d)};
            const ark_weight rw[3] = {ARK_W_Q, ARK_W_K, ARK_W_V};
            for (int i = 0; i < 3; i++) {
                double *w = head_weight(m, rw[i], l, h), *pw = mul(P, w, d, d, dh, false);
                ref[2 + i] = fro(pw, d * dh) / fro(w, d * dh);
                free(w); free(pw);
            }
            float got[5] = {wo[l * H + h], ov[l * H + h], rq[l * H + h], rk[l * H + h], rv[l * H + h]};
            for (int i = 0; i < 5; i++)
                if (fabs(got[i] - ref[i]) > TOL(ref[i]))
                    fail_msg("%s L%dH%d quantity %d: %.7f, dense %.7f", what, l, h, i, got[i], ref[i]);
            free(o); free(o_p); free(ovd); free(ov_p);
        }
    free(P); free(wo); free(ov); free(rq); free(rk); free(rv);
}

static void test_writers_readers(void **state)
{
    (void)state;
    const char *names[3] = {"models/llama", "models/gemma", "trained/induction-gpt2"};
    for (int di = 0; di < 3; di++) {
        ark_model *m = open_model(fixture_path("%s", names[di]));
        ark_subspace s;
        assert_int_equal(ark_subspace_token(m, 5, &s), ARK_OK);
        check_writers_readers(m, &s, names[di]);
        ark_subspace_free(&s);
        s = random_subspace(ark_model_config(m)->d_model, 3, 11);
        check_writers_readers(m, &s, names[di]);
        s.d = 7;
        float x[1];
        assert_int_equal(ark_writers_from_weights(m, &s, x, NULL), ARK_ERR_ARG);
        assert_int_equal(ark_readers_from_weights(m, &s, x, NULL, NULL), ARK_ERR_ARG);
        ark_subspace_free(&s);
        ark_model_free(m);
    }
}

static ark_cache *run_kept(ark_model *m, const int32_t *ids, int B, int T, const uint8_t *mask)
{
    ark_plan *p = ark_plan_new(m);
    assert_int_equal(ark_plan_keep(p, "blocks.*.attn.hook_z"), ARK_OK);
    assert_int_equal(ark_plan_keep(p, "blocks.*.attn.hook_pattern"), ARK_OK);
    assert_int_equal(ark_plan_keep(p, "blocks.*.attn.hook_v"), ARK_OK);
    ark_cache *c;
    assert_int_equal(ark_run(m, ids, B, T, mask, p, &c), ARK_OK);
    ark_plan_free(p);
    return c;
}

static void check_cache_flow(ark_model *m, const char *what)
{
    const ark_config *c = ark_model_config(m);
    int L = c->n_layers, H = c->n_heads, d = c->d_model, n = L * H, T = 12;
    int32_t ids[2 * 12];
    for (int i = 0; i < T; i++) ids[i] = ids[T + i] = (int32_t)((i * 29 + 3) % c->d_vocab);
    for (int i = 8; i < T; i++) ids[T + i] = 0;
    uint8_t mask[2 * 12];
    for (int i = 0; i < 2 * T; i++) mask[i] = i < T || i - T < 8;
    float *proj = malloc(sizeof(float) * n * 6), *norm = proj + n, *a1 = proj + 2 * n, *a2 = proj + 3 * n;
    float *b1 = proj + 4 * n, *b2 = proj + 5 * n;
    /* a head's output lies in its own output space: proj == norm */
    ark_cache *full = run_kept(m, ids, 1, T, NULL);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            ark_subspace s;
            assert_int_equal(ark_subspace_head(m, l, h, &s), ARK_OK);
            assert_int_equal(ark_writers_from_cache(m, full, NULL, &s, proj, norm, NULL), ARK_OK);
            int i = l * H + h;
            if (fabs(proj[i] - norm[i]) > 1e-3 * norm[i] + 1e-5) fail_msg("%s L%dH%d: proj %g, norm %g", what, l, h, proj[i], norm[i]);
            ark_subspace_free(&s);
        }
    /* masked rows: the mean over real positions of both rows */
    ark_subspace s = random_subspace(d, 2, 3);
    ark_cache *shortc = run_kept(m, ids, 1, 8, NULL), *both = run_kept(m, ids, 2, T, mask);
    assert_int_equal(ark_writers_from_cache(m, full, NULL, &s, a1, a2, NULL), ARK_OK);
    assert_int_equal(ark_writers_from_cache(m, shortc, NULL, &s, b1, b2, NULL), ARK_OK);
    assert_int_equal(ark_writers_from_cache(m, both, mask, &s, proj, norm, NULL), ARK_OK);
    for (int i = 0; i < n; i++) {
        double rp = (12 * a1[i] + 8 * b1[i]) / 20, rn = (12 * a2[i] + 8 * b2[i]) / 20;
        if (fabs(proj[i] - rp) > 1e-4 + 1e-3 * rp || fabs(norm[i] - rn) > 1e-4 + 1e-3 * rn)
            fail_msg("%s head %d: masked means %g %g, expected %g %g", what, i, proj[i], norm[i], rp, rn);
    }
    /* flow into position 0 comes only from position 0: attention 1, moved = |r_h[0]| */
    assert_int_equal(ark_info_flow(m, full, 0, 0, 0, &s, a1, a2, b1, NULL), ARK_OK);
    for (int l = 0; l < L; l++) {
        ark_tensor r;
        assert_int_equal(ark_head_results(m, full, l, &r), ARK_OK); /* (1, T, H, d) */
        for (int h = 0; h < H; h++) {
            double nn = 0;
            for (int j = 0; j < d; j++) nn += (double)r.data[h * d + j] * r.data[h * d + j];
            nn = sqrt(nn);
            assert_true(fabs(a1[l * H + h] - 1) < 1e-5);
            if (fabs(a2[l * H + h] - nn) > 1e-4 + 1e-3 * nn) fail_msg("%s L%dH%d: moved %g, |r| %g", what, l, h, a2[l * H + h], nn);
            assert_true(b1[l * H + h] <= a2[l * H + h] * (1 + 1e-5) + 1e-6);
        }
        free(r.data);
    }
    assert_int_equal(ark_info_flow(m, full, 0, 3, 2, &s, a1, a2, NULL, NULL), ARK_ERR_ARG);
    assert_int_equal(ark_info_flow(m, full, 0, 0, T, &s, a1, a2, NULL, NULL), ARK_ERR_ARG);
    assert_int_equal(ark_info_flow(m, full, 1, 0, 1, &s, a1, a2, NULL, NULL), ARK_ERR_ARG);
    ark_cache *bare;
    assert_int_equal(ark_run(m, ids, 1, T, NULL, NULL, &bare), ARK_OK);
    assert_int_equal(ark_info_flow(m, bare, 0, 0, 1, NULL, a1, a2, NULL, NULL), ARK_ERR_MISSING);
    assert_int_not_equal(ark_writers_from_cache(m, bare, NULL, &s, proj, norm, NULL), ARK_OK);
    ark_cache_free(bare);
    ark_subspace_free(&s);
    ark_cache_free(full); ark_cache_free(shortc); ark_cache_free(both);
    free(proj);
}

static void test_cache_and_flow(void **state)
{
    (void)state;
    const char *names[2] = {"models/llama", "trained/induction-gpt2"};
    for (int di = 0; di < 2; di++) {
        ark_model *m = open_model(fixture_path("%s", names[di]));
        check_cache_flow(m, names[di]);
        ark_model_free(m);
    }
}

/* Run a tool op; returns the parsed result, or NULL with *st set. */
static cJSON *call(ark_tool *t, const char *op, const char *params, ark_status *st)
{
    char *out = NULL;
    *st = ark_tool_run(t, op, params, &out);
    cJSON *j = *st == ARK_OK ? cJSON_Parse(out) : NULL;
    if (*st == ARK_OK) assert_non_null(j);
    free(out);
    return j;
}

static void expect_error(ark_tool *t, const char *op, const char *params, const char *needle)
{
    ark_status st;
    cJSON *j = call(t, op, params, &st);
    assert_null(j);
    assert_int_not_equal(st, ARK_OK);
    if (!strstr(ark_errmsg(), needle)) fail_msg("%s %s: message \"%s\" lacks \"%s\"", op, params, ark_errmsg(), needle);
}

static void test_tool_json(void **state)
{
    (void)state;
    ark_model *m = open_model(fixture_path("models/mistral"));
    const ark_config *c = ark_model_config(m);
    ark_tool_env env = {m, NULL};
    ark_tool *t;
    ark_status st;
    assert_int_equal(ark_tool_new("composer", &env, &t), ARK_OK);
    cJSON *j = call(t, NULL, "{\"mode\": \"k\", \"top\": 3, \"baseline_samples\": 20}", &st);
    assert_int_equal(st, ARK_OK);
    const cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "modes"), "k"), "scores");
    assert_int_equal(cJSON_GetArraySize(sc), c->n_layers);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetArrayItem(sc, 0), 0), 1)), c->n_heads);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "top")), 3);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "top"), 0), "z"));
    cJSON_Delete(j);
    j = call(t, "pair", "{\"writer\": \"0.1\", \"reader\": [1, 2]}", &st);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "modes")), 3);
    cJSON_Delete(j);
    j = call(t, "virtual_head", "{\"writer\": \"L0H1\", \"reader\": \"1.2\", \"top_k\": 2, \"materialize\": true}", &st);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "ov"), "singular_values")), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "qk_k"), "matrix")), c->d_model);
    cJSON_Delete(j);
    j = call(t, "baseline", "{\"baseline_samples\": 10, \"seed\": 3}", &st);
    assert_int_equal(st, ARK_OK);
    cJSON_Delete(j);
    expect_error(t, NULL, "{\"mode\": \"x\"}", "\"mode\"");
    expect_error(t, "nope", NULL, "unknown operation");
    expect_error(t, "pair", "{\"writer\": [0, 9], \"reader\": [1, 0]}", "\"writer\": head 9");
    expect_error(t, "pair", "{\"writer\": [1, 0], \"reader\": [1, 1]}", "\"reader\"");
    expect_error(t, "pair", "{\"writer\": \"zz\", \"reader\": [1, 1]}", "\"writer\"");
    expect_error(t, NULL, "{\"baseline_samples\": 1}", "\"baseline_samples\"");
    expect_error(t, NULL, "{\"top\": -1}", "\"top\"");
    expect_error(t, NULL, "[1]", "not a JSON object");
    ark_tool_free(t);

    assert_int_equal(ark_tool_new("write_read", &env, &t), ARK_OK);
    j = call(t, NULL, "{\"direction\": \"token:5\", \"tokens\": [1, 2, 3, 4, 5], \"flow\": [1, -1], \"top\": 4}", &st);
    assert_int_equal(st, ARK_OK);
    const char *secs[4] = {"writers", "readers", "two_hop", "flow"};
    for (int i = 0; i < 4; i++) {
        const cJSON *sec = cJSON_GetObjectItem(j, secs[i]);
        assert_non_null(sec);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sec, "top")), 4);
    }
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "writers"), "cache_dot"));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "flow"), "dst")->valueint, 4);
    cJSON_Delete(j);
    j = call(t, "readers", "{\"direction\": \"head:1.3\"}", &st);
    assert_int_equal(st, ARK_OK);
    assert_null(cJSON_GetObjectItem(j, "writers"));
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "direction"), "k")->valueint <= c->d_head);
    cJSON_Delete(j);
    expect_error(t, NULL, "{}", "\"direction\": missing");
    expect_error(t, NULL, "{\"direction\": \"bad:1\"}", "expected token:ID");
    expect_error(t, NULL, "{\"direction\": \"head:9.0\"}", "layers 0..");
    expect_error(t, NULL, "{\"direction\": \"token:999999\"}", "out of range");
    expect_error(t, NULL, "{\"direction\": \"token:5\", \"flow\": [0, 1]}", "needs a prompt");
    expect_error(t, NULL, "{\"direction\": \"token:5\", \"tokens\": [1, 2], \"flow\": [1, 0]}", "\"flow\"");
    expect_error(t, NULL, "{\"direction\": \"token:5\", \"tokens\": [1, 2], \"flow\": [0, 1], \"row\": 3}", "\"row\"");
    expect_error(t, "flow", "{\"direction\": \"token:5\", \"tokens\": [1, 2]}", "\"flow\": missing");
    expect_error(t, NULL, "{\"direction\": \"file:/nonexistent/v.safetensors\"}", "direction");
    expect_error(t, "sideways", "{}", "unknown operation");
    /* process: true folds the norms into this model in place */
    j = call(t, "direction", "{\"direction\": \"token:5\", \"process\": true}", &st);
    assert_int_equal(st, ARK_OK);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "processed"), 0)->valuestring, "fold-ln");
    cJSON_Delete(j);
    ark_tool_free(t);
    ark_model_free(m);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_induction),
        cmocka_unit_test(test_scores_dense),
        cmocka_unit_test(test_through),
        cmocka_unit_test(test_baseline_and_top),
        cmocka_unit_test(test_virtual_head),
        cmocka_unit_test(test_subspaces),
        cmocka_unit_test(test_writers_readers),
        cmocka_unit_test(test_cache_and_flow),
        cmocka_unit_test(test_tool_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
