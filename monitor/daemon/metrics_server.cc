#include "daemon/metrics_server.h"

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace dw::daemon {

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            const Metrics& metrics) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return Error("metrics: '" + listen + "' is not HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = std::atoi(listen.c_str() + colon + 1);

  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->listen_ = listen;
  s->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *s->server_;
  // Scrapes are rare and cheap: two threads are plenty, and keep a Pi's footprint small.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_keep_alive_timeout(5);
  // cpp-httplib sets SO_REUSEPORT by default, which would let a second daemon share the port
  // silently and split the scrapes; SO_REUSEADDR alone still allows a quick restart.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("driftwatch: metrics are at /metrics\n", "text/plain; charset=utf-8");
  });
  errno = 0;
  if (!server.bind_to_port(host, port)) {
    std::string why = errno != 0 ? std::string(": ") + std::strerror(errno) : "";
    return Error("metrics: cannot listen on " + listen + why);
  }
  auto ended = std::make_shared<std::atomic<bool>>(false);
  s->thread_ = std::thread([&server, ended] {
    server.listen_after_bind();
    ended->store(true);
  });
  // stop() before the accept loop has started would be lost; wait the moment it takes.
  while (!server.is_running() && !ended->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return s;
}

MetricsServer::~MetricsServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace dw::daemon
