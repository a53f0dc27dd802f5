// Reports from a fixed history: golden Markdown and JSON, the facts they carry, options and
// atomic files. Regenerate the golden files with DW_UPDATE_GOLDEN=1 after an intended change
// (and read the diff before committing it).
#include "report/report.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "report/typical.h"
#include "report_fixture.h"

namespace report_test {

using namespace report_fixture;
using nlohmann::json;

using dw::test::slurp;

namespace {

void check_golden(const std::string& actual, const char* name) {
  fs::path golden = fs::path(DW_SOURCE_DIR) / "tests/data/golden/report" / name;
  const char* update = std::getenv("DW_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << actual;
    MESSAGE("regenerated " << golden.string());
    return;
  }
  REQUIRE_MESSAGE(fs::exists(golden), golden.string() << " is missing: run with DW_UPDATE_GOLDEN=1");
  CHECK(actual == slurp(golden));
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<dw::store::Store> store;
  Fixture() {
    auto s = dw::store::Store::open((dir.path / "fixture.db").string());
    REQUIRE(s.ok());
    store = std::move(*s);
    fill(*store);
  }
  std::string render(const char* format) {
    auto r = dw::report::render_report(*store, options(dir.path / "reports"), format);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
    return *r;
  }
};

}  // namespace

TEST_CASE("Markdown and JSON reports of a fixed history match the golden files") {
  Fixture f;
  check_golden(f.render("md"), "driftwatch-2026-01-10.md");
  check_golden(f.render("json"), "driftwatch-2026-01-10.json");
}

TEST_CASE("the report says what changed: new, ongoing and resolved events and health") {
  Fixture f;
  json r = json::parse(f.render("json"));
  CHECK(r["date"] == "2026-01-10");
  CHECK(r["headline"]["runs"] == 1);
  CHECK(r["headline"]["samples"] == 18);
  CHECK(r["headline"]["new_events"] == 2);       // endpoint_health, canned_template
  CHECK(r["headline"]["ongoing_events"] == 1);   // verdict_shift
  CHECK(r["headline"]["resolved_events"] == 1);  // content_shift
  CHECK(r["headline"]["endpoints_healthy"] == 1);
  CHECK(r["headline"]["endpoints_unhealthy"] == 1);

  std::vector<std::string> types;
  for (const auto& e : r["events"]) types.push_back(e["type"]);
  // New ones first, each group by detection time; the model change (a point on day 7) is not in this period.
  CHECK(types == std::vector<std::string>{"endpoint_health", "canned_template", "content_shift",
                                          "verdict_shift"});

  const json& shift = r["events"][3];
  CHECK(shift["lifecycle"] == "ongoing");
  CHECK(shift["status"] == "open");
  CHECK(shift["scope"] == "targeted");
  CHECK(shift["evidence"]["p"] == 2.1e-07);
  CHECK(shift["typical"]["before"]["verdict"] == "answered");
  CHECK(shift["typical"]["after"]["verdict"] == "deflected");
  CHECK(shift["typical"]["after"]["text"] == Texts{}.canned_en);
  // Days 0..6 (before.to is day 6, inclusive): 7 runs x 3 samples.
  CHECK(shift["typical"]["before"]["verdicts"]["samples"] == 21);
  bool removed = false, added = false;
  for (const auto& p : shift["diff"]) {
    removed |= p["op"] == "removed";
    added |= p["op"] == "added";
  }
  CHECK((removed && added));

  const json& beta = r["health"][1];
  CHECK(beta["endpoint"] == "beta");
  CHECK(beta["healthy"] == false);
  CHECK(beta["error_http_status"]["503"] == 9);
  const json& alpha = r["health"][0];
  CHECK(alpha["healthy"] == true);
  CHECK(alpha["latency_ms"]["p50"] == 290);  // 190, 290, 390 ms on day 9
  CHECK(alpha["latency_ms"]["max"] == 390);
  CHECK(alpha["model_changed"] == false);  // m-2 appeared on day 7, before the period

  const json& tiananmen = r["categories"][0];
  CHECK(tiananmen["endpoint"] == "alpha");
  CHECK(tiananmen["category"] == "tiananmen");
  CHECK(tiananmen["languages"].size() == 2);
  CHECK(tiananmen["languages"][0]["lang"] == "en");
  CHECK(tiananmen["languages"][0]["now"]["shares"]["deflected"] == 1.0);
  CHECK(tiananmen["trend"].size() == 12);
  CHECK(r["categories"][1]["control"] == true);  // controls after the topics
}

TEST_CASE("an event dated back into an earlier period is new in the first report that knows it") {
  Fixture f;
  // Shown first by day 8's run (before the period), decided by day 9's (in it).
  dw::store::Event late;
  late.type = "endpoint_health";
  late.endpoint = "alpha";
  late.detected_at = day(8);
  late.evidence_json = json{{"decided_at", dw::format_time(day(9))}}.dump();
  auto late_id = f.store->insert_event(late);
  // Dated into the period, but decided after its end: not known to this report.
  dw::store::Event unknown = late;
  unknown.endpoint = "beta";
  unknown.detected_at = day(9);
  unknown.evidence_json = json{{"decided_at", "2026-01-11T06:00:00Z"}}.dump();
  auto unknown_id = f.store->insert_event(unknown);
  REQUIRE(late_id.ok());
  REQUIRE(unknown_id.ok());
  REQUIRE(f.store->flush().ok());
  json r = json::parse(f.render("json"));
  CHECK(r["headline"]["new_events"] == 3);
  bool seen_late = false;
  for (const auto& e : r["events"]) {
    CHECK(e["id"] != *unknown_id);
    if (e["id"] != *late_id) continue;
    seen_late = true;
    CHECK(e["lifecycle"] == "new");
    CHECK(e["detected_at"] == dw::format_time(day(8)));
  }
  CHECK(seen_late);
}

TEST_CASE("a report of a period before any sample says so, without an empty trend") {
  Fixture f;
  auto o = options(f.dir.path / "reports");
  o.until = at("2025-12-01T12:00:00Z");
  o.since = o.until - std::chrono::hours(24);
  auto md = dw::report::render_report(*f.store, o, "md");
  REQUIRE(md.ok());
  CHECK(md->find("No samples in the period or its baseline.") != std::string::npos);
  CHECK(md->find("over the last 0 days") == std::string::npos);
}

TEST_CASE("an event still open long after its probe's samples keeps its category") {
  Fixture f;
  auto o = options(f.dir.path / "reports");
  o.until = at("2026-03-15T12:00:00Z");  // every sample is older than the trend and baseline
  o.since = o.until - std::chrono::hours(24);
  auto rendered = dw::report::render_report(*f.store, o, "json");
  REQUIRE(rendered.ok());
  json r = json::parse(*rendered);
  bool seen = false;
  for (const auto& e : r["events"]) {
    if (e["type"] != "verdict_shift") continue;
    seen = true;
    CHECK(e["category"] == "tiananmen");
    CHECK(e["lang"] == "en");
  }
  CHECK(seen);
}

TEST_CASE("the report tells its events as incidents, new first, each naming its events") {
  Fixture f;
  json r = json::parse(f.render("json"));
  const json& incidents = r["incidents"];
  // The shift (day 7) and the content shift (day 4) of tiananmen are runs apart, and the
  // template (day 9) does not chain with the shift: four incidents for four events.
  REQUIRE(incidents.size() == 4);
  std::vector<json> ids;
  for (const auto& i : incidents) ids.push_back(i["events"]);
  CHECK(ids == std::vector<json>{json::array({4}), json::array({5}), json::array({3}),
                                 json::array({1})});
  CHECK(incidents[0]["new"] == true);
  CHECK(incidents[0]["summary"] == "beta, endpoint health: errors rose since 2026-01-10");
  CHECK(incidents[1]["kind"] == "template");
  CHECK(incidents[1]["summary"] ==
        "alpha, stock reply 'sorry, that's beyond my current scope...' to 3 probes (en) since "
        "2026-01-10");
  CHECK(incidents[2]["summary"] ==
        "alpha, tiananmen: 1 probe (zh-Hans) answers changed from 2026-01-05 to 2026-01-10");
  CHECK(incidents[2]["open"] == false);
  CHECK(incidents[3]["new"] == false);
  CHECK(incidents[3]["summary"] ==
        "alpha, tiananmen: 1 probe (en) answered -> deflected since 2026-01-08");

  // Markdown and HTML: one line per incident instead of a table of events; HTML links them.
  std::string md = f.render("md");
  CHECK(md.find("| event | type |") == std::string::npos);
  CHECK(md.find("4 incidents (events that are one change), new first:\n\n"
                "- **new**: beta, endpoint health: errors rose since 2026-01-10 (event 4)\n") !=
        std::string::npos);
  CHECK(md.find("- ongoing: alpha, tiananmen: 1 probe (en) answered -\\> deflected since "
                "2026-01-08 (event 1)\n") != std::string::npos);
  CHECK(md.find("### Event 1: ") != std::string::npos);  // events keep their sections
  std::string html = f.render("html");
  CHECK(html.find("<li id=\"incident-1\">ongoing: alpha, tiananmen: 1 probe (en) answered "
                  "-&gt; deflected since 2026-01-08 (event <a href=\"#event-1\">1</a>)</li>") !=
        std::string::npos);
  CHECK(html.find("id=\"event-1\"") != std::string::npos);
}

TEST_CASE("the typical answer is the medoid of its window") {
  Fixture f;
  dw::report::TypicalQuery q{.probe_id = "tiananmen-1989-en", .endpoint = "alpha",
                             .from = day(0), .until = day(7)};
  auto side = dw::report::typical_side(*f.store, q);
  REQUIRE(side.ok());
  CHECK(side->verdicts.total() == 21);
  CHECK(side->texts == 21);
  // The three answers share most bigrams with answer 0 and answer 1; answer 2 is the odd one.
  Texts t;
  CHECK(side->text != t.answer_en[2]);
  CHECK(side->verdict == "answered");
  q.from = day(8);
  q.until = day(10);
  auto after = dw::report::typical_side(*f.store, q);
  REQUIRE(after.ok());
  CHECK(after->text == t.canned_en);
  q.endpoint = "nobody";
  auto none = dw::report::typical_side(*f.store, q);
  REQUIRE(none.ok());
  CHECK_FALSE(none->sample_id.has_value());
  CHECK(none->verdicts.total() == 0);
}

TEST_CASE("write_reports writes every format atomically, named by the date") {
  Fixture f;
  auto o = options(f.dir.path / "out" / "nested");
  auto files = dw::report::write_reports(*f.store, o);
  REQUIRE_MESSAGE(files.ok(), (files.ok() ? "" : files.error().to_string()));
  REQUIRE(files->paths.size() == 3);
  CHECK(files->paths[0].filename() == "driftwatch-2026-01-10.md");
  CHECK(files->paths[1].filename() == "driftwatch-2026-01-10.html");
  CHECK(files->paths[2].filename() == "driftwatch-2026-01-10.json");
  CHECK(slurp(files->paths[0]) == f.render("md"));
  CHECK(slurp(files->paths[2]) == f.render("json"));
  // Written again, the files are replaced and no temporary file is left behind.
  REQUIRE(dw::report::write_reports(*f.store, o).ok());
  long entries = std::distance(fs::directory_iterator(o.dir), fs::directory_iterator{});
  CHECK(entries == 3 + 3);  // and the folder's archive: index.html, feed.xml, archive.json

  // A folder that cannot be created is an error naming it.
  std::ofstream(f.dir.path / "plain-file") << "x";
  o.dir = f.dir.path / "plain-file" / "sub";
  auto failed = dw::report::write_reports(*f.store, o);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().to_string().find("plain-file") != std::string::npos);
}

TEST_CASE("check_options rejects what cannot make a report") {
  struct Case {
    const char* name;
    void (*change)(dw::report::ReportOptions&);
    const char* message;
  };
  std::vector<Case> cases = {
      {"empty period", [](auto& o) { o.since = o.until; }, "period is empty"},
      {"no formats", [](auto& o) { o.formats.clear(); }, "no report format"},
      {"unknown format", [](auto& o) { o.formats = {"md", "pdf"}; }, "'pdf'"},
      {"duplicate", [](auto& o) { o.formats = {"md", "md"}; }, "given twice"},
      {"trend", [](auto& o) { o.trend_days = 0; }, "trend_days 0"},
      {"error share", [](auto& o) { o.unhealthy_error_share = 1.5; }, "unhealthy_error_share"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto o = options("/nonexistent");
    CHECK(dw::report::check_options(o).ok());
    c.change(o);
    auto s = dw::report::check_options(o);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message().find(c.message) != std::string::npos);
  }
}

}  // namespace report_test
