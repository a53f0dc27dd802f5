#include "sim/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace dw::sim {
namespace {

int milliseconds(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

// Polls fd for events for at most timeout_ms, through interruptions; true when it is ready
// (or in error or hung up: the read or write that follows reports which).
bool ready(int fd, short events, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pollfd p{fd, events, 0};
    int left = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    int n = ::poll(&p, 1, std::max(0, left));
    if (n >= 0 || errno != EINTR) return n > 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if ((peer ? ::getpeername : ::getsockname)(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return;
  char text[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  ip = text;
}

// A connected socket as httplib reads and writes it. Reads are buffered: httplib reads the
// request line and headers a byte at a time.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  bool buffered() const { return start_ < end_; }

  bool is_readable() const override { return buffered() || ready(fd_, POLLIN, read_timeout_ms_); }
  bool is_writable() const override { return ready(fd_, POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      if (!ready(fd_, POLLIN, read_timeout_ms_)) return -1;
      ssize_t n;
      do n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;  // 0: the peer closed
      start_ = 0;
      end_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, end_ - start_);
    std::memcpy(ptr, buffer_.data() + start_, n);
    start_ += n;
    return static_cast<ssize_t>(n);
  }

  // httplib takes a short count for success when it writes a body: all or nothing.
  ssize_t write(const char* ptr, size_t size) override {
    size_t sent = 0;
    while (sent < size) {
      if (!ready(fd_, POLLOUT, write_timeout_ms_)) return -1;
      ssize_t n = ::send(fd_, ptr + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return -1;
      if (n > 0) sent += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, false, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  std::array<char, 4096> buffer_;
  size_t start_ = 0, end_ = 0;  // the unread part of buffer_
};

}  // namespace

HttpServer::HttpServer(bool compress) : stopped_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  // httplib decides whether to compress from the request's Accept-Encoding after the handler
  // has run, and has no setting to stop it; without the header it sends the body as it is.
  if (!compress)
    prepare_request_ = [](httplib::Request& req) { req.headers.erase("Accept-Encoding"); };
}

HttpServer::~HttpServer() {
  if (stopped_fd_ >= 0) ::close(stopped_fd_);
}

void HttpServer::stop() {
  if (stopped_fd_ >= 0) eventfd_write(stopped_fd_, 1);
  httplib::Server::stop();
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  ConnectionStream stream(sock, milliseconds(read_timeout_sec_, read_timeout_usec_),
                          milliseconds(write_timeout_sec_, write_timeout_usec_));
  const int keep_alive_ms = milliseconds(keep_alive_timeout_sec_, 0);
  bool ok = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.buffered()) {
      // The next request (or the peer's close, which the request loop reads as the end).
      pollfd waits[2] = {{sock, POLLIN, 0}, {stopped_fd_, POLLIN, 0}};  // poll skips fd -1
      int n;
      do n = ::poll(waits, 2, keep_alive_ms);
      while (n < 0 && errno == EINTR);
      if (n <= 0 || waits[1].revents != 0) break;
    }
    bool connection_closed = false;
    ok = process_request(stream, left == 1, connection_closed, prepare_request_);
    if (!ok || connection_closed) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace dw::sim
