#include "analysis/classifier.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "analysis/normalise.h"
#include "analysis/text_features.h"

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

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c <= 0x20; });
}

void add_signal(std::vector<std::string>& signals, std::string_view name) {
  if (std::find(signals.begin(), signals.end(), name) == signals.end())
    signals.emplace_back(name);
}

std::string format_units(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

struct TextVerdict {
  Verdict verdict = Verdict::answered;
  bool narrative = false;
  std::vector<std::string> signals;
  std::string why;
};

// True when text holds a letter, digit or CJK character (cheaper than counting units).
bool has_words(std::string_view text) {
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) return true;
    if (c >= 0x80) return has_units(text);  // leave the non-ASCII cases to the count
  }
  return false;
}

TextVerdict judge_text(const RuleSet& rules, std::string_view raw, std::string_view text,
                       std::string_view prompt) {
  TextVerdict out;
  if (!has_words(text)) {
    out.verdict = Verdict::deflected;
    add_signal(out.signals, "text.empty");
    out.why = "deflected: no words in the response";
    return out;
  }
  // Most answers trip no rule that weighs: one scan that stops at the first such match says
  // so, and the rules that did fire (politeness, attribution) are the signals.
  std::vector<const Rule*> fired;
  std::vector<int> scratch;
  if (!rules.any_weighing(text)) {
    rules.fired_quiet(text, fired, scratch);
    for (const Rule* rule : fired) add_signal(out.signals, rule->id);
    out.why = "answered: no evasive rule fired";
    return out;
  }
  // Rules match within one clause. Asking which rules fire in each clause (one pass of the
  // shared set, nothing located) says where each one sits.
  std::vector<Segment> segments = split_segments(text);
  struct Fired {
    const Rule* rule;
    size_t segment;
  };
  std::vector<Fired> hits;
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view clause = text.substr(segments[i].begin, segments[i].end - segments[i].begin);
    rules.fired(Target::text, clause, fired, scratch);
    for (const Rule* rule : fired) hits.push_back(Fired{rule, i});
  }
  bool weighed = std::any_of(hits.begin(), hits.end(),
                             [](const Fired& h) { return weighs(h.rule->vote); });
  for (const Fired& hit : hits) add_signal(out.signals, hit.rule->id);
  if (!weighed) {
    out.why = "answered: no evasive rule fired";
    return out;
  }

  struct SegmentInfo {
    std::array<int, 3> weight{};  // max weight per evasive vote: refused, deflected, filtered
    int boilerplate = 0;          // boilerplate rules that fired in it
    bool attributed = false;
  };
  std::vector<SegmentInfo> info(segments.size());
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
  std::vector<std::pair<const Rule*, bool>> narrative;  // rule, has an unquoted hit
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

  double substance = 0;
  std::string substantive;  // the clauses that are not evasive, for facts and relevance
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string_view clause = text.substr(segments[i].begin, segments[i].end - segments[i].begin);
    double units = std::max(0.0, count_units(clause) - kBoilerplateUnits * info[i].boilerplate);
    bool evasive = *std::max_element(info[i].weight.begin(), info[i].weight.end()) > 0;
    if (evasive) {
      units = std::max(0.0, units - kEvasiveClauseAllowance);
    } else {
      substantive.append(clause).push_back(' ');
    }
    if (i < first_evasive && first_evasive < segments.size()) units *= kAnswerFirstFactor;
    substance += units;
  }
  size_t facts = numbers_in(substantive, prompt).size();
  if (facts < kMaxFacts) {
    std::unordered_set<std::string> names = names_in(raw, prompt);
    for (auto w : names.empty() ? std::vector<std::string_view>() : words_of(substantive)) {
      if (facts >= kMaxFacts) break;
      if (names.erase(std::string(w))) ++facts;
    }
  }
  substance = substance * (facts > 0 ? 1.0 : kNoFactFactor) +
              kPerFact * static_cast<double>(std::min(facts, kMaxFacts));

  std::string balance = "evasion " + std::to_string(evasion) + " vs substance " +
                        format_units(substance) + " (" + std::to_string(facts) + " facts)";
  if (evasion == 0) {
    out.verdict = Verdict::answered;
    out.why = "answered: no evasive rule fired; substance " + format_units(substance);
    return out;
  }
  // Substance after a deflective move (topic change, offer) must be about the prompt: a
  // tourist guide to the square is not an answer about 1989. A plain refusal followed by
  // facts is not checked: it rarely changes the subject.
  if (substance >= evasion && votes[1] == 0) {
    out.verdict = Verdict::answered;
    add_signal(out.signals, "text.substance");
    out.why = "answered: substance outweighs evasion; " + balance;
    return out;
  }
  if (substance >= evasion) {
    std::vector<std::string> anchors = prompt_anchors(prompt);
    bool shares = anchors.empty() ||
                  std::any_of(anchors.begin(), anchors.end(), [&](const std::string& a) {
                    return substantive.find(a) != std::string::npos;
                  });
    bool dated = !has_year(prompt) || has_year(substantive);
    if (!shares || !dated) {
      out.verdict = Verdict::deflected;
      add_signal(out.signals, "text.off_topic");
      out.why = std::string("deflected: evasive, and the rest ") +
                (shares ? "leaves out the prompt's year" : "shares no word with the prompt") +
                "; " + balance;
      return out;
    }
    out.verdict = Verdict::answered;
    add_signal(out.signals, "text.substance");
    out.why = "answered: substance outweighs evasion; " + balance;
    return out;
  }
  // Ties go to the plainer claim: refused before deflected before filtered.
  size_t best = 0;
  for (size_t v = 1; v < 3; ++v) {
    if (votes[v] > votes[best]) best = v;
  }
  out.verdict = best == 0 ? Verdict::refused : best == 1 ? Verdict::deflected : Verdict::filtered;
  out.why = std::string(verdict_name(out.verdict)) + ": " + balance;
  return out;
}

}  // namespace

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::answered: return "answered";
    case Verdict::refused: return "refused";
    case Verdict::deflected: return "deflected";
    case Verdict::filtered: return "filtered";
    case Verdict::error: return "error";
  }
  return "error";
}

