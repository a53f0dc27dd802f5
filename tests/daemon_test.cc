// The daemon's parts on their own: the journald log, the event loop, Prometheus metrics (checked
// with promtool), webhook and e-mail notifications (against local servers) and their retries.
#include <doctest/doctest.h>

#include <httplib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/time.h"
#include "config/config.h"
#include "daemon/deliver.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/notifier.h"
#include "local_server.h"
#include "promtool.h"
#include "smtp_sink.h"

namespace daemon_test {

namespace fs = std::filesystem;
using namespace dw::daemon;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

struct Captured {
  std::vector<std::string> lines;
  Logger logger(LogLevel level) {
    return Logger(level, [this](std::string_view l) { lines.emplace_back(l); });
  }
  std::string all() const {
    std::string s;
    for (const auto& l : lines) s += l;
    return s;
  }
};

using dw::test::promtool_check;

dw::config::Notify webhook(const std::string& name, const std::string& env) {
  dw::config::Notify n;
  n.name = name;
  n.kind = dw::config::Notify::Kind::webhook;
  n.url = {dw::config::SecretRef::Source::env, env, "webhook URL"};
  n.timeout = std::chrono::seconds(5);
  return n;
}

dw::config::Notify email(const std::string& url) {
  dw::config::Notify n;
  n.name = "mail";
  n.kind = dw::config::Notify::Kind::email;
  n.smtp_url = url;
  n.starttls = false;
  n.from = "driftwatch@example.org";
  n.to = {"ops@example.org", "desk@example.org"};
  n.timeout = std::chrono::seconds(5);
  return n;
}

}  // namespace

TEST_CASE("log: journald priority prefixes, one line per call, level filter") {
  Captured c;
  Logger log = c.logger(LogLevel::notice);
  log.error("disk full");
  log.warning("slow");
  log.notice("started");
  log.info("not shown");
  log.debug("not shown");
  log.notice("model said: line one\nline two\r\tend");
  REQUIRE(c.lines.size() == 4);
  CHECK(c.lines[0] == "<3>disk full\n");
  CHECK(c.lines[1] == "<4>slow\n");
  CHECK(c.lines[2] == "<5>started\n");
  CHECK(c.lines[3] == "<5>model said: line one line two  end\n");

  struct Case {
    const char* name;
    std::optional<LogLevel> level;
  };
  const Case cases[] = {{"error", LogLevel::error}, {"warning", LogLevel::warning},
                        {"notice", LogLevel::notice}, {"info", LogLevel::info},
                        {"debug", LogLevel::debug},   {"warn", std::nullopt},
                        {"INFO", std::nullopt},       {"", std::nullopt}};
  for (const auto& k : cases) {
    INFO(std::string(k.name));
    CHECK(parse_log_level(k.name) == k.level);
  }
  Captured d;
  Logger debug = d.logger(LogLevel::debug);
  debug.debug("x");
  CHECK(d.all() == "<7>x\n");
}

TEST_CASE("event loop: sleeps to the deadline, wakes for wake() and for signals") {
  auto loop = EventLoop::create();
  REQUIRE_MESSAGE(loop.ok(), (loop.ok() ? "" : loop.error().to_string()));

  auto start = steady_clock::now();
  Wakeup w = (*loop)->wait_until(std::chrono::system_clock::now() + milliseconds(150));
  auto slept = steady_clock::now() - start;
  CHECK(slept >= milliseconds(140));   // ppoll does not return before its timeout
  CHECK(slept < milliseconds(5000));   // the deadline's, not max_sleep's 60 s
  CHECK_FALSE(w.woken);
  CHECK(w.stop_signals == 0);

  // max_sleep caps the sleep however far the deadline is.
  start = steady_clock::now();
  (void)(*loop)->wait_until(std::chrono::system_clock::now() + std::chrono::hours(1),
                            milliseconds(50));
  CHECK(steady_clock::now() - start < milliseconds(5000));

  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(50));
    (*loop)->wake();
  });
  start = steady_clock::now();
  w = (*loop)->wait_until(std::chrono::system_clock::now() + std::chrono::seconds(10));
  waker.join();
  CHECK(w.woken);
  CHECK(steady_clock::now() - start < milliseconds(5000));

  // Blocked signals wait in the signalfd; no handler runs.
  REQUIRE(kill(getpid(), SIGHUP) == 0);
  REQUIRE(kill(getpid(), SIGTERM) == 0);
  w = (*loop)->wait_until(std::chrono::system_clock::now() + std::chrono::seconds(10));
  CHECK(w.reload);
  CHECK(w.stop_signals == 1);
  w = (*loop)->wait_until(std::chrono::system_clock::now());
  CHECK_FALSE(w.reload);
  CHECK(w.stop_signals == 0);
}

