/* arrakis exp run|list|show|diff|export|report: versioned experiments (include/arrakis/bench.h).
 *
 *   arrakis exp run SPEC.yaml [--set PATH=VALUE]... [--multirun PATH=A,B,...]... [--dir DIR] [--json]
 *   arrakis exp list [NAME] [--dir DIR] [--json]
 *   arrakis exp show NAME [VERSION] [--dir DIR] [--json]
 *   arrakis exp diff NAME V1 V2 [--dir DIR] [--json]
 *   arrakis exp export NAME [--dir DIR] [--out FILE]
 *   arrakis exp report NAME [VERSION] [--run ID] [--dir DIR] --out OUTDIR [--json]
 *
 * The human output of list/show/diff is in cli_exp_print.c; --json prints
 * the library's JSON texts unchanged (docs/bench.md). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrakis/arrakis.h"
#include "cli.h"
#include "cli_exp.h"

static void usage(void)
{
    printf("usage: arrakis exp run SPEC.yaml [--set PATH=VALUE]... [--multirun PATH=A,B,...]... [--dir DIR] [--json]\n"
           "       arrakis exp list [NAME] [--dir DIR] [--json]\n"
           "       arrakis exp show NAME [VERSION] [--brief] [--dir DIR] [--json]\n"
           "       arrakis exp diff NAME V1 V2 [--dir DIR] [--json]\n"
           "       arrakis exp export NAME [--dir DIR] [--out FILE]\n"
           "       arrakis exp report NAME [VERSION] [--run ID] [--dir DIR] --out OUTDIR [--json]\n\n"
           "Versioned experiments in a save directory (--dir, default ./experiments, an SQLite store that\n"
           "many processes may log into at once).  A version is the SHA-256 of the experiment's source (a\n"
           "spec's text); parameters (overrides, sweeps) belong to each run: rerunning an unchanged spec adds\n"
           "a run to its version, a changed spec makes a new version.  Nothing is overwritten.\n\n"
           "  run     run a YAML spec (name, model, inputs, tools, metrics, plots; docs/bench.md) through the\n"
           "          tools' generic entry points and log it.  --set PATH=VALUE overrides a field (dotted path,\n"
           "          list items by index: tools.0.params.top_k=5; VALUE is YAML: 5, true, [1, 2], text);\n"
           "          --multirun PATH=A,B,C [PATH2=X,Y ...] runs every combination, each logged (the first\n"
           "          sweep varies slowest).  Exit status 1 if any run failed.\n"
           "  list    the experiments, or NAME's versions with their run counts and dates.\n"
           "  show    one version (default: the latest) with its source, parameters, runs, results,\n"
           "          metrics and artefacts.  VERSION: an ordinal (1, 2, ...), latest, or a hash prefix.\n"
           "          --brief: only the latest run's status, description, metrics, tests and plots.\n"
           "  diff    the unified diff of two versions' sources and the values that differ between their\n"
           "          latest runs' results and metrics.\n"
           "  export  every version, run, result and artefact reference of NAME as JSON.\n"
           "  report  write OUTDIR/index.html, a page to open in a browser about one run (default: the latest\n"
           "          run of VERSION, default the latest version; --run ID picks one): provenance, parameters,\n"
           "          metrics, hypothesis tests, plots, tool results (as JSON files beside it) and source.\n"
           "          OUTDIR must be new, empty, or an earlier report (only its files are replaced).  Prints\n"
           "          the page's path (--json: {\"index\": PATH, \"files\": [...]}).\n\n"
           "examples:\n"
           "  arrakis exp run lens.yaml --set tools.0.params.top_k=5\n"
           "  arrakis exp run lens.yaml --multirun tools.0.params.top_k=1,3,5 inputs.text='[\"Alice lives in\"]'\n"
           "  arrakis exp list lens_on_facts --json\n"
           "  arrakis exp show lens_on_facts 2\n"
           "  arrakis exp diff lens_on_facts 1 2\n"
           "  arrakis exp export lens_on_facts --out lens.json\n"
           "  arrakis exp report lens_on_facts --out lens-report   # then open lens-report/index.html\n");
}

/* Options shared by the subcommands; positionals in pos[]. */
typedef struct exp_args {
    const char *dir, *out, *run;
    bool json, brief;
    const char *pos[4];
    int n_pos;
    const char **sets, **multis;
    int n_sets, n_multis;
} exp_args;

