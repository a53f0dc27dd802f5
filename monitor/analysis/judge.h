// The text side of the classifier: rule votes per clause weighed against the substance of the
// rest (decision step 2 in classifier.h). Internal to the analysis module.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analysis/classifier.h"
#include "analysis/rules.h"
#include "analysis/text_features.h"

namespace dw::analysis {

struct TextVerdict {
  Verdict verdict = Verdict::answered;
  bool narrative = false;
  std::vector<const Rule*> fired;  // distinct, in the order they first fired
  std::string_view signal;         // the classifier's own signal, "" for none
  std::string why;
};

// What judge_text reuses between calls; its content means nothing between calls.
struct JudgeScratch {
  struct Fired {
    const Rule* rule;
    size_t segment;
  };
  struct SegmentInfo {
    std::array<int, 3> weight{};  // max weight per evasive vote: refused, deflected, filtered
    int boilerplate = 0;          // boilerplate rules that fired in it
    bool attributed = false;
  };
  std::vector<const Rule*> fired;
  std::vector<int> indices;
  std::vector<Segment> segments;
  std::vector<Fired> hits;
  std::vector<SegmentInfo> info;
  std::vector<std::pair<const Rule*, bool>> narrative;  // rule, has an unquoted hit
  std::string substantive;
  std::vector<std::string_view> numbers;
  NameScratch names;
};

// Judges text (the normalised response; raw is the response as sent) into out, which is
// overwritten.
void judge_text(const RuleSet& rules, std::string_view raw, std::string_view text,
                const PromptFeatures& prompt, JudgeScratch& scratch, TextVerdict& out);

}  // namespace dw::analysis
