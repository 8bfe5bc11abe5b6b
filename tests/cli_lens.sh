#!/usr/bin/env bash
# arrakis lens / attribute / residual / svd against numpy references computed
# here in Python (tests/hf_reference.py's independent float64 weights and
# norms, reference.safetensors' streams), on every model folder under
# fixtures/models (discovered):
#   lens       every point's logits (tool logit_lens, "logits": true) equal
#              ln_final(reference stream) W_U^T, the last one the reference
#              logits; the command's --json target logit at the last point
#              equals the reference logit
#   attribute  --json (by layer, head, neuron, and --against): the parts plus
#              the two bias terms equal the reference logit (difference);
#              attribution_sum = logit - ln_final_bias - unembed_bias
#   residual   --json norms equal numpy norms of the reference streams; the
#              shares sum to 1
#   svd        singular values equal numpy's SVD of the materialised circuit
#              (OV and QK of the last head, MLP in / out) built from the
#              checkpoint's weights
# plus the human tables, --text and token strings on facts-llama, --tokens-file,
# --help, and error exits.  Final line: "cli_lens: N passed, M failed".
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
src=${ARK_SRC:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_lens
# Tiny models: one thread each (threads only add barrier spinning on a loaded machine).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# expect_ok NAME PATTERN CMD...: exit 0 and stdout matching PATTERN
expect_ok() {
  local name=$1 pat=$2; shift 2
  if ! "$@" >"$tmp/out" 2>"$tmp/err"; then bad "$name: exit $?"; cat "$tmp/err"; return; fi
  if ! grep -qE -- "$pat" "$tmp/out"; then bad "$name: stdout lacks /$pat/"; head -20 "$tmp/out"; return; fi
  ok
}

cat >"$tmp/check.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from st_tool import read
import hf_reference as hr

ark, model = sys.argv[1], sys.argv[2]
name = model.rstrip("/").split("/")[-1]
ref = read(model + "/reference.safetensors")
M = hr.load_model(model)
L, H, KV, hd, d, V = M.L, M.H, M.KV, M.hd, M.d, M.vocab
ids = [int(i) for i in ref["seq1.input_ids"][1]]
T = len(ids)
pre = "seq1."

def R(key):
    return ref[pre + key][1].astype(np.float64).reshape(T, -1)

def close(a, b, atol=1e-4, rtol=1e-4):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))

def report(good, what):
    print(("PASS " if good else "FAIL ") + name + ": " + what)

def run(args):
    p = subprocess.run([ark] + args, capture_output=True, text=True)
    if p.returncode != 0:
        report(False, " ".join(args[:3]) + ": exit %d: %s" % (p.returncode, p.stderr.strip()))
        return None
    return json.loads(p.stdout)

toks = ",".join(map(str, ids))
logits = R("logits")
fin = R("layers.%d.out" % (L - 1))

def lens_ref(x):
    y, _ = M._norm(x, M.lnf)
    return y @ M.unembed.T

def point_ref(label):
    if label == "final_post":
        return fin
    l, kind = label.split("_")
    return R("hidden_states.%s" % l) if kind == "pre" else R("layers.%s.resid_mid" % l)

# ---- lens: every point's logits through the tool, and the command
out = run(["tool", "logit_lens", "--params", json.dumps({"tokens": ids, "logits": True, "mid": True, "top_k": 2}), model])
if out:
    positions = out["rows"][0]["positions"]
    labels = [p["point"] for p in positions[0]["points"]]
    report(len(positions) == T and labels[-1] == "final_post" and len(labels) == (L + 1 if M.parallel else 2 * L + 1),
           "lens points %s" % labels)
    for i, lab in enumerate(labels):
        got = np.array([p["points"][i]["logits"] for p in positions])
        report(close(got, lens_ref(point_ref(lab))), "lens at %s = ln_final(stream) W_U" % lab)
    got = np.array([p["points"][-1]["logits"] for p in positions])
    report(close(got, logits), "lens final_post = reference logits")
tgt = ids[3]
out = run(["lens", model, "--tokens", toks, "--target", str(tgt), "--pos", "-1", "--json", "--top-k", "3"])
if out:
    last = out["rows"][0]["positions"][0]["points"][-1]
    row = logits[-1]
    rank = int((row > row[tgt]).sum())
    report(close(last["target"]["logit"], row[tgt]) and last["target"]["rank"] == rank,
           "lens --target logit %.5f rank %d" % (row[tgt], rank))
    report([t["id"] for t in last["top"]][0] == int(np.argmax(row)), "lens top-1 = argmax of the reference logits")

