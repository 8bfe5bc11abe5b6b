/* Plots: internal data model, figure backend and drawing primitives.
 *
 * Every plot type turns its data into one pl_data — n matrices of
 * (rows, cols) floats with labels — and draws it with one of the layouts
 * (heatmap, grid of heatmaps, bars, lines, violins/histograms, histogram).
 * A figure is a cairo surface (image → PNG, SVG, PDF) plus a record of the
 * text drawn, which the SVG backend also writes as <text>. */
#ifndef ARK_PLOT_INTERNAL_H
#define ARK_PLOT_INTERNAL_H

#include <cairo.h>
#include <cjson/cJSON.h>
#include <stdbool.h>

#include "arrakis/plot.h"

/* ---- data ---- */

typedef struct pl_data {
    int n, rows, cols;    /* n matrices of (rows, cols) */
    float *v;             /* (n, rows, cols); NaN = no value */
    char **row_labels;    /* rows, or NULL */
    char **col_labels;    /* cols, or NULL */
    char **titles;        /* n, or NULL */
    char **cell_text;     /* rows * cols (of matrix 0), entries may be NULL; or NULL */
    int *marks;           /* marked columns (causal trace: subject tokens) */
    int n_marks;
    char *title;          /* a title the data proposes (the spec's wins) */
    char *x_label, *y_label, *value_label; /* likewise */
    int is_signed;        /* -1: not said; 0 / 1 */
} pl_data;

void pl_data_free(pl_data *d);
/* Allocate v (NaN-filled) for n x rows x cols. */
ark_status pl_data_alloc(pl_data *d, int n, int rows, int cols);
float *pl_at(const pl_data *d, int k, int r, int c);

/* ---- spec ---- */

typedef enum { PL_PNG, PL_SVG, PL_PDF } pl_format;

typedef struct pl_spec {
    const char *type;
    const char *title;
    int width, height;        /* 0: automatic */
    int is_signed;            /* -1: the type's default */
    bool has_vmin, has_vmax;
    double vmin, vmax;
    const char *cmap;         /* NULL: from is_signed */
    const char *x_label, *y_label, *value_label;
    const char *kind;         /* violin | histogram */
    int bins, top_k;
    bool annotate;
    const cJSON *json;        /* the whole spec (type-specific options) */
} pl_spec;

ark_status pl_spec_parse(const cJSON *j, pl_spec *s);

/* ---- colour maps (colormap.c) ---- */

typedef struct pl_rgb { double r, g, b; } pl_rgb;
pl_rgb pl_viridis(double t);
pl_rgb pl_rdbu(double t);   /* 0 blue (negative) .. 0.5 white .. 1 red (positive) */
pl_rgb pl_category(int i);  /* Tableau 10 */
/* Black or white, whichever reads on `bg`. */
pl_rgb pl_text_on(pl_rgb bg);

/* The value → colour map of one figure. */
typedef struct pl_scale {
    bool diverging;
    double lo, hi;            /* value range (diverging: -m .. m unless set) */
} pl_scale;
pl_scale pl_scale_for(const pl_spec *s, const float *v, long n, bool signed_default);
pl_rgb pl_scale_color(const pl_scale *sc, double v);

/* ---- figure (figure.c) ---- */

typedef struct pl_text_rec {
    double x, y, size, angle;
    char *text;
} pl_text_rec;

typedef struct pl_fig {
    cairo_surface_t *surf;
    cairo_t *cr;
    int w, h;
    pl_format fmt;
    char *path;
    pl_text_rec *texts;       /* recorded for the SVG text layer */
    int n_texts, cap_texts;
    char *title;
} pl_fig;

ark_status pl_format_of(const char *path, pl_format *out);
ark_status pl_fig_open(pl_fig *f, const char *path, int w, int h);
/* Finish and write the file (PNG via cairo_surface_write_to_png; SVG text
 * layer appended).  Frees the figure either way. */
ark_status pl_fig_close(pl_fig *f);
void pl_fig_abort(pl_fig *f);

/* Text in DejaVu Sans at `size` px: (ax, ay) anchor in [0, 1] of the text's
 * box (0, 0 = left/top, 0.5 = centre), rotated by `angle` radians
 * (counter-clockwise positive) about the anchor point. */
void pl_text(pl_fig *f, double x, double y, const char *s, double size, double ax, double ay, double angle);
void pl_text_bold(pl_fig *f, double x, double y, const char *s, double size, double ax, double ay, double angle);
double pl_text_w(pl_fig *f, const char *s, double size);
/* A label made printable for an axis: newlines and tabs shown as ↵ and ⇥,
 * at most max_chars characters (… when cut).  malloc'd. */
char *pl_label(const char *s, int max_chars);
void pl_set_rgb(pl_fig *f, pl_rgb c);

