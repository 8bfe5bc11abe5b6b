/* MI tools as plug-ins.
 *
 * Every tool — built-in or a user's — is one ark_tool_def: a key, a
 * constructor over a model, and one generic entry point that takes its
 * parameters as JSON text and returns its result as JSON text.  The command
 * line (`arrakis tool KEY --params '{...}' MODEL_DIR`), experiment specs and
 * the bench run any tool through that entry point; each tool also has typed
 * C functions in its own header for programs that want them.
 *
 * Writing one (docs/tools.md has a complete example):
 *
 *   static ark_status my_create(ark_tool_env *env, void **state) { ... }
 *   static ark_status my_run(void *state, const char *op, const char *params, char **result) { ... }
 *   static void my_destroy(void *state) { ... }
 *   static const ark_tool_def my_tool = {"my_tool", "what it does", my_create, my_run, my_destroy, ops};
 *   ark_tool_register(&my_tool);
 */
#ifndef ARRAKIS_TOOL_H
#define ARRAKIS_TOOL_H

#include "arrakis/core.h"
#include "arrakis/model.h"
#include "arrakis/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a tool is built over.  The tool borrows these; they outlive it. */
typedef struct ark_tool_env {
    ark_model *model;
    const ark_tokenizer *tokenizer; /* NULL when the folder has none */
} ark_tool_env;

typedef struct ark_tool_def {
    const char *name;      /* the key: "attention", "logit_lens", ... */
    const char *summary;   /* one line */
    /* Build the tool's state over env (NULL state is fine). */
    ark_status (*create)(const ark_tool_env *env, void **state);
    /* Run operation `op` (NULL or "" = the tool's default) with parameters
     * `params` (a JSON object as text; NULL = {}).  *result receives a JSON
     * text (malloc'd; the caller frees it).  Errors name the parameter at
     * fault. */
    ark_status (*run)(void *state, const char *op, const char *params, char **result);
    void (*destroy)(void *state);
    /* The operations, NULL-terminated, first = the default; each entry
     * "name: one-line description of its parameters". */
    const char *const *ops;
} ark_tool_def;

/* The registry: the built-in tools plus those registered.  A registered
 * definition must outlive its use; registering a key twice replaces the
 * earlier one (so a user can override a built-in). */
ark_status ark_tool_register(const ark_tool_def *def);
const ark_tool_def *ark_tool_find(const char *name);
/* Number of tools and the i-th (built-ins first, in registration order). */
int ark_tool_count(void);
const ark_tool_def *ark_tool_at(int i);

/* A tool instance. */
typedef struct ark_tool ark_tool;
ark_status ark_tool_new(const char *name, const ark_tool_env *env, ark_tool **out);
ark_status ark_tool_run(ark_tool *t, const char *op, const char *params, char **result);
const ark_tool_def *ark_tool_def_of(const ark_tool *t);
void ark_tool_free(ark_tool *t);

#ifdef __cplusplus
}
#endif
#endif
