/* Plots: every type renders from given matrices and from a fixture
 * model's run to PNG and SVG; PNGs decode (cairo) to the stated size and
 * are not blank; a known matrix puts the colour maps' end colours
 * (matplotlib's viridis #440154 / #fde725, ColorBrewer RdBu #053061 /
 * #67001f, hard-coded here from the published tables) in the right cells;
 * SVGs carry the labels' text; the bench's plotter; errors. */
#include <cairo.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "arrakis/bench.h"
#include "testutil.h"

static const char *const TYPES[] = {"attention", "attention_grid", "qk_dot_product", "head_scores", "composition",
                                    "patching", "causal_trace", "logit_lens", "attribution", "residual_stream",
                                    "layer_norms", "neuron_activation", "neuron_trajectories", "feature_density"};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

/* Distinct colours of a decoded PNG, and its size. */
static int png_colours(const char *path, int *w, int *h)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    *w = cairo_image_surface_get_width(s), *h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    static unsigned char seen[1 << 21]; /* a bit per 24-bit colour */
    memset(seen, 0, sizeof seen);
    int n = 0;
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++) {
            uint32_t p = ((const uint32_t *)(d + (size_t)y * stride))[x] & 0xffffff;
            if (!(seen[p >> 3] & (1 << (p & 7)))) seen[p >> 3] |= 1 << (p & 7), n++;
        }
    cairo_surface_destroy(s);
    return n;
}

/* Plain data a type reads: a matrix with token labels (or values). */
static char *fixture_data(const char *type)
{
    cJSON *d = cJSON_CreateObject();
    int R = 5, C = 6;
    if (!strcmp(type, "attention") || !strcmp(type, "qk_dot_product")) R = C = 6;
    if (!strcmp(type, "neuron_activation")) R = 4, C = 40;
    if (!strcmp(type, "feature_density")) R = 1, C = 300;
    if (!strcmp(type, "attribution")) R = 1, C = 12;
    cJSON *m = cJSON_CreateArray(), *rl = cJSON_CreateArray(), *cl = cJSON_CreateArray();
    for (int r = 0; r < R; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < C; c++) {
            double v = sin(0.7 * r + 0.31 * c) * (1 + r);
            if (!strcmp(type, "feature_density")) v = pow(10, -4.0 * ((c * 37) % 300) / 300.0);
            if (!strcmp(type, "attention")) v = c <= r ? 1.0 / (r + 1) : 0;
            cJSON_AddItemToArray(row, cJSON_CreateNumber(v));
        }
        cJSON_AddItemToArray(m, row);
        char buf[32];
        snprintf(buf, sizeof buf, "row%d", r);
        cJSON_AddItemToArray(rl, cJSON_CreateString(buf));
    }
    for (int c = 0; c < C; c++) {
        char buf[32];
        snprintf(buf, sizeof buf, " tok%d", c);
        cJSON_AddItemToArray(cl, cJSON_CreateString(buf));
    }
    if (!strcmp(type, "attention_grid")) {
        cJSON *ms = cJSON_CreateArray();
        for (int k = 0; k < 3; k++) cJSON_AddItemToArray(ms, cJSON_Duplicate(m, 1));
        cJSON_Delete(m);
        cJSON_AddItemToObject(d, "matrices", ms);
    } else {
        cJSON_AddItemToObject(d, "matrix", m);
    }
    cJSON_AddItemToObject(d, "row_labels", rl);
    cJSON_AddItemToObject(d, "col_labels", cl);
    if (!strcmp(type, "logit_lens")) {
        cJSON *ct = cJSON_CreateArray();
        for (int r = 0; r < R; r++) {
            cJSON *row = cJSON_CreateArray();
            for (int c = 0; c < C; c++) cJSON_AddItemToArray(row, cJSON_CreateString("Paris"));
            cJSON_AddItemToArray(ct, row);
        }
        cJSON_AddItemToObject(d, "cell_text", ct);
    }
    if (!strcmp(type, "causal_trace")) cJSON_AddItemToObject(d, "marks", cJSON_CreateIntArray((int[]){1, 2}, 2));
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

static void render_both(const char *type, const char *spec, const char *data, const char *dir, bool check_token)
{
    char png[512], svg[512];
    snprintf(png, sizeof png, "%s/%s.png", dir, type);
    snprintf(svg, sizeof svg, "%s/%s.svg", dir, type);
    int w = 0, h = 0, pw, ph;
    ark_status s = ark_plot_render_file(spec, data, png, &w, &h);
    if (s != ARK_OK) fail_msg("%s: %s", type, ark_errmsg());
    int colours = png_colours(png, &pw, &ph);
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
    if (colours < 12) fail_msg("%s: only %d colours: blank?", type, colours);
    assert_int_equal(ark_plot_render_file(spec, data, svg, NULL, NULL), ARK_OK);
    size_t n;
    char *text = read_file(svg, &n);
    assert_non_null(text);
    assert_non_null(strstr(text, "<svg"));
    assert_non_null(strstr(text, "</svg>"));
    if (check_token && !strstr(text, "tok1") && !strstr(text, "row1")) fail_msg("%s: SVG lacks the labels' text", type);
    free(text);
}

