#!/usr/bin/env bash
# Runs the timing-sensitive tests RUNS times each (default 20) beside two CPU hogs
# (`yes > /dev/null`, one per core of a two-core machine), to show that their time bounds hold
# on a busy machine. Builds nothing: the test program (tests/dw_tests) must be in BUILD_DIR
# (default build); each test is one file's cases, as CTest runs them.
# Prints one line per run, keeps the output of each failed run in BUILD_DIR/timing-stress/, and
# exits 1 with a summary when any run failed (2 when the program or a named test is missing).
# Usage: scripts/timing-stress.sh [BUILD_DIR [RUNS [TEST...]]]
#        (e.g. scripts/timing-stress.sh build 5 transport cli_daemon)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
runs=${2:-20}
shift $(($# > 2 ? 2 : $#))
tests=("$@")
# What measures real time: durations and gaps bounded above or below, kills and signals at a
# moment, ports held for a server the code under test starts.
((${#tests[@]})) || tests=(transport daemon metrics_server providers cli_sim cli_run cli_faults
                           cli_crash cli_daemon cli_daemon_life)
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/timing-stress.sh [BUILD_DIR [RUNS [TEST...]]]" >&2; exit 2; }

[[ -x "$build/tests/dw_tests" ]] || { echo "not built: $build/tests/dw_tests" >&2; exit 2; }
for t in "${tests[@]}"; do
  [[ -f "tests/${t}_test.cc" ]] || { echo "no such test: tests/${t}_test.cc" >&2; exit 2; }
done

logs="$build/timing-stress"
rm -rf "$logs"
mkdir -p "$logs"

hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait "${hogs[@]}" 2>/dev/null || true
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
  yes >/dev/null &
  hogs+=($!)
done
echo "CPU hogs: pids ${hogs[*]}; $runs runs of: ${tests[*]}"

declare -A failed_runs
failures=()
for t in "${tests[@]}"; do
  failed_runs[$t]=0
  for ((i = 1; i <= runs; i++)); do
    log="$logs/$t-$i.log"
    start=$SECONDS
    # A run that hangs is a failure too; ctest's own limit in scripts/test.sh is 600 s. So is
    # one that ran no case (doctest passes a filter that selects nothing; its summary says so,
    # as CTest reads it in tests/CMakeLists.txt).
    if (cd "$build/tests" && timeout 600 ./dw_tests "--source-file=*/${t}_test.cc") >"$log" 2>&1 &&
      ! grep -Eq 'test cases: +0 [|]' "$log"; then
      echo "ok     $t run $i ($((SECONDS - start)) s)"
      rm -f "$log"
    else
      echo "FAILED $t run $i ($((SECONDS - start)) s): $log"
      failed_runs[$t]=$((failed_runs[$t] + 1))
      failures+=("$log")
    fi
  done
done

echo
echo "summary ($runs runs each, two CPU hogs):"
for t in "${tests[@]}"; do
  printf '  %-18s %d of %d failed\n' "$t" "${failed_runs[$t]}" "$runs"
done
if ((${#failures[@]})); then
  echo "failed runs' output:"
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
echo "no failure"
