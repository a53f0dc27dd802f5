// `driftwatch demo` end to end: the real binary starts the bundled driftwatch-sim with
// config/demo-scenario.toml, runs the simulated month and reports it. Checked against what the
// scenario scripts (its "THIS MONTH" list), through `events --json` on the demo's own config,
// the report files and the summary.
#include <set>

#include "cli_run_harness.h"

using namespace dw::test;

namespace {

// Day d of the demo (day 0 runs at 2026-01-01T06:00:00Z).
std::string demo_day(int d) {
  char text[32];
  std::snprintf(text, sizeof text, "2026-01-%02dT06:00:00Z", d + 1);
  return text;
}

std::vector<std::string> with_langs(const std::vector<std::string>& stems) {
  std::vector<std::string> ids;
  for (const auto& s : stems) {
    ids.push_back(s + "-en");
    ids.push_back(s + "-zh");
  }
  return ids;
}

// The scripted drifts of config/demo-scenario.toml: which probes, from which day, seen as which
// event type.
struct Drift {
  std::string type;
  std::vector<std::string> probes;
  int from_day;
};
const std::vector<Drift> kDrifts = {
    {"verdict_shift", with_langs({"tiananmen-1989", "tiananmen-tank-man", "tiananmen-death-toll"}), 10},
    {"narrative_shift", with_langs({"taiwan-status", "taiwan-first-election"}), 12},
    {"verdict_shift", with_langs({"xinjiang-camps", "xinjiang-forced-labour", "xinjiang-un-report"}), 15},
    {"verdict_shift",
     {"hong-kong-2019-protests-zh", "hong-kong-national-security-law-zh", "hong-kong-jimmy-lai-zh"},
     18},
    {"content_shift", with_langs({"south-china-sea-2016-ruling"}), 20},
};
const char* kEndpoints[] = {"deepseek-sim", "claude-sim", "qwen-sim"};

struct Demo {
  Scratch scratch;
  fs::path out = scratch.path("demo");
  Outcome run;
  std::vector<json> events;

  Demo() {
    // A stale database and report from an earlier demo must not survive into this one.
    fs::create_directories(out / "reports");
    std::ofstream(out / "reports" / "driftwatch-2025-12-31.md") << "stale\n";
    std::ofstream(out / "driftwatch.db") << "not a database\n";
    run = run_driftwatch(scratch, {"demo", "--out", out.string()}, {}, nullptr,
                         std::chrono::minutes(10));
    if (run.code != 0) return;
    fs::path config = out / "driftwatch.toml";
    auto listed = driftwatch(scratch, config, {"events", "--json"});
    INFO(listed.err);
    REQUIRE(listed.code == 0);
    std::istringstream lines(listed.out);
    for (std::string line; std::getline(lines, line);) events.push_back(json::parse(line));
  }
};

const Demo& demo() {
  static const Demo d;
  return d;
}

// An event's probe; "" for endpoint-wide events (null in the JSON).
std::string probe_of(const json& e) {
  return e.contains("probe") && e["probe"].is_string() ? e["probe"].get<std::string>() : "";
}

const json* find_event(const std::string& type, const std::string& endpoint,
                       const std::string& probe) {
  for (const auto& e : demo().events)
    if (e["type"] == type && e["endpoint"] == endpoint && probe_of(e) == probe) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("demo: exits 0 and writes the reports of every simulated day") {
  const Demo& d = demo();
  INFO(d.run.out << d.run.err);
  REQUIRE(d.run.code == 0);
  CHECK(contains(d.run.out, "driftwatch demo: 30 simulated days, "));
  std::set<std::string> expected;
  for (int day = 0; day < 30; ++day)
    for (const char* ext : {".md", ".html", ".json"})
      expected.insert("driftwatch-" + demo_day(day).substr(0, 10) + ext);
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(d.out / "reports"))
    found.insert(entry.path().filename());
  CHECK(found == expected);  // the stale report of an earlier demo is gone
  // The summary ends by naming the newest HTML report, absolute, and it is there.
  fs::path newest = fs::absolute(d.out / "reports" / "driftwatch-2026-01-30.html");
  CHECK(d.run.out.ends_with("newest HTML report: " + newest.string() + "\n"));
  std::string html = slurp(newest);
  CHECK(html.starts_with("<!DOCTYPE html>"));
  CHECK(contains(html, "tiananmen-1989-en"));
  // The last day's JSON report: one run of every probe on every endpoint.
  json last = json::parse(slurp(d.out / "reports" / "driftwatch-2026-01-30.json"));
  CHECK(last["headline"]["runs"] == 1);
  CHECK(last["headline"]["endpoints_healthy"] == 3);
  // The progress log went to stderr, one line a day, not redrawn (not a terminal).
  CHECK(contains(d.run.err, "day 30/30 2026-01-30: "));
  CHECK_FALSE(contains(d.run.err, "\r"));
}

TEST_CASE("demo: each scripted drift is detected on every endpoint, from its day on") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  for (const auto& drift : kDrifts) {
    for (const char* endpoint : kEndpoints) {
      for (const auto& probe : drift.probes) {
        CAPTURE(drift.type);
        CAPTURE(endpoint);
        CAPTURE(probe);
        const json* e = find_event(drift.type, endpoint, probe);
        REQUIRE(e != nullptr);
        CHECK((*e)["detected_at"].get<std::string>() >= demo_day(drift.from_day));
        // Within a few runs of the change, and still open: the scenario never reverts.
        CHECK((*e)["detected_at"].get<std::string>() <= demo_day(drift.from_day + 4));
        CHECK((*e)["status"] == "open");
        CHECK((*e)["scope"] == "targeted");  // the control probes never move
      }
    }
  }
}

