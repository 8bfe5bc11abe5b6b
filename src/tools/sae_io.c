/* SAEs in SAELens' folder format: cfg.json + sae_weights.safetensors
 * (ark_sae_save / ark_sae_load, include/arrakis/tool_superposition.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_superposition.h"
#include "core/error.h"
#include "io/fileio.h"

static cJSON *cfg_json(const ark_sae *s)
{
    bool topk = s->arch == ARK_SAE_TOPK;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "architecture", topk ? "topk" : "standard");
    cJSON_AddNumberToObject(c, "d_in", s->d_in);
    cJSON_AddNumberToObject(c, "d_sae", s->d_sae);
    cJSON_AddStringToObject(c, "activation_fn_str", topk ? "topk" : "relu");
    cJSON *kw = cJSON_AddObjectToObject(c, "activation_fn_kwargs");
    if (topk) {
        cJSON_AddNumberToObject(kw, "k", s->k);
        cJSON_AddNumberToObject(c, "k", s->k);
    } else {
        cJSON_AddNullToObject(c, "k");
    }
    cJSON_AddBoolToObject(c, "apply_b_dec_to_input", s->apply_b_dec_to_input);
    cJSON_AddFalseToObject(c, "finetuning_scaling_factor");
    cJSON_AddStringToObject(c, "normalize_activations", "none");
    cJSON_AddStringToObject(c, "model_name", s->model_name);
    cJSON_AddStringToObject(c, "hook_name", s->hook_name);
    int layer = s->hook_layer;
    if (layer < 0 && sscanf(s->hook_name, "blocks.%d.", &layer) != 1) layer = -1;
    cJSON_AddNumberToObject(c, "hook_layer", layer);
    cJSON_AddNullToObject(c, "hook_head_index");
    cJSON_AddTrueToObject(c, "prepend_bos");
    cJSON_AddNumberToObject(c, "context_size", 128);
    cJSON_AddStringToObject(c, "dataset_path", "");
    cJSON_AddStringToObject(c, "dtype", "float32");
    cJSON_AddStringToObject(c, "device", "cpu");
    cJSON_AddStringToObject(c, "trained_with", "arrakis");
    return c;
}

ark_status ark_sae_save(const ark_sae *s, const char *dir)
{
    ARK_TRY(ark_mkdirs(dir));
    cJSON *c = cfg_json(s);
    char *text = cJSON_Print(c), *path = ark_path_join(dir, "cfg.json");
    cJSON_Delete(c);
    ark_status st = ark_write_file_atomic(path, text, strlen(text));
    free(text);
    free(path);
    ARK_TRY(st);
    ark_st_writer *w = ark_st_writer_new();
    int64_t enc[2] = {s->d_in, s->d_sae}, dec[2] = {s->d_sae, s->d_in}, be[1] = {s->d_sae}, bd[1] = {s->d_in};
    st = ark_st_writer_add_f32(w, "W_enc", ARK_F32, s->W_enc, 2, enc);
    if (st == ARK_OK) st = ark_st_writer_add_f32(w, "b_enc", ARK_F32, s->b_enc, 1, be);
    if (st == ARK_OK) st = ark_st_writer_add_f32(w, "W_dec", ARK_F32, s->W_dec, 2, dec);
    if (st == ARK_OK) st = ark_st_writer_add_f32(w, "b_dec", ARK_F32, s->b_dec, 1, bd);
    path = ark_path_join(dir, "sae_weights.safetensors");
    if (st == ARK_OK) st = ark_st_writer_save(w, path);
    free(path);
    ark_st_writer_free(w);
    return st;
}

/* ---- loading ---- */

static ark_status cfg_int(const cJSON *c, const char *path, const char *key, bool required, int dflt, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) {
        if (required) return ark_fail(ARK_ERR_MISSING, "%s: missing \"%s\"", path, key);
        return ARK_OK;
    }
    if (!cJSON_IsNumber(v)) return ark_fail(ARK_ERR_FORMAT, "%s: \"%s\": expected an integer", path, key);
    *out = (int)v->valuedouble;
    return ARK_OK;
}

