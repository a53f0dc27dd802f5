// Running the built binaries, and the machine's tools tests check output with, as child
// processes: argv vectors, never a shell (no quoting to get wrong), an environment stripped of
// what would steer them from outside the test, streams to files in a Scratch folder, and a time
// limit on every wait.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <sstream>
#include <vector>

#include "scratch.h"

namespace dw::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const fs::path kDriftwatch = fs::path(DW_BINARY_DIR) / "monitor/cli/driftwatch";

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The lines of text, without their newlines.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// How many times needle occurs in haystack (overlapping occurrences included).
inline size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

// The environment of a child: ours without anything that would steer driftwatch or the
// simulator from outside the test (DRIFTWATCH_*, DW_TEST_*, provider keys *_API_KEY), plus
// `extra` ("NAME=value").
inline std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    std::string_view name = v.substr(0, v.find('='));
    if (name.starts_with("DRIFTWATCH_") || name.starts_with("DW_TEST_") ||
        name.ends_with("_API_KEY")) {
      continue;
    }
    env.emplace_back(v);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// The ELF machine of a program file (e_machine), 0 when it is not an ELF file (a script).
inline int elf_machine(const std::string& program) {
  std::ifstream in(program, std::ios::binary);
  unsigned char h[20] = {};
  if (!in.read(reinterpret_cast<char*>(h), sizeof h) || h[0] != 0x7f || h[1] != 'E' ||
      h[2] != 'L' || h[3] != 'F') {
    return 0;
  }
  return h[18] | h[19] << 8;  // little-endian, as on every machine driftwatch is built for
}

// A cross build's tests run under user-mode emulation (scripts/cross-test.sh): a program built
// for this test's own machine starts through the emulator (DW_TEST_EMULATOR, from
// CMAKE_CROSSCOMPILING_EMULATOR), wherever the file is (a test may copy the build's driftwatch
// elsewhere), and so does the simulator `driftwatch demo` starts (DRIFTWATCH_SIM_EMULATOR).
// Everything else (sqlite3, python3, a shell script) is the host's and starts as it is.
inline std::vector<std::string> through_emulator(std::vector<std::string> argv) {
#ifdef DW_TEST_EMULATOR
  static const int own = elf_machine("/proc/self/exe");
  if (argv.empty() || elf_machine(argv[0]) != own) return argv;
  std::istringstream words(DW_TEST_EMULATOR);
  std::vector<std::string> prefix{std::istream_iterator<std::string>(words), {}};
  argv.insert(argv.begin(), prefix.begin(), prefix.end());
#endif
  return argv;
}

// argv and the environment (child_env(extra_env)) as posix_spawn wants them. Children start
// with posix_spawn rather than fork(): nothing of a test's process (its threads, its locks)
// is copied into a child that only wants to become another program.
class Exec {
 public:
  Exec(std::vector<std::string> argv, const std::vector<std::string>& extra_env)
      : args_(through_emulator(std::move(argv))), env_(child_env(extra_env)) {
#ifdef DW_TEST_EMULATOR
    env_.emplace_back("DRIFTWATCH_SIM_EMULATOR=" DW_TEST_EMULATOR);
#endif
    for (auto& a : args_) argp_.push_back(a.data());
    argp_.push_back(nullptr);
    for (auto& e : env_) envp_.push_back(e.data());
    envp_.push_back(nullptr);
  }
  // Starts the program; -1 when it cannot be started (glibc reports a missing program here).
  pid_t spawn(const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attr) {
    pid_t pid = -1;
    return posix_spawn(&pid, argp_[0], actions, attr, argp_.data(), envp_.data()) == 0 ? pid : -1;
  }

 private:
  std::vector<std::string> args_, env_;
  std::vector<char*> argp_, envp_;
};

// Starts argv with stdout and stderr redirected to files (or /dev/null when empty), and stdin
// read from a file (or /dev/null when empty). With own_group the child leads a process group
// of its own, which wait_exit() kills whole at its limit (for programs that start their own
// children, as a browser does).
inline pid_t spawn(std::vector<std::string> argv, const std::vector<std::string>& extra_env,
                   const fs::path& out, const fs::path& err, const fs::path& in = {},
                   bool own_group = false) {
  Exec exec(std::move(argv), extra_env);
  auto path = [](const fs::path& p) { return p.empty() ? std::string("/dev/null") : p.string(); };
  const std::string from = path(in), to = path(out), errors = path(err);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, from.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (own_group) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = exec.spawn(&actions, &attr);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(pid > 0);
  return pid;
}

