#include "analysis/classifier.h"

#include <algorithm>
#include <optional>

#include "analysis/judge.h"
#include "analysis/normalise.h"
#include "analysis/text_features.h"

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

PromptFeatures::PromptFeatures(std::string_view prompt)
    : normalised_(normalise(prompt)),
      words_(prompt_words(normalised_)),
      anchors_(prompt_anchors(normalised_)),
      has_year_(analysis::has_year(normalised_)) {}

struct ClassifyScratch::Buffers {
  std::string text;
  JudgeScratch judge;
  TextVerdict judged;
};

ClassifyScratch::ClassifyScratch() : buffers_(std::make_unique<Buffers>()) {}
ClassifyScratch::ClassifyScratch(ClassifyScratch&&) noexcept = default;
ClassifyScratch& ClassifyScratch::operator=(ClassifyScratch&&) noexcept = default;
ClassifyScratch::~ClassifyScratch() = default;

Classification classify(const RuleSet& rules, const ClassifyInput& in,
                        const probes::ExpectMatcher* expect) {
  return classify(rules, in, PromptFeatures(in.prompt), expect, nullptr);
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
    TextVerdict& judged = buffers.judged;
    judge_text(rules, raw, text, prompt, buffers.judge, judged);
    for (const Rule* rule : judged.fired) add_signal(out.signals, rule->id);
    if (!judged.signal.empty()) add_signal(out.signals, judged.signal);
    out.narrative = judged.narrative;
    if (!transport) {
      out.verdict = judged.verdict;
      out.why = std::move(judged.why);
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
