/* The knowledge tool's "probe" operation: a labelled dataset -> activations
 * per layer -> a probe, a control probe and difference-of-means directions
 * per layer -> JSON (and saved probes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fileio.h"
#include "tools/knowledge_internal.h"

/* A label or entity value as a string: strings as they are, numbers and
 * booleans as JSON prints them. */
static char *value_str(const cJSON *v)
{
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (cJSON_IsNumber(v) || cJSON_IsBool(v)) return cJSON_PrintUnformatted(v);
    return NULL;
}

/* The examples into a dataset and token rows. */
static ark_status read_examples(const ark_tool_env *env, const cJSON *items, ark_probe_dataset *ds, kn_rows *rows)
{
    const cJSON *o;
    ark_status s = ARK_OK;
    cJSON_ArrayForEach(o, items) {
        int line = cJSON_GetObjectItem(o, "__line")->valueint;
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text"), *toks = cJSON_GetObjectItemCaseSensitive(o, "tokens");
        const cJSON *ent = cJSON_GetObjectItemCaseSensitive(o, "entity");
        if (!ent) ent = cJSON_GetObjectItemCaseSensitive(o, "subject");
        char *label = value_str(cJSON_GetObjectItemCaseSensitive(o, "label")), *entity = ent ? value_str(ent) : NULL;
        char *key = cJSON_IsString(text) ? strdup(text->valuestring) : toks ? cJSON_PrintUnformatted(toks) : NULL;
        if (!label) s = ark_fail(ARK_ERR_ARG, "example %d: \"label\": missing (a string, number or boolean)", line);
        else if (ent && !entity) s = ark_fail(ARK_ERR_ARG, "example %d: \"entity\": expected a string or number", line);
        else if (cJSON_IsString(text)) s = kn_rows_add_text(env, rows, text->valuestring, line);
        else if (toks) s = kn_rows_add_tokens(env, rows, toks, line);
        else s = ark_fail(ARK_ERR_ARG, "example %d: no \"text\" (a string) or \"tokens\"", line);
        if (s == ARK_OK) s = ark_probe_dataset_add(ds, key, label, entity);
        free(label), free(entity), free(key);
        if (s != ARK_OK) return s;
    }
    return ark_probe_dataset_index(ds);
}

typedef struct probe_cfg {
    ark_probe_opts opts;
    double test_fraction;
    int seed;
    bool control;
    const char *save;
} probe_cfg;

static ark_status cfg_json(const cJSON *p, probe_cfg *c)
{
    const char *control;
    c->opts.fit = (ark_logreg_opts)ARK_LOGREG_OPTS_INIT;
    ARK_TRY(tool_get_num(p, "l2", c->opts.fit.l2, &c->opts.fit.l2));
    ARK_TRY(tool_get_int(p, "max_iter", c->opts.fit.max_iter, &c->opts.fit.max_iter));
    ARK_TRY(tool_get_num(p, "tol", c->opts.fit.tol, &c->opts.fit.tol));
    ARK_TRY(tool_get_bool(p, "standardize", true, &c->opts.fit.standardize));
    ARK_TRY(tool_get_num(p, "test_fraction", 0.25, &c->test_fraction));
    ARK_TRY(tool_get_int(p, "seed", 0, &c->seed));
    ARK_TRY(tool_get_str(p, "control", "shuffle", &control));
    ARK_TRY(tool_get_str(p, "save", NULL, &c->save));
    if (strcmp(control, "shuffle") && strcmp(control, "none"))
        return ark_fail(ARK_ERR_ARG, "\"control\": \"%s\", expected \"shuffle\" or \"none\"", control);
    if (!(c->opts.fit.l2 >= 0)) return ark_fail(ARK_ERR_ARG, "\"l2\": %g, expected >= 0", c->opts.fit.l2);
    if (!(c->opts.fit.tol > 0)) return ark_fail(ARK_ERR_ARG, "\"tol\": %g, expected > 0", c->opts.fit.tol);
    if (c->opts.fit.max_iter < 0) return ark_fail(ARK_ERR_ARG, "\"max_iter\": %d, expected >= 0", c->opts.fit.max_iter);
    if (!(c->test_fraction >= 0 && c->test_fraction < 1))
        return ark_fail(ARK_ERR_ARG, "\"test_fraction\": %g, expected a number in [0, 1)", c->test_fraction);
    c->control = c->opts.control = !strcmp(control, "shuffle");
    return ARK_OK;
}

