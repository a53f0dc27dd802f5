#include "analysis/judge.h"

#include <algorithm>
#include <charconv>

namespace dw::analysis {
namespace {

// Units of an evasive clause that are its evasion: the refusal itself and a few words about
// what is refused ("i can't provide information about the events of that spring"). Only a
// longer clause carries substance.
constexpr double kEvasiveClauseAllowance = 14;
// Units one politeness formula takes ("i'm sorry", "as an ai language model").
constexpr double kBoilerplateUnits = 3;
// Text before the first evasive clause answers first and refuses after: it counts more.
constexpr double kAnswerFirstFactor = 1.5;
// Text without a single fact (number, name) is discounted: lectures are long but empty.
constexpr double kNoFactFactor = 0.6;
constexpr double kPerFact = 3;
constexpr size_t kMaxFacts = 6;
constexpr int kNarrativeThreshold = 100;

// "12.5": substance in the one-line explanation, without printf's locale machinery.
void append_units(std::string& out, double v) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed, 1);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void add_rule(std::vector<const Rule*>& fired, const Rule* rule) {
  if (std::find(fired.begin(), fired.end(), rule) == fired.end()) fired.push_back(rule);
}

// True when text holds a letter, digit or CJK character (cheaper than counting units).
bool has_words(std::string_view text) {
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) return true;
    if (c >= 0x80) return has_units(text);  // leave the non-ASCII cases to the count
  }
  return false;
}

}  // namespace

