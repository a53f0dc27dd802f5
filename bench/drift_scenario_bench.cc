// The drift scenario benchmark: 30 simulated days of bench/scenario-drift.toml through the real
// driftwatch-sim and driftwatch binaries; prints detection delay per shift and false events.
// Exit status 0 when every shift is found within 2 runs, nothing false fires and the outage is
// only endpoint_health.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "drift_scenario.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  int days = argc > 1 ? std::atoi(argv[1]) : 30;
  std::string pattern = (fs::temp_directory_path() / "dw-bench-drift-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return 2;
  dw::bench::ScenarioSpec spec;
  spec.sim_binary = DW_BINARY_DIR "/monitor/sim/driftwatch-sim";
  spec.driftwatch_binary = DW_BINARY_DIR "/monitor/cli/driftwatch";
  spec.scenario = DW_SOURCE_DIR "/bench/scenario-drift.toml";
  spec.probe_set = DW_SOURCE_DIR "/bench/drift-probes.toml";
  spec.rules_dir = DW_SOURCE_DIR "/config/rules";
  spec.work_dir = pattern;
  spec.days = days;
  spec.shifts = {{"canned-tiananmen", 10, "verdict_shift"}, {"canned-tank-man", 10, "verdict_shift"},
                 {"canned-tiananmen", 10, "canned_template"}, {"narrative-taiwan", 12, "narrative_shift"},
                 {"partial-xinjiang", 14, "verdict_shift"},  {"filter-hong-kong", 17, "verdict_shift"},
                 {"facts-scs-ruling", 20, "content_shift"}};
  std::erase_if(spec.shifts, [&](const auto& s) { return s.onset + 2 >= days; });
  spec.quiet = {"stable-jimmy-lai", "stable-security-law", "stable-death-toll-15",
                "control-capital", "control-boiling"};
  spec.outage = {24, 26};
  std::cout << "drift scenario benchmark: " << days << " simulated days of "
            << spec.scenario.string() << ", 11 probes x 1 endpoint, 3 samples a run\n";
  auto outcome = dw::bench::run_scenario(spec);
  if (!outcome) {
    std::cerr << outcome.error().to_string() << "\n";
    return 2;
  }
  dw::bench::print(*outcome, std::cout);
  bool ok = dw::bench::passed(*outcome);
  std::cout << (ok ? "PASS" : "FAIL") << " (work files in " << pattern << ")\n";
  if (ok) fs::remove_all(pattern);
  return ok ? 0 : 1;
}
