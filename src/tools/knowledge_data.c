/* Probing data (include/arrakis/tool_knowledge.h): labelled datasets, the
 * positions read, activations cached over a dataset, splits by entity and
 * control-task labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/run.h"
#include "arrakis/tool_knowledge.h"
#include "core/error.h"
#include "core/rng.h"

#define COLLECT_BUDGET ((size_t)256 << 20) /* bytes of activations per batched run */
#define COLLECT_MAX_ROWS 512

/* ---- datasets ---- */

ark_status ark_probe_dataset_add(ark_probe_dataset *ds, const char *text, const char *label, const char *entity)
{
    if (!text || !label) return ark_fail(ARK_ERR_ARG, "example %d: missing %s", ds->n, text ? "label" : "text");
    if (ds->n == ds->cap) {
        int cap = ds->cap ? 2 * ds->cap : 64;
        char **t = realloc(ds->text, sizeof(char *) * cap);
        if (t) ds->text = t;
        char **l = realloc(ds->label_str, sizeof(char *) * cap);
        if (l) ds->label_str = l;
        char **e = realloc(ds->entity_str, sizeof(char *) * cap);
        if (e) ds->entity_str = e;
        if (!t || !l || !e) return ark_fail(ARK_ERR_NOMEM, "dataset: out of memory at example %d", ds->n);
        ds->cap = cap;
    }
    ds->text[ds->n] = strdup(text);
    ds->label_str[ds->n] = strdup(label);
    ds->entity_str[ds->n] = strdup(entity ? entity : text);
    ds->n++;
    return ARK_OK;
}

