#include "daemon/hooks.h"

// DW_DAEMON_HAVE_DETECTOR and DW_DAEMON_HAVE_REPORT are set by monitor/daemon/CMakeLists.txt
// when dw_drift has detector.cc and dw_report exists. Once both modules are complete the
// guards can go.
#if DW_DAEMON_HAVE_DETECTOR
#include "drift/detector.h"
#endif
#if DW_DAEMON_HAVE_REPORT
#include "report/report.h"
#endif

namespace dw::daemon {

Result<DetectionCounts> detect_after_run(store::Store& store, int64_t run_id,
                                         const config::Config& config) {
#if DW_DAEMON_HAVE_DETECTOR
  auto summary = drift::detect_run(store, run_id, drift::options_from(config));
  if (!summary) return summary.error();
  return DetectionCounts{summary->opened, summary->resolved};
#else
  (void)store, (void)run_id, (void)config;
  return Error("drift detection is not built into this driftwatch (monitor/drift incomplete)");
#endif
}

Result<std::vector<std::filesystem::path>> write_report(store::Store& store,
                                                        const config::Config& config, Time since,
                                                        Time until) {
#if DW_DAEMON_HAVE_REPORT
  report::ReportOptions options;
  options.since = since;
  options.until = until;
  options.dir = config.report_dir;
  options.formats = config.report_formats;
  auto files = report::write_reports(store, options);
  if (!files) return files.error();
  return files->paths;
#else
  (void)store, (void)config, (void)since, (void)until;
  return Error("reports are not built into this driftwatch (monitor/report incomplete)");
#endif
}

}  // namespace dw::daemon
