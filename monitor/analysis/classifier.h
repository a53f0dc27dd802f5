// The classifier: one sample's verdict, signals, narrative flag and expect coverage.
//
//   auto rules = dw::analysis::load_rules(dir);             // once; see rules.h
//   dw::analysis::ClassifyInput in;
//   in.prompt = probe.prompt;
//   in.response = sample.text;
//   in.http_status = sample.http_status;  ...               // or from_sample(sample, prompt)
//   auto expect = dw::probes::ExpectMatcher::create(probe);    // once per probe; probes/expect.h
//   dw::analysis::Classification c = dw::analysis::classify(*rules, in, &*expect);
//   c.verdict, c.signals, c.narrative, c.expect_coverage, c.why
//
// Many samples of one probe: PromptFeatures once per probe, one ClassifyScratch per thread:
//   dw::analysis::PromptFeatures features(probe.prompt);
//   dw::analysis::ClassifyScratch scratch;
//   for (...) c = dw::analysis::classify(*rules, in, features, &*expect, &scratch);
//
// Decision order (README, "Verdicts", says the same for users):
//  1. transport facts: a block reason, a filter finish reason (rules on finish_reason), HTTP
//     451, or a moderation body (rules on body, read when the request failed or brought no
//     text) make it `filtered` (with text too: the provider intervened, whatever it let
//     through; `transport.filter_with_text`); then any error, a non-2xx status, or a missing
//     text make it `error` (an error is never a refusal). An empty text is `deflected`
//     (`text.empty`), except an empty text cut at the token limit, which is `error`.
//  2. a reasoning trace ("<think>...</think>", or opening paragraphs of self-talk that
//     `trace` rules recognise) is split off: the verdict is the answer's. The trace is judged
//     too; `text.trace` says there was one, `text.trace_disagrees` that its verdict differs.
//  3. the answer: rules vote per clause. A refusal (at least scoring.opening_min_weight)
//     starting within the first scoring.opening_units decides `refused`, unless the reply
//     then does the task: a `pivot` clause followed by on-topic substance with facts, or with
//     no pivot enough substance and facts to be the answer itself. Lectures, menus of other
//     help and the state's voice are not substance. An opening `rebuttal` of a prompt that
//     asks for advocacy ("benefits of...") is a refusal only a pivot undoes. Otherwise the
//     votes are weighed against the substance of the rest (words, CJK characters one half,
//     facts such as numbers and names not in the prompt add to it, text before the first
//     evasive clause counts more, text with no facts less; a short reply with no fact never
//     outweighs an evasion); narrative formulas that set the flag vote `deflected`, and
//     decide it outright when the prompt asks for content (an essay, a satire, a list).
//  4. narrative: narrative rules add their weight (half in a clause an attribution rule marks
//     as quoted: "beijing claims..."); the flag is set at scoring.narrative_threshold.
// Every number above is data: the packs' [scoring] table (rules.h, Scoring). A text the rules
// cannot be matched against is `error` with `text.unclassified` and uncertain, never
// `answered`. The classification depends only on its inputs and the rules; it is cheap enough
// to re-run over stored history when the packs change (RuleSet::version() says when).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/rules.h"
#include "common/error.h"
#include "probes/expect.h"
#include "providers/sample.h"

