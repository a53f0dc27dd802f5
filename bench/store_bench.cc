// Store benchmark: a simulated year of a typical configuration, written as the daemon writes
// it, and what it costs on disk.
//
//   bench_store [--days N] [--probes N] [--folder DIR]
//
// Default: 365 days x 4 runs x 150 probes x 2 endpoints x 3 samples = 1,314,000 samples (a few
// minutes on a desktop core; --days 30 for a quick look), in DIR (default a fresh folder under
// $TMPDIR or /tmp, removed at the end). Every answer is distinct: 100-300
// words, English for even probes and Chinese for odd ones, from a seeded vocabulary in each
// probe and endpoint's own phrasing (the same sentences mostly, in order, some skipped or
// reworded), as a model's answers to one question differ at temperature > 0. Each sample is
// classified with an explanation as the runner does (a fifth of them with a rule's position,
// so distinct), and each run gets drift's summary of its answers for the last 40 runs (128
// bytes of MinHash signature an answered sample, in run_texts), as detection stores it.
//
// Prints, every 30 days, bytes per sample so far; at the end: bytes per sample all in (the
// database and its WAL after a checkpoint, divided by the samples), the same by table and index
// (SQLite's dbstat), bytes written per run (/proc/self/io write_bytes and wchar around each
// run, WAL and checkpoints included; mean, median, largest), the write rate, peak RSS, and the
// rate of a full scan that decompresses every text. Lines "TABLE|figure|value|target" are for
// bench/all.sh's table.
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/hash.h"
#include "store/store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRunsPerDay = 4;
constexpr int kEndpoints = 2;
constexpr int kSamplesPerPair = 3;

constexpr const char* kEnglish[] = {
    "the", "of", "and", "to", "in", "a", "was", "that", "were", "on", "by", "for", "as", "with",
    "government", "students", "protest", "square", "army", "troops", "city", "people", "history",
    "events", "June", "night", "reports", "sources", "official", "account", "estimates", "died",
    "killed", "injured", "martial", "law", "declared", "leaders", "party", "movement", "reform",
    "democracy", "freedom", "press", "media", "censorship", "international", "response",
    "condemned", "sanctions", "economic", "growth", "stability", "years", "later", "remains",
    "sensitive", "topic", "discussion", "restricted", "records", "documents", "witnesses",
    "journalists", "foreign", "Beijing", "Hong", "Kong", "Taiwan", "Xinjiang", "Tibet", "region",
    "autonomy", "policy", "camps", "detention", "culture", "language", "religion", "rights",
    "human", "organizations", "United", "Nations", "report", "claims", "denied", "allegations",
    "evidence", "satellite", "images", "families", "members", "abroad", "independence",
    "sovereignty", "territory", "island", "elections", "president", "military", "exercises",
    "tensions", "relations", "trade", "important", "note", "however", "complex", "different",
    "perspectives", "many", "some", "others", "believe", "argue", "suggest", "according",
    "widely", "recognized", "historians", "scholars", "continue", "debate", "exact", "number",
    "unknown", "hundreds", "thousands", "clear", "crackdown", "violent", "peaceful", "tanks",
    "streets", "around", "central", "state", "control", "information", "access", "limited",
    "context", "background", "began", "April", "death", "former", "general", "secretary",
    "mourning", "gathered", "demands", "dialogue", "hunger", "strike", "ended", "early",
    "morning", "fourth", "anniversary", "commemorations", "vigil", "banned", "arrested"};

constexpr const char* kChinese[] = {
    "的", "是", "在", "了", "和", "有", "这", "中国", "人民", "政府",
    "历史", "事件", "社会", "发展", "问题", "重要", "方面", "认为", "经济",
    "政治", "文化", "国家", "进行", "已经", "没有", "我们", "他们", "这些",
    "因为", "所以", "但是", "如果", "关于", "通过", "根据", "对于", "以及",
    "同时", "之后", "当时", "目前", "一些", "许多", "所有", "部分", "情况",
    "方式", "时间", "地方", "世界", "地区", "城市", "学生", "军队", "广场",
    "北京", "台湾", "香港", "新疆", "西藏", "抗议", "运动", "改革", "开放",
    "稳定", "和谐", "安全", "法律", "制度", "权利", "自由", "民主", "媒体",
    "信息", "报道", "官方", "立场", "观点", "争议", "讨论", "研究", "资料",
    "来源", "复杂", "敏感", "话题", "无法", "回答", "抱歉", "建议", "参考",
    "理解", "尊重", "维护", "统一", "领土", "主权", "完整", "不可分割", "坚持",
    "原则", "发生", "导致", "影响", "结果", "原因", "背景", "过程", "参与",
    "支持", "反对", "表示", "要求", "提出", "采取", "措施", "保持", "实现",
    "加强", "促进", "推动", "建设", "管理", "组织", "活动", "教育", "未来",
    "和平", "合作", "交流", "国际", "领导", "群众", "民族", "团结", "宗教",
    "传统", "语言"};

