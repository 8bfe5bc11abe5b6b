#!/usr/bin/env bash
# arrakis kg and arrakis probe on the trained facts-llama fixture:
#  - kg: subjects and relations files built here from facts.jsonl and
#    ground_truth.json (a seeded subsample of subjects; templates = the
#    training templates without " {a} ."): every template's prediction
#    equals the attribute exactly where facts.jsonl says it was recalled,
#    with its recorded probability; per-template recall within sampling
#    error of ground_truth.json's; the DOT file parses (structure checked in
#    Python: nodes, escaped labels, one edge per triple; `dot -Tsvg` too when
#    graphviz happens to be installed); --heads: each head's OV singular
#    values equal numpy's SVD of W_V W_O taken from model.safetensors, and
#    the first output direction's top tokens equal numpy's readout through
#    lm_head;
#  - probe: a colour probe (label = the colour, entity = the subject) per
#    layer: high held-out accuracy at the last layer, control near chance;
#    the saved probe is at the optimum: the gradient of the documented
#    objective, computed here in numpy from the saved W, b, mean, std and the
#    activations of `arrakis run --hooks resid_postL --out`, is ~0, and its
#    predictions give the reported train accuracy; a binary probe's "vector"
#    steers (`arrakis run --steer`) towards its second class and is read by
#    write-read; the true/false probe separates true from false statements;
#  - human tables, --help, and the error paths.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_kg
src=${ARK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}

fl=$fx/trained/facts-llama
export PYTHONPATH=$src/tests

# --- inputs from facts.jsonl / ground_truth.json ------------------------------
$py - "$fl" "$tmp" <<'PY'
import json, random, sys
fl, tmp = sys.argv[1], sys.argv[2]
gt = json.load(open(f"{fl}/ground_truth.json"))
facts = [json.loads(l) for l in open(f"{fl}/facts.jsonl")]
subjects = sorted({f["subject"] for f in facts})
rnd = random.Random(1)
pick = rnd.sample(subjects, 40)
open(f"{tmp}/subjects.txt", "w").write("\n".join(pick) + "\n")
with open(f"{tmp}/relations.jsonl", "w") as out:
    for name, r in gt["relations"].items():
        out.write(json.dumps({"relation": name, "templates": [t.replace(" {a} .", "") for t in r["templates"]]}) + "\n")
# colour probe data: every prompt of 100 subjects; a binary red/blue set; true/false pairs
probe_subj = set(rnd.sample(subjects, 100))
with open(f"{tmp}/colour.jsonl", "w") as out:
    for f in facts:
        if f["relation"] == "colour" and f["subject"] in probe_subj:
            for p in f["prompts"]:
                out.write(json.dumps({"text": p, "label": f["attribute"], "subject": f["subject"]}) + "\n")
with open(f"{tmp}/redblue.jsonl", "w") as out:
    for f in facts:
        if f["relation"] == "colour" and f["attribute"] in ("red", "blue"):
            for p in f["prompts"]:
                out.write(json.dumps({"text": p, "label": f["attribute"], "entity": f["subject"]}) + "\n")
with open(f"{tmp}/pairs.jsonl", "w") as out:
    for f in facts[::3]:
        vals = [v for v in gt["relations"][f["relation"]]["values"] if v != f["attribute"]]
        t = rnd.randrange(4)
        out.write(json.dumps({"true": f["sentences"][t], "false": f"{f['prompts'][t]} {rnd.choice(vals)} .",
                              "subject": f["subject"]}) + "\n")
PY

# --- kg: recall against facts.jsonl, DOT ----------------------------------------
if "$ark" kg "$fl" --subjects "$tmp/subjects.txt" --relations "$tmp/relations.jsonl" --dot "$tmp/kg.dot" --json \
    >"$tmp/kg.json" 2>"$tmp/err"; then
  $py - "$tmp/kg.json" "$fl" "$tmp/subjects.txt" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "kg recall vs facts.jsonl"; cat "$tmp/py.out"; }
