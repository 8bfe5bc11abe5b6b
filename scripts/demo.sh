#!/usr/bin/env bash
# The main job: install what is missing, build, then show a model's summary
# and its next-token predictions.
#   scripts/demo.sh [MODEL_DIR] [PROMPT]
# Without MODEL_DIR it uses the trained facts model in ../shared/fixtures
# (a word-level Llama that memorised facts about made-up people), or, where
# that folder is absent, a random GPT-2-shaped model written by `arrakis init`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build >&2
ark=build/arrakis

model=${1:-}
prompt=${2:-}
if [ -z "$model" ]; then
  if [ -d ../shared/fixtures/trained/facts-llama ]; then
    model=../shared/fixtures/trained/facts-llama
    prompt=${prompt:-"Gaishar Tastei lives in"}
  else
    model=build/demo-gpt2
    [ -d "$model" ] || $ark init --arch gpt2 --set n_layer=4 --set n_embd=256 --set n_head=4 --seed 1 --out "$model"
  fi
fi

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
