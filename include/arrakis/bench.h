/* The bench: plug-in tools and versioned experiments.
 *
 * A bench is opened over a model (optional), its tokenizer (optional) and a
 * save directory (default "experiments/", created if missing).  It holds the
 * tool registry — every built-in tool under its key plus tools registered on
 * this bench — and an experiment store: an SQLite database
 * (DIR/experiments.db) and a content-addressed artefact folder
 * (DIR/artefacts/ab/abcdef..., SHA-256 of the content).
 *
 * Experiments.  Running an experiment through the bench records one *run*:
 * the experiment's name, its source text, its parameters (JSON), its result
 * (JSON), metrics (name -> number), artefacts (files, by content hash, with
 * their original names), named JSON attachments ("profile",
 * "hypothesis_test", ...), the start time, duration and peak memory, the
 * model's identity (SHA-256 of config.json and of the safetensors headers —
 * not of the weights' bytes), the tokenizer's (SHA-256 of tokenizer.json),
 * the library version and the host.
 *
 * Versions.  A version is the SHA-256 of the experiment's SOURCE TEXT ONLY —
 * not of its parameters.  Parameters belong to a run: running unchanged code
 * again, with the same or other parameters, adds a run to the same version;
 * changing the code makes a new version (numbered 1, 2, ... in order of
 * first appearance).  A parameter sweep is therefore one version with many
 * runs, each run carrying its parameters.  Nothing is ever overwritten or
 * deleted.
 *
 * Concurrency and crashes.  Any number of processes may log into one
 * directory at once (WAL mode, a busy timeout, one transaction per record).
 * A run's row is written as "running" when it starts and completed in one
 * transaction when it ends, so a process killed mid-run leaves the earlier
 * runs intact and that run marked unfinished; readers report such a run as
 * "interrupted" once its process (same host) is gone.
 *
 * Threads: one bench, store or run is used by one thread at a time; separate
 * benches (even over one directory) may be used from separate threads.
 *
 * Reading the store back (list, versions, one version, one run, diff,
 * export) returns JSON text whose shapes are documented in docs/bench.md;
 * the `arrakis exp ... --json` commands print exactly these texts. */
#ifndef ARRAKIS_BENCH_H
#define ARRAKIS_BENCH_H

#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/tokenizer.h"
#include "arrakis/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ark_bench ark_bench;
typedef struct ark_exp_run ark_exp_run;
typedef struct ark_exp_store ark_exp_store;
typedef struct ark_bench_tool ark_bench_tool;

/* ---- the bench ------------------------------------------------------- */

/* Open a bench.
 *
 * model      the model experiments run on, borrowed (it must outlive the
 *            bench); NULL for a bench that only logs (experiments that open
 *            their own models) — tools then cannot be handed out.
 * tokenizer  its tokenizer, borrowed; NULL when there is none.  Its identity
 *            is the SHA-256 of MODEL_DIR/tokenizer.json unless
 *            ark_bench_set_tokenizer_file() names another file.
 * save_dir   the experiment folder (NULL: "experiments"), created with its
 *            parents if missing.
 * Returns ARK_OK, or ARK_ERR_IO / ARK_ERR_FORMAT naming the folder or the
 * database at fault (e.g. a store written by a newer schema).  Free with
 * ark_bench_free(). */
ark_status ark_bench_open(ark_model *model, const ark_tokenizer *tokenizer, const char *save_dir,
                          ark_bench **out);
void ark_bench_free(ark_bench *b);

/* The save directory (as given, or "experiments"). */
const char *ark_bench_dir(const ark_bench *b);
/* The bench's store (owned by the bench). */
ark_exp_store *ark_bench_store(ark_bench *b);
/* The environment tools are built over (model and tokenizer). */
const ark_tool_env *ark_bench_env(const ark_bench *b);
/* Name the tokenizer.json whose SHA-256 identifies the tokenizer (when it
 * was not loaded from the model's folder).  path NULL: back to the default. */
ark_status ark_bench_set_tokenizer_file(ark_bench *b, const char *path);

/* The model's identity as recorded in every run:
 *   config_sha256   SHA-256 of MODEL_DIR/config.json's bytes;
 *   weights_sha256  SHA-256 over the safetensors headers: for each weight
 *                   file in name order (model.safetensors, or the shards of
 *                   model.safetensors.index.json), its file name, a NUL, its
 *                   8-byte header length and its JSON header, as on disk;
 *   sha256          SHA-256 of config_sha256 ":" weights_sha256 (hex text).
 * All hex, 64 characters + NUL.  A model without a folder (in memory) has
 * empty strings.  Headers name every tensor with its dtype, shape and byte
 * range, so a change of architecture or layout changes the identity; new
 * weights of the same layout (fine-tuning) do not — a documented choice,
 * to avoid reading gigabytes on every run. */
