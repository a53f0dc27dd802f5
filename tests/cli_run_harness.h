// What the cli_* integration tests need to run the real binaries over loopback: a scratch
// folder, driftwatch-sim as a child process (sim_process.h), driftwatch as a child process
// (waited for, or signalled mid-run), and SQL over the database it wrote.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child.h"
#include "scratch.h"
#include "sim_process.h"  // Sim, kSimBinary, kData

namespace dw::test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// driftwatch -c CONFIG ARGS... as a child process. `during`, when given, is called while it
// runs (to signal it mid-run); then it is waited for.
inline Outcome driftwatch(const Scratch& scratch, const fs::path& config,
                          const std::vector<std::string>& args,
                          const std::vector<std::string>& env = {},
                          const std::function<void(pid_t)>& during = {}) {
  std::vector<std::string> argv{kDriftwatch.string(), "-c", config.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  fs::path out = scratch.path("driftwatch.out"), err = scratch.path("driftwatch.err");
  pid_t pid = spawn(argv, env, out, err);
  if (during) during(pid);
  Outcome o;
  o.code = wait_exit(pid);
  o.out = slurp(out);
  o.err = slurp(err);
  return o;
}

// A command refused as bad input: exit 1, nothing on stdout, one line on stderr.
inline void check_rejected(const Outcome& o) {
  INFO(o.out << o.err);
  CHECK(o.code == 1);
  CHECK(o.out.empty());
  CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
}

// driftwatch -c CONFIG ARGS... left running in the background (the daemon): signal it, watch
// its stderr grow, then wait for its exit. Killed with SIGKILL if still running when destroyed,
// so a failed check never leaves it behind.
class Background {
 public:
  Background(const Scratch& scratch, const fs::path& config, const std::vector<std::string>& args,
             const std::vector<std::string>& env = {})
      // Files of its own: a daemon started after another must not be read through the first
      // one's stderr before its own child has truncated the file.
      : out_(scratch.path("daemon-" + std::to_string(count_) + ".out")),
        err_(scratch.path("daemon-" + std::to_string(count_) + ".err")) {
    ++count_;
    std::vector<std::string> argv{kDriftwatch.string(), "-c", config.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = spawn(argv, env, out_, err_);
  }
  ~Background() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  void signal(int sig) const {
    REQUIRE(pid_ > 0);
    kill(pid_, sig);
  }
  pid_t pid() const { return pid_; }
  std::string err() const { return slurp(err_); }
  // "running", how it ended (its status left for wait()), or "waited for" after wait(): for a
  // failed check's message.
  std::string state() const {
    if (pid_ <= 0) return "waited for";
    auto info = ended();
    if (!info) return "running";
    return (info->si_code == CLD_EXITED ? "exited with " : "killed by signal ") +
           std::to_string(info->si_status);
  }

  // Waits until stderr holds needle; false after the limit or when the process has ended
  // without writing it (the exit status is left for wait()).
  bool await_err(const std::string& needle, std::chrono::milliseconds limit = 20s) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (contains(err(), needle)) return true;
      if (ended() || std::chrono::steady_clock::now() > deadline) return contains(err(), needle);
      std::this_thread::sleep_for(20ms);
    }
  }

  // The exit code as wait_exit() gives it, and everything written.
  Outcome wait(std::chrono::milliseconds limit = 60s) {
    Outcome o;
    o.code = wait_exit(pid_, limit);
    pid_ = -1;
    o.out = slurp(out_);
    o.err = slurp(err_);
    return o;
  }

 private:
  // How it ended, if it has, without reaping it (its status stays for wait()).
  std::optional<siginfo_t> ended() const {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid_) {
      return std::nullopt;
    }
    return info;
  }

  static inline int count_ = 0;  // of daemons started by this program: their files' names
  fs::path out_, err_;
  pid_t pid_ = -1;
};

// One row of a query: column name -> value (nullopt for NULL).
using Row = std::map<std::string, std::optional<std::string>>;

// Runs one statement on a database file and returns every row. (Opened read-write by default,
// as SQLite needs for a WAL file whose -shm is gone; the statements only read.)
inline std::vector<Row> query(const fs::path& db, const std::string& sql,
                              int open_flags = SQLITE_OPEN_READWRITE) {
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &handle, open_flags, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(handle, sql.c_str(), -1, &st, nullptr);
  INFO(sql << ": " << sqlite3_errmsg(handle));
  REQUIRE(rc == SQLITE_OK);
  std::vector<Row> rows;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    Row row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* text = sqlite3_column_text(st, i);
      row[sqlite3_column_name(st, i)] =
          text ? std::optional<std::string>(reinterpret_cast<const char*>(text)) : std::nullopt;
    }
    rows.push_back(std::move(row));
  }
  CHECK(rc == SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(handle);
  return rows;
}

// Waits until the count query sql (SELECT count(*) ...) on db gives at least n, read through a
// read-only connection as often as every 20 ms while another process writes the database
// (read-only: closing it never checkpoints the writer's WAL); false after the limit. A
// database or table that is not there yet counts 0.
inline bool await_count(const fs::path& db, const std::string& sql, long n,
                        std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    long count = 0;
    sqlite3* handle = nullptr;
    if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(handle, 1000);
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW)
        count = static_cast<long>(sqlite3_column_int64(st, 0));
      sqlite3_finalize(st);
    }
    sqlite3_close(handle);
    if (count >= n) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// The single value of a one-row, one-column query ("NULL" for NULL).
inline std::string scalar(const fs::path& db, const std::string& sql) {
  auto rows = query(db, sql);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 1);
  return rows[0].begin()->second.value_or("NULL");
}

}  // namespace dw::test