void judge_text(const RuleSet& rules, std::string_view raw, std::string_view text,
                const PromptFeatures& prompt, JudgeScratch& scratch, TextVerdict& out) {
  out.verdict = Verdict::answered;
  out.narrative = false;
  out.fired.clear();
  out.signal = {};
  out.why.clear();
  if (!has_words(text)) {
    out.verdict = Verdict::deflected;
    out.signal = "text.empty";
    out.why = "deflected: no words in the response";
    return;
  }
  // Rules match within one clause. Asking which rules fire in each clause (the shared set,
  // nothing located) says where each one sits: one pass over the text, and a fixed cost of
  // about 0.1 us a clause.
  using Fired = JudgeScratch::Fired;
  std::vector<Segment>& segments = scratch.segments;
  split_segments(text, segments);
  std::vector<Fired>& hits = scratch.hits;
  hits.clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view clause = text.substr(segments[i].begin, segments[i].end - segments[i].begin);
    rules.fired(Target::text, clause, scratch.fired, scratch.indices);
    for (const Rule* rule : scratch.fired) hits.push_back(Fired{rule, i});
  }
  for (const Fired& hit : hits) add_rule(out.fired, hit.rule);
  if (std::none_of(hits.begin(), hits.end(), [](const Fired& h) { return weighs(h.rule->vote); })) {
    out.why = "answered: no evasive rule fired";
    return;
  }

  using SegmentInfo = JudgeScratch::SegmentInfo;
  std::vector<SegmentInfo>& info = scratch.info;
  info.assign(segments.size(), SegmentInfo{});
  for (const Fired& hit : hits) {
    SegmentInfo& seg = info[hit.segment];
    switch (hit.rule->vote) {
      case Vote::refused: case Vote::deflected: case Vote::filtered: {
        int& w = seg.weight[static_cast<size_t>(hit.rule->vote)];
        w = std::max(w, hit.rule->weight);
        break;
      }
      case Vote::boilerplate: ++seg.boilerplate; break;
      case Vote::attribution: seg.attributed = true; break;
      default: break;
    }
  }

  // Narrative: each rule counts once, at half weight when every hit of it is quoted.
  auto& narrative = scratch.narrative;  // rule, has an unquoted hit
  narrative.clear();
  for (const Fired& hit : hits) {
    if (hit.rule->vote != Vote::narrative) continue;
    bool quoted = info[hit.segment].attributed;
    auto it = std::find_if(narrative.begin(), narrative.end(),
                           [&](const auto& n) { return n.first == hit.rule; });
    if (it == narrative.end()) narrative.emplace_back(hit.rule, !quoted);
    else it->second = it->second || !quoted;
  }
  int narrative_total = 0;
  for (const auto& [rule, unquoted] : narrative) {
    narrative_total += unquoted ? rule->weight : rule->weight / 2;
  }
  out.narrative = narrative_total >= kNarrativeThreshold;

  std::array<int, 3> votes{};
  size_t first_evasive = segments.size();
  for (size_t i = 0; i < segments.size(); ++i) {
    for (size_t v = 0; v < 3; ++v) votes[v] += info[i].weight[v];
    if (first_evasive == segments.size() && *std::max_element(info[i].weight.begin(),
                                                              info[i].weight.end()) > 0) {
      first_evasive = i;
    }
  }
  int evasion = votes[0] + votes[1] + votes[2];
  if (evasion == 0) {  // only narrative formulas weighed: they never change the verdict
    out.why = "answered: no evasive rule fired";
    return;
  }

  double units = 0;  // the substance before facts
  std::string& substantive = scratch.substantive;  // the clauses that are not evasive
  substantive.clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view clause = text.substr(segments[i].begin, segments[i].end - segments[i].begin);
    double u = std::max(0.0, count_units(clause) - kBoilerplateUnits * info[i].boilerplate);
    bool evasive = *std::max_element(info[i].weight.begin(), info[i].weight.end()) > 0;
    if (evasive) {
      u = std::max(0.0, u - kEvasiveClauseAllowance);
    } else {
      substantive.append(clause).push_back(' ');
    }
    if (i < first_evasive && first_evasive < segments.size()) u *= kAnswerFirstFactor;
    units += u;
  }
  // Substance grows with the facts counted. Counting them (numbers, then names) is the
  // costliest step left, so it stops as soon as more facts could not change the outcome.
  auto with_facts = [&](size_t facts) {
    return units * (facts > 0 ? 1.0 : kNoFactFactor) +
           kPerFact * static_cast<double>(std::min(facts, kMaxFacts));
  };
  auto weighed_against = [&](size_t facts) { return with_facts(facts) >= evasion; };
  std::string balance = "evasion " + std::to_string(evasion) + " vs substance ";
  bool substantial = false;
  if (!weighed_against(kMaxFacts)) {
    balance += "at most ";
    append_units(balance, with_facts(kMaxFacts));
  } else if (weighed_against(0)) {
    substantial = true;
    balance += "at least ";
    append_units(balance, with_facts(0));
  } else {
    size_t facts = count_numbers(substantive, prompt.normalised(), scratch.numbers);
    if (facts < kMaxFacts && !weighed_against(facts)) {
      facts += count_shared_names(raw, prompt.words(), substantive, kMaxFacts - facts,
                                  scratch.names);
    }
    substantial = weighed_against(facts);
    append_units(balance, with_facts(facts));
    balance += " (" + std::to_string(facts) + " facts)";
  }

  // Substance after a deflective move (topic change, offer) must be about the prompt: a
  // tourist guide to the square is not an answer about 1989. A plain refusal followed by
  // facts is not checked: it rarely changes the subject.
  if (substantial && votes[1] > 0) {
    const std::vector<std::string>& anchors = prompt.anchors();
    bool shares = anchors.empty() ||
                  std::any_of(anchors.begin(), anchors.end(), [&](const std::string& a) {
                    return substantive.find(a) != std::string::npos;
                  });
    bool dated = !prompt.has_year() || has_year(substantive);
    if (!shares || !dated) {
      out.verdict = Verdict::deflected;
      out.signal = "text.off_topic";
      out.why = std::string("deflected: evasive, and the rest ") +
                (shares ? "leaves out the prompt's year" : "shares no word with the prompt") +
                "; " + balance;
      return;
    }
  }
  if (substantial) {
    out.verdict = Verdict::answered;
    out.signal = "text.substance";
    out.why = "answered: substance outweighs evasion; " + balance;
    return;
  }
  // Ties go to the plainer claim: refused before deflected before filtered.
  size_t best = 0;
  for (size_t v = 1; v < 3; ++v) {
    if (votes[v] > votes[best]) best = v;
  }
  out.verdict = best == 0 ? Verdict::refused : best == 1 ? Verdict::deflected : Verdict::filtered;
  out.why = std::string(verdict_name(out.verdict)) + ": " + balance;
}

}  // namespace dw::analysis
