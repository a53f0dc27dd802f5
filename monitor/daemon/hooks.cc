#include "daemon/hooks.h"

#include "drift/detector.h"
#include "report/gather.h"
#include "report/incidents.h"
#include "report/overview.h"
#include "report/render.h"
#include "report/report.h"

namespace dw::daemon {

Result<DetectionCounts> detect_after_run(store::Store& store, int64_t run_id,
                                         const config::Config& config, bool recompute) {
  const auto options = drift::options_from(config);
  auto summary = recompute ? drift::recompute_all(store, options)
                           : drift::detect_run(store, run_id, options);
  if (!summary) return summary.error();
  return DetectionCounts{summary->opened, summary->resolved};
}

Result<std::map<std::string, long>> open_incidents(store::Store& store) {
  auto incidents = report::incidents_from_store(store, {.only_open = true});
  if (!incidents) return incidents.error();
  std::map<std::string, long> open;
  for (const auto& incident : *incidents) {
    if (incident.open) ++open[incident.endpoint];
  }
  return open;
}

Result<WrittenReport> write_report(store::Store& store, const config::Config& config, Time since,
                                   Time until) {
  report::ReportOptions options;
  options.since = since;
  options.until = until;
  options.dir = config.report_dir;
  options.formats = config.report_formats;
  if (auto s = report::check_options(options); !s) return s.error();
  auto gathered = report::gather(store, options);
  if (!gathered) return gathered.error();
  auto files = report::write_reports(*gathered, options);
  if (!files) return files.error();
  WrittenReport written;
  written.paths = std::move(files->paths);
  written.overview = report::tonight_lines(*gathered);
  for (const auto& incident : gathered->incidents) {
    if (incident.is_new) written.new_incidents.push_back(report::describe(incident));
  }
  written.html = report::render_html(*gathered);
  return written;
}

}  // namespace dw::daemon
