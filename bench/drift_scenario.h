// The drift scenario, end to end: the real driftwatch-sim scripted by a scenario file, the real
// driftwatch binary run once per simulated day (`run --once --at DAY`), then the stored events
// scored against what the scenario scripted. Used by bench_drift_scenario (30 days) and by
// tests/cli_drift_test.cc (the same script on a shorter calendar, see rescheduled()).
#pragma once

#include <filesystem>
#include <map>
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
  // Words the shell puts before driftwatch_binary: a cross build's emulator ("" natively).
  std::string launcher;
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

// The benchmark's script: bench/scenario-drift.toml and bench/drift-probes.toml under
// source_dir, the binaries under binary_dir, the rule packs of config/rules, 30 days, and what
// the scenario file scripts (its shifts, stable and control probes, the outage of days 24-25).
// Keep it in step with the comment at the top of the scenario file.
ScenarioSpec benchmark_spec(const std::filesystem::path& source_dir,
                            const std::filesystem::path& binary_dir,
                            const std::filesystem::path& work_dir);

// The same scenario on a shorter calendar: every day the scenario file scripts (the `from` and
// `to` of its rules and model changes), every shift's onset and the outage's bounds move from d
// to days.at(d); the run lasts total_days. Writes the rescheduled scenario file into
// spec.work_dir and returns the spec pointing at it. Fails when the scenario file cannot be read
// or written, or when a scripted day has no entry in `days` (the error names it).
Result<ScenarioSpec> rescheduled(const ScenarioSpec& spec, const std::map<int, int>& days,
                                 int total_days);

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
