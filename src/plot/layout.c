/* Heatmap figures: one heatmap with its colour bar, or a grid of heatmaps
 * sharing one.  Figure size scales with the data (cells 7..44 px; cells
 * that carry text get more room) unless the spec gives width and height,
 * in which case the cells are fitted into them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/plot_internal.h"

#define TOP 44.0
#define CBAR_W 16.0
#define CBAR_RIGHT 84.0  /* tick labels and the value label right of the bar */

void pl_fig_measure(pl_fig *f)
{
    memset(f, 0, sizeof *f);
    f->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    f->cr = cairo_create(f->surf);
}

static void swap_ptr(char ***a, char ***b)
{
    char **t = *a;
    *a = *b, *b = t;
}

void pl_data_transpose(pl_data *d)
{
    int R = d->rows, C = d->cols;
    float *v = malloc(sizeof *v * (size_t)d->n * R * C);
    for (int k = 0; k < d->n; k++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) v[((size_t)k * C + c) * R + r] = *pl_at(d, k, r, c);
    free(d->v);
    d->v = v;
    if (d->cell_text) {
        char **t = malloc(sizeof *t * (size_t)R * C);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) t[(size_t)c * R + r] = d->cell_text[(size_t)r * C + c];
        free(d->cell_text);
        d->cell_text = t;
    }
    d->rows = C, d->cols = R;
    swap_ptr(&d->row_labels, &d->col_labels);
    char *x = d->x_label;
    d->x_label = d->y_label, d->y_label = x;
}

