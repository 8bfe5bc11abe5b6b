/* Plot data: the plain JSON form and helpers for reading tools' results.
 *
 *   {"matrix": [[...]]}          one (rows, cols) matrix
 *   {"matrices": [[[...]]]}      n matrices of one shape (a grid)
 *   {"values": [...]}            one row
 *   {"series": [{"name", "values"}, ...]}  rows named by the series
 * with optional "row_labels", "col_labels" ("x_labels" for series,
 * "labels" for values), "tokens" (labels for whichever axis has as many
 * entries), "titles", "cell_text", "marks", "title", "x_label", "y_label",
 * "value_label", "signed".  null numbers are missing values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/plot_internal.h"

void pl_strings_free(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

void pl_data_free(pl_data *d)
{
    free(d->v);
    pl_strings_free(d->row_labels, d->rows);
    pl_strings_free(d->col_labels, d->cols);
    pl_strings_free(d->titles, d->n);
    pl_strings_free(d->cell_text, d->rows * d->cols);
    free(d->marks);
    free(d->title);
    free(d->x_label);
    free(d->y_label);
    free(d->value_label);
    memset(d, 0, sizeof *d);
    d->is_signed = -1;
}

ark_status pl_data_alloc(pl_data *d, int n, int rows, int cols)
{
    if (n < 1 || rows < 1 || cols < 1) return ark_fail(ARK_ERR_ARG, "data: empty (%d x %d x %d)", n, rows, cols);
    if ((double)n * rows * cols > 64e6) return ark_fail(ARK_ERR_ARG, "data: %d x %d x %d values is too many to plot", n, rows, cols);
    d->n = n, d->rows = rows, d->cols = cols;
    long total = (long)n * rows * cols;
    d->v = malloc(sizeof *d->v * total);
    if (!d->v) return ark_fail(ARK_ERR_NOMEM, "data: out of memory");
    for (long i = 0; i < total; i++) d->v[i] = NAN;
    return ARK_OK;
}

float *pl_at(const pl_data *d, int k, int r, int c)
{
    return d->v + ((long)k * d->rows + r) * d->cols + c;
}

int pl_dims(const cJSON *arr, int *dims, int max)
{
    int nd = 0;
    while (cJSON_IsArray(arr) && nd < max) {
        dims[nd++] = cJSON_GetArraySize(arr);
        arr = arr->child;
        if (!arr) break;
    }
    return nd;
}

bool pl_floats(const cJSON *arr, float *out, int n)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return false;
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        if (cJSON_IsNumber(it)) out[i] = (float)it->valuedouble;
        else if (cJSON_IsNull(it)) out[i] = NAN;
        else return false;
    }
    return true;
}

char **pl_strings(const cJSON *arr, int n)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return NULL;
    char **s = calloc(n, sizeof *s);
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        if (cJSON_IsString(it)) s[i] = strdup(it->valuestring);
        else if (cJSON_IsNumber(it)) {
            char buf[32];
            pl_fmt_num(it->valuedouble, buf, sizeof buf);
            s[i] = strdup(buf);
        }
    }
    return s;
}

const cJSON *pl_find_key(const cJSON *j, const char *key)
{
    if (!j) return NULL;
    if (cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, key)) return j;
    if (cJSON_IsObject(j) || cJSON_IsArray(j))
        for (const cJSON *it = j->child; it; it = it->next) {
            const cJSON *r = pl_find_key(it, key);
            if (r) return r;
        }
    return NULL;
}

static char *dup_str(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/* Rows of a 2-D array into matrix k. */
static ark_status read_matrix(const cJSON *m, pl_data *d, int k, const char *field)
{
    int r = 0;
    for (const cJSON *row = m->child; row; row = row->next, r++)
        if (!pl_floats(row, pl_at(d, k, r, 0), d->cols))
            return ark_fail(ARK_ERR_ARG, "data \"%s\": row %d is not %d numbers", field, r, d->cols);
    return ARK_OK;
}

