#include "demo/sim_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include <httplib.h>

extern char** environ;

namespace dw::demo {
namespace {

void stop_child(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string log_tail(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::string text(std::istreambuf_iterator<char>(in), {});
  while (!text.empty() && text.back() == '\n') text.pop_back();
  auto cut = text.rfind('\n');
  return cut == std::string::npos ? text : text.substr(cut + 1);
}

}  // namespace

Result<std::unique_ptr<SimProcess>> SimProcess::start(const std::filesystem::path& binary,
                                                      const std::vector<std::string>& args,
                                                      const std::filesystem::path& log,
                                                      std::chrono::seconds wait) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return Error(std::string("cannot create a pipe: ") + std::strerror(errno));
  int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return Error(std::string("cannot open: ") + std::strerror(errno), Location{log.string()});
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
  std::vector<std::string> argv_storage = {binary.string()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  argv_storage.insert(argv_storage.end(), {"--port", "0"});
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int spawned = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err);
  if (spawned != 0) {
    ::close(out[0]);
    return Error(std::string("cannot start: ") + std::strerror(spawned), Location{binary.string()});
  }

  // Read stdout until the "listening on" line or the deadline.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + wait;
  static const std::regex kListening(R"(listening on http://[^\s:]+:(\d+))");
  std::smatch match;
  while (!std::regex_search(seen, match, kListening)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{out[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // the simulator exited
    seen.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (match.empty()) {
    stop_child(pid);
    std::string tail = log_tail(log);
    return Error("the simulator did not start" + (tail.empty() ? "" : ": " + tail),
                 Location{binary.string()});
  }
  return std::unique_ptr<SimProcess>(new SimProcess(pid, std::stoi(match[1].str())));
}

SimProcess::~SimProcess() { stop_child(pid_); }

std::string SimProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

Status SimProcess::set_day(int day) {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  auto res = client.Post("/sim/day", "{\"day\": " + std::to_string(day) + "}", "application/json");
  if (!res) return Error("the simulator did not answer POST /sim/day: " + httplib::to_string(res.error()));
  if (res->status != 200)
    return Error("the simulator refused day " + std::to_string(day) + ": HTTP " +
                 std::to_string(res->status));
  return {};
}

}  // namespace dw::demo
