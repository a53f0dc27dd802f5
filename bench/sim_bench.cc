// driftwatch-sim under a burst of connections: CONNECTIONS clients (default 1,000) connect at
// once and send one chat request each, with `Accept-Encoding: gzip, br` as libcurl-based
// clients send it; a round ends when every one has its reply. Two ways to use a connection:
//   keep-alive  every connection stays open until all are answered (a client holding a pool)
//   close       `Connection: close`: one connection per request, closed by the server after it
// each with the simulator's compression off (the default) and on (`--compress`). The server
// runs in this process on a fresh port per row; the client is one poll loop on this thread.
//
//   build/bench/bench_sim [CONNECTIONS [ROUNDS]]     (default 1,000 and 3)
//
// Prints per row the requests answered, requests per second (all rounds' requests over their
// summed wall time), the median and the largest latency of a request (connect() to the last
// byte of its reply), the CPU time of the process (server and client) per 1,000 requests and
// the process's peak RSS so far (it only grows: the rows without compression run first).
// Exits 1 when a request went unanswered within 60 s. Not run by CTest.
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sim/server.h"

using Clock = std::chrono::steady_clock;

namespace {

const char* kScenario = R"(
[default]
[[default.outcome]]
kind = "answer"
texts = ["Canberra is the capital of Australia. It was chosen in 1908 as a compromise between Sydney and Melbourne, and Parliament first sat there in 1927."]
)";

struct Connection {
  int fd = -1;
  size_t sent = 0;
  std::string received;
  size_t expected = 0;  // head and body, once the head is in
  bool done = false;
  Clock::time_point started, finished;

  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
};

// Whether raw holds a whole reply (every answer of the simulator carries a Content-Length).
bool whole(Connection& c) {
  if (c.expected == 0) {
    size_t head_end = c.received.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    std::string head = c.received.substr(0, head_end);
    for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    size_t at = head.find("\r\ncontent-length:");
    size_t length = at == std::string::npos ? 0 : std::strtoul(head.c_str() + at + 17, 0, 10);
    c.expected = head_end + 4 + length;
  }
  return c.received.size() >= c.expected;
}

struct Round {
  int answered = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
};

Round run_round(int port, int count, const std::string& request) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::vector<std::unique_ptr<Connection>> connections;
  Clock::time_point start = Clock::now();
  for (int i = 0; i < count; ++i) {
    auto c = std::make_unique<Connection>();
    c->started = Clock::now();
    c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || (::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
                      errno != EINPROGRESS))
      c->done = true;  // unanswered
    connections.push_back(std::move(c));
  }
  Clock::time_point deadline = start + std::chrono::seconds(60);
  std::vector<pollfd> polled;
  std::vector<Connection*> waiting;
  for (;;) {
    polled.clear();
    waiting.clear();
    for (auto& c : connections) {
      if (c->done) continue;
      polled.push_back({c->fd, static_cast<short>(c->sent < request.size() ? POLLOUT : POLLIN), 0});
      waiting.push_back(c.get());
    }
    if (waiting.empty() || Clock::now() > deadline) break;
    ::poll(polled.data(), polled.size(), 100);
    for (size_t i = 0; i < polled.size(); ++i) {
      if (polled[i].revents == 0) continue;
      Connection& c = *waiting[i];
      if (c.sent < request.size()) {
        ssize_t n = ::send(c.fd, request.data() + c.sent, request.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<size_t>(n);
        else if (errno != EAGAIN && errno != EINTR) c.done = true;
        continue;
      }
      char buffer[16384];
      ssize_t n = ::read(c.fd, buffer, sizeof buffer);
      if (n > 0) c.received.append(buffer, static_cast<size_t>(n));
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) c.done = true;
      if (!c.done && whole(c)) {
        c.done = true;
        c.finished = Clock::now();
      }
    }
  }
  Round round;
  Clock::time_point last = start;
  for (const auto& c : connections) {
    if (c->finished == Clock::time_point{}) continue;
    ++round.answered;
    last = std::max(last, c->finished);
    round.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(c->finished - c->started).count());
  }
  round.seconds = std::chrono::duration<double>(last - start).count();
  return round;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

std::string chat_request(bool keep_alive) {
  std::string body =
      R"({"model":"m","stream":false,"messages":[{"role":"user","content":"What is the capital of Australia?"}]})";
  return std::string("POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
         (keep_alive ? "" : "Connection: close\r\n") +
         "Accept-Encoding: gzip, br\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 1000;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  if (count < 1 || rounds < 1) {
    std::fprintf(stderr, "usage: bench_sim [CONNECTIONS [ROUNDS]]\n");
    return 2;
  }
  // Both ends of every connection are in this process.
  std::uint64_t files = dw::sim::raise_open_file_limit();
  if (files < static_cast<std::uint64_t>(2 * count + 64)) {
    std::fprintf(stderr, "bench_sim: %d connections need %d open files; the limit is %llu\n",
                 count, 2 * count + 64, static_cast<unsigned long long>(files));
    return 2;
  }
  std::printf("%d connections at once, %d rounds per row\n\n", count, rounds);
  std::printf("%-11s %-11s %9s %11s %10s %10s %13s %14s\n", "connection", "compression",
              "answered", "requests/s", "median ms", "max ms", "CPU s/1k req", "peak RSS MiB");
  bool all_answered = true;
  for (bool compress : {false, true}) {
    for (bool keep_alive : {true, false}) {
      auto scenario = dw::sim::parse_scenario(kScenario, "bench.toml");
      if (!scenario) return 2;
      dw::sim::ServerOptions options;
      options.compress = compress;
      auto server = dw::sim::Server::start(std::move(scenario).value(), options);
      if (!server) {
        std::fprintf(stderr, "bench_sim: %s\n", server.error().to_string().c_str());
        return 2;
      }
      std::string request = chat_request(keep_alive);
      int answered = 0;
      double seconds = 0;
      std::vector<double> latencies;
      double cpu_before = cpu_seconds();
      for (int r = 0; r < rounds; ++r) {
        Round round = run_round((*server)->port(), count, request);
        answered += round.answered;
        seconds += round.seconds;
        latencies.insert(latencies.end(), round.latencies_ms.begin(), round.latencies_ms.end());
      }
      double cpu = cpu_seconds() - cpu_before;
      (*server)->stop();
      std::sort(latencies.begin(), latencies.end());
      double median = latencies.empty() ? 0 : latencies[latencies.size() / 2];
      double most = latencies.empty() ? 0 : latencies.back();
      std::printf("%-11s %-11s %9d %11.0f %10.1f %10.1f %13.3f %14.1f\n",
                  keep_alive ? "keep-alive" : "close", compress ? "on" : "off", answered,
                  seconds > 0 ? answered / seconds : 0.0, median, most,
                  answered > 0 ? cpu * 1000 / answered : 0.0, peak_rss_mib());
      // bench/all.sh gathers these lines into one table.
      std::printf("TABLE|driftwatch-sim, %d connections at once (%s, compression %s): "
                  "requests/s, slowest|%.0f/s, %.0f ms|every request answered\n",
                  count, keep_alive ? "keep-alive" : "close", compress ? "on" : "off",
                  seconds > 0 ? answered / seconds : 0.0, most);
      std::fflush(stdout);
      all_answered = all_answered && answered == count * rounds;
    }
  }
  if (!all_answered) std::printf("\nFAIL: some requests went unanswered within 60 s\n");
  return all_answered ? 0 : 1;
}
