// What most commands need before they can do anything: the config, the probe sets it names and
// the rule packs, all checked. Loading stops at the first stage that fails and returns every
// located error of that stage.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "analysis/rules.h"
#include "common/error.h"
#include "config/config.h"
#include "probes/probe.h"
#include "store/store.h"

namespace dw::cli {

// Why the rule packs came from the folder they came from.
enum class RulesOrigin {
  config_key,     // [classifier] rules names it
  beside_config,  // no key; the "rules" folder beside the config file
  installed,      // no key, no folder beside: the installed packs
  source_tree,    // no key, no folder beside, none installed: the source tree's config/rules
};

struct RulesDir {
  std::filesystem::path dir;
  RulesOrigin origin = RulesOrigin::config_key;
};

// The rule packs to use when no folder is named: "rules" beside config_file when that is a
// folder, else the shipped packs (common/install_paths.h: shipped_rules_dir()). An empty
// config_file skips the first. Never config_key.
RulesDir default_rules_dir(const std::filesystem::path& config_file);

struct Setup {
  config::Config config;  // rules_dir: the folder the rules were loaded from
  std::vector<probes::ProbeSet> sets;
  analysis::RuleSet rules;
  RulesOrigin rules_origin = RulesOrigin::config_key;
  // What rules were compiled from (a daemon keeps these, and compiles them for each run).
  std::vector<analysis::PackSource> rule_packs;
};

// Without [classifier] rules the rules come from default_rules_dir(config file), and
// config.rules_dir is set to that folder.
Result<Setup, Errors> load_setup(const std::filesystem::path& config_file);

// For the commands below, which print their own errors: each prints what went wrong to stderr
// and returns the command's exit code as its error.

// The config alone (commands that read history need neither probes nor rules). Fails with
// kExitInvalid.
Result<config::Config, int> load_config(const std::filesystem::path& config_file);

// The config's database, opened (created when missing). Fails with kExitRuntime.
Result<std::unique_ptr<store::Store>, int> open_store(const config::Config& config);

// The same for commands that change what is stored but never add to it (reclassify, judge,
// push: Store::open_existing): a database that does not exist is a mistyped path, not one to
// create. Fails with kExitRuntime, as open_store_readonly does.
Result<std::unique_ptr<store::Store>, int> open_existing_store(const config::Config& config);

// The config's database, opened read-only for commands that only read it (Store::open_readonly:
// nothing created, migrated or marked). Fails with kExitRuntime, also when it does not exist.
Result<std::unique_ptr<store::Store>, int> open_store_readonly(const config::Config& config);

// Rebuilds every drift event from the stored verdicts (after they changed: reclassify, judge)
// and prints "events recomputed over N runs: X opened, Y resolved". Returns kExitOk, or
// kExitRuntime after printing why it failed.
int recompute_events(store::Store& store, const config::Config& config);

// Prints each error on its own line to stderr.
void print_errors(const Errors& errors);

}  // namespace dw::cli
