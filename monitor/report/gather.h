// Gathering the facts of a report from the store: one streamed pass over the samples of the
// baseline, the trend window and the period (counted per endpoint, category, language and
// day, and per endpoint and probe for the language gap (language_gap.h), never held; the
// judge's opinions of the period's samples tallied in the same pass),
// the runs and events of the period, and for each event about one probe a short SQL-filtered
// read of its typical answers.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "report/model.h"
#include "report/report.h"
#include "store/store.h"

namespace dw::report {

// The report for options (check_options() must pass). Fails only when the store does.
Result<Report> gather(store::Store& store, const ReportOptions& options);

// The events part of gather(): fills report.events, report.incidents (incidents.h) and the
// event counts of report.headline.
// Probe id -> (category, lang).
using ProbeInfo = std::map<std::string, std::pair<std::string, std::string>>;

// Every stored probe's category and language, by id (every version keeps them; the last one
// read stands): what events name, however old, and whatever samples the report reads.
Result<ProbeInfo> stored_probe_info(store::Store& store);

// The report's view of one stored event: its JSON parsed (an empty object when not one) with
// every string sanitised, and its probe's category and language from probe_info. It is new
// when decided at or after new_since (always without one): an event dated back into an earlier
// period is new in the first report that could know it. It is resolved when the store says
// so before resolved_before (at any time without one).
EventEntry event_entry(const store::Event& ev, const ProbeInfo& probe_info,
                       std::optional<Time> new_since, std::optional<Time> resolved_before);

// probe_info maps probe ids to (category, lang): stored_probe_info().
Status gather_events(store::Store& store, const ReportOptions& options,
                     const ProbeInfo& probe_info, Report& report);

// The "rules and judge disagree" part of gather(), fed by its sample pass: counts the judged
// samples of the period per endpoint and verdict pair and keeps the newest few of each pair as
// candidate examples (at most kJudgeExamples per endpoint and pair), never the whole period.
class JudgeTally {
 public:
  explicit JudgeTally(Time since) : since_(since) {}
  // Rows in the sample pass's order (by run time); rows before since are ignored.
  void add(const store::SampleRow& row);
  // The summaries by endpoint (model.h, JudgeSummary), each example with the start of its
  // reply read from the store. Fails only when the store does.
  Result<std::vector<JudgeSummary>> finish(store::Store& store);

 private:
  struct Candidate {
    long seq = 0;  // position in the pass: higher is newer
    JudgeExample example;  // reason and excerpt not yet sanitised or cut
    std::string response_hash;
  };
  struct PairAcc {
    long samples = 0;
    std::deque<Candidate> newest;  // oldest first
  };
  struct EndpointAcc {
    JudgeSummary summary;
    std::map<std::pair<int, int>, PairAcc> pairs;  // by (rules, judge) index in kVerdicts
  };

  Time since_;
  long seq_ = 0;
  std::map<std::string, EndpointAcc> endpoints_;
};

}  // namespace dw::report
