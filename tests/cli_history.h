// A small stored history for the `report` and `diff` integration tests: driftwatch-sim with
// tests/data/report-scenario.toml, and `driftwatch run --once --at` on five simulated days
// (2026-01-10 to 2026-01-14, 06:00Z), two endpoints, two samples per probe. square-1989 is
// answered on days 0-2 and deflected from day 3; hostile-echo answers with terminal escape
// sequences. Built once per test process (the runs are the slow part) and only read after.
#pragma once

#include <algorithm>
#include <tuple>

#include "cli_run_harness.h"

namespace dw::test {

inline const char* kHistorySimKey = "sk-cli-history-test-8d1e4b";
inline const std::string kHistoryEnv = std::string("DW_TEST_SIM_KEY=") + kHistorySimKey;
inline constexpr int kHistoryDays = 5;

// "2026-01-1D" + rest, for day d of the history (day 0 is 2026-01-10).
inline std::string history_date(int day, const std::string& rest = "") {
  return "2026-01-" + std::to_string(10 + day) + rest;
}

class History {
 public:
  History() : sim_(scratch_, {"--api-key", kHistorySimKey}, kData / "report-scenario.toml") {
    fs::path config = write_config(scratch_, scratch_.path("reports"), {"md", "html", "json"});
    for (int day = 0; day < kHistoryDays; ++day) {
      sim_.set_day(day);
      auto o = driftwatch(scratch_, config,
                          {"run", "--once", "--at", history_date(day, "T06:00:00Z")},
                          {kHistoryEnv});
      INFO(o.out << o.err);
      REQUIRE(o.code == 0);
    }
  }

  fs::path database() const { return scratch_.path("dw.db"); }

  // A config in scratch over this history's database: [report] dir and formats as given.
  fs::path write_config(const Scratch& scratch, const fs::path& report_dir,
                        const std::vector<std::string>& formats) const {
    std::ostringstream t;
    t << "[storage]\ndatabase = " << database() << "\n\n[probes]\nsets = ["
      << kData / "report-probes.toml" << "]\nsamples = 2\n\n[classifier]\nrules = "
      << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n\n[report]\ndir = " << report_dir
      << "\nformats = [";
    for (size_t i = 0; i < formats.size(); ++i) t << (i ? ", " : "") << '"' << formats[i] << '"';
    t << "]\n";
    for (auto [name, kind, path] : {std::tuple{"gpt", "openai", "/v1"}, {"claude", "anthropic", ""}}) {
      t << "\n[[endpoint]]\nname = \"" << name << "\"\nkind = \"" << kind << "\"\nbase_url = \""
        << sim_.url() << path << "\"\nmodel = \"" << name << "-test\"\n"
        << "api_key_env = \"DW_TEST_SIM_KEY\"\n";
    }
    return scratch.write("driftwatch.toml", t.str());
  }

 private:
  Scratch scratch_;
  Sim sim_;
};

// The history of this test process, built on first use.
inline const History& history() {
  static const History h;
  return h;
}

// Names of the files directly in dir, sorted; empty when dir does not exist.
inline std::vector<std::string> file_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// The archive every report rewrites beside the report files (report/archive.h).
inline const std::vector<std::string> kArchiveFiles = {"archive.json", "feed.xml", "index.html"};

// The report files directly in dir (driftwatch-*), sorted: file_names without the archive.
inline std::vector<std::string> report_file_names(const fs::path& dir) {
  std::vector<std::string> names = file_names(dir);
  std::erase_if(names, [](const std::string& n) { return !n.starts_with("driftwatch-"); });
  return names;
}

}  // namespace dw::test
