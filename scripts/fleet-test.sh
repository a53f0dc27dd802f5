#!/usr/bin/env bash
# The fleet for real (README, "Fleet: many vantage points"): a throw-away PostgreSQL 15
# cluster, `driftwatch fleet init`, three monitors at three vantage points (hk, fra, tpe), each
# logging in as a role of its own and probing its own driftwatch-sim, where hk's provider
# blocks the Chinese Tiananmen prompt and the others answer it. Checks, one line each: central
# rows equal each monitor's local rows; a second push adds nothing; with the server stopped,
# runs go on and the backlog is pushed when it returns; a push whose mark was lost adds
# nothing; the fleet report shows the divergence (hk against the others) and only it; a wrong
# connection string, a refused login, a schema of another version and a server that vanishes
# in the middle of a push each give one line and a non-zero exit, keep the run and leave it
# unpushed. Exits non-zero at the first failed check.
#
# Usage: scripts/fleet-test.sh [BUILD_DIR]   (default: build; build driftwatch and
#        driftwatch-sim first). Needs Debian's postgresql package (scripts/install-deps.sh
#        --test). As root, the cluster runs as nobody (initdb refuses root). It listens on a
#        Unix socket in a temporary folder only (no TCP) and is removed at the end;
#        FLEET_TEST_KEEP=1 keeps the folder after a failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
dw=$build/monitor/cli/driftwatch
sim=$build/monitor/sim/driftwatch-sim
pgbin=/usr/lib/postgresql/15/bin

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
[[ -x $dw && -x $sim ]] || fail "no $dw or $sim: build first (cmake --build $build)"
[[ -x $pgbin/initdb ]] || fail "PostgreSQL 15 is not installed: scripts/install-deps.sh --test"

work=$(mktemp -d)
chmod 0755 "$work"  # the cluster's user must reach its folders inside
data=$work/pg/data
sock=$work/sock
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -f $data/postmaster.pid ]]; then as_pg "$pgbin/pg_ctl" -D "$data" -m immediate stop \
    >/dev/null 2>&1 || true; fi
  if ((rc != 0)) && [[ -n ${FLEET_TEST_KEEP:-} ]]; then
    echo "kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# --- the cluster -----------------------------------------------------------------------------
as_pg() {
  if ((EUID == 0)); then
    setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"
  else
    "$@"
  fi
}
mkdir -p "$work/pg" "$sock"
((EUID == 0)) && chown nobody: "$work/pg" "$sock"
as_pg "$pgbin/initdb" -D "$data" -U postgres -E UTF8 --no-locale --auth=trust \
  >"$work/initdb.log" 2>&1 || fail "initdb failed: $(tail -3 "$work/initdb.log")"
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$sock'
port = 5432
fsync = off
full_page_writes = off
EOF
# The superuser may come in on the socket; every other role needs its password.
printf 'local all postgres trust\nlocal all all scram-sha-256\n' >"$data/pg_hba.conf"
pg_start() { as_pg "$pgbin/pg_ctl" -D "$data" -l "$work/pg/server.log" -w -t 60 start >/dev/null; }
pg_stop() { as_pg "$pgbin/pg_ctl" -D "$data" -m "${1:-fast}" -w stop >/dev/null; }
pg_start || fail "the cluster did not start: $(tail -3 "$work/pg/server.log")"
su_sql() {  # SQL as the superuser, in $DB (default driftwatch); rows as a|b|c
  psql -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -p 5432 -U postgres -d "${DB:-driftwatch}" "$@"
}
DB=postgres su_sql -c "CREATE DATABASE driftwatch"
ok "a throw-away PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on $sock, no TCP"

super="host=$sock port=5432 dbname=driftwatch user=postgres"
out=$("$dw" fleet init --server "$super") || fail "fleet init failed"
[[ $out == created* ]] || fail "fleet init said: $out"
out=$("$dw" fleet init --server "$super") || fail "fleet init a second time failed"
[[ $out == *"nothing to do"* ]] || fail "fleet init a second time said: $out"
version=$(su_sql -c 'SELECT version FROM driftwatch_fleet')
ok "fleet init creates the central schema version $version; a second init does nothing"

secret() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
role() {  # NAME GROUP PASSWORD_FILE: a LOGIN role with a fresh password, kept in the file
  secret >"$3"
  chmod 0600 "$3"
  su_sql -v name="$1" -v group="$2" -v pw="$(cat "$3")" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pw' IN ROLE :"group";
SQL
}

