// `driftwatch daemon` over a longer life than cli_daemon_test.cc: a SIGHUP that lands in the
// middle of a run, a restart, and a webhook that is down for a while, each against what
// README.md's "Running as a service" section promises. The real binary, driftwatch-sim and a
// webhook server on loopback; every wait is for a condition, with a limit far above its need.

#include <atomic>
#include <mutex>

#include "cli_run_harness.h"
#include "held_port.h"
#include "local_server.h"
#include "store/store.h"

namespace cli_daemon_life_test {

using namespace dw::test;

namespace {

const char* kSimKey = "sk-cli-daemon-life-test-7a21";
const std::string kKeyEnv = std::string("DW_TEST_SIM_KEY=") + kSimKey;

// README.md, Notifications: a message that cannot be delivered is "tried again after the next
// job, at most 20 per target (older ones are dropped, and the drop is logged)".
constexpr int kReadmeMaxWaiting = 20;

using dw::testing::HeldPort;

// "127.0.0.1:PORT" of a held port, for [metrics] listen: refused until the daemon listens there.
std::string listen_at(const HeldPort& p) { return "127.0.0.1:" + std::to_string(p.port()); }

struct LifeConfig {
  std::string base_url = "http://127.0.0.1:9/v1";  // a simulator's, or one never asked
  std::string model = "gpt-old";
  std::string sets = "run-pace.toml";
  int samples = 2;
  std::string probes = "@every 2s";
  std::string report = "0 0 1 1 *";  // once a year: no report during a test
  std::string metrics;               // [metrics] listen; "" for none
  bool webhook = false;              // [[notify]] "chat" on reports, URL in $DW_TEST_HOOK_URL
};

// driftwatch.toml in the scratch folder, replaced whole as an editor saving it would.
fs::path write_config(const Scratch& scratch, const LifeConfig& c) {
  std::ostringstream t;
  t << "[storage]\ndatabase = \"dw.db\"\n\n"
    << "[probes]\nsets = [" << kData / c.sets << "]\nsamples = " << c.samples
    << "\ndeadline = \"1m\"\n\n"  // the run, not its deadline, decides when it ends
    << "[schedule]\nprobes = \"" << c.probes << "\"\nreport = \"" << c.report
    << "\"\njitter = \"0s\"\n\n"
    << "[report]\ndir = \"reports\"\nformats = [\"md\"]\n\n"
    << "[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n\n";
  if (!c.metrics.empty()) t << "[metrics]\nlisten = \"" << c.metrics << "\"\n\n";
  t << "[[endpoint]]\nname = \"gpt\"\nkind = \"openai\"\nbase_url = \"" << c.base_url
    << "\"\nmodel = \"" << c.model << "\"\napi_key_env = \"DW_TEST_SIM_KEY\"\nconcurrency = 1\n";
  if (c.webhook) {
    t << "\n[[notify]]\nname = \"chat\"\nkind = \"webhook\"\nurl_env = \"DW_TEST_HOOK_URL\"\n"
      << "on = [\"reports\"]\ntimeout = \"5s\"\n";
  }
  scratch.write("driftwatch.toml.new", t.str());
  fs::rename(scratch.path("driftwatch.toml.new"), scratch.path("driftwatch.toml"));
  return scratch.path("driftwatch.toml");
}

// Waits until done() holds; false after the limit.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// GET /metrics on a loopback port.
httplib::Result scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10s);
  client.set_read_timeout(10s);
  return client.Get("/metrics");
}

// The samples of a Prometheus text exposition: "name{labels}" -> value.
std::map<std::string, double> samples_of(const std::string& exposition) {
  std::map<std::string, double> out;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// The series of one metric among samples.
std::map<std::string, double> series(const std::map<std::string, double>& samples,
                                     const std::string& metric) {
  std::map<std::string, double> out;
  for (const auto& [key, value] : samples)
    if (key.starts_with(metric + "{") || key == metric) out[key] = value;
  return out;
}


}  // namespace

