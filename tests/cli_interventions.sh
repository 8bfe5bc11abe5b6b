#!/usr/bin/env bash
# Interventions through the command line, checked against independent
# computations: a zero-ablated head against the numpy reference
# (tests/hf_reference.py) on the fixture weights; patching a cache into the
# same run; patching another prompt's resid_pre of layer 0; steering;
# greedy generation against repeated full forward passes.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
src=${ARK_SRC:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_interventions

cat >"$tmp/check.py" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import hf_reference as ref
from st_tool import read

def close(a, b, atol=1e-4, rtol=1e-4):
    a = np.asarray(a, dtype=np.float64); b = np.asarray(b, dtype=np.float64).reshape(a.shape)
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b))), float(np.max(np.abs(a - b)))

cmd = sys.argv[2]
if cmd == "ablated":          # MODEL CACHE IDS LAYER HEAD
    model, cache, ids, L, H = sys.argv[3], sys.argv[4], json.loads(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    logits, _ = ref.Model(model).forward(ids, zero_heads={L: [H]})
    clean, _ = ref.Model(model).forward(ids)
    ours = read(cache)["logits"][1][0]
    good, err = close(ours, logits)
    moved = float(np.max(np.abs(logits - clean)))
    print("max |diff| %.2g (the ablation moves logits by up to %.2g)" % (err, moved))
    sys.exit(0 if good and moved > 1e-3 else 1)
if cmd == "same":             # A KEY B KEY  (bitwise up to 1e-6)
    a, b = read(sys.argv[3])[sys.argv[4]][1], read(sys.argv[5])[sys.argv[6]][1]
    good, err = close(a, b, 1e-6, 1e-6)
    sys.exit(0 if good else 1)
if cmd == "steered":          # CLEAN STEERED VEC ALPHA HOOK
    c, s = read(sys.argv[3])[sys.argv[7]][1], read(sys.argv[4])[sys.argv[7]][1]
    v = list(read(sys.argv[5]).values())[0][1]
    good, err = close(s, c + float(sys.argv[6]) * v, 1e-5, 1e-5)
    sys.exit(0 if good else 1)
if cmd == "logprobs":         # CACHE REF_FILE REF_KEY : log-softmax equal
    a = read(sys.argv[3])["logits"][1][0].astype(np.float64)
    b = read(sys.argv[4])[sys.argv[5]][1].astype(np.float64)
    ls = lambda x: x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)
    good, err = close(ls(a), ls(b))
    sys.exit(0 if good else 1)
if cmd == "vector":           # OUT N
    from st_tool import write
    n = int(sys.argv[4])
    write(sys.argv[3], {"v": ("F32", (np.arange(n, dtype=np.float32) % 7 - 3) / 4)})
PY
chk() { $py "$tmp/check.py" "$src/tests" "$@"; }

for m in "$fx"/models/*/; do
  m=${m%/}; name=$(basename "$m")
  ids=$($py -c "import json;print(','.join(map(str,json.load(open('$m/refs.json'))['sequences'][1]['input_ids'][:20])))")
  idsj="[$ids]"
  layers=$($py -c "import json;print(json.load(open('$m/refs.json'))['num_layers'])")
  L=$((layers - 1)); H=1
  # a zero-ablated head against the numpy reference
  if "$ark" run "$m" --tokens "$ids" --ablate "blocks.$L.attn.hook_z:head=$H" --out "$tmp/abl.st" >/dev/null 2>"$tmp/err" &&
     chk ablated "$m" "$tmp/abl.st" "$idsj" "$L" "$H" >"$tmp/out"; then ok; else bad "$name: ablated head"; cat "$tmp/err" "$tmp/out"; fi
  # patching every hook point from the same run's cache reproduces it
  "$ark" run "$m" --tokens "$ids" --hooks all --out "$tmp/clean.st" >/dev/null || bad "$name: clean run"
  if "$ark" run "$m" --tokens "$ids" --patch '*' --from "$tmp/clean.st" --hooks all --out "$tmp/p.st" >/dev/null 2>"$tmp/err" &&
     chk same "$tmp/p.st" logits "$tmp/clean.st" logits; then ok; else bad "$name: patch same run"; cat "$tmp/err"; fi
  # patching another prompt's resid_pre of layer 0 gives that prompt's output
  other=$($py -c "print(','.join(str((int(x)*7+3)%512) for x in '$ids'.split(',')))")
  "$ark" run "$m" --tokens "$other" --hooks blocks.0.hook_resid_pre --out "$tmp/other.st" >/dev/null
  if "$ark" run "$m" --tokens "$ids" --patch blocks.0.hook_resid_pre --from "$tmp/other.st" --out "$tmp/po.st" >/dev/null 2>"$tmp/err" &&
     chk same "$tmp/po.st" logits "$tmp/other.st" logits; then ok; else bad "$name: patch other prompt"; cat "$tmp/err"; fi
  # steering adds alpha * v where it says
  d=$($py -c "import json;print(json.load(open('$m/config.json')).get('hidden_size') or json.load(open('$m/config.json')).get('n_embd'))")
  chk vector "$tmp/v.st" "$d"
  if "$ark" run "$m" --tokens "$ids" --steer "resid_post0:$tmp/v.st:2.5" --hooks resid_post0 --out "$tmp/s.st" >/dev/null 2>"$tmp/err" &&
     chk steered "$tmp/clean.st" "$tmp/s.st" "$tmp/v.st" 2.5 blocks.0.hook_resid_post; then ok; else bad "$name: steer"; cat "$tmp/err"; fi
  # processed weights give the reference log-probabilities
  steps=fold-ln,center-unembed,fold-value-biases
  grep -q '"norm": "layernorm"' <("$ark" info "$m" --json) && steps=all
  ids1=$($py -c "import json;print(','.join(map(str,json.load(open('$m/refs.json'))['sequences'][1]['input_ids'])))")
  if "$ark" run "$m" --tokens "$ids1" --process "$steps" --out "$tmp/proc.st" >/dev/null 2>"$tmp/err" &&
     chk logprobs "$tmp/proc.st" "$m/reference.safetensors" seq1.logits; then ok; else bad "$name: --process $steps"; cat "$tmp/err"; fi
  # greedy generation with the key/value cache = argmax over repeated full forward passes
  gen=$("$ark" generate "$m" --tokens "$ids" --max-new 5 --no-stop --json | $py -c "import json,sys;print(','.join(map(str,json.load(sys.stdin)['rows'][0]['generated'])))")
  seq=$ids; want=""
  for k in 1 2 3 4 5; do
    nxt=$("$ark" run "$m" --tokens "$seq" --top-k 1 --json | $py -c "import json,sys;print(json.load(sys.stdin)['rows'][0]['top_k'][0]['id'])")
    seq="$seq,$nxt"; want="${want:+$want,}$nxt"
  done
  [ "$gen" = "$want" ] && ok || bad "$name: generate $gen vs full passes $want"
done

test_end