static void every_type_from_matrices(void **state)
{
    (void)state;
    const char *dir = scratch_dir("plot_matrices");
    for (int i = 0; i < N_TYPES; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "{\"type\": \"%s\"}", TYPES[i]);
        char *data = fixture_data(TYPES[i]);
        render_both(TYPES[i], spec, data, dir, strcmp(TYPES[i], "feature_density") != 0);
        free(data);
    }
}

static void stated_size_and_pdf(void **state)
{
    (void)state;
    const char *dir = scratch_dir("plot_size");
    char path[512];
    snprintf(path, sizeof path, "%s/s.png", dir);
    char *data = fixture_data("patching");
    int w, h, pw, ph;
    assert_int_equal(ark_plot_render_file("{\"type\": \"patching\", \"width\": 640, \"height\": 480}", data, path, &w, &h), ARK_OK);
    png_colours(path, &pw, &ph);
    assert_int_equal(pw, 640);
    assert_int_equal(ph, 480);
    snprintf(path, sizeof path, "%s/s.pdf", dir);
    assert_int_equal(ark_plot_render(("{\"type\": \"patching\"}"), data, path), ARK_OK);
    size_t n;
    char *pdf = read_file(path, &n);
    assert_true(n > 100 && !memcmp(pdf, "%PDF", 4));
    free(pdf);
    free(data);
}

/* 48 layers x 128 positions: renders, labels thinned, cells >= 7 px. */
static void large_heatmap(void **state)
{
    (void)state;
    cJSON *d = cJSON_CreateObject(), *m = cJSON_CreateArray(), *cl = cJSON_CreateArray();
    for (int r = 0; r < 48; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < 128; c++) cJSON_AddItemToArray(row, cJSON_CreateNumber(sin(r * 0.1) * cos(c * 0.05)));
        cJSON_AddItemToArray(m, row);
    }
    for (int c = 0; c < 128; c++) cJSON_AddItemToArray(cl, cJSON_CreateString(" a fairly long token"));
    cJSON_AddItemToObject(d, "matrix", m);
    cJSON_AddItemToObject(d, "col_labels", cl);
    char *data = cJSON_PrintUnformatted(d), path[512];
    snprintf(path, sizeof path, "%s/big.png", scratch_dir("plot_big"));
    int w, h;
    assert_int_equal(ark_plot_render_file("{\"type\": \"patching\"}", data, path, &w, &h), ARK_OK);
    assert_true(w >= 128 * 7 && w < 4000);
    assert_true(h >= 48 * 7 && h < 3000);
    free(data);
    cJSON_Delete(d);
}

/* The pixel at (x, y) of a decoded PNG. */
static void pixel(cairo_surface_t *s, int x, int y, int rgb[3])
{
    uint32_t p = ((const uint32_t *)(cairo_image_surface_get_data(s) + (size_t)y * cairo_image_surface_get_stride(s)))[x];
    rgb[0] = (p >> 16) & 255, rgb[1] = (p >> 8) & 255, rgb[2] = p & 255;
}

static bool near(const int *a, unsigned hex, int tol)
{
    return abs(a[0] - (int)(hex >> 16)) <= tol && abs(a[1] - (int)((hex >> 8) & 255)) <= tol && abs(a[2] - (int)(hex & 255)) <= tol;
}

/* A 3 x 4 matrix with its minimum at (0, 0), maximum at (2, 3), every other
 * cell the midpoint.  The heatmap's box is found from the mid colour
 * (columns / rows with many mid pixels; the colour bar is 16 px wide), and
 * the cells' centres are read back. */
