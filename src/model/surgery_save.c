/* Writing a model's current weights as a Hugging Face folder
 * (ark_model_save_folder, include/arrakis/tool_surgery.h): the reverse of
 * load.c's views, slot by slot (slots.c names and shapes every tensor). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_surgery.h"
#include "core/error.h"
#include "io/fileio.h"
#include "model/weights_internal.h"

/* Where output column o of a matrix (or bias) slot lives in the views. */
typedef struct colsrc {
    const ark_linear *L;
    int col;
} colsrc;

static colsrc slot_col(const ark_model *m, const ark_layer_weights *L, ark_wslot slot, int o)
{
    const ark_config *c = &m->cfg;
    int q = c->n_heads * c->d_head, kv = c->n_kv_heads * c->d_head, dh = c->d_head;
    switch (slot) {
    case W_Q: case W_Q_B: return (colsrc){&L->q, o};
    case W_K: case W_K_B: return (colsrc){&L->k, o};
    case W_V: case W_V_B: return (colsrc){&L->v, o};
    case W_QKV: case W_QKV_B:
        if (m->fam->qkv_layout == QKV_PER_HEAD) {
            if (m->qkv_per_head) return (colsrc){&L->qkv, o};
            int h = o / (3 * dh), r = o % (3 * dh), part = r / dh;
            const ark_linear *P = part == 0 ? &L->q : part == 1 ? &L->k : &L->v;
            return (colsrc){P, h * dh + r % dh};
        }
        if (o < q) return (colsrc){&L->q, o};
        if (o < q + kv) return (colsrc){&L->k, o - q};
        return (colsrc){&L->v, o - q - kv};
    case W_O: case W_O_B: return (colsrc){&L->o, o};
    case W_UP: case W_UP_B: return (colsrc){&L->up, o};
    case W_GATE: case W_GATE_B: return (colsrc){&L->gate, o};
    case W_GATE_UP: return o < c->d_mlp ? (colsrc){&L->gate, o} : (colsrc){&L->up, o - c->d_mlp};
    default: return (colsrc){&L->down, o};
    }
}

static void fill_vec(const float *v, size_t n, float *dst)
{
    if (v) memcpy(dst, v, sizeof(float) * n);
    else memset(dst, 0, sizeof(float) * n);
}

/* Fill one tensor in the family's storage layout. */
static void fill_slot(const ark_model *m, ark_wslot slot, int layer, const ark_slot_spec *sp, float *dst)
{
    const ark_config *c = &m->cfg;
    size_t d = (size_t)c->d_model;
    const ark_layer_weights *L = layer >= 0 ? &m->layers[layer] : NULL;
    switch (slot) {
    case W_EMBED: fill_vec(m->embed, (size_t)c->d_vocab * d, dst); return;
    case W_POS_EMBED: fill_vec(m->pos_embed, (size_t)c->n_ctx * d, dst); return;
    case W_LNF_W: fill_vec(m->lnf_w, d, dst); return;
    case W_LNF_B: fill_vec(m->lnf_b, d, dst); return;
    case W_UNEMBED:
        for (int v = 0; v < c->d_vocab; v++)
            for (size_t i = 0; i < d; i++) dst[(size_t)v * d + i] = lin_at(&m->unembed, (int)i, v);
        return;
    case W_LN1_W: fill_vec(L->ln1_w, d, dst); return;
    case W_LN1_B: fill_vec(L->ln1_b, d, dst); return;
    case W_LN2_W: fill_vec(L->ln2_w, d, dst); return;
    case W_LN2_B: fill_vec(L->ln2_b, d, dst); return;
    default: break;
    }
    if (sp->role == SLOT_BIAS) {
        for (int o = 0; o < (int)sp->shape[0]; o++) {
            colsrc s = slot_col(m, L, slot, o);
            dst[o] = s.L->b ? s.L->b[s.col] : 0.0f;
        }
        return;
    }
    bool in_out = m->fam->linear_in_out;
    int out = (int)(in_out ? sp->shape[1] : sp->shape[0]), in = (int)(in_out ? sp->shape[0] : sp->shape[1]);
    for (int o = 0; o < out; o++) {
        colsrc s = slot_col(m, L, slot, o);
        for (int i = 0; i < in; i++) dst[in_out ? (size_t)i * out + o : (size_t)o * in + i] = lin_at(s.L, i, s.col);
    }
}

