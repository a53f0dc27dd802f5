#include "daemon/metrics_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace dw::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// After its response a connection is drained this long, or this much, before the close: a
// close with unread input sends a reset, which can destroy the response in the client's buffer.
constexpr auto kLinger = std::chrono::seconds(1);
constexpr std::size_t kLingerBytes = 64 * 1024;
// accept() failing for want of descriptors or memory leaves the listening socket readable;
// polling it again at once would spin.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

constexpr std::string_view kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextType = "text/plain; charset=utf-8";

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view strip_cr(std::string_view line) {
  return !line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
}

struct RequestLine {
  std::string_view method;
  std::string_view path;  // without the query
  int major = 0;
};

// METHOD SP TARGET SP HTTP/D.D, the target in origin form ("/metrics?x"), absolute form
// ("http://host:9464/metrics") or "*"; nullopt when line is not one.
std::optional<RequestLine> parse_request_line(std::string_view line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  RequestLine r;
  r.method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(r.method) || target.empty()) return std::nullopt;
  if (std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
    return std::nullopt;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return std::nullopt;
  }
  r.major = version[5] - '0';
  if (size_t scheme = target.find("://"); target.front() != '/' && scheme != target.npos) {
    size_t slash = target.find('/', scheme + 3);  // absolute form: keep the path
    target = slash == target.npos ? "/" : target.substr(slash);
  }
  if (target.front() != '/' && target != "*") return std::nullopt;
  r.path = target.substr(0, target.find('?'));
  return r;
}

// Just past the blank line that ends the head, or npos while it has not arrived. A bare LF
// ends a line too, as RFC 9112 allows, so a hand-typed request works.
size_t head_end(std::string_view in) {
  for (size_t i = in.find('\n'); i != std::string_view::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') return i + 2;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

// Header lines are not used, but one without a "name:" (or a folded one) makes the request
// malformed.
bool header_lines_ok(std::string_view lines) {
  while (!lines.empty()) {
    size_t eol = lines.find('\n');
    std::string_view line = strip_cr(lines.substr(0, eol));
    lines = eol == std::string_view::npos ? std::string_view() : lines.substr(eol + 1);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return false;
  }
  return true;
}

// "Sun, 06 Nov 1994 08:49:37 GMT", whatever the locale.
std::string http_date() {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

struct Reply {
  std::string_view status;  // "404 Not Found"
  std::string_view type;
  std::string body;
  bool with_body = true;  // false for HEAD: the head still says the body's length
  std::string_view extra_headers = {};
};

// The answer to a request whose head begins with in, or nullopt while in does not decide one.
// A bad request line is answered before the rest of the head arrives, an oversized head before
// its blank line.
std::optional<Reply> answer(std::string_view in, std::size_t max_head, const Metrics& metrics) {
  auto text = [](std::string_view status, std::string body) {
    return Reply{status, kTextType, std::move(body)};
  };
  size_t end = head_end(in);
  if (end == std::string_view::npos ? in.size() > max_head : end > max_head) {
    return text("431 Request Header Fields Too Large", "request head too large\n");
  }
  size_t eol = in.find('\n');
  if (eol == std::string_view::npos) {
    // Only the method so far: anything but a token (a TLS hello, say) cannot become one.
    std::string_view method = in.substr(0, in.find(' '));
    if (!method.empty() && !is_token(method)) return text("400 Bad Request", "bad request\n");
    return std::nullopt;
  }
  auto line = parse_request_line(strip_cr(in.substr(0, eol)));
  if (!line) return text("400 Bad Request", "bad request line\n");
  if (line->major != 1) return text("505 HTTP Version Not Supported", "HTTP/1.1 only\n");
  if (end == std::string_view::npos) return std::nullopt;
  if (!header_lines_ok(in.substr(eol + 1, end - eol - 1))) {
    return text("400 Bad Request", "bad header line\n");
  }
  Reply r;
  if (line->method != "GET" && line->method != "HEAD") {
    r = text("405 Method Not Allowed", "only GET and HEAD\n");
    r.extra_headers = "Allow: GET, HEAD\r\n";
  } else if (line->path == "/metrics") {
    r = Reply{"200 OK", kPrometheusType, metrics.render()};
  } else if (line->path == "/") {
    r = text("200 OK", "driftwatch: metrics are at /metrics\n");
  } else {
    r = text("404 Not Found", "not found: metrics are at /metrics\n");
  }
  r.with_body = line->method != "HEAD";
  return r;
}

struct Connection {
  enum class Phase { head, send, linger };
  int fd = -1;  // -1 once closed, until the loop drops it
  Phase phase = Phase::head;
  Clock::time_point opened;
  Clock::time_point deadline;  // of the current phase
  std::string in;              // the request head so far
  std::string out;             // the response
  size_t sent = 0;
  size_t dropped = 0;  // bytes read and dropped while lingering
};

class Loop {
 public:
  Loop(int listen_fd, int wake_fd, const Metrics& metrics, MetricsServerOptions options)
      : listen_fd_(listen_fd), wake_fd_(wake_fd), metrics_(metrics), options_(options) {
    options_.max_connections = std::max(options_.max_connections, 1);
  }
  ~Loop() {
    for (Connection& c : conns_) close(c);
  }

  // Serves until wake_fd becomes readable.
  void run();

 private:
  void accept_new(Clock::time_point now);
  void read_from(Connection& c, Clock::time_point now);
  void respond(Connection& c, const Reply& r, Clock::time_point now);
  void write_to(Connection& c, Clock::time_point now);
  int timeout_ms(Clock::time_point now) const;
  static void close(Connection& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
  }

  const int listen_fd_;
  const int wake_fd_;
  const Metrics& metrics_;
  MetricsServerOptions options_;
  std::vector<Connection> conns_;
  Clock::time_point accept_paused_until_{};
};

void Loop::run() {
  std::vector<pollfd> fds;
  for (;;) {
    auto now = Clock::now();
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({now >= accept_paused_until_ ? listen_fd_ : -1, POLLIN, 0});  // -1: ignored
    for (const Connection& c : conns_) {
      fds.push_back(
          {c.fd, static_cast<short>(c.phase == Connection::Phase::send ? POLLOUT : POLLIN), 0});
    }
    if (::poll(fds.data(), fds.size(), timeout_ms(now)) < 0) {
      if (errno != EINTR) std::this_thread::sleep_for(kAcceptPause);  // ENOMEM: wait, not spin
      continue;
    }
    if (fds[0].revents != 0) return;
    now = Clock::now();
    for (size_t i = 0; i < conns_.size(); ++i) {
      Connection& c = conns_[i];
      if (fds[i + 2].revents == 0 || c.fd < 0) continue;
      if (c.phase == Connection::Phase::send) {
        write_to(c, now);
      } else {
        read_from(c, now);
      }
    }
    for (Connection& c : conns_) {
      if (now >= c.deadline) close(c);
    }
    std::erase_if(conns_, [](const Connection& c) { return c.fd < 0; });
    if (fds[1].revents != 0) accept_new(now);
  }
}

// Milliseconds to the nearest deadline, rounded up (waking early would only come back here);
// -1 (no timeout) when nothing is due.
int Loop::timeout_ms(Clock::time_point now) const {
  std::optional<Clock::time_point> next;
  if (accept_paused_until_ > now) next = accept_paused_until_;
  for (const Connection& c : conns_) {
    if (!next || c.deadline < *next) next = c.deadline;
  }
  if (!next) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, 60 * 60 * 1000));
}

void Loop::accept_new(Clock::time_point now) {
  // Bounded, so a flood of connections cannot starve the ones already open.
  for (int i = 0; i < options_.max_connections; ++i) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until_ = now + kAcceptPause;
      return;
    }
    if (static_cast<int>(conns_.size()) >= options_.max_connections) {
      // The oldest still waiting for its head is the likeliest to be idle or hostile.
      auto rank = [](const Connection& c) {
        return std::pair(c.phase != Connection::Phase::head, c.opened);
      };
      auto victim =
          std::min_element(conns_.begin(), conns_.end(),
                           [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
      close(*victim);
      conns_.erase(victim);
    }
    Connection c;
    c.fd = fd;
    c.opened = now;
    c.deadline = now + options_.head_deadline;
    conns_.push_back(std::move(c));
  }
}

void Loop::read_from(Connection& c, Clock::time_point now) {
  char buf[4096];
  ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {  // the client went away (before its head was whole, or after the response)
    close(c);
    return;
  }
  if (c.phase == Connection::Phase::linger) {
    c.dropped += static_cast<size_t>(n);
    if (c.dropped > kLingerBytes) close(c);
    return;
  }
  c.in.append(buf, static_cast<size_t>(n));
  if (auto reply = answer(c.in, options_.max_head_bytes, metrics_)) respond(c, *reply, now);
}

void Loop::respond(Connection& c, const Reply& r, Clock::time_point now) {
  c.out = "HTTP/1.1 " + std::string(r.status) + "\r\n";
  c.out += "Date: " + http_date() + "\r\n";
  c.out += "Content-Type: " + std::string(r.type) + "\r\n";
  c.out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  c.out += r.extra_headers;
  c.out += "Connection: close\r\n\r\n";
  if (r.with_body) c.out += r.body;
  c.in = std::string();
  c.phase = Connection::Phase::send;
  c.deadline = now + options_.send_deadline;
  write_to(c, now);
}

void Loop::write_to(Connection& c, Clock::time_point now) {
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // poll for POLLOUT
    if (n < 0) {
      close(c);  // the client went away
      return;
    }
    c.sent += static_cast<size_t>(n);
  }
  ::shutdown(c.fd, SHUT_WR);
  c.out = std::string();
  c.phase = Connection::Phase::linger;
  c.deadline = now + kLinger;
}

