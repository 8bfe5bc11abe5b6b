#!/usr/bin/env bash
# Hypothesis tests inside experiment specs (`tests:`, docs/bench.md): a spec on
# the trained induction-gpt2 fixture ablates every head with per-row losses
# and tests them; the attached "hypothesis_tests" are checked in Python
# against statistics computed here by hand (Welch and paired t statistics and
# degrees of freedom, the mean difference, an exact sign-flip permutation
# p-value by enumeration), with p in (0, 1) and decisions consistent with
# alpha; the NAME.p_value metrics, `arrakis exp show`'s lines, and every bad
# `tests:` section (refused before anything runs, naming tests[i] and the
# field) or failing test (the run fails, naming tests[i] and the field).
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}/trained/induction-gpt2
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_spec_tests

if [ ! -f "$fx/config.json" ]; then echo "cli_spec_tests: fixture $fx missing: skipped"; test_end; exit; fi

# spec NAME TESTS_YAML: a spec file whose tools ablate every head with per-row losses
spec() {
  cat >"$tmp/$1.yaml" <<EOF
name: $1
model: $fx
inputs:
  repeat_random: {length: 24, batch: 8, seed: 3}
tools:
  - name: attention
    op: detect
    params: {detectors: induction}
  - name: attention
    op: ablation
    params: {targets: repeated, per_row: true}
metrics:
  clean: tools.1.result.clean
$2
EOF
}

# --- a spec with four tests --------------------------------------------------------
spec induction 'tests:
  - name: induction_head_matters
    test: ttest
    a: tools.1.result.per_row.ablated.1.0
    b: tools.1.result.per_row.clean
    paired: true
    alternative: greater
    hypothesis: "ablating L1H0 raises the loss on repeated tokens"
  - name: welch_l0h1
    test: ttest
    a: tools.1.result.per_row.ablated.0.1
    b: tools.1.result.per_row.clean
    alpha: 0.01
  - name: perm_l1h3
    test: perm
    a: tools.1.result.per_row.ablated.1.3
    b: tools.1.result.per_row.clean
    paired: true
    alternative: greater
  - name: boot_l1h2
    test: bootstrap
    a: tools.1.result.per_row.ablated.1.2
    b: tools.1.result.per_row.clean
    paired: true
    samples: 2000
    seed: 5
    method: percentile'
dir=$tmp/exp
if "$ark" exp run "$tmp/induction.yaml" --dir "$dir" --json >"$tmp/run.json" 2>"$tmp/err"; then ok; else bad "exp run: $(cat "$tmp/err")"; fi
"$ark" exp show induction --dir "$dir" --json >"$tmp/show.json" 2>"$tmp/err" || bad "exp show --json: $(cat "$tmp/err")"
$py - "$tmp/show.json" >"$tmp/check.txt" 2>&1 <<'PY'
import json, math, sys, itertools
run = json.load(open(sys.argv[1]))["runs"][0]
res, tests, metrics = run["result"], run["attachments"]["hypothesis_tests"], run["metrics"]
def get(path):
    v = res
    for s in path.split("."):
        v = v[int(s)] if isinstance(v, list) else v[s]
    return v
def check(name, cond, detail=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(detail)))
def rel(a, b):
    return abs(a - b) <= 1e-9 * max(abs(b), 1e-300)
def mean(x): return sum(x) / len(x)
def var(x):
    m = mean(x); return sum((v - m) ** 2 for v in x) / (len(x) - 1)
check("status ok", run["status"] == "ok", run.get("error"))
check("four tests attached in order", [t["name"] for t in tests] ==
      ["induction_head_matters", "welch_l0h1", "perm_l1h3", "boot_l1h2"], [t["name"] for t in tests])
pr = get("tools.1.result.per_row")
check("per_row shapes", len(pr["clean"]) == 8 and len(pr["ablated"]) == 2 and len(pr["ablated"][1]) == 4
      and len(pr["ablated"][1][0]) == 8)
