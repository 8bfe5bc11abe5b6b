#!/usr/bin/env bash
# arrakis trace and arrakis patch, through the command line.
#
# trace: on facts-llama, the facts used by the reference tracing (taken
# from facts.jsonl) give the reference's tokens, subject spans, position
# kinds and clean probabilities (causal_tracing_per_fact.json), sigma as
# numpy computes it from model.safetensors, and the reference's mean
# indirect-effect table within its sampling error; on random fixture models
# (--tokens, no tokenizer) P(clean) equals the float64 numpy reference
# forward (tests/hf_reference.py).
# patch: the layer-0 resid_pre row equals, per position, the numpy
# reference's metric for the patched prompt with that one token swapped
# (the embedding is all that differs); patching every position gives the
# clean (denoising) or corrupted (noising) metric.  Plus the human tables
# and the error paths.
set -u
# Many short runs of a tiny model: one thread keeps them fast when other tests
# load the machine (OpenMP barriers spin otherwise); the checks do not depend on it.
export OMP_NUM_THREADS=1
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
src=${ARK_SRC:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_trace
facts=$fx/trained/facts-llama

# run_py NAME SCRIPT ARGS...: every line "PASS ..." / "FAIL ..." counts
run_py() {
  local name=$1; shift
  if ! "$py" "$@" >"$tmp/py.out" 2>"$tmp/py.err"; then bad "$name: python failed"; cat "$tmp/py.err" "$tmp/py.out"; return; fi
  while read -r verdict rest; do
    case $verdict in
      PASS) ok ;;
      FAIL) bad "$name: $rest" ;;
    esac
  done <"$tmp/py.out"
}

# --- trace on facts-llama against the reference ---------------------------
"$py" - "$facts" "$tmp/used.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1] + "/facts.jsonl"):
        f = json.loads(line)
        if f["used_in_causal_tracing"]:
            out.write(json.dumps({"prompt": f["canonical_prompt"], "subject": f["subject"], "answer": f["attribute"], "id": f["id"]}) + "\n")
PY
if "$ark" trace "$facts" --facts "$tmp/used.jsonl" --samples 20 --seed 3 --json >"$tmp/trace.json" 2>"$tmp/err"; then ok; else bad "trace --facts"; cat "$tmp/err"; fi

cat >"$tmp/check_trace.py" <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from st_tool import read
res = json.load(open(sys.argv[1]))
d = sys.argv[2]
gt = json.load(open(d + "/ground_truth.json"))["causal_tracing"]
per = {f["prompt"]: f for f in json.load(open(d + "/causal_tracing_per_fact.json"))}
vocab = json.load(open(d + "/vocab.json"))

def report(ok, what):
    print(("PASS " if ok else "FAIL ") + what)

facts = res["facts"]
report(len(facts) == gt["n_facts"] == res["n_facts"], "%d facts traced" % len(facts))
report(res["n_recalled"] == gt["n_facts"] - gt["n_facts_not_recalled"], "recalled %d" % res["n_recalled"])
worst_pc = 0
for f in facts:
    r = per[f["prompt"]]
    report(f["input_ids"] == r["input_ids"], f["prompt"] + ": tokens")
    report(f["subject_span"] == r["subject_span"], f["prompt"] + ": subject span")
    report(f["position_kinds"] == r["position_kinds"], f["prompt"] + ": position kinds")
    worst_pc = max(worst_pc, abs(f["p_clean"] - r["p_clean"]))
    ie = np.array(f["indirect_effect"])
    report(abs(ie[-1, -1] - f["total_effect"]) < 1e-6, f["prompt"] + ": IE(last row, last token) = total effect")
    report(np.all(np.abs(ie[:, :f["subject_span"][0]]) < 1e-5), f["prompt"] + ": no effect before the subject")
