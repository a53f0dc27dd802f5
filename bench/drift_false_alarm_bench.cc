// The false-alarm benchmark: 200 stable but noisy probe x endpoint pairs over 90 simulated days,
// one run a day at 3 samples a run, detection after every run exactly as `run --once` does it.
// Nothing changes, so every event is a false alarm; prints false events per 1,000 pair-runs
// (target: at most 1). Samples are written straight into a store by a seeded generator (the
// HTTP route would spend its time in the simulator, not in detection): the noise is in the
// verdicts (steady refusal, deflection and narrative rates up to 30%), the expect coverage, the
// wording (pools of phrasings, or free rewording of every answer) and 1.5% transient errors.
//
//   build/bench/bench_drift_false_alarms [--quick]
//
// --quick (the test suite's guard, CTest bench_false_alarms_quick): the first 45 days of the
// same history (the generator draws day by day, so they are the very same samples), with the
// same target, in half the time.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "drift/detector.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace dw;

namespace {

constexpr int kProbes = 50, kEndpoints = 4, kDays = 90, kQuickDays = 45, kSamples = 3;

const char* const kWords[] = {"government", "protest",  "report",   "estimate", "officials",
                              "records",    "archive",  "city",     "square",   "troops",
                              "students",   "press",    "history",  "sources",  "evidence",
                              "witnesses",  "numbers",  "crowd",    "week",     "year",
                              "court",      "ruling",   "law",      "rights",   "election",
                              "reform",     "media",    "leaders",  "critics",  "analysts"};

// How one pair behaves, forever: stable, but noisy.
struct Profile {
  double refuse = 0, deflect = 0, narrative = 0, partial_coverage = 0;
  int phrasings = 0;  // 0: every answer freely reworded; else drawn from this many
  std::vector<std::string> pool;
  std::string base;
};

std::string sentence(std::mt19937& rng, int words) {
  std::string s;
  for (int i = 0; i < words; ++i) s += std::string(i ? " " : "") + kWords[rng() % 30];
  return s + ".";
}

double uniform(std::mt19937& rng) { return (rng() % 1000000) / 1e6; }

Profile profile(std::mt19937& rng, int index) {
  Profile p;
  const double refusal_rates[] = {0, 0.05, 0.15, 0.3};
  p.refuse = refusal_rates[index % 4];
  p.deflect = index % 7 == 0 ? 0.1 : 0;
  p.narrative = index % 5 == 0 ? 0.1 : 0;
  p.partial_coverage = index % 3 == 0 ? 0.3 : 0.05;
  p.phrasings = index % 2 == 0 ? 0 : 1 + static_cast<int>(rng() % 5);
  for (int i = 0; i < p.phrasings; ++i) p.pool.push_back(sentence(rng, 40));
  p.base = sentence(rng, 40);
  return p;
}

std::string reword(const std::string& base, std::mt19937& rng) {
  std::string out;
  size_t start = 0;
  while (start < base.size()) {
    size_t end = base.find(' ', start);
    if (end == std::string::npos) end = base.size();
    out += (out.empty() ? "" : " ") +
           (rng() % 5 == 0 ? std::string(kWords[rng() % 30]) : base.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc == 2 && std::string(argv[1]) == "--quick";
  if (argc > 2 || (argc == 2 && !quick)) {
    std::fprintf(stderr, "usage: bench_drift_false_alarms [--quick]\n");
    return 2;
  }
  const int days = quick ? kQuickDays : kDays;
  std::string dir = (fs::temp_directory_path() / "dw-bench-false-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 2;
  auto opened = store::Store::open(dir + "/bench.db");
  if (!opened) {
    std::cerr << opened.error().to_string() << "\n";
    return 2;
  }
  store::Store& st = **opened;
  std::mt19937 rng(20260101);
  std::vector<probes::Probe> probes;
  for (int i = 0; i < kProbes; ++i) {
    probes::Probe p;
    p.id = "probe-" + std::to_string(i);
    p.set = "bench";
    p.category = i < 5 ? "control" : "topic-" + std::to_string(i % 8);
    p.control = i < 5;
    p.lang = "en";
    p.prompt = "Question " + std::to_string(i);
    p.version = "v1";
    probes.push_back(p);
  }
  if (!st.upsert_probes(probes)) return 2;
  std::map<std::pair<int, int>, Profile> profiles;
  for (int e = 0; e < kEndpoints; ++e) {
    if (!st.upsert_endpoint("ep" + std::to_string(e), "openai", "http://127.0.0.1:1/v1", "m")) return 2;
    for (int i = 0; i < kProbes; ++i) profiles[{e, i}] = profile(rng, e * kProbes + i);
  }
  drift::Options options;  // the defaults
  long events = 0, pair_runs = 0;
  double detect_seconds = 0;
  const Time day0 = *parse_time("2026-01-01T06:00:00Z");
  for (int day = 0; day < days; ++day) {
    Time at = day0 + std::chrono::days(day);
    auto run = st.begin_run(at, at);
    if (!run) return 2;
    for (int e = 0; e < kEndpoints; ++e) {
      for (int i = 0; i < kProbes; ++i) {
        Profile& p = profiles[{e, i}];
        ++pair_runs;
        for (int seq = 1; seq <= kSamples; ++seq) {
          providers::Sample s;
          store::Classification c;
          c.classifier_version = "bench";
          double roll = uniform(rng);
          if (uniform(rng) < 0.015) {
            s.http_status = 429;
            s.error = "HTTP 429";
            c.verdict = "error";
          } else if (roll < p.refuse) {
            s.http_status = 200;
            s.text = "I'm sorry, but I can't help with that request.";
            c.verdict = "refused";
          } else if (roll < p.refuse + p.deflect) {
            s.http_status = 200;
            s.text = "It's a complex topic; consult several sources.";
            c.verdict = "deflected";
          } else {
            s.http_status = 200;
            s.text = p.phrasings == 0 ? reword(p.base, rng) : p.pool[rng() % p.pool.size()];
            c.verdict = "answered";
            c.narrative = uniform(rng) < p.narrative;
            c.expect_coverage = uniform(rng) < p.partial_coverage ? 0.5 : 1.0;
          }
          s.model = "m";
          auto id = st.add_sample({*run, probes[i].id, "v1", "ep" + std::to_string(e), seq, "m", at}, s);
          if (!id || !st.set_classification(*id, c)) return 2;
        }
      }
    }
    if (!st.finish_run(*run, at, store::RunStatus::complete)) return 2;
    auto start = std::chrono::steady_clock::now();
    auto d = drift::detect_run(st, *run, options);
    detect_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!d) {
      std::cerr << d.error().to_string() << "\n";
      return 2;
    }
    events += d->opened;
  }
  std::vector<std::string> lines;
  if (!st.for_each_event({}, [&](const store::Event& e) {
        lines.push_back(e.type + " " + e.endpoint + " " + e.probe_id + " " + format_time(e.detected_at));
        return true;
      })) {
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  auto again = drift::recompute_all(st, options);
  double recompute_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("false-alarm benchmark (samples written straight into the store by a seeded\n"
              "generator, not over HTTP): %d pairs (%d probes x %d endpoints, 5 controls each),\n"
              "%d days%s, %d samples a run, default [detection] options\n",
              kProbes * kEndpoints, kProbes, kEndpoints, days, quick ? " (--quick)" : "", kSamples);
  std::printf("pair-runs: %ld\nfalse events: %ld\nfalse events per 1,000 pair-runs: %.3f "
              "(target <= 1)\n",
              pair_runs, events, 1000.0 * static_cast<double>(events) / static_cast<double>(pair_runs));
  for (const auto& l : lines) std::printf("  %s\n", l.c_str());
  std::printf("detection: %.2f s over %d runs (%.3f s a run); recompute_all: %.2f s, %ld events "
              "(%s)\n",
              detect_seconds, days, detect_seconds / days, recompute_seconds,
              again ? again->opened : -1L,
              again && again->opened == events ? "same as run by run" : "DIFFERENT");
  fs::remove_all(dir);
  bool ok = 1000.0 * static_cast<double>(events) / static_cast<double>(pair_runs) <= 1.0;
  return ok ? 0 : 1;
}
