#!/usr/bin/env bash
# Render the pictures of docs/plots.md from the shared fixtures:
#   docs/img/render.sh [ARRAKIS_BIN] [FIXTURES_DIR]
set -euo pipefail
cd "$(dirname "$0")"
ark=${1:-../../build/arrakis}
fx=${2:-../../../shared/fixtures}
llama=$fx/trained/facts-llama
ind=$fx/trained/induction-gpt2
text="Gaishar Tastei lives in"
rep=5,9,23,41,77,12,5,9,23,41,77,12
"$ark" plot attention "$ind" --tokens $rep --layer 1 --head 0 --out attention.png
"$ark" plot attention_grid "$ind" --tokens $rep --layer 0 --out attention_grid.png
"$ark" plot qk_dot_product "$ind" --tokens $rep --layer 1 --head 0 --out qk_dot_product.png
"$ark" plot head_scores "$ind" --tokens $rep --score induction --out head_scores.png
"$ark" plot composition "$ind" --tokens 1 --mode k --out composition.png
"$ark" plot patching "$llama" --text "$text" --corrupted "Gaishar Tastei works as" --answer Prague --out patching.png
"$ark" plot causal_trace "$llama" --text "$text" --subject "Gaishar Tastei" --samples 10 --out causal_trace.png
"$ark" plot logit_lens "$llama" --text "the favourite colour of Gaishar Tastei is" --out logit_lens.png
"$ark" plot attribution "$llama" --text "$text" --target Prague --top-k 15 --out attribution.png
"$ark" plot residual_stream "$llama" --text "$text" --out residual_stream.png
"$ark" plot layer_norms "$llama" --text "$text" --out layer_norms.png
"$ark" plot neuron_activation "$llama" --text "$text" --text "the home town of Gaishar Tastei is" --layer 3 --top-k 6 --out neuron_activation.png
"$ark" plot neuron_trajectories "$llama" --text "the favourite colour of Gaishar Tastei is" --layer 3 --top-k 4 --out neuron_trajectories.png
"$ark" plot feature_density "$llama" --text "the favourite colour of Gaishar Tastei is green ." --text "$text Prague ." --layer 2 --out feature_density.png
