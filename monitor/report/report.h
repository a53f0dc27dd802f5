// Reports: what changed in a period, for people (Markdown, HTML) and machines (JSON).
//
//   dw::report::ReportOptions options;
//   options.until = clock.now();                   // the report's "now"
//   options.since = options.until - std::chrono::hours(24);
//   options.dir = config.report_dir;
//   options.formats = config.report_formats;       // any of "md", "html", "json"
//   auto files = dw::report::write_reports(store, options);
//   if (!files) std::cerr << files.error().to_string() << '\n';
//   else for (const auto& f : files->paths) std::cout << f.string() << '\n';
//
// A report covers [since, until): first new, ongoing and resolved events with the runs and
// samples of the period and endpoint health at a glance; then, per endpoint and category,
// verdict shares in the period against the baseline (the history before `since`, back to
// options.baseline) split by language, with a trend of the last options.trend_days days;
// then, for questions asked in both English and Chinese, the answered share in each language
// and the gap between them (language_gap.h); then each event with its evidence and a
// word-level diff of a typical answer before and after; then endpoint health (error rates,
// latency percentiles, model and fingerprint changes); then, only when a judge gave opinions
// on samples of the period, where the rules and the judge disagree (counts per endpoint and
// verdict pair, a few examples). The three formats carry the same facts; the JSON shape is
// documented in README.md ("Reports"). The HTML one opens with an overview (overview.h: what
// changed in at most ten lines, a heatmap of the month per endpoint) and folds the sections
// after it into <details>.
//
// Model output is untrusted: every text taken from the store is escaped for the format it
// lands in, so no response can inject markup, links, scripts or table cells.
//
// The store is only read, through streaming iteration (per-day aggregates, never the whole
// history in memory). Threads: one call uses the Store from the calling thread only.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "store/store.h"

namespace dw::report {

struct ReportOptions {
  Time since;                        // start of the period (inclusive)
  Time until;                        // end of the period (exclusive) and the report's "now"
  std::filesystem::path dir = "reports";  // created (with parents) when missing
  std::vector<std::string> formats{"md", "html", "json"};  // subset of md, html, json
  std::chrono::days baseline{28};    // how far before `since` the baseline reaches
  int trend_days = 30;               // days in the trend charts, ending with until's day
  // An endpoint is unhealthy in the period when more of its samples than this are errors,
  // when it has no samples in it, or when an endpoint_health event is open at its end.
  double unhealthy_error_share = 0.2;
};

struct ReportFiles {
  // The files written, in the order of options.formats: "<dir>/driftwatch-YYYY-MM-DD.<ext>",
  // the date being the UTC date of the last second of the period (until - 1s). A file of
  // the same name is replaced.
  std::vector<std::filesystem::path> paths;
};

// Checks options: since < until, formats non-empty, each one of "md", "html", "json" (no
// duplicates), trend_days 1..366, baseline >= 0 days, unhealthy_error_share in [0, 1]. The
// error names the offending value.
Status check_options(const ReportOptions& options);

// Gathers the facts of the period from the store and writes one file per format into
// options.dir. Each file is written atomically: a temporary file in the same folder, flushed
// to disk (fsync), then renamed over the final name, so a reader sees the old file or the
// new one, never half of one. Then rewrites the folder's archive the same way (archive.h:
// index.html, feed.xml and archive.json, not listed in ReportFiles). Fails (with nothing
// half-written left behind; files of formats already renamed stay) on invalid options, a
// store error or a file system error naming the path.
Result<ReportFiles> write_reports(store::Store& store, const ReportOptions& options);

struct Report;  // model.h

// The second half of write_reports, for a caller that also needs the gathered facts (the
// daemon's notification: overview.h, render.h): report from gather(store, options) (gather.h),
// options passing check_options(). Writes as write_reports does; fails only on the file
// system, naming the path.
Result<ReportFiles> write_reports(const Report& report, const ReportOptions& options);

// Writes content to path so that a reader sees the old file or the new one, never a part: a
// temporary file in the same folder, fsync, rename, fsync of the folder. Fails naming the path;
// leaves no temporary file behind. What write_reports writes each file with (the fleet report
// too).
Status write_atomically(const std::filesystem::path& path, std::string_view content);

// The same report rendered to strings, without touching the file system: for tests, the
// daemon's logs and tools. format is "md", "html" or "json".
Result<std::string> render_report(store::Store& store, const ReportOptions& options,
                                  const std::string& format);

}  // namespace dw::report
