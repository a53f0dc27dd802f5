// The history benchmark's whole runs (bench/history.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "bench/history.h"
#include "demo/demo.h"
#include "drift/detector.h"
#include "runner/runner.h"
#include "store/store.h"

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
  // Run n (0-based) of a store on the simulator's day `day`, timed as run --once does it.
  auto one_run = [&](runner::Runner& r, store::Store& store, int n, int day) -> Result<RunCost> {
    if (Status set = s.sim->set_day(day); !set) return set.error();
    const Time at = o.start + std::chrono::hours(6) * n;
    clock.set(at);
    reset_peak_memory();
    Clocks start;
    auto summary = r.run(at);
    if (!summary) return summary.error();
    // As run --once: an incomplete run is not detected on, and one with no answer is a failure
    // (neither may be timed as a run).
    if (!summary->complete || summary->sent == 0) {
      return Error("run " + std::to_string(n + 1) + " did not complete or sent nothing");
    }
    Clocks ran;
    auto detected = drift::detect_run(store, summary->run_id, detection);
    if (!detected) return detected.error();
    Clocks done;
    w.samples_per_run = static_cast<int>(summary->total);
    w.events += detected->opened;
    RunCost cost{n + 1, done.wall - start.wall, done.cpu - start.cpu, done.wall - ran.wall,
                 done.cpu - ran.cpu};
    measure_peak_memory(cost);
    return cost;
  };
  constexpr int kEarly = 30, kTurns = WholeRuns::kTurns;
  const std::filesystem::path database = folder / "driftwatch.db";
  const std::filesystem::path early = folder / "early.db";
  Marks marks;
  for (int n = 0; n < runs; ++n) {
    auto cost = one_run(runner, *s.store, n, n / 4 % o.days);
    if (!cost) return cost.error();
    marks.add(*cost);
    if ((n + 1) % 50 == 0) {
      std::fprintf(stderr, "\rwhole run %d of %d: %.3f s", n + 1, runs, cost->wall_s);
    }
    if (n + 1 == kEarly && runs > kEarly) {
      // Between runs nothing is written: the file and its WAL are the history of 30 runs.
      std::error_code ec;
      for (const char* suffix : {"", "-wal"}) {
        if (!std::filesystem::exists(database.string() + suffix)) continue;
        std::filesystem::copy_file(database.string() + suffix, early.string() + suffix,
                                   std::filesystem::copy_options::overwrite_existing, ec);
        if (ec) return Error("copying " + database.string() + suffix + ": " + ec.message());
      }
    }
  }
  std::fprintf(stderr, "\n");
  w.at = marks.at();
  if (runs > kEarly) {
    auto copy = store::Store::open(early.string());
    if (!copy) return copy.error();
    runner::Runner early_runner(s.config, s.sets, **copy, *s.transport, clock, &s.rules);
    std::vector<RunCost> then, now;
    for (int i = 0; i < kTurns; ++i) {
      const int day = (runs + i) / 4 % o.days;  // the same answers for both
      auto a = one_run(early_runner, **copy, kEarly + i, day);
      if (!a) return a.error();
      then.push_back(*a);
      auto b = one_run(runner, *s.store, runs + i, day);
      if (!b) return b.error();
      now.push_back(*b);
    }
    auto median = [](std::vector<RunCost> costs) {
      std::sort(costs.begin(), costs.end(),
                [](const RunCost& x, const RunCost& y) { return x.cpu_s < y.cpu_s; });
      return costs[costs.size() / 2];
    };
    auto shares_of = [](const std::vector<RunCost>& costs) {
      std::vector<double> shares;
      for (const RunCost& c : costs) shares.push_back(c.detect_share());
      std::sort(shares.begin(), shares.end());
      return WholeRuns::Shares{shares[shares.size() / 2], shares.back()};
    };
    w.early = median(then);
    w.late = median(now);
    w.early_share = shares_of(then);
    w.late_share = shares_of(now);
  }
  return w;
}

}  // namespace dw::bench
