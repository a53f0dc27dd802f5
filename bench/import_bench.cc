// The memory and speed of `driftwatch import` over a generated history, as an earlier study
// would hand it over: JSON Lines of a small configuration (50 probes, half English, half
// Chinese, x 2 endpoints x 3 samples a run, four runs a day), distinct answers of 40-120 words,
// a refusal now and then, a few transport errors. The file and a fresh database live in a
// temporary folder, removed afterwards (1M lines: about 0.6 GB of file and 1 GB of database).
//
//   build/bench/bench_import [LINES]     (default 1,000,000; also measures LINES / 10)
//
// Peak RSS is the child's ru_maxrss from wait4(), as in run_bench.cc; written, its write() bytes
// (/proc/self/io wchar, WAL and temporary files included) a sample. Targets (issue 15, part
// 3): peak RSS independent of the input size, under 64 MiB for 1M lines; no slower than the
// 8.8k samples/s of the import that held the whole file.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kDriftwatch = fs::path(DW_BINARY_DIR) / "monitor/cli/driftwatch";

constexpr int kProbes = 50, kEndpoints = 2, kSamples = 3;
constexpr long kLinesPerRun = kProbes * kEndpoints * kSamples;

struct ImportFigures {
  double seconds = 0;  // wall time of the whole command, events recomputed included
  long peak_kib = 0;   // the child's peak RSS
  long long wchar = 0;  // bytes the child passed to write() calls, the WAL's included
};

// This process's write() bytes so far (/proc/self/io wchar). A child's count joins its
// parent's when the parent reaps it (wait4), so the difference around one is the child's.
long long wchar_so_far() {
  std::ifstream io("/proc/self/io");
  std::string key;
  long long value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  return 0;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::vector<std::string> kEnglish = {
    "the", "army", "students", "square", "government", "protest", "history", "records",
    "reports", "witnesses", "night", "city", "troops", "crowd", "officials", "estimates",
    "according", "to", "several", "sources", "many", "people", "were", "in", "streets",
    "and", "after", "before", "during", "events", "of", "that", "year", "remain", "debated",
    "while", "archives", "show", "accounts", "differ", "on", "numbers", "martial", "law",
    "declared", "leaders", "hunger", "strike", "demands", "reform", "press", "freedom"};
const std::vector<std::string> kChinese = {
    "政府", "学生", "广场", "军队", "历史", "记录", "报道", "目击者", "夜晚", "城市", "人群",
    "官员", "估计", "根据", "多个", "来源", "许多", "人们", "街道", "事件", "那一年", "仍然",
    "争议", "档案", "显示", "说法", "不同", "数字", "戒严", "宣布", "领导人", "绝食", "要求",
    "改革", "新闻", "自由"};
const char* kRefusal = "I'm sorry, but I can't help with that request.";

// An answer of 40-120 words from the probe's language; distinct with overwhelming odds.
std::string answer(std::mt19937& rng, bool chinese) {
  const auto& words = chinese ? kChinese : kEnglish;
  int n = 40 + static_cast<int>(rng() % 81);
  std::string text;
  for (int i = 0; i < n; ++i) {
    if (!chinese && i > 0) text += ' ';
    text += words[rng() % words.size()];
    if (i % 12 == 11) text += chinese ? "。" : ".";
  }
  return text;
}

// Writes the configuration and `lines` lines of history into dir; returns the history's path.
fs::path generate(const fs::path& dir, long lines) {
  {
    std::ofstream set(dir / "probes.toml");
    set << "name = \"bench\"\n";
    for (int i = 0; i < kProbes; ++i) {
      bool chinese = i % 2 == 1;
      set << "\n[[probe]]\nid = \"p" << i << "\"\ncategory = \"bench\"\nlang = \""
          << (chinese ? "zh-Hans" : "en") << "\"\nprompt = \""
          << (chinese ? "问题 " + std::to_string(i) + "：那一年的广场上发生了什么？"
                      : "Question " + std::to_string(i) + ": what happened in the square that year?")
          << "\"\n";
    }
  }
  {
    std::ofstream conf(dir / "bench.conf.toml");
    conf << "[storage]\ndatabase = \"bench.db\"\n[probes]\nsets = [\"probes.toml\"]\nsamples = "
         << kSamples << "\n[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules"
         << "\n";
    for (int e = 0; e < kEndpoints; ++e) {
      conf << "[[endpoint]]\nname = \"e" << e << "\"\nkind = \"openai\"\n"
           << "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m" << e << "\"\n";
    }
  }
  fs::path file = dir / "history.jsonl";
  std::ofstream out(file, std::ios::binary);
  std::mt19937 rng(20260101);
  const time_t start = 1672531200;  // 2023-01-01T00:00:00Z
  char at[32];
  std::string line;
  for (long i = 0; i < lines; ++i) {
    long run = i / kLinesPerRun, in_run = i % kLinesPerRun;
    int probe = static_cast<int>(in_run / (kEndpoints * kSamples));
    int endpoint = static_cast<int>(in_run / kSamples % kEndpoints);
    time_t when = start + static_cast<time_t>(run) * 6 * 3600;
    tm utc{};
    std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&when, &utc));
    line = "{\"probe\":\"p" + std::to_string(probe) + "\",\"endpoint\":\"e" +
           std::to_string(endpoint) + "\",\"model\":\"m" + std::to_string(endpoint) +
           "\",\"at\":\"" + at + "\",";
    unsigned roll = rng() % 100;
    if (roll < 3) line += "\"error\":\"timeout after 60s\"}";
    else if (roll < 13) line += std::string("\"response\":\"") + kRefusal + "\"}";
    else line += "\"response\":\"" + answer(rng, probe % 2 == 1) + "\"}";
    out << line << '\n';
  }
  return file;
}

