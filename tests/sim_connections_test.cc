// The simulator under many connections and the bytes of its answers: a thread per connection
// up to a cap (ConnectionThreads), a thousand keep-alive connections answered while all stay
// open, request after request on one connection and an idle one closed at once by stop(), no
// compression unless asked for, and requests at httplib's length limits served within a
// connection thread's stack. Raw sockets and poll, so what is on the wire is what is checked;
// every wait has a deadline, so a stall fails rather than hangs.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <nlohmann/json.hpp>

#include "sim/connection_threads.h"
#include "sim/gzip_bomb.h"
#include "sim/server.h"

namespace sim_connections_test {

using namespace dw::sim;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// The reply at the start of raw once it is whole (head and Content-Length bytes of body);
// nullopt before. Every answer of the simulator carries a Content-Length.
std::optional<Reply> whole_reply(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  Reply reply;
  size_t line_end = raw.find("\r\n");
  std::string status_line = raw.substr(0, line_end);
  if (status_line.size() < 12) return std::nullopt;
  reply.status = std::atoi(status_line.c_str() + 9);  // "HTTP/1.1 200 OK"
  for (size_t at = line_end + 2; at < head_end;) {
    size_t end = raw.find("\r\n", at);
    std::string line = raw.substr(at, end - at);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    size_t value = line.find_first_not_of(' ', colon + 1);
    reply.headers[name] = value == std::string::npos ? "" : line.substr(value);
    at = end + 2;
  }
  size_t length = std::stoul(reply.headers.count("content-length")
                                 ? reply.headers["content-length"]
                                 : std::string("0"));
  if (raw.size() < head_end + 4 + length) return std::nullopt;
  reply.body = raw.substr(head_end + 4, length);
  return reply;
}

// One non-blocking client connection to 127.0.0.1, closed with the object.
struct Connection {
  int fd = -1;
  std::string request;
  size_t sent = 0;
  std::string received;
  std::optional<Reply> reply;
  std::string failure;  // why it ended without a reply

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
  bool done() const { return reply || !failure.empty(); }
};

// Opens one connection per request to port, all at once, sends each its request and reads one
// reply on each, keeping every connection open until all are done or the deadline passes.
// Returns the connections, still open, each with its reply or the reason it has none.
std::vector<std::unique_ptr<Connection>> exchange(int port, const std::vector<std::string>& requests,
                                                  steady_clock::duration limit = 60s) {
  std::vector<std::unique_ptr<Connection>> connections;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  for (const auto& request : requests) {
    auto c = std::make_unique<Connection>();
    c->request = request;
    c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
      c->failure = "socket: " + std::string(strerror(errno));
    else if (::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
             errno != EINPROGRESS)
      c->failure = "connect: " + std::string(strerror(errno));
    connections.push_back(std::move(c));
  }
  auto deadline = steady_clock::now() + limit;
  std::vector<pollfd> polled;
  std::vector<Connection*> waiting;
  for (;;) {
    polled.clear();
    waiting.clear();
    for (auto& c : connections) {
      if (c->done()) continue;
      short events = c->sent < c->request.size() ? POLLOUT : POLLIN;
      polled.push_back({c->fd, events, 0});
      waiting.push_back(c.get());
    }
    if (waiting.empty()) break;
    if (steady_clock::now() > deadline) {
      for (Connection* c : waiting) c->failure = "no reply before the deadline";
      break;
    }
    if (::poll(polled.data(), polled.size(), 100) < 0 && errno != EINTR) FAIL("poll failed");
    for (size_t i = 0; i < polled.size(); ++i) {
      Connection& c = *waiting[i];
      if (polled[i].revents == 0) continue;
      if (c.sent < c.request.size()) {
        ssize_t n = ::send(c.fd, c.request.data() + c.sent, c.request.size() - c.sent,
                           MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<size_t>(n);
        else if (errno != EAGAIN && errno != EINTR) c.failure = "send: " + std::string(strerror(errno));
        continue;
      }
      char buffer[65536];
      ssize_t n = ::read(c.fd, buffer, sizeof buffer);
      if (n > 0) {
        c.received.append(buffer, static_cast<size_t>(n));
        c.reply = whole_reply(c.received);
      } else if (n == 0) {
        c.failure = "closed by the server before its reply";
      } else if (errno != EAGAIN && errno != EINTR) {
        c.failure = "read: " + std::string(strerror(errno));
      }
    }
  }
  return connections;
}

// A blocking client connection, closed with the object.
class Client {
 public:
  explicit Client(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends text (one request or several) and reads count replies, in 10 s at most.
  std::vector<Reply> send(const std::string& text, size_t count = 1) {
    REQUIRE(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
    std::vector<Reply> replies;
    auto deadline = steady_clock::now() + 10s;
    while (replies.size() < count) {
      while (auto reply = whole_reply(pending_)) {
        pending_.erase(0, pending_.find("\r\n\r\n") + 4 + reply->body.size());
        replies.push_back(std::move(*reply));
        if (replies.size() == count) return replies;
      }
      REQUIRE(wait_readable(deadline));
      char buffer[65536];
      ssize_t n = ::read(fd_, buffer, sizeof buffer);
      REQUIRE(n > 0);
      pending_.append(buffer, static_cast<size_t>(n));
    }
    return replies;
  }

  // Whether the server closes the connection (read returns 0) within limit.
  bool closed_within(steady_clock::duration limit) {
    auto deadline = steady_clock::now() + limit;
    char byte;
    return wait_readable(deadline) && ::read(fd_, &byte, 1) == 0;
  }

 private:
  bool wait_readable(steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    return left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) == 1;
  }

  int fd_;
  std::string pending_;  // bytes read past the replies returned
};

Reply exchange_one(int port, const std::string& request) {
  auto connections = exchange(port, {request});
  INFO(connections[0]->failure);
  REQUIRE(connections[0]->reply);
  return *connections[0]->reply;
}

std::string chat_request(const std::string& prompt, const std::string& extra_headers = "") {
  std::string body = nlohmann::json{{"model", "m"},
                                    {"stream", false},
                                    {"messages", {{{"role", "user"}, {"content", prompt}}}}}
                         .dump();
  return "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

const char* kScenario = R"(
[[rule]]
prompt_contains = ["bomb"]
[[rule.outcome]]
kind = "gzip_bomb"

[default]
[[default.outcome]]
kind = "answer"
texts = ["A plain answer, long enough that a compressor would gladly shrink it."]
)";

std::unique_ptr<Server> start_server(ServerOptions options = {}) {
  auto scenario = parse_scenario(kScenario, "test.toml");
  REQUIRE(scenario.ok());
  auto server = Server::start(std::move(scenario).value(), std::move(options));
  INFO((server ? "" : server.error().to_string()));
  REQUIRE(server.ok());
  return std::move(server).value();
}

// Waits until done() holds, at most limit; returns whether it did.
template <typename Done>
bool eventually(Done done, steady_clock::duration limit = 10s) {
  auto deadline = steady_clock::now() + limit;
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

// Tasks wait at the gate until it opens; it opens at the latest when the test leaves, so a
// failed check cannot leave shutdown() waiting for tasks that never end.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

TEST_CASE("connection threads run up to their cap at once, queue the rest and join all") {
  Gate gate;
  std::atomic<int> now{0}, most{0}, ended{0};
  ConnectionThreads threads(3);
  struct OpenOnExit {
    Gate& gate;
    ~OpenOnExit() { gate.open(); }
  } open_on_exit{gate};
  for (int i = 0; i < 8; ++i) {
    threads.enqueue([&] {
      int running = ++now;
      int seen = most.load();
      while (running > seen && !most.compare_exchange_weak(seen, running)) {
      }
      gate.wait();
      --now;
      ++ended;
    });
  }
  // Three run, each on its own thread (they all wait at once); five wait behind the cap.
  REQUIRE(eventually([&] { return now == 3; }));
  CHECK(threads.running() == 3);
  CHECK(threads.queued() == 5);
  gate.open();
  // Threads end with their tasks: none stays behind waiting for work.
  CHECK(eventually([&] { return threads.running() == 0; }));
  CHECK(ended == 8);
  CHECK(most == 3);
  CHECK(threads.queued() == 0);

  // shutdown() waits for a task still running.
  std::atomic<bool> slow_done{false};
  threads.enqueue([&] {
    std::this_thread::sleep_for(200ms);
    slow_done = true;
  });
  threads.shutdown();
  CHECK(slow_done);
  CHECK(threads.running() == 0);
}

TEST_CASE("1,000 keep-alive connections are each answered while all of them stay open") {
  // Both ends of every connection live in this process, beside the test's own descriptors.
  REQUIRE(raise_open_file_limit() >= 2100);
  auto server = start_server();
  // A pool of N threads could answer only N of them: a keep-alive connection holds its thread
  // until it closes or idles out (5 s), and these stay open until every one is answered.
  std::vector<std::string> requests(1000, chat_request("How are you today?"));
  auto connections = exchange(server->port(), requests);
  int answered = 0;
  std::string first_failure;
  for (const auto& c : connections) {
    if (c->reply && c->reply->status == 200) ++answered;
    else if (first_failure.empty()) first_failure = c->failure;
  }
  INFO(first_failure);
  CHECK(answered == 1000);
  CHECK(server->request_log().size() == 1000);
}

TEST_CASE("a keep-alive connection serves request after request; stop() closes it at once") {
  auto server = start_server();
  Client client(server->port());
  CHECK(client.send(chat_request("one"))[0].status == 200);
  CHECK(client.send(chat_request("two"))[0].status == 200);
  // Two requests in one write: the second is already read, waiting in the connection's buffer.
  auto both = client.send(chat_request("three") + chat_request("four"), 2);
  CHECK(both[0].status == 200);
  CHECK(both[1].status == 200);
  CHECK(server->request_log().size() == 4);
  // Idle now; stop() does not wait out the keep-alive timeout (5 s).
  auto start = steady_clock::now();
  server->stop();
  CHECK(steady_clock::now() - start < 2s);
  CHECK(client.closed_within(2s));
}

TEST_CASE("answers are not compressed unless compression is asked for") {
  const std::string accepts = "Accept-Encoding: gzip, br\r\n";
  SUBCASE("off by default: the body as rendered, whatever the client accepts") {
    auto server = start_server();
    Reply chat = exchange_one(server->port(), chat_request("Hello?", accepts));
    CHECK(chat.status == 200);
    CHECK(chat.headers.count("content-encoding") == 0);
    CHECK(nlohmann::json::parse(chat.body, nullptr, false).is_object());
    Reply health = exchange_one(
        server->port(), "GET /sim/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + accepts + "\r\n");
    CHECK(health.headers.count("content-encoding") == 0);
    CHECK(nlohmann::json::parse(health.body, nullptr, false).is_object());
  }
  SUBCASE("on: Brotli or gzip, as the client accepts") {
    ServerOptions options;
    options.compress = true;
    auto server = start_server(options);
    Reply chat = exchange_one(server->port(), chat_request("Hello?", accepts));
    CHECK(chat.status == 200);
    REQUIRE(chat.headers.count("content-encoding") == 1);
    CHECK((chat.headers["content-encoding"] == "br" || chat.headers["content-encoding"] == "gzip"));
    CHECK(nlohmann::json::parse(chat.body, nullptr, false).is_discarded());
  }
  SUBCASE("the gzip_bomb outcome still sends its own gzip body") {
    auto server = start_server();
    Reply bomb = exchange_one(server->port(), chat_request("bomb", "Accept-Encoding: gzip\r\n"));
    CHECK(bomb.status == 200);
    CHECK(bomb.headers["content-encoding"] == "gzip");
    CHECK(bomb.body == gzip_bomb());
  }
}

TEST_CASE("requests at httplib's length limits are served within a connection's stack") {
  // httplib matches routes and parses Range headers with std::regex, which recurses once per
  // character: the longest path and Range header it admits (8 KiB lines) must fit the stack of
  // a connection thread (kConnectionStackBytes), or the whole simulator falls over.
  auto server = start_server();
  std::string path = "/v1beta/models/" + std::string(8100, 'm') + ":generateContent";
  Reply gemini = exchange_one(server->port(),
                              "POST " + path +
                                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 2\r\n\r\n{}");
  CHECK(gemini.status == 401);  // routed as Gemini, refused for want of a key
  std::string range = "bytes=0-0";
  while (range.size() < 8150) range += ",0-0";
  Reply ranged = exchange_one(
      server->port(), "GET /sim/health HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: " + range + "\r\n\r\n");
  CHECK(ranged.status == 206);
}

}  // namespace sim_connections_test