typedef struct keyed {
    const char *s;
    int i;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

static int cmp_first(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return (x->i > y->i) - (x->i < y->i);
}

/* ids (n) numbering the distinct strings; *uniq (fresh copies) sorted
 * bytewise (by_first false) or by first appearance (by_first true). */
static ark_status intern(char *const *strs, int n, bool by_first, int *ids, char ***uniq, int *nu)
{
    keyed *k = malloc(sizeof *k * (n ? n : 1)), *groups = malloc(sizeof *groups * (n ? n : 1));
    int *gid = malloc(sizeof(int) * (n ? n : 1)), ng = 0;
    if (!k || !groups || !gid) { free(k), free(groups), free(gid); return ark_fail(ARK_ERR_NOMEM, "dataset: out of memory"); }
    for (int i = 0; i < n; i++) k[i] = (keyed){strs[i], i};
    qsort(k, n, sizeof *k, cmp_keyed);
    for (int i = 0; i < n; i++) {
        if (!i || strcmp(k[i].s, k[i - 1].s)) groups[ng] = (keyed){k[i].s, by_first ? k[i].i : ng}, ng++;
        gid[k[i].i] = ng - 1;
    }
    // groups[g].i is the sort key; order the groups by it and renumber
    int *rank = malloc(sizeof(int) * (ng ? ng : 1));
    keyed *order = malloc(sizeof *order * (ng ? ng : 1));
    for (int g = 0; g < ng; g++) order[g] = (keyed){groups[g].s, groups[g].i}, rank[g] = g;
    if (by_first) {
        for (int g = 0; g < ng; g++) order[g].i = groups[g].i;
        qsort(order, ng, sizeof *order, cmp_first);
        for (int r = 0; r < ng; r++) rank[gid[order[r].i]] = r;
    }
    *uniq = malloc(sizeof(char *) * (ng ? ng : 1));
    for (int g = 0; g < ng; g++) (*uniq)[rank[g]] = strdup(groups[g].s);
    for (int i = 0; i < n; i++) ids[i] = rank[gid[i]];
    *nu = ng;
    free(k), free(groups), free(gid), free(rank), free(order);
    return ARK_OK;
}

static void free_strs(char **s, int n)
{
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

ark_status ark_probe_dataset_index(ark_probe_dataset *ds)
{
    free(ds->label), free(ds->entity);
    free_strs(ds->classes, ds->n_classes), free_strs(ds->entities, ds->n_entities);
    ds->classes = ds->entities = NULL;
    ds->n_classes = ds->n_entities = 0;
    ds->label = malloc(sizeof(int) * (ds->n ? ds->n : 1));
    ds->entity = malloc(sizeof(int) * (ds->n ? ds->n : 1));
    if (!ds->label || !ds->entity) return ark_fail(ARK_ERR_NOMEM, "dataset: out of memory");
    ARK_TRY(intern(ds->label_str, ds->n, false, ds->label, &ds->classes, &ds->n_classes));
    return intern(ds->entity_str, ds->n, true, ds->entity, &ds->entities, &ds->n_entities);
}

void ark_probe_dataset_free(ark_probe_dataset *ds)
{
    if (!ds) return;
    free_strs(ds->text, ds->n), free_strs(ds->label_str, ds->n), free_strs(ds->entity_str, ds->n);
    free_strs(ds->classes, ds->n_classes), free_strs(ds->entities, ds->n_entities);
    free(ds->label), free(ds->entity);
    memset(ds, 0, sizeof *ds);
}

/* ---- positions ---- */

ark_status ark_probe_position(const ark_probe_pos *pos, const int32_t *ids, int len, int row, int *out)
{
    if (len < 1) return ark_fail(ARK_ERR_ARG, "row %d: no tokens", row);
    switch (pos->kind) {
    case ARK_PROBE_POS_LAST: *out = len - 1; return ARK_OK;
    case ARK_PROBE_POS_INDEX: {
        int p = pos->index < 0 ? len + pos->index : pos->index;
        if (p < 0 || p >= len) return ark_fail(ARK_ERR_ARG, "\"pos\": %d is outside row %d (%d tokens)", pos->index, row, len);
        *out = p;
        return ARK_OK;
    }
    case ARK_PROBE_POS_TOKEN:
        for (int t = 0; t < len; t++)
            if (ids[t] == pos->token) { *out = t; return ARK_OK; }
        return ark_fail(ARK_ERR_ARG, "\"pos\": token %d does not occur in row %d", pos->token, row);
    }
    return ark_fail(ARK_ERR_ARG, "\"pos\": unknown kind %d", (int)pos->kind);
}

/* ---- activations ---- */

void ark_probe_acts_free(ark_probe_acts *a)
{
    if (!a) return;
    free_strs(a->hooks, a->n_layers);
    free(a->layers), free(a->pos), free(a->X);
    memset(a, 0, sizeof *a);
}

static int hook_layer(const char *name)
{
    int l;
    return sscanf(name, "blocks.%d.", &l) == 1 ? l : -1;
}

/* The hook names: one per layer, globals once. */
static ark_status resolve_hooks(const ark_model *m, const char *hook, const int *layers, int n_layers, ark_probe_acts *a)
{
    const ark_config *c = ark_model_config(m);
    int nl = layers ? n_layers : c->n_layers;
    a->layers = malloc(sizeof(int) * (nl ? nl : 1));
    a->hooks = calloc(nl ? nl : 1, sizeof(char *));
    if (!hook || !*hook) return ark_fail(ARK_ERR_ARG, "\"hook\": empty");
    if (strstr(hook, "pattern") || strstr(hook, "attn_scores"))
        return ark_fail(ARK_ERR_ARG, "\"hook\": \"%s\" is an attention map [b, h, q, k], not a vector per position", hook);
    if (ark_hook_find(m, hook) >= 0) { // a full name: that point only
        a->hooks[0] = strdup(hook);
        a->layers[0] = hook_layer(hook);
        a->n_layers = 1;
        return ARK_OK;
    }
    for (int i = 0; i < nl; i++) {
        int l = layers ? layers[i] : i;
        if (l < -c->n_layers || l >= c->n_layers)
            return ark_fail(ARK_ERR_ARG, "\"layers\": %d is out of range (the model has %d layers)", l, c->n_layers);
        char name[256];
        ark_status s = ark_hook_shorthand(m, hook, l, name, sizeof name);
        if (s != ARK_OK) return ark_fail_prefix(s, "\"hook\"");
        bool dup = false;
        for (int j = 0; j < a->n_layers; j++) dup |= !strcmp(a->hooks[j], name);
        if (dup) continue;
        a->hooks[a->n_layers] = strdup(name);
        a->layers[a->n_layers++] = hook_layer(name);
    }
    return ARK_OK;
}

/* One batched run over rows [r0, r0 + B): copy each row's vector. */
static ark_status collect_batch(ark_model *m, const int32_t *const *rows, const int *lens, int r0, int B,
                                const ark_plan *plan, int stop, ark_probe_acts *a)
{
    ark_batch b;
    ARK_TRY(ark_batch_pack(m, rows + r0, lens + r0, B, &b));
    ark_run_opts ro = ARK_RUN_OPTS_INIT;
    ro.mask = b.mask;
    ro.stop_at_layer = stop;
    ark_cache *c = NULL;
    ark_status s = ark_run_ex(m, b.tokens, b.B, b.T, &ro, plan, &c);
    for (int h = 0; s == ARK_OK && h < a->n_layers; h++) {
        const ark_tensor *t = ark_cache_get(c, a->hooks[h]);
        if (!t) { s = ark_fail(ARK_ERR_MISSING, "hook \"%s\": not in the run's cache", a->hooks[h]); break; }
        int d = (int)(ark_tensor_numel(t) / ((int64_t)b.B * b.T));
        if (a->d && d != a->d) { s = ark_fail(ARK_ERR_SHAPE, "hook \"%s\": %d values per position, expected %d", a->hooks[h], d, a->d); break; }
        if (!a->X) {
            a->d = d;
            a->X = malloc(sizeof(float) * (size_t)a->n_layers * a->n * d);
            if (!a->X) { s = ark_fail(ARK_ERR_NOMEM, "activations: out of memory (%d x %d x %d)", a->n_layers, a->n, d); break; }
        }
        for (int i = 0; i < B; i++)
            memcpy(a->X + ((size_t)h * a->n + r0 + i) * d, t->data + ((size_t)i * b.T + a->pos[r0 + i]) * d, sizeof(float) * d);
    }
    ark_cache_free(c);
    ark_batch_free(&b);
    return s;
}

/* Rows per batched run: what the kept points, the logits (unless the run
 * stops early) and the layer's working buffers take, within the budget. */
static int rows_per_run(const ark_model *m, const int *lens, int n, int n_hooks, bool stops)
{
    const ark_config *c = ark_model_config(m);
    int T = 1, wide = c->d_model;
    for (int i = 0; i < n; i++) T = lens[i] > T ? lens[i] : T;
    if (c->d_mlp > wide) wide = c->d_mlp;
    if (c->n_heads * c->d_head > wide) wide = c->n_heads * c->d_head;
    size_t row = (size_t)T * sizeof(float) * ((size_t)n_hooks * wide + (stops ? 0 : (size_t)c->d_vocab) + 8 * (size_t)wide);
    size_t per = COLLECT_BUDGET / (row ? row : 1);
    return per < 1 ? 1 : per > COLLECT_MAX_ROWS ? COLLECT_MAX_ROWS : (int)per;
}

ark_status ark_probe_collect(ark_model *m, const int32_t *const *rows, const int *lens, int n, const char *hook,
                             const int *layers, int n_layers, const ark_probe_pos *pos, ark_probe_acts *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1) return ark_fail(ARK_ERR_ARG, "no examples");
    if (layers && n_layers < 1) return ark_fail(ARK_ERR_ARG, "\"layers\": empty");
    out->n = n;
    ark_status s = resolve_hooks(m, hook, layers, n_layers, out);
    out->pos = malloc(sizeof(int) * n);
    for (int i = 0; s == ARK_OK && i < n; i++) s = ark_probe_position(pos, rows[i], lens[i], i, &out->pos[i]);
    ark_plan *plan = s == ARK_OK ? ark_plan_new(m) : NULL;
    int stop = 0, L = ark_model_config(m)->n_layers;
    for (int h = 0; s == ARK_OK && h < out->n_layers; h++) {
        s = ark_plan_keep(plan, out->hooks[h]);
        stop = out->layers[h] < 0 ? L : (out->layers[h] + 1 > stop ? out->layers[h] + 1 : stop);
    }
    int per = rows_per_run(m, lens, n, out->n_layers, stop < L);
    for (int r0 = 0; s == ARK_OK && r0 < n; r0 += per)
        s = collect_batch(m, rows, lens, r0, n - r0 < per ? n - r0 : per, plan, stop >= L ? -1 : stop, out);
    ark_plan_free(plan);
    if (s != ARK_OK) ark_probe_acts_free(out);
    return s;
}

/* ---- splits and control labels ---- */

static void shuffle(int *a, int n, uint64_t seed)
{
    ark_rng r;
    ark_rng_seed(&r, seed);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(ark_rng_u64(&r) % (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

ark_status ark_probe_split(const int *entity, int n, int n_entities, double test_fraction, uint64_t seed,
                           uint8_t *is_test)
{
    if (!(test_fraction >= 0 && test_fraction < 1))
        return ark_fail(ARK_ERR_ARG, "\"test_fraction\": %g, expected a number in [0, 1)", test_fraction);
    int *order = malloc(sizeof(int) * (n_entities ? n_entities : 1));
    uint8_t *test = calloc(n_entities ? n_entities : 1, 1);
    if (!order || !test) { free(order), free(test); return ark_fail(ARK_ERR_NOMEM, "split: out of memory"); }
    for (int e = 0; e < n_entities; e++) order[e] = e;
    shuffle(order, n_entities, seed);
    int nt = (int)(test_fraction * n_entities + 0.5);
    if (test_fraction > 0 && nt == 0 && n_entities >= 2) nt = 1;
    if (nt >= n_entities) nt = n_entities - 1;
    for (int e = 0; e < nt; e++) test[order[e]] = 1;
    ark_status s = ARK_OK;
    for (int i = 0; i < n; i++) {
        if (entity[i] < 0 || entity[i] >= n_entities) { s = ark_fail(ARK_ERR_ARG, "entity of row %d: %d, expected 0..%d", i, entity[i], n_entities - 1); break; }
        is_test[i] = test[entity[i]];
    }
    free(order);
    free(test);
    return s;
}

ark_status ark_probe_control_labels(const int *label, const int *entity, int n, int n_entities, uint64_t seed,
                                    int *control)
{
    int *own = malloc(sizeof(int) * (n_entities ? n_entities : 1)), *perm = malloc(sizeof(int) * (n_entities ? n_entities : 1));
    if (!own || !perm) { free(own), free(perm); return ark_fail(ARK_ERR_NOMEM, "control task: out of memory"); }
    for (int e = 0; e < n_entities; e++) own[e] = -1, perm[e] = e;
    ark_status s = ARK_OK;
    for (int i = 0; i < n && s == ARK_OK; i++) {
        if (entity[i] < 0 || entity[i] >= n_entities) s = ark_fail(ARK_ERR_ARG, "entity of row %d: %d, expected 0..%d", i, entity[i], n_entities - 1);
        else if (own[entity[i]] < 0) own[entity[i]] = label[i];
    }
    // a stream of its own, so the control labels do not mirror the split
    shuffle(perm, n_entities, seed ^ 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < n && s == ARK_OK; i++) control[i] = own[perm[entity[i]]];
    free(own);
    free(perm);
    return s;
}