// The exit code (128 + signal when killed), or -1 when it has not ended within the limit (it
// is then killed, with its whole process group when it leads one: see run_tool()).
inline int wait_exit(pid_t pid, std::chrono::milliseconds limit = 60s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(getpgid(pid) == pid ? -pid : pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

// driftwatch ARGS... run to its end (killed after limit: wait_exit()), its streams in files of
// scratch; input, when given, is its stdin.
inline Outcome run_driftwatch(const Scratch& scratch, const std::vector<std::string>& args,
                              const std::vector<std::string>& env = {},
                              const std::string* input = nullptr,
                              std::chrono::milliseconds limit = 60s) {
  std::vector<std::string> argv{kDriftwatch.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  fs::path out = scratch.path("driftwatch.out"), err = scratch.path("driftwatch.err");
  fs::path in = input ? scratch.write("driftwatch.in", *input) : fs::path();
  Outcome o;
  o.code = wait_exit(spawn(argv, env, out, err, in), limit);
  o.out = slurp(out);
  o.err = slurp(err);
  return o;
}

// Where the shell would find program on $PATH; empty when it is on none of its folders.
inline fs::path find_program(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    std::string_view dir = dirs.substr(0, dirs.find(':'));
    fs::path candidate = fs::path(dir.empty() ? "." : std::string(dir)) / program;
    if (access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
    if (dir.size() == dirs.size()) return {};
    dirs.remove_prefix(dir.size() + 1);
  }
}

// A tool of the machine's (promtool, chromium, cmark-gfm) run to its end: argv[0] looked up on
// $PATH, stdin from a file (or /dev/null), stdout and stderr in files of scratch, in a process
// group of its own that is killed whole after the limit. The code is 127 (and err says so) when
// the tool is not installed, -1 when it did not end within the limit.
inline Outcome run_tool(const Scratch& scratch, std::vector<std::string> argv,
                        const fs::path& in = {}, std::chrono::milliseconds limit = 120s) {
  REQUIRE(!argv.empty());
  Outcome o;
  fs::path program = find_program(argv[0]);
  if (program.empty()) {
    o.code = 127;
    o.err = argv[0] + ": not found on $PATH";
    return o;
  }
  argv[0] = program.string();
  fs::path out = scratch.path("tool.out"), err = scratch.path("tool.err");
  o.code = wait_exit(spawn(std::move(argv), {}, out, err, in, /*own_group=*/true), limit);
  o.out = slurp(out);
  o.err = slurp(err);
  return o;
}

// driftwatch -c CONFIG ARGS... on a pseudo-terminal: what the terminal received (stdout and
// stderr as one stream, as a person sees them) and the exit code.
inline Outcome on_terminal(const fs::path& config, const std::vector<std::string>& args,
                           const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{kDriftwatch.string(), "-c", config.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Exec exec(std::move(argv), env);
  int master = -1, slave = -1;
  REQUIRE(openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
  const std::string terminal = ptsname(master);
  // A new session whose first terminal opened becomes its controlling terminal, as forkpty's.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, master);
  posix_spawn_file_actions_addclose(&actions, slave);
  posix_spawn_file_actions_addopen(&actions, 0, terminal.c_str(), O_RDWR, 0);
  posix_spawn_file_actions_adddup2(&actions, 0, 1);
  posix_spawn_file_actions_adddup2(&actions, 0, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = exec.spawn(&actions, &attr);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(pid > 0);
  Outcome o;
  char buf[4096];
  // Reads what the terminal has until it stays quiet for quiet_ms.
  auto drain = [&](int quiet_ms) {
    for (;;) {
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, quiet_ms) <= 0) return;
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) return;
      o.out.append(buf, static_cast<size_t>(n));
    }
  };
  // The slave stays open here until the child is gone: a terminal whose last slave closes is
  // hung up, and its master may then report the end before handing over everything the child
  // wrote (seen with the child under qemu). The master is read all along, so the child never
  // blocks on a full terminal.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);  // its session's group, as wait_exit kills an own group
      waitpid(pid, &status, 0);
      break;
    }
    drain(10);
  }
  drain(0);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  close(slave);
  close(master);
  return o;
}

}  // namespace dw::test
