// The daemon's calls into the modules downstream of the store: drift detection after each run
// (monitor/drift/detector.h), incidents for the metrics and reports on schedule
// (monitor/report), made here so that the jobs read as the daemon's own steps.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "config/config.h"
#include "store/store.h"

namespace dw::daemon {

struct DetectionCounts {
  long opened = 0;
  long resolved = 0;
};

// Runs drift detection for the finished run run_id with the config's [detection] options, or,
// with recompute, rebuilds every event from the history (earlier runs' verdicts changed).
Result<DetectionCounts> detect_after_run(store::Store& store, int64_t run_id,
                                         const config::Config& config, bool recompute = false);

// Incidents (report/incidents.h) with an open event, counted by endpoint.
Result<std::map<std::string, long>> open_incidents(store::Store& store);

// A report written to disk, and what its notification tells, from the same gathered facts.
// The texts quote model output (sanitised, report/model.h) and are NOT escaped: each channel
// escapes them for itself.
struct WrittenReport {
  std::vector<std::filesystem::path> paths;  // the files written, in config.report_formats order
  // What changed, at most ten lines, one sentence each (report/overview.h: tonight_lines): the
  // counts, then a line per new incident as far as they fit.
  std::vector<std::string> overview;
  std::vector<std::string> new_incidents;  // one line per new incident (describe()), report order
  // The self-contained HTML report, rendered whether or not html is among the formats.
  std::string html;
};

// Writes the report for [since, until) into config.report_dir in config.report_formats; the
// facts are gathered once, for the files and the texts alike.
Result<WrittenReport> write_report(store::Store& store, const config::Config& config, Time since,
                                   Time until);

}  // namespace dw::daemon
