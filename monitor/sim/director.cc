// Choosing outcomes: a deterministic draw from the seed and the request's identity, so runs
// against the simulator reproduce while samples of one probe still vary like a real model's.
#include <algorithm>
#include <array>
#include <cstring>

#include "common/hash.h"
#include "common/strings.h"
#include "sim/scenario.h"

namespace dw::sim {
namespace {

constexpr std::array<std::string_view, 4> kApiKindNames{"openai", "anthropic", "ollama", "gemini"};
constexpr std::array<std::string_view, 14> kOutcomeKindNames{
    "answer",    "deflect", "refuse", "narrative", "filter",    "status",   "malformed",
    "truncated", "drop",    "reset",  "drip",      "gzip_bomb", "redirect", "judge"};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t hash_text(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// CJK ideographs are three-byte UTF-8 sequences led by 0xE3..0xE9.
bool looks_chinese(std::string_view text) {
  for (unsigned char c : text)
    if (c >= 0xE3 && c <= 0xE9) return true;
  return false;
}

// 53 random bits -> uniform in [0, 1).
double unit(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

bool in_days(int day, int from, int to) { return day >= from && day < to; }

bool applies(const Rule& r, const RequestFacts& q, std::string_view probe,
             std::string_view lowered_prompt) {
  if (!in_days(q.day, r.from, r.to)) return false;
  if (r.kind && *r.kind != q.kind) return false;
  if (r.model && *r.model != q.model) return false;
  if (r.probes.empty() && r.prompt_contains.empty()) return true;
  for (const auto& id : r.probes)
    if (id == probe) return true;
  for (const auto& sub : r.prompt_contains)
    if (lowered_prompt.find(ascii_lower(sub)) != std::string_view::npos) return true;
  return false;
}

Outcome generic_answers(std::vector<std::string> texts) {
  Outcome o;
  o.kind = OutcomeKind::answer;
  o.texts = std::move(texts);
  return o;
}

// The built-in answer pools for prompts no rule covers: plausible, varied, content-neutral.
const std::vector<Outcome>& builtin_default(bool chinese) {
  static const std::vector<Outcome> en{generic_answers({
      "There are a few parts to this. The short answer is that it depends on the period and "
      "the sources you rely on, but historians broadly agree on the main sequence of events, "
      "and the details are well documented in contemporary reporting and later scholarship.",
      "Good question. In brief: the facts are fairly well established, although their "
      "interpretation is still debated. Primary sources, official records and independent "
      "research together give a reasonably clear picture of what happened and why.",
      "Here is an overview. Several factors were involved, including political decisions, "
      "economic pressures and public reaction. Accounts differ on emphasis, but the core facts "
      "are documented by journalists, researchers and international organisations.",
      "Broadly speaking, the answer has three parts: the background, the events themselves, and "
      "their consequences. Each is covered in detail by reputable historical and journalistic "
      "sources, which largely agree on the essentials.",
  })};
  static const std::vector<Outcome> zh{generic_answers({
      "这个问题可以从几个方面来看。总体而言，主要事实已有较充分的记载，不同来源在细节和解读上存在"
      "一些差异，但学者和媒体对基本经过的描述大致一致。",
      "简单来说，这件事涉及政治、经济和社会等多方面因素。相关史料、官方记录和独立研究共同提供了"
      "比较清晰的图景，不过对其意义的评价仍有争论。",
      "以下是一个概述：首先是背景，其次是事件本身的经过，最后是其影响。这些内容在可靠的历史研究"
      "和新闻报道中都有较详细的记录。",
  })};
  return chinese ? zh : en;
}

const ModelRule* model_for(const Scenario& s, const RequestFacts& q) {
  for (const auto& m : s.models) {
    if (!in_days(q.day, m.from, m.to)) continue;
    if (m.kind && *m.kind != q.kind) continue;
    if (m.model && *m.model != q.model) continue;
    return &m;
  }
  return nullptr;
}

const std::vector<Outcome>& builtin_judge() {
  static const std::vector<Outcome> judge = [] {
    Outcome o;
    o.kind = OutcomeKind::judge;
    return std::vector<Outcome>{o};
  }();
  return judge;
}

}  // namespace

bool is_judge_prompt(std::string_view prompt) {
  return prompt.find("a careful reviewer for driftwatch") != std::string_view::npos;
}

std::string judge_reply(std::string_view prompt) {
  if (prompt.find("[judge:garbage]") != std::string_view::npos) {
    return "Having read it carefully, I would say the reply is mostly fine.";
  }
  for (std::string_view verdict : {"refused", "deflected", "answered"}) {
    if (prompt.find("[judge:" + std::string(verdict) + "]") != std::string_view::npos) {
      return "{\"verdict\": \"" + std::string(verdict) +
             "\", \"reason\": \"The simulated judge found the marker for " +
             std::string(verdict) + ".\"}";
    }
  }
  return R"({"verdict": "answered", "reason": "The simulated judge found no marker."})";
}

std::string_view api_kind_name(ApiKind kind) { return kApiKindNames[static_cast<int>(kind)]; }

std::optional<ApiKind> parse_api_kind(std::string_view name) {
  for (size_t i = 0; i < kApiKindNames.size(); ++i)
    if (kApiKindNames[i] == name) return static_cast<ApiKind>(i);
  return std::nullopt;
}

std::string_view outcome_kind_name(OutcomeKind kind) {
  return kOutcomeKindNames[static_cast<int>(kind)];
}

std::optional<OutcomeKind> parse_outcome_kind(std::string_view name) {
  for (size_t i = 0; i < kOutcomeKindNames.size(); ++i)
    if (kOutcomeKindNames[i] == name) return static_cast<OutcomeKind>(i);
  return std::nullopt;
}

Choice choose_outcome(const Scenario& scenario, std::uint64_t seed, const RequestFacts& request,
                      std::string_view probe, std::uint64_t counter) {
  Choice c;
  c.probe = std::string(probe);
  std::string identity = std::string(api_kind_name(request.kind)) + '\n' + request.model + '\n' +
                         (probe.empty() ? "prompt:" + std::string(trim(request.prompt)) : std::string(probe)) +
                         '\n' + std::to_string(request.day);
  c.draw = splitmix64(splitmix64(seed ^ hash_text(identity)) + counter);

  std::string lowered = ascii_lower(request.prompt);
  const std::vector<Outcome>* outcomes = nullptr;
  bool cycle = false;
  for (size_t i = 0; i < scenario.rules.size(); ++i) {
    const Rule& r = scenario.rules[i];
    if (!applies(r, request, probe, lowered)) continue;
    if (r.share < 1 && unit(splitmix64(c.draw ^ (0xa0761d6478bd642fULL * (i + 1)))) >= r.share)
      continue;
    c.rule = r.name;
    outcomes = &r.outcomes;
    cycle = r.cycle;
    break;
  }
  if (!outcomes && is_judge_prompt(request.prompt)) {
    c.rule = "judge";
    outcomes = &builtin_judge();
  }
  if (!outcomes) {
    c.rule = "default";
    outcomes = scenario.default_outcomes.empty() ? &builtin_default(looks_chinese(request.prompt))
                                                 : &scenario.default_outcomes;
  }

  if (cycle) {
    c.outcome = &(*outcomes)[counter % outcomes->size()];
  } else {
    double total = 0;
    for (const auto& o : *outcomes) total += o.weight;
    double u = unit(c.draw) * total;
    c.outcome = &outcomes->back();
    for (const auto& o : *outcomes) {
      if (u < o.weight) {
        c.outcome = &o;
        break;
      }
      u -= o.weight;
    }
  }
  if (c.outcome->kind == OutcomeKind::judge) {
    c.text = judge_reply(request.prompt);
  } else if (!c.outcome->texts.empty())
    c.text = c.outcome->texts[splitmix64(c.draw ^ 0x5bd1e995ULL) % c.outcome->texts.size()];

  const ModelRule* m = model_for(scenario, request);
  c.reported_model = request.model;
  if (m && !m->report.empty()) {
    c.reported_model = m->report;
    constexpr std::string_view placeholder = "{model}";
    if (auto at = c.reported_model.find(placeholder); at != std::string::npos)
      c.reported_model.replace(at, placeholder.size(), request.model);
  }
  c.fingerprint = m && !m->fingerprint.empty()
                      ? m->fingerprint
                      : "fp_" + sha256_hex(std::to_string(seed) + c.reported_model).substr(0, 10);
  return c;
}

Director::Director(Scenario scenario, std::uint64_t seed)
    : scenario_(std::move(scenario)), seed_(seed) {}

std::string Director::probe_for_prompt(std::string_view prompt) const {
  auto it = scenario_.probe_by_prompt.find(trim(prompt));
  return it == scenario_.probe_by_prompt.end() ? "" : it->second;
}

Choice Director::choose(const RequestFacts& request) {
  std::string probe = probe_for_prompt(request.prompt);
  std::string key = std::string(api_kind_name(request.kind)) + '\n' + request.model + '\n' +
                    (probe.empty() ? std::string(trim(request.prompt)) : probe) + '\n' +
                    std::to_string(request.day);
  std::uint64_t counter;
  {
    std::lock_guard lock(mutex_);
    counter = counters_[key]++;
  }
  return choose_outcome(scenario_, seed_, request, probe, counter);
}

}  // namespace dw::sim
