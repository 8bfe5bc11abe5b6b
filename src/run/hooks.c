/* Hook points: names, existence per architecture, shorthand, plans. */
#include "run/hooks.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

static const char *const kind_names[HK_N_KINDS] = {
    [HK_RESID_PRE] = "hook_resid_pre", [HK_LN1_SCALE] = "ln1.hook_scale", [HK_LN1_NORM] = "ln1.hook_normalized",
    [HK_Q] = "attn.hook_q", [HK_K] = "attn.hook_k", [HK_V] = "attn.hook_v",
    [HK_ROT_Q] = "attn.hook_rot_q", [HK_ROT_K] = "attn.hook_rot_k",
    [HK_SCORES] = "attn.hook_attn_scores", [HK_PATTERN] = "attn.hook_pattern", [HK_Z] = "attn.hook_z",
    [HK_RESULT] = "attn.hook_result", [HK_ATTN_OUT] = "hook_attn_out", [HK_RESID_MID] = "hook_resid_mid",
    [HK_LN2_SCALE] = "ln2.hook_scale", [HK_LN2_NORM] = "ln2.hook_normalized",
    [HK_MLP_PRE] = "mlp.hook_pre", [HK_MLP_PRE_LINEAR] = "mlp.hook_pre_linear", [HK_MLP_POST] = "mlp.hook_post",
    [HK_MLP_OUT] = "hook_mlp_out", [HK_RESID_POST] = "hook_resid_post",
    [HK_EMBED] = "hook_embed", [HK_POS_EMBED] = "hook_pos_embed",
    [HK_LNF_SCALE] = "ln_final.hook_scale", [HK_LNF_NORM] = "ln_final.hook_normalized",
};

/* TransformerLens' get_act_name aliases. */
static const struct { const char *alias; ark_hook_kind kind; } shorthands[] = {
    {"resid_pre", HK_RESID_PRE}, {"resid_mid", HK_RESID_MID}, {"resid_post", HK_RESID_POST},
    {"attn_out", HK_ATTN_OUT}, {"mlp_out", HK_MLP_OUT},
    {"q", HK_Q}, {"query", HK_Q}, {"k", HK_K}, {"key", HK_K}, {"v", HK_V}, {"value", HK_V},
    {"rot_q", HK_ROT_Q}, {"rot_k", HK_ROT_K}, {"z", HK_Z}, {"result", HK_RESULT},
    {"pattern", HK_PATTERN}, {"attn", HK_PATTERN}, {"attn_scores", HK_SCORES}, {"attn_logits", HK_SCORES},
    {"pre", HK_MLP_PRE}, {"mlp_pre", HK_MLP_PRE}, {"pre_linear", HK_MLP_PRE_LINEAR},
    {"post", HK_MLP_POST}, {"mlp_post", HK_MLP_POST},
    {"ln1_scale", HK_LN1_SCALE}, {"ln1_normalized", HK_LN1_NORM}, {"ln2_scale", HK_LN2_SCALE},
    {"ln2_normalized", HK_LN2_NORM}, {"normalized", HK_LNF_NORM}, {"scale", HK_LNF_SCALE},
    {"embed", HK_EMBED}, {"pos_embed", HK_POS_EMBED},
};
#define N_SHORTHANDS (sizeof shorthands / sizeof shorthands[0])

bool hook_kind_exists(const ark_config *c, ark_hook_kind k)
{
    switch (k) {
    case HK_POS_EMBED: return c->pos == ARK_POS_LEARNED;
    case HK_ROT_Q: case HK_ROT_K: return c->pos == ARK_POS_ROTARY;
    case HK_RESID_MID: return !c->parallel_residual;
    case HK_LN2_SCALE: case HK_LN2_NORM: return !c->shared_parallel_norm;
    case HK_MLP_PRE_LINEAR: return c->mlp == ARK_MLP_GATED;
    default: return k < HK_N_KINDS;
    }
}

