/* Plot data from tools' JSON results (the docs/tools pages), per plot type.
 * Each extractor finds the first object (depth first, so a bench run's
 * {"tools": [{"result": ...}]} works too) holding the fields it reads:
 *
 *   attention, attention_grid  attention tool "patterns": rows[r].patterns
 *                              [layer][head][q][k], str_tokens, layers, heads
 *   head_scores                attention "detect": detectors.{score}
 *                              [layer][head]; "ablation": effects; logit tool
 *                              by head: parts "LlHh"
 *   composition                composer: modes.{mode}.scores [L][H][L][H]
 *   patching                   patching "sweep": normalised, axes, clean_tokens
 *   causal_trace               causal "trace": facts[i].p_restored, tokens,
 *                              subject_span, rows (the restored states)
 *   logit_lens                 logit_lens: rows[r].positions[p].points[i].top[0]
 *   attribution                logit: rows[r].parts[{label, attribution}]
 *   residual_stream            residual: rows[r].points, norm [point][pos]
 *   feature_density            "densities" (or "density") [features] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/plot_internal.h"

static int spec_int(const pl_spec *s, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->json, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static const char *spec_str(const pl_spec *s, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->json, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char **numbered(int n, const char *fmt)
{
    char **s = calloc(n, sizeof *s), buf[32];
    for (int i = 0; i < n; i++) snprintf(buf, sizeof buf, fmt, i), s[i] = strdup(buf);
    return s;
}

/* A 2-D numeric array into a fresh one-matrix d. */
static ark_status matrix_of(const cJSON *m, const char *what, pl_data *d)
{
    int dims[2];
    if (pl_dims(m, dims, 2) != 2) return ark_fail(ARK_ERR_ARG, "data %s: expected a matrix", what);
    ARK_TRY(pl_data_alloc(d, 1, dims[0], dims[1]));
    int r = 0;
    for (const cJSON *row = m->child; row; row = row->next, r++)
        if (!pl_floats(row, pl_at(d, 0, r, 0), d->cols)) return ark_fail(ARK_ERR_ARG, "data %s: row %d is not %d numbers", what, r, d->cols);
    return ARK_OK;
}

/* The index of value v in a JSON list of numbers (or v itself without one). */
static int index_in(const cJSON *list, int v, int n)
{
    int i = 0;
    if (!cJSON_IsArray(list)) return v < 0 ? v + n : v;
    for (const cJSON *it = list->child; it; it = it->next, i++)
        if (cJSON_IsNumber(it) && (it->valueint == v || it->valueint == v + n)) return i;
    return -1;
}

static ark_status from_patterns(const cJSON *res, const pl_spec *s, bool grid, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "patterns"), *top = pl_find_key(res, "heads");
    if (!o) return ARK_ERR_MISSING;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "patterns");
    int dims[4];
    if (pl_dims(p, dims, 4) != 4) return ark_fail(ARK_ERR_ARG, "data \"patterns\": expected [layer][head][q][k]");
    const cJSON *layers = top ? cJSON_GetObjectItemCaseSensitive(top, "layers") : NULL;
    const cJSON *heads = top ? cJSON_GetObjectItemCaseSensitive(top, "heads") : NULL;
    int lv = spec_int(s, "layer", cJSON_IsArray(layers) && layers->child ? layers->child->valueint : 0);
    int li = index_in(layers, lv, dims[0]);
    if (li < 0 || li >= dims[0]) return ark_fail(ARK_ERR_ARG, "spec \"layer\": %d is not among the result's layers", lv);
    int h0 = 0, h1 = dims[1];
    if (!grid) {
        int hv = spec_int(s, "head", cJSON_IsArray(heads) && heads->child ? heads->child->valueint : 0);
        h0 = index_in(heads, hv, dims[1]);
        if (h0 < 0 || h0 >= dims[1]) return ark_fail(ARK_ERR_ARG, "spec \"head\": %d is not among the result's heads", hv);
        h1 = h0 + 1;
    }
    ARK_TRY(pl_data_alloc(d, h1 - h0, dims[2], dims[3]));
    d->titles = calloc(d->n, sizeof *d->titles);
    const cJSON *lay = cJSON_GetArrayItem(p, li);
    for (int h = h0; h < h1; h++) {
        const cJSON *m = cJSON_GetArrayItem(lay, h);
        int r = 0;
        for (const cJSON *row = m->child; row; row = row->next, r++)
            if (!pl_floats(row, pl_at(d, h - h0, r, 0), d->cols)) return ark_fail(ARK_ERR_ARG, "data \"patterns\": ragged");
        char buf[32];
        const cJSON *hn = cJSON_GetArrayItem(heads, h), *ln = cJSON_GetArrayItem(layers, li);
        snprintf(buf, sizeof buf, "L%dH%d", ln ? ln->valueint : li, hn ? hn->valueint : h);
        d->titles[h - h0] = strdup(buf);
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "str_tokens");
    d->row_labels = pl_strings(st, d->rows);
    d->col_labels = pl_strings(st, d->cols);
    if (!grid) d->title = strdup(d->titles[0]);
    return ARK_OK;
}

