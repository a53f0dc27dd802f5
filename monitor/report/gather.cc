#include "report/gather.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "report/language_gap.h"
#include "report/text.h"

namespace dw::report {
namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::seconds;

struct BlockAcc {
  CategoryBlock block;
  std::map<std::string, LanguageRow> languages;
};

struct HealthAcc {
  EndpointHealth health;
  std::vector<long> latencies_ms;  // the period's, for percentiles
  std::map<std::pair<std::string, std::string>, ModelSeen> models;
};

// The sample pass: everything counted per endpoint x category (x language, x day) and per
// endpoint, one row at a time.
class SampleTally {
 public:
  SampleTally(const Report& report, Time trend_start, int trend_days)
      : report_(report), trend_start_(trend_start), trend_days_(trend_days) {}

  void add(const store::SampleRow& row) {
    int verdict = verdict_index(row.classification ? row.classification->verdict : "");
    bool in_period = row.run_at >= report_.since;
    bool in_baseline = !in_period && row.run_at >= report_.baseline_since;
    if (in_period) ++samples_in_period_;

    BlockAcc& acc = block(row);
    if (row.run_at >= trend_start_) {
      auto day = floor<days>(row.run_at - trend_start_).count();
      if (day >= 0 && day < trend_days_) acc.block.trend[static_cast<size_t>(day)].counts.add(verdict);
    }
    if (in_period || in_baseline) {
      LanguageRow& lang = acc.languages.try_emplace(row.lang, LanguageRow{row.lang, {}, {}})
                              .first->second;
      (in_period ? acc.block.now : acc.block.baseline).add(verdict);
      (in_period ? lang.now : lang.baseline).add(verdict);
      add_health(row, verdict, in_period);
    }
  }

  long samples_in_period() const { return samples_in_period_; }

  std::vector<CategoryBlock> take_categories() {
    std::vector<CategoryBlock> out;
    for (auto& [key, acc] : blocks_) {
      for (auto& [lang, row] : acc.languages) acc.block.languages.push_back(std::move(row));
      out.push_back(std::move(acc.block));
    }
    std::stable_sort(out.begin(), out.end(), [](const CategoryBlock& a, const CategoryBlock& b) {
      return std::tie(a.endpoint, a.control, a.category) <
             std::tie(b.endpoint, b.control, b.category);
    });
    return out;
  }

  std::vector<EndpointHealth> take_health() {
    std::vector<EndpointHealth> out;
    for (auto& [name, acc] : health_) {
      finish_latencies(acc);
      finish_models(acc);
      out.push_back(std::move(acc.health));
    }
    return out;
  }

 private:
  BlockAcc& block(const store::SampleRow& row) {
    auto [it, inserted] = blocks_.try_emplace({row.key.endpoint, row.category});
    if (inserted) {
      it->second.block.endpoint = row.key.endpoint;
      it->second.block.category = row.category;
      it->second.block.trend.resize(static_cast<size_t>(trend_days_));
      for (int d = 0; d < trend_days_; ++d)
        it->second.block.trend[static_cast<size_t>(d)].date = format_date(trend_start_ + days(d));
    }
    // A category is a control category when its probes are controls.
    if (row.control) it->second.block.control = true;
    return it->second;
  }

  void add_health(const store::SampleRow& row, int verdict, bool in_period) {
    auto [it, inserted] = health_.try_emplace(row.key.endpoint);
    HealthAcc& acc = it->second;
    if (inserted) acc.health.endpoint = row.key.endpoint;
    (in_period ? acc.health.now : acc.health.baseline).add(verdict);
    if (in_period && verdict == kError) ++acc.health.http_status[row.sample.http_status];
    if (in_period && row.sample.http_status != 0) {
      acc.latencies_ms.push_back(static_cast<long>(row.sample.latency.count()));
    }
    if (row.sample.model.empty()) return;
    auto key = std::make_pair(row.sample.model, row.sample.system_fingerprint);
    auto [m, fresh] = acc.models.try_emplace(key);
    if (fresh) {
      m->second.model = sanitise_untrusted(row.sample.model);
      m->second.fingerprint = sanitise_untrusted(row.sample.system_fingerprint);
      m->second.first_seen = row.run_at;
    }
    m->second.last_seen = std::max(m->second.last_seen, row.run_at);
    ++m->second.samples;
  }

