#!/usr/bin/env bash
# arrakis heads:
#  - on the trained induction-gpt2 fixture: --repeat-random 24 --batch 50
#    --seed 1 finds its induction and previous-token heads; on its
#    eval_ids.json (--tokens-file) the default (mean) scores equal
#    ground_truth.json's and zero-ablation effects on the second-half loss
#    agree in sign, order and value; a --custom mask equal to the induction
#    offsets gives the induction score;
#  - --method tl equals TransformerLens' head_detector formulas written here
#    in numpy (detection patterns from the tokens, "mul"/"abs", exclude_bos,
#    exclude_current_token) on patterns from `arrakis run --hooks pattern
#    --out` (padded rows of different lengths, two models);
#  - every model folder under fixtures/models (discovered) runs heads
#    (mean, tl, ablation) with [layers][heads] tables of config.json's sizes;
#  - the human grid, --help and every error path.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_heads
src=${ARK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}

ind=$fx/trained/induction-gpt2

# --- random repeated rows find the ground truth's heads ---------------------
if "$ark" heads "$ind" --repeat-random 24 --batch 50 --seed 1 --json >"$tmp/rr.json" 2>"$tmp/err"; then
  $py - "$tmp/rr.json" "$ind/ground_truth.json" <<'PY' && ok || bad "--repeat-random finds the induction and previous-token heads"
import json, sys
d, gt = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
L, H = d["layers"], d["heads"]
thr = gt["threshold"]
for det, key in [("induction", "induction_heads"), ("previous", "previous_token_heads")]:
    s = d["detectors"][det]
    assert len(s) == L and all(len(r) == H for r in s), det
    found = sorted([l, h] for l in range(L) for h in range(H) if s[l][h] > thr)
    assert found == sorted(gt[key]), (det, found, gt[key])
    assert sorted(d["above_threshold"][det]) == found
rr = d["repeat_random"]
assert rr["length"] == 24 and rr["batch"] == 50 and rr["seed"] == 1 and rr["low"] == 0 and rr["high"] == 128
assert len(d["tokens"]) == 50 and all(len(r) == 48 and r[:24] == r[24:] for r in d["tokens"])
PY
else bad "--repeat-random run"; cat "$tmp/err"; fi
# same seed, same rows; --bos prefixes them and moves the repeat by one
"$ark" heads "$ind" --repeat-random 24 --batch 50 --seed 1 --json >"$tmp/rr2.json" 2>/dev/null
cmp -s "$tmp/rr.json" "$tmp/rr2.json" && ok || bad "--seed 1 twice gives the same output"
if "$ark" heads "$ind" --repeat-random 10 --batch 3 --seed 2 --bos 7 --id-range 20,30 --json >"$tmp/bos.json" 2>"$tmp/err"; then
  $py -c "
import json,sys; d=json.load(open(sys.argv[1]))
assert d['repeat'] == {'prefix': 1, 'period': 10}, d['repeat']
assert all(r[0] == 7 and len(r) == 21 and r[1:11] == r[11:] and all(20 <= x < 30 for x in r[1:]) for r in d['tokens'])
assert d['counts']['induction'] == 3 * 10 and d['counts']['previous'] == 3 * 20
" "$tmp/bos.json" && ok || bad "--bos / --id-range rows"
else bad "--bos run"; cat "$tmp/err"; fi

# --- the evaluation set: scores and ablation against ground_truth.json -------
$py -c "
import json,sys
for r in json.load(open(sys.argv[1]))['input_ids']: print(json.dumps(r))
" "$ind/eval_ids.json" >"$tmp/eval.jsonl"
if "$ark" heads "$ind" --tokens-file "$tmp/eval.jsonl" --ablate zero --targets repeated --json >"$tmp/ev.json" 2>"$tmp/err"; then
  $py - "$tmp/ev.json" "$ind/ground_truth.json" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "eval set vs ground truth"; cat "$tmp/py.out"; }
import json, sys
d, gt = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
L, H = d["layers"], d["heads"]
for det, key in [("previous", "previous_token_score"), ("duplicate", "duplicate_token_score"), ("induction", "induction_score")]:
    for l in range(L):
        for h in range(H):
            a, b = d["detectors"][det][l][h], gt[key][l][h]
            assert abs(a - b) <= 2e-4, (det, l, h, a, b)
