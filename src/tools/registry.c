/* The tool registry and tool instances. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool.h"
#include "core/error.h"
#include "tools/builtin.h"

#define MAX_TOOLS 128

static const ark_tool_def *registry[MAX_TOOLS];
static int n_registry;
static int builtins_loaded;

static void load_builtins(void)
{
    if (builtins_loaded) return;
    builtins_loaded = 1;
    for (const ark_tool_def *const *d = ark_builtin_tools; *d; d++) ark_tool_register(*d);
}

ark_status ark_tool_register(const ark_tool_def *def)
{
    load_builtins();
    if (!def || !def->name || !*def->name || !def->run)
        return ark_fail(ARK_ERR_ARG, "tool definition needs a name and a run function");
    for (int i = 0; i < n_registry; i++)
        if (!strcmp(registry[i]->name, def->name)) { registry[i] = def; return ARK_OK; }
    if (n_registry == MAX_TOOLS) return ark_fail(ARK_ERR_ARG, "tool registry full (%d tools)", MAX_TOOLS);
    registry[n_registry++] = def;
    return ARK_OK;
}

const ark_tool_def *ark_tool_find(const char *name)
{
    load_builtins();
    for (int i = 0; name && i < n_registry; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

int ark_tool_count(void)
{
    load_builtins();
    return n_registry;
}

const ark_tool_def *ark_tool_at(int i)
{
    load_builtins();
    return i >= 0 && i < n_registry ? registry[i] : NULL;
}

struct ark_tool {
    const ark_tool_def *def;
    void *state;
};

ark_status ark_tool_new(const char *name, const ark_tool_env *env, ark_tool **out)
{
    *out = NULL;
    const ark_tool_def *def = ark_tool_find(name);
    if (!def) {
        char list[1024] = "";
        size_t n = 0;
        for (int i = 0; i < n_registry && n < sizeof list; i++)
            n += snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", registry[i]->name);
        return ark_fail(ARK_ERR_MISSING, "unknown tool \"%s\" (tools: %s)", name ? name : "", list);
    }
    ark_tool *t = calloc(1, sizeof *t);
    t->def = def;
    if (def->create) {
        ark_status s = def->create(env, &t->state);
        if (s != ARK_OK) { free(t); return ark_fail_prefix(s, "tool %s", def->name); }
    }
    *out = t;
    return ARK_OK;
}

ark_status ark_tool_run(ark_tool *t, const char *op, const char *params, char **result)
{
    *result = NULL;
    ark_status s = t->def->run(t->state, op, params, result);
    if (s != ARK_OK) return ark_fail_prefix(s, "tool %s%s%s", t->def->name, op && *op ? " " : "", op ? op : "");
    return ARK_OK;
}

const ark_tool_def *ark_tool_def_of(const ark_tool *t) { return t->def; }

void ark_tool_free(ark_tool *t)
{
    if (!t) return;
    if (t->def->destroy) t->def->destroy(t->state);
    free(t);
}
