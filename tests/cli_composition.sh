#!/usr/bin/env bash
# arrakis composition and arrakis write-read.
#
# Against an independent numpy computation from the checkpoints' own
# tensors (GPT-2 Conv1D [in, out] with fused c_attn; llama's nn.Linear
# [out, in] with grouped k/v heads):
#   - every composition score of induction-gpt2, as stored and after
#     --process fold-ln,center-writing (TransformerLens' processed weights);
#   - write-read's writers (W_O and OV shares) and readers (Q, K, V shares)
#     of a token's unembedding direction, on induction-gpt2 and llama (GQA);
#   - the information flow of a repeated sequence: attention equal to the
#     reference's attn.1, the moved norm from the reference residual hidden.1.
# Against ground_truth.json: K-composition from the previous-token heads into
# the induction heads fills the top of the list, far above the baseline; the
# induction heads move the token after the earlier copy.  Every fixture model
# (discovered) runs both commands; every error path exits non-zero with a
# message naming the flag.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
src=${ARK_SRC:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_composition
ind=$fx/trained/induction-gpt2

# --- the numpy side: heads from the checkpoints -----------------------------
cat >"$tmp/heads.py" <<'PY'
import json, os, sys
import numpy as np
sys.path.insert(0, os.environ["ARK_SRC"] + "/tests")
from st_tool import read

def heads(model, fold=False):
    """Per layer, per query head: W_Q, W_K, W_V (d, dh), W_O (dh, d), x @ W orientation, float64."""
    cfg = json.load(open(model + "/config.json"))
    w = {k: v[1].astype(np.float64) for k, v in read(model + "/model.safetensors").items()}
    out = []
    if cfg["model_type"] == "gpt2":
        d, H = cfg["n_embd"], cfg["n_head"]; dh = d // H
        for l in range(cfg["n_layer"]):
            A = w["transformer.h.%d.attn.c_attn.weight" % l]          # [d, 3d], Conv1D [in, out]
            O = w["transformer.h.%d.attn.c_proj.weight" % l]          # [d, d]
            if fold:  # TransformerLens fold_ln (ln_1 weight, centred reads) + center_writing_weights
                A = w["transformer.h.%d.ln_1.weight" % l][:, None] * A
                A = A - A.mean(0, keepdims=True)
                O = O - O.mean(1, keepdims=True)
            hs = []
            for h in range(H):
                cols = lambda part: A[:, part * d + h * dh: part * d + (h + 1) * dh]
                hs.append((cols(0), cols(1), cols(2), O[h * dh:(h + 1) * dh, :]))
            out.append(hs)
        U = w["transformer.wte.weight"].T                                 # tied [d, vocab]
    else:  # llama-style nn.Linear [out, in], grouped k/v
        d, H = cfg["hidden_size"], cfg["num_attention_heads"]
        kv = cfg.get("num_key_value_heads") or H
        dh = cfg.get("head_dim") or d // H
        for l in range(cfg["num_hidden_layers"]):
            p = "model.layers.%d.self_attn." % l
            q, k, v, o = (w[p + n + "_proj.weight"] for n in "qkvo")
            hs = []
            for h in range(H):
                g = h // (H // kv)
                hs.append((q[h * dh:(h + 1) * dh].T, k[g * dh:(g + 1) * dh].T, v[g * dh:(g + 1) * dh].T,
                           o[:, h * dh:(h + 1) * dh].T))
            out.append(hs)
        U = w["lm_head.weight"].T
    return out, U

fro = np.linalg.norm

def close(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all(np.abs(a - b) <= 1e-4 + 1e-4 * np.abs(b))), float(np.max(np.abs(a - b)))
PY

# --- composition scores against numpy, as stored and processed -------------
cat >"$tmp/comp.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[4])
from heads import heads, fro, close
ark, model, src = sys.argv[1], sys.argv[2], sys.argv[3]
for fold in (False, True):
    args = [ark, "composition", model, "--mode", "all", "--top", "0", "--baseline-samples", "50", "--json"]
    if fold: args += ["--process", "fold-ln,center-writing"]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode: print("FAIL composition exit %d: %s" % (p.returncode, p.stderr)); continue
    r = json.loads(p.stdout)
    hs, _ = heads(model, fold)
    L, H = len(hs), len(hs[0])
    for mode in "qkv":
        want = np.zeros((L, H, L, H))
        for la in range(L):
            for ha in range(H):
                qa, ka, va, oa = hs[la][ha]
                OV = va @ oa
                for lb in range(la + 1, L):
                    for hb in range(H):
                        qb, kb, vb, ob = hs[lb][hb]
                        R = {"q": qb @ kb.T, "k": kb @ qb.T, "v": vb @ ob}[mode]
                        want[la, ha, lb, hb] = fro(OV @ R) / fro(OV) / fro(R)
        got = np.array(r["modes"][mode]["scores"])
        ok, err = close(got, want)
        print(("PASS" if ok else "FAIL") + " %s %s-composition scores vs numpy (max diff %.2g)" % ("processed" if fold else "stored", mode, err))
    print(("PASS" if r["processed"] == (["fold-ln", "center-writing"] if fold else []) else "FAIL") + " processed steps reported")
    top = r["top"]
    print(("PASS" if len(top) == 3 * L * (L - 1) // 2 * H * H else "FAIL") + " --top 0 lists every pair of every mode")
PY
$py "$tmp/comp.py" "$ark" "$ind" "$src" "$tmp" >"$tmp/r" 2>&1
tally "$tmp/r" "composition numpy"

# --- K-composition of the induction circuit (ground truth) -----------------
cat >"$tmp/gt.py" <<'PY'
import json, subprocess, sys
ark, model = sys.argv[1], sys.argv[2]
gt = json.load(open(model + "/ground_truth.json"))
prev, ind = gt["previous_token_heads"], gt["induction_heads"]
n = len(prev) * len(ind)
for extra in ([], ["--process", "fold-ln,center-writing"]):
    p = subprocess.run([ark, "composition", model, "--mode", "k", "--top", str(n), "--json"] + extra, capture_output=True, text=True)
    r = json.loads(p.stdout)
    got = {(tuple(e["writer"]), tuple(e["reader"])) for e in r["top"]}
    want = {(tuple(a), tuple(b)) for a in prev for b in ind}
    print(("PASS" if got == want else "FAIL") + " top %d K pairs %s are previous-token -> induction heads %s" % (n, sorted(got), extra))
    zs = [e["z"] for e in r["top"]]
    print(("PASS" if min(zs) > 5 and min(e["ratio"] for e in r["top"]) > 1.5 else "FAIL") +
          " induction K-composition far above the baseline (min z %.1f, baseline %.4f +- %.4f)" % (min(zs), r["baseline"]["mean"], r["baseline"]["std"]))
PY
$py "$tmp/gt.py" "$ark" "$ind" >"$tmp/r" 2>&1
tally "$tmp/r" "ground truth"

# human table: the same pairs at the top, and a --pair report
"$ark" composition "$ind" --mode k --top 3 >"$tmp/out" 2>"$tmp/err" && grep -q 'baseline: Gaussian factors, 200 samples' "$tmp/out" \
  && [ "$(grep -cE '^ +[0-9]+  k +L0H[01] +L1H[012] ' "$tmp/out")" = 3 ] && ok || { bad "human composition table"; cat "$tmp/out" "$tmp/err"; }
"$ark" composition "$ind" --pair 0.1,1.0 >"$tmp/out" 2>&1 && grep -q '^pair L0H1->L1H0' "$tmp/out" \
  && grep -qE '^  qk_k ' "$tmp/out" && ok || { bad "--pair report"; cat "$tmp/out"; }
"$ark" composition "$ind" --pair 0.1,1.0 --json >"$tmp/out" 2>&1 && $py -c "
import json,sys; r=json.load(open('$tmp/out'))
assert set(r['pair']['modes']) == {'q','k','v'} and r['virtual_head']['ov']['shape'] == [64, 64]" && ok || bad "--pair --json"
# same seed, same baseline; --min-z filters
a=$("$ark" composition "$ind" --seed 4 --json | $py -c "import json,sys; print(json.load(sys.stdin)['baseline'])")
b=$("$ark" composition "$ind" --seed 4 --json | $py -c "import json,sys; print(json.load(sys.stdin)['baseline'])")
[ "$a" = "$b" ] && ok || bad "seeded baseline differs: $a / $b"
"$ark" composition "$ind" --min-z 1000 >"$tmp/out" 2>&1 && grep -q 'no pairs above --min-z' "$tmp/out" && ok || { bad "--min-z"; cat "$tmp/out"; }

# --- write-read against numpy: token directions ----------------------------
cat >"$tmp/wr.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from heads import heads, fro, close
ark, model = sys.argv[1], sys.argv[2]
name = model.rstrip("/").split("/")[-1]
hs, U = heads(model)
L, H = len(hs), len(hs[0])
for t in (3, 53):
    p = subprocess.run([ark, "write-read", model, "--direction", "token:%d" % t, "--json", "--top", "0"], capture_output=True, text=True)
    if p.returncode: print("FAIL %s write-read exit %d: %s" % (name, p.returncode, p.stderr)); continue
    r = json.loads(p.stdout)
    u = U[:, t] / fro(U[:, t])
    want = {k: np.zeros((L, H)) for k in ("wo", "ov", "q", "k", "v")}
    for l in range(L):
        for h in range(H):
            q, k, v, o = hs[l][h]
            want["wo"][l, h] = fro(o @ u) / fro(o)
            want["ov"][l, h] = fro(v @ o @ u) / fro(v @ o)
            for key, W in (("q", q), ("k", k), ("v", v)):
                want[key][l, h] = fro(u @ W) / fro(W)
    pairs = [("weights_wo", "wo"), ("weights_ov", "ov")]
    for got_key, want_key in pairs:
        ok, err = close(r["writers"][got_key], want[want_key])
        print(("PASS" if ok else "FAIL") + " %s token %d writers %s vs numpy (max diff %.2g)" % (name, t, got_key, err))
    for key in "qkv":
        ok, err = close(r["readers"][key], want[key])
        print(("PASS" if ok else "FAIL") + " %s token %d readers %s vs numpy (max diff %.2g)" % (name, t, key, err))
    top = r["writers"]["top"]
    print(("PASS" if len(top) == L * H and all(top[i]["weights_ov"] >= top[i + 1]["weights_ov"] for i in range(len(top) - 1)) else "FAIL")
          + " %s writers ranked by OV share" % name)
PY
for m in "$ind" "$fx/models/llama"; do
  $py "$tmp/wr.py" "$ark" "$m" "$tmp" >"$tmp/r" 2>&1
  tally "$tmp/r" "write-read numpy $m"
done

# --- information flow on a repeated sequence --------------------------------
cat >"$tmp/flow.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from heads import heads, fro, close
from st_tool import read
ark, model = sys.argv[1], sys.argv[2]
gt = json.load(open(model + "/ground_truth.json"))
ref = {k: v[1] for k, v in read(model + "/reference.safetensors").items()}
ids = [int(x) for x in ref["input_ids"][0]]
T = len(ids); half = T // 2
assert ids[:half] == ids[half:]
ind = {tuple(x) for x in gt["induction_heads"]}
hs, _ = heads(model)
cfg = json.load(open(model + "/config.json"))
w = {k: v[1].astype(np.float64) for k, v in read(model + "/model.safetensors").items()}
for dst in (half + 5, half + 16):
    src = dst - half + 1          # the token after the earlier copy of ids[dst]
    p = subprocess.run([ark, "write-read", model, "--direction", "token:%d" % ids[src], "--tokens", ",".join(map(str, ids)),
                        "--flow", "%d,%d" % (src, dst), "--json", "--top", "0"], capture_output=True, text=True)
    if p.returncode: print("FAIL flow exit %d: %s" % (p.returncode, p.stderr)); continue
    f = json.loads(p.stdout)["flow"]
    att = np.array(f["attention"]); moved = np.array(f["moved"]); dot = np.array(f["moved_dot"])
    ok, err = close(att[1], ref["attn.1"][0][:, dst, src])
    print(("PASS" if ok else "FAIL") + " flow %d->%d: layer-1 attention equals the reference attn.1 (max diff %.2g)" % (src, dst, err))
    # moved = | a v_src W_O |, v from the reference residual entering layer 1
    x = ref["hidden.1"][0].astype(np.float64)[src]
    xn = (x - x.mean()) / np.sqrt(x.var() + cfg["layer_norm_epsilon"]) * w["transformer.h.1.ln_1.weight"] + w["transformer.h.1.ln_1.bias"]
    d = len(x); dh = d // len(hs[1])
    bv = w["transformer.h.1.attn.c_attn.bias"][2 * d:]
    want = np.array([fro(att[1][h] * (xn @ hs[1][h][2] + bv[h * dh:(h + 1) * dh]) @ hs[1][h][3]) for h in range(len(hs[1]))])
    ok, err = close(moved[1], want)
    print(("PASS" if ok else "FAIL") + " flow %d->%d: layer-1 moved norms vs numpy (max diff %.2g)" % (src, dst, err))
    top = [tuple(e["head"]) for e in f["top"] if e["head"][0] == 1][:len(ind)]
    print(("PASS" if set(top) == ind else "FAIL") + " flow %d->%d: of layer 1, the induction heads move the most (%s)" % (src, dst, top))
    good = all(att[l][h] > 0.5 and dot[l][h] > 0 for l, h in ind)
    print(("PASS" if good else "FAIL") + " flow %d->%d: induction heads attend to it and push its token's logit up" % (src, dst))
    print(("PASS" if f["src"] == src and f["dst"] == dst and f["src_token"] == ids[src] else "FAIL") + " flow positions reported")
PY
$py "$tmp/flow.py" "$ark" "$ind" "$tmp" >"$tmp/r" 2>&1
tally "$tmp/r" "flow"

# --- every fixture model runs both commands -----------------------------------
$py - "$tmp/dir.safetensors" <<'PY'
import sys
import numpy as np
sys.path.insert(0, __import__("os").environ["ARK_SRC"] + "/tests")
from st_tool import write
rng = np.random.default_rng(0)
write(sys.argv[1], {"probe": ("F32", rng.standard_normal((2, 64)).astype(np.float32)),
                    "vec": ("F32", rng.standard_normal(64).astype(np.float32))})
PY
cat >"$tmp/sane.py" <<'PY'
import glob, json, os, sys
import numpy as np
def check(kind, r):
    L, H = r["n_layers"], r["n_heads"]
    if kind == "comp":
        for m in "qkv":
            s = np.array(r["modes"][m]["scores"])
            assert s.shape == (L, H, L, H), s.shape
            assert np.all(s >= 0) and np.all(s <= 1)
            for la in range(L):
                assert np.all(s[la, :, :la + 1, :] == 0)
        assert len(r["top"]) == 10 and r["baseline"]["std"] > 0
    else:
        for sec, keys in (("writers", ["weights_wo", "weights_ov", "cache_proj", "cache_norm"]), ("readers", "qkv"),
                          ("flow", ["attention", "moved", "moved_proj"])):
            for k in keys:
                a = np.array(r[sec][k], dtype=float)
                assert a.shape == (L, H) and np.all(np.isfinite(a)), (sec, k, a.shape)
        assert np.all(np.array(r["writers"]["weights_ov"]) <= 1 + 1e-5)
        assert np.all(np.array(r["flow"]["attention"]) >= 0) and len(r["two_hop"]["top"]) > 0
for path in sorted(glob.glob(sys.argv[1] + "/*.json")):
    name = os.path.basename(path)
    try:
        check(name.split("_")[0], json.load(open(path)))
        print("PASS " + name)
    except Exception as e:
        print("FAIL %s: %r" % (name, e))
PY
mkdir -p "$tmp/sane"
for cfg in "$fx"/models/*/config.json; do
  m=$(dirname "$cfg"); name=$(basename "$m")
  "$ark" composition "$m" --json --baseline-samples 20 >"$tmp/sane/comp_$name.json" 2>"$tmp/err" || { bad "$name: composition"; cat "$tmp/err"; }
  "$ark" composition "$m" --mode v --top 2 >"$tmp/out" 2>"$tmp/err" && ok || { bad "$name: composition table"; cat "$tmp/err"; }
  i=0
  for dir in token:3 head:0.1 "file:$tmp/dir.safetensors:probe" "file:$tmp/dir.safetensors:vec"; do
    i=$((i + 1))
    "$ark" write-read "$m" --direction "$dir" --tokens 5,9,2,5,9,2,7 --flow 1,-2 --json >"$tmp/sane/wr_${name}_$i.json" 2>"$tmp/err" \
      || { bad "$name: write-read $dir"; cat "$tmp/err"; }
  done
  "$ark" write-read "$m" --direction token:3 --tokens 5,9,2,5 --flow 0,3 >"$tmp/out" 2>"$tmp/err" \
    && grep -q '^information flow' "$tmp/out" && ok || { bad "$name: write-read table"; cat "$tmp/err"; }
done
$py "$tmp/sane.py" "$tmp/sane" >"$tmp/r" 2>&1
tally "$tmp/r" "every model"

# a token given as a string and a prompt as text, through a folder's tokenizer
facts=$fx/trained/facts-llama
id=$(echo -n " Prague" | "$ark" tokenize "$facts" | head -1 | awk '{print $2}')
"$ark" write-read "$facts" --direction "token: Prague" --text "Gaishar Tastei lives in" --flow 1,-1 --json >"$tmp/out" 2>"$tmp/err" \
  && $py -c "
import json; r = json.load(open('$tmp/out'))
assert r['direction']['token'] == $id, r['direction']
assert r['flow']['src'] == 1 and r['flow']['dst'] == len(r['tokens'][0]) - 1" && ok || { bad "token string and --text"; cat "$tmp/err"; }
expect_error "not one token" "not one" "$ark" write-read "$facts" --direction "token:Gaishar Tastei lives"

# --- errors -----------------------------------------------------------------
expect_error "no model" "missing MODEL_DIR" "$ark" composition
expect_error "bad mode" "--mode x" "$ark" composition "$ind" --mode x
expect_error "bad top" "--top -1" "$ark" composition "$ind" --top -1
expect_error "bad samples" "--baseline-samples 1" "$ark" composition "$ind" --baseline-samples 1
expect_error "min-z without baseline" "--min-z needs a baseline" "$ark" composition "$ind" --baseline-samples 0 --min-z 2
expect_error "reader before writer" '"reader": layer 0' "$ark" composition "$ind" --pair 1.0,0.1
expect_error "junk pair" "--pair" "$ark" composition "$ind" --pair 0.1
expect_error "pair head range" '"writer": head 7' "$ark" composition "$ind" --pair 0.7,1.0
expect_error "unknown option" "unknown option --frob" "$ark" composition "$ind" --frob
expect_error "bad process" "--process" "$ark" composition "$ind" --process nope
expect_error "missing folder" "not a model folder" "$ark" composition "$tmp/none"
expect_error "no direction" "missing --direction" "$ark" write-read "$ind"
expect_error "bad direction" "expected token:ID" "$ark" write-read "$ind" --direction 17
expect_error "token range" "out of range" "$ark" write-read "$ind" --direction token:128
expect_error "token string without tokenizer" "no tokenizer" "$ark" write-read "$ind" --direction token:hello
expect_error "head range" "layers 0..1 and heads 0..3" "$ark" write-read "$ind" --direction head:2.0
expect_error "file missing" "direction" "$ark" write-read "$ind" --direction "file:$tmp/none.safetensors"
expect_error "file needs a key" "name one as file:PATH:KEY" "$ark" write-read "$ind" --direction "file:$tmp/dir.safetensors"
expect_error "file key" 'no tensor named "zz"' "$ark" write-read "$ind" --direction "file:$tmp/dir.safetensors:zz"
expect_error "flow without prompt" "--flow needs a prompt" "$ark" write-read "$ind" --direction token:1 --flow 0,1
expect_error "flow order" '"flow": source 3, destination 1' "$ark" write-read "$ind" --direction token:1 --tokens 1,2,3,4 --flow 3,1
expect_error "flow junk" "--flow" "$ark" write-read "$ind" --direction token:1 --tokens 1,2,3,4 --flow 3
expect_error "flow row" '"row": 2' "$ark" write-read "$ind" --direction token:1 --tokens 1,2,3,4 --flow 0,1 --row 2
expect_error "text without tokenizer" "tokenizer" "$ark" write-read "$ind" --direction token:1 --text hello
expect_error "wr unknown option" "unknown option --zap" "$ark" write-read "$ind" --direction token:1 --zap
"$ark" composition --help >/dev/null && "$ark" write-read --help | grep -q 'examples:' && ok || bad "--help"

test_end