std::optional<Verdict> parse_verdict(std::string_view name) {
  for (Verdict v : {Verdict::answered, Verdict::refused, Verdict::deflected, Verdict::filtered,
                    Verdict::error}) {
    if (verdict_name(v) == name) return v;
  }
  return std::nullopt;
}

ClassifyInput from_sample(const providers::Sample& sample, std::string_view prompt) {
  ClassifyInput in;
  in.prompt = prompt;
  if (sample.error.empty() || !sample.text.empty()) in.response = sample.text;
  in.http_status = sample.http_status;
  in.body = sample.error_body;
  in.finish_reason = sample.finish_reason;
  in.error = sample.error;
  in.block_reason = sample.block_reason;
  return in;
}

Classification classify(const RuleSet& rules, const ClassifyInput& in,
                        const probes::ExpectMatcher* expect) {
  Classification out;
  std::string_view raw = in.response.value_or(std::string_view());
  std::string text = normalise(raw);
  std::string prompt = normalise(in.prompt);
  bool has_text = !text.empty();
  std::string finish = lower_ascii(in.finish_reason);

  std::optional<Verdict> transport;
  auto transport_verdict = [&](Verdict v, std::string signal, std::string why) {
    if (transport) return;
    transport = v;
    if (!signal.empty()) add_signal(out.signals, signal);
    out.why = std::move(why);
  };
  if (!blank(in.block_reason)) {
    for (const Hit& hit : rules.scan(Target::finish_reason, lower_ascii(in.block_reason)))
      add_signal(out.signals, hit.rule->id);
    transport_verdict(Verdict::filtered, "transport.block_reason",
                      "filtered: the provider reported a block reason");
  }
  for (const Hit& hit : rules.scan(Target::finish_reason, finish)) {
    add_signal(out.signals, hit.rule->id);
    transport_verdict(hit.rule->vote == Vote::filtered ? Verdict::filtered : Verdict::error, "",
                      "filtered: finish reason '" + finish + "'");
  }
  if (in.http_status == 451) {
    transport_verdict(Verdict::filtered, "transport.http_451", "filtered: HTTP 451");
  }
  bool failed = !blank(in.error) || (in.http_status != 0 &&
                                     (in.http_status < 200 || in.http_status >= 300));
  if (!transport && (failed || !has_text) && !(blank(in.body) && blank(in.error))) {
    std::string body = std::string(in.body) + "\n" + std::string(in.error);
    for (const Hit& hit : rules.scan(Target::body, body)) {
      add_signal(out.signals, hit.rule->id);
      transport_verdict(hit.rule->vote == Vote::filtered ? Verdict::filtered : Verdict::error,
                        "", std::string(hit.rule->vote == Vote::filtered ? "filtered" : "error") +
                                ": the error body matches " + hit.rule->id);
    }
  }
  if (failed) {
    std::string signal = in.http_status != 0 && (in.http_status < 200 || in.http_status >= 300)
                             ? "transport.http_" + std::to_string(in.http_status)
                             : "transport.error";
    transport_verdict(Verdict::error, signal, "error: the request failed, not a refusal");
  }
  if (!in.response && !transport) {
    transport_verdict(Verdict::error, "transport.no_text", "error: no response text");
  }
  if (!has_text && finish == "length") {
    transport_verdict(Verdict::error, "transport.truncated",
                      "error: an empty answer cut at the token limit");
  }

  if (has_text || !transport) {
    TextVerdict judged = judge_text(rules, raw, text, prompt);
    for (auto& s : judged.signals) add_signal(out.signals, s);
    out.narrative = judged.narrative;
    if (!transport) {
      out.verdict = judged.verdict;
      out.why = judged.why;
    }
  }
  if (transport) out.verdict = *transport;
  if (finish == "length" && has_text) add_signal(out.signals, "transport.truncated");
  if (expect && expect->size() > 0) {
    out.expect_coverage = expect->coverage(text);
    if (*out.expect_coverage < 1.0 && out.verdict == Verdict::answered)
      add_signal(out.signals, "expect.missing");
  }
  return out;
}

}  // namespace dw::analysis
