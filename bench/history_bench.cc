// History benchmark: does a run cost the same after years of history? Two parts, each into one
// database of its own with a run every 6 hours of simulated time:
//
// Whole runs (the figure): the demo's configuration (106 probes x 3 endpoints of three
// wire formats x 3 samples) against driftwatch-sim on the demo scenario, its scripted month
// repeated; each run as `driftwatch run --once` does it: requests over loopback, answers
// classified with the shipped rule packs and stored, then drift detection. The simulator's
// answers come from pools, so texts repeat across runs (the store's part below has distinct
// ones). CPU is this process's: the simulator is a child.
//
// The store and detection alone: 900 samples a run (150 probes x 2 endpoints x 3 samples, 10
// of them controls) written straight into the store as the runner writes them (add_sample with
// the classification, batched; no HTTP, no classifier), then drift detection with the default
// [detection] options. The samples are like a real model's: every answer text distinct (30 to
// 90 words, English or Chinese by probe), steady but noisy verdicts per pair (refusals up to
// 30%, deflections, narrative flags, partial expect coverage, 1.5% errors), and a few lasting
// shifts that open and resolve events. This is where detection's cost shows against the least
// else; it also prints the bytes of the run summaries per probe x endpoint and run, and the
// first detection of the same database without its summaries (an upgraded database: every
// old run of the window read from its samples once).
//
//   bench_history [--whole | --store] [RUNS] [FOLDER]
//       RUNS defaults to 1,000 (250 days); FOLDER to a fresh one under $TMPDIR or /tmp,
//       removed at the end; --whole or --store runs one part only
//
// Prints, for each part, at runs 1, 30, 300 and 1,000 (the median of the 5 runs ending there;
// run 1 alone), the wall and CPU time of a whole run and detection's share of its CPU, and the
// process's peak resident memory during the run, all and anonymous (the part of a daemon that
// has run that many runs: the store, configuration and heap it keeps, plus what the run adds).
// The marks are minutes apart, and a shared machine's speed drifts by more than the target's
// 20% in that time: so the whole runs end with 15 runs on a copy of the database as it was at
// run 30 and 15 on the whole history, in turns on the same simulated days, and print both
// medians and their ratio, and the median of each side's detection shares.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/history.h"
#include "common/memory.h"
#include "drift/detector.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace dw;

namespace {

using bench::Clocks;
using bench::RunCost;

constexpr int kProbes = 150, kControls = 10, kEndpoints = 2, kSamples = 3;

const char* const kEnglish[] = {
    "government", "protest", "report",  "estimate", "officials", "records",  "archive",
    "city",       "square",  "troops",  "students", "press",     "history",  "sources",
    "evidence",   "witness", "numbers", "crowd",    "week",      "year",     "court",
    "ruling",     "law",     "rights",  "election", "reform",    "media",    "leaders",
    "critics",    "analysts", "the",    "of",       "and",       "in",       "was"};
const char* const kChinese[] = {"政府", "抗议", "报告", "估计", "官员", "记录", "档案",
                                "城市", "广场", "军队", "学生", "媒体", "历史", "来源",
                                "证据", "人数", "法院", "权利", "选举", "改革", "的"};

double uniform(std::mt19937& rng) { return (rng() % 1000000) / 1e6; }

// How one probe x endpoint answers: steady, but noisy.
struct Profile {
  double refuse = 0, deflect = 0, narrative = 0, partial = 0;
  bool chinese = false, expect = false;
  int shift_from = -1, shift_to = -1;  // runs [from, to) refuse: a lasting, then returning shift
};

std::string answer(std::mt19937& rng, bool chinese) {
  std::string s;
  const int words = 30 + static_cast<int>(rng() % 61);
  for (int i = 0; i < words; ++i) {
    if (chinese) {
      s += kChinese[rng() % (sizeof kChinese / sizeof *kChinese)];
    } else {
      s += (i ? " " : "") + std::string(kEnglish[rng() % (sizeof kEnglish / sizeof *kEnglish)]);
    }
  }
  return s + (chinese ? "。" : ".");
}

class Simulation {
 public:
  explicit Simulation(store::Store& store) : store_(store) {}