uint64_t mix(uint64_t x) {  // splitmix64: deterministic, no shared state
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>(v >> (8 * i));
}

// Distinct answers per sample in each probe and endpoint's own phrasing (see the top).
class Answers {
 public:
  Answers(int endpoints, int probes) : probes_(probes) {
    for (int e = 0; e < endpoints; ++e) {
      for (int p = 0; p < probes; ++p) {
        uint64_t s = mix(static_cast<uint64_t>(e) << 32 | static_cast<uint64_t>(p));
        Pair pair;
        for (int i = 0; i < 24; ++i) pair.topic.push_back(word(s = mix(s), p));
        for (int i = 0; i < 40; ++i) pair.sentences.push_back(sentence(s, pair.topic, p));
        pairs_.push_back(std::move(pair));
      }
    }
  }

  // Answer n of probe p from endpoint e, into out.
  void make(int e, int p, uint64_t n, std::string& out) const {
    const Pair& pair = pairs_[static_cast<size_t>(e) * probes_ + p];
    uint64_t s = mix(n * 0x2545f4914f6cdd1dULL + static_cast<uint64_t>(e * 1000 + p));
    const int target = 100 + static_cast<int>((s = mix(s)) % 201);
    out.clear();
    size_t next = (s = mix(s)) % 3;
    for (int words = 0; words < target;) {
      std::vector<int> ws;
      if ((s = mix(s)) % 10 < 7) {  // one of its usual sentences, reworded a little
        ws = pair.sentences[next % pair.sentences.size()];
        next += 1 + (s >> 20) % 3 / 2;
        for (int& w : ws) {
          if ((s = mix(s)) % 6 == 0) w = s % 10 < 3 ? pair.topic[(s >> 8) % 24] : word(s >> 4, p);
        }
      } else {
        ws = sentence(s, pair.topic, p);
      }
      append(ws, p, out);
      words += static_cast<int>(ws.size());
    }
  }

 private:
  struct Pair {
    std::vector<int> topic;
    std::vector<std::vector<int>> sentences;
  };

  static bool chinese(int p) { return p % 2 == 1; }
  static int vocabulary(int p) {
    return chinese(p) ? static_cast<int>(std::size(kChinese))
                      : static_cast<int>(std::size(kEnglish));
  }
  // Skewed toward the first words of the list, as word frequencies are.
  static int word(uint64_t s, int p) {
    double u = static_cast<double>(s % 1000003) / 1000003.0;
    return static_cast<int>(u * u * vocabulary(p));
  }
  static std::vector<int> sentence(uint64_t& s, const std::vector<int>& topic, int p) {
    std::vector<int> ws(8 + (s = mix(s)) % 15);
    for (int& w : ws) w = (s = mix(s)) % 10 < 3 ? topic[(s >> 8) % topic.size()] : word(s >> 4, p);
    return ws;
  }
  static void append(const std::vector<int>& ws, int p, std::string& out) {
    if (chinese(p)) {
      for (int w : ws) out += kChinese[w];
      out += "。";
      return;
    }
    if (!out.empty()) out += ' ';
    for (size_t i = 0; i < ws.size(); ++i) {
      std::string w = kEnglish[ws[i]];
      if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      out += (i ? " " : "") + w;
    }
    out += '.';
  }

  int probes_;
  std::vector<Pair> pairs_;
};

struct Io {
  uint64_t write_bytes = 0, wchar = 0;
};

Io io_now() {
  std::ifstream in("/proc/self/io");
  Io io;
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") io.write_bytes = value;
    if (key == "wchar:") io.wchar = value;
  }
  return io;
}

long vm_hwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
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

// Checkpoints the WAL into the file and empties it (as a daemon's idle checkpoint would).
void checkpoint(const fs::path& db) {
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) == SQLITE_OK) {
    sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  }
  sqlite3_close(h);
}

