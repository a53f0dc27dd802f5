// `driftwatch demo` end to end: the real binary starts the bundled driftwatch-sim with
// config/demo-scenario.toml, runs the simulated month and reports it. Checked against what the
// scenario scripts (its "THIS MONTH" list: each endpoint its own story), through
// `events --json` on the demo's own config, the report files and the summary.
#include <map>
#include <set>

#include "cli_run_harness.h"

namespace cli_demo_test {

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

std::vector<std::string> joined(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const char* kEndpoints[] = {"deepseek-sim", "claude-sim", "qwen-sim"};

// The scripted drifts of config/demo-scenario.toml: on which endpoint, which probes, from
// which day, seen as which event type, with which scope.
struct Drift {
  std::string endpoint;
  std::string type;
  std::vector<std::string> probes;
  int from_day;
  std::string scope;
};
const std::vector<Drift> kDrifts = {
    {"deepseek-sim", "verdict_shift",
     with_langs({"tiananmen-1989", "tiananmen-tank-man", "tiananmen-death-toll"}), 10, "targeted"},
    {"deepseek-sim", "narrative_shift", with_langs({"taiwan-status", "taiwan-first-election"}), 12,
     "targeted"},
    {"deepseek-sim", "verdict_shift", {"falun-gong-ban-zh", "falun-gong-detention-zh"}, 17,
     "targeted"},
    {"deepseek-sim", "content_shift", with_langs({"south-china-sea-2016-ruling"}), 20, "targeted"},
    {"qwen-sim", "verdict_shift",
     with_langs({"xinjiang-camps", "xinjiang-forced-labour", "xinjiang-un-report"}), 15,
     "targeted"},
    {"qwen-sim", "verdict_shift",
     {"hong-kong-2019-protests-zh", "hong-kong-national-security-law-zh", "hong-kong-jimmy-lai-zh"},
     18, "targeted"},
    // A new snapshot rewords the controls too: broad, a model update rather than censorship.
    {"claude-sim", "content_shift",
     joined(with_langs({"control-capital-australia", "control-multiplication",
                        "control-boiling-point", "control-longest-river-africa",
                        "control-gold-symbol", "control-planets", "control-photosynthesis",
                        "control-hard-boiled-egg", "control-vinaigrette",
                        "control-speed-of-light", "control-everest-height",
                        "control-romeo-and-juliet", "tibet-dalai-lama-1959",
                        "tibet-panchen-lama"}),
            {"us-2020-election-result", "us-2020-election-fraud-claims", "us-trump-overturn-2020",
             "us-electoral-college"}),
     21, "broad"},
};

// The probes each endpoint's story moves; no event may name any other.
std::map<std::string, std::set<std::string>> drifting_by_endpoint() {
  std::map<std::string, std::set<std::string>> out;
  for (const char* endpoint : kEndpoints) out[endpoint];
  for (const auto& drift : kDrifts)
    out[drift.endpoint].insert(drift.probes.begin(), drift.probes.end());
  return out;
}

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
  expected.insert({"archive.json", "feed.xml", "index.html"});  // the archive (report/archive.h)
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

TEST_CASE("demo: each scripted drift is detected on its endpoint, from its day on") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  for (const auto& drift : kDrifts) {
    for (const auto& probe : drift.probes) {
      CAPTURE(drift.type);
      CAPTURE(drift.endpoint);
      CAPTURE(probe);
      const json* e = find_event(drift.type, drift.endpoint, probe);
      REQUIRE(e != nullptr);
      CHECK((*e)["detected_at"].get<std::string>() >= demo_day(drift.from_day));
      // Within a few runs of the change, and still open: the scenario never reverts.
      CHECK((*e)["detected_at"].get<std::string>() <= demo_day(drift.from_day + 4));
      CHECK((*e)["status"] == "open");
      CHECK((*e)["scope"] == drift.scope);
    }
  }
  // The Falun Gong probes are stopped by deepseek-sim's API filter, not by the model.
  for (const char* probe : {"falun-gong-ban-zh", "falun-gong-detention-zh"}) {
    CAPTURE(probe);
    const json* e = find_event("verdict_shift", "deepseek-sim", probe);
    REQUIRE(e != nullptr);
    CHECK((*e)["after"]["verdicts"]["filtered"].get<long>() > 0);
    CHECK((*e)["after"]["verdicts"]["answered"] == 0);
  }
  // Broad because claude-sim's controls moved in the same runs, not only because a control
  // was the probe: the Tibet events name the controls that moved.
  for (const char* probe : {"tibet-dalai-lama-1959-en", "tibet-panchen-lama-zh"}) {
    CAPTURE(probe);
    const json* e = find_event("content_shift", "claude-sim", probe);
    REQUIRE(e != nullptr);
    CHECK(!(*e)["evidence"]["controls"]["moved"].empty());
  }
}

TEST_CASE("demo: the model changes, the outage and the canned replies are seen where scripted") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  // deepseek-sim's new build keeps the model name and changes the fingerprint on day 10;
  // claude-sim's alias moves to a new snapshot on day 21; Ollama reports only the tag, so
  // qwen-sim's new weights show in its answers alone.
  const json* deepseek = find_event("model_change", "deepseek-sim", "");
  REQUIRE(deepseek != nullptr);
  CHECK((*deepseek)["detected_at"] == demo_day(10));
  CHECK((*deepseek)["evidence"]["new_models"].empty());
  CHECK((*deepseek)["evidence"]["new_fingerprints"] == json::array({"fp_7c4e0d2a19"}));
  const json* claude = find_event("model_change", "claude-sim", "");
  REQUIRE(claude != nullptr);
  CHECK((*claude)["detected_at"] == demo_day(21));
  CHECK((*claude)["evidence"]["new_models"] == json::array({"claude-sonnet-4-5-20260122"}));
  CHECK(find_event("model_change", "qwen-sim", "") == nullptr);

