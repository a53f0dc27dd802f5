#include "cli/setup.h"

#include <iostream>

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

void print_errors(const Errors& errors) {
  for (const auto& e : errors) std::cerr << e.to_string() << "\n";
}

}  // namespace dw::cli
