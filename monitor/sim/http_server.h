// cpp-httplib's server with the simulator's own loop over a connection's requests: routes,
// handlers, limits and the accept loop stay httplib's.
//
//   HttpServer http(/*compress=*/false);
//   http.new_task_queue = [] { return new ConnectionThreads(4096); };
//   http.Post("/api/chat", handler);           // as for httplib::Server
//   http.listen_after_bind();                  // on its own thread
//   http.stop();                               // from another
//
// Why its own loop: httplib 0.11 waits for a keep-alive connection's next request by polling
// the socket for 10 ms, sleeping 1 ms and polling again, about 180 wake-ups a second for each
// idle connection. 1,000 idle keep-alive connections then keep both cores of a small machine
// busy and the connections still being answered wait seconds. Here a connection waits in one
// poll() until its next request, the keep-alive timeout or stop(), whichever comes first.
//
// Contract, per connection (one task of the server's task queue):
// - Requests are served in turn, up to the keep-alive count (set_keep_alive_max_count), the
//   last one answered with "Connection: close"; the connection closes after a request the
//   client marked "Connection: close", a failed read or write, the keep-alive timeout
//   (set_keep_alive_timeout) passing with no next request, or stop().
// - Reads and writes wait at most the read and write timeouts (set_read_timeout,
//   set_write_timeout); a write sends everything or fails.
// - With compress false the request's Accept-Encoding header is removed before routing, so
//   httplib sends every body as the handler set it; a handler that sets Content-Encoding
//   itself (the gzip_bomb outcome) is unaffected. With compress true, httplib's behaviour:
//   text and JSON bodies are compressed with Brotli or gzip when the client accepts them.
// Thread-safe as httplib::Server is: stop() may be called from any thread.
#pragma once

#include <httplib.h>

#include <functional>

namespace dw::sim {

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(bool compress);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting (httplib::Server::stop) and ends every connection that is waiting for its
  // next request; requests being handled finish. Safe to call more than once.
  void stop();

 private:
  // httplib's per-connection entry point (a private virtual of httplib::Server).
  bool process_and_close_socket(socket_t sock) override;

  std::function<void(httplib::Request&)> prepare_request_;  // empty when compressing
  int stopped_fd_ = -1;  // an eventfd, readable once stop() was called; -1 when none was made
};

}  // namespace dw::sim
