// The drift scenario benchmark, shorter: bench/scenario-drift.toml rescheduled onto 18 simulated
// days (the bench's driver, bench/drift_scenario.h), driven through the real driftwatch-sim and
// one `driftwatch run --once` a day. Every kind of shift the scenario scripts must be found
// within 2 runs of its onset, nothing may fire on the stable or control probes, and the
// outage may only raise endpoint_health.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "drift_scenario.h"
#include "scratch.h"

namespace cli_drift_test {

namespace fs = std::filesystem;

TEST_CASE("the drift scenario on a short calendar: every shift within 2 runs, no false event") {
  dw::test::Scratch scratch;
  const std::string work_dir = scratch.root().string();

  auto bench = dw::bench::benchmark_spec(DW_SOURCE_DIR, DW_BINARY_DIR, work_dir);
  // Scripted day -> day of the short run: 7 baseline days, then the shifts a day or two apart
  // (each decided before the next outage), the model change, the two-day outage, a day after.
  const std::map<int, int> days = {{10, 7},  {12, 8},  {14, 9},  {16, 10},
                                   {17, 11}, {20, 12}, {24, 15}, {26, 17}};
  auto spec = dw::bench::rescheduled(bench, days, 18);
  if (!spec) FAIL(spec.error().to_string());
  // Every kind of the scenario is still asked for.
  REQUIRE(spec->shifts.size() == bench.shifts.size());
  REQUIRE(spec->outage == std::pair(15, 17));
#ifdef DW_TEST_EMULATOR
  spec->launcher = DW_TEST_EMULATOR;  // the shell cannot start another architecture's program
#endif

  auto outcome = dw::bench::run_scenario(*spec);
  if (!outcome) FAIL(outcome.error().to_string());
  std::ostringstream figures;
  dw::bench::print(*outcome, figures);
  INFO(figures.str());
  MESSAGE(figures.str());  // shown with -s: the delays, and what fired
  CHECK(outcome->runs == 18);
  for (const auto& r : outcome->shifts) {
    INFO(r.shift.probe << " " << r.shift.type << " onset " << r.shift.onset);
    REQUIRE(r.decided_day.has_value());
    CHECK(r.delay() >= 0);
    CHECK(r.delay() <= 2);
  }
  CHECK(outcome->false_events.empty());
  CHECK(outcome->outage_health_events >= 1);
  CHECK(dw::bench::passed(*outcome));
}

TEST_CASE("rescheduling names a scripted day the calendar does not move") {
  dw::test::Scratch scratch;
  const std::string work_dir = scratch.root().string();
  auto bench = dw::bench::benchmark_spec(DW_SOURCE_DIR, DW_BINARY_DIR, work_dir);
  auto spec = dw::bench::rescheduled(bench, {{10, 7}, {12, 8}, {14, 9}, {16, 10}, {17, 11}}, 18);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.error().to_string().find("scenario-drift.toml:") != std::string::npos);
  CHECK(spec.error().message() == "scripted day 24 has no new day");
}

}  // namespace cli_drift_test
