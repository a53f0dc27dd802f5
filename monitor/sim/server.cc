// The HTTP side of the simulator: routes, scripted faults at the socket level, day control and
// the request log. Choosing and shaping answers is left to the director and api.h.
#include "input/json.h"
#include "sim/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/time.h"
#include "sim/api.h"
#include "sim/connection_threads.h"
#include "sim/gzip_bomb.h"
#include "sim/http_server.h"

namespace dw::sim {
namespace {

using nlohmann::json;
using SysTime = std::chrono::system_clock::time_point;

std::int64_t unix_ms(SysTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// "2026-01-15T06:30:00.123Z".
std::string format_ms(SysTime t) {
  std::string s = format_time(std::chrono::floor<std::chrono::seconds>(t));
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(unix_ms(t) % 1000));
  return s.replace(s.size() - 1, 1, frac);
}

int socket_port(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// httplib gives handlers no socket, yet a dropped or reset connection must end without a
// single byte. The server's end of the connection is the one socket of this process whose own
// port is local_port and whose peer's port is remote_port; -1 when there is none.
int connection_socket(int local_port, int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    sockaddr_storage self{}, peer{};
    socklen_t len = sizeof self;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) != 0) continue;
    len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (socket_port(self) == local_port && socket_port(peer) == remote_port) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

// Ends the connection before any response: cleanly (FIN) for a drop, abortively (RST) for a
// reset. Either way the descriptor stays httplib's: its write of the response fails and it
// closes the socket. connect() to AF_UNSPEC disconnects a TCP socket at once, with a RST from
// an established one, as close() with SO_LINGER {1, 0} would, without closing the descriptor.
void cut_connection(int local_port, int remote_port, bool reset) {
  int fd = connection_socket(local_port, remote_port);
  if (fd < 0) return;
  if (!reset) {
    shutdown(fd, SHUT_RDWR);
    return;
  }
  sockaddr unspecified{};
  unspecified.sa_family = AF_UNSPEC;
  connect(fd, &unspecified, sizeof unspecified);
}

// cpp-httplib listens with a backlog of 5 (fixed when Debian built the library): a client that
// opens more connections at once, as a run with concurrency 8 does, would see SYNs dropped
// and connect timeouts no real API gives. Linux lets listen() on a listening socket change
// its backlog; the socket is this process's listening one on port.
void widen_backlog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    int listening = 0;
    socklen_t size = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || !listening) continue;
    sockaddr_storage self{};
    socklen_t len = sizeof self;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0 &&
        socket_port(self) == port)
      listen(fd, SOMAXCONN);
  }
  closedir(dir);
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised{limit.rlim_max, limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

struct Server::Impl {
  Impl(Scenario scenario, ServerOptions opts)
      : options(std::move(opts)),
        director(std::move(scenario), options.seed),
        http(options.compress),
        day(options.day) {}

  ServerOptions options;  // constant after start
  Director director;
  HttpServer http;
  std::thread thread;
  int port = 0;
  std::atomic<int> day;
  std::atomic<int> in_flight{0};
  std::atomic<bool> listen_returned{false};

  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;  // guarded by stop_mutex

  mutable std::mutex log_mutex;
  std::vector<std::string> log;  // guarded by log_mutex
  std::ofstream log_file;        // guarded by log_mutex

  void route(ApiKind kind, const httplib::Request& req, httplib::Response& res);
  int respond(const Outcome* outcome, HttpReply reply, const httplib::Request& req,
              httplib::Response& res);
  void append_log(const json& entry);
  bool wait(int ms);  // false when stopping cut the wait short
};

bool Server::Impl::wait(int ms) {
  std::unique_lock lock(stop_mutex);
  return !stop_cv.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping; });
}

void Server::Impl::append_log(const json& entry) {
  std::string line = entry.dump();
  std::lock_guard lock(log_mutex);
  if (log_file.is_open()) log_file << line << '\n' << std::flush;
  log.push_back(std::move(line));
}

