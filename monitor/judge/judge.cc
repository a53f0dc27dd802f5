#include "judge/judge.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "judge/prompt.h"
#include "providers/providers.h"

namespace dw::judge {
namespace {

// Rows read per query while looking for work: bounded memory whatever the backlog.
constexpr int kPage = 256;

// Finish reasons that say the judge's provider stopped the request: asking again gets the same.
constexpr std::array<std::string_view, 6> kFiltered = {
    "content_filter", "refusal", "SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"};
// Finish reasons that say the reply was cut at max_tokens: nothing to record, the config to fix.
constexpr std::array<std::string_view, 3> kCut = {"length", "max_tokens", "MAX_TOKENS"};

template <size_t N>
bool one_of(const std::array<std::string_view, N>& words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

// One line of valid UTF-8 for the store and the log.
std::string one_line(std::string text) {
  repair_utf8(text);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return shorten_at_word(text, 300);
}

struct Sample {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string rules_verdict;
};

// One distinct reply to ask the judge about, and the samples that carry it.
struct Ask {
  std::string hash;
  std::string text;
  std::string question;  // the probe prompt of the first sample found with this text
  std::vector<Sample> samples;
  bool settled = false;  // recorded, or left for a later run
};

// What one call works through: the asks, by text.
struct Plan {
  std::vector<Ask> asks;
  std::map<std::string, size_t, std::less<>> by_hash;  // hash -> index in asks
};

// How a finished request ended.
enum class Outcome { verdict, retry, unusable, failed };

}  // namespace

struct Judge::Pass {
  Judge& judge;
  const Scope& scope;
  const std::string& key;
  Counts& counts;
  std::optional<Error> failure;

  // Stores what the judge said of ask (a verdict, or "" with why it was unusable), links its
  // samples and commits: no write lock is held while waiting for the next reply.
  void record(Ask& ask, const std::string& verdict, const std::string& reason) {
    ask.settled = true;
    if (failure) return;
    store::Judgement j;
    j.verdict = verdict;
    j.reason = reason;
    j.model = judge.config_.endpoint.model;
    j.prompt_version = std::string(kPromptVersion);
    j.judged_at = judge.clock_.now();
    auto id = judge.store_.add_judgement(ask.hash, j);
    if (!id) {
      failure = id.error();
      return;
    }
    for (const Sample& s : ask.samples) {
      if (Status st = judge.store_.link_judgement(s.id, *id); !st) {
        failure = st.error();
        return;
      }
      if (verdict.empty()) continue;
      ++counts.judged;
      if (verdict != s.rules_verdict) count_change(s.run_id);
    }
    if (Status st = judge.store_.flush(); !st) failure = st.error();
  }

  void count_change(int64_t run_id) {
    ++counts.changed;
    if (scope.run_id && run_id != *scope.run_id) ++counts.changed_earlier;
  }

  // What the reply to ask says; problem is filled when it is not a verdict.
  Outcome read(const transport::Response& response, std::string& verdict, std::string& reason,
               std::string& problem) const {
    const config::Endpoint& endpoint = judge.config_.endpoint;
    providers::Sample reply = providers::parse_response(endpoint.kind, response, key);
    const int status = response.http_status;
    if (response.cancelled || !response.error.empty() || status == 0 || status == 408 ||
        status == 429 || status >= 500) {
      problem = response.error.empty() ? reply.error : response.error;
      return Outcome::failed;  // the judge was not there: its samples wait
    }
    if (status >= 400) {
      problem = "the judge's endpoint refused the request: " + reply.error;
      return Outcome::unusable;  // a 4xx does not change by asking again
    }
    if (!reply.block_reason.empty() || one_of(kFiltered, reply.finish_reason)) {
      problem = "the judge's provider filtered the request (" +
                (reply.block_reason.empty() ? reply.finish_reason : reply.block_reason) + ")";
      return Outcome::unusable;
    }
    if (!reply.error.empty()) {
      problem = reply.error;
      return Outcome::retry;
    }
    auto opinion = read_opinion(reply.text);
    if (opinion) {
      verdict = opinion->verdict;
      reason = opinion->reason;
      return Outcome::verdict;
    }
    problem = opinion.error().message();
    if (one_of(kCut, reply.finish_reason)) {
      problem = "the judge's reply was cut at max_tokens (" + reply.finish_reason +
                "): raise [judge] max_tokens";
      return Outcome::failed;  // recording it would keep the text from ever being judged
    }
    return Outcome::retry;
  }

