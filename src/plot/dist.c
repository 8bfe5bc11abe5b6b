/* Distributions: violins (a Gaussian kernel density per group, Silverman's
 * bandwidth), per-group histograms, and the log-density histogram of
 * sparse-autoencoder features. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/plot_internal.h"

#define KDE_POINTS 64

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The finite samples of row r, sorted; returns how many. */
static int row_samples(const pl_data *d, int r, float *out)
{
    int n = 0;
    for (int c = 0; c < d->cols; c++) {
        float v = *pl_at(d, 0, r, c);
        if (isfinite(v)) out[n++] = v;
    }
    qsort(out, n, sizeof *out, cmp_float);
    return n;
}

/* Kernel density of x (n sorted samples) at `at` (m points) into dens. */
static void kde(const float *x, int n, const double *at, int m, double *dens)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    double sd = n > 1 ? sqrt(var / (n - 1)) : 0;
    double iqr = x[(3 * (n - 1)) / 4] - x[(n - 1) / 4];
    double spread = fmin(sd, iqr > 0 ? iqr / 1.34 : sd);
    double bw = 0.9 * (spread > 0 ? spread : (sd > 0 ? sd : 1e-3)) * pow(n, -0.2);
    for (int j = 0; j < m; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double z = (at[j] - x[i]) / bw;
            s += exp(-0.5 * z * z);
        }
        dens[j] = s / (n * bw * sqrt(2 * M_PI));
    }
}

static void draw_violin(pl_fig *f, const pl_axes *a, const float *x, int n, int g, double half_w)
{
    double at[KDE_POINTS], dens[KDE_POINTS], mx = 0;
    for (int j = 0; j < KDE_POINTS; j++) at[j] = x[0] + (x[n - 1] - x[0]) * j / (KDE_POINTS - 1.0);
    kde(x, n, at, KDE_POINTS, dens);
    for (int j = 0; j < KDE_POINTS; j++) mx = fmax(mx, dens[j]);
    double cx = pl_ax_x(a, g);
    cairo_t *cr = f->cr;
    pl_rgb c = pl_category(g);
    cairo_new_path(cr);
    if (x[n - 1] > x[0] && mx > 0) {
        for (int j = 0; j < KDE_POINTS; j++) cairo_line_to(cr, cx + half_w * dens[j] / mx, pl_ax_y(a, at[j]));
        for (int j = KDE_POINTS - 1; j >= 0; j--) cairo_line_to(cr, cx - half_w * dens[j] / mx, pl_ax_y(a, at[j]));
        cairo_close_path(cr);
        cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.55);
        cairo_fill_preserve(cr);
        pl_set_rgb(f, c);
        cairo_set_line_width(cr, 1.2);
        cairo_stroke(cr);
    }
    /* median and extremes */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, cx, pl_ax_y(a, x[0]));
    cairo_line_to(cr, cx, pl_ax_y(a, x[n - 1]));
    cairo_stroke(cr);
    double med = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
    cairo_set_line_width(cr, 2.5);
    cairo_move_to(cr, cx - half_w * 0.35, pl_ax_y(a, med));
    cairo_line_to(cr, cx + half_w * 0.35, pl_ax_y(a, med));
    cairo_stroke(cr);
}

