/* Figures: a cairo surface for the output format, text in DejaVu Sans
 * (cairo's toy font API), ticks and number formatting.
 *
 * PNG is written by cairo_surface_write_to_png from an RGB24 image surface;
 * SVG and PDF by cairo's own surfaces.  cairo's SVG surface draws text as
 * glyph outlines, so the text of every label is also appended to the SVG as
 * a transparent <text> layer (same positions, sizes and rotations): the
 * file can then be searched, selected and read by screen readers. */
#include <cairo-pdf.h>
#include <dlfcn.h>
#include <cairo-svg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/plot_internal.h"

#define PL_MAX_PIXELS (120L * 1000 * 1000)

ark_status pl_format_of(const char *path, pl_format *out)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strcasecmp(dot, ".png")) *out = PL_PNG;
    else if (dot && !strcasecmp(dot, ".svg")) *out = PL_SVG;
    else if (dot && !strcasecmp(dot, ".pdf")) *out = PL_PDF;
    else return ark_fail(ARK_ERR_ARG, "out \"%s\": the extension must be .png, .svg or .pdf", path ? path : "");
    return ARK_OK;
}

ark_status pl_fig_open(pl_fig *f, const char *path, int w, int h)
{
    memset(f, 0, sizeof *f);
    ARK_TRY(pl_format_of(path, &f->fmt));
    if (w < 16 || h < 16 || (long)w * h > PL_MAX_PIXELS)
        return ark_fail(ARK_ERR_ARG, "figure size %d x %d: expected 16..%ld pixels a side and at most %ld in all", w,
                        h, PL_MAX_PIXELS / 16, PL_MAX_PIXELS);
    f->w = w, f->h = h;
    f->path = strdup(path);
    if (f->fmt == PL_PNG) {
        f->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    } else if (f->fmt == PL_SVG) {
        f->surf = cairo_svg_surface_create(path, w, h);
        if (cairo_surface_status(f->surf) == CAIRO_STATUS_SUCCESS)
            cairo_svg_surface_set_document_unit(f->surf, CAIRO_SVG_UNIT_PX);
    } else {
        f->surf = cairo_pdf_surface_create(path, w, h);
    }
    if (cairo_surface_status(f->surf) != CAIRO_STATUS_SUCCESS) {
        ark_status s = ark_fail(ARK_ERR_IO, "%s: cannot create the figure (%s)", path,
                                cairo_status_to_string(cairo_surface_status(f->surf)));
        pl_fig_abort(f);
        return s;
    }
    f->cr = cairo_create(f->surf);
    cairo_set_source_rgb(f->cr, 1, 1, 1);
    cairo_paint(f->cr);
    cairo_set_source_rgb(f->cr, 0, 0, 0);
    return ARK_OK;
}

void pl_fig_abort(pl_fig *f)
{
    if (f->cr) cairo_destroy(f->cr);
    if (f->surf) cairo_surface_destroy(f->surf);
    for (int i = 0; i < f->n_texts; i++) free(f->texts[i].text);
    free(f->texts);
    free(f->path);
    free(f->title);
    memset(f, 0, sizeof *f);
}

static void xml_escape(FILE *o, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&') fputs("&amp;", o);
        else if (c == '<') fputs("&lt;", o);
        else if (c == '>') fputs("&gt;", o);
        else if (c == '"') fputs("&quot;", o);
        else if (c < 0x20) fputc(' ', o);
        else fputc(c, o);
    }
}

