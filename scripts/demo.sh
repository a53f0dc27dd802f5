#!/usr/bin/env bash
# Installs what is missing, builds driftwatch and runs the main job on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

"$PWD/scripts/install-deps.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
./build/monitor/cli/driftwatch -c config/driftwatch.example.toml check
