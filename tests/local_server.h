// A real HTTP server on loopback for tests of code that talks HTTP: cpp-httplib in a thread,
// recording every request it sees (with arrival time and client port) and how many it was
// handling at once, per path. Each request is answered by the test's handler.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace dw::testing {

class LocalServer {
 public:
  // Called for every POST with the request, the response to fill and the 0-based index of the
  // request among all this server has seen. Runs on the server's threads.
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int index)>;

  struct Seen {
    std::string path;
    std::multimap<std::string, std::string, httplib::detail::ci> headers;
    std::string body;
    std::chrono::steady_clock::time_point at;
    int remote_port = 0;

    std::string header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? std::string() : it->second;
    }
  };

  explicit LocalServer(Handler handler) : handler_(std::move(handler)) {
    // The machine's proxy settings must not send loopback traffic elsewhere.
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    // Enough threads that idle keep-alive connections cannot starve new ones.
    server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    server_.set_keep_alive_timeout(2);
    server_.set_keep_alive_max_count(1000);
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      int index = 0;
      {
        std::lock_guard lock(mutex_);
        index = static_cast<int>(seen_.size());
        Seen s{req.path, {}, req.body, std::chrono::steady_clock::now(), req.remote_port};
        for (const auto& [k, v] : req.headers) s.headers.emplace(k, v);
        seen_.push_back(std::move(s));
        int& now = in_flight_[req.path];
        ++now;
        max_in_flight_[req.path] = std::max(max_in_flight_[req.path], now);
      }
      handler_(req, res, index);
      std::lock_guard lock(mutex_);
      --in_flight_[req.path];
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a loopback port");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~LocalServer() {
    server_.stop();
    thread_.join();
  }

  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  // The most requests for path the server was handling at the same moment.
  int max_in_flight(const std::string& path) const {
    std::lock_guard lock(mutex_);
    auto it = max_in_flight_.find(path);
    return it == max_in_flight_.end() ? 0 : it->second;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Seen> seen_;
  std::map<std::string, int> in_flight_;
  std::map<std::string, int> max_in_flight_;
};

// A loopback port with nothing listening on it: bound (never listened on) to learn a free
// number, then closed, so a connection to it is refused.
inline int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("cannot find a free loopback port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace dw::testing
