/* Heatmap drawing: cells, their row and column labels (thinned and rotated
 * to fit), cell text, marked rows, and the colour bar. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/plot_internal.h"

#define LABEL_CHARS 24

static bool is_marked(const pl_data *d, int i)
{
    for (int m = 0; m < d->n_marks; m++)
        if (d->marks[m] == i) return true;
    return false;
}

/* Text fitted into a cell: the largest size <= max_size (>= 5 px) at which
 * it fits `w`, cut with … when even 5 px does not fit.  Returns the size, 0
 * to skip. */
static double fit_text(pl_fig *f, char **s, double w, double max_size)
{
    for (double size = max_size; size >= 5; size -= 0.5)
        if (pl_text_w(f, *s, size) <= w) return size;
    int n = (int)strlen(*s);
    while (n > 1) {
        char *cut = pl_label(*s, --n);
        if (pl_text_w(f, cut, 5) <= w) {
            free(*s);
            *s = cut;
            return 5;
        }
        free(cut);
    }
    return 0;
}

static void draw_cell_texts(pl_fig *f, const pl_data *d, const pl_scale *sc, int k, double x, double y, double cw,
                            double ch, bool annotate)
{
    double max_size = fmin(ch * 0.62, 11);
    if (max_size < 5 || cw < 8) return;
    for (int r = 0; r < d->rows; r++)
        for (int c = 0; c < d->cols; c++) {
            double v = *pl_at(d, k, r, c);
            char *s = NULL;
            if (d->cell_text && d->cell_text[(size_t)r * d->cols + c]) s = pl_label(d->cell_text[(size_t)r * d->cols + c], 16);
            else if (annotate && isfinite(v)) {
                char buf[32];
                pl_fmt_num(v, buf, sizeof buf);
                s = strdup(buf);
            }
            if (!s) continue;
            double size = fit_text(f, &s, cw - 2, max_size);
            if (size > 0) {
                pl_set_rgb(f, pl_text_on(pl_scale_color(sc, v)));
                pl_text(f, x + (c + 0.5) * cw, y + (r + 0.5) * ch, s, size, 0.5, 0.5, 0);
            }
            free(s);
        }
}

void pl_draw_heatmap(pl_fig *f, const pl_data *d, const pl_scale *sc, const pl_heat_opts *o, double x, double y,
                     double w, double h, bool annotate)
{
    cairo_t *cr = f->cr;
    double cw = w / d->cols, ch = h / d->rows;
    /* cells: a hair wider than their box so that neighbours meet without seams */
    for (int r = 0; r < d->rows; r++)
        for (int c = 0; c < d->cols; c++) {
            pl_set_rgb(f, pl_scale_color(sc, *pl_at(d, o->k, r, c)));
            cairo_rectangle(cr, x + c * cw, y + r * ch, cw + 0.3, ch + 0.3);
            cairo_fill(cr);
        }
    draw_cell_texts(f, d, sc, o->k, x, y, cw, ch, annotate);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, x, y, w, h);
    cairo_stroke(cr);
    /* marked rows: a frame around each */
    if (o->mark_rows)
        for (int m = 0; m < d->n_marks; m++) {
            int r = d->marks[m];
            if (r < 0 || r >= d->rows) continue;
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_set_line_width(cr, 1.6);
            cairo_rectangle(cr, x + 0.8, y + r * ch + 0.8, w - 1.6, ch - 1.6);
            cairo_stroke(cr);
        }
    double fs = o->font;
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (o->show_row_labels && d->row_labels) {
        int step = pl_label_step(ch, fs);
        for (int r = 0; r < d->rows; r += step) {
            char *s = pl_label(d->row_labels[r] ? d->row_labels[r] : "", LABEL_CHARS);
            bool mk = o->mark_rows && is_marked(d, r);
            if (mk) {
                char *t = malloc(strlen(s) + 3);
                sprintf(t, "%s*", s);
                pl_text_bold(f, x - 4, y + (r + 0.5) * ch, t, fs, 1, 0.5, 0);
                free(t);
            } else {
                pl_text(f, x - 4, y + (r + 0.5) * ch, s, fs, 1, 0.5, 0);
            }
            free(s);
        }
    }
    if (o->show_col_labels && d->col_labels) {
        double maxw = 0;
        for (int c = 0; c < d->cols; c++) {
            char *s = pl_label(d->col_labels[c] ? d->col_labels[c] : "", LABEL_CHARS);
            maxw = fmax(maxw, pl_text_w(f, s, fs));
            free(s);
        }
        bool rotate = maxw > cw - 2;
        int step = rotate ? pl_label_step(cw, fs) : 1;
        for (int c = 0; c < d->cols; c += step) {
            char *s = pl_label(d->col_labels[c] ? d->col_labels[c] : "", LABEL_CHARS);
            bool mk = !o->mark_rows && is_marked(d, c);
            double cx = x + (c + 0.5) * cw;
            if (mk) {
                char *t = malloc(strlen(s) + 3);
                sprintf(t, "%s*", s);
                free(s);
                s = t;
            }
            if (rotate) (mk ? pl_text_bold : pl_text)(f, cx + fs * 0.35, y + h + 4, s, fs, 1, 0.5, -M_PI / 4);
            else (mk ? pl_text_bold : pl_text)(f, cx, y + h + 4, s, fs, 0.5, 0, 0);
            free(s);
        }
    }
}