assert d["counts"] == {"previous": 100 * 47, "duplicate": 100 * 24, "induction": 100 * 24}, d["counts"]
ab = d["ablation"]
assert abs(ab["clean"] - gt["losses"]["second_half"]) < 1e-4, ab["clean"]
ours = [x for r in ab["effects"] for x in r]
want = [x for r in gt["zero_ablation_second_half_loss_increase"] for x in r]
assert all((a > 0) == (b > 0) for a, b in zip(ours, want)), "signs"
assert sorted(range(len(ours)), key=lambda i: -ours[i]) == sorted(range(len(want)), key=lambda i: -want[i]), "order"
assert max(abs(a - b) for a, b in zip(ours, want)) <= 2e-4, (ours, want)
print("max |effect - ground truth| = %.2g" % max(abs(a - b) for a, b in zip(ours, want)))
PY
else bad "eval set run"; cat "$tmp/err"; fi
# a custom mask of the induction offsets (i -> i-23, i >= 24) is the induction score
$py -c "
import json; n=48; m=[[1 if i >= 24 and j == i - 23 else 0 for j in range(n)] for i in range(n)]; print(json.dumps(m))" >"$tmp/mask.json"
if "$ark" heads "$ind" --tokens-file "$tmp/eval.jsonl" --custom "$tmp/mask.json" --json >"$tmp/cu.json" 2>"$tmp/err"; then
  $py -c "
import json,sys; d=json.load(open(sys.argv[1]))
a, b = d['detectors']['custom'], d['detectors']['induction']
assert all(abs(x - y) < 1e-6 for r, s in zip(a, b) for x, y in zip(r, s)), (a, b)
" "$tmp/cu.json" && ok || bad "--custom induction mask"
else bad "--custom run"; cat "$tmp/err"; fi

# --- --method tl against TransformerLens' formulas in numpy -----------------
cat >"$tmp/tl.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from st_tool import read

ark, model, _, rows_file = sys.argv[1:5]
rows = [json.loads(l) for l in open(rows_file) if l.strip()]
cache = read(sys.argv[5])

# transformer_lens/head_detector.py, get_*_detection_pattern and
# compute_head_attention_similarity_score, in numpy
def previous(tok):
    n = len(tok); d = np.zeros((n, n)); d[1:, :-1] = np.eye(n - 1); return np.tril(d)
def duplicate(tok):
    n = len(tok); t = np.tile(np.array(tok), (n, 1)); eq = np.equal(t, t.T).astype(int)
    np.fill_diagonal(eq, 0); return np.tril(eq.astype(float))
def induction(tok):
    dup = duplicate(tok); sh = np.roll(dup, 1, axis=1)
    return np.tril(np.concatenate([np.zeros((dup.shape[0], 1)), sh[:, 1:]], axis=1))
def score(a, d, exb, exc, measure):
    a = a.astype(np.float64).copy()
    if measure == "mul":
        if exb: a[:, 0] = 0
        if exc: np.fill_diagonal(a, 0)
        return (a * d).sum() / a.sum()
    ad = np.abs(a - d)
    if exb: ad[:, 0] = 0
    if exc: np.fill_diagonal(ad, 0)
    return 1 - round(ad.mean() * len(ad), 3)

fails = 0
for exb in (False, True):
    for exc in (False, True):
        for measure in ("mul", "abs"):
            args = [ark, "heads", model, "--tokens-file", rows_file, "--method", "tl", "--error-measure", measure, "--json"]
            args += ["--exclude-bos"] * exb + ["--exclude-current"] * exc
            p = subprocess.run(args, capture_output=True, text=True)
            if p.returncode:
                print("FAIL", args, p.stderr); fails += 1; continue
            d = json.loads(p.stdout)
            L, H = d["layers"], d["heads"]
            for name, fn in [("previous", previous), ("duplicate", duplicate), ("induction", induction)]:
                want = np.zeros((L, H))
                for l in range(L):
                    pat = cache["blocks.%d.attn.hook_pattern" % l][1]
                    for b, tok in enumerate(rows):
                        n = len(tok)
                        for h in range(H):
                            want[l, h] += score(pat[b, h, :n, :n], fn(tok), exb, exc, measure) / len(rows)
                got = np.array(d["detectors"][name], np.float64)
                # both sides compute in float64 from the same float32 patterns, so even
                # "abs" (rounded to 3 decimals per row) agrees to far below one rounding step
                err = np.max(np.abs(got - want))
                if not err <= 1e-6:
                    print("FAIL %s %s exb=%s exc=%s %s: max diff %.3g" % (model, name, exb, exc, measure, err)); fails += 1
