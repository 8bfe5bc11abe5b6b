#!/usr/bin/env bash
# The command line for newcomers: every command listed by `arrakis --help`
# has a --help that exits 0 and shows at least one example; `arrakis --help`
# ends with examples; argument errors exit non-zero in one line that names
# the option, argument or file at fault and says what to do next (a --help,
# an `arrakis ... --list`, or what is expected).
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_help

ind=$fx/trained/induction-gpt2   # no tokenizer.json
facts=$fx/trained/facts-llama    # a word-level tokenizer

# --- arrakis --help ----------------------------------------------------------
"$ark" --help >"$tmp/help" 2>"$tmp/err" && ok || bad "arrakis --help exits non-zero"
cmds=$(awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{exit}' "$tmp/help")
n=$(echo "$cmds" | wc -w)
[ "$n" -ge 20 ] && ok || bad "arrakis --help lists only $n commands"
grep -q '^examples' "$tmp/help" && ok || bad "arrakis --help has no examples section"
for c in info run heads lens "exp run"; do
  grep -q "^  arrakis $c " "$tmp/help" && ok || bad "arrakis --help lacks an example of arrakis $c"
done

# --- every command's --help ----------------------------------------------------
for c in $cmds; do
  "$ark" "$c" --help >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ $rc -eq 0 ] || { bad "arrakis $c --help exits $rc"; continue; }
  grep -q "usage: arrakis $c" "$tmp/out" && ok || bad "arrakis $c --help has no usage line"
  grep -qi "example" "$tmp/out" && ok || bad "arrakis $c --help shows no example"
  grep -qE "^ *(examples?: )?(echo .*\| )?arrakis $c " "$tmp/out" && ok || bad "arrakis $c --help: no example command line"
done

# --- errors --------------------------------------------------------------------
# expect_one_line_error NAME PATTERN CMD...: stricter than shlib.sh's
# expect_error: exit status 1..127, one line on stderr matching PATTERN (an
# extended regular expression), nothing on stdout; stdin is /dev/null.
expect_one_line_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit $rc"; cat "$tmp/err"; return; fi
  if ! grep -qE -- "$pat" "$tmp/err"; then bad "$name: stderr lacks /$pat/"; cat "$tmp/err"; return; fi
  if [ "$(wc -l <"$tmp/err")" -ne 1 ]; then bad "$name: stderr is not one line"; cat "$tmp/err"; return; fi
  if [ -s "$tmp/out" ]; then bad "$name: wrote to stdout"; return; fi
  ok
}

expect_one_line_error "unknown command" 'unknown command "frobnicate" \(arrakis --help lists the commands\)$' \
  "$ark" frobnicate
expect_one_line_error "did you mean" 'unknown command "lense".*did you mean "lens"' "$ark" lense
expect_one_line_error "prefix of a command" 'did you mean "attribute"' "$ark" attr
expect_one_line_error "missing MODEL_DIR" 'arrakis lens: error: missing MODEL_DIR.*see arrakis lens --help' "$ark" lens
expect_one_line_error "exp without subcommand" 'arrakis exp: error: missing the subcommand: run, list, show, diff, export or report \(see arrakis exp --help\)' "$ark" exp
expect_one_line_error "--process" 'arrakis lens: error: --process: processing step "foo".*see arrakis lens --help' "$ark" lens "$ind" --tokens 1,2 --process foo
expect_one_line_error "unknown option" 'unknown option --frob .*see arrakis run --help' "$ark" run "$ind" --tokens 1,2 --frob
expect_one_line_error "missing value" 'arrakis lens: error: --top-k needs a value \(see arrakis lens --help\)' \
  "$ark" lens "$ind" --tokens 1,2 --top-k
expect_one_line_error "bad number" '--top-k abc: expected an integer \(see arrakis lens --help\)' \
  "$ark" lens "$ind" --tokens 1,2 --top-k abc
expect_one_line_error "bad choice" '--scale x: expected own or cached .*see arrakis lens --help' \
  "$ark" lens "$ind" --tokens 1,2 --scale x
expect_one_line_error "bad token ids" 'cannot read token ids from "1,x".*12,7,99' "$ark" run "$ind" --tokens 1,x
expect_one_line_error "bad token ids separator" "unexpected ';' in token ids.*12,7,99" "$ark" run "$ind" --tokens "1;2"
expect_one_line_error "missing tokens file" '--tokens-file .*/none.jsonl: cannot open: .*one JSON array of ids per line' \
  "$ark" lens "$ind" --tokens-file "$tmp/none.jsonl"
expect_one_line_error "svd needs a head" '--circuit ov needs --head H \(see arrakis svd --help\)' \
  "$ark" svd "$ind" --layer 0 --circuit ov
expect_one_line_error "text without tokenizer" '--text needs a tokenizer.*no tokenizer.json \(use --tokens\)' \
  "$ark" run "$ind" --text hello
expect_one_line_error "no input" 'no input: give --tokens IDS, --text TEXT or --tokens-file FILE' "$ark" lens "$ind"
expect_one_line_error "conflicting options" '--against and --against-mean exclude each other.*--help' \
  "$ark" attribute "$ind" --tokens 1,2 --target 3 --against 4 --against-mean
