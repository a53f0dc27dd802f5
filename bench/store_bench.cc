// Store benchmark: years of history in one go. Writes N samples (default 1,000,000: runs of
// 50 probes x 4 endpoints x 5 samples every 6 hours for 250 days; a typical set-up of 40 probes
// x 3 endpoints x 3 samples would take two years to collect as many) with 5% distinct answer
// texts, then streams them back.
//
//   bench_store [SAMPLES] [FOLDER]     FOLDER defaults to a fresh one under $TMPDIR or /tmp,
//                                      removed at the end.
//
// Prints samples per second written, the database size, peak RSS (VmHWM), then the rate and
// peak RSS of a full streaming scan with texts, of one probe x endpoint history, and of a
// reclassification pass (scan + set_classification for every sample).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "store/store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kProbes = 50;
constexpr int kEndpoints = 4;
constexpr int kSamplesPerPair = 5;
constexpr int kPerRun = kProbes * kEndpoints * kSamplesPerPair;

uint64_t mix(uint64_t x) {  // splitmix64: deterministic, no shared state
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Text number k: 200 to 2,000 characters of words, the same for the same k.
void make_text(uint64_t k, std::string& out) {
  static constexpr const char* kWords[] = {
      "the",    "square", "troops",   "government", "students",    "June", "protest", "history",
      "sorry",  "cannot", "discuss",  "topic",      "inalienable", "part", "sources", "complex",
      "answer", "1989",   "reported", "killed",     "Beijing",     "army", "tanks",   "movement"};
  uint64_t state = mix(k + 1);
  size_t length = 200 + state % 1801;
  out.clear();
  out += "#" + std::to_string(k) + " ";
  while (out.size() < length) {
    state = mix(state);
    out += kWords[state % (sizeof kWords / sizeof *kWords)];
    out += ' ';
  }
}

long vm_hwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Resets VmHWM to the current RSS so that each phase reports its own peak.
void reset_hwm() { std::ofstream("/proc/self/clear_refs") << "5"; }

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

uintmax_t size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

int fail(const dw::Error& e) {
  std::fprintf(stderr, "bench_store: %s\n", e.to_string().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long total = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (total < kPerRun) total = kPerRun;
  long runs = total / kPerRun;
  total = runs * kPerRun;
  const long distinct = total / 20;  // 5% distinct texts

  fs::path dir;
  bool remove_dir = argc <= 2;
  if (argc > 2) {
    dir = argv[2];
  } else {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/dw-store-bench-XXXXXX";
    if (!mkdtemp(pattern.data())) return std::perror("mkdtemp"), 2;
    dir = pattern;
  }
  fs::path db = dir / "bench.db";
  fs::remove(db);
  fs::remove(db.string() + "-wal");

  int status = 0;
  {
    auto opened = dw::store::Store::open(db.string(), dw::store::Options{.batch_size = 256});
    if (!opened) return fail(opened.error());
    auto& store = *opened;

    std::vector<dw::probes::Probe> probes;
    for (int p = 0; p < kProbes; ++p) {
      dw::probes::Probe probe;
      probe.id = "probe-" + std::to_string(p);
      probe.set = "bench";
      probe.category = "topic-" + std::to_string(p % 10);
      probe.lang = p % 2 ? "zh-Hans" : "en";
      probe.prompt = "Question number " + std::to_string(p) + "?";
      probe.version = "v" + std::to_string(1000000000000000 + p);
      probes.push_back(probe);
    }
    if (auto st = store->upsert_probes(probes); !st) return fail(st.error());
    for (int e = 0; e < kEndpoints; ++e) {
      std::string name = "endpoint-" + std::to_string(e);
      if (auto st = store->upsert_endpoint(name, "openai", "http://127.0.0.1/v1", "model"); !st) {
        return fail(st.error());
      }
    }

    reset_hwm();
    auto start = Clock::now();
    dw::Time t0 = *dw::parse_time("2021-01-01T00:00:00Z");
    uint64_t pick = 0;
    dw::providers::Sample sample;
    sample.http_status = 200;
    sample.finish_reason = "stop";
    sample.model = "model-2024-05-13";
    sample.system_fingerprint = "fp_0123456789";
    sample.attempts = 1;
    sample.prompt_tokens = 20;
    for (long r = 0; r < runs; ++r) {
      dw::Time at = t0 + std::chrono::hours(6) * r;
      auto run = store->begin_run(at, at);
      if (!run) return fail(run.error());
      for (int p = 0; p < kProbes; ++p) {
        for (int e = 0; e < kEndpoints; ++e) {
          for (int s = 1; s <= kSamplesPerPair; ++s) {
            pick = mix(pick);
            make_text(pick % static_cast<uint64_t>(distinct), sample.text);
            sample.completion_tokens = static_cast<int>(sample.text.size() / 4);
            sample.latency = std::chrono::milliseconds(200 + pick % 3000);
            dw::store::SampleKey key{
                *run, probes[p].id, probes[p].version, "endpoint-" + std::to_string(e), s, "model",
                at};
            if (auto id = store->add_sample(key, sample); !id) return fail(id.error());
          }
        }
      }
      if (auto st = store->finish_run(*run, at, dw::store::RunStatus::complete); !st) {
        return fail(st.error());
      }
    }
    double write_s = seconds_since(start);
    std::printf("write: %ld samples (%ld runs, %ld distinct texts) in %.1f s = %.0f samples/s\n",
                total, runs, distinct, write_s, total / write_s);
    std::printf("write: peak RSS %ld KiB\n", vm_hwm_kib());
    std::printf("size: database %.1f MiB (+ wal %.1f MiB), %.0f bytes per sample\n",
                size_or_zero(db) / 1048576.0, size_or_zero(db.string() + "-wal") / 1048576.0,
                double(size_or_zero(db)) / total);

    reset_hwm();
    start = Clock::now();
    long rows = 0;
    uint64_t bytes = 0;
    auto st = store->for_each_sample({}, [&](const dw::store::SampleRow& row) {
      ++rows;
      bytes += row.sample.text.size();
      return true;
    });
    if (!st) return fail(st.error());
    double scan_s = seconds_since(start);
    std::printf(
        "scan: %ld samples with text (%.0f MiB) in %.1f s = %.0f samples/s, peak RSS %ld KiB\n",
        rows, bytes / 1048576.0, scan_s, rows / scan_s, vm_hwm_kib());
    if (rows != total) status = 1;

    start = Clock::now();
    rows = 0;
    st = store->for_each_sample({.endpoint = "endpoint-2", .probe_id = "probe-17"},
                                [&](const dw::store::SampleRow&) { return ++rows, true; });
    if (!st) return fail(st.error());
    std::printf("pair: %ld samples of one probe x endpoint over all runs in %.3f s\n", rows,
                seconds_since(start));

    reset_hwm();
    start = Clock::now();
    rows = 0;
    dw::store::Classification c{"answered", "[\"expect.hit\"]", false, 0.5, "bench"};
    st = store->for_each_sample({.with_text = false}, [&](const dw::store::SampleRow& row) {
      ++rows;
      auto set = store->set_classification(row.id, c);
      if (!set) std::fprintf(stderr, "bench_store: %s\n", set.error().to_string().c_str());
      return set.ok();
    });
    if (!st) return fail(st.error());
    if (auto f = store->flush(); !f) return fail(f.error());
    double re_s = seconds_since(start);
    std::printf("reclassify: %ld samples in %.1f s = %.0f samples/s, peak RSS %ld KiB\n", rows,
                re_s, rows / re_s, vm_hwm_kib());
    if (rows != total) status = 1;
  }
  if (remove_dir) fs::remove_all(dir);
  return status;
}
