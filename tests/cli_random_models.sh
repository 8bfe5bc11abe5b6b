#!/usr/bin/env bash
# Independent cross-check of the command line against a float64 numpy reference of
# Hugging Face's forward pass (tests/hf_reference.py, written from HF's modeling and
# configuration code, not from Arrakis' sources).
#
# 1. The reference itself must reproduce every fixture with reference.safetensors
#    (shared/fixtures/models/*, shared/fixtures/trained/*) to |d| <= 1e-4 + 1e-4|ref|.
# 2. For a matrix of configurations of all nine families: `arrakis init` (wide
#    initializer_range, varied seeds and dtypes), then every norm weight and bias gets
#    seeded random values (init writes them at identity / zero, which would hide a norm
#    or bias applied wrongly), `arrakis run --hooks all --out` on two rows of different
#    lengths (the long one longer than every window), and every hook point plus the
#    logits are compared with the reference at the same tolerance (real positions only;
#    real queries must give padding keys zero probability).  `arrakis info --json` is
#    checked against the reference's reading of config.json.
#
# Env: ARK_BIN (arrakis), ARK_SRC (repo root), ARK_FIXTURES (shared fixtures), ARK_TMP.
# Prints one line per config and a final "cli_random_models: N passed, M failed";
# exits non-zero on any mismatch.  A failing config is how a bug is tracked: keep it
# in the matrix.
set -u
ark=${ARK_BIN:?set ARK_BIN to the arrakis binary}
src=${ARK_SRC:?set ARK_SRC to the repository root}
fx=${ARK_FIXTURES:-$src/../shared/fixtures}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_random_models
ref=("$py" "$src/tests/hf_reference.py")
start=$(date +%s)
failed=()

if ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "SKIP: $py has no numpy (Debian: apt-get install python3-numpy)"
  exit 77
fi

# ---------------------------------------------------------------- 1. the reference vs HF
dirs=()
for d in "$fx"/models/*/ "$fx"/trained/*/; do
  d=${d%/}
  [ -f "$d/config.json" ] && [ -f "$d/reference.safetensors" ] && dirs+=("$d")
done
if [ ${#dirs[@]} -eq 0 ]; then
  echo "FAIL: no fixtures with reference.safetensors under $fx"
  fail=$((fail + 1)); failed+=("fixtures")
else
  echo "== reference vs Hugging Face fixtures (${#dirs[@]} folders)"
  # (the selftest is a precondition, not one of the N configs; a failure counts as one)
  if ! "${ref[@]}" selftest "${dirs[@]}"; then fail=$((fail + 1)); failed+=("reference-selftest"); fi
fi

# ---------------------------------------------------------------- 2. random models
# toks SEED COUNT VOCAB: COUNT deterministic ids in [0, VOCAB), comma-separated
toks() {
  awk -v s="$1" -v n="$2" -v v="$3" 'BEGIN { x = (s * 7919 + 13) % 2147483647; for (i = 0; i < n; i++) {
    x = (x * 16807) % 2147483647; printf "%s%d", (i ? "," : ""), int(x / 1024) % v } }'
}

