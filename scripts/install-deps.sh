#!/usr/bin/env bash
# Installs the Debian 12 packages driftwatch needs to build and test, only those missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

build=(g++ cmake make pkg-config
       libcurl4-openssl-dev libre2-dev libsqlite3-dev libtomlplusplus-dev
       nlohmann-json3-dev libutf8proc-dev libcli11-dev libdtl-dev libsystemd-dev
       libcpp-httplib-dev libhowardhinnant-date-dev libssl-dev tzdata doctest-dev)
test_only=(sqlite3 curl)
want=("${build[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test_only[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