static int parse_args(int argc, char **argv, bool is_run, bool is_report, exp_args *a)
{
    memset(a, 0, sizeof *a);
    a->dir = "experiments";
    a->sets = calloc((size_t)argc, sizeof *a->sets);
    a->multis = calloc((size_t)argc, sizeof *a->multis);
    const char *v;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) { usage(); return -1; }
        if (cli_flag(argv, i, "--json")) a->json = true;
        else if (cli_flag(argv, i, "--brief")) a->brief = true;
        else if (cli_opt(argc, argv, &i, "--dir", &v)) { if (!v) return 2; a->dir = v; }
        else if (cli_opt(argc, argv, &i, "--out", &v)) { if (!v) return 2; a->out = v; }
        else if (is_report && cli_opt(argc, argv, &i, "--run", &v)) { if (!v) return 2; a->run = v; }
        else if (is_run && cli_opt(argc, argv, &i, "--set", &v)) { if (!v) return 2; a->sets[a->n_sets++] = v; }
        else if (is_run && cli_opt(argc, argv, &i, "--multirun", &v)) {
            if (!v) return 2;
            a->multis[a->n_multis++] = v;
            /* Further PATH=VALUES words belong to this --multirun. */
            while (i + 1 < argc && argv[i + 1][0] != '-' && strchr(argv[i + 1], '=')) a->multis[a->n_multis++] = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_error("exp", "unknown option %s (see arrakis exp --help)", argv[i]);
        } else if (a->n_pos < 4) {
            a->pos[a->n_pos++] = argv[i];
        } else {
            return cli_error("exp", "unexpected argument %s", argv[i]);
        }
    }
    return 0;
}

static void free_args(exp_args *a)
{
    free(a->sets);
    free(a->multis);
}

/* Open an existing store (reading commands never create one). */
static int open_existing(const char *dir, ark_exp_store **s)
{
    char *db = malloc(strlen(dir) + 32);
    sprintf(db, "%s/experiments.db", dir);
    bool exists = access(db, F_OK) == 0;
    free(db);
    if (!exists) return cli_error("exp", "%s: no experiment store here (run an experiment first, or pass --dir)", dir);
    if (ark_exp_store_open(dir, s) != ARK_OK) return cli_lib_error("exp", NULL);
    return 0;
}

static int exp_run(exp_args *a)
{
    if (a->n_pos != 2) return cli_error("exp run", "usage: arrakis exp run SPEC.yaml [--set PATH=VALUE] [--multirun PATH=A,B] [--dir DIR]");
    ark_spec *spec;
    if (ark_spec_load(a->pos[1], &spec) != ARK_OK) return cli_lib_error("exp run", NULL);
    for (int i = 0; i < a->n_sets; i++)
        if (ark_spec_set(spec, a->sets[i]) != ARK_OK) { ark_spec_free(spec); return cli_lib_error("exp run", NULL); }
    for (int i = 0; i < a->n_multis; i++)
        if (ark_spec_multirun(spec, a->multis[i]) != ARK_OK) { ark_spec_free(spec); return cli_lib_error("exp run", NULL); }
    char *report = NULL;
    ark_status st = ark_spec_run(spec, a->dir, &report);
    ark_spec_free(spec);
    cJSON *rep = report ? cJSON_Parse(report) : NULL;
    int rc = 0;
    if (a->json && report) printf("%s\n", report);
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(rep, "runs")) {
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(r, "status"));
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(r, "error"));
        if (!a->json) cli_exp_print_run_line(r);
        if (err) fprintf(stderr, "arrakis exp run: run %.0f %s: %s\n", cJSON_GetNumberValue(cJSON_GetObjectItem(r, "run")),
                         status ? status : "failed", err);
    }
    if (st != ARK_OK) {
        /* A run that failed was reported above; an error before any run
         * (the spec, the store) is reported here. */
        if (!cJSON_GetArraySize(cJSON_GetObjectItem(rep, "runs"))) cli_lib_error("exp run", NULL);
        rc = 1;
    }
    cJSON_Delete(rep);
    free(report);
    return rc;
}

/* Print a library JSON text, or hand it to a human printer. */
static int emit(ark_status st, char *json, bool as_json, void (*human)(const cJSON *))
{
    /* Callers compute st first: `json` is read only after the call that fills it. */
    if (st != ARK_OK) return cli_lib_error("exp", NULL);
    if (as_json) printf("%s\n", json);
    else {
        cJSON *o = cJSON_Parse(json);
        human(o);
        cJSON_Delete(o);
    }
    free(json);
    return 0;
}

static int exp_list(exp_args *a)
{
    if (a->n_pos > 2) return cli_error("exp list", "usage: arrakis exp list [NAME] [--dir DIR] [--json]");
    char *db = malloc(strlen(a->dir) + 32);
    sprintf(db, "%s/experiments.db", a->dir);
    bool exists = access(db, F_OK) == 0;
    free(db);
    if (!exists && a->n_pos == 1) {
        /* No store yet: an empty list (not an error, and nothing created). */
        if (a->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "dir", a->dir);
            cJSON_AddArrayToObject(o, "experiments");
            char *t = cJSON_Print(o);
            printf("%s\n", t);
            free(t);
            cJSON_Delete(o);
        } else {
            printf("no experiments in %s\n", a->dir);
        }
        return 0;
    }
    ark_exp_store *s;
    int rc = open_existing(a->dir, &s);
    if (rc) return rc;
    char *json = NULL;
    if (a->n_pos == 1) {
        ark_status st = ark_exp_list(s, &json);
        rc = emit(st, json, a->json, cli_exp_print_list);
    } else {
        ark_status st = ark_exp_versions(s, a->pos[1], &json);
        rc = emit(st, json, a->json, cli_exp_print_versions);
    }
    ark_exp_store_free(s);
    return rc;
}