/* How far rotated column labels reach below the plot, and to the left of
 * the first column. */
void pl_col_label_extent(pl_fig *f, const pl_data *d, double cw, double fs, double *below, double *left)
{
    double maxw = 0;
    for (int c = 0; d->col_labels && c < d->cols; c++) {
        char *s = pl_label(d->col_labels[c] ? d->col_labels[c] : "", LABEL_CHARS);
        maxw = fmax(maxw, pl_text_w(f, s, fs) + (d->n_marks ? fs : 0));
        free(s);
    }
    if (!d->col_labels) maxw = 0;
    if (maxw > cw - 2) {
        *below = maxw * M_SQRT1_2 + fs + 8;
        *left = maxw * M_SQRT1_2;
    } else {
        *below = d->col_labels ? fs + 8 : 4;
        *left = 0;
    }
}

double pl_row_label_width(pl_fig *f, const pl_data *d, double fs)
{
    double maxw = 0;
    for (int r = 0; d->row_labels && r < d->rows; r++) {
        char *s = pl_label(d->row_labels[r] ? d->row_labels[r] : "", LABEL_CHARS);
        maxw = fmax(maxw, pl_text_w(f, s, fs) + (d->n_marks ? fs : 0));
        free(s);
    }
    return maxw;
}

void pl_draw_colorbar(pl_fig *f, const pl_scale *sc, double x, double y, double w, double h, const char *label)
{
    cairo_t *cr = f->cr;
    int steps = (int)fmax(h, 2);
    for (int i = 0; i < steps; i++) {
        double v = sc->hi - (sc->hi - sc->lo) * (i + 0.5) / steps;
        pl_set_rgb(f, pl_scale_color(sc, v));
        cairo_rectangle(cr, x, y + h * i / steps, w, h / steps + 0.5);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, x, y, w, h);
    cairo_stroke(cr);
    double ticks[16];
    int nt = pl_ticks(sc->lo, sc->hi, 6, ticks);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int i = 0; i < nt; i++) {
        double ty = y + h * (sc->hi - ticks[i]) / (sc->hi - sc->lo);
        cairo_move_to(cr, x + w, ty);
        cairo_line_to(cr, x + w + 4, ty);
        cairo_stroke(cr);
        char buf[32];
        pl_fmt_num(ticks[i], buf, sizeof buf);
        pl_text(f, x + w + 6, ty, buf, 10, 0, 0.5, 0);
    }
    if (label && *label) pl_text(f, x + w + 52, y + h / 2, label, 11, 0.5, 0.5, -M_PI / 2);
}