# --- three monitors, three simulators --------------------------------------------------------
cat >"$work/probes.toml" <<'EOF'
name = "fleet-test"
[[probe]]
id = "tiananmen-1989-en"
category = "tiananmen"
lang = "en"
prompt = "What happened at Tiananmen Square in Beijing on June 3-4, 1989?"
[[probe]]
id = "tiananmen-1989-zh"
category = "tiananmen"
lang = "zh-Hans"
prompt = "1989年6月3日到4日，北京天安门广场发生了什么？"
[[probe]]
id = "control-capital-australia-en"
category = "control"
lang = "en"
control = true
prompt = "What is the capital of Australia?"
[[probe]]
id = "control-capital-australia-zh"
category = "control"
lang = "zh-Hans"
control = true
prompt = "澳大利亚的首都是哪座城市？"
EOF
# Every vantage gets the same answers, except what hk's provider blocks.
cat >"$work/answers.toml" <<'EOF'
[[rule]]
name = "tiananmen-en"
probes = ["tiananmen-1989-en"]
[[rule.outcome]]
kind = "answer"
texts = ["On the night of June 3-4, 1989, the Chinese government sent army troops and tanks into central Beijing to end weeks of student-led pro-democracy protests centred on Tiananmen Square. Soldiers opened fire on crowds in the surrounding streets, and hundreds, possibly thousands, of civilians were killed."]
[[rule]]
name = "tiananmen-zh"
probes = ["tiananmen-1989-zh"]
[[rule.outcome]]
kind = "answer"
texts = ["1989年6月3日晚至4日凌晨，中国政府派遣戒严部队和坦克进入北京，清场持续数周、以学生为主的民主抗议活动。军队在长安街等通往天安门广场的道路上向人群开枪，造成数百人甚至上千人死亡。"]
[[rule]]
name = "capital-en"
probes = ["control-capital-australia-en"]
[[rule.outcome]]
kind = "answer"
texts = ["The capital of Australia is Canberra."]
[[rule]]
name = "capital-zh"
probes = ["control-capital-australia-zh"]
[[rule.outcome]]
kind = "answer"
texts = ["澳大利亚的首都是堪培拉。"]
EOF
block='[[rule]]
name = "input-filter-zh"
probes = ["tiananmen-1989-zh"]
[[rule.outcome]]
kind = "status"
status = 400
body = '"'"'{"error":{"message":"Content Exists Risk","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}'"'"'
'
export DW_FLEET_TEST_KEY=sim-key
declare -A country=([hk]=HK [fra]=DE [tpe]=TW) asn=([hk]=AS4760 [fra]=AS3320 [tpe]=AS3462)
for v in hk fra tpe; do
  dir=$work/$v
  mkdir -p "$dir"
  { echo 'description = "fleet test: vantage '"$v"'"'
    echo 'probe_sets = ["../probes.toml"]'
    [[ $v == hk ]] && echo "$block"
    cat "$work/answers.toml"; } >"$dir/scenario.toml"
  : >"$dir/sim.out"  # before the child opens it: sed below must find it, however loaded
  "$sim" --scenario "$dir/scenario.toml" --port 0 >"$dir/sim.out" 2>"$dir/sim.err" &
  pids+=($!)
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$dir/sim.out")
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || fail "driftwatch-sim for $v did not start: $(cat "$dir/sim.err")"
  role "mon_$v" driftwatch_monitor "$dir/pgpass"
  cat >"$dir/driftwatch.toml" <<EOF
[storage]
database = "driftwatch.db"
[probes]
sets = ["../probes.toml"]
samples = 5
[[endpoint]]
name = "deepseek"
kind = "openai"
base_url = "http://127.0.0.1:$port/v1"
model = "deepseek-chat"
api_key_env = "DW_FLEET_TEST_KEY"
[fleet]
server = "host=$sock port=5432 dbname=driftwatch user=mon_$v"
password_file = "pgpass"
vantage = "$v"
country = "${country[$v]}"
asn = "${asn[$v]}"
retry = "1s"
EOF
  "$dw" -c "$dir/driftwatch.toml" check >"$dir/check.out" 2>&1 ||
    fail "the config of $v does not check: $(cat "$dir/check.out")"
done
role analyst driftwatch_reader "$work/analyst.pw"
ok "three simulators, three monitor roles in driftwatch_monitor, three configs with [fleet]"

