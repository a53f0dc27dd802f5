// The metrics server against raw sockets: idle, slow, malformed and oversized clients cannot keep
// a scrape from being answered; the head deadline, the connection limit and the answers (what
// /metrics serves, status codes, headers). Time limits are generous: the server answers in
// milliseconds, and the bounds only tell an answer from a deadline.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/time.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "held_port.h"

namespace metrics_server_test {

using namespace dw::daemon;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr std::string_view kScrape = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

struct Received {
  std::string bytes;
  bool closed = false;             // read returned 0: the server closed the connection
  bool reset = false;              // the server reset it instead
  steady_clock::duration after{};  // from the call to the close (or to the limit)
};

// A blocking client socket on loopback, closed with the object.
class Client {
 public:
  explicit Client(int port, int family = AF_INET) : fd_(::socket(family, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a->sin_port = htons(static_cast<uint16_t>(port));
      len = sizeof *a;
    }
    REQUIRE_MESSAGE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0,
                    std::strerror(errno));
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(Client&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends all of bytes; false when the server has closed the connection meanwhile.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Everything that arrives until the server closes the connection or limit passes.
  Received read_to_close(milliseconds limit) {
    Received r;
    auto start = steady_clock::now();
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(start + limit - steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0) break;
      int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        r.bytes.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      r.closed = n == 0;
      r.reset = n < 0;
      break;
    }
    r.after = steady_clock::now() - start;
    return r;
  }

  // True when the connection is still open and nothing has arrived within wait.
  bool quiet_for(milliseconds wait) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) == 0;
  }

 private:
  int fd_;
};

struct Response {
  int status = 0;
  std::string head;  // status line and header lines
  std::string body;

  // The value of header name (matched ignoring case), "" when it is absent.
  std::string header(std::string_view name) const {
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      size_t eol = head.find("\r\n", pos + 2);
      std::string_view line(head.data() + pos + 2, eol - pos - 2);
      size_t colon = line.find(':');
      if (colon == name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        return std::string(value);
      }
      pos = eol;
    }
    return {};
  }
};

Response parse(const std::string& bytes) {
  Response r;
  size_t end = bytes.find("\r\n\r\n");
  if (bytes.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos || bytes.size() < 12) return r;
  r.status = std::stoi(bytes.substr(9, 3));
  r.head = bytes.substr(0, end + 2);
  r.body = bytes.substr(end + 4);
  return r;
}

// One request on a fresh connection; the response as it came before the close.
Response round_trip(int port, std::string_view request, Received* raw = nullptr) {
  Client c(port);
  REQUIRE(c.send(request));
  Received got = c.read_to_close(milliseconds(10000));
  CHECK(got.closed);
  if (raw != nullptr) *raw = got;
  return parse(got.bytes);
}

// A registry with a run and an open event in it, so the exposition has every family.
void record_sample_run(Metrics& m) {
  std::vector<SampleFacts> run{{"deepseek", "tiananmen", "refused", 0.3},
                               {"deepseek", "control", "answered", 0.05}};
  m.record_run(*dw::parse_time("2026-01-15T12:00:00Z"), "complete", run, true);
  m.set_open_events({{{"deepseek", "verdict_shift"}, 1}});
}

// A server on a port held for the test (held_port.h): no other test can take it meanwhile.
struct Running {
  dw::testing::HeldPort held;
  int port;
  std::unique_ptr<MetricsServer> server;
};

Running start(const Metrics& m, MetricsServerOptions options = {}) {
  dw::testing::HeldPort held;
  const int port = held.port();
  auto server = MetricsServer::start("127.0.0.1:" + std::to_string(port), m, options);
  REQUIRE_MESSAGE(server.ok(), (server.ok() ? "" : server.error().to_string()));
  return {std::move(held), port, std::move(*server)};
}

// A head deadline no test waits for: a bound far below it tells "answered at once" from
// "answered when a deadline ran out", however slow the machine.
constexpr milliseconds kLongDeadline{60000};

}  // namespace