static ark_status from_head_scores(const cJSON *res, const pl_spec *s, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "detectors");
    if (o) {
        const cJSON *det = cJSON_GetObjectItemCaseSensitive(o, "detectors");
        const char *want = spec_str(s, "score");
        const cJSON *m = want ? cJSON_GetObjectItemCaseSensitive(det, want) : cJSON_GetObjectItemCaseSensitive(det, "induction");
        if (!m && !want) m = det->child;
        if (!m) return ark_fail(ARK_ERR_ARG, "spec \"score\": \"%s\" is not among the result's detectors", want);
        ARK_TRY(matrix_of(m, "detectors", d));
        char buf[96];
        snprintf(buf, sizeof buf, "%s head scores", m->string);
        d->title = strdup(buf);
    } else if ((o = pl_find_key(res, "effects"))) {
        ARK_TRY(matrix_of(cJSON_GetObjectItemCaseSensitive(o, "effects"), "effects", d));
        d->title = strdup("per-head ablation effect on the metric");
        d->value_label = strdup("metric(ablated) - metric(clean)");
    } else if ((o = pl_find_key(res, "parts"))) {
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(o, "parts"), *p;
        int L = 0, H = 0, l, h;
        cJSON_ArrayForEach(p, parts) {
            const cJSON *lab = cJSON_GetObjectItemCaseSensitive(p, "label");
            if (cJSON_IsString(lab) && sscanf(lab->valuestring, "L%dH%d", &l, &h) == 2) L = l + 1 > L ? l + 1 : L, H = h + 1 > H ? h + 1 : H;
        }
        if (!L) return ark_fail(ARK_ERR_ARG, "data \"parts\": no per-head parts (run the logit tool with by = head)");
        ARK_TRY(pl_data_alloc(d, 1, L, H));
        cJSON_ArrayForEach(p, parts) {
            const cJSON *lab = cJSON_GetObjectItemCaseSensitive(p, "label"), *a = cJSON_GetObjectItemCaseSensitive(p, "attribution");
            if (cJSON_IsString(lab) && cJSON_IsNumber(a) && sscanf(lab->valuestring, "L%dH%d", &l, &h) == 2) *pl_at(d, 0, l, h) = (float)a->valuedouble;
        }
        d->title = strdup("direct logit attribution per head");
    } else {
        return ARK_ERR_MISSING;
    }
    d->row_labels = numbered(d->rows, "%d");
    d->col_labels = numbered(d->cols, "%d");
    return ARK_OK;
}

static ark_status from_composition(const cJSON *res, const pl_spec *s, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "modes");
    if (!o) return ARK_ERR_MISSING;
    const cJSON *modes = cJSON_GetObjectItemCaseSensitive(o, "modes"), *m = NULL;
    const char *want = spec_str(s, "mode");
    m = want ? cJSON_GetObjectItemCaseSensitive(modes, want) : modes->child;
    const cJSON *sc = m ? cJSON_GetObjectItemCaseSensitive(m, "scores") : NULL;
    int dims[4];
    if (pl_dims(sc, dims, 4) != 4 || dims[0] != dims[2] || dims[1] != dims[3])
        return ark_fail(ARK_ERR_ARG, "data \"modes\": no %s scores [L][H][L][H] (run the composer with include_scores)", want ? want : "");
    int L = dims[0], H = dims[1], N = L * H;
    ARK_TRY(pl_data_alloc(d, 1, N, N));
    int a = 0;
    for (const cJSON *la = sc->child; la; la = la->next)
        for (const cJSON *ha = la->child; ha; ha = ha->next, a++) {
            int b = 0;
            for (const cJSON *lb = ha->child; lb; lb = lb->next)
                for (const cJSON *hb = lb->child; hb; hb = hb->next, b++)
                    if (cJSON_IsNumber(hb) && b / H > a / H) *pl_at(d, 0, a, b) = (float)hb->valuedouble;
        }
    d->row_labels = calloc(N, sizeof *d->row_labels);
    d->col_labels = calloc(N, sizeof *d->col_labels);
    for (int i = 0; i < N; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "L%dH%d", i / H, i % H);
        d->row_labels[i] = strdup(buf), d->col_labels[i] = strdup(buf);
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%s-composition scores", m->string);
    d->title = strdup(buf);
    return ARK_OK;
}