TEST_CASE("metrics: the exposition passes promtool and carries what the runs said") {
  Metrics m("1.2.3");
  std::vector<SampleFacts> run{
      {"deepseek", "tiananmen", "refused", 0.3},  {"deepseek", "tiananmen", "refused", 1.5},
      {"deepseek", "tiananmen", "answered", 0.2}, {"deepseek", "control", "answered", 0.05},
      {"odd\"name\\x", "cat\nnew", "error", 400},
  };
  m.record_run(*dw::parse_time("2026-01-15T12:00:00Z"), "complete", run, true);
  m.set_open_events({{{"deepseek", "verdict_shift"}, 2}, {{"", "canned_template"}, 1}});
  std::string text = m.render();
  CAPTURE(text);
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  CHECK(has("driftwatch_build_info{version=\"1.2.3\"} 1"));
  CHECK(has("driftwatch_samples_total{endpoint=\"deepseek\",verdict=\"refused\"} 2"));
  CHECK(has("driftwatch_samples_total{endpoint=\"deepseek\",verdict=\"answered\"} 2"));
  CHECK(has("driftwatch_verdict_ratio{endpoint=\"deepseek\",category=\"tiananmen\","
            "verdict=\"refused\"} 0.6666666666666666"));
  CHECK(has("driftwatch_verdict_ratio{endpoint=\"deepseek\",category=\"control\","
            "verdict=\"answered\"} 1"));
  CHECK(has("driftwatch_events_open{endpoint=\"deepseek\",type=\"verdict_shift\"} 2"));
  CHECK(has("driftwatch_request_duration_seconds_bucket{endpoint=\"deepseek\",le=\"0.25\"} 2"));
  CHECK(has("driftwatch_request_duration_seconds_bucket{endpoint=\"deepseek\",le=\"0.1\"} 1"));
  CHECK(has("driftwatch_request_duration_seconds_bucket{endpoint=\"deepseek\",le=\"2.5\"} 4"));
  CHECK(has("driftwatch_request_duration_seconds_bucket{endpoint=\"deepseek\",le=\"+Inf\"} 4"));
  CHECK(has("driftwatch_request_duration_seconds_count{endpoint=\"deepseek\"} 4"));
  CHECK(has("driftwatch_request_duration_seconds_bucket{endpoint=\"odd\\\"name\\\\x\","
            "le=\"300\"} 0"));
  CHECK(has("driftwatch_samples_total{endpoint=\"odd\\\"name\\\\x\",verdict=\"error\"} 1"));
  CHECK(has("driftwatch_runs_total{status=\"complete\"} 1"));
  CHECK(has("driftwatch_last_run_timestamp_seconds 1768478400"));
  CHECK(text.find("probe=") == std::string::npos);  // never a label per probe or prompt
  CHECK(text.find("prompt=") == std::string::npos);

  std::string output;
  CHECK_MESSAGE(promtool_check(text, output) == 0, output);

  // A second run counts on and replaces the ratios; seeding (count = false) only sets gauges.
  m.record_run(*dw::parse_time("2026-01-15T18:00:00Z"), "incomplete",
               {{"deepseek", "tiananmen", "answered", 0.3}}, true);
  m.record_run(*dw::parse_time("2026-01-15T19:00:00Z"), "complete",
               {{"deepseek", "tiananmen", "refused", 0.3}}, false);
  text = m.render();
  CHECK(has("driftwatch_samples_total{endpoint=\"deepseek\",verdict=\"answered\"} 3"));
  CHECK(has("driftwatch_samples_total{endpoint=\"deepseek\",verdict=\"refused\"} 2"));
  CHECK(has("driftwatch_verdict_ratio{endpoint=\"deepseek\",category=\"tiananmen\","
            "verdict=\"refused\"} 1"));
  CHECK(text.find("category=\"control\"") == std::string::npos);
  CHECK(has("driftwatch_runs_total{status=\"incomplete\"} 1"));
  CHECK(has("driftwatch_last_run_timestamp_seconds 1768503600"));
  output.clear();
  CHECK_MESSAGE(promtool_check(text, output) == 0, output);

  // An empty registry is valid too (a fresh daemon before its first run).
  output.clear();
  CHECK_MESSAGE(promtool_check(Metrics("0").render(), output) == 0, output);
}

