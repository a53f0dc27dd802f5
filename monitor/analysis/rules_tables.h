// Reading rule packs beyond their [[rule]] tables: the [scoring] and [weights] tables, the
// rules' examples, and the fingerprint that names the classifier. Internal to the analysis
// module (rules_load.cc reads the rules themselves).
#pragma once

#include <toml++/toml.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analysis/rules.h"
#include "common/error.h"

namespace dw::analysis {

// "FILE:LINE:COLUMN" of a TOML node, and as text.
Location pack_location(const std::string& file, const toml::source_region& region);
std::string pack_place(const Location& where);
// "unknown vote 'refuse' (did you mean 'refused'?); one of refused, ...".
std::string unknown_choice(std::string_view what, std::string_view value,
                           const std::vector<std::string>& choices);

// What the packs say beyond their rules, gathered across packs before rules are resolved.
struct PackTables {
  Scoring scoring;
  std::map<std::string, Location> scoring_seen;  // key -> where it was set
  std::map<std::string, std::pair<int, Location>> weights;  // class -> weight, where
  struct Pending {
    size_t rule;
    std::string name;
    Location where;
  };
  std::vector<Pending> classes;  // rules whose weight names a class
};

// A pack's [scoring] and [weights] tables into tables; problems into errors, located.
void read_scoring_table(const toml::table& table, const std::string& file, PackTables& tables,
                        Errors& errors);
void read_weights_table(const toml::table& table, const std::string& file, PackTables& tables,
                        Errors& errors);

// Named weights into the rules that use them; a class no pack defines is an error.
void resolve_weight_classes(PackTables& tables, std::vector<Rule>& rules, Errors& errors);

// Every rule's `fires` examples must match one of its patterns and its `quiet` ones none.
void check_examples(const std::vector<Rule>& rules, Errors& errors);

// The classifier's identity: what decides verdicts (revision, scoring, and every rule's id,
// revision, target, vote, weight, shadow flag and patterns), not how the files spell it.
std::string classifier_fingerprint(const std::vector<Rule>& rules, const Scoring& scoring);

}  // namespace dw::analysis