void Server::Impl::route(ApiKind kind, const httplib::Request& req, httplib::Response& res) {
  SysTime start = options.now();
  int concurrent = ++in_flight;
  Incoming in;
  in.kind = kind;
  if (kind == ApiKind::gemini && req.matches.size() > 1) in.path_model = req.matches[1];
  in.header = [&req](std::string_view name) { return req.get_header_value(std::string(name)); };
  if (req.has_param("key")) in.query_key = req.get_param_value("key");
  in.body = req.body;
  Admission admission = admit(in, options.api_key);

  json entry = {{"kind", api_kind_name(kind)},
                {"path", req.path},
                {"probe", ""},
                {"rule", ""},
                {"model", admission.model},
                {"day", day.load()},
                {"key", key_check_name(admission.key)}};
  HttpReply reply;
  const Outcome* outcome = nullptr;
  if (!admission.request) {
    reply = std::move(*admission.rejection);
    entry["outcome"] = "rejected";
  } else {
    Choice choice = director.choose(
        {kind, admission.request->model, admission.request->prompt, entry["day"].get<int>()});
    outcome = choice.outcome;
    entry["probe"] = choice.probe;
    entry["rule"] = choice.rule;
    entry["outcome"] = outcome_kind_name(outcome->kind);
    reply = render(*admission.request, choice, options.now());
    if (outcome->delay_ms > 0) wait(outcome->delay_ms);
  }

  int logged_status = respond(outcome, std::move(reply), req, res);

  SysTime end = options.now();
  entry["time"] = format_ms(start);
  entry["start_ms"] = unix_ms(start);
  entry["end_ms"] = unix_ms(end);
  entry["in_flight"] = concurrent;
  entry["status"] = logged_status;
  append_log(entry);
  --in_flight;
}

// Hands httplib the reply, or the fault the outcome scripts in its place; returns the status
// to log (0 when the connection is cut without a response).
int Server::Impl::respond(const Outcome* outcome, HttpReply reply, const httplib::Request& req,
                          httplib::Response& res) {
  res.status = reply.status;
  for (const auto& [name, value] : reply.headers) res.set_header(name, value);
  switch (outcome ? outcome->kind : OutcomeKind::answer) {
    case OutcomeKind::drop:
    case OutcomeKind::reset:
      cut_connection(req.local_port, req.remote_port, outcome->kind == OutcomeKind::reset);
      res.set_content("", "text/plain");
      return 0;
    case OutcomeKind::truncated: {
      auto body = std::make_shared<std::string>(std::move(reply.body));
      size_t half = body->size() / 2;
      // Promises the whole body, sends half, then fails: httplib closes the connection.
      res.set_content_provider(body->size(), reply.content_type,
                               [body, half](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset >= half) return false;
                                 return sink.write(body->data() + offset, half - offset);
                               });
      break;
    }
    case OutcomeKind::drip: {
      auto body = std::make_shared<std::string>(std::move(reply.body));
      size_t bytes = outcome->drip_bytes;
      int pause = outcome->drip_ms;
      // With a Content-Length: httplib compresses chunked bodies for clients that accept gzip,
      // and its compressor would hold the drip back.
      res.set_content_provider(
          body->size(), reply.content_type,
          [this, body, bytes, pause](size_t offset, size_t, httplib::DataSink& sink) {
            if (offset > 0 && !wait(pause)) return false;  // stopping: the drip ends here
            return sink.write(body->data() + offset, std::min(bytes, body->size() - offset));
          });
      break;
    }
    case OutcomeKind::gzip_bomb: {
      const std::string& bomb = gzip_bomb();
      res.set_header("Content-Encoding", "gzip");
      // A provider rather than set_content, which httplib would compress again.
      res.set_content_provider(bomb.size(), reply.content_type,
                               [&bomb](size_t offset, size_t length, httplib::DataSink& sink) {
                                 return sink.write(bomb.data() + offset,
                                                   std::min<size_t>(length, 1 << 16));
                               });
      break;
    }
    default:
      res.set_content(reply.body, reply.content_type);
  }
  return reply.status;
}

