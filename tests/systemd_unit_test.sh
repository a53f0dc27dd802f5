#!/usr/bin/env bash
# The shipped unit: the settings the service relies on, and systemd's own security score
# (`systemd-analyze security --offline=yes`) at most 2.0.
# Usage: systemd_unit_test.sh UNIT_FILE
set -euo pipefail
unit=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

for want in "Type=notify" "DynamicUser=yes" "StateDirectory=driftwatch" "NoNewPrivileges=yes" \
            "LimitCORE=0" \
            "ProtectSystem=strict" "ExecReload=/bin/kill -HUP \$MAINPID"; do
  grep -qxF "$want" "$unit" || fail "$unit lacks $want"
done
grep -q "^# LoadCredential=" "$unit" || fail "$unit does not show how to load an API key"

# systemd-analyze wants the unit under its own name in a folder it may read.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$unit" "$dir/driftwatch.service"
out=$(cd "$dir" && systemd-analyze security --offline=yes --no-pager ./driftwatch.service 2>&1) ||
  true
score=$(sed -n 's/.*Overall exposure level for driftwatch.service: \([0-9.]*\).*/\1/p' <<<"$out")
[[ -n "$score" ]] || fail "no exposure level in systemd-analyze output: $out"
echo "exposure level: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure level $score is above 2.0"
