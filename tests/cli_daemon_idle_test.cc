// README "On a Raspberry Pi": an idle daemon writes nothing. Between jobs it waits on its timer
// and its signals: no database writes, no log lines, no checkpoints. Measured on the real
// binary through /proc/PID/io (every byte it hands to write(), to any file or socket, and every
// byte it sends to the disk) and the database files' sizes and times.

#include <sys/stat.h>

#include <fstream>

#include "cli_run_harness.h"

namespace cli_daemon_idle_test {

using namespace dw::test;

namespace {

// One field ("wchar", "write_bytes") of /proc/PID/io; -1 when unreadable.
long long io_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string name;
  long long value = 0;
  while (in >> name >> value) {
    if (name == field + ":") return value;
  }
  return -1;
}

// Size and modification time (ns) of each database file that exists.
std::map<std::string, std::pair<long long, long long>> files_of(const fs::path& db) {
  std::map<std::string, std::pair<long long, long long>> out;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::path p = db.string() + suffix;
    struct stat st {};
    if (stat(p.c_str(), &st) == 0) {
      out[p.filename().string()] = {st.st_size, st.st_mtim.tv_sec * 1'000'000'000LL +
                                                    st.st_mtim.tv_nsec};
    }
  }
  return out;
}

}  // namespace

TEST_CASE("an idle daemon writes nothing: not to the database, the disk or its log") {
  Scratch scratch;
  Sim sim(scratch);
  scratch.write("driftwatch.toml",
                "[storage]\ndatabase = \"dw.db\"\n\n[probes]\nsets = [\"" +
                    (kData / "run-answers.toml").string() +
                    "\"]\nsamples = 1\n\n"
                    // Once a year: the daemon starts, then waits.
                    "[schedule]\nprobes = \"0 0 1 1 *\"\nreport = \"0 0 1 1 *\"\njitter = \"0s\"\n\n"
                    "[classifier]\nrules = \"" +
                    (fs::path(DW_SOURCE_DIR) / "config/rules").string() +
                    "\"\n\n[[endpoint]]\nname = \"gpt\"\nkind = \"openai\"\nbase_url = \"" +
                    sim.url() + "/v1\"\nmodel = \"gpt-test\"\n");
  const fs::path config = scratch.path("driftwatch.toml");
  const fs::path db = scratch.path("dw.db");
  // A database with history, as a daemon finds it after a restart.
  Outcome run = driftwatch(scratch, config, {"run", "--once"});
  INFO(run.err);
  REQUIRE(run.code == 0);

  Background daemon(scratch, config, {"daemon"});
  INFO(daemon.state() << "; its stderr: " << daemon.err());
  REQUIRE(daemon.await_err(" daemon ready; "));
  std::this_thread::sleep_for(500ms);  // whatever start-up writes is over
  const long long wchar = io_field(daemon.pid(), "wchar");
  const long long disk = io_field(daemon.pid(), "write_bytes");
  const auto files = files_of(db);
  const std::string log = daemon.err();
  REQUIRE(wchar >= 0);
  REQUIRE(files.count("dw.db") == 1);

  std::this_thread::sleep_for(3s);
  CHECK(io_field(daemon.pid(), "wchar") == wchar);
  CHECK(io_field(daemon.pid(), "write_bytes") == disk);
  CHECK(files_of(db) == files);
  CHECK(daemon.err() == log);

  daemon.signal(SIGTERM);
  CHECK(daemon.wait().code == 0);
}

}  // namespace cli_daemon_idle_test
