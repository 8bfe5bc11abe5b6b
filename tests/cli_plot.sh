#!/usr/bin/env bash
# arrakis plot: every type from a fixture model (facts-llama: tokenizer, GQA)
# and from plain matrix JSON (--from) to PNG and SVG; PNGs have the size the
# command reports (read back with Python's own PNG header parse) and many
# colours; SVGs are well-formed XML (python3 xml.etree) and hold the tokens'
# text; --from a tool's JSON output; the bench renders a spec's plots; every
# error path exits non-zero with a message naming the fault.
set -u
ark=${ARK_BIN:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_plot

# check_png FILE "W x H": size in the IHDR equals the reported one; > 12 colours (zlib decode)
check_png() {
  $py - "$1" "$2" <<'PY' || return 1
import struct, sys, zlib
f, want = sys.argv[1], sys.argv[2]
b = open(f, 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
w, h, depth, ctype = struct.unpack('>IIBB', b[16:26])
assert '%d x %d' % (w, h) == want, (w, h, want)
i, idat = 8, b''
while i < len(b):
    n, = struct.unpack('>I', b[i:i + 4]); t = b[i + 4:i + 8]
    if t == b'IDAT': idat += b[i + 8:i + 8 + n]
    i += 12 + n
raw = zlib.decompress(idat)
bpp = {2: 3, 6: 4}[ctype]
stride = w * bpp + 1
# count distinct raw scanline byte triples (filters make this a lower bound of structure; enough for "not blank")
colours = {raw[r * stride + 1 + k:r * stride + 4 + k] for r in range(0, h, 3) for k in range(0, w * bpp - 3, bpp * 3)}
assert len(colours) > 12, 'blank? %d distinct values' % len(colours)
PY
}
check_svg() { # FILE TOKEN
  $py - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
texts = ''.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text'))
assert sys.argv[2] in texts, 'token %r not in the SVG text' % sys.argv[2]
PY
}

llama=$fx/trained/facts-llama
text="Gaishar Tastei lives in"
for t in attention attention_grid qk_dot_product head_scores composition patching causal_trace logit_lens \
         attribution residual_stream layer_norms neuron_activation neuron_trajectories feature_density; do
  for ext in png svg; do
    if ! "$ark" plot $t "$llama" --text "$text" --layer 1 --head 1 --corrupted "Gaishar Tastei works as" \
         --subject "Gaishar Tastei" --samples 2 --target Prague --out "$tmp/$t.$ext" >"$tmp/out" 2>"$tmp/err"; then
      bad "plot $t .$ext"; cat "$tmp/err"; continue
    fi
    size=$(sed -n 's/^wrote .* (\([0-9]* x [0-9]*\))$/\1/p' "$tmp/out")
    if [ $ext = png ]; then check_png "$tmp/$t.png" "$size" && ok || bad "$t: PNG check"
    else
      tok=Tastei
      case $t in composition) tok=L1H2;; head_scores) tok=layer;; residual_stream) tok=final_post;;
                 neuron_activation) tok=L1N;; attribution) tok=embed;; feature_density) tok=density;; layer_norms) tok=ln_final;; esac
      check_svg "$tmp/$t.svg" "$tok" && ok || bad "$t: SVG check ($tok)"
    fi
  done
done

# --from a plain matrix; explicit size; PDF
$py -c "
import json
json.dump({'matrix': [[0.1, -0.5, 0.9], [0.3, 0.0, -1.0]], 'row_labels': ['L0', 'L1'], 'col_labels': [' The', ' cat', ' sat']}, open('$tmp/m.json', 'w'))"
out=$("$ark" plot patching --from "$tmp/m.json" --width 500 --height 300 --out "$tmp/m.png") && [ "$out" = "wrote $tmp/m.png (500 x 300)" ] && check_png "$tmp/m.png" "500 x 300" && ok || bad "--from matrix png: $out"
"$ark" plot patching --from "$tmp/m.json" --out "$tmp/m.svg" >/dev/null && check_svg "$tmp/m.svg" " cat" && ok || bad "--from matrix svg"
"$ark" plot patching --from "$tmp/m.json" --out "$tmp/m.pdf" >/dev/null && head -c 4 "$tmp/m.pdf" | grep -q '%PDF' && ok || bad "pdf"

# --from a tool's JSON output (the attention tool's patterns, the logit lens)
if "$ark" tool attention "$llama" --op patterns --params "{\"text\": \"$text\"}" >"$tmp/pat.json" 2>"$tmp/err"; then
  "$ark" plot attention_grid --from "$tmp/pat.json" --layer 1 --out "$tmp/g.svg" >/dev/null && check_svg "$tmp/g.svg" "Gaishar" && ok || bad "--from attention tool"
