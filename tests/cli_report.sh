#!/usr/bin/env bash
# arrakis exp report: a logged spec run as a folder with index.html.
#   - a spec on the trained facts model (logit lens + attention patterns,
#     two plots) run with an HTML-special input text, then reported;
#   - index.html parses (Python's html.parser), every relative <img src>
#     and <a href> exists in the folder, nothing is loaded from outside,
#     the name, the metric (value from `exp show --json`, formatted here)
#     and the escaped input are on the page, the tool results written
#     beside it equal the store's, the plots are copied byte for byte;
#   - a "hypothesis_tests" attachment (added with Python's sqlite3, in the
#     documented schema) becomes a table;
#   - --run, VERSION, --json; rerunning into the same folder replaces the
#     report and keeps the user's own file; a foreign non-empty folder is
#     refused and left untouched; unknown experiment, version or run, a
#     bad --run, no --out, an unwritable folder and an artefact missing
#     from the store fail with a message.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_report
model=$fx/trained/facts-llama
export OMP_NUM_THREADS=1

cd "$tmp"
dir=$tmp/exps
cat >spec.yaml <<EOF
name: facts_report
description: "Where <does> & Alice live?"
model: $model
inputs:
  text: ["Alice lives in"]
tools:
  - name: logit_lens
    params: {top_k: 3, pos: -1}
  - name: attention
    op: patterns
    params: {layers: [0]}
metrics:
  top_prob: tools.0.result.rows.0.positions.0.points.0.top.0.prob
plots:
  - {type: logit_lens, out: lens.png, from: tools.0.result, title: "lens <&>", caption: "look <here>"}
  - {type: attention, out: attention.png, layer: 0, head: 1}
EOF
check_named "exp run" "$ark" exp run spec.yaml --dir "$dir" --set 'inputs.text=["<b>& Alice lives in"]'
check_named "exp run 2" "$ark" exp run spec.yaml --dir "$dir" --set tools.0.params.top_k=2

# --- the report of run 1 --------------------------------------------------------
check_named "exp report" "$ark" exp report facts_report --run 1 --dir "$dir" --out "$tmp/rep"
pycheck "prints index.html" 'import sys; assert open(sys.argv[1]).read().strip() == sys.argv[2], open(sys.argv[1]).read()' \
  "$tmp/out" "$tmp/rep/index.html"
"$ark" exp show facts_report 1 --dir "$dir" --json >show.json
check_named "exp show --brief" "$ark" exp show facts_report --brief --dir "$dir"
pycheck "show --brief: description and the latest run only" '
import sys; t = open(sys.argv[1]).read()
assert "  Where <does> & Alice live?" in t and "  run 2  ok" in t and "  run 1 " not in t, t
assert "params" not in t and "artefact" not in t and "plot       logit_lens -> lens.png: ok" in t, t' "$tmp/out"

page_check='
import html.parser, json, os, sys, hashlib
out, show = sys.argv[1], json.load(open(sys.argv[2]))
run = [r for r in show["runs"] if r["id"] == int(sys.argv[3])][0]
raw = open(os.path.join(out, "index.html"), encoding="utf-8").read()
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(convert_charrefs=True)
        s.refs, s.text, s.stack, s.imgs, s.scripts = [], [], [], [], 0
    def handle_starttag(s, tag, attrs):
        a = dict(attrs)
        if tag == "img": s.refs.append(a["src"]); s.imgs.append(a["src"])
        if tag == "a" and "href" in a: s.refs.append(a["href"])
        if tag == "link": s.refs.append(a.get("href", ""))
        if tag == "script":
            assert "src" not in a, "external script"
            s.scripts += 1
        if tag not in ("meta", "img", "br", "link", "input", "hr"): s.stack.append(tag)
    def handle_endtag(s, tag):
        assert s.stack and s.stack[-1] == tag, "unbalanced </%s> after %s" % (tag, s.stack[-3:])
        s.stack.pop()
    def handle_data(s, d): s.text.append(d)
p = P(); p.feed(raw); p.close()
assert not p.stack, "unclosed: %s" % p.stack
text = "".join(p.text)
for r in p.refs:
    if r.startswith("#"): continue
    assert "://" not in r and not r.startswith("/"), "not relative: " + r
    assert os.path.isfile(os.path.join(out, r)), "missing: " + r
assert "facts_report" in text
assert "top_prob" in text and ("%.6g" % run["metrics"]["top_prob"]) in text, "metric"
assert "<b>& Alice lives in" in text, "input text"
assert "&lt;b&gt;&amp; Alice" in raw and "<b>&" not in raw, "escaping"
assert "lens &lt;&amp;&gt;" in raw, "plot title escaped"
assert "Where &lt;does&gt; &amp; Alice live?" in raw, "description"
assert "look &lt;here&gt;" in raw, "plot caption"
assert sorted(p.imgs) == ["attention.png", "lens.png"], p.imgs
assert "layer 0" in text and "head 1" in text, "caption"
assert "run 1" in text or "· run 1" in text
for a in run["artefacts"]:
    got = hashlib.sha256(open(os.path.join(out, a["name"]), "rb").read()).hexdigest()
    assert got == a["sha256"], a["name"]
