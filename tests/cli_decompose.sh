#!/usr/bin/env bash
# arrakis decompose: on every model folder under fixtures/models (discovered),
# `--json --vectors` parts sum to the Hugging Face residual stream of
# reference.safetensors (layers.L.out at the chosen position), each norm is
# its vector's norm, and at the last layer the attributions plus the
# excluded bias term give the reference logit (difference).  The check is
# computed here in Python from the reference file.  Also: token strings
# through a folder's tokenizer, the human table, and every error path.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
src=${ARK_SRC:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_decompose

# --- sums against the reference, every model -------------------------------
cat >"$tmp/check.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from st_tool import read

ark, model = sys.argv[1], sys.argv[2]
ref = read(model + "/reference.safetensors")
refs = json.load(open(model + "/refs.json"))
n = refs["num_layers"]
seq = max(refs["sequences"], key=lambda s: s["length"])
pre, ids = seq["key_prefix"], seq["input_ids"]
T = len(ids)
V = ref[pre + "logits"][1].shape[-1]
name = model.rstrip("/").split("/")[-1]

def close(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all(np.abs(a - b) <= 1e-4 + 1e-4 * np.abs(b))), float(np.max(np.abs(a - b)))

def report(ok, what):
    print(("PASS " if ok else "FAIL ") + name + ": " + what)

variants = [[], ["--heads"], ["--neurons"], ["--heads", "--neurons"]]
for layer in [0, -1]:
    for pos in [-1, 0, T // 2]:
        for vi, flags in enumerate(variants):
            L = layer % n
            t, t2 = (7 * (pos % T) + 11) % V, (5 * L + 3) % V
            args = [ark, "decompose", model, "--tokens", ",".join(map(str, ids)), "--layer", str(layer),
                    "--pos", str(pos), "--target", str(t), "--against", str(t2), "--json", "--vectors"] + flags
            p = subprocess.run(args, capture_output=True, text=True)
            what = "layer %d pos %d %s" % (layer, pos, " ".join(flags) or "plain")
            if p.returncode != 0:
                report(False, what + ": exit %d: %s" % (p.returncode, p.stderr.strip()))
                continue
            row = json.loads(p.stdout)["rows"][0]
            P = pos % T
            want = ref[pre + "layers.%d.out" % L][1].reshape(T, -1)[P]
            comps = row["components"]
            vecs = np.array([c["vector"] for c in comps], np.float64)
            s_ok, err = close(vecs.sum(0), want)
            report(s_ok, what + ": parts sum to layers.%d.out[%d] (max diff %.2g)" % (L, P, err))
            report(close(row["residual"], want)[0] and row["pos"] == P, what + ": residual and position")
            norms_ok = close([c["norm"] for c in comps], np.linalg.norm(vecs, axis=1))[0]
            report(norms_ok and row["sum_error"] <= 1e-4 * (1 + row["residual_norm"]), what + ": norms and sum_error")
            labels = [c["label"] for c in comps]
            report(len(set(labels)) == len(labels) and labels[0] == "embed"
                   and (("L0H0" in labels) == ("--heads" in flags)) and (("L0N0" in labels) == ("--neurons" in flags)),
                   what + ": labels")
            if L == n - 1:
                lg = ref[pre + "logits"][1].reshape(T, V)[P]
                got = sum(c["attribution"] for c in comps) + row["excluded_bias_term"]
                a_ok, err = close([got, row["logit"]], [lg[t] - lg[t2]] * 2)
                report(a_ok, what + ": attributions + excluded term = reference logit difference (diff %.2g)" % err)
PY
for m in "$fx"/models/*/; do
  m=${m%/}
  [ -f "$m/reference.safetensors" ] || continue
  $py "$tmp/check.py" "$ark" "$m" "$src/tests" >"$tmp/py.out" 2>&1
  tally "$tmp/py.out" "check.py $m" $?
done

# --- human output and JSON without vectors ----------------------------------
g=$fx/models/gpt2
if "$ark" decompose "$g" --tokens 5,6,7,8 --heads --target 12 --top 3 >"$tmp/out" 2>"$tmp/err"; then
  grep -q "blocks.1.hook_resid_post at position 3" "$tmp/out" && ok || { bad "human header"; cat "$tmp/out"; }
  [ "$(grep -cE '^ +[0-9]+  L?[0-9A-Za-z_]+ ' "$tmp/out")" -eq 3 ] && ok || bad "--top 3 shows 3 rows"
  grep -q "|sum of components - residual|" "$tmp/out" && ok || bad "human sum check"
  grep -q "model logit" "$tmp/out" && ok || bad "human logit line"
else bad "human run"; cat "$tmp/err"; fi
if "$ark" decompose "$g" --tokens 5,6,7,8 --tokens 9,10 --json >"$tmp/out" 2>"$tmp/err"; then
  $py - "$tmp/out" <<'PY' && ok || bad "json without vectors / two rows"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["rows"]
assert len(rows) == 2 and rows[0]["pos"] == 3 and rows[1]["pos"] == 1, rows
assert all("vector" not in c and "attribution" not in c and "norm" in c for c in rows[0]["components"])
assert d["hook"] == "blocks.1.hook_resid_post"
PY
else bad "json run"; cat "$tmp/err"; fi

# --- token strings through a folder's tokenizer -----------------------------
for m in "$fx"/*/*/; do
  m=${m%/}
  [ -f "$m/tokenizer.json" ] && [ -f "$m/config.json" ] || continue
  read -r tok id < <($py - "$m/tokenizer.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["model"]["vocab"]
k = sorted((i, s) for s, i in v.items() if s.isalpha() and len(s) > 2 and not s.isdigit())[0]
print(k[1], k[0])
PY
)
  "$ark" decompose "$m" --tokens 2,3,4 --target "$id" --json >"$tmp/a" 2>"$tmp/err" || bad "target id $m"
  "$ark" decompose "$m" --tokens 2,3,4 --target "$tok" --json >"$tmp/b" 2>"$tmp/err" || bad "target string $m"
  $py -c "import json,sys;a,b=(json.load(open(f))['rows'][0] for f in sys.argv[1:]);assert a['components']==b['components'] and b['target']['id']==$id" \
    "$tmp/a" "$tmp/b" && ok || bad "--target '$tok' equals --target $id ($m)"
  expect_error "not one token" "not one token" "$ark" decompose "$m" --tokens 2,3 --target "zzqx qqzx"
  break
done

# --- errors ------------------------------------------------------------------
expect_error "layer out of range" "--layer 2: the model has layers 0..1" "$ark" decompose "$g" --tokens 1,2 --layer 2
expect_error "layer too negative" "--layer -3" "$ark" decompose "$g" --tokens 1,2 --layer -3
expect_error "pos out of range" "--pos 2: the row has positions 0..1" "$ark" decompose "$g" --tokens 1,2 --pos 2
expect_error "pos too negative" "--pos -3" "$ark" decompose "$g" --tokens 1,2 --pos -3
expect_error "target id range" "--target 512: token ids are 0..511" "$ark" decompose "$g" --tokens 1,2 --target 512
expect_error "target string without tokenizer" "no tokenizer.json" "$ark" decompose "$g" --tokens 1,2 --target hello
expect_error "against alone" "--against needs --target" "$ark" decompose "$g" --tokens 1,2 --against 3
expect_error "bad integer" "--pos x: expected an integer" "$ark" decompose "$g" --tokens 1,2 --pos x
expect_error "bad top" "--top -1" "$ark" decompose "$g" --tokens 1,2 --top -1
expect_error "unknown option" "unknown option --frobnicate" "$ark" decompose "$g" --tokens 1,2 --frobnicate
expect_error "no input" "no input" "$ark" decompose "$g"
expect_error "no model" "missing MODEL_DIR" "$ark" decompose --tokens 1,2
expect_error "missing folder" "/nonexistent-model" "$ark" decompose /nonexistent-model --tokens 1
"$ark" decompose --help >"$tmp/out" 2>&1 && grep -q "examples:" "$tmp/out" && ok || bad "--help"

test_end
