#!/usr/bin/python3
"""Write models/induction-words: a GPT-2 whose weights are written by hand so
that it performs induction by a known circuit (no training).

    /usr/bin/python3 models/make_induction_words.py [OUT_DIR]   (default: models/induction-words)

Needs Python 3 and numpy.  The output is deterministic: running this again
writes the same bytes (tests/cli_demo_model.sh checks it).

The residual stream (d_model = 256) is split into subspaces that every
weight matrix respects:

    TOK   dims   0..55   the current token, one-hot (token embedding)
    POS   dims  56..119  the position, one-hot (position embedding)
    PREV  dims 120..175  the previous token, one-hot (written by L0H1)
    SCRATCH dims 176..255  written by the heads and MLPs that do nothing
                         useful; nothing reads them

Every one-hot part has the same sum, so LayerNorm's mean subtraction moves
all attention scores of a query, and all logits, by the same amount: it does
not change a pattern or a prediction.

The circuit (Olsson et al. 2022, "In-context learning and induction heads"):

    L0H1  previous-token head.  Query = position i, key = position j,
          QK peaks at j = i - 1; OV copies TOK(j) into PREV.
    L1H2  induction head.  Query = TOK(i), key = PREV(j): it attends to the
          position j whose previous token equals the current token, i.e. the
          token after the earlier copy (K-composition with L0H1).  OV copies
          TOK(j) into TOK, so the unembedding (tied to the embedding, as in
          GPT-2) predicts it.  Where nothing matches it attends to <bos>,
          whose value is zero (an attention sink).
    L0H0, L1H0  attend to <bos> (position 0) always; OV writes SCRATCH.
    L0H2, L0H3, L1H1, L1H3  small random QK (diffuse patterns); OV writes SCRATCH.
    MLPs  small random; write SCRATCH.

So on "A B C ... A B" the model predicts C after the second B, with the
previous-token head L0H1 and the induction head L1H2 as the only components
that matter; ablating either removes in-context copying.  Everything else
is there so that detectors, ablations and attributions have something to
tell apart.
"""
import json
import os
import struct
import sys

import numpy as np

WORDS = """<unk> <bos> . , the a cat dog fox bird fish owl frog bear red blue green
old small big quick lazy happy sat ran jumps sees likes eats sleeps sings
on over under near with and in mat tree house river hill garden moon sun
star boat road king queen stone rain snow bread milk""".split()
V = len(WORDS)          # 56
N_POS = 64
D = 256
H = 4
DH = D // H             # 64
N_INNER = 64
TOK, POS, PREV, SCR = 0, V, V + N_POS, V + N_POS + V
BOS = WORDS.index("<bos>")
assert SCR < D and V <= DH - 1 and N_POS <= DH + 1

# Strengths.  LayerNorm scales a residual made of k unit one-hot parts by
# about sqrt(D / k) (GAIN0: tok + pos entering layer 0; GAIN1: tok + pos +
# prev entering layer 1); the weights divide it out, so the numbers below are
# attention scores (after GPT-2's 1/sqrt(dh)) and residual amplitudes.
GAIN0, GAIN1 = np.sqrt(D / 2), np.sqrt(D / 3)
QK_PREV = 12.0     # previous-token head: score of key i-1 over the others
QK_IND = 12.0      # induction head: score of a match
QK_SINK = 6.0      # induction head: score of <bos> (the default without a match)
QK_BOS = 8.0       # <bos>-attending heads
QK_NOISE = 0.6     # random heads' query/key weights (diffuse patterns)
OV_PREV = 1.0      # L0H1 writes the previous token into PREV with this amplitude
OV_IND = 2.0       # L1H2 writes the predicted token (the current one has 1.0)
V_NOISE, O_NOISE = 0.02, 0.01   # random heads' value / output weights
FC_NOISE, PROJ_NOISE = 0.06, 0.007  # MLPs' input / output weights