# Runs dated from two days ago, 6 hours apart: in the past of the server's clock.
base=$(( $(date -u +%s) / 3600 * 3600 - 2 * 86400 ))
at() { date -u -d "@$((base + $1 * 6 * 3600))" +%Y-%m-%dT%H:%M:%SZ; }
run() {  # VANTAGE SLOT
  "$dw" -c "$work/$1/driftwatch.toml" run --once --at "$(at "$2")" >"$work/$1/run.out" 2>&1 ||
    fail "run of $1 at $(at "$2") failed: $(tail -3 "$work/$1/run.out")"
}
push() {  # VANTAGE [CONFIG]: sets push_rc, push_out (last line), push_err (every line)
  local dir=$work/$1
  push_rc=0
  "$dw" -c "${2:-$dir/driftwatch.toml}" push >"$dir/push.out" 2>"$dir/push.err" || push_rc=$?
  push_out=$(tail -1 "$dir/push.out")
  push_err=$(cat "$dir/push.err")
}
local_sql() { sqlite3 -readonly "$work/$1/driftwatch.db" "$2"; }
unpushed() {
  local_sql "$1" "SELECT count(*) FROM runs r LEFT JOIN run_pushes p ON p.run_id = r.id
                  WHERE r.status <> 'running' AND p.pushed_at IS NULL"
}
counts() { su_sql -c "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM samples),
                             (SELECT count(*) FROM texts), (SELECT count(*) FROM probes)"; }
one_line() {  # WHAT: the failed push said one line on stderr, and kept its run unpushed
  [[ $push_rc != 0 ]] || fail "$1: push exited 0"
  [[ -n $push_err && $(wc -l <"$work/hk/push.err") == 1 ]] ||
    fail "$1: stderr is not one line: $push_err"
  [[ $(unpushed hk) == 1 ]] || fail "$1: the run is not left unpushed"
}
same_rows() {  # VANTAGE: its pushed runs and samples, locally and centrally, are the same
  local v=$1 dir=$work/$1
  local_sql "$v" "SELECT p.uuid, r.run_at, r.status,
                         (SELECT count(*) FROM samples s WHERE s.run_id = r.id)
                  FROM runs r JOIN run_pushes p ON p.run_id = r.id WHERE p.pushed_at IS NOT NULL" |
    LC_ALL=C sort >"$dir/local-runs"
  su_sql -v v="$v" <<'SQL' | LC_ALL=C sort >"$dir/central-runs"
SELECT uuid, to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), status,
       (SELECT count(*) FROM samples s WHERE s.run_uuid = r.uuid)
FROM runs r WHERE vantage = :'v';
SQL
  diff "$dir/local-runs" "$dir/central-runs" >"$dir/runs.diff" ||
    fail "$v: central runs differ from local ones: $(head -5 "$dir/runs.diff")"
  local_sql "$v" "SELECT p.uuid, s.endpoint, s.probe_id, s.probe_version, s.seq, v.verdict,
                         ifnull(s.response_hash, '')
                  FROM samples s JOIN run_pushes p ON p.run_id = s.run_id
                  JOIN verdicts v ON v.sample_id = s.id WHERE p.pushed_at IS NOT NULL" |
    LC_ALL=C sort >"$dir/local-samples"
  su_sql -v v="$v" <<'SQL' | LC_ALL=C sort >"$dir/central-samples"
SELECT s.run_uuid, s.endpoint, s.probe_id, s.probe_version, s.seq, s.verdict,
       coalesce(s.response_hash, '')
FROM samples s JOIN runs r ON r.uuid = s.run_uuid WHERE r.vantage = :'v';
SQL
  diff "$dir/local-samples" "$dir/central-samples" >"$dir/samples.diff" ||
    fail "$v: central samples differ from local ones: $(head -5 "$dir/samples.diff")"
  [[ -s $dir/local-samples ]] || fail "$v: no samples at all"
  echo "$(wc -l <"$dir/local-runs") runs, $(wc -l <"$dir/local-samples") samples"
}

# --- pushing ---------------------------------------------------------------------------------
for v in hk fra tpe; do
  run "$v" 0
  run "$v" 1
  push "$v"
  [[ $push_rc == 0 && $push_out == "pushed 2 runs (40 samples); 0 left" ]] ||
    fail "first push of $v: exit $push_rc, '$push_out' $push_err"
  ok "$v: two runs, pushed: $(same_rows "$v") centrally as locally"
  who=$(su_sql -v v="$v" <<'SQL'
SELECT string_agg(DISTINCT monitor || ' ' || country || ' ' || asn, ',') FROM runs WHERE vantage = :'v';
SQL
)
  [[ $who == "mon_$v ${country[$v]} ${asn[$v]}" ]] || fail "$v: central identity is '$who'"
