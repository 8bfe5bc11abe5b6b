#!/usr/bin/env bash
# arrakis tokenize / detokenize against the tokenizer fixtures' cases.jsonl
# (Hugging Face tokenizers' own output) and the facts-llama WordLevel
# tokenizer.  Exits non-zero on any mismatch.
#
# env: ARK_BIN (the arrakis binary), ARK_FIXTURES, ARK_TMP.
set -u
BIN=${ARK_BIN:?ARK_BIN is not set}
FIX=${ARK_FIXTURES:?ARK_FIXTURES is not set}
TMP=${ARK_TMP:-/tmp}/cli_tokenize.$$
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
fail=0

# Compare arrakis' outputs with cases.jsonl: ids, ids_with_special, decoded,
# and the shape of pieces/offsets.
check_cases() {
    local name=$1 dir=$2
    local cases=$dir/cases.jsonl
    "$PY" - "$cases" > "$TMP/$name.text.jsonl" <<'EOF' || return 1
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"text": json.loads(line)["text"]}))
EOF
    "$PY" - "$cases" > "$TMP/$name.ids.jsonl" <<'EOF' || return 1
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"ids": json.loads(line)["ids"]}))
EOF
    "$BIN" tokenize "$dir" --jsonl --offsets < "$TMP/$name.text.jsonl" > "$TMP/$name.out" || { echo "FAIL $name: tokenize exited $?"; return 1; }
    "$BIN" tokenize "$dir/tokenizer.json" --jsonl --special < "$TMP/$name.text.jsonl" > "$TMP/$name.special" || { echo "FAIL $name: tokenize --special exited $?"; return 1; }
    "$BIN" detokenize "$dir" --jsonl < "$TMP/$name.ids.jsonl" > "$TMP/$name.dec" || { echo "FAIL $name: detokenize exited $?"; return 1; }
    "$PY" - "$name" "$cases" "$TMP/$name.out" "$TMP/$name.special" "$TMP/$name.dec" <<'EOF'
import json, sys
name, cases, out, special, dec = sys.argv[1:]
def lines(p):  # split on "\n" only: pieces may hold other line separators
    return [json.loads(l) for l in open(p, encoding="utf-8").read().split("\n") if l]
C = [json.loads(l) for l in open(cases, encoding="utf-8")]
O, S, D = lines(out), lines(special), lines(dec)
bad = 0
if not (len(O) == len(S) == len(D) == len(C)):
    print(f"FAIL {name}: {len(C)} cases but {len(O)}/{len(S)}/{len(D)} output lines"); sys.exit(1)
ok = [0, 0, 0]
for i, (c, o, s, d) in enumerate(zip(C, O, S, D)):
    res = [o["ids"] == c["ids"], s["ids"] == c["ids_with_special"], d["text"] == c["decoded"]]
    n = len(o["ids"])
    text = c["text"].encode("utf-8")
    shape = len(o["pieces"]) == n and len(o["offsets"]) == n and \
        all(0 <= a <= b <= len(text) for a, b in o["offsets"]) and set(s) == {"ids", "pieces"}
    for k in range(3): ok[k] += res[k]
    if not all(res) or not shape:
        bad += 1
        if bad <= 5:
            print(f"FAIL {name} case {i} {c['text'][:60]!r}: ids {res[0]} special {res[1]} decoded {res[2]} shape {shape}")
print(f"{name}: ids {ok[0]}/{len(C)}, ids_with_special {ok[1]}/{len(C)}, decoded {ok[2]}/{len(C)}")
sys.exit(1 if bad else 0)
EOF
}

for name in gpt2 llama2 mistral llama3 qwen3 gemma3; do
    check_cases "$name" "$FIX/tokenizers/$name" || fail=1
done

# facts-llama: WordLevel + Whitespace; its sentences are space-separated words
# and vocab.json is the same word -> id map.  No BOS even with --special.
FL=$FIX/trained/facts-llama
"$PY" - "$FL/facts.jsonl" > "$TMP/facts.text.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    for s in json.loads(line)["sentences"]:
        print(json.dumps({"text": s}))
EOF
"$BIN" tokenize "$FL" --jsonl --special < "$TMP/facts.text.jsonl" > "$TMP/facts.out" || { echo "FAIL facts-llama: tokenize"; fail=1; }
"$PY" - "$FL/vocab.json" "$TMP/facts.text.jsonl" "$TMP/facts.out" <<'EOF' || fail=1
import json, sys
vocab = json.load(open(sys.argv[1]))
T = [json.loads(l)["text"] for l in open(sys.argv[2])]
O = [json.loads(l) for l in open(sys.argv[3])]
bad = sum(1 for t, o in zip(T, O) if o["ids"] != [vocab[w] for w in t.split(" ")] or o["pieces"] != [" " + w for w in t.split(" ")])
print(f"facts-llama: {len(T) - bad}/{len(T)} sentences")
sys.exit(1 if bad or len(T) != len(O) or not T else 0)
EOF

# plain modes: text on stdin -> ids and pieces; ids on stdin -> text
out=$(printf 'Hello world\n' | "$BIN" tokenize "$FIX/tokenizers/gpt2")
case $out in
*"ids: 15496 995"*'" world"'*) ;;
*) echo "FAIL plain tokenize: $out"; fail=1 ;;
esac
out=$(printf '15496, 995\n' | "$BIN" detokenize "$FIX/tokenizers/gpt2")
[ "$out" = "Hello world" ] || { echo "FAIL plain detokenize: $out"; fail=1; }
out=$(echo '{"ids": [1, 15043, 2]}' | "$BIN" detokenize "$FIX/tokenizers/llama2" --jsonl --skip-special)
[ "$out" = '{"text": "Hello"}' ] || { echo "FAIL detokenize --skip-special: $out"; fail=1; }

# errors: a bad folder, a bad line, an unknown id -> non-zero with a message
if "$BIN" tokenize "$TMP/nowhere" < /dev/null 2> "$TMP/err"; then echo "FAIL: missing folder accepted"; fail=1; fi
grep -q "nowhere" "$TMP/err" || { echo "FAIL: missing folder message: $(cat "$TMP/err")"; fail=1; }
if echo 'not json' | "$BIN" tokenize "$FIX/tokenizers/gpt2" --jsonl > /dev/null 2> "$TMP/err"; then echo "FAIL: bad line accepted"; fail=1; fi
grep -q "line 1" "$TMP/err" || { echo "FAIL: bad line message: $(cat "$TMP/err")"; fail=1; }
if echo '{"ids": [99999999]}' | "$BIN" detokenize "$FIX/tokenizers/gpt2" --jsonl > /dev/null 2> "$TMP/err"; then echo "FAIL: unknown id accepted"; fail=1; fi
grep -q "ids\[0\]" "$TMP/err" || { echo "FAIL: unknown id message: $(cat "$TMP/err")"; fail=1; }
if printf 'ab\377' | "$BIN" tokenize "$FIX/tokenizers/gpt2" > /dev/null 2> "$TMP/err"; then echo "FAIL: invalid UTF-8 accepted"; fail=1; fi
grep -q "UTF-8" "$TMP/err" || { echo "FAIL: invalid UTF-8 message: $(cat "$TMP/err")"; fail=1; }

[ $fail -eq 0 ] && echo "cli_tokenize: all checks passed"
exit $fail
