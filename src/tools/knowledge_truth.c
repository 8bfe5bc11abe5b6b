/* The knowledge tool's "truth" operation: pairs of a true and a false
 * statement, their activations along a direction per layer, and how well
 * the direction separates them (include/arrakis/tool_knowledge.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/safetensors.h"
#include "arrakis/weights.h"
#include "core/error.h"
#include "io/fileio.h"
#include "tools/knowledge_internal.h"

/* Pairs: rows [0, n) the true statements, [n, 2n) the false ones. */
typedef struct truth_data {
    int n;
    kn_rows rows;
    ark_probe_dataset ent; /* entities only (labels unused) */
} truth_data;

static ark_status read_pairs(const ark_tool_env *env, const cJSON *items, truth_data *td)
{
    int n = cJSON_GetArraySize(items), i = 0;
    kn_rows fr = {0};
    ark_status s = ARK_OK;
    const cJSON *o;
    cJSON_ArrayForEach(o, items) {
        int line = cJSON_GetObjectItem(o, "__line")->valueint;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "true"), *f = cJSON_GetObjectItemCaseSensitive(o, "false");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "entity");
        if (!e) e = cJSON_GetObjectItemCaseSensitive(o, "subject");
        if (!cJSON_IsString(t) || !cJSON_IsString(f))
            s = ark_fail(ARK_ERR_ARG, "pair %d: expected {\"true\": TEXT, \"false\": TEXT}", line);
        else if (e && !cJSON_IsString(e)) s = ark_fail(ARK_ERR_ARG, "pair %d: \"entity\": expected a string", line);
        if (s == ARK_OK) s = kn_rows_add_text(env, &td->rows, t->valuestring, line);
        if (s == ARK_OK) s = kn_rows_add_text(env, &fr, f->valuestring, line);
        if (s == ARK_OK) s = ark_probe_dataset_add(&td->ent, t->valuestring, "pair", e ? e->valuestring : NULL);
        if (s != ARK_OK) break;
        i++;
    }
    for (int j = 0; s == ARK_OK && j < fr.n; j++) { // append the false rows, moving them
        td->rows.ids = realloc(td->rows.ids, sizeof(int32_t *) * (td->rows.n + 1));
        td->rows.len = realloc(td->rows.len, sizeof(int) * (td->rows.n + 1));
        td->rows.ids[td->rows.n] = fr.ids[j], td->rows.len[td->rows.n++] = fr.len[j];
        fr.ids[j] = NULL;
    }
    kn_rows_free(&fr);
    td->n = i;
    if (s == ARK_OK && n != i) s = ark_fail(ARK_ERR_ARG, "pairs: %d read of %d", i, n);
    return s == ARK_OK ? ark_probe_dataset_index(&td->ent) : s;
}

/* A direction (d) from "file:PATH[:KEY]": KEY, else "vector", else the
 * file's only tensor. */
static ark_status direction_file(const char *spec, int d, float *u)
{
    char *path = strdup(spec), *key = strrchr(path, ':');
    if (key && !strstr(key, ".safetensors")) *key++ = '\0';
    else key = NULL;
    ark_st_file *f;
    ark_status s = ark_st_open(path, &f);
    if (s != ARK_OK) { free(path); return ark_fail_prefix(s, "\"direction\""); }
    const ark_st_tensor *t = key ? ark_st_find(f, key) : ark_st_find(f, "vector");
    if (!t && !key && ark_st_count(f) == 1) t = ark_st_at(f, 0);
    float *data = NULL;
    bool owned = false;
    if (!t) s = ark_fail(ARK_ERR_MISSING, "\"direction\": %s has no tensor \"%s\"", path, key ? key : "vector");
    else if (t->numel != d) s = ark_fail(ARK_ERR_SHAPE, "\"direction\": %s:%s has %lld values, expected %d", path, t->name, (long long)t->numel, d);
    if (s == ARK_OK) s = ark_st_to_f32(f, t, &data, &owned);
    if (s == ARK_OK) memcpy(u, data, sizeof(float) * d);
    if (owned) free(data);
    ark_st_close(f);
    free(path);
    return s;
}

static cJSON *stats_json(const ark_truth_stats *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_pairs", t->n_pairs);
    kn_add_num(o, "mean_true", t->mean_true);
    kn_add_num(o, "mean_false", t->mean_false);
    kn_add_num(o, "mean_difference", t->mean_difference);
    kn_add_num(o, "pooled_sd", t->pooled_sd);
    kn_add_num(o, "separation", t->separation);
    kn_add_num(o, "pair_accuracy", t->pair_accuracy);
    kn_add_num(o, "sign_accuracy", t->sign_accuracy);
    kn_add_num(o, "threshold", t->threshold);
    return o;
}