/* Append the text layer (and a <title>) before the closing </svg>. */
static ark_status svg_add_text(pl_fig *f)
{
    FILE *in = fopen(f->path, "rb");
    if (!in) return ark_fail(ARK_ERR_IO, "%s: cannot read back the SVG", f->path);
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *buf = malloc(n + 1);
    size_t got = fread(buf, 1, n, in);
    fclose(in);
    buf[got] = 0;
    char *end = NULL;
    for (char *p = strstr(buf, "</svg>"); p; p = strstr(p + 1, "</svg>")) end = p;
    if (!end) {
        free(buf);
        return ark_fail(ARK_ERR_FORMAT, "%s: cairo's SVG has no </svg>", f->path);
    }
    FILE *o = fopen(f->path, "wb");
    if (!o) {
        free(buf);
        return ark_fail(ARK_ERR_IO, "%s: cannot write", f->path);
    }
    fwrite(buf, 1, end - buf, o);
    if (f->title) {
        fputs("<title>", o);
        xml_escape(o, f->title);
        fputs("</title>\n", o);
    }
    fputs("<g id=\"ark-text\" fill-opacity=\"0\" font-family=\"DejaVu Sans\" xml:space=\"preserve\">\n", o);
    for (int i = 0; i < f->n_texts; i++) {
        const pl_text_rec *t = &f->texts[i];
        fprintf(o, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.2f\"", t->x, t->y, t->size);
        if (t->angle != 0) fprintf(o, " transform=\"rotate(%.2f %.2f %.2f)\"", t->angle * 180 / M_PI, t->x, t->y);
        fputc('>', o);
        xml_escape(o, t->text);
        fputs("</text>\n", o);
    }
    fputs("</g>\n", o);
    fputs(end, o);
    int bad = ferror(o);
    bad |= fclose(o);
    free(buf);
    return bad ? ark_fail(ARK_ERR_IO, "%s: write failed", f->path) : ARK_OK;
}

ark_status pl_fig_close(pl_fig *f)
{
    ark_status s = ARK_OK;
    cairo_status_t cs = cairo_status(f->cr);
    if (cs != CAIRO_STATUS_SUCCESS) s = ark_fail(ARK_ERR_IO, "%s: drawing failed (%s)", f->path, cairo_status_to_string(cs));
    cairo_destroy(f->cr);
    f->cr = NULL;
    if (s == ARK_OK && f->fmt == PL_PNG) {
        cs = cairo_surface_write_to_png(f->surf, f->path);
        if (cs != CAIRO_STATUS_SUCCESS) s = ark_fail(ARK_ERR_IO, "%s: cannot write the PNG (%s)", f->path, cairo_status_to_string(cs));
    }
    cairo_surface_finish(f->surf);
    cs = cairo_surface_status(f->surf);
    if (s == ARK_OK && cs != CAIRO_STATUS_SUCCESS)
        s = ark_fail(ARK_ERR_IO, "%s: cannot write (%s)", f->path, cairo_status_to_string(cs));
    if (s == ARK_OK && f->fmt == PL_SVG) s = svg_add_text(f);
    pl_fig_abort(f);
    return s;
}

void pl_set_rgb(pl_fig *f, pl_rgb c)
{
    cairo_set_source_rgb(f->cr, c.r, c.g, c.b);
}

/* Length of a valid UTF-8 sequence at s (0 if invalid). */
static int utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    int n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

char *pl_label(const char *s, int max_chars)
{
    if (!s) s = "";
    size_t cap = strlen(s) * 3 + 8;
    char *out = malloc(cap), *o = out;
    int chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (max_chars > 0 && chars == max_chars) {
            memcpy(o, "\xe2\x80\xa6", 3); /* … */
            o += 3;
            break;
        }
        if (*p == '\n' || *p == '\r') {
            memcpy(o, "\xe2\x86\xb5", 3); /* ↵ */
            o += 3, p++;
        } else if (*p == '\t') {
            memcpy(o, "\xe2\x87\xa5", 3); /* ⇥ */
            o += 3, p++;
        } else if (*p < 0x20) {
            *o++ = ' ', p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD for a stray byte */
                o += 3, p++;
            } else {
                memcpy(o, p, n);
                o += n, p += n;
            }
        }
        chars++;
    }
    *o = 0;
    return out;
}

