#!/usr/bin/env bash
# arrakis exp: versioned experiments from the outside.
#   - two specs differing in one line give two versions whose `exp diff`
#     is that line; rerunning an unchanged spec adds a run to its version;
#   - `exp show --json` carries the spec's text as source, the overrides and
#     the effective spec as parameters; --set and --multirun (Cartesian
#     product) runs are runs of the same version;
#   - 8 `arrakis exp run` processes at once, 50 runs each (--multirun), leave
#     400 runs, and the database passes SQLite's integrity check (Python's
#     sqlite3, not our code);
#   - a process SIGKILLed mid-sweep leaves a readable store in which every
#     run is finished or marked interrupted;
#   - `exp export` parses and holds every run; the model's identity changes
#     when its config.json changes (recomputed here with hashlib);
#   - a registered tool (logit_lens, when built) runs from a spec;
#   - human output and every error path.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_exp
model=$fx/trained/facts-llama

cd "$tmp"
dir=$tmp/exps

# --- versions and runs --------------------------------------------------------
cat >spec1.yaml <<EOF
name: lens_on_facts            # the experiment's name
model: $model
inputs:
  text: ["Alice lives in"]
tools: []
plots:
  - {type: logit_lens, out: lens.png}
EOF
sed 's/Alice lives in/Bob lives in/' spec1.yaml >spec2.yaml

check_named "run spec1" "$ark" exp run spec1.yaml --dir "$dir"
check_named "rerun spec1" "$ark" exp run spec1.yaml --dir "$dir"
check_named "run spec2" "$ark" exp run spec2.yaml --dir "$dir" --json
cp "$tmp/out" run2.json
check_named "list versions" "$ark" exp list lens_on_facts --dir "$dir" --json
pycheck "two versions, 2 + 1 runs" '
import json, sys
v = json.load(open(sys.argv[1]))["versions"]
assert [x["version"] for x in v] == [1, 2], v
assert [x["n_runs"] for x in v] == [2, 1], v
assert all(len(x["hash"]) == 64 for x in v)
r = json.load(open(sys.argv[2]))["runs"]
assert len(r) == 1 and r[0]["version"] == 2 and r[0]["status"] == "ok", r
' "$tmp/out" run2.json
check_named "diff" "$ark" exp diff lens_on_facts 1 2 --dir "$dir" --json
pycheck "diff is the one changed line" '
import json, sys
d = json.load(open(sys.argv[1]))
lines = [l for l in d["source_diff"].splitlines() if l[:1] in "+-" and l[:3] not in ("---", "+++")]
assert lines == ["-  text: [\"Alice lives in\"]", "+  text: [\"Bob lives in\"]"], lines
assert d["from"]["version"] == 1 and d["to"]["version"] == 2
' "$tmp/out"
check_named "diff human" "$ark" exp diff lens_on_facts 1 2 --dir "$dir"
grep -q '^+  text: \["Bob lives in"\]' "$tmp/out" && ok || bad "diff human lacks the + line"

# The version is the SHA-256 of the spec text.
check_named "show v2" "$ark" exp show lens_on_facts 2 --dir "$dir" --json
pycheck "show: source, hash, params, plots" '
import json, sys, hashlib
v = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
assert v["source"] == text
assert v["hash"] == hashlib.sha256(text.encode()).hexdigest()
assert v["kind"] == "yaml" and v["version"] == 2 and v["n_runs"] == 1
r = v["runs"][0]
assert r["params"]["spec"]["inputs"]["text"] == ["Bob lives in"]
assert r["params"]["overrides"] == {}
assert r["result"] == {"tools": []}
p = r["attachments"]["plots"][0]
assert p["type"] == "logit_lens" and p["out"] == "lens.png"
assert p["status"] == "pending: plotting not built" or p["status"] == "ok" or p["status"].startswith("failed"), p
assert r["model"]["dir"].endswith("facts-llama") and len(r["model"]["sha256"]) == 64
assert len(r["tokenizer"]["sha256"]) == 64
assert r["library_version"] and r["host"] and r["started"] and r["duration_s"] >= 0
' "$tmp/out" spec2.yaml
# VERSION as a hash prefix.
h=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["hash"][:10])' "$tmp/out")
check_named "show by hash prefix" "$ark" exp show lens_on_facts "$h" --dir "$dir" --json
grep -q '"version":	2' "$tmp/out" && ok || bad "show by prefix: not version 2"
check_named "show human" "$ark" exp show lens_on_facts --dir "$dir"
grep -q "version 2" "$tmp/out" && grep -q '| name: lens_on_facts' "$tmp/out" && ok || { bad "show human"; cat "$tmp/out"; }

# --- overrides and sweeps -----------------------------------------------------
check_named "set + multirun" "$ark" exp run spec1.yaml --dir "$dir" --json --set inputs.text='["Carol works as a"]' \
  --multirun extra.a=1,2,3 extra.b='[1, 2]',x
