#include "runner/runner.h"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>

#include "analysis/classifier.h"
#include "providers/providers.h"

namespace dw::runner {
namespace {

// One endpoint's work: its probes x samples, handed out one request at a time so that only the
// requests in flight exist.
struct EndpointWork {
  const config::Endpoint* endpoint = nullptr;
  std::string key;
  size_t next_probe = 0;
  int next_seq = 1;
  EndpointTally tally;
};

struct ProbeInfo {
  const probes::Probe* probe;
  int samples;
  std::optional<analysis::ExpectPatterns> expect;
};

void count(EndpointTally& t, const providers::Sample& s, const analysis::Classification* c) {
  ++t.samples;
  if (s.http_status == 0) {
    ++t.no_response;
  } else if (s.http_status >= 500) {
    ++t.server;
  } else if (s.http_status >= 400) {
    ++t.client;
  } else if (!s.error.empty()) {
    ++t.malformed;
  } else {
    ++t.ok;
  }
  if (c && c->verdict == analysis::Verdict::filtered) ++t.filtered;
}

}  // namespace

Runner::Runner(const config::Config& config, const std::vector<probes::ProbeSet>& sets,
               store::Store& store, transport::Transport& transport, const Clock& clock,
               const analysis::RuleSet* rules)
    : config_(config), sets_(sets), store_(store), transport_(transport), clock_(clock),
      rules_(rules) {}

Result<Summary> Runner::run(Time run_at, const std::function<void(const Progress&)>& on_progress) {
  std::vector<ProbeInfo> probes;
  std::vector<probes::Probe> all;
  for (const auto& set : sets_) {
    for (const auto& p : set.probes) {
      all.push_back(p);
      probes.push_back({&p, p.samples.value_or(config_.samples), std::nullopt});
      if (rules_ && !p.expect.empty()) {
        // Patterns were checked when the set loaded; compile() cannot fail here.
        if (auto e = analysis::ExpectPatterns::compile(p.expect)) probes.back().expect = *e;
      }
    }
  }
  if (auto s = store_.upsert_probes(all); !s) return s.error();

  Summary summary;
  summary.run_at = run_at;
  std::vector<std::unique_ptr<EndpointWork>> lanes;
  for (const auto& ep : config_.endpoints) {
    auto lane = std::make_unique<EndpointWork>();
    lane->endpoint = &ep;
    lane->tally.endpoint = ep.name;
    if (auto s = store_.upsert_endpoint(ep.name, config::kind_name(ep.kind), ep.base_url, ep.model);
        !s) {
      return s.error();
    }
    if (auto key = config::read_secret(ep.api_key)) {
      lane->key = *key;
    } else {
      lane->tally.skipped = key.error().to_string();
      lane->next_probe = probes.size();
    }
    for (const auto& p : probes) {
      if (lane->tally.skipped.empty()) summary.total += p.samples;
    }
    lanes.push_back(std::move(lane));
  }

  auto run_id = store_.begin_run(run_at, clock_.now());
  if (!run_id) return run_id.error();
  summary.run_id = *run_id;

  Progress progress{0, summary.total, 0};
  std::optional<Error> store_error;
  bool cut_short = false;

  auto on_done = [&](EndpointWork& lane, const ProbeInfo& info, int seq, transport::Response response) {
    if (response.cancelled) cut_short = true;
    if (response.cancelled && response.attempts == 0) return;  // never sent: not a sample
    providers::Sample sample = providers::parse_response(lane.endpoint->kind, response, lane.key);
    store::SampleKey key{*run_id,          info.probe->id, info.probe->version,
                         lane.endpoint->name, seq,        lane.endpoint->model,
                         clock_.now()};
    std::optional<analysis::Classification> verdict;
    if (rules_) {
      verdict = analysis::classify(*rules_, analysis::from_sample(sample, info.probe->prompt),
                                   info.expect ? &*info.expect : nullptr);
    }
    count(lane.tally, sample, verdict ? &*verdict : nullptr);
    ++progress.done;
    if (!sample.error.empty()) ++progress.errors;
    if (sample.http_status != 0) ++summary.sent;
    if (store_error) return;
    auto id = store_.add_sample(key, sample);
    if (!id) {
      store_error = id.error();
      transport_.stop();
      return;
    }
    if (verdict) {
      store::Classification c{std::string(analysis::verdict_name(verdict->verdict)),
                              nlohmann::json(verdict->signals).dump(), verdict->narrative,
                              verdict->expect_coverage, rules_->version()};
      if (auto s = store_.set_classification(*id, c); !s) {
        store_error = s.error();
        transport_.stop();
        return;
      }
    }
    if (on_progress) on_progress(progress);
  };

  std::vector<transport::Lane> transport_lanes;
  for (auto& lane_ptr : lanes) {
    EndpointWork* lane = lane_ptr.get();
    transport::Source next = [&, lane]() -> std::optional<transport::Request> {
      if (lane->next_probe >= probes.size()) return std::nullopt;
      const ProbeInfo& info = probes[lane->next_probe];
      int seq = lane->next_seq;
      if (++lane->next_seq > info.samples) {
        lane->next_seq = 1;
        ++lane->next_probe;
      }
      auto request = providers::build_request(*lane->endpoint, info.probe->prompt, lane->key);
      if (!request) {
        // A key or header that cannot be sent fails every request alike: skip the endpoint,
        // and take what it will not send out of the progress total.
        lane->tally.skipped = request.error().to_string();
        progress.total -= info.samples - seq + 1;
        for (size_t i = static_cast<size_t>(&info - probes.data()) + 1; i < probes.size(); ++i) {
          progress.total -= probes[i].samples;
        }
        summary.total = progress.total;
        lane->next_probe = probes.size();
        return std::nullopt;
      }
      request->done = [&, lane, seq, info_ptr = &info](transport::Response r) {
        on_done(*lane, *info_ptr, seq, std::move(r));
      };
      return std::move(*request);
    };
    transport_lanes.push_back(
        {lane->endpoint->name, providers::lane_limits(*lane->endpoint), std::move(next)});
  }

  Status transported = transport_.run(std::move(transport_lanes));
  if (!store_error) {
    if (auto s = store_.flush(); !s) store_error = s.error();
  }
  summary.complete = transported.ok() && !store_error && !cut_short;
  auto status = summary.complete ? store::RunStatus::complete : store::RunStatus::incomplete;
  Status finished = store_.finish_run(*run_id, clock_.now(), status);
  if (store_error) return *store_error;
  if (!finished) return finished.error();
  if (!transported) return transported.error();
  for (auto& lane : lanes) summary.endpoints.push_back(std::move(lane->tally));
  return summary;
}

}  // namespace dw::runner
