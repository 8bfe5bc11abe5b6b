/* Plots (PNG, SVG, PDF through cairo) and interactive HTML views.
 *
 * A plot is a SPEC — a JSON object:
 *
 *   {"type": "attention",            one of ark_plot_types()
 *    "title": "...",                 optional (a default names the type)
 *    "width": 900, "height": 600,    optional, pixels (points for SVG/PDF);
 *                                    absent: sized from the data
 *    "signed": true,                 optional: diverging map centred at 0
 *                                    (default per type; see docs/plots.md)
 *    "vmin": 0, "vmax": 1,           optional colour / axis range
 *    "cmap": "viridis" | "rdbu",     optional
 *    "x_label", "y_label", "value_label": optional axis titles
 *    "kind": "violin" | "histogram", neuron_activation
 *    "bins": 40, "top_k": 20,        histograms; bars and neuron choices
 *    "annotate": true,               write each cell's value in heatmaps
 *    "data": {...}}                  optional: the data inline
 *
 * rendered from DATA — a JSON object in one of two forms:
 *
 *   plain      {"matrix": [[...]] | "matrices": [[[...]]] | "values": [...],
 *               "row_labels": [...], "col_labels": [...], "titles": [...],
 *               "cell_text": [[...]], "marks": [...], "series": [...]}
 *              (null entries are missing values, drawn grey); every type
 *              renders from this form (docs/plots.md lists, per type, what
 *              rows and columns mean);
 *   a tool's result, as `arrakis tool KEY --json` (or the command built on
 *              the tool) prints it: the fields docs/tools/KEY.md documents
 *              are read (docs/plots.md says which, per type).
 *
 * ark_plot_collect() makes the plain form from a model run (hook points and
 * the engine's analysis functions), so one spec can be rendered from a
 * model, from a tool's result or from fixture matrices.
 *
 * Colours: signed values use ColorBrewer's RdBu (negative blue #053061,
 * zero #f7f7f7, positive red #67001f) centred at zero (range +-max|v|
 * unless vmin/vmax are given); unsigned values use viridis (matplotlib's
 * table: low #440154, high #fde725).  Every heatmap has a colour bar and
 * axis titles; labels are thinned and rotated to stay readable for 48
 * layers x 128 positions.  Text is drawn with cairo's toy API in DejaVu
 * Sans; SVG output also carries every label as (transparent) <text>, so
 * the tokens can be searched and selected. */
#ifndef ARRAKIS_PLOT_H
#define ARRAKIS_PLOT_H

#include <stdbool.h>

#include "arrakis/core.h"
#include "arrakis/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The plot types, NULL-terminated: attention, attention_grid,
 * qk_dot_product, head_scores, composition, patching, causal_trace,
 * logit_lens, attribution, residual_stream, layer_norms, neuron_activation,
 * neuron_trajectories, feature_density. */
const char *const *ark_plot_types(void);
/* A one-line description of a type (NULL when unknown). */
const char *ark_plot_type_summary(const char *type);

/* Render a plot to out_path; the format follows the extension (.png, .svg,
 * .pdf).
 *   spec_json  the spec (above).
 *   data_json  the data (plain or a tool's result); NULL: the spec's "data".
 * The figure's size in pixels (points for SVG/PDF) is written to *width and
 * *height when they are not NULL.  Errors: ARK_ERR_ARG naming the spec field
 * or data field at fault (an unknown type lists the known ones), ARK_ERR_IO
 * naming the file. */
ark_status ark_plot_render_file(const char *spec_json, const char *data_json, const char *out_path, int *width,
                                int *height);

/* The same, for the bench and for scripts: ark_plot_render_file without the
 * size. */
ark_status ark_plot_render(const char *spec_json, const char *data_json, const char *out_path);

/* Make a plot's plain data from a model run.  The spec names the input
 * ("text": "..." or "tokens": [ids]; a list of either gives several rows
 * where a type pools over rows) and the type's options (docs/plots.md):
 * "layer", "head", "score", "mode", "target", "against", "pos", "corrupted",
 * "answer", "wrong", "subject", "patch", "neurons", "top_k", ...
 * *data_json (malloc'd) is the plain form, labelled with the tokens' display
 * strings.  Errors name the spec field at fault. */
ark_status ark_plot_collect(const ark_tool_env *env, const char *spec_json, char **data_json);

/* The bench's plotter (bench.h's ark_plot_render_fn): renders one plot of
 * a spec run.  `plot` is the spec; the data is, in order: the spec's
 * "data"; the subtree of `result` at the spec's "from" (a dotted path, e.g.
 * "tools.0.result" or "logit_lens"); the whole result when it holds what
 * the type reads; else, with env->model set and the spec naming an input,
 * a fresh ark_plot_collect(). */
ark_status ark_plot_bench_render(const ark_tool_env *env, const char *plot, const char *result,
                                 const char *out_path);

/* ---- interactive views ----
 *
 * Self-contained HTML files (styles, script and data inlined; no network):
 *
 *   "attention"  a grid of one layer's heads (a layer menu when several are
 *                given); hovering a token shows what it attends to (as a
 *                query) and what attends to it (as a key) in the selected
 *                head; clicking a head enlarges it.
 *                data {"tokens": [...], "layers": [L...], "patterns":
 *                      [layer][head][q][k]}
 *   "lens"       the logit lens as a table (points x positions), the top
 *                token in each cell coloured by its probability; hovering a
 *                cell shows its top-k tokens.
 *                data {"tokens": [...], "labels": [...], "top": [point][pos]
 *                      [{"token": s, "prob": p}, ...]}
 *   "tokens"     the text, each token coloured by a value (diverging when
 *                values have both signs), hover shows the value.
 *                data {"tokens": [...], "values": [...], "label": "..."}
 *                (or "rows": [{"tokens", "values"}, ...])
 */

/* Write view `kind` of `data_json` (the forms above) to out_path. */
ark_status ark_view_render(const char *kind, const char *data_json, const char *out_path);

/* A view's data from a model run: spec {"text" | "tokens", "layer"
 * (attention: one layer; absent: every layer), "top_k" (lens), "values"
 * (tokens: "hook:NAME[:INDEX]" or "dla:TOKEN[:COMPONENT]")}.
 * *data_json is malloc'd. */
ark_status ark_view_collect(const ark_tool_env *env, const char *kind, const char *spec_json, char **data_json);

/* Release the process-wide font caches that cairo and fontconfig keep after
 * text was drawn (cairo_debug_reset_static_data, then fontconfig's FcFini
 * when fontconfig is loaded).  Optional: call it once, at exit, when
 * nothing else in the process uses cairo or fontconfig any more — leak
 * checkers report those caches otherwise.  Plotting after it is fine (the
 * caches are rebuilt). */
void ark_plot_release(void);

/* ---- colour maps (for tests and programs that colour their own output) */

/* The colour of t in [0, 1] on map "viridis" or "rdbu" (0 = negative end,
 * 0.5 = centre, 1 = positive end); t is clamped.  rgb in [0, 1].
 * ARK_ERR_ARG for an unknown name. */
ark_status ark_plot_cmap(const char *name, double t, double rgb[3]);

#ifdef __cplusplus
}
#endif
#endif
