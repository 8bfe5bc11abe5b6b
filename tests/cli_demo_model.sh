#!/usr/bin/env bash
# The model shipped for the demo, models/induction-words: it is exactly what
# its generator writes, and it does what its README says, checked first with
# the independent numpy forward (tests/hf_reference.py), then through the
# command line (detectors, ablation, prediction).
set -u
src=${ARK_SRC:?}
bin=${ARK_BIN:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_demo_model
M=$src/models/induction-words

# 1. Provenance: the generator writes the shipped files byte for byte.
check $py "$src/models/make_induction_words.py" "$tmp/regen"
for f in config.json tokenizer.json model.safetensors; do check cmp "$M/$f" "$tmp/regen/$f"; done

# 2. The mechanism, by the independent reference (no arrakis code involved).
#    Rows: <bos> then 12 distinct random words, repeated.  Expected values
#    follow from the construction (README): L0H1 attends to i-1, L1H2 to the
#    token after the earlier copy; only those two heads matter.
cat > "$tmp/mech.py" <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import hf_reference as hf
m = hf.load_model(sys.argv[2])
vocab = json.load(open(sys.argv[2] + "/tokenizer.json"))["model"]["vocab"]
bos = vocab["<bos>"]
rng = np.random.default_rng(7)
words = [i for w, i in vocab.items() if w not in ("<unk>", "<bos>")]
P = 12

def loss(logits, ids, start):  # mean CE of targets start..T-1
    lp = logits - logits.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    return float(np.mean([-lp[t - 1, ids[t]] for t in range(start, len(ids))]))

bad = []
clean, abl = [], {}
for r in range(6):
    body = list(rng.choice(words, P, replace=False))
    ids = [bos] + body + body
    logits, c = m.forward(ids)
    T = len(ids)
    p0 = c["blocks.0.attn.hook_pattern"][1]  # (q, k) of L0H1
    p1 = c["blocks.1.attn.hook_pattern"][2]  # L1H2
    if min(p0[i, i - 1] for i in range(1, T)) < 0.99: bad.append("L0H1 previous-token < 0.99")
    if min(p1[i, i - P + 1] for i in range(1 + P, T)) < 0.95: bad.append("L1H2 induction < 0.95")
    start = P + 2  # the second copy after its first token
    clean.append(loss(logits, ids, start))
    for L in range(2):
        for h in range(4):
            lg, _ = m.forward(ids, zero_heads={L: [h]})
            abl.setdefault((L, h), []).append(loss(lg, ids, start))
c = np.mean(clean)
print("clean repeated loss", c)
if c > 0.05: bad.append(f"clean loss {c}")
for (L, h), v in abl.items():
    eff = np.mean(v) - c
    print(f"L{L}H{h} ablation effect {eff:+.4f}")
    if (L, h) in ((0, 1), (1, 2)):
        if eff < 2.0: bad.append(f"L{L}H{h} effect {eff} < 2")
    elif abs(eff) > 0.05: bad.append(f"L{L}H{h} effect {eff} not ~0")
print("\n".join(bad) or "ok")
sys.exit(1 if bad else 0)
PY
check $py "$tmp/mech.py" "$src/tests" "$M"

# 3. The same facts through arrakis.
T="the red fox jumps over the lazy dog . the red fox jumps over the lazy"
check sh -c "'$bin' run '$M' --text '$T' --top-k 1 | grep -q \"'dog'\""
check sh -c "'$bin' heads '$M' --repeat-random 12 --batch 16 --seed 3 --bos 1 --id-range 2,56 --json > '$tmp/heads.json'"
cat > "$tmp/heads.py" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
det = d["detectors"]
def marked(name):
    return [(L, h) for L, row in enumerate(det[name]) for h, v in enumerate(row) if v is not None and v >= 0.4]
print(marked("previous"), marked("induction"))
sys.exit(0 if marked("previous") == [(0, 1)] and marked("induction") == [(1, 2)] else 1)
PY
check $py "$tmp/heads.py" "$tmp/heads.json"

test_end