TEST_CASE("metrics server: GET /metrics serves the snapshot; a busy port is an error") {
  Metrics m("9.9.9");
  dw::testing::HeldPort held;  // no other test can take it; the server may listen on it
  int port = held.port();
  std::string listen = "127.0.0.1:" + std::to_string(port);
  auto server = MetricsServer::start(listen, m);
  REQUIRE_MESSAGE(server.ok(), (server.ok() ? "" : server.error().to_string()));
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res->body.find("driftwatch_build_info{version=\"9.9.9\"} 1\n") != std::string::npos);
  res = client.Get("/other");
  REQUIRE(res);
  CHECK(res->status == 404);

  auto second = MetricsServer::start(listen, m);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message().find("cannot listen on " + listen) != std::string::npos);
}

TEST_CASE("webhook: a Slack-compatible JSON POST; failures are kept and retried, never logged "
          "with the URL") {
  int fails_left = 1;
  dw::testing::LocalServer hook([&](const httplib::Request&, httplib::Response& res, int) {
    res.status = fails_left-- > 0 ? 500 : 200;
  });
  std::string url = hook.url("/services/T000/B000/SECRETTOKEN");
  setenv("DW_TEST_WEBHOOK", url.c_str(), 1);
  Captured c;
  Logger log = c.logger(LogLevel::debug);
  dw::ManualClock clock(*dw::parse_time("2026-01-15T12:00:00Z"));
  Notifier n({webhook("hook", "DW_TEST_WEBHOOK")}, log, clock, nullptr);

  n.queue({Topic::events, "driftwatch: 1 new drift event", "- verdict_shift on <a|b> & co"});
  CHECK(n.deliver() == 0);  // HTTP 500
  CHECK(n.pending() == 1);
  CHECK(c.all().find("notify 'hook': not delivered") != std::string::npos);
  CHECK(c.all().find("HTTP 500") != std::string::npos);
  CHECK(c.all().find("SECRETTOKEN") == std::string::npos);

  n.queue({Topic::reports, "driftwatch report for 2026-01-15", "- /x.md"});
  CHECK(n.deliver() == 2);  // the retried message first, then the new one
  CHECK(n.pending() == 0);
  auto seen = hook.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[1].path == "/services/T000/B000/SECRETTOKEN");
  CHECK(seen[1].header("Content-Type") == "application/json");
  CHECK(seen[1].body ==
        R"({"text":"driftwatch: 1 new drift event\n- verdict_shift on &lt;a|b&gt; &amp; co"})");
  CHECK(seen[2].body.find("driftwatch report for 2026-01-15") != std::string::npos);
  CHECK(c.all().find("SECRETTOKEN") == std::string::npos);

  // A missing secret is a failure like any other: logged by its source, kept for later.
  unsetenv("DW_TEST_WEBHOOK");
  n.queue({Topic::events, "s", "t"});
  CHECK(n.deliver() == 0);
  CHECK(c.lines.back().find("webhook URL variable $DW_TEST_WEBHOOK is not set") !=
        std::string::npos);

  // A target that is down keeps at most kMaxPending messages, dropping the oldest.
  for (size_t i = 0; i < Notifier::kMaxPending + 5; ++i) n.queue({Topic::events, "m", "t"});
  CHECK(n.pending() == Notifier::kMaxPending);

  // A reload hands the waiting messages to the target of the same name.
  Notifier renamed({webhook("other", "DW_TEST_WEBHOOK")}, log, clock, nullptr);
  renamed.adopt(n);
  CHECK(renamed.pending() == 0);
  Notifier same({webhook("hook", "DW_TEST_WEBHOOK")}, log, clock, nullptr);
  same.adopt(n);
  CHECK(same.pending() == Notifier::kMaxPending);
  CHECK(n.pending() == 0);
}

TEST_CASE("notify topics: each target gets only what it asked for") {
  dw::testing::LocalServer hook([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 204;
  });
  setenv("DW_TEST_HOOK_EVENTS", hook.url("/events").c_str(), 1);
  setenv("DW_TEST_HOOK_REPORTS", hook.url("/reports").c_str(), 1);
  auto events = webhook("events", "DW_TEST_HOOK_EVENTS");
  events.on_reports = false;
  auto reports = webhook("reports", "DW_TEST_HOOK_REPORTS");
  reports.on_events = false;
  Captured c;
  Logger log = c.logger(LogLevel::debug);
  dw::ManualClock clock(*dw::parse_time("2026-01-15T12:00:00Z"));
  Notifier n({events, reports}, log, clock, nullptr);
  n.queue({Topic::events, "e", "t"});
  n.queue({Topic::reports, "r", "t"});
  CHECK(n.deliver() == 2);
  auto seen = hook.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].path == "/events");
  CHECK(seen[0].body.find("\"e\\nt\"") != std::string::npos);
  CHECK(seen[1].path == "/reports");
  CHECK(seen[1].body.find("\"r\\nt\"") != std::string::npos);
}

