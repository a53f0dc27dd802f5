// A report reaches its reader: the mail for a report is multipart/alternative (the one-minute
// overview as text/plain, the HTML report as text/html, capped in size), received from a local
// SMTP sink; the webhook message carries the overview and the new incidents, never file paths.
#include <doctest/doctest.h>

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/rules.h"
#include "common/time.h"
#include "config/config.h"
#include "daemon/deliver.h"
#include "daemon/jobs.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/notifier.h"
#include "local_server.h"
#include "report/gather.h"
#include "report/overview.h"
#include "report_fixture.h"
#include "schedule/schedule.h"
#include "smtp_sink.h"
#include "transport/transport.h"

namespace notify_report_test {

using namespace dw::daemon;
using report_fixture::at;
using report_fixture::TempDir;

namespace {

// A MIME message as the test reads it: header names lower-cased, no folded headers (the
// daemon writes none).
struct Part {
  std::map<std::string, std::string> headers;
  std::string body;  // as sent, CRLF kept, without the CRLF that belongs to the next boundary
};

Part split_part(const std::string& text) {
  Part p;
  size_t end = text.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  size_t at = 0;
  while (at < end) {
    size_t eol = text.find("\r\n", at);
    std::string line = text.substr(at, eol - at);
    size_t colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    p.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    at = eol + 2;
  }
  p.body = text.substr(end + 4);
  return p;
}

// The boundary parameter of a multipart Content-Type, quoted as the daemon writes it.
std::string boundary_of(const std::string& content_type) {
  const std::string key = "boundary=\"";
  size_t at = content_type.find(key);
  REQUIRE(at != std::string::npos);
  at += key.size();
  return content_type.substr(at, content_type.find('"', at) - at);
}

// The parts of a multipart body (RFC 2046): between "--B" lines, up to the closing "--B--",
// which must be the last line.
std::vector<Part> parts_of(const std::string& body, const std::string& boundary) {
  const std::string delimiter = "--" + boundary;
  std::vector<Part> parts;
  size_t at = body.find(delimiter + "\r\n");
  REQUIRE(at != std::string::npos);
  CHECK((at == 0 || body.compare(at - 2, 2, "\r\n") == 0));
  for (;;) {
    size_t start = at + delimiter.size() + 2;
    size_t next = body.find("\r\n" + delimiter, start);
    REQUIRE(next != std::string::npos);
    parts.push_back(split_part(body.substr(start, next - start)));
    at = next + 2;
    if (body.compare(at + delimiter.size(), 2, "--") == 0) {
      CHECK(body.substr(at) == delimiter + "--\r\n");
      return parts;
    }
  }
}

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '=') continue;
    size_t v = kAlphabet.find(c);
    REQUIRE(v != std::string::npos);
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

std::vector<std::string> crlf_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find("\r\n", at);
    if (eol == std::string::npos) eol = text.size();
    lines.push_back(text.substr(at, eol - at));
    at = eol + 2;
  }
  return lines;
}

// Slack's escapes undone, so a webhook's text compares with the plain lines.
std::string unslack(std::string text) {
  for (auto [from, to] : {std::pair<std::string, std::string>{"&lt;", "<"}, {"&gt;", ">"},
                          {"&amp;", "&"}}) {
    for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
      text.replace(at, from.size(), to);
  }
  return text;
}

dw::config::Notify email(const std::string& url) {
  dw::config::Notify n;
  n.name = "mail";
  n.kind = dw::config::Notify::Kind::email;
  n.smtp_url = url;
  n.starttls = false;
  n.from = "driftwatch@example.org";
  n.to = {"desk@example.org"};
  n.timeout = std::chrono::seconds(10);
  return n;
}

dw::config::Notify webhook(const std::string& env) {
  dw::config::Notify n;
  n.name = "chat";
  n.kind = dw::config::Notify::Kind::webhook;
  n.url = {dw::config::SecretRef::Source::env, env, "webhook URL"};
  n.timeout = std::chrono::seconds(10);
  return n;
}