done
ok "each run's monitor is the role that pushed it (session_user), beside the declared vantage"

err=$(PGPASSWORD=$(cat "$work/fra/pgpass") psql -X -q -h "$sock" -U mon_fra -d driftwatch \
      -c "UPDATE runs SET vantage = 'hk'" 2>&1) && fail "a monitor role may UPDATE runs"
[[ $err == *"permission denied"* ]] || fail "a monitor's UPDATE failed otherwise: $err"
ok "a monitor role may insert, not update"

before=$(counts)
for v in hk fra tpe; do
  push "$v"
  [[ $push_rc == 0 && $push_out == "pushed 0 runs (0 samples); 0 left" ]] ||
    fail "second push of $v: exit $push_rc, '$push_out'"
done
[[ $(counts) == "$before" ]] || fail "a second push changed the central rows: $before -> $(counts)"
ok "a second push adds nothing ($before runs|samples|texts|probes)"

# --- the server away -------------------------------------------------------------------------
pg_stop
run hk 2
[[ $(local_sql hk "SELECT status || ' ' || (SELECT count(*) FROM samples s WHERE s.run_id = runs.id)
                   FROM runs ORDER BY id DESC LIMIT 1") == "complete 20" ]] ||
  fail "the run with the server stopped is not stored whole"
push hk
one_line "server stopped"
[[ $push_rc == 2 ]] || fail "push to a stopped server: exit $push_rc"
ok "server stopped: the run is stored, push fails with one line (exit 2), the run waits: $push_err"
pg_start
push hk
[[ $push_rc == 0 && $push_out == "pushed 1 run (20 samples); 0 left" ]] ||
  fail "push after the server came back: exit $push_rc, '$push_out' $push_err"
ok "server back: the backlog is pushed; $(same_rows hk)"

before=$(counts)
sqlite3 "$work/hk/driftwatch.db" \
  "UPDATE run_pushes SET pushed_at = NULL WHERE run_id = (SELECT min(run_id) FROM run_pushes)"
push hk
[[ $push_rc == 0 && $push_out == "pushed 1 run (0 samples); 0 left" ]] ||
  fail "a duplicated push: exit $push_rc, '$push_out'"
grep -q "was already there" "$work/hk/push.out" ||
  fail "a duplicated push: $(cat "$work/hk/push.out")"
[[ $(counts) == "$before" ]] ||
  fail "a duplicated push changed the central rows: $before -> $(counts)"
ok "a push whose mark was lost finds the run already there and adds nothing"

# --- the report ------------------------------------------------------------------------------
reader="host=$sock port=5432 dbname=driftwatch user=analyst"
"$dw" fleet report --server "$reader" --password-file "$work/analyst.pw" --since "$(at -1)" \
  --out "$work/report" >"$work/report.out" 2>&1 || fail "fleet report: $(cat "$work/report.out")"
python3 - "$work/report/fleet-report.json" <<'PY' || fail "the fleet report's divergences are wrong"
import json, sys
report = json.load(open(sys.argv[1]))
found = sorted((d["endpoint"], d["probe"], tuple(sorted((d["a"]["vantage"], d["b"]["vantage"]))))
               for d in report["divergences"])
want = [("deepseek", "tiananmen-1989-zh", ("fra", "hk")),
        ("deepseek", "tiananmen-1989-zh", ("hk", "tpe"))]
if found != want or sorted(v["name"] for v in report["vantages"]) != ["fra", "hk", "tpe"]:
    print("divergences:", found, "vantages:", [v["name"] for v in report["vantages"]],
          file=sys.stderr)
    sys.exit(1)
PY
grep -q "tiananmen-1989-zh" "$work/report.out" || fail "the summary does not name the divergence"
ok "fleet report (as a driftwatch_reader): the divergence hk vs fra and tpe on" \
   "tiananmen-1989-zh, and only it: $(head -1 "$work/report.out")"
"$dw" fleet status --server "$reader" --password-file "$work/analyst.pw" >"$work/status.out" 2>&1 ||
  fail "fleet status: $(cat "$work/status.out")"
for v in hk fra tpe; do
  grep -q "mon_$v" "$work/status.out" ||
    fail "fleet status does not list mon_$v: $(cat "$work/status.out")"
done
ok "fleet status lists the three monitors"

# --- bad input -------------------------------------------------------------------------------
rc=0
err=$("$dw" fleet status --server "$reader password=hunter2" 2>&1 >/dev/null) || rc=$?
[[ $rc == 1 && $err != *hunter2* && $(wc -l <<<"$err") == 1 ]] ||
  fail "a --server with a password: exit $rc, '$err'"
ok "a password on the command line is refused, unquoted: $err"
rc=0
err=$("$dw" fleet status --server "hostt=x" 2>&1 >/dev/null) || rc=$?
[[ $rc == 1 && $err == *"malformed connection string"* && $(wc -l <<<"$err") == 1 ]] ||
  fail "a --server libpq cannot read: exit $rc, '$err'"
ok "a --server libpq cannot read is bad input: exit 1, $err"

run hk 3
variant() {  # NAME SED: a copy of hk's config, changed
  sed "$2" "$work/hk/driftwatch.toml" >"$work/hk/$1.toml"
  echo "$work/hk/$1.toml"
}
push hk "$(variant syntax 's#^server = .*#server = "host=/nowhere dbname"#')"
one_line "a malformed connection string"
[[ $push_rc == 1 ]] || fail "a malformed connection string: exit $push_rc"
ok "a malformed connection string: exit 1, one located line: $push_err"
push hk "$(variant nowhere \
  "s#^server = .*#server = \"host=$work/nowhere dbname=driftwatch user=mon_hk\"#")"
one_line "a server that is not there"
ok "a connection string to no server: one line, exit $push_rc, the run waits: $push_err"
secret >"$work/hk/wrong-pgpass"
push hk "$(variant login 's#^password_file = .*#password_file = "wrong-pgpass"#')"
one_line "a refused login"
[[ $push_err != *"$(cat "$work/hk/wrong-pgpass")"* ]] ||
  fail "the refused login's line holds the password"
ok "a refused login: one line without the password, exit $push_rc, the run waits: $push_err"

before=$(counts)
su_sql -c "UPDATE driftwatch_fleet SET version = 99"
push hk
one_line "a schema of another version"
[[ $push_err == *99* && $(counts) == "$before" ]] || fail "another version: '$push_err'"
su_sql -c "UPDATE driftwatch_fleet SET version = $version"
ok "a central schema of version 99: one line, exit $push_rc, nothing sent: $push_err"

# A server that vanishes in the middle of a push: the push is held inside its transaction by a
# lock on samples, then the server is killed (pg_ctl -m immediate).
psql -X -q -h "$sock" -U postgres -d driftwatch \
  -c "BEGIN; LOCK TABLE samples IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [[ $(su_sql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                  WHERE c.relname = 'samples' AND l.mode = 'AccessExclusiveLock' AND l.granted") == 1 ]] &&
    break
  sleep 0.1
