/* Models: Hugging Face model folders of nine families, described by one
 * canonical configuration (ark_config) and run by one canonical block.
 *
 * Families (config.json "model_type"): gpt2, gpt_neo, gpt_neox, llama, gemma,
 * phi3, qwen2, mistral, stablelm.  Keys absent from config.json take the
 * defaults of the family's Hugging Face config class (transformers 4.44).
 *
 * The canonical block (pre-norm):
 *   sequential:  a = x + attn(norm1(x));  out = a + mlp(norm2(a))
 *   parallel:    out = x + attn(norm1(x)) + mlp(norm2(x))
 *                (stablelm's parallel variant has one norm: mlp(norm1(x)))
 * with norm LayerNorm ((x-mean)/sqrt(var+eps)*w+b), RMSNorm
 * (x/sqrt(mean(x^2)+eps)*w) or Gemma's RMSNorm (x/sqrt(mean(x^2)+eps)*(1+w)),
 * attention with learned absolute positions or rotary embeddings (rotate-half
 * layout, on the first `rotary_dim` dims of each head), grouped-query heads
 * (query head h reads kv head h / (n_heads / n_kv_heads)), optional sliding
 * windows (query i sees keys j with i - W < j <= i), and an MLP that is
 * plain (down(act(up(x)))) or gated (down(act(gate(x)) * up(x))). */
#ifndef ARRAKIS_MODEL_H
#define ARRAKIS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "arrakis/core.h"
#include "arrakis/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ARK_MAX_LAYERS 512

typedef enum { ARK_NORM_LAYERNORM, ARK_NORM_RMSNORM, ARK_NORM_RMSNORM_1P } ark_norm_kind;
typedef enum { ARK_POS_LEARNED, ARK_POS_ROTARY } ark_pos_kind;
typedef enum { ARK_MLP_PLAIN, ARK_MLP_GATED } ark_mlp_kind;
typedef enum {
    ARK_ACT_GELU_TANH, /* gelu_new, gelu_pytorch_tanh: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
    ARK_ACT_GELU_ERF,  /* gelu: 0.5x(1+erf(x/sqrt(2))) */
    ARK_ACT_SILU,      /* silu / swish: x*sigmoid(x) */
    ARK_ACT_RELU,
    ARK_ACT_GELU_FAST, /* gelu_fast: 0.5x(1+tanh(0.7978845608x(1+0.044715x^2))) */
    ARK_ACT_QUICK_GELU /* quick_gelu: x*sigmoid(1.702x) */
} ark_act_kind;
typedef enum { ARK_ROPE_DEFAULT, ARK_ROPE_LINEAR, ARK_ROPE_LLAMA3 } ark_rope_kind;

/* The canonical description of a model.  Every field comes from config.json
 * (or the family's defaults); nothing is specific to a checkpoint. */
typedef struct ark_config {
    char family[32];          /* model_type: "gpt2", "llama", ... */
    int n_layers;
    int d_model;
    int n_heads;
    int n_kv_heads;           /* == n_heads without grouped-query attention */
    int d_head;
    int d_mlp;
    int d_vocab;
    int n_ctx;                /* max_position_embeddings / n_positions */
    ark_norm_kind norm;
    double norm_eps;
    ark_pos_kind pos;
    int rotary_dim;           /* rotary dims per head (<= d_head, even) */
    double rope_theta;
    ark_rope_kind rope_scaling;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_ctx;    /* llama3 scaling's original_max_position_embeddings */
    ark_mlp_kind mlp;
    ark_act_kind act;
    bool parallel_residual;
    bool shared_parallel_norm; /* parallel block with a single norm (stablelm) */
    bool q_bias, k_bias, v_bias, o_bias, mlp_bias;
    bool tied_embeddings;
    float embed_scale;        /* multiplies token embeddings (gemma: sqrt(d_model) as float32) */
    double initializer_range;
    int bos_id, eos_id, pad_id; /* -1 when unset */
    int window[ARK_MAX_LAYERS];       /* per layer: 0 = global, W = sliding window of W keys */
    float attn_scale[ARK_MAX_LAYERS]; /* per layer: scores = (q.k) * attn_scale */
} ark_config;

typedef struct ark_model ark_model;

/* Open a Hugging Face model folder: config.json plus model.safetensors or
 * model.safetensors.index.json with its shards.  F32 tensors are mapped
 * without a copy where aligned; F16/BF16 are converted to float32.  Errors
 * name the file, tensor or field at fault.  Free with ark_model_free(). */
ark_status ark_model_open(const char *dir, ark_model **out);
void ark_model_free(ark_model *m);

/* The model's description; valid while the model lives. */
const ark_config *ark_model_config(const ark_model *m);
/* The folder it was opened from (NULL for an in-memory model). */
const char *ark_model_dir(const ark_model *m);
/* Number of distinct parameters (tied matrices counted once). */
int64_t ark_model_n_params(const ark_model *m);
/* dtype of the weights on disk ("F32", "F16", "BF16", or "mixed"). */
const char *ark_model_disk_dtype(const ark_model *m);

/* Family names, NULL-terminated ("gpt2", "gpt_neo", ...). */
const char *const *ark_families(void);

/* Parse a config.json text into a canonical description.  `where` names the
 * source in messages (e.g. the file path). */
ark_status ark_config_parse(const char *json_text, const char *where, ark_config *out);

/* Build a complete config.json text for `family` from the family's defaults
 * with `n` overrides (keys[i] = values[i]; a value is parsed as JSON —
 * numbers, true/false/null, lists — and otherwise taken as a string).
 * Unknown keys are kept (Hugging Face keeps them too).  *json is malloc'd. */
ark_status ark_config_build(const char *family, int n, const char *const *keys,
                            const char *const *values, char **json);

/* Write a randomly initialised model folder (config.json +
 * model.safetensors with Hugging Face tensor names, as that family's
 * save_pretrained would lay them out) from a config.json text.  Weights
 * ~ N(0, initializer_range) from `seed`; biases 0; norm weights at their
 * identity (1, or 0 for Gemma's 1+w).  dtype: ARK_F32, ARK_F16 or ARK_BF16. */
ark_status ark_model_init_folder(const char *config_json, uint64_t seed, ark_dtype dtype,
                                 const char *dir);

#ifdef __cplusplus
}
#endif
#endif
