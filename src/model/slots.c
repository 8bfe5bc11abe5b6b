/* Which tensors a model of a family has, under which names and shapes. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

bool ark_slot_is_layer(ark_wslot slot) { return slot >= W_LN1_W; }

/* Expand "{P}" (prefix) and "{L}" (layer) in a name template. */
static void expand(const char *tmpl, const char *prefix, int layer, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 1 < cap;) {
        if (!strncmp(p, "{P}", 3)) { n += snprintf(out + n, cap - n, "%s", prefix); p += 3; }
        else if (!strncmp(p, "{L}", 3)) { n += snprintf(out + n, cap - n, "%d", layer); p += 3; }
        else out[n++] = *p++;
        if (n >= cap) n = cap - 1;
    }
    out[n] = '\0';
}

/* Does this config call for the slot at all? */
static bool slot_wanted(const ark_family *fam, const ark_config *c, ark_wslot s)
{
    bool ln = c->norm == ARK_NORM_LAYERNORM, sep = fam->qkv_layout == QKV_SEPARATE;
    bool gated = c->mlp == ARK_MLP_GATED;
    switch (s) {
    case W_EMBED: case W_LNF_W: case W_LN1_W: case W_O: case W_DOWN: return true;
    case W_POS_EMBED: return c->pos == ARK_POS_LEARNED;
    case W_UNEMBED: return !c->tied_embeddings;
    case W_LNF_B: case W_LN1_B: return ln;
    case W_LN2_W: return !c->shared_parallel_norm;
    case W_LN2_B: return ln && !c->shared_parallel_norm;
    case W_Q: case W_K: case W_V: return sep;
    case W_Q_B: return sep && c->q_bias;
    case W_K_B: return sep && c->k_bias;
    case W_V_B: return sep && c->v_bias;
    case W_QKV: return !sep;
    case W_QKV_B: return !sep && c->q_bias;
    case W_O_B: return c->o_bias;
    case W_UP: return !gated || !fam->gate_up_fused;
    case W_GATE: return gated && !fam->gate_up_fused;
    case W_GATE_UP: return gated && fam->gate_up_fused;
    case W_UP_B: return c->mlp_bias && (!gated || !fam->gate_up_fused);
    case W_GATE_B: return c->mlp_bias && gated && !fam->gate_up_fused;
    case W_DOWN_B: return c->mlp_bias;
    case W_N_SLOTS: break;
    }
    return false;
}

/* Shape as Hugging Face stores it: [out, in] for nn.Linear, [in, out] for Conv1D. */
static void slot_shape(const ark_family *fam, const ark_config *c, ark_wslot s, ark_slot_spec *sp)
{
    int64_t d = c->d_model, q = (int64_t)c->n_heads * c->d_head, kv = (int64_t)c->n_kv_heads * c->d_head;
    int64_t m = c->d_mlp, out = 0, in = 0;
    sp->ndim = 2;
    sp->role = SLOT_MATRIX;
    switch (s) {
    case W_EMBED: case W_UNEMBED: sp->shape[0] = c->d_vocab; sp->shape[1] = d; sp->role = SLOT_EMBED; return;
    case W_POS_EMBED: sp->shape[0] = c->n_ctx; sp->shape[1] = d; sp->role = SLOT_EMBED; return;
    case W_LNF_W: case W_LN1_W: case W_LN2_W: sp->ndim = 1; sp->shape[0] = d; sp->role = SLOT_NORM_W; return;
    case W_LNF_B: case W_LN1_B: case W_LN2_B: sp->ndim = 1; sp->shape[0] = d; sp->role = SLOT_NORM_B; return;
    case W_Q: out = q; in = d; break;
    case W_K: case W_V: out = kv; in = d; break;
    case W_QKV: out = q + 2 * kv; in = d; break;
    case W_O: out = d; in = q; break;
    case W_UP: case W_GATE: out = m; in = d; break;
    case W_GATE_UP: out = 2 * m; in = d; break;
    case W_DOWN: out = d; in = m; break;
    case W_Q_B: out = q; break;
    case W_K_B: case W_V_B: out = kv; break;
    case W_QKV_B: out = q + 2 * kv; break;
    case W_O_B: case W_DOWN_B: out = d; break;
    case W_UP_B: case W_GATE_B: out = m; break;
    case W_N_SLOTS: break;
    }
    if (in == 0) { sp->ndim = 1; sp->shape[0] = out; sp->role = SLOT_BIAS; return; }
    sp->shape[0] = fam->linear_in_out ? in : out;
    sp->shape[1] = fam->linear_in_out ? out : in;
}

bool ark_slot_describe(const ark_family *fam, const ark_config *c, ark_wslot slot, int layer,
                       const char *prefix, ark_slot_spec *spec, ark_status *err)
{
    *err = ARK_OK;
    if (!slot_wanted(fam, c, slot)) return false;
    const char *tmpl = fam->names[slot];
    if (!tmpl) {
        static const char *what[W_N_SLOTS] = {[W_Q_B] = "q bias", [W_K_B] = "k bias", [W_V_B] = "v bias",
            [W_QKV_B] = "qkv bias", [W_O_B] = "output-projection bias", [W_UP_B] = "MLP bias",
            [W_GATE_B] = "MLP bias", [W_DOWN_B] = "MLP bias", [W_LNF_B] = "norm bias"};
        *err = ark_fail(ARK_ERR_UNSUPPORTED, "the %s layout has no %s tensor, but the config asks for one",
                        fam->name, what[slot] ? what[slot] : "such");
        return false;
    }
    expand(tmpl, prefix, layer, spec->name, sizeof spec->name);
    slot_shape(fam, c, slot, spec);
    return true;
}