static ark_status render_violins(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay,
                                 int *wout, int *hout)
{
    int G = d->rows;
    double lo, hi;
    if (!pl_range(d->v, (long)G * d->cols, &lo, &hi)) return ark_fail(ARK_ERR_ARG, "data: no finite sample to draw");
    double pad = 0.05 * (hi - lo);
    double spacing = fmin(fmax(720.0 / G, 24), 90);
    pl_fig mf;
    pl_fig_measure(&mf);
    double below = pl_xlabels_extent(&mf, d->row_labels, G, spacing, 10);
    pl_fig_abort(&mf);
    double left = 70, top = 44, right = 30, bottom = below + 34;
    double plot_w = s->width > 0 ? s->width - left - right : G * spacing;
    double plot_h = s->height > 0 ? s->height - top - bottom : 380;
    if (plot_w < 20 || plot_h < 20) return ark_fail(ARK_ERR_ARG, "width/height: too small for this plot");
    int W = s->width > 0 ? s->width : (int)ceil(left + plot_w + right), H = s->height > 0 ? s->height : (int)ceil(top + plot_h + bottom);
    if (W < 300 && s->width <= 0) W = 300;
    pl_fig f;
    ARK_TRY(pl_fig_open(&f, path, W, H));
    pl_axes a = {left, top, plot_w, plot_h, -0.5, G - 0.5, lo - pad, hi + pad};
    pl_draw_title(&f, s->title ? s->title : d->title ? d->title : s->type);
    pl_draw_yaxis(&f, &a, s->y_label ? s->y_label : d->value_label ? d->value_label : lay->value_label);
    pl_draw_xaxis_labels(&f, &a, d->row_labels, G, s->x_label ? s->x_label : lay->x_label);
    float *x = malloc(sizeof *x * d->cols);
    for (int g = 0; g < G; g++) {
        int n = row_samples(d, g, x);
        if (n) draw_violin(&f, &a, x, n, g, 0.45 * plot_w / G);
    }
    free(x);
    if (wout) *wout = W;
    if (hout) *hout = H;
    return pl_fig_close(&f);
}

/* Counts of v (n) in `bins` equal bins over [lo, hi]. */
static void histogram(const float *v, int n, double lo, double hi, int bins, int *counts)
{
    memset(counts, 0, sizeof *counts * bins);
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        int b = (int)floor((v[i] - lo) / (hi - lo) * bins);
        counts[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
    }
}

static void draw_bars(pl_fig *f, const pl_axes *a, const int *counts, int bins, pl_rgb c)
{
    double bw = (a->xhi - a->xlo) / bins;
    for (int b = 0; b < bins; b++) {
        if (!counts[b]) continue;
        double x0 = pl_ax_x(a, a->xlo + b * bw), x1 = pl_ax_x(a, a->xlo + (b + 1) * bw);
        double y0 = pl_ax_y(a, 0), y1 = pl_ax_y(a, counts[b]);
        pl_set_rgb(f, c);
        cairo_rectangle(f->cr, x0, y1, fmax(x1 - x0 - 0.5, 0.5), y0 - y1);
        cairo_fill(f->cr);
    }
}

static ark_status render_histograms(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay,
                                    int *wout, int *hout)
{
    int G = d->rows > 12 ? 12 : d->rows, bins = s->bins > 0 ? s->bins : 30;
    double lo, hi;
    if (!pl_range(d->v, (long)d->rows * d->cols, &lo, &hi)) return ark_fail(ARK_ERR_ARG, "data: no finite sample to draw");
    double left = 90, top = 44, right = 30, bottom = 50, gap = 14;
    double panel_h = s->height > 0 ? (s->height - top - bottom) / G - gap : 90;
    double plot_w = s->width > 0 ? s->width - left - right : 560;
    if (panel_h < 10 || plot_w < 20) return ark_fail(ARK_ERR_ARG, "width/height: too small for %d histograms", G);
    int W = s->width > 0 ? s->width : (int)(left + plot_w + right);
    int H = s->height > 0 ? s->height : (int)(top + G * (panel_h + gap) + bottom);
    pl_fig f;
    ARK_TRY(pl_fig_open(&f, path, W, H));
    pl_draw_title(&f, s->title ? s->title : d->title ? d->title : s->type);
    int *counts = malloc(sizeof *counts * bins);
    for (int g = 0; g < G; g++) {
        histogram(pl_at(d, 0, g, 0), d->cols, lo, hi, bins, counts);
        int mx = 1;
        for (int b = 0; b < bins; b++) mx = counts[b] > mx ? counts[b] : mx;
        pl_axes a = {left, top + g * (panel_h + gap), plot_w, panel_h, lo, hi, 0, mx * 1.1};
        draw_bars(&f, &a, counts, bins, pl_category(g));
        cairo_set_source_rgb(f.cr, 0.3, 0.3, 0.3);
        cairo_set_line_width(f.cr, 0.8);
        cairo_rectangle(f.cr, a.x, a.y, a.w, a.h);
        cairo_stroke(f.cr);
        char buf[32], cnt[32];
        snprintf(buf, sizeof buf, "%d", g);
        snprintf(cnt, sizeof cnt, "max %d", mx);
        cairo_set_source_rgb(f.cr, 0, 0, 0);
        pl_text(&f, left - 6, a.y + panel_h / 2, d->row_labels && d->row_labels[g] ? d->row_labels[g] : buf, 10, 1, 0.5, 0);
        pl_text(&f, left + plot_w - 4, a.y + 2, cnt, 9, 1, 0, 0);
        if (g == G - 1) pl_draw_xaxis(&f, &a, s->x_label ? s->x_label : d->value_label ? d->value_label : lay->value_label);
    }
    free(counts);
    pl_text(&f, 12, top + G * (panel_h + gap) / 2, s->y_label ? s->y_label : "count", 12, 0.5, 0.5, -M_PI / 2);
    if (wout) *wout = W;
    if (hout) *hout = H;
    return pl_fig_close(&f);
}

