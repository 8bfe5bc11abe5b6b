/* The nine Hugging Face families as data (see family.h). Defaults are those
 * of the transformers 4.44 config classes. */
#include "model/family.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

/* Entries start from a shared key set and override single keys. */
#pragma GCC diagnostic ignored "-Woverride-init"

/* ---- small config readers shared by the quirks ---- */

static bool cfg_bool(const cJSON *cfg, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static int cfg_int_or(const cJSON *cfg, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : dflt;
}

static void set_attn_bias(ark_config *c, bool qkv, bool o)
{
    c->q_bias = c->k_bias = c->v_bias = qkv;
    c->o_bias = o;
}

static void all_windows(ark_config *c, int w)
{
    for (int l = 0; l < c->n_layers; l++) c->window[l] = w;
}

/* ---- quirks: settings that are more than a key lookup ---- */

static ark_status gpt2_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    (void)where;
    set_attn_bias(c, true, true);
    c->mlp_bias = true;
    bool scale = cfg_bool(cfg, "scale_attn_weights", true);
    bool inv_layer = cfg_bool(cfg, "scale_attn_by_inverse_layer_idx", false);
    for (int l = 0; l < c->n_layers; l++) {
        double s = scale ? 1.0 / sqrt((double)c->d_head) : 1.0;
        if (inv_layer) s /= (double)(l + 1);
        c->attn_scale[l] = (float)s;
    }
    return ARK_OK;
}

/* gpt_neo: "attention_layers" lists global/local per layer; when absent it
 * is expanded from "attention_types" ([[["global","local"], 12]]). */
static ark_status gpt_neo_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    set_attn_bias(c, false, true);
    c->mlp_bias = true;
    for (int l = 0; l < c->n_layers; l++) c->attn_scale[l] = 1.0f; /* GPT-Neo does not scale scores */
    int window = cfg_int_or(cfg, "window_size", 256);
    const char *kinds[ARK_MAX_LAYERS];
    int n = 0;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(cfg, "attention_layers");
    if (cJSON_IsArray(layers) && cJSON_GetArraySize(layers) > 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, layers) {
            if (!cJSON_IsString(it) || n >= ARK_MAX_LAYERS)
                return ark_fail(ARK_ERR_FORMAT, "%s: attention_layers: expected a list of \"global\"/\"local\"", where);
            kinds[n++] = it->valuestring;
        }
    } else {
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(cfg, "attention_types"), *t;
        cJSON_ArrayForEach(t, types) {
            const cJSON *pat = cJSON_GetArrayItem(t, 0), *rep = cJSON_GetArrayItem(t, 1);
            if (!cJSON_IsArray(pat) || !cJSON_IsNumber(rep))
                return ark_fail(ARK_ERR_FORMAT, "%s: attention_types: expected [[[\"global\",\"local\"], N], ...]", where);
            for (int r = 0; r < (int)rep->valuedouble; r++) {
                const cJSON *k;
                cJSON_ArrayForEach(k, pat) {
                    if (!cJSON_IsString(k) || n >= ARK_MAX_LAYERS)
                        return ark_fail(ARK_ERR_FORMAT, "%s: attention_types: bad entry", where);
                    kinds[n++] = k->valuestring;
                }
            }
        }
    }
    if (n != c->n_layers)
        return ark_fail(ARK_ERR_FORMAT, "%s: attention_layers: %d entries for num_layers = %d", where, n, c->n_layers);
    for (int l = 0; l < n; l++) {
        if (!strcmp(kinds[l], "global")) c->window[l] = 0;
        else if (!strcmp(kinds[l], "local")) c->window[l] = window;
        else return ark_fail(ARK_ERR_FORMAT, "%s: attention_layers[%d] = \"%s\": expected \"global\" or \"local\"", where, l, kinds[l]);
    }
    return ARK_OK;
}

