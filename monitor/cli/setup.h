// What most commands need before they can do anything: the config, the probe sets it names and
// the rule packs, all checked. Loading stops at the first stage that fails and returns every
// located error of that stage.
#pragma once

#include <filesystem>
#include <vector>

#include "analysis/rules.h"
#include "common/error.h"
#include "config/config.h"
#include "probes/probe.h"

namespace dw::cli {

struct Setup {
  config::Config config;
  std::vector<probes::ProbeSet> sets;
  analysis::RuleSet rules;
};

Result<Setup, Errors> load_setup(const std::filesystem::path& config_file);

// Prints each error on its own line to stderr.
void print_errors(const Errors& errors);

}  // namespace dw::cli
