/* config.json -> ark_config, and config.json texts for random models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/family.h"

/* The file's keys over the family's defaults: absent keys take the class
 * defaults, as Hugging Face's from_pretrained does. */
static cJSON *merged_config(const ark_family *fam, const cJSON *file)
{
    cJSON *cfg = cJSON_Parse(fam->defaults_json);
    const cJSON *it;
    cJSON_ArrayForEach(it, file) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, it->string);
        cJSON_AddItemToObject(cfg, it->string, cJSON_Duplicate(it, true));
    }
    return cfg;
}

/* Read an integer key.  required: absent or null is an error; otherwise
 * *out is left alone and *was_null says whether the key was null. */
static ark_status get_int(const cJSON *cfg, const char *key, const char *where, bool required,
                          int *out, bool *was_null)
{
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (was_null) *was_null = (v == NULL || cJSON_IsNull(v));
    if (!v || cJSON_IsNull(v)) {
        if (required) return ark_fail(ARK_ERR_MISSING, "%s: missing field \"%s\" (an integer)", where, key);
        return ARK_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 1e9)
        return ark_fail(ARK_ERR_FORMAT, "%s: field \"%s\": expected a non-negative integer", where, key);
    *out = (int)v->valuedouble;
    return ARK_OK;
}

static ark_status get_num(const cJSON *cfg, const char *key, const char *where, double *out)
{
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (!v || cJSON_IsNull(v)) return ARK_OK;
    if (!cJSON_IsNumber(v)) return ark_fail(ARK_ERR_FORMAT, "%s: field \"%s\": expected a number", where, key);
    *out = v->valuedouble;
    return ARK_OK;
}

/* A token id field: an integer, null, or a list (the first entry). */
static int get_token_id(const cJSON *cfg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

static ark_status parse_act(const char *name, const char *key, const char *where, ark_act_kind *out)
{
    static const struct { const char *name; ark_act_kind kind; } acts[] = {
        {"gelu_new", ARK_ACT_GELU_TANH}, {"gelu_pytorch_tanh", ARK_ACT_GELU_TANH},
        {"gelu", ARK_ACT_GELU_ERF}, {"silu", ARK_ACT_SILU}, {"swish", ARK_ACT_SILU},
        {"relu", ARK_ACT_RELU}, {"gelu_fast", ARK_ACT_GELU_FAST}, {"quick_gelu", ARK_ACT_QUICK_GELU},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (!strcmp(acts[i].name, name)) { *out = acts[i].kind; return ARK_OK; }
    return ark_fail(ARK_ERR_UNSUPPORTED,
                    "%s: field \"%s\" = \"%s\": unsupported activation (supported: gelu_new, "
                    "gelu_pytorch_tanh, gelu, gelu_fast, quick_gelu, silu, swish, relu)", where, key, name);
}

/* rope_scaling: null, {"type"|"rope_type": "linear", "factor"} or the llama3
 * form; other types are refused by name. */
static ark_status parse_rope_scaling(const cJSON *cfg, const char *where, ark_config *c)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    c->rope_scaling = ARK_ROPE_DEFAULT;
    if (!rs || cJSON_IsNull(rs)) return ARK_OK;
    if (!cJSON_IsObject(rs)) return ark_fail(ARK_ERR_FORMAT, "%s: rope_scaling: expected an object or null", where);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(t)) return ark_fail(ARK_ERR_FORMAT, "%s: rope_scaling: missing \"rope_type\"", where);
    const char *type = t->valuestring;
    if (!strcmp(type, "default")) return ARK_OK;
    bool linear = !strcmp(type, "linear"), llama3 = !strcmp(type, "llama3");
    if (!linear && !llama3)
        return ark_fail(ARK_ERR_UNSUPPORTED,
                        "%s: rope_scaling type \"%s\" is not supported (supported: linear, llama3; "
                        "refused: dynamic, yarn, longrope, su, ...)", where, type);
    c->rope_factor = 1.0;
    ARK_TRY(get_num(rs, "factor", where, &c->rope_factor));
    if (!(c->rope_factor > 0)) return ark_fail(ARK_ERR_FORMAT, "%s: rope_scaling.factor must be > 0", where);
    c->rope_scaling = linear ? ARK_ROPE_LINEAR : ARK_ROPE_LLAMA3;
    if (llama3) {
        c->rope_low_freq_factor = 1.0;
        c->rope_high_freq_factor = 4.0;
        c->rope_original_ctx = 8192;
        ARK_TRY(get_num(rs, "low_freq_factor", where, &c->rope_low_freq_factor));
        ARK_TRY(get_num(rs, "high_freq_factor", where, &c->rope_high_freq_factor));
        ARK_TRY(get_int(rs, "original_max_position_embeddings", where, false, &c->rope_original_ctx, NULL));
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
            return ark_fail(ARK_ERR_FORMAT, "%s: rope_scaling: high_freq_factor must exceed low_freq_factor", where);
    }
    return ARK_OK;
}