typedef struct ark_model_identity {
    char sha256[65];
    char config_sha256[65];
    char weights_sha256[65];
} ark_model_identity;
ark_status ark_model_identity_of(const char *model_dir, ark_model_identity *out);

/* ---- tools ----------------------------------------------------------- */

/* Register a tool on this bench only (the global registry is not touched).
 * The definition must outlive the bench; a key registered twice, or the key
 * of a built-in tool, is replaced for this bench (a user may override a
 * built-in).  Errors: ARK_ERR_ARG when def has no name or run function. */
ark_status ark_bench_register_tool(ark_bench *b, const ark_tool_def *def);
/* The tools this bench knows: its own first (in registration order), then
 * the global registry's that they do not shadow. */
int ark_bench_tool_count(const ark_bench *b);
const ark_tool_def *ark_bench_tool_at(const ark_bench *b, int i);
const ark_tool_def *ark_bench_find_tool(const ark_bench *b, const char *key);

/* Hand an instance of tool `key`, built over the bench's model and
 * tokenizer, to an experiment (the Python library's use_tools("write_read")).
 * The caller owns it and frees it with ark_bench_tool_free() before the
 * bench.  Errors: ARK_ERR_MISSING naming the key (and the known keys), or
 * the bench has no model; the tool's own constructor errors. */
ark_status ark_bench_use_tool(ark_bench *b, const char *key, ark_bench_tool **out);
/* Run an operation through the tool's generic entry point (see tool.h:
 * op NULL = default, params a JSON object as text, *result malloc'd JSON). */
ark_status ark_bench_tool_run(ark_bench_tool *t, const char *op, const char *params, char **result);
const ark_tool_def *ark_bench_tool_def(const ark_bench_tool *t);
/* The instance's state as the tool's create() made it (for a tool's typed
 * functions that take it). */
void *ark_bench_tool_state(const ark_bench_tool *t);
void ark_bench_tool_free(ark_bench_tool *t);

/* ---- plots (a hook the plotting module fills) ------------------------ */

/* Render one plot of a spec run.
 *   plot         the plot's spec as JSON ({"type": "logit_lens", "out": "lens.png", ...});
 *   result       the run's result JSON (the tools' results, see docs/bench.md);
 *   out_path     where to write the file.
 * Returns ARK_OK or an error (recorded against that plot, the run goes on). */
typedef ark_status (*ark_plot_render_fn)(const ark_tool_env *env, const char *plot, const char *result,
                                         const char *out_path);
/* Install the process-wide renderer (NULL: none).  Until one is installed
 * a spec's plots are recorded with status "pending: plotting not built". */
void ark_bench_set_plotter(ark_plot_render_fn fn);
ark_plot_render_fn ark_bench_plotter(void);

/* ---- experiments ----------------------------------------------------- */

/* An experiment function: reads its parameters, uses tools and logs
 * metrics, results and artefacts through `run`.  A status other than ARK_OK
 * marks the run "failed" with the thread's error message. */
typedef ark_status (*ark_exp_fn)(ark_bench *b, ark_exp_run *run, void *args);

/* Run fn(b, run, args) as a logged experiment named `name` whose source is
 * fn's own definition, read at run time from `file` (the way Python's
 * inspect.getsource does):  from the first token of the declaration after
 * the previous top-level `;`, `}` or preprocessor line, through the
 * matching closing brace and the end of its line.  Comments and string or
 * character literals containing braces are skipped.  If the file cannot be
 * read or holds no definition of `name`, the version's source is
 * "function NAME at FILE:LINE" and its note says "source unavailable:
 * REASON"; the version is the hash of that text.
 *
 * params      the run's parameters as a JSON object text (NULL: {}); `args`
 *             is opaque to the bench — what should be recorded goes in
 *             params or ark_exp_set_param().
 * Returns fn's status (with its message), or a store error (nothing ran). */
ark_status ark_bench_log_experiment(ark_bench *b, const char *name, ark_exp_fn fn, void *args,
                                    const char *params, const char *file, int line);