static const char *cfg_str(const cJSON *c, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static ark_status parse_cfg(const cJSON *c, const char *path, ark_sae *s)
{
    int d_in, d_sae, k = 0;
    ARK_TRY(cfg_int(c, path, "d_in", true, 0, &d_in));
    ARK_TRY(cfg_int(c, path, "d_sae", true, 0, &d_sae));
    const char *arch = cfg_str(c, "architecture"), *act = cfg_str(c, "activation_fn_str");
    bool topk;
    if (arch) {
        if (strcmp(arch, "standard") && strcmp(arch, "topk"))
            return ark_fail(ARK_ERR_UNSUPPORTED, "%s: \"architecture\": \"%s\" (this version reads \"standard\" and \"topk\")", path, arch);
        topk = !strcmp(arch, "topk");
    } else {
        topk = act && !strcmp(act, "topk");
    }
    if (!topk && act && strcmp(act, "relu"))
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: \"activation_fn_str\": \"%s\" (a standard SAE reads \"relu\")", path, act);
    if (topk) {
        const cJSON *kw = cJSON_GetObjectItemCaseSensitive(c, "activation_fn_kwargs");
        ARK_TRY(cfg_int(c, path, "k", false, 0, &k));
        if (k == 0 && cJSON_IsObject(kw)) ARK_TRY(cfg_int(kw, path, "k", false, 0, &k));
        if (k == 0) return ark_fail(ARK_ERR_MISSING, "%s: a topk SAE needs \"k\" (or activation_fn_kwargs.k)", path);
    }
    const char *norm = cfg_str(c, "normalize_activations");
    if (norm && strcmp(norm, "none"))
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: \"normalize_activations\": \"%s\" (only \"none\" is read; fold the scale "
                        "into the weights first)", path, norm);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "finetuning_scaling_factor")))
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: \"finetuning_scaling_factor\": true is not supported", path);
    ARK_TRY(ark_sae_init(s, topk ? ARK_SAE_TOPK : ARK_SAE_STANDARD, d_in, d_sae, k, 0));
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(c, "apply_b_dec_to_input");
    s->apply_b_dec_to_input = !cJSON_IsFalse(ab);
    const char *hook = cfg_str(c, "hook_name"), *model = cfg_str(c, "model_name");
    snprintf(s->hook_name, sizeof s->hook_name, "%s", hook ? hook : "");
    snprintf(s->model_name, sizeof s->model_name, "%s", model ? model : "");
    int layer = -1;
    if (sscanf(s->hook_name, "blocks.%d.", &layer) != 1) layer = -1;
    return cfg_int(c, path, "hook_layer", false, layer, &s->hook_layer);
}

static ark_status load_tensor(const ark_st_file *f, const char *path, const char *name, int64_t r, int64_t c, float *dst)
{
    const ark_st_tensor *t = ark_st_find(f, name);
    if (!t) return ark_fail(ARK_ERR_MISSING, "%s: missing tensor %s", path, name);
    bool ok = c ? (t->ndim == 2 && t->shape[0] == r && t->shape[1] == c) : (t->ndim == 1 && t->shape[0] == r);
    if (!ok) {
        if (c) return ark_fail(ARK_ERR_SHAPE, "%s: %s: expected [%lld, %lld] (from cfg.json)", path, name, (long long)r, (long long)c);
        return ark_fail(ARK_ERR_SHAPE, "%s: %s: expected [%lld] (from cfg.json)", path, name, (long long)r);
    }
    float *data;
    bool owned;
    ARK_TRY(ark_st_to_f32(f, t, &data, &owned));
    memcpy(dst, data, sizeof(float) * (size_t)t->numel);
    if (owned) free(data);
    return ARK_OK;
}

ark_status ark_sae_load(const char *dir, ark_sae *out)
{
    memset(out, 0, sizeof *out);
    char *cpath = ark_path_join(dir, "cfg.json"), *wpath = ark_path_join(dir, "sae_weights.safetensors"), *text = NULL;
    ark_status s = ark_read_text(cpath, &text, NULL);
    cJSON *c = s == ARK_OK ? cJSON_Parse(text) : NULL;
    if (s == ARK_OK && !cJSON_IsObject(c)) s = ark_fail(ARK_ERR_FORMAT, "%s: not a JSON object", cpath);
    if (s == ARK_OK) s = parse_cfg(c, cpath, out);
    ark_st_file *f = NULL;
    if (s == ARK_OK) s = ark_st_open(wpath, &f);
    if (s == ARK_OK) s = load_tensor(f, wpath, "W_enc", out->d_in, out->d_sae, out->W_enc);
    if (s == ARK_OK) s = load_tensor(f, wpath, "b_enc", out->d_sae, 0, out->b_enc);
    if (s == ARK_OK) s = load_tensor(f, wpath, "W_dec", out->d_sae, out->d_in, out->W_dec);
    if (s == ARK_OK) s = load_tensor(f, wpath, "b_dec", out->d_in, 0, out->b_dec);
    ark_st_close(f);
    cJSON_Delete(c);
    free(text);
    free(cpath);
    free(wpath);
    if (s != ARK_OK) ark_sae_free(out);
    return s;
}
