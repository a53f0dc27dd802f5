// The fleet report: one record from many vantage points. Reads the central PostgreSQL that
// monitors push to (push.h) and says, for a period, how each endpoint answered from each
// vantage, how complete each vantage's data is, which events each vantage opened, and where
// the same endpoint x probe answered differently from different vantages.
//
//   auto pg = dw::fleet::Pg::connect(server);
//   if (!pg) ...                                       // one line, exit 2
//   dw::fleet::FleetReportOptions options;
//   options.at = clock.now();
//   options.since = options.at - std::chrono::days(7);
//   auto report = dw::fleet::gather_fleet(**pg, options);
//   if (!report) ...                                   // one line, exit 2
//   if (auto s = dw::fleet::write_fleet_report(*report, out_dir); !s) ...
//   std::cout << dw::fleet::fleet_summary(*report) << '\n';
//
// The period is [since, at): a run belongs to it by its run_at. Divergence, per endpoint x
// probe (id AND version) and per pair of vantages: the counts of answered / refused /
// deflected / filtered samples of the period (errors and unclassified samples never count:
// they are health, not censorship) are compared with drift's exact test (drift/stats.h);
// q-values by Benjamini-Hochberg over every pair tested in the report; a divergence needs
// q <= alpha AND total variation >= min_effect. As in drift, a pair below min_effect stays in
// the FDR family with p = 1 (it is tested, it cannot be a finding; the exact test is skipped).
// A vantage with no valid sample of a probe is "missing" for it: never compared, never a
// difference. Completeness per endpoint x category: runs seen from each vantage against the
// runs expected, the most any vantage has.
//
// gather_fleet runs aggregate queries (GROUP BY in PostgreSQL, in one read-only repeatable-read
// transaction so all of them see the same pushes); it never loads samples one by one: memory
// grows with vantages x endpoints x probes, not with history. build_fleet_report is the pure
// part (no server, no clock): the same RawCounts give the same FleetReport, and the same
// FleetReport renders to the same bytes.
//
// Strings from the database (vantage, monitor, endpoint, probe, category names) are
// untrusted: a monitor role can insert anything. build_fleet_report passes each through
// report::sanitise_untrusted (valid UTF-8, no terminal controls); each renderer then escapes
// for its format (report/escape.h). Threads: one call uses the Pg from the calling thread.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "fleet/pg.h"
#include "report/model.h"

