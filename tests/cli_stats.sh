#!/usr/bin/env bash
# arrakis stats: `--json` values against values computed here in Python —
# means and variances with the standard library's statistics module, the t
# distribution through its own regularized incomplete beta (continued
# fraction, Numerical Recipes §6.4), exact permutation p-values by
# enumeration with rational arithmetic, the BCa acceleration's closed form
# — and against R's published t.test outputs on Student's sleep data.  Also
# the human output, reproducibility of the seeded tests, and every error path.
set -u
ark=${ARK_BIN:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_stats

# --- data ---------------------------------------------------------------------
echo '[0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]' >"$tmp/sleep1.json"
echo '[1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]' >"$tmp/sleep2.json"
echo '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]' >"$tmp/x.json"
echo '[7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 200]' >"$tmp/y.json"
echo '[3, 5]' >"$tmp/p3.json"
echo '[1, 2, 4]' >"$tmp/p4.json"
echo '[2.5, 3.1, 0.4, 7.7, 1.2, 0.3, 4.4, 2.2]' >"$tmp/s1.json"
echo '[1.0, 0.2, 0.9, 1.4, 0.1, 2.2, 0.8]' >"$tmp/s2.json"

# --- published values: R's t.test on the sleep data ---------------------------
# t.test(extra ~ group, sleep): t = -1.8608, df = 17.776, p-value = 0.07939, CI -3.3654832 0.2054832
# paired = TRUE:                t = -4.0621, df = 9, p-value = 0.002833, CI -2.4598858 -0.7001142
"$ark" stats ttest "$tmp/sleep1.json" "$tmp/sleep2.json" --json >"$tmp/w.json" 2>"$tmp/err" || bad "welch sleep: $(cat "$tmp/err")"
"$ark" stats ttest "$tmp/sleep1.json" "$tmp/sleep2.json" --paired --json >"$tmp/p.json" 2>"$tmp/err" || bad "paired sleep: $(cat "$tmp/err")"
$py - "$tmp/w.json" "$tmp/p.json" >"$tmp/pub.txt" <<'PY'
import json, sys
w, p = (json.load(open(f)) for f in sys.argv[1:3])
def chk(name, got, want, tol):
    print(("PASS " if abs(got - want) <= tol else "FAIL ") + "%s: %r vs published %r" % (name, got, want))
chk("welch t", w["statistic"], -1.8608, 5e-5); chk("welch df", w["df"], 17.776, 5e-4)
chk("welch p", w["p_value"], 0.07939, 5e-6)
chk("welch ci low", w["ci"]["low"], -3.3654832, 5e-8); chk("welch ci high", w["ci"]["high"], 0.2054832, 5e-8)
chk("paired t", p["statistic"], -4.0621, 5e-5); chk("paired df", p["df"], 9, 0)
chk("paired p", p["p_value"], 0.002833, 5e-7)
chk("paired ci low", p["ci"]["low"], -2.4598858, 5e-8); chk("paired ci high", p["ci"]["high"], -0.7001142, 5e-8)
print(("PASS" if w["decision"] == "do not reject H0" and p["decision"] == "reject H0" else "FAIL") + " decisions")
PY
[ "$(grep -c '^PASS' "$tmp/pub.txt")" = 11 ] && ok || { bad "published values"; cat "$tmp/pub.txt"; }

# --- t-tests against Python ------------------------------------------------------
cat >"$tmp/tcheck.py" <<'PY'
import json, math, subprocess, sys, statistics as st

def betacf(a, b, x):
    FPMIN = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > FPMIN else FPMIN); h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d; d = d if abs(d) > FPMIN else FPMIN
            c = 1 + aa / c; c = c if abs(c) > FPMIN else FPMIN
            d = 1 / d; de = d * c; h *= de
        if abs(de - 1) < 1e-16: break
    return h

def ibeta(a, b, x):
    if x <= 0: return 0.0
    if x >= 1: return 1.0
    bt = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    return bt * betacf(a, b, x) / a if x < (a + 1) / (a + b + 2) else 1 - bt * betacf(b, a, 1 - x) / b

def t_sf(t, df):  # P(T >= t)
    tail = 0.5 * ibeta(df / 2, 0.5, df / (df + t * t))
    return tail if t > 0 else 1 - tail

