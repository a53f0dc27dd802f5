// Memory and size of the driftwatch binary: `driftwatch run --once` over a generated probe set
// (300 probes x 3 samples by default: 900 requests) against driftwatch-sim on loopback, its
// peak RSS and its peak anonymous memory (sampled every millisecond); an idle `driftwatch
// daemon`, with nothing due and again after a scheduled run; an idle command (`driftwatch
// check`), and the binary's size stripped.
// Then the time of `driftwatch demo` (target: under a minute on two cores).
//
//   build/bench/bench_run [PROBES [SAMPLES]]
//   build/bench/bench_run --quick
//
// Peak RSS is the child's ru_maxrss from wait4(), the same figure as VmHWM in
// /proc/PID/status and "Maximum resident set size" of /usr/bin/time -v.
//
// --quick (the test suite's guard, CTest bench_demo_time): only the demo, timed as a ratio to a
// reference workload run just before and just after it in the same folder, so that the check
// holds on a slower or busier machine as well as on the one the target was set on. The
// reference is third-party code driftwatch cannot slow down: SQLite writing and reading rows
// as the store does (WAL, synchronous=NORMAL, batches of 64), and sorting strings. Exit 1 when
// the demo takes more than kDemoBudget references: the 60 s target, expressed in references.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kDriftwatch = fs::path(DW_BINARY_DIR) / "monitor/cli/driftwatch";
const fs::path kSim = fs::path(DW_BINARY_DIR) / "monitor/sim/driftwatch-sim";

pid_t start(std::vector<std::string> argv, const fs::path& out) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

struct Measured {
  int code = -1;
  double seconds = 0;
  double cpu_seconds = 0;  // user + system, the child and what it waited for (the simulator)
  double peak_mib = 0;
  // Sampled from /proc/PID/status every millisecond: anonymous memory (heap, stacks: what the
  // program itself holds) and mapped files (the binary and its libraries, shared).
  double peak_anon_mib = 0;
  double peak_file_mib = 0;
};

// RssAnon and RssFile of a process in MiB; zeros once it is gone.
std::pair<double, double> rss_split(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  double anon = 0, file = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("RssAnon:")) anon = std::atof(line.c_str() + 8) / 1024;
    if (line.starts_with("RssFile:")) file = std::atof(line.c_str() + 8) / 1024;
  }
  return {anon, file};
}

Measured measure(std::vector<std::string> argv, const fs::path& out) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = start(std::move(argv), out);
  Measured m;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      auto [anon, file] = rss_split(pid);
      m.peak_anon_mib = std::max(m.peak_anon_mib, anon);
      m.peak_file_mib = std::max(m.peak_file_mib, file);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  int status = 0;
  rusage usage{};
  // Waits without reaping first, so that the sampler never reads a recycled pid.
  siginfo_t info{};
  waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
  done = true;
  sampler.join();
  wait4(pid, &status, 0, &usage);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m.peak_mib = usage.ru_maxrss / 1024.0;  // KiB on Linux
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  m.cpu_seconds = secs(usage.ru_utime) + secs(usage.ru_stime);
  return m;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The demo's 60 s target on two cores, in references: on the two-core machine where the demo
// took 10.4 s (11.7 references), the reference workload took 0.9 s. Busy neighbours moved the
// ratio between 9 and 14 there; the budget, 67, fails a demo about 5.7 times slower.
constexpr double kReferenceSeconds = 0.9;
constexpr double kDemoBudget = 60.0 / kReferenceSeconds;