# ---- attribute: the sum rule against the reference logits
for by in ["layer", "head", "neuron"]:
    for against in [None, ids[5]]:
        args = ["attribute", model, "--tokens", toks, "--target", str(tgt), "--by", by, "--pos", "-2", "--json", "--top", "0"]
        if against is not None:
            args += ["--against", str(against)]
        out = run(args)
        if not out:
            continue
        r = out["rows"][0]
        want = logits[T - 2][tgt] - (logits[T - 2][against] if against is not None else 0)
        total = sum(p["attribution"] for p in r["parts"])
        what = "attribute by %s%s" % (by, " against" if against is not None else "")
        report(len(r["parts"]) == r["n_parts"] and close(total, r["attribution_sum"]), what + ": every part listed")
        report(close(total + r["ln_final_bias"] + r["unembed_bias"], want), what + ": parts + biases = logit")
        u = M.unembed[tgt] - (M.unembed[against] if against is not None else 0)
        nb = float(M.lnf[1] @ u) if M.lnf[1] is not None else 0.0
        report(close(r["attribution_sum"], want - nb) and close(r["ln_final_bias"], nb), what + ": sum = logit - b_final.u")
        bl = r["by_layer"]
        report(close(r["embed"] + sum(e["attn"] + e["mlp"] for e in bl), total), what + ": per-layer totals")

# ---- residual: norms of the reference streams
out = run(["residual", model, "--tokens", toks, "--mid", "--json"])
if out:
    r = out["rows"][0]
    for i, lab in enumerate(r["points"]):
        report(close(r["norm"][i], np.linalg.norm(point_ref(lab), axis=1)), "residual norm at %s" % lab)
    sh = r["shares"]
    report(close(np.sum(sh["share"], axis=0), np.ones(T), 1e-5, 0), "shares sum to 1")
    report(close(np.sum(sh["norm_share"], axis=0), np.ones(T), 1e-5, 0), "norm shares sum to 1")
    x = fin
    a0 = R("layers.0.attn_out")
    k = sh["parts"].index("0_attn_out")
    report(close(sh["share"][k], np.sum(a0 * x, axis=1) / np.sum(x * x, axis=1)), "share of 0_attn_out")

# ---- svd: singular values of the materialised circuits
def head_w(lay, key, h, heads):
    w = lay[key]  # [heads*hd, d] (out, in)
    return w[h * hd:(h + 1) * hd].T  # (d, hd)

for layer in [0, L - 1]:
    lay = M.layers[layer]
    h = H - 1
    kv = h // (H // KV)
    WO = lay["wo"][:, h * hd:(h + 1) * hd].T  # (hd, d)
    circuits = {
        "ov": head_w(lay, "wv", kv, KV) @ WO,
        "qk": head_w(lay, "wq", h, H) @ head_w(lay, "wk", kv, KV).T,
        "mlp-out": lay["w_out"].T,
    }
    w_in = lay["w_in"] if "w_in" in lay else lay["w_up"]  # (m, d): the up / linear branch
    ln2 = lay["ln2"][0] if "ln2" in lay else lay["ln1"][0]
    circuits["mlp-in"] = w_in * ((1.0 + ln2) if M.norm_kind == "gemma" else ln2)[None, :]
    for circ, mat in circuits.items():
        args = ["svd", model, "--layer", str(layer), "--circuit", circ, "--json", "--vectors", "2", "--top-k", "3"]
        if circ in ("ov", "qk"):
            args += ["--head", str(h)]
        out = run(args)
        if not out:
            continue
        S = np.linalg.svd(mat, compute_uv=False)
        r = len(out["singular_values"])
        good = close(out["singular_values"], S[:r], 1e-4, 1e-4) and (r == min(mat.shape) if circ[:3] == "mlp" else r == hd)
        report(good, "svd %s layer %d: singular values = numpy (top %.4f)" % (circ, layer, S[0]))
        d0 = out["directions"][0]
        side = d0["output" if circ == "ov" else "key" if circ == "qk" else "residual"]
        _, _, Vt = np.linalg.svd(mat)
        v = Vt[0] if np.max(Vt[0]) >= -np.min(Vt[0]) else -Vt[0]
        vals = M.unembed @ v
        report(side["top"][0]["id"] == int(np.argmax(vals)) and close(side["top"][0]["value"], vals.max()),
               "svd %s layer %d: top token of direction 0 through W_U" % (circ, layer))
PY

