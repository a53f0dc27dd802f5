// `driftwatch daemon` end to end: the real binary on an "@every 2s" schedule against
// driftwatch-sim on loopback, as systemd would run it. The test is systemd: it listens on the
// NOTIFY_SOCKET it hands the daemon (READY, STATUS, WATCHDOG, STOPPING), sends the signals,
// scrapes /metrics (checked with promtool), receives the webhook, and reads the database.
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <re2/re2.h>

#include "cli_run_harness.h"
#include "held_port.h"
#include "local_server.h"
#include "promtool.h"

namespace cli_daemon_test {

using namespace dw::test;

namespace {

const std::string kKeyEnv = "DW_TEST_SIM_KEY=sk-cli-daemon-test-0d3e";

// The unix datagram socket sd_notify() writes to, read at once by a thread of its own as
// systemd reads it: a socket left unread fills its queue (net.unix.max_dgram_qlen, 10 by
// default) and then blocks the daemon's sd_notify(), watchdog pings included.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path.c_str());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    reader_ = std::thread([this] { read(); });
  }
  ~NotifySocket() {
    stop_.store(true);
    reader_.join();
    close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string env() const { return "NOTIFY_SOCKET=" + path_.string(); }

  // How many messages have arrived; a position to await() from.
  size_t mark() {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }

  // The first message from position `from` on that holds every needle, waiting for it up to
  // the limit; nullopt when none came.
  std::optional<std::string> await(const std::vector<std::string>& needles, size_t from = 0,
                                   std::chrono::milliseconds limit = 20s) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> found;
    arrived_.wait_for(lock, limit, [&] {
      for (; from < messages_.size(); ++from) {
        const std::string& m = messages_[from];
        if (std::all_of(needles.begin(), needles.end(),
                        [&](const auto& n) { return contains(m, n); })) {
          found = m;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  size_t count(const std::string& needle) {
    std::lock_guard lock(mutex_);
    return std::count_if(messages_.begin(), messages_.end(),
                         [&](const auto& m) { return contains(m, needle); });
  }

 private:
  void read() {
    pollfd p{fd_, POLLIN, 0};
    while (!stop_.load()) {
      if (poll(&p, 1, 20) <= 0) continue;
      char buffer[4096];
      ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0) continue;
      std::lock_guard lock(mutex_);
      messages_.emplace_back(buffer, static_cast<size_t>(n));
      arrived_.notify_all();
    }
  }

  fs::path path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::string> messages_;
  std::thread reader_;
};

struct DaemonConfig {
  std::string model = "gpt-test";
  std::string probes = "@every 2s";
  std::string report = "@every 1h";
  std::string sets = "run-answers.toml";
  int samples = 1;
  std::string deadline;  // [probes] deadline; "" for the default
  int metrics_port = 0;  // 0: no [metrics]
  bool webhook = false;
  std::string extra;  // more lines at the end of [schedule]
  fs::path rules = fs::path(DW_SOURCE_DIR) / "config/rules";
};

// driftwatch.toml in the scratch folder (replaced whole, as an editor saving it would).
fs::path write_config(const Scratch& scratch, const Sim& sim, const DaemonConfig& d) {
  std::ostringstream t;
  t << "[storage]\ndatabase = \"dw.db\"\n\n"
    << "[probes]\nsets = [" << kData / d.sets << "]\nsamples = " << d.samples << "\n"
    << (d.deadline.empty() ? "" : "deadline = \"" + d.deadline + "\"\n") << "\n"
    << "[schedule]\nprobes = \"" << d.probes << "\"\nreport = \"" << d.report
    << "\"\njitter = \"0s\"\n" << d.extra << "\n"
    << "[report]\ndir = \"reports\"\nformats = [\"md\"]\n\n"
    << "[classifier]\nrules = " << d.rules << "\n\n";
  if (d.metrics_port) t << "[metrics]\nlisten = \"127.0.0.1:" << d.metrics_port << "\"\n\n";
  t << "[[endpoint]]\nname = \"gpt\"\nkind = \"openai\"\nbase_url = \"" << sim.url()
    << "/v1\"\nmodel = \"" << d.model << "\"\napi_key_env = \"DW_TEST_SIM_KEY\"\n"
    << "concurrency = 1\n";
  if (d.webhook) {
    t << "\n[[notify]]\nname = \"chat\"\nkind = \"webhook\"\nurl_env = \"DW_TEST_HOOK_URL\"\n"
      << "timeout = \"5s\"\n";
  }
  scratch.write("driftwatch.toml.new", t.str());
  fs::rename(scratch.path("driftwatch.toml.new"), scratch.path("driftwatch.toml"));
  return scratch.path("driftwatch.toml");
}

// Every line of a journald stream starts with a priority "<0>".."<7>".
void check_journald_lines(const std::string& err) {
  std::istringstream lines(err);
  static const RE2 kLine("<[0-7]>[^\r]*");
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    CHECK(RE2::FullMatch(line, kLine));
  }
}


long runs(const fs::path& db, const std::string& status) {
  return std::stol(scalar(db, "SELECT count(*) FROM runs WHERE status = '" + status + "'"));
}

}  // namespace

TEST_CASE("the daemon under systemd: runs, READY/STATUS/WATCHDOG/STOPPING, metrics, webhook, "
          "SIGHUP with a broken then a good config, SIGTERM") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", "sk-cli-daemon-test-0d3e"});
  NotifySocket notify(scratch.path("notify.sock"));
  dw::testing::LocalServer hook([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 200;
  });
  dw::testing::HeldPort metrics;  // the daemon listens on it; no other test can take it
  const int metrics_port = metrics.port();
  DaemonConfig d;
  d.metrics_port = metrics_port;
  d.webhook = true;
  d.report = "@every 3s";
  auto config = write_config(scratch, sim, d);
  fs::path db = scratch.path("dw.db");

  Background daemon(scratch, config, {"daemon"},
                    {kKeyEnv, notify.env(), "WATCHDOG_USEC=400000",
                     "DW_TEST_HOOK_URL=" + hook.url("/hooks/T1/B2/SECRETHOOKTOKEN")});
  // First more time to open (and maybe upgrade) the database, then READY once it is open.
  auto ready = notify.await({"READY=1"});
  INFO(daemon.state() << "; its stderr: " << daemon.err());
  REQUIRE(ready);
  auto first = notify.await({}, 0, 0ms);
  REQUIRE(first);
  CHECK(contains(*first, "EXTEND_TIMEOUT_USEC=1800000000\nSTATUS=opening the database"));
  CHECK(notify.await({}, 1, 0ms) == ready);
  CHECK(contains(*ready, "STATUS=ready; probes \"@every 2s\", report \"@every 3s\""));

  // Two scheduled runs, each ending in a STATUS line with the last run, next run, open events.
  auto second = notify.await({"STATUS=idle; last run: run 2 at ", " complete (3 of 3 answered"});
  REQUIRE(second);
  CHECK(contains(*second, "; next run: 20"));
  CHECK(contains(*second, "; open events: 0"));
  CHECK(notify.count("WATCHDOG=1") >= 2);  // every 200 ms, half of WATCHDOG_USEC
  CHECK(runs(db, "complete") >= 2);
  CHECK(sim.requests().size() >= 6);

  // Keys live in this process's memory: it may not dump core.
  std::string limits = slurp("/proc/" + std::to_string(daemon.pid()) + "/limits");
  CHECK(RE2::PartialMatch(limits, R"(Max core file size\s+0\s+0\s)"));

  // /metrics, while the daemon runs: what the runs said, in an exposition promtool accepts.
  httplib::Client scraper("127.0.0.1", metrics_port);
  auto res = scraper.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(contains(res->body, "driftwatch_build_info{version=\""));
  CHECK(contains(res->body, "driftwatch_samples_total{endpoint=\"gpt\",verdict=\"answered\"} "));
  CHECK(contains(res->body, "driftwatch_samples_total{endpoint=\"gpt\",verdict=\"refused\"} "));
  CHECK(RE2::PartialMatch(res->body, "\ndriftwatch_runs_total\\{status=\"complete\"\\} [2-9]"));
  CHECK(contains(res->body, "driftwatch_last_run_timestamp_seconds "));
  std::string promtool;
  CHECK_MESSAGE(promtool_check(res->body, promtool) == 0, promtool);

  // A report every 3 s, announced on the webhook as Slack reads it.
  REQUIRE(daemon.await_err("report for "));
  REQUIRE(daemon.await_err("written: "));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hook.seen().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto seen = hook.seen();
  REQUIRE_FALSE(seen.empty());
  CHECK(seen[0].path == "/hooks/T1/B2/SECRETHOOKTOKEN");
  CHECK(seen[0].header("Content-Type") == "application/json");
  auto body = json::parse(seen[0].body);
  REQUIRE(body.contains("text"));
  CHECK(contains(body["text"].get<std::string>(), "driftwatch report for "));
  // What changed, not where the files lie: the monitor's paths mean nothing in a chat.
  CHECK(contains(body["text"].get<std::string>(), " is written. What changed:\n"));
  CHECK_FALSE(contains(body["text"].get<std::string>(), (scratch.root() / "reports").string()));
  CHECK_FALSE(fs::is_empty(scratch.path("reports")));

  // SIGHUP with a broken config: the located error is logged and the old config runs on.
  long before = runs(db, "complete");
  d.extra = "jiter = \"1s\"\n";
  write_config(scratch, sim, d);
  daemon.signal(SIGHUP);
  CHECK(daemon.await_err("SIGHUP: the new config does not check; keeping the running one"));
  CHECK(contains(daemon.err(), "<3>SIGHUP: " + config.string() + ":12:1: unknown key 'jiter' in "
                               "[schedule]"));
  // A config nested 50,000 deep once overflowed the parser's stack and killed the daemon.
  std::string deep = "[a";
  for (int i = 0; i < 50000; ++i) deep += ".a";
  d.extra = deep + "]\n";
  write_config(scratch, sim, d);
  daemon.signal(SIGHUP);
  CHECK(daemon.await_err(config.string() + ":12:65: nesting deeper than 32 levels"));
  size_t at = notify.mark();
  REQUIRE(notify.await({"STATUS=idle; last run: run " + std::to_string(before + 2)}, at));
  CHECK(runs(db, "complete") >= before + 2);
  CHECK(scalar(db, "SELECT DISTINCT requested_model FROM samples") == "gpt-test");

  // SIGHUP with a good config: the switch happens between runs. The new model is announced as
  // model_change at the next run, a new event that the webhook hears of.
  d.extra.clear();
  d.model = "gpt-next";
  d.probes = "@every 3s";
  write_config(scratch, sim, d);
  daemon.signal(SIGHUP);
  CHECK(daemon.await_err("SIGHUP: now running with the new config (probes \"@every 3s\", "
                         "report \"@every 3s\")"));
  deadline = std::chrono::steady_clock::now() + 10s;
  std::optional<json> event;
  while (!event && std::chrono::steady_clock::now() < deadline) {
    for (const auto& s : hook.seen()) {
      auto j = json::parse(s.body);
      if (contains(j.value("text", ""), "new drift event")) event = j;
    }
    if (!event) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(event);
  CHECK(contains((*event)["text"].get<std::string>(), "- model_change on gpt"));
  CHECK(scalar(db, "SELECT count(*) FROM events WHERE type = 'model_change'") == "1");
  CHECK(scalar(db, "SELECT requested_model FROM samples ORDER BY id DESC LIMIT 1") == "gpt-next");

  // SIGTERM: STOPPING, exit 0, every run whole.
  at = notify.mark();
  daemon.signal(SIGTERM);
  auto o = daemon.wait(20s);
  INFO(o.err);
  CHECK(o.code == 0);
  CHECK(notify.await({"STOPPING=1"}, at, 10s));
  CHECK(contains(o.err, "<5>stopped\n"));
  CHECK_FALSE(contains(o.err, "SECRETHOOKTOKEN"));
  CHECK_FALSE(contains(o.err, "sk-cli-daemon-test"));
  check_journald_lines(o.err);
  CHECK(scalar(db, "PRAGMA integrity_check") == "ok");
  CHECK(runs(db, "running") == 0);
  CHECK(runs(db, "incomplete") == 0);
  // Runs never overlap: each starts once the one before has finished.
  auto all = query(db, "SELECT started_at, finished_at FROM runs ORDER BY id");
  REQUIRE(all.size() >= 5);
  for (size_t i = 1; i < all.size(); ++i) {
    CAPTURE(i);
    REQUIRE(all[i - 1]["finished_at"].has_value());
    CHECK(*all[i]["started_at"] >= *all[i - 1]["finished_at"]);
  }
}

TEST_CASE("SIGTERM mid-run: the run finishes within --grace, or is cut at its end and stored "
          "incomplete; a missed run is caught up once at start; exit 0 both times") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", "sk-cli-daemon-test-0d3e"});
  NotifySocket notify(scratch.path("notify.sock"));
  DaemonConfig d;
  d.sets = "run-pace.toml";  // 12 probes answered after 150 ms each, one at a time: ~1.8 s
  d.deadline = "1m";         // the grace period, not the run deadline, is what ends this run
  auto config = write_config(scratch, sim, d);
  fs::path db = scratch.path("dw.db");

  {
    Background daemon(scratch, config, {"daemon"}, {kKeyEnv, notify.env()});
    REQUIRE(sim.await_requests(3));
    size_t at = notify.mark();
    daemon.signal(SIGTERM);
    auto stopping = notify.await({"STOPPING=1"}, at, 20s);
    REQUIRE(stopping);
    CHECK(contains(*stopping, "STATUS=stopping: waiting up to 30s for the probe run in progress"));
    auto o = daemon.wait(20s);
    INFO(o.err);
    CHECK(o.code == 0);
    CHECK(contains(o.err, "<5>stop signal: no new jobs; the probe run in progress has 30s to "
                          "finish"));
    CHECK_FALSE(contains(o.err, "cancelling"));
    CHECK(contains(o.err, "<6>")); // --log-level info by default
    check_journald_lines(o.err);
  }
  auto first = query(db, "SELECT run_at, status FROM runs");
  REQUIRE(first.size() == 1);
  CHECK(first[0]["status"] == "complete");
  CHECK(scalar(db, "SELECT count(*) FROM samples") == "12");

  // Down past the next slot: that run was missed, and is caught up at once at start.
  auto last = std::chrono::system_clock::from_time_t(0) +
              std::chrono::seconds(std::stol(scalar(db, "SELECT unixepoch(run_at) FROM runs")));
  std::this_thread::sleep_until(last + 2s + 100ms);

  size_t requests = sim.requests().size();
  Background daemon(scratch, config, {"daemon", "--grace", "1s", "--log-level", "notice"},
                    {kKeyEnv, notify.env()});
  REQUIRE(daemon.await_err("catching it up now, once"));
  // Signalled once the first answer is in: the 11 still to come take 1.65 s, longer than the
  // 1 s of grace even when this test notices that answer half a second late.
  REQUIRE(sim.await_requests(requests + 1));
  daemon.signal(SIGTERM);
  auto signalled = std::chrono::steady_clock::now();
  auto o = daemon.wait(20s);
  auto took = std::chrono::steady_clock::now() - signalled;
  INFO(o.err);
  CHECK(o.code == 0);
  CHECK(took >= 900ms);  // the grace period was given
  CHECK(took < 10s);     // and it was the 1 s asked for, not the default 30 s
  CHECK(contains(o.err, "<5>catching up the missed run of "));
  CHECK(contains(o.err, "<4>grace period of 1s over: cancelling the probe run in progress"));
  CHECK(contains(o.err, "<5>stopped\n"));
  CHECK_FALSE(contains(o.err, "<6>"));  // --log-level notice
  check_journald_lines(o.err);

  CHECK(scalar(db, "PRAGMA integrity_check") == "ok");
  auto all = query(db, "SELECT id, status FROM runs ORDER BY id");
  REQUIRE(all.size() == 2);
  CHECK(all[0]["status"] == "complete");
  CHECK(all[1]["status"] == "incomplete");
  long stored = std::stol(scalar(db, "SELECT count(*) FROM samples WHERE run_id = 2"));
  CHECK(stored > 0);
  CHECK(stored < 12);
  // What was stored is whole: every sample answered, with its text and its verdict.
  CHECK(scalar(db, "SELECT count(*) FROM samples s JOIN responses t ON t.hash = s.response_hash "
                   "WHERE s.run_id = 2 AND s.http_status = 200 AND s.verdict = 'answered' "
                   "AND s.error IS NULL") == std::to_string(stored));

  // An incomplete run does not count: the missed slot is caught up again. A second SIGTERM
  // cancels at once, whatever the grace period.
  requests = sim.requests().size();
  Background again(scratch, config, {"daemon"}, {kKeyEnv, notify.env()});
  REQUIRE(again.await_err("catching it up now, once"));
  REQUIRE(sim.await_requests(requests + 1));
  again.signal(SIGTERM);
  // Two signals sent at once would merge into one: let the first be read.
  REQUIRE(again.await_err("has 30s to finish"));
  signalled = std::chrono::steady_clock::now();
  again.signal(SIGTERM);
  o = again.wait(20s);
  took = std::chrono::steady_clock::now() - signalled;
  CHECK(o.code == 0);
  CHECK(took < 10s);  // at once, not after the 30 s of grace (the run stays incomplete: below)
  CHECK(contains(o.err, "<4>second stop signal: cancelling the probe run in progress"));
  CHECK(scalar(db, "SELECT group_concat(status, ' ') FROM (SELECT status FROM runs ORDER BY id)") ==
        "complete incomplete incomplete");
  CHECK(scalar(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("the daemon does not start on a config that does not check or a bad option: exit 1") {
  Scratch scratch;
  NotifySocket notify(scratch.path("notify.sock"));
  fs::path config = scratch.write("driftwatch.toml",
                                  "[probes]\nsets = [\"" + (kData / "run-answers.toml").string() +
                                      "\"]\n\n[schedule]\nprobes = \"@every 0s\"\n");
  auto o = driftwatch(scratch, config, {"daemon"}, {notify.env()});
  INFO(o.err);
  CHECK(o.code == 1);
  CHECK(contains(o.err, "<3>" + config.string() + ":5:10: "));
  CHECK(contains(o.err, "<3>not starting: " + config.string() + " does not check"));
  check_journald_lines(o.err);
  CHECK_FALSE(notify.await({"READY=1"}, 0, 100ms));

  o = driftwatch(scratch, config, {"daemon", "--log-level", "loud"}, {notify.env()});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "--log-level: unknown level 'loud'"));
  o = driftwatch(scratch, config, {"daemon", "--grace", "soon"}, {notify.env()});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "--grace: "));
}

