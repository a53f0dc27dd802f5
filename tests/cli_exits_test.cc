// Exit codes as README.md's Command line section gives them (0 success, 1 invalid input, 2
// runtime failure): for every command that documents a runtime failure, one case of it, and
// for `diff`, a span without samples. Each failure is one clear line on stderr and nothing on
// stdout. (A missing database for events, report and diff is in cli_readonly_test.cc.)
#include <netinet/in.h>
#include <sys/socket.h>

#include "cli_run_harness.h"
#include "store/store.h"

namespace cli_exits_test {

using namespace dw::test;

namespace {

// README.md, Command line: "Exit codes: 0 success, 1 invalid input, 2 runtime failure."
// (check_rejected() in cli_run_harness.h is the invalid-input side: exit 1.)
constexpr int kRuntimeFailure = 2;

constexpr const char* kAt = "2026-01-15T06:00:00Z";

// A runtime failure: exit 2, nothing on stdout, one line on stderr.
void check_failed(const Outcome& o) {
  INFO(o.out << o.err);
  CHECK(o.code == kRuntimeFailure);
  CHECK(o.out.empty());
  CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
}

// A config in scratch over `database` (relative to it): the test probe set, the shipped rule
// packs, two endpoints that no command below sends a request to, and `extra` TOML at the end.
fs::path write_config(const Scratch& scratch, const std::string& database,
                      const std::string& extra = "") {
  std::ostringstream t;
  t << "[storage]\ndatabase = \"" << database << "\"\n\n[probes]\nsets = ["
    << kData / "run-answers.toml" << "]\n\n[schedule]\nprobes = \"0 0 1 1 *\"\n\n"
    << "[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n\n";
  for (const char* name : {"gpt", "claude"}) {
    t << "[[endpoint]]\nname = \"" << name << "\"\nkind = \"openai\"\n"
      << "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"" << name << "-test\"\n\n";
  }
  t << extra;
  return scratch.write("driftwatch.toml", t.str());
}

// One run at kAt on endpoint gpt (two samples), stored through `import`.
void import_history(const Scratch& scratch, const fs::path& config) {
  fs::path history = scratch.write(
      "history.jsonl",
      std::string(R"({"probe":"capital-australia","endpoint":"gpt","at":")") + kAt +
          R"(","response":"Canberra is the capital of Australia."})" + "\n" +
          R"({"probe":"refused-topic","endpoint":"gpt","at":")" + kAt +
          R"(","response":"I'm sorry, but I can't help with that."})" + "\n");
  auto o = driftwatch(scratch, config, {"import", history.string()});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
}

// A file where the database should be that is not one (another program's data, a botched
// copy): SQLite reads its header and refuses it.
fs::path write_junk_database(const Scratch& scratch) {
  return scratch.write("junk.db", std::string(4096, 'x'));
}

// Names of the entries directly in dir, sorted.
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// A loopback port another process listens on, for as long as this object lives.
class ListeningPort {
 public:
  ListeningPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 4) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~ListeningPort() { close(fd_); }
  ListeningPort(const ListeningPort&) = delete;
  ListeningPort& operator=(const ListeningPort&) = delete;

  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace

TEST_CASE("events: a database that cannot be read is exit 2, one line naming it, the file as "
          "it was") {
  Scratch scratch;
  fs::path db = write_junk_database(scratch);
  const std::string before = slurp(db);
  fs::path config = write_config(scratch, "junk.db");
  for (const auto& args : std::vector<std::vector<std::string>>{{"events"}, {"events", "--json"}}) {
    CAPTURE(args.back());
    auto o = driftwatch(scratch, config, args);
    check_failed(o);
    CHECK(o.err.starts_with(db.string() + ": "));
    CHECK(contains(o.err, "not a database"));
    CHECK(slurp(db) == before);
  }
}

TEST_CASE("report: a report file that cannot be written is exit 2, one line naming it, no "
          "temporary file left") {
  Scratch scratch;
  fs::path config = write_config(scratch, "dw.db");
  import_history(scratch, config);
  // The Markdown file's name is taken by a folder: the rename into place fails.
  fs::path out = scratch.path("out");
  fs::path blocked = out / "driftwatch-2026-01-15.md";
  fs::create_directories(blocked);
  auto o = driftwatch(scratch, config,
                      {"report", "--at", "2026-01-15T07:00:00Z", "--out", out.string(), "--format",
                       "md"});
  check_failed(o);
  CHECK(o.err.starts_with("report: " + blocked.string() + ": "));
  CHECK(contains(o.err, "Is a directory"));
  CHECK(entries(out) == std::vector<std::string>{"driftwatch-2026-01-15.md"});
  CHECK(fs::is_directory(blocked));
  CHECK(fs::is_empty(blocked));
}

