#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs each for SECONDS
# (default 10) from a scratch copy of its seed corpus, so the tree is never written. Fails when
# any target crashes, leaks, hangs or runs out of memory; the input that did it is kept in
# build-fuzz/fuzz-crashes/TARGET/ and the fuzzer's report is printed.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (e.g. scripts/fuzz.sh 600 classify)
#        FUZZ_JOBS=N sets the build's parallelism (default: every core).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
((${#targets[@]})) || targets=(config probes rules providers classify import cron scenario)

# The project's own build dependencies, clang 16 and its runtime.
"$PWD/scripts/install-deps.sh" --fuzz

# A unity build, as scripts/test.sh: only the modules the targets reach are compiled.
build=build-fuzz
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_UNITY_BUILD=ON -DDRIFTWATCH_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz -j "${FUZZ_JOBS:-$(nproc)}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# One target per core at a time: each fuzzer is a single process on one core.
fuzz_one() {
  local t=$1
  mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
  cp tests/fuzz/"$t"/* "$scratch/$t/corpus/"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GiB is an out-of-memory.
  if "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$scratch/$t/artifacts/" "$scratch/$t/corpus" \
       >"$scratch/$t/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t/log")
    cov=$(grep -o 'cov: [0-9]*' "$scratch/$t/log" | tail -n 1)
    echo "fuzz $t: ${seconds}s, ${runs:-?} inputs, ${cov:-cov: ?}, no crash"
  else
    mkdir -p "$build/fuzz-crashes/$t"
    cp "$scratch/$t/artifacts/"* "$build/fuzz-crashes/$t/" 2>/dev/null || true
    echo "fuzz $t: FAILED; input kept in $build/fuzz-crashes/$t/" >&2
    tail -n 60 "$scratch/$t/log" >&2
    return 1
  fi
}
for t in "${targets[@]}"; do
  [[ -d "tests/fuzz/$t" ]] || { echo "no seed corpus tests/fuzz/$t" >&2; exit 2; }
done
failed=()
pending=("${targets[@]}")
while ((${#pending[@]})); do
  batch=("${pending[@]:0:$(nproc)}")
  pending=("${pending[@]:${#batch[@]}}")
  pids=()
  for t in "${batch[@]}"; do fuzz_one "$t" & pids+=($!); done
  for i in "${!batch[@]}"; do wait "${pids[$i]}" || failed+=("${batch[$i]}"); done
done
if ((${#failed[@]})); then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