TEST_CASE("SIGHUP mid-run: the run finishes on the config it started with and the next uses the "
          "new one; a changed [metrics] listen waits for a restart, whose gauges come from the "
          "database") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", kSimKey});
  HeldPort first_port, second_port;
  LifeConfig c;
  c.base_url = sim.url() + "/v1";
  c.metrics = listen_at(first_port);
  fs::path config = write_config(scratch, c);
  fs::path db = scratch.path("dw.db");

  {
    Background daemon(scratch, config, {"daemon"}, {kKeyEnv});
    INFO(daemon.state() << "; its stderr: " << daemon.err());
    REQUIRE(daemon.await_err("metrics on http://" + listen_at(first_port) + "/metrics"));
    // The first run asks 12 probes twice, one request at a time, each answered after 150 ms:
    // at least 3.6 s. Once two answers are in, at least 3.3 s of it are left for the SIGHUP.
    REQUIRE(sim.await_requests(2, 60s));
    c.model = "gpt-new";
    c.sets = "run-answers.toml";
    c.samples = 1;
    c.metrics = listen_at(second_port);
    write_config(scratch, c);
    const int64_t hup_ms = unix_ms_now();
    daemon.signal(SIGHUP);
    REQUIRE(daemon.await_err("<5>SIGHUP: the new config checks; switching to it when the probe "
                             "run in progress ends\n"));
    REQUIRE(daemon.await_err("<5>SIGHUP: now running with the new config", 60s));
    CHECK(contains(daemon.err(), "<4>SIGHUP: [metrics] listen changed; it takes effect at the "
                                 "next restart\n"));

    // The run in progress went on with the old config to its end: every sample asked with the
    // old model, of the old probe set, as many as the old `samples` says...
    CHECK(scalar(db, "SELECT status FROM runs WHERE id = 1") == "complete");
    CHECK(scalar(db, "SELECT count(*) FROM samples WHERE run_id = 1") == "24");
    CHECK(scalar(db, "SELECT group_concat(DISTINCT requested_model) FROM samples "
                     "WHERE run_id = 1") == "gpt-old");
    CHECK(scalar(db, "SELECT count(*) FROM samples WHERE run_id = 1 AND probe_id NOT LIKE "
                     "'pace-%'") == "0");
    // ...the requests sent after the SIGHUP included.
    int after_hup = 0;
    for (const auto& r : sim.requests()) {
      if (!r["probe"].get<std::string>().starts_with("pace-")) continue;
      CHECK(r["model"] == "gpt-old");
      if (r["start_ms"].get<int64_t>() > hup_ms) ++after_hup;
    }
    CHECK(after_hup > 0);

    // The metrics stay where they were until a restart.
    auto old_listen = scrape(first_port.port());
    REQUIRE(old_listen);
    CHECK(old_listen->status == 200);
    CHECK(contains(old_listen->body, "driftwatch_build_info{"));
    auto new_listen = scrape(second_port.port());
    CHECK_FALSE(new_listen);
    CHECK(new_listen.error() == httplib::Error::Connection);

    // The next run is the new config's: its model, its probe set, one sample each.
    REQUIRE(eventually([&] { return scalar(db, "SELECT count(*) FROM runs WHERE id = 2 AND "
                                               "status = 'complete'") == "1"; },
                       60s));
    CHECK(scalar(db, "SELECT count(*) FROM samples WHERE run_id = 2") == "3");
    CHECK(scalar(db, "SELECT group_concat(DISTINCT requested_model) FROM samples "
                     "WHERE run_id = 2") == "gpt-new");
    CHECK(scalar(db, "SELECT count(*) FROM samples WHERE run_id = 2 AND probe_id LIKE "
                     "'pace-%'") == "0");

    daemon.signal(SIGTERM);
    auto o = daemon.wait(60s);
    INFO(o.err);
    CHECK(o.code == 0);
  }

  // While it is down, an event is opened (as `import` or another host would): the restarted
  // daemon can only know of it from the database.
  {
    auto store = dw::store::Store::open(db.string());
    REQUIRE(store.ok());
    dw::store::Event health;
    health.type = "endpoint_health";
    health.endpoint = "gpt";
    health.detected_at = *dw::parse_time("2026-01-15T06:00:00Z");
    REQUIRE((*store)->insert_event(health).ok());
  }

  // The restart: no run is due (a yearly schedule, and the last run is recent), so whatever
  // /metrics shows of runs came from the database.
  c.probes = "0 0 1 1 *";
  write_config(scratch, c);
  const std::string runs_before = scalar(db, "SELECT count(*) FROM runs");
  Background daemon(scratch, config, {"daemon"}, {kKeyEnv});
  INFO(daemon.state() << "; its stderr: " << daemon.err());
  REQUIRE(daemon.await_err("metrics on http://" + listen_at(second_port) + "/metrics"));
  REQUIRE(daemon.await_err(" daemon ready; "));
  CHECK_FALSE(scrape(first_port.port()));
  auto res = scrape(second_port.port());
  REQUIRE(res);
  REQUIRE(res->status == 200);
  auto samples = samples_of(res->body);
  INFO(res->body);

  // Gauges: the last run's verdict shares per endpoint and category, its time, the open events.
  auto last = query(db, "SELECT id, unixepoch(run_at) AS at FROM runs ORDER BY id DESC LIMIT 1");
  REQUIRE(last.size() == 1);
  REQUIRE(samples.count("driftwatch_last_run_timestamp_seconds") == 1);
  CHECK(static_cast<int64_t>(samples["driftwatch_last_run_timestamp_seconds"]) ==
        std::stoll(*last[0]["at"]));
  std::map<std::string, double> expected_ratios;
  std::map<std::string, double> totals;
  auto counted = query(db, "SELECT p.category AS category, coalesce(s.verdict, 'unclassified') "
                           "AS verdict, count(*) AS n FROM samples s JOIN probes p ON p.id = "
                           "s.probe_id AND p.version = s.probe_version WHERE s.run_id = " +
                               *last[0]["id"] + " AND s.endpoint = 'gpt' GROUP BY 1, 2");
  for (const auto& row : counted) totals[*row.at("category")] += std::stod(*row.at("n"));
  for (const auto& row : counted) {
    expected_ratios["driftwatch_verdict_ratio{endpoint=\"gpt\",category=\"" +
                    *row.at("category") + "\",verdict=\"" + *row.at("verdict") + "\"}"] =
        std::stod(*row.at("n")) / totals[*row.at("category")];
  }
  REQUIRE_FALSE(expected_ratios.empty());
  auto ratios = series(samples, "driftwatch_verdict_ratio");
  REQUIRE(ratios.size() == expected_ratios.size());
  for (const auto& [key, value] : expected_ratios) {
    CAPTURE(key);
    REQUIRE(ratios.count(key) == 1);
    CHECK(ratios[key] == doctest::Approx(value));
  }
  for (const auto& [key, value] : ratios) CHECK_FALSE(contains(key, "category=\"pace\""));

  std::map<std::string, double> expected_open;
  for (const auto& row : query(db, "SELECT endpoint, type, count(*) AS n FROM events WHERE "
                                   "status = 'open' GROUP BY 1, 2")) {
    expected_open["driftwatch_events_open{endpoint=\"" + row.at("endpoint").value_or("") +
                  "\",type=\"" + *row.at("type") + "\"}"] = std::stod(*row.at("n"));
  }
  CHECK(series(samples, "driftwatch_events_open") == expected_open);
  CHECK(samples["driftwatch_events_open{endpoint=\"gpt\",type=\"endpoint_health\"}"] >= 1);

  // Counters start at zero with the process: this one has stored and run nothing.
  CHECK(series(samples, "driftwatch_samples_total").empty());
  CHECK(series(samples, "driftwatch_runs_total").empty());

  daemon.signal(SIGTERM);
  auto o = daemon.wait(60s);
  CHECK(o.code == 0);
  CHECK(scalar(db, "SELECT count(*) FROM runs") == runs_before);
}

