/* The knowledge tool's typed functions (include/arrakis/tool_knowledge.h),
 * against values worked out here:
 *
 *   - logistic regression reaches the optimum: the gradient of the
 *     documented objective (mean cross-entropy + l2/2 ||W||^2 on features
 *     standardised with the training mean and population SD), computed here
 *     in double from the returned W, b, mean, std, is below 1e-4, and the
 *     loss equals the one reported; classes absent from training; errors;
 *   - datasets (classes sorted, entities by first appearance), positions,
 *     splits by entity (no entity on both sides, the fraction, seeds),
 *     control labels (one per entity, the entities' labels permuted),
 *     difference of means and the true/false statistics against values
 *     worked out by hand.
 *
 * The tools on the trained facts-llama fixture, the knowledge graph and
 * every fixture model are in test_knowledge_tools.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/arrakis.h"
#include "arrakis/tool_knowledge.h"
#include "knowledge_testutil.h"
#include "testutil.h"

/* ---- helpers ---- */

static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

/* The objective's value and gradient norm, computed here (double). */
static void objective_check(const ark_logreg *p, const float *X, const int *y, int n, const uint8_t *use, double l2,
                            double *loss, double *gnorm)
{
    int d = p->d, k = p->k, m = 0;
    double *gW = calloc((size_t)k * d, sizeof(double)), *gb = calloc(k, sizeof(double)), *z = malloc(sizeof(double) * d);
    double *lg = malloc(sizeof(double) * k), L = 0;
    for (int i = 0; i < n; i++) {
        if (use && !use[i]) continue;
        m++;
        for (int j = 0; j < d; j++) z[j] = ((double)X[i * d + j] - p->mean[j]) / p->std[j];
        double mx = -INFINITY, s = 0;
        for (int c = 0; c < k; c++) {
            lg[c] = p->b[c];
            for (int j = 0; j < d; j++) lg[c] += (double)p->W[c * d + j] * z[j];
            mx = fmax(mx, lg[c]);
        }
        for (int c = 0; c < k; c++) s += exp(lg[c] - mx);
        L += mx + log(s) - lg[y[i]];
        for (int c = 0; c < k; c++) {
            double r = exp(lg[c] - mx) / s - (c == y[i]);
            gb[c] += r;
            for (int j = 0; j < d; j++) gW[c * d + j] += r * z[j];
        }
    }
    double g2 = 0, w2 = 0;
    for (int c = 0; c < k; c++) {
        g2 += (gb[c] / m) * (gb[c] / m);
        for (int j = 0; j < d; j++) {
            double g = gW[c * d + j] / m + l2 * p->W[c * d + j];
            g2 += g * g;
            w2 += (double)p->W[c * d + j] * p->W[c * d + j];
        }
    }
    *loss = L / m + 0.5 * l2 * w2;
    *gnorm = sqrt(g2);
    free(gW), free(gb), free(z), free(lg);
}

/* Gaussian blobs: k classes in d dims, class means ~ N(0, sep^2). */
static void blobs(int n, int d, int k, double sep, uint64_t seed, float *X, int *y)
{
    lcg_state = seed;
    double *mu = malloc(sizeof(double) * k * d);
    for (int i = 0; i < k * d; i++) mu[i] = sep * nrand();
    for (int i = 0; i < n; i++) {
        y[i] = i % k;
        for (int j = 0; j < d; j++) X[i * d + j] = (float)(mu[y[i] * d + j] + nrand() + 3.0 * j); // offsets: standardisation matters
    }
    free(mu);
}

/* ---- logistic regression ---- */

