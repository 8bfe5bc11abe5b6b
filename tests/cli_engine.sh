#!/usr/bin/env bash
# The engine's command line: info/run/init on real folders, --out files, and
# every error the issue lists (clear message, non-zero exit, never a crash).
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_engine
st="$py ${ARK_SRC:?}/tests/st_tool.py"

# --- working paths ---------------------------------------------------------
for m in "$fx"/models/*/; do
  m=${m%/}
  check_named "info $m" "$ark" info "$m" --json
  fam=$(basename "$m")
  grep -q "\"family\":[[:space:]]*\"$fam\"" "$tmp/out" || bad "info $m: family is not $fam"
done
check_named "info human" "$ark" info "$fx/models/gpt2"
grep -q "blocks.0.attn.hook_pattern" "$tmp/out" || bad "info lists hook points"

# run --out: logits and kept hooks equal the HF reference
ids=$($py -c "import json;print(','.join(map(str,json.load(open('$fx/models/llama/refs.json'))['sequences'][1]['input_ids'])))")
check_named "run --out" "$ark" run "$fx/models/llama" --tokens "$ids" --hooks 'blocks.*.hook_resid_post,pattern' --out "$tmp/c.safetensors"
$st keys "$tmp/c.safetensors" >"$tmp/keys"
grep -q "^logits F32 \[1, 33, 512\]" "$tmp/keys" || bad "--out logits shape"; cat "$tmp/keys" | head -3
grep -q "^blocks.1.attn.hook_pattern F32 \[1, 4, 33, 33\]" "$tmp/keys" || bad "--out pattern shape"
$st compare "$tmp/c.safetensors" logits "$fx/models/llama/reference.safetensors" seq1.logits >/dev/null && ok || bad "--out logits differ from HF"
$st compare "$tmp/c.safetensors" blocks.0.attn.hook_pattern "$fx/models/llama/reference.safetensors" seq1.attentions.0 >/dev/null && ok || bad "--out pattern differs"

check_named "run --json" "$ark" run "$fx/models/gpt2" --tokens 12,7,99 --tokens 5,6 --top-k 3 --json
[ "$($py -c "import json,sys;d=json.load(open('$tmp/out'));print(len(d['rows']),len(d['rows'][0]['top_k']))")" = "2 3" ] && ok || bad "run --json rows"

# init: every family, every dtype; info reports the dtype
for fam in gpt2 gpt_neo gpt_neox llama gemma phi3 qwen2 mistral stablelm; do
  for dt in f32 bf16; do
    check_named "init $fam $dt" "$ark" init --arch "$fam" --set vocab_size=64 --set max_position_embeddings=32 \
      --set n_positions=32 --set hidden_size=32 --set n_embd=32 --set num_hidden_layers=1 --set n_layer=1 \
      --set num_layers=1 --set num_attention_heads=4 --set num_heads=4 --set n_head=4 --set num_key_value_heads=2 \
      --set intermediate_size=64 --set head_dim=8 --set 'attention_types=[[["global"],1]]' --set attention_layers='["global"]' \
      --dtype "$dt" --out "$tmp/init-$fam-$dt"
    check_named "run init $fam" "$ark" run "$tmp/init-$fam-$dt" --tokens 1,2,3
    "$ark" info "$tmp/init-$fam-$dt" --json | grep -q "\"dtype_on_disk\":[[:space:]]*\"${dt^^}\"" && ok || bad "init $fam $dt dtype"
  done
done

# --- errors ----------------------------------------------------------------
expect_error "missing folder" "/nonexistent-model" "$ark" info /nonexistent-model
mkdir -p "$tmp/noweights" && cp "$fx/models/llama/config.json" "$tmp/noweights/"
expect_error "missing weights" "model.safetensors" "$ark" info "$tmp/noweights"
mkdir -p "$tmp/noconfig"
expect_error "missing config" "config.json" "$ark" info "$tmp/noconfig"

mkdir -p "$tmp/droptensor" && cp "$fx/models/llama/config.json" "$tmp/droptensor/"
$st drop "$fx/models/llama/model.safetensors" "$tmp/droptensor/model.safetensors" model.layers.1.self_attn.k_proj.weight
expect_error "missing tensor" "model.layers.1.self_attn.k_proj.weight.*expected \[32, 64\]" "$ark" info "$tmp/droptensor"

mkdir -p "$tmp/shape" && cp "$fx/models/llama/config.json" "$tmp/shape/"
$st reshape "$fx/models/llama/model.safetensors" "$tmp/shape/model.safetensors" model.layers.0.self_attn.q_proj.weight
expect_error "misshaped tensor" "model.layers.0.self_attn.q_proj.weight: expected \[64, 64\], got \[64, 63\]" "$ark" run "$tmp/shape" --tokens 1

mkdir -p "$tmp/badtype" && cp "$fx/models/llama/model.safetensors" "$tmp/badtype/"
sed 's/"model_type": "llama"/"model_type": "llamax"/' "$fx/models/llama/config.json" >"$tmp/badtype/config.json"
expect_error "unknown model_type" "unknown model_type \"llamax\".*gpt2, gpt_neo, gpt_neox, llama, gemma, phi3, qwen2, mistral, stablelm" "$ark" info "$tmp/badtype"

mkdir -p "$tmp/rope" && cp "$fx/models/llama/model.safetensors" "$tmp/rope/"
sed 's/"rope_scaling": null/"rope_scaling": {"rope_type": "yarn", "factor": 4.0}/' "$fx/models/llama/config.json" >"$tmp/rope/config.json"
expect_error "refused rope_scaling" "rope_scaling type \"yarn\" is not supported.*linear, llama3" "$ark" info "$tmp/rope"

expect_error "unknown hook" "unknown hook point \"blocks.0.attn.hook_patern\".*did you mean \"blocks.0.attn.hook_pattern\"" \
  "$ark" run "$fx/models/gpt2" --tokens 1,2 --hooks blocks.0.attn.hook_patern
expect_error "token out of range" "token id 512 at row 0, position 1 is out of range \(vocab size 512\)" \
  "$ark" run "$fx/models/gpt2" --tokens 1,512
expect_error "bad token list" "token ids" "$ark" run "$fx/models/gpt2" --tokens 1,x
expect_error "too long for learned positions" "exceeds the model's 128 learned positions" \
  "$ark" run "$fx/models/gpt2" --tokens "$(seq -s, 1 129)"
expect_error "unknown family" "unknown family \"gpt5\"" "$ark" init --arch gpt5 --out "$tmp/x"

# malformed safetensors
mk() { mkdir -p "$tmp/$1" && cp "$fx/models/gpt2/config.json" "$tmp/$1/"; }
mk hdrlong; $st raw "$tmp/hdrlong/model.safetensors" '{}' 0 99999
expect_error "header length beyond the file" "header length 99999 exceeds the file size" "$ark" info "$tmp/hdrlong"
mk overlap; $st raw "$tmp/overlap/model.safetensors" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
expect_error "overlapping offsets" "overlap" "$ark" info "$tmp/overlap"
mk pastend; $st raw "$tmp/pastend/model.safetensors" '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 8
expect_error "offsets past the end" "'a'.*(beyond|past|end)" "$ark" info "$tmp/pastend"
mk dtype; $st raw "$tmp/dtype/model.safetensors" '{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}' 8
expect_error "unknown dtype" "Q4" "$ark" info "$tmp/dtype"
mk trunc; head -c 5 "$fx/models/gpt2/model.safetensors" >"$tmp/trunc/model.safetensors"
expect_error "truncated file" "model.safetensors" "$ark" info "$tmp/trunc"
mk badjson; $st raw "$tmp/badjson/model.safetensors" '{"a":' 0
expect_error "bad header JSON" "JSON" "$ark" info "$tmp/badjson"

test_end
