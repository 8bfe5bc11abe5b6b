/* The architecture table: one entry per Hugging Face family.  An entry is
 * data: the config class's defaults, which config key holds each canonical
 * setting, the block's shape, and the map from Hugging Face tensor names to
 * canonical weights.  Adding a family is one entry plus its name map. */
#ifndef ARK_MODEL_FAMILY_H
#define ARK_MODEL_FAMILY_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "arrakis/model.h"

/* Canonical weight slots.  Per-layer slots use "{L}" in their templates. */
typedef enum {
    W_EMBED, W_POS_EMBED, W_LNF_W, W_LNF_B, W_UNEMBED,
    W_LN1_W, W_LN1_B, W_LN2_W, W_LN2_B,
    W_Q, W_Q_B, W_K, W_K_B, W_V, W_V_B,
    W_QKV, W_QKV_B,        /* fused q|k|v (layout in the family's qkv_layout) */
    W_O, W_O_B,
    W_UP, W_UP_B,          /* plain MLP input, or the gated MLP's up branch */
    W_GATE, W_GATE_B,
    W_GATE_UP,             /* fused gate|up rows (phi3) */
    W_DOWN, W_DOWN_B,
    W_N_SLOTS
} ark_wslot;

typedef enum {
    QKV_SEPARATE,  /* q_proj, k_proj, v_proj */
    QKV_BLOCKS,    /* one matrix: all q outputs, then all k, then all v */
    QKV_PER_HEAD   /* one matrix viewed [heads, 3*d_head]: q|k|v per head (gpt_neox) */
} ark_qkv_layout;

typedef struct ark_family {
    const char *name;
    const char *defaults_json;  /* the HF config class's defaults */
    /* config keys */
    const char *k_d_model, *k_layers, *k_heads, *k_kv_heads, *k_d_head, *k_d_mlp;
    const char *k_vocab, *k_ctx, *k_eps, *k_act, *k_rotary_frac, *k_theta, *k_parallel;
    const char *act_if_null;    /* activation when k_act is null or absent */
    int d_mlp_null_mult;        /* d_mlp when its key is null: mult * d_model */
    ark_norm_kind norm;
    ark_pos_kind pos;
    ark_mlp_kind mlp;
    ark_qkv_layout qkv_layout;
    bool gate_up_fused;
    bool linear_in_out;         /* weights stored [in, out] (GPT-2 Conv1D) */
    /* tensor names: prefixes tried in order, then one template per slot
     * (NULL = the family has no such tensor) */
    const char *prefixes[3];
    const char *names[W_N_SLOTS];
    /* settings that need a line of code (biases, windows, scales) */
    ark_status (*quirks)(const cJSON *cfg, const char *where, ark_config *c);
} ark_family;

const ark_family *ark_family_find(const char *name);
/* "gpt2, gpt_neo, ..." for messages. */
const char *ark_family_list(void);

#endif