def t_q(p, df):  # the upper-p quantile: P(T >= q) = p, by bisection
    lo, hi = 0.0, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_sf(mid, df) > p else (lo, mid)
    return (lo + hi) / 2

ark, fa, fb = sys.argv[1:4]
a, b = json.load(open(fa)), json.load(open(fb))
fails = 0
def close(name, got, want, rtol=1e-7, atol=1e-10):
    global fails
    ok = (got is None and want is None) or (got is not None and want is not None and abs(got - want) <= atol + rtol * abs(want))
    if not ok: fails += 1; print("FAIL %s %s: got %r, want %r" % (fa, name, got, want))

for paired in (False, True):
    if paired and len(a) != len(b): continue
    for alt in ("two-sided", "greater", "less"):
        for alpha in (0.05, 0.1):
            args = [ark, "stats", "ttest", fa, fb, "--alternative", alt, "--alpha", str(alpha), "--json"] + (["--paired"] if paired else [])
            r = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
            if paired:
                d = [x - y for x, y in zip(a, b)]
                diff, se, df = st.mean(d), st.stdev(d) / math.sqrt(len(d)), len(d) - 1
                eff = st.mean(d) / st.stdev(d)
            else:
                va, vb = st.variance(a) / len(a), st.variance(b) / len(b)
                diff, se = st.mean(a) - st.mean(b), math.sqrt(va + vb)
                df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
                sp = math.sqrt(((len(a) - 1) * st.variance(a) + (len(b) - 1) * st.variance(b)) / (len(a) + len(b) - 2))
                eff = diff / sp
            t = diff / se
            pg, pl = t_sf(t, df), 1 - t_sf(t, df)
            p2 = min(1.0, 2 * min(pg, pl))
            p = {"two-sided": p2, "greater": pg, "less": pl}[alt]
            tag = "%s %s alpha=%g" % ("paired" if paired else "welch", alt, alpha)
            close(tag + " test", 0, 0 if r["test"] == ("paired_t" if paired else "welch_t") else 1)
            close(tag + " t", r["statistic"], t); close(tag + " df", r["df"], df)
            close(tag + " mean_diff", r["mean_diff"], diff); close(tag + " se", r["se"], se)
            close(tag + " p", r["p_value"], p, 1e-6, 1e-12)
            close(tag + " p greater", r["p_values"]["greater"], pg, 1e-6, 1e-12)
            close(tag + " p less", r["p_values"]["less"], pl, 1e-6, 1e-12)
            close(tag + " effect", r["effect_size"]["value"], eff)
            if alt == "two-sided":
                q = t_q(alpha / 2, df); lo, hi = diff - q * se, diff + q * se
            elif alt == "greater":
                lo, hi = diff - t_q(alpha, df) * se, None
            else:
                lo, hi = None, diff + t_q(alpha, df) * se
            close(tag + " ci low", r["ci"]["low"], lo, 1e-6); close(tag + " ci high", r["ci"]["high"], hi, 1e-6)
            close(tag + " level", r["ci"]["level"], 1 - alpha)
            close(tag + " decision", 1 if r["reject"] else 0, 1 if p <= alpha else 0)
print("tcheck %s: %d failures" % (fa, fails))
sys.exit(1 if fails else 0)
PY
for pair in "sleep1 sleep2" "x y" "s1 s2" "p3 p4"; do
  set -- $pair
  if $py "$tmp/tcheck.py" "$ark" "$tmp/$1.json" "$tmp/$2.json" >"$tmp/tc.txt" 2>&1; then ok; else bad "t-tests $1 $2"; cat "$tmp/tc.txt"; fi
done

# --- permutation tests against exact enumeration ------------------------------------
cat >"$tmp/pcheck.py" <<'PY'
import itertools, json, subprocess, sys
from fractions import Fraction as F
ark, fa, fb = sys.argv[1:4]
a, b = (json.load(open(f)) for f in (fa, fb))
A, B = [F(str(v)) for v in a], [F(str(v)) for v in b]
fails = 0
def report(name, ok, msg=""):
    global fails
    if not ok: fails += 1; print("FAIL %s: %s" % (name, msg))