expect_one_line_error "unknown plot type" 'unknown plot type "nosuch" \(arrakis plot --list lists them\)' \
  "$ark" plot nosuch "$ind" --tokens 1,2 --out "$tmp/x.png"
expect_one_line_error "unknown tool" 'unknown tool "nosuch"' "$ark" tool nosuch "$ind"
expect_one_line_error "missing tool key" 'missing KEY.*arrakis tool --list' "$ark" tool
expect_one_line_error "unknown subcommand" 'unknown subcommand "frob".*train, eval or features.*see arrakis sae --help' \
  "$ark" sae frob
expect_one_line_error "missing sae subcommand" 'missing the subcommand.*see arrakis sae --help' "$ark" sae
expect_one_line_error "unknown view" 'unknown view "foo".*see arrakis view --help' "$ark" view foo
expect_one_line_error "unknown stats test" 'unknown test "foo".*ttest, perm or bootstrap' "$ark" stats foo a b
expect_one_line_error "stats missing file" 'sample A: .*/nonexistent.json.*JSON file holding an array of numbers' \
  "$ark" stats ttest "$tmp/nonexistent.json" "$tmp/b.json"
echo '[1, 2, 3]' >"$tmp/a.json"
expect_one_line_error "stats second file" 'sample B: .*/nonexistent.json' "$ark" stats ttest "$tmp/a.json" "$tmp/nonexistent.json"
expect_one_line_error "tokenize without PATH" 'missing PATH.*see arrakis tokenize --help' "$ark" tokenize
expect_one_line_error "detokenize unknown option" 'unknown option --x \(see arrakis detokenize --help\)' "$ark" detokenize "$facts" --x
expect_one_line_error "tokenize without tokenizer" 'cannot load the tokenizer.*tokenizer.json' "$ark" tokenize "$ind"
expect_one_line_error "init missing --out" 'missing --out DIR \(see arrakis init --help\)' "$ark" init --arch gpt2
expect_one_line_error "patch missing MODEL_DIR" 'missing MODEL_DIR.*see arrakis patch --help' "$ark" patch
expect_one_line_error "model folder missing" '/nonexistent-model' "$ark" info "$tmp/nonexistent-model"

# --- the shared argument parser (cli_parse) -------------------------------------
expect_one_line_error "bad number as --opt=V" 'arrakis lens: error: --top-k abc: expected an integer \(see arrakis lens --help\)$' \
  "$ark" lens "$ind" --tokens 1,2 --top-k=abc
expect_one_line_error "number below the minimum" 'arrakis pca: error: --components 0: expected an integer >= 1 \(see arrakis pca --help\)$' \
  "$ark" pca "$ind" --tokens 1,2 --hook blocks.0.hook_resid_post --components 0
expect_one_line_error "bad real number" '--min-z abc: expected a number \(see arrakis composition --help\)$' \
  "$ark" composition "$ind" --min-z abc
expect_one_line_error "non-finite number" '--threshold inf: expected a number \(see arrakis sparsity --help\)$' \
  "$ark" sparsity "$ind" --tokens 1,2 --hook blocks.0.mlp.hook_post --threshold inf
expect_one_line_error "unexpected argument" 'arrakis info: error: unexpected argument extra \(see arrakis info --help\)$' \
  "$ark" info "$ind" extra
expect_one_line_error "unknown option before --help" 'unknown option --frob \(see arrakis svd --help\)$' "$ark" svd "$ind" --frob --help
expect_one_line_error "flag given a value" 'unknown option --json=1 \(see arrakis residual --help\)$' \
  "$ark" residual "$ind" --tokens 1,2 --json=1
expect_one_line_error "missing value of a --process" 'arrakis attribute: error: --process needs a value' \
  "$ark" attribute "$ind" --tokens 1,2 --target 3 --process
expect_one_line_error "trace missing MODEL_DIR" 'missing MODEL_DIR \(usage: arrakis trace MODEL_DIR .*see arrakis trace --help\)$' \
  "$ark" trace --prompt x
# --help after parsed inputs: usage, exit 0 (the ASan build checks nothing leaks)
for c in lens attribute residual decompose pca sparsity heads write-read; do
  "$ark" $c "$ind" --tokens 1,2 --text x --help >"$tmp/out" 2>"$tmp/err" && grep -q "usage: arrakis $c" "$tmp/out" && ! [ -s "$tmp/err" ] &&
    ok || { bad "arrakis $c ... --help after inputs"; cat "$tmp/err"; }
done
# an option given twice: the last one counts
n=$("$ark" lens "$ind" --tokens 1,2,3 --pos -1 --top-k 1 --top-k=2 --json | /usr/bin/python3 -c \
  'import json,sys; print(len(json.load(sys.stdin)["rows"][0]["positions"][0]["points"][0]["top"]))')
[ "$n" = 2 ] && ok || bad "lens --top-k 1 --top-k=2 shows $n tokens, not 2"

# the examples in tokenize/detokenize --help run as written
echo "Gaishar Tastei lives in" | "$ark" tokenize "$facts" >"$tmp/tok" 2>"$tmp/err" && grep -q '^ids:' "$tmp/tok" && ok ||
  bad "tokenize example"
echo '{"ids": [1, 5, 12]}' | "$ark" detokenize "$facts" --jsonl --skip-special | grep -q '"text"' && ok ||
  bad "detokenize example"

test_end
