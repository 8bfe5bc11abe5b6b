/* Line plots: each row of the data is a series over the columns (layers
 * in order, or token positions), with a legend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "plot/plot_internal.h"

#define LEGEND_CHARS 28

static void draw_series(pl_fig *f, const pl_axes *a, const pl_data *d, int r)
{
    cairo_t *cr = f->cr;
    pl_set_rgb(f, pl_category(r));
    cairo_set_line_width(cr, 2);
    bool pen = false;
    for (int c = 0; c < d->cols; c++) {
        double v = *pl_at(d, 0, r, c);
        if (!isfinite(v)) {
            pen = false;
            continue;
        }
        if (pen) cairo_line_to(cr, pl_ax_x(a, c), pl_ax_y(a, v));
        else cairo_move_to(cr, pl_ax_x(a, c), pl_ax_y(a, v));
        pen = true;
    }
    cairo_stroke(cr);
    if (d->cols <= 64)
        for (int c = 0; c < d->cols; c++) {
            double v = *pl_at(d, 0, r, c);
            if (!isfinite(v)) continue;
            cairo_arc(cr, pl_ax_x(a, c), pl_ax_y(a, v), 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
}

static void draw_legend(pl_fig *f, const pl_data *d, double x, double y)
{
    for (int r = 0; r < d->rows; r++) {
        char buf[32];
        snprintf(buf, sizeof buf, "series %d", r);
        char *t = pl_label(d->row_labels && d->row_labels[r] ? d->row_labels[r] : buf, LEGEND_CHARS);
        pl_set_rgb(f, pl_category(r));
        cairo_rectangle(f->cr, x, y + r * 18 + 3, 14, 10);
        cairo_fill(f->cr);
        cairo_set_source_rgb(f->cr, 0, 0, 0);
        pl_text(f, x + 20, y + r * 18 + 8, t, 10, 0, 0.5, 0);
        free(t);
    }
}

ark_status pl_render_lines(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *wout,
                           int *hout)
{
    int R = d->rows, C = d->cols;
    if (R > 20) return ark_fail(ARK_ERR_ARG, "data: %d series is too many for a line plot (at most 20)", R);
    double lo, hi;
    pl_range(d->v, (long)R * C, &lo, &hi);
    if (s->has_vmin) lo = s->vmin;
    if (s->has_vmax) hi = s->vmax;
    double pad = 0.05 * (hi - lo);
    pl_fig mf;
    pl_fig_measure(&mf);
    double legend_w = 0;
    for (int r = 0; r < R; r++) {
        char *t = pl_label(d->row_labels && d->row_labels[r] ? d->row_labels[r] : "series 00", LEGEND_CHARS);
        legend_w = fmax(legend_w, pl_text_w(&mf, t, 10));
        free(t);
    }
    double spacing = fmin(fmax(720.0 / C, 4), 60);
    double below = pl_xlabels_extent(&mf, d->col_labels, C, spacing, C > 64 ? 9 : 10);
    pl_fig_abort(&mf);
    double left = 70, top = 44, right = 40 + legend_w + 24, bottom = below + 34;
    double plot_w = s->width > 0 ? s->width - left - right : fmax(C * spacing, 360);
    double plot_h = s->height > 0 ? s->height - top - bottom : 380;
    if (plot_w < 20 || plot_h < 20) return ark_fail(ARK_ERR_ARG, "width/height: too small for this plot");
    int W = s->width > 0 ? s->width : (int)ceil(left + plot_w + right);
    int H = s->height > 0 ? s->height : (int)ceil(top + plot_h + bottom);
    pl_fig f;
    ARK_TRY(pl_fig_open(&f, path, W, H));
    pl_axes a = {left, top, plot_w, plot_h, -0.5, C - 0.5, lo - pad, hi + pad};
    pl_draw_title(&f, s->title ? s->title : d->title ? d->title : s->type);
    pl_draw_yaxis(&f, &a, s->y_label ? s->y_label : d->y_label ? d->y_label : lay->y_label);
    pl_draw_xaxis_labels(&f, &a, d->col_labels, C, s->x_label ? s->x_label : d->x_label ? d->x_label : lay->x_label);
    cairo_save(f.cr);
    cairo_rectangle(f.cr, a.x, a.y, a.w, a.h);
    cairo_clip(f.cr);
    for (int r = 0; r < R; r++) draw_series(&f, &a, d, r);
    cairo_restore(f.cr);
    draw_legend(&f, d, left + plot_w + 16, top);
    if (wout) *wout = W;
    if (hout) *hout = H;
    return pl_fig_close(&f);
}