import json, math, sys
d = json.load(open(sys.argv[1]))
fl = sys.argv[2]
gt = json.load(open(f"{fl}/ground_truth.json"))
facts = {(f["subject"], f["relation"]): f for f in map(json.loads, open(f"{fl}/facts.jsonl"))}
subjects = [s for s in open(sys.argv[3]).read().split("\n") if s]
rels = list(gt["relations"])
assert d["relations"] == rels and d["n_subjects"] == len(subjects)
cfg = json.load(open(f"{fl}/config.json"))
assert d["n_layers"] == cfg["num_hidden_layers"]
assert len(d["triples"]) == len(subjects) * len(rels)
hits = {r: [0] * 4 for r in rels}
for i, t in enumerate(d["triples"]):
    assert t["subject"] == subjects[i // len(rels)] and t["relation"] == rels[i % len(rels)]
    f = facts[(t["subject"], t["relation"])]
    for j, tp in enumerate(t["templates"]):
        assert tp["prompt"] == f["prompts"][j], (tp["prompt"], f["prompts"][j])
        hit = tp["prediction"]["text"] == f["attribute"]
        assert hit == f["recalled_per_template"][j], (t["subject"], j)
        if hit:
            assert abs(tp["prediction"]["prob"] - f["p_attribute_per_template"][j]) <= 6e-5
            assert tp["object_rank"] == 0 and 0 <= tp["lens_layer"] < d["n_layers"]
        hits[t["relation"]][j] += hit
    assert t["agreement"] == t["votes"] / 4 and t["stable"] == (t["votes"] == 4)
    if t["stable"]:
        assert t["object"] == f["attribute"]
n = len(subjects)
for r in rels:
    for j, (tmpl, want) in enumerate(gt["recall"]["per_relation"][r]["per_template"].items()):
        got = hits[r][j] / n
        assert abs(got - want) <= 3 * math.sqrt(want * (1 - want) / n) + 1e-12, (r, tmpl, got, want)
s = d["summary"]
assert s["n_triples"] == len(d["triples"]) and sum(s["lens_layer_counts"]) + s["lens_never"] == 4 * len(d["triples"])
print("recall ok", s)
PY
  $py - "$tmp/kg.json" "$tmp/kg.dot" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "DOT structure"; cat "$tmp/py.out"; }
import json, re, sys
d = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
assert text.startswith("digraph knowledge {") and text.rstrip().endswith("}")
q = r'"((?:[^"\\]|\\.)*)"'
unq = lambda s: re.sub(r'\\(.)', r'\1', s)
nodes, edges = {}, []
for line in text.splitlines()[1:-1]:
    line = line.strip()
    m = re.fullmatch(r'(n\d+) \[label=' + q + r', shape=(box|ellipse)(, style=bold)?\];', line)
    if m:
        nodes[m.group(1)] = (unq(m.group(2)), m.group(3)); continue
    m = re.fullmatch(r'(n\d+) -> (n\d+) \[label=' + q + r', penwidth=([0-9.]+)(, style=dashed)?\];', line)
    if m:
        edges.append((m.group(1), m.group(2), unq(m.group(3)), float(m.group(4)), bool(m.group(5)))); continue
    assert re.fullmatch(r'(rankdir=LR|node \[.*\]|edge \[.*\]);', line), line
texts = [v[0] for v in nodes.values()]
assert len(texts) == len(set(texts))
want = {t["subject"] for t in d["triples"]} | {t["object"] for t in d["triples"]}
assert set(texts) == want
assert len(edges) == len(d["triples"])
for (a, b, label, pw, dashed), t in zip(edges, d["triples"]):
    assert nodes[a] == (t["subject"], "box") and nodes[b][0] == t["object"]
    assert label == f'{t["relation"]} ({t["prob"]:.2f})' and abs(pw - (1 + 4 * t["prob"])) < 0.006
    assert dashed == (not t["stable"])
PY
  if command -v dot >/dev/null 2>&1; then
    dot -Tsvg "$tmp/kg.dot" >"$tmp/kg.svg" 2>"$tmp/err" && ok || { bad "dot -Tsvg"; cat "$tmp/err"; }
  fi
else bad "kg --json"; cat "$tmp/err"; fi