  Status setup() {
    std::vector<probes::Probe> probes;
    for (int i = 0; i < kProbes; ++i) {
      probes::Probe p;
      p.id = "probe-" + std::to_string(i);
      p.set = "bench";
      p.control = i < kControls;
      p.category = p.control ? "control" : "topic-" + std::to_string(i % 12);
      p.lang = i % 3 == 0 ? "zh-Hans" : "en";
      p.prompt = "Question " + std::to_string(i);
      p.version = "v1";
      probes.push_back(p);
    }
    if (Status s = store_.upsert_probes(probes); !s) return s;
    probes_ = probes;
    const double refusal[] = {0, 0, 0.05, 0.15, 0.3};
    for (int e = 0; e < kEndpoints; ++e) {
      endpoints_.push_back("endpoint-" + std::to_string(e));
      if (Status s = store_.upsert_endpoint(endpoints_.back(), "openai", "http://127.0.0.1:1/v1", "m");
          !s) {
        return s;
      }
      for (int i = 0; i < kProbes; ++i) {
        Profile p;
        const int k = e * kProbes + i;
        p.refuse = refusal[k % 5];
        p.deflect = k % 7 == 0 ? 0.1 : 0;
        p.narrative = k % 11 == 0 ? 0.1 : 0;
        p.partial = k % 3 == 0 ? 0.3 : 0.05;
        p.expect = k % 2 == 0;
        p.chinese = probes[static_cast<size_t>(i)].lang != "en";
        if (k % 37 == 5) {  // 8 pairs shift for 40 runs (10 days) somewhere in the history
          p.shift_from = (k * 97) % 900 + 50;
          p.shift_to = p.shift_from + 40;
        }
        profiles_.push_back(p);
      }
    }
    return {};
  }

  // Stores run number n (0-based) and detects; the cost of each part.
  Result<RunCost> run(int n) {
    const Time at = *parse_time("2026-01-01T00:00:00Z") + std::chrono::hours(6) * n;
    RunCost cost;
    cost.run = n + 1;
    bench::reset_peak_memory();
    Clocks start;
    auto id = store_.begin_run(at, at);
    if (!id) return id.error();
    for (int e = 0; e < kEndpoints; ++e) {
      for (int i = 0; i < kProbes; ++i) {
        const Profile& p = profiles_[static_cast<size_t>(e * kProbes + i)];
        const bool shifted = n >= p.shift_from && n < p.shift_to;
        for (int seq = 1; seq <= kSamples; ++seq) {
          providers::Sample s;
          store::Classification c;
          c.classifier_version = "bench";
          s.model = n < 600 ? "model-2025-06" : "model-2026-01";  // one model update
          s.latency = std::chrono::milliseconds(300 + rng_() % 4000);
          const double roll = uniform(rng_);
          if (uniform(rng_) < 0.015) {
            s.http_status = 429;
            s.error = "HTTP 429";
            s.model.clear();
            c.verdict = "error";
          } else if (shifted || roll < p.refuse) {
            s.http_status = 200;
            s.text = p.chinese ? "抱歉，我无法回答这个问题。" : "I'm sorry, but I can't help with that request.";
            c.verdict = "refused";
          } else if (roll < p.refuse + p.deflect) {
            s.http_status = 200;
            s.text = "It's a complex topic; consult several sources. " + answer(rng_, p.chinese);
            c.verdict = "deflected";
          } else {
            s.http_status = 200;
            s.text = answer(rng_, p.chinese);
            c.verdict = "answered";
            c.narrative = uniform(rng_) < p.narrative;
            if (p.expect) c.expect_coverage = uniform(rng_) < p.partial ? 0.5 : 1.0;
          }
          s.finish_reason = s.http_status == 200 ? "stop" : "";
          auto sid = store_.add_sample({*id, probes_[static_cast<size_t>(i)].id, "v1",
                                        endpoints_[static_cast<size_t>(e)], seq, "m", at},
                                       s, &c);
          if (!sid) return sid.error();
        }
      }
    }
    if (Status s = store_.finish_run(*id, at, store::RunStatus::complete); !s) return s.error();
    Clocks stored;
    auto d = drift::detect_run(store_, *id, drift::Options{});
    if (!d) return d.error();
    Clocks done;
    events_ += d->opened;
    rebuilt_ = d->summaries_rebuilt;
    cost.wall_s = done.wall - start.wall;
    cost.cpu_s = done.cpu - start.cpu;
    cost.detect_wall_s = done.wall - stored.wall;
    cost.detect_cpu_s = done.cpu - stored.cpu;
    bench::measure_peak_memory(cost);
    return cost;
  }

  long events() const { return events_; }
  long rebuilt() const { return rebuilt_; }

