/* Axes for x-y plots: value-to-pixel maps, numeric axes with ticks and
 * grid lines, categorical axes with thinned, rotated labels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "plot/plot_internal.h"

#define LABEL_CHARS 24

double pl_ax_x(const pl_axes *a, double v)
{
    return a->x + a->w * (v - a->xlo) / (a->xhi - a->xlo);
}

double pl_ax_y(const pl_axes *a, double v)
{
    return a->y + a->h * (a->yhi - v) / (a->yhi - a->ylo);
}

bool pl_range(const float *v, long n, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (long i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo) *lo = v[i];
            if (v[i] > *hi) *hi = v[i];
        }
    if (*lo > *hi) {
        *lo = 0, *hi = 1;
        return false;
    }
    if (*lo == *hi) *lo -= 0.5, *hi += 0.5;
    return true;
}

void pl_draw_yaxis(pl_fig *f, const pl_axes *a, const char *label)
{
    cairo_t *cr = f->cr;
    double t[16];
    int n = pl_ticks(a->ylo, a->yhi, 7, t);
    for (int i = 0; i < n; i++) {
        double y = pl_ax_y(a, t[i]);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_set_line_width(cr, 0.8);
        cairo_move_to(cr, a->x, y);
        cairo_line_to(cr, a->x + a->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, a->x - 4, y);
        cairo_line_to(cr, a->x, y);
        cairo_stroke(cr);
        char buf[32];
        pl_fmt_num(t[i], buf, sizeof buf);
        pl_text(f, a->x - 6, y, buf, 10, 1, 0.5, 0);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (label) pl_text(f, 14, a->y + a->h / 2, label, 12, 0.5, 0.5, -M_PI / 2);
}

void pl_draw_xaxis(pl_fig *f, const pl_axes *a, const char *label)
{
    cairo_t *cr = f->cr;
    double t[16];
    int n = pl_ticks(a->xlo, a->xhi, 8, t);
    for (int i = 0; i < n; i++) {
        double x = pl_ax_x(a, t[i]);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_set_line_width(cr, 0.8);
        cairo_move_to(cr, x, a->y);
        cairo_line_to(cr, x, a->y + a->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, x, a->y + a->h);
        cairo_line_to(cr, x, a->y + a->h + 4);
        cairo_stroke(cr);
        char buf[32];
        pl_fmt_num(t[i], buf, sizeof buf);
        pl_text(f, x, a->y + a->h + 6, buf, 10, 0.5, 0, 0);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (label) pl_text(f, a->x + a->w / 2, a->y + a->h + 24, label, 12, 0.5, 0, 0);
}

double pl_xlabels_extent(pl_fig *f, char **labels, int n, double spacing, double fs)
{
    double maxw = 0;
    for (int i = 0; labels && i < n; i++) {
        char *s = pl_label(labels[i] ? labels[i] : "", LABEL_CHARS);
        maxw = fmax(maxw, pl_text_w(f, s, fs));
        free(s);
    }
    return maxw > spacing - 4 ? maxw * M_SQRT1_2 + fs + 8 : fs + 8;
}

void pl_draw_xaxis_labels(pl_fig *f, const pl_axes *a, char **labels, int n, const char *label)
{
    double fs = n > 64 ? 9 : 10;
    double spacing = n > 1 ? fabs(pl_ax_x(a, 1) - pl_ax_x(a, 0)) : a->w;
    double below = pl_xlabels_extent(f, labels, n, spacing, fs);
    bool rotate = below > fs + 8;
    int step = rotate ? pl_label_step(spacing, fs) : 1;
    cairo_set_source_rgb(f->cr, 0, 0, 0);
    for (int i = 0; i < n; i += step) {
        double x = pl_ax_x(a, i);
        cairo_move_to(f->cr, x, a->y + a->h);
        cairo_line_to(f->cr, x, a->y + a->h + 3);
        cairo_stroke(f->cr);
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        char *s = pl_label(labels && labels[i] ? labels[i] : buf, LABEL_CHARS);
        if (rotate) pl_text(f, x + fs * 0.35, a->y + a->h + 5, s, fs, 1, 0.5, -M_PI / 4);
        else pl_text(f, x, a->y + a->h + 5, s, fs, 0.5, 0, 0);
        free(s);
    }
    cairo_set_source_rgb(f->cr, 0.3, 0.3, 0.3);
    cairo_rectangle(f->cr, a->x, a->y, a->w, a->h);
    cairo_stroke(f->cr);
    cairo_set_source_rgb(f->cr, 0, 0, 0);
    if (label) pl_text(f, a->x + a->w / 2, a->y + a->h + below + 6, label, 12, 0.5, 0, 0);
}