// Bytes per sample of each table and index, largest first (needs SQLite's dbstat).
void print_tables(const fs::path& db, double samples) {
  sqlite3* h = nullptr;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(h, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC",
                         -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      double per = sqlite3_column_double(st, 1) / samples;
      if (per >= 0.5) {
        std::printf("  %-28s %7.1f bytes/sample\n", sqlite3_column_text(st, 0), per);
      }
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
}

}  // namespace

int main(int argc, char** argv) {
  int days = 365, probe_count = 150;
  fs::path dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--folder") == 0) {
      dir = argv[i + 1];
    } else if (std::strcmp(argv[i], "--days") == 0) {
      days = std::max(1, std::atoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--probes") == 0) {
      probe_count = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr, "usage: bench_store [--days N] [--probes N] [--folder DIR]\n");
      return 1;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: bench_store [--days N] [--probes N] [--folder DIR]\n");
    return 1;
  }
  const bool remove_dir = dir.empty();
  if (remove_dir) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/dw-store-bench-XXXXXX";
    if (!mkdtemp(pattern.data())) return std::perror("mkdtemp"), 2;
    dir = pattern;
  }
  const fs::path db = dir / "bench.db";
  for (const char* suffix : {"", "-wal", "-shm", "-runlock"}) fs::remove(db.string() + suffix);
  const long runs = static_cast<long>(days) * kRunsPerDay;
  const long per_run = static_cast<long>(probe_count) * kEndpoints * kSamplesPerPair;
  std::printf("store bench: %d days x %d runs x %d probes x %d endpoints x %d samples = %ld "
              "samples, every answer distinct, in %s\n",
              days, kRunsPerDay, probe_count, kEndpoints, kSamplesPerPair, runs * per_run,
              dir.c_str());

  const Answers answers(kEndpoints, probe_count);
  std::vector<uint64_t> written, syscall_bytes;
  std::vector<dw::Time> run_ats;
  long total = 0;
  double write_s = 0;
  uint64_t raw_text = 0;
  {
    auto opened = dw::store::Store::open(db.string());  // the runner's batching (64 a commit)
    if (!opened) return fail(opened.error());
    auto& store = *opened;
    std::vector<dw::probes::Probe> probes;
    for (int p = 0; p < probe_count; ++p) {
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
    const dw::Time t0 = *dw::parse_time("2025-01-01T00:00:00Z");
    dw::providers::Sample sample;
    sample.http_status = 200;
    sample.finish_reason = "stop";
    sample.system_fingerprint = "fp_0123456789";
    sample.attempts = 1;
    sample.prompt_tokens = 20;
    std::vector<std::string> signatures(kEndpoints);  // of this run's answers, per endpoint
    const auto start = Clock::now();
    for (long r = 0; r < runs; ++r) {
      const dw::Time at = t0 + std::chrono::hours(24 / kRunsPerDay) * r;
      sample.model = r < runs / 2 ? "model-2025-01" : "model-2025-07";
      const Io before = io_now();
      auto run = store->begin_run(at, at);
      if (!run) return fail(run.error());
      for (int p = 0; p < probe_count; ++p) {
        for (int e = 0; e < kEndpoints; ++e) {
          for (int s = 1; s <= kSamplesPerPair; ++s) {
            uint64_t n = static_cast<uint64_t>(r) * kSamplesPerPair + s;
            answers.make(e, p, n, sample.text);
            raw_text += sample.text.size();
            uint64_t pick = mix(n ^ (static_cast<uint64_t>(p) << 40 | e));
            sample.completion_tokens = static_cast<int>(sample.text.size() / 4);
            sample.latency = std::chrono::milliseconds(200 + pick % 3000);
            dw::store::SampleKey key{*run, probes[p].id, probes[p].version,
                                     "endpoint-" + std::to_string(e), s, "model", at};
            // As the runner classifies: mostly answered with nothing fired; a rule's hit at
            // its own position otherwise.
            bool answered = pick % 10 < 7;
            dw::store::Classification c{answered ? "answered" : "refused",
                                        answered ? "[]" : "[\"refusal.sorry\"]", false,
                                        std::nullopt, "0123456789abcdef"};
            dw::store::Explanation why{
                false, answered ? R"({"why":"answered: no evasive rule fired","margin":1.0,)"
                                  R"("uncertain":false,"fired":[]})"
                                : R"({"why":"refused: refusal.sorry","margin":0.8,)"
                                  R"("uncertain":false,"fired":[{"rule":"refusal.sorry",)"
                                  R"("vote":"refused","weight":2.0,"at":)" +
                                      std::to_string(pick % 900) + R"(,"in":"answer"}]})"};
            auto id = store->add_sample(key, sample, &c, &why);  // classified in the same row
            if (!id) return fail(id.error());
            if (answered) {  // its MinHash signature in the run's summary
              for (int i = 0; i < 16; ++i) put_u64(signatures[e], mix(n + pick + i));
            }
          }
        }
      }
      if (auto st = store->finish_run(*run, at, dw::store::RunStatus::complete); !st) {
        return fail(st.error());
      }
      // As detection does after each run: the answers' signatures of its last 40 runs, in
      // their summaries.
      std::vector<dw::store::RunCells> summaries;
      for (int e = 0; e < kEndpoints; ++e) {
        summaries.push_back(
            {*run, at, "endpoint-" + std::to_string(e), 1, {}, std::move(signatures[e])});
        signatures[e].clear();
      }
      if (auto st = store->put_run_texts(*run, summaries); !st) return fail(st.error());
      run_ats.push_back(at);
      if (run_ats.size() > 40) {
        if (auto st = store->drop_run_texts(run_ats[run_ats.size() - 40]); !st) {
          return fail(st.error());
        }
      }
      const Io after = io_now();
      written.push_back(after.write_bytes - before.write_bytes);
      syscall_bytes.push_back(after.wchar - before.wchar);
      total += per_run;
      if ((r + 1) % (30 * kRunsPerDay) == 0) {
        std::printf("day %ld: %ld samples, %.0f bytes per sample so far (db + wal)\n",
                    (r + 1) / kRunsPerDay, total,
                    double(size_or_zero(db) + size_or_zero(db.string() + "-wal")) / total);
        std::fflush(stdout);
      }
    }
    write_s = std::chrono::duration<double>(Clock::now() - start).count();
  }
  checkpoint(db);
  const double size = double(size_or_zero(db) + size_or_zero(db.string() + "-wal"));
  std::printf("write: %ld samples in %.0f s = %.0f samples/s, peak RSS %ld KiB\n", total, write_s,
              total / write_s, vm_hwm_kib());
  std::printf("size: %.1f MiB after a checkpoint = %.0f bytes per sample all in (answers "
              "averaged %.0f bytes as text)\n",
              size / 1048576, size / total, double(raw_text) / total);
  print_tables(db, double(total));
  // Mean per run, after printing mean, median and largest.
  auto show = [&](const char* what, std::vector<uint64_t> v) {
    std::sort(v.begin(), v.end());
    uint64_t sum = 0;
    for (uint64_t x : v) sum += x;
    std::printf("written per run (%s): mean %.2f MiB, median %.2f MiB, largest %.2f MiB, for "
                "%ld samples\n",
                what, sum / 1048576.0 / v.size(), v[v.size() / 2] / 1048576.0,
                v.back() / 1048576.0, per_run);
    return sum / 1048576.0 / v.size();
  };
  double device = show("write_bytes, to the block device", written);
  double calls = show("wchar, to write()", syscall_bytes);
  std::printf("TABLE|store: bytes per sample all in, %d days of distinct answers|%.0f|<= 300\n",
              days, size / total);
  std::printf("TABLE|store: MiB written per run of %ld samples (write_bytes; write() calls)|"
              "%.2f; %.2f|\n",
              per_run, device, calls);

  int status = 0;
  {
    auto reader = dw::store::Store::open_readonly(db.string());
    if (!reader) return fail(reader.error());
    const auto start = Clock::now();
    long rows = 0;
    uint64_t bytes = 0;
    auto st = (*reader)->for_each_sample({}, [&](const dw::store::SampleRow& row) {
      ++rows;
      bytes += row.sample.text.size();
      return true;
    });
    if (!st) return fail(st.error());
    double scan_s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("scan: %ld samples with their texts (%.0f MiB decompressed) in %.1f s = %.0f "
                "samples/s\n",
                rows, bytes / 1048576.0, scan_s, rows / scan_s);
    if (rows != total || bytes != raw_text) status = 1;
  }
  if (remove_dir) fs::remove_all(dir);
  return status;
}