void hook_format_name(ark_hook_kind k, int layer, char *buf, size_t cap)
{
    if (k < HK_N_LAYER_KINDS) snprintf(buf, cap, "blocks.%d.%s", layer, kind_names[k]);
    else snprintf(buf, cap, "%s", kind_names[k]);
}

int hook_shape(const ark_config *c, ark_hook_kind k, int B, int T, int64_t *s)
{
    s[0] = B;
    switch (k) {
    case HK_LN1_SCALE: case HK_LN2_SCALE: case HK_LNF_SCALE: s[1] = T; s[2] = 1; return 3;
    case HK_Q: case HK_ROT_Q: case HK_Z: s[1] = T; s[2] = c->n_heads; s[3] = c->d_head; return 4;
    case HK_K: case HK_V: case HK_ROT_K: s[1] = T; s[2] = c->n_kv_heads; s[3] = c->d_head; return 4;
    case HK_SCORES: case HK_PATTERN: s[1] = c->n_heads; s[2] = T; s[3] = T; return 4;
    case HK_RESULT: s[1] = T; s[2] = c->n_heads; s[3] = c->d_model; return 4;
    case HK_MLP_PRE: case HK_MLP_PRE_LINEAR: case HK_MLP_POST: s[1] = T; s[2] = c->d_mlp; return 3;
    default: s[1] = T; s[2] = c->d_model; return 3;
    }
}

/* ---- the model's list of hook points (built lazily, cached per call) ---- */


/* Enumerate in forward order: embed, pos_embed, blocks..., ln_final. */
static int enumerate(const ark_config *c, hook_entry *out)
{
    int n = 0;
    static const ark_hook_kind globals_first[] = {HK_EMBED, HK_POS_EMBED};
    static const ark_hook_kind globals_last[] = {HK_LNF_SCALE, HK_LNF_NORM};
    for (size_t i = 0; i < 2; i++)
        if (hook_kind_exists(c, globals_first[i])) {
            if (out) { out[n].id = hook_id(c->n_layers, globals_first[i], 0); hook_format_name(globals_first[i], 0, out[n].name, 64); }
            n++;
        }
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < HK_N_LAYER_KINDS; k++)
            if (hook_kind_exists(c, (ark_hook_kind)k)) {
                if (out) { out[n].id = hook_id(c->n_layers, (ark_hook_kind)k, l); hook_format_name((ark_hook_kind)k, l, out[n].name, 64); }
                n++;
            }
    for (size_t i = 0; i < 2; i++) {
        if (out) { out[n].id = hook_id(c->n_layers, globals_last[i], 0); hook_format_name(globals_last[i], 0, out[n].name, 64); }
        n++;
    }
    return n;
}

/* The model's hook table, built on first use and kept with the model. */
static const hook_entry *table(const ark_model *m, int *n)
{
    ark_model *mm = (ark_model *)m;
    if (!mm->hook_table) {
        int count = enumerate(&m->cfg, NULL);
        hook_entry *t = malloc(sizeof *t * count);
        enumerate(&m->cfg, t);
        mm->n_hooks = count;
        mm->hook_table = t;
    }
    *n = m->n_hooks;
    return m->hook_table;
}

int hook_entry_id(const ark_model *m, int i)
{
    int n;
    const hook_entry *t = table(m, &n);
    return i >= 0 && i < n ? t[i].id : -1;
}

int ark_hook_count(const ark_model *m)
{
    int n;
    table(m, &n);
    return n;
}

const char *ark_hook_name(const ark_model *m, int i)
{
    int n;
    const hook_entry *t = table(m, &n);
    return i >= 0 && i < n ? t[i].name : NULL;
}

