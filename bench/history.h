// The history benchmark's two parts (bench/history_bench.cc holds main and what it prints):
// whole runs against the simulator, and the store and detection alone.
#pragma once

#include <time.h>

#include <filesystem>
#include <optional>
#include <vector>

#include "common/error.h"

namespace dw::bench {

// The cost of one run, or the median of a few.
struct RunCost {
  int run = 0;                                 // 1-based
  double wall_s = 0, cpu_s = 0;                // the whole run
  double detect_wall_s = 0, detect_cpu_s = 0;  // of which detecting
  // This process's resident memory at its peak during the run (VmHWM, reset as the run starts),
  // and of it what was not file pages (VmHWM minus the file and shared pages resident at the
  // end: the heap and stacks, as a daemon that has run this many runs holds them).
  double peak_mib = 0, peak_anon_mib = 0;
  double detect_share() const { return cpu_s > 0 ? detect_cpu_s / cpu_s : 0; }
};

inline double seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// This process's clocks now: CPU of every thread of it, children not included.
struct Clocks {
  double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
};

// Peak resident memory over a span of this process: reset() as it starts, then measure(cost).
// Linux only (/proc/self/clear_refs resets VmHWM); figures stay 0 where that fails.
void reset_peak_memory();
void measure_peak_memory(RunCost& cost);

// Collects the costs at runs 1, 30, 300 and 1,000: each the median (by wall time) of the runs
// among the 5 ending there (run 1 is alone), so that one run that met a WAL checkpoint or a busy
// moment does not decide. Marks past the last run added are missing from at().
class Marks {
 public:
  void add(const RunCost& cost);
  const std::vector<RunCost>& at() const { return at_; }

 private:
  std::vector<RunCost> window_, at_;
};

struct WholeRuns {
  int samples_per_run = 0;
  std::vector<RunCost> at;  // at runs 1, 30, 300 and 1,000, those within the runs measured
  long events = 0;          // opened over the whole history
  // After the last run (of more than 30): kTurns more runs on a copy of the database as it was
  // at run 30 and kTurns on the whole history, taken in turns on the same simulated days, so
  // that the machine's load, which drifts over a long benchmark, weighs on both alike. The
  // median run of each by CPU, and each side's detection shares (each run's share is of its
  // own CPU: a share moves less with the machine's speed than a time): their median and the
  // largest, so that a target on the share can be read of every run, not of a middle one.
  static constexpr int kTurns = 15;
  struct Shares {
    double median = 0, largest = 0;
  };
  std::optional<RunCost> early, late;
  Shares early_share, late_share;
};

// `runs` runs of the demo's configuration (its probe sets, endpoints and samples; its rule
// packs) every 6 hours into one database in folder, each as `driftwatch run --once` does it:
// requests to driftwatch-sim on the demo scenario (its month repeated, four runs a simulated
// day), classification, storage, then drift detection. cli_dir is the folder of the built
// driftwatch (the simulator and shipped files are found from there, as the demo finds them).
Result<WholeRuns> measure_whole_runs(const std::filesystem::path& folder, int runs,
                                     const std::filesystem::path& cli_dir);

// The store and detection alone: 900 generated samples a run written straight into the store,
// then detection (the samples are described at the top of history_bench.cc).
struct HistoryFigures {
  int runs = 0;
  int samples_per_run = 0;
  std::vector<RunCost> at;  // at runs 1, 30, 300 and 1,000, those within the runs measured
  double summary_bytes_per_pair_run = 0;
  RunCost upgraded;            // the next run, detected without any stored summary
  long summaries_rebuilt = 0;  // by that detection
  long events = 0;             // opened over the whole history
};

// Builds that history in folder (which must exist) and measures it; fails when the store or
// detection does.
Result<HistoryFigures> measure_history(const std::filesystem::path& folder, int runs);

}  // namespace dw::bench
