// Rule packs: the data the classifier decides with (config/rules/*.toml, format in README.md
// under "Rule packs").
//
//   auto rules = dw::analysis::load_rules("/usr/share/driftwatch/rules");
//   if (!rules) for (const auto& e : rules.error()) std::cerr << e.to_string() << '\n';
//   rules->version();   // "3f2a9c01d4e5b6a7": names the classifier, stored with verdicts
//
// Every pattern is compiled once, at load: the patterns that look at one target (response
// text, error body, finish reason) form one RE2::Set, so a text is scanned once whatever the
// number of rules. A RuleSet is immutable after load and safe to share between threads.
#pragma once

#include <re2/re2.h>
#include <re2/set.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace dw::analysis {

// What a rule looks at.
enum class Target {
  text,           // the normalised response text (see normalise.h)
  body,           // the error body and error message of a failed request, as sent
  finish_reason,  // the finish/stop reason and block reason, lower-cased
};

// What a rule's match stands for.
enum class Vote {
  refused,      // a plain refusal: "i can't help with that"
  deflected,    // a topic change, canned template or content-free hedge
  filtered,     // a provider's filter (bodies, finish reasons, or a filter notice in the text)
  error,        // a failure that is not censorship (bodies only)
  narrative,    // a state-narrative formula: sets the narrative flag, not the verdict
  boilerplate,  // politeness that carries no substance: "i'm sorry", "as an ai"
  attribution,  // "china claims", "官方称": narrative formulas in the same clause are quoted
};

std::string_view target_name(Target target);
std::string_view vote_name(Vote vote);

// Whether a vote is weighed against the substance of an answer: refused, deflected, filtered
// and narrative. The others (boilerplate, attribution, error) only qualify a clause.
bool weighs(Vote vote);

struct Rule {
  std::string id;           // unique across the loaded packs, e.g. "refusal.en.cannot"
  std::string pack;         // the pack's name
  std::string lang = "any";  // "en", "zh"... or "any"; documentation, see README
  Target target = Target::text;
  Vote vote = Vote::refused;
  int weight = 25;  // text: units of substance it takes to outweigh the vote (1..1000);
                    // narrative: the flag is set at a total of 100
  std::string description;
  std::vector<std::string> patterns;  // RE2 syntax, matched case-insensitively
  Location where;                     // of the [[rule]] table
};

// One match of one rule in a scanned string: bytes [begin, end).
struct Hit {
  const Rule* rule = nullptr;
  size_t begin = 0;
  size_t end = 0;
};

// One rule pack's source: a file name for locations, and its content.
struct PackSource {
  std::string file;
  std::string content;
};

class RuleSet {
 public:
  RuleSet(RuleSet&&) noexcept;
  RuleSet& operator=(RuleSet&&) noexcept;
  ~RuleSet();

  const std::vector<Rule>& rules() const { return rules_; }
  // Names of the loaded packs, in load order (file name order).
  const std::vector<std::string>& packs() const { return packs_; }
  // First 16 hex digits of SHA-256 over the classifier's algorithm revision and every pack
  // file's name and bytes: changes whenever a verdict could.
  const std::string& version() const { return version_; }

  // Every match of every rule of target in text, ordered by begin (then by rule order).
  // Rules that match nowhere cost one shared scan; only the rules that fired are located.
  std::vector<Hit> scan(Target target, std::string_view text) const;

  // The distinct rules of target that match somewhere in text, in rule order: one scan of
  // the shared set, nothing located. What the classifier asks of each clause.
  std::vector<const Rule*> fired(Target target, std::string_view text) const;
  // The same into out (cleared first); indices is scratch space. Reusing both across calls
  // keeps a per-clause loop free of allocations.
  void fired(Target target, std::string_view text, std::vector<const Rule*>& out,
             std::vector<int>& indices) const;

  // The rule with this id, or nullptr.
  const Rule* find(std::string_view id) const;

  struct Compiled;  // the compiled patterns; opaque outside the analysis module

 private:
  friend Result<RuleSet, Errors> build_rules(const std::vector<PackSource>& packs);
  RuleSet();

  std::vector<Rule> rules_;
  std::vector<std::string> packs_;
  std::string version_;
  std::unique_ptr<Compiled> compiled_;
};

// Parses and compiles packs. On failure returns every error found, each located
// "FILE:LINE:COLUMN: message" and naming the key or rule id: TOML syntax, unknown keys (with
// the closest valid key), wrong types, missing id/votes/patterns, duplicate ids (naming the
// first), unknown targets, votes and languages, weights out of range, patterns RE2 rejects
// (with the offending fragment) or that match the empty string.
Result<RuleSet, Errors> build_rules(const std::vector<PackSource>& packs);

// Loads every "*.toml" file directly in dir, in file name order. A missing or empty folder
// is an error (a classifier without rules would call everything "answered").
Result<RuleSet, Errors> load_rules(const std::filesystem::path& dir);

// The classifier's algorithm revision, folded into RuleSet::version(). Bumped when the code's
// decision logic changes in a way that can change a verdict.
inline constexpr std::string_view kClassifierRevision = "classifier-1";

}  // namespace dw::analysis