  static void finish_latencies(HealthAcc& acc) {
    auto& v = acc.latencies_ms;
    acc.health.latency_samples = static_cast<long>(v.size());
    if (v.empty()) return;
    std::sort(v.begin(), v.end());
    // Nearest-rank percentiles: always a latency that was observed.
    auto rank = [&v](double p) {
      auto r = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
      return v[std::clamp<size_t>(r, 1, v.size()) - 1];
    };
    acc.health.p50_ms = rank(0.50);
    acc.health.p90_ms = rank(0.90);
    acc.health.p99_ms = rank(0.99);
    acc.health.max_ms = v.back();
  }

  void finish_models(HealthAcc& acc) const {
    bool seen_before = false;
    for (auto& [key, m] : acc.models) seen_before |= m.first_seen < report_.since;
    for (auto& [key, m] : acc.models) {
      m.new_in_period = seen_before && m.first_seen >= report_.since;
      acc.health.model_changed |= m.new_in_period;
      acc.health.models.push_back(std::move(m));
    }
    std::stable_sort(acc.health.models.begin(), acc.health.models.end(),
                     [](const ModelSeen& a, const ModelSeen& b) {
                       return a.first_seen < b.first_seen;
                     });
  }

  const Report& report_;
  Time trend_start_;
  int trend_days_;
  long samples_in_period_ = 0;
  std::map<std::pair<std::string, std::string>, BlockAcc> blocks_;
  std::map<std::string, HealthAcc> health_;
};

void judge_health(const ReportOptions& options, Report& report) {
  for (auto& h : report.health) {
    auto share = h.now.error_share();
    if (h.now.total() == 0) {
      h.reason = "no samples in the period";
    } else if (share && *share > options.unhealthy_error_share) {
      h.reason = std::to_string(static_cast<int>(std::lround(*share * 100))) + "% errors";
    }
    for (const auto& e : report.events) {
      if (e.type == "endpoint_health" && e.endpoint == h.endpoint && !e.resolved) {
        h.reason += h.reason.empty() ? "" : "; ";
        h.reason += "endpoint_health event " + std::to_string(e.id) + " open";
        break;
      }
    }
    h.healthy = h.reason.empty();
    ++(h.healthy ? report.headline.endpoints_healthy : report.headline.endpoints_unhealthy);
  }
}

}  // namespace

Result<Report> gather(store::Store& store, const ReportOptions& options) {
  Report report;
  report.since = options.since;
  report.until = options.until;
  report.baseline_since = options.since - options.baseline;
  report.date = format_date(options.until - seconds(1));

  auto runs = store.for_each_run(options.since, options.until, [&](const store::RunInfo& run) {
    ++report.headline.runs;
    if (run.status != store::RunStatus::complete) ++report.headline.incomplete_runs;
    return true;
  });
  if (!runs) return runs.error();

  Time last_day = floor<days>(options.until - seconds(1));
  Time trend_start = last_day - days(options.trend_days - 1);
  SampleTally tally(report, trend_start, options.trend_days);
  JudgeTally judges(options.since);
  LanguageGapTally gaps(report.baseline_since, options.since);
  store::SampleFilter filter{.since = std::min(trend_start, report.baseline_since),
                             .until = options.until,
                             .with_text = false};
  auto samples = store.for_each_sample(filter, [&](const store::SampleRow& row) {
    tally.add(row);
    judges.add(row);
    gaps.add(row);
    return true;
  });
  if (!samples) return samples.error();
  report.headline.samples = tally.samples_in_period();
  report.categories = tally.take_categories();
  report.language_gap = gaps.finish();
  report.health = tally.take_health();
  auto judged = judges.finish(store);
  if (!judged) return judged.error();
  report.judge = std::move(*judged);

  // The probes of events come from the store, not from the samples read: an event still open
  // after its probe's samples left the report's windows keeps its category.
  auto probe_info = stored_probe_info(store);
  if (!probe_info) return probe_info.error();
  if (auto events = gather_events(store, options, *probe_info, report); !events)
    return events.error();
  judge_health(options, report);
  return report;
}

}  // namespace dw::report
