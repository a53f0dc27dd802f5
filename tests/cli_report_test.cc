// `driftwatch report` end to end: the real binary over a database filled by `run --once --at`
// against driftwatch-sim (tests/cli_history.h). Checked through the files it writes, what it
// prints, and what it refuses.
#include "cli_history.h"

namespace cli_report_test {

using namespace dw::test;

namespace {

// A config over the shared history whose [report] dir is scratch/"configured".
struct Setup {
  Scratch scratch;
  fs::path configured = scratch.path("configured");
  fs::path config;
  explicit Setup(const std::vector<std::string>& formats = {"md", "html", "json"})
      : config(history().write_config(scratch, configured, formats)) {}
};

json report_json(const fs::path& file) {
  std::string text = slurp(file);
  json j = json::parse(text, nullptr, false);
  INFO(file << ": " << text.substr(0, 400));
  REQUIRE(j.is_object());
  return j;
}

}  // namespace

TEST_CASE("report --at: one file per configured format, named by the period's date") {
  Setup s;
  fs::path out = s.scratch.path("out");
  auto o = driftwatch(s.scratch, s.config,
                      {"report", "--at", history_date(4, "T07:00:00Z"), "--out", out.string()});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  const std::string stem = "driftwatch-" + history_date(4);
  CHECK(report_file_names(out) ==
        std::vector<std::string>{stem + ".html", stem + ".json", stem + ".md"});
  for (const auto& name : kArchiveFiles) CHECK(fs::exists(out / name));  // and the archive
  // It says what it wrote, one path a line, in the order of the formats.
  CHECK(o.out == (out / (stem + ".md")).string() + "\n" + (out / (stem + ".html")).string() +
                     "\n" + (out / (stem + ".json")).string() + "\n");
  CHECK_FALSE(fs::exists(s.configured));  // --out wins over [report] dir

  // The default period is the 24 hours up to --at: the run of day 4 only.
  json j = report_json(out / (stem + ".json"));
  CHECK(j["date"] == history_date(4));
  CHECK(j["period"]["since"] == history_date(3, "T07:00:00Z"));
  CHECK(j["period"]["until"] == history_date(4, "T07:00:00Z"));
  CHECK(j["headline"]["runs"] == 1);
  CHECK(j["headline"]["samples"] == 12);  // 3 probes x 2 endpoints x 2 samples
  std::string md = slurp(out / (stem + ".md"));
  CHECK(md.starts_with("# driftwatch report " + history_date(4) + "\n"));
  CHECK(contains(md, "square-1989"));
  CHECK(contains(slurp(out / (stem + ".html")), "<svg"));  // the trend charts
}

TEST_CASE("report --since widens the period; without --out the files go to [report] dir") {
  Setup s;
  auto o = driftwatch(s.scratch, s.config,
                      {"report", "--since", history_date(0, "T00:00:00Z"), "--at",
                       history_date(4, "T07:00:00Z")});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  const std::string stem = "driftwatch-" + history_date(4);
  REQUIRE(report_file_names(s.configured) ==
          std::vector<std::string>{stem + ".html", stem + ".json", stem + ".md"});
  json j = report_json(s.configured / (stem + ".json"));
  CHECK(j["period"]["since"] == history_date(0, "T00:00:00Z"));
  CHECK(j["headline"]["runs"] == kHistoryDays);
  CHECK(j["headline"]["samples"] == 12 * kHistoryDays);

  // The file is named by the last day of the period: --at at midnight closes the day before.
  auto midnight = driftwatch(s.scratch, s.config,
                             {"report", "--at", history_date(3, "T00:00:00Z"), "--format", "md"});
  INFO(midnight.out << midnight.err);
  REQUIRE(midnight.code == 0);
  CHECK(fs::exists(s.configured / ("driftwatch-" + history_date(2) + ".md")));
}

TEST_CASE("report --format writes exactly the formats asked for, in their order") {
  struct Case {
    std::string formats;
    std::vector<std::string> files;  // extensions, sorted by file name
    std::vector<std::string> printed;
  };
  const Case cases[] = {
      {"md", {"md"}, {"md"}},
      {"html", {"html"}, {"html"}},
      {"json,md", {"json", "md"}, {"json", "md"}},
      {"html,json,md", {"html", "json", "md"}, {"html", "json", "md"}},
  };
  Setup s({"html"});  // the config's own formats must not leak in
  for (const auto& c : cases) {
    CAPTURE(c.formats);
    fs::path out = s.scratch.path("out-" + c.formats);
    auto o = driftwatch(s.scratch, s.config,
                        {"report", "--at", history_date(4, "T07:00:00Z"), "--out", out.string(),
                         "--format", c.formats});
    INFO(o.out << o.err);
    REQUIRE(o.code == 0);
    std::vector<std::string> expected, printed;
    for (const auto& ext : c.files) expected.push_back("driftwatch-" + history_date(4) + "." + ext);
    for (const auto& ext : c.printed)
      printed.push_back((out / ("driftwatch-" + history_date(4) + "." + ext)).string());
    CHECK(report_file_names(out) == expected);
    std::string lines;
    for (const auto& p : printed) lines += p + "\n";
    CHECK(o.out == lines);
  }
  // Without --format, the config's formats.
  fs::path out = s.scratch.path("out-default");
  auto o = driftwatch(s.scratch, s.config,
                      {"report", "--at", history_date(4, "T07:00:00Z"), "--out", out.string()});
  REQUIRE(o.code == 0);
  CHECK(report_file_names(out) ==
        std::vector<std::string>{"driftwatch-" + history_date(4) + ".html"});
}

TEST_CASE("report: a bad --format, --at or --since is one clear line, exit 1, nothing written") {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;  // in the error line
  };
  const Case cases[] = {
      {{"--format", "pdf"}, "pdf"},
      {{"--format", "md,pdf"}, "pdf"},
      {{"--format", "md,md"}, "md"},
      {{"--format", ","}, "format"},
      {{"--at", "yesterday"}, "--at"},
      {{"--at", "2026-13-45T00:00:00Z"}, "--at"},
      {{"--since", "last week"}, "--since"},
      {{"--since", history_date(4, "T08:00:00Z")}, "since"},  // after --at
  };
  Setup s;
  fs::path out = s.scratch.path("out");
  for (const auto& c : cases) {
    std::vector<std::string> args{"report", "--out", out.string()};
    if (std::find(c.args.begin(), c.args.end(), "--at") == c.args.end())
      args.insert(args.end(), {"--at", history_date(4, "T07:00:00Z")});
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto o = driftwatch(s.scratch, s.config, args);
    CAPTURE(c.args.back());
    check_rejected(o);
    INFO(o.err);
    CHECK(contains(o.err, c.mentions));
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(fs::exists(s.configured));
  }
}

}  // namespace cli_report_test