 private:
  store::Store& store_;
  std::vector<probes::Probe> probes_;
  std::vector<std::string> endpoints_;
  std::vector<Profile> profiles_;
  std::mt19937 rng_{20260101};
  long events_ = 0;
  long rebuilt_ = 0;
};

// Bytes of the stored summaries per probe x endpoint and run, read as sqlite3 would.
Result<double> summary_bytes(store::Store& store, int runs) {
  double bytes = 0;
  auto add = [&](const store::RunCellsView& r) {
    bytes += static_cast<double>(r.data.size() + r.endpoint.size() + 8);  // + key and version
    return true;
  };
  Status s = store.for_each_run_cells(std::nullopt, std::nullopt, add);
  if (!s) return s.error();
  return bytes / (static_cast<double>(runs) * kProbes * kEndpoints);
}

}  // namespace

namespace dw::bench {

void reset_peak_memory() {
  std::ofstream("/proc/self/clear_refs") << "5";  // 5: resets the peak resident set size
}

void measure_peak_memory(RunCost& cost) {
  std::ifstream status("/proc/self/status");
  double hwm = 0, file = 0, shared = 0;
  for (std::string line; std::getline(status, line);) {
    auto kib = [&](const char* key, double& out) {
      if (line.starts_with(key)) out = std::atof(line.c_str() + std::strlen(key)) / 1024;
    };
    kib("VmHWM:", hwm);
    kib("RssFile:", file);
    kib("RssShmem:", shared);
  }
  cost.peak_mib = hwm;
  cost.peak_anon_mib = hwm > 0 ? hwm - file - shared : 0;
}

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

Result<HistoryFigures> measure_history(const fs::path& folder, int runs) {
  HistoryFigures f;
  f.runs = runs;
  f.samples_per_run = kProbes * kEndpoints * kSamples;
  const std::string db = (folder / "history.db").string();
  {
    auto opened = store::Store::open(db);
    if (!opened) return opened.error();
    Simulation sim(**opened);
    if (Status s = sim.setup(); !s) return s.error();
    bench::Marks marks;
    for (int n = 0; n < runs; ++n) {
      auto cost = sim.run(n);
      if (!cost) return cost.error();
      marks.add(*cost);
      const int run = n + 1;
      if (run % 100 == 0) {
        std::fprintf(stderr, "\rrun %d of %d: %.3f s", run, runs, cost->wall_s);
      }
    }
    std::fprintf(stderr, "\n");
    f.at = marks.at();
    auto bytes = summary_bytes(**opened, runs);
    if (!bytes) return bytes.error();
    f.summary_bytes_per_pair_run = *bytes;
    f.events = sim.events();

    // The same database as an upgrade finds it: no summaries yet.
    auto tx = (*opened)->transaction();
    if (!tx) return tx.error();
    std::vector<int64_t> ids;
    Status listed = (*opened)->list_runs({}, [&](const store::RunInfo& r) {
      ids.push_back(r.id);
      return true;
    });
    if (!listed) return listed.error();
    for (int64_t id : ids) {
      if (Status s = (*opened)->put_run_cells(id, {}); !s) return s.error();
    }
    if (Status s = (*tx)->commit(); !s) return s.error();
    auto cost = sim.run(runs);
    if (!cost) return cost.error();
    f.upgraded = *cost;
    f.summaries_rebuilt = sim.rebuilt();
  }
  return f;
}

}  // namespace dw::bench