static void set_font(pl_fig *f, double size, bool bold)
{
    cairo_select_font_face(f->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(f->cr, size);
}

double pl_text_w(pl_fig *f, const char *s, double size)
{
    char *t = pl_label(s, 0);
    set_font(f, size, false);
    cairo_text_extents_t te;
    cairo_text_extents(f->cr, t, &te);
    free(t);
    return te.x_advance;
}

static void record(pl_fig *f, double x, double y, double size, double angle, const char *s)
{
    if (f->fmt != PL_SVG || !*s) return;
    if (f->n_texts == f->cap_texts) {
        f->cap_texts = f->cap_texts ? 2 * f->cap_texts : 64;
        f->texts = realloc(f->texts, sizeof *f->texts * f->cap_texts);
    }
    f->texts[f->n_texts++] = (pl_text_rec){x, y, size, angle, strdup(s)};
}

static void text_impl(pl_fig *f, double x, double y, const char *s, double size, double ax, double ay,
                      double angle, bool bold)
{
    char *t = pl_label(s, 0);
    cairo_t *cr = f->cr;
    cairo_save(cr);
    set_font(f, size, bold);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, t, &te);
    cairo_font_extents(cr, &fe);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    double ox = -ax * te.x_advance, oy = -ay * (fe.ascent + fe.descent) + fe.ascent;
    cairo_move_to(cr, ox, oy);
    cairo_show_text(cr, t);
    cairo_user_to_device(cr, &ox, &oy);
    cairo_restore(cr);
    record(f, ox, oy, size, angle, t);
    free(t);
}

void pl_text(pl_fig *f, double x, double y, const char *s, double size, double ax, double ay, double angle)
{
    text_impl(f, x, y, s, size, ax, ay, angle, false);
}

void pl_text_bold(pl_fig *f, double x, double y, const char *s, double size, double ax, double ay, double angle)
{
    text_impl(f, x, y, s, size, ax, ay, angle, true);
}

int pl_ticks(double lo, double hi, int max, double *out)
{
    if (!(hi > lo) || max < 2) {
        out[0] = lo;
        return 1;
    }
    double raw = (hi - lo) / (max - 1);
    double mag = pow(10, floor(log10(raw)));
    double step = mag;
    static const double mult[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++) {
        step = mult[i] * mag;
        if ((hi - lo) / step <= max - 1) break;
    }
    int n = 0;
    double first = ceil(lo / step - 1e-9) * step;
    for (double v = first; v <= hi + step * 1e-9 && n < max + 1; v += step) out[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

void pl_fmt_num(double v, char *buf, size_t cap)
{
    double a = fabs(v);
    if (v == 0) snprintf(buf, cap, "0");
    else if (a >= 1e5 || a < 1e-3) snprintf(buf, cap, "%.2g", v);
    else snprintf(buf, cap, "%.4g", v);
}

int pl_label_step(double cell, double size)
{
    if (cell <= 0) return 1;
    int step = (int)ceil(size * 1.15 / cell);
    return step < 1 ? 1 : step;
}

void pl_draw_title(pl_fig *f, const char *title)
{
    if (!title || !*title) return;
    free(f->title);
    f->title = strdup(title);
    cairo_set_source_rgb(f->cr, 0, 0, 0);
    char *t = pl_label(title, 0);
    double size = 16;
    cairo_select_font_face(f->cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    for (; size > 8; size -= 0.5) {
        cairo_text_extents_t te;
        cairo_set_font_size(f->cr, size);
        cairo_text_extents(f->cr, t, &te);
        if (te.x_advance <= f->w - 16) break;
    }
    pl_text_bold(f, f->w / 2.0, 10, t, size, 0.5, 0, 0);
    free(t);
}

void ark_plot_release(void)
{
    cairo_debug_reset_static_data();
    /* fontconfig comes with cairo; found at run time so that the library
     * does not link it for this one call */
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini) fc_fini();
}