pooled = sum(c * v for c, v in zip(pr["counts"], pr["clean"])) / sum(pr["counts"])
check("clean = per-row losses weighted by counts", abs(pooled - get("tools.1.result.clean")) < 1e-12)
for t in tests:
    n = t["name"]
    a, b = get(t["a"]), get(t["b"])
    check(n + " paths and samples", t["n_a"] == len(a) == 8 and t["n_b"] == len(b) == 8, (t["a"], t["b"]))
    if t["paired"]:
        d = [x - y for x, y in zip(a, b)]
        md = mean(d)
    else:
        md = mean(a) - mean(b)
    check(n + " mean_diff", rel(t["mean_diff"], md), (t["mean_diff"], md))
    check(n + " means", rel(t["mean_a"], mean(a)) and rel(t["mean_b"], mean(b)))
    if t["test"] == "paired_t":
        se = math.sqrt(var(d) / len(d)); tt = md / se; df = len(d) - 1
    elif t["test"] == "welch_t":
        va, vb = var(a) / len(a), var(b) / len(b)
        tt = md / math.sqrt(va + vb); df = (va + vb) ** 2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    if t["test"] in ("paired_t", "welch_t"):
        check(n + " t", rel(t["statistic"], tt), (t["statistic"], tt))
        check(n + " df", rel(t["df"], df), (t["df"], df))
        # the chosen alternative's p-value, and the sign of t agrees with it
        p = t["p_value"]
        check(n + " p in (0, 1)", 0 < p < 1, p)
        want = t["p_values"]["greater" if t["alternative"] == "greater" else "two-sided"]
        check(n + " p under the alternative", p == want, (p, want))
        if t["alternative"] == "greater":
            check(n + " one-sided p below 1/2 when t > 0", (p < 0.5) == (tt > 0), (p, tt))
    if t["test"] == "permutation":
        # every sign pattern, counted here: mean(s d) >= mean(d) (greater)
        tol = 1e-12 * len(d) * max(abs(x) for x in d)
        ext = sum(1 for s in itertools.product((1, -1), repeat=len(d))
                  if mean([si * di for si, di in zip(s, d)]) >= md - tol)
        check(n + " exact permutation p", t["permutation"]["exact"] and rel(t["p_value"], ext / 2 ** len(d)),
              (t["p_value"], ext / 2 ** len(d)))
        check(n + " statistic = mean diff", rel(t["statistic"], md))
    if t["test"] == "bootstrap":
        check(n + " no p-value, no metric", t["p_value"] is None and n + ".p_value" not in metrics)
        lo, hi = t["ci"]["low"], t["ci"]["high"]
        check(n + " decision follows the interval", t["reject"] == (lo > 0 or hi < 0), (lo, hi, t["reject"]))
        check(n + " options", t["bootstrap"]["resamples"] == 2000 and t["bootstrap"]["seed"] == 5
              and t["ci"]["method"] == "percentile", t["bootstrap"])
    else:
        check(n + " decision consistent with alpha", t["reject"] == (t["p_value"] <= t["alpha"])
              and t["decision"] == ("reject H0" if t["reject"] else "do not reject H0"), t["decision"])
        check(n + " metric p_value", metrics.get(n + ".p_value") == t["p_value"], metrics)
check("alpha given", tests[1]["alpha"] == 0.01 and tests[0]["alpha"] == 0.05)
check("hypothesis text", tests[0]["hypothesis"] == "ablating L1H0 raises the loss on repeated tokens"
      and tests[1]["hypothesis"] is None)
check("induction head matters", tests[0]["reject"])
PY
if grep -q '^FAIL' "$tmp/check.txt" || ! grep -q '^PASS' "$tmp/check.txt"; then bad "attached tests"; cat "$tmp/check.txt"
else pass=$((pass + $(grep -c '^PASS' "$tmp/check.txt"))); fi

# --- exp show: the tests in a short form -----------------------------------------
"$ark" exp show induction --dir "$dir" >"$tmp/show.txt" 2>"$tmp/err" || bad "exp show: $(cat "$tmp/err")"
grep -qE '^    test       induction_head_matters: paired_t  mean_a [0-9.]+  mean_b [0-9.]+  diff [0-9.]+  95% CI \[[0-9.e-]+, inf\]' "$tmp/show.txt" && ok || { bad "show: first test line"; cat "$tmp/show.txt"; }
grep -qE '^               t = [0-9.]+, df 7  p = [0-9.e-]+  \(greater, alpha 0.05\)  reject H0' "$tmp/show.txt" && ok || { bad "show: statistic line"; cat "$tmp/show.txt"; }
grep -q 'hypothesis: ablating L1H0 raises the loss on repeated tokens' "$tmp/show.txt" && ok || bad "show: hypothesis"
grep -q 'a = tools.1.result.per_row.ablated.1.0, b = tools.1.result.per_row.clean' "$tmp/show.txt" && ok || bad "show: paths"
grep -qE 'test       boot_l1h2: bootstrap \(paired\)' "$tmp/show.txt" && ok || bad "show: bootstrap"
grep -qE 'test       perm_l1h3: permutation \(paired\)' "$tmp/show.txt" && ok || bad "show: permutation"

# --- bad tests sections: refused before anything runs, naming the field ----------
refused() { # NAME PATTERN TESTS_YAML
  spec "$1" "$3"
  expect_error "$1" "$2" "$ark" exp run "$tmp/$1.yaml" --dir "$dir"
  "$ark" exp list "$1" --dir "$dir" >/dev/null 2>&1 && bad "$1: a run was logged" || ok
}
refused no_name 'tests\[0\]\.name' 'tests:
  - {test: ttest, a: tools.1.result.per_row.clean, b: tools.1.result.per_row.clean}'