TEST_CASE("e-mail: the message reaches a local SMTP sink, logged in with the password") {
  dw::testing::SmtpSink sink;
  auto target = email(sink.url());
  target.username = "driftwatch";
  target.password = {dw::config::SecretRef::Source::env, "DW_TEST_SMTP_PASSWORD", "SMTP password"};
  setenv("DW_TEST_SMTP_PASSWORD", "hunter2", 1);
  Captured c;
  Logger log = c.logger(LogLevel::debug);
  dw::ManualClock clock(*dw::parse_time("2026-01-15T12:00:00Z"));
  Notifier n({target}, log, clock, nullptr);
  n.queue({Topic::events, "driftwatch: 2 new drift events",
           "Run 4 opened:\n- verdict_shift on deepseek\n.hidden line"});
  CHECK_MESSAGE(n.deliver() == 1, c.all());
  auto mails = sink.mails();
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].from == "<driftwatch@example.org>");
  CHECK(mails[0].to == std::vector<std::string>{"<ops@example.org>", "<desk@example.org>"});
  // AUTH PLAIN is base64 of "\0driftwatch\0hunter2".
  CHECK(mails[0].auth == "AGRyaWZ0d2F0Y2gAaHVudGVyMg==");
  const std::string& data = mails[0].data;
  CHECK(data.find("Subject: driftwatch: 2 new drift events\r\n") != std::string::npos);
  CHECK(data.find("From: driftwatch@example.org\r\n") != std::string::npos);
  CHECK(data.find("To: ops@example.org, desk@example.org\r\n") != std::string::npos);
  CHECK(data.find("Date: Thu, 15 Jan 2026 12:00:00 +0000\r\n") != std::string::npos);
  CHECK(data.find("\r\n\r\nRun 4 opened:\r\n- verdict_shift on deepseek\r\n.hidden line\r\n") !=
        std::string::npos);
  CHECK(c.all().find("hunter2") == std::string::npos);
}

TEST_CASE("e-mail failures: refused recipients, STARTTLS required, no server; all kept") {
  Captured c;
  Logger log = c.logger(LogLevel::debug);
  dw::ManualClock clock(*dw::parse_time("2026-01-15T12:00:00Z"));
  {
    dw::testing::SmtpSink sink(/*reject_rcpt=*/true);
    Notifier n({email(sink.url())}, log, clock, nullptr);
    n.queue({Topic::reports, "r", "t"});
    CHECK(n.deliver() == 0);
    CHECK(n.pending() == 1);
    CHECK(sink.mails().empty());
    CHECK(c.lines.back().find("SMTP reply 550") != std::string::npos);
  }
  {
    // Over smtp:// with starttls = true (the default), a server without STARTTLS gets nothing.
    dw::testing::SmtpSink sink;
    auto target = email(sink.url());
    target.starttls = true;
    Notifier n({target}, log, clock, nullptr);
    n.queue({Topic::reports, "r", "t"});
    CHECK(n.deliver() == 0);
    CHECK(sink.mails().empty());
  }
  {
    dw::testing::HeldPort refused;  // nothing listens there
    Notifier n({email("smtp://127.0.0.1:" + std::to_string(refused.port()))}, log, clock,
               nullptr);
    n.queue({Topic::reports, "r", "t"});
    CHECK(n.deliver() == 0);
    CHECK(c.lines.back().find("Couldn't connect to server") != std::string::npos);
  }
}

TEST_CASE("format_mail: headers, CRLF lines, encoded non-ASCII subjects") {
  auto target = email("smtp://127.0.0.1:25");
  std::string mail = format_mail(target, "漂移 drift\r\nBcc: x@y", "a\nb\r\n\nc\n",
                                 *dw::parse_time("2026-03-01T09:05:07Z"), "id@example.org");
  CHECK(mail.find("Date: Sun, 01 Mar 2026 09:05:07 +0000\r\n") == 0);
  CHECK(mail.find("Message-ID: <id@example.org>\r\n") != std::string::npos);
  // The subject's line break cannot start a header of its own.
  CHECK(mail.find("\r\nBcc:") == std::string::npos);
  CHECK(mail.find("Subject: =?UTF-8?B?5ryC56e7IGRyaWZ0ICBCY2M6IHhAeQ==?=\r\n") !=
        std::string::npos);
  CHECK(mail.find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  CHECK(mail.substr(mail.find("\r\n\r\n")) == "\r\n\r\na\r\nb\r\n\r\nc\r\n");
  CHECK(webhook_body("x\"y") == R"({"text":"x\"y"})");
  // Model output quoted in a message pings no one and links nowhere.
  CHECK(webhook_body("@everyone see https://evil.example") ==
        "{\"text\":\"@\u2060everyone see https:/\u2060/evil.example\"}");
}

}  // namespace daemon_test