static ark_status gpt_neox_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    (void)where;
    bool b = cfg_bool(cfg, "attention_bias", true);
    set_attn_bias(c, b, b);
    c->mlp_bias = true;
    return ARK_OK;
}

static ark_status llama_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    (void)where;
    bool b = cfg_bool(cfg, "attention_bias", false);
    set_attn_bias(c, b, b);
    c->mlp_bias = cfg_bool(cfg, "mlp_bias", false);
    return ARK_OK;
}

/* Gemma scales embeddings by sqrt(hidden_size), rounded to the activation
 * dtype (float32), and reads its MLP activation from hidden_activation. */
static ark_status gemma_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    (void)where;
    bool b = cfg_bool(cfg, "attention_bias", false);
    set_attn_bias(c, b, b);
    c->embed_scale = (float)sqrt((double)c->d_model);
    return ARK_OK;
}

static int window_or_zero(const cJSON *cfg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "sliding_window");
    return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

static ark_status mistral_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    (void)where;
    set_attn_bias(c, false, false);
    all_windows(c, window_or_zero(cfg));
    return ARK_OK;
}

/* phi3: no biases; a non-null sliding_window applies to every layer. */
static ark_status phi3_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    return mistral_quirks(cfg, where, c);
}

/* qwen2: q/k/v biased, o not; sliding windows only with use_sliding_window,
 * on layers >= max_window_layers. */
static ark_status qwen2_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    (void)where;
    set_attn_bias(c, true, false);
    if (cfg_bool(cfg, "use_sliding_window", false)) {
        int w = window_or_zero(cfg), from = cfg_int_or(cfg, "max_window_layers", 28);
        for (int l = 0; l < c->n_layers; l++) c->window[l] = l >= from ? w : 0;
    }
    return ARK_OK;
}

static ark_status stablelm_quirks(const cJSON *cfg, const char *where, ark_config *c)
{
    if (cfg_bool(cfg, "qk_layernorm", false))
        return ark_fail(ARK_ERR_UNSUPPORTED, "%s: qk_layernorm = true (per-head LayerNorm on q and k) is not supported", where);
    set_attn_bias(c, cfg_bool(cfg, "use_qkv_bias", false), false);
    c->shared_parallel_norm = c->parallel_residual;
    return ARK_OK;
}

/* ---- the table ---- */

#define LLAMA_LIKE_NAMES                                                                   \
    [W_EMBED] = "model.embed_tokens.weight", [W_LNF_W] = "model.norm.weight",               \
    [W_UNEMBED] = "lm_head.weight",                                                        \
    [W_LN1_W] = "model.layers.{L}.input_layernorm.weight",                                  \
    [W_LN2_W] = "model.layers.{L}.post_attention_layernorm.weight",                         \
    [W_Q] = "model.layers.{L}.self_attn.q_proj.weight", [W_Q_B] = "model.layers.{L}.self_attn.q_proj.bias", \
    [W_K] = "model.layers.{L}.self_attn.k_proj.weight", [W_K_B] = "model.layers.{L}.self_attn.k_proj.bias", \
    [W_V] = "model.layers.{L}.self_attn.v_proj.weight", [W_V_B] = "model.layers.{L}.self_attn.v_proj.bias", \
    [W_O] = "model.layers.{L}.self_attn.o_proj.weight", [W_O_B] = "model.layers.{L}.self_attn.o_proj.bias", \
    [W_GATE] = "model.layers.{L}.mlp.gate_proj.weight", [W_GATE_B] = "model.layers.{L}.mlp.gate_proj.bias", \
    [W_UP] = "model.layers.{L}.mlp.up_proj.weight", [W_UP_B] = "model.layers.{L}.mlp.up_proj.bias",       \
    [W_DOWN] = "model.layers.{L}.mlp.down_proj.weight", [W_DOWN_B] = "model.layers.{L}.mlp.down_proj.bias"