struct Captured {
  std::vector<std::string> lines;
  Logger logger() {
    return Logger(LogLevel::debug, [this](std::string_view l) { lines.emplace_back(l); });
  }
  std::string all() const {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
};

}  // namespace

TEST_CASE("format_mail with html: multipart/alternative, the text as text/plain, the HTML in "
          "base64") {
  auto target = email("smtp://127.0.0.1:25");
  // A line of the text starts like the natural boundary: the boundary must grow.
  const std::string text = "line one\n--=_dw.id\nline three\n";
  const std::string html = "<!DOCTYPE html>\n<html><body><p>" + std::string(300, 'x') +
                           " 漂移</p></body></html>\n";
  std::string mail = format_mail(target, "driftwatch report", text,
                                 *dw::parse_time("2026-03-01T09:05:07Z"), "id@example.org", html);
  for (const auto& line : crlf_lines(mail)) CHECK(line.size() <= 998);
  Part whole = split_part(mail);
  CHECK(whole.headers["mime-version"] == "1.0");
  CHECK(whole.headers["message-id"] == "<id@example.org>");
  const std::string& type = whole.headers["content-type"];
  CHECK(type.rfind("multipart/alternative; boundary=\"", 0) == 0);
  const std::string boundary = boundary_of(type);
  CHECK(boundary == "=_dw.id_");

  auto parts = parts_of(whole.body, boundary);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].headers["content-type"] == "text/plain; charset=utf-8");
  CHECK(parts[0].headers["content-transfer-encoding"] == "8bit");
  CHECK(crlf_lines(parts[0].body) == std::vector<std::string>{"line one", "--=_dw.id", "line three"});
  CHECK(parts[1].headers["content-type"] == "text/html; charset=utf-8");
  CHECK(parts[1].headers["content-transfer-encoding"] == "base64");
  for (const auto& line : crlf_lines(parts[1].body)) CHECK(line.size() <= 76);
  CHECK(base64_decode(parts[1].body) == html);

  // Without html the mail stays one text/plain part.
  std::string plain = format_mail(target, "s", "a\n", *dw::parse_time("2026-03-01T09:05:07Z"),
                                  "id@example.org");
  CHECK(split_part(plain).headers["content-type"] == "text/plain; charset=utf-8");
  CHECK(plain.find("multipart") == std::string::npos);
}

TEST_CASE("report_message: the overview and the new incidents, no paths; the HTML for mail") {
  const dw::Time since = at("2026-01-09T12:00:00Z"), until = at("2026-01-10T12:00:00Z");
  WrittenReport w;
  w.paths = {"/var/lib/driftwatch/reports/driftwatch-2026-01-10.md",
             "/var/lib/driftwatch/reports/driftwatch-2026-01-10.html"};
  w.overview = {"3 new incidents (5 new events), 1 ongoing, 0 resolved; 1 run, 27 samples",
                "alpha, tiananmen: 2 probes (en) answered -> deflected since 2026-01-10",
                "... and 2 more new incidents below"};
  w.new_incidents = {"alpha, tiananmen: 2 probes (en) answered -> deflected since 2026-01-10",
                     "beta, endpoint health: errors rose since 2026-01-10",
                     "alpha, model change on 2026-01-10"};
  w.html = "<html>the report</html>";

  Message m = report_message(w, since, until);
  CHECK(m.topic == Topic::reports);
  CHECK(m.subject == "driftwatch report for 2026-01-10: 3 new incidents");
  CHECK(m.text ==
        "The report for 2026-01-09T12:00:00Z to 2026-01-10T12:00:00Z is written. What changed:\n"
        "\n" + w.overview[0] + "\n" + w.overview[1] + "\n" + w.overview[2] + "\n"
        "\nNew incidents (3):\n- " + w.new_incidents[0] + "\n- " + w.new_incidents[1] + "\n- " +
        w.new_incidents[2] + "\n");
  CHECK(m.text.find("/var/lib") == std::string::npos);
  REQUIRE(m.html);
  CHECK(*m.html == "<html>the report</html>");
  CHECK(m.html_file == "/var/lib/driftwatch/reports/driftwatch-2026-01-10.html");

  // When the overview names every new incident, it is not listed twice.
  w.overview = {"1 new incident (1 new event)", w.new_incidents[1]};
  w.new_incidents = {w.new_incidents[1]};
  m = report_message(w, since, until);
  CHECK(m.subject == "driftwatch report for 2026-01-10: 1 new incident");
  CHECK(m.text.find("New incidents") == std::string::npos);

  w.overview = {"0 new incidents (0 new events)"};
  w.new_incidents.clear();
  w.paths = {"/r/driftwatch-2026-01-10.md"};
  m = report_message(w, since, until);
  CHECK(m.subject == "driftwatch report for 2026-01-10: no new incidents");
  CHECK(m.html_file.empty());

  // A night of many: the list stops at kMaxListedIncidents and says how many more.
  w.overview = {"60 new incidents", "... and 60 more new incidents below"};
  w.new_incidents.clear();
  for (int i = 0; i < 60; ++i) w.new_incidents.push_back("incident " + std::to_string(i));
  m = report_message(w, since, until);
  CHECK(m.text.find("- incident 49\n") != std::string::npos);
  CHECK(m.text.find("- incident 50\n") == std::string::npos);
  CHECK(m.text.find("- ... and 10 more in the report\n") != std::string::npos);
}

