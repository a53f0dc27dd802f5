// The daemon's two calls into modules finished alongside it: drift detection after each run
// (monitor/drift/detector.h, issue 5) and reports on schedule (monitor/report/report.h,
// issue 6). Each is made here and nowhere else, so the jobs read the same whichever way they
// are built; while a module's library lacks the call, it returns an error saying so and the
// daemon logs it and carries on.
#pragma once

#include <cstdint>
#include <filesystem>
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

// Runs drift detection for the finished run run_id with the config's [detection] options.
Result<DetectionCounts> detect_after_run(store::Store& store, int64_t run_id,
                                         const config::Config& config);

// Writes the report for [since, until) into config.report_dir in config.report_formats;
// returns the files written.
Result<std::vector<std::filesystem::path>> write_report(store::Store& store,
                                                        const config::Config& config, Time since,
                                                        Time until);

}  // namespace dw::daemon
