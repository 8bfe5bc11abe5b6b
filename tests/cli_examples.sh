#!/usr/bin/env bash
# The example programs build against the installed library with pkg-config
# alone and run: examples/walkthrough.c (config -> random model -> bench
# with a custom tool -> logged experiment and its versions -> write_read ->
# attention plot), examples/investigate.c (the demo's investigation from C:
# detectors, logit lens, DLA, patching, ablation, paired t-test on the
# shipped model) and examples/investigation.yaml (the same as a spec).
set -u
build=${ARK_BUILD:?}
src=${ARK_SRC:?}
fx=${ARK_FIXTURES:?}
bin=${ARK_BIN:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_examples

check cmake --install "$build" --prefix "$tmp/prefix"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib64/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
cflags=${ARK_CFLAGS:-}   # the sanitizer build's library needs its runtime
for ex in walkthrough investigate; do
  check sh -c "cc $cflags -Wall -Wextra -Werror '$src/examples/$ex.c' \$(pkg-config --cflags --libs arrakis libcjson) -lm -Wl,-rpath,\$(pkg-config --variable=libdir arrakis) -o '$tmp/$ex'"
done

# walkthrough: every step, one version with two runs, a PNG
check sh -c "'$tmp/walkthrough' '$tmp/wt' > '$tmp/wt.out'"
check has "$tmp/wt.out" "[1] model: gpt2, 2 layers" "ours first: resid_norms" \
  "versions of norms_and_lens: 1" "version 1 has 2 runs:" "static ark_status norms_and_lens(" \
  "top writers: L" "top readers: L" "[5] attention plot (layer 0, head 0)" "done"
check test "$(grep -c '^    run .*  ok  ' "$tmp/wt.out")" -eq 2
check sh -c "head -c 8 '$tmp/wt/attention_L0H0.png' | od -An -c | grep -q 'P   N   G'"
check sh -c "'$bin' exp list --dir '$tmp/wt/experiments' | grep -q norms_and_lens"

# investigate: the shipped model's known heads (models/induction-words/README.md)
check sh -c "cd '$src' && '$tmp/investigate' > '$tmp/inv.out'"
check has "$tmp/inv.out" "previous   top head L0H1" "induction  top head L1H2" "final_post   top dog" \
  "L1H2       +11.8" "largest: L0H1 (the induction detector's top head: L1H2)" \
  "ablating the induction head L1H2 raises the loss" "reject H0"
# patching: L1H2 restores the answer, nothing else does
check sh -c "grep -A3 '^4. activation patching' '$tmp/inv.out' | grep -q '^  L1  .* 1.000 '"

# the spec: one logged run with its tests and plots, then its report
check sh -c "cd '$src' && '$bin' exp run examples/investigation.yaml --dir '$tmp/exp' > '$tmp/spec.out'"
check has "$tmp/spec.out" "induction_circuit  version 1" "run 1  ok"
check sh -c "'$bin' exp show induction_circuit --dir '$tmp/exp' > '$tmp/show.out'"
check has "$tmp/show.out" "runs (1):" "induction_score_L1H2=" "test       induction_head: paired_t" \
  "logit_lens.png: ok" "patching_resid.png: ok" "attention_layer1.png: ok"
check sh -c "'$bin' exp report induction_circuit --dir '$tmp/exp' --out '$tmp/report' > '$tmp/rep.out'"
check has "$tmp/report/index.html" "induction_circuit" "induction_head" "dla_heads.png" "patching_heads.png"
for f in previous_token_scores induction_scores attention_layer0 attention_layer1 logit_lens dla_heads \
         ablation patching_heads patching_resid; do
  check sh -c "head -c 8 '$tmp/report/$f.png' | od -An -c | grep -q 'P   N   G'"
done

test_end