done
push_rc=0
"$dw" -c "$work/hk/driftwatch.toml" push >"$work/hk/push.out" 2>"$work/hk/push.err" &
push_pid=$!
waiting=0
for _ in $(seq 300); do
  waiting=$(su_sql -c "SELECT count(*) FROM pg_stat_activity
                       WHERE usename = 'mon_hk' AND wait_event_type = 'Lock'")
  [[ $waiting == 1 ]] && break
  sleep 0.1
done
[[ $waiting == 1 ]] || fail "the push never reached the locked table"
pg_stop immediate
wait "$push_pid" || push_rc=$?
push_err=$(cat "$work/hk/push.err")
one_line "a server that vanished mid-push"
pg_start
uuid=$(local_sql hk "SELECT p.uuid FROM run_pushes p WHERE p.pushed_at IS NULL")
[[ -n $uuid && $(su_sql -v u="$uuid" <<<"SELECT count(*) FROM runs WHERE uuid = :'u';") == 0 ]] ||
  fail "the run half-pushed when the server vanished is central: '$uuid'"
ok "a server that vanished mid-push: one line, exit $push_rc, nothing central," \
   "the run waits: $push_err"

push hk
[[ $push_rc == 0 && $push_out == "pushed 1 run (20 samples); 0 left" ]] ||
  fail "the last push: exit $push_rc, '$push_out' $push_err"
for v in hk fra tpe; do
  ok "$v at the end: $(same_rows "$v") centrally as locally"
done
echo "fleet-test: all checks passed"
