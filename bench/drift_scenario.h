// The drift scenario, end to end: the real driftwatch-sim scripted by a scenario file, the real
// driftwatch binary run once per simulated day (`run --once --at DAY`), then the stored events
// scored against what the scenario scripted. Used by bench_drift_scenario (30 days) and by
// tests/cli_drift_test.cc (a shorter run).
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "store/store.h"

namespace dw::bench {

// A scripted shift: the probe, the first simulated day it shows, the event type it must raise.
struct Shift {
  std::string probe;
  int onset = 0;
  std::string type;
};

struct ScenarioSpec {
  std::filesystem::path sim_binary;
  std::filesystem::path driftwatch_binary;
  std::filesystem::path scenario;   // driftwatch-sim scenario file
  std::filesystem::path probe_set;  // the probes the config asks
  std::filesystem::path rules_dir;  // rule packs
  std::filesystem::path work_dir;   // config, database and logs go here (must exist)
  int days = 30;                    // simulated days 0 .. days-1, one run each
  std::vector<Shift> shifts;
  std::vector<std::string> quiet;  // stable and control probes: nothing may fire on them
  std::pair<int, int> outage{-1, -1};  // [from, to) days of the scripted outage
};

struct ShiftResult {
  Shift shift;
  std::optional<int> decided_day;  // the run (day) whose detection opened the event
  std::optional<int> detected_day;  // the event's detected_at as a day
  int delay() const { return decided_day ? *decided_day - shift.onset : -1; }
};

struct Outcome {
  std::vector<ShiftResult> shifts;
  std::vector<std::string> false_events;  // one line each: what fired where it should not
  long outage_health_events = 0;          // endpoint_health events opened in the outage
  std::vector<store::Event> events;       // everything stored, in detection order
  double seconds = 0;                     // wall time of the runs
  long runs = 0;
};

// The time a simulated day's run is recorded at: 2026-01-01T06:00:00Z plus `day` days.
Time day_time(int day);

// Runs the scenario. Fails when a binary cannot be started or a run fails.
Result<Outcome> run_scenario(const ScenarioSpec& spec);

// Whether every shift was found within max_delay runs, nothing false fired and the outage
// raised endpoint_health.
bool passed(const Outcome& o, int max_delay = 2);

// The figures: per shift its onset, decision day and delay; false events; timing.
void print(const Outcome& o, std::ostream& out);

}  // namespace dw::bench
