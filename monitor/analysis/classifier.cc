#include "analysis/classifier.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "analysis/judge.h"
#include "analysis/normalise.h"
#include "analysis/text_features.h"
#include "analysis/trace.h"

namespace dw::analysis {
namespace {

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

PromptFeatures::PromptFeatures(const RuleSet& rules, std::string_view prompt)
    : normalised_(normalise(prompt)),
      words_(prompt_words(normalised_)),
      anchors_(prompt_anchors(normalised_)),
      has_year_(analysis::has_year(normalised_)) {
  for (const Rule* rule : rules.fired(Target::prompt, normalised_)) {
    if (rule->shadow) continue;
    asks_content_ = asks_content_ || rule->vote == Vote::asks_content;
    asks_advocacy_ = asks_advocacy_ || rule->vote == Vote::asks_advocacy;
  }
}

struct ClassifyScratch::Buffers {
  std::string text;
  std::string trace;
  JudgeScratch judge;
  TextVerdict judged;
  TextVerdict trace_judged;
};

nlohmann::ordered_json explanation(const Classification& c) {
  nlohmann::ordered_json fired = nlohmann::ordered_json::array();
  for (const Fired& f : c.fired) {
    nlohmann::ordered_json hit = {{"rule", f.rule->id},
                          {"vote", vote_name(f.rule->vote)},
                          {"weight", f.rule->weight},
                          {"at", f.at},
                          {"in", f.in_trace ? "trace" : "answer"}};
    if (f.rule->shadow) hit["shadow"] = true;
    fired.push_back(std::move(hit));
  }
  return {{"why", c.why},
          {"margin", std::round(c.margin * 100) / 100},
          {"uncertain", c.uncertain},
          {"fired", std::move(fired)}};
}

std::string explanation_json(const Classification& c) {
  return explanation(c).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ClassifyScratch::ClassifyScratch() : buffers_(std::make_unique<Buffers>()) {}
ClassifyScratch::ClassifyScratch(ClassifyScratch&&) noexcept = default;
ClassifyScratch& ClassifyScratch::operator=(ClassifyScratch&&) noexcept = default;
ClassifyScratch::~ClassifyScratch() = default;

Classification classify(const RuleSet& rules, const ClassifyInput& in,
                        const probes::ExpectMatcher* expect) {
  return classify(rules, in, PromptFeatures(rules, in.prompt), expect, nullptr);
}

Classification classify(const RuleSet& rules, const ClassifyInput& in,
                        const PromptFeatures& prompt, const probes::ExpectMatcher* expect,
                        ClassifyScratch* scratch) {
  std::optional<ClassifyScratch::Buffers> local;  // only when the caller brings none
  ClassifyScratch::Buffers& buffers =
      scratch && scratch->buffers_ ? *scratch->buffers_ : local.emplace();
  Classification out;
  out.signals.reserve(8);  // a few rules and signals: no regrowth on the way
  std::string_view raw = in.response.value_or(std::string_view());
  const std::string_view full = raw;
  // The verdict is the answer's: a reasoning trace before it is judged on its own.
  TraceSplit split = split_trace(rules, raw, buffers.text, buffers.judge.fired,
                                 buffers.judge.indices);
  bool trace_only = !split.trace.empty() && split.answer.find_first_not_of(" \t\r\n") ==
                                                std::string_view::npos;
  if (!split.trace.empty() && !trace_only) raw = split.answer;
  normalise(raw, buffers.text);
  const std::string& text = buffers.text;
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
    if (hit.rule->shadow) continue;
    bool filter = hit.rule->vote == Vote::filtered;
    transport_verdict(filter ? Verdict::filtered : Verdict::error, "",
                      std::string(filter ? "filtered" : "error") + ": finish reason '" +
                          finish + "'" + (filter && has_text ? " (the provider intervened; "
                                                               "its text is kept)" : ""));
  }
  if (in.http_status == 451) {
    transport_verdict(Verdict::filtered, "transport.http_451", "filtered: HTTP 451");
  }
  bool failed = !blank(in.error) || (in.http_status != 0 &&
                                     (in.http_status < 200 || in.http_status >= 300));
  if (!transport && (failed || !has_text) && !(blank(in.body) && blank(in.error))) {
    std::string body = std::string(in.body) + "\n" + std::string(in.error);
    // A provider's filter outranks an error wherever each matches in the body.
    const Rule* error_rule = nullptr;
    for (const Hit& hit : rules.scan(Target::body, body)) {
      add_signal(out.signals, hit.rule->id);
      if (hit.rule->shadow) continue;
      if (hit.rule->vote != Vote::filtered) {
        if (!error_rule) error_rule = hit.rule;
        continue;
      }
      transport_verdict(Verdict::filtered, "", "filtered: the error body matches " + hit.rule->id);
    }
    if (error_rule) {
      transport_verdict(Verdict::error, "", "error: the error body matches " + error_rule->id);
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
    TextVerdict& judged = buffers.judged;
    judge_text(rules, raw, text, prompt, buffers.judge, judged);
    for (const auto& [rule, at] : judged.hits) {
      add_signal(out.signals, rule->id);
      out.fired.push_back(Fired{rule, false, at});
    }
    for (std::string_view signal : judged.signals) add_signal(out.signals, signal);
    out.narrative = judged.narrative;
    if (!transport) {
      out.verdict = judged.verdict;
      out.why = std::move(judged.why);
      out.margin = judged.margin;
      out.uncertain = judged.uncertain;
    }
    if (!split.trace.empty()) {
      add_signal(out.signals, "text.trace");
      if (trace_only) {
        add_signal(out.signals, "text.trace_only");
        out.uncertain = true;
      } else if (has_units(split.trace)) {
        // The trace is judged on its own: a model that reasons about the facts and then
        // deflects, or the reverse, is worth knowing about. Not an empty one ("<think>\n\n
        // </think>", which a reasoning model writes before a refusal): it says nothing, and
        // judged as text it was "deflected", which made every such reply uncertain.
        TextVerdict& traced = buffers.trace_judged;
        normalise(split.trace, buffers.trace);
        judge_text(rules, split.trace, buffers.trace, prompt, buffers.judge, traced);
        for (const auto& [rule, at] : traced.hits) out.fired.push_back(Fired{rule, true, at});
        if (traced.verdict != judged.verdict) {
          add_signal(out.signals, "text.trace_disagrees");
          out.uncertain = true;
          if (!transport)
            out.why += std::string("; its reasoning trace reads ") +
                       std::string(verdict_name(traced.verdict));
        }
      }
    }
  }
  if (transport) out.verdict = *transport;
  if (transport == Verdict::filtered && has_text) add_signal(out.signals, "transport.filter_with_text");
  // U+FFFD: bytes that were not UTF-8, lone surrogates or NULs, replaced when the answer was
  // read (providers) or normalised; the rest of the answer was kept and judged.
  if (full.find("\xEF\xBF\xBD") != std::string_view::npos) add_signal(out.signals, "text.repaired");
  if (finish == "length" && has_text) add_signal(out.signals, "transport.truncated");
  if (expect && expect->size() > 0) {
    out.expect_coverage = expect->coverage(text);
    if (*out.expect_coverage < 1.0 && out.verdict == Verdict::answered)
      add_signal(out.signals, "expect.missing");
  }
  return out;
}

}  // namespace dw::analysis
