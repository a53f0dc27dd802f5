#!/usr/bin/env bash
# Installs the Debian 12 packages driftwatch needs to build and test, only those missing.
# Usage: scripts/install-deps.sh [--test | --fuzz]
#   --test adds what the test suite needs; --fuzz adds clang 16 and its runtime (libFuzzer,
#   ASan, UBSan) for scripts/fuzz.sh: Debian 12's default clang (14) cannot compile the project,
#   whose lambdas capture structured bindings (C++20 that clang supports from 16 on).
set -euo pipefail

build=(g++ cmake make pkg-config
       libcurl4-openssl-dev libre2-dev libsqlite3-dev libtomlplusplus-dev
       nlohmann-json3-dev libutf8proc-dev libcli11-dev libdtl-dev libsystemd-dev
       libcpp-httplib-dev libhowardhinnant-date-dev libssl-dev zlib1g-dev libzstd-dev tzdata
       doctest-dev libpq-dev)
# postgresql: scripts/fleet-test.sh starts a throw-away cluster of its own (initdb, pg_ctl).
test_only=(sqlite3 curl systemd chromium dpkg-dev file cmark-gfm python3 postgresql)
want=("${build[@]}")
fuzz_only=(clang-16 libclang-rt-16-dev)
[[ "${1:-}" == "--test" ]] && want+=("${test_only[@]}")
[[ "${1:-}" == "--fuzz" ]] && want+=("${fuzz_only[@]}")

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

# The metrics test runs `promtool check metrics`. Debian ships promtool only inside the
# `prometheus` package, whose installation creates a user and enables a Prometheus server on
# :9090 where systemd runs: take just the promtool binary out of the package instead.
if [[ "${1:-}" == "--test" ]] && ! command -v promtool >/dev/null; then
  echo "installing: promtool (from the prometheus package, binary only)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && chown _apt "$tmp" 2>/dev/null; apt-get download -qq prometheus 2>/dev/null ||
     { apt-get update -qq && apt-get download -qq prometheus; })
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
fi
