#!/usr/bin/env python3
"""Independent float64 numpy reference of the Hugging Face causal-LM forward pass.

Written from Hugging Face transformers' modeling and configuration code (v4.44
semantics, see the notes below) and from shared/fixtures/models/README.md, NOT from
Arrakis' C sources.  Only numpy and the standard library are used (run it with
/usr/bin/python3, which has Debian's python3-numpy).

Families: gpt2, gpt_neo, gpt_neox, llama, gemma, phi3, qwen2, mistral, stablelm.

    load_model(dir)            -> Model (config.json with the config class defaults
                                  for absent keys; model.safetensors or a sharded
                                  model.safetensors.index.json; F32/F16/BF16/F64)
    Model.forward(ids)         -> (logits [T, vocab], {TransformerLens hook name: array})

Intermediates are keyed by TransformerLens names without the batch dimension:
hook_embed, hook_pos_embed, blocks.L.hook_resid_pre, blocks.L.ln1.hook_scale,
blocks.L.ln1.hook_normalized, blocks.L.attn.hook_q/k/v [T, heads, d_head] (k/v with
the kv heads), blocks.L.attn.hook_rot_q/rot_k, blocks.L.attn.hook_attn_scores and
hook_pattern [H, T, T], blocks.L.attn.hook_z [T, H, d_head], blocks.L.hook_attn_out,
blocks.L.hook_resid_mid (sequential only), blocks.L.ln2.hook_scale/hook_normalized,
blocks.L.mlp.hook_pre (first projection / gate, before the activation),
blocks.L.mlp.hook_pre_linear (gated MLPs: the up projection), blocks.L.mlp.hook_post
(the input of the down projection), blocks.L.hook_mlp_out, blocks.L.hook_resid_post,
ln_final.hook_scale, ln_final.hook_normalized, logits.

Version notes (where the stored HF sources differ between releases; documented in
the report of the cross-check and in cli_random_models.sh):
  * Sliding windows: a window W lets query i see keys j with i - W < j <= i (W keys,
    itself included), as Mistral's eager mask in 4.44 and every model in current HF.
    phi3 applies sliding_window (when non-null) to every layer; HF 4.42-4.44 had a
    regression (issue #32945, fixed by PR #33586) where Phi3's eager mask ignored it.
    qwen2 applies it only when use_sliding_window is true, and then only on layers
    >= max_window_layers (current HF layer_types; in 4.44 only its flash-attention path
    used it).
  * head_dim: honoured when set for llama/mistral/gemma/qwen2/phi3 (mistral and gemma
    in 4.44, llama from 4.45, qwen2/phi3 in current HF); gpt_neox and stablelm always use
    hidden_size // num_attention_heads.
  * rope_scaling: "linear" divides positions by factor (== inv_freq / factor); "llama3"
    follows modeling_rope_utils._compute_llama3_parameters; "dynamic" (NTK) only changes
    anything for sequences longer than max_position_embeddings.  Both the "rope_type" and
    the legacy "type" key are accepted.

Command line:
    hf_reference.py selftest FIXTURE_DIR...        compare with reference.safetensors
    hf_reference.py compare MODEL_DIR CACHE.safetensors --tokens-json '[[1,2],[3]]'
                    [--atol 1e-4] [--rtol 1e-4] [--label NAME] [-v]
    hf_reference.py perturb MODEL_DIR [--seed N]   random norm weights and biases, in place,
                                                   in the stored dtype
    hf_reference.py forward MODEL_DIR --tokens 1,2,3
"""

import json
import math
import os
import struct
import sys

import numpy as np

# --------------------------------------------------------------------------- safetensors

_DT = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}


