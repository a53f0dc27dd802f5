// Prometheus metrics for the daemon: a snapshot of counters and gauges, rendered in the text
// exposition format (version 0.0.4) for GET /metrics.
//
//   driftwatch_build_info{version}                  gauge, always 1
//   driftwatch_samples_total{endpoint,verdict}      counter: samples stored by this process
//   driftwatch_verdict_ratio{endpoint,category,verdict}
//                                                   gauge: share of each verdict among the
//                                                   samples of the last run, per endpoint and
//                                                   probe category (0..1)
//   driftwatch_events_open{endpoint,type}           gauge: drift events open now
//   driftwatch_request_duration_seconds{endpoint}   histogram of request latency
//   driftwatch_runs_total{status}                   counter: runs finished by this process
//   driftwatch_last_run_timestamp_seconds           gauge: run_at of the last run (Unix time)
//   driftwatch_judge_requests_total{outcome}        counter: requests to the [judge] by outcome
//                                                   (verdict, unusable, failed)
//   driftwatch_last_run_duration_seconds            gauge: how long the last run took, from
//                                                   its start to its last sample stored
//   driftwatch_incidents_open{endpoint}             gauge: incidents (report/incidents.h) with
//                                                   an open event, by endpoint
//   driftwatch_fleet_backlog_runs                   gauge: finished runs not yet pushed to the
//                                                   fleet's central database ([fleet] only)
//   driftwatch_fleet_last_push_timestamp_seconds    gauge: when a run was last pushed (Unix
//                                                   time; absent until one was)
//   driftwatch_fleet_push_failures_total            counter: rounds of pushing that failed
//                                                   (daemon/pusher.h), by this process
//
// The fleet metrics appear once the pusher has read the backlog ([fleet] configured).
//
// Labels stay low-cardinality on purpose: endpoints, categories, verdicts and event types are
// few; there is never a label per probe or prompt. Counters start at zero with the process
// (Prometheus' rate() handles the reset); the gauges are seeded from the database at start.
//
// Threads: the job thread writes, the metrics server's thread reads; every call takes the one
// mutex, and render() builds the whole text under it, so a scrape sees one consistent snapshot.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/time.h"

namespace dw::daemon {

// What the metrics need of one stored sample.
struct SampleFacts {
  std::string endpoint;
  std::string category;
  std::string verdict;  // "unclassified" when the sample has no verdict yet
  double latency_seconds = 0;
};

class Metrics {
 public:
  explicit Metrics(std::string version);

  // A run that finished: its samples are counted and observed (when count is true) and become
  // the verdict ratios; run_at becomes the last-run timestamp. count = false seeds the gauges
  // from a run of an earlier process without counting its samples again.
  void record_run(Time run_at, const std::string& status, const std::vector<SampleFacts>& samples,
                  bool count);

  // One request to the judge ended with outcome (judge::OnRequest's words).
  void record_judge_request(std::string_view outcome);

  // The last run took this long.
  void set_last_run_duration(double seconds);

  // Replaces the open-incident gauge: endpoint -> incidents open now.
  void set_open_incidents(const std::map<std::string, long>& open);

  // Replaces the open-event gauge: (endpoint, type) -> how many are open.
  void set_open_events(const std::map<std::pair<std::string, std::string>, long>& open);

  // [fleet]: runs waiting to be pushed and when the last push was (absent: never). The first
  // call makes the fleet metrics appear.
  void set_fleet_state(long backlog, std::optional<Time> last_push);
  // One round of pushing failed.
  void record_fleet_push_failure();

  // The whole exposition, "# HELP" and "# TYPE" lines included.
  std::string render() const;

  // Upper bounds of the latency histogram, in seconds (+Inf is implied).
  static const std::vector<double>& latency_buckets();

 private:
  struct Histogram {
    std::vector<long> buckets;  // cumulative: [i] counts latencies <= latency_buckets()[i]
    long count = 0;
    double sum = 0;
  };

  const std::string version_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, long> samples_;  // (endpoint, verdict)
  std::map<std::tuple<std::string, std::string, std::string>, double> ratios_;
  std::map<std::pair<std::string, std::string>, long> open_events_;  // (endpoint, type)
  std::map<std::string, Histogram> latency_;                         // by endpoint
  std::map<std::string, long> runs_;                                 // by status
  std::map<std::string, long, std::less<>> judge_requests_;          // by outcome
  std::optional<Time> last_run_;
  std::optional<double> last_run_seconds_;
  std::map<std::string, long> open_incidents_;  // by endpoint
  std::optional<long> fleet_backlog_;           // absent: no [fleet], nothing rendered
  std::optional<Time> fleet_last_push_;
  long fleet_push_failures_ = 0;
};

}  // namespace dw::daemon