static ark_status save_vector(const char *dir, const ark_probe_acts *a, int h, const float *u, double thr, cJSON *lj)
{
    char name[300];
    if (a->layers[h] >= 0) snprintf(name, sizeof name, "truth_layer%d", a->layers[h]);
    else snprintf(name, sizeof name, "truth_%s", a->hooks[h]);
    char *stem = ark_path_join(dir, name), *path = malloc(strlen(stem) + 16);
    ark_st_writer *w = ark_st_writer_new();
    int64_t dd[1] = {a->d};
    char tbuf[64];
    snprintf(tbuf, sizeof tbuf, "%.9g", thr);
    ark_status s = ark_st_writer_add_f32(w, "vector", ARK_F32, u, 1, dd);
    if (s == ARK_OK) s = ark_st_writer_set_metadata(w, "hook", a->hooks[h]);
    if (s == ARK_OK) s = ark_st_writer_set_metadata(w, "threshold", tbuf);
    sprintf(path, "%s.safetensors", stem);
    if (s == ARK_OK) s = ark_st_writer_save(w, path);
    if (s == ARK_OK) cJSON_AddStringToObject(lj, "saved", path);
    ark_st_writer_free(w);
    free(stem), free(path);
    return s;
}

typedef struct truth_cfg {
    const char *direction, *save;
    double test_fraction;
    int seed;
} truth_cfg;

/* Per row (2n), the unit unembedding column of the token after the read
 * position: dirs (2n, d). */
static ark_status unembed_dirs(const ark_model *m, const truth_data *td, const ark_probe_acts *a, float **dirs)
{
    int d = a->d, V = ark_model_config(m)->d_vocab;
    if (d != ark_model_config(m)->d_model)
        return ark_fail(ARK_ERR_ARG, "\"direction\": unembed needs a residual-stream hook (%d values, d_model %d)", d, ark_model_config(m)->d_model);
    ark_tensor wu = {0};
    ARK_TRY(ark_weight_get(m, ARK_W_U, -1, -1, &wu)); // (d, V)
    *dirs = malloc(sizeof(float) * (size_t)a->n * d);
    ark_status s = *dirs ? ARK_OK : ark_fail(ARK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < a->n && s == ARK_OK; i++) {
        int p = a->pos[i];
        if (p + 1 >= td->rows.len[i]) {
            s = ark_fail(ARK_ERR_ARG, "\"direction\": unembed reads the token after the position, and pair %d's %s statement ends at "
                         "position %d (give an earlier \"pos\", e.g. the token before the claimed object)", i % td->n + 1,
                         i < td->n ? "true" : "false", p);
            break;
        }
        int32_t t = td->rows.ids[i][p + 1];
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)wu.data[(size_t)j * V + t] * wu.data[(size_t)j * V + t];
        nn = sqrt(nn);
        for (int j = 0; j < d; j++) (*dirs)[(size_t)i * d + j] = nn > 0 ? (float)(wu.data[(size_t)j * V + t] / nn) : 0.0f;
    }
    ark_weight_free(&wu);
    if (s != ARK_OK) free(*dirs), *dirs = NULL;
    return s;
}

/* Scores of every statement along its own direction (dirs (2n, d)). */
static void unembed_stats(const float *X, const float *dirs, int n, int d, ark_truth_stats *out)
{
    double *sc = malloc(sizeof(double) * 2 * n);
    for (int i = 0; i < 2 * n; i++) {
        double v = 0;
        for (int j = 0; j < d; j++) v += (double)X[(size_t)i * d + j] * dirs[(size_t)i * d + j];
        sc[i] = v;
    }
    ark_truth_stats_scores(sc, sc + n, n, NULL, 0, NAN, out);
    free(sc);
}

