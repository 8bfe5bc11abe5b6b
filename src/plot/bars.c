/* Bar charts: the top components of an attribution, largest |value|
 * first, as horizontal bars from zero (red positive, blue negative). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "plot/plot_internal.h"

#define LABEL_CHARS 28

typedef struct bar {
    float v;
    int i;
} bar;

static int by_magnitude(const void *a, const void *b)
{
    const bar *x = a, *y = b;
    double ax = fabs(x->v), ay = fabs(y->v);
    if (ax != ay) return ax < ay ? 1 : -1;
    return x->i - y->i;
}

ark_status pl_render_bars(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *wout,
                          int *hout)
{
    int n = d->cols;
    bar *b = malloc(sizeof *b * n);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(d->v[i])) b[m++] = (bar){d->v[i], i};
    if (!m) {
        free(b);
        return ark_fail(ARK_ERR_ARG, "data: no finite value to draw as a bar");
    }
    qsort(b, m, sizeof *b, by_magnitude);
    int k = s->top_k > 0 && s->top_k < m ? s->top_k : (m < 20 ? m : 20);
    double lo = 0, hi = 0;
    for (int i = 0; i < k; i++) lo = fmin(lo, b[i].v), hi = fmax(hi, b[i].v);
    if (lo == hi) hi = 1;
    double pad = 0.08 * (hi - lo);
    pl_fig mf;
    pl_fig_measure(&mf);
    double lab_w = 0;
    for (int i = 0; i < k; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", b[i].i);
        char *t = pl_label(d->col_labels && d->col_labels[b[i].i] ? d->col_labels[b[i].i] : buf, LABEL_CHARS);
        lab_w = fmax(lab_w, pl_text_w(&mf, t, 11));
        free(t);
    }
    pl_fig_abort(&mf);
    double left = 30 + lab_w + 10, bar_h = 20, top = 44, bottom = 56, right = 40;
    int W = s->width > 0 ? s->width : (int)(left + 560 + right);
    if (s->height > 0) bar_h = fmax(2, (s->height - top - bottom) / k);
    int H = s->height > 0 ? s->height : (int)(top + k * bar_h + bottom);
    pl_fig f;
    ark_status st = pl_fig_open(&f, path, W, H);
    if (st != ARK_OK) {
        free(b);
        return st;
    }
    pl_axes a = {left, top, W - left - right, k * bar_h, lo - (lo < 0 ? pad : 0), hi + (hi > 0 ? pad : 0), 0, k};
    pl_draw_title(&f, s->title ? s->title : d->title ? d->title : s->type);
    pl_draw_xaxis(&f, &a, s->x_label ? s->x_label : d->value_label ? d->value_label : lay->value_label);
    double x0 = pl_ax_x(&a, 0);
    for (int i = 0; i < k; i++) {
        double y = top + i * bar_h, x1 = pl_ax_x(&a, b[i].v);
        pl_set_rgb(&f, b[i].v >= 0 ? pl_rdbu(0.85) : pl_rdbu(0.15));
        cairo_rectangle(f.cr, fmin(x0, x1), y + bar_h * 0.15, fabs(x1 - x0), bar_h * 0.7);
        cairo_fill(f.cr);
        cairo_set_source_rgb(f.cr, 0, 0, 0);
        char buf[16];
        snprintf(buf, sizeof buf, "%d", b[i].i);
        char *t = pl_label(d->col_labels && d->col_labels[b[i].i] ? d->col_labels[b[i].i] : buf, LABEL_CHARS);
        if (bar_h >= 8) pl_text(&f, left - 6, y + bar_h / 2, t, fmin(11, bar_h * 0.7), 1, 0.5, 0);
        free(t);
        if (bar_h >= 12) {
            char v[32];
            pl_fmt_num(b[i].v, v, sizeof v);
            pl_text(&f, x1 + (b[i].v >= 0 ? 3 : -3), y + bar_h / 2, v, 9, b[i].v >= 0 ? 0 : 1, 0.5, 0);
        }
    }
    cairo_set_source_rgb(f.cr, 0.2, 0.2, 0.2);
    cairo_move_to(f.cr, x0, top);
    cairo_line_to(f.cr, x0, top + k * bar_h);
    cairo_stroke(f.cr);
    const char *yl = s->y_label ? s->y_label : lay->y_label;
    if (yl) pl_text(&f, 12, top + k * bar_h / 2, yl, 12, 0.5, 0.5, -M_PI / 2);
    free(b);
    if (wout) *wout = W;
    if (hout) *hout = H;
    return pl_fig_close(&f);
}