// A fixed amount of work of the kinds the demo does, none of it driftwatch's: rows written into
// an SQLite database in dir (WAL, synchronous=NORMAL, committed every 64 rows, an index, texts
// of a few hundred bytes) and read back grouped, then strings sorted. Returns its wall time in
// seconds, or a negative value when SQLite fails.
double reference_workload(const fs::path& dir) {
  const fs::path file = dir / "reference.db";
  fs::remove(file);
  auto t0 = std::chrono::steady_clock::now();
  sqlite3* db = nullptr;
  bool ok = sqlite3_open(file.c_str(), &db) == SQLITE_OK;
  auto exec = [&](const char* sql) {
    ok = ok && sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  };
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
       "CREATE TABLE t (id INTEGER PRIMARY KEY, run INTEGER, probe TEXT, text TEXT);"
       "CREATE INDEX t_run ON t (run, probe);");
  sqlite3_stmt* insert = nullptr;
  ok = ok && sqlite3_prepare_v2(db, "INSERT INTO t (run, probe, text) VALUES (?, ?, ?)", -1,
                                &insert, nullptr) == SQLITE_OK;
  std::mt19937 rng(42);
  std::string text;
  constexpr int kRows = 60000;
  for (int i = 0; ok && i < kRows; ++i) {
    if (i % 64 == 0) exec("BEGIN");
    text.clear();
    for (int w = 0; w < 60; ++w) text += "abcdefghij"[rng() % 10] + std::to_string(rng() % 1000) + ' ';
    std::string probe = "probe-" + std::to_string(rng() % 300);
    sqlite3_bind_int(insert, 1, i / 1000);
    sqlite3_bind_text(insert, 2, probe.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 3, text.c_str(), -1, SQLITE_TRANSIENT);
    ok = sqlite3_step(insert) == SQLITE_DONE && sqlite3_reset(insert) == SQLITE_OK;
    if (i % 64 == 63 || i + 1 == kRows) exec("COMMIT");
  }
  sqlite3_finalize(insert);
  exec("CREATE TABLE g AS SELECT run, probe, count(*) AS n, sum(length(text)) AS bytes FROM t "
       "GROUP BY run, probe ORDER BY run, probe");
  sqlite3_close(db);
  std::vector<std::string> words;
  for (int i = 0; i < 400000; ++i) words.push_back(std::to_string(rng()) + std::to_string(rng()));
  std::sort(words.begin(), words.end());
  fs::remove(file);
  fs::remove(dir / "reference.db-wal");
  fs::remove(dir / "reference.db-shm");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ok && std::is_sorted(words.begin(), words.end()) ? seconds : -1;
}

// The demo's wall time against the reference's (the mean of a run before and one after it).
int quick_demo(const fs::path& dir) {
  double before = reference_workload(dir);
  Measured demo = measure({kDriftwatch.string(), "demo", "--out", (dir / "demo").string()},
                          dir / "demo.out");
  double after = reference_workload(dir);
  if (before < 0 || after < 0) {
    std::fprintf(stderr, "the reference workload failed (SQLite in %s)\n", dir.c_str());
    return 1;
  }
  double reference = (before + after) / 2;
  double ratio = demo.seconds / reference;
  std::printf("reference workload: %.2f s before the demo, %.2f s after (%.2f s on the machine "
              "the target was set on)\n",
              before, after, kReferenceSeconds);
  std::printf("driftwatch demo (30 simulated days): exit %d, %.1f s, %.1f s CPU: %.1f references "
              "(budget %.0f: the 60 s target)\n",
              demo.code, demo.seconds, demo.cpu_seconds, ratio, kDemoBudget);
  if (demo.code != 0) std::printf("demo output:\n%s", slurp(dir / "demo.out").c_str());
  bool ok = demo.code == 0 && ratio <= kDemoBudget;
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

// The "ok" column of the endpoint's line in `run --once`'s table (-1 when there is none).
long answered_ok(const std::string& out) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream row(line);
    std::string name;
    long samples = 0, ok = 0;
    if (row >> name >> samples >> ok && name == "sim") return ok;
  }
  return -1;
}

struct Idle {
  double rss_mib = 0, anon_mib = 0;
};

