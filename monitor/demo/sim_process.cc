#include "demo/sim_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <thread>

#include <curl/curl.h>
#include <re2/re2.h>

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

// Where a cross build is tested under user-mode emulation (scripts/cross-test.sh), the
// simulator is a foreign binary the kernel cannot run by itself: DRIFTWATCH_SIM_EMULATOR names
// the emulator command (absolute path first, then its arguments) to start it through.
// A script (a test's stand-in simulator) is the host's and starts as it is.
std::vector<std::string> emulator_prefix(const std::filesystem::path& binary) {
  const char* emulator = std::getenv("DRIFTWATCH_SIM_EMULATOR");
  char magic[4] = {};
  std::ifstream(binary, std::ios::binary).read(magic, sizeof magic);
  if (!emulator || std::string_view(magic, 4) != "\x7f" "ELF") return {};
  std::istringstream words(emulator);
  return {std::istream_iterator<std::string>(words), {}};
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
  std::vector<std::string> argv_storage = emulator_prefix(binary);
  argv_storage.push_back(binary.string());
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  argv_storage.insert(argv_storage.end(), {"--port", "0"});
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
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
  static const RE2 kListening(R"(listening on http://[^\s:]+:(\d+)\n)");
  int port = 0;
  while (!RE2::PartialMatch(seen, kListening, &port)) {
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
  if (port == 0) {
    stop_child(pid);
    std::string tail = log_tail(log);
    return Error("the simulator did not start" + (tail.empty() ? "" : ": " + tail),
                 Location{binary.string()});
  }
  return std::unique_ptr<SimProcess>(new SimProcess(pid, port));
}

SimProcess::~SimProcess() { stop_child(pid_); }

std::string SimProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

Status SimProcess::set_day(int day) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Error("cannot set the simulated day: libcurl did not initialise");
  std::string url = base_url() + "/sim/day";
  std::string body = "{\"day\": " + std::to_string(day) + "}";
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  // The reply is not needed; discard it rather than let libcurl print it to stdout.
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION,
                   +[](char*, size_t size, size_t n, void*) { return size * n; });
  CURLcode rc = curl_easy_perform(curl.get());
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK)
    return Error(std::string("the simulator did not answer POST /sim/day: ") +
                 curl_easy_strerror(rc));
  if (status != 200)
    return Error("the simulator refused day " + std::to_string(day) + ": HTTP " +
                 std::to_string(status));
  return {};
}

}  // namespace dw::demo