static ark_status from_patching(const cJSON *res, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "normalised");
    if (!o) return ARK_ERR_MISSING;
    ARK_TRY(matrix_of(cJSON_GetObjectItemCaseSensitive(o, "normalised"), "normalised", d));
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(o, "axes");
    const cJSON *ax1 = cJSON_GetArrayItem(axes, 1);
    d->row_labels = numbered(d->rows, "%d");
    if (cJSON_IsString(ax1) && !strcmp(ax1->valuestring, "position"))
        d->col_labels = pl_strings(cJSON_GetObjectItemCaseSensitive(o, "clean_tokens"), d->cols);
    if (!d->col_labels) d->col_labels = numbered(d->cols, "%d");
    if (cJSON_IsString(ax1)) d->x_label = strdup(ax1->valuestring);
    const cJSON *what = cJSON_GetObjectItemCaseSensitive(o, "what");
    char buf[128];
    snprintf(buf, sizeof buf, "activation patching: %s", cJSON_IsString(what) ? what->valuestring : "");
    d->title = strdup(buf);
    d->value_label = strdup("normalised metric");
    return ARK_OK;
}

static ark_status from_causal(const cJSON *res, const pl_spec *s, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "p_restored");
    if (!o) return ARK_ERR_MISSING;
    const cJSON *facts = pl_find_key(res, "facts");
    int fi = spec_int(s, "fact", 0);
    if (facts) {
        const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(facts, "facts"), fi);
        if (!f) return ark_fail(ARK_ERR_ARG, "spec \"fact\": %d is out of range", fi);
        o = f;
    }
    ARK_TRY(matrix_of(cJSON_GetObjectItemCaseSensitive(o, "p_restored"), "p_restored", d));
    const cJSON *rows = pl_find_key(res, "rows");
    if (rows) d->row_labels = pl_strings(cJSON_GetObjectItemCaseSensitive(rows, "rows"), d->rows);
    d->col_labels = pl_strings(cJSON_GetObjectItemCaseSensitive(o, "tokens"), d->cols);
    int span[2];
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "subject_span");
    if (pl_dims(sp, span, 1) == 1 && span[0] == 2) {
        int a = cJSON_GetArrayItem(sp, 0)->valueint, b = cJSON_GetArrayItem(sp, 1)->valueint;
        d->n_marks = b > a ? b - a : 0;
        d->marks = calloc(d->n_marks + 1, sizeof *d->marks);
        for (int i = 0; i < d->n_marks; i++) d->marks[i] = a + i;
    }
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answer");
    char buf[256];
    snprintf(buf, sizeof buf, "causal trace: p(\"%s\") with one state restored", cJSON_IsString(ans) ? ans->valuestring : "answer");
    d->title = strdup(buf);
    return ARK_OK;
}

static ark_status from_lens(const cJSON *res, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "positions");
    const cJSON *pos = o ? cJSON_GetObjectItemCaseSensitive(o, "positions") : NULL;
    const cJSON *p0 = cJSON_GetArrayItem(pos, 0);
    const cJSON *pts0 = cJSON_GetObjectItemCaseSensitive(p0, "points");
    if (!cJSON_IsArray(pts0)) return ARK_ERR_MISSING;
    int P = cJSON_GetArraySize(pos), N = cJSON_GetArraySize(pts0);
    ARK_TRY(pl_data_alloc(d, 1, N, P));
    d->cell_text = calloc((size_t)N * P, sizeof *d->cell_text);
    d->row_labels = calloc(N, sizeof *d->row_labels);
    int p = 0;
    for (const cJSON *pp = pos->child; pp; pp = pp->next, p++) {
        int i = 0;
        for (const cJSON *pt = cJSON_GetObjectItemCaseSensitive(pp, "points")->child; pt && i < N; pt = pt->next, i++) {
            const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pt, "top"), 0);
            const cJSON *pr = cJSON_GetObjectItemCaseSensitive(t0, "prob"), *tk = cJSON_GetObjectItemCaseSensitive(t0, "token");
            if (cJSON_IsNumber(pr)) *pl_at(d, 0, i, p) = (float)pr->valuedouble;
            if (cJSON_IsString(tk)) d->cell_text[(size_t)i * P + p] = strdup(tk->valuestring);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(pt, "point");
            if (!d->row_labels[i] && cJSON_IsString(name)) d->row_labels[i] = strdup(name->valuestring);
        }
    }
    d->col_labels = pl_strings(cJSON_GetObjectItemCaseSensitive(o, "str_tokens"), P);
    d->title = strdup("logit lens: top prediction at each layer");
    return ARK_OK;
}