static void test_logreg_optimum(void **state)
{
    (void)state;
    enum { N = 150, D = 6, K = 3 };
    float X[N * D];
    int y[N];
    uint8_t use[N];
    blobs(N, D, K, 1.0, 7, X, y);
    for (int i = 0; i < N; i++) use[i] = i % 5 != 0;
    const double l2s[3] = {0.0, 0.05, 1.0};
    for (int t = 0; t < 3; t++) {
        ark_logreg_opts o = ARK_LOGREG_OPTS_INIT;
        o.l2 = l2s[t];
        o.tol = 1e-8;
        if (t == 0) o.l2 = 1e-3; // nearly unpenalised (the blobs overlap, so the optimum is finite)
        ark_logreg p;
        assert_int_equal(ark_logreg_fit(X, y, N, D, K, use, &o, &p), ARK_OK);
        // mean and population SD of the training rows
        for (int j = 0; j < D; j++) {
            double s1 = 0, s2 = 0;
            int m = 0;
            for (int i = 0; i < N; i++)
                if (use[i]) s1 += X[i * D + j], m++;
            s1 /= m;
            for (int i = 0; i < N; i++)
                if (use[i]) s2 += (X[i * D + j] - s1) * (X[i * D + j] - s1);
            assert_true(fabs(p.mean[j] - s1) <= 1e-5 * (1 + fabs(s1)));
            assert_true(fabs(p.std[j] - sqrt(s2 / m)) <= 1e-5 * sqrt(s2 / m));
        }
        double loss, g;
        objective_check(&p, X, y, N, use, o.l2, &loss, &g);
        if (!(g < 1e-4)) fail_msg("l2 %g: gradient norm %g at the returned weights", o.l2, g);
        if (!(fabs(loss - p.loss) < 1e-6)) fail_msg("l2 %g: loss %.9g, reported %.9g", o.l2, loss, p.loss);
        assert_true(p.converged);
        // predictions: argmax of the logits computed by hand
        int hits = 0, tot = 0;
        for (int i = 0; i < N; i++) {
            if (use[i]) continue;
            float lg[K];
            int c = ark_logreg_predict(&p, X + i * D, lg);
            for (int a = 0; a < K; a++) assert_true(lg[c] >= lg[a]);
            hits += c == y[i], tot++;
        }
        assert_true(fabs(ark_logreg_accuracy(&p, X, y, N, use, 0) - (double)hits / tot) < 1e-12);
        ark_logreg_free(&p);
    }
    // without standardisation: mean 0, std 1, still the optimum
    ark_logreg_opts o = ARK_LOGREG_OPTS_INIT;
    o.standardize = false;
    o.l2 = 0.1;
    o.tol = 1e-8;
    ark_logreg p;
    assert_int_equal(ark_logreg_fit(X, y, N, D, K, NULL, &o, &p), ARK_OK);
    double loss, g;
    objective_check(&p, X, y, N, NULL, o.l2, &loss, &g);
    assert_true(g < 1e-4);
    for (int j = 0; j < D; j++) assert_true(p.mean[j] == 0 && p.std[j] == 1);
    ark_logreg_free(&p);
}

static void test_logreg_absent_class(void **state)
{
    (void)state;
    enum { N = 90, D = 4, K = 3 };
    float X[N * D];
    int y[N];
    uint8_t use[N];
    blobs(N, D, K, 2.0, 3, X, y);
    for (int i = 0; i < N; i++) use[i] = y[i] != 1; // class 1 only in the held-out rows
    ark_logreg_opts o = ARK_LOGREG_OPTS_INIT;
    ark_logreg p;
    assert_int_equal(ark_logreg_fit(X, y, N, D, K, use, &o, &p), ARK_OK);
    assert_true(p.b[1] == ARK_PROBE_ABSENT_BIAS);
    for (int j = 0; j < D; j++) assert_true(p.W[1 * D + j] == 0);
    for (int i = 0; i < N; i++) assert_int_not_equal(ark_logreg_predict(&p, X + i * D, NULL), 1);
    double loss, g;
    objective_check(&p, X, y, N, use, o.l2, &loss, &g);
    assert_true(g < 1e-4);
    ark_logreg_free(&p);
}

static void test_logreg_errors(void **state)
{
    (void)state;
    float X[4] = {0, 1, 2, 3};
    int y[4] = {0, 1, 0, 1}, bad[4] = {0, 1, 5, 1};
    uint8_t none[4] = {0};
    ark_logreg_opts o = ARK_LOGREG_OPTS_INIT;
    ark_logreg p;
    assert_int_equal(ark_logreg_fit(X, y, 4, 1, 1, NULL, &o, &p), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "at least 2"));
    assert_int_equal(ark_logreg_fit(X, bad, 4, 1, 2, NULL, &o, &p), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "row 2"));
    assert_int_equal(ark_logreg_fit(X, y, 4, 1, 2, none, &o, &p), ARK_ERR_ARG);
    o.l2 = -1;
    assert_int_equal(ark_logreg_fit(X, y, 4, 1, 2, NULL, &o, &p), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "l2"));
}