std::string why(int err) { return err != 0 ? std::string(": ") + std::strerror(err) : ""; }

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            const Metrics& metrics,
                                                            MetricsServerOptions options) {
  size_t colon = listen.rfind(':');
  std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return Error("metrics: '" + listen + "' is not HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->listen_ = listen;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    std::string detail = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    return Error("metrics: cannot listen on " + listen + ": " + detail);
  }
  int err = 0;
  for (addrinfo* a = found; a != nullptr && s->listen_fd_ < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // SO_REUSEADDR alone: a quick restart still binds, but a second daemon on the port fails
    // here, where SO_REUSEPORT would let it share the port and split the scrapes silently.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (a->ai_family == AF_INET6) {  // "[::]" means every address, IPv4 included
      int no = 0;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
    }
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      s->listen_fd_ = fd;
    } else {
      err = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (s->listen_fd_ < 0) return Error("metrics: cannot listen on " + listen + why(err));

  s->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->wake_fd_ < 0) return Error("metrics: eventfd" + why(errno));
  // The thread inherits the mask: with every signal blocked there, the daemon's signals reach
  // only its own loop.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    s->thread_ = std::thread([fd = s->listen_fd_, wake = s->wake_fd_, &metrics, options] {
      Loop(fd, wake, metrics, options).run();
    });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return Error(std::string("metrics: cannot start its thread: ") + e.what());
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return s;
}

MetricsServer::~MetricsServer() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    // An eventfd write fails only when its counter would overflow, which one write cannot do.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

}  // namespace dw::daemon