# a DOT file with characters to escape, and greedy objects stopped at "."
printf 'Bob "the \\ Builder"\nGaishar Tastei\n' >"$tmp/odd.txt"
if "$ark" kg "$fl" --subjects "$tmp/odd.txt" --relations "$tmp/relations.jsonl" --dot "$tmp/odd.dot" --max-tokens 3 --stop . \
    --json >"$tmp/odd.json" 2>"$tmp/err"; then
  $py - "$tmp/odd.json" "$tmp/odd.dot" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "escaping and --stop"; cat "$tmp/py.out"; }
import json, sys
d = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
assert '[label="Bob \\"the \\\\ Builder\\"", shape=box]' in text, text
assert d["triples"][0]["subject"] == 'Bob "the \\ Builder"'
assert d["stop"]["token"] == "."
for t in d["triples"]:
    for tp in t["templates"]:
        assert 1 <= len(tp["prediction"]["ids"]) <= 3 and "." not in tp["prediction"]["tokens"][1:]
PY
  if command -v dot >/dev/null 2>&1; then dot -Tsvg "$tmp/odd.dot" >/dev/null 2>&1 && ok || bad "dot -Tsvg escaped"; fi
else bad "kg odd subjects"; cat "$tmp/err"; fi

# human table, --causal, --heads
head -2 "$tmp/subjects.txt" >"$tmp/two.txt"
if "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/relations.jsonl" --causal --samples 3 --heads --vectors 1 \
    >"$tmp/human.txt" 2>"$tmp/err"; then
  grep -q "^subject  *relation  *object" "$tmp/human.txt" && grep -q "6 triples: " "$tmp/human.txt" \
    && grep -q "block .* output @" "$tmp/human.txt" && grep -q "L0H0  OV" "$tmp/human.txt" && ok || { bad "kg human table"; cat "$tmp/human.txt"; }
else bad "kg human"; cat "$tmp/err"; fi

# --heads against numpy: OV singular values and the first output direction's tokens
if "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/relations.jsonl" --heads --vectors 2 --head-tokens 5 --json \
    >"$tmp/heads.json" 2>"$tmp/err"; then
  $py - "$tmp/heads.json" "$fl" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "heads vs numpy"; cat "$tmp/py.out"; }
import json, sys
import numpy as np
import st_tool
d = json.load(open(sys.argv[1]))
fl = sys.argv[2]
cfg = json.load(open(f"{fl}/config.json"))
w = {k: v[1].astype(np.float64) for k, v in st_tool.read(f"{fl}/model.safetensors").items()}
L, H, KV = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
dm = cfg["hidden_size"]; dh = dm // H
WE, WU = w["model.embed_tokens.weight"], w["lm_head.weight"].T
heads = d["heads"]
assert len(heads) == L * H
for h in heads:
    l, i = h["layer"], h["head"]
    kv = i // (H // KV)
    WV = w[f"model.layers.{l}.self_attn.v_proj.weight"][kv * dh:(kv + 1) * dh].T     # (d, dh)
    WO = w[f"model.layers.{l}.self_attn.o_proj.weight"][:, i * dh:(i + 1) * dh].T     # (dh, d)
    WQ = w[f"model.layers.{l}.self_attn.q_proj.weight"][i * dh:(i + 1) * dh].T
    WK = w[f"model.layers.{l}.self_attn.k_proj.weight"][kv * dh:(kv + 1) * dh].T
    for name, M, side_b in (("ov", WV @ WO, WU), ("qk", WQ @ WK.T, WE.T)):
        U, S, Vt = np.linalg.svd(M)
        got = np.array(h[name]["singular_values"])
        assert np.allclose(got, S[:dh], rtol=1e-4, atol=1e-5), (l, i, name)
        if S[0] - S[1] < 1e-3 * S[0]:
            continue  # a near-degenerate top pair has no unique direction
        vals_b = Vt[0] @ side_b
        vals_a = U[:, 0] @ WE.T
        if -vals_b.min() > vals_b.max():
            vals_a, vals_b = -vals_a, -vals_b
        dj = h[name]["directions"][0]
        out_key, in_key = ("output", "input") if name == "ov" else ("key", "query")
        want_b = list(np.argsort(-vals_b, kind="stable")[:5])
        want_a = list(np.argsort(-vals_a, kind="stable")[:5])
        assert [t["id"] for t in dj[out_key]["top"]] == want_b, (l, i, name, out_key)
        assert [t["id"] for t in dj[in_key]["top"]] == want_a, (l, i, name, in_key)
        assert np.allclose([t["value"] for t in dj[out_key]["top"]], vals_b[want_b], rtol=1e-3, atol=1e-4)
