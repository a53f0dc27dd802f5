// The compiled side of a RuleSet: one RE2::Set per target to find which rules fire, and one
// RE2 per pattern to locate the (rare) rules that did.
#include <algorithm>

#include "analysis/rules.h"
#include "analysis/rules_internal.h"

namespace dw::analysis {

std::string_view target_name(Target target) {
  switch (target) {
    case Target::text: return "text";
    case Target::body: return "body";
    case Target::finish_reason: return "finish_reason";
    case Target::prompt: return "prompt";
  }
  return "text";
}

std::string_view vote_name(Vote vote) {
  switch (vote) {
    case Vote::refused: return "refused";
    case Vote::deflected: return "deflected";
    case Vote::filtered: return "filtered";
    case Vote::error: return "error";
    case Vote::narrative: return "narrative";
    case Vote::boilerplate: return "boilerplate";
    case Vote::attribution: return "attribution";
    case Vote::lecture: return "lecture";
    case Vote::pivot: return "pivot";
    case Vote::rebuttal: return "rebuttal";
    case Vote::trace: return "trace";
    case Vote::asks_content: return "asks_content";
    case Vote::asks_advocacy: return "asks_advocacy";
  }
  return "refused";
}

RE2::Options pattern_options() {
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_log_errors(false);
  return options;
}

RuleSet::RuleSet() : compiled_(std::make_unique<Compiled>()) {}
RuleSet::RuleSet(RuleSet&&) noexcept = default;
RuleSet& RuleSet::operator=(RuleSet&&) noexcept = default;
RuleSet::~RuleSet() = default;

void RuleSet::TEST_inject_fault(TestFault fault) { compiled_->fault = fault; }

const Rule* RuleSet::find(std::string_view id) const {
  for (const auto& rule : rules_) {
    if (rule.id == id) return &rule;
  }
  return nullptr;
}

namespace {

// The distinct rules behind the matching patterns of compiled, in rule order. When the shared
// set cannot answer (its DFA ran out of memory on this text), every pattern is asked alone:
// a single RE2 falls back to its NFA instead of failing, so the answer is exact either way.
RuleSet::Scan collect_fired(const RuleSet::Compiled::PerTarget& compiled,
                           const std::vector<Rule>& rules, std::string_view text,
                           std::vector<const Rule*>& out, std::vector<int>& indices,
                           RuleSet::TestFault fault) {
  using Scan = RuleSet::Scan;
  using Fault = RuleSet::TestFault;
  out.clear();
  if (!compiled.set) return Scan::exact;
  Scan how = Scan::exact;
  RE2::Set::ErrorInfo error{RE2::Set::kNoError};
  bool matched = compiled.set->Match(text, &indices, &error);
  if (fault != Fault::none) {
    matched = false;
    error.kind = RE2::Set::kOutOfMemory;
  }
  if (!matched) {
    if (error.kind == RE2::Set::kNoError) return Scan::exact;
    how = Scan::retried;
    indices.clear();
    for (size_t i = 0; i < compiled.patterns.size(); ++i) {
      const RE2& re = *compiled.patterns[i];
      if (!re.ok() || fault == Fault::all) how = Scan::failed;
      else if (RE2::PartialMatch(text, re)) indices.push_back(static_cast<int>(i));
    }
  }
  // Map to rule indices in place: rule_of is ascending, so sorting either gives rule order.
  for (int& index : indices) index = static_cast<int>(compiled.rule_of[static_cast<size_t>(index)]);
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  for (int r : indices) out.push_back(&rules[static_cast<size_t>(r)]);
  return how;
}

}  // namespace

bool weighs(Vote vote) {
  return vote == Vote::refused || vote == Vote::deflected || vote == Vote::filtered ||
         vote == Vote::narrative;
}

std::vector<const Rule*> RuleSet::fired(Target target, std::string_view text) const {
  std::vector<const Rule*> out;
  std::vector<int> indices;
  fired(target, text, out, indices);
  return out;
}

RuleSet::Scan RuleSet::fired(Target target, std::string_view text, std::vector<const Rule*>& out,
                    std::vector<int>& indices) const {
  return collect_fired(compiled_->targets[static_cast<size_t>(target)], rules_, text, out, indices,
                       compiled_->fault);
}

std::vector<Hit> RuleSet::scan(Target target, std::string_view text) const {
  std::vector<Hit> hits;
  const auto& compiled = compiled_->targets[static_cast<size_t>(target)];
  if (!compiled.set) return hits;
  std::vector<const Rule*> fired_rules;
  std::vector<int> indices;
  collect_fired(compiled, rules_, text, fired_rules, indices, compiled_->fault);
  for (size_t index = 0; index < compiled.patterns.size(); ++index) {
    const Rule* rule = &rules_[compiled.rule_of[index]];
    if (std::find(fired_rules.begin(), fired_rules.end(), rule) == fired_rules.end()) continue;
    const RE2& re = *compiled.patterns[index];
    size_t pos = 0;
    re2::StringPiece match;
    while (pos <= text.size() &&
           re.Match(text, pos, text.size(), RE2::UNANCHORED, &match, 1)) {
      size_t begin = static_cast<size_t>(match.data() - text.data());
      size_t end = begin + match.size();
      hits.push_back(Hit{rule, begin, end});
      pos = end > begin ? end : end + 1;  // load rejects empty matches; never loop forever
    }
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [](const Hit& a, const Hit& b) { return a.begin < b.begin; });
  return hits;
}

}  // namespace dw::analysis
