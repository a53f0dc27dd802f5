#include "judge/judge.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "judge/prompt.h"
#include "providers/providers.h"

namespace dw::judge {
namespace {

// Rows read per query while looking for work: bounded memory whatever the backlog.
constexpr int kPage = 256;

// One distinct reply to ask the judge about, and the samples that carry it.
struct Ask {
  std::string hash;
  std::string text;
  std::string question;  // the probe prompt of the first sample found with this text
  std::vector<std::pair<int64_t, std::string>> samples;  // id, the rules' verdict
  std::string problem;   // why the judge's last reply was unusable; "" when it was not
  bool settled = false;  // stored (a verdict or unusable twice), or failed for this run
};

}  // namespace

Judge::Judge(const config::Judge& config, store::Store& store, transport::Transport& transport,
             const Clock& clock, OnRequest on_request)
    : config_(config),
      store_(store),
      transport_(transport),
      clock_(clock),
      on_request_(std::move(on_request)) {}

Result<Counts> Judge::run(const Scope& scope) {
  Counts counts;
  if (config_.when == config::Judge::When::never) return counts;
  const config::Endpoint& endpoint = config_.endpoint;
  auto key = config::read_secret(endpoint.api_key);
  if (!key) return Error("judge endpoint '" + endpoint.name + "': " + key.error().message());
  if (auto probe = providers::build_request(endpoint, "", *key); !probe) return probe.error();

  // 1. What to ask: pages of waiting samples, newest first, linked to earlier judgements at
  // once and gathered by text up to the budget.
  std::vector<Ask> asks;
  std::map<std::string, size_t, std::less<>> ask_of;  // hash -> index in asks
  std::vector<std::pair<int64_t, int64_t>> links;     // sample, judgement
  store::UnjudgedFilter filter{.model = endpoint.model,
                               .prompt_version = std::string(kPromptVersion),
                               .uncertain_only = config_.when == config::Judge::When::uncertain,
                               .since = scope.since,
                               .below_id = std::nullopt,
                               .limit = kPage};
  for (;;) {
    int rows = 0;
    links.clear();
    Status read = store_.for_each_unjudged(filter, [&](const store::Unjudged& u) {
      ++rows;
      filter.below_id = u.sample_id;
      if (u.judgement_id) {
        links.emplace_back(u.sample_id, *u.judgement_id);
        ++counts.cached;
        if (!u.judgement_verdict.empty() && u.judgement_verdict != u.rules_verdict) {
          ++counts.changed;
        }
      } else if (auto it = ask_of.find(u.response_hash); it != ask_of.end()) {
        asks[it->second].samples.emplace_back(u.sample_id, u.rules_verdict);
      } else if (static_cast<long>(asks.size()) < config_.max_per_run) {
        ask_of.emplace(u.response_hash, asks.size());
        Ask& ask = asks.emplace_back();
        ask.hash = u.response_hash;
        ask.text = u.text;
        ask.question = u.prompt;
        ask.samples.emplace_back(u.sample_id, u.rules_verdict);
      } else {
        ++counts.waiting;
      }
      return true;
    });
    if (!read) return read.error();
    for (const auto& [sample, judgement] : links) {
      if (Status s = store_.link_judgement(sample, judgement); !s) return s.error();
    }
    if (rows < kPage) break;
  }

  // 2. Ask; an unusable reply is asked once more in a second pass.
  std::optional<Error> failure;
  auto record = [&](Ask& ask, std::string verdict, std::string reason) {
    store::Judgement judgement;
    judgement.verdict = std::move(verdict);
    judgement.reason = std::move(reason);
    ask.settled = true;
    if (failure) return;
    judgement.model = endpoint.model;
    judgement.prompt_version = std::string(kPromptVersion);
    judgement.judged_at = clock_.now();
    auto id = store_.add_judgement(ask.hash, judgement);
    if (!id) {
      failure = id.error();
      return;
    }
    for (const auto& [sample, rules_verdict] : ask.samples) {
      if (Status s = store_.link_judgement(sample, *id); !s) {
        failure = s.error();
        return;
      }
      if (judgement.verdict.empty()) continue;
      ++counts.judged;
      if (judgement.verdict != rules_verdict) ++counts.changed;
    }
  };
  auto tell = [&](std::string_view outcome) {
    if (on_request_) on_request_(outcome);
  };

  for (int pass = 0; pass < 2 && !failure; ++pass) {
    const bool last = pass == 1;
    std::vector<size_t> todo;
    for (size_t i = 0; i < asks.size(); ++i) {
      if (!asks[i].settled) todo.push_back(i);
    }
    if (todo.empty()) break;
    counts.asked += last ? 0 : static_cast<long>(todo.size());
    size_t next = 0;
    transport::Lane lane{endpoint.name, providers::lane_limits(endpoint), nullptr};
    lane.next = [&]() -> std::optional<transport::Request> {
      if (next == todo.size()) return std::nullopt;
      const size_t i = todo[next++];
      auto request = providers::build_request(endpoint, judge_prompt(asks[i].question, asks[i].text),
                                              *key);
      // The key and headers were checked above; the prompt goes in the body, never a header.
      request->done = [&, i, last](transport::Response response) {
        Ask& ask = asks[i];
        providers::Sample reply = providers::parse_response(endpoint.kind, response, *key);
        if (response.cancelled || !reply.error.empty()) {
          tell("failed");
          ++counts.failed;
          ask.settled = true;  // nothing stored: its samples wait for the next run
          return;
        }
        auto opinion = read_opinion(reply.text);
        if (!opinion) {
          tell("unusable");
          ask.problem = opinion.error().message();
          if (last) {
            ++counts.unusable;
            record(ask, "", "unusable judge reply: " + ask.problem);
          }
          return;
        }
        tell("verdict");
        record(ask, opinion->verdict, opinion->reason);
      };
      return std::move(request).value();
    };
    std::vector<transport::Lane> lanes;
    lanes.push_back(std::move(lane));
    if (Status s = transport_.run(std::move(lanes), scope.deadline); !s) return s.error();
  }
  if (failure) return *failure;
  if (Status s = store_.flush(); !s) return s.error();
  return counts;
}

Result<std::optional<Counts>> after_run(const config::Config& config, store::Store& store,
                                        transport::Transport& transport, const Clock& clock,
                                        Time run_at, OnRequest on_request) {
  if (!config.judge) return std::optional<Counts>();
  Judge judge(*config.judge, store, transport, clock, std::move(on_request));
  auto counts = judge.run({.since = run_at - config.detection.baseline_window,
                           .deadline = transport::Millis(config.run_deadline)});
  if (!counts) return counts.error();
  return std::optional<Counts>(*counts);
}

std::string describe(const Counts& c) {
  auto n = [](long v, std::string_view one, std::string_view many) {
    return std::to_string(v) + " " + std::string(v == 1 ? one : many);
  };
  return "judged " + n(c.judged + c.cached, "sample", "samples") + " (" +
         std::to_string(c.cached) + " from earlier judgements, " + std::to_string(c.changed) +
         " changed) after asking about " + n(c.asked, "text", "texts") + "; " +
         n(c.unusable, "text", "texts") + " unusable, " + std::to_string(c.failed) +
         " unanswered, " + n(c.waiting, "sample", "samples") + " waiting";
}

}  // namespace dw::judge
