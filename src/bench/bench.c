/* The bench object: a model, its tokenizer and a save directory; the tool
 * registry as this bench sees it (its own tools over the built-ins); the
 * plot renderer hook the plotting module fills. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "bench/bench_internal.h"
#include "core/error.h"
#include "io/fileio.h"

void bench_host(char *host, size_t host_len, char *system, size_t system_len)
{
    struct utsname u;
    if (uname(&u) != 0) {
        snprintf(host, host_len, "unknown");
        snprintf(system, system_len, "unknown");
        return;
    }
    snprintf(host, host_len, "%s", u.nodename);
    snprintf(system, system_len, "%s %s %s", u.sysname, u.release, u.machine);
}

/* The identity of the bench's tokenizer file (none: file NULL). */
static ark_status set_tokenizer_file(ark_bench *b, const char *path)
{
    free(b->tokenizer_file);
    b->tokenizer_file = NULL;
    b->tokenizer_sha256[0] = '\0';
    if (!path) return ARK_OK;
    ARK_TRY(ark_sha256_file(path, b->tokenizer_sha256));
    char *abs = realpath(path, NULL);
    b->tokenizer_file = abs ? abs : strdup(path);
    return ARK_OK;
}

ark_status ark_bench_set_tokenizer_file(ark_bench *b, const char *path)
{
    if (path) return set_tokenizer_file(b, path);
    if (!b->env.tokenizer || !b->model_dir) return set_tokenizer_file(b, NULL);
    char *def = ark_path_join(b->model_dir, "tokenizer.json");
    ark_status st = set_tokenizer_file(b, ark_file_exists(def) ? def : NULL);
    free(def);
    return st;
}

ark_status ark_bench_open(ark_model *model, const ark_tokenizer *tokenizer, const char *save_dir, ark_bench **out)
{
    *out = NULL;
    if (!save_dir || !*save_dir) save_dir = "experiments";
    ark_bench *b = calloc(1, sizeof *b);
    b->dir = strdup(save_dir);
    b->env.model = model;
    b->env.tokenizer = tokenizer;
    ark_status st = ark_exp_store_open(save_dir, &b->store);
    const char *mdir = model ? ark_model_dir(model) : NULL;
    if (st == ARK_OK && mdir) {
        char *abs = realpath(mdir, NULL);
        b->model_dir = abs ? abs : strdup(mdir);
        st = ark_model_identity_of(mdir, &b->model_id);
        b->has_model_id = st == ARK_OK;
        if (st != ARK_OK) ark_fail_prefix(st, "model identity");
    }
    if (st == ARK_OK) st = ark_bench_set_tokenizer_file(b, NULL);
    if (st != ARK_OK) { ark_bench_free(b); return st; }
    *out = b;
    return ARK_OK;
}

void ark_bench_free(ark_bench *b)
{
    if (!b) return;
    ark_exp_store_free(b->store);
    free(b->dir);
    free(b->model_dir);
    free(b->tokenizer_file);
    free(b->tools);
    free(b);
}

const char *ark_bench_dir(const ark_bench *b) { return b->dir; }
ark_exp_store *ark_bench_store(ark_bench *b) { return b->store; }
const ark_tool_env *ark_bench_env(const ark_bench *b) { return &b->env; }
int64_t ark_bench_last_run(const ark_bench *b) { return b->last_run; }

/* ---- tools ---- */

ark_status ark_bench_register_tool(ark_bench *b, const ark_tool_def *def)
{
    if (!def || !def->name || !*def->name || !def->run)
        return ark_fail(ARK_ERR_ARG, "tool definition needs a name and a run function");
    for (int i = 0; i < b->n_tools; i++)
        if (!strcmp(b->tools[i]->name, def->name)) { b->tools[i] = def; return ARK_OK; }
    if (b->n_tools == b->cap_tools)
        b->tools = realloc(b->tools, sizeof *b->tools * (size_t)(b->cap_tools = b->cap_tools ? 2 * b->cap_tools : 8));
    b->tools[b->n_tools++] = def;
    return ARK_OK;
}

static const ark_tool_def *local_tool(const ark_bench *b, const char *key)
{
    for (int i = 0; key && i < b->n_tools; i++)
        if (!strcmp(b->tools[i]->name, key)) return b->tools[i];
    return NULL;
}

int ark_bench_tool_count(const ark_bench *b)
{
    int n = b->n_tools;
    for (int i = 0; i < ark_tool_count(); i++) n += !local_tool(b, ark_tool_at(i)->name);
    return n;
}

const ark_tool_def *ark_bench_tool_at(const ark_bench *b, int i)
{
    if (i < 0) return NULL;
    if (i < b->n_tools) return b->tools[i];
    i -= b->n_tools;
    for (int g = 0; g < ark_tool_count(); g++) {
        const ark_tool_def *d = ark_tool_at(g);
        if (local_tool(b, d->name)) continue;
        if (i-- == 0) return d;
    }
    return NULL;
}

const ark_tool_def *ark_bench_find_tool(const ark_bench *b, const char *key)
{
    const ark_tool_def *d = local_tool(b, key);
    return d ? d : ark_tool_find(key);
}

struct ark_bench_tool {
    const ark_tool_def *def;
    void *state;
};

ark_status ark_bench_use_tool(ark_bench *b, const char *key, ark_bench_tool **out)
{
    *out = NULL;
    const ark_tool_def *def = ark_bench_find_tool(b, key);
    if (!def) {
        char list[1024] = "";
        size_t n = 0;
        for (int i = 0; i < ark_bench_tool_count(b) && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", ark_bench_tool_at(b, i)->name);
        return ark_fail(ARK_ERR_MISSING, "unknown tool \"%s\" (tools: %s)", key ? key : "", n ? list : "none");
    }
    if (!b->env.model) return ark_fail(ARK_ERR_ARG, "tool %s: the bench has no model (open it with one)", def->name);
    void *state = NULL;
    if (def->create) {
        ark_status st = def->create(&b->env, &state);
        if (st != ARK_OK) return ark_fail_prefix(st, "tool %s", def->name);
    }
    ark_bench_tool *t = calloc(1, sizeof *t);
    t->def = def;
    t->state = state;
    *out = t;
    return ARK_OK;
}

ark_status ark_bench_tool_run(ark_bench_tool *t, const char *op, const char *params, char **result)
{
    *result = NULL;
    ark_status st = t->def->run(t->state, op, params, result);
    if (st != ARK_OK) {
        free(*result);
        *result = NULL;
        return ark_fail_prefix(st, "tool %s%s%s", t->def->name, op && *op ? " " : "", op ? op : "");
    }
    return ARK_OK;
}

const ark_tool_def *ark_bench_tool_def(const ark_bench_tool *t) { return t->def; }
void *ark_bench_tool_state(const ark_bench_tool *t) { return t->state; }

void ark_bench_tool_free(ark_bench_tool *t)
{
    if (!t) return;
    if (t->def->destroy) t->def->destroy(t->state);
    free(t);
}

/* ---- plots ---- */

/* The plotting module installs its renderer here (there is none yet). */
static ark_plot_render_fn plotter;

void ark_bench_set_plotter(ark_plot_render_fn fn) { plotter = fn; }
ark_plot_render_fn ark_bench_plotter(void) { return plotter; }
