// The daemon's fleet pusher (daemon/pusher.h): its backoff arithmetic, its metrics, and, against
// a real PostgreSQL 15 cluster (tests/pg_cluster.h), that it pushes the backlog at start, holds
// back while a probe job runs, retries with backoff while the server is away (one warning a
// failed round, never the password) and catches up when it returns.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/time.h"
#include "config/config.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/pusher.h"
#include "fleet/central_schema.h"
#include "fleet/pg.h"
#include "pg_cluster.h"
#include "promtool.h"
#include "scratch.h"
#include "store/store.h"

namespace daemon_pusher_test {

using namespace std::chrono;
using dw::daemon::Metrics;
using dw::daemon::push_retry_delay;

namespace {

bool wait_for(const std::function<bool()>& done, milliseconds limit) {
  const auto end = steady_clock::now() + limit;
  while (steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return done();
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

// Central runs, counted on a fresh connection (the server may have been restarted).
long central_runs(const dw::test::PgCluster& cluster) {
  return std::stol(cluster.value("fleet", "SELECT count(*) FROM runs"));
}

dw::Time at(const char* text) { return *dw::parse_time(text); }

// A finished and decided run with two answered samples of probe "p" on endpoint "e".
void add_run(dw::store::Store& store, dw::Time run_at) {
  auto run = store.begin_run(run_at, run_at);
  REQUIRE(run);
  for (int seq = 1; seq <= 2; ++seq) {
    dw::providers::Sample s;
    s.text = "Troops and tanks cleared the square.";
    s.http_status = 200;
    s.finish_reason = "stop";
    s.attempts = 1;
    auto id = store.add_sample({*run, "p", "v-p", "e", seq, "m", run_at}, s);
    REQUIRE(id);
    REQUIRE(store.set_classification(*id, {"answered", "[]", false, std::nullopt, "rules-1"}));
  }
  REQUIRE(store.finish_run(*run, run_at + seconds(60), dw::store::RunStatus::complete));
  // Decided: detection stores the run's summary (with its events); only then is it pushed.
  REQUIRE(store.put_run_cells(*run, {{*run, {}, "", 1, "", {}}}));
  REQUIRE(store.flush());
}

}  // namespace

TEST_CASE("push_retry_delay: retry doubled per failure, at most an hour, within +-20%") {
  CHECK(push_retry_delay(seconds(60), 1, 0) == minutes(1));
  CHECK(push_retry_delay(seconds(60), 0, 0) == minutes(1));  // counts as the first
  CHECK(push_retry_delay(seconds(60), 2, 0) == minutes(2));
  CHECK(push_retry_delay(seconds(60), 6, 0) == minutes(32));
  CHECK(push_retry_delay(seconds(60), 7, 0) == hours(1));
  CHECK(push_retry_delay(seconds(60), 100000, 0) == hours(1));
  CHECK(push_retry_delay(seconds(60), 1, 1) == seconds(72));
  CHECK(push_retry_delay(seconds(60), 1, -1) == seconds(48));
  CHECK(push_retry_delay(seconds(60), 1, 7) == seconds(72));  // clamped to +20%
  CHECK(push_retry_delay(seconds(60), 100000, 1) == minutes(72));
  CHECK(push_retry_delay(hours(1), 3, -1) == minutes(48));
  CHECK(push_retry_delay(seconds(1), 1, 0.5) == milliseconds(1100));
}

TEST_CASE("metrics: the fleet's appear once the pusher reports, and pass promtool") {
  Metrics m("0");
  CHECK(m.render().find("driftwatch_fleet") == std::string::npos);
  m.set_fleet_state(3, std::nullopt);
  m.record_fleet_push_failure();
  std::string text = m.render();
  CAPTURE(text);
  CHECK(has(text, "driftwatch_fleet_backlog_runs 3"));
  CHECK(has(text, "driftwatch_fleet_push_failures_total 1"));
  CHECK(text.find("driftwatch_fleet_last_push_timestamp_seconds") == std::string::npos);
  m.set_fleet_state(0, at("2026-01-15T12:00:00Z"));
  text = m.render();
  CHECK(has(text, "driftwatch_fleet_backlog_runs 0"));
  CHECK(has(text, "driftwatch_fleet_last_push_timestamp_seconds 1768478400"));
  std::string output;
  CHECK_MESSAGE(dw::test::promtool_check(text, output) == 0, output);
}

TEST_CASE("pusher: the backlog at start, held during a job, retried while the server is away") {
  dw::test::PgCluster cluster;
  cluster.create_database("fleet");
  {
    auto admin = dw::fleet::Pg::connect(cluster.conninfo("fleet"));
    REQUIRE(admin);
    auto st = dw::fleet::init_central(**admin);
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  }
  cluster.create_login("pi_hk", "pw-hk-secret", "driftwatch_monitor");

  dw::test::Scratch scratch;
  const std::string database = scratch.path("monitor.db").string();
  auto opened = dw::store::Store::open(database);
  REQUIRE(opened);
  dw::store::Store& local = **opened;
  dw::probes::Probe p;
  p.id = "p";
  p.version = "v-p";
  p.set = "s";
  p.category = "tiananmen";
  p.lang = "en";
  p.prompt = "What happened?";
  REQUIRE(local.upsert_probes({p}));
  REQUIRE(local.upsert_endpoint("e", "openai", "http://127.0.0.1:1/v1", "m"));
  add_run(local, at("2026-01-15T00:00:00Z"));

  dw::config::Fleet fleet;
  fleet.server = cluster.conninfo("fleet", "pi_hk");
  fleet.password = {dw::config::SecretRef::Source::file,
                    scratch.write("pgpass", "pw-hk-secret\n").string(), "fleet database password"};
  fleet.vantage = "hk";
  fleet.retry = seconds(1);
  Metrics metrics("0");
  std::mutex lines_mutex;
  std::vector<std::string> lines;
  dw::daemon::Logger log(dw::daemon::LogLevel::debug, [&](std::string_view line) {
    std::lock_guard lock(lines_mutex);
    lines.emplace_back(line);
  });
  auto failures = [&] {
    std::lock_guard lock(lines_mutex);
    long n = 0;
    for (const auto& l : lines) {
      CHECK(l.find("pw-hk-secret") == std::string::npos);
      if (l.starts_with("<4>fleet: push failed: ")) ++n;
    }
    return n;
  };

  auto pusher = std::make_unique<dw::daemon::Pusher>(database, fleet, metrics, log);
  CHECK(wait_for([&] { return central_runs(cluster) == 1; }, seconds(20)));
  CHECK(wait_for([&] { return has(metrics.render(), "driftwatch_fleet_backlog_runs 0"); },
                 seconds(5)));

  // While a probe job runs, nothing is pushed, even when woken.
  pusher->pause();
  add_run(local, at("2026-01-15T06:00:00Z"));
  pusher->update(fleet);
  std::this_thread::sleep_for(milliseconds(1500));
  CHECK(central_runs(cluster) == 1);
  pusher->resume();
  CHECK(wait_for([&] { return central_runs(cluster) == 2; }, seconds(10)));

  // The server away: the run waits; each failed round is one warning and one count.
  cluster.stop();
  pusher->pause();
  add_run(local, at("2026-01-15T12:00:00Z"));
  pusher->resume();
  CHECK(wait_for([&] { return failures() >= 2; }, seconds(10)));  // after ~1 s, then ~2 s
  const std::string text = metrics.render();
  CAPTURE(text);
  CHECK(has(text, "driftwatch_fleet_backlog_runs 1"));
  CHECK(text.find("driftwatch_fleet_push_failures_total 0\n") == std::string::npos);
  cluster.start();
  CHECK(wait_for([&] { return central_runs(cluster) == 3; }, seconds(15)));  // ~4 s +-20%
  CHECK(wait_for([&] { return has(metrics.render(), "driftwatch_fleet_backlog_runs 0"); },
                 seconds(5)));

  // Stopping between rounds is prompt.
  auto before = steady_clock::now();
  pusher.reset();
  CHECK(steady_clock::now() - before < seconds(2));
  auto state = local.push_state();
  REQUIRE(state);
  CHECK(state->backlog == 0);
  CHECK(state->last_pushed.has_value());

  // Stopping in the middle of a push that waits on the server (another session holds the
  // samples table) is prompt too: the statement is cancelled, and the run waits, unpushed.
  auto locker = dw::fleet::Pg::connect(cluster.conninfo("fleet"));
  REQUIRE(locker);
  auto held = (*locker)->begin();
  REQUIRE(held);
  REQUIRE((*locker)->run("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE"));
  add_run(local, at("2026-01-15T18:00:00Z"));
  pusher = std::make_unique<dw::daemon::Pusher>(database, fleet, metrics, log);
  auto waiting = [&] {
    auto r = (*locker)->exec("SELECT count(*) FROM pg_locks WHERE NOT granted");
    return r && !r->rows.empty() && r->rows[0][0] && *r->rows[0][0] != "0";
  };
  CHECK(wait_for(waiting, seconds(20)));
  before = steady_clock::now();
  pusher.reset();
  CHECK(steady_clock::now() - before < seconds(5));
  held->reset();  // rolls back: the lock goes
  state = local.push_state();
  REQUIRE(state);
  CHECK(state->backlog == 1);
  CHECK(central_runs(cluster) == 3);
}

}  // namespace daemon_pusher_test