#define LLAMA_KEYS                                                                          \
    .k_d_model = "hidden_size", .k_layers = "num_hidden_layers", .k_heads = "num_attention_heads", \
    .k_kv_heads = "num_key_value_heads", .k_d_head = "head_dim", .k_d_mlp = "intermediate_size",   \
    .k_vocab = "vocab_size", .k_ctx = "max_position_embeddings", .k_eps = "rms_norm_eps",          \
    .k_act = "hidden_act", .k_theta = "rope_theta"

static const ark_family families[] = {
    {
        .name = "gpt2",
        .defaults_json = "{\"vocab_size\":50257,\"n_positions\":1024,\"n_embd\":768,\"n_layer\":12,"
                         "\"n_head\":12,\"n_inner\":null,\"activation_function\":\"gelu_new\","
                         "\"layer_norm_epsilon\":1e-05,\"initializer_range\":0.02,\"scale_attn_weights\":true,"
                         "\"scale_attn_by_inverse_layer_idx\":false,\"reorder_and_upcast_attn\":false,"
                         "\"tie_word_embeddings\":true,\"bos_token_id\":50256,\"eos_token_id\":50256}",
        .k_d_model = "n_embd", .k_layers = "n_layer", .k_heads = "n_head", .k_d_mlp = "n_inner",
        .k_vocab = "vocab_size", .k_ctx = "n_positions", .k_eps = "layer_norm_epsilon",
        .k_act = "activation_function", .d_mlp_null_mult = 4,
        .norm = ARK_NORM_LAYERNORM, .pos = ARK_POS_LEARNED, .mlp = ARK_MLP_PLAIN,
        .qkv_layout = QKV_BLOCKS, .linear_in_out = true,
        .prefixes = {"transformer.", ""},
        .names = {
            [W_EMBED] = "{P}wte.weight", [W_POS_EMBED] = "{P}wpe.weight",
            [W_LNF_W] = "{P}ln_f.weight", [W_LNF_B] = "{P}ln_f.bias", [W_UNEMBED] = "lm_head.weight",
            [W_LN1_W] = "{P}h.{L}.ln_1.weight", [W_LN1_B] = "{P}h.{L}.ln_1.bias",
            [W_LN2_W] = "{P}h.{L}.ln_2.weight", [W_LN2_B] = "{P}h.{L}.ln_2.bias",
            [W_QKV] = "{P}h.{L}.attn.c_attn.weight", [W_QKV_B] = "{P}h.{L}.attn.c_attn.bias",
            [W_O] = "{P}h.{L}.attn.c_proj.weight", [W_O_B] = "{P}h.{L}.attn.c_proj.bias",
            [W_UP] = "{P}h.{L}.mlp.c_fc.weight", [W_UP_B] = "{P}h.{L}.mlp.c_fc.bias",
            [W_DOWN] = "{P}h.{L}.mlp.c_proj.weight", [W_DOWN_B] = "{P}h.{L}.mlp.c_proj.bias",
        },
        .quirks = gpt2_quirks,
    },
    {
        .name = "gpt_neo",
        .defaults_json = "{\"vocab_size\":50257,\"max_position_embeddings\":2048,\"hidden_size\":2048,"
                         "\"num_layers\":24,\"attention_types\":[[[\"global\",\"local\"],12]],\"num_heads\":16,"
                         "\"intermediate_size\":null,\"window_size\":256,\"activation_function\":\"gelu_new\","
                         "\"layer_norm_epsilon\":1e-05,\"initializer_range\":0.02,\"tie_word_embeddings\":true,"
                         "\"bos_token_id\":50256,\"eos_token_id\":50256}",
        .k_d_model = "hidden_size", .k_layers = "num_layers", .k_heads = "num_heads",
        .k_d_mlp = "intermediate_size", .k_vocab = "vocab_size", .k_ctx = "max_position_embeddings",
        .k_eps = "layer_norm_epsilon", .k_act = "activation_function", .d_mlp_null_mult = 4,
        .norm = ARK_NORM_LAYERNORM, .pos = ARK_POS_LEARNED, .mlp = ARK_MLP_PLAIN,
        .qkv_layout = QKV_SEPARATE,
        .prefixes = {"transformer."},
        .names = {
            [W_EMBED] = "{P}wte.weight", [W_POS_EMBED] = "{P}wpe.weight",
            [W_LNF_W] = "{P}ln_f.weight", [W_LNF_B] = "{P}ln_f.bias", [W_UNEMBED] = "lm_head.weight",
            [W_LN1_W] = "{P}h.{L}.ln_1.weight", [W_LN1_B] = "{P}h.{L}.ln_1.bias",
            [W_LN2_W] = "{P}h.{L}.ln_2.weight", [W_LN2_B] = "{P}h.{L}.ln_2.bias",
            [W_Q] = "{P}h.{L}.attn.attention.q_proj.weight", [W_K] = "{P}h.{L}.attn.attention.k_proj.weight",
            [W_V] = "{P}h.{L}.attn.attention.v_proj.weight",
            [W_O] = "{P}h.{L}.attn.attention.out_proj.weight", [W_O_B] = "{P}h.{L}.attn.attention.out_proj.bias",
            [W_UP] = "{P}h.{L}.mlp.c_fc.weight", [W_UP_B] = "{P}h.{L}.mlp.c_fc.bias",
            [W_DOWN] = "{P}h.{L}.mlp.c_proj.weight", [W_DOWN_B] = "{P}h.{L}.mlp.c_proj.bias",
        },
        .quirks = gpt_neo_quirks,
    },
    {
        .name = "gpt_neox",
        .defaults_json = "{\"vocab_size\":50432,\"hidden_size\":6144,\"num_hidden_layers\":44,"
                         "\"num_attention_heads\":64,\"intermediate_size\":24576,\"hidden_act\":\"gelu\","
                         "\"rotary_pct\":0.25,\"rotary_emb_base\":10000,\"max_position_embeddings\":2048,"
                         "\"initializer_range\":0.02,\"layer_norm_eps\":1e-05,\"use_parallel_residual\":true,"
                         "\"rope_scaling\":null,\"attention_bias\":true,\"tie_word_embeddings\":false,"
                         "\"bos_token_id\":0,\"eos_token_id\":2}",
        .k_d_model = "hidden_size", .k_layers = "num_hidden_layers", .k_heads = "num_attention_heads",
        .k_d_mlp = "intermediate_size", .k_vocab = "vocab_size", .k_ctx = "max_position_embeddings",
        .k_eps = "layer_norm_eps", .k_act = "hidden_act", .k_rotary_frac = "rotary_pct",
        .k_theta = "rotary_emb_base", .k_parallel = "use_parallel_residual",
        .norm = ARK_NORM_LAYERNORM, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_PLAIN,
        .qkv_layout = QKV_PER_HEAD,
        .prefixes = {"gpt_neox."},
        .names = {
            [W_EMBED] = "{P}embed_in.weight", [W_LNF_W] = "{P}final_layer_norm.weight",
            [W_LNF_B] = "{P}final_layer_norm.bias", [W_UNEMBED] = "embed_out.weight",
            [W_LN1_W] = "{P}layers.{L}.input_layernorm.weight", [W_LN1_B] = "{P}layers.{L}.input_layernorm.bias",
            [W_LN2_W] = "{P}layers.{L}.post_attention_layernorm.weight",
            [W_LN2_B] = "{P}layers.{L}.post_attention_layernorm.bias",
            [W_QKV] = "{P}layers.{L}.attention.query_key_value.weight",
            [W_QKV_B] = "{P}layers.{L}.attention.query_key_value.bias",
            [W_O] = "{P}layers.{L}.attention.dense.weight", [W_O_B] = "{P}layers.{L}.attention.dense.bias",
            [W_UP] = "{P}layers.{L}.mlp.dense_h_to_4h.weight", [W_UP_B] = "{P}layers.{L}.mlp.dense_h_to_4h.bias",
            [W_DOWN] = "{P}layers.{L}.mlp.dense_4h_to_h.weight", [W_DOWN_B] = "{P}layers.{L}.mlp.dense_4h_to_h.bias",
        },
        .quirks = gpt_neox_quirks,
    },
    {
        .name = "llama",
        .defaults_json = "{\"vocab_size\":32000,\"hidden_size\":4096,\"intermediate_size\":11008,"
                         "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":null,"
                         "\"hidden_act\":\"silu\",\"max_position_embeddings\":2048,\"initializer_range\":0.02,"
                         "\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":false,\"rope_theta\":10000.0,"
                         "\"rope_scaling\":null,\"attention_bias\":false,\"mlp_bias\":false,\"head_dim\":null,"
                         "\"bos_token_id\":1,\"eos_token_id\":2}",
        LLAMA_KEYS,
        .norm = ARK_NORM_RMSNORM, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_GATED, .qkv_layout = QKV_SEPARATE,
        .prefixes = {""}, .names = {LLAMA_LIKE_NAMES}, .quirks = llama_quirks,
    },
    {
        .name = "gemma",
        .defaults_json = "{\"vocab_size\":256000,\"hidden_size\":3072,\"intermediate_size\":24576,"
                         "\"num_hidden_layers\":28,\"num_attention_heads\":16,\"num_key_value_heads\":16,"
                         "\"head_dim\":256,\"hidden_act\":\"gelu_pytorch_tanh\",\"hidden_activation\":null,"
                         "\"max_position_embeddings\":8192,\"initializer_range\":0.02,\"rms_norm_eps\":1e-06,"
                         "\"tie_word_embeddings\":true,\"rope_theta\":10000.0,\"attention_bias\":false,"
                         "\"pad_token_id\":0,\"bos_token_id\":2,\"eos_token_id\":1}",
        LLAMA_KEYS, .k_act = "hidden_activation", .act_if_null = "gelu_pytorch_tanh",
        .norm = ARK_NORM_RMSNORM_1P, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_GATED, .qkv_layout = QKV_SEPARATE,
        .prefixes = {""}, .names = {LLAMA_LIKE_NAMES}, .quirks = gemma_quirks,
    },
    {
        .name = "phi3",
        .defaults_json = "{\"vocab_size\":32064,\"hidden_size\":3072,\"intermediate_size\":8192,"
                         "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":null,"
                         "\"hidden_act\":\"silu\",\"max_position_embeddings\":4096,"
                         "\"original_max_position_embeddings\":4096,\"initializer_range\":0.02,"
                         "\"rms_norm_eps\":1e-05,\"tie_word_embeddings\":false,\"rope_theta\":10000.0,"
                         "\"rope_scaling\":null,\"partial_rotary_factor\":1.0,\"sliding_window\":null,"
                         "\"bos_token_id\":1,\"eos_token_id\":32000,\"pad_token_id\":32000}",
        LLAMA_KEYS, .k_rotary_frac = "partial_rotary_factor",
        .norm = ARK_NORM_RMSNORM, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_GATED,
        .qkv_layout = QKV_BLOCKS, .gate_up_fused = true,
        .prefixes = {""},
        .names = {
            [W_EMBED] = "model.embed_tokens.weight", [W_LNF_W] = "model.norm.weight", [W_UNEMBED] = "lm_head.weight",
            [W_LN1_W] = "model.layers.{L}.input_layernorm.weight",
            [W_LN2_W] = "model.layers.{L}.post_attention_layernorm.weight",
            [W_QKV] = "model.layers.{L}.self_attn.qkv_proj.weight", [W_O] = "model.layers.{L}.self_attn.o_proj.weight",
            [W_GATE_UP] = "model.layers.{L}.mlp.gate_up_proj.weight", [W_DOWN] = "model.layers.{L}.mlp.down_proj.weight",
        },
        .quirks = phi3_quirks,
    },
    {
        .name = "qwen2",
        .defaults_json = "{\"vocab_size\":151936,\"hidden_size\":4096,\"intermediate_size\":22016,"
                         "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":32,"
                         "\"hidden_act\":\"silu\",\"max_position_embeddings\":32768,\"initializer_range\":0.02,"
                         "\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":false,\"rope_theta\":10000.0,"
                         "\"rope_scaling\":null,\"use_sliding_window\":false,\"sliding_window\":4096,"
                         "\"max_window_layers\":28}",
        LLAMA_KEYS,
        .norm = ARK_NORM_RMSNORM, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_GATED, .qkv_layout = QKV_SEPARATE,
        .prefixes = {""}, .names = {LLAMA_LIKE_NAMES}, .quirks = qwen2_quirks,
    },
    {
        .name = "mistral",
        .defaults_json = "{\"vocab_size\":32000,\"hidden_size\":4096,\"intermediate_size\":14336,"
                         "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
                         "\"head_dim\":null,\"hidden_act\":\"silu\",\"max_position_embeddings\":131072,"
                         "\"initializer_range\":0.02,\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":false,"
                         "\"rope_theta\":10000.0,\"sliding_window\":4096,\"bos_token_id\":1,\"eos_token_id\":2}",
        LLAMA_KEYS,
        .norm = ARK_NORM_RMSNORM, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_GATED, .qkv_layout = QKV_SEPARATE,
        .prefixes = {""}, .names = {LLAMA_LIKE_NAMES}, .quirks = mistral_quirks,
    },
    {
        .name = "stablelm",
        .defaults_json = "{\"vocab_size\":50304,\"intermediate_size\":6912,\"hidden_size\":2560,"
                         "\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":32,"
                         "\"hidden_act\":\"silu\",\"max_position_embeddings\":4096,\"initializer_range\":0.02,"
                         "\"layer_norm_eps\":1e-05,\"tie_word_embeddings\":false,\"rope_theta\":10000,"
                         "\"rope_scaling\":null,\"use_qkv_bias\":false,\"qk_layernorm\":false,"
                         "\"use_parallel_residual\":false,\"partial_rotary_factor\":0.25,"
                         "\"bos_token_id\":0,\"eos_token_id\":0}",
        LLAMA_KEYS, .k_eps = "layer_norm_eps", .k_rotary_frac = "partial_rotary_factor",
        .k_parallel = "use_parallel_residual",
        .norm = ARK_NORM_LAYERNORM, .pos = ARK_POS_ROTARY, .mlp = ARK_MLP_GATED, .qkv_layout = QKV_SEPARATE,
        .prefixes = {""},
        .names = {
            LLAMA_LIKE_NAMES, [W_LNF_B] = "model.norm.bias",
            [W_LN1_B] = "model.layers.{L}.input_layernorm.bias",
            [W_LN2_B] = "model.layers.{L}.post_attention_layernorm.bias",
        },
        .quirks = stablelm_quirks,
    },
};

#define N_FAMILIES (sizeof families / sizeof families[0])

const ark_family *ark_family_find(const char *name)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (name && !strcmp(families[i].name, name)) return &families[i];
    return NULL;
}

const char *ark_family_list(void)
{
    static char list[256];
    if (!list[0])
        for (size_t i = 0; i < N_FAMILIES; i++) {
            if (i) strcat(list, ", ");
            strcat(list, families[i].name);
        }
    return list;
}

const char *const *ark_families(void)
{
    static const char *names[N_FAMILIES + 1];
    for (size_t i = 0; i < N_FAMILIES; i++) names[i] = families[i].name;
    return names;
}
