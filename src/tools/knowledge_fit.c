/* A probe per layer (task, control, difference of means), saved probes and
 * the true/false separation (include/arrakis/tool_knowledge.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/safetensors.h"
#include "arrakis/tool_knowledge.h"
#include "core/error.h"
#include "io/fileio.h"

void ark_probe_result_free(ark_probe_result *r)
{
    if (!r) return;
    ark_logreg_free(&r->probe);
    ark_logreg_free(&r->control);
    free(r->dom);
    free(r->vector);
    memset(r, 0, sizeof *r);
}

/* Accuracy of the difference-of-means classifier (two classes). */
static double dom_accuracy(const float *X, const int *y, int n, int d, const float *v, double thr, const uint8_t *is_test,
                           uint8_t want)
{
    int hit = 0, tot = 0;
    for (int i = 0; i < n; i++) {
        if (is_test[i] != want || (y[i] != 0 && y[i] != 1)) continue;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)X[(size_t)i * d + j] * v[j];
        hit += (s > thr ? 1 : 0) == y[i];
        tot++;
    }
    return tot ? (double)hit / tot : NAN;
}

ark_status ark_probe_fit(const float *X, int n, int d, const int *y, const int *ctrl, int k, const uint8_t *is_test,
                         const ark_probe_opts *o, ark_probe_result *out)
{
    memset(out, 0, sizeof *out);
    out->layer = -1;
    uint8_t *train = malloc(n ? n : 1);
    if (!train) return ark_fail(ARK_ERR_NOMEM, "probe: out of memory");
    for (int i = 0; i < n; i++) {
        train[i] = !is_test[i];
        out->n_train += train[i];
    }
    out->n_test = n - out->n_train;
    ark_status s = ark_logreg_fit(X, y, n, d, k, train, &o->fit, &out->probe);
    if (s == ARK_OK && o->control && ctrl) s = ark_logreg_fit(X, ctrl, n, d, k, train, &o->fit, &out->control);
    out->train_acc = out->test_acc = out->control_train_acc = out->control_test_acc = out->selectivity = NAN;
    out->dom_threshold = out->dom_train_acc = out->dom_test_acc = NAN;
    if (s == ARK_OK) {
        out->train_acc = ark_logreg_accuracy(&out->probe, X, y, n, is_test, 0);
        out->test_acc = ark_logreg_accuracy(&out->probe, X, y, n, is_test, 1);
        if (out->control.W) {
            out->control_train_acc = ark_logreg_accuracy(&out->control, X, ctrl, n, is_test, 0);
            out->control_test_acc = ark_logreg_accuracy(&out->control, X, ctrl, n, is_test, 1);
            out->selectivity = out->test_acc - out->control_test_acc;
        }
        out->dom = malloc(sizeof(float) * (size_t)k * d);
        s = out->dom ? ark_probe_dom(X, y, n, d, k, is_test, 0, out->dom) : ark_fail(ARK_ERR_NOMEM, "probe: out of memory");
    }
    if (s == ARK_OK && k == 2) {
        out->vector = malloc(sizeof(float) * d);
        s = out->vector ? ark_probe_mean_difference(X, y, n, d, 1, 0, is_test, 0, out->vector, &out->dom_threshold)
                        : ark_fail(ARK_ERR_NOMEM, "probe: out of memory");
        if (s == ARK_OK) {
            out->dom_train_acc = dom_accuracy(X, y, n, d, out->vector, out->dom_threshold, is_test, 0);
            out->dom_test_acc = dom_accuracy(X, y, n, d, out->vector, out->dom_threshold, is_test, 1);
        }
    }
    free(train);
    if (s != ARK_OK) ark_probe_result_free(out);
    return s;
}

/* ---- saving ---- */