TEST_CASE("each run compiles the rule packs the daemon read at start: packs changed or removed "
          "on disk since change nothing until SIGHUP") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", "sk-cli-daemon-test-0d3e"});
  DaemonConfig d;
  d.rules = scratch.path("rules");
  fs::copy(fs::path(DW_SOURCE_DIR) / "config/rules", d.rules);
  auto config = write_config(scratch, sim, d);
  fs::path db = scratch.path("dw.db");
  Background daemon(scratch, config, {"daemon"}, {kKeyEnv});
  REQUIRE(await_count(db, "SELECT count(*) FROM runs WHERE status = 'complete'", 1));
  const std::string version = scalar(db, "SELECT DISTINCT classifier_version FROM sample_rows");

  // A pack that does not load, then no packs at all.
  scratch.write("rules/zz-broken.toml", "[[rule]\nid = \"broken\"\n");
  REQUIRE(await_count(db, "SELECT count(*) FROM runs WHERE status = 'complete'", 2));
  fs::remove_all(d.rules);
  REQUIRE(await_count(db, "SELECT count(*) FROM runs WHERE status = 'complete'", 4));
  INFO(daemon.state() << "; its stderr: " << daemon.err());
  CHECK(scalar(db, "SELECT count(*) FROM sample_rows WHERE verdict IS NULL") == "0");
  CHECK(scalar(db, "SELECT count(DISTINCT classifier_version) FROM sample_rows") == "1");
  CHECK(scalar(db, "SELECT DISTINCT classifier_version FROM sample_rows") == version);
  CHECK(scalar(db, "SELECT count(*) FROM sample_rows WHERE run_id >= 3") != "0");

  // SIGHUP reads the packs again: none now, so the running config stays.
  daemon.signal(SIGHUP);
  CHECK(daemon.await_err("SIGHUP: the new config does not check; keeping the running one"));
  CHECK(contains(daemon.err(), "rules folder not found"));
}

}  // namespace cli_daemon_test
