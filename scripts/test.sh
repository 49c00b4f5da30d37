#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build, run every test with ctest,
# then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer, then a short run of
# each libFuzzer target. `--quick` stops after the first ctest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

[[ "${1:-}" == "--quick" ]] && exit 0

echo "== sanitizers (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHLRR_SANITIZE=ON -DHLRR_BENCH=OFF
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600

echo "== fuzzers (short runs)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DHLRR_FUZZ=ON -DHLRR_TESTS=OFF -DHLRR_BENCH=OFF
cmake --build build-fuzz -j "$jobs" --target rsp_fuzz trace_reader_fuzz elf_image_fuzz
ctest --test-dir build-fuzz --output-on-failure  # each target over its committed inputs
for fuzzer in build-fuzz/fuzz/*_fuzz; do
  [[ -x "$fuzzer" ]] || continue
  echo "-- $fuzzer"
  "$fuzzer" -max_total_time=30 -rss_limit_mb=2048 2>&1 | tail -n 2
done
