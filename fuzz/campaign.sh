#!/usr/bin/env bash
# One libFuzzer campaign, as recorded in docs/fuzzing.md:
#   fuzz/campaign.sh BUILD_DIR TARGET RUNS [SECONDS]   e.g. fuzz/campaign.sh build-fuzz rsp 10000000
# Fuzzes a scratch copy of fuzz/TARGET_corpus (the committed corpus changes only by a deliberate
# -merge=1), at nice 5, with the flags below; prints libFuzzer's final stats and the CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1 target=$2 runs=$3 seconds=${4:-0}
work=$(mktemp -d "/tmp/${target}_campaign.XXXXXX")
cp -r "fuzz/${target}_corpus" "$work/corpus"
mkdir "$work/artifacts"
flags=(-runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
       -print_final_stats=1 -artifact_prefix="$work/artifacts/")
# RSP: 4 KiB holds dozens of packets, and run-length encoding (`X*~`) reaches the 16 KiB
# packet limit in ~510 bytes; longer inputs only repeat packets, at ~1 us per byte of reply.
[[ $target == rsp ]] && flags+=(-max_len=4096)
# A 64 MiB quarantine (ASan's default is 256) still catches any use after free within an input
# and within the last thousands of inputs; the default one made every allocation fault in fresh
# pages, half of the cost per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}
echo "corpus: $work/corpus  artifacts: $work/artifacts"
/usr/bin/time -f "cpu %U+%S s, wall %e s" nice -n 5 "$build/fuzz/${target}_fuzz" "$work/corpus" \
  "${flags[@]}" 2>&1 | grep -E "INITED|DONE|^stat::|^cpu|ERROR|SUMMARY|Test unit written"
