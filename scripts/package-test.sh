#!/usr/bin/env bash
# Builds the .deb (the build tree is reconfigured for the /usr prefix), installs it with dpkg,
# checks what it put where, and purges it again, checking that nothing is left behind.
# Needs root; changes the machine while it runs (CI runs it after the test suite).
# Usage: scripts/package-test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

fail() { echo "package-test: $*" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls -t "$build"/driftwatch_*.deb | head -1)
echo "package-test: built $deb ($(du -k "$deb" | cut -f1) KiB)"

dpkg -r driftwatch >/dev/null 2>&1 || true
dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb failed"
for f in /usr/bin/driftwatch /usr/bin/driftwatch-sim /etc/driftwatch/driftwatch.toml \
         /usr/lib/systemd/system/driftwatch.service /usr/share/driftwatch/rules/refusals.toml \
         /usr/share/driftwatch/probes/controls.toml /usr/share/driftwatch/config/demo-scenario.toml \
         /usr/share/driftwatch/grafana/driftwatch.json \
         /usr/share/doc/driftwatch/driftwatch.example.toml; do
  [[ -f "$f" ]] || fail "the package did not install $f"
done
grep -qx /etc/driftwatch/driftwatch.toml /var/lib/dpkg/info/driftwatch.conffiles ||
  fail "/etc/driftwatch/driftwatch.toml is not a conffile"
/usr/bin/driftwatch --version >/dev/null || fail "the installed driftwatch does not start"
/usr/bin/driftwatch -c /etc/driftwatch/driftwatch.toml check >/dev/null ||
  fail "the installed config does not check"

dpkg -P driftwatch >/dev/null || fail "dpkg -P driftwatch failed"
for f in /usr/bin/driftwatch /etc/driftwatch /usr/share/driftwatch \
         /usr/lib/systemd/system/driftwatch.service; do
  [[ ! -e "$f" ]] || fail "$f is left after dpkg -P"
done
echo "package-test: installed, checked and purged $deb"