static ark_status plain_values(const cJSON *j, pl_data *d)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "matrix");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "matrices");
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "values");
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(j, "series");
    int dims[4] = {0};
    if (m) {
        if (pl_dims(m, dims, 2) != 2) return ark_fail(ARK_ERR_ARG, "data \"matrix\": expected an array of rows of numbers");
        ARK_TRY(pl_data_alloc(d, 1, dims[0], dims[1]));
        return read_matrix(m, d, 0, "matrix");
    }
    if (ms) {
        if (pl_dims(ms, dims, 3) != 3)
            return ark_fail(ARK_ERR_ARG, "data \"matrices\": expected an array of matrices (n, rows, cols)");
        ARK_TRY(pl_data_alloc(d, dims[0], dims[1], dims[2]));
        int k = 0;
        for (const cJSON *mk = ms->child; mk; mk = mk->next, k++) {
            if (cJSON_GetArraySize(mk) != d->rows)
                return ark_fail(ARK_ERR_ARG, "data \"matrices\": matrix %d has %d rows, expected %d", k, cJSON_GetArraySize(mk), d->rows);
            ARK_TRY(read_matrix(mk, d, k, "matrices"));
        }
        return ARK_OK;
    }
    if (vs) {
        if (pl_dims(vs, dims, 1) != 1) return ark_fail(ARK_ERR_ARG, "data \"values\": expected an array of numbers");
        ARK_TRY(pl_data_alloc(d, 1, 1, dims[0]));
        if (!pl_floats(vs, d->v, d->cols)) return ark_fail(ARK_ERR_ARG, "data \"values\": expected numbers (or null)");
        return ARK_OK;
    }
    if (se) {
        int rows = cJSON_GetArraySize(se), cols = 0;
        if (!cJSON_IsArray(se) || !rows) return ark_fail(ARK_ERR_ARG, "data \"series\": expected a non-empty array");
        for (const cJSON *s = se->child; s; s = s->next) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "values");
            if (!cJSON_IsArray(v)) return ark_fail(ARK_ERR_ARG, "data \"series\": each entry needs \"values\"");
            if (cJSON_GetArraySize(v) > cols) cols = cJSON_GetArraySize(v);
        }
        ARK_TRY(pl_data_alloc(d, 1, rows, cols));
        d->row_labels = calloc(rows, sizeof *d->row_labels);
        int r = 0;
        for (const cJSON *s = se->child; s; s = s->next, r++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "values");
            int c = 0;
            for (const cJSON *x = v->child; x; x = x->next, c++) *pl_at(d, 0, r, c) = cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
            d->row_labels[r] = dup_str(s, "name");
        }
        return ARK_OK;
    }
    return ARK_ERR_MISSING;
}

static ark_status plain_labels(const cJSON *j, pl_data *d)
{
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(j, "row_labels");
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j, "col_labels");
    if (!cl) cl = cJSON_GetObjectItemCaseSensitive(j, "x_labels");
    if (!cl && d->rows == 1) cl = cJSON_GetObjectItemCaseSensitive(j, "labels");
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    if (rl && !d->row_labels && !(d->row_labels = pl_strings(rl, d->rows)))
        return ark_fail(ARK_ERR_ARG, "data \"row_labels\": expected %d strings", d->rows);
    if (cl && !(d->col_labels = pl_strings(cl, d->cols)))
        return ark_fail(ARK_ERR_ARG, "data \"col_labels\": expected %d strings", d->cols);
    if (tk && !d->col_labels && cJSON_GetArraySize(tk) == d->cols) d->col_labels = pl_strings(tk, d->cols);
    if (tk && !d->row_labels && d->rows > 1 && cJSON_GetArraySize(tk) == d->rows) d->row_labels = pl_strings(tk, d->rows);
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(j, "titles");
    if (ti && !(d->titles = pl_strings(ti, d->n)))
        return ark_fail(ARK_ERR_ARG, "data \"titles\": expected %d strings", d->n);
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j, "cell_text");
    if (ct) {
        int dims[2];
        if (pl_dims(ct, dims, 2) != 2 || dims[0] != d->rows || dims[1] != d->cols)
            return ark_fail(ARK_ERR_ARG, "data \"cell_text\": expected %d rows of %d strings", d->rows, d->cols);
        d->cell_text = calloc((size_t)d->rows * d->cols, sizeof *d->cell_text);
        int r = 0;
        for (const cJSON *row = ct->child; row; row = row->next, r++) {
            char **s = pl_strings(row, d->cols);
            memcpy(d->cell_text + (size_t)r * d->cols, s, sizeof *s * d->cols);
            free(s);
        }
    }
    return ARK_OK;
}

ark_status pl_data_from_plain(const cJSON *j, pl_data *d)
{
    memset(d, 0, sizeof *d);
    d->is_signed = -1;
    if (!cJSON_IsObject(j)) return ARK_ERR_MISSING;
    ark_status s = plain_values(j, d);
    if (s != ARK_OK) {
        pl_data_free(d);
        return s;
    }
    if ((s = plain_labels(j, d)) != ARK_OK) {
        pl_data_free(d);
        return s;
    }
    const cJSON *mk = cJSON_GetObjectItemCaseSensitive(j, "marks");
    if (cJSON_IsArray(mk)) {
        d->n_marks = cJSON_GetArraySize(mk);
        d->marks = calloc(d->n_marks ? d->n_marks : 1, sizeof *d->marks);
        int i = 0;
        for (const cJSON *it = mk->child; it; it = it->next) {
            if (!cJSON_IsNumber(it)) {
                pl_data_free(d);
                return ark_fail(ARK_ERR_ARG, "data \"marks\": expected indices");
            }
            d->marks[i++] = it->valueint;
        }
    }
    d->title = dup_str(j, "title");
    d->x_label = dup_str(j, "x_label");
    d->y_label = dup_str(j, "y_label");
    d->value_label = dup_str(j, "value_label");
    const cJSON *sg = cJSON_GetObjectItemCaseSensitive(j, "signed");
    if (cJSON_IsBool(sg)) d->is_signed = cJSON_IsTrue(sg);
    return ARK_OK;
}
