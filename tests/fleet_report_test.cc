// The fleet report's pure part: divergences between vantages, completeness, rendering and
// escaping, from hand-built aggregates (no PostgreSQL; scripts/fleet-test.sh runs a server).
#include "fleet/fleet_report.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "fleet/fleet_status.h"
#include "scratch.h"

namespace fleet_report_test {

using namespace dw;
using namespace dw::fleet;

namespace {

Time at(const char* text) { return *parse_time(text); }

FleetReportOptions week() { return {at("2026-01-08T00:00:00Z"), at("2026-01-15T00:00:00Z")}; }

report::VerdictCounts counts(long answered, long refused, long deflected = 0, long filtered = 0,
                             long error = 0) {
  report::VerdictCounts c;
  c.n = {answered, refused, deflected, filtered, error};
  return c;
}

// A fleet of vantages, each with 28 runs of the period, and cells added per test.
struct Fleet {
  RawCounts raw;
  explicit Fleet(std::initializer_list<const char*> vantages) {
    for (const char* v : vantages)
      raw.vantages.push_back({v, std::string("dw_") + v, "", "", 28, at("2026-01-08T00:00:00Z"),
                              at("2026-01-14T18:00:00Z"), at("2026-01-14T18:00:00Z"), 0});
  }
  Fleet& cell(const std::string& vantage, const report::VerdictCounts& c,
              const std::string& probe = "tiananmen-1989-zh",
              const std::string& endpoint = "deepseek", long runs = 28) {
    raw.cells.push_back({endpoint, probe, "0123456789abcdef", "tiananmen", vantage, false, c});
    // Category runs: one row per endpoint x category x vantage, as the GROUP BY gives them.
    auto it = std::find_if(raw.category_runs.begin(), raw.category_runs.end(), [&](const auto& r) {
      return r.endpoint == endpoint && r.category == "tiananmen" && r.vantage == vantage;
    });
    if (it == raw.category_runs.end())
      raw.category_runs.push_back({endpoint, "tiananmen", vantage, runs});
    return *this;
  }
  FleetReport build() const { return build_fleet_report(raw, week()); }
};

// Every line of a Markdown table has as many unescaped pipes as the table's first line.
void check_markdown_tables(const std::string& md) {
  long width = -1;
  std::istringstream lines(md);
  std::string line;
  int tables = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("| ", 0) != 0) {
      width = -1;
      continue;
    }
    long pipes = 0;
    for (size_t i = 0; i < line.size(); ++i)
      pipes += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    if (width < 0) ++tables, width = pipes;
    CHECK_MESSAGE(pipes == width, line);
  }
  CHECK(tables >= 3);
}

// Every occurrence of c in text is backslash-escaped (Markdown: inert).
bool all_escaped(const std::string& text, char c) {
  for (size_t p = text.find(c); p != std::string::npos; p = text.find(c, p + 1))
    if (p == 0 || text[p - 1] != '\\') return false;
  return true;
}

}  // namespace

TEST_CASE("a vantage that refuses where the others answer is a divergence") {
  auto r = Fleet{"fra", "hk", "tpe"}
               .cell("fra", counts(80, 4))
               .cell("hk", counts(0, 84))
               .cell("tpe", counts(84, 0))
               .build();
  CHECK(r.pairs_tested == 3);
  REQUIRE(r.divergences.size() == 2);  // hk against each of the others; fra and tpe agree
  for (const auto& d : r.divergences) {
    CHECK((d.vantage_a == "hk" || d.vantage_b == "hk"));
    CHECK(d.endpoint == "deepseek");
    CHECK(d.probe_id == "tiananmen-1989-zh");
    CHECK(d.q <= 0.05);
    CHECK(d.p < 1e-10);
    CHECK(d.effect >= 0.95);
  }
  CHECK(r.complete);
  CHECK(fleet_summary(r) ==
        "3 vantages, 1 endpoint, 2 divergences: deepseek x tiananmen-1989-zh refused 100% from hk, "
        "answered 100% from tpe; deepseek x tiananmen-1989-zh answered 95% from fra, refused 100% "
        "from hk");
}

TEST_CASE("vantages that agree, or differ by less than the minimum effect, do not diverge") {
  auto agree = Fleet{"fra", "hk"}.cell("fra", counts(27, 1)).cell("hk", counts(28, 0)).build();
  CHECK(agree.pairs_tested == 1);
  CHECK(agree.divergences.empty());
  CHECK(fleet_summary(agree) == "2 vantages, 1 endpoint, no divergence");
  // 900 samples a side: beyond chance (p tiny) but a total variation of 0.2 < 0.3.
  auto small =
      Fleet{"fra", "hk"}.cell("fra", counts(900, 100)).cell("hk", counts(700, 300)).build();
  CHECK(small.divergences.empty());
}