static void extreme_colours(const char *spec, unsigned lo_hex, unsigned mid_hex, unsigned hi_hex, double lo, double mid,
                            double hi)
{
    char data[512], path[512];
    snprintf(data, sizeof data, "{\"matrix\": [[%g, %g, %g, %g], [%g, %g, %g, %g], [%g, %g, %g, %g]]}", lo, mid, mid, mid,
             mid, mid, mid, mid, mid, mid, mid, hi);
    snprintf(path, sizeof path, "%s/extreme.png", scratch_dir("plot_extreme"));
    assert_int_equal(ark_plot_render_file(spec, data, path, NULL, NULL), ARK_OK);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    int W = cairo_image_surface_get_width(s), H = cairo_image_surface_get_height(s), c[3];
    int x0 = W, x1 = -1, y0 = H, y1 = -1;
    int *colc = calloc(W, sizeof *colc), *rowc = calloc(H, sizeof *rowc);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            pixel(s, x, y, c);
            if (near(c, mid_hex, 2)) colc[x]++, rowc[y]++;
        }
    for (int x = 0; x < W; x++)
        if (colc[x] > 20) x0 = x < x0 ? x : x0, x1 = x;
    for (int y = 0; y < H; y++)
        if (rowc[y] > 20) y0 = y < y0 ? y : y0, y1 = y;
    assert_true(x1 > x0 && y1 > y0);
    double cw = (x1 - x0 + 1) / 4.0, ch = (y1 - y0 + 1) / 3.0;
    pixel(s, (int)(x0 + 0.5 * cw), (int)(y0 + 0.5 * ch), c);
    if (!near(c, lo_hex, 2)) fail_msg("cell (0,0): %d,%d,%d, expected #%06x", c[0], c[1], c[2], lo_hex);
    pixel(s, (int)(x0 + 3.5 * cw), (int)(y0 + 2.5 * ch), c);
    if (!near(c, hi_hex, 2)) fail_msg("cell (2,3): %d,%d,%d, expected #%06x", c[0], c[1], c[2], hi_hex);
    pixel(s, (int)(x0 + 1.5 * cw), (int)(y0 + 1.5 * ch), c);
    assert_true(near(c, mid_hex, 2));
    free(colc);
    free(rowc);
    cairo_surface_destroy(s);
}

static void heatmap_extremes(void **state)
{
    (void)state;
    /* unsigned: viridis low / high; the mid colour is viridis(0.5) = #21918c (matplotlib) */
    extreme_colours("{\"type\": \"head_scores\", \"width\": 700, \"height\": 500}", 0x440154, 0x21918c, 0xfde725, 0, 0.5, 1);
    /* signed: RdBu centred at zero */
    extreme_colours("{\"type\": \"patching\", \"width\": 700, \"height\": 500}", 0x053061, 0xf7f7f7, 0x67001f, -2, 0, 2);
    /* the public colour map agrees */
    double rgb[3];
    assert_int_equal(ark_plot_cmap("viridis", 0, rgb), ARK_OK);
    assert_int_equal((int)lround(rgb[0] * 255), 0x44);
    assert_int_equal(ark_plot_cmap("rdbu", 1, rgb), ARK_OK);
    assert_int_equal((int)lround(rgb[0] * 255), 0x67);
    assert_int_equal(ark_plot_cmap("jet", 0.5, rgb), ARK_ERR_ARG);
}

/* Every type collected from a run of the facts-llama fixture (tokenizer,
 * GQA) and rendered; the attention rows are probabilities. */
static void every_type_from_model(void **state)
{
    (void)state;
    ark_model *m;
    ark_tokenizer *t;
    assert_int_equal(ark_model_open(fixture_path("trained/facts-llama"), &m), ARK_OK);
    assert_int_equal(ark_tokenizer_open(fixture_path("trained/facts-llama"), &t), ARK_OK);
    ark_tool_env env = {m, t};
    const char *dir = scratch_dir("plot_model");
    for (int i = 0; i < N_TYPES; i++) {
        char spec[512];
        snprintf(spec, sizeof spec,
                 "{\"type\": \"%s\", \"text\": \"Gaishar Tastei lives in\", \"layer\": 1, \"head\": 1, "
                 "\"corrupted\": \"Gaishar Tastei works as\", \"subject\": \"Gaishar Tastei\", \"samples\": 2, "
                 "\"target\": \"Prague\"}", TYPES[i]);
        char *data = NULL;
        if (ark_plot_collect(&env, spec, &data) != ARK_OK) fail_msg("%s: %s", TYPES[i], ark_errmsg());
        render_both(TYPES[i], spec, data, dir, false);
        if (!strcmp(TYPES[i], "attention")) {
            cJSON *d = cJSON_Parse(data), *row;
            int r = 0;
            cJSON_ArrayForEach(row, cJSON_GetObjectItem(d, "matrix")) {
                double sum = 0, v;
                int c = 0;
                cJSON *x;
                cJSON_ArrayForEach(x, row) {
                    v = x->valuedouble;
                    sum += v;
                    if (c++ > r) assert_true(v == 0); /* causal */
                }
                assert_true(fabs(sum - 1) < 1e-4);
                r++;
            }
            assert_int_equal(r, 4);
            assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "col_labels"), 1)->valuestring, "Tastei");
            cJSON_Delete(d);
        }
        free(data);
    }
    ark_tokenizer_free(t);
    ark_model_free(m);
}

/* Induction heads of the induction-gpt2 fixture: the induction scores the
 * plot collects on eval_ids.json rows match ground_truth.json. */