def read_safetensors(path):
    """Read every tensor of a .safetensors file into numpy arrays (BF16 -> float32)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError("%s: header length %d past the end of the file" % (path, hlen))
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(x) for x in info["data_offsets"])
        buf = raw[base + begin:base + end]
        n = int(np.prod(shape)) if shape else 1
        if dt == "BF16":
            if len(buf) != 2 * n:
                raise ValueError("%s: %s has %d bytes, expected %d" % (path, name, len(buf), 2 * n))
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in _DT:
            npdt = np.dtype(_DT[dt]).newbyteorder("<")
            if len(buf) != npdt.itemsize * n:
                raise ValueError("%s: %s has %d bytes, expected %d" % (path, name, len(buf), npdt.itemsize * n))
            arr = np.frombuffer(buf, dtype=npdt)
        else:
            raise ValueError("%s: unsupported dtype %s for %s" % (path, dt, name))
        out[name] = arr.reshape(shape)
    return out


def load_weights(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        with open(index) as f:
            wm = json.load(f)["weight_map"]
        out = {}
        for shard in sorted(set(wm.values())):
            part = read_safetensors(os.path.join(model_dir, shard))
            for k, v in part.items():
                if wm.get(k) == shard:
                    out[k] = v
        missing = [k for k in wm if k not in out]
        if missing:
            raise ValueError("index names tensors not found in their shard: %s" % missing[:5])
        return out
    raise FileNotFoundError("no model.safetensors or model.safetensors.index.json in %s" % model_dir)


# --------------------------------------------------------------------------- config defaults
# Defaults of the HF 4.44 configuration classes (the value a key takes when it is absent
# from config.json).  PretrainedConfig's own default for tie_word_embeddings is True.

_DEFAULTS = {
    "gpt2": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                 activation_function="gelu_new", layer_norm_epsilon=1e-5, scale_attn_weights=True,
                 scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False,
                 tie_word_embeddings=True),
    "gpt_neo": dict(vocab_size=50257, max_position_embeddings=2048, hidden_size=2048, num_layers=24,
                    attention_types=[[["global", "local"], 12]], num_heads=16, intermediate_size=None,
                    window_size=256, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                    tie_word_embeddings=True),
    "gpt_neox": dict(vocab_size=50432, hidden_size=6144, num_hidden_layers=44, num_attention_heads=64,
                     intermediate_size=24576, hidden_act="gelu", rotary_pct=0.25, rotary_emb_base=10000,
                     max_position_embeddings=2048, layer_norm_eps=1e-5, tie_word_embeddings=False,
                     use_parallel_residual=True, rope_scaling=None, attention_bias=True),
    "llama": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=None, hidden_act="silu",
                  max_position_embeddings=2048, rms_norm_eps=1e-6, tie_word_embeddings=False,
                  rope_theta=10000.0, rope_scaling=None, attention_bias=False, mlp_bias=False, head_dim=None),
    "gemma": dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=16, head_dim=256, hidden_act="gelu_pytorch_tanh",
                  hidden_activation=None, max_position_embeddings=8192, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, rope_theta=10000.0, attention_bias=False),
    "phi3": dict(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=None, hidden_act="silu",
                 max_position_embeddings=4096, original_max_position_embeddings=4096, rms_norm_eps=1e-5,
                 rope_theta=10000.0, rope_scaling=None, sliding_window=None, tie_word_embeddings=False,
                 head_dim=None),
    "qwen2": dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=32, hidden_act="silu",
                  max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=False,
                  rope_theta=10000.0, rope_scaling=None, use_sliding_window=False, sliding_window=4096,
                  max_window_layers=28, head_dim=None),
    "mistral": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, head_dim=None, hidden_act="silu",
                    max_position_embeddings=4096 * 32, rms_norm_eps=1e-6, tie_word_embeddings=False,
                    rope_theta=10000.0, sliding_window=4096, rope_scaling=None),
    "stablelm": dict(vocab_size=50304, intermediate_size=6912, hidden_size=2560, num_hidden_layers=32,
                     num_attention_heads=32, num_key_value_heads=32, hidden_act="silu",
                     max_position_embeddings=4096, layer_norm_eps=1e-5, tie_word_embeddings=False,
                     rope_theta=10000.0, rope_scaling=None, use_qkv_bias=False, qk_layernorm=False,
                     use_parallel_residual=False, partial_rotary_factor=0.25),
}

# attribute_map aliases of the config classes (generic name -> the class's own name)
_ALIASES = {
    "gpt2": {"hidden_size": "n_embd", "num_attention_heads": "n_head", "num_hidden_layers": "n_layer",
             "max_position_embeddings": "n_positions"},
    "gpt_neo": {"num_attention_heads": "num_heads", "num_hidden_layers": "num_layers"},
}

_ARCH_TO_FAMILY = {
    "GPT2LMHeadModel": "gpt2", "GPTNeoForCausalLM": "gpt_neo", "GPTNeoXForCausalLM": "gpt_neox",
    "LlamaForCausalLM": "llama", "GemmaForCausalLM": "gemma", "Phi3ForCausalLM": "phi3",
    "Qwen2ForCausalLM": "qwen2", "MistralForCausalLM": "mistral", "StableLmForCausalLM": "stablelm",
}


def _cfg_get(raw, family):
    d = dict(_DEFAULTS[family])
    for k, v in raw.items():
        d[_ALIASES.get(family, {}).get(k, k)] = v
    return d


# --------------------------------------------------------------------------- math helpers

def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _erf(x):
    # vectorised math.erf (exact to double precision)
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": lambda x: 0.5 * x * (1.0 + np.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
    "quick_gelu": lambda x: x * _sigmoid(1.702 * x),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "relu": lambda x: np.maximum(x, 0.0),
    "relu2": lambda x: np.maximum(x, 0.0) ** 2,
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "linear": lambda x: x,
}


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    scale = np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    y = xc / scale
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y, scale


def _rms_norm(x, w, eps, plus_one=False):
    scale = np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    y = x / scale
    if w is not None:
        y = y * ((1.0 + w) if plus_one else w)
    return y, scale


def _softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(x - m)
    return e / e.sum(-1, keepdims=True)


# --------------------------------------------------------------------------- model

class Model:
    """A loaded model: normalised hyper-parameters plus float64 weights."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            raw = json.load(f)
        self.raw_config = raw
        family = raw.get("model_type")
        if family not in _DEFAULTS:
            archs = raw.get("architectures") or []
            family = next((_ARCH_TO_FAMILY[a] for a in archs if a in _ARCH_TO_FAMILY), None)
        if family not in _DEFAULTS:
            raise ValueError("unsupported model_type %r" % raw.get("model_type"))
        self.family = family
        c = _cfg_get(raw, family)
        self.cfg = c
        w = load_weights(model_dir)
        self.weights = w
        self._setup(c)

    # -- weight access
    def W(self, name, required=True):
        if name in self.weights:
            return np.asarray(self.weights[name], dtype=np.float64)
        if required:
            raise KeyError("tensor %s missing from the checkpoint" % name)
        return None

    def _setup(self, c):
        fam = self.family
        self.learned_pos = fam in ("gpt2", "gpt_neo")
        if fam == "gpt2":
            self.d = c["n_embd"]; self.L = c["n_layer"]; self.H = c["n_head"]
            self.KV = self.H; self.hd = self.d // self.H
            self.inter = c["n_inner"] if c["n_inner"] is not None else 4 * self.d
            self.act = c["activation_function"]; self.eps = c["layer_norm_epsilon"]
            self.max_pos = c["n_positions"]
        elif fam == "gpt_neo":
            self.d = c["hidden_size"]; self.L = c["num_layers"]; self.H = c["num_heads"]
            self.KV = self.H; self.hd = self.d // self.H
            self.inter = c["intermediate_size"] if c["intermediate_size"] is not None else 4 * self.d
            self.act = c["activation_function"]; self.eps = c["layer_norm_epsilon"]
            self.max_pos = c["max_position_embeddings"]
        else:
            self.d = c["hidden_size"]; self.L = c["num_hidden_layers"]; self.H = c["num_attention_heads"]
            kv = c.get("num_key_value_heads")
            self.KV = kv if kv is not None else self.H
            if fam in ("gpt_neox", "stablelm"):
                self.KV = self.H if fam == "gpt_neox" else self.KV
                self.hd = self.d // self.H
            else:
                hd = c.get("head_dim")
                self.hd = hd if hd is not None else self.d // self.H
            self.inter = c["intermediate_size"]
            self.max_pos = c["max_position_embeddings"]
            if fam == "gemma":
                ha = c.get("hidden_activation")
                self.act = ha if ha is not None else "gelu_pytorch_tanh"
            else:
                self.act = c["hidden_act"]
            if fam in ("gpt_neox", "stablelm"):
                self.eps = c["layer_norm_eps"]
            else:
                self.eps = c["rms_norm_eps"]
        if self.act not in ACTIVATIONS:
            raise ValueError("unsupported activation %r" % self.act)
        if self.H % self.KV:
            raise ValueError("num_attention_heads %d not a multiple of num_key_value_heads %d" % (self.H, self.KV))
        self.vocab = c["vocab_size"]
        self.tied = bool(c.get("tie_word_embeddings", True))

        # attention scale and windows per layer
        self.scale = []
        self.window = []
        for i in range(self.L):
            if fam == "gpt2":
                s = 1.0
                if c["scale_attn_weights"]:
                    s /= math.sqrt(self.hd)
                if c["scale_attn_by_inverse_layer_idx"]:
                    s /= float(i + 1)
            elif fam == "gpt_neo":
                s = 1.0
            else:
                s = 1.0 / math.sqrt(self.hd)
            self.scale.append(s)
        if fam == "gpt_neo":
            layers = c.get("attention_layers")
            if layers is None:
                layers = []
                for item in c["attention_types"]:
                    for _ in range(item[1]):
                        layers.extend(item[0])
            if len(layers) != self.L:
                raise ValueError("attention_layers has %d entries for %d layers" % (len(layers), self.L))
            self.window = [c["window_size"] if t == "local" else None for t in layers]
        elif fam in ("mistral", "phi3"):
            sw = c.get("sliding_window")
            self.window = [sw] * self.L
        elif fam == "qwen2":
            sw = c.get("sliding_window")
            use = bool(c.get("use_sliding_window"))
            mwl = c.get("max_window_layers")
            lt = c.get("layer_types")
            if lt is not None:
                self.window = [sw if t == "sliding_attention" else None for t in lt]
            else:
                self.window = [sw if (use and sw is not None and i >= mwl) else None for i in range(self.L)]
        else:
            self.window = [None] * self.L

        # rotary
        self.rot = 0
        if not self.learned_pos:
            if fam == "gpt_neox":
                self.rot = int(self.hd * c["rotary_pct"])
                theta = c.get("rotary_emb_base", c.get("rope_theta", 10000))
            elif fam == "stablelm":
                self.rot = int(self.hd * c["partial_rotary_factor"])
                theta = c["rope_theta"]
            else:
                prf = c.get("partial_rotary_factor", 1.0)
                self.rot = int(self.hd * prf) if prf is not None else self.hd
                theta = c["rope_theta"]
            self.theta = float(theta)
            self.rope_scaling = c.get("rope_scaling")
            if isinstance(self.rope_scaling, dict):
                rs = dict(self.rope_scaling)
                if "rope_type" not in rs and "type" in rs:
                    rs["rope_type"] = rs["type"]
                self.rope_scaling = rs
                if rs.get("rope_type", "default") not in ("default", "linear", "llama3", "dynamic"):
                    raise ValueError("unsupported rope_scaling %r" % rs)

        fam = self.family
        if fam == "gemma":
            self.norm_kind = "gemma"
        elif fam in ("llama", "phi3", "qwen2", "mistral"):
            self.norm_kind = "rms"
        else:
            self.norm_kind = "layer"
        self.parallel = (fam == "gpt_neox" and c["use_parallel_residual"]) or \
                        (fam == "stablelm" and c["use_parallel_residual"])
        self._load_layers()

    # -- per-family tensor names
    def _load_layers(self):
        fam, c = self.family, self.cfg
        H, KV, hd, d = self.H, self.KV, self.hd, self.d
        self.layers = []
        W = self.W
        if fam in ("gpt2", "gpt_neo"):
            p = "transformer." if "transformer.wte.weight" in self.weights else ""
            self.wte = W(p + "wte.weight")
            self.wpe = W(p + "wpe.weight")
            self.lnf = (W(p + "ln_f.weight"), W(p + "ln_f.bias"))
            for i in range(self.L):
                q = "%sh.%d." % (p, i)
                lay = dict(ln1=(W(q + "ln_1.weight"), W(q + "ln_1.bias")),
                           ln2=(W(q + "ln_2.weight"), W(q + "ln_2.bias")))
                if fam == "gpt2":
                    ca, cb = W(q + "attn.c_attn.weight"), W(q + "attn.c_attn.bias")  # Conv1D [in, out]
                    lay["wq"], lay["wk"], lay["wv"] = ca[:, :d].T, ca[:, d:2 * d].T, ca[:, 2 * d:].T
                    lay["bq"], lay["bk"], lay["bv"] = cb[:d], cb[d:2 * d], cb[2 * d:]
                    lay["wo"], lay["bo"] = W(q + "attn.c_proj.weight").T, W(q + "attn.c_proj.bias")
                    lay["w_in"], lay["b_in"] = W(q + "mlp.c_fc.weight").T, W(q + "mlp.c_fc.bias")
                    lay["w_out"], lay["b_out"] = W(q + "mlp.c_proj.weight").T, W(q + "mlp.c_proj.bias")
                else:
                    a = q + "attn.attention."
                    lay["wq"], lay["wk"], lay["wv"] = W(a + "q_proj.weight"), W(a + "k_proj.weight"), W(a + "v_proj.weight")
                    lay["bq"] = lay["bk"] = lay["bv"] = None
                    lay["wo"], lay["bo"] = W(a + "out_proj.weight"), W(a + "out_proj.bias")
                    lay["w_in"], lay["b_in"] = W(q + "mlp.c_fc.weight"), W(q + "mlp.c_fc.bias")
                    lay["w_out"], lay["b_out"] = W(q + "mlp.c_proj.weight"), W(q + "mlp.c_proj.bias")
                self.layers.append(lay)
            self.embed = self.wte
            self.unembed = self.wte if self.tied else W("lm_head.weight")
            return
        if fam == "gpt_neox":
            p = "gpt_neox."
            bias = bool(c.get("attention_bias", True))
            self.embed = W(p + "embed_in.weight")
            self.lnf = (W(p + "final_layer_norm.weight"), W(p + "final_layer_norm.bias"))
            for i in range(self.L):
                q = "%slayers.%d." % (p, i)
                lay = dict(ln1=(W(q + "input_layernorm.weight"), W(q + "input_layernorm.bias")),
                           ln2=(W(q + "post_attention_layernorm.weight"), W(q + "post_attention_layernorm.bias")))
                qkv = W(q + "attention.query_key_value.weight").reshape(H, 3, hd, d)
                lay["wq"], lay["wk"], lay["wv"] = (qkv[:, j].reshape(H * hd, d) for j in range(3))
                if bias:
                    b = W(q + "attention.query_key_value.bias").reshape(H, 3, hd)
                    lay["bq"], lay["bk"], lay["bv"] = (b[:, j].reshape(H * hd) for j in range(3))
                else:
                    lay["bq"] = lay["bk"] = lay["bv"] = None
                lay["wo"] = W(q + "attention.dense.weight")
                lay["bo"] = W(q + "attention.dense.bias") if bias else None
                lay["w_in"], lay["b_in"] = W(q + "mlp.dense_h_to_4h.weight"), W(q + "mlp.dense_h_to_4h.bias")
                lay["w_out"], lay["b_out"] = W(q + "mlp.dense_4h_to_h.weight"), W(q + "mlp.dense_4h_to_h.bias")
                self.layers.append(lay)
            self.unembed = self.embed if self.tied else W("embed_out.weight")
            return
        # llama-like
        p = "model."
        self.embed = W(p + "embed_tokens.weight")
        ln_bias = fam == "stablelm"
        self.lnf = (W(p + "norm.weight"), W(p + "norm.bias") if ln_bias else None)
        if fam == "llama":
            qkv_b = o_b = bool(c.get("attention_bias"))
            mlp_b = bool(c.get("mlp_bias"))
        elif fam == "gemma":
            qkv_b = o_b = bool(c.get("attention_bias"))
            mlp_b = False
        elif fam == "qwen2":
            qkv_b, o_b, mlp_b = True, False, False
        elif fam == "stablelm":
            qkv_b, o_b, mlp_b = bool(c.get("use_qkv_bias")), False, False
        else:  # mistral, phi3
            qkv_b = o_b = mlp_b = False
        self.qk_layernorm = fam == "stablelm" and bool(c.get("qk_layernorm"))
        for i in range(self.L):
            q = "%slayers.%d." % (p, i)
            lay = dict(ln1=(W(q + "input_layernorm.weight"), W(q + "input_layernorm.bias") if ln_bias else None))
            if not self.parallel:
                lay["ln2"] = (W(q + "post_attention_layernorm.weight"),
                              W(q + "post_attention_layernorm.bias") if ln_bias else None)
            a = q + "self_attn."
            if fam == "phi3":
                qkv = W(a + "qkv_proj.weight")
                lay["wq"], lay["wk"], lay["wv"] = qkv[:H * hd], qkv[H * hd:(H + KV) * hd], qkv[(H + KV) * hd:]
                if qkv.shape[0] != (H + 2 * KV) * hd:
                    raise ValueError("qkv_proj has %d rows, expected %d" % (qkv.shape[0], (H + 2 * KV) * hd))
                lay["bq"] = lay["bk"] = lay["bv"] = None
            else:
                for n in "qkv":
                    lay["w" + n] = W(a + n + "_proj.weight")
                    lay["b" + n] = W(a + n + "_proj.bias") if qkv_b else None
            lay["wo"] = W(a + "o_proj.weight")
            lay["bo"] = W(a + "o_proj.bias") if o_b else None
            if self.qk_layernorm:
                lay["q_ln"] = [W(a + "q_layernorm.norms.%d.weight" % h) for h in range(H)]
                lay["k_ln"] = [W(a + "k_layernorm.norms.%d.weight" % h) for h in range(KV)]
            m = q + "mlp."
            if fam == "phi3":
                gu = W(m + "gate_up_proj.weight")
                half = gu.shape[0] // 2
                lay["w_gate"], lay["w_up"] = gu[:half], gu[half:]
                lay["b_gate"] = lay["b_up"] = None
            else:
                lay["w_gate"], lay["w_up"] = W(m + "gate_proj.weight"), W(m + "up_proj.weight")
                lay["b_gate"] = W(m + "gate_proj.bias") if mlp_b else None
                lay["b_up"] = W(m + "up_proj.bias") if mlp_b else None
            lay["w_out"] = W(m + "down_proj.weight")
            lay["b_out"] = W(m + "down_proj.bias") if mlp_b else None
            self.layers.append(lay)
        self.unembed = self.embed if self.tied else W("lm_head.weight")

    # -- pieces
    def _norm(self, x, wb):
        if self.norm_kind == "layer":
            return _layer_norm(x, wb[0], wb[1], self.eps)
        return _rms_norm(x, wb[0], self.eps, plus_one=(self.norm_kind == "gemma"))

    def _inv_freq(self, seq_len):
        r = self.rot
        base = self.theta
        rs = self.rope_scaling if isinstance(self.rope_scaling, dict) else None
        rtype = rs.get("rope_type", "default") if rs else "default"
        if rtype == "dynamic" and seq_len > self.max_pos:
            f = float(rs["factor"])
            base = base * ((f * seq_len / self.max_pos) - (f - 1)) ** (r / (r - 2))
        inv = 1.0 / (base ** (np.arange(0, r, 2, dtype=np.float64) / r))
        if rtype == "linear":
            inv = inv / float(rs["factor"])
        elif rtype == "llama3":
            factor = float(rs["factor"])
            lo = float(rs["low_freq_factor"])
            hi = float(rs["high_freq_factor"])
            old = float(rs["original_max_position_embeddings"])
            lo_wl, hi_wl = old / lo, old / hi
            wl = 2 * math.pi / inv
            inv_l = np.where(wl > lo_wl, inv / factor, inv)
            smooth = (old / wl - lo) / (hi - lo)
            smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
            medium = ~(wl < hi_wl) & ~(wl > lo_wl)
            inv = np.where(medium, smoothed, inv_l)
        return inv

    def _rope(self, x, cos, sin):
        # x [T, heads, hd]; rotate-half on the first self.rot dims
        r = self.rot
        if r == 0:
            return x.copy()
        h = r // 2
        x1, x2 = x[..., :h], x[..., h:r]
        c, s = cos[:, None, :], sin[:, None, :]
        out = x.copy()
        out[..., :h] = x1 * c - x2 * s
        out[..., h:r] = x2 * c + x1 * s
        return out

    def forward(self, ids, zero_heads=None):
        """Run one unpadded sequence (positions 0..T-1). Returns (logits, cache).
        zero_heads: {layer: [head, ...]} sets those heads' z to 0 (a zero-ablated head)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        T = ids.shape[0]
        if T == 0:
            raise ValueError("empty sequence")
        if ids.min() < 0 or ids.max() >= self.embed.shape[0]:
            raise ValueError("token id out of range")
        H, KV, hd, d = self.H, self.KV, self.hd, self.d
        cache = {}
        tok = self.embed[ids]
        if self.learned_pos:
            pos = self.wpe[np.arange(T)]
            cache["hook_embed"] = tok
            cache["hook_pos_embed"] = pos
            x = tok + pos
        elif self.family == "gemma":
            # HF: normalizer = torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype) (float32 weights)
            norm = float(np.float32(self.d ** 0.5))
            cache["hook_embed"] = tok * norm
            x = tok * norm
        else:
            cache["hook_embed"] = tok
            x = tok
        if self.rot:
            inv = self._inv_freq(T)
            ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
            cos, sin = np.cos(ang), np.sin(ang)
        qi = np.arange(T)[:, None]
        kj = np.arange(T)[None, :]
        causal = kj <= qi
        group = H // KV
        for i, lay in enumerate(self.layers):
            pre = "blocks.%d." % i
            cache[pre + "hook_resid_pre"] = x
            h1, s1 = self._norm(x, lay["ln1"])
            cache[pre + "ln1.hook_scale"] = s1
            cache[pre + "ln1.hook_normalized"] = h1
            q = h1 @ lay["wq"].T
            k = h1 @ lay["wk"].T
            v = h1 @ lay["wv"].T
            if lay["bq"] is not None:
                q = q + lay["bq"]; k = k + lay["bk"]; v = v + lay["bv"]
            q = q.reshape(T, H, hd); k = k.reshape(T, KV, hd); v = v.reshape(T, KV, hd)
            if self.family == "stablelm" and self.qk_layernorm:
                q = np.stack([_layer_norm(q[:, h], lay["q_ln"][h], None, self.eps)[0] for h in range(H)], 1)
                k = np.stack([_layer_norm(k[:, h], lay["k_ln"][h], None, self.eps)[0] for h in range(KV)], 1)
            cache[pre + "attn.hook_q"] = q
            cache[pre + "attn.hook_k"] = k
            cache[pre + "attn.hook_v"] = v
            if self.rot:
                q = self._rope(q, cos, sin)
                k = self._rope(k, cos, sin)
                cache[pre + "attn.hook_rot_q"] = q
                cache[pre + "attn.hook_rot_k"] = k
            kr = np.repeat(k, group, axis=1)  # query head h reads kv head h // group
            vr = np.repeat(v, group, axis=1)
            scores = np.einsum("qhd,khd->hqk", q, kr) * self.scale[i]
            mask = causal.copy()
            W_ = self.window[i]
            if W_ is not None:
                mask &= kj > qi - W_
            scores = np.where(mask[None], scores, -np.inf)
            cache[pre + "attn.hook_attn_scores"] = scores
            pat = _softmax(scores)
            cache[pre + "attn.hook_pattern"] = pat
            z = np.einsum("hqk,khd->qhd", pat, vr)
            for h in (zero_heads or {}).get(i, []):
                z[:, h] = 0.0
            cache[pre + "attn.hook_z"] = z
            # per-head contribution to the output (TransformerLens hook_result: no bias)
            cache[pre + "attn.hook_result"] = np.einsum("qhd,mhd->qhm", z, lay["wo"].reshape(d, H, hd))
            attn_out = z.reshape(T, H * hd) @ lay["wo"].T
            if lay["bo"] is not None:
                attn_out = attn_out + lay["bo"]
            cache[pre + "hook_attn_out"] = attn_out
            if self.parallel:
                if self.family == "stablelm":
                    h2 = h1  # one shared input_layernorm feeds attention and MLP
                else:
                    h2, s2 = self._norm(x, lay["ln2"])
                    cache[pre + "ln2.hook_scale"] = s2
                    cache[pre + "ln2.hook_normalized"] = h2
            else:
                mid = x + attn_out
                cache[pre + "hook_resid_mid"] = mid
                h2, s2 = self._norm(mid, lay["ln2"])
                cache[pre + "ln2.hook_scale"] = s2
                cache[pre + "ln2.hook_normalized"] = h2
            act = ACTIVATIONS[self.act]
            if "w_gate" in lay:
                g = h2 @ lay["w_gate"].T
                u = h2 @ lay["w_up"].T
                if lay["b_gate"] is not None:
                    g = g + lay["b_gate"]; u = u + lay["b_up"]
                cache[pre + "mlp.hook_pre"] = g
                cache[pre + "mlp.hook_pre_linear"] = u
                post = act(g) * u
            else:
                pr = h2 @ lay["w_in"].T + lay["b_in"]
                cache[pre + "mlp.hook_pre"] = pr
                post = act(pr)
            cache[pre + "mlp.hook_post"] = post
            mlp_out = post @ lay["w_out"].T
            if lay["b_out"] is not None:
                mlp_out = mlp_out + lay["b_out"]
            cache[pre + "hook_mlp_out"] = mlp_out
            if self.parallel:
                x = x + attn_out + mlp_out
            else:
                x = mid + mlp_out
            cache[pre + "hook_resid_post"] = x
        hf, sf = self._norm(x, self.lnf)
        cache["ln_final.hook_scale"] = sf
        cache["ln_final.hook_normalized"] = hf
        logits = hf @ self.unembed.T
        cache["logits"] = logits
        return logits, cache


def load_model(model_dir):
    return Model(model_dir)


def forward(model, ids):
    return model.forward(ids)


# --------------------------------------------------------------------------- comparison

class Checker:
    def __init__(self, atol=1e-4, rtol=1e-4, label=""):
        self.atol, self.rtol, self.label = atol, rtol, label
        self.failures = []
        self.checked = 0
        self.worst = 0.0  # largest |ours-ref| / (atol + rtol|ref|)
        self.extra = []

    def check(self, key, ours, ref):
        ours = np.asarray(ours, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if ours.shape != ref.shape:
            self.failures.append("%s %s: shape %s, reference %s" % (self.label, key, ours.shape, ref.shape))
            return False
        self.checked += 1
        if ours.size == 0:
            return True
        bad_nan = ~np.isfinite(ours) | ~np.isfinite(ref)
        diff = np.abs(ours - ref)
        tol = self.atol + self.rtol * np.abs(ref)
        ratio = np.where(bad_nan, np.inf, diff / tol)
        worst = float(ratio.max())
        self.worst = max(self.worst, worst if np.isfinite(worst) else float("inf"))
        if worst > 1.0 or bad_nan.any():
            idx = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
            nbad = int((ratio > 1.0).sum())
            self.failures.append(
                "%s %s: %d/%d elements out of tolerance; worst at %s: got %.8g, reference %.8g (|diff| %.3g)"
                % (self.label, key, nbad, ratio.size, list(int(t) for t in idx), ours[idx], ref[idx], diff[idx]))
            return False
        return True


def selftest(dirs, atol=1e-4, rtol=1e-4):
    """Compare with reference.safetensors of shared/fixtures/models/* and fixtures/trained/*."""
    total_fail = 0
    for fx in dirs:
        ref = read_safetensors(os.path.join(fx, "reference.safetensors"))
        m = load_model(fx)
        ck = Checker(atol, rtol, os.path.basename(os.path.normpath(fx)))
        if "input_ids" in ref:  # trained fixtures: batched, hidden.L before the final norm
            ids = ref["input_ids"]
            for b in range(ids.shape[0]):
                logits, c = m.forward(ids[b])
                ck.check("logits[%d]" % b, logits, ref["logits"][b])
                for j in range(m.L + 1):
                    key = "blocks.%d.hook_resid_pre" % j if j < m.L else "blocks.%d.hook_resid_post" % (m.L - 1)
                    if "hidden.%d" % j in ref:
                        ck.check("hidden.%d[%d]" % (j, b), c[key], ref["hidden.%d" % j][b])
                for j in range(m.L):
                    if "attn.%d" % j in ref:
                        ck.check("attn.%d[%d]" % (j, b), c["blocks.%d.attn.hook_pattern" % j], ref["attn.%d" % j][b])
        else:
            seqs = sorted({k.split(".")[0] for k in ref})
            for s in seqs:
                logits, c = m.forward(ref[s + ".input_ids"])
                L = m.L
                mapping = {"logits": logits, "final_norm_out": c["ln_final.hook_normalized"]}
                for j in range(L):
                    mapping["hidden_states.%d" % j] = c["blocks.%d.hook_resid_pre" % j]
                    mapping["attentions.%d" % j] = c["blocks.%d.attn.hook_pattern" % j]
                    p = "blocks.%d." % j
                    mapping["layers.%d.ln1_out" % j] = c[p + "ln1.hook_normalized"]
                    mapping["layers.%d.attn_out" % j] = c[p + "hook_attn_out"]
                    mapping["layers.%d.ln2_out" % j] = c.get(p + "ln2.hook_normalized", c[p + "ln1.hook_normalized"])
                    if p + "hook_resid_mid" in c:
                        mapping["layers.%d.resid_mid" % j] = c[p + "hook_resid_mid"]
                    mapping["layers.%d.mlp_out" % j] = c[p + "hook_mlp_out"]
                    mapping["layers.%d.out" % j] = c[p + "hook_resid_post"]
                mapping["hidden_states.%d" % L] = c["ln_final.hook_normalized"]
                used = set()
                for k, v in mapping.items():
                    if s + "." + k in ref:
                        ck.check(s + "." + k, v, ref[s + "." + k])
                        used.add(s + "." + k)
                left = [k for k in ref if k.startswith(s + ".") and k not in used and not k.endswith("input_ids")]
                for k in left:
                    ck.failures.append("%s: reference key %s not produced" % (ck.label, k))
        status = "ok" if not ck.failures else "FAIL"
        print("%-16s %-9s %3d tensors  worst |diff|/tol %.3g  %s" % (ck.label, m.family, ck.checked, ck.worst, status))
        for f in ck.failures:
            print("   " + f)
        total_fail += bool(ck.failures)
    return total_fail


# Keys compared in the CLI cache, per layer (if the reference produced them).
_LAYER_KEYS = ["hook_resid_pre", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k", "attn.hook_v",
               "attn.hook_rot_q", "attn.hook_rot_k", "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z",
               "attn.hook_result", "hook_attn_out",
               "hook_resid_mid", "ln2.hook_normalized", "mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_post",
               "hook_mlp_out", "hook_resid_post", "ln1.hook_scale", "ln2.hook_scale"]
_REQUIRED_LAYER = ["hook_resid_pre", "ln1.hook_normalized", "attn.hook_pattern", "hook_attn_out",
                   "hook_resid_mid", "ln2.hook_normalized", "hook_mlp_out", "hook_resid_post"]
_GLOBAL_KEYS = ["hook_embed", "hook_pos_embed", "ln_final.hook_normalized", "ln_final.hook_scale", "logits"]
_REQUIRED_GLOBAL = ["ln_final.hook_normalized", "logits"]


def compare_cache(model_dir, cache_path, rows, atol=1e-4, rtol=1e-4, label="", verbose=False):
    m = load_model(model_dir)
    got = read_safetensors(cache_path)
    ck = Checker(atol, rtol, label or os.path.basename(os.path.normpath(model_dir)))
    missing = []
    skipped = set()
    for b, ids in enumerate(rows):
        n = len(ids)
        _, c = m.forward(ids)
        keys = [(k, True) for k in _REQUIRED_GLOBAL] + [(k, False) for k in _GLOBAL_KEYS if k not in _REQUIRED_GLOBAL]
        for i in range(m.L):
            for k in _LAYER_KEYS:
                keys.append(("blocks.%d.%s" % (i, k), k in _REQUIRED_LAYER))
        for key, required in keys:
            if key not in c:
                continue
            if key not in got:
                if required and b == 0:
                    missing.append(key)
                else:
                    skipped.add(key)
                continue
            g = got[key]
            ours = c[key]
            if g.shape[0] != len(rows):
                ck.failures.append("%s %s: batch dim %d, expected %d" % (ck.label, key, g.shape[0], len(rows)))
                continue
            g = g[b]
            if key.endswith("hook_pattern") or key.endswith("hook_attn_scores"):
                if g.ndim != 3 or g.shape[1] < n or g.shape[2] < n:
                    ck.failures.append("%s %s[%d]: shape %s" % (ck.label, key, b, g.shape))
                    continue
                g = g[:, :n, :n]
                if key.endswith("hook_attn_scores"):
                    vis = np.isfinite(ours)
                    # masked entries: -inf (or a huge negative number) in the cache
                    if np.any(g[~vis] > -1e30):
                        bad = np.argwhere(~vis & (g > -1e30))[0]
                        ck.failures.append("%s %s[row %d]: masked score at %s is %g" % (
                            ck.label, key, b, bad.tolist(), g[tuple(bad)]))
                    g = np.where(vis, g, 0.0)
                    ours = np.where(vis, ours, 0.0)
                ck.check("%s[row %d]" % (key, b), g, ours)
                if g.shape[2] > n and key.endswith("hook_pattern"):
                    # real queries must not attend to padding keys
                    ck.check("%s[row %d, pad keys]" % (key, b), g[:, :n, n:], np.zeros_like(g[:, :n, n:]))
            else:
                if g.shape[0] < n:
                    ck.failures.append("%s %s[%d]: shape %s" % (ck.label, key, b, g.shape))
                    continue
                g = g[:n]
                if key.endswith("hook_scale"):
                    g = g.reshape(n, -1)
                    ours = ours.reshape(n, -1)
                    if g.shape != ours.shape:
                        skipped.add(key + " (shape %s)" % (got[key].shape,))
                        continue
                ck.check("%s[row %d]" % (key, b), g, ours)
    for k in missing:
        ck.failures.append("%s: cache has no %s" % (ck.label, k))
    # hook points the reference does not know of (e.g. a resid_mid in a parallel block)
    _, c0 = m.forward(rows[0])
    ck.extra = sorted(k for k in got if k not in c0)
    if verbose and skipped:
        print("  (not in the cache, not compared: %s)" % ", ".join(sorted(skipped)[:8]))
    return ck


# --------------------------------------------------------------------------- perturbing a checkpoint

_NP_TO_ST = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}


def _to_bf16_bits(x):
    """float -> bfloat16 bit patterns (round to nearest even)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> (dtype string, numpy array already in that dtype's bits)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, off = [], 0
    for name, (dt, arr) in tensors.items():
        b = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def perturb(model_dir, seed, norm_sd=0.2, bias_sd=0.1):
    """Give every norm weight (1-D *.weight) and every bias seeded random values, in place,
    keeping each tensor's stored dtype (arrakis init writes norms at identity and zero biases,
    which would hide a norm or bias applied wrongly)."""
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    data = read_safetensors(path)
    rng = np.random.default_rng(seed)
    out = {}
    changed = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        arr = data[name]
        is_norm = arr.ndim == 1 and name.endswith(".weight")
        is_bias = name.endswith(".bias")
        if is_norm or is_bias:
            sd = norm_sd if is_norm else bias_sd
            new = arr.astype(np.float64) + rng.normal(0.0, sd, size=arr.shape)
            changed += 1
            if dt == "BF16":
                arr = _to_bf16_bits(new)
            elif dt in ("F32", "F16", "F64"):
                arr = new.astype(_DT[dt])
            else:
                raise ValueError("cannot perturb %s of dtype %s" % (name, dt))
        elif dt == "BF16":
            arr = _to_bf16_bits(arr)
        out[name] = (dt, arr)
    write_safetensors(path, out, header.get("__metadata__"))
    return changed


def check_info(m, info_path, label):
    """Compare `arrakis info --json` with how this reference reads the same config.json."""
    with open(info_path) as f:
        info = json.load(f)
    want = {"family": m.family, "n_layers": m.L, "d_model": m.d, "n_heads": m.H, "n_kv_heads": m.KV,
            "d_head": m.hd, "d_mlp": m.inter, "d_vocab": m.vocab, "tied_embeddings": m.tied,
            "attention_window": m.window,
            "residual": "parallel" if m.parallel else "sequential"}
    if m.rot:
        want["rotary_dim"] = m.rot
        want["rope_theta"] = m.theta
    want["norm_eps"] = m.eps
    out = []
    for k, v in want.items():
        if k not in info:
            continue
        got = info[k]
        same = (abs(float(got) - float(v)) <= 1e-12 * max(1.0, abs(float(v)))) if isinstance(v, float) else got == v
        if not same:
            out.append("%s info --json: %s is %r, the reference reads %r" % (label, k, got, v))
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("selftest")
    st.add_argument("dirs", nargs="+")
    st.add_argument("--atol", type=float, default=1e-4)
    st.add_argument("--rtol", type=float, default=1e-4)
    cp = sub.add_parser("compare")
    cp.add_argument("model_dir")
    cp.add_argument("cache")
    cp.add_argument("--tokens-json", required=True)
    cp.add_argument("--atol", type=float, default=1e-4)
    cp.add_argument("--rtol", type=float, default=1e-4)
    cp.add_argument("--label", default="")
    cp.add_argument("-v", "--verbose", action="store_true")
    cp.add_argument("--info-json", help="output of `arrakis info MODEL_DIR --json`, checked against the reference's reading of the config")
    pt = sub.add_parser("perturb")
    pt.add_argument("model_dir")
    pt.add_argument("--seed", type=int, default=0)
    fw = sub.add_parser("forward")
    fw.add_argument("model_dir")
    fw.add_argument("--tokens", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "selftest":
        return 1 if selftest(a.dirs, a.atol, a.rtol) else 0
    if a.cmd == "perturb":
        n = perturb(a.model_dir, a.seed)
        print("perturbed %d norm/bias tensors" % n)
        return 0
    if a.cmd == "forward":
        m = load_model(a.model_dir)
        logits, _ = m.forward([int(t) for t in a.tokens.split(",")])
        np.set_printoptions(precision=6, suppress=True, linewidth=150)
        print(logits)
        return 0
    rows = json.loads(a.tokens_json)
    ck = compare_cache(a.model_dir, a.cache, rows, a.atol, a.rtol, a.label, a.verbose)
    if a.info_json:
        ck.failures.extend(check_info(load_model(a.model_dir), a.info_json, ck.label))
    if ck.failures:
        for f in ck.failures[:20]:
            print("  MISMATCH " + f)
        if len(ck.failures) > 20:
            print("  ... %d more" % (len(ck.failures) - 20))
        return 1
    print("  %d tensors match (worst |diff|/tol %.3g)%s" % (
        ck.checked, ck.worst, ("; not compared: " + ", ".join(ck.extra)) if ck.extra else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
