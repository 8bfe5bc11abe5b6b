#!/usr/bin/env bash
# arrakis tokenize / detokenize against the tokenizer fixtures' cases.jsonl
# (Hugging Face tokenizers' own output) and the facts-llama WordLevel
# tokenizer.  Exits non-zero on any mismatch.
#
# env: ARK_BIN (the arrakis binary), ARK_FIXTURES, ARK_TMP, ARK_SRC.
set -u
BIN=${ARK_BIN:?ARK_BIN is not set}
FIX=${ARK_FIXTURES:?ARK_FIXTURES is not set}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_tokenize

# Compare arrakis' outputs with cases.jsonl: ids, ids_with_special, decoded,
# and the shape of pieces/offsets.
check_cases() {
    local name=$1 dir=$2
    local cases=$dir/cases.jsonl
    "$py" - "$cases" > "$tmp/$name.text.jsonl" <<'EOF' || return 1
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"text": json.loads(line)["text"]}))
EOF
    "$py" - "$cases" > "$tmp/$name.ids.jsonl" <<'EOF' || return 1
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    print(json.dumps({"ids": json.loads(line)["ids"]}))
EOF
    "$BIN" tokenize "$dir" --jsonl --offsets < "$tmp/$name.text.jsonl" > "$tmp/$name.out" || { echo "FAIL $name: tokenize exited $?"; return 1; }
    "$BIN" tokenize "$dir/tokenizer.json" --jsonl --special < "$tmp/$name.text.jsonl" > "$tmp/$name.special" || { echo "FAIL $name: tokenize --special exited $?"; return 1; }
    "$BIN" detokenize "$dir" --jsonl < "$tmp/$name.ids.jsonl" > "$tmp/$name.dec" || { echo "FAIL $name: detokenize exited $?"; return 1; }
    "$py" - "$name" "$cases" "$tmp/$name.out" "$tmp/$name.special" "$tmp/$name.dec" <<'EOF'
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
    check_cases "$name" "$FIX/tokenizers/$name" && ok || bad "$name: cases.jsonl"
done

# facts-llama: WordLevel + Whitespace; its sentences are space-separated words
# and vocab.json is the same word -> id map.  No BOS even with --special.
FL=$FIX/trained/facts-llama
"$py" - "$FL/facts.jsonl" > "$tmp/facts.text.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    for s in json.loads(line)["sentences"]:
        print(json.dumps({"text": s}))
EOF
"$BIN" tokenize "$FL" --jsonl --special < "$tmp/facts.text.jsonl" > "$tmp/facts.out" && ok || bad "facts-llama: tokenize"
"$py" - "$FL/vocab.json" "$tmp/facts.text.jsonl" "$tmp/facts.out" <<'EOF' && ok || bad "facts-llama: ids and pieces"
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
*"ids: 15496 995"*'" world"'*) ok ;;
*) bad "plain tokenize: $out" ;;
esac
out=$(printf '15496, 995\n' | "$BIN" detokenize "$FIX/tokenizers/gpt2")
[ "$out" = "Hello world" ] && ok || bad "plain detokenize: $out"
out=$(echo '{"ids": [1, 15043, 2]}' | "$BIN" detokenize "$FIX/tokenizers/llama2" --jsonl --skip-special)
[ "$out" = '{"text": "Hello"}' ] && ok || bad "detokenize --skip-special: $out"

# errors: a bad folder, a bad line, an unknown id -> non-zero with a message
if "$BIN" tokenize "$tmp/nowhere" < /dev/null 2> "$tmp/err"; then bad "missing folder accepted"; else ok; fi
grep -q "nowhere" "$tmp/err" && ok || bad "missing folder message: $(cat "$tmp/err")"
if echo 'not json' | "$BIN" tokenize "$FIX/tokenizers/gpt2" --jsonl > /dev/null 2> "$tmp/err"; then bad "bad line accepted"; else ok; fi
grep -q "line 1" "$tmp/err" && ok || bad "bad line message: $(cat "$tmp/err")"
if echo '{"ids": [99999999]}' | "$BIN" detokenize "$FIX/tokenizers/gpt2" --jsonl > /dev/null 2> "$tmp/err"; then bad "unknown id accepted"; else ok; fi
grep -q "ids\[0\]" "$tmp/err" && ok || bad "unknown id message: $(cat "$tmp/err")"
if printf 'ab\377' | "$BIN" tokenize "$FIX/tokenizers/gpt2" > /dev/null 2> "$tmp/err"; then bad "invalid UTF-8 accepted"; else ok; fi
grep -q "UTF-8" "$tmp/err" && ok || bad "invalid UTF-8 message: $(cat "$tmp/err")"

test_end
