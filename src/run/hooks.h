/* Hook-point table and plans (internal). */
#ifndef ARK_RUN_HOOKS_H
#define ARK_RUN_HOOKS_H

#include "arrakis/run.h"

/* Kinds of hook points. Per-layer kinds first, then global ones. */
typedef enum {
    HK_RESID_PRE, HK_LN1_SCALE, HK_LN1_NORM, HK_Q, HK_K, HK_V, HK_ROT_Q, HK_ROT_K,
    HK_SCORES, HK_PATTERN, HK_Z, HK_RESULT, HK_ATTN_OUT, HK_RESID_MID,
    HK_LN2_SCALE, HK_LN2_NORM, HK_MLP_PRE, HK_MLP_PRE_LINEAR, HK_MLP_POST, HK_MLP_OUT, HK_RESID_POST,
    HK_N_LAYER_KINDS,
    HK_EMBED = HK_N_LAYER_KINDS, HK_POS_EMBED, HK_LNF_SCALE, HK_LNF_NORM,
    HK_N_KINDS
} ark_hook_kind;

/* Dense id of (kind, layer): layer kinds at layer*HK_N_LAYER_KINDS + kind,
 * global kinds after all layers. */
static inline int hook_id(int n_layers, ark_hook_kind k, int layer)
{
    return k < HK_N_LAYER_KINDS ? layer * HK_N_LAYER_KINDS + k : n_layers * HK_N_LAYER_KINDS + (k - HK_N_LAYER_KINDS);
}
static inline int hook_id_count(int n_layers) { return n_layers * HK_N_LAYER_KINDS + (HK_N_KINDS - HK_N_LAYER_KINDS); }
static inline ark_hook_kind hook_id_kind(int n_layers, int id)
{
    int layer_ids = n_layers * HK_N_LAYER_KINDS;
    return id < layer_ids ? (ark_hook_kind)(id % HK_N_LAYER_KINDS) : (ark_hook_kind)(HK_N_LAYER_KINDS + id - layer_ids);
}
static inline int hook_id_layer(int n_layers, int id)
{
    return id < n_layers * HK_N_LAYER_KINDS ? id / HK_N_LAYER_KINDS : -1;
}

/* One hook point of a model: its dense id and full name. */
typedef struct hook_entry { int id; char name[64]; } hook_entry;
/* The dense id of the model's i-th hook point (ark_hook_name order). */
int hook_entry_id(const ark_model *m, int i);

/* Does this model compute hook kind k? */
bool hook_kind_exists(const ark_config *c, ark_hook_kind k);
/* Full name of (kind, layer) into buf. */
void hook_format_name(ark_hook_kind k, int layer, char *buf, size_t cap);
/* The tensor shape of (kind) for a batch (B, T): fills shape, returns ndim. */
int hook_shape(const ark_config *c, ark_hook_kind k, int B, int T, int64_t *shape);

/* A hook function attached to one hook point. */
typedef struct hook_reg {
    int id;               /* dense hook id */
    ark_hook_mode mode;
    ark_hook_fn fn;
    void *ctx;
    void (*free_ctx)(void *); /* frees ctx when the owner goes (plan or model), or NULL */
    int handle;           /* ark_model_add_hook's handle (model hooks) */
} hook_reg;

struct ark_plan {
    const ark_model *model;
    int n_ids;
    bool *keep;           /* by dense id */
    hook_reg *regs;       /* in registration order */
    int n_regs, cap_regs;
};

/* Resolve `pattern` (exact, glob, shorthand) to dense ids: calls fn(id, ctx)
 * for each match.  Error with a suggestion when nothing matches. */
ark_status hook_resolve(const ark_model *m, const char *pattern, void (*fn)(int id, void *ctx), void *ctx);

#endif