/* A bias the family cannot store must be all zeros. */
static ark_status check_storable(const ark_model *m)
{
    const ark_config *c = &m->cfg;
    if (ark_model_processing(m))
        return ark_fail(ARK_ERR_UNSUPPORTED, "saving: the model's weights were processed (fold-ln, ...); the processed "
                        "norms and biases have no place in the %s layout (save before processing)", c->family);
    if (c->tied_embeddings && m->unembed.w != m->embed)
        return ark_fail(ARK_ERR_UNSUPPORTED, "saving: the config ties the embeddings, but the unembedding no longer "
                        "shares the embedding's storage");
    return ARK_OK;
}

/* config.json of the source folder with the edited layer count (and
 * gpt_neo's attention kinds); checked by parsing it back. */
static ark_status edited_config(const ark_model *m, const char *dtype_name, char **text)
{
    const ark_config *c = &m->cfg;
    char *path = ark_path_join(ark_model_dir(m), "config.json"), *src = NULL;
    ark_status s = ark_read_text(path, &src, NULL);
    cJSON *js = s == ARK_OK ? cJSON_Parse(src) : NULL;
    if (s == ARK_OK && !cJSON_IsObject(js)) s = ark_fail(ARK_ERR_FORMAT, "%s: not a JSON object", path);
    if (s == ARK_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(js, m->fam->k_layers);
        cJSON_AddNumberToObject(js, m->fam->k_layers, c->n_layers);
        cJSON_DeleteItemFromObjectCaseSensitive(js, "torch_dtype");
        cJSON_AddStringToObject(js, "torch_dtype", dtype_name);
        if (!strcmp(c->family, "gpt_neo")) { /* per-layer kinds, read from both keys by transformers */
            cJSON *kinds = cJSON_CreateArray(), *types = cJSON_CreateArray();
            for (int l = 0; l < c->n_layers; l++) {
                const char *k = c->window[l] ? "local" : "global";
                cJSON_AddItemToArray(kinds, cJSON_CreateString(k));
                cJSON *one = cJSON_CreateArray(), *names = cJSON_CreateArray();
                cJSON_AddItemToArray(names, cJSON_CreateString(k));
                cJSON_AddItemToArray(one, names);
                cJSON_AddItemToArray(one, cJSON_CreateNumber(1));
                cJSON_AddItemToArray(types, one);
            }
            cJSON_DeleteItemFromObjectCaseSensitive(js, "attention_layers");
            cJSON_DeleteItemFromObjectCaseSensitive(js, "attention_types");
            cJSON_AddItemToObject(js, "attention_layers", kinds);
            cJSON_AddItemToObject(js, "attention_types", types);
        }
        *text = cJSON_Print(js);
    }
    cJSON_Delete(js);
    free(src);
    ark_config back;
    if (s == ARK_OK) s = ark_config_parse(*text, path, &back);
    for (int l = 0; s == ARK_OK && l < c->n_layers; l++)
        if (back.window[l] != c->window[l] || back.attn_scale[l] != c->attn_scale[l])
            s = ark_fail(ARK_ERR_UNSUPPORTED, "saving: layer %d of the edited model has attention window %d and score scale "
                         "%g, but the written %s config would give it %d and %g (the family derives them from the layer "
                         "index, e.g. scale_attn_by_inverse_layer_idx or max_window_layers); this edit cannot be saved",
                         l, c->window[l], (double)c->attn_scale[l], c->family, back.window[l], (double)back.attn_scale[l]);
    if (s != ARK_OK) { free(*text); *text = NULL; }
    free(path);
    return s;
}