ark_status pl_render_dist(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w, int *h)
{
    const char *kind = s->kind ? s->kind : "violin";
    if (!strcmp(kind, "violin")) return render_violins(s, d, path, lay, w, h);
    if (!strcmp(kind, "histogram")) return render_histograms(s, d, path, lay, w, h);
    return ark_fail(ARK_ERR_ARG, "spec \"kind\": \"%s\" (expected \"violin\" or \"histogram\")", kind);
}

/* Densities: "values" are densities in [0, 1]; a matrix of several rows is
 * activations (rows = tokens, cols = features), and a feature's density is
 * the fraction of rows where it is > 0. */
ark_status pl_render_density(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *wout,
                             int *hout)
{
    int n = d->cols, dead = 0, live = 0, bins = s->bins > 0 ? s->bins : 40;
    float *ld = malloc(sizeof *ld * n);
    for (int c = 0; c < n; c++) {
        double dens;
        if (d->rows == 1) dens = d->v[c];
        else {
            int fire = 0, tot = 0;
            for (int r = 0; r < d->rows; r++) {
                float v = *pl_at(d, 0, r, c);
                if (isfinite(v)) tot++, fire += v > 0;
            }
            dens = tot ? (double)fire / tot : NAN;
        }
        if (!isfinite(dens) || dens < 0 || dens > 1) {
            free(ld);
            return ark_fail(ARK_ERR_ARG, "data: feature %d has density %g (expected a fraction in [0, 1])", c, dens);
        }
        if (dens == 0) dead++;
        else ld[live++] = (float)log10(dens);
    }
    double lo = -1, hi = 0;
    if (live) pl_range(ld, live, &lo, &hi);
    lo = fmin(lo, hi - 1);
    int *counts = calloc(bins, sizeof *counts), mx = dead;
    histogram(ld, live, lo, hi, bins, counts);
    for (int b = 0; b < bins; b++) mx = counts[b] > mx ? counts[b] : mx;
    double left = 70, top = 44, right = 30, bottom = 60;
    int W = s->width > 0 ? s->width : 720, H = s->height > 0 ? s->height : 440;
    pl_fig f;
    ark_status st = pl_fig_open(&f, path, W, H);
    if (st == ARK_OK) {
        pl_axes a = {left, top, W - left - right, H - top - bottom, lo, hi, 0, (mx ? mx : 1) * 1.1};
        pl_draw_title(&f, s->title ? s->title : d->title ? d->title : s->type);
        draw_bars(&f, &a, counts, bins, pl_category(0));
        pl_draw_yaxis(&f, &a, s->y_label ? s->y_label : lay->y_label);
        pl_draw_xaxis(&f, &a, s->x_label ? s->x_label : lay->x_label);
        char buf[96];
        snprintf(buf, sizeof buf, "%d features, %d dead (density 0, not shown)", n, dead);
        cairo_set_source_rgb(f.cr, 0, 0, 0);
        pl_text(&f, left + 8, top + 6, buf, 11, 0, 0, 0);
        st = pl_fig_close(&f);
    }
    free(counts);
    free(ld);
    if (wout) *wout = W;
    if (hout) *hout = H;
    return st;
}