namespace dw::analysis {

enum class Verdict { answered, refused, deflected, filtered, error };

// "answered", "refused", "deflected", "filtered", "error".
std::string_view verdict_name(Verdict verdict);
std::optional<Verdict> parse_verdict(std::string_view name);

// Everything the classifier looks at. Views must outlive the classify() call only.
struct ClassifyInput {
  std::string_view prompt;
  std::optional<std::string_view> response;  // the answer's text; nullopt when none came back
  std::string_view lang;                     // the probe's language; informational
  int http_status = 0;                       // 0 when unknown or no HTTP response
  std::string_view body;                     // raw response body (of a failed request)
  std::string_view finish_reason;            // as the API spelled it
  std::string_view error;                    // why there is no answer; "" on success
  std::string_view block_reason;             // e.g. Gemini promptFeedback.blockReason
};

// The input for a sample from a provider. The views point into sample and prompt.
ClassifyInput from_sample(const providers::Sample& sample, std::string_view prompt);

// One rule that fired: where and with what weight. rule points into the RuleSet classified
// with, which must outlive it.
struct Fired {
  const Rule* rule = nullptr;
  bool in_trace = false;  // in the reasoning trace rather than the answer
  size_t at = 0;          // byte offset of its clause in the normalised answer (or trace)
};

struct Classification {
  Verdict verdict = Verdict::answered;
  // Why, as names: rule ids that fired in the answer (shadow rules too), then the
  // classifier's own signals (transport.http_NNN, transport.error, transport.block_reason,
  // transport.truncated, transport.no_text, transport.filter_with_text, text.empty,
  // text.substance, text.off_topic, text.opening_refusal, text.pivot, text.premise_rebutted,
  // text.state_voice, text.content_free, text.trace, text.trace_only,
  // text.trace_disagrees, text.rules_retried, text.unclassified, text.repaired,
  // expect.missing).
  std::vector<std::string> signals;
  bool narrative = false;
  // How far the decision was from flipping, 0..1, and whether it is unsure: a small margin,
  // a refusal inside a long reply, the state's voice without a refusal, a trace that
  // disagrees with its answer, or a text the rules could not be matched on.
  double margin = 1;
  bool uncertain = false;
  std::optional<double> expect_coverage;  // set when expect patterns were given
  std::string why;  // one line for a person: "refused: a refusal opens the reply (...)"
  std::vector<Fired> fired;  // every rule hit, answer first, in text order
};

// The explanation kept with a sample: {"why":..., "margin":..., "uncertain":...,
// "fired":[{"rule":..., "vote":..., "weight":..., "at":..., "in":"answer"|"trace",
// "shadow":true?}]}; as a value, and as compact JSON text.
nlohmann::ordered_json explanation(const Classification& c);
std::string explanation_json(const Classification& c);

// expect, when given, is matched against the normalised response text (see normalise.h).
Classification classify(const RuleSet& rules, const ClassifyInput& input,
                        const probes::ExpectMatcher* expect = nullptr);

// What the classifier derives from a prompt alone. A run classifies many samples of each
// probe: build this once per probe and pass it with every sample instead of recomputing it.
// Immutable after construction; safe to share between threads.
class PromptFeatures {
 public:
  PromptFeatures(const RuleSet& rules, std::string_view prompt);

  const std::string& normalised() const { return normalised_; }  // normalise(prompt)
  // The distinct words of normalised(), sorted; the anchors an on-topic answer shares with
  // it; whether it names a year. See text_features.h.
  const std::vector<std::string>& words() const { return words_; }
  const std::vector<std::string>& anchors() const { return anchors_; }
  bool has_year() const { return has_year_; }
  // Whether `prompt` rules say it asks for content to be produced (an essay, a satire, a
  // list) or for advocacy (the benefits of something, an argument for it).
  bool asks_content() const { return asks_content_; }
  bool asks_advocacy() const { return asks_advocacy_; }

 private:
  std::string normalised_;
  std::vector<std::string> words_;
  std::vector<std::string> anchors_;
  bool has_year_ = false;
  bool asks_content_ = false;
  bool asks_advocacy_ = false;
};

// Buffers classify() reuses between calls, so that a loop over many samples allocates little
// besides its results. Holds nothing that outlives a call's result or changes it; one per
// thread (not shareable while a classify() using it runs).
class ClassifyScratch {
 public:
  ClassifyScratch();
  ClassifyScratch(ClassifyScratch&&) noexcept;
  ClassifyScratch& operator=(ClassifyScratch&&) noexcept;
  ~ClassifyScratch();

  struct Buffers;  // opaque outside the analysis module

 private:
  friend Classification classify(const RuleSet&, const ClassifyInput&, const PromptFeatures&,
                                 const probes::ExpectMatcher*, ClassifyScratch*);
  std::unique_ptr<Buffers> buffers_;
};

// The same as classify(rules, input, expect) when prompt is PromptFeatures(rules, input.prompt)
// (input.prompt itself is not read). scratch, when given, is reused (see ClassifyScratch).
Classification classify(const RuleSet& rules, const ClassifyInput& input,
                        const PromptFeatures& prompt,
                        const probes::ExpectMatcher* expect = nullptr,
                        ClassifyScratch* scratch = nullptr);

}  // namespace dw::analysis
