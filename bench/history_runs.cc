// The history benchmark's whole runs (bench/history.h).
#include <chrono>
#include <cstdio>
#include <string>

#include "bench/history.h"
#include "demo/demo.h"
#include "drift/detector.h"
#include "runner/runner.h"

namespace dw::bench {

Result<WholeRuns> measure_whole_runs(const std::filesystem::path& folder, int runs,
                                     const std::filesystem::path& cli_dir) {
  demo::Options o = demo::default_options(cli_dir);
  o.out = folder;
  auto setting = demo::start(o);
  if (!setting) return setting.error();
  demo::Setting& s = *setting;
  ManualClock clock(o.start);
  runner::Runner runner(s.config, s.sets, *s.store, *s.transport, clock, &s.rules);
  const drift::Options detection = drift::options_from(s.config);
  WholeRuns w;
  Marks marks;
  for (int n = 0; n < runs; ++n) {
    if (Status day = s.sim->set_day(n / 4 % o.days); !day) return day.error();
    const Time at = o.start + std::chrono::hours(6) * n;
    clock.set(at);
    reset_peak_memory();
    Clocks start;
    auto summary = runner.run(at);
    if (!summary) return summary.error();
    // As run --once: an incomplete run is not detected on, and one with no answer is a failure
    // (neither may be timed as a run).
    if (!summary->complete || summary->sent == 0) {
      return Error("run " + std::to_string(n + 1) + " did not complete or sent nothing");
    }
    Clocks ran;
    auto detected = drift::detect_run(*s.store, summary->run_id, detection);
    if (!detected) return detected.error();
    Clocks done;
    w.samples_per_run = static_cast<int>(summary->total);
    w.events += detected->opened;
    RunCost cost{n + 1, done.wall - start.wall, done.cpu - start.cpu, done.wall - ran.wall,
                 done.cpu - ran.cpu};
    measure_peak_memory(cost);
    marks.add(cost);
    if ((n + 1) % 50 == 0) {
      std::fprintf(stderr, "\rwhole run %d of %d: %.3f s", n + 1, runs, done.wall - start.wall);
    }
  }
  std::fprintf(stderr, "\n");
  w.at = marks.at();
  return w;
}

}  // namespace dw::bench
