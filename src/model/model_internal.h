/* The model as the forward pass sees it: canonical weight views. */
#ifndef ARK_MODEL_INTERNAL_H
#define ARK_MODEL_INTERNAL_H

#include "arrakis/model.h"
#include "model/family.h"

/* A linear map y = x W^T + b over views into (mapped or converted) weights.
 * in_out: w is [in, out] (GPT-2 Conv1D), else [out, in] (nn.Linear); ld is
 * the row stride of w, so a fused matrix can be viewed one block at a time. */
typedef struct ark_linear {
    const float *w;
    const float *b;
    int in, out, ld;
    bool in_out;
} ark_linear;

typedef struct ark_layer_weights {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    ark_linear q, k, v;   /* views (unused when the model's qkv_per_head) */
    ark_linear qkv;       /* the fused per-head matrix of gpt_neox */
    ark_linear o;
    ark_linear up, gate, down;
} ark_layer_weights;

struct ark_model {
    ark_config cfg;
    const ark_family *fam;
    char *dir;
    ark_st_file **files;
    int n_files;
    void **owned;         /* converted weight buffers */
    int n_owned, cap_owned;
    const float *embed;   /* (vocab, d) */
    const float *pos_embed; /* (n_ctx, d) or NULL */
    const float *lnf_w, *lnf_b;
    ark_linear unembed;   /* in = d, out = vocab */
    ark_layer_weights *layers;
    bool qkv_per_head;
    int64_t n_params;
    char disk_dtype[8];
    struct hook_entry *hook_table; /* the run room's list of hook points, built on first use */
    int n_hooks;
    struct hook_reg *hooks;        /* hook functions kept on the model (ark_model_add_hook) */
    int n_hooks_fn, cap_hooks_fn, next_handle;
    unsigned processed;   /* ARK_PROCESS_* steps applied (weights.h) */
    bool weights_private; /* every weight view is an owned, compact copy with all biases (process.c) */
};

/* One weight tensor the family's layout calls for. */
typedef struct ark_slot_spec {
    char name[256];
    int ndim;
    int64_t shape[2];
    enum { SLOT_MATRIX, SLOT_BIAS, SLOT_NORM_W, SLOT_NORM_B, SLOT_EMBED } role;
} ark_slot_spec;

/* Fill *spec for `slot` of layer `layer` (ignored for global slots) with the
 * tensor-name prefix `prefix`.  Returns false when this model has no such
 * tensor; ARK_ERR_UNSUPPORTED via *err when the config asks for a tensor the
 * family's layout cannot hold. */
bool ark_slot_describe(const ark_family *fam, const ark_config *c, ark_wslot slot, int layer,
                       const char *prefix, ark_slot_spec *spec, ark_status *err);

/* Is `slot` a per-layer slot? */
bool ark_slot_is_layer(ark_wslot slot);

#endif