report(worst_pc < 1e-4, "P(clean) per fact within 1e-4 of the reference (worst %.2e)" % worst_pc)
# sigma: std (ddof 1) of the embedding values of the distinct subject tokens of these facts, in numpy
W = read(d + "/model.safetensors")["model.embed_tokens.weight"][1].astype(np.float64)
toks = sorted({vocab[w] for f in facts for w in f["subject"].split()})
sigma = W[toks].std(ddof=1)
report(abs(res["embedding_sigma"] - sigma) < 1e-6, "sigma %.6f vs numpy %.6f" % (res["embedding_sigma"], sigma))
report(abs(res["noise_std"] - 3 * sigma) < 3e-6, "noise = 3 sigma")
# the AIE table, within the reference's sampling error (10 noise samples)
kinds = gt["position_kinds"]
report(res["position_kinds"] == kinds and res["rows"] == gt["rows"], "the table's rows and columns are the reference's")
table = np.array(res["indirect_effect_table"], dtype=float)
diffs = np.abs(table - np.array(gt["indirect_effect_table"])).ravel()
report(all(abs(res["aie_by_kind"][k][r] - table[r][c]) < 1e-12 for r in range(len(gt["rows"])) for c, k in enumerate(kinds)), "aie_by_kind = table")
report(np.mean(diffs) < 0.02 and max(diffs) < 0.08, "AIE mean |diff| %.4f, worst %.4f" % (np.mean(diffs), max(diffs)))
report(res["facts_per_kind"] == gt["facts_per_kind"], "facts per kind")
for key in ("peak", "peak_at_subject_after_embeddings"):
    report(res[key]["row"] == gt[key]["row"] and res[key]["position_kind"] == gt[key]["position_kind"] and
           res[key]["row_name"] == gt[key]["row_name"], key)
report(res["peak_by_kind"]["subject_last"]["row"] == gt["peak_row_for_subject_last"]["row"], "subject_last peak row")
report(res["peak_by_kind"]["last_token"]["row"] == gt["peak_row_for_last_token"]["row"], "last_token peak row")
report(abs(res["mean_p_clean"] - gt["mean_p_clean"]) < 1e-4, "mean P(clean)")
report(abs(res["mean_p_corrupted"] - gt["mean_p_corrupted"]) < 0.04, "mean P(corrupted) %.4f" % res["mean_p_corrupted"])
report(abs(res["total_effect"] - gt["total_effect"]) < 0.04, "total effect %.4f" % res["total_effect"])
PY
run_py "trace facts-llama" "$tmp/check_trace.py" "$tmp/trace.json" "$facts" "$src/tests"

# human table
if "$ark" trace "$facts" --facts "$tmp/used.jsonl" --samples 3 >"$tmp/out" 2>"$tmp/err" &&
   grep -q "average indirect effect" "$tmp/out" && grep -q "block 3 output" "$tmp/out" && grep -q "subject_last" "$tmp/out" &&
   grep -q "peak: block 3 output at last_token" "$tmp/out"; then ok; else bad "trace human table"; cat "$tmp/out" "$tmp/err"; fi
if "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject "Gaishar Tastei" --answer Prague --kind mlp --window 3 >"$tmp/out" 2>"$tmp/err" &&
   grep -q "mlp 0 (layers 0..1)" "$tmp/out" && grep -q '\*Gaishar' "$tmp/out"; then ok; else bad "trace one prompt, mlp"; cat "$tmp/out" "$tmp/err"; fi
# same seed, same numbers; another seed, other numbers
"$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject "Gaishar Tastei" --answer Prague --seed 5 --json >"$tmp/a.json" 2>/dev/null
"$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject "Gaishar Tastei" --answer Prague --seed 5 --json >"$tmp/b.json" 2>/dev/null
"$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject "Gaishar Tastei" --answer 22 --seed 6 --noise 0.27 --json >"$tmp/c.json" 2>/dev/null
run_py "trace seeds" - "$tmp/a.json" "$tmp/b.json" "$tmp/c.json" <<'PY'
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
fa, fb, fc = a["facts"][0], b["facts"][0], c["facts"][0]
print(("PASS" if fa["p_restored"] == fb["p_restored"] else "FAIL") + " same seed, same trace")
print(("PASS" if fa["p_restored"] != fc["p_restored"] else "FAIL") + " other seed, other trace")
print(("PASS" if fc["answer_id"] == 22 and fc["answer"] == "Prague" and c["noise_std"] == 0.27 and c["embedding_sigma"] is None else "FAIL") + " answer by id, given noise")
PY

