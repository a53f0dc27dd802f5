#include "runner/runner.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>

#include "analysis/classifier.h"
#include "probes/expect.h"
#include "providers/providers.h"

namespace dw::runner {
namespace {

struct ProbeInfo {
  const probes::Probe* probe;
  int samples;
  std::optional<probes::ExpectMatcher> expect;  // compiled once per run, not per sample
  std::optional<analysis::PromptFeatures> features;  // likewise, when classifying
};

// One endpoint's work: its probes x samples, handed out one request at a time so that only the
// requests in flight exist.
struct EndpointWork {
  const config::Endpoint* endpoint = nullptr;
  std::string key;
  size_t next_probe = 0;
  int next_seq = 1;
  long remaining = 0;  // requests not yet handed to the transport
  EndpointTally tally;
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

// Whether the endpoint's requests can be sent with this key at all (a key or extra header with
// a line break cannot); the prompt plays no part in that.
Status check_sendable(const config::Endpoint& endpoint, std::string_view key) {
  auto request = providers::build_request(endpoint, "", key);
  if (!request) return request.error();
  return Status::Ok();
}

// The state of one run() call: what is planned, what came back, and the first store error.
class RunState {
 public:
  RunState(store::Store& store, const Clock& clock, const analysis::RuleSet* rules,
           const std::function<void(const Progress&)>& on_progress)
      : store_(store), clock_(clock), rules_(rules), on_progress_(on_progress) {}

  std::vector<ProbeInfo> probes;
  std::vector<std::unique_ptr<EndpointWork>> lanes;
  Summary summary;
  Progress progress;
  std::optional<Error> store_error;  // once set, no new request is handed out

  // The next request of a lane, or nullopt when it has none left (or the store failed).
  std::optional<transport::Request> next(EndpointWork& lane) {
    if (store_error || lane.remaining == 0) return std::nullopt;
    const ProbeInfo& info = probes[lane.next_probe];
    const int seq = lane.next_seq;
    if (++lane.next_seq > info.samples) {
      lane.next_seq = 1;
      ++lane.next_probe;
    }
    auto request = providers::build_request(*lane.endpoint, info.probe->prompt, lane.key);
    if (!request) {
      // Checked before the run with the same key and headers; only a defect lands here.
      skip(lane, request.error().to_string());
      return std::nullopt;
    }
    --lane.remaining;
    request->done = [this, &lane, &info, seq](transport::Response r) {
      on_done(lane, info, seq, std::move(r));
    };
    return std::move(*request);
  }

  // Takes what the lane will not send out of the plan.
  void skip(EndpointWork& lane, std::string why) {
    lane.tally.skipped = std::move(why);
    progress.total -= lane.remaining;
    summary.total = progress.total;
    lane.remaining = 0;
  }

  bool all_sent() const {
    for (const auto& lane : lanes)
      if (lane->remaining > 0) return false;
    return true;
  }

  // The transport's heartbeat (Options::commit_every): commits the samples the store holds,
  // however long the next answer takes.
  void commit() {
    if (store_error) return;
    if (Status s = store_.flush(); !s) store_error = s.error();
  }

 private:
  void on_done(EndpointWork& lane, const ProbeInfo& info, int seq, transport::Response response) {
    if (response.cancelled) {
      ++summary.cancelled;
      return;
    }
    if (store_error) return;  // the run is failing; nothing more is stored
    providers::Sample sample = providers::parse_response(lane.endpoint->kind, response, lane.key);
    std::optional<analysis::Classification> verdict;
    if (rules_) {
      analysis::ClassifyInput in = analysis::from_sample(sample, info.probe->prompt);
      in.lang = info.probe->lang;
      verdict = analysis::classify(*rules_, in, *info.features,
                                   info.expect ? &*info.expect : nullptr, &scratch_);
    }
    if (Status s = store(lane, info, seq, sample, verdict); !s) {
      store_error = s.error();
      return;
    }
    count(lane.tally, sample, verdict ? &*verdict : nullptr);
    ++summary.stored;
    if (response.past_deadline) ++summary.past_deadline;
    ++progress.done;
    if (!sample.error.empty()) ++progress.errors;
    if (sample.http_status != 0) ++summary.sent;
    if (on_progress_) on_progress_(progress);
  }

