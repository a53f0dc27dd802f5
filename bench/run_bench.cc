// Memory and size of the driftwatch binary: the peak RSS of `driftwatch run --once` over a
// generated probe set (1,000 probes x 1 sample by default) against driftwatch-sim on loopback,
// the peak RSS of an idle command (`driftwatch check`), and the binary's size stripped. Then
// the time of `driftwatch demo` (target: under a minute on two cores).
//
//   build/bench/bench_run [PROBES [SAMPLES]]
//
// Peak RSS is the child's ru_maxrss from wait4(), the same figure as VmHWM in
// /proc/PID/status and "Maximum resident set size" of /usr/bin/time -v.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
};

Measured measure(std::vector<std::string> argv, const fs::path& out) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = start(std::move(argv), out);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  Measured m;
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

}  // namespace

int main(int argc, char** argv) {
  const int probes = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int samples = argc > 2 ? std::atoi(argv[2]) : 1;
  if (probes < 1 || samples < 1 || samples > 100) {
    std::fprintf(stderr, "usage: bench_run [PROBES [SAMPLES (1..100)]]\n");
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
  pid_t sim = start({kSim.string(), "--scenario",
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
      << port << "/v1\"\nmodel = \"bench\"\nconcurrency = 16\n";
  const std::string config = (dir / "bench.conf.toml").string();

  Measured idle = measure({kDriftwatch.string(), "-c", config, "check"}, dir / "check.out");
  Measured run = measure({kDriftwatch.string(), "-c", config, "run", "--once"}, dir / "run.out");
  kill(sim, SIGTERM);
  waitpid(sim, nullptr, 0);

  std::string strip = "strip -o '" + (dir / "stripped").string() + "' '" + kDriftwatch.string() +
                      "'";
  const bool stripped = std::system(strip.c_str()) == 0;

  std::printf("driftwatch run --once, %d probes x %d samples against driftwatch-sim:\n", probes,
              samples);
  std::printf("  exit %d, %.2f s, %.0f samples/s, peak RSS %.1f MiB\n", run.code, run.seconds,
              probes * samples / run.seconds, run.peak_mib);
  std::printf("driftwatch check (idle): exit %d, peak RSS %.1f MiB\n", idle.code, idle.peak_mib);
  std::printf("binary: %.2f MiB as built", fs::file_size(kDriftwatch) / 1048576.0);
  if (stripped) std::printf(", %.2f MiB stripped", fs::file_size(dir / "stripped") / 1048576.0);
  std::printf("\n");
  if (run.code != 0) std::printf("run output:\n%s", slurp(dir / "run.out").c_str());

  Measured demo = measure({kDriftwatch.string(), "demo", "--out", (dir / "demo").string()},
                          dir / "demo.out");
  std::printf("driftwatch demo (30 simulated days): exit %d, %.1f s (target < 60 s), "
              "%.1f s CPU, peak RSS %.1f MiB\n",
              demo.code, demo.seconds, demo.cpu_seconds, demo.peak_mib);
  if (demo.code != 0) std::printf("demo output:\n%s", slurp(dir / "demo.out").c_str());
  fs::remove_all(dir);
  return run.code == 0 && demo.code == 0 ? 0 : 1;
}
