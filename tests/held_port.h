// A loopback TCP port held for a test: bound, never listened on, for as long as the object
// lives. While it is held the system hands the number to no one else (no other bind to port 0,
// no outgoing connection, under `ctest -j` or not), so:
//   - connect() to it is refused by construction: nothing listens there;
//   - code under test may still listen on it: the socket has SO_REUSEADDR, and Linux lets a
//     second SO_REUSEADDR socket bind the same address and listen as long as only one of the
//     two listens (MetricsServer sets it; a server without it cannot bind the port while held).
//
//   dw::testing::HeldPort refused;                       // "http://127.0.0.1:PORT/v1" refuses
//   request.url = refused.url("/v1");
//   dw::testing::HeldPort metrics;                       // the port the daemon will listen on
//   config << "listen = \"127.0.0.1:" << metrics.port() << "\"\n";
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace dw::testing {

class HeldPort {
 public:
  // Binds 127.0.0.1 on a port the system picks. Throws std::runtime_error when it cannot.
  HeldPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const int yes = 1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("cannot hold a loopback port");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~HeldPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldPort(HeldPort&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), port_(std::exchange(other.port_, 0)) {}
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  HeldPort& operator=(HeldPort&&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" followed by path.
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int fd_;
  int port_ = 0;
};

// The number of a loopback port nobody listens on, held (as HeldPort) until the test program
// ends: for callers that only need a number. Prefer a HeldPort of the test's own.
inline int closed_port() {
  static std::mutex mutex;
  static std::deque<HeldPort> held;
  std::lock_guard lock(mutex);
  return held.emplace_back().port();
}

}  // namespace dw::testing
