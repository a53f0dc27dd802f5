// What the daemon does when a job is due, on the job thread (see daemon.h): a probe run
// followed by drift detection, metrics and notifications of new events, or a report followed
// by its notification. Problems are logged and summed up in the outcome, never thrown: a
// failed job leaves the daemon running and the next slot tries again.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "common/time.h"
#include "daemon/daemon.h"
#include "daemon/hooks.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/notifier.h"
#include "daemon/scheduler.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::daemon {

// Everything a job touches, borrowed from the daemon for the job's duration.
struct JobContext {
  const Setup& setup;
  store::Store& store;
  transport::Transport& transport;
  const Clock& clock;
  Metrics& metrics;
  Notifier& notifier;
  const Logger& log;
};

struct JobOutcome {
  bool ok = false;                    // the job did its main work (a run stored, a report written)
  std::string summary;                // one line for the log and systemd's STATUS
  std::optional<Time> run_at;         // of a probe run that was stored
  std::optional<long> open_events;    // after detection, when known
};

JobOutcome run_job(JobContext& ctx, const Job& job);

inline constexpr size_t kMaxListedIncidents = 50;  // new incidents a report's message lists

// The notification of a report written for [since, until), what people read instead of
// logging in to the monitor. Subject: "driftwatch report for DATE: N new incidents" (DATE of
// until - 1s, "no" for none). Text, for mail and webhooks alike, no file paths: "The report
// for SINCE to UNTIL is written. What changed:", a blank line, the overview lines; when the
// overview could not give every new incident a line, "New incidents (N):" and "- " + each
// line (at most kMaxListedIncidents, then how many more). html: report.html, with html_file
// the written .html file when there is one (mail carries it, notifier.h).
Message report_message(WrittenReport report, Time since, Time until);

// The number of open events per (endpoint, type), straight from the store.
Result<std::map<std::pair<std::string, std::string>, long>> count_open_events(
    store::Store& store);

// Seeds the metrics' gauges from the latest run in the store (nothing when there is none).
Status seed_metrics(store::Store& store, Metrics& metrics);

// The period a report at slot covers: from the report schedule's previous slot (or a day
// before, when there is none) up to slot.
Time report_period_start(const config::Config& config, Time slot);

}  // namespace dw::daemon