TEST_CASE("metrics server: /metrics is Metrics::render(); paths, methods and headers") {
  Metrics m("4.5.6");
  record_sample_run(m);
  Running s = start(m);

  Response r = round_trip(s.port, kScrape);
  CHECK(r.status == 200);
  CHECK(r.body == m.render());
  CHECK(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
  CHECK(r.header("Connection") == "close");
  CHECK(r.body.find("driftwatch_build_info{version=\"4.5.6\"} 1\n") != std::string::npos);

  const std::string port = std::to_string(s.port);
  struct Case {
    std::string request;
    int status;
    std::string body;  // "" when any body will do
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, "driftwatch: metrics are at /metrics\n"},
      {"GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200, m.render()},  // the query is ignored
      {"GET http://127.0.0.1:" + port + "/metrics HTTP/1.1\r\n\r\n", 200, m.render()},
      {"GET /metrics HTTP/1.0\n\n", 200, m.render()},  // bare line feeds, HTTP/1.0
      {"GET /other HTTP/1.1\r\n\r\n", 404, ""},
      {"GET /metrics/ HTTP/1.1\r\n\r\n", 404, ""},
      {"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 405, ""},
      {"DELETE / HTTP/1.1\r\n\r\n", 405, ""},
  };
  for (const Case& k : cases) {
    CAPTURE(k.request);
    Response got = round_trip(s.port, k.request);
    CHECK(got.status == k.status);
    CHECK(got.header("Connection") == "close");
    CHECK(got.header("Content-Length") == std::to_string(got.body.size()));
    if (!k.body.empty()) CHECK(got.body == k.body);
    if (k.status == 405) CHECK(got.header("Allow") == "GET, HEAD");
  }

  // HEAD: the head of the GET, no body.
  Response head = round_trip(s.port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("Content-Length") == std::to_string(m.render().size()));
}

TEST_CASE("metrics server: idle and half-sent connections do not hold up a scrape") {
  Metrics m("4.5.6");
  record_sample_run(m);
  Running s = start(m, {.head_deadline = kLongDeadline});
  std::vector<Client> idle;
  for (int i = 0; i < 16; ++i) idle.emplace_back(s.port);
  std::vector<Client> half;
  for (int i = 0; i < 4; ++i) {
    half.emplace_back(s.port);
    REQUIRE(half.back().send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: sl"));
  }

  auto start_at = steady_clock::now();
  Response r = round_trip(s.port, kScrape);
  CHECK(r.status == 200);
  CHECK(r.body == m.render());
  // The head deadline of the others is 60 s: an answer within 10 s did not wait for them.
  CHECK(steady_clock::now() - start_at < milliseconds(10000));
}

TEST_CASE("metrics server: a malformed or oversized head is answered at once and closed") {
  Metrics m("0");
  Running s = start(m, {.head_deadline = kLongDeadline});
  struct Case {
    const char* name;
    std::string request;
    std::vector<int> statuses;  // any of these
  };
  const Case cases[] = {
      {"no target or version", "BLAH\r\n\r\n", {400}},
      {"no version, head unfinished", "GET /metrics\r\n", {400}},
      {"two spaces", "GET  /metrics HTTP/1.1\r\n\r\n", {400}},
      {"not a version", "GET /metrics HTTP/1.1x\r\n\r\n", {400}},
      {"relative target", "GET metrics HTTP/1.1\r\n\r\n", {400}},
      {"a TLS hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), {400}},
      {"header line without a name", "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", {400}},
      {"HTTP/2", "GET /metrics HTTP/2.0\r\n\r\n", {505}},
      {"oversized head",
       "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(16 * 1024, 'a') + "\r\n\r\n",
       {431, 400}},
      {"oversized request line, unfinished", "GET /" + std::string(12 * 1024, 'a'), {431, 400}},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    Received raw;
    Response r = round_trip(s.port, k.request, &raw);
    CHECK(std::find(k.statuses.begin(), k.statuses.end(), r.status) != k.statuses.end());
    CHECK(r.header("Connection") == "close");
    // Not after the 60 s head deadline: on the spot.
    CHECK(raw.after < milliseconds(10000));
  }
}

TEST_CASE("metrics server: a client that does not finish its head in time is disconnected") {
  Metrics m("0");
  Running s = start(m);
  const auto connecting = steady_clock::now();
  Client silent(s.port);
  Received r = silent.read_to_close(milliseconds(10000));
  const auto open_for = steady_clock::now() - connecting;
  CHECK(r.closed);
  CHECK(r.bytes.empty());
  // The deadline is 2 s from accept, which came after `connecting`: exact, however slow.
  CHECK(open_for >= milliseconds(1900));
  CHECK(open_for < milliseconds(10000));

  // The deadline runs from accept, not from the last byte: a byte every 100 ms does not keep
  // a connection open past it.
  Running quick = start(m, {.head_deadline = milliseconds(500)});
  Client trickle(quick.port);
  auto start_at = steady_clock::now();
  const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
  bool closed = false;
  for (char ch : head) {
    if (!trickle.quiet_for(milliseconds(100)) || !trickle.send(std::string_view(&ch, 1))) {
      closed = true;
      break;
    }
  }
  CHECK(closed);
  CHECK(trickle.read_to_close(milliseconds(10000)).bytes.empty());
  CHECK(steady_clock::now() - start_at < milliseconds(10000));
}

TEST_CASE("metrics server: past max_connections the oldest waiting connection is closed") {
  Metrics m("0");
  Running s = start(m, {.max_connections = 4, .head_deadline = milliseconds(60000)});
  std::vector<Client> waiting;
  for (int i = 0; i < 4; ++i) waiting.emplace_back(s.port);

  Response r = round_trip(s.port, kScrape);
  CHECK(r.status == 200);
  // The first was closed to make room, long before its deadline; the others wait on.
  Received first = waiting[0].read_to_close(milliseconds(10000));
  CHECK(first.closed);
  CHECK(first.bytes.empty());
  for (size_t i = 1; i < waiting.size(); ++i) CHECK(waiting[i].quiet_for(milliseconds(100)));
}

TEST_CASE("metrics server: stopping closes every connection and frees the port") {
  Metrics m("0");
  Running s = start(m, {.head_deadline = kLongDeadline});
  Client idle(s.port);
  auto start_at = steady_clock::now();
  s.server.reset();
  CHECK(steady_clock::now() - start_at < milliseconds(10000));
  Received r = idle.read_to_close(milliseconds(20000));
  CHECK((r.closed || r.reset));
  CHECK(r.after < milliseconds(10000));  // closed by the stop, not by the 60 s deadline

  auto again = MetricsServer::start("127.0.0.1:" + std::to_string(s.port), m);
  CHECK_MESSAGE(again.ok(), (again.ok() ? "" : again.error().to_string()));
}

TEST_CASE("metrics server: an IPv6 address in brackets") {
  Metrics m("0");
  dw::testing::HeldPort held;  // held on IPv4: no other test takes the number meanwhile
  const int port = held.port();
  auto server = MetricsServer::start("[::1]:" + std::to_string(port), m);
  if (!server.ok()) {
    // Only a machine without IPv6 loopback may refuse it.
    int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool v6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (probe >= 0) ::close(probe);
    REQUIRE_MESSAGE(!v6, server.error().to_string());
    MESSAGE("no IPv6 loopback here: skipped");
    return;
  }
  Client c(port, AF_INET6);
  REQUIRE(c.send(kScrape));
  Response r = parse(c.read_to_close(milliseconds(10000)).bytes);
  CHECK(r.status == 200);
  CHECK(r.body == m.render());

  auto bad = MetricsServer::start("[::1]:x", m);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "metrics: '[::1]:x' is not HOST:PORT");
}

}  // namespace metrics_server_test