# --only-recalled: a fact with a wrong answer is traced but left out of the averages
printf '{"prompt":"Gaishar Tastei lives in","subject":"Gaishar Tastei","answer":"Prague"}\n{"prompt":"Gaishar Tastei lives in","subject":"Gaishar Tastei","answer":"Oslo"}\n' >"$tmp/mixed.jsonl"
"$ark" trace "$facts" --facts "$tmp/mixed.jsonl" --samples 3 --json >"$tmp/all.json" 2>/dev/null
"$ark" trace "$facts" --facts "$tmp/mixed.jsonl" --samples 3 --only-recalled --json >"$tmp/known.json" 2>/dev/null
"$py" - "$tmp/all.json" "$tmp/known.json" >"$tmp/py.out" <<'PY' || bad "only-recalled check"
import json, sys
a, k = (json.load(open(p)) for p in sys.argv[1:3])
f = a["facts"]
ok = a["n_recalled"] == 1 and a["n_facts_not_recalled"] == 1 and f[0]["recalled"] and not f[1]["recalled"]
ok = ok and abs(a["mean_p_clean"] - (f[0]["p_clean"] + f[1]["p_clean"]) / 2) < 1e-9 and abs(k["mean_p_clean"] - f[0]["p_clean"]) < 1e-9
print(("PASS" if ok else "FAIL") + " only-recalled averages over the recalled fact")
PY
grep -q FAIL "$tmp/py.out" && bad "$(cat "$tmp/py.out")" || ok
expect_error "only-recalled without facts" "goes with --facts" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Gaishar --answer Prague --only-recalled

# neuron: P before is P(clean); zero-ablating changes at most what the neuron writes
if "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --answer Prague --neuron 1.5 --scale 0 --positions -1,-2 --json >"$tmp/n.json" 2>"$tmp/err"; then ok; else bad "neuron"; cat "$tmp/err"; fi
"$py" - "$tmp/n.json" "$tmp/a.json" >"$tmp/py.out" <<'PY' || bad "neuron check"
import json, sys
n = json.load(open(sys.argv[1]))
a = json.load(open(sys.argv[2]))
r = n["results"][0]
print(("PASS" if abs(r["p_before"] - a["facts"][0]["p_clean"]) < 1e-12 else "FAIL") + " neuron p_before = p_clean")
print(("PASS" if r["positions"] == [3, 2] and n["hook"] == "blocks.1.mlp.hook_post" and abs(r["effect"] - (r["p_after"] - r["p_before"])) < 1e-12 else "FAIL") + " neuron fields")
PY
grep -q FAIL "$tmp/py.out" && bad "$(grep FAIL "$tmp/py.out")" || ok
if "$ark" trace "$facts" --facts "$tmp/used.jsonl" --neuron 2.7 --scale 2 >"$tmp/out" 2>"$tmp/err" && grep -q "mean effect" "$tmp/out"; then ok; else bad "neuron human"; cat "$tmp/out" "$tmp/err"; fi

# --- random fixture models: tokens, no tokenizer; P(clean) and patch row 0 vs numpy -----------
cat >"$tmp/check_models.py" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
import hf_reference as hf
ark, model = sys.argv[1], sys.argv[2]
name = model.rstrip("/").split("/")[-1]
m = hf.load_model(model)

def report(ok, what):
    print(("PASS " if ok else "FAIL ") + name + ": " + what)

def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()

def run(*args):
    p = subprocess.run([ark] + list(args), capture_output=True, text=True)
    if p.returncode:
        report(False, " ".join(args[:3]) + ": " + p.stderr.strip())
        return None
    return json.loads(p.stdout)

ids = [(t * 41 + 9) % 512 for t in range(9)]
tr = run("trace", model, "--tokens", ",".join(map(str, ids)), "--subject-span", "2,4", "--answer", "17", "--samples", "4", "--noise", "0.5", "--json")
if tr:
    logits, _ = m.forward(np.array(ids))
    want = softmax(logits[-1].astype(np.float64))[17]
    f = tr["facts"][0]
    report(abs(f["p_clean"] - want) <= 1e-5 + 1e-4 * want, "P(clean) %.6g vs numpy %.6g" % (f["p_clean"], want))
    report(len(tr["rows"]) == m.L + 1 and len(f["p_restored"][0]) == len(ids), "trace shape")