static ark_status copy_small_files(const char *from, const char *to)
{
    static const char *names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                                  "merges.txt", "tokenizer.model", "generation_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *src = ark_path_join(from, names[i]), *dst = ark_path_join(to, names[i]), *text = NULL;
        size_t len = 0;
        ark_status s = ARK_OK;
        if (ark_file_exists(src)) {
            s = ark_read_text(src, &text, &len);
            if (s == ARK_OK) s = ark_write_file_atomic(dst, text, len);
        }
        free(text);
        free(src);
        free(dst);
        ARK_TRY(s);
    }
    return ARK_OK;
}

static ark_status same_dir(const char *a, const char *b, bool *same)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    *same = realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
    return ARK_OK;
}

static ark_status add_slot(ark_st_writer *w, const ark_model *m, ark_wslot slot, int layer, ark_dtype dt, float **buf)
{
    ark_slot_spec sp;
    ark_status err;
    *buf = NULL;
    if (!ark_slot_describe(m->fam, &m->cfg, slot, layer, m->fam->prefixes[0], &sp, &err)) return err;
    size_t n = (size_t)sp.shape[0] * (sp.ndim == 2 ? (size_t)sp.shape[1] : 1);
    *buf = malloc(sizeof(float) * (n ? n : 1));
    if (!*buf) return ark_fail(ARK_ERR_NOMEM, "saving: out of memory for %s", sp.name);
    fill_slot(m, slot, ark_slot_is_layer(slot) ? layer : -1, &sp, *buf);
    return ark_st_writer_add_f32(w, sp.name, dt, *buf, sp.ndim, sp.shape);
}

ark_status ark_model_save_folder(const ark_model *m, const char *dir)
{
    if (!dir || !*dir) return ark_fail(ARK_ERR_ARG, "saving: no output folder given");
    if (!ark_model_dir(m)) return ark_fail(ARK_ERR_UNSUPPORTED, "saving: the model has no folder to take config.json from");
    ARK_TRY(check_storable(m));
    const char *dn = ark_model_disk_dtype(m);
    ark_dtype dt = !strcmp(dn, "F16") ? ARK_F16 : !strcmp(dn, "BF16") ? ARK_BF16 : ARK_F32;
    char *cfg_text = NULL;
    ARK_TRY(edited_config(m, dt == ARK_F16 ? "float16" : dt == ARK_BF16 ? "bfloat16" : "float32", &cfg_text));
    ark_status s = ark_mkdirs(dir);
    bool same = false;
    if (s == ARK_OK) same_dir(dir, ark_model_dir(m), &same);
    if (s == ARK_OK && same)
        s = ark_fail(ARK_ERR_ARG, "saving: %s is the model's own folder; write the edited model to a new folder", dir);
    const ark_config *c = &m->cfg;
    int cap = W_N_SLOTS * (c->n_layers + 1), nb = 0;
    float **bufs = calloc((size_t)cap, sizeof *bufs);
    ark_st_writer *w = ark_st_writer_new();
    if (s == ARK_OK && (!bufs || !w)) s = ark_fail(ARK_ERR_NOMEM, "saving: out of memory");
    if (s == ARK_OK) ark_st_writer_set_metadata(w, "format", "pt");
    for (int sl = 0; s == ARK_OK && sl < W_N_SLOTS; sl++)
        if (!ark_slot_is_layer((ark_wslot)sl)) s = add_slot(w, m, (ark_wslot)sl, 0, dt, &bufs[nb++]);
    for (int l = 0; s == ARK_OK && l < c->n_layers; l++)
        for (int sl = W_LN1_W; s == ARK_OK && sl < W_N_SLOTS; sl++) s = add_slot(w, m, (ark_wslot)sl, l, dt, &bufs[nb++]);
    char *path = ark_path_join(dir, "model.safetensors");
    if (s == ARK_OK) s = ark_st_writer_save(w, path);
    free(path);
    if (s == ARK_OK) {
        path = ark_path_join(dir, "config.json");
        s = ark_write_file_atomic(path, cfg_text, strlen(cfg_text));
        free(path);
    }
    if (s == ARK_OK) s = copy_small_files(ark_model_dir(m), dir);
    ark_st_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    free(cfg_text);
    return s;
}
