#!/usr/bin/env bash
# The main job: install what is missing, build, then run a short
# interpretability investigation of the model that ships with Arrakis
# (models/induction-words: a GPT-2 whose induction circuit was written by
# hand) and write a report.
#
#   scripts/demo.sh                      the investigation -> report/index.html
#   scripts/demo.sh MODEL_DIR [PROMPT]   a model folder of yours: summary and predictions
#
# The investigation is the experiment spec examples/investigation.yaml: head
# detectors, attention patterns, the logit lens, direct logit attribution,
# a per-head ablation sweep, activation patching and two paired t-tests.  It is
# logged in the experiment store ./experiments (arrakis exp list) and the
# report (plots + an HTML page tying them together) goes to ./report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build >&2
ark=build/arrakis

if [ $# -gt 0 ]; then
  model=$1 prompt=${2:-}
  echo "== arrakis info $model"
  $ark info "$model"
  echo
  if [ -n "$prompt" ] && [ -f "$model/tokenizer.json" ]; then
    echo "== arrakis run $model --text \"$prompt\" --top-k 5"
    $ark run "$model" --text "$prompt" --top-k 5
  else
    echo "== arrakis run $model --tokens 1,2,3,4,5 --top-k 5"
    $ark run "$model" --tokens 1,2,3,4,5 --top-k 5
  fi
  exit 0
fi

M=models/induction-words
S="the red fox jumps over the lazy dog . the red fox jumps over the lazy"
echo "== the model: $M (its README says how it was made and what its heads do)"
$ark info $M | head -6
echo
echo "== arrakis run $M --text \"$S\" --top-k 3"
$ark run $M --text "$S" --top-k 3
echo
echo "== the investigation: arrakis exp run examples/investigation.yaml (logged in ./experiments)"
$ark exp run examples/investigation.yaml --dir experiments
echo
$ark exp show induction_circuit --dir experiments --brief
echo
echo "== the report: arrakis exp report induction_circuit --dir experiments --out report"
$ark exp report induction_circuit --dir experiments --out report >/dev/null
echo "report: $PWD/report/index.html"