static ark_status parse_sizes(const ark_family *fam, const cJSON *cfg, const char *where, ark_config *c)
{
    bool null;
    ARK_TRY(get_int(cfg, fam->k_d_model, where, true, &c->d_model, NULL));
    ARK_TRY(get_int(cfg, fam->k_layers, where, true, &c->n_layers, NULL));
    ARK_TRY(get_int(cfg, fam->k_heads, where, true, &c->n_heads, NULL));
    ARK_TRY(get_int(cfg, fam->k_vocab, where, true, &c->d_vocab, NULL));
    ARK_TRY(get_int(cfg, fam->k_ctx, where, true, &c->n_ctx, NULL));
    if (c->d_model <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->d_vocab <= 0 || c->n_ctx <= 0)
        return ark_fail(ARK_ERR_FORMAT, "%s: %s, %s, %s, %s and %s must be positive", where, fam->k_d_model,
                        fam->k_layers, fam->k_heads, fam->k_vocab, fam->k_ctx);
    if (c->n_layers > ARK_MAX_LAYERS)
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: %s = %d exceeds the supported %d", where, fam->k_layers,
                        c->n_layers, ARK_MAX_LAYERS);
    c->n_kv_heads = c->n_heads;
    ARK_TRY(get_int(cfg, fam->k_kv_heads, where, false, &c->n_kv_heads, NULL));
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
        return ark_fail(ARK_ERR_FORMAT, "%s: num_key_value_heads = %d must divide num_attention_heads = %d",
                        where, c->n_kv_heads, c->n_heads);
    c->d_head = 0;
    ARK_TRY(get_int(cfg, fam->k_d_head, where, false, &c->d_head, NULL));
    if (c->d_head == 0) {
        if (c->d_model % c->n_heads)
            return ark_fail(ARK_ERR_FORMAT, "%s: hidden size %d is not divisible by %d heads", where,
                            c->d_model, c->n_heads);
        c->d_head = c->d_model / c->n_heads;
    }
    ARK_TRY(get_int(cfg, fam->k_d_mlp, where, fam->d_mlp_null_mult == 0, &c->d_mlp, &null));
    if (null) c->d_mlp = fam->d_mlp_null_mult * c->d_model;
    if (c->d_mlp <= 0) return ark_fail(ARK_ERR_FORMAT, "%s: %s must be positive", where, fam->k_d_mlp);
    return ARK_OK;
}

static ark_status parse_positions(const ark_family *fam, const cJSON *cfg, const char *where, ark_config *c)
{
    c->pos = fam->pos;
    c->rotary_dim = 0;
    if (fam->pos != ARK_POS_ROTARY) return ARK_OK;
    double frac = 1.0;
    c->rope_theta = 10000.0;
    ARK_TRY(get_num(cfg, fam->k_rotary_frac, where, &frac));
    ARK_TRY(get_num(cfg, fam->k_theta, where, &c->rope_theta));
    if (!(frac > 0 && frac <= 1))
        return ark_fail(ARK_ERR_FORMAT, "%s: %s = %g: expected a fraction in (0, 1]", where, fam->k_rotary_frac, frac);
    c->rotary_dim = (int)(c->d_head * frac);
    if (c->rotary_dim % 2 || c->rotary_dim == 0)
        return ark_fail(ARK_ERR_FORMAT, "%s: rotary dims int(head_dim %d * %g) = %d must be even and positive",
                        where, c->d_head, frac, c->rotary_dim);
    if (!(c->rope_theta > 0)) return ark_fail(ARK_ERR_FORMAT, "%s: %s must be positive", where, fam->k_theta);
    return parse_rope_scaling(cfg, where, c);
}