models=0
for dir in "$fx"/models/*/; do
  [ -f "$dir/reference.safetensors" ] || continue
  models=$((models + 1))
  while read -r line; do
    case "$line" in
      PASS*) ok ;;
      FAIL*) bad "${line#FAIL }" ;;
      *) bad "check.py: $line" ;;
    esac
  done < <($py "$tmp/check.py" "$ark" "${dir%/}" "$src/tests" 2>&1)
  # the human tables of all four commands
  m=${dir%/}
  expect_ok "lens table $(basename $m)" "final_post" $ark lens "$m" --tokens 1,2,3,4 --target 5 --mid
  expect_ok "attribute table $(basename $m)" "parts sum to" $ark attribute "$m" --tokens 1,2,3,4 --target 5 --by head
  expect_ok "residual table $(basename $m)" "\(sum\) +1\.0000" $ark residual "$m" --tokens 1,2,3,4
  expect_ok "svd table $(basename $m)" "singular values" $ark svd "$m" --layer -1 --head 0 --circuit qk
done
[ $models -gt 0 ] && ok || bad "no fixture models found under $fx/models"

# --- a tokenizer: --text and token strings ----------------------------------
facts=$fx/trained/facts-llama
if [ -f "$facts/tokenizer.json" ]; then
  expect_ok "lens --text" "Denver" $ark lens "$facts" --text "Alice Smith lives in" --pos -1 --target Denver
  expect_ok "attribute --text --target string" "minus" $ark attribute "$facts" --text "Alice Smith lives in" \
    --target Denver --against Paris --by head --top 5
  expect_ok "attribute --against-mean" "vocabulary mean" $ark attribute "$facts" --text "Alice Smith lives in" \
    --target Denver --against-mean
  expect_ok "residual --text" "final_post" $ark residual "$facts" --text "Alice Smith lives in" --pos -1
  expect_ok "svd token strings" "'" $ark svd "$facts" --layer 0 --head 1 --circuit ov --top-k 3 --vectors 1
  expect_error "lens multi-token target" "not one|tokens, not one" $ark lens "$facts" --text "Alice" --target "Alice Smith lives"
fi

# --- --tokens-file, several rows -------------------------------------------
g=$fx/models/gpt2
printf '[1, 2, 3]\n[4, 5, 6, 7, 8]\n' >"$tmp/rows.jsonl"
expect_ok "lens --tokens-file" "row 1" $ark lens "$g" --tokens-file "$tmp/rows.jsonl" --pos -1
$ark attribute "$g" --tokens-file "$tmp/rows.jsonl" --target 9 --json >"$tmp/a.json" 2>"$tmp/err" &&
  $py -c "import json,sys; d=json.load(open(sys.argv[1])); assert [r['pos'] for r in d['rows']] == [2, 4]" "$tmp/a.json" \
  && ok || bad "attribute --tokens-file: one row per line, pos -1 of each"

# --- help and errors ---------------------------------------------------------
for c in lens attribute residual svd; do
  expect_ok "$c --help" "examples:" $ark $c --help
done
expect_error "attribute without --target" "--target" $ark attribute "$g" --tokens 1,2,3
expect_error "attribute --by" "--by block" $ark attribute "$g" --tokens 1,2,3 --target 4 --by block
expect_error "attribute --pos out of range" "position 9" $ark attribute "$g" --tokens 1,2,3 --target 4 --pos 9
expect_error "attribute token out of range" "out of range" $ark attribute "$g" --tokens 1,2,3 --target 99999
expect_error "attribute against twice" "exclude" $ark attribute "$g" --tokens 1,2,3 --target 4 --against 5 --against-mean
expect_error "lens --scale" "--scale" $ark lens "$g" --tokens 1,2,3 --scale mine
expect_error "lens no input" "no input" $ark lens "$g"
expect_error "lens --text without tokenizer" "tokenizer" $ark lens "$g" --text "hello"
expect_error "lens unknown option" "unknown option" $ark lens "$g" --tokens 1 --frobnicate
expect_error "residual --layer" "\"layer\"" $ark residual "$g" --tokens 1,2 --layer 9
expect_error "svd without --head" "--head" $ark svd "$g" --layer 0 --circuit ov
expect_error "svd without --circuit" "--circuit" $ark svd "$g" --layer 0
expect_error "svd bad circuit" "circuit" $ark svd "$g" --layer 0 --circuit vo --head 0
expect_error "svd head out of range" "head 4" $ark svd "$g" --layer 0 --circuit ov --head 4
expect_error "svd layer out of range" "layer 2" $ark svd "$g" --layer 2 --circuit mlp-in
expect_error "missing model" "model|config|open" $ark lens "$tmp/nowhere" --tokens 1,2

test_end