for i, t in enumerate(run["result"]["tools"]):
    f = os.path.join(out, "results", "%02d_%s.json" % (i, t["name"]))
    assert json.load(open(f)) == t["result"], f
    assert ("results/%02d_%s.json" % (i, t["name"])) in p.refs
assert json.load(open(os.path.join(out, "run.json")))["id"] == run["id"]
assert "name: facts_report" in text, "source"
'
pycheck "page of run 1" "$page_check" "$tmp/rep" show.json 1

# --- a hypothesis_tests attachment (the array form spec runs attach) ----------------
pycheck "attach tests" '
import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
t = {"name": "lens <top>", "hypothesis": "top prob rises", "a": "tools.0.result.x", "b": "tools.1.result.y",
     "test": "welch_t", "paired": False, "alternative": "two-sided", "alpha": 0.05, "n_a": 4, "n_b": 4,
     "mean_a": 0.123456, "mean_b": 0.1, "mean_diff": 0.023456, "statistic_name": "t", "statistic": 2.5, "df": 5.9,
     "p_value": 0.00001, "ci": {"level": 0.95, "low": 0.001, "high": 0.046, "method": "t"},
     "decision": "reject H0", "reject": True, "statement": "reject H0: ..."}
db.execute("INSERT INTO attachments(run_id, key, value, created) VALUES (1, ?, ?, ?)",
           ("hypothesis_tests", json.dumps([t]), "2026-01-01T00:00:00.000Z"))
db.commit()' "$dir/experiments.db"
check_named "report again (same folder)" "$ark" exp report facts_report 1 --run 1 --dir "$dir" --out "$tmp/rep"
pycheck "page with tests" "$page_check" "$tmp/rep" show.json 1
pycheck "tests table" '
import sys, re
raw = open(sys.argv[1]).read()
for s in ["lens &lt;top&gt;", "a: <code>tools.0.result.x</code>", ">0.1235<", ">0.02346<", "t = 2.5", "df 5.9<", "&lt; 1e-4",
          "[0.001,&nbsp;0.046]", "reject H0", "results/attachment_hypothesis_tests.json"]:
    assert s in raw, s' "$tmp/rep/index.html"

# --- latest run, --json, rerun keeps the user's file --------------------------------
echo "mine" >"$tmp/rep/notes.md"
check_named "report latest --json" "$ark" exp report facts_report --dir "$dir" --out "$tmp/rep" --json
pycheck "json files" '
import json, os, sys
o = json.load(open(sys.argv[1]))
assert o["index"] == sys.argv[2] + "/index.html", o
assert o["index"] in o["files"]
for f in o["files"]: assert os.path.isfile(f), f
assert os.path.isfile(sys.argv[2] + "/notes.md")
assert not os.path.exists(sys.argv[2] + "/results/attachment_hypothesis_tests.json"), "old file left"
raw = open(o["index"]).read()
assert "run 2" in raw and "Hypothesis tests" not in raw' "$tmp/out" "$tmp/rep"

# --- refusals and errors -------------------------------------------------------------
mkdir -p "$tmp/foreign/sub"
echo "precious" >"$tmp/foreign/index.html"
echo "data" >"$tmp/foreign/sub/x.txt"
expect_error "foreign folder" "not empty.*choose another folder or empty" \
  "$ark" exp report facts_report --dir "$dir" --out "$tmp/foreign"
pycheck "foreign untouched" '
import os, sys
d = sys.argv[1]
assert sorted(os.listdir(d)) == ["index.html", "sub"], os.listdir(d)
assert open(d + "/index.html").read() == "precious\n" and open(d + "/sub/x.txt").read() == "data\n"' "$tmp/foreign"
expect_error "unknown experiment" 'experiment "nope": not in.*facts_report' \
  "$ark" exp report nope --dir "$dir" --out "$tmp/r2"
expect_error "unknown version" 'version "9" of experiment "facts_report"' \
  "$ark" exp report facts_report 9 --dir "$dir" --out "$tmp/r2"
expect_error "unknown run" 'run 99' "$ark" exp report facts_report --run 99 --dir "$dir" --out "$tmp/r2"
expect_error "bad --run" '--run x: expected a run id' "$ark" exp report facts_report --run x --dir "$dir" --out "$tmp/r2"
expect_error "no --out" '--out OUTDIR: missing' "$ark" exp report facts_report --dir "$dir"
expect_error "no store" 'no experiment store' "$ark" exp report facts_report --dir "$tmp/none" --out "$tmp/r2"
echo "a file" >"$tmp/afile"
expect_error "unwritable folder" "afile" "$ark" exp report facts_report --dir "$dir" --out "$tmp/afile/r"
"$ark" exp --help >help.txt
check_named "help lists report" grep -q "arrakis exp report NAME.*--out OUTDIR" help.txt
check_named "help example" grep -q "arrakis exp report lens_on_facts --out" help.txt
art=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"][0]["artefacts"][0]["path"])' show.json)
rm -f "$art"
expect_error "artefact missing" 'artefact "lens.png".*missing' \
  "$ark" exp report facts_report --run 1 --dir "$dir" --out "$tmp/r3"
check_named "nothing written" test ! -e "$tmp/r3"
[ -d "$tmp/r2" ] && bad "r2 created by a failed report" || ok

test_end