TEST_CASE("the report job mails the overview and the HTML report, and tells the webhook the "
          "overview without paths") {
  TempDir dir;
  auto opened = dw::store::Store::open((dir.path / "fixture.db").string());
  REQUIRE(opened.ok());
  std::unique_ptr<dw::store::Store> store = std::move(*opened);
  report_fixture::fill(*store);

  dw::testing::SmtpSink sink;
  dw::testing::LocalServer hook([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 200;
  });
  setenv("DW_TEST_REPORT_HOOK", hook.url("/hooks/T1/B1/REPORTHOOKTOKEN").c_str(), 1);

  auto rules = dw::analysis::read_rule_packs(DW_SOURCE_DIR "/config/rules");
  REQUIRE(rules.ok());
  dw::config::Config config;
  config.report_dir = dir.path / "reports";
  auto schedule = dw::schedule::Schedule::parse("0 12 * * *", "UTC");
  REQUIRE(schedule.ok());
  config.report_schedule = *schedule;
  Setup setup{std::move(config), {}, std::move(*rules)};
  auto transport = dw::transport::Transport::create();
  REQUIRE(transport.ok());
  dw::ManualClock clock(at("2026-01-10T12:00:05Z"));
  Metrics metrics("test");
  Captured c;
  Logger log = c.logger();
  Notifier notifier({email(sink.url()), webhook("DW_TEST_REPORT_HOOK")}, log, clock, nullptr);
  JobContext ctx{setup, *store, **transport, clock, metrics, notifier, log};

  Job job;
  job.kind = JobKind::report;
  job.slot = at("2026-01-10T12:00:00Z");
  job.due = job.slot;
  JobOutcome outcome = run_job(ctx, job);
  INFO(c.all());
  REQUIRE(outcome.ok);
  CHECK(notifier.pending() == 0);

  // What the report says, from the same history: the overview lines and the new incidents.
  dw::report::ReportOptions options;  // as the daemon's job sets them
  options.since = at("2026-01-09T12:00:00Z");
  options.until = job.slot;
  options.dir = dir.path / "reports";
  auto gathered = dw::report::gather(*store, options);
  REQUIRE(gathered.ok());
  const std::vector<std::string> overview = dw::report::tonight_lines(*gathered);
  REQUIRE(overview.size() >= 2);  // the counts, and the fixture's last night has new incidents
  std::vector<std::string> fresh;
  for (const auto& i : gathered->incidents)
    if (i.is_new) fresh.push_back(dw::report::describe(i));
  REQUIRE_FALSE(fresh.empty());

  auto mails = sink.mails();
  REQUIRE(mails.size() == 1);
  Part mail = split_part(mails[0].data);
  CHECK(mail.headers["subject"] ==
        "driftwatch report for 2026-01-10: " + std::to_string(fresh.size()) + " new incident" +
            (fresh.size() == 1 ? "" : "s"));
  auto parts = parts_of(mail.body, boundary_of(mail.headers["content-type"]));
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].headers["content-type"] == "text/plain; charset=utf-8");
  auto lines = crlf_lines(parts[0].body);
  REQUIRE(lines.size() >= overview.size() + 2);
  CHECK(lines[0] ==
        "The report for 2026-01-09T12:00:00Z to 2026-01-10T12:00:00Z is written. What changed:");
  CHECK(lines[1].empty());
  for (size_t i = 0; i < overview.size(); ++i) CHECK(lines[2 + i] == overview[i]);
  for (const auto& line : fresh) {
    CAPTURE(line);
    CHECK((std::find(lines.begin(), lines.end(), line) != lines.end() ||
           std::find(lines.begin(), lines.end(), "- " + line) != lines.end()));
  }
  CHECK(parts[0].body.find(dir.path.string()) == std::string::npos);
  CHECK(parts[1].headers["content-type"] == "text/html; charset=utf-8");
  CHECK(parts[1].headers["content-transfer-encoding"] == "base64");
  const std::string html = base64_decode(parts[1].body);
  CHECK(html.find("<html") != std::string::npos);
  CHECK(html == dw::test::slurp(dir.path / "reports" / "driftwatch-2026-01-10.html"));

  auto seen = hook.seen();
  REQUIRE(seen.size() == 1);
  std::string text = unslack(nlohmann::json::parse(seen[0].body).at("text").get<std::string>());
  for (const auto& line : overview) {
    CAPTURE(line);
    CHECK(text.find(line + "\n") != std::string::npos);
  }
  for (const auto& line : fresh) {
    CAPTURE(line);
    CHECK(text.find(line + "\n") != std::string::npos);
  }
  CHECK(text.find(dir.path.string()) == std::string::npos);  // no paths on the monitor
  CHECK(text.find("<html") == std::string::npos);
  unsetenv("DW_TEST_REPORT_HOOK");
}