else bad "attention tool"; cat "$tmp/err"; fi
if "$ark" tool logit_lens "$llama" --params "{\"text\": \"$text\"}" >"$tmp/lens.json" 2>"$tmp/err"; then
  "$ark" plot logit_lens --from "$tmp/lens.json" --out "$tmp/l.svg" >/dev/null && check_svg "$tmp/l.svg" "Prague" && ok || bad "--from logit_lens tool"
else bad "logit_lens tool"; cat "$tmp/err"; fi

# --data-out writes the plain data, which renders again
"$ark" plot head_scores "$fx/trained/induction-gpt2" --tokens 5,9,23,41,5,9,23,41 --score induction --data-out "$tmp/d.json" --out "$tmp/h.png" >/dev/null &&
  "$ark" plot head_scores --from "$tmp/d.json" --out "$tmp/h2.png" >/dev/null && ok || bad "--data-out round trip"

# the bench renders a spec's plots as artefacts
cat >"$tmp/spec.yaml" <<YAML
name: plot_check
model: $llama
inputs: {text: ["$text"]}
tools:
  - {name: logit_lens}
plots:
  - {type: logit_lens, out: lens.png}
  - {type: attention, out: att.svg, layer: 1, head: 0}
YAML
if "$ark" exp run "$tmp/spec.yaml" --dir "$tmp/exp" >"$tmp/out" 2>"$tmp/err"; then
  "$ark" exp show plot_check --dir "$tmp/exp" --json >"$tmp/show.json" 2>&1
  $py - "$tmp/show.json" <<'PY' && ok || bad "bench plot status"
import json, sys
v = json.load(open(sys.argv[1]))
runs = v['runs'] if 'runs' in v else [v]
plots = runs[-1]['attachments']['plots']
assert all(p['status'] == 'ok' and len(p['sha256']) == 64 for p in plots), plots
names = [a.get('name') for a in runs[-1].get('artefacts', [])]
assert 'lens.png' in names and 'att.svg' in names, names
PY
else bad "exp run"; cat "$tmp/err"; fi

# errors
expect_error "unknown type" 'unknown plot type "pie"' "$ark" plot pie --from "$tmp/m.json" --out "$tmp/x.png"
expect_error "no out" 'missing --out' "$ark" plot patching --from "$tmp/m.json"
expect_error "bad extension" 'extension must be' "$ark" plot patching --from "$tmp/m.json" --out "$tmp/x.gif"
expect_error "no input" 'needs an input' "$ark" plot attention "$llama" --out "$tmp/x.png"
expect_error "missing from" '--from: .*nope.json: No such file or directory' "$ark" plot patching --from "$tmp/nope.json" --out "$tmp/x.png"
echo '{"matrix": [[1, 2], [3]]}' >"$tmp/bad.json"
expect_error "ragged" 'row 1' "$ark" plot patching --from "$tmp/bad.json" --out "$tmp/x.png"
echo '{"foo": 1}' >"$tmp/none.json"
expect_error "no data" 'nothing a patching plot reads' "$ark" plot patching --from "$tmp/none.json" --out "$tmp/x.png"
expect_error "layer range" '"layer": 9 is out of range' "$ark" plot attention "$llama" --text "$text" --layer 9 --out "$tmp/x.png"
expect_error "head range" '"head"' "$ark" plot attention "$llama" --text "$text" --head 7 --out "$tmp/x.png"
expect_error "corrupted length" 'same number of tokens' "$ark" plot patching "$llama" --text "$text" --corrupted "Gaishar" --out "$tmp/x.png"
expect_error "subject absent" 'does not occur in the prompt' "$ark" plot causal_trace "$llama" --text "$text" --subject "Bob" --out "$tmp/x.png"
expect_error "bad token" 'target' "$ark" plot attribution "$llama" --text "$text" --target "no such words" --out "$tmp/x.png"
expect_error "both inputs" 'not both' "$ark" plot patching "$llama" --from "$tmp/m.json" --out "$tmp/x.png"
expect_error "unwritable" 'cannot' "$ark" plot patching --from "$tmp/m.json" --out /nonexistent/x.png
expect_error "bad option" 'unknown option' "$ark" plot patching --from "$tmp/m.json" --bogus --out "$tmp/x.png"
"$ark" plot --help | grep -q 'examples' && ok || bad "--help"
"$ark" plot --list | grep -q '^causal_trace' && ok || bad "--list"

test_end