print("heads ok")
PY
else bad "kg --heads --json"; cat "$tmp/err"; fi

# --- probe: colour per layer --------------------------------------------------------
L=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['num_hidden_layers'])" "$fl/config.json")
last=$((L - 1))
if "$ark" probe "$fl" --data "$tmp/colour.jsonl" --seed 2 --json >"$tmp/probe.json" 2>"$tmp/err"; then
  $py - "$tmp/probe.json" "$L" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "colour probe accuracy / control"; cat "$tmp/py.out"; }
import json, math, sys
d = json.load(open(sys.argv[1])); L = int(sys.argv[2])
data = d["data"]; k = len(data["classes"]); nt = data["split"]["test_entities"]
assert len(d["layers"]) == L and [l["layer"] for l in d["layers"]] == list(range(L))
maj = data["majority"]
margin = 3 * math.sqrt(maj * (1 - maj) / nt)   # held-out subjects' control labels are independent of training
for l in d["layers"]:
    print(l["layer"], l["train_accuracy"], l["test_accuracy"], l["control_test_accuracy"], l["selectivity"])
    assert l["control_test_accuracy"] <= maj + margin, l
    assert abs(l["selectivity"] - (l["test_accuracy"] - l["control_test_accuracy"])) < 1e-12
last = d["layers"][-1]
assert last["test_accuracy"] >= 0.9 and last["selectivity"] >= 0.6, last
assert d["best"]["test_accuracy"] >= last["test_accuracy"]
PY
else bad "probe --json"; cat "$tmp/err"; fi
"$ark" probe "$fl" --data "$tmp/colour.jsonl" --layers "0,$last" >"$tmp/probe.txt" 2>"$tmp/err" \
  && grep -q "^layer  hook" "$tmp/probe.txt" && grep -q "^best layer: " "$tmp/probe.txt" && grep -q "split by entity" "$tmp/probe.txt" \
  && ok || { bad "probe human table"; cat "$tmp/probe.txt" "$tmp/err"; }

# --- the saved probe is at the optimum (numpy, from arrakis run's activations) ------
$py -c "
import json,sys
for l in open(sys.argv[1]): print(json.dumps({'text': json.loads(l)['text']}))
" "$tmp/redblue.jsonl" >"$tmp/rb_text.jsonl"
"$ark" tokenize "$fl" --jsonl --special <"$tmp/rb_text.jsonl" >"$tmp/rb_ids.jsonl" 2>"$tmp/err" || bad "tokenize"
$py -c "
import json,sys
for l in open(sys.argv[1]): print(json.dumps(json.loads(l)['ids']))
" "$tmp/rb_ids.jsonl" >"$tmp/rb_tokens.jsonl"
if "$ark" probe "$fl" --data "$tmp/redblue.jsonl" --layers "$last" --l2 0.05 --save "$tmp/probes" --json >"$tmp/rb.json" 2>"$tmp/err" \
   && "$ark" run "$fl" --tokens-file "$tmp/rb_tokens.jsonl" --hooks "resid_post$last" --out "$tmp/rb_cache.safetensors" >/dev/null 2>"$tmp/err"; then
  $py - "$tmp/rb.json" "$tmp/probes/layer$last.safetensors" "$tmp/probes/layer$last.json" "$tmp/rb_cache.safetensors" \
      "$tmp/rb_tokens.jsonl" "$last" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "saved probe at the optimum"; cat "$tmp/py.out"; }
