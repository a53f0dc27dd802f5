// The history benchmark's whole runs (bench/history.h).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "analysis/rules.h"
#include "bench/history.h"
#include "config/config.h"
#include "demo/demo.h"
#include "drift/detector.h"
#include "probes/probe.h"
#include "runner/runner.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::bench {
namespace {

Error joined(const Errors& errors) {
  std::string text;
  for (const auto& e : errors) text += (text.empty() ? "" : "\n") + e.to_string();
  return Error(text);
}

}  // namespace

void Marks::add(const RunCost& cost) {
  constexpr int kMarks[] = {1, 30, 300, 1000};
  constexpr int kMedianOf = 5;
  for (int mark : kMarks) {
    if (cost.run <= mark - kMedianOf || cost.run > mark) continue;
    window_.push_back(cost);
    if (cost.run == mark) {
      std::sort(window_.begin(), window_.end(),
                [](const RunCost& a, const RunCost& b) { return a.wall_s < b.wall_s; });
      at_.push_back(window_[window_.size() / 2]);
      at_.back().run = mark;
      window_.clear();
    }
  }
}

Result<WholeRuns> measure_whole_runs(const std::filesystem::path& folder, int runs,
                                     const std::filesystem::path& cli_dir) {
  demo::Options o = demo::default_options(cli_dir);
  o.out = folder;
  auto setting = demo::start(o);
  if (!setting) return setting.error();
  auto config = config::load(setting->config);
  if (!config) return joined(config.error());
  auto sets = probes::load_sets(config->probe_sets);
  if (!sets) return joined(sets.error());
  auto rules = analysis::load_rules(config->rules_dir);
  if (!rules) return joined(rules.error());
  auto store = store::Store::open(config->database.string());
  if (!store) return store.error();
  auto transport = transport::Transport::create();
  if (!transport) return transport.error();

  ManualClock clock(o.start);
  runner::Runner runner(*config, *sets, **store, **transport, clock, &*rules);
  const drift::Options detection = drift::options_from(*config);
  WholeRuns w;
  Marks marks;
  for (int n = 0; n < runs; ++n) {
    if (Status s = setting->sim->set_day(n / 4 % 30); !s) return s.error();
    const Time at = o.start + std::chrono::hours(6) * n;
    clock.set(at);
    Clocks start;
    auto summary = runner.run(at);
    if (!summary) return summary.error();
    Clocks ran;
    auto detected = drift::detect_run(**store, summary->run_id, detection);
    if (!detected) return detected.error();
    Clocks done;
    w.samples_per_run = static_cast<int>(summary->total);
    w.events += detected->opened;
    marks.add({n + 1, done.wall - start.wall, done.cpu - start.cpu, done.wall - ran.wall,
               done.cpu - ran.cpu});
    if ((n + 1) % 50 == 0) {
      std::fprintf(stderr, "\rwhole run %d of %d: %.3f s", n + 1, runs, done.wall - start.wall);
    }
  }
  std::fprintf(stderr, "\n");
  w.at = marks.at();
  return w;
}

}  // namespace dw::bench