pycheck "6 runs, Cartesian product, first sweep slowest" '
import json, sys
r = json.load(open(sys.argv[1]))["runs"]
assert len(r) == 6, r
got = [(x["overrides"]["extra.a"], x["overrides"]["extra.b"]) for x in r]
assert got == [(1, [1, 2]), (1, "x"), (2, [1, 2]), (2, "x"), (3, [1, 2]), (3, "x")], got
assert all(x["version"] == 1 and x["status"] == "ok" for x in r)
assert all(x["overrides"]["inputs.text"] == ["Carol works as a"] for x in r)
' "$tmp/out"
check_named "list" "$ark" exp list --dir "$dir" --json
pycheck "list: one experiment, 9 runs" '
import json, sys
e = json.load(open(sys.argv[1]))["experiments"]
assert len(e) == 1 and e[0]["name"] == "lens_on_facts" and e[0]["n_versions"] == 2 and e[0]["n_runs"] == 9, e
' "$tmp/out"
check_named "list human" "$ark" exp list --dir "$dir"
grep -qE '^lens_on_facts +2 +9 ' "$tmp/out" && ok || { bad "list human"; cat "$tmp/out"; }

# --- many processes at once ---------------------------------------------------
par=$tmp/par
cat >par.yaml <<EOF
name: parallel
model: $model
inputs: {tokens: [[5, 6, 7]]}
tools: []
EOF
vals=$(seq -s, 1 50)
pids=()
for w in 1 2 3 4 5 6 7 8; do
  "$ark" exp run par.yaml --dir "$par" --set worker=$w --multirun i=$vals >"par.$w.out" 2>"par.$w.err" &
  pids+=($!)