int ark_hook_find(const ark_model *m, const char *name)
{
    int n;
    const hook_entry *t = table(m, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return i;
    return -1;
}

ark_status ark_hook_shorthand(const ark_model *m, const char *shortname, int layer, char *buf, size_t cap)
{
    const ark_config *c = &m->cfg;
    for (size_t i = 0; i < N_SHORTHANDS; i++) {
        if (strcmp(shorthands[i].alias, shortname)) continue;
        ark_hook_kind k = shorthands[i].kind;
        if (k == HK_LNF_SCALE && layer != INT32_MIN && strcmp(shortname, "scale") == 0) k = HK_LN1_SCALE;
        int L = layer == INT32_MIN ? 0 : layer < 0 ? c->n_layers + layer : layer;
        if (k < HK_N_LAYER_KINDS && (L < 0 || L >= c->n_layers))
            return ark_fail(ARK_ERR_ARG, "hook \"%s\": layer %d out of range (the model has %d layers)", shortname,
                            layer, c->n_layers);
        if (!hook_kind_exists(c, k))
            return ark_fail(ARK_ERR_MISSING, "hook \"%s\": a %s model has no %s hook point", shortname, c->family,
                            kind_names[k]);
        hook_format_name(k, L, buf, cap);
        return ARK_OK;
    }
    return ark_fail(ARK_ERR_MISSING, "unknown hook shorthand \"%s\"", shortname);
}

/* ---- plans ---- */

ark_plan *ark_plan_new(const ark_model *m)
{
    ark_plan *p = calloc(1, sizeof *p);
    p->model = m;
    p->n_ids = hook_id_count(m->cfg.n_layers);
    p->keep = calloc((size_t)p->n_ids, sizeof *p->keep);
    return p;
}

void ark_plan_free(ark_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_regs; i++)
        if (p->regs[i].free_ctx) p->regs[i].free_ctx(p->regs[i].ctx);
    free(p->regs);
    free(p->keep);
    free(p);
}

bool ark_plan_keeps(const ark_plan *p, int hook_index)
{
    int n;
    const hook_entry *t = table(p->model, &n);
    return hook_index >= 0 && hook_index < n && p->keep[t[hook_index].id];
}

void ark_plan_keep_all(ark_plan *p)
{
    int n, layer_ids = p->model->cfg.n_layers * HK_N_LAYER_KINDS;
    const hook_entry *t = table(p->model, &n);
    for (int i = 0; i < n; i++)
        if (t[i].id >= layer_ids || t[i].id % HK_N_LAYER_KINDS != HK_RESULT) p->keep[t[i].id] = true;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = malloc((lb + 1) * sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

/* Split "pattern3" / "pattern:3" / "resid_post:-1" into alias and layer. */
static bool split_shorthand(const char *pat, char *alias, size_t cap, int *layer)
{
    const char *colon = strchr(pat, ':');
    *layer = INT32_MIN;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end) return false;
        *layer = (int)v;
        snprintf(alias, cap, "%.*s", (int)(colon - pat), pat);
        return true;
    }
    size_t n = strlen(pat), d = n;
    while (d > 0 && pat[d - 1] >= '0' && pat[d - 1] <= '9') d--;
    snprintf(alias, cap, "%.*s", (int)d, pat);
    if (d < n && d > 0) *layer = atoi(pat + d);
    return true;
}