TEST_CASE("a webhook that is down, then back: each job retries the oldest message, at most 20 "
          "wait (the oldest dropped, and logged), and the 20 go out in order on recovery") {
  Scratch scratch;
  std::atomic<bool> down{true};
  std::mutex mutex;
  std::map<int, int> status_of;  // request index -> the status answered
  dw::testing::LocalServer hook([&](const httplib::Request&, httplib::Response& res, int index) {
    res.status = down.load() ? 500 : 200;
    std::lock_guard lock(mutex);
    status_of[index] = res.status;
  });
  auto accepted = [&] {
    std::lock_guard lock(mutex);
    return std::count_if(status_of.begin(), status_of.end(),
                         [](const auto& s) { return s.second == 200; });
  };
  LifeConfig c;
  c.report = "@every 1s";  // a report a second, each one message to the webhook
  c.probes = "0 0 1 1 *";  // and no probe runs
  c.webhook = true;
  fs::path config = write_config(scratch, c);

  Background daemon(scratch, config, {"daemon"},
                    {"DW_TEST_HOOK_URL=" + hook.url("/hooks/T7/B7/LIFEHOOKTOKEN")});
  INFO(daemon.state() << "; its stderr: " << daemon.err());
  // 21 reports have failed to go out by the first drop: about 21 s.
  REQUIRE(daemon.await_err("dropping the oldest", 180s));
  down.store(false);
  // The recovery round (20) and one job after it (1).
  REQUIRE(eventually([&] { return accepted() >= kReadmeMaxWaiting + 1; }, 60s));
  daemon.signal(SIGTERM);
  auto o = daemon.wait(60s);
  INFO(o.err);
  CHECK(o.code == 0);
  CHECK_FALSE(contains(o.err, "LIFEHOOKTOKEN"));

  // The log, job by job: each report job logs "report for PERIOD written", then a drop when
  // the queue overflows, then the outcome of each delivery attempt.
  struct Job {
    std::string period;  // "SINCE to SLOT"
    int waiting = -1;    // from "not delivered ... (N waiting)"; -1 when delivery did not fail
    int dropped = 0;
    int sent = 0;
  };
  std::vector<Job> jobs;
  const std::string written = "<5>report for ", not_delivered =
      "<4>notify 'chat': not delivered, will retry after the next job (";
  const std::string drop = "<4>notify 'chat': " + std::to_string(kReadmeMaxWaiting) +
                           " messages are waiting; dropping the oldest: driftwatch report for ";
  for (const auto& line : lines_of(o.err)) {
    CAPTURE(line);
    if (line.starts_with(written) && contains(line, " written: ")) {
      jobs.push_back({line.substr(written.size(), line.find(" written: ") - written.size())});
    } else if (line.starts_with(not_delivered)) {
      REQUIRE_FALSE(jobs.empty());
      jobs.back().waiting = std::stoi(line.substr(not_delivered.size()));
      CHECK(contains(line, " waiting): HTTP 500"));
    } else if (contains(line, "dropping the oldest")) {
      REQUIRE_FALSE(jobs.empty());
      CHECK(line.starts_with(drop));
      ++jobs.back().dropped;
    } else if (line.starts_with("<6>notify 'chat': sent \"driftwatch report for ")) {
      REQUIRE_FALSE(jobs.empty());
      ++jobs.back().sent;
    }
  }
  auto recovered = std::find_if(jobs.begin(), jobs.end(), [](const Job& j) { return j.sent > 0; });
  REQUIRE(recovered != jobs.end());
  const int r = static_cast<int>(recovered - jobs.begin());
  REQUIRE(r >= kReadmeMaxWaiting);  // a drop was seen before the webhook came back

  // Down: every job tried once more, the queue grew by one a job up to 20, then stayed there,
  // the oldest dropped each time.
  for (int i = 0; i < r; ++i) {
    CAPTURE(i);
    CHECK(jobs[i].waiting == std::min(i + 1, kReadmeMaxWaiting));
    CHECK(jobs[i].dropped == (i + 1 > kReadmeMaxWaiting ? 1 : 0));
    CHECK(jobs[i].sent == 0);
  }
  // Back: the 20 waiting went out in the first job after, then one a job.
  CHECK(jobs[r].sent == kReadmeMaxWaiting);
  CHECK(jobs[r].waiting == -1);
  CHECK(jobs[r].dropped == 1);
  for (size_t i = r + 1; i < jobs.size(); ++i) {
    CAPTURE(i);
    CHECK(jobs[i].sent == 1);
    CHECK(jobs[i].dropped == 0);
  }

  // What the webhook saw: one failed attempt a job while down, each the oldest message still
  // kept (the first report's until it was dropped); then the 20 newest, oldest first.
  auto seen = hook.seen();
  auto statuses = [&] {
    std::lock_guard lock(mutex);
    return status_of;
  }();
  auto period_of = [&](size_t i) {
    std::string text = json::parse(seen[i].body).at("text");
    std::string start = "The report for ";
    size_t at = text.find(start);
    REQUIRE(at != std::string::npos);
    at += start.size();
    return text.substr(at, text.find(" is written", at) - at);
  };
  REQUIRE(seen.size() >= static_cast<size_t>(r + kReadmeMaxWaiting));
  for (int i = 0; i < r; ++i) {
    CAPTURE(i);
    CHECK(statuses[i] == 500);
    CHECK(period_of(i) == jobs[std::max(0, i + 1 - kReadmeMaxWaiting)].period);
  }
  for (int k = 0; k < kReadmeMaxWaiting; ++k) {
    CAPTURE(k);
    CHECK(statuses[r + k] == 200);
    CHECK(period_of(r + k) == jobs[r + 1 - kReadmeMaxWaiting + k].period);
  }
}

}  // namespace cli_daemon_life_test