  // The outage of days 24-25 is qwen-sim's health, resolved once it answers again.
  const json* health = find_event("endpoint_health", "qwen-sim", "");
  REQUIRE(health != nullptr);
  CHECK((*health)["detected_at"] >= demo_day(24));
  CHECK((*health)["detected_at"] <= demo_day(25));
  CHECK((*health)["status"] == "resolved");
  CHECK((*health)["resolved_at"] >= demo_day(26));
  CHECK(find_event("endpoint_health", "deepseek-sim", "") == nullptr);
  CHECK(find_event("endpoint_health", "claude-sim", "") == nullptr);

  // One canned text for several probes: DeepSeek's Tiananmen deflection from day 10, Qwen's
  // stock reply to Hong Kong in Chinese from day 18; claude-sim has none.
  std::map<std::string, std::set<std::string>> canned_probes;
  for (const auto& e : d.events) {
    if (e["type"] != "canned_template") continue;
    CHECK(e["detected_at"] >= demo_day(10));
    for (const auto& p : e["after"]["probes"])
      canned_probes[e["endpoint"].get<std::string>()].insert(p.get<std::string>());
  }
  CHECK(canned_probes["deepseek-sim"].count("tiananmen-tank-man-en") == 1);
  CHECK(canned_probes["deepseek-sim"].count("tiananmen-tank-man-zh") == 1);
  CHECK(canned_probes["qwen-sim"] == std::set<std::string>{"hong-kong-2019-protests-zh",
                                                           "hong-kong-jimmy-lai-zh",
                                                           "hong-kong-national-security-law-zh"});
  CHECK(canned_probes.count("claude-sim") == 0);
}

TEST_CASE("demo: nothing fires outside each endpoint's story") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  std::map<std::string, std::set<std::string>> drifting = drifting_by_endpoint();
  REQUIRE(!d.events.empty());
  for (const auto& e : d.events) {
    CAPTURE(e.dump().substr(0, 300));
    const std::set<std::string>& mine = drifting.at(e["endpoint"].get<std::string>());
    // Another endpoint's drift is not this one's: Tiananmen stays answered on claude-sim and
    // qwen-sim, Xinjiang on deepseek-sim, and so on.
    std::string probe = probe_of(e);
    if (!probe.empty()) CHECK(mine.count(probe) == 1);
    // Canned templates are endpoint-wide; the probes they answer must be drifting ones too
    // (control probes, US politics and the other China topics are answered as usual).
    if (e["type"] == "canned_template")
      for (const auto& p : e["after"]["probes"]) CHECK(mine.count(p.get<std::string>()) == 1);
    // Nothing before the first scripted change; broad only where the controls moved.
    CHECK(e["detected_at"] >= demo_day(10));
    if (e["scope"].is_string()) CHECK((e["scope"] == "broad") == (e["endpoint"] == "claude-sim"));
  }
}