static ark_status from_parts(const cJSON *res, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "parts");
    const cJSON *parts = o ? cJSON_GetObjectItemCaseSensitive(o, "parts") : NULL;
    if (!cJSON_IsArray(parts) || !cJSON_IsObject(parts->child)) return ARK_ERR_MISSING;
    int n = cJSON_GetArraySize(parts), i = 0;
    ARK_TRY(pl_data_alloc(d, 1, 1, n));
    d->col_labels = calloc(n, sizeof *d->col_labels);
    for (const cJSON *p = parts->child; p; p = p->next, i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "attribution"), *l = cJSON_GetObjectItemCaseSensitive(p, "label");
        if (cJSON_IsNumber(a)) d->v[i] = (float)a->valuedouble;
        if (cJSON_IsString(l)) d->col_labels[i] = strdup(l->valuestring);
    }
    const cJSON *t = pl_find_key(res, "target");
    const cJSON *tok = t ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "target"), "token") : NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "direct logit attribution to \"%s\"", cJSON_IsString(tok) ? tok->valuestring : "?");
    d->title = strdup(buf);
    return ARK_OK;
}

static ark_status from_residual(const cJSON *res, pl_data *d)
{
    const cJSON *o = pl_find_key(res, "points");
    const cJSON *pts = o ? cJSON_GetObjectItemCaseSensitive(o, "points") : NULL;
    const cJSON *norm = o ? cJSON_GetObjectItemCaseSensitive(o, "norm") : NULL;
    int dims[2];
    if (!cJSON_IsArray(pts) || pl_dims(norm, dims, 2) != 2 || dims[0] != cJSON_GetArraySize(pts)) return ARK_ERR_MISSING;
    int N = dims[0], P = dims[1];
    ARK_TRY(pl_data_alloc(d, 1, 2, N));
    float *row = malloc(sizeof *row * P);
    int i = 0;
    for (const cJSON *r = norm->child; r; r = r->next, i++) {
        if (!pl_floats(r, row, P)) { free(row); return ark_fail(ARK_ERR_ARG, "data \"norm\": ragged"); }
        double m = 0;
        for (int p = 0; p < P; p++) m += row[p] / P;
        *pl_at(d, 0, 0, i) = (float)m, *pl_at(d, 0, 1, i) = row[P - 1];
    }
    free(row);
    d->col_labels = pl_strings(pts, N);
    d->row_labels = calloc(2, sizeof *d->row_labels);
    d->row_labels[0] = strdup("mean over positions");
    d->row_labels[1] = strdup("last position");
    d->title = strdup("residual stream norm by layer");
    return ARK_OK;
}

static ark_status from_density(const cJSON *res, pl_data *d)
{
    const char *keys[] = {"densities", "density", "feature_density"};
    for (int k = 0; k < 3; k++) {
        const cJSON *o = pl_find_key(res, keys[k]);
        if (!o) continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
        int n = cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || !n) continue;
        ARK_TRY(pl_data_alloc(d, 1, 1, n));
        if (!pl_floats(v, d->v, n)) return ark_fail(ARK_ERR_ARG, "data \"%s\": expected numbers", keys[k]);
        return ARK_OK;
    }
    return ARK_ERR_MISSING;
}

ark_status pl_data_from_result(const char *type, const cJSON *result, const pl_spec *s, pl_data *d)
{
    memset(d, 0, sizeof *d);
    d->is_signed = -1;
    ark_status st = ARK_ERR_MISSING;
    if (!strcmp(type, "attention")) st = from_patterns(result, s, false, d);
    else if (!strcmp(type, "attention_grid")) st = from_patterns(result, s, true, d);
    else if (!strcmp(type, "head_scores")) st = from_head_scores(result, s, d);
    else if (!strcmp(type, "composition")) st = from_composition(result, s, d);
    else if (!strcmp(type, "patching")) st = from_patching(result, d);
    else if (!strcmp(type, "causal_trace")) st = from_causal(result, s, d);
    else if (!strcmp(type, "logit_lens")) st = from_lens(result, d);
    else if (!strcmp(type, "attribution")) st = from_parts(result, d);
    else if (!strcmp(type, "residual_stream")) st = from_residual(result, d);
    else if (!strcmp(type, "feature_density")) st = from_density(result, d);
    if (st != ARK_OK) pl_data_free(d);
    return st;
}