  Status store(const EndpointWork& lane, const ProbeInfo& info, int seq,
               const providers::Sample& sample,
               const std::optional<analysis::Classification>& verdict) {
    const Time now = clock_.now();
    store::SampleKey key{summary.run_id,      info.probe->id, info.probe->version,
                         lane.endpoint->name, seq,            lane.endpoint->model,
                         now};
    std::optional<store::Classification> stored;
    std::optional<store::Explanation> why;
    if (verdict) {
      stored = to_stored(*verdict, *rules_);
      why = explanation_of(*verdict);
    }
    auto id = store_.add_sample(key, sample, stored ? &*stored : nullptr, why ? &*why : nullptr);
    if (!id) return id.error();
    return Status::Ok();
  }

  store::Store& store_;
  const Clock& clock_;
  const analysis::RuleSet* rules_;
  analysis::ClassifyScratch scratch_;  // one thread classifies every response of the run
  const std::function<void(const Progress&)>& on_progress_;
};

}  // namespace

Runner::Runner(const config::Config& config, const std::vector<probes::ProbeSet>& sets,
               store::Store& store, transport::Transport& transport, const Clock& clock,
               const analysis::RuleSet* rules, Options options)
    : config_(config), sets_(sets), store_(store), transport_(transport), clock_(clock),
      rules_(rules), options_(options) {}

Result<Summary> Runner::run(Time run_at, const std::function<void(const Progress&)>& on_progress) {
  RunState state(store_, clock_, rules_, on_progress);
  std::vector<probes::Probe> all;
  long per_endpoint = 0;
  for (const auto& set : sets_) {
    for (const auto& p : set.probes) {
      all.push_back(p);
      ProbeInfo info{&p, p.samples.value_or(config_.samples), std::nullopt, std::nullopt};
      if (rules_) {
        info.features.emplace(*rules_, p.prompt);
        // Patterns were checked when the set loaded; create() cannot fail here.
        if (!p.expect.empty()) {
          if (auto e = probes::ExpectMatcher::create(p)) info.expect = std::move(*e);
        }
      }
      per_endpoint += info.samples;
      state.probes.push_back(std::move(info));
    }
  }
  if (auto s = store_.upsert_probes(all); !s) return s.error();
  all.clear();

  Summary& summary = state.summary;
  summary.run_at = run_at;
  for (const auto& ep : config_.endpoints) {
    auto lane = std::make_unique<EndpointWork>();
    lane->endpoint = &ep;
    lane->tally.endpoint = ep.name;
    if (auto s = store_.upsert_endpoint(ep.name, config::kind_name(ep.kind), ep.base_url, ep.model);
        !s) {
      return s.error();
    }
    // A key that cannot be read or sent fails every request alike: skip the endpoint instead.
    if (auto key = config::read_secret(ep.api_key); !key) {
      lane->tally.skipped = key.error().to_string();
    } else if (Status sendable = check_sendable(ep, *key); !sendable) {
      lane->tally.skipped = sendable.error().to_string();
    } else {
      lane->key = std::move(*key);
      lane->remaining = per_endpoint;
    }
    summary.total += lane->remaining;
    state.lanes.push_back(std::move(lane));
  }
  state.progress.total = summary.total;

  auto run_id = store_.begin_run(run_at, clock_.now());
  if (!run_id) return run_id.error();
  summary.run_id = *run_id;

  std::vector<transport::Lane> transport_lanes;
  for (auto& lane : state.lanes) {
    EndpointWork* work = lane.get();
    transport_lanes.push_back({work->endpoint->name, providers::lane_limits(*work->endpoint),
                               [&state, work] { return state.next(*work); }});
  }
  Status transported =
      transport_.run(std::move(transport_lanes), config_.run_deadline,
                     {std::chrono::duration_cast<transport::Millis>(options_.commit_every),
                      [&state] { state.commit(); }});

  std::optional<Error> failure = state.store_error;
  if (!failure) {
    if (Status s = store_.flush(); !s) failure = s.error();
  }
  if (!failure && !transported) failure = transported.error();
  summary.complete = !failure && state.all_sent() && summary.cancelled == 0;
  auto status = summary.complete ? store::RunStatus::complete : store::RunStatus::incomplete;
  Status finished = store_.finish_run(*run_id, clock_.now(), status);
  if (failure) return *failure;
  if (!finished) return finished.error();
  for (auto& lane : state.lanes) summary.endpoints.push_back(std::move(lane->tally));
  return std::move(summary);
}

store::Classification to_stored(const analysis::Classification& c, const analysis::RuleSet& rules) {
  return {std::string(analysis::verdict_name(c.verdict)), nlohmann::json(c.signals).dump(),
          c.narrative, c.expect_coverage, rules.version()};
}

store::Explanation explanation_of(const analysis::Classification& c) {
  return store::Explanation{c.uncertain, analysis::explanation_json(c)};
}

}  // namespace dw::runner
