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
  auto spec = dw::bench::benchmark_spec(DW_SOURCE_DIR, DW_BINARY_DIR, pattern);
  spec.days = days;
  std::erase_if(spec.shifts, [&](const auto& s) { return s.onset + 2 >= days; });
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
