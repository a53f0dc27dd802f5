// The text side of the classifier: where rules fire in the reply, what they vote, and what
// of the reply is substance (decision steps 3 and 4 in classifier.h). Internal to the analysis
// module.
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
  bool uncertain = false;
  double margin = 1;  // 0: on the edge of flipping; 1: far from it
  // Every rule hit, in text order: the rule, and the byte offset of its clause in the text.
  std::vector<std::pair<const Rule*, size_t>> hits;
  std::vector<std::string_view> signals;  // the classifier's own signals ("text.substance")
  std::string why;
};

// What judge_text reuses between calls; its content means nothing between calls.
struct JudgeScratch {
  struct SegmentInfo {
    std::array<int, 3> weight{};  // max weight per evasive vote: refused, deflected, filtered
    int boilerplate = 0;          // boilerplate rules that fired in it
    int narrative = 0;            // narrative weight of its unquoted formulas
    bool attributed = false;
    bool lecture = false;
    bool pivot = false;
    bool rebuttal = false;
    double units = 0;  // substance units, politeness taken out
    bool evasive() const { return weight[0] > 0 || weight[1] > 0 || weight[2] > 0; }
  };
  std::vector<const Rule*> fired;
  std::vector<int> indices;
  std::vector<Segment> segments;
  std::vector<SegmentInfo> info;
  std::vector<std::pair<const Rule*, bool>> narrative;  // rule, has an unquoted hit
  std::string substantive;
  std::vector<std::string_view> numbers;
  NameScratch names;
};

// Judges text (the normalised answer; raw is the answer as sent) into out, which is
// overwritten.
void judge_text(const RuleSet& rules, std::string_view raw, std::string_view text,
                const PromptFeatures& prompt, JudgeScratch& scratch, TextVerdict& out);

}  // namespace dw::analysis
