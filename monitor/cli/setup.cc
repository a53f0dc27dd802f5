#include "cli/setup.h"

#include <iostream>

#include "cli/commands.h"
#include "common/install_paths.h"
#include "drift/detector.h"

namespace dw::cli {

RulesDir default_rules_dir(const std::filesystem::path& config_file) {
  std::error_code ec;
  if (!config_file.empty()) {
    auto beside = config_file.parent_path() / "rules";
    if (std::filesystem::is_directory(beside, ec)) return {beside, RulesOrigin::beside_config};
  }
  ShippedRules shipped = shipped_rules_dir();
  return {shipped.dir, shipped.installed ? RulesOrigin::installed : RulesOrigin::source_tree};
}

Result<Setup, Errors> load_setup(const std::filesystem::path& config_file) {
  auto config = config::load(config_file);
  if (!config) return config.error();
  // The probe sets and the rule packs both follow from the config alone: the errors of both
  // are reported at once.
  Errors errors;
  auto sets = probes::load_sets(config->probe_sets);
  if (!sets) errors = sets.error();
  RulesDir where{config->rules_dir, RulesOrigin::config_key};
  if (!config->rules_dir_given) where = default_rules_dir(config->file);
  config->rules_dir = where.dir;
  auto packs = analysis::read_rule_packs(config->rules_dir);
  if (!packs) {
    errors.insert(errors.end(), packs.error().begin(), packs.error().end());
    return errors;
  }
  auto rules = analysis::build_rules(*packs);
  if (!rules) errors.insert(errors.end(), rules.error().begin(), rules.error().end());
  if (!errors.empty()) return errors;
  return Setup{std::move(*config), std::move(*sets), std::move(*rules), where.origin,
               std::move(*packs)};
}

Result<config::Config, int> load_config(const std::filesystem::path& config_file) {
  auto config = config::load(config_file);
  if (!config) {
    print_errors(config.error());
    return kExitInvalid;
  }
  return std::move(*config);
}

namespace {

Result<std::unique_ptr<store::Store>, int> opened(Result<std::unique_ptr<store::Store>> store) {
  if (!store) {
    std::cerr << store.error().to_string() << "\n";
    return kExitRuntime;
  }
  return std::move(*store);
}

}  // namespace

Result<std::unique_ptr<store::Store>, int> open_store(const config::Config& config) {
  return opened(store::Store::open(config.database.string()));
}

Result<std::unique_ptr<store::Store>, int> open_existing_store(const config::Config& config) {
  return opened(store::Store::open_existing(config.database.string()));
}

Result<std::unique_ptr<store::Store>, int> open_store_readonly(const config::Config& config) {
  return opened(store::Store::open_readonly(config.database.string()));
}

void print_errors(const Errors& errors) {
  for (const auto& e : errors) std::cerr << e.to_string() << "\n";
}

int recompute_events(store::Store& store, const config::Config& config) {
  auto events = drift::recompute_all(store, drift::options_from(config));
  if (!events) {
    std::cerr << "recomputing events: " << events.error().to_string() << "\n";
    return kExitRuntime;
  }
  std::cout << "events recomputed over " << events->runs << " runs: " << events->opened
            << " opened, " << events->resolved << " resolved\n";
  return kExitOk;
}

}  // namespace dw::cli
