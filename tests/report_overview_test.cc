// The overview at the top of the HTML report and the language gap: the heatmap SVG (cells,
// marks, the signs that do not rely on colour, escaping), the stem rule and the gap's numbers,
// the "tonight" lines and which <details> are open by default.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "child.h"
#include "report/heatmap.h"
#include "report/language_gap.h"
#include "report/overview.h"
#include "report/render.h"
#include "report_fixture.h"

namespace report_overview_test {

using namespace report_fixture;
using namespace dw::report;
using nlohmann::json;

namespace {

using dw::test::count;

// Counts in kVerdicts order: answered, refused, deflected, filtered, error.
VerdictCounts counts(long answered, long refused, long deflected, long filtered, long error) {
  VerdictCounts c;
  c.n = {answered, refused, deflected, filtered, error};
  return c;
}

DayCounts day_of(const char* date, VerdictCounts c) { return DayCounts{date, c}; }

const std::string kHostile = "<script>alert(1)</script>\"&'";

std::string rendered(const char* format) {
  TempDir dir;
  auto s = dw::store::Store::open((dir.path / "h.db").string());
  REQUIRE(s.ok());
  fill(**s);
  auto r = render_report(**s, options(dir.path / "reports"), format);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
  return *r;
}

}  // namespace

TEST_CASE("a heatmap cell per category and day, with signs that do not rely on colour") {
  Heatmap map;
  map.endpoint = "alpha";
  map.rows.push_back({"tiananmen",
                      {day_of("2026-01-01", counts(3, 0, 0, 0, 0)),    // all answered
                       day_of("2026-01-02", counts(1, 0, 2, 0, 0)),    // mostly deflected
                       day_of("2026-01-03", counts(0, 0, 0, 0, 0)),    // no samples
                       day_of("2026-01-04", counts(0, 0, 0, 0, 3))}}); // errors only
  map.rows.push_back({"taiwan",
                      {day_of("2026-01-01", counts(1, 2, 1, 0, 0)),    // refused leads
                       day_of("2026-01-02", counts(2, 0, 0, 1, 0)),    // filtered
                       day_of("2026-01-03", counts(0, 1, 1, 1, 0)),    // a tie: refused first
                       day_of("2026-01-04", counts(4, 0, 0, 0, 0))}});
  map.marks.push_back({12, 0, 1, "event 12: verdict_shift, alpha / t-en"});
  map.marks.push_back({13, -1, 3, "event 13: endpoint_health, alpha"});
  std::string svg = heatmap_svg(map, "hm");

  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\"", 0) == 0);
  CHECK(svg.find("viewBox=\"0 0 ") != std::string::npos);
  CHECK(svg.find("role=\"img\" aria-labelledby=\"hm-title hm-desc\"") != std::string::npos);
  CHECK(svg.find("<title id=\"hm-title\">") != std::string::npos);
  CHECK(svg.find("<desc id=\"hm-desc\">") != std::string::npos);
  // Eight cells, each a group with a hover title; six with valid samples are filled squares,
  // two are dashed empty slots.
  CHECK(count(svg, "<g><title>tiananmen, 2026-") == 4);
  CHECK(count(svg, "<g><title>taiwan, 2026-") == 4);
  CHECK(count(svg, "stroke-dasharray=\"2 2\"") == 2);
  CHECK(count(svg, "width=\"14\" height=\"14\"") == 6);
  // The letters: D where deflected leads, R for refused (and for the tie), F for filtered, none
  // where everything was answered; "!" on the errors-only day.
  CHECK(count(svg, ">D</text>") == 1);
  CHECK(count(svg, ">R</text>") == 2);
  CHECK(count(svg, ">F</text>") == 1);
  CHECK(count(svg, ">!</text>") == 1);
  CHECK(svg.find("<title>tiananmen, 2026-01-02: 33% answered; answered 1, deflected 2; event 12") !=
        std::string::npos);
  CHECK(svg.find("<title>tiananmen, 2026-01-04: error 3</title>") != std::string::npos);
  // Colour: light for all answered, dark for none.
  CHECK(svg.find("fill=\"#f7fbff\"") != std::string::npos);  // 100% answered
  CHECK(svg.find("fill=\"#08306b\"") != std::string::npos);  // 0% answered (2026-01-03, taiwan)
  // Event starts: a linked mark in the category's cell, and above the column for the endpoint.
  CHECK(count(svg, "<path class=\"mark\"") == 2);
  CHECK(svg.find("<a href=\"#event-12\"><title>event 12: verdict_shift") != std::string::npos);
  CHECK(svg.find("<a href=\"#event-13\"><title>event 13: endpoint_health") != std::string::npos);
  // Date labels on the axis: first, last.
  CHECK(svg.find(">01-01</text>") != std::string::npos);
  CHECK(svg.find(">01-04</text>") != std::string::npos);

  CHECK(heatmap_svg(Heatmap{"empty", {}, {}}, "x").empty());
}

