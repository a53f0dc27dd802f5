// Detection alone, on a copy of a database: how long drift detection of its latest run takes,
// as `driftwatch run` does it after the run's samples are stored.
//
//   bench_detect [--warm] DATABASE [REPEAT]
//
// DATABASE is never written: each of REPEAT (default 5) detections works on a fresh copy of it
// (and of its WAL) in $TMPDIR or /tmp, so that each does the whole work (a detection that finds
// its run decided does nothing: a warning says so). Copied file by file: nothing may write
// DATABASE meanwhile. --warm: one detection on a copy first, whose copies the timed ones work
// on, so that what a detection keeps for the next (the day blocks of its old runs) is there,
// as in a database a daemon has been writing (a database from before day blocks has none);
// when that detection opens or resolves an event, the run is decided and the timed ones do
// nothing (the warning says so): use a database whose latest run decides nothing.
// It reads the run's samples back from the file, as a process that did not store them does
// (run and the daemon keep them in memory: store.h, rows_from_memory()).
// Prints each detection's wall and CPU time (and its system part) and the median, and what it
// read (runs' summaries, pairs decoded, days read from their blocks, endpoint runs whose
// signatures were read of those whose texts were). Default [detection] options.
// Under `valgrind --tool=callgrind --toggle-collect='*detect_run*' bench_detect DB 1`, the
// instruction count of one detection: a figure the machine's load does not move.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/history.h"
#include "common/memory.h"
#include "drift/detector.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace dw;

namespace {

Result<int64_t> latest_run(store::Store& store) {
  int64_t id = 0;
  Status s = store.list_runs({.newest_first = true, .limit = 1}, [&](const store::RunInfo& r) {
    id = r.id;
    return false;
  });
  if (!s) return s.error();
  if (id == 0) return Error("no run in the database");
  return id;
}

// The system part of this process's CPU time so far: a detection's reads of pages the page
// cache of SQLite does not hold are system calls.
double system_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();  // as driftwatch's main() does for every command
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool warm = !args.empty() && args[0] == "--warm";
  if (warm) args.erase(args.begin());
  if (args.empty() || args.size() > 2) {
    std::fprintf(stderr, "usage: bench_detect [--warm] DATABASE [REPEAT]\n");
    return 2;
  }
  fs::path source = args[0];
  const int repeat = args.size() == 2 ? std::max(1, std::atoi(args[1].c_str())) : 5;
  const char* tmp = std::getenv("TMPDIR");
  const fs::path dir = tmp && *tmp ? tmp : "/tmp";
  const std::string tag = std::to_string(getpid());
  const fs::path copy = dir / ("bench_detect_" + tag + ".db");
  const fs::path warmed = dir / ("bench_detect_warm_" + tag + ".db");
  // The copy's journal files go before each copy (a WAL left from the last detection would be
  // replayed onto the fresh copy, its run already decided) and at the end, whatever happens.
  auto remove = [](const fs::path& db) {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-runlock"}) {
      fs::remove(db.string() + suffix, ignored);
    }
  };
  auto remove_copy = [&] {
    remove(copy);
    remove(warmed);
  };
  struct Cleanup {
    decltype(remove_copy)& run;
    ~Cleanup() { run(); }
  } cleanup{remove_copy};
  // Copies a database with its WAL; false (said) when that fails.
  auto copy_db = [](const fs::path& from, const fs::path& to) {
    std::error_code ec;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (!ec && fs::exists(from.string() + "-wal")) {
      fs::copy_file(from.string() + "-wal", to.string() + "-wal",
                    fs::copy_options::overwrite_existing, ec);
    }
    if (ec) {
      std::fprintf(stderr, "bench_detect: copying %s: %s\n", from.c_str(), ec.message().c_str());
    }
    return !ec;
  };
  if (warm) {
    // One detection first, kept: what it stores for later detections (the day blocks of its
    // old runs) is there, as in a database a daemon has been writing.
    if (!copy_db(source, warmed)) return 1;
    auto store = store::Store::open(warmed.string());
    auto run = store ? latest_run(**store) : Result<int64_t>(store.error());
    auto first = run ? drift::detect_run(**store, *run, drift::Options{})
                     : Result<drift::Summary>(run.error());
    if (!first) {
      std::fprintf(stderr, "bench_detect: %s\n", first.error().message().c_str());
      return 1;
    }
    source = warmed;
  }
  std::vector<double> walls, cpus;
  for (int i = 0; i < repeat; ++i) {
    remove(copy);
    if (!copy_db(source, copy)) return 1;
    auto store = store::Store::open(copy.string());
    if (!store) {
      std::fprintf(stderr, "bench_detect: %s\n", store.error().message().c_str());
      return 1;
    }
    auto run = latest_run(**store);
    if (!run) {
      std::fprintf(stderr, "bench_detect: %s: %s\n", source.c_str(), run.error().message().c_str());
      return 1;
    }
    bench::Clocks start;
    const double sys_start = system_seconds();
    auto summary = drift::detect_run(**store, *run, drift::Options{});
    const double sys = system_seconds() - sys_start;
    bench::Clocks done;
    if (!summary) {
      std::fprintf(stderr, "bench_detect: %s\n", summary.error().message().c_str());
      return 1;
    }
    walls.push_back(done.wall - start.wall);
    cpus.push_back(done.cpu - start.cpu);
    std::printf("detection %d of run %lld: %.4f s wall, %.4f s CPU (%.4f s of it system); %ld runs read, %ld with "
                "their pairs (%ld weeks and %ld days of them from blocks), %ld pairs' cells held, %ld "
                "pairs tested; signatures of %ld of %ld endpoint runs' texts read\n",
                i + 1, static_cast<long long>(*run), walls.back(), cpus.back(), sys,
                summary->runs_read, summary->pair_runs_read, summary->week_blocks_read,
                summary->day_blocks_read,
                summary->pair_cells, summary->pairs_tested, summary->signature_runs_read,
                summary->text_runs_read);
    if (summary->pairs_tested == 0) {
      std::fprintf(stderr, "bench_detect: warning: nothing was tested (is the latest run "
                           "incomplete, or already decided?): this times no detection\n");
    }
    store->reset();
  }
  std::sort(walls.begin(), walls.end());
  std::sort(cpus.begin(), cpus.end());
  std::printf("median of %d: %.4f s wall, %.4f s CPU\n", repeat, walls[walls.size() / 2],
              cpus[cpus.size() / 2]);
  return 0;
}
