// Reasoning traces: a reply that opens with the model thinking aloud ("<think>...</think>", or
// "Okay, the user is asking about... I need to be careful...") before it answers. The trace is
// not the answer; the verdict is the answer's. Internal to the analysis module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "analysis/rules.h"

namespace dw::analysis {

struct TraceSplit {
  std::string_view trace;   // "" when the reply has none
  std::string_view answer;  // the reply itself when there is no trace; "" for a trace alone
  bool tagged = false;      // the trace was inside <think> (or <thinking>, <reasoning>) tags
};

// Splits raw (the reply as sent). A tagged trace runs to its closing tag (to the end when
// the tag is never closed). An untagged one is the opening paragraphs (split at blank lines)
// in each of which a `trace` rule fires, the first one included; it needs a paragraph after
// it, or it is taken for the answer. normalised is scratch space.
TraceSplit split_trace(const RuleSet& rules, std::string_view raw, std::string& normalised,
                       std::vector<const Rule*>& fired, std::vector<int>& indices);

}  // namespace dw::analysis
