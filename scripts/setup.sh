#!/usr/bin/env bash
# Install the Debian 12 packages Arrakis needs (only those missing), then
# configure and build into BUILD_DIR (default: build).  Safe to rerun.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config git
      libopenblas-openmp-dev libcjson-dev libonig-dev libutf8proc-dev
      libsqlite3-dev libssl-dev libyaml-dev libgsl-dev
      libcairo2-dev fonts-dejavu-core chromium
      libcmocka-dev python3 python3-numpy)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm (the HTML views' browser test installs playwright-core with it): from
# Debian unless a Node.js that ships its own npm is already there.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

build=${1:-build}
shift || true
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