sys.exit(1 if fails else 0)
PY
tl_check() { # MODEL ROWS_FILE
  local model=$1 rows=$2 targs=()
  while read -r line; do targs+=(--tokens "$(echo "$line" | tr -d '[] ')"); done <"$rows"
  if ! "$ark" run "$model" "${targs[@]}" --hooks pattern --out "$tmp/pat.safetensors" >/dev/null 2>"$tmp/err"; then
    bad "run --hooks pattern $model"; cat "$tmp/err"; return
  fi
  $py "$tmp/tl.py" "$ark" "$model" "$src/tests" "$rows" "$tmp/pat.safetensors" >"$tmp/py.out" 2>&1 && ok || { bad "tl vs numpy $model"; cat "$tmp/py.out"; }
}
{ head -2 "$tmp/eval.jsonl"; echo "[5, 9, 5, 9, 7, 7, 5, 9, 11]"; } >"$tmp/rows_ind.jsonl"
tl_check "$ind" "$tmp/rows_ind.jsonl"
facts=$fx/trained/facts-llama
if [ -f "$facts/config.json" ]; then
  printf '%s\n' "[10, 11, 12, 13, 10, 11, 12, 13, 14]" "[20, 21, 22, 20, 21]" >"$tmp/rows_facts.jsonl"
  tl_check "$facts" "$tmp/rows_facts.jsonl"
  # text input: token strings through the tokenizer, tl on one text equals tl on its ids
  "$ark" heads "$facts" --text "Gaishar Tastei lives in" --method tl --json >"$tmp/a.json" 2>"$tmp/err" || bad "--text run"
  ids=$(echo '{"text": "Gaishar Tastei lives in"}' | "$ark" tokenize "$facts" --jsonl --special 2>/dev/null |
        $py -c "import json,sys; print(','.join(map(str, json.load(sys.stdin)['ids'])))" 2>/dev/null)
  if [ -z "$ids" ]; then bad "tokenize --jsonl for the --text check"; else
    "$ark" heads "$facts" --tokens "$ids" --method tl --json >"$tmp/b.json" 2>/dev/null
    $py -c "import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); assert a['detectors']==b['detectors']" "$tmp/a.json" "$tmp/b.json" \
      && ok || bad "--text equals --tokens of its ids"
  fi
fi