/* ---- data, splits, control labels, directions ---- */

static void test_dataset(void **state)
{
    (void)state;
    ark_probe_dataset ds = {0};
    const char *rows[5][3] = {{"a b", "true", "x"}, {"c", "false", NULL}, {"d", "true", "y"}, {"e", "0", "x"}, {"c", "false", NULL}};
    for (int i = 0; i < 5; i++) assert_int_equal(ark_probe_dataset_add(&ds, rows[i][0], rows[i][1], rows[i][2]), ARK_OK);
    assert_int_equal(ark_probe_dataset_index(&ds), ARK_OK);
    assert_int_equal(ds.n_classes, 3);
    assert_string_equal(ds.classes[0], "0"), assert_string_equal(ds.classes[1], "false"), assert_string_equal(ds.classes[2], "true");
    const int lab[5] = {2, 1, 2, 0, 1}, ent[5] = {0, 1, 2, 0, 1};
    for (int i = 0; i < 5; i++) assert_int_equal(ds.label[i], lab[i]), assert_int_equal(ds.entity[i], ent[i]);
    assert_int_equal(ds.n_entities, 3);
    assert_string_equal(ds.entities[0], "x"), assert_string_equal(ds.entities[1], "c"), assert_string_equal(ds.entities[2], "y");
    assert_int_equal(ark_probe_dataset_add(&ds, "t", NULL, NULL), ARK_ERR_ARG);
    ark_probe_dataset_free(&ds);
}

static void test_positions(void **state)
{
    (void)state;
    const int32_t ids[5] = {7, 3, 9, 3, 1};
    int p;
    ark_probe_pos last = {ARK_PROBE_POS_LAST, 0, 0}, i2 = {ARK_PROBE_POS_INDEX, 2, 0}, im2 = {ARK_PROBE_POS_INDEX, -2, 0};
    ark_probe_pos t3 = {ARK_PROBE_POS_TOKEN, 0, 3}, t8 = {ARK_PROBE_POS_TOKEN, 0, 8}, i9 = {ARK_PROBE_POS_INDEX, 9, 0};
    assert_int_equal(ark_probe_position(&last, ids, 5, 0, &p), ARK_OK), assert_int_equal(p, 4);
    assert_int_equal(ark_probe_position(&i2, ids, 5, 0, &p), ARK_OK), assert_int_equal(p, 2);
    assert_int_equal(ark_probe_position(&im2, ids, 5, 0, &p), ARK_OK), assert_int_equal(p, 3);
    assert_int_equal(ark_probe_position(&t3, ids, 5, 0, &p), ARK_OK), assert_int_equal(p, 1);
    assert_int_equal(ark_probe_position(&t8, ids, 5, 4, &p), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "row 4"));
    assert_int_equal(ark_probe_position(&i9, ids, 5, 1, &p), ARK_ERR_ARG);
}

static void test_split_control(void **state)
{
    (void)state;
    enum { E = 40, R = 3, N = E * R };
    int entity[N], label[N], ctrl[N], ctrl2[N];
    uint8_t t1[N], t2[N], t3[N];
    for (int i = 0; i < N; i++) entity[i] = (i * 7) % E, label[i] = entity[i] % 4;
    assert_int_equal(ark_probe_split(entity, N, E, 0.25, 11, t1), ARK_OK);
    assert_int_equal(ark_probe_split(entity, N, E, 0.25, 11, t2), ARK_OK);
    assert_int_equal(ark_probe_split(entity, N, E, 0.25, 12, t3), ARK_OK);
    int side[E], ntest = 0, differ = 0;
    for (int e = 0; e < E; e++) side[e] = -1;
    for (int i = 0; i < N; i++) {
        if (side[entity[i]] < 0) side[entity[i]] = t1[i], ntest += t1[i];
        assert_int_equal(side[entity[i]], t1[i]); // an entity on one side only
        assert_int_equal(t1[i], t2[i]);
        differ += t1[i] != t3[i];
    }
    assert_int_equal(ntest, 10);
    assert_true(differ > 0);
    assert_int_equal(ark_probe_split(entity, N, E, 0, 1, t1), ARK_OK);
    for (int i = 0; i < N; i++) assert_int_equal(t1[i], 0);
    assert_int_equal(ark_probe_split(entity, N, E, 1.0, 1, t1), ARK_ERR_ARG);
    assert_int_equal(ark_probe_split(entity, N, E, 0.001, 1, t1), ARK_OK); // at least one test entity
    ntest = 0;
    for (int i = 0; i < N; i++) ntest += t1[i];
    assert_int_equal(ntest, R);
    // control: one label per entity, the entities' labels permuted
    assert_int_equal(ark_probe_control_labels(label, entity, N, E, 5, ctrl), ARK_OK);
    assert_int_equal(ark_probe_control_labels(label, entity, N, E, 5, ctrl2), ARK_OK);
    int per[E], cnt_task[4] = {0}, cnt_ctrl[4] = {0}, moved = 0;
    for (int e = 0; e < E; e++) per[e] = -1;
    for (int i = 0; i < N; i++) {
        if (per[entity[i]] < 0) per[entity[i]] = ctrl[i], cnt_ctrl[ctrl[i]]++, cnt_task[label[i]]++, moved += ctrl[i] != label[i];
        assert_int_equal(per[entity[i]], ctrl[i]);
        assert_int_equal(ctrl[i], ctrl2[i]);
    }
    for (int c = 0; c < 4; c++) assert_int_equal(cnt_task[c], cnt_ctrl[c]);
    assert_true(moved > E / 2);
}