done
rcs=0
for p in "${pids[@]}"; do wait "$p" || rcs=$((rcs + 1)); done
[ $rcs -eq 0 ] && ok || { bad "parallel: $rcs processes failed"; cat par.*.err; }
check_named "parallel export" "$ark" exp export parallel --dir "$par" --out par.json
pycheck "400 runs, each (worker, i) once, store intact" '
import json, sys, sqlite3
x = json.load(open(sys.argv[1]))
runs = [r for v in x["versions"] for r in v["runs"]]
assert len(runs) == 400, len(runs)
assert all(r["status"] == "ok" for r in runs)
pairs = {(r["params"]["spec"]["worker"], r["params"]["spec"]["i"]) for r in runs}
assert len(pairs) == 400, len(pairs)
assert len({r["id"] for r in runs}) == 400
db = sqlite3.connect(sys.argv[2] + "/experiments.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 400
' par.json "$par"

# --- killed mid-sweep ---------------------------------------------------------
kd=$tmp/killed
"$ark" exp run par.yaml --dir "$kd" --multirun i=$(seq -s, 1 10000) >/dev/null 2>&1 &
kp=$!
for _ in $(seq 1 100); do
  n=$($py -c '
import sqlite3, sys
try: print(sqlite3.connect(sys.argv[1] + "/experiments.db").execute("SELECT COUNT(*) FROM runs").fetchone()[0])
except Exception: print(0)' "$kd" 2>/dev/null)
  [ "${n:-0}" -ge 20 ] && break
  sleep 0.05
done
kill -9 $kp 2>/dev/null
wait $kp 2>/dev/null
check_named "killed: list" "$ark" exp list parallel --dir "$kd" --json
pycheck "killed: readable, runs ok or interrupted, intact" '
import json, sys, sqlite3
v = json.load(open(sys.argv[1]))["versions"][0]
assert v["n_runs"] >= 20, v
assert v["n_ok"] + v["n_interrupted"] == v["n_runs"] and v["n_interrupted"] <= 1 and v["n_running"] == 0, v
db = sqlite3.connect(sys.argv[2] + "/experiments.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
' "$tmp/out" "$kd"
check_named "killed: store still takes runs" "$ark" exp run par.yaml --dir "$kd"

# --- export -------------------------------------------------------------------
check_named "export" "$ark" exp export lens_on_facts --dir "$dir" --json
pycheck "export holds every run" '
import json, sys
x = json.load(open(sys.argv[1]))
assert x["format"] == "arrakis-experiment" and x["experiment"] == "lens_on_facts"
assert [v["version"] for v in x["versions"]] == [1, 2]
assert sum(len(v["runs"]) for v in x["versions"]) == 9
assert all(r["status"] == "ok" for v in x["versions"] for r in v["runs"])
' "$tmp/out"

# --- model identity -----------------------------------------------------------
mcopy=$tmp/model
mkdir -p "$mcopy"
cp "$model/config.json" "$model/model.safetensors" "$model/tokenizer.json" "$mcopy/"
sed "s|model: .*|model: $mcopy|" spec1.yaml | sed 's/lens_on_facts/identity/' >id.yaml
check_named "identity run 1" "$ark" exp run id.yaml --dir "$dir"
echo " " >>"$mcopy/config.json"
check_named "identity run 2" "$ark" exp run id.yaml --dir "$dir"
check_named "identity show" "$ark" exp show identity --dir "$dir" --json
pycheck "identity follows config.json" '
import json, sys, hashlib, struct
v = json.load(open(sys.argv[1]))
r1, r2 = v["runs"][0]["model"], v["runs"][1]["model"]
assert v["n_runs"] == 2
assert r1["config_sha256"] != r2["config_sha256"] and r1["sha256"] != r2["sha256"]
assert r1["weights_sha256"] == r2["weights_sha256"]
cfg = open(sys.argv[2] + "/config.json", "rb").read()
assert r2["config_sha256"] == hashlib.sha256(cfg).hexdigest()
st = open(sys.argv[2] + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", st[:8])[0]
w = hashlib.sha256(b"model.safetensors\0" + st[:8 + n]).hexdigest()
assert r2["weights_sha256"] == w
assert r2["sha256"] == hashlib.sha256((r2["config_sha256"] + ":" + w).encode()).hexdigest()
' "$tmp/out" "$mcopy"

# --- a real tool, when the registry has it ---------------------------------
if "$ark" tool --list 2>/dev/null | grep -q '^logit_lens '; then
  cat >lens.yaml <<EOF
name: lens_tool
model: $model
inputs:
  text: ["Alice lives in"]
tools:
  - name: logit_lens
    params: {top_k: 3}
EOF
  check_named "logit_lens spec" "$ark" exp run lens.yaml --dir "$dir" --set tools.0.params.top_k=2
  check_named "logit_lens show" "$ark" exp show lens_tool --dir "$dir" --json
  pycheck "logit_lens result recorded" '
import json, sys
v = json.load(open(sys.argv[1]))
r = v["runs"][0]
assert r["status"] == "ok", r
t = r["result"]["tools"][0]
assert t["name"] == "logit_lens" and isinstance(t["result"], dict) and t["result"], t
assert r["params"]["spec"]["tools"][0]["params"]["top_k"] == 2
' "$tmp/out"
else
  echo "skip: logit_lens is not in this build's registry"
fi

# --- errors -------------------------------------------------------------------
expect_error "no spec" "nothere.yaml" "$ark" exp run nothere.yaml --dir "$dir"
printf 'name: x\nmodel: [oops\n' >bad.yaml
expect_error "bad yaml" "bad.yaml:[0-9]+:[0-9]+" "$ark" exp run bad.yaml --dir "$dir"
printf 'model: %s\ntools: []\n' "$model" >noname.yaml
expect_error "no name" "name: expected" "$ark" exp run noname.yaml --dir "$dir"
expect_error "bad --set" "PATH=VALUE" "$ark" exp run spec1.yaml --dir "$dir" --set novalue
expect_error "bad --set path" "not an index" "$ark" exp run spec1.yaml --dir "$dir" --set plots.5.type=x
printf 'name: failing\nmodel: %s\ntools:\n  - name: no_such_tool\n' "$model" >fail.yaml
expect_error "unknown tool" "unknown tool \"no_such_tool\"" "$ark" exp run fail.yaml --dir "$dir"
check_named "failed run is logged" "$ark" exp list failing --dir "$dir" --json
grep -q '"n_failed":	1' "$tmp/out" && ok || { bad "failed run not logged"; cat "$tmp/out"; }
expect_error "bad model" "nothere" "$ark" exp run spec1.yaml --dir "$dir" --set model=$tmp/nothere
expect_error "unknown experiment" "experiment \"nope\": not in .*lens_on_facts" "$ark" exp show nope --dir "$dir"
expect_error "unknown version" "version \"9\"" "$ark" exp show lens_on_facts 9 --dir "$dir"
expect_error "diff usage" "usage" "$ark" exp diff lens_on_facts 1 --dir "$dir"
expect_error "no store" "no experiment store" "$ark" exp show x --dir "$tmp/empty"
[ ! -e "$tmp/empty" ] && ok || bad "a reading command created a store"
check_named "list, no store" "$ark" exp list --dir "$tmp/empty" --json
grep -q '"experiments":	\[\]' "$tmp/out" && [ ! -e "$tmp/empty" ] && ok || bad "list without a store"
expect_error "unknown subcommand" "unknown subcommand" "$ark" exp frobnicate
expect_error "unknown option" "unknown option --bogus" "$ark" exp list --bogus
check_named "help" "$ark" exp --help
grep -q "examples:" "$tmp/out" && ok || bad "help lacks examples"

test_end
