/* Plot specs: the type table, spec parsing, rendering a spec with its data,
 * and the bench's plotter hook. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "plot/plot_internal.h"

typedef enum { K_HEAT, K_GRID, K_BARS, K_LINES, K_DIST, K_DENSITY } pl_kind;

#define AUTO_SIGN 2 /* signed when the data has negative values */

static const struct pl_type {
    const char *name, *summary;
    pl_kind kind;
    int signed_default;
    bool transpose, square;
    const char *x_label, *y_label, *value_label;
} types[] = {
    {"attention", "one head's attention pattern (query x key)", K_HEAT, 0, false, true, "key", "query", "attention"},
    {"attention_grid", "every head of one layer (query x key each)", K_GRID, 0, false, true, "key", "query", "attention"},
    {"qk_dot_product", "one head's scaled, masked pre-softmax scores q.k (query x key)", K_HEAT, 1, false, true, "key",
     "query", "score q.k"},
    {"head_scores", "a score per head (layers x heads): induction, previous-token, ablation, DLA", K_HEAT, AUTO_SIGN,
     false, false, "head", "layer", "score"},
    {"composition", "composition scores between heads (writer x reader)", K_HEAT, 0, false, false, "reader head",
     "writer head", "composition score"},
    {"patching", "activation patching effects (layers x positions, or layers x heads)", K_HEAT, 1, false, false,
     "position", "layer", "patching effect"},
    {"causal_trace", "ROME's causal trace: effect of restoring each (token, layer) state", K_HEAT, AUTO_SIGN, true,
     false, "restored layer", "token", "p(answer)"},
    {"logit_lens", "logit lens: top token per (layer, position), coloured by probability", K_HEAT, 0, false, false,
     "position", "layer", "top-token probability"},
    {"attribution", "bar chart of the top components' direct logit attribution", K_BARS, 1, false, false, NULL,
     "component", "logit attribution"},
    {"residual_stream", "residual stream norms over layers, in layer order", K_LINES, 0, false, false, "layer",
     "norm", "norm"},
    {"layer_norms", "norm scales (hook_scale) per norm and position", K_HEAT, 0, false, false, "position", "norm",
     "scale"},
    {"neuron_activation", "activation distribution per neuron (violin or histogram)", K_DIST, 0, false, false,
     "neuron", "activation", "activation"},
    {"neuron_trajectories", "activation over positions of the top neurons", K_LINES, 0, false, false, "position",
     "activation", "activation"},
    {"feature_density", "log-density histogram of sparse-autoencoder features", K_DENSITY, 0, false, false,
     "log10 density (fraction of tokens where the feature fires)", "features", "features"},
};
#define N_TYPES (int)(sizeof types / sizeof types[0])

static const struct pl_type *find_type(const char *name)
{
    for (int i = 0; name && i < N_TYPES; i++)
        if (!strcmp(types[i].name, name)) return &types[i];
    return NULL;
}

const char *const *ark_plot_types(void)
{
    static const char *names[N_TYPES + 1];
    for (int i = 0; i < N_TYPES; i++) names[i] = types[i].name;
    return names;
}

const char *ark_plot_type_summary(const char *type)
{
    const struct pl_type *t = find_type(type);
    return t ? t->summary : NULL;
}

static ark_status unknown_type(const char *type)
{
    char list[512] = "";
    for (int i = 0; i < N_TYPES; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, types[i].name);
    }
    return ark_fail(ARK_ERR_ARG, "spec \"type\": unknown plot type \"%s\" (known: %s)", type ? type : "", list);
}

static ark_status get_str(const cJSON *j, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsString(v)) return ark_fail(ARK_ERR_ARG, "spec \"%s\": expected a string", key);
    *out = v->valuestring;
    return ARK_OK;
}

static ark_status get_num(const cJSON *j, const char *key, double lo, double hi, bool *has, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return ark_fail(ARK_ERR_ARG, "spec \"%s\": expected a number in [%g, %g]", key, lo, hi);
    *out = v->valuedouble;
    if (has) *has = true;
    return ARK_OK;
}

