#!/usr/bin/env bash
# The README's five-minute tour, as a new user runs it: every command line of
# its code block runs (in a scratch folder that looks like the clone's root,
# after the demo's experiment has been logged) and exits 0, and the outputs
# say what the README's comments say they print.
set -u
src=${ARK_SRC:?}
bin=${ARK_BIN:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_readme_tour
mkdir -p "$tmp/root/build" "$tmp/out"
ln -s "$src/models" "$tmp/root/models"
ln -s "$src/examples" "$tmp/root/examples"
ln -s "$bin" "$tmp/root/build/arrakis"
cd "$tmp/root"

# The demo's experiment (scripts/demo.sh logs it in ./experiments).
"$bin" exp run examples/investigation.yaml --dir experiments >/dev/null || bad "the demo's spec"

# The tour's code block: the lines between "## A five-minute tour" and the
# end of its first ```sh block; comment-only lines dropped.
awk '/^## A five-minute tour/ {t = 1} t && /^```sh/ {b = 1; next} b && /^```/ {exit} b' "$src/README.md" \
  | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' > "$tmp/tour.sh"
n=$(wc -l < "$tmp/tour.sh")
[ "$n" -ge 10 ] || bad "only $n tour lines found"

# Run each line in one shell (variables carry over), output per line.
i=0
{
  echo 'set -u'
  while IFS= read -r line; do
    i=$((i + 1))
    # the newline ends a trailing "# comment" before the redirection
    printf '{ %s\n} > %q 2>&1 || echo "FAIL: tour line %d exits $?" >&2\n' "$line" "$tmp/out/$i" "$i"
  done < "$tmp/tour.sh"
} > "$tmp/run.sh"
bash "$tmp/run.sh" 2> "$tmp/failures"
if [ -s "$tmp/failures" ]; then cat "$tmp/failures"; fail=$((fail + $(wc -l < "$tmp/failures"))); else pass=$((pass + n)); fi

# out CMD_PATTERN: the output file of the first tour line matching the pattern
out() { local k; k=$(grep -nE -- "$1" "$tmp/tour.sh" | head -1 | cut -d: -f1); echo "$tmp/out/${k:-none}"; }
says() { # CMD_PATTERN TEXT...: that line's output holds each text
  local f; f=$(out "$1"); shift
  for t in "$@"; do
    if grep -qF -- "$t" "$f" 2>/dev/null; then ok; else bad "'$t' not in the output of $(grep -nE -- "$1" "$tmp/tour.sh" | head -1)"; cat "$f"; fi
  done
}
says '^arrakis info' 'gpt2' 'layers     2' 'heads 4' 'd_model 256' 'vocab      56' 'hook points (40)'
says '^arrakis run \$M --text "\$S" --top-k 3' "1. id 7       'dog'" 'prob 0.9965' "2. id 21      'lazy'"
says '^arrakis generate' 'a quick fox jumps over the lazy dog . a quick fox jumps over the lazy dog .'
says '^arrakis heads' '* >= 0.4: L0H1 1.000' '* >= 0.4: L1H2 0.867' 'largest |effect|: L0H1 +9.7153 L1H2 +7.9590'
says '^arrakis composition' '   1  k     L0H1    L1H2 ' '81.97'
says '^arrakis lens' "0_pre             -0.0887  0.00001      1  | 21 'lazy'" "1_pre             -0.0906  0.00012      1  | 21 'lazy'" "| 7 'dog' 0.996"
says '^arrakis attribute' '1  L1H2                  11.71311' '2  embed                 -0.02378'
says '^arrakis run .*--ablate' "1. id 21      'lazy'"
says '^arrakis patch' '0             0.000    0.000    0.000    0.000' '1             0.000    0.000    1.000    0.000'
says '^arrakis exp list' 'induction_circuit'
says '^arrakis exp show' 'test       induction_head: paired_t' 'plot       patching -> patching_heads.png: ok'
says '^arrakis exp report' 'my-report/index.html'
for f in cache.safetensors induction.png attention.html my-report/index.html; do
  if [ -s "$f" ]; then ok; else bad "the tour did not write $f"; fi
done

test_end