# --- every fixture model -------------------------------------------------------
n_models=0
for m in "$fx"/models/*/; do
  m=${m%/}
  [ -f "$m/config.json" ] || continue
  n_models=$((n_models + 1))
  for args in "--repeat-random 8 --batch 2 --seed 3" "--repeat-random 6 --batch 2 --bos 0 --method tl --exclude-bos" \
              "--tokens 1,2,3,1,2,3 --tokens 4,5,6 --ablate zero" "--tokens 1,2,3,1,2 --detect none --ablate mean --metric logit:7@-2" \
              "--repeat-random 5 --batch 2 --ablate zero --metric logit-diff:3,4"; do
    # shellcheck disable=SC2086
    if "$ark" heads "$m" $args --json >"$tmp/m.json" 2>"$tmp/err"; then
      $py - "$tmp/m.json" "$m/config.json" <<'PY' && ok || bad "$m $args: shapes"
import json, math, sys
d, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
L = next(c[k] for k in ("num_hidden_layers", "n_layer", "num_layers") if k in c)
H = next(c[k] for k in ("num_attention_heads", "n_head", "num_heads") if k in c)
assert d["layers"] == L and d["heads"] == H, (d["layers"], d["heads"], L, H)
tables = list(d.get("detectors", {}).values()) + ([d["ablation"]["effects"]] if "ablation" in d else [])
assert tables
for t in tables:
    assert len(t) == L and all(len(r) == H for r in t)
    assert all(x is None or math.isfinite(x) for r in t for x in r)
for t in d.get("detectors", {}).values():
    assert all(x is None or -1e-6 <= x <= 1 + 1e-6 for r in t for x in r)
PY
    else bad "$m $args"; cat "$tmp/err"; fi
  done
done
[ "$n_models" -gt 0 ] && ok || bad "no fixture models found"

# --- human output --------------------------------------------------------------
if "$ark" heads "$ind" --repeat-random 24 --batch 20 --seed 1 --ablate zero >"$tmp/out" 2>"$tmp/err"; then
  grep -q "^induction: mean attention from query i to key i-23 for i in \[24, n)" "$tmp/out" && ok || { bad "human induction header"; cat "$tmp/out"; }
  grep -qE "^  L1 +0\.[0-9]{3}\* +0\.[0-9]{3}\* +0\.[0-9]{3}\* +0\.[0-9]{3} $" "$tmp/out" && ok || { bad "human grid marks L1H0-2"; cat "$tmp/out"; }
  grep -qE "^  \* >= 0.4: L1H. 0\.[0-9]+ L1H. 0\.[0-9]+ L1H. 0\.[0-9]+$" "$tmp/out" && ok || bad "human strongest heads"
  grep -q "clean loss = " "$tmp/out" && grep -q "largest |effect|: L0H0" "$tmp/out" && ok || { bad "human ablation"; cat "$tmp/out"; }
else bad "human run"; cat "$tmp/err"; fi
"$ark" heads --help >"$tmp/out" 2>&1 && grep -q "examples:" "$tmp/out" && ok || bad "--help"

# --- errors ----------------------------------------------------------------------
g=$fx/models/gpt2
expect_error "no model" "missing MODEL_DIR" "$ark" heads --tokens 1,2
expect_error "no input" "no input" "$ark" heads "$g"
expect_error "both inputs" "exclude each other" "$ark" heads "$g" --tokens 1,2 --repeat-random 4
expect_error "bad method" "--method x" "$ark" heads "$g" --tokens 1,2 --method x
expect_error "bad ablate" "--ablate half" "$ark" heads "$g" --tokens 1,2 --ablate half
expect_error "metric without ablate" "--metric needs --ablate" "$ark" heads "$g" --tokens 1,2 --metric loss
expect_error "bad metric" "--metric acc" "$ark" heads "$g" --tokens 1,2 --ablate zero --metric acc
expect_error "logit-diff one token" "TOKEN,TOKEN" "$ark" heads "$g" --tokens 1,2 --ablate zero --metric logit-diff:3
expect_error "token out of range" "token id 9999" "$ark" heads "$g" --tokens 1,2 --ablate zero --metric logit:9999
expect_error "token string without tokenizer" "no tokenizer" "$ark" heads "$g" --tokens 1,2 --ablate zero --metric logit:hello
expect_error "bad targets" "--targets x" "$ark" heads "$g" --tokens 1,2 --ablate zero --targets x
expect_error "targets out of row" "targets: position 5" "$ark" heads "$g" --tokens 1,2,3 --ablate zero --targets 5
expect_error "repeated without repeats" "targets" "$ark" heads "$g" --tokens 1,2,3 --ablate zero --targets repeated
expect_error "unknown detector" "unknown detector \"bogus\"" "$ark" heads "$g" --tokens 1,2 --detect bogus
expect_error "detect none alone" "--detect none needs --ablate" "$ark" heads "$g" --tokens 1,2 --detect none
expect_error "exclude-bos with mean" "exclude_bos" "$ark" heads "$g" --tokens 1,2 --exclude-bos
expect_error "bos without repeat" "--bos applies" "$ark" heads "$g" --tokens 1,2 --bos 1
expect_error "bad repeat" "--repeat-random -1" "$ark" heads "$g" --repeat-random -1
expect_error "bad batch" "--batch 0" "$ark" heads "$g" --repeat-random 4 --batch 0
expect_error "bad id range" "id range" "$ark" heads "$g" --repeat-random 4 --id-range 5,900
expect_error "bad id range text" "--id-range 5" "$ark" heads "$g" --repeat-random 4 --id-range 5
expect_error "bos out of range" "bos" "$ark" heads "$g" --repeat-random 4 --bos 512
expect_error "custom missing" "cannot open" "$ark" heads "$g" --tokens 1,2 --custom "$tmp/none.json"
expect_error "custom size" "custom: the mask is 48x48" "$ark" heads "$g" --tokens 1,2 --custom "$tmp/mask.json"
expect_error "tl one token" ">= 2" "$ark" heads "$g" --tokens 1 --method tl
expect_error "bad period" "--period 0" "$ark" heads "$g" --tokens 1,2 --period 0
expect_error "bad threshold" "--threshold x" "$ark" heads "$g" --tokens 1,2 --threshold x
expect_error "unknown option" "unknown option --frobnicate" "$ark" heads "$g" --tokens 1,2 --frobnicate
expect_error "token out of vocab" "out of range" "$ark" heads "$g" --tokens 1,600
expect_error "missing folder" "/nonexistent-model" "$ark" heads /nonexistent-model --tokens 1

test_end