TEST_CASE("demo: a simulator that does not start is exit 2, one line quoting its log; no config "
          "or database written") {
  Scratch scratch;
  // driftwatch looks for driftwatch-sim beside itself first: a driftwatch in a folder of its
  // own (hard-linked, or copied across file systems) finds the broken one put there.
  fs::path bin = scratch.path("bin");
  fs::create_directories(bin);
  fs::path self = bin / "driftwatch";
  std::error_code linked;
  fs::create_hard_link(kDriftwatch, self, linked);
  if (linked) REQUIRE(fs::copy_file(kDriftwatch, self));  // keeps the mode: still executable
  fs::path sim = scratch.write("bin/driftwatch-sim",
                               "#!/bin/sh\necho 'driftwatch-sim: no scenario today' >&2\nexit 3\n");
  fs::permissions(sim, fs::perms::owner_all);

  fs::path out = scratch.path("demo");
  fs::path stdout_file = scratch.path("demo.out"), stderr_file = scratch.path("demo.err");
  Outcome o;
  o.code = wait_exit(spawn({self.string(), "demo", "--out", out.string()}, {}, stdout_file,
                           stderr_file));
  o.out = slurp(stdout_file);
  o.err = slurp(stderr_file);
  check_failed(o);
  CHECK(o.err == "demo: " + fs::weakly_canonical(sim).string() +
                     ": the simulator did not start: driftwatch-sim: no scenario today\n");
  CHECK_FALSE(fs::exists(out / "driftwatch.toml"));
  CHECK_FALSE(fs::exists(out / "driftwatch.db"));
  CHECK_FALSE(fs::exists(out / "reports"));
}

TEST_CASE("daemon: a database it cannot use is exit 2 at start, one journald line naming it, "
          "the file as it was") {
  Scratch scratch;
  fs::path db = write_junk_database(scratch);
  const std::string before = slurp(db);
  fs::path config = write_config(scratch, "junk.db");
  auto o = driftwatch(scratch, config, {"daemon"});
  check_failed(o);
  CHECK(o.err.starts_with("<3>" + db.string() + ": "));
  CHECK(contains(o.err, "not a database"));
  CHECK(slurp(db) == before);
}

TEST_CASE("daemon: a metrics port another process listens on is exit 2 at start, one journald "
          "line naming it") {
  Scratch scratch;
  ListeningPort busy;
  const std::string listen = "127.0.0.1:" + std::to_string(busy.port());
  fs::path config = write_config(scratch, "dw.db", "[metrics]\nlisten = \"" + listen + "\"\n");
  auto o = driftwatch(scratch, config, {"daemon"});
  check_failed(o);
  CHECK(o.err.starts_with("<3>metrics: cannot listen on " + listen + ": "));
  CHECK(contains(o.err, "in use"));
}

TEST_CASE("diff: no samples of the probe in the span is invalid input, exit 1, one line saying "
          "which span") {
  Scratch scratch;
  fs::path config = write_config(scratch, "dw.db");

  // A database without runs: no span at all.
  // An empty database, as a store that has been opened leaves it.
  REQUIRE(dw::store::Store::open(scratch.path("dw.db").string()).ok());
  auto none = driftwatch(scratch, config, {"diff", "capital-australia"});
  check_rejected(none);
  CHECK(none.err == "diff: the database has no runs yet\n");

  import_history(scratch, config);
  // The history's one run is on 2026-01-15; nothing in a later span.
  auto later = driftwatch(scratch, config,
                          {"diff", "capital-australia", "--from", "2026-01-16T00:00:00Z", "--to",
                           "2026-01-17T00:00:00Z"});
  check_rejected(later);
  CHECK(later.err == "diff: no samples of probe 'capital-australia' between "
                     "2026-01-16T00:00:00Z and 2026-01-17T00:00:00Z\n");
  // A configured endpoint that never answered the probe.
  auto elsewhere = driftwatch(scratch, config, {"diff", "capital-australia", "--endpoint", "claude"});
  check_rejected(elsewhere);
  CHECK(elsewhere.err.starts_with(
      "diff: no samples of probe 'capital-australia' on endpoint 'claude' between "));
  // The same probe in its span does have samples: the refusals above are about the span.
  auto found = driftwatch(scratch, config, {"diff", "capital-australia", "--endpoint", "gpt"});
  INFO(found.out << found.err);
  CHECK(found.code == 0);
  CHECK(found.out.starts_with("capital-australia on gpt\n"));
}

}  // namespace cli_exits_test