ark_status pl_spec_parse(const cJSON *j, pl_spec *s)
{
    memset(s, 0, sizeof *s);
    s->is_signed = -1;
    s->json = j;
    if (!cJSON_IsObject(j)) return ark_fail(ARK_ERR_ARG, "spec: expected a JSON object");
    ARK_TRY(get_str(j, "type", &s->type));
    if (!s->type) return ark_fail(ARK_ERR_ARG, "spec \"type\": missing");
    if (!find_type(s->type)) return unknown_type(s->type);
    ARK_TRY(get_str(j, "title", &s->title));
    ARK_TRY(get_str(j, "cmap", &s->cmap));
    if (s->cmap && strcmp(s->cmap, "viridis") && strcmp(s->cmap, "rdbu"))
        return ark_fail(ARK_ERR_ARG, "spec \"cmap\": \"%s\" (expected \"viridis\" or \"rdbu\")", s->cmap);
    ARK_TRY(get_str(j, "x_label", &s->x_label));
    ARK_TRY(get_str(j, "y_label", &s->y_label));
    ARK_TRY(get_str(j, "value_label", &s->value_label));
    ARK_TRY(get_str(j, "kind", &s->kind));
    double w = 0, h = 0, bins = 0, top = 0;
    ARK_TRY(get_num(j, "width", 16, 20000, NULL, &w));
    ARK_TRY(get_num(j, "height", 16, 20000, NULL, &h));
    ARK_TRY(get_num(j, "bins", 1, 1000, NULL, &bins));
    ARK_TRY(get_num(j, "top_k", 1, 100000, NULL, &top));
    s->width = (int)w, s->height = (int)h, s->bins = (int)bins, s->top_k = (int)top;
    ARK_TRY(get_num(j, "vmin", -1e30, 1e30, &s->has_vmin, &s->vmin));
    ARK_TRY(get_num(j, "vmax", -1e30, 1e30, &s->has_vmax, &s->vmax));
    if (s->has_vmin && s->has_vmax && !(s->vmax > s->vmin))
        return ark_fail(ARK_ERR_ARG, "spec \"vmax\": must be greater than \"vmin\"");
    const cJSON *sg = cJSON_GetObjectItemCaseSensitive(j, "signed");
    if (sg && !cJSON_IsBool(sg)) return ark_fail(ARK_ERR_ARG, "spec \"signed\": expected true or false");
    if (sg) s->is_signed = cJSON_IsTrue(sg);
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(j, "annotate");
    if (an && !cJSON_IsBool(an)) return ark_fail(ARK_ERR_ARG, "spec \"annotate\": expected true or false");
    s->annotate = cJSON_IsTrue(an);
    return ARK_OK;
}

/* Keep only matrix k of d (a head of a stack of patterns). */
static ark_status select_matrix(pl_data *d, const cJSON *spec)
{
    if (d->n == 1) return ARK_OK;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(spec, "head");
    if (!h) h = cJSON_GetObjectItemCaseSensitive(spec, "index");
    int k = cJSON_IsNumber(h) ? h->valueint : 0;
    if (k < 0) k += d->n;
    if (k < 0 || k >= d->n) return ark_fail(ARK_ERR_ARG, "spec \"head\": %d out of range (the data has %d matrices)", k, d->n);
    size_t sz = (size_t)d->rows * d->cols;
    memmove(d->v, d->v + k * sz, sizeof *d->v * sz);
    if (d->titles && d->titles[k] && !d->title) d->title = strdup(d->titles[k]);
    pl_strings_free(d->titles, d->n);
    d->titles = NULL;
    d->n = 1;
    return ARK_OK;
}

static bool has_negative(const pl_data *d)
{
    long n = (long)d->n * d->rows * d->cols;
    for (long i = 0; i < n; i++)
        if (d->v[i] < 0) return true;
    return false;
}

static ark_status draw(const struct pl_type *t, const pl_spec *s, pl_data *d, const char *path, int *w, int *h)
{
    pl_heat_layout lay = {t->signed_default == 1, t->transpose, t->square, t->x_label, t->y_label, t->value_label};
    if (t->signed_default == AUTO_SIGN) lay.signed_default = has_negative(d);
    switch (t->kind) {
    case K_HEAT:
        ARK_TRY(select_matrix(d, s->json));
        return pl_render_heatmap(s, d, path, &lay, w, h);
    case K_GRID: return pl_render_grid(s, d, path, &lay, w, h);
    case K_BARS:
        if (d->rows > 1 && d->cols == 1) pl_data_transpose(d);
        return pl_render_bars(s, d, path, &lay, w, h);
    case K_LINES: return pl_render_lines(s, d, path, &lay, w, h);
    case K_DIST: return pl_render_dist(s, d, path, &lay, w, h);
    case K_DENSITY: return pl_render_density(s, d, path, &lay, w, h);
    }
    return ark_fail(ARK_ERR_ARG, "spec \"type\": %s has no renderer", t->name);
}

/* The data of a spec: plain form first, then what a tool's result holds. */
static ark_status data_of(const pl_spec *s, const cJSON *dj, pl_data *d)
{
    ark_clear_error();
    ark_status st = pl_data_from_plain(dj, d);
    if (st != ARK_ERR_MISSING) return st;
    st = pl_data_from_result(s->type, dj, s, d);
    if (st != ARK_ERR_MISSING) return st;
    if (*ark_errmsg()) return st; /* an extractor said what it missed */
    return ark_fail(ARK_ERR_MISSING,
                    "data: nothing a %s plot reads (expected \"matrix\", \"matrices\", \"values\" or \"series\", "
                    "or a tool's result; see docs/plots.md)", s->type);
}