static void test_directions(void **state)
{
    (void)state;
    // rows: class 0 at (1,0), (3,0); class 1 at (0,2); class 2 at (0,-4)
    const float X[8] = {1, 0, 3, 0, 0, 2, 0, -4};
    const int y[4] = {0, 0, 1, 2};
    float dom[6], v[2];
    assert_int_equal(ark_probe_dom(X, y, 4, 2, 3, NULL, 0, dom), ARK_OK);
    // class 0: (2,0) - (0,-1) = (2,1); class 1: (0,2) - (4/3,-4/3) = (-4/3,10/3); class 2: (0,-4) - (4/3,2/3)
    const double want[3][2] = {{2, 1}, {-4.0 / 3, 10.0 / 3}, {-4.0 / 3, -14.0 / 3}};
    for (int c = 0; c < 3; c++) {
        double nn = hypot(want[c][0], want[c][1]);
        for (int j = 0; j < 2; j++) assert_true(fabs(dom[c * 2 + j] - want[c][j] / nn) < 1e-6);
    }
    double thr;
    assert_int_equal(ark_probe_mean_difference(X, y, 4, 2, 1, 0, NULL, 0, v, &thr), ARK_OK);
    // (0,2) - (2,0) = (-2,2) -> unit (-1,1)/sqrt2; projections: class 1 sqrt2, class 0 -sqrt2 -> midpoint 0
    assert_true(fabs(v[0] + M_SQRT1_2) < 1e-6 && fabs(v[1] - M_SQRT1_2) < 1e-6);
    assert_true(fabs(thr) < 1e-6);
    // true/false statistics by hand: true 3,4,5 / false 1,2,6 along u = (2) (unit: 1)
    const float xt[3] = {3, 4, 5}, xf[3] = {1, 2, 6}, u[1] = {2};
    ark_truth_stats s;
    assert_int_equal(ark_truth_stats_compute(xt, xf, 3, 1, u, NULL, 0, NAN, &s), ARK_OK);
    assert_int_equal(s.n_pairs, 3);
    assert_true(fabs(s.mean_difference - 1) < 1e-12);
    assert_true(fabs(s.pooled_sd - 2) < 1e-12);   // sqrt((1 + 7) / 2)
    assert_true(fabs(s.separation - 0.5) < 1e-12);
    assert_true(fabs(s.pair_accuracy - 2.0 / 3) < 1e-12);
    assert_true(fabs(s.threshold - 3.5) < 1e-12);
    assert_true(fabs(s.sign_accuracy - 4.0 / 6) < 1e-12);
    const float zero[1] = {0};
    assert_int_equal(ark_truth_stats_compute(xt, xf, 3, 1, zero, NULL, 0, NAN, &s), ARK_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logreg_optimum),    cmocka_unit_test(test_logreg_absent_class),
        cmocka_unit_test(test_logreg_errors),     cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_positions),         cmocka_unit_test(test_split_control),
        cmocka_unit_test(test_directions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