def run(*extra):
    p = subprocess.run([ark, "stats", "perm", fa, fb, "--json"] + list(extra), capture_output=True, text=True, check=True)
    return json.loads(p.stdout)
def counts(stats, obs):
    return (sum(s >= obs for s in stats), sum(s <= obs for s in stats), sum(abs(s) >= abs(obs) for s in stats))
# two-sample: every split of the pooled values.  With integer values
# (scaled by a common denominator) and group-a sum S, Δ* = (S n - T k) / (k nb)
# (n = k + nb, T the total), so the comparisons need only S n - T k.
scale = 1
for v in A + B: scale = scale * v.denominator // __import__("math").gcd(scale, v.denominator)
x, k = [int(v * scale) for v in A + B], len(A)
T, N_all = sum(x), len(x)
key = lambda S: S * N_all - T * k
obs = key(sum(x[:k]))
stats = [key(sum(c)) for c in itertools.combinations(x, k)]
ge, le, two = counts(stats, obs)
n = len(stats)
r = run()
report("two-sample exact", r["permutation"]["exact"] and r["permutation"]["permutations"] == n, json.dumps(r["permutation"]))
for key, c in (("greater", ge), ("less", le), ("two-sided", two)):
    report("two-sample p " + key, abs(r["p_values"][key] - c / n) < 1e-12, "%r vs %r" % (r["p_values"][key], c / n))
# Monte Carlo: (b + 1) / (N + 1), near the exact value, reproducible with its seed
N = 20000
r1, r2 = run("--exact-limit", "0", "--samples", str(N), "--seed", "3"), run("--exact-limit", "0", "--samples", str(N), "--seed", "3")
report("mc reproducible", r1 == r2)
pe = float(two) / n
report("mc formula", abs(r1["p_value"] - (r1["permutation"]["extreme"] + 1) / (N + 1)) < 1e-15)
report("mc near exact", abs(r1["p_value"] - pe) <= 5 * (pe * (1 - pe) / N) ** 0.5 + 1e-4, "%r vs %r" % (r1["p_value"], pe))
# paired: every sign pattern of the differences
if len(A) == len(B):
    d = [u - v for u, v in zip(A, B)]
    obs = sum(d) / len(d)
    stats = [sum(s * v for s, v in zip(signs, d)) / len(d) for signs in itertools.product((1, -1), repeat=len(d))]
    ge, le, two = counts(stats, obs)
    r = run("--paired")
    report("paired exact", r["permutation"]["permutations"] == 2 ** len(d))
    for key, c in (("greater", ge), ("less", le), ("two-sided", two)):
        report("paired p " + key, abs(r["p_values"][key] - c / len(stats)) < 1e-12, "%r vs %r" % (r["p_values"][key], c / len(stats)))
print("pcheck %s: %d failures" % (fa, fails))
sys.exit(1 if fails else 0)
PY
for pair in "p3 p4" "sleep1 sleep2" "s1 s2"; do
  set -- $pair
  if $py "$tmp/pcheck.py" "$ark" "$tmp/$1.json" "$tmp/$2.json" >"$tmp/pc.txt" 2>&1; then ok; else bad "permutation $1 $2"; cat "$tmp/pc.txt"; fi
done
# hand values: a = {3, 5}, b = {1, 2, 4}: 10 splits, 4 with |Δ*| >= 5/3 -> p = 0.4
"$ark" stats perm "$tmp/p3.json" "$tmp/p4.json" --json | $py -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["p_value"] == 0.4 and r["permutation"]["permutations"] == 10 else 1)' && ok || bad "perm hand value 0.4"

# --- bootstrap: reproducible, constant shift, acceleration, se ----------------------
for m in bca percentile; do
  a1=$("$ark" stats bootstrap "$tmp/s1.json" "$tmp/s2.json" --method $m --seed 9 --samples 3000 --json)
  a2=$("$ark" stats bootstrap "$tmp/s1.json" "$tmp/s2.json" --method $m --seed 9 --samples 3000 --json)
  a3=$("$ark" stats bootstrap "$tmp/s1.json" "$tmp/s2.json" --method $m --seed 10 --samples 3000 --json)
  [ "$a1" = "$a2" ] && ok || bad "bootstrap $m: same seed, different output"
  [ "$a1" != "$a3" ] && ok || bad "bootstrap $m: another seed, same output"