Result<std::unique_ptr<Server>> Server::start(Scenario scenario, ServerOptions options) {
  if (!is_loopback_host(options.host))
    return Error("driftwatch-sim binds loopback only; '" + options.host +
                 "' is not a loopback address");
  if (options.port < 0 || options.port > 65535)
    return Error("port " + std::to_string(options.port) + " is out of range 0..65535");
  auto impl = std::make_unique<Impl>(std::move(scenario), std::move(options));
  Impl* s = impl.get();
  if (!s->options.log_file.empty()) {
    s->log_file.open(s->options.log_file, std::ios::app);
    if (!s->log_file) return Error("cannot open the request log", {s->options.log_file.string()});
  }

  auto cap = static_cast<std::size_t>(std::max(1, s->options.max_connections));
  s->http.new_task_queue = [cap] { return new ConnectionThreads(cap); };
  s->http.set_payload_max_length(1 << 20);
  s->http.set_keep_alive_max_count(1000);
  // Headers and body leave in separate writes; with Nagle's algorithm on, the body waits for
  // the client's delayed ACK (40 ms on Linux) on every response.
  s->http.set_tcp_nodelay(true);
  auto provider = [s](ApiKind kind) {
    return [s, kind](const httplib::Request& req, httplib::Response& res) {
      s->route(kind, req, res);
    };
  };
  s->http.Post("/v1/chat/completions", provider(ApiKind::openai));
  s->http.Post("/chat/completions", provider(ApiKind::openai));
  s->http.Post("/v1/messages", provider(ApiKind::anthropic));
  s->http.Post("/api/chat", provider(ApiKind::ollama));
  s->http.Post(R"(/v1beta/models/([^/:]+):generateContent)", provider(ApiKind::gemini));

  auto day_reply = [s](httplib::Response& res) {
    res.set_content(json{{"day", s->day.load()}}.dump(), "application/json");
  };
  s->http.Get("/sim/day",
              [day_reply](const httplib::Request&, httplib::Response& res) { day_reply(res); });
  s->http.Post("/sim/day", [s, day_reply](const httplib::Request& req, httplib::Response& res) {
    auto parsed = input::parse_json(req.body);
    json body = parsed ? std::move(parsed).value() : json();
    auto d = body.is_object() ? body.find("day") : body.end();
    if (!body.is_object() || d == body.end() || !d->is_number_integer() || *d < 0 ||
        *d > 1'000'000) {
      res.status = 400;
      res.set_content(json{{"error", "expected {\"day\": N} with N from 0"}}.dump(),
                      "application/json");
      return;
    }
    s->day = d->get<int>();
    day_reply(res);
  });
  s->http.Get("/sim/health", [s](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(s->log_mutex);
    res.set_content(json{{"status", "ok"},
                         {"day", s->day.load()},
                         {"requests", s->log.size()},
                         {"scenario", s->director.scenario().file.string()}}
                        .dump(),
                    "application/json");
  });
  s->http.Get("/sim/requests", [s](const httplib::Request& req, httplib::Response& res) {
    size_t since = 0;
    if (req.has_param("since")) since = std::strtoull(req.get_param_value("since").c_str(), 0, 10);
    std::string out;
    std::lock_guard lock(s->log_mutex);
    for (size_t i = since; i < s->log.size(); ++i) out += s->log[i] + '\n';
    res.set_content(out, "application/x-ndjson");
  });

  if (s->options.port == 0) {
    s->port = s->http.bind_to_any_port(s->options.host);
    if (s->port < 0) return Error("cannot bind " + s->options.host + " to a free port");
  } else {
    if (!s->http.bind_to_port(s->options.host, s->options.port))
      return Error("cannot bind " + s->options.host + ":" + std::to_string(s->options.port) +
                   " (in use?)");
    s->port = s->options.port;
  }
  widen_backlog(s->port);
  s->thread = std::thread([s] {
    // Writes to a connection the peer (or a scripted drop) closed must fail with EPIPE, not
    // kill the process; the worker threads inherit this mask.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    s->http.listen_after_bind();
    s->listen_returned = true;
  });
  // httplib's stop() does nothing before the accept loop runs; wait for it so that a stop()
  // right after start() cannot be lost.
  while (!s->http.is_running() && !s->listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

void Server::stop() {
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Server::day() const { return impl_->day.load(); }

void Server::set_day(int day) { impl_->day = day; }

std::vector<std::string> Server::request_log() const {
  std::lock_guard lock(impl_->log_mutex);
  return impl_->log;
}

}  // namespace dw::sim
