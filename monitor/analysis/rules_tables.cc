#include "analysis/rules_tables.h"

#include <algorithm>
#include <memory>

#include "analysis/normalise.h"
#include "analysis/rules_internal.h"
#include "common/strings.h"

namespace dw::analysis {
namespace {

// The [scoring] keys: each sets one Scoring field, within bounds that keep the arithmetic sane.
struct ScoringKey {
  const char* name;
  double Scoring::*real = nullptr;
  int Scoring::*whole = nullptr;
  double min = 0;
  double max = 1000;
};
const std::vector<ScoringKey> kScoringKeys = {
    {"evasive_clause_allowance", &Scoring::evasive_clause_allowance},
    {"boilerplate_units", &Scoring::boilerplate_units},
    {"answer_first_factor", &Scoring::answer_first_factor, nullptr, 0, 10},
    {"no_fact_factor", &Scoring::no_fact_factor, nullptr, 0, 10},
    {"per_fact", &Scoring::per_fact},
    {"max_facts", nullptr, &Scoring::max_facts, 0, 100},
    {"narrative_threshold", nullptr, &Scoring::narrative_threshold, 1, 1000},
    {"state_voice_factor", &Scoring::state_voice_factor, nullptr, 0, 10},
    {"opening_units", &Scoring::opening_units},
    {"opening_min_weight", nullptr, &Scoring::opening_min_weight, 1, 1000},
    {"pivot_min_units", &Scoring::pivot_min_units},
    {"pivot_min_facts", nullptr, &Scoring::pivot_min_facts, 0, 100},
    {"task_min_units", &Scoring::task_min_units},
    {"task_min_facts", nullptr, &Scoring::task_min_facts, 0, 100},
    {"short_reply_units", &Scoring::short_reply_units},
    {"uncertain_margin", &Scoring::uncertain_margin, nullptr, 0, 1},
};
std::vector<std::string> scoring_names() {
  std::vector<std::string> names;
  for (const auto& key : kScoringKeys) names.emplace_back(key.name);
  return names;
}

// "0.5", "1000": a bound as a person writes it.
std::string format_number(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// One place sets each number: a key repeated in another pack is an error, not an override
// that depends on file names.
bool first_setting(std::map<std::string, Location>& seen, const std::string& key,
                 const Location& where, const std::string& what, Errors& errors) {
  auto [it, inserted] = seen.emplace(key, where);
  if (!inserted) {
  errors.emplace_back(what + " '" + key + "' is already set at " + pack_place(it->second),
                      where);
}
  return inserted;
}

}  // namespace

void read_scoring_table(const toml::table& table, const std::string& file, PackTables& tables,
                      Errors& errors) {
  static const std::vector<std::string> names = scoring_names();
  for (auto&& [key, node] : table) {
    std::string k(key.str());
    auto it = std::find_if(kScoringKeys.begin(), kScoringKeys.end(),
                           [&](const ScoringKey& s) { return k == s.name; });
    if (it == kScoringKeys.end()) {
      std::string message = "scoring: unknown key '" + k + "'";
      if (auto near = closest_match(k, names)) message += " (did you mean '" + *near + "'?)";
      errors.emplace_back(std::move(message), pack_location(file, key.source()));
      continue;
    }
    std::optional<double> value;
    if (auto d = node.value_exact<double>()) value = *d;
    if (auto i = node.value_exact<int64_t>()) value = static_cast<double>(*i);
    bool whole = it->whole != nullptr;
    if (!value || (whole && !node.is_integer()) || *value < it->min || *value > it->max) {
      errors.emplace_back("scoring: '" + k + "' must be " + (whole ? "an integer" : "a number") +
                              " from " + format_number(it->min) + " to " +
                              format_number(it->max),
                          pack_location(file, node.source()));
      continue;
    }
    if (!first_setting(tables.scoring_seen, k, pack_location(file, node.source()), "scoring:",
                       errors)) {
      continue;
    }
    if (whole) tables.scoring.*(it->whole) = static_cast<int>(*value);
    else tables.scoring.*(it->real) = *value;
  }
}

void read_weights_table(const toml::table& table, const std::string& file, PackTables& tables,
                      Errors& errors) {
  std::map<std::string, Location> seen;
  for (const auto& [name, entry] : tables.weights) seen.emplace(name, entry.second);
  for (auto&& [key, node] : table) {
    std::string k(key.str());
    auto value = node.value_exact<int64_t>();
    if (!value || *value < 1 || *value > 1000) {
      errors.emplace_back("weights: '" + k + "' must be an integer from 1 to 1000",
                          pack_location(file, node.source()));
      continue;
    }
    Location where = pack_location(file, node.source());
    if (!first_setting(seen, k, where, "weights: class", errors)) continue;
    tables.weights.emplace(k, std::pair{static_cast<int>(*value), where});
  }
}

Location pack_location(const std::string& file, const toml::source_region& region) {
  return Location{file, static_cast<int>(region.begin.line),
                  static_cast<int>(region.begin.column)};
}

std::string pack_place(const Location& where) {
  return where.file + ':' + std::to_string(where.line) + ':' + std::to_string(where.column);
}

std::string unknown_choice(std::string_view what, std::string_view value,
                           const std::vector<std::string>& choices) {
  std::string message = "unknown " + std::string(what) + " '" + std::string(value) + "'";
  if (auto near = closest_match(value, choices)) message += " (did you mean '" + *near + "'?)";
  return message + "; one of " + join_words(choices);
}

// Named weights into the rules that use them.
void resolve_weight_classes(PackTables& tables, std::vector<Rule>& rules, Errors& errors) {
  std::vector<std::string> names;
  for (const auto& [name, entry] : tables.weights) names.push_back(name);
  for (const auto& pending : tables.classes) {
    auto it = tables.weights.find(pending.name);
    if (it != tables.weights.end()) {
      rules[pending.rule].weight = it->second.first;
      continue;
    }
    std::string message = "rule '" + rules[pending.rule].id + "': " +
                          unknown_choice("weight class", pending.name, names);
    if (names.empty()) message = "rule '" + rules[pending.rule].id + "': unknown weight class '" +
                                 pending.name + "' (no pack has a [weights] table)";
    errors.emplace_back(std::move(message), pending.where);
  }
}

namespace {

// The text an example is matched as: what the classifier would match for that target.
std::string example_form(Target target, const std::string& example) {
  if (target == Target::text || target == Target::prompt) return normalise(example);
  if (target == Target::finish_reason) {
    std::string lower = example;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
  }
  return example;
}

}  // namespace

// Every rule's `fires` examples must match one of its patterns and its `quiet` ones none: a
// rule that matches nothing, or the wrong thing, is caught when the packs load.
void check_examples(const std::vector<Rule>& rules, Errors& errors) {
  for (const auto& rule : rules) {
    std::vector<std::unique_ptr<RE2>> compiled;
    for (const auto& pattern : rule.patterns)
      compiled.push_back(std::make_unique<RE2>(pattern, pattern_options()));
    auto matches = [&](const std::string& example) {
      std::string form = example_form(rule.target, example);
      return std::any_of(compiled.begin(), compiled.end(),
                         [&](const auto& re) { return RE2::PartialMatch(form, *re); });
    };
    for (const auto& example : rule.fires) {
      if (!matches(example))
        errors.emplace_back("rule '" + rule.id + "': 'fires' example \"" + example +
                                "\" is not matched by any of its patterns", rule.where);
    }
    for (const auto& example : rule.quiet) {
      if (matches(example))
        errors.emplace_back("rule '" + rule.id + "': 'quiet' example \"" + example +
                                "\" is matched by one of its patterns", rule.where);
    }
  }
}

// The classifier's identity: what decides verdicts, not how the files spell it.
std::string classifier_fingerprint(const std::vector<Rule>& rules, const Scoring& scoring) {
  std::string out(kClassifierRevision);
  for (const auto& key : kScoringKeys) {
    out += '\0';
    out += key.name;
    out += '=';
    out += key.whole ? std::to_string(scoring.*(key.whole)) : std::to_string(scoring.*(key.real));
  }
  for (const auto& rule : rules) {
    out += '\0' + rule.id + '\0' + std::to_string(rule.revision) + '\0' +
           std::string(target_name(rule.target)) + '\0' + std::string(vote_name(rule.vote)) +
           '\0' + std::to_string(rule.weight) + '\0' + (rule.shadow ? "shadow" : "live");
    for (const auto& pattern : rule.patterns) out += '\0' + pattern;
  }
  return out;
}

}  // namespace dw::analysis