// `driftwatch daemon`: its memory two seconds after its log says `until` (nullopt when that
// did not come within `wait`).
std::optional<Idle> idle_daemon(const std::string& config, const fs::path& dir,
                                const std::string& until, std::chrono::seconds wait) {
  const fs::path out = dir / (fs::path(config).stem().string() + ".daemon.out");
  pid_t pid = start({kDriftwatch.string(), "-c", config, "daemon"}, out);
  std::optional<Idle> idle;
  const auto end = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < end) {
    if (slurp(out).find(until) != std::string::npos) {
      idle.emplace();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // After a run's detection is logged the job still ends (its events, metrics, retention)
  // before the daemon gives its memory back: two seconds cover that here.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto [anon, file] = rss_split(pid);
  if (idle) idle = Idle{anon + file, anon};
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  return idle;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--quick") {
    std::string pattern = (fs::temp_directory_path() / "dw-bench-demo-XXXXXX").string();
    if (!mkdtemp(pattern.data())) return 1;
    int code = quick_demo(pattern);
    fs::remove_all(pattern);
    return code;
  }
  const int probes = argc > 1 ? std::atoi(argv[1]) : 300;
  const int samples = argc > 2 ? std::atoi(argv[2]) : 3;
  if (probes < 1 || samples < 1 || samples > 100) {
    std::fprintf(stderr, "usage: bench_run [PROBES [SAMPLES (1..100)]] | --quick\n");
    return 1;
  }
  std::string pattern = (fs::temp_directory_path() / "dw-bench-run-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return 1;
  const fs::path dir = pattern;

  {
    std::ofstream set(dir / "bench.toml");
    set << "name = \"bench\"\n";
    for (int i = 0; i < probes; ++i)
      set << "\n[[probe]]\nid = \"p" << i << "\"\ncategory = \"bench\"\nlang = \"en\"\n"
          << "prompt = \"Question " << i << ": what is the capital of Australia?\"\n";
  }
  setenv("DW_BENCH_KEY", "bench-key", 1);  // the endpoint's key, the one the simulator wants
  pid_t sim = start({kSim.string(), "--api-key", "bench-key", "--scenario",
                     (fs::path(DW_SOURCE_DIR) / "tests/data/run-scenario.toml").string(),
                     "--port", "0"},
                    dir / "sim.out");
  const std::string prefix = "listening on http://127.0.0.1:";
  int port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    std::string line = slurp(dir / "sim.out");
    if (line.starts_with(prefix) && line.find('\n') != std::string::npos)
      port = std::atoi(line.c_str() + prefix.size());
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (port == 0) {
    std::fprintf(stderr, "driftwatch-sim did not start: %s\n", slurp(dir / "sim.out").c_str());
    kill(sim, SIGTERM);
    fs::remove_all(dir);
    return 1;
  }
  std::ofstream(dir / "bench.conf.toml")
      << "[storage]\ndatabase = \"bench.db\"\n[probes]\nsets = [\"bench.toml\"]\nsamples = "
      << samples << "\n[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules"
      << "\n[[endpoint]]\nname = \"sim\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:"
      << port << "/v1\"\nmodel = \"bench\"\nconcurrency = 16\n"
      // The simulator refuses a request without a key (401), as a hosted API does.
      << "api_key_env = \"DW_BENCH_KEY\"\n";
  // The first daemon below waits: nothing is due until next year. The second runs the probes
  // soon after it starts, then waits.
  fs::copy_file(dir / "bench.conf.toml", dir / "bench.runs.toml");
  std::ofstream(dir / "bench.conf.toml", std::ios::app)
      << "[schedule]\nprobes = \"0 0 1 1 *\"\nreport = \"0 0 1 1 *\"\n";
  std::ofstream(dir / "bench.runs.toml", std::ios::app)
      << "[schedule]\nprobes = \"@every 30s\"\nreport = \"0 0 1 1 *\"\n";
  const std::string config = (dir / "bench.conf.toml").string();

  Measured idle = measure({kDriftwatch.string(), "-c", config, "check"}, dir / "check.out");
  Measured run = measure({kDriftwatch.string(), "-c", config, "run", "--once"}, dir / "run.out");
  const std::optional<Idle> daemon =
      idle_daemon(config, dir, "daemon ready", std::chrono::seconds(10));
  const std::optional<Idle> after_run = idle_daemon((dir / "bench.runs.toml").string(), dir,
                                                    "drift detection after run",
                                                    std::chrono::seconds(90));
  const std::string after_run_log =
      slurp(dir / (daemon ? "bench.runs.daemon.out" : "bench.conf.daemon.out"));
  const long run_ok = answered_ok(slurp(dir / "run.out"));
  const bool answered = run.code == 0 && run_ok == probes * samples;
  kill(sim, SIGTERM);
  waitpid(sim, nullptr, 0);

  std::string strip = "strip -o '" + (dir / "stripped").string() + "' '" + kDriftwatch.string() +
                      "'";
  const bool stripped = std::system(strip.c_str()) == 0;

  std::printf("driftwatch run --once, %d probes x %d samples against driftwatch-sim:\n", probes,
              samples);
  std::printf("  exit %d, %.2f s, %.0f samples/s, peak RSS %.1f MiB\n", run.code, run.seconds,
              probes * samples / run.seconds, run.peak_mib);
  std::printf("  peak anonymous %.1f MiB (target < 12), mapped files %.1f MiB\n",
              run.peak_anon_mib, run.peak_file_mib);
  std::printf("  answered (HTTP 200): %ld of %d\n", run_ok, probes * samples);
  std::printf("driftwatch check: exit %d, peak RSS %.1f MiB\n", idle.code, idle.peak_mib);
  if (daemon) {
    std::printf("driftwatch daemon, idle after start: RSS %.1f MiB, anonymous %.1f MiB\n",
                daemon->rss_mib, daemon->anon_mib);
  }
  if (after_run) {
    std::printf("driftwatch daemon, idle after a scheduled run: RSS %.1f MiB, anonymous %.1f MiB\n",
                after_run->rss_mib, after_run->anon_mib);
  }
  // bench/all.sh gathers these lines into one table.
  if (answered) {
    std::printf("TABLE|run of %d requests: wall time|%.2f s|\n", probes * samples, run.seconds);
    std::printf("TABLE|run of %d requests: peak RSS, total / anonymous|%.1f / %.1f MiB|anonymous < 12 MiB\n",
                probes * samples, run.peak_mib, run.peak_anon_mib);
  }
  if (daemon && after_run) {
    std::printf("TABLE|idle daemon, after start / after a run: RSS, total / anonymous|%.1f / "
                "%.1f MiB; %.1f / %.1f MiB|a few MiB\n",
                daemon->rss_mib, daemon->anon_mib, after_run->rss_mib, after_run->anon_mib);
  }
  std::printf("binary: %.2f MiB as built", fs::file_size(kDriftwatch) / 1048576.0);
  if (stripped) std::printf(", %.2f MiB stripped", fs::file_size(dir / "stripped") / 1048576.0);
  std::printf("\n");
  if (!answered) std::printf("FAIL: the run did not answer every request:\n%s", slurp(dir / "run.out").c_str());
  if (!daemon || !after_run) {
    std::printf("FAIL: the daemon did not get %s:\n%s", daemon ? "through its run" : "ready",
                after_run_log.c_str());
  }

  Measured demo = measure({kDriftwatch.string(), "demo", "--out", (dir / "demo").string()},
                          dir / "demo.out");
  std::printf("driftwatch demo (30 simulated days): exit %d, %.1f s (target < 60 s), "
              "%.1f s CPU, peak RSS %.1f MiB\n",
              demo.code, demo.seconds, demo.cpu_seconds, demo.peak_mib);
  if (demo.code != 0) std::printf("demo output:\n%s", slurp(dir / "demo.out").c_str());
  fs::remove_all(dir);
  return answered && daemon && after_run && demo.code == 0 ? 0 : 1;
}
