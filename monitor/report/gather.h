// Gathering the facts of a report from the store: one streamed pass over the samples of the
// baseline, the trend window and the period (counted per endpoint, category, language and
// day, never held), the runs and events of the period, and for each event about one probe a
// short SQL-filtered read of its typical answers.
#pragma once

#include "common/error.h"
#include "report/model.h"
#include "report/report.h"
#include "store/store.h"

namespace dw::report {

// The report for options (check_options() must pass). Fails only when the store does.
Result<Report> gather(store::Store& store, const ReportOptions& options);

// The events part of gather(): fills report.events and the event counts of report.headline.
// probe_info maps probe ids to (category, lang) for the probes seen by the sample pass.
Status gather_events(store::Store& store, const ReportOptions& options,
                     const std::map<std::string, std::pair<std::string, std::string>>& probe_info,
                     Report& report);

}  // namespace dw::report
