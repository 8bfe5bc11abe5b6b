/* Opening a Hugging Face model folder: config, safetensors (single or
 * sharded), canonical weight views. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fileio.h"
#include "arrakis/run.h"
#include "model/model_internal.h"

static ark_status add_file(ark_model *m, const char *path)
{
    for (int i = 0; i < m->n_files; i++)
        if (!strcmp(ark_st_path(m->files[i]), path)) return ARK_OK;
    ark_st_file *f;
    ARK_TRY(ark_st_open(path, &f));
    m->files = realloc(m->files, sizeof *m->files * (m->n_files + 1));
    m->files[m->n_files++] = f;
    return ARK_OK;
}

/* model.safetensors, or the shards named by model.safetensors.index.json. */
static ark_status open_weights(ark_model *m, const char *dir)
{
    char *single = ark_path_join(dir, "model.safetensors");
    char *index = ark_path_join(dir, "model.safetensors.index.json");
    ark_status s = ARK_OK;
    if (ark_file_exists(single)) {
        s = add_file(m, single);
    } else if (ark_file_exists(index)) {
        char *text = NULL;
        s = ark_read_text(index, &text, NULL);
        cJSON *js = s == ARK_OK ? cJSON_Parse(text) : NULL;
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(js, "weight_map"), *it;
        if (s == ARK_OK && !cJSON_IsObject(map))
            s = ark_fail(ARK_ERR_FORMAT, "%s: expected an object with a \"weight_map\" of tensor -> shard file", index);
        cJSON_ArrayForEach(it, map) {
            if (s != ARK_OK) break;
            if (!cJSON_IsString(it) || strchr(it->valuestring, '/')) {
                s = ark_fail(ARK_ERR_FORMAT, "%s: weight_map[\"%s\"]: expected a shard file name", index, it->string);
                break;
            }
            char *shard = ark_path_join(dir, it->valuestring);
            if (!ark_file_exists(shard))
                s = ark_fail(ARK_ERR_MISSING, "%s: shard %s (listed for %s) does not exist", index, shard, it->string);
            else
                s = add_file(m, shard);
            free(shard);
        }
        cJSON_Delete(js);
        free(text);
    } else {
        s = ark_fail(ARK_ERR_MISSING, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(single);
    free(index);
    return s;
}

static const ark_st_tensor *find_tensor(const ark_model *m, const char *name, const ark_st_file **file)
{
    for (int i = 0; i < m->n_files; i++) {
        const ark_st_tensor *t = ark_st_find(m->files[i], name);
        if (t) { *file = m->files[i]; return t; }
    }
    return NULL;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++) n += snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static void note_dtype(ark_model *m, ark_dtype d)
{
    const char *name = ark_dtype_name(d);
    if (!m->disk_dtype[0]) snprintf(m->disk_dtype, sizeof m->disk_dtype, "%s", name);
    else if (strcmp(m->disk_dtype, name)) snprintf(m->disk_dtype, sizeof m->disk_dtype, "mixed");
}

/* Find, check and convert one tensor.  *out = NULL when the slot is absent
 * from this model. */
static ark_status load_slot(ark_model *m, const char *prefix, ark_wslot slot, int layer, const float **out)
{
    ark_slot_spec sp;
    ark_status err;
    *out = NULL;
    if (!ark_slot_describe(m->fam, &m->cfg, slot, layer, prefix, &sp, &err)) return err;
    char want[64], got[64];
    shape_str(want, sizeof want, sp.ndim, sp.shape);
    const ark_st_file *f;
    const ark_st_tensor *t = find_tensor(m, sp.name, &f);
    if (!t)
        return ark_fail(ARK_ERR_MISSING, "%s: missing tensor %s (expected %s)",
                        m->n_files == 1 ? ark_st_path(m->files[0]) : m->dir, sp.name, want);
    bool ok = t->ndim == sp.ndim;
    for (int i = 0; ok && i < sp.ndim; i++) ok = t->shape[i] == sp.shape[i];
    if (!ok) {
        shape_str(got, sizeof got, t->ndim, t->shape);
        return ark_fail(ARK_ERR_SHAPE, "%s: %s: expected %s, got %s", ark_st_path(f), sp.name, want, got);
    }
    if (t->dtype != ARK_F32 && t->dtype != ARK_F16 && t->dtype != ARK_BF16 && t->dtype != ARK_F64)
        return ark_fail(ARK_ERR_SHAPE, "%s: %s: dtype %s, expected F32, F16 or BF16", ark_st_path(f), sp.name,
                        ark_dtype_name(t->dtype));
    float *data;
    bool owned;
    ARK_TRY(ark_st_to_f32(f, t, &data, &owned));
    if (owned) {
        if (m->n_owned == m->cap_owned) {
            m->cap_owned = m->cap_owned ? 2 * m->cap_owned : 64;
            m->owned = realloc(m->owned, sizeof *m->owned * m->cap_owned);
        }
        m->owned[m->n_owned++] = data;
    }
    note_dtype(m, t->dtype);
    m->n_params += t->numel;
    *out = data;
    return ARK_OK;
}

static ark_linear linear_view(const ark_model *m, const float *w, const float *b, int in, int out)
{
    ark_linear l = {.w = w, .b = b, .in = in, .out = out, .in_out = m->fam->linear_in_out};
    l.ld = l.in_out ? out : in;
    return l;
}

/* A block of `out` outputs starting at output `first` of a fused matrix
 * with `total` outputs. */
static ark_linear block_view(const ark_model *m, const float *w, const float *b, int in, int total, int first, int out)
{
    ark_linear l = {.in = in, .out = out, .in_out = m->fam->linear_in_out};
    l.ld = l.in_out ? total : in;
    l.w = l.in_out ? w + first : w + (size_t)first * in;
    l.b = b ? b + first : NULL;
    return l;
}

static ark_status load_layer(ark_model *m, const char *prefix, int l)
{
    const ark_config *c = &m->cfg;
    ark_layer_weights *L = &m->layers[l];
    const float *w[W_N_SLOTS] = {0};
    for (int s = W_LN1_W; s < W_N_SLOTS; s++) ARK_TRY(load_slot(m, prefix, (ark_wslot)s, l, &w[s]));
    int d = c->d_model, q = c->n_heads * c->d_head, kv = c->n_kv_heads * c->d_head, mm = c->d_mlp;
    L->ln1_w = w[W_LN1_W]; L->ln1_b = w[W_LN1_B];
    L->ln2_w = w[W_LN2_W]; L->ln2_b = w[W_LN2_B];
    switch (m->fam->qkv_layout) {
    case QKV_SEPARATE:
        L->q = linear_view(m, w[W_Q], w[W_Q_B], d, q);
        L->k = linear_view(m, w[W_K], w[W_K_B], d, kv);
        L->v = linear_view(m, w[W_V], w[W_V_B], d, kv);
        break;
    case QKV_BLOCKS:
        L->q = block_view(m, w[W_QKV], w[W_QKV_B], d, q + 2 * kv, 0, q);
        L->k = block_view(m, w[W_QKV], w[W_QKV_B], d, q + 2 * kv, q, kv);
        L->v = block_view(m, w[W_QKV], w[W_QKV_B], d, q + 2 * kv, q + kv, kv);
        break;
    case QKV_PER_HEAD:
        L->qkv = linear_view(m, w[W_QKV], w[W_QKV_B], d, 3 * q);
        break;
    }
    L->o = linear_view(m, w[W_O], w[W_O_B], q, d);
    if (c->mlp == ARK_MLP_GATED && m->fam->gate_up_fused) {
        L->gate = block_view(m, w[W_GATE_UP], NULL, d, 2 * mm, 0, mm);
        L->up = block_view(m, w[W_GATE_UP], NULL, d, 2 * mm, mm, mm);
    } else {
        L->up = linear_view(m, w[W_UP], w[W_UP_B], d, mm);
        if (c->mlp == ARK_MLP_GATED) L->gate = linear_view(m, w[W_GATE], w[W_GATE_B], d, mm);
    }
    L->down = linear_view(m, w[W_DOWN], w[W_DOWN_B], mm, d);
    return ARK_OK;
}

/* The first prefix under which the token embedding exists. */
static const char *pick_prefix(const ark_model *m)
{
    for (int i = 0; i < 3 && m->fam->prefixes[i]; i++) {
        ark_slot_spec sp;
        ark_status err;
        const ark_st_file *f;
        if (ark_slot_describe(m->fam, &m->cfg, W_EMBED, 0, m->fam->prefixes[i], &sp, &err) &&
            find_tensor(m, sp.name, &f))
            return m->fam->prefixes[i];
    }
    return m->fam->prefixes[0];
}

static ark_status load_all(ark_model *m)
{
    const ark_config *c = &m->cfg;
    if (m->fam->qkv_layout == QKV_PER_HEAD && c->n_kv_heads != c->n_heads)
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: %s has no grouped-query attention (num_key_value_heads must equal heads)",
                        m->dir, m->fam->name);
    const char *prefix = pick_prefix(m);
    const float *unembed;
    ARK_TRY(load_slot(m, prefix, W_EMBED, 0, &m->embed));
    ARK_TRY(load_slot(m, prefix, W_POS_EMBED, 0, &m->pos_embed));
    ARK_TRY(load_slot(m, prefix, W_LNF_W, 0, &m->lnf_w));
    ARK_TRY(load_slot(m, prefix, W_LNF_B, 0, &m->lnf_b));
    ARK_TRY(load_slot(m, prefix, W_UNEMBED, 0, &unembed));
    /* The unembedding is stored [vocab, d] in every family (nn.Linear). */
    m->unembed = (ark_linear){.w = unembed ? unembed : m->embed, .in = c->d_model, .out = c->d_vocab,
                              .ld = c->d_model};
    m->qkv_per_head = m->fam->qkv_layout == QKV_PER_HEAD;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    for (int l = 0; l < c->n_layers; l++) ARK_TRY(load_layer(m, prefix, l));
    return ARK_OK;
}

ark_status ark_model_open(const char *dir, ark_model **out)
{
    *out = NULL;
    if (!ark_is_dir(dir)) return ark_fail(ARK_ERR_MISSING, "%s: not a model folder (no such directory)", dir);
    char *cfg_path = ark_path_join(dir, "config.json"), *text = NULL;
    ark_status s = ark_read_text(cfg_path, &text, NULL);
    ark_model *m = calloc(1, sizeof *m);
    m->dir = strdup(dir);
    if (s == ARK_OK) s = ark_config_parse(text, cfg_path, &m->cfg);
    if (s == ARK_OK) {
        m->fam = ark_family_find(m->cfg.family);
        s = open_weights(m, dir);
    }
    if (s == ARK_OK) s = load_all(m);
    free(text);
    free(cfg_path);
    if (s != ARK_OK) { ark_model_free(m); return s; }
    *out = m;
    return ARK_OK;
}

void ark_model_free(ark_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    for (int i = 0; i < m->n_files; i++) ark_st_close(m->files[i]);
    free(m->files);
    free(m->layers);
    free(m->hook_table);
    ark_model_clear_hooks(m);
    free(m->dir);
    free(m);
}

const ark_config *ark_model_config(const ark_model *m) { return &m->cfg; }
const char *ark_model_dir(const ark_model *m) { return m->dir; }
int64_t ark_model_n_params(const ark_model *m) { return m->n_params; }
const char *ark_model_disk_dtype(const ark_model *m) { return m->disk_dtype; }