static cJSON *fit_json(const ark_logreg *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "iterations", p->iterations);
    kn_add_num(o, "loss", p->loss);
    kn_add_num(o, "grad_norm", p->grad_norm);
    cJSON_AddBoolToObject(o, "converged", p->converged);
    return o;
}

static cJSON *layer_json(const ark_probe_acts *a, int h, const ark_probe_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", a->layers[h]);
    cJSON_AddStringToObject(o, "hook", a->hooks[h]);
    kn_add_num(o, "train_accuracy", r->train_acc);
    kn_add_num(o, "test_accuracy", r->test_acc);
    kn_add_num(o, "control_train_accuracy", r->control_train_acc);
    kn_add_num(o, "control_test_accuracy", r->control_test_acc);
    kn_add_num(o, "selectivity", r->selectivity);
    cJSON_AddItemToObject(o, "fit", fit_json(&r->probe));
    if (r->control.W) cJSON_AddItemToObject(o, "control_fit", fit_json(&r->control));
    if (r->vector) {
        cJSON *d = cJSON_AddObjectToObject(o, "dom");
        kn_add_num(d, "train_accuracy", r->dom_train_acc);
        kn_add_num(d, "test_accuracy", r->dom_test_acc);
        kn_add_num(d, "threshold", r->dom_threshold);
    }
    return o;
}

/* The dataset's description: classes, counts, chance, split. */
static cJSON *data_json(const ark_probe_dataset *ds, const uint8_t *is_test, const probe_cfg *c)
{
    cJSON *o = cJSON_CreateObject(), *cl = cJSON_AddArrayToObject(o, "classes");
    int *cnt = calloc(ds->n_classes, sizeof(int)), mx = 0, ntest = 0, etest = 0;
    uint8_t *seen = calloc(ds->n_entities ? ds->n_entities : 1, 1);
    for (int i = 0; i < ds->n; i++) {
        cnt[ds->label[i]]++;
        ntest += is_test[i];
        if (is_test[i] && !seen[ds->entity[i]]) seen[ds->entity[i]] = 1, etest++;
    }
    cJSON *counts = cJSON_AddArrayToObject(o, "class_counts");
    for (int k = 0; k < ds->n_classes; k++) {
        cJSON_AddItemToArray(cl, cJSON_CreateString(ds->classes[k]));
        cJSON_AddItemToArray(counts, cJSON_CreateNumber(cnt[k]));
        if (cnt[k] > mx) mx = cnt[k];
    }
    cJSON_AddNumberToObject(o, "n_examples", ds->n);
    cJSON_AddNumberToObject(o, "n_entities", ds->n_entities);
    cJSON_AddNumberToObject(o, "chance", 1.0 / ds->n_classes);
    cJSON_AddNumberToObject(o, "majority", (double)mx / ds->n);
    cJSON *sp = cJSON_AddObjectToObject(o, "split");
    cJSON_AddStringToObject(sp, "by", "entity");
    cJSON_AddNumberToObject(sp, "test_fraction", c->test_fraction);
    cJSON_AddNumberToObject(sp, "seed", c->seed);
    cJSON_AddNumberToObject(sp, "train_examples", ds->n - ntest);
    cJSON_AddNumberToObject(sp, "test_examples", ntest);
    cJSON_AddNumberToObject(sp, "train_entities", ds->n_entities - etest);
    cJSON_AddNumberToObject(sp, "test_entities", etest);
    cJSON *it = cJSON_AddArrayToObject(sp, "is_test");
    for (int i = 0; i < ds->n; i++) cJSON_AddItemToArray(it, cJSON_CreateNumber(is_test[i]));
    free(cnt);
    free(seen);
    return o;
}

/* The stem of a layer's saved probe: DIR/layerL, or DIR/HOOK outside blocks. */
static char *save_stem(const char *dir, const ark_probe_acts *a, int h)
{
    char name[280];
    if (a->layers[h] >= 0) snprintf(name, sizeof name, "layer%d", a->layers[h]);
    else snprintf(name, sizeof name, "%s", a->hooks[h]);
    return ark_path_join(dir, name);
}

/* Fit, describe and save every layer; the best by test (else train)
 * accuracy, ties to the higher selectivity, then the earlier layer. */