clean = ids
corr = list(ids)
corr[2] = (corr[2] + 7) % 512
corr[5] = (corr[5] + 100) % 512
a, b = 3, 8
def metric(seq):
    lg, _ = m.forward(np.array(seq))
    return float(lg[-1, a]) - float(lg[-1, b])
mc, mo = metric(clean), metric(corr)
for noising in (False, True):
    args = ["patch", model, "--clean-tokens", ",".join(map(str, clean)), "--corrupted-tokens", ",".join(map(str, corr)),
            "--metric", "logit-diff:%d,%d" % (a, b), "--json"] + (["--noising"] if noising else [])
    r = run(*args)
    if not r:
        continue
    tag = "noising" if noising else "denoising"
    report(abs(r["clean_metric"] - mc) <= 1e-4 + 1e-4 * abs(mc) and abs(r["corrupted_metric"] - mo) <= 1e-4 + 1e-4 * abs(mo), tag + " clean/corrupted metrics")
    base, src = (clean, corr) if noising else (corr, clean)
    worst = 0
    for p in range(len(ids)):
        seq = list(base)
        seq[p] = src[p]   # resid_pre at layer 0 = the embeddings: patching one position swaps its token
        want = metric(seq)
        worst = max(worst, abs(r["raw"][0][p] - want) / (1e-4 + 1e-4 * abs(want)))
    report(worst <= 1, tag + " resid_pre layer 0 row vs numpy (worst %.3f of tolerance)" % worst)
    report(r["shape"] == [m.L, len(ids)], tag + " shape")
    ra = run(*(args + ["--all-pos"]))
    if ra:
        report(abs(ra["normalised"][0][0] - (0.0 if noising else 1.0)) < 1e-5, tag + " all positions at layer 0 gives the %s run" % ("corrupted" if noising else "clean"))
