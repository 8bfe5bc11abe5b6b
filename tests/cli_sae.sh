#!/usr/bin/env bash
# arrakis sae / sparsity / pca / surgery, checked from outside:
#  - sae train --activations on planted features (numpy: n unit directions,
#    sparse non-negative coefficients): TopK and ReLU+L1 recover the
#    directions (numpy cosines of W_dec rows), and the reported MSE, FVE and
#    L0 equal a numpy forward of the saved sae_weights.safetensors on the
#    activation file; cfg.json has SAELens' keys; sae eval agrees;
#  - sparsity --json on models whose chosen neurons had their input weights
#    zeroed (by arrakis surgery, and by editing a copy of a fixture's
#    safetensors in numpy) reports exactly those neurons dead, in all nine
#    families; its density/L0 equal numpy's on a cache from arrakis run;
#  - pca --json explained variance equals numpy's eigendecomposition of the
#    covariance of the same activations (a cache from arrakis run);
#  - surgery folders load and run; sae train/eval/features on a model;
#  - --help and the error paths.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_sae
src=${ARK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export PYTHONPATH="$src/tests${PYTHONPATH:+:$PYTHONPATH}"

# --- planted features -------------------------------------------------------
$py - "$tmp" <<'PY'
import sys, numpy as np, st_tool
tmp = sys.argv[1]
rng = np.random.default_rng(0)
d, n, N = 32, 48, 8000
F = rng.normal(size=(n, d)); F /= np.linalg.norm(F, axis=1, keepdims=True)
C = (rng.random((N, n)) < 2.5 / n) * (0.2 + 1.8 * rng.random((N, n)))
X = (C @ F + 0.3).astype(np.float32)
st_tool.write(f"{tmp}/acts.safetensors", {"acts": ("F32", X), "other": ("F32", X[:10])})
st_tool.write(f"{tmp}/true.safetensors", {"dirs": ("F32", F.astype(np.float32))})
PY

check_sae() { # NAME JSON SAE_DIR
  $py - "$2" "$3" "$tmp/acts.safetensors" "$tmp/true.safetensors" <<'PY'
import json, sys, numpy as np, st_tool
r = json.load(open(sys.argv[1])); sae = sys.argv[2]
w = {k: v[1].astype(np.float64) for k, v in st_tool.read(f"{sae}/sae_weights.safetensors").items()}
X = st_tool.read(sys.argv[3])["acts"][1].astype(np.float64)
F = st_tool.read(sys.argv[4])["dirs"][1].astype(np.float64)
cfg = json.load(open(f"{sae}/cfg.json"))
for k in ["d_in", "d_sae", "hook_name", "hook_layer", "architecture", "k", "dtype", "model_name"]:
    assert k in cfg, k
d_in, d_sae = cfg["d_in"], cfg["d_sae"]
assert w["W_enc"].shape == (d_in, d_sae) and w["W_dec"].shape == (d_sae, d_in)
assert w["b_enc"].shape == (d_sae,) and w["b_dec"].shape == (d_in,)
pre = (X - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
if cfg["architecture"] == "topk":
    k = cfg["k"]
    thr = -np.sort(-pre, axis=1)[:, k - 1:k]
    f = np.where(pre >= thr, np.maximum(pre, 0), 0)
else:
    f = np.maximum(pre, 0)
xh = f @ w["W_dec"] + w["b_dec"]
mse = ((xh - X) ** 2).sum(1).mean()
var = ((X - X.mean(0)) ** 2).sum(1).mean()
fve, l0 = 1 - mse / var, (f > 0).sum(1).mean()
m = r["metrics"]
assert abs(m["mse"] - mse) <= 1e-3 * mse, (m["mse"], mse)
assert abs(m["fve"] - fve) <= 1e-4, (m["fve"], fve)
assert abs(m["l0"] - l0) <= 1e-3, (m["l0"], l0)
assert abs(m["variance"] - var) <= 1e-5 * var
assert m["n_dead"] == int(((f > 0).sum(0) == 0).sum()) == len(m["dead"])
assert len(m["density"]) == d_sae
# recovery, from the saved decoder
Wd = w["W_dec"] / np.linalg.norm(w["W_dec"], axis=1, keepdims=True)
best = (F @ Wd.T).max(1)
rec = int((best > 0.9).sum())
assert rec >= 0.9 * len(F), rec
assert r["recovery"]["n_recovered"] == rec, (r["recovery"]["n_recovered"], rec)
assert np.allclose(r["recovery"]["best_cos"], best, atol=1e-5)
assert np.allclose(np.linalg.norm(w["W_dec"], axis=1), 1, atol=1e-4)
print(f"recovered {rec}/{len(F)}, fve {fve:.4f}, l0 {l0:.2f}")
PY
}

if "$ark" sae train --activations "$tmp/acts.safetensors" --key acts --d-sae 96 --k 4 --steps 1500 --batch 256 --seed 1 \
    --true-features "$tmp/true.safetensors" --out "$tmp/topk" --json >"$tmp/topk.json" 2>"$tmp/err"; then
  check_sae topk "$tmp/topk.json" "$tmp/topk" >"$tmp/py.out" 2>&1 && ok || { bad "topk SAE vs numpy"; cat "$tmp/py.out"; }
else bad "sae train --k"; cat "$tmp/err"; fi
if "$ark" sae train --activations "$tmp/acts.safetensors" --key acts --d-sae 96 --l1 1 --steps 3000 --batch 256 \
    --true-features "$tmp/true.safetensors" --out "$tmp/relu" --json >"$tmp/relu.json" 2>"$tmp/err"; then
  check_sae relu "$tmp/relu.json" "$tmp/relu" >"$tmp/py.out" 2>&1 && ok || { bad "ReLU+L1 SAE vs numpy"; cat "$tmp/py.out"; }
else bad "sae train --l1"; cat "$tmp/err"; fi
# the same seed gives the same SAE; eval reads it back with the same numbers
"$ark" sae train --activations "$tmp/acts.safetensors" --key acts --d-sae 96 --k 4 --steps 1500 --batch 256 --seed 1 \
  --out "$tmp/topk2" --json >/dev/null 2>&1
cmp -s "$tmp/topk/sae_weights.safetensors" "$tmp/topk2/sae_weights.safetensors" && ok || bad "same seed, same weights"
if "$ark" sae eval "$tmp/topk" --activations "$tmp/acts.safetensors" --key acts --json >"$tmp/ev.json" 2>"$tmp/err"; then
  $py -c "
import json,sys; a=json.load(open(sys.argv[1]))['metrics']; b=json.load(open(sys.argv[2]))['metrics']
assert all(a[k] == b[k] for k in ['mse','fve','l0','n_dead','n_dense']), (a, b)
" "$tmp/ev.json" "$tmp/topk.json" && ok || bad "sae eval = train's metrics"
else bad "sae eval --activations"; cat "$tmp/err"; fi
"$ark" sae train --activations "$tmp/acts.safetensors" --key acts --d-sae 96 --k 4 --steps 300 --batch 256 --out "$tmp/h" >"$tmp/h.txt" 2>&1 \
  && grep -q "FVE" "$tmp/h.txt" && ok || bad "sae train human output"

# --- dead neurons: zeroed input weights --------------------------------------
$py -c "
import json, random
random.seed(3)
for i in range(16): print(json.dumps({'tokens': [random.randrange(128) for _ in range(random.randrange(2, 24))]}))
" >"$tmp/data.jsonl"
for fam_dir in "$fx"/models/*/; do
  fam=$(basename "$fam_dir")
  "$ark" surgery "$fam_dir" --zero-neuron 1.3:in --zero-neuron 1.40:in --zero-neuron 0.7 --out "$tmp/z_$fam" >/dev/null 2>"$tmp/err" \
    || { bad "$fam: surgery --zero-neuron"; cat "$tmp/err"; continue; }
  if "$ark" sparsity "$tmp/z_$fam" --data "$tmp/data.jsonl" --hook blocks.1.mlp.hook_post --json >"$tmp/s.json" 2>"$tmp/err"; then
    $py -c "
import json,sys; d=json.load(open(sys.argv[1])); c=json.load(open(sys.argv[2]))
m = c.get('intermediate_size') or c.get('n_inner') or 4 * c.get('n_embd', c.get('hidden_size', 0))
assert d['dead'] == [3, 40] and d['n_dead'] == 2, d['dead']
assert d['width'] == m and len(d['density']) == m and len(d['top_examples']) == m
assert d['density'][3] == 0 and d['max_act'][3] == 0
" "$tmp/s.json" "$fam_dir/config.json" && ok || bad "$fam: dead neurons after surgery"
  else bad "$fam: sparsity"; cat "$tmp/err"; fi
done
# the same planted by editing a copy of the weights in numpy (W_in rows and biases)
for fam in gpt2 llama; do
  mkdir -p "$tmp/np_$fam"
  cp "$fx/models/$fam/config.json" "$tmp/np_$fam/"
  $py - "$fx/models/$fam/model.safetensors" "$tmp/np_$fam/model.safetensors" "$fam" <<'PY'
import sys, numpy as np, st_tool
t = st_tool.read(sys.argv[1]); out = {}
for k, (dt, a) in t.items():
    a = a.copy()
    if sys.argv[3] == "gpt2":
        if k.endswith("h.0.mlp.c_fc.weight"): a[:, [5, 77, 150]] = 0      # Conv1D [in, out]
        if k.endswith("h.0.mlp.c_fc.bias"): a[[5, 77, 150]] = 0
    elif k.endswith("layers.0.mlp.up_proj.weight"): a[[5, 77, 150], :] = 0  # nn.Linear [out, in]
    out[k] = (dt, a)
st_tool.write(sys.argv[2], out)
PY
  "$ark" sparsity "$tmp/np_$fam" --data "$tmp/data.jsonl" --hook blocks.0.mlp.hook_post --json >"$tmp/s.json" 2>"$tmp/err" \
    && $py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['dead']==[5,77,150], d['dead']" "$tmp/s.json" \
    && ok || { bad "$fam: numpy-planted dead neurons"; cat "$tmp/err"; }
done

# input weights zeroed but biases kept: a constant activation act(bias), listed as constant
mkdir -p "$tmp/npb"
cp "$fx/models/gpt2/config.json" "$tmp/npb/"
$py - "$fx/models/gpt2/model.safetensors" "$tmp/npb/model.safetensors" <<'PY'
import sys, numpy as np, st_tool
t = st_tool.read(sys.argv[1]); out = {}
for k, (dt, a) in t.items():
    a = a.copy()
    if k.endswith("h.1.mlp.c_fc.weight"): a[:, [9, 33]] = 0
    out[k] = (dt, a)
st_tool.write(sys.argv[2], out)
PY
"$ark" sparsity "$tmp/npb" --data "$tmp/data.jsonl" --hook blocks.1.mlp.hook_post --json >"$tmp/s.json" 2>"$tmp/err" \
  && $py -c "
import json,sys; d=json.load(open(sys.argv[1]))
assert d['constant'] == [9, 33] and all(d['min_act'][j] == d['max_act'][j] for j in (9, 33)), d['constant']
assert all((j in d['dead']) == (d['max_act'][j] <= 0) for j in (9, 33))
" "$tmp/s.json" && ok || { bad "weights zeroed, bias kept: constant units"; cat "$tmp/err"; }

# --- density / L0 and PCA against numpy on a cache ---------------------------
rows=$($py -c "
import random; random.seed(5)
print(' '.join('--tokens ' + ','.join(str(random.randrange(512)) for _ in range(12)) for _ in range(6)))")
$py -c "
import sys
rows=[r for r in sys.argv[1].split('--tokens ') if r.strip()]
for r in rows: print('[' + r.strip() + ']')
" "$rows" >"$tmp/eq.jsonl"
for fam in gpt2 gemma; do
  # shellcheck disable=SC2086
  "$ark" run "$fx/models/$fam" $rows --hooks blocks.1.hook_resid_post,blocks.0.mlp.hook_post --out "$tmp/cache.safetensors" >/dev/null 2>"$tmp/err" \
    || { bad "$fam: run --out"; cat "$tmp/err"; continue; }
  "$ark" pca "$fx/models/$fam" --tokens-file "$tmp/eq.jsonl" --hook blocks.1.hook_resid_post --components 8 --json >"$tmp/p.json" 2>"$tmp/err" \
    || { bad "$fam: pca"; cat "$tmp/err"; continue; }
  "$ark" sparsity "$fx/models/$fam" --tokens-file "$tmp/eq.jsonl" --hook blocks.0.mlp.hook_post --top-k 3 --json >"$tmp/s.json" 2>"$tmp/err" \
    || { bad "$fam: sparsity"; cat "$tmp/err"; continue; }
  $py - "$tmp/cache.safetensors" "$tmp/p.json" "$tmp/s.json" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "$fam: pca/sparsity vs numpy"; cat "$tmp/py.out"; }
import json, sys, numpy as np, st_tool
c = st_tool.read(sys.argv[1]); p = json.load(open(sys.argv[2])); s = json.load(open(sys.argv[3]))
X = c["blocks.1.hook_resid_post"][1].astype(np.float64).reshape(-1, c["blocks.1.hook_resid_post"][1].shape[-1])
ev = np.sort(np.linalg.eigvalsh(np.cov(X.T, bias=True)))[::-1]
ratio = ev / ev.sum()
assert p["n_tokens"] == len(X)
assert abs(p["total_variance"] - ev.sum()) <= 1e-5 * ev.sum()
assert np.allclose(p["explained_variance_ratio"], ratio[:8], atol=1e-6, rtol=1e-4), (p["explained_variance_ratio"], ratio[:8])
A = c["blocks.0.mlp.hook_post"][1].astype(np.float64).reshape(-1, c["blocks.0.mlp.hook_post"][1].shape[-1])
assert np.allclose(s["density"], (A > 0).mean(0), atol=1e-12)
assert abs(s["l0"]["mean"] - (A > 0).sum(1).mean()) < 1e-9
k = np.array([x if x is not None else np.nan for x in s["kurtosis"]])
z = A - A.mean(0); m2 = (z ** 2).mean(0); ok = m2 > 1e-12
kn = (z ** 4).mean(0)[ok] / m2[ok] ** 2 - 3
assert np.allclose(k[ok], kn, rtol=1e-4, atol=1e-4)
for j in range(A.shape[1]):  # top-3 activation values per unit
    want = np.sort(A[:, j].astype(np.float32))[::-1][:3]
    got = [e["act"] for e in s["top_examples"][j]]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6), (j, got, want)
PY
done

# --- every family: sparsity, pca and surgery run with sane shapes ------------
for fam_dir in "$fx"/models/*/; do
  fam=$(basename "$fam_dir")
  "$ark" pca "$fam_dir" --data "$tmp/data.jsonl" --hook blocks.0.hook_resid_mid --components 3 --reconstruct 4 --json >"$tmp/p.json" 2>"$tmp/err" \
    || "$ark" pca "$fam_dir" --data "$tmp/data.jsonl" --hook blocks.0.hook_resid_pre --components 3 --reconstruct 4 --json >"$tmp/p.json" 2>"$tmp/err" \
    || { bad "$fam: pca"; cat "$tmp/err"; continue; }
  $py -c "
import json,sys; p=json.load(open(sys.argv[1]))
assert len(p['variance']) == 3 and p['variance'][0] >= p['variance'][1] >= p['variance'][2] >= 0
assert 0 < p['reconstruction']['fve'] <= 1 + 1e-9 and abs(p['reconstruction']['fve'] - p['reconstruction']['fve_eigen']) < 1e-4
" "$tmp/p.json" && ok || bad "$fam: pca json"
  "$ark" surgery "$fam_dir" --delete-layer 1 --out "$tmp/d_$fam" >/dev/null 2>"$tmp/err" \
    && "$ark" info "$tmp/d_$fam" >"$tmp/info" 2>&1 && "$ark" run "$tmp/d_$fam" --tokens 1,2,3 >/dev/null 2>&1 \
    && $py -c "
import json,sys; c=json.load(open(sys.argv[1])); assert any(c.get(k) == 1 for k in ['n_layer','num_layers','num_hidden_layers']), c
" "$tmp/d_$fam/config.json" && ok || { bad "$fam: surgery --delete-layer folder"; cat "$tmp/err"; }
  "$ark" surgery "$fam_dir" --permute 0,1 --tokens 1,2,3,4 --json >"$tmp/c.json" 2>"$tmp/err" \
    && $py -c "import json,sys; c=json.load(open(sys.argv[1]))['comparison']; assert c['max_abs_logit_change'] == 0, c" "$tmp/c.json" \
    && ok || { bad "$fam: identity permutation changes nothing"; cat "$tmp/err"; }
done

# --- a model: sae train/eval/features, feature_viz, pruning -------------------
fl=$fx/trained/facts-llama
$py -c "
import json
for l in open('$fl/facts.jsonl').readlines()[:40]: print(json.dumps({'text': json.loads(l)['sentences'][0]}))
" >"$tmp/facts.jsonl"
if "$ark" sae train "$fl" --data "$tmp/facts.jsonl" --hook blocks.2.hook_resid_post --d-sae 192 --k 8 --steps 200 --batch 128 \
    --out "$tmp/fsae" --json >"$tmp/f.json" 2>"$tmp/err"; then
  $py -c "
import json,sys; r=json.load(open(sys.argv[1])); m=r['metrics']
assert r['hook_name'] == 'blocks.2.hook_resid_post' and r['d_in'] == 96
assert m['ce_clean'] < m['ce_sae'] < m['ce_ablated'] and 0 < m['ce_recovered'] <= 1
assert abs(m['ce_recovered'] - (m['ce_ablated'] - m['ce_sae']) / (m['ce_ablated'] - m['ce_clean'])) < 1e-12
c=json.load(open(sys.argv[2])); assert c['hook_name'] == 'blocks.2.hook_resid_post' and c['hook_layer'] == 2
" "$tmp/f.json" "$tmp/fsae/cfg.json" && ok || bad "sae train on a model: CE recovered"
  "$ark" sae eval "$tmp/fsae" "$fl" --data "$tmp/facts.jsonl" >"$tmp/e.txt" 2>&1 && grep -q "CE loss recovered" "$tmp/e.txt" && ok || bad "sae eval on a model"
  "$ark" sae features "$tmp/fsae" "$fl" --data "$tmp/facts.jsonl" --top 3 --json >"$tmp/ff.json" 2>"$tmp/err" \
    && $py -c "import json,sys; r=json.load(open(sys.argv[1])); assert len(r['densest']) == 3 and len(r['density']) == 192" "$tmp/ff.json" \
    && ok || { bad "sae features"; cat "$tmp/err"; }
  f=$($py -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['densest'][0]['feature'])" "$tmp/ff.json" 2>/dev/null)
  "$ark" sae features "$tmp/fsae" "$fl" --data "$tmp/facts.jsonl" --feature "${f:-0}" --k 3 --before 2 --after 1 --json >"$tmp/fe.json" 2>"$tmp/err" \
    && $py -c "
import json,sys; r=json.load(open(sys.argv[1]))['result']; ex=r['examples']
assert len(ex) == 3 and ex[0]['act'] >= ex[1]['act'] >= ex[2]['act'] > 0
for e in ex:
    i = e['pos'] - e['start']; assert abs(e['acts'][i] - e['act']) <= 1e-4 * (1 + abs(e['act'])) and len(e['tokens']) <= 4
" "$tmp/fe.json" && ok || { bad "sae features --feature"; cat "$tmp/err"; }
else bad "sae train on facts-llama"; cat "$tmp/err"; fi
"$ark" sparsity "$fl" --data "$tmp/facts.jsonl" --prune 0.2 --matrices W_in,W_out --out "$tmp/pruned" --json >"$tmp/pr.json" 2>"$tmp/err" \
  && $py -c "
import json,sys; r=json.load(open(sys.argv[1])); assert r['n_pruned'] == round(0.2 * 96 * 256) * 2 * 4 and r['n_matrices'] == 8
" "$tmp/pr.json" && "$ark" sparsity "$tmp/pruned" --data "$tmp/facts.jsonl" --prune 0 --json >"$tmp/pr2.json" 2>&1 \
  && $py -c "
import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); assert abs(a['ce_after'] - b['ce_before']) < 1e-6, (a, b)
" "$tmp/pr.json" "$tmp/pr2.json" && ok || { bad "sparsity --prune (written folder = reported loss)"; cat "$tmp/err"; }
"$ark" sparsity "$fl" --data "$tmp/facts.jsonl" --hook blocks.0.mlp.hook_post --show 3 >"$tmp/h.txt" 2>&1 \
  && grep -q "dead units" "$tmp/h.txt" && ok || bad "sparsity human table"
"$ark" tool feature_viz --op interpolate --params '{"text": "Gaishar Tastei lives in", "layer": 1, "neurons": [3, 7], "steps": 4}' "$fl" >"$tmp/iv.json" 2>"$tmp/err" \
  && $py -c "import json,sys; r=json.load(open(sys.argv[1])); assert len(r['logits']) == 4 and len(r['logits'][0]) == len(r['tokens'])" "$tmp/iv.json" \
  && ok || { bad "feature_viz interpolate"; cat "$tmp/err"; }

# --- help and errors ---------------------------------------------------------
for c in sparsity pca surgery sae; do "$ark" $c --help | grep -q "usage: arrakis $c" && ok || bad "$c --help"; done
g=$fx/models/gpt2
expect_error "sae train without --out" "--out" "$ark" sae train --activations "$tmp/acts.safetensors" --d-sae 8
expect_error "sae train --k and --l1" "not both" "$ark" sae train --activations "$tmp/acts.safetensors" --d-sae 8 --k 2 --l1 1 --out "$tmp/x"
expect_error "sae train several tensors, no key" "--key" "$ark" sae train --activations "$tmp/acts.safetensors" --d-sae 8 --out "$tmp/x"
expect_error "sae train bad key" "no tensor \"nope\"" "$ark" sae train --activations "$tmp/acts.safetensors" --key nope --d-sae 8 --out "$tmp/x"
expect_error "sae train k > d_sae" "k" "$ark" sae train --activations "$tmp/acts.safetensors" --key acts --d-sae 8 --k 9 --out "$tmp/x"
expect_error "sae unknown subcommand" "unknown subcommand" "$ark" sae fit
expect_error "sparsity unknown hook" "blocks.9" "$ark" sparsity "$g" --data "$tmp/data.jsonl" --hook blocks.9.mlp.hook_post
expect_error "sparsity no data" "no data" "$ark" sparsity "$g" --hook blocks.0.mlp.hook_post
expect_error "sparsity attention map" "attention maps" "$ark" sparsity "$g" --data "$tmp/data.jsonl" --hook blocks.0.attn.hook_pattern
expect_error "sparsity bad data line" "data.bad:2" bash -c "printf '[1,2]\n{\"x\": 1}\n' >'$tmp/data.bad'; '$ark' sparsity '$g' --data '$tmp/data.bad' --hook blocks.0.mlp.hook_post"
expect_error "pca without --hook" "--hook" "$ark" pca "$g" --data "$tmp/data.jsonl"
expect_error "pca too many components" "components" "$ark" pca "$g" --data "$tmp/data.jsonl" --hook blocks.0.hook_resid_pre --components 65
expect_error "surgery bad merge" "malformed" "$ark" surgery "$g" --merge-heads 0.1 --out "$tmp/x"
expect_error "surgery merge across layers" "same layer" "$ark" surgery "$g" --merge-heads 0.1,1.2 --out "$tmp/x"
expect_error "surgery no edits" "no edits" "$ark" surgery "$g" --out "$tmp/x"
expect_error "surgery layer out of range" "out of range" "$ark" surgery "$g" --delete-layer 5 --out "$tmp/x"
expect_error "surgery onto itself" "own folder" "$ark" surgery "$tmp/d_gpt2" --zero-head 0.0 --out "$tmp/d_gpt2"

test_end
