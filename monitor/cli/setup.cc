#include "cli/setup.h"

#include <iostream>

#include "cli/commands.h"

namespace dw::cli {

Result<Setup, Errors> load_setup(const std::filesystem::path& config_file) {
  auto config = config::load(config_file);
  if (!config) return config.error();
  auto sets = probes::load_sets(config->probe_sets);
  if (!sets) return sets.error();
  auto rules = analysis::load_rules(config->rules_dir);
  if (!rules) return rules.error();
  return Setup{std::move(*config), std::move(*sets), std::move(*rules)};
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

Result<std::unique_ptr<store::Store>, int> open_store_readonly(const config::Config& config) {
  return opened(store::Store::open_readonly(config.database.string()));
}

void print_errors(const Errors& errors) {
  for (const auto& e : errors) std::cerr << e.to_string() << "\n";
}

}  // namespace dw::cli