namespace dw::fleet {

struct FleetReportOptions {
  Time since;               // start of the period (inclusive)
  Time at;                  // end of the period (exclusive) and the report's "now"
  double alpha = 0.05;      // false discovery rate over every vantage pair tested
  double min_effect = 0.3;  // smallest difference that counts, as total variation distance
};

// Vantages are listed when they have a run in the period or in this many days before it
// (a vantage that fell silent shows as silent for a while, then leaves the report).
inline constexpr int kSilentVantageDays = 28;
// Events listed at most (the per-vantage counts are always exact).
inline constexpr long kMaxEvents = 1000;

struct VantageInfo {
  std::string name;                   // as the monitors declared it
  std::vector<std::string> monitors;  // database roles that pushed its runs (sorted); >1 is odd
  std::string country, asn;           // as declared by its newest run; "" when not declared
  long runs = 0;                      // runs of the period
  std::optional<Time> first_run, last_run;  // of the period; absent when it has none
  Time last_seen{};                         // newest run_at before `at`, in the period or not
  long clock_ahead = 0;                     // runs of the period the server flagged clock_ahead
  long events_opened = 0;                   // events opened by its runs of the period
};

// One vantage's samples of one endpoint x category in the period.
struct VantageCell {
  std::string vantage;
  report::VerdictCounts counts;  // shares leave errors out (report/model.h)
  long runs = 0;                 // runs with a sample of this endpoint x category
  bool missing() const { return counts.total() == 0; }
};

struct CategoryRow {
  std::string endpoint, category;
  bool control = false;
  long expected_runs = 0;             // the most runs any vantage has here
  std::vector<VantageCell> vantages;  // one per FleetReport::vantages, same order
};

struct FleetEvent {
  std::string vantage, monitor, type, endpoint, probe_id, probe_version, category, scope;
  Time opened_at{};                 // run_at of the run that opened it
  Time detected_at{};               // as the monitor's detector dated it
  std::optional<double> q, effect;  // from its evidence, when it carries them
  std::optional<Time> resolved_at;  // resolved before `at` (by a resolution the vantage pushed)
  std::string resolution;           // "returned", "new_normal", ...; "" while open
};

struct Divergence {
  std::string endpoint, probe_id, probe_version, category;
  std::string vantage_a, vantage_b;  // a < b by name
  report::VerdictCounts a, b;        // the period's counts (errors shown, never tested)
  double p = 1, q = 1, effect = 0;
};

struct FleetReport {
  Time since{}, at{};
  double alpha = 0.05, min_effect = 0.3;
  std::vector<VantageInfo> vantages;    // by name
  std::vector<std::string> endpoints;   // with samples in the period, by name
  std::vector<CategoryRow> categories;  // by endpoint, then category
  std::vector<FleetEvent> events;       // by opened_at, vantage, type, endpoint, probe
  long events_left_out = 0;             // beyond kMaxEvents
  std::vector<Divergence> divergences;  // by q, then endpoint, probe, vantages
  long pairs_tested = 0;                // endpoint x probe x vantage pairs tested (the FDR family)
  long pairs_missing = 0;  // pairs not compared: one vantage had valid samples, the other none
  // Completeness: true when every listed vantage has, for every endpoint x category, as many
  // runs as expected and no vantage is silent. notes says what is not (one sentence each:
  // gaps, silent vantages, clock-ahead runs, a vantage pushed by several monitor roles).
  bool complete = true;
  std::vector<std::string> notes;
};

// --- what gather_fleet reads, before any statistics (aggregates only) ---
struct RawVantage {  // one row per (vantage, monitor role)
  std::string vantage, monitor, country, asn;
  long runs = 0;
  std::optional<Time> first_run, last_run;
  Time last_seen{};
  long clock_ahead = 0;
};
struct RawCell {  // one row per endpoint x probe version x vantage
  std::string endpoint, probe_id, probe_version, category, vantage;
  bool control = false;
  report::VerdictCounts counts;
};
struct RawCategoryRuns {  // distinct runs per endpoint x category x vantage
  std::string endpoint, category, vantage;
  long runs = 0;
};
struct RawCounts {
  std::vector<RawVantage> vantages;
  std::vector<RawCell> cells;
  std::vector<RawCategoryRuns> category_runs;
  std::map<std::string, long> events_opened;  // by vantage
  std::vector<FleetEvent> events;             // at most kMaxEvents
  long events_left_out = 0;
};

// Reads the period's aggregates from the central database. Fails with one line when the
// options are invalid (since >= at), the central schema is missing or of another version,
// or a query fails (the server's message).
Result<FleetReport> gather_fleet(Pg& pg, const FleetReportOptions& options);

// The statistics and the shaping, without a server. raw need not be sorted.
FleetReport build_fleet_report(const RawCounts& raw, const FleetReportOptions& options);

// --- fleet_render.cc ---
// One sentence first read: "3 vantages, 2 endpoints, 1 divergence: deepseek x
// tiananmen-1989-zh refused 100% from hk, answered 95% from fra" (at most three divergences
// named, then "and N more"). Not escaped.
std::string fleet_summary(const FleetReport& report);
std::string render_fleet_markdown(const FleetReport& report);
std::string render_fleet_html(const FleetReport& report);  // self-contained, no scripts
std::string render_fleet_json(const FleetReport& report);  // shape: README "fleet report"

// Writes fleet-report.md, fleet-report.html and fleet-report.json into dir (created with its
// parents when missing), each atomically (temporary file in dir, fsync, rename), replacing
// files of those names. Fails naming the path; files already renamed stay.
Status write_fleet_report(const FleetReport& report, const std::filesystem::path& dir);

}  // namespace dw::fleet