TEST_CASE("a report too large to mail goes as text, saying so and where it is") {
  dw::testing::SmtpSink sink;
  Captured c;
  Logger log = c.logger();
  dw::ManualClock clock(at("2026-01-10T12:00:05Z"));
  Notifier notifier({email(sink.url())}, log, clock, nullptr);
  const std::string page = "<html><body>";
  auto html_of = [&](size_t bytes) {
    return std::make_shared<const std::string>(page + std::string(bytes - page.size(), 'x'));
  };

  Message over{Topic::reports, "driftwatch report for 2026-01-10: no new incidents",
               "The report for a to b is written. What changed:\n\n0 new incidents\n"};
  over.html = html_of(kMaxMailHtmlBytes + 1);
  over.html_file = "/var/lib/driftwatch/reports/driftwatch-2026-01-10.html";
  Message at_cap = over;
  at_cap.html = html_of(kMaxMailHtmlBytes);
  notifier.queue(over);
  notifier.queue(at_cap);
  REQUIRE_MESSAGE(notifier.deliver() == 2, c.all());

  auto mails = sink.mails();
  REQUIRE(mails.size() == 2);
  Part too_large = split_part(mails[0].data);
  CHECK(too_large.headers["content-type"] == "text/plain; charset=utf-8");
  CHECK(crlf_lines(too_large.body) ==
        std::vector<std::string>{
            "The report for a to b is written. What changed:", "", "0 new incidents", "",
            "The HTML report (2.0 MiB) is too large to mail (at most 2.0 MiB); it is on the "
            "monitor at /var/lib/driftwatch/reports/driftwatch-2026-01-10.html."});
  CHECK(mails[0].data.find("<html>") == std::string::npos);

  // At the cap exactly, the whole report goes.
  Part whole = split_part(mails[1].data);
  auto parts = parts_of(whole.body, boundary_of(whole.headers["content-type"]));
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].body.find("too large") == std::string::npos);
  CHECK(base64_decode(parts[1].body) == *at_cap.html);
}

}  // namespace notify_report_test
