#!/usr/bin/env bash
# Every figure of README "Benchmarks" in one table: builds the benchmarks (RelWithDebInfo, in
# build/ unless BUILD is given), runs each, and prints the lines they mark for the table
# ("TABLE|figure|value|target"). Takes about 10 minutes on two idle cores (up to 25 on a busy one)
# and a few GB of disk in $TMPDIR (the million-line import).
# Usage: bench/all.sh [--quick]   (--quick: smaller histories and imports, for a first look)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

# The flags of scripts/test.sh, so that the two share one build (-g1 changes no code).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_history bench_store bench_import bench_run \
  bench_sim >/dev/null

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
  echo "== $*" >&2
  "$@" | tee -a "$log" >&2
}
if ((quick)); then
  run "$build/bench/bench_history" 60
  run "$build/bench/bench_store" --days 30
  run "$build/bench/bench_import" 100000
else
  run "$build/bench/bench_history" 1000
  run "$build/bench/bench_store"
  run "$build/bench/bench_import" 1000000
fi
run "$build/bench/bench_run"
run "$build/bench/bench_sim"

echo
echo "| figure | value | target |"
echo "| --- | --- | --- |"
grep '^TABLE|' "$log" | sed -e 's/^TABLE//' -e 's/$/|/' -e 's/|/ | /g' -e 's/^ //' -e 's/ $//'
