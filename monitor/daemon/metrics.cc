#include "daemon/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace dw::daemon {
namespace {

// A label value escaped as the exposition format requires: backslash, quote, line feed.
std::string escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest decimal that reads back as v: "0.1", not "0.10000000000000001".
std::string number(double v) {
  char buffer[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
    if (std::strtod(buffer, nullptr) == v) break;
  }
  return buffer;
}

void header(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

Metrics::Metrics(std::string version) : version_(std::move(version)) {}

const std::vector<double>& Metrics::latency_buckets() {
  static const std::vector<double> kBuckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return kBuckets;
}

void Metrics::record_run(Time run_at, const std::string& status,
                         const std::vector<SampleFacts>& samples, bool count) {
  std::map<std::pair<std::string, std::string>, long> per_group;  // (endpoint, category)
  std::map<std::tuple<std::string, std::string, std::string>, long> per_verdict;
  for (const auto& s : samples) {
    ++per_group[{s.endpoint, s.category}];
    ++per_verdict[{s.endpoint, s.category, s.verdict}];
  }
  std::lock_guard lock(mutex_);
  if (count) {
    ++runs_[status];
    const auto& bounds = latency_buckets();
    for (const auto& s : samples) {
      ++samples_[{s.endpoint, s.verdict}];
      Histogram& h = latency_[s.endpoint];
      h.buckets.resize(bounds.size());
      for (size_t i = 0; i < bounds.size(); ++i) {
        if (s.latency_seconds <= bounds[i]) ++h.buckets[i];
      }
      ++h.count;
      h.sum += s.latency_seconds;
    }
  }
  ratios_.clear();
  for (const auto& [key, n] : per_verdict) {
    const auto& [endpoint, category, verdict] = key;
    ratios_[key] = static_cast<double>(n) / static_cast<double>(per_group[{endpoint, category}]);
  }
  last_run_ = run_at;
}

void Metrics::set_last_run_duration(double seconds) {
  std::lock_guard lock(mutex_);
  last_run_seconds_ = seconds;
}

void Metrics::set_open_incidents(const std::map<std::string, long>& open) {
  std::lock_guard lock(mutex_);
  open_incidents_ = open;
}

void Metrics::record_judge_request(std::string_view outcome) {
  std::lock_guard lock(mutex_);
  auto it = judge_requests_.find(outcome);
  if (it == judge_requests_.end()) it = judge_requests_.emplace(std::string(outcome), 0).first;
  ++it->second;
}

void Metrics::set_open_events(const std::map<std::pair<std::string, std::string>, long>& open) {
  std::lock_guard lock(mutex_);
  open_events_ = open;
}

void Metrics::set_fleet_state(long backlog, std::optional<Time> last_push) {
  std::lock_guard lock(mutex_);
  fleet_backlog_ = backlog;
  fleet_last_push_ = last_push;
}

void Metrics::record_fleet_push_failure() {
  std::lock_guard lock(mutex_);
  ++fleet_push_failures_;
}

std::string Metrics::render() const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  header(out, "driftwatch_build_info", "gauge", "Version of the running driftwatch, always 1.");
  out << "driftwatch_build_info{version=\"" << escape(version_) << "\"} 1\n";

  header(out, "driftwatch_samples_total", "counter",
         "Samples stored by this process, by endpoint and verdict.");
  for (const auto& [key, n] : samples_) {
    out << "driftwatch_samples_total{endpoint=\"" << escape(key.first) << "\",verdict=\""
        << escape(key.second) << "\"} " << n << '\n';
  }

  header(out, "driftwatch_verdict_ratio", "gauge",
         "Share of each verdict among the last run's samples, by endpoint and probe category.");
  for (const auto& [key, ratio] : ratios_) {
    const auto& [endpoint, category, verdict] = key;
    out << "driftwatch_verdict_ratio{endpoint=\"" << escape(endpoint) << "\",category=\""
        << escape(category) << "\",verdict=\"" << escape(verdict) << "\"} " << number(ratio)
        << '\n';
  }

  header(out, "driftwatch_events_open", "gauge", "Drift events open now, by endpoint and type.");
  for (const auto& [key, n] : open_events_) {
    out << "driftwatch_events_open{endpoint=\"" << escape(key.first) << "\",type=\""
        << escape(key.second) << "\"} " << n << '\n';
  }

  header(out, "driftwatch_incidents_open", "gauge",
         "Incidents (events that are one change) with an open event, by endpoint.");
  for (const auto& [endpoint, n] : open_incidents_) {
    out << "driftwatch_incidents_open{endpoint=\"" << escape(endpoint) << "\"} " << n << '\n';
  }

  header(out, "driftwatch_request_duration_seconds", "histogram",
         "Latency of model requests (the final attempt), by endpoint.");
  const auto& bounds = latency_buckets();
  for (const auto& [endpoint, h] : latency_) {
    std::string label = "endpoint=\"" + escape(endpoint) + "\"";
    for (size_t i = 0; i < bounds.size(); ++i) {
      out << "driftwatch_request_duration_seconds_bucket{" << label << ",le=\""
          << number(bounds[i]) << "\"} " << h.buckets[i] << '\n';
    }
    out << "driftwatch_request_duration_seconds_bucket{" << label << ",le=\"+Inf\"} " << h.count
        << '\n';
    out << "driftwatch_request_duration_seconds_sum{" << label << "} " << number(h.sum) << '\n';
    out << "driftwatch_request_duration_seconds_count{" << label << "} " << h.count << '\n';
  }

  header(out, "driftwatch_runs_total", "counter", "Probe runs finished by this process, by status.");
  for (const auto& [status, n] : runs_) {
    out << "driftwatch_runs_total{status=\"" << escape(status) << "\"} " << n << '\n';
  }

  header(out, "driftwatch_judge_requests_total", "counter",
         "Requests to the [judge] by this process, by outcome (verdict, unusable, failed).");
  for (const auto& [outcome, n] : judge_requests_) {
    out << "driftwatch_judge_requests_total{outcome=\"" << escape(outcome) << "\"} " << n << '\n';
  }

  if (last_run_seconds_) {
    header(out, "driftwatch_last_run_duration_seconds", "gauge",
           "How long the last probe run took, from its start to its last sample stored.");
    out << "driftwatch_last_run_duration_seconds " << number(*last_run_seconds_) << '\n';
  }

  if (last_run_) {
    header(out, "driftwatch_last_run_timestamp_seconds", "gauge",
           "When the last probe run happened (its run_at), in seconds since the Unix epoch.");
    out << "driftwatch_last_run_timestamp_seconds " << last_run_->time_since_epoch().count()
        << '\n';
  }

  if (fleet_backlog_) {
    header(out, "driftwatch_fleet_backlog_runs", "gauge",
           "Finished runs not yet pushed to the fleet's central database.");
    out << "driftwatch_fleet_backlog_runs " << *fleet_backlog_ << '\n';
    header(out, "driftwatch_fleet_push_failures_total", "counter",
           "Rounds of pushing runs to the fleet's central database that failed, by this process.");
    out << "driftwatch_fleet_push_failures_total " << fleet_push_failures_ << '\n';
    if (fleet_last_push_) {
      header(out, "driftwatch_fleet_last_push_timestamp_seconds", "gauge",
             "When a run was last pushed to the fleet's central database, in seconds since the "
             "Unix epoch.");
      out << "driftwatch_fleet_last_push_timestamp_seconds "
          << fleet_last_push_->time_since_epoch().count() << '\n';
    }
  }
  return out.str();
}

}  // namespace dw::daemon