ark_status hook_resolve(const ark_model *m, const char *pattern, void (*fn)(int id, void *ctx), void *ctx)
{
    int n, matched = 0;
    const hook_entry *t = table(m, &n);
    for (int i = 0; i < n; i++)
        if (!fnmatch(pattern, t[i].name, 0)) { fn(t[i].id, ctx); matched++; }
    if (matched) return ARK_OK;
    char alias[64];
    int layer;
    const ark_config *c = &m->cfg;
    if (split_shorthand(pattern, alias, sizeof alias, &layer)) {
        for (size_t i = 0; i < N_SHORTHANDS; i++) {
            if (strcmp(shorthands[i].alias, alias)) continue;
            ark_hook_kind k = shorthands[i].kind;
            if (layer == INT32_MIN && hook_kind_exists(c, k)) {
                if (k >= HK_N_LAYER_KINDS) fn(hook_id(c->n_layers, k, 0), ctx);
                else for (int l = 0; l < c->n_layers; l++) fn(hook_id(c->n_layers, k, l), ctx);
                return ARK_OK;
            }
            if (layer == INT32_MIN) break;
            char name[64];
            ARK_TRY(ark_hook_shorthand(m, alias, layer, name, sizeof name));
            return hook_resolve(m, name, fn, ctx);
        }
    }
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (int i = 0; i < n; i++) {
        size_t d = edit_distance(pattern, t[i].name);
        if (d < best_d) { best_d = d; best = t[i].name; }
    }
    return ark_fail(ARK_ERR_MISSING, "unknown hook point \"%s\" for this %s model (did you mean \"%s\"? "
                    "`arrakis info MODEL_DIR` lists them all)", pattern, c->family, best ? best : "");
}

static void keep_id(int id, void *ctx) { ((ark_plan *)ctx)->keep[id] = true; }

ark_status ark_plan_keep(ark_plan *p, const char *pattern) { return hook_resolve(p->model, pattern, keep_id, p); }

/* ---- hook functions ---- */

typedef struct {
    hook_reg **regs;
    int *n, *cap;
    hook_reg proto;
} add_ctx;

static void add_reg(int id, void *ctx)
{
    add_ctx *a = ctx;
    if (*a->n == *a->cap) {
        *a->cap = *a->cap ? 2 * *a->cap : 16;
        *a->regs = realloc(*a->regs, sizeof **a->regs * *a->cap);
    }
    hook_reg r = a->proto;
    r.id = id;
    (*a->regs)[(*a->n)++] = r;
    a->proto.free_ctx = NULL; /* ctx is freed once, with the first entry */
}

ark_status ark_plan_add_hook_owned(ark_plan *p, const char *pattern, ark_hook_mode mode, ark_hook_fn fn, void *ctx,
                                   void (*free_ctx)(void *))
{
    if (!fn) return ark_fail(ARK_ERR_ARG, "hook on \"%s\": no function given", pattern);
    add_ctx a = {&p->regs, &p->n_regs, &p->cap_regs, {.mode = mode, .fn = fn, .ctx = ctx, .free_ctx = free_ctx}};
    ark_status s = hook_resolve(p->model, pattern, add_reg, &a);
    if (s != ARK_OK && free_ctx) free_ctx(ctx);
    return s;
}

ark_status ark_plan_add_hook(ark_plan *p, const char *pattern, ark_hook_mode mode, ark_hook_fn fn, void *ctx)
{
    return ark_plan_add_hook_owned(p, pattern, mode, fn, ctx, NULL);
}

int ark_model_add_hook(ark_model *m, const char *pattern, ark_hook_mode mode, ark_hook_fn fn, void *ctx)
{
    if (!fn) { ark_fail(ARK_ERR_ARG, "hook on \"%s\": no function given", pattern); return -1; }
    int handle = m->next_handle++;
    add_ctx a = {&m->hooks, &m->n_hooks_fn, &m->cap_hooks_fn, {.mode = mode, .fn = fn, .ctx = ctx, .handle = handle}};
    return hook_resolve(m, pattern, add_reg, &a) == ARK_OK ? handle : -1;
}

void ark_model_remove_hook(ark_model *m, int handle)
{
    int w = 0;
    for (int i = 0; i < m->n_hooks_fn; i++)
        if (m->hooks[i].handle != handle) m->hooks[w++] = m->hooks[i];
    m->n_hooks_fn = w;
}

void ark_model_clear_hooks(ark_model *m)
{
    free(m->hooks);
    m->hooks = NULL;
    m->n_hooks_fn = m->cap_hooks_fn = 0;
}