refused bad_kind 'tests\[0\]\.test: expected ttest, perm or bootstrap, got "ztest"' 'tests:
  - {name: x, test: ztest, a: tools.1.result.per_row.clean, b: tools.1.result.per_row.clean}'
refused no_kind 'tests\[0\]\.test' 'tests:
  - {name: x, a: tools.1.result.per_row.clean, b: tools.1.result.per_row.clean}'
refused a_number 'tests\[1\]\.a: expected a result path' 'tests:
  - {name: x, test: ttest, a: p, b: q}
  - {name: y, test: perm, a: 3, b: tools.1.result.per_row.clean}'
refused b_missing 'tests\[0\]\.b' 'tests:
  - {name: x, test: bootstrap, a: tools.1.result.per_row.clean}'
refused duplicate 'tests\[1\]\.name: "x" is already the name of tests\[0\]' 'tests:
  - {name: x, test: ttest, a: p, b: q}
  - {name: x, test: ttest, a: p, b: q}'
refused not_list 'tests: expected a list' 'tests: {name: x}'
refused top_level_typo 'tool: unknown key \(a spec has name, description, model' 'tool: []'
refused description_list 'description: expected text' 'description: [a, b]'
refused not_mapping 'tests\[0\]: expected' 'tests: [ttest]'
refused unknown_field 'tests\[0\]\.alpah: unknown field' 'tests:
  - {name: x, test: ttest, a: p, b: q, alpah: 0.1}'
refused bad_alpha 'tests\[0\]\.alpha' 'tests:
  - {name: x, test: ttest, a: p, b: q, alpha: 1.5}'
refused bad_alt 'tests\[0\]\.alternative' 'tests:
  - {name: x, test: ttest, a: p, b: q, alternative: bigger}'
refused bad_paired 'tests\[0\]\.paired' 'tests:
  - {name: x, test: ttest, a: p, b: q, paired: yes}'
refused bad_method 'tests\[0\]\.method' 'tests:
  - {name: x, test: bootstrap, a: p, b: q, method: normal}'
refused bad_samples 'tests\[0\]\.samples' 'tests:
  - {name: x, test: perm, a: p, b: q, samples: 0}'

# --- failing tests: the run fails, naming tests[i] and the field ----------------
failed() { # NAME PATTERN TESTS_YAML
  spec "$1" "$3"
  expect_error "$1" "$2" "$ark" exp run "$tmp/$1.yaml" --dir "$dir"
  "$ark" exp show "$1" --dir "$dir" --json >"$tmp/f.json" 2>/dev/null
  $py -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; sys.exit(0 if r['status']=='failed' and sys.argv[2] in r['error'] else 1)" \
    "$tmp/f.json" "$4" && ok || bad "$1: the failed run is not logged with its error"
}
failed not_array 'tests\[0\]\.a: the result has no list of numbers at "tools.1.result.clean" \(a number\)' 'tests:
  - {name: x, test: ttest, a: tools.1.result.clean, b: tools.1.result.per_row.clean}' 'tests[0].a'
failed absent 'tests\[0\]\.b: .*"tools.1.result.per_row.nothing" \(absent\)' 'tests:
  - {name: x, test: ttest, a: tools.1.result.per_row.clean, b: tools.1.result.per_row.nothing}' 'tests[0].b'
failed not_numbers 'tests\[0\]\.a: item 0 of "tools.1.result.per_row.ablated" is a list, not a finite number' 'tests:
  - {name: x, test: perm, a: tools.1.result.per_row.ablated, b: tools.1.result.per_row.clean}' 'item 0'
failed constant 'tests\[1\] \(flat\): a, b: both samples are constant' 'tests:
  - {name: fine, test: ttest, a: tools.1.result.per_row.ablated.1.0, b: tools.1.result.per_row.clean}
  - {name: flat, test: ttest, a: tools.1.result.per_row.counts, b: tools.1.result.per_row.counts}' 'tests[1] (flat)'
# the test that ran before the failing one is still attached
$py -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; t=r['attachments']['hypothesis_tests']; sys.exit(0 if [x['name'] for x in t]==['fine'] and 'fine.p_value' in r['metrics'] else 1)" \
  "$tmp/f.json" && ok || bad "constant: the earlier test is not attached"
failed unpaired_sizes 'tests\[0\] \(x\): paired samples need equal sizes' 'tests:
  - {name: x, test: ttest, paired: true, a: tools.1.result.per_row.clean, b: tools.0.result.tokens.0}' 'equal sizes'

test_end