/* Nice tick values covering [lo, hi]: up to max ticks, written to out;
 * returns the count. */
int pl_ticks(double lo, double hi, int max, double *out);
/* A number written short ("0.25", "1.2e-05", "-3"). */
void pl_fmt_num(double v, char *buf, size_t cap);
/* Every how many labels one is drawn so that labels `size` px tall fit in
 * cells `cell` px apart. */
int pl_label_step(double cell, double size);

/* ---- layouts ---- */

/* A heatmap of matrix k of d in the box (x, y, w, h); labels outside it.
 * Options: transpose (rows become columns), cell text, marks. */
typedef struct pl_heat_opts {
    int k;                    /* which matrix */
    bool show_row_labels, show_col_labels;
    double font;              /* label font px */
    bool mark_rows;           /* marks apply to rows (after transposing) */
} pl_heat_opts;

void pl_draw_heatmap(pl_fig *f, const pl_data *d, const pl_scale *sc, const pl_heat_opts *o, double x, double y,
                     double w, double h, bool annotate);
/* Measuring before the figure's size is known: a 1 x 1 image surface. */
void pl_fig_measure(pl_fig *f);
/* Space rotated column labels take below the plot and left of column 0;
 * the width of the row labels. */
void pl_col_label_extent(pl_fig *f, const pl_data *d, double cw, double fs, double *below, double *left);
double pl_row_label_width(pl_fig *f, const pl_data *d, double fs);
/* Transpose every matrix of d with its labels and cell text. */
void pl_data_transpose(pl_data *d);
void pl_draw_colorbar(pl_fig *f, const pl_scale *sc, double x, double y, double w, double h, const char *label);
void pl_draw_title(pl_fig *f, const char *title);

/* Axes of x-y plots (axes.c): a box and the value ranges it shows. */
typedef struct pl_axes {
    double x, y, w, h;
    double xlo, xhi, ylo, yhi;
} pl_axes;
double pl_ax_x(const pl_axes *a, double v);
double pl_ax_y(const pl_axes *a, double v);
/* Numeric y (or x) axis with ticks, light grid lines and a title. */
void pl_draw_yaxis(pl_fig *f, const pl_axes *a, const char *label);
void pl_draw_xaxis(pl_fig *f, const pl_axes *a, const char *label);
/* Categorical x axis: label i at x = i (thinned and rotated as needed). */
void pl_draw_xaxis_labels(pl_fig *f, const pl_axes *a, char **labels, int n, const char *label);
/* Height the categorical labels need below the axes. */
double pl_xlabels_extent(pl_fig *f, char **labels, int n, double spacing, double fs);
/* The finite range of v (n); false when nothing is finite. */
bool pl_range(const float *v, long n, double *lo, double *hi);

/* Whole-figure renderers (layout.c, bars.c, lines.c, dist.c); d as parsed. */
typedef struct pl_heat_layout {
    bool signed_default;
    bool transpose;           /* draw rows as columns (causal trace: tokens down the side) */
    bool square;              /* square cells (query x key maps) */
    const char *x_label, *y_label, *value_label; /* the type's defaults */
} pl_heat_layout;
ark_status pl_render_heatmap(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w,
                             int *h);
ark_status pl_render_grid(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w, int *h);
ark_status pl_render_bars(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w, int *h);
ark_status pl_render_lines(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w, int *h);
ark_status pl_render_dist(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w, int *h);
ark_status pl_render_density(const pl_spec *s, pl_data *d, const char *path, const pl_heat_layout *lay, int *w,
                             int *h);

/* ---- data parsing (data.c) ---- */

/* The plain form ({"matrix" | "matrices" | "values", labels ...}) into d.
 * Returns ARK_ERR_MISSING (no message set) when j has none of the three. */
ark_status pl_data_from_plain(const cJSON *j, pl_data *d);
/* Strings of a JSON array (NULL entries for non-strings), n of them. */
char **pl_strings(const cJSON *arr, int n);
void pl_strings_free(char **s, int n);
/* The first object in j (depth first, j included) that has member `key`
 * (NULL if none). */
const cJSON *pl_find_key(const cJSON *j, const char *key);
/* A JSON number array (null → NaN) into out (n); false on a shape mismatch. */
bool pl_floats(const cJSON *arr, float *out, int n);
/* Dims of a nested numeric array (up to 4); returns ndim (0 if not an array). */
int pl_dims(const cJSON *arr, int *dims, int max);

/* Per-type data from a tool's result (types.c); ARK_ERR_MISSING when the
 * result holds nothing this type reads. */
ark_status pl_data_from_result(const char *type, const cJSON *result, const pl_spec *s, pl_data *d);

#endif
