// A real HTTP server on loopback for tests of code that talks HTTP: cpp-httplib in a thread,
// recording every request it sees (with arrival time and client port) and how many it was
// handling at once, per path. Each request is answered by the test's handler; a Gate holds
// answers back until the test lets them go. A port with nothing listening: held_port.h.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "held_port.h"  // closed_port(), HeldPort: a port nothing listens on

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
      arrived_.notify_all();
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

  // Waits until the server has seen at least n requests; false after the limit.
  bool await_seen(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(20)) const {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, limit, [&] { return seen_.size() >= n; });
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
  mutable std::condition_variable arrived_;
  std::vector<Seen> seen_;
  std::map<std::string, int> in_flight_;
  std::map<std::string, int> max_in_flight_;
};

// Holds handlers back until the test opens it: a server that answers only once the test has
// seen what it needs, instead of after a fixed sleep that the client must be hoped to beat.
// Declare it before the server and open it before the server is destroyed (the server's
// destructor waits for every handler); wait() gives up after its limit, so a failed check
// cannot hang the test.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  // True once opened; false when the limit passed first.
  bool wait(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, limit, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

}  // namespace dw::testing
