// dw::config::parse over any text: a Config that keeps config.h's promises, or located errors;
// never a crash, an exception or a hang.
#include <chrono>
#include <filesystem>

#include "config/config.h"
#include "fuzz.h"

using dw::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > dw::fuzz::kMaxInput) return 0;
  // Beside the shipped example, so that its relative paths ("../probes/controls.toml") resolve
  // and seeds copied from it load.
  static const std::filesystem::path file = DW_SOURCE_DIR "/config/fuzz.toml";
  auto config = dw::config::parse(dw::fuzz::text(data, size), file);
  if (!config) {
    require(!config.error().empty(), "a config that does not load reports an error");
    for (const auto& e : config.error()) (void)e.to_string();
    return 0;
  }
  require(!config->endpoints.empty(), "a loaded config has an endpoint");
  require(!config->probe_sets.empty(), "a loaded config names a probe set");
  require(config->database.is_absolute() && config->report_dir.is_absolute() &&
              config->rules_dir.is_absolute(),
          "every path in a loaded config is absolute");
  for (const auto& set : config->probe_sets) require(set.is_absolute(), "probe set paths are absolute");
  require(!config->probe_schedule.empty() && !config->report_schedule.empty(),
          "load() sets both schedules");
  const dw::Time t0 = dw::Time(std::chrono::seconds(1767225600));  // 2026-01-01
  require(config->probe_schedule.next_after(t0) > t0, "the probe schedule fires after now");
  require(config->run_deadline >= std::chrono::seconds(1), "the run deadline is at least 1s");
  (void)dw::config::default_run_deadline(config->probe_schedule);
  for (const auto& e : config->endpoints) (void)e.request_url();
  return 0;
}