static void induction_scores_match_ground_truth(void **state)
{
    (void)state;
    ark_model *m;
    assert_int_equal(ark_model_open(fixture_path("trained/induction-gpt2"), &m), ARK_OK);
    ark_tool_env env = {m, NULL};
    char *ids = read_file(fixture_path("trained/induction-gpt2/eval_ids.json"), NULL);
    char *gt = read_file(fixture_path("trained/induction-gpt2/ground_truth.json"), NULL);
    cJSON *rows, *truth = cJSON_Parse(gt);
    cJSON *all = cJSON_Parse(ids);
    rows = cJSON_DetachItemFromObject(all, "input_ids");
    cJSON_Delete(all);
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "type", "head_scores");
    cJSON_AddStringToObject(spec, "score", "induction");
    cJSON *some = cJSON_CreateArray();
    for (int i = 0; i < cJSON_GetArraySize(rows); i++) cJSON_AddItemToArray(some, cJSON_Duplicate(cJSON_GetArrayItem(rows, i), 1));
    cJSON_AddItemToObject(spec, "tokens", some);
    char *st = cJSON_PrintUnformatted(spec), *data;
    assert_int_equal(ark_plot_collect(&env, st, &data), ARK_OK);
    cJSON *d = cJSON_Parse(data);
    const cJSON *ind = cJSON_GetObjectItem(truth, "induction_score");
    assert_non_null(ind);
    double worst = 0;
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < 4; h++) {
            double got = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "matrix"), l), h)->valuedouble;
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(ind, l), h)->valuedouble;
            worst = fmax(worst, fabs(got - want));
        }
    printf("induction scores on the 100 eval rows: max |ours - ground truth| = %.4f\n", worst);
    assert_true(worst < 1e-3); /* ground truth is rounded to 4 digits */
    cJSON_Delete(d);
    free(data);
    free(st);
    cJSON_Delete(spec);
    cJSON_Delete(rows);
    cJSON_Delete(truth);
    free(ids);
    free(gt);
    ark_model_free(m);
}

static void bench_plotter(void **state)
{
    (void)state;
    assert_true(ark_bench_plotter() == ark_plot_bench_render);
    char path[512];
    snprintf(path, sizeof path, "%s/bench.png", scratch_dir("plot_bench"));
    const char *result = "{\"tools\": [{\"name\": \"x\", \"result\": {\"matrix\": [[1, 2], [3, 4]]}}]}";
    assert_int_equal(ark_plot_bench_render(NULL, "{\"type\": \"head_scores\", \"from\": \"tools.0.result\"}", result, path), ARK_OK);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(ark_plot_bench_render(NULL, "{\"type\": \"head_scores\", \"from\": \"tools.3\"}", result, path), ARK_ERR_MISSING);
    assert_non_null(strstr(ark_errmsg(), "tools.3"));
}

static void errors(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/e.png", scratch_dir("plot_errors"));
    const char *m = "{\"matrix\": [[1, 2], [3, 4]]}";
    assert_int_equal(ark_plot_render("{\"type\": \"nope\"}", m, path), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "logit_lens"));
    assert_int_equal(ark_plot_render("{\"type\": \"patching\"}", m, "/tmp/x.gif"), ARK_ERR_ARG);
    assert_int_equal(ark_plot_render("{\"type\": \"patching\"}", "{\"matrix\": [[1, 2], [3]]}", path), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "row 1"));
    assert_int_equal(ark_plot_render("{\"type\": \"patching\"}", "{\"foo\": 1}", path), ARK_ERR_MISSING);
    assert_int_equal(ark_plot_render("{\"type\": \"patching\"}", "{not json", path), ARK_ERR_FORMAT);
    assert_int_equal(ark_plot_render("{\"type\": \"patching\", \"width\": 3}", m, path), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "width"));
    assert_int_equal(ark_plot_render("{\"type\": \"patching\"}", m, "/nonexistent/dir/x.svg"), ARK_ERR_IO);
    assert_int_equal(ark_plot_render("{\"type\": \"patching\"}", m, "/nonexistent/dir/x.png"), ARK_ERR_IO);
    assert_int_equal(ark_plot_render("{\"type\": \"neuron_activation\", \"kind\": \"box\"}", m, path), ARK_ERR_ARG);
    assert_int_equal(ark_view_render("attention", "{\"tokens\": [\"a\"]}", path), ARK_ERR_ARG);
    assert_int_equal(ark_view_render("pie", "{}", path), ARK_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_from_matrices),
        cmocka_unit_test(stated_size_and_pdf),
        cmocka_unit_test(large_heatmap),
        cmocka_unit_test(heatmap_extremes),
        cmocka_unit_test(every_type_from_model),
        cmocka_unit_test(induction_scores_match_ground_truth),
        cmocka_unit_test(bench_plotter),
        cmocka_unit_test(errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ark_plot_release();
    return rc;
}