import json, sys
import numpy as np
import st_tool
d = json.load(open(sys.argv[1]))
p = {k: v[1].astype(np.float64) for k, v in st_tool.read(sys.argv[2]).items()}
side = json.load(open(sys.argv[3]))
X = st_tool.read(sys.argv[4])[f"blocks.{sys.argv[6]}.hook_resid_post"][1].astype(np.float64)
lens = [len(json.loads(l)) for l in open(sys.argv[5])]
x = np.stack([X[i, n - 1] for i, n in enumerate(lens)])                     # last real token
labels = [json.loads(l)["label"] for l in open(sys.argv[5].replace("rb_tokens", "redblue"))]
classes = sorted(set(labels))
assert side["classes"] == classes and d["data"]["classes"] == classes and side["hook"] == d["layers"][0]["hook"]
y = np.array([classes.index(s) for s in labels])
train = np.array(d["data"]["split"]["is_test"]) == 0
W, b, mu, sd = p["W"], p["b"], p["mean"], p["std"]
assert W.shape == (2, x.shape[1]) and p["vector"].shape == (x.shape[1],)
xt, yt = x[train], y[train]
assert np.allclose(mu, xt.mean(0), rtol=1e-4, atol=1e-5) and np.allclose(sd, xt.std(0), rtol=1e-4, atol=1e-6)
z = (xt - mu) / sd
lg = z @ W.T + b
P = np.exp(lg - lg.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
R = P.copy(); R[np.arange(len(yt)), yt] -= 1; R /= len(yt)
l2 = d["l2"]
g = np.concatenate([(R.T @ z + l2 * W).ravel(), R.sum(0)])
gn = np.linalg.norm(g)
print("gradient norm at the saved weights:", gn, "reported", d["layers"][0]["fit"]["grad_norm"])
assert gn < 1e-3, gn
acc = (lg.argmax(1) == yt).mean()
assert abs(acc - d["layers"][0]["train_accuracy"]) < 1e-12, (acc, d["layers"][0]["train_accuracy"])
v = p["vector"]
assert abs(np.linalg.norm(v) - 1) < 1e-5
m1, m0 = xt[yt == 1].mean(0), xt[yt == 0].mean(0)
assert np.allclose(v, (m1 - m0) / np.linalg.norm(m1 - m0), atol=1e-5)
PY
else bad "probe --save / run --out"; cat "$tmp/err"; fi

# the vector steers towards the second class ("red" - "blue"), and write-read reads it
blue=$($py -c "
import json,sys
for l in open(sys.argv[1]):
    f = json.loads(l)
    if f['relation'] == 'colour' and f['attribute'] == 'blue': print(f['prompts'][0]); break
" "$fl/facts.jsonl")
hook="blocks.$last.hook_resid_post"
if "$ark" run "$fl" --text "$blue" --top-k 200 --json >"$tmp/plain.json" 2>"$tmp/err" \
   && "$ark" run "$fl" --text "$blue" --top-k 200 --steer "$hook:$tmp/probes/layer$last.safetensors:20" --json >"$tmp/steer.json" 2>"$tmp/err"; then
  $py - "$tmp/plain.json" "$tmp/steer.json" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "steering with the probe vector"; cat "$tmp/py.out"; }
import json, sys
def margin(path):
    lg = {t["token"]: t["logit"] for t in json.load(open(path))["rows"][0]["top_k"]}
    return lg["red"] - lg["blue"]
a, b = margin(sys.argv[1]), margin(sys.argv[2])
print("logit(red) - logit(blue):", a, "->", b)
assert b > a + 1, (a, b)
PY
else bad "run --steer with a saved probe"; cat "$tmp/err"; fi
"$ark" write-read "$fl" --direction "file:$tmp/probes/layer$last.safetensors:vector" --json >/dev/null 2>"$tmp/err" \
  && ok || { bad "write-read reads the probe's vector"; cat "$tmp/err"; }

# --- the true/false probe -------------------------------------------------------------
if "$ark" probe "$fl" --truth "$tmp/pairs.jsonl" --direction unembed --pos -3 --json >"$tmp/truth.json" 2>"$tmp/err"; then
  $py - "$tmp/truth.json" <<'PY' >"$tmp/py.out" 2>&1 && ok || { bad "true/false separation"; cat "$tmp/py.out"; }
import json, sys
d = json.load(open(sys.argv[1]))
for l in d["layers"]:
    a = l["all"]
    print(l["layer"], a["separation"], a["pair_accuracy"], a["sign_accuracy"])
a = d["layers"][-1]["all"]
assert a["pair_accuracy"] >= 0.98 and a["separation"] >= 2 and a["sign_accuracy"] >= 0.9, a
assert abs(a["mean_difference"] - (a["mean_true"] - a["mean_false"])) < 1e-9
PY
else bad "probe --truth --json"; cat "$tmp/err"; fi
"$ark" probe "$fl" --truth "$tmp/pairs.jsonl" --layers "$last" >"$tmp/truth.txt" 2>"$tmp/err" \
  && grep -q "separation" "$tmp/truth.txt" && grep -q " test " "$tmp/truth.txt" && ok || { bad "truth human table"; cat "$tmp/truth.txt" "$tmp/err"; }
"$ark" probe "$fl" --truth "$tmp/pairs.jsonl" --layers "$last" --direction "$tmp/probes/layer$last.safetensors" --json >"$tmp/tf.json" 2>"$tmp/err" \
  && grep -q '"all"' "$tmp/tf.json" && ok || { bad "truth with a file direction"; cat "$tmp/err"; }

# --- help and errors ---------------------------------------------------------------
"$ark" probe --help | grep -q "usage: arrakis probe" && ok || bad "probe --help"
"$ark" kg --help | grep -q "usage: arrakis kg" && ok || bad "kg --help"
expect_error "probe no dir" "missing MODEL_DIR" "$ark" probe --data x
expect_error "probe no data" "--data FILE.jsonl" "$ark" probe "$fl"
expect_error "probe both" "one of --data" "$ark" probe "$fl" --data a --truth b
expect_error "probe missing file" "nonexistent" "$ark" probe "$fl" --data "$tmp/nonexistent.jsonl"
expect_error "probe bad option" "unknown option --frobnicate" "$ark" probe "$fl" --data "$tmp/colour.jsonl" --frobnicate
expect_error "probe bad pos" "--pos" "$ark" probe "$fl" --data "$tmp/colour.jsonl" --pos middle
expect_error "probe bad layer" "layers" "$ark" probe "$fl" --data "$tmp/colour.jsonl" --layers 99
expect_error "probe bad l2" "--l2" "$ark" probe "$fl" --data "$tmp/colour.jsonl" --l2 abc
expect_error "probe bad hook" "hook" "$ark" probe "$fl" --data "$tmp/colour.jsonl" --hook nonsense
echo '{"text": "a"}' >"$tmp/nolabel.jsonl"
expect_error "probe no label" "example 1" "$ark" probe "$fl" --data "$tmp/nolabel.jsonl"
echo 'not json' >"$tmp/junk.jsonl"
expect_error "probe junk line" "junk.jsonl:1" "$ark" probe "$fl" --data "$tmp/junk.jsonl"
expect_error "probe direction without truth" "--direction goes with --truth" "$ark" probe "$fl" --data "$tmp/colour.jsonl" --direction dom
expect_error "kg no relations" "--relations" "$ark" kg "$fl" --subjects "$tmp/two.txt"
expect_error "kg missing subjects file" "subjects_file" "$ark" kg "$fl" --subjects "$tmp/none.txt" --relations "$tmp/relations.jsonl"
echo '{"relation": "r", "templates": ["no slot"]}' >"$tmp/badrel.jsonl"
expect_error "kg template without {s}" "\\{s\\}" "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/badrel.jsonl"
echo '{"templates": ["{s} is"]}' >"$tmp/badrel2.jsonl"
expect_error "kg relation without name" "relation 1" "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/badrel2.jsonl"
expect_error "kg bad noise" "--noise" "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/relations.jsonl" --causal --noise x
expect_error "kg bad kind" "causal.kind" "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/relations.jsonl" --causal --kind nope
expect_error "kg no tokenizer" "tokenizer" "$ark" kg "$fx/models/llama" --subjects "$tmp/two.txt" --relations "$tmp/relations.jsonl"
expect_error "kg bad top-k" "--top-k" "$ark" kg "$fl" --subjects "$tmp/two.txt" --relations "$tmp/relations.jsonl" --top-k x

test_end