done
echo '[1.5, 2.25, -0.5, 3.0, 7.75, 0.0]' >"$tmp/c1.json"
echo '[2.0, 2.75, 0.0, 3.5, 8.25, 0.5]' >"$tmp/c2.json"
cat >"$tmp/bcheck.py" <<'PY'
import json, subprocess, sys, statistics as st
ark, tmp = sys.argv[1:3]
fails = 0
def report(name, ok, msg=""):
    global fails
    if not ok: fails += 1; print("FAIL %s: %s" % (name, msg))
def run(fa, fb, *extra):
    p = subprocess.run([ark, "stats", "bootstrap", tmp + "/" + fa, tmp + "/" + fb, "--json"] + list(extra),
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)
# a constant shift (b = a + 0.5, paired): every resample's difference is -0.5
for m in ("bca", "percentile"):
    r = run("c1.json", "c2.json", "--paired", "--method", m)
    report("shift " + m, r["ci"]["low"] == -0.5 and r["ci"]["high"] == -0.5 and r["reject"], json.dumps(r["ci"]))
a, b = (json.load(open(tmp + "/" + f)) for f in ("s1.json", "s2.json"))
r = run("s1.json", "s2.json", "--samples", "20000", "--seed", "1", "--alpha", "0.1")
ma, mb = st.mean(a), st.mean(b)
ua, ub = [x - ma for x in a], [mb - y for y in b]  # jackknife terms U (stats.h)
num = sum(u ** 3 for u in ua) / len(a) ** 3 + sum(u ** 3 for u in ub) / len(b) ** 3
den = sum(u ** 2 for u in ua) / len(a) ** 2 + sum(u ** 2 for u in ub) / len(b) ** 2
acc = num / (6 * den ** 1.5)
report("acceleration", abs(r["bootstrap"]["acceleration"] - acc) < 1e-10, "%r vs %r" % (r["bootstrap"]["acceleration"], acc))
se = den ** 0.5  # the ideal bootstrap SE of a difference of means
report("bootstrap se", abs(r["se"] - se) < 0.03 * se, "%r vs %r" % (r["se"], se))
report("interval", r["ci"]["low"] < ma - mb < r["ci"]["high"] and r["ci"]["level"] == 0.9 and r["ci"]["method"] == "bca", json.dumps(r["ci"]))
report("no p-value", r["p_value"] is None and r["bootstrap"]["resamples"] == 20000)
r = run("s1.json", "s2.json", "--alternative", "greater", "--method", "percentile")
report("one-sided", r["ci"]["high"] is None and r["ci"]["low"] < ma - mb, json.dumps(r["ci"]))
print("bcheck: %d failures" % fails)
sys.exit(1 if fails else 0)
PY
if $py "$tmp/bcheck.py" "$ark" "$tmp" >"$tmp/bc.txt" 2>&1; then ok; else bad "bootstrap checks"; cat "$tmp/bc.txt"; fi

# --- human output ---------------------------------------------------------------------
"$ark" stats ttest "$tmp/sleep1.json" "$tmp/sleep2.json" --paired >"$tmp/h.txt" 2>&1
grep -q "Paired t-test" "$tmp/h.txt" && grep -q "t = -4.062" "$tmp/h.txt" && grep -q "^reject H0" "$tmp/h.txt" && ok || { bad "human paired"; cat "$tmp/h.txt"; }
"$ark" stats ttest "$tmp/sleep1.json" "$tmp/sleep2.json" >"$tmp/h.txt" 2>&1
grep -q "Welch two-sample t-test" "$tmp/h.txt" && grep -q "^do not reject H0" "$tmp/h.txt" && grep -q "Cohen's d" "$tmp/h.txt" && ok || { bad "human welch"; cat "$tmp/h.txt"; }
"$ark" stats perm "$tmp/sleep1.json" "$tmp/sleep2.json" --paired >"$tmp/h.txt" 2>&1
grep -q "exact: 4 of 1024" "$tmp/h.txt" && ok || { bad "human perm"; cat "$tmp/h.txt"; }
"$ark" stats bootstrap "$tmp/sleep1.json" "$tmp/sleep2.json" >"$tmp/h.txt" 2>&1
grep -q "confidence interval (bca)" "$tmp/h.txt" && ok || { bad "human bootstrap"; cat "$tmp/h.txt"; }
"$ark" stats --help | grep -q "examples:" && ok || bad "--help"
"$ark" --help | grep -q "stats" && ok || bad "stats in the command list"