// Generates `lines` lines of history in a temporary folder and imports them into a fresh
// database there; nullopt (after printing why to stderr) when the import fails.
std::optional<ImportFigures> measure_import(long lines) {
  std::string pattern = (fs::temp_directory_path() / "dw-bench-import-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return std::nullopt;
  const fs::path dir = pattern;
  fs::path file = generate(dir, lines);
  std::vector<std::string> argv{kDriftwatch.string(), "-c", (dir / "bench.conf.toml").string(),
                                "import", file.string()};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const fs::path output = dir / "import.out";
  const long long wchar_before = wchar_so_far();
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  ImportFigures figures;
  figures.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  figures.peak_kib = usage.ru_maxrss;  // KiB on Linux
  figures.wchar = wchar_so_far() - wchar_before;
  std::string said = slurp(output);
  fs::remove_all(dir);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
            said.find("imported " + std::to_string(lines) + " samples") != std::string::npos;
  if (!ok) {
    std::fprintf(stderr, "driftwatch import of %ld lines failed:\n%s", lines, said.c_str());
    return std::nullopt;
  }
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  const long lines = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (argc > 2 || lines < 10) {
    std::fprintf(stderr, "usage: bench_import [LINES (at least 10)]\n");
    return 1;
  }
  std::printf("driftwatch import: %d probes x %d endpoints x %d samples a run, %ld lines a run\n",
              kProbes, kEndpoints, kSamples, kLinesPerRun);
  for (long n : {lines / 10, lines}) {
    auto figures = measure_import(n);
    if (!figures) return 1;
    std::printf("  %8ld lines (%ld runs): %.1f s, %.0f samples/s, peak RSS %.1f MiB, "
                "written %.1f KiB a sample\n",
                n, (n + kLinesPerRun - 1) / kLinesPerRun, figures->seconds, n / figures->seconds,
                figures->peak_kib / 1024.0, figures->wchar / 1024.0 / n);
    // bench/all.sh gathers these lines into one table.
    std::printf("TABLE|import of %ld lines: samples per second, peak RSS, written a sample|"
                "%.0f/s, %.1f MiB, %.1f KiB|>= 8,800/s; < 64 MiB for 1M lines\n",
                n, n / figures->seconds, figures->peak_kib / 1024.0,
                figures->wchar / 1024.0 / n);
  }
  std::printf("targets: peak RSS the same for both sizes and under 64 MiB for 1M lines; at "
              "least 8.8k samples/s\n");
  return 0;
}
