// GET /metrics over HTTP/1.1: a small server of our own on one thread with one poll(2) loop, the
// one exception to the daemon's single loop thread. It only calls Metrics::render(), which
// reads a snapshot under the Metrics mutex; it touches nothing else of the daemon (no store, no
// config).
//
//   auto server = MetricsServer::start("127.0.0.1:9464", metrics);
//   if (!server) ...        // the address does not parse or resolve, or the port is taken
//   ...                     // scrapes are answered on the server's thread meanwhile
//   server->reset();        // (or let the unique_ptr go) stops the thread and closes all
//
// Answers: GET (or HEAD) /metrics is 200 with Metrics::render() as
// "text/plain; version=0.0.4; charset=utf-8"; GET / is 200 with a line pointing at /metrics;
// any other path is 404 and any other method 405. A query string is ignored. Every response
// carries Content-Length and "Connection: close": one request per connection, since scrapes
// are rare. A request line that does not parse is 400 as soon as it arrives, without waiting
// for the rest of the head; a header line without a "name:" is 400; a head longer than
// max_head_bytes is 431 as soon as that many bytes came; a version other than HTTP/1.x is 505.
//
// Slow or idle clients cannot keep it from answering: a connection that has not delivered its
// whole request head within head_deadline of being accepted is closed without a reply, and one
// that does not take its response within send_deadline is closed. A new connection beyond
// max_connections closes the oldest one still waiting for its head (if none is, the oldest).
// After its response the server half-closes a connection and drops what the client still
// sends for up to a second, so that the close cannot reset the response away.
//
// Memory: at most max_connections, each holding at most max_head_bytes plus one read of input
// and one response. Threads: start() starts the one thread, which blocks every signal (the
// daemon's signals stay with its loop thread); the destructor wakes it and joins it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "common/error.h"
#include "daemon/metrics.h"

namespace dw::daemon {

// Limits of the metrics server. The defaults suit a scraper every few seconds on loopback.
struct MetricsServerOptions {
  int max_connections = 64;                       // open at once, including the newest
  std::chrono::milliseconds head_deadline{2000};  // from accept to a complete request head
  std::size_t max_head_bytes = 8192;              // request line and header lines, CRLFs in
  std::chrono::milliseconds send_deadline{5000};  // for the client to take the response
};

class MetricsServer {
 public:
  // Listens on listen ("HOST:PORT", an IPv6 host in brackets, as [metrics] listen checks it;
  // HOST may be a name, the first address it resolves to that binds is used) and serves
  // metrics. The socket has SO_REUSEADDR (a quick restart) but not SO_REUSEPORT (a second
  // daemon on the same port fails here instead of silently splitting the scrapes); "[::]"
  // takes IPv4 connections too. metrics is borrowed and must outlive the server. Fails,
  // naming the address ("metrics: cannot listen on LISTEN: why"), when the address does not
  // parse or resolve or the port cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                      const Metrics& metrics,
                                                      MetricsServerOptions options = {});
  // Stops listening, closes every connection and joins the server's thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::string& listen() const { return listen_; }

 private:
  MetricsServer() = default;
  std::string listen_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd: readable means stop
  std::thread thread_;
};

}  // namespace dw::daemon
