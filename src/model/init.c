/* Random models: a config.json text -> a model folder Hugging Face loads. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "io/fileio.h"
#include "model/model_internal.h"

/* Fill one tensor as the family's initialiser would: matrices and
 * embeddings ~ N(0, std), biases 0, norm weights at identity. */
static void fill(const ark_config *c, const ark_slot_spec *sp, ark_rng *rng, float *data, int64_t n)
{
    switch (sp->role) {
    case SLOT_MATRIX: case SLOT_EMBED:
        for (int64_t i = 0; i < n; i++) data[i] = (float)(c->initializer_range * ark_rng_normal(rng));
        break;
    case SLOT_NORM_W:
        for (int64_t i = 0; i < n; i++) data[i] = c->norm == ARK_NORM_RMSNORM_1P ? 0.0f : 1.0f;
        break;
    case SLOT_BIAS: case SLOT_NORM_B:
        memset(data, 0, sizeof(float) * n);
        break;
    }
}

static ark_status add_slot(ark_st_writer *w, const ark_family *fam, const ark_config *c, ark_wslot s, int layer,
                           ark_rng *rng, ark_dtype dtype, float **bufs, int *nbufs)
{
    ark_slot_spec sp;
    ark_status err;
    if (!ark_slot_describe(fam, c, s, layer, fam->prefixes[0], &sp, &err)) return err;
    int64_t n = sp.shape[0] * (sp.ndim == 2 ? sp.shape[1] : 1);
    float *data = malloc(sizeof(float) * (size_t)n);
    if (!data) return ark_fail(ARK_ERR_NOMEM, "out of memory for %s", sp.name);
    bufs[(*nbufs)++] = data;
    fill(c, &sp, rng, data, n);
    return ark_st_writer_add_f32(w, sp.name, dtype, data, sp.ndim, sp.shape);
}

ark_status ark_model_init_folder(const char *config_json, uint64_t seed, ark_dtype dtype, const char *dir)
{
    if (dtype != ARK_F32 && dtype != ARK_F16 && dtype != ARK_BF16)
        return ark_fail(ARK_ERR_ARG, "dtype %s: expected F32, F16 or BF16", ark_dtype_name(dtype));
    ark_config c;
    ARK_TRY(ark_config_parse(config_json, "config", &c));
    const ark_family *fam = ark_family_find(c.family);
    ARK_TRY(ark_mkdirs(dir));

    /* config.json, with torch_dtype saying what the weights are stored as */
    cJSON *js = cJSON_Parse(config_json);
    const char *torch_dtype = dtype == ARK_F32 ? "float32" : dtype == ARK_F16 ? "float16" : "bfloat16";
    cJSON_DeleteItemFromObjectCaseSensitive(js, "torch_dtype");
    cJSON_AddStringToObject(js, "torch_dtype", torch_dtype);
    char *text = cJSON_Print(js);
    cJSON_Delete(js);
    char *cfg_path = ark_path_join(dir, "config.json");
    ark_status s = ark_write_file_atomic(cfg_path, text, strlen(text));
    free(cfg_path);
    free(text);
    if (s != ARK_OK) return s;

    ark_st_writer *w = ark_st_writer_new();
    ark_st_writer_set_metadata(w, "format", "pt");
    int cap = W_N_SLOTS * (c.n_layers + 1), nbufs = 0;
    float **bufs = malloc(sizeof *bufs * cap);
    ark_rng rng;
    ark_rng_seed(&rng, seed);
    for (int sl = 0; s == ARK_OK && sl < W_N_SLOTS; sl++) {
        if (ark_slot_is_layer((ark_wslot)sl)) continue;
        s = add_slot(w, fam, &c, (ark_wslot)sl, 0, &rng, dtype, bufs, &nbufs);
    }
    for (int l = 0; s == ARK_OK && l < c.n_layers; l++)
        for (int sl = W_LN1_W; s == ARK_OK && sl < W_N_SLOTS; sl++)
            s = add_slot(w, fam, &c, (ark_wslot)sl, l, &rng, dtype, bufs, &nbufs);
    if (s == ARK_OK) {
        char *path = ark_path_join(dir, "model.safetensors");
        s = ark_st_writer_save(w, path);
        free(path);
    }
    ark_st_writer_free(w);
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    free(bufs);
    return s;
}