TEST_CASE("a missing vantage is not a refusing one") {
  SUBCASE("no samples at all") {
    auto r = Fleet{"fra", "hk"}.cell("fra", counts(84, 0)).build();
    CHECK(r.divergences.empty());
    CHECK(r.pairs_tested == 0);
    CHECK(r.pairs_missing == 1);
    REQUIRE(r.categories.size() == 1);
    REQUIRE(r.categories[0].vantages.size() == 2);
    CHECK(r.categories[0].vantages[1].vantage == "hk");
    CHECK(r.categories[0].vantages[1].missing());
    CHECK(r.categories[0].expected_runs == 28);
    CHECK_FALSE(r.complete);  // hk has 0 of 28 runs of deepseek
    std::string md = render_fleet_markdown(r);
    CHECK(md.find("| hk | missing | missing | missing | missing | missing | 0/28 | 0 |") !=
          std::string::npos);
  }
  SUBCASE("only errors (an outage): never counted as refusals") {
    auto r =
        Fleet{"fra", "hk"}.cell("fra", counts(84, 0)).cell("hk", counts(0, 0, 0, 0, 84)).build();
    CHECK(r.divergences.empty());
    CHECK(r.pairs_missing == 1);
  }
  SUBCASE("errors beside answers do not move the shares") {
    auto r =
        Fleet{"fra", "hk"}.cell("fra", counts(84, 0)).cell("hk", counts(20, 0, 0, 0, 64)).build();
    CHECK(r.pairs_tested == 1);
    CHECK(r.divergences.empty());
  }
}

TEST_CASE("the false discovery rate is controlled across every pair tested") {
  // Alone, 10/10 answered against 4/10 is a divergence (Fisher p = 0.0108, effect 0.6)...
  auto alone = Fleet{"fra", "hk"}.cell("fra", counts(10, 0)).cell("hk", counts(4, 6)).build();
  REQUIRE(alone.divergences.size() == 1);
  CHECK(alone.divergences[0].p == doctest::Approx(0.010836).epsilon(1e-3));
  CHECK(alone.divergences[0].q == doctest::Approx(alone.divergences[0].p));
  // ...among 100 pairs tested it is not, while an overwhelming one still is.
  Fleet many{"fra", "hk"};
  many.cell("fra", counts(10, 0)).cell("hk", counts(4, 6));
  many.cell("fra", counts(28, 0), "strong").cell("hk", counts(0, 28), "strong");
  for (int i = 0; i < 98; ++i) {
    std::string probe = "agree-" + std::to_string(i);
    many.cell("fra", counts(28, 0), probe).cell("hk", counts(28, 0), probe);
  }
  auto r = many.build();
  CHECK(r.pairs_tested == 100);
  REQUIRE(r.divergences.size() == 1);
  CHECK(r.divergences[0].probe_id == "strong");
  CHECK(r.divergences[0].q == doctest::Approx(r.divergences[0].p * 100));
}

TEST_CASE("completeness: expected runs are the most any vantage has; silence is noted") {
  Fleet f{"fra", "hk", "tpe"};
  f.raw.vantages[2].runs = 0;  // tpe was last heard of before the period
  f.raw.vantages[2].first_run = f.raw.vantages[2].last_run = std::nullopt;
  f.raw.vantages[2].last_seen = at("2026-01-02T00:00:00Z");
  f.cell("fra", counts(84, 0)).cell("hk", counts(60, 0), "tiananmen-1989-zh", "deepseek", 20);
  auto r = f.build();
  CHECK_FALSE(r.complete);
  REQUIRE(r.categories.size() == 1);
  CHECK(r.categories[0].expected_runs == 28);
  auto noted = [&](const std::string& text) {
    return std::any_of(r.notes.begin(), r.notes.end(),
                       [&](const std::string& n) { return n.find(text) != std::string::npos; });
  };
  CHECK(noted("hk has 20 of 28 expected runs of deepseek"));
  CHECK(noted("tpe sent no run in the period (last run 2026-01-02T00:00:00Z)"));
  CHECK(fleet_summary(r).find("data incomplete") != std::string::npos);
}