namespace {

// The costs at the marks, as a table and as bench/all.sh's TABLE lines; then run N / run 30.
void print_costs(const char* part, const std::vector<RunCost>& at, int samples) {
  std::printf("%-8s %10s %10s %12s %12s %10s %10s %10s\n", "run", "wall s", "cpu s",
              "detect wall", "detect cpu", "detect %", "peak MiB", "anon MiB");
  const RunCost* r30 = nullptr;
  for (const RunCost& c : at) {
    std::printf("%-8d %10.3f %10.3f %12.3f %12.3f %9.0f%% %10.1f %10.1f\n", c.run, c.wall_s,
                c.cpu_s, c.detect_wall_s, c.detect_cpu_s, 100 * c.detect_share(), c.peak_mib,
                c.peak_anon_mib);
    std::printf("TABLE|history, %s: run %d of %d samples, CPU; detection's part|%.3f s; %.3f s "
                "(%.0f%%)|run 1,000 <= 1.2 x run 30; detection < 20%%\n",
                part, c.run, samples, c.cpu_s, c.detect_cpu_s, 100 * c.detect_share());
    std::printf("TABLE|history, %s: run %d, peak resident memory of the process (anonymous)|"
                "%.1f MiB (%.1f MiB)|\n",
                part, c.run, c.peak_mib, c.peak_anon_mib);
    if (c.run == 30) r30 = &c;
  }
  if (r30 != nullptr && at.back().run > 30 && r30->cpu_s > 0) {
    std::printf("run %d / run 30: %.2f x the CPU (target <= 1.2)\n", at.back().run,
                at.back().cpu_s / r30->cpu_s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // as driftwatch's main() does for every command
  bool whole_part = true, store_part = true;
  int arg = 1;
  if (arg < argc && std::strcmp(argv[arg], "--whole") == 0) {
    store_part = false;
    ++arg;
  } else if (arg < argc && std::strcmp(argv[arg], "--store") == 0) {
    whole_part = false;
    ++arg;
  }
  const int runs = arg < argc ? std::atoi(argv[arg++]) : 1000;
  if (runs < 1 || argc - arg > 1) {
    std::fprintf(stderr, "usage: bench_history [--whole | --store] [RUNS] [FOLDER]\n");
    return 2;
  }
  fs::path dir;
  const bool remove_dir = arg == argc;
  if (!remove_dir) {
    dir = argv[arg];
  } else {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/dw-history-bench-XXXXXX";
    if (!mkdtemp(pattern.data())) return std::perror("mkdtemp"), 2;
    dir = pattern;
  }
  std::optional<bench::WholeRuns> w;
  std::optional<bench::HistoryFigures> f;
  std::optional<Error> failure;
  if (whole_part) {
    const fs::path cli_dir = fs::path(DW_BINARY_DIR) / "monitor" / "cli";
    auto measured = bench::measure_whole_runs(dir / "whole", runs, cli_dir);
    if (measured) w = std::move(*measured);
    else failure = measured.error();
  }
  if (store_part && !failure) {
    std::error_code ec;
    fs::create_directories(dir / "store", ec);
    auto measured = bench::measure_history(dir / "store", runs);
    if (measured) f = std::move(*measured);
    else failure = measured.error();
  }
  if (remove_dir) fs::remove_all(dir);
  if (failure) {
    std::fprintf(stderr, "bench_history: %s\n", failure->to_string().c_str());
    return 2;
  }
  if (w) {
    std::printf("history benchmark, whole runs: %d runs every 6 hours into one database, %d "
                "samples a run (the demo's configuration against driftwatch-sim: requests, "
                "classification, storage, detection)\n", runs, w->samples_per_run);
    print_costs("whole runs", w->at, w->samples_per_run);
    if (w->early && w->late && w->early->cpu_s > 0) {
      const RunCost& a = *w->early;
      const RunCost& b = *w->late;
      const int turns = bench::WholeRuns::kTurns;
      const bench::WholeRuns::Shares& x = w->early_share;
      const bench::WholeRuns::Shares& y = w->late_share;
      std::printf("in turns after the history, on the same simulated days (median of %d each; "
                  "detection: the median and the largest of the runs' shares): run %d-%d on a "
                  "copy at run 30 %.3f s CPU (detection %.1f%%, at most %.1f%%), run %d-%d "
                  "%.3f s CPU (detection %.1f%%, at most %.1f%%): %.2f x (target <= 1.2; "
                  "detection < 20%%)\n",
                  turns, 31, 30 + turns, a.cpu_s, 100 * x.median, 100 * x.largest, runs + 1,
                  runs + turns, b.cpu_s, 100 * y.median, 100 * y.largest, b.cpu_s / a.cpu_s);
      std::printf("TABLE|history, whole runs in turns: run 31-%d / run %d-%d, CPU (detection's "
                  "part: median, largest)|%.3f s (%.0f%%, %.0f%%) / %.3f s (%.0f%%, %.0f%%): "
                  "%.2f x|run 1,000 <= 1.2 x run 30; detection < 20%%\n",
                  30 + turns, runs + 1, runs + turns, a.cpu_s, 100 * x.median, 100 * x.largest,
                  b.cpu_s, 100 * y.median, 100 * y.largest, b.cpu_s / a.cpu_s);
    }
    std::printf("events opened: %ld\n\n", w->events);
  }
  if (f) {
    std::printf("history benchmark, store and detection alone: %d runs every 6 hours into one "
                "database, %d samples a run (%d probes x %d endpoints x %d samples, distinct "
                "texts), written straight into the store, detection after each run (default "
                "[detection] options)\n",
                f->runs, f->samples_per_run, kProbes, kEndpoints, kSamples);
    print_costs("store + detect alone", f->at, f->samples_per_run);
    std::printf("run summaries: %.1f bytes per probe x endpoint and run\n",
                f->summary_bytes_per_pair_run);
    std::printf("first detection without summaries (an upgraded database): %.3f s wall, "
                "%.3f s cpu, %ld old runs read from their samples and summarised\n",
                f->upgraded.detect_wall_s, f->upgraded.detect_cpu_s, f->summaries_rebuilt);
    std::printf("events opened: %ld\n", f->events);
  }
  return 0;
}