/* One layer: the direction, the statistics, the saved vector. */
static ark_status truth_layer(const truth_data *td, const ark_probe_acts *a, int h, const uint8_t *is_test,
                              const truth_cfg *c, const float *dirs, cJSON *lj)
{
    int n = td->n, d = a->d;
    const float *X = a->X + (size_t)h * a->n * d, *xt = X, *xf = X + (size_t)n * d;
    float *u = malloc(sizeof(float) * d);
    ark_status s = ARK_OK;
    ark_truth_stats tr, te;
    if (dirs) {
        unembed_stats(X, dirs, n, d, &tr);
        cJSON_AddItemToObject(lj, "all", stats_json(&tr));
        free(u);
        return ARK_OK;
    }
    if (strcmp(c->direction, "dom")) {
        s = direction_file(c->direction + 5, d, u);
        if (s == ARK_OK) s = ark_truth_stats_compute(xt, xf, n, d, u, NULL, 0, NAN, &tr);
        if (s == ARK_OK) cJSON_AddItemToObject(lj, "all", stats_json(&tr));
    } else {
        int *y = malloc(sizeof(int) * 2 * n);
        uint8_t *use = malloc(2 * n);
        for (int i = 0; i < 2 * n; i++) y[i] = i < n, use[i] = is_test[i % n];
        s = ark_probe_mean_difference(X, y, 2 * n, d, 1, 0, use, 0, u, NULL);
        if (s == ARK_OK) s = ark_truth_stats_compute(xt, xf, n, d, u, is_test, 0, NAN, &tr);
        if (s == ARK_OK) s = ark_truth_stats_compute(xt, xf, n, d, u, is_test, 1, tr.threshold, &te);
        if (s == ARK_OK) {
            cJSON_AddItemToObject(lj, "train", stats_json(&tr));
            cJSON_AddItemToObject(lj, "test", stats_json(&te));
        }
        free(y), free(use);
    }
    if (s == ARK_OK && c->save) s = save_vector(c->save, a, h, u, tr.threshold, lj);
    free(u);
    return s;
}

static ark_status truth_cfg_json(const cJSON *p, truth_cfg *c)
{
    ARK_TRY(tool_get_str(p, "direction", "dom", &c->direction));
    ARK_TRY(tool_get_str(p, "save", NULL, &c->save));
    ARK_TRY(tool_get_num(p, "test_fraction", 0.25, &c->test_fraction));
    ARK_TRY(tool_get_int(p, "seed", 0, &c->seed));
    if (c->save && !strcmp(c->direction, "unembed"))
        return ark_fail(ARK_ERR_ARG, "\"save\": the unembed direction is one per statement; there is no vector to save");
    if (strcmp(c->direction, "dom") && strcmp(c->direction, "unembed") && strncmp(c->direction, "file:", 5))
        return ark_fail(ARK_ERR_ARG, "\"direction\": \"%s\", expected \"dom\", \"unembed\" or \"file:PATH[:KEY]\"", c->direction);
    return ARK_OK;
}

ark_status kn_op_truth(const ark_tool_env *env, const cJSON *p, char **result)
{
    truth_cfg c;
    kn_site site;
    ARK_TRY(truth_cfg_json(p, &c));
    ARK_TRY(kn_site_json(env, p, &site));
    cJSON *items = NULL, *out = NULL;
    truth_data td = {0};
    ark_probe_acts a = {0};
    uint8_t *is_test = NULL;
    ark_status s = kn_items_json(p, "pairs", "pairs", &items);
    if (s == ARK_OK) s = read_pairs(env, items, &td);
    if (s == ARK_OK) s = ark_probe_collect(env->model, (const int32_t *const *)td.rows.ids, td.rows.len, td.rows.n,
                                           site.hook, site.layers, site.n_layers, &site.pos, &a);
    if (s == ARK_OK) is_test = calloc(td.n, 1);
    if (s == ARK_OK && !strcmp(c.direction, "dom"))
        s = ark_probe_split(td.ent.entity, td.n, td.ent.n_entities, c.test_fraction, (uint64_t)(uint32_t)c.seed, is_test);
    float *dirs = NULL;
    if (s == ARK_OK && !strcmp(c.direction, "unembed")) s = unembed_dirs(env->model, &td, &a, &dirs);
    if (s == ARK_OK && c.save && !dirs && (s = ark_mkdirs(c.save)) != ARK_OK) s = ark_fail_prefix(s, "\"save\"");
    if (s == ARK_OK) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "hook", site.hook);
        cJSON_AddStringToObject(out, "position", site.pos_desc);
        cJSON_AddStringToObject(out, "direction", c.direction);
        cJSON_AddNumberToObject(out, "n_pairs", td.n);
        cJSON_AddNumberToObject(out, "n_entities", td.ent.n_entities);
        cJSON *layers = cJSON_AddArrayToObject(out, "layers");
        for (int h = 0; s == ARK_OK && h < a.n_layers; h++) {
            cJSON *lj = cJSON_CreateObject();
            cJSON_AddNumberToObject(lj, "layer", a.layers[h]);
            cJSON_AddStringToObject(lj, "hook", a.hooks[h]);
            cJSON_AddItemToArray(layers, lj);
            s = truth_layer(&td, &a, h, is_test, &c, dirs, lj);
        }
    }
    if (s == ARK_OK) s = tool_result(out, result), out = NULL;
    cJSON_Delete(out);
    cJSON_Delete(items);
    free(is_test), free(dirs);
    ark_probe_acts_free(&a);
    kn_rows_free(&td.rows);
    ark_probe_dataset_free(&td.ent);
    kn_site_free(&site);
    return s;
}
