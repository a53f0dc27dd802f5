// One rule pack through dw::analysis::build_rules: located errors, or a RuleSet whose shared
// sets (what the classifier scans with) find every rule on its own `fires` examples, as the
// loader's one-pattern-at-a-time check did.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "analysis/normalise.h"
#include "analysis/rules.h"
#include "fuzz.h"

using dw::fuzz::require;
using namespace dw::analysis;

namespace {

// 32 MiB per shared set instead of the default 256: a hostile pack must not take the fuzzer
// past its memory limit, and the budget is a documented parameter, not the code under test.
constexpr int64_t kDfaBudget = int64_t{32} << 20;

// The text a rule's example is matched as, the way the loader forms it (rules_tables.cc:
// example_form): normalised for text and prompt, lower-cased for finish reasons.
std::string example_form(Target target, const std::string& example) {
  if (target == Target::text || target == Target::prompt) return normalise(example);
  if (target != Target::finish_reason) return example;
  std::string lower = example;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > dw::fuzz::kMaxInput) return 0;
  std::vector<PackSource> packs{PackSource{"fuzz.toml", std::string(dw::fuzz::text(data, size))}};
  auto rules = build_rules(packs, kDfaBudget);
  if (!rules) {
    require(!rules.error().empty(), "packs that do not load report an error");
    for (const auto& e : rules.error()) (void)e.to_string();
    return 0;
  }
  require(rules->version().size() == 16, "the version is 16 hex digits");
  std::vector<const Rule*> fired;
  std::vector<int> scratch;
  for (const Rule& rule : rules->rules()) {
    require(rules->find(rule.id) == &rule, "find() returns the rule with that id");
    for (const std::string& example : rule.fires) {
      const std::string form = example_form(rule.target, example);
      auto how = rules->fired(rule.target, form, fired, scratch);
      if (how == RuleSet::Scan::failed) continue;  // "cannot tell", by contract
      require(std::find(fired.begin(), fired.end(), &rule) != fired.end(),
              "the shared set finds a rule on its own 'fires' example");
      auto hits = rules->scan(rule.target, form);
      require(std::any_of(hits.begin(), hits.end(),
                          [&](const Hit& h) {
                            return h.rule == &rule && h.begin <= h.end && h.end <= form.size();
                          }),
              "scan() locates a rule on its own 'fires' example, inside the text");
    }
  }
  return 0;
}
