// Shared between rules.cc (matching) and rules_load.cc (building): not for other modules.
#pragma once

#include <re2/re2.h>
#include <re2/set.h>

#include <array>
#include <memory>
#include <vector>

#include "analysis/rules.h"

namespace dw::analysis {

// Case-insensitive, silent (errors are reported as located config errors instead).
RE2::Options pattern_options();

struct RuleSet::Compiled {
  struct PerTarget {
    std::unique_ptr<RE2::Set> set;              // null when no rule looks at this target
    std::vector<std::unique_ptr<RE2>> patterns;  // by Set index
    std::vector<size_t> rule_of;                 // Set index -> index in rules_
  };
  std::array<PerTarget, 4> targets;  // by Target
  RuleSet::TestFault fault = RuleSet::TestFault::none;
};

}  // namespace dw::analysis