# cfg NAME ARCH SEED DTYPE VOCAB LEN_A LEN_B [key=value ...]
#   one batch of two rows (LEN_A ids, then LEN_B ids); whichever is shorter is padded.
#   Every key=value is passed to `arrakis init` as --set (values are JSON); every -key is
#   deleted from the config.json that init wrote, so that the config class default applies.
cfg() {
  local name=$1 arch=$2 seed=$3 dtype=$4 vocab=$5 na=$6 nb=$7
  shift 7
  local dir="$tmp/$name" sets=() drops=() kv
  for kv in "$@"; do
    case $kv in -*) drops+=("${kv#-}") ;; *) sets+=(--set "$kv") ;; esac
  done
  local ta tb
  ta=$(toks "$seed" "$na" "$vocab")
  tb=$(toks $((seed + 101)) "$nb" "$vocab")
  local msg=""
  if ! "$ark" init --arch "$arch" --set vocab_size="$vocab" "${sets[@]}" --seed "$seed" --dtype "$dtype" \
       --out "$dir" >"$tmp/log" 2>&1; then
    msg="arrakis init failed: $(tr '\n' ' ' <"$tmp/log")"
  elif [ ${#drops[@]} -gt 0 ] && ! "$py" -c 'import json, sys
p = sys.argv[1] + "/config.json"; c = json.load(open(p))
for k in sys.argv[2:]:
    if k not in c: sys.exit("config.json has no " + k)
    del c[k]
json.dump(c, open(p, "w"), indent=2)' "$dir" "${drops[@]}" >"$tmp/log" 2>&1; then
    msg="dropping config keys failed: $(tr '\n' ' ' <"$tmp/log")"
  elif ! "${ref[@]}" perturb "$dir" --seed "$seed" >"$tmp/log" 2>&1; then
    msg="perturb failed: $(tr '\n' ' ' <"$tmp/log")"
  elif ! "$ark" info "$dir" --json >"$dir/info.json" 2>"$tmp/log"; then
    msg="arrakis info failed: $(tr '\n' ' ' <"$tmp/log")"
  elif ! "$ark" run "$dir" --tokens "$ta" --tokens "$tb" --hooks 'all,blocks.*.attn.hook_result' \
       --out "$dir/cache.safetensors" \
       >"$tmp/log" 2>&1; then
    msg="arrakis run failed: $(tr '\n' ' ' <"$tmp/log")"
  elif ! "${ref[@]}" compare "$dir" "$dir/cache.safetensors" --tokens-json "[[${ta}],[${tb}]]" \
       --info-json "$dir/info.json" --label "$name" >"$tmp/log" 2>&1; then
    msg="$(cat "$tmp/log")"
  fi
  if [ -z "$msg" ]; then
    ok
    printf '  ok    %-28s %-8s %-4s %s\n' "$name" "$arch" "$dtype" "$(tr -d '\n' <"$tmp/log" | sed 's/^ *//')"
  else
    fail=$((fail + 1)); failed+=("$name")
    printf '  FAIL  %-28s %-8s %-4s set: %s\n' "$name" "$arch" "$dtype" "$*"
    printf '%s\n' "$msg" | head -25 | sed 's/^/        /'
  fi
  rm -rf "$dir"
}

echo "== random models: arrakis init -> perturb norms/biases -> arrakis run --hooks all -> compare"

# --- gpt2: Conv1D [in,out], fused c_attn, learned positions, LayerNorm with bias
cfg gpt2-base gpt2 11 f32 97 14 6 n_embd=48 n_layer=2 n_head=4 n_positions=32 initializer_range=0.15
cfg gpt2-invlayer-relu-untied gpt2 12 f32 89 17 9 n_embd=48 n_layer=3 n_head=3 n_inner=80 n_positions=24 \
  activation_function='"relu"' scale_attn_by_inverse_layer_idx=true tie_word_embeddings=false \
  layer_norm_epsilon=0.001 initializer_range=0.2
cfg gpt2-noscale-gelu gpt2 13 f32 64 5 12 n_embd=32 n_layer=1 n_head=8 n_positions=16 \
  activation_function='"gelu"' scale_attn_weights=false initializer_range=0.15
cfg gpt2-bf16 gpt2 14 bf16 80 13 7 n_embd=32 n_layer=2 n_head=2 n_positions=32 initializer_range=0.2

# --- gpt_neo: unscaled scores, local windows, q/k/v without bias
cfg neo-global-local gpt_neo 21 f32 96 15 6 hidden_size=32 num_layers=2 num_heads=4 max_position_embeddings=32 \
  'attention_types=[[["global","local"],1]]' 'attention_layers=["global","local"]' window_size=4 initializer_range=0.15
cfg neo-3layer-untied gpt_neo 22 f32 71 16 11 hidden_size=48 num_layers=3 num_heads=6 max_position_embeddings=24 \
  'attention_types=[[["local","global"],1],[["local"],1]]' 'attention_layers=["local","global","local"]' \
  window_size=5 intermediate_size=72 activation_function='"silu"' tie_word_embeddings=false \
  layer_norm_epsilon=0.0001 initializer_range=0.12
cfg neo-f16 gpt_neo 23 f16 50 9 14 hidden_size=32 num_layers=2 num_heads=2 max_position_embeddings=16 \
  'attention_types=[[["local"],2]]' 'attention_layers=["local","local"]' window_size=3 initializer_range=0.15

# --- gpt_neox: fused per-head qkv, partial rotary, parallel and sequential residual
cfg neox-parallel gpt_neox 31 f32 90 14 5 hidden_size=64 num_hidden_layers=2 num_attention_heads=4 \
  intermediate_size=128 rotary_pct=0.25 initializer_range=0.15
cfg neox-sequential-tied gpt_neox 32 f32 77 18 8 hidden_size=48 num_hidden_layers=3 num_attention_heads=2 \
  intermediate_size=96 rotary_pct=0.5 rotary_emb_base=500 use_parallel_residual=false tie_word_embeddings=true \
  hidden_act='"gelu_new"' layer_norm_eps=0.001 initializer_range=0.2
cfg neox-fullrot-nobias-linear gpt_neox 33 f32 60 7 13 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  intermediate_size=64 rotary_pct=1.0 attention_bias=false 'rope_scaling={"type":"linear","factor":2.0}' \
  initializer_range=0.2
cfg neox-rot0.3-relu gpt_neox 34 f32 55 12 4 hidden_size=64 num_hidden_layers=1 num_attention_heads=4 \
  intermediate_size=80 rotary_pct=0.3 hidden_act='"relu"' use_parallel_residual=false initializer_range=0.2

# --- llama: RMSNorm, SwiGLU, GQA / MQA, biases, head_dim, rope scaling
cfg llama-gqa llama 41 f32 100 15 6 hidden_size=48 num_hidden_layers=2 num_attention_heads=4 num_key_value_heads=2 \
  intermediate_size=96 rope_theta=50000.0 initializer_range=0.15
cfg llama-mqa-bias-linear llama 42 f32 83 16 10 hidden_size=48 num_hidden_layers=3 num_attention_heads=6 \
  num_key_value_heads=1 intermediate_size=64 attention_bias=true mlp_bias=true rms_norm_eps=1e-05 \
  'rope_scaling={"rope_type":"linear","factor":2.0}' initializer_range=0.2
cfg llama-llama3-headdim-tied llama 43 f32 70 20 9 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=2 head_dim=24 intermediate_size=48 tie_word_embeddings=true hidden_act='"relu"' \
  rope_theta=10000.0 \
  'rope_scaling={"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":16}' \
  initializer_range=0.2
cfg llama-mha-bf16 llama 44 bf16 64 11 5 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=4 intermediate_size=64 hidden_act='"gelu_new"' initializer_range=0.15
cfg llama-f16 llama 45 f16 64 6 12 hidden_size=64 num_hidden_layers=1 num_attention_heads=8 \
  num_key_value_heads=2 intermediate_size=96 rope_theta=1000.0 initializer_range=0.15

# --- gemma: (1+w) RMSNorm, sqrt(d) embedding scale, head_dim != d/heads, GeGLU
cfg gemma-mqa-hd32 gemma 51 f32 96 14 7 hidden_size=48 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=1 head_dim=32 intermediate_size=96 hidden_activation='"gelu_pytorch_tanh"' \
  initializer_range=0.15
cfg gemma-gelu-untied gemma 52 f32 80 17 9 hidden_size=64 num_hidden_layers=3 num_attention_heads=4 \
  num_key_value_heads=2 head_dim=8 intermediate_size=128 hidden_activation='"gelu"' tie_word_embeddings=false \
  rope_theta=1000.0 rms_norm_eps=1e-05 initializer_range=0.2
cfg gemma-bias-bf16 gemma 53 bf16 64 10 4 hidden_size=32 num_hidden_layers=2 num_attention_heads=2 \
  num_key_value_heads=2 head_dim=16 intermediate_size=64 attention_bias=true initializer_range=0.15

# --- phi3: fused qkv_proj and gate_up_proj, sliding_window on every layer
cfg phi3-gqa phi3 61 f32 90 13 6 hidden_size=48 num_hidden_layers=2 num_attention_heads=4 num_key_value_heads=2 \
  intermediate_size=96 initializer_range=0.15
cfg phi3-window5-mqa phi3 62 f32 75 16 8 hidden_size=48 num_hidden_layers=3 num_attention_heads=4 \
  num_key_value_heads=1 intermediate_size=64 sliding_window=5 rope_theta=20000.0 initializer_range=0.2
cfg phi3-mha-tied-f16 phi3 63 f16 60 8 12 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=4 intermediate_size=48 tie_word_embeddings=true rms_norm_eps=1e-06 initializer_range=0.15

# --- qwen2: q/k/v bias, use_sliding_window + max_window_layers
cfg qwen2-nowindow qwen2 71 f32 95 15 6 hidden_size=48 num_hidden_layers=2 num_attention_heads=6 \
  num_key_value_heads=2 intermediate_size=96 use_sliding_window=false sliding_window=4 rope_theta=1000000.0 \
  initializer_range=0.15
cfg qwen2-window-from-layer1 qwen2 72 f32 81 16 9 hidden_size=32 num_hidden_layers=3 num_attention_heads=4 \
  num_key_value_heads=2 intermediate_size=64 use_sliding_window=true sliding_window=4 max_window_layers=1 \
  initializer_range=0.2
cfg qwen2-window-all-mqa-tied qwen2 73 f32 66 14 7 hidden_size=64 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=1 intermediate_size=96 use_sliding_window=true sliding_window=6 max_window_layers=0 \
  tie_word_embeddings=true initializer_range=0.15

# --- mistral: sliding_window shorter than the input, head_dim
cfg mistral-window4 mistral 81 f32 99 15 7 hidden_size=48 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=2 intermediate_size=96 sliding_window=4 head_dim=null initializer_range=0.15
cfg mistral-hd24-window6 mistral 82 f32 72 17 10 hidden_size=48 num_hidden_layers=3 num_attention_heads=4 \
  num_key_value_heads=1 head_dim=24 intermediate_size=64 sliding_window=6 rope_theta=100000.0 initializer_range=0.2
cfg mistral-nowindow-bf16 mistral 83 bf16 64 12 5 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=2 intermediate_size=64 sliding_window=null initializer_range=0.15

# --- stablelm: LayerNorm with bias, partial rotary, qkv bias, parallel residual
cfg stablelm-qkvbias stablelm 91 f32 92 14 6 hidden_size=64 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=2 intermediate_size=128 use_qkv_bias=true partial_rotary_factor=0.25 initializer_range=0.15
cfg stablelm-parallel-mqa stablelm 92 f32 77 16 9 hidden_size=48 num_hidden_layers=3 num_attention_heads=4 \
  num_key_value_heads=1 intermediate_size=96 use_parallel_residual=true partial_rotary_factor=0.5 \
  layer_norm_eps=0.0001 initializer_range=0.2
cfg stablelm-parallel-bias-tied stablelm 93 f32 60 11 5 hidden_size=32 num_hidden_layers=2 num_attention_heads=2 \
  num_key_value_heads=2 intermediate_size=64 use_parallel_residual=true use_qkv_bias=true partial_rotary_factor=1.0 \
  tie_word_embeddings=true rope_theta=5000.0 initializer_range=0.15

# --- keys absent from config.json take the HF config class defaults (num_key_value_heads:
#     None -> num_attention_heads for llama/phi3, but 16 for gemma, 32 for qwen2 and stablelm,
#     8 for mistral; the head counts below make a wrong default a shape error)
cfg gpt2-absent-keys gpt2 101 f32 64 12 6 n_embd=32 n_layer=2 n_head=4 n_positions=16 initializer_range=0.2 \
  -n_inner -activation_function -tie_word_embeddings -scale_attn_weights -scale_attn_by_inverse_layer_idx \
  -layer_norm_epsilon
cfg neo-absent-keys gpt_neo 102 f32 64 12 6 hidden_size=32 num_layers=2 num_heads=4 max_position_embeddings=16 \
  'attention_types=[[["global","local"],1]]' window_size=3 initializer_range=0.15 \
  -intermediate_size -activation_function -tie_word_embeddings -layer_norm_epsilon
cfg neox-absent-keys gpt_neox 103 f32 64 12 6 hidden_size=64 num_hidden_layers=2 num_attention_heads=4 \
  intermediate_size=96 initializer_range=0.2 -rotary_pct -rotary_emb_base -use_parallel_residual \
  -attention_bias -tie_word_embeddings -hidden_act -layer_norm_eps -rope_scaling
cfg llama-absent-keys llama 104 f32 64 12 6 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=4 intermediate_size=64 initializer_range=0.2 -num_key_value_heads -tie_word_embeddings \
  -rope_scaling -attention_bias -mlp_bias -hidden_act -rms_norm_eps -rope_theta -head_dim
cfg gemma-absent-keys gemma 105 f32 64 12 6 hidden_size=64 num_hidden_layers=2 num_attention_heads=32 \
  num_key_value_heads=16 head_dim=8 intermediate_size=64 hidden_act='"relu"' initializer_range=0.15 \
  -num_key_value_heads -hidden_activation -tie_word_embeddings -attention_bias -rms_norm_eps
cfg phi3-absent-keys phi3 106 f32 64 12 6 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=4 intermediate_size=64 initializer_range=0.2 -num_key_value_heads -sliding_window \
  -rms_norm_eps -tie_word_embeddings -rope_scaling -partial_rotary_factor
cfg qwen2-absent-keys qwen2 107 f32 64 12 6 hidden_size=128 num_hidden_layers=2 num_attention_heads=64 \
  num_key_value_heads=32 intermediate_size=64 initializer_range=0.1 -num_key_value_heads -use_sliding_window \
  -sliding_window -max_window_layers -tie_word_embeddings -rope_theta
cfg mistral-absent-keys mistral 108 f32 64 12 6 hidden_size=64 num_hidden_layers=2 num_attention_heads=16 \
  num_key_value_heads=8 intermediate_size=64 initializer_range=0.2 -num_key_value_heads -head_dim \
  -sliding_window -tie_word_embeddings -rms_norm_eps
cfg stablelm-absent-keys stablelm 109 f32 64 12 6 hidden_size=512 num_hidden_layers=2 num_attention_heads=64 \
  num_key_value_heads=32 intermediate_size=64 initializer_range=0.05 -num_key_value_heads -partial_rotary_factor -use_qkv_bias \
  -use_parallel_residual -layer_norm_eps -tie_word_embeddings -qk_layernorm -rope_scaling

# --- semantics newer than HF 4.44 that Arrakis follows (HF >= 4.45 / current HF): phi3
#     partial_rotary_factor, qwen2 explicit head_dim and rope_scaling
cfg phi3-partial-rotary phi3 64 f32 70 13 5 hidden_size=64 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=2 intermediate_size=96 partial_rotary_factor=0.5 initializer_range=0.2
cfg qwen2-headdim-linear qwen2 74 f32 60 12 7 hidden_size=32 num_hidden_layers=2 num_attention_heads=4 \
  num_key_value_heads=2 head_dim=16 intermediate_size=64 'rope_scaling={"rope_type":"linear","factor":3.0}' \
  initializer_range=0.2

end=$(date +%s)
echo "== $((end - start)) s"
if [ $fail -ne 0 ]; then echo "failed: ${failed[*]}"; fi
test_end