static const char *pick(const char *spec, const char *data, const char *dflt)
{
    return spec ? spec : data ? data : dflt;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

ark_status pl_render_heatmap(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *wout,
                             int *hout)
{
    if (lay->transpose) pl_data_transpose(d);
    /* the layout's labels name the drawn axes; the data's were swapped with it */
    const char *xl = pick(s->x_label, d->x_label, lay->x_label), *yl = pick(s->y_label, d->y_label, lay->y_label);
    const char *vl = pick(s->value_label, d->value_label, lay->value_label);
    int R = d->rows, C = d->cols;
    double fs = (R > 64 || C > 64) ? 9 : 11;
    double cw, ch;
    if (d->cell_text) cw = clampd(1300.0 / C, 12, 64), ch = clampd(700.0 / R, 10, 26);
    else cw = clampd(760.0 / C, 7, 44), ch = clampd(560.0 / R, 7, 44);
    if (lay->square) cw = ch = fmin(cw, ch);
    pl_fig m;
    pl_fig_measure(&m);
    double below, left_over;
    pl_col_label_extent(&m, d, cw, fs, &below, &left_over);
    double left = 34 + pl_row_label_width(&m, d, fs) + 8;
    pl_fig_abort(&m);
    double plot_x = fmax(left, left_over + 16);
    double right = 24 + CBAR_W + CBAR_RIGHT;
    double bottom = below + 30;
    if (s->width > 0) cw = fmax(1, (s->width - plot_x - right) / C);
    if (s->height > 0) ch = fmax(1, (s->height - TOP - bottom) / R);
    int W = s->width > 0 ? s->width : (int)ceil(plot_x + C * cw + right);
    int H = s->height > 0 ? s->height : (int)ceil(TOP + R * ch + bottom);
    if (W < 240 && s->width <= 0) W = 240;
    pl_fig f;
    ARK_TRY(pl_fig_open(&f, path, W, H));
    pl_scale sc = pl_scale_for(s, d->v, (long)d->n * R * C, d->is_signed >= 0 ? d->is_signed : lay->signed_default);
    pl_draw_title(&f, pick(s->title, d->title, s->type));
    pl_heat_opts o = {0, true, true, fs, lay->transpose};
    pl_draw_heatmap(&f, d, &sc, &o, plot_x, TOP, C * cw, R * ch, s->annotate);
    cairo_set_source_rgb(f.cr, 0, 0, 0);
    if (xl) pl_text(&f, plot_x + C * cw / 2, TOP + R * ch + below + 6, xl, 12, 0.5, 0, 0);
    if (yl) pl_text(&f, 14, TOP + R * ch / 2, yl, 12, 0.5, 0.5, -M_PI / 2);
    double cb_h = fmin(R * ch, 360);
    pl_draw_colorbar(&f, &sc, plot_x + C * cw + 24, TOP + (R * ch - cb_h) / 2, CBAR_W, cb_h, vl);
    if (wout) *wout = W;
    if (hout) *hout = H;
    return pl_fig_close(&f);
}

ark_status pl_render_grid(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *wout,
                          int *hout)
{
    int n = d->n, R = d->rows, C = d->cols;
    int gc = (int)ceil(sqrt((double)n)), gr = (n + gc - 1) / gc;
    double fs = (R > 48 || C > 48) ? 8 : 10;
    double cell = clampd(1000.0 / (gc * fmax(R, C)), 2, 30);
    if (s->width > 0 || s->height > 0) cell = 1; /* refined below */
    pl_fig m;
    pl_fig_measure(&m);
    double below, left_over;
    pl_col_label_extent(&m, d, cell, fs, &below, &left_over);
    double lab_w = pl_row_label_width(&m, d, fs) + 8;
    pl_fig_abort(&m);
    double gap = 30, left = fmax(34 + lab_w, left_over + 16), right = 24 + CBAR_W + CBAR_RIGHT;
    double bottom = below + 30;
    if (s->width > 0) cell = fmax(1, (s->width - left - right - gap * (gc - 1)) / (gc * (double)C));
    if (s->height > 0) cell = fmin(s->width > 0 ? cell : 1e9, fmax(1, (s->height - TOP - bottom - (gap + 4) * gr) / (gr * (double)R)));
    double pw = C * cell, ph = R * cell;
    int W = s->width > 0 ? s->width : (int)ceil(left + gc * pw + (gc - 1) * gap + right);
    int H = s->height > 0 ? s->height : (int)ceil(TOP + gr * (ph + gap) + bottom);
    pl_fig f;
    ARK_TRY(pl_fig_open(&f, path, W, H));
    pl_scale sc = pl_scale_for(s, d->v, (long)n * R * C, d->is_signed >= 0 ? d->is_signed : lay->signed_default);
    pl_draw_title(&f, pick(s->title, d->title, s->type));
    for (int k = 0; k < n; k++) {
        int gi = k / gc, gj = k % gc;
        double x = left + gj * (pw + gap), y = TOP + 4 + gi * (ph + gap);
        bool last_row = k + gc >= n; /* no panel below */
        pl_heat_opts o = {k, gj == 0, last_row, fs, false};
        pl_draw_heatmap(&f, d, &sc, &o, x, y + 14, pw, ph, false);
        cairo_set_source_rgb(f.cr, 0, 0, 0);
        char buf[32];
        const char *t = d->titles && d->titles[k] ? d->titles[k] : NULL;
        if (!t) snprintf(buf, sizeof buf, "%d", k), t = buf;
        pl_text_bold(&f, x + pw / 2, y, t, 11, 0.5, 0, 0);
    }
    const char *xl = pick(s->x_label, d->x_label, lay->x_label), *yl = pick(s->y_label, d->y_label, lay->y_label);
    double grid_h = gr * (ph + gap);
    if (xl) pl_text(&f, left + (gc * pw + (gc - 1) * gap) / 2, H - 18, xl, 12, 0.5, 0.5, 0);
    if (yl) pl_text(&f, 14, TOP + grid_h / 2, yl, 12, 0.5, 0.5, -M_PI / 2);
    double cb_h = fmin(grid_h - gap, 360);
    pl_draw_colorbar(&f, &sc, left + gc * pw + (gc - 1) * gap + 24, TOP + 18, CBAR_W, fmax(cb_h, 40),
                     pick(s->value_label, d->value_label, lay->value_label));
    if (wout) *wout = W;
    if (hout) *hout = H;
    return pl_fig_close(&f);
}