ark_status ark_plot_render_file(const char *spec_json, const char *data_json, const char *out_path, int *width,
                                int *height)
{
    if (!spec_json) return ark_fail(ARK_ERR_ARG, "spec: missing");
    if (!out_path || !*out_path) return ark_fail(ARK_ERR_ARG, "out: missing");
    pl_format fmt;
    ARK_TRY(pl_format_of(out_path, &fmt));
    cJSON *sj = cJSON_Parse(spec_json);
    if (!sj) return ark_fail(ARK_ERR_FORMAT, "spec: not valid JSON");
    cJSON *dj = NULL;
    pl_spec s;
    pl_data d = {0};
    ark_status st = pl_spec_parse(sj, &s);
    if (st == ARK_OK && data_json) {
        dj = cJSON_Parse(data_json);
        if (!dj) st = ark_fail(ARK_ERR_FORMAT, "data: not valid JSON");
    }
    const cJSON *src = dj ? dj : cJSON_GetObjectItemCaseSensitive(sj, "data");
    if (st == ARK_OK && !src) st = ark_fail(ARK_ERR_MISSING, "data: none given (pass data, or put it in the spec's \"data\")");
    if (st == ARK_OK) st = data_of(&s, src, &d);
    if (st == ARK_OK) st = draw(find_type(s.type), &s, &d, out_path, width, height);
    pl_data_free(&d);
    cJSON_Delete(dj);
    cJSON_Delete(sj);
    return st;
}

ark_status ark_plot_render(const char *spec_json, const char *data_json, const char *out_path)
{
    return ark_plot_render_file(spec_json, data_json, out_path, NULL, NULL);
}

/* ---- the bench's plotter ---- */

/* A dotted path ("tools.0.result") into j. */
static const cJSON *at_path(const cJSON *j, const char *path)
{
    char *p = strdup(path), *save = NULL;
    for (char *tok = strtok_r(p, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save)) {
        char *end;
        long i = strtol(tok, &end, 10);
        if (cJSON_IsArray(j) && *end == 0) j = cJSON_GetArrayItem(j, (int)i);
        else j = cJSON_GetObjectItemCaseSensitive(j, tok);
    }
    free(p);
    return j;
}

static bool names_input(const cJSON *spec)
{
    return cJSON_GetObjectItemCaseSensitive(spec, "text") || cJSON_GetObjectItemCaseSensitive(spec, "tokens");
}

/* The token ids a tool's result was run on (its first "tokens" list of
 * numbers), for a plot entry that names no input of its own. */
static const cJSON *result_tokens(const cJSON *rj)
{
    const cJSON *o = pl_find_key(rj, "tokens");
    const cJSON *t = o ? cJSON_GetObjectItemCaseSensitive(o, "tokens") : NULL;
    return cJSON_IsArray(t) && cJSON_IsNumber(t->child) ? t : NULL;
}

/* The plot spec as text, with the result's tokens when it names no input. */
static char *with_input(const cJSON *sj, const cJSON *rj)
{
    cJSON *c = cJSON_Duplicate(sj, 1);
    if (!names_input(sj) && result_tokens(rj)) cJSON_AddItemToObject(c, "tokens", cJSON_Duplicate(result_tokens(rj), 1));
    char *s = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return s;
}

ark_status ark_plot_bench_render(const ark_tool_env *env, const char *plot, const char *result,
                                 const char *out_path)
{
    cJSON *sj = plot ? cJSON_Parse(plot) : NULL;
    if (!sj) return ark_fail(ARK_ERR_FORMAT, "plot spec: not valid JSON");
    if (cJSON_GetObjectItemCaseSensitive(sj, "data")) {
        cJSON_Delete(sj);
        return ark_plot_render(plot, NULL, out_path);
    }
    cJSON *rj = result ? cJSON_Parse(result) : NULL;
    bool can_collect = env && env->model && (names_input(sj) || result_tokens(rj));
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(sj, "from");
    const cJSON *sub = cJSON_IsString(from) ? at_path(rj, from->valuestring) : rj;
    ark_status st = ARK_ERR_MISSING;
    char *data = NULL;
    if (cJSON_IsString(from) && !sub) {
        st = ark_fail(ARK_ERR_MISSING, "plot \"from\": \"%s\" is not in the run's result", from->valuestring);
        can_collect = false;
    } else if (sub) {
        data = cJSON_PrintUnformatted(sub);
        st = ark_plot_render(plot, data, out_path);
        if (st != ARK_ERR_MISSING || cJSON_IsString(from)) can_collect = false;
    }
    if (st != ARK_OK && can_collect) {
        free(data);
        data = NULL;
        char *spec = with_input(sj, rj);
        st = ark_plot_collect(env, spec, &data);
        free(spec);
        if (st == ARK_OK) st = ark_plot_render(plot, data, out_path);
    } else if (st != ARK_OK && !sub && !cJSON_IsString(from)) {
        st = ark_fail(ARK_ERR_MISSING, "plot: no data (the run has no result, and the spec names no input to run)");
    }
    free(data);
    cJSON_Delete(rj);
    cJSON_Delete(sj);
    return st;
}

/* Install the plotter in the bench when the bench is linked in (a weak
 * reference: a program without the bench links without it). */
typedef ark_status (*pl_bench_fn)(const ark_tool_env *, const char *, const char *, const char *);
extern void ark_bench_set_plotter(pl_bench_fn fn) __attribute__((weak));

__attribute__((constructor)) static void pl_install_bench_plotter(void)
{
    if (ark_bench_set_plotter) ark_bench_set_plotter(ark_plot_bench_render);
}