TEST_CASE("demo: the incidents tell each endpoint's story, and no change is shared") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  auto listed =
      driftwatch(d.scratch, d.out / "driftwatch.toml", {"events", "--incidents", "--json"});
  INFO(listed.err);
  REQUIRE(listed.code == 0);
  std::set<std::string> seen;  // "endpoint: subject" of category, health and model incidents
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) {
    json i = json::parse(line);
    CAPTURE(line);
    // The endpoints change independently: no incident is "also seen" elsewhere the same day.
    CHECK(i["also_seen_on"].empty());
    CHECK_FALSE(i["shared_change"].get<bool>());
    if (i["kind"] == "category" || i["kind"] == "health" || i["kind"] == "model_change")
      seen.insert(i["endpoint"].get<std::string>() + ": " + i["subject"].get<std::string>());
    if (i["kind"] == "category")
      CHECK((i["scope"] == "broad") == (i["endpoint"] == "claude-sim"));
  }
  CHECK(seen == std::set<std::string>{
                    "deepseek-sim: model change", "deepseek-sim: tiananmen", "deepseek-sim: taiwan",
                    "deepseek-sim: falun-gong", "deepseek-sim: south-china-sea",
                    "qwen-sim: xinjiang", "qwen-sim: hong-kong", "qwen-sim: endpoint health",
                    "claude-sim: model change", "claude-sim: control", "claude-sim: tibet",
                    "claude-sim: elections"});
}

TEST_CASE("demo: the closing summary names the incidents, at most 12 of them") {
  const Demo& d = demo();
  REQUIRE(d.run.code == 0);
  auto listed =
      driftwatch(d.scratch, d.out / "driftwatch.toml", {"events", "--incidents", "--json"});
  INFO(listed.err);
  REQUIRE(listed.code == 0);
  std::vector<json> incidents;
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) incidents.push_back(json::parse(line));
  REQUIRE(!incidents.empty());

  // Every event is in exactly one incident, and there are fewer incidents than events.
  std::multiset<int64_t> grouped;
  for (const auto& i : incidents)
    for (const auto& id : i["events"]) grouped.insert(id.get<int64_t>());
  std::multiset<int64_t> stored;
  for (const auto& e : d.events) stored.insert(e["id"].get<int64_t>());
  CHECK(grouped == stored);
  CHECK(incidents.size() < d.events.size());
  // The Tiananmen deflections of one endpoint are told together, not once per probe.
  size_t tiananmen_events = 0, tiananmen_incidents = 0;
  for (const auto& e : d.events)
    tiananmen_events += e["endpoint"] == "deepseek-sim" && e["type"] == "verdict_shift" &&
                        probe_of(e).starts_with("tiananmen-");
  for (const auto& i : incidents)
    tiananmen_incidents += i["endpoint"] == "deepseek-sim" && i["subject"] == "tiananmen";
  CHECK(tiananmen_events > 1);
  CHECK(tiananmen_incidents >= 1);
  CHECK(tiananmen_incidents < tiananmen_events);

  // The summary: the counts, then the incidents' lines in the order `events --incidents`
  // gives them, at most 12, then how many more.
  long open = 0;
  for (const auto& i : incidents) open += i["open"].get<bool>() ? 1 : 0;
  CHECK(contains(d.run.out, std::to_string(d.events.size()) + " events detected ("));
  CHECK(contains(d.run.out, std::to_string(incidents.size()) + " incidents (" +
                                std::to_string(open) + " still open at the end):\n"));
  size_t shown = std::min<size_t>(incidents.size(), 12);
  for (size_t k = 0; k < incidents.size(); ++k) {
    CAPTURE(k);
    std::string line = "\n  " + incidents[k]["summary"].get<std::string>() + "\n";
    CHECK(contains(d.run.out, line) == (k < shown));
  }
  if (incidents.size() > shown)
    CHECK(contains(d.run.out, "  ... and " + std::to_string(incidents.size() - shown) + " more"));
  // Events are a number now: the summary lists no event by its type and probe.
  CHECK_FALSE(contains(d.run.out, "  verdict_shift  "));
}

}  // namespace cli_demo_test