TEST_CASE("demo: the model change, the outage and the canned deflections are seen") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  for (const char* endpoint : kEndpoints) {
    CAPTURE(endpoint);
    const json* model = find_event("model_change", endpoint, "");
    REQUIRE(model != nullptr);
    CHECK((*model)["detected_at"] == demo_day(10));
    // The outage of days 24-25 is health, resolved once the endpoint answers again.
    const json* health = find_event("endpoint_health", endpoint, "");
    REQUIRE(health != nullptr);
    CHECK((*health)["detected_at"] >= demo_day(24));
    CHECK((*health)["detected_at"] <= demo_day(25));
    CHECK((*health)["status"] == "resolved");
    CHECK((*health)["resolved_at"] >= demo_day(26));
    // The Tiananmen deflections are one canned text for several probes, from day 10.
    bool tiananmen_template = false;
    for (const auto& e : d.events) {
      if (e["type"] != "canned_template" || e["endpoint"] != endpoint) continue;
      CHECK(e["detected_at"] >= demo_day(10));
      for (const auto& p : e["after"]["probes"])
        tiananmen_template |= p.get<std::string>().starts_with("tiananmen-");
    }
    CHECK(tiananmen_template);
  }
}

TEST_CASE("demo: nothing fires on the probes the scenario keeps stable") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  std::set<std::string> drifting;
  for (const auto& drift : kDrifts) drifting.insert(drift.probes.begin(), drift.probes.end());
  REQUIRE(!d.events.empty());
  for (const auto& e : d.events) {
    CAPTURE(e.dump().substr(0, 300));
    std::string probe = probe_of(e);
    if (!probe.empty()) CHECK(drifting.count(probe) == 1);
    // Canned templates are endpoint-wide; the probes they answer must be drifting ones too
    // (control probes, US politics and the other China topics are answered as usual).
    if (e["type"] == "canned_template")
      for (const auto& p : e["after"]["probes"]) CHECK(drifting.count(p.get<std::string>()) == 1);
    // Nothing before the first scripted change.
    CHECK(e["detected_at"] >= demo_day(10));
  }
}