#define ARK_LOG_EXPERIMENT(bench, fn, args) \
    ark_bench_log_experiment((bench), #fn, (fn), (args), NULL, __FILE__, __LINE__)
#define ARK_LOG_EXPERIMENT_PARAMS(bench, fn, args, params_json) \
    ark_bench_log_experiment((bench), #fn, (fn), (args), (params_json), __FILE__, __LINE__)

/* Id of the last run this bench started (0 if none). */
int64_t ark_bench_last_run(const ark_bench *b);

/* Where an experiment's source comes from, for ark_exp_begin(). */
typedef struct ark_exp_source {
    const char *name;      /* the experiment's name (required) */
    const char *text;      /* the source text that is versioned (required) */
    const char *kind;      /* "c", "yaml", "text", ... (NULL: "text") */
    const char *file;      /* where it was read from (optional) */
    int line;              /* its first line there (0: unknown) */
    const char *function;  /* the C function (optional) */
    const char *note;      /* e.g. "source unavailable: ..." (optional) */
} ark_exp_source;

/* Start a run by hand (what ark_bench_log_experiment and spec runs do):
 * records the experiment and its version if new and inserts the run as
 * "running".  *out is valid until ark_exp_end(). */
ark_status ark_exp_begin(ark_bench *b, const ark_exp_source *src, const char *params, ark_exp_run **out);
/* Finish a run: status ARK_OK -> "ok", otherwise "failed" with `error`
 * (NULL: the status's name).  Writes the result, metrics, artefact
 * references and attachments in one transaction and frees the run.
 * Returns a store error if the record could not be written. */
ark_status ark_exp_end(ark_exp_run *run, ark_status status, const char *error);

/* What an experiment reads and logs through its run. */
int64_t ark_exp_run_id(const ark_exp_run *run);
/* The version's hash (64 hex) and ordinal (1, 2, ...). */
const char *ark_exp_run_version(const ark_exp_run *run);
int ark_exp_run_ordinal(const ark_exp_run *run);
/* The parameters as JSON object text (valid until the next set_param). */
const char *ark_exp_params(const ark_exp_run *run);
/* Set params[key] = value (JSON text; a bare word is taken as a string). */
ark_status ark_exp_set_param(ark_exp_run *run, const char *key, const char *json_value);
/* Log a metric (the last value logged under a name wins; NaN and
 * infinities are stored as null). */
ark_status ark_exp_log_metric(ark_exp_run *run, const char *name, double value);
/* The run's result: the whole value (any JSON text), or one key of a
 * result object.  Errors name the text that is not JSON. */
ark_status ark_exp_set_result(ark_exp_run *run, const char *json);
ark_status ark_exp_put_result(ark_exp_run *run, const char *key, const char *json_value);
/* Store a file (copied into DIR/artefacts by its SHA-256) under `name`
 * (NULL: the file's base name).  sha256_hex (optional, 65 bytes) receives
 * the hash. */
ark_status ark_exp_log_artefact(ark_exp_run *run, const char *path, const char *name, char *sha256_hex);
/* The same from memory (a cache, a generated text). */
ark_status ark_exp_log_artefact_data(ark_exp_run *run, const char *name, const void *data, size_t len,
                                     char *sha256_hex);
/* Attach a named JSON value to the run ("profile", "hypothesis_test", ...);
 * attaching a key again replaces it within this run. */
ark_status ark_exp_attach(ark_exp_run *run, const char *key, const char *json);

/* ---- the store ------------------------------------------------------- */

/* Open the store of a save directory (created if missing) without a bench. */
ark_status ark_exp_store_open(const char *dir, ark_exp_store **out);
void ark_exp_store_free(ark_exp_store *s);

/* Attach a named JSON value to a finished run (e.g. a profile computed
 * afterwards), in its own transaction.  Attaching a key again shadows the
 * earlier value in every read; the earlier one is kept in the store. */
ark_status ark_exp_store_attach(ark_exp_store *s, int64_t run_id, const char *key, const char *json);

/* Path of an artefact's file from its hash (malloc'd). */
char *ark_exp_artefact_path(const ark_exp_store *s, const char *sha256_hex);

/* Reads; *json is malloc'd JSON text (shapes: docs/bench.md).
 *   ark_exp_list      every experiment with its version and run counts;
 *   ark_exp_versions  one experiment's versions in order, with run counts
 *                     and dates;
 *   ark_exp_version   one version (its source and its runs); `version` is
 *                     an ordinal ("1", "2", ...), "latest", or a prefix of
 *                     its hash (>= 4 hex digits, unambiguous); NULL = latest;
 *   ark_exp_run_json  one run;
 *   ark_exp_diff      two versions: a unified diff of their sources and the
 *                     JSON values (result and metrics) that differ between
 *                     their latest runs;
 *   ark_exp_export    an experiment with every version, run, result and
 *                     artefact reference.
 * Errors: ARK_ERR_MISSING naming the experiment, version or run. */
ark_status ark_exp_list(ark_exp_store *s, char **json);
ark_status ark_exp_versions(ark_exp_store *s, const char *name, char **json);
ark_status ark_exp_version(ark_exp_store *s, const char *name, const char *version, char **json);
ark_status ark_exp_run_json(ark_exp_store *s, int64_t run_id, char **json);
ark_status ark_exp_diff(ark_exp_store *s, const char *name, const char *v1, const char *v2, char **json);
ark_status ark_exp_export(ark_exp_store *s, const char *name, char **json);

/* ---- reports ---------------------------------------------------------- */

/* Write an HTML report of one logged run into the folder `out_dir`:
 * OUT/index.html (self-contained: inline CSS, no network resources) with the
 * run's provenance, parameters, metrics, hypothesis tests ("hypothesis_test"
 * and "hypothesis_tests" attachments), plots (image artefacts, captioned by
 * their plot specs), other artefacts, tool results and source; beside it
 * the artefacts (copied under their names), results/NN_TOOL.json per tool
 * of a spec run (results/result.json otherwise), results/attachment_KEY.json
 * per attachment, run.json (the run as ark_exp_run_json gives it) and the
 * marker OUT/.arrakis-report listing the files written.
 *
 * store_dir  the save directory (NULL: "experiments"); it must hold a store
 *            (nothing is created there).
 * version    an ordinal, "latest" or a hash prefix as for ark_exp_version;
 *            NULL: the run's version when run_id is given, else the latest.
 * run_id     a run of that version (0: the version's latest run).
 * out_dir    created with its parents.  A folder that exists, is not empty
 *            and holds no marker is refused (ARK_ERR_ARG) and left as it
 *            is; one holding an earlier report has that report's files
 *            replaced (other files are kept).
 * index_path receives "OUT/index.html" (malloc'd; NULL: not wanted).
 * files_json receives {"index": "OUT/index.html", "files": ["OUT/...", ...]}
 *            (malloc'd; NULL: not wanted).
 * Errors name the experiment, version or run that is not in the store
 * (ARK_ERR_MISSING), an artefact whose file is missing from the store
 * (ARK_ERR_MISSING, before anything is written), or the file that could
 * not be written (ARK_ERR_IO). */
ark_status ark_exp_report(const char *store_dir, const char *name, const char *version, int64_t run_id,
                          const char *out_dir, char **index_path, char **files_json);

/* ---- experiment specs (YAML) ----------------------------------------- */

typedef struct ark_spec ark_spec;

/* Load a spec file: a YAML mapping with at least
 *   name: EXPERIMENT            model: MODEL_DIR
 *   inputs: {text: [...]} or {tokens: [[...]]}     (merged into each tool's params)
 *   tools: [{name: KEY, op: OP, params: {...}}, ...]
 *   plots: [{type: ..., out: FILE}, ...]           (optional)
 *   metrics: {NAME: PATH}                          (optional, numbers picked from the result)
 *   profile: true                                  (optional: attach a per-component profile)
 * The file's text is the experiment's source.  A relative model path is
 * resolved against the spec file's folder.  Errors name the file and the
 * field at fault (YAML errors with line and column). */
ark_status ark_spec_load(const char *path, ark_spec **out);
/* Override "dotted.path=value" (value parsed as YAML: 5, true, [1, 2], text);
 * list items by index (tools.0.params.top_k=5).  A relative `model` set
 * here is resolved against the current directory. */
ark_status ark_spec_set(ark_spec *s, const char *assignment);
/* Sweep "dotted.path=a,b,c" (commas inside [] {} or quotes do not split):
 * the runs are the Cartesian product of all sweeps, the first sweep
 * varying slowest. */
ark_status ark_spec_multirun(ark_spec *s, const char *assignment);
/* The effective spec as JSON (after overrides; without sweeps). */
char *ark_spec_json(const ark_spec *s);
/* Run every combination, each logged as a run of the spec's experiment in
 * `save_dir` (NULL: "experiments").  *report (malloc'd JSON, optional) lists
 * the runs: {"runs": [{"experiment", "version", "ordinal", "run", "status",
 * "duration_s", "overrides", "error"?}]}.  Returns ARK_OK when every run
 * succeeded; otherwise the first failure's status (the others still ran). */
ark_status ark_spec_run(ark_spec *s, const char *save_dir, char **report);
void ark_spec_free(ark_spec *s);

/* YAML text (one document) to JSON text (malloc'd): mappings -> objects (key
 * order kept, duplicate keys are an error), sequences -> arrays, plain
 * scalars resolved as null / true / false / integers / floats (YAML 1.2 core
 * schema), everything else a string.  `where` names the source in errors. */
ark_status ark_yaml_to_json(const char *yaml, size_t len, const char *where, char **json);

#ifdef __cplusplus
}
#endif
#endif