static void add_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static ark_status save_sidecar(const ark_probe_result *r, const char *const *classes, int k, const char *hook,
                               const char *pos_desc, double l2, const char *path)
{
    cJSON *o = cJSON_CreateObject(), *cl = cJSON_AddArrayToObject(o, "classes");
    cJSON_AddStringToObject(o, "kind", "arrakis linear probe");
    cJSON_AddStringToObject(o, "hook", hook ? hook : "");
    cJSON_AddNumberToObject(o, "layer", r->layer);
    cJSON_AddStringToObject(o, "position", pos_desc ? pos_desc : "last");
    for (int c = 0; c < k; c++) cJSON_AddItemToArray(cl, cJSON_CreateString(classes[c]));
    cJSON_AddNumberToObject(o, "d", r->probe.d);
    cJSON_AddNumberToObject(o, "l2", l2);
    cJSON_AddStringToObject(o, "objective", "mean cross-entropy + l2/2 ||W||^2 on z = (x - mean) / std; logits = W z + b");
    cJSON_AddStringToObject(o, "tensors", k == 2 ? "W [k, d], b [k], mean [d], std [d], dom [k, d], vector [d]"
                                                 : "W [k, d], b [k], mean [d], std [d], dom [k, d]");
    if (k == 2) cJSON_AddStringToObject(o, "vector", "unit mean difference: classes[1] - classes[0]");
    add_num(o, "train_accuracy", r->train_acc);
    add_num(o, "test_accuracy", r->test_acc);
    add_num(o, "control_test_accuracy", r->control_test_acc);
    add_num(o, "selectivity", r->selectivity);
    cJSON_AddNumberToObject(o, "n_train", r->n_train);
    cJSON_AddNumberToObject(o, "n_test", r->n_test);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return ark_fail(ARK_ERR_NOMEM, "out of memory writing %s", path);
    ark_status s = ark_write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

ark_status ark_probe_save(const ark_probe_result *r, const char *const *classes, int k, const char *hook,
                          const char *pos_desc, double l2, const char *stem)
{
    const ark_logreg *p = &r->probe;
    if (!p->W || p->k != k) return ark_fail(ARK_ERR_ARG, "probe: nothing fit to save (or %d classes named for %d)", k, p->k);
    size_t ls = strlen(stem);
    char *path = malloc(ls + 16);
    if (!path) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    ark_st_writer *w = ark_st_writer_new();
    int64_t kd[2] = {k, p->d}, kk[1] = {k}, dd[1] = {p->d};
    ark_status s = ark_st_writer_add_f32(w, "W", ARK_F32, p->W, 2, kd);
    if (s == ARK_OK) s = ark_st_writer_add_f32(w, "b", ARK_F32, p->b, 1, kk);
    if (s == ARK_OK) s = ark_st_writer_add_f32(w, "mean", ARK_F32, p->mean, 1, dd);
    if (s == ARK_OK) s = ark_st_writer_add_f32(w, "std", ARK_F32, p->std, 1, dd);
    if (s == ARK_OK && r->dom) s = ark_st_writer_add_f32(w, "dom", ARK_F32, r->dom, 2, kd);
    if (s == ARK_OK && r->vector) s = ark_st_writer_add_f32(w, "vector", ARK_F32, r->vector, 1, dd);
    if (s == ARK_OK && hook) s = ark_st_writer_set_metadata(w, "hook", hook);
    sprintf(path, "%s.safetensors", stem);
    if (s == ARK_OK) s = ark_st_writer_save(w, path);
    ark_st_writer_free(w);
    sprintf(path, "%s.json", stem);
    if (s == ARK_OK) s = save_sidecar(r, classes, k, hook, pos_desc, l2, path);
    free(path);
    return s;
}

/* ---- true/false statements ---- */

void ark_truth_stats_scores(const double *s_true, const double *s_false, int n, const uint8_t *use, uint8_t want,
                            double threshold, ark_truth_stats *out)
{
    memset(out, 0, sizeof *out);
    int m = 0, pairs_ok = 0;
    double mt = 0, mf = 0;
    for (int i = 0; i < n; i++) {
        if (use && use[i] != want) continue;
        mt += s_true[i], mf += s_false[i];
        pairs_ok += s_true[i] > s_false[i];
        m++;
    }
    out->n_pairs = m;
    out->mean_true = out->mean_false = out->mean_difference = out->pooled_sd = out->separation = NAN;
    out->pair_accuracy = out->sign_accuracy = out->threshold = NAN;
    if (!m) return;
    mt /= m, mf /= m;
    double vt = 0, vf = 0;
    for (int i = 0; i < n; i++) {
        if (use && use[i] != want) continue;
        vt += (s_true[i] - mt) * (s_true[i] - mt), vf += (s_false[i] - mf) * (s_false[i] - mf);
    }
    vt = m > 1 ? vt / (m - 1) : NAN;
    vf = m > 1 ? vf / (m - 1) : NAN;
    out->mean_true = mt, out->mean_false = mf, out->mean_difference = mt - mf;
    out->pooled_sd = sqrt((vt + vf) / 2);
    out->separation = out->pooled_sd > 0 ? out->mean_difference / out->pooled_sd : NAN;
    out->pair_accuracy = (double)pairs_ok / m;
    out->threshold = isnan(threshold) ? 0.5 * (mt + mf) : threshold;
    int side = 0;
    for (int i = 0; i < n; i++)
        if (!use || use[i] == want) side += (s_true[i] > out->threshold) + (s_false[i] <= out->threshold);
    out->sign_accuracy = (double)side / (2.0 * m);
}

ark_status ark_truth_stats_compute(const float *x_true, const float *x_false, int n, int d, const float *u,
                                   const uint8_t *use, uint8_t want, double threshold, ark_truth_stats *out)
{
    memset(out, 0, sizeof *out);
    double un = 0;
    for (int j = 0; j < d; j++) un += (double)u[j] * u[j];
    un = sqrt(un);
    if (!(un > 0)) return ark_fail(ARK_ERR_ARG, "direction: zero vector");
    double *st = malloc(sizeof(double) * 2 * (n ? n : 1)), *sf = st + (n ? n : 1);
    if (!st) return ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        double a = 0, b = 0;
        for (int j = 0; j < d; j++) a += (double)x_true[(size_t)i * d + j] * u[j], b += (double)x_false[(size_t)i * d + j] * u[j];
        st[i] = a / un, sf[i] = b / un;
    }
    ark_truth_stats_scores(st, sf, n, use, want, threshold, out);
    free(st);
    return ARK_OK;
}