# --- errors -----------------------------------------------------------------------------
echo '{"a": [1, 2]}' >"$tmp/obj.json"
echo '[1, 2, "three", 4]' >"$tmp/str.json"
echo '[1, 2, null]' >"$tmp/null.json"
echo '[1.5]' >"$tmp/one.json"
echo '[]' >"$tmp/empty.json"
echo '[1, 2,' >"$tmp/broken.json"
echo '[1, 2, 3]' >"$tmp/three.json"
echo '[5, 5, 5]' >"$tmp/const.json"
expect_error "missing file" "nope.json: No such file" "$ark" stats ttest "$tmp/nope.json" "$tmp/x.json"
expect_error "missing second file" "nope.json: No such file" "$ark" stats perm "$tmp/x.json" "$tmp/nope.json"
expect_error "not an array" "obj.json: expected a JSON array of numbers, got an object" "$ark" stats ttest "$tmp/obj.json" "$tmp/x.json"
expect_error "non-number" "str.json: element 2 is a string, expected a number" "$ark" stats ttest "$tmp/x.json" "$tmp/str.json"
expect_error "null element" "null.json: element 2 is null" "$ark" stats bootstrap "$tmp/null.json" "$tmp/x.json"
expect_error "one value" "one.json: needs at least 2 values, got 1" "$ark" stats ttest "$tmp/one.json" "$tmp/x.json"
expect_error "empty" "empty.json: needs at least 2 values, got 0" "$ark" stats perm "$tmp/x.json" "$tmp/empty.json"
expect_error "invalid JSON" "broken.json: not valid JSON" "$ark" stats ttest "$tmp/broken.json" "$tmp/x.json"
expect_error "unequal paired" "--paired needs samples of equal length: .*x.json has 10 values, .*three.json has 3" "$ark" stats ttest "$tmp/x.json" "$tmp/three.json" --paired
expect_error "unequal paired perm" "equal length" "$ark" stats perm "$tmp/x.json" "$tmp/three.json" --paired
expect_error "unknown test" "unknown test \"anova\"" "$ark" stats anova "$tmp/x.json" "$tmp/y.json"
expect_error "no test" "missing the test" "$ark" stats
expect_error "one file" "missing B.json" "$ark" stats ttest "$tmp/x.json"
expect_error "three files" "unexpected argument" "$ark" stats ttest "$tmp/x.json" "$tmp/y.json" "$tmp/x.json"
expect_error "bad alpha" "--alpha 1.5: expected a number in \(0, 1\)" "$ark" stats ttest "$tmp/x.json" "$tmp/y.json" --alpha 1.5
expect_error "junk alpha" "--alpha abc" "$ark" stats ttest "$tmp/x.json" "$tmp/y.json" --alpha abc
expect_error "bad alternative" "--alternative bigger: expected two-sided, greater or less" "$ark" stats ttest "$tmp/x.json" "$tmp/y.json" --alternative bigger
expect_error "bad samples" "--samples 0: expected a positive count" "$ark" stats perm "$tmp/x.json" "$tmp/y.json" --samples 0
expect_error "bad seed" "--seed -4" "$ark" stats bootstrap "$tmp/x.json" "$tmp/y.json" --seed -4
expect_error "bad method" "--method studentized: expected bca or percentile" "$ark" stats bootstrap "$tmp/x.json" "$tmp/y.json" --method studentized
expect_error "unknown option" "unknown option --fast" "$ark" stats ttest "$tmp/x.json" "$tmp/y.json" --fast
expect_error "missing value" "--alpha needs a value" "$ark" stats ttest "$tmp/x.json" "$tmp/y.json" --alpha
expect_error "constant data" "constant \(zero variance\)" "$ark" stats ttest "$tmp/const.json" "$tmp/const.json"

test_end
