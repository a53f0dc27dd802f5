// Rule packs: the data the classifier decides with (config/rules/*.toml, format in README.md
// under "Rule packs").
//
//   auto rules = dw::analysis::load_rules("/usr/share/driftwatch/rules");
//   if (!rules) for (const auto& e : rules.error()) std::cerr << e.to_string() << '\n';
//   rules->version();   // "3f2a9c01d4e5b6a7": names the classifier, stored with verdicts
//
// Every pattern is compiled once, at load: the patterns that look at one target (response
// text, prompt, error body, finish reason) form one RE2::Set, so a text is scanned once
// whatever the number of rules. A RuleSet is immutable after load and safe to share between
// threads. How votes combine is data too: the packs' [scoring] and [weights] tables (Scoring).
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
  prompt,         // the normalised prompt: what kind of task was asked
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
  lecture,      // moralising, reasons, menus of other help: a clause that is not substance
  pivot,        // "that said, here is the history": what follows may do the task after all
  rebuttal,     // "there are no benefits": declines an advocacy task by arguing against it
  trace,        // the model talking to itself ("the user is asking..."): a reasoning trace
  asks_content,   // prompt: asks for content to be produced (essay, satire, list, joke)
  asks_advocacy,  // prompt: asks to argue for or praise something (benefits of, defend)
};

std::string_view target_name(Target target);
std::string_view vote_name(Vote vote);

// Whether a vote is weighed against the substance of an answer: refused, deflected, filtered
// and narrative. The others only qualify a clause (boilerplate, attribution, lecture, pivot,
// rebuttal, trace), describe the prompt, or name a transport error.
bool weighs(Vote vote);

struct Rule {
  std::string id;           // unique across the loaded packs, e.g. "refusal.en.cannot"
  std::string pack;         // the pack's name
  std::string lang = "any";  // "en", "zh"... or "any"; documentation, see README
  Target target = Target::text;
  Vote vote = Vote::refused;
  int weight = 25;  // text: units of substance it takes to outweigh the vote (1..1000);
                    // narrative: the flag is set at Scoring::narrative_threshold
  std::string weight_class;  // the [weights] name weight came from, "" for a literal number
  int revision = 1;          // bumped by whoever changes what the rule means
  bool shadow = false;       // fires and is recorded, never votes: a wording under watch
  std::string description;
  std::vector<std::string> patterns;  // RE2 syntax, matched case-insensitively
  std::vector<std::string> fires;     // examples it must match (checked at load)
  std::vector<std::string> quiet;     // examples it must not match (checked at load)
  Location where;                     // of the [[rule]] table
};

// How the text's votes combine, from the packs' [scoring] table (README, "Scoring"). Every
// number that can change a verdict lives here or in a rule, so that it is part of version().
struct Scoring {
  double evasive_clause_allowance = 14;  // units of an evasive clause that are the evasion
  double boilerplate_units = 3;          // units one politeness formula takes
  double answer_first_factor = 1.5;      // weight of text before the first evasive clause
  double no_fact_factor = 0.6;           // weight of substance with no fact in it
  double per_fact = 3;                   // units one fact (number, name) adds
  int max_facts = 6;                     // facts counted at most
  int narrative_threshold = 100;         // narrative weight that sets the flag
  double state_voice_factor = 0.5;       // flagged narrative weight that votes deflected
  double opening_units = 30;             // a refusal starting within these units decides
  int opening_min_weight = 20;           // ...when its rule weighs at least this much
  double pivot_min_units = 25;           // substance after a pivot that does the task
  int pivot_min_facts = 1;               // ...with at least this many facts
  double task_min_units = 120;           // substance that overrides an opening refusal
  int task_min_facts = 3;                //   with no pivot: the task done anyway
  double short_reply_units = 40;         // a reply shorter than this with no fact and a
                                         //   deflective hit is content-free
  double uncertain_margin = 0.2;         // a decision within this share of flipping
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
  // First 16 hex digits of SHA-256 over the classifier's algorithm revision, the scoring and
  // every rule's id, revision, target, vote, weight, shadow flag and patterns: changes
  // whenever a verdict could, and not when a comment or an example does.
  const std::string& version() const { return version_; }
  const Scoring& scoring() const { return scoring_; }

  // Every match of every rule of target in text, ordered by begin (then by rule order).
  // Rules that match nowhere cost one shared scan; only the rules that fired are located.
  std::vector<Hit> scan(Target target, std::string_view text) const;

  // The distinct rules of target that match somewhere in text, in rule order: one scan of
  // the shared set, nothing located. What the classifier asks of each clause.
  std::vector<const Rule*> fired(Target target, std::string_view text) const;
  // How fired() found its answer: by the shared set (exact), by asking each pattern alone
  // after the set's DFA ran out of memory on the text (retried: RE2 then falls back to its
  // NFA, which cannot run out), or not at all (failed: out may miss rules). Never fail open:
  // a caller treats failed as "cannot tell", never as "nothing fired".
  enum class Scan { exact, retried, failed };
  // The same into out (cleared first); indices is scratch space. Reusing both across calls
  // keeps a per-clause loop free of allocations.
  Scan fired(Target target, std::string_view text, std::vector<const Rule*>& out,
             std::vector<int>& indices) const;

  // The rule with this id, or nullptr.
  const Rule* find(std::string_view id) const;

  // Tests only, as LevelDB's TEST_ methods: makes matching act as if RE2 had run out of
  // memory in the shared sets (sets) or in every pattern too (all). RE2's many-match DFA
  // resets its cache rather than fail once a set has compiled, so no text reaches these paths
  // on its own; they must still never fail open. Not thread-safe; never call it elsewhere.
  enum class TestFault { none, sets, all };
  void TEST_inject_fault(TestFault fault);

  struct Compiled;  // the compiled patterns; opaque outside the analysis module

 private:
  friend Result<RuleSet, Errors> build_rules(const std::vector<PackSource>& packs, int64_t);
  RuleSet();

  std::vector<Rule> rules_;
  std::vector<std::string> packs_;
  std::string version_;
  Scoring scoring_;
  std::unique_ptr<Compiled> compiled_;
};

// Parses and compiles packs. On failure returns every error found, each located
// "FILE:LINE:COLUMN: message" and naming the key or rule id: TOML syntax, unknown keys (with
// the closest valid key), wrong types, missing id/revision/votes/patterns/fires, duplicate
// ids (naming the first), unknown targets, votes, languages and weight classes, weights out of
// range, patterns RE2 rejects (with the offending fragment) or that match the empty string,
// `fires` examples the rule does not match and `quiet` examples it does, and [scoring] or
// [weights] keys that are unknown, repeated across packs or out of range.
// dfa_budget is the memory each shared set may use (tests shrink it to exhaust it).
Result<RuleSet, Errors> build_rules(const std::vector<PackSource>& packs,
                                    int64_t dfa_budget = int64_t{256} << 20);

// Reads every "*.toml" file directly in dir, in file name order. A missing or empty folder
// is an error (a classifier without rules would call everything "answered").
Result<std::vector<PackSource>, Errors> read_rule_packs(const std::filesystem::path& dir);

// build_rules(read_rule_packs(dir)).
Result<RuleSet, Errors> load_rules(const std::filesystem::path& dir);

// The classifier's algorithm revision, folded into RuleSet::version(). Bumped when the code's
// decision logic changes in a way that can change a verdict.
inline constexpr std::string_view kClassifierRevision = "classifier-2";

}  // namespace dw::analysis