static ark_status fit_layers(const ark_probe_dataset *ds, const ark_probe_acts *a, const int *ctrl, const uint8_t *is_test,
                             const probe_cfg *c, const kn_site *site, cJSON *out)
{
    cJSON *layers = cJSON_AddArrayToObject(out, "layers");
    int best = -1;
    double best_acc = -1, best_sel = -INFINITY;
    ark_status s = c->save ? ark_mkdirs(c->save) : ARK_OK;
    if (s != ARK_OK) return ark_fail_prefix(s, "\"save\"");
    for (int h = 0; s == ARK_OK && h < a->n_layers; h++) {
        ark_probe_result r;
        s = ark_probe_fit(a->X + (size_t)h * a->n * a->d, a->n, a->d, ds->label, ctrl, ds->n_classes, is_test, &c->opts, &r);
        if (s != ARK_OK) break;
        r.layer = a->layers[h];
        cJSON *lj = layer_json(a, h, &r);
        double acc = isnan(r.test_acc) ? r.train_acc : r.test_acc, sel = isnan(r.selectivity) ? 0 : r.selectivity;
        if (acc > best_acc + 1e-12 || (fabs(acc - best_acc) <= 1e-12 && sel > best_sel)) best = h, best_acc = acc, best_sel = sel;
        if (c->save) {
            char *stem = save_stem(c->save, a, h);
            s = ark_probe_save(&r, (const char *const *)ds->classes, ds->n_classes, a->hooks[h], site->pos_desc, c->opts.fit.l2, stem);
            char *path = malloc(strlen(stem) + 16);
            sprintf(path, "%s.safetensors", stem);
            cJSON_AddStringToObject(lj, "saved", path);
            free(path), free(stem);
        }
        cJSON_AddItemToArray(layers, lj);
        ark_probe_result_free(&r);
    }
    if (s == ARK_OK && best >= 0) cJSON_AddItemToObject(out, "best", cJSON_Duplicate(cJSON_GetArrayItem(layers, best), true));
    return s;
}

ark_status kn_op_probe(const ark_tool_env *env, const cJSON *p, char **result)
{
    probe_cfg c;
    kn_site site;
    ARK_TRY(cfg_json(p, &c));
    ARK_TRY(kn_site_json(env, p, &site));
    cJSON *items = NULL, *out = NULL;
    ark_probe_dataset ds = {0};
    kn_rows rows = {0};
    ark_probe_acts a = {0};
    uint8_t *is_test = NULL;
    int *ctrl = NULL;
    ark_status s = kn_items_json(p, "data", "examples", &items);
    if (s == ARK_OK) s = read_examples(env, items, &ds, &rows);
    if (s == ARK_OK && ds.n_classes < 2)
        s = ark_fail(ARK_ERR_ARG, "\"label\": the data has %d distinct label; a probe needs at least 2", ds.n_classes);
    if (s == ARK_OK) s = ark_probe_collect(env->model, (const int32_t *const *)rows.ids, rows.len, rows.n, site.hook,
                                           site.layers, site.n_layers, &site.pos, &a);
    if (s == ARK_OK) {
        is_test = malloc(ds.n);
        ctrl = malloc(sizeof(int) * ds.n);
        s = ark_probe_split(ds.entity, ds.n, ds.n_entities, c.test_fraction, (uint64_t)(uint32_t)c.seed, is_test);
    }
    if (s == ARK_OK && c.control) s = ark_probe_control_labels(ds.label, ds.entity, ds.n, ds.n_entities, (uint64_t)(uint32_t)c.seed, ctrl);
    if (s == ARK_OK) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "hook", site.hook);
        cJSON_AddStringToObject(out, "position", site.pos_desc);
        cJSON_AddNumberToObject(out, "d", a.d);
        cJSON_AddNumberToObject(out, "l2", c.opts.fit.l2);
        cJSON_AddStringToObject(out, "control", c.control ? "shuffle" : "none");
        cJSON_AddItemToObject(out, "data", data_json(&ds, is_test, &c));
        s = fit_layers(&ds, &a, c.control ? ctrl : NULL, is_test, &c, &site, out);
    }
    if (s == ARK_OK) s = tool_result(out, result), out = NULL;
    cJSON_Delete(out);
    cJSON_Delete(items);
    free(is_test), free(ctrl);
    ark_probe_acts_free(&a);
    kn_rows_free(&rows);
    ark_probe_dataset_free(&ds);
    kn_site_free(&site);
    return s;
}