PY
for d in "$fx"/models/*/; do
  [ -f "$d/config.json" ] || continue
  run_py "models $(basename "$d")" "$tmp/check_models.py" "$ark" "$d" "$src/tests"
done

# --- patch on facts-llama: text, tokens, human grids ----------------------
P=(--clean "Gaishar Tastei lives in" --corrupted "Bibros Bregyl lives in")
if "$ark" patch "$facts" "${P[@]}" --metric logit-diff:Prague,Oslo >"$tmp/out" 2>"$tmp/err" &&
   grep -q "resid_pre" "$tmp/out" && grep -q "0\*Gaish" "$tmp/out" && [ "$(grep -cE '^[0-3] ' "$tmp/out")" = 4 ]; then ok; else bad "patch human grid"; cat "$tmp/out" "$tmp/err"; fi
if "$ark" patch "$facts" "${P[@]}" --metric prob:Prague --what heads --by-pos >"$tmp/out" 2>"$tmp/err" &&
   grep -q "^L3H3 " "$tmp/out"; then ok; else bad "patch heads by position"; cat "$tmp/out" "$tmp/err"; fi
if "$ark" patch "$facts" "${P[@]}" --metric prob:Prague --what head-k >"$tmp/out" 2>"$tmp/err" &&
   grep -q "KV1" "$tmp/out" && ! grep -q "KV2" "$tmp/out"; then ok; else bad "patch head-k per kv head"; cat "$tmp/out" "$tmp/err"; fi
printf '[111,132,4,5]\n[95,136,4,5]\n' >"$tmp/pair.txt"
"$ark" patch "$facts" --tokens-file "$tmp/pair.txt" --metric loss --what mlp_out --json >"$tmp/p1.json" 2>"$tmp/err" || bad "patch --tokens-file"
"$ark" patch "$facts" --tokens 111,132,4,5 --tokens 95,136,4,5 --metric loss --what mlp_out --json >"$tmp/p2.json" 2>"$tmp/err" || bad "patch --tokens x2"
"$ark" patch "$facts" --text "Gaishar Tastei lives in" --text "Bibros Bregyl lives in" --metric loss --what mlp_out --json >"$tmp/p3.json" 2>"$tmp/err" || bad "patch --text x2"
"$py" - "$tmp/p1.json" "$tmp/p2.json" "$tmp/p3.json" >"$tmp/py.out" <<'PY'
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
same = a["raw"] == b["raw"] == c["raw"] and a["metric"]["kind"] == "loss"
print(("PASS" if same and a["clean_metric"] < a["corrupted_metric"] else "FAIL") + " the three input forms agree; clean loss below corrupted")
PY
grep -q FAIL "$tmp/py.out" && bad "$(cat "$tmp/py.out")" || ok

# --- errors ----------------------------------------------------------------
expect_error "lengths differ" "4 tokens.*5" "$ark" patch "$facts" --clean "Gaishar Tastei lives in" --corrupted "Gaishar Tastei works as a" --metric prob:Prague
expect_error "no metric" "--metric is required" "$ark" patch "$facts" "${P[@]}"
expect_error "bad metric kind" "unknown kind" "$ark" patch "$facts" "${P[@]}" --metric ratio:1
expect_error "logit-diff one token" "two tokens" "$ark" patch "$facts" "${P[@]}" --metric logit-diff:Prague
expect_error "metric not one token" "metric" "$ark" patch "$facts" "${P[@]}" --metric "prob:Prague Oslo"
expect_error "bad point" "not a patching point" "$ark" patch "$facts" "${P[@]}" --metric prob:Prague --what resid
expect_error "resid_mid parallel" "resid_mid.*parallel" "$ark" patch "$fx/models/gpt_neox" --clean-tokens 1,2,3 --corrupted-tokens 1,4,3 --metric prob:5 --what resid_mid
expect_error "metric position" "position 9" "$ark" patch "$facts" "${P[@]}" --metric prob:Prague --pos 9
expect_error "text without tokenizer" "tokenizer" "$ark" patch "$fx/models/gpt2" --clean "a b" --corrupted "a c" --metric prob:1
expect_error "one --text" "twice" "$ark" patch "$facts" --text "Gaishar Tastei lives in" --metric prob:Prague
expect_error "patch unknown option" "unknown option" "$ark" patch "$facts" "${P[@]}" --metric prob:Prague --frobnicate
expect_error "subject not in prompt" "subject \"Nobody\"" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Nobody --answer Prague
expect_error "no subject" "--subject is required" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --answer Prague
expect_error "no answer" "--answer is required" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Gaishar
expect_error "bad answer" "answer" "$ark" trace "$fx/models/gpt2" --tokens 1,2,3 --subject-span 0,1 --answer 9999
expect_error "bad noise" "noise" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Gaishar --answer Prague --noise loud
expect_error "bad kind" "kind" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Gaishar --answer Prague --kind heads
expect_error "bad samples" "samples" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Gaishar --answer Prague --samples 0
expect_error "missing facts file" "cannot open" "$ark" trace "$facts" --facts "$tmp/nope.jsonl"
printf '{"prompt":"Gaishar Tastei lives in","subject":"Gaishar Tastei","answer":"Prague"}\n{"prompt": 3}\n' >"$tmp/badfacts.jsonl"
expect_error "bad facts line" "badfacts.jsonl:2" "$ark" trace "$facts" --facts "$tmp/badfacts.jsonl"
expect_error "bad subject span" "subject_span" "$ark" trace "$fx/models/gpt2" --tokens 1,2,3 --subject-span 2,9 --answer 4
expect_error "bad neuron spec" "LAYER.NEURON" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --answer Prague --neuron 3
expect_error "neuron out of range" "neuron 9999" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --answer Prague --neuron 1.9999
expect_error "scale without neuron" "go with --neuron" "$ark" trace "$facts" --prompt "Gaishar Tastei lives in" --subject Gaishar --answer Prague --scale 2
expect_error "trace unknown option" "unknown option" "$ark" trace "$facts" --facts "$tmp/used.jsonl" --frobnicate
"$ark" patch --help | grep -q "logit-diff:TOKEN,TOKEN" && ok || bad "patch --help"
"$ark" trace --help | grep -q "3sigma" && ok || bad "trace --help"
"$ark" tool --list | grep -q "^causal" && "$ark" tool --list | grep -q "^patching" && ok || bad "tools listed"

test_end
