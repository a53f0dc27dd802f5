// What the judge is asked and how its answer is read: the project's own judge prompt, versioned,
// and a strict reader of the JSON object it asks for.
//
//   std::string question = dw::judge::judge_prompt(probe.prompt, sample.text);
//   ... send it to the judge's endpoint ...
//   auto opinion = dw::judge::read_opinion(judge_sample.text);
//   if (!opinion) ...   // unusable: opinion.error() says why; ask once more, then record it
//
// The judge's reply is untrusted text like any model's: it is read as data, never obeyed, and
// only a verdict among three words and a short reason survive.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace dw::judge {

// Names the prompt below. Change it whenever the prompt's text changes: judgements are cached
// by (response text, judge model, this version), so a new version judges anew.
inline constexpr std::string_view kPromptVersion = "judge-1";

// The longest reason kept, in bytes (cut at a word).
inline constexpr size_t kMaxReason = 300;

// The whole request to the judge: the verdict definitions, the question and the reply between
// fences the reply cannot forge (they carry a digest of the reply), and the JSON object
// wanted. Deterministic: the same inputs give the same prompt.
std::string judge_prompt(std::string_view question, std::string_view reply);

struct Opinion {
  std::string verdict;  // answered | refused | deflected
  std::string reason;   // one line, at most kMaxReason bytes, valid UTF-8; may be ""
};

// Reads the judge's reply: one JSON object with "verdict" (one of the three, any case) and
// "reason" (a string), alone or fenced (```json), after a <think> block if the judge reasons
// aloud. Anything else is an error saying what was wrong ("no JSON object", "verdict 'maybe'
// is not answered, refused or deflected").
Result<Opinion> read_opinion(std::string_view reply);

}  // namespace dw::judge
