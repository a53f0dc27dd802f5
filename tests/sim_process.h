// driftwatch-sim as a child process, on a free loopback port: started (through child.h, its
// streams in files of a Scratch folder), waited for until it listens, asked for its request log
// and its simulated day, and stopped with SIGTERM at the end.
//
//   Scratch scratch;
//   Sim sim(scratch, {"--api-key", key});                // tests/data/run-scenario.toml
//   ... base_url = sim.url() + "/v1" ...
//   CHECK(sim.requests().size() == 6);
//
// Tests of the simulator's own command line give it exactly:
//   Sim sim(scratch, Sim::Command{{"--scenario", bad.string()}});
//   CHECK_FALSE(sim.started());
//   CHECK(sim.stop() == 1);                               // its exit code
//   CHECK(contains(sim.err(), "unknown outcome kind"));
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child.h"
#include "scratch.h"

namespace dw::test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

inline const fs::path kSimBinary = fs::path(DW_BINARY_DIR) / "monitor/sim/driftwatch-sim";
inline const fs::path kData = fs::path(DW_SOURCE_DIR) / "tests/data";

class Sim {
 public:
  // driftwatch-sim's arguments exactly as given, and NAME=value lines added to its environment.
  // (A constructor, not an aggregate: `Sim(scratch, {})` stays the default simulator.)
  struct Command {
    Command(std::vector<std::string> a, std::vector<std::string> e = {})
        : args(std::move(a)), env(std::move(e)) {}
    std::vector<std::string> args;
    std::vector<std::string> env;
  };

  // driftwatch-sim --scenario SCENARIO --port 0 ARGS...; FAILs, with its stderr, when it does
  // not listen within 20 s.
  explicit Sim(const Scratch& scratch, std::vector<std::string> args = {},
               const fs::path& scenario = kData / "run-scenario.toml")
      : Sim(scratch, with_scenario(scenario, std::move(args))) {
    if (!started()) FAIL("driftwatch-sim did not start: " << err());
  }

  // driftwatch-sim COMMAND: it may exit instead of listening (started() is then false, stop()
  // gives its exit code and err() what it said).
  Sim(const Scratch& scratch, const Command& command)
      : out_(scratch.path("sim-" + std::to_string(count_) + ".out")),
        err_(scratch.path("sim-" + std::to_string(count_) + ".err")) {
    ++count_;
    std::vector<std::string> argv{kSimBinary.string()};
    argv.insert(argv.end(), command.args.begin(), command.args.end());
    pid_ = spawn(argv, command.env, out_, err_);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    const std::string prefix = "listening on http://127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out = slurp(out_);
      if (out.find('\n') != std::string::npos) {
        first_line_ = out.substr(0, out.find('\n'));
        if (first_line_.starts_with(prefix)) port_ = std::stoi(first_line_.substr(prefix.size()));
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  ~Sim() { stop(); }
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  // Whether it printed "listening on http://127.0.0.1:PORT".
  bool started() const { return port_ > 0; }
  int port() const { return port_; }  // 0 unless started
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& first_line() const { return first_line_; }  // its first line on stdout
  std::string err() const { return slurp(err_); }                // its stderr so far

  // Sends SIGTERM (if it still runs) and returns its exit code, 128 + signal when killed.
  int stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      exit_code_ = wait_exit(pid_, 20s);
      pid_ = -1;
    }
    return exit_code_;
  }

  // The simulator's own request log, from entry `since` on.
  std::vector<json> requests(size_t since = 0) const {
    httplib::Client client("127.0.0.1", port_);
    auto res = client.Get("/sim/requests?since=" + std::to_string(since));
    REQUIRE(res);
    std::vector<json> entries;
    std::istringstream lines(res->body);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) entries.push_back(json::parse(line));
    return entries;
  }

  // Sets the simulated day the scenario's from/to rules see (POST /sim/day).
  void set_day(int day) const {
    httplib::Client client("127.0.0.1", port_);
    auto res = client.Post("/sim/day", json{{"day", day}}.dump(), "application/json");
    REQUIRE(res);
    REQUIRE(res->status == 200);
  }

  // Waits until the log holds at least n entries (false after the limit).
  bool await_requests(size_t n, std::chrono::milliseconds limit = 20s) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (requests().size() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

 private:
  static Command with_scenario(const fs::path& scenario, std::vector<std::string> args) {
    Command c{{"--scenario", scenario.string(), "--port", "0"}};
    c.args.insert(c.args.end(), args.begin(), args.end());
    return c;
  }

  static inline int count_ = 0;  // of simulators started by this program: their files' names
  fs::path out_, err_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  std::string first_line_;
};

}  // namespace dw::test