TEST_CASE("hostile names from the database are inert in HTML, Markdown and JSON") {
  const std::string endpoint = "<script>alert(1)</script>";
  const std::string probe = "x|y](http://evil.example)*_`";
  const std::string vantage = "<img src=x onerror=alert(1)>\x1b[2J";
  Fleet f{"fra", vantage.c_str()};
  f.cell("fra", counts(84, 0), probe, endpoint).cell(vantage, counts(0, 84), probe, endpoint);
  f.raw.events.push_back({vantage, "dw|x", "verdict_shift", endpoint, probe, "v", "</table>",
                          "targeted", at("2026-01-10T00:00:00Z"), at("2026-01-10T00:00:00Z"), 0.001,
                          0.9, std::nullopt, ""});
  auto r = f.build();
  REQUIRE(r.divergences.size() == 1);

  std::string html = render_fleet_html(r);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find('\x1b') == std::string::npos);
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t p = html.find(s); p != std::string::npos; p = html.find(s, p + 1)) ++n;
    return n;
  };
  CHECK(count("<table>") == count("</table>"));
  CHECK(count("<table>") >= 4);  // vantages, divergences, deepseek's verdicts, events

  std::string md = render_fleet_markdown(r);
  CHECK(md.find("<script") != std::string::npos);  // shown, as text:
  for (char c : {'<', '>', '[', ']', '`', '_'}) CHECK_MESSAGE(all_escaped(md, c), c);
  CHECK(md.find("evil.example)\\*\\_\\`") != std::string::npos);
  CHECK(md.find('\x1b') == std::string::npos);
  check_markdown_tables(md);

  auto j = nlohmann::json::parse(render_fleet_json(r));
  CHECK(j["divergences"][0]["endpoint"] == endpoint);
  CHECK(j["divergences"][0]["probe"] == probe);
  CHECK(j["vantages"][0]["name"].get<std::string>().find('\x1b') == std::string::npos);
}

TEST_CASE("the same aggregates in any order give the same bytes") {
  Fleet f{"fra", "hk", "tpe"};
  for (int i = 0; i < 5; ++i) {
    std::string probe = "p" + std::to_string(i);
    f.cell("fra", counts(28, 0), probe)
        .cell("hk", counts(i, 28 - i), probe)
        .cell("tpe", counts(27, 1), probe);
  }
  std::string md = render_fleet_markdown(f.build()), json = render_fleet_json(f.build());
  std::mt19937 rng(7);
  std::shuffle(f.raw.cells.begin(), f.raw.cells.end(), rng);
  std::shuffle(f.raw.vantages.begin(), f.raw.vantages.end(), rng);
  CHECK(render_fleet_markdown(f.build()) == md);
  CHECK(render_fleet_json(f.build()) == json);
}

TEST_CASE("write_fleet_report writes the three files and leaves no temporary file") {
  dw::test::Scratch scratch;
  auto r = Fleet{"fra", "hk"}.cell("fra", counts(84, 0)).cell("hk", counts(0, 84)).build();
  auto dir = scratch.path("out/fleet");
  REQUIRE(write_fleet_report(r, dir).ok());
  long files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    CHECK(e.path().filename().string()[0] != '.');
  }
  CHECK(files == 3);
  CHECK(dw::test::slurp(dir / "fleet-report.md") == render_fleet_markdown(r));
  CHECK(dw::test::slurp(dir / "fleet-report.html") == render_fleet_html(r));
  CHECK(nlohmann::json::parse(dw::test::slurp(dir / "fleet-report.json"))["divergences"].size() ==
        1);
}

TEST_CASE("fleet status: one aligned line per monitor and vantage") {
  Time now = at("2026-01-15T12:00:00Z");
  std::vector<MonitorStatus> monitors = {
      {"dw_fra", "fra", at("2026-01-15T06:00:00Z"), 112, at("2026-01-15T06:01:00Z"), 0, 0},
      {"dw_hk", "hk", at("2026-01-12T00:00:00Z"), 90, at("2026-01-15T11:58:00Z"), 14, 3}};
  std::string out = render_status(monitors, now);
  std::istringstream lines(out);
  std::vector<std::string> l;
  for (std::string s; std::getline(lines, s);) l.push_back(s);
  REQUIRE(l.size() == 3);
  CHECK(l[0].rfind("monitor", 0) == 0);
  CHECK(l[1].find("2026-01-15T06:00:00Z (6h ago)") != std::string::npos);
  CHECK(l[2].find("(3d ago)") != std::string::npos);
  CHECK(l[2].find("(120s ago)") == std::string::npos);
  CHECK(l[2].find("(2m ago)") != std::string::npos);
  CHECK(l[2].find("3 runs!") != std::string::npos);
  // Columns aligned: "monitor" is the widest of its column, then two spaces.
  CHECK(l[0].substr(9, 7) == "vantage");
  CHECK(l[1].substr(9, 4) == "fra ");
  CHECK(l[2].substr(9, 3) == "hk ");
  CHECK(render_status({}, now) == "no monitor has pushed a run yet\n");
}

TEST_CASE("a month of hourly runs a side is tested in no time, and still found") {
  // 90 days x 24 runs x 3 samples: the exact test on the whole counts would enumerate tens of
  // billions of tables per pair; the report scales them down (fleet_report.cc).
  Fleet f({"fra", "hk", "tpe"});
  f.cell("fra", counts(6480, 0)).cell("tpe", counts(6400, 80)).cell("hk", counts(1000, 5480));
  FleetReport r = f.build();  // without the scaling, it would not return within CTest's limit
  REQUIRE(r.divergences.size() == 2);
  for (const auto& d : r.divergences) {
    CHECK((d.vantage_a == "hk" || d.vantage_b == "hk"));
    CHECK(d.q < 1e-10);
  }
}

}  // namespace fleet_report_test