TEST_CASE("every label in a heatmap is escaped") {
  Heatmap map;
  map.endpoint = kHostile;
  map.rows.push_back({kHostile, {day_of("2026-01-01", counts(1, 1, 0, 0, 0))}});
  map.marks.push_back({7, 0, 0, "event 7: " + kHostile});
  std::string svg = heatmap_svg(map, "a\"b");
  CHECK(svg.find("<script>") == std::string::npos);
  CHECK(svg.find("\"&'") == std::string::npos);
  CHECK(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;") != std::string::npos);
  CHECK(svg.find("aria-labelledby=\"a&quot;b-title") != std::string::npos);
  CHECK(heatmap_legend_html().find("<svg aria-hidden=\"true\"") != std::string::npos);

  LanguageGap g;
  g.endpoint = kHostile;
  g.category = kHostile;
  g.en_now = counts(1, 0, 0, 0, 0);
  g.zh_now = counts(0, 1, 0, 0, 0);
  std::string chart = language_gap_svg({g}, "gap\"0", kHostile);
  CHECK(chart.find("<script>") == std::string::npos);
  CHECK(chart.find("&lt;script&gt;") != std::string::npos);
  CHECK(chart.find("id=\"gap&quot;0-title\"") != std::string::npos);
}

TEST_CASE("a report's heatmaps: one per endpoint, its categories by day, its events marked") {
  TempDir dir;
  auto s = dw::store::Store::open((dir.path / "h.db").string());
  REQUIRE(s.ok());
  fill(**s);
  auto html = render_report(**s, options(dir.path / "reports"), "html");
  REQUIRE(html.ok());
  // Two endpoints, two rows each (tiananmen, then the control), twelve days.
  CHECK(count(*html, "<figure class=\"heatmap\">") == 2);
  CHECK(count(*html, "<g><title>tiananmen, 20") == 24);
  CHECK(count(*html, "<g><title>control, 20") == 24);  // not "control (control)"
  // Marked: alpha's verdict_shift (day 7) and content_shift (day 4) on the tiananmen row and
  // its canned_template (day 9) above the grid; beta's endpoint_health (day 9). The model
  // change resolved before the period: not in the report, not marked.
  CHECK(count(*html, "<path class=\"mark\"") == 4);
  CHECK(html->find("<a href=\"#event-1\"><title>event 1: verdict_shift") != std::string::npos);
  CHECK(html->find("<a href=\"#event-3\"><title>event 3: content_shift") != std::string::npos);
  CHECK(html->find("<a href=\"#event-5\"><title>event 5: canned_template") != std::string::npos);
  CHECK(html->find("<a href=\"#event-4\"><title>event 4: endpoint_health") != std::string::npos);
  CHECK(html->find("#event-2\"") == std::string::npos);
  // alpha deflects its English Tiananmen probe from day 7: half the day's samples answered.
  CHECK(html->find("<g><title>tiananmen, 2026-01-10: 50% answered; answered 3, deflected 3") !=
        std::string::npos);
}

TEST_CASE("the stem rule pairs probe ids that differ only in their language suffix") {
  struct Case {
    const char* id;
    const char* lang;
    const char* stem;  // nullptr: none
    const char* side;
  };
  for (const Case& c : std::vector<Case>{
           {"tiananmen-1989-en", "en", "tiananmen-1989", "en"},
           {"tiananmen-1989-zh", "zh-Hans", "tiananmen-1989", "zh"},
           {"tiananmen-1989-zh-hant", "zh-Hant", "tiananmen-1989", "zh"},  // the whole tag first
           {"Taiwan-EN", "en-GB", "Taiwan", "en"},                          // case-insensitive
           {"capital-australia", "en", nullptr, nullptr},  // no language suffix
           {"moscow-1993-ru", "ru", nullptr, nullptr},     // neither English nor Chinese
           {"x-fr", "en", nullptr, nullptr},               // the suffix is not its language
           {"en", "en", nullptr, nullptr},                 // nothing left of the id
           {"-en", "en", nullptr, nullptr}}) {
    CAPTURE(c.id);
    auto stem = probe_stem(c.id, c.lang);
    REQUIRE(stem.has_value() == (c.stem != nullptr));
    if (!stem) continue;
    CHECK(stem->stem == c.stem);
    CHECK(stem->language == c.side);
  }
}

TEST_CASE("the language gap: pairs per endpoint and category, shares of valid samples") {
  auto probe = [](const char* endpoint, const char* id, const char* category, const char* lang,
                  VerdictCounts baseline, VerdictCounts now, bool control = false) {
    return ProbeTally{endpoint, id, category, lang, control, baseline, now};
  };
  std::vector<ProbeTally> probes = {
      // A pair that answers in English and deflects in Chinese since the period began; the
      // error does not count.
      probe("m", "t-1989-en", "tiananmen", "en", counts(4, 0, 0, 0, 0), counts(3, 0, 0, 0, 1)),
      probe("m", "t-1989-zh", "tiananmen", "zh-Hans", counts(4, 0, 0, 0, 0), counts(1, 0, 2, 0, 0)),
      // A second pair of the category adds to both sides.
      probe("m", "t-tank-en", "tiananmen", "en", counts(2, 0, 0, 0, 0), counts(1, 0, 0, 0, 0)),
      probe("m", "t-tank-zh", "tiananmen", "zh-Hans", counts(2, 0, 0, 0, 0), counts(1, 0, 0, 0, 0)),
      // English only: no pair, left out (else the English side would ask other questions).
      probe("m", "t-toll-en", "tiananmen", "en", counts(0, 9, 0, 0, 0), counts(0, 9, 0, 0, 0)),
      // Same stem, other category: not a pair.
      probe("m", "odd-en", "taiwan", "en", counts(1, 0, 0, 0, 0), counts(1, 0, 0, 0, 0)),
      probe("m", "odd-zh", "tibet", "zh-Hans", counts(1, 0, 0, 0, 0), counts(1, 0, 0, 0, 0)),
      // A control pair sorts after the topics.
      probe("m", "capital-en", "control", "en", counts(2, 0, 0, 0, 0), counts(2, 0, 0, 0, 0), true),
      probe("m", "capital-zh", "control", "zh-Hans", counts(2, 0, 0, 0, 0), counts(2, 0, 0, 0, 0),
            true),
      // Another endpoint: its own row; only errors in the period in English, so no gap now.
      probe("a", "t-1989-en", "tiananmen", "en", counts(2, 0, 0, 0, 0), counts(0, 0, 0, 0, 2)),
      probe("a", "t-1989-zh", "tiananmen", "zh", counts(1, 1, 0, 0, 0), counts(2, 0, 0, 0, 0)),
  };
  auto gaps = language_gaps(probes);
  REQUIRE(gaps.size() == 3);
  CHECK(gaps[0].endpoint == "a");
  CHECK(gaps[1].endpoint == "m");
  CHECK(gaps[1].category == "tiananmen");
  CHECK(gaps[2].category == "control");
  CHECK(gaps[2].control);

  const LanguageGap& m = gaps[1];
  CHECK(m.stems == std::vector<std::string>{"t-1989", "t-tank"});
  CHECK(m.en_now.n[0] == 4);  // 3 + 1 answered; the error kept aside
  CHECK(m.en_now.n[kError] == 1);
  CHECK(m.zh_now.valid() == 4);
  // Now: English 4/4 answered, Chinese 2/4; baseline: both 6/6.
  CHECK(*gap(m.en_now, m.zh_now) == doctest::Approx(0.5));
  CHECK(*gap(m.en_baseline, m.zh_baseline) == doctest::Approx(0.0));
  CHECK(*gap_change(m) == doctest::Approx(0.5));

  const LanguageGap& a = gaps[0];
  CHECK_FALSE(gap(a.en_now, a.zh_now).has_value());
  CHECK(*gap(a.en_baseline, a.zh_baseline) == doctest::Approx(0.5));
  CHECK_FALSE(gap_change(a).has_value());

  std::string chart = language_gap_svg({gaps[1], gaps[2]}, "gap-m", "gap of m");
  CHECK(count(chart, "<circle") == 4);  // English: baseline and period, two rows
  CHECK(count(chart, "<rect") == 4);    // Chinese
  CHECK(chart.find("<title>tiananmen: answered in English 100% (baseline 100%), in Chinese 50% "
                   "(baseline 100%); gap +50 points (baseline 0, change +50)</title>") !=
        std::string::npos);
}

TEST_CASE("the fixture's language gap in JSON and Markdown") {
  json r = json::parse(rendered("json"));
  REQUIRE(r["language_gap"].size() == 2);
  const json& alpha = r["language_gap"][0];
  CHECK(alpha["endpoint"] == "alpha");
  CHECK(alpha["category"] == "tiananmen");
  CHECK(alpha["stems"] == json::array({"tiananmen-1989"}));
  // Baseline days 0..8: English answered 21 of 27 (deflected from day 7), Chinese 27 of 27.
  CHECK(alpha["en"]["baseline"]["counts"]["answered"] == 21);
  CHECK(alpha["en"]["now"]["shares"]["answered"] == 0.0);
  CHECK(alpha["zh"]["now"]["shares"]["answered"] == 1.0);
  CHECK(alpha["gap"]["now"].get<double>() == doctest::Approx(-1.0));
  CHECK(alpha["gap"]["baseline"].get<double>() == doctest::Approx(-6.0 / 27));
  CHECK(alpha["gap"]["change"].get<double>() == doctest::Approx(-1.0 + 6.0 / 27));
  const json& beta = r["language_gap"][1];
  CHECK(beta["endpoint"] == "beta");
  CHECK(beta["gap"]["now"].is_null());  // the outage: no valid sample in the period
  CHECK(beta["gap"]["change"].is_null());

  std::string md = rendered("md");
  CHECK(md.find("## Language gap: English and Chinese") != std::string::npos);
  CHECK(md.find("| tiananmen | 1 | 78% → 0% | 100% → 100% | -22 → -100 | -78 | en ░░░░░░░░░░ "
                "zh ██████████ |") != std::string::npos);
}

TEST_CASE("tonight: at most ten lines, new incidents first, the rest counted") {
  Report r;
  r.since = at("2026-01-10T00:00:00Z");
  r.headline.new_events = 15;
  for (int i = 0; i < 15; ++i) {
    Incident inc;
    inc.id = 100 + i;
    inc.endpoint = "ep-" + std::to_string(i);
    inc.subject = "tiananmen";
    inc.event_ids = {100 + i};
    inc.is_new = true;
    inc.detected_at = r.since;
    r.incidents.push_back(inc);
  }
  auto lines = tonight_lines(r);
  REQUIRE(lines.size() == 10);
  CHECK(lines[0].rfind("15 new incidents (15 new events), 0 ongoing, 0 resolved", 0) == 0);
  CHECK(lines[1].rfind("ep-0, tiananmen", 0) == 0);
  CHECK(lines[8].rfind("ep-7, tiananmen", 0) == 0);
  CHECK(lines[9] == "... and 7 more new incidents below");

  // A language gap that moved takes the last line.
  // Not over fewer than 6 valid samples a side: one flipped answer is no news.
  LanguageGap g;
  g.endpoint = "ep-0";
  g.category = "tiananmen";
  g.en_baseline = g.en_now = g.zh_baseline = counts(5, 0, 0, 0, 0);
  g.zh_now = counts(1, 0, 4, 0, 0);
  r.language_gap.push_back(g);
  CHECK(tonight_lines(r)[9] == "... and 7 more new incidents below");
  r.language_gap.back().en_baseline = r.language_gap.back().en_now =
      r.language_gap.back().zh_baseline = counts(10, 0, 0, 0, 0);
  r.language_gap.back().zh_now = counts(2, 0, 8, 0, 0);
  lines = tonight_lines(r);
  REQUIRE(lines.size() == 10);
  CHECK(lines[8] == "... and 8 more new incidents below");
  CHECK(lines[9] == "Language gap, ep-0, tiananmen: answered in English 100% (baseline 100%), "
                    "in Chinese 20% (baseline 100%); the gap moved +80 points");

  // Few incidents: one line each, no "more" line; the HTML links each to its first event.
  r.incidents.resize(2);
  lines = tonight_lines(r);
  CHECK(lines.size() == 4);
  std::string html = overview_html(r);
  CHECK(html.find("<a href=\"#event-101\">ep-1, tiananmen") != std::string::npos);
  CHECK(count(html, "<li>") == 4);
}

TEST_CASE("the HTML report: overview first, details closed except tonight's new events") {
  std::string html = rendered("html");
  size_t overview = html.find("<section id=\"overview\">");
  REQUIRE(overview != std::string::npos);
  CHECK(overview < html.find("<section id=\"headline\">"));
  CHECK(overview < html.find("id=\"categories\""));
  // The fixture's new events (endpoint_health 4, canned_template 5) are open; the ongoing
  // ones (verdict_shift 1, content_shift 3) are closed.
  CHECK(html.find("<details class=\"event\" id=\"event-4\" open>") != std::string::npos);
  CHECK(html.find("<details class=\"event\" id=\"event-5\" open>") != std::string::npos);
  CHECK(html.find("<details class=\"event\" id=\"event-1\">") != std::string::npos);
  CHECK(html.find("<details class=\"event\" id=\"event-3\">") != std::string::npos);
  for (const char* id : {"categories", "language-gap", "health"})
    CHECK(html.find("<details class=\"section\" id=\"" + std::string(id) + "\"><summary>") !=
          std::string::npos);
  CHECK(count(html, "<details") == count(html, "</details>"));
  // Every table scrolls in a box of its own.
  CHECK(count(html, "<table>") > 0);
  CHECK(count(html, "<table>") == count(html, "<div class=\"scroll\"><table>"));
  CHECK(count(html, "</table>") == count(html, "</table></div>"));
  // The language gap: a table and a chart per endpoint.
  CHECK(count(html, "class=\"gap\"") == 2);
}

}  // namespace report_overview_test
