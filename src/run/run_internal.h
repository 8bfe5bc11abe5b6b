/* The forward pass's internals, shared by forward.c, attention.c and
 * generate.c. */
#ifndef ARK_RUN_INTERNAL_H
#define ARK_RUN_INTERNAL_H

#include "cache/cache_internal.h"
#include "kernels/kernels.h"
#include "model/model_internal.h"
#include "run/hooks.h"

/* Keys and values of earlier positions, for generation. */
typedef struct ark_kv {
    int B, cap, len;     /* rows, capacity and filled positions */
    int n_layers, KV, dh;
    float *k, *v;        /* (L, B, cap, KV, dh), keys after RoPE */
    uint8_t *mask;       /* (B, cap) 1 = real key */
    int32_t *next_pos;   /* (B) position id of each row's next token */
} ark_kv;

ark_kv *ark_kv_new(const ark_config *c, int B, int cap);
void ark_kv_free(ark_kv *kv);

typedef struct run_ctx {
    ark_model *m;
    const ark_config *c;
    const ark_plan *plan;
    int B, T, BT;
    const uint8_t *mask;  /* (B, T) or NULL */
    ark_kv *kv;           /* NULL outside generation */
    int past;             /* positions already in kv */
    int32_t *pos;         /* (B, T) position ids */
    float *cos_t, *sin_t; /* rotary tables (n_pos, rotary_dim/2) */
    ark_cache *cache;
    int *slot;            /* hook id -> cache index, -1 = not kept */
    bool *called;         /* hook id -> some hook function is attached */
    ark_status status;    /* first failure of a hook function */
    /* activations, reused layer after layer */
    float *x;        /* (B, T, d) residual stream */
    float *nrm;      /* (B, T, d) norm output feeding attention */
    float *nrm2;     /* (B, T, d) norm output feeding the MLP */
    float *scale;    /* (B, T) norm scales */
    float *q, *k, *v;/* (B, T, H, dh), (B, T, KV, dh) x2 */
    float *qkv;      /* (B, T, 3*H*dh) fused projection (gpt_neox) */
    float *z;        /* (B, T, H, dh) */
    float *result;   /* (B, T, H, d) per-head outputs, when a hook asks */
    float *attn_out; /* (B, T, d) */
    float *pre, *pre_lin; /* (B, T, m) */
    float *mlp_out;  /* (B, T, d) */
    float *scores, *pattern; /* (B, H, T, Tk) when a hook asks for them, else NULL */
    float *row_buf;  /* per thread (T, Tk) */
    struct ark_profile *prof; /* NULL unless profiling */
} run_ctx;

/* Profiling marks (no-ops without a profile): a component ends now. */
void run_prof_start(run_ctx *r);
void run_prof(run_ctx *r, const char *kind, int layer, double flops, double bytes, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void run_prof_bytes(run_ctx *r, double bytes);

/* Is hook point (k, layer) kept or hooked in this run? */
static inline bool hook_wanted(const run_ctx *r, ark_hook_kind k, int layer)
{
    int id = hook_id(r->c->n_layers, k, layer);
    return r->slot[id] >= 0 || r->called[id];
}

/* A hook point: call the attached functions (which may change `data`), then
 * copy it into the cache when kept.  No-op after a hook failure. */
void run_fire(run_ctx *r, ark_hook_kind k, int layer, float *data);

/* The attention block of one layer: r->nrm -> r->attn_out. */
void run_attention(run_ctx *r, const ark_layer_weights *L, int layer);

/* The full forward with an optional key/value cache (generation appends the
 * new positions' keys and values). */
ark_status run_forward(ark_model *m, const int32_t *tokens, int B, int T, const ark_run_opts *o,
                       const ark_plan *plan, ark_kv *kv, ark_cache **out);
/* The same, recording a profile. */
ark_status run_forward_profiled(ark_model *m, const int32_t *tokens, int B, int T, const ark_run_opts *o,
                                const ark_plan *plan, ark_kv *kv, ark_cache **out, struct ark_profile *prof);

#endif