  // Sends every ask in todo once, within time; last: an unusable reply is recorded as such.
  Status send(Plan& plan, const std::vector<size_t>& todo, bool last,
              std::optional<transport::Millis> time) {
    const config::Endpoint& endpoint = judge.config_.endpoint;
    size_t next = 0;
    transport::Lane lane{endpoint.name, providers::lane_limits(endpoint), nullptr};
    lane.next = [&]() -> std::optional<transport::Request> {
      if (next == todo.size()) return std::nullopt;
      const size_t i = todo[next++];
      // The key and headers were checked before; the prompt goes in the body, never a header.
      auto request = providers::build_request(
          endpoint, judge_prompt(plan.asks[i].question, plan.asks[i].text), key);
      request->done = [&, i, last](transport::Response response) {
        Ask& ask = plan.asks[i];
        std::string verdict, reason, problem;
        switch (read(response, verdict, reason, problem)) {
          case Outcome::verdict:
            judge.tell("verdict");
            record(ask, verdict, reason);
            return;
          case Outcome::failed:
            judge.tell("failed");
            ++counts.failed;
            counts.note = one_line(problem);
            ask.settled = true;  // nothing stored: its samples wait for the next run
            return;
          case Outcome::retry:
            judge.tell("unusable");
            if (!last) return;
            break;
          case Outcome::unusable:
            judge.tell("unusable");
            break;
        }
        ++counts.unusable;
        counts.note = one_line(problem);
        record(ask, "", "unusable judge reply: " + one_line(problem));
      };
      return std::move(request).value();
    };
    std::vector<transport::Lane> lanes;
    lanes.push_back(std::move(lane));
    return judge.transport_.run(std::move(lanes), time);
  }
};

Judge::Judge(const config::Judge& config, store::Store& store, transport::Transport& transport,
             const Clock& clock, OnRequest on_request)
    : config_(config),
      store_(store),
      transport_(transport),
      clock_(clock),
      on_request_(std::move(on_request)) {}

void Judge::tell(std::string_view outcome) const {
  if (on_request_) on_request_(outcome);
}

Result<Counts> Judge::run(const Scope& scope) {
  Counts counts;
  if (config_.when == config::Judge::When::never) return counts;
  const config::Endpoint& endpoint = config_.endpoint;
  auto key = config::read_secret(endpoint.api_key);
  if (!key) return Error("judge endpoint '" + endpoint.name + "': " + key.error().message());
  if (auto probe = providers::build_request(endpoint, "", *key); !probe) return probe.error();
  const auto start = std::chrono::steady_clock::now();

  // 1. What to ask: pages of waiting samples, newest first, linked to earlier judgements at
  // once and gathered by text up to the budget. Committed before any request is sent.
  Plan plan;
  Pass pass{*this, scope, *key, counts, std::nullopt};
  store::UnjudgedFilter filter{.model = endpoint.model,
                               .prompt_version = std::string(kPromptVersion),
                               .uncertain_only = config_.when == config::Judge::When::uncertain,
                               .since = scope.since,
                               .below_id = std::nullopt,
                               .limit = kPage};
  std::vector<std::pair<int64_t, int64_t>> links;  // sample, judgement
  for (;;) {
    int rows = 0;
    links.clear();
    Status read = store_.for_each_unjudged(filter, [&](const store::Unjudged& u) {
      ++rows;
      filter.below_id = u.sample_id;
      const Sample sample{u.sample_id, u.run_id, u.rules_verdict};
      if (u.judgement_id) {
        links.emplace_back(u.sample_id, *u.judgement_id);
        ++counts.cached;
        if (!u.judgement_verdict.empty() && u.judgement_verdict != u.rules_verdict) {
          pass.count_change(u.run_id);
        }
      } else if (auto it = plan.by_hash.find(u.response_hash); it != plan.by_hash.end()) {
        plan.asks[it->second].samples.push_back(sample);
      } else if (static_cast<long>(plan.asks.size()) < config_.max_per_run) {
        plan.by_hash.emplace(u.response_hash, plan.asks.size());
        plan.asks.push_back({u.response_hash, u.text, u.prompt, {sample}});
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
  if (Status s = store_.flush(); !s) return s.error();

  // 2. Ask, within the deadline counted from the start of this call; an unusable reply is
  // asked once more in a second pass.
  for (int round = 0; round < 2 && !pass.failure; ++round) {
    std::vector<size_t> todo;
    for (size_t i = 0; i < plan.asks.size(); ++i) {
      if (!plan.asks[i].settled) todo.push_back(i);
    }
    if (todo.empty()) break;
    std::optional<transport::Millis> time;
    if (scope.deadline) {
      time = *scope.deadline - std::chrono::duration_cast<transport::Millis>(
                                   std::chrono::steady_clock::now() - start);
      if (time->count() <= 0) {  // no time left: these wait for the next run
        for (size_t i : todo) counts.waiting += static_cast<long>(plan.asks[i].samples.size());
        break;
      }
    }
    if (round == 0) counts.asked = static_cast<long>(todo.size());
    if (Status s = pass.send(plan, todo, round == 1, time); !s) return s.error();
  }
  if (pass.failure) return *pass.failure;
  if (Status s = store_.flush(); !s) return s.error();
  return counts;
}

Result<std::optional<Counts>> after_run(const config::Config& config, store::Store& store,
                                        transport::Transport& transport, const Clock& clock,
                                        int64_t run_id, Time run_at, transport::Millis time_left,
                                        OnRequest on_request) {
  if (!config.judge) return std::optional<Counts>();
  Judge judge(*config.judge, store, transport, clock, std::move(on_request));
  auto counts = judge.run({.since = run_at - config.detection.baseline_window,
                           .deadline = std::max(time_left, transport::Millis(0)),
                           .run_id = run_id});
  if (!counts) return counts.error();
  return std::optional<Counts>(*counts);
}

std::string describe(const Counts& c) {
  auto n = [](long v, std::string_view one, std::string_view many) {
    return std::to_string(v) + " " + std::string(v == 1 ? one : many);
  };
  std::string line = "judged " + n(c.judged + c.cached, "sample", "samples") + " (" +
                     std::to_string(c.cached) + " from earlier judgements, " +
                     std::to_string(c.changed) + " changed) after asking about " +
                     n(c.asked, "text", "texts") + "; " + n(c.unusable, "text", "texts") +
                     " unusable, " + std::to_string(c.failed) + " unanswered, " +
                     n(c.waiting, "sample", "samples") + " waiting";
  // The note may quote a reply (its verdict): printed and logged, so controls escaped.
  if (!c.note.empty()) line += " (last problem: " + escape_controls(c.note) + ")";
  return line;
}

}  // namespace dw::judge
