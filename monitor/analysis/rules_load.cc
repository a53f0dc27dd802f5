// Reading rule packs: TOML into Rules with located errors, then one compile per target.
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "analysis/normalise.h"
#include "input/toml.h"
#include "analysis/rules.h"
#include "analysis/rules_internal.h"
#include "analysis/rules_tables.h"
#include "common/hash.h"
#include "common/strings.h"
#include "probes/expect.h"

namespace dw::analysis {
namespace {

const std::vector<std::string> kPackKeys = {"name", "description", "rule", "scoring", "weights"};
const std::vector<std::string> kRuleKeys = {"id",       "lang",     "on",     "votes",
                                            "weight",   "revision", "shadow", "description",
                                            "patterns", "fires",    "quiet"};
// In the order of Target and Vote.
const std::vector<std::string> kTargets = {"text", "body", "finish_reason", "prompt"};
const std::vector<std::string> kVotes = {
    "refused", "deflected", "filtered", "error",   "narrative",    "boilerplate",  "attribution",
    "lecture", "pivot",     "rebuttal", "trace",   "asks_content", "asks_advocacy"};

// Signal prefixes the classifier itself emits; a rule may not shadow them.
const std::vector<std::string> kReservedPrefixes = {"transport.", "text.", "expect."};

bool valid_id(std::string_view id) {
  if (id.empty() || id.front() == '.' || id.back() == '.' ||
      id.find("..") != std::string_view::npos || id.find('.') == std::string_view::npos) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

bool valid_lang(std::string_view lang) {
  if (lang == "any") return true;
  size_t primary = lang.find('-');
  std::string_view head = lang.substr(0, primary);
  if (head.size() < 2 || head.size() > 3) return false;
  if (!std::all_of(head.begin(), head.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
    return false;
  if (primary == std::string_view::npos) return true;
  std::string_view rest = lang.substr(primary + 1);
  return !rest.empty() && std::all_of(rest.begin(), rest.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

class PackReader {
 public:
  PackReader(const PackSource& source, Errors& errors, PackTables& tables)
      : file_(source.file), errors_(errors), tables_(tables) {}

  // Appends the pack's rules to rules; returns the pack's name.
  std::string read(const toml::table& root, std::vector<Rule>& rules) {
    std::string name = std::filesystem::path(file_).stem().string();
    for (auto&& [key, node] : root) {
      std::string k(key.str());
      if (k == "name" || k == "description") {
        if (!node.is_string()) {
          fail(node.source(), "'" + k + "' must be a string");
        } else if (k == "name") {
          name = *node.value<std::string>();
        }
      } else if (k == "rule") {
        const toml::array* array = node.as_array();
        if (!array || !array->is_array_of_tables()) {
          fail(node.source(), "'rule' must be an array of tables ([[rule]])");
          continue;
        }
        for (const auto& element : *array) read_rule(*element.as_table(), name, rules);
      } else if (k == "scoring" || k == "weights") {
        const toml::table* table = node.as_table();
        if (!table) {
          fail(node.source(), "'" + k + "' must be a table ([" + k + "])");
        } else if (k == "scoring") {
          read_scoring(*table);
        } else {
          read_weights(*table);
        }
      } else {
        unknown_key(key, "", kPackKeys);
      }
    }
    return name;
  }

 private:
  void fail(const toml::source_region& where, std::string message) {
    errors_.emplace_back(std::move(message), pack_location(file_, where));
  }

  void unknown_key(const toml::key& key, const std::string& context,
                   const std::vector<std::string>& keys) {
    std::string message = context + "unknown key '" + std::string(key.str()) + "'";
    if (auto near = closest_match(key.str(), keys)) message += " (did you mean '" + *near + "'?)";
    fail(key.source(), message);
  }

  void read_scoring(const toml::table& table) {
    read_scoring_table(table, file_, tables_, errors_);
  }
  void read_weights(const toml::table& table) {
    read_weights_table(table, file_, tables_, errors_);
  }

  std::optional<std::string> string_of(const toml::node& node, const std::string& context,
                                       std::string_view key) {
    if (auto value = node.value_exact<std::string>()) return *value;
    fail(node.source(), context + "'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }

  void read_rule(const toml::table& table, const std::string& pack, std::vector<Rule>& rules) {
    Rule rule;
    rule.pack = pack;
    rule.where = pack_location(file_, table.source());
    std::string context = "rule: ";
    if (const toml::node* id = table.get("id")) {
      if (auto value = string_of(*id, context, "id")) {
        rule.id = *value;
        context = "rule '" + rule.id + "': ";
        if (!valid_id(rule.id)) {
          fail(id->source(), context + "'id' must be dotted lower-case words, like "
                                       "'refusal.en.cannot'");
        }
        for (const auto& prefix : kReservedPrefixes) {
          if (rule.id.starts_with(prefix))
            fail(id->source(), context + "'id' prefix '" + prefix + "' is reserved for the "
                                         "classifier's own signals");
        }
      }
    } else {
      fail(table.source(), "rule: missing key 'id'");
    }
    bool ok = true;
    for (auto&& [key, node] : table) {
      std::string k(key.str());
      if (k == "id") continue;
      if (k == "lang") {
        auto value = string_of(node, context, k);
        if (value && !valid_lang(*value)) {
          fail(node.source(), context + "'lang' must be a language tag like 'en' or 'zh', "
                                        "or 'any'; got '" + *value + "'");
        } else if (value) {
          rule.lang = *value;
        }
      } else if (k == "on") {
        auto value = string_of(node, context, k);
        auto it = value ? std::find(kTargets.begin(), kTargets.end(), *value) : kTargets.end();
        if (value && it == kTargets.end()) {
          fail(node.source(), context + unknown_choice("target", *value, kTargets));
          ok = false;
        } else if (value) {
          rule.target = static_cast<Target>(it - kTargets.begin());
        }
      } else if (k == "votes") {
        auto value = string_of(node, context, k);
        auto it = value ? std::find(kVotes.begin(), kVotes.end(), *value) : kVotes.end();
        if (value && it == kVotes.end()) {
          fail(node.source(), context + unknown_choice("vote", *value, kVotes));
        }
        if (it == kVotes.end()) ok = false;
        else rule.vote = static_cast<Vote>(it - kVotes.begin());
      } else if (k == "weight") {
        auto value = node.value_exact<int64_t>();
        if (auto name = node.value_exact<std::string>()) {
          rule.weight_class = *name;  // resolved once every pack's [weights] is read
          tables_.classes.push_back({rules.size(), *name, pack_location(file_, node.source())});
        } else if (!value || *value < 1 || *value > 1000) {
          fail(node.source(), context + "'weight' must be an integer from 1 to 1000, or the "
                                        "name of a class in [weights]");
        } else {
          rule.weight = static_cast<int>(*value);
        }
      } else if (k == "revision") {
        auto value = node.value_exact<int64_t>();
        if (!value || *value < 1 || *value > 1000000) {
          fail(node.source(), context + "'revision' must be a positive integer");
        } else {
          rule.revision = static_cast<int>(*value);
        }
      } else if (k == "shadow") {
        if (auto value = node.value_exact<bool>()) rule.shadow = *value;
        else fail(node.source(), context + "'shadow' must be true or false");
      } else if (k == "description") {
        if (auto value = string_of(node, context, k)) rule.description = *value;
      } else if (k == "patterns") {
        read_patterns(node, context, rule);
      } else if (k == "fires" || k == "quiet") {
        read_examples(node, context, k, k == "fires" ? rule.fires : rule.quiet);
      } else {
        unknown_key(key, context, kRuleKeys);
      }
    }
    if (!table.contains("votes")) {
      fail(table.source(), context + "missing key 'votes'");
      ok = false;
    }
    for (const char* required : {"patterns", "revision", "fires"}) {
      if (!table.contains(required))
        fail(table.source(), context + "missing key '" + required + "'");
    }
    if (ok) check_vote_fits_target(table, context, rule);
    rules.push_back(std::move(rule));
  }

  void read_patterns(const toml::node& node, const std::string& context, Rule& rule) {
    const toml::array* array = node.as_array();
    if (!array || array->empty()) {
      fail(node.source(), context + "'patterns' must be a non-empty array of strings");
      return;
    }
    for (const auto& element : *array) {
      auto value = element.value_exact<std::string>();
      if (!value) {
        fail(element.source(), context + "'patterns' must hold strings only");
        continue;
      }
      RE2 re(*value, pattern_options());
      if (!re.ok()) {
        fail(element.source(), context + "invalid pattern: " + re.error() + " (at '" +
                                   re.error_arg() + "')");
      } else if (probes::matches_empty(re)) {
        fail(element.source(), context + "pattern '" + *value +
                                   "' matches the empty string, so it would fire on anything");
      } else {
        rule.patterns.push_back(*value);
      }
    }
  }

  void read_examples(const toml::node& node, const std::string& context, const std::string& key,
                     std::vector<std::string>& out) {
    const toml::array* array = node.as_array();
    if (!array || (key == "fires" && array->empty())) {
      fail(node.source(), context + "'" + key + "' must be " +
                              (key == "fires" ? "a non-empty " : "an ") + "array of strings");
      return;
    }
    for (const auto& element : *array) {
      if (auto value = element.value_exact<std::string>()) out.push_back(*value);
      else fail(element.source(), context + "'" + key + "' must hold strings only");
    }
  }

  void check_vote_fits_target(const toml::table& table, const std::string& context,
                              const Rule& rule) {
    bool asks = rule.vote == Vote::asks_content || rule.vote == Vote::asks_advocacy;
    bool fits = false;
    const char* allowed = "";
    switch (rule.target) {
      case Target::text:
        fits = rule.vote != Vote::error && !asks;
        allowed = "; not 'error', 'asks_content' or 'asks_advocacy'";
        break;
      case Target::prompt:
        fits = asks;
        allowed = "; only 'asks_content' or 'asks_advocacy'";
        break;
      case Target::body: case Target::finish_reason:
        fits = rule.vote == Vote::filtered || rule.vote == Vote::error;
        allowed = "; only 'filtered' or 'error'";
        break;
    }
    if (fits) return;
    const toml::node* votes = table.get("votes");
    fail(votes ? votes->source() : table.source(),
         context + "a rule on '" + std::string(target_name(rule.target)) + "' cannot vote '" +
             std::string(vote_name(rule.vote)) + "'" + allowed);
  }

  std::string file_;
  Errors& errors_;
  PackTables& tables_;
};

// Adds rule r's patterns to target's set, and one RE2 per pattern for scan().
Status add_rule(RuleSet::Compiled::PerTarget& target, const std::vector<Rule>& rules, size_t r,
                int64_t dfa_budget) {
  RE2::Options set_options = pattern_options();
  set_options.set_max_mem(dfa_budget);
  for (const auto& pattern : rules[r].patterns) {
    if (!target.set) target.set = std::make_unique<RE2::Set>(set_options, RE2::UNANCHORED);
    std::string error;
    if (target.set->Add(pattern, &error) < 0) {
      return Error("rule '" + rules[r].id + "': invalid pattern: " + error, rules[r].where);
    }
    target.patterns.push_back(std::make_unique<RE2>(pattern, pattern_options()));
    target.rule_of.push_back(r);
  }
  return Status::Ok();
}

Status compile_set(RuleSet::Compiled::PerTarget& target, std::string_view what) {
  if (target.set && !target.set->Compile()) {
    return Error("the rules on '" + std::string(what) + "' are too many to compile together");
  }
  return Status::Ok();
}

Status compile(RuleSet::Compiled& compiled, const std::vector<Rule>& rules, int64_t dfa_budget) {
  for (size_t t = 0; t < compiled.targets.size(); ++t) {
    auto& target = compiled.targets[t];
    for (size_t r = 0; r < rules.size(); ++r) {
      if (static_cast<size_t>(rules[r].target) != t) continue;
      if (Status s = add_rule(target, rules, r, dfa_budget); !s) return s;
    }
    if (Status s = compile_set(target, target_name(static_cast<Target>(t))); !s) return s;
  }
  return Status::Ok();
}

}  // namespace

Result<RuleSet, Errors> build_rules(const std::vector<PackSource>& packs, int64_t dfa_budget) {
  Errors errors;
  RuleSet set;
  PackTables tables;
  for (const auto& source : packs) {
    auto parsed = input::parse_toml(source.content, source.file);
    if (!parsed) {
      errors.push_back(parsed.error());
      continue;
    }
    toml::table root = std::move(parsed).value();
    PackReader reader(source, errors, tables);
    set.packs_.push_back(reader.read(root, set.rules_));
  }
  resolve_weight_classes(tables, set.rules_, errors);
  // Examples say whether a rule matches what it should: only worth asking of packs that load.
  if (errors.empty()) check_examples(set.rules_, errors);
  std::map<std::string, Location> seen;
  for (const auto& rule : set.rules_) {
    if (rule.id.empty()) continue;
    auto [it, inserted] = seen.emplace(rule.id, rule.where);
    if (!inserted) {
      errors.emplace_back(
          "rule '" + rule.id + "': duplicate id (first defined at " + pack_place(it->second) + ")",
          rule.where);
    }
  }
  if (!errors.empty()) return errors;
  if (Status compiled = compile(*set.compiled_, set.rules_, dfa_budget); !compiled.ok()) {
    return Errors{compiled.error()};
  }
  set.scoring_ = tables.scoring;
  set.version_ = sha256_hex(classifier_fingerprint(set.rules_, set.scoring_)).substr(0, 16);
  return set;
}

Result<std::vector<PackSource>, Errors> read_rule_packs(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Errors{Error("rules folder not found", Location{dir.string()})};
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".toml") {
      files.push_back(entry.path());
    }
  }
  if (ec) return Errors{Error("cannot list folder: " + ec.message(), Location{dir.string()})};
  if (files.empty()) {
    return Errors{Error("no rule packs (*.toml) in folder", Location{dir.string()})};
  }
  std::sort(files.begin(), files.end());
  std::vector<PackSource> packs;
  Errors errors;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in) {
      errors.emplace_back("cannot read file", Location{file.string()});
      continue;
    }
    packs.push_back(PackSource{file.string(), content.str()});
  }
  if (!errors.empty()) return errors;
  return packs;
}

Result<RuleSet, Errors> load_rules(const std::filesystem::path& dir) {
  auto packs = read_rule_packs(dir);
  if (!packs) return packs.error();
  return build_rules(*packs);
}

}  // namespace dw::analysis