static ark_status parse_merged(const ark_family *fam, const cJSON *cfg, const char *where, ark_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->family, sizeof c->family, "%s", fam->name);
    ARK_TRY(parse_sizes(fam, cfg, where, c));
    ARK_TRY(parse_positions(fam, cfg, where, c));
    c->norm = fam->norm;
    c->norm_eps = 1e-5;
    ARK_TRY(get_num(cfg, fam->k_eps, where, &c->norm_eps));
    c->mlp = fam->mlp;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, fam->k_act);
    if (cJSON_IsString(act)) ARK_TRY(parse_act(act->valuestring, fam->k_act, where, &c->act));
    else if (fam->act_if_null && (!act || cJSON_IsNull(act))) ARK_TRY(parse_act(fam->act_if_null, fam->k_act, where, &c->act));
    else return ark_fail(ARK_ERR_FORMAT, "%s: field \"%s\": expected an activation name", where, fam->k_act);
    const cJSON *par = fam->k_parallel ? cJSON_GetObjectItemCaseSensitive(cfg, fam->k_parallel) : NULL;
    c->parallel_residual = cJSON_IsTrue(par);
    c->tied_embeddings = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings"));
    c->embed_scale = 1.0f;
    c->initializer_range = 0.02;
    ARK_TRY(get_num(cfg, "initializer_range", where, &c->initializer_range));
    c->bos_id = get_token_id(cfg, "bos_token_id");
    c->eos_id = get_token_id(cfg, "eos_token_id");
    c->pad_id = get_token_id(cfg, "pad_token_id");
    for (int l = 0; l < c->n_layers; l++) c->attn_scale[l] = (float)(1.0 / sqrt((double)c->d_head));
    return fam->quirks ? fam->quirks(cfg, where, c) : ARK_OK;
}

ark_status ark_config_parse(const char *json_text, const char *where, ark_config *out)
{
    cJSON *file = cJSON_Parse(json_text);
    if (!file || !cJSON_IsObject(file)) {
        cJSON_Delete(file);
        return ark_fail(ARK_ERR_FORMAT, "%s: not a JSON object", where);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(file, "model_type");
    if (!cJSON_IsString(mt)) {
        cJSON_Delete(file);
        return ark_fail(ARK_ERR_MISSING, "%s: missing \"model_type\" (supported: %s)", where, ark_family_list());
    }
    const ark_family *fam = ark_family_find(mt->valuestring);
    if (!fam) {
        ark_status s = ark_fail(ARK_ERR_UNSUPPORTED, "%s: unknown model_type \"%s\" (supported: %s)", where,
                                mt->valuestring, ark_family_list());
        cJSON_Delete(file);
        return s;
    }
    cJSON *cfg = merged_config(fam, file);
    ark_status s = parse_merged(fam, cfg, where, out);
    cJSON_Delete(cfg);
    cJSON_Delete(file);
    return s;
}

ark_status ark_config_build(const char *family, int n, const char *const *keys, const char *const *values,
                            char **json)
{
    const ark_family *fam = ark_family_find(family);
    if (!fam)
        return ark_fail(ARK_ERR_UNSUPPORTED, "unknown family \"%s\" (supported: %s)", family ? family : "(null)",
                        ark_family_list());
    cJSON *cfg = cJSON_Parse(fam->defaults_json);
    cJSON_AddStringToObject(cfg, "model_type", fam->name);
    for (int i = 0; i < n; i++) {
        if (!keys[i] || !*keys[i] || !strcmp(keys[i], "model_type")) {
            cJSON_Delete(cfg);
            return ark_fail(ARK_ERR_ARG, "config override %d: key \"%s\" cannot be set", i, keys[i] ? keys[i] : "");
        }
        cJSON *v = cJSON_Parse(values[i]);
        if (!v) v = cJSON_CreateString(values[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, keys[i]);
        cJSON_AddItemToObject(cfg, keys[i], v);
    }
    /* Validate by parsing it the way a loader will. */
    ark_config c;
    ark_status s = parse_merged(fam, cfg, "config", &c);
    if (s == ARK_OK) {
        *json = cJSON_Print(cfg);
        if (!*json) s = ark_fail(ARK_ERR_NOMEM, "config: out of memory");
    }
    cJSON_Delete(cfg);
    return s;
}