def scratch_writer(rng, rows, scale):
    """A random (rows, D) output matrix that writes SCRATCH only, mean 0 per row."""
    w = np.zeros((rows, D))
    w[:, SCR:] = rng.standard_normal((rows, D - SCR)) * scale
    w[:, SCR:] -= w[:, SCR:].mean(axis=1, keepdims=True)
    return w


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "induction-words")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261127)
    t = {}

    wte = np.zeros((V, D))
    for i in range(V):
        wte[i, TOK + i] = 1.0
    wpe = np.zeros((N_POS, D))
    for p in range(N_POS):
        wpe[p, POS + p] = 1.0
    t["wte.weight"], t["wpe.weight"] = wte, wpe

    sq = np.sqrt(DH)  # GPT-2 divides scores by sqrt(dh)

    def head_block(kind, g):
        """One head's (W_Q, W_K, W_V, b_Q, W_O) for a layer whose LayerNorm gain is g."""
        wq, wk, wv, bq = np.zeros((D, DH)), np.zeros((D, DH)), np.zeros((D, DH)), np.zeros(DH)
        wo = np.zeros((DH, D))
        if kind == "prev":
            for p in range(1, N_POS):
                wq[POS + p, p - 1] = QK_PREV * sq / g**2   # query at i looks for position i-1
            for p in range(N_POS - 1):
                wk[POS + p, p] = 1.0
            for i in range(V):
                wv[TOK + i, i] = 1.0
                wo[i, PREV + i] = OV_PREV / g
        elif kind == "induction":
            for i in range(V):
                wq[TOK + i, i] = QK_IND * sq / g**2         # query: the current token
                wk[PREV + i, i] = 1.0                       # key: the token before j
                if i != BOS:
                    wv[TOK + i, i] = 1.0
                    wo[i, TOK + i] = OV_IND / g
            bq[DH - 1] = QK_SINK * sq / g                   # default: attend to <bos>
            wk[POS + 0, DH - 1] = 1.0
        elif kind == "bos":
            bq[DH - 1] = QK_BOS * sq / g
            wk[POS + 0, DH - 1] = 1.0
            wv[:SCR, :] = rng.standard_normal((SCR, DH)) * V_NOISE
            wo[:] = scratch_writer(rng, DH, O_NOISE)
        else:  # random
            wq[:SCR, :] = rng.standard_normal((SCR, DH)) * QK_NOISE / g
            wk[:SCR, :] = rng.standard_normal((SCR, DH)) * QK_NOISE / g
            wv[:SCR, :] = rng.standard_normal((SCR, DH)) * V_NOISE
            wo[:] = scratch_writer(rng, DH, O_NOISE)
        return wq, wk, wv, bq, wo

    layout = [["bos", "prev", "random", "random"], ["bos", "random", "induction", "random"]]
    for L, kinds in enumerate(layout):
        p = f"h.{L}."
        blocks = [head_block(k, (GAIN0, GAIN1)[L]) for k in kinds]
        wq = np.concatenate([b[0] for b in blocks], axis=1)
        wk = np.concatenate([b[1] for b in blocks], axis=1)
        wv = np.concatenate([b[2] for b in blocks], axis=1)
        bq = np.concatenate([b[3] for b in blocks])
        t[p + "ln_1.weight"], t[p + "ln_1.bias"] = np.ones(D), np.zeros(D)
        t[p + "attn.c_attn.weight"] = np.concatenate([wq, wk, wv], axis=1)       # Conv1D: [in, out]
        t[p + "attn.c_attn.bias"] = np.concatenate([bq, np.zeros(2 * D)])
        t[p + "attn.c_proj.weight"] = np.concatenate([b[4] for b in blocks], axis=0)
        t[p + "attn.c_proj.bias"] = np.zeros(D)
        t[p + "ln_2.weight"], t[p + "ln_2.bias"] = np.ones(D), np.zeros(D)
        fc = np.zeros((D, N_INNER))
        fc[:SCR, :] = rng.standard_normal((SCR, N_INNER)) * FC_NOISE
        t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = fc, np.zeros(N_INNER)
        t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = scratch_writer(rng, N_INNER, PROJ_NOISE), np.zeros(D)
    t["ln_f.weight"], t["ln_f.bias"] = np.ones(D), np.zeros(D)

    write_safetensors(os.path.join(out, "model.safetensors"),
                      {"transformer." + k: v.astype(np.float32) for k, v in t.items()})
    write_json(os.path.join(out, "config.json"), config())
    write_json(os.path.join(out, "tokenizer.json"), tokenizer())


def config():
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": V, "n_positions": N_POS, "n_ctx": N_POS, "n_embd": D, "n_layer": 2, "n_head": H,
        "n_inner": N_INNER, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "scale_attn_weights": True, "tie_word_embeddings": True,
        "bos_token_id": BOS, "eos_token_id": WORDS.index("."),
        "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0, "torch_dtype": "float32",
    }


def tokenizer():
    special = [{"id": i, "content": w, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i, w in enumerate(WORDS[:2])]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [BOS], "tokens": ["<bos>"]}},
        },
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {w: i for i, w in enumerate(WORDS)}, "unk_token": "<unk>"},
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        raw = np.ascontiguousarray(tensors[k]).tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt", "source": "models/make_induction_words.py"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    main()
