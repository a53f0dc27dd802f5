#!/usr/bin/env bash
# The main job on this machine, with no network and no keys: installs what is missing, builds
# driftwatch, and runs `driftwatch demo`, a simulated month against the bundled simulator with
# scripted censorship drift. Prints the summary and the path of the newest HTML report.
#   scripts/demo.sh [OUT_DIR]      (default: ./driftwatch-demo)
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-driftwatch-demo}"
"$PWD/scripts/install-deps.sh"
# The build of scripts/test.sh (the same flags, so that neither rebuilds the other's work).
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build build -j "$(nproc)" --target driftwatch driftwatch-sim
./build/monitor/cli/driftwatch demo --out "$out"
