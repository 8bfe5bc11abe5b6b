#!/usr/bin/env bash
# arrakis view: the three HTML views from fixture models, loaded in headless
# Chromium (Debian's /usr/bin/chromium, driven by playwright-core from npm,
# installed into the build folder; never a browser download) by
# tests/view_check.mjs: no console errors, no network, hovering a token or a
# cell changes the highlighted cells.  Also: the pages are self-contained
# (no http(s) references, no external script/link), --from, error paths.
# Missing Chromium or npm is a failure, not a skip (scripts/setup.sh
# installs them).
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
src=${ARK_SRC:?}
build=${ARK_BUILD:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_view
llama=$fx/trained/facts-llama
text="Gaishar Tastei lives in Prague ."
"$ark" view attention "$llama" --text "$text" --out "$tmp/attention.html" >/dev/null && ok || bad "view attention"
"$ark" view attention "$fx/trained/induction-gpt2" --tokens 5,9,23,41,5,9,23,41 --layer 1 --out "$tmp/attention1.html" >/dev/null && ok || bad "view attention --layer"
"$ark" view lens "$llama" --text "Gaishar Tastei lives in" --top-k 3 --out "$tmp/lens.html" >/dev/null && ok || bad "view lens"
"$ark" view tokens "$llama" --text "$text" --values dla:Prague --out "$tmp/tokens.html" >/dev/null && ok || bad "view tokens dla"
"$ark" view tokens "$llama" --text "$text" --values hook:blocks.1.mlp.hook_post:7 --out "$tmp/tokens2.html" >/dev/null && ok || bad "view tokens hook"
"$ark" view tokens "$llama" --text "$text" --out "$tmp/tokens3.html" >/dev/null && ok || bad "view tokens logprob"
echo '{"tokens": ["a", "<b>", "</script>"], "values": [1, -2, 0.5], "label": "given"}' >"$tmp/vals.json"
"$ark" view tokens --from "$tmp/vals.json" --title 'x </script> y' --out "$tmp/tokens4.html" >/dev/null && ok || bad "view --from"

# self-contained: no network references, no external scripts or styles
for f in "$tmp"/*.html; do
  if grep -qiE 'https?://|<script[^>]+src=|<link[^>]+href=' "$f"; then bad "$(basename "$f") references something outside"; else ok; fi
done
# the data cannot close its <script>: exactly one </script> per script element (2)
[ "$(grep -o '</script>' "$tmp/tokens4.html" | wc -l)" = 2 ] && ok || bad "a </script> in the data leaked"

# the browser checks
if [ ! -x /usr/bin/chromium ]; then
  bad "Debian's chromium is not installed (/usr/bin/chromium): run scripts/setup.sh"
elif ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  bad "node/npm are not installed: run scripts/setup.sh"
else
  pw=$build/npm/node_modules/playwright-core
  if [ ! -f "$pw/package.json" ]; then
    npm install --prefix "$build/npm" --no-audit --no-fund --silent playwright-core >"$tmp/npm.log" 2>&1 || { bad "npm install playwright-core"; cat "$tmp/npm.log"; }
  fi
  if [ -f "$pw/package.json" ]; then
    for v in attention:attention attention:attention1 lens:lens tokens:tokens tokens:tokens2 tokens:tokens4; do
      kind=${v%%:*} file=${v##*:}
      if timeout 120 node "$src/tests/view_check.mjs" "$pw" "$kind" "$tmp/$file.html" >"$tmp/check.log" 2>&1; then ok
      else bad "browser check of $file.html ($kind)"; cat "$tmp/check.log"; fi
    done
  fi
fi

# errors
expect_error "unknown view" 'unknown view "pie"' "$ark" view pie "$llama" --text "$text" --out "$tmp/x.html"
expect_error "no out" 'missing --out' "$ark" view lens "$llama" --text "$text"
expect_error "no input" 'needs an input' "$ark" view lens "$llama" --out "$tmp/x.html"
expect_error "bad values" 'expected logprob' "$ark" view tokens "$llama" --text "$text" --values nope --out "$tmp/x.html"
expect_error "bad hook" 'blocks.9' "$ark" view tokens "$llama" --text "$text" --values hook:blocks.9.mlp.hook_post --out "$tmp/x.html"
expect_error "hook not per position" 'not per position' "$ark" view tokens "$llama" --text "$text" --values hook:blocks.0.attn.hook_pattern --out "$tmp/x.html"
expect_error "bad component" 'no component' "$ark" view tokens "$llama" --text "$text" --values dla:Prague:L9H9 --out "$tmp/x.html"
expect_error "layer range" 'out of range' "$ark" view attention "$llama" --text "$text" --layer 12 --out "$tmp/x.html"
echo '{"tokens": ["a"]}' >"$tmp/bad.json"
expect_error "bad data" 'patterns' "$ark" view attention --from "$tmp/bad.json" --out "$tmp/x.html"
expect_error "unwritable" 'cannot open' "$ark" view tokens --from "$tmp/vals.json" --out /nonexistent/x.html
"$ark" view --help | grep -q examples && ok || bad "--help"

test_end