static int exp_show(exp_args *a)
{
    if (a->n_pos < 2 || a->n_pos > 3) return cli_error("exp show", "usage: arrakis exp show NAME [VERSION] [--dir DIR] [--json]");
    ark_exp_store *s;
    int rc = open_existing(a->dir, &s);
    if (rc) return rc;
    char *json = NULL;
    ark_status st = ark_exp_version(s, a->pos[1], a->n_pos == 3 ? a->pos[2] : NULL, &json);
    rc = emit(st, json, a->json, a->brief ? cli_exp_print_version_brief : cli_exp_print_version);
    ark_exp_store_free(s);
    return rc;
}

static int exp_diff(exp_args *a)
{
    if (a->n_pos != 4) return cli_error("exp diff", "usage: arrakis exp diff NAME V1 V2 [--dir DIR] [--json]");
    ark_exp_store *s;
    int rc = open_existing(a->dir, &s);
    if (rc) return rc;
    char *json = NULL;
    ark_status st = ark_exp_diff(s, a->pos[1], a->pos[2], a->pos[3], &json);
    rc = emit(st, json, a->json, cli_exp_print_diff);
    ark_exp_store_free(s);
    return rc;
}

static int exp_export(exp_args *a)
{
    if (a->n_pos != 2) return cli_error("exp export", "usage: arrakis exp export NAME [--dir DIR] [--out FILE]");
    ark_exp_store *s;
    int rc = open_existing(a->dir, &s);
    if (rc) return rc;
    char *json = NULL;
    if (ark_exp_export(s, a->pos[1], &json) != ARK_OK) rc = cli_lib_error("exp export", NULL);
    ark_exp_store_free(s);
    if (rc) return rc;
    FILE *f = a->out ? fopen(a->out, "w") : stdout;
    if (!f) rc = cli_error("exp export", "--out %s: cannot write: %s", a->out, strerror(errno));
    else {
        fprintf(f, "%s\n", json);
        if (a->out && fclose(f) != 0) rc = cli_error("exp export", "--out %s: write failed", a->out);
    }
    free(json);
    return rc;
}

static int exp_report(exp_args *a)
{
    const char *use = "usage: arrakis exp report NAME [VERSION] [--run ID] [--dir DIR] --out OUTDIR [--json]";
    if (a->n_pos < 2 || a->n_pos > 3) return cli_error("exp report", "%s", use);
    if (!a->out) return cli_error("exp report", "--out OUTDIR: missing (the folder to write index.html into)");
    long long run = 0;
    if (a->run) {
        char *end;
        errno = 0;
        run = strtoll(a->run, &end, 10);
        if (errno || *end || end == a->run || run <= 0)
            return cli_error("exp report", "--run %s: expected a run id (a positive integer; see arrakis exp show NAME)", a->run);
    }
    char *db = malloc(strlen(a->dir) + 32);
    sprintf(db, "%s/experiments.db", a->dir);
    bool exists = access(db, F_OK) == 0;
    free(db);
    if (!exists) return cli_error("exp report", "%s: no experiment store here (run an experiment first, or pass --dir)", a->dir);
    char *index = NULL, *files = NULL;
    ark_status st = ark_exp_report(a->dir, a->pos[1], a->n_pos == 3 ? a->pos[2] : NULL, run, a->out, &index, &files);
    if (st != ARK_OK) {
        bool which = st == ARK_ERR_MISSING && !strstr(ark_errmsg(), "artefact");
        cli_lib_error("exp report", NULL);
        if (which)
            fprintf(stderr, "  (see the experiments with: arrakis exp list --dir %s; a version's runs with: arrakis exp show"
                            " NAME [VERSION] --dir %s)\n", a->dir, a->dir);
        return 1;
    }
    if (a->json) printf("%s\n", files);
    else printf("%s\n", index);
    free(index);
    free(files);
    return 0;
}

int cmd_exp(int argc, char **argv)
{
    if (argc < 2) return cli_arg_error("exp", "missing the subcommand: run, list, show, diff, export or report");
    if (cli_flag(argv, 1, "--help") || cli_flag(argv, 1, "-h") || cli_flag(argv, 1, "help")) {
        usage();
        return 0;
    }
    const char *sub = argv[1];
    static const struct {
        const char *name;
        int (*fn)(exp_args *);
    } subs[] = {{"run", exp_run}, {"list", exp_list}, {"show", exp_show}, {"diff", exp_diff}, {"export", exp_export},
                {"report", exp_report}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(sub, subs[i].name)) continue;
        exp_args a;
        int rc = parse_args(argc, argv, i == 0, !strcmp(sub, "report"), &a);
        if (rc == 0) {
            /* pos[0] is the subcommand itself. */
            rc = subs[i].fn(&a);
        } else if (rc < 0) {
            rc = 0;
        }
        free_args(&a);
        ark_plot_release(); /* font caches a spec's plots left behind */
        return rc;
    }
    return cli_error("exp", "unknown subcommand \"%s\" (run, list, show, diff, export, report; see arrakis exp --help)", sub);
}
