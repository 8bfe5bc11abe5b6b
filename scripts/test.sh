#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds a release build and
# an AddressSanitizer + UBSan build, and runs every test in both.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests run one at a time: each already uses both cores (OpenMP + OpenBLAS),
# and two at once would make their threads spin against each other.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

bash scripts/setup.sh build
(cd build && ctest --output-on-failure)

bash scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DARK_SANITIZE=ON -DARK_BUILD_BENCH=OFF
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd build-asan && ctest --output-on-failure)
