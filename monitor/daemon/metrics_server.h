// GET /metrics over HTTP: cpp-httplib on threads of its own, the one exception to the daemon's
// single loop thread. The handlers only call Metrics::render(), which reads a snapshot under
// the Metrics mutex; they touch nothing else of the daemon (no store, no config).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/error.h"
#include "daemon/metrics.h"

namespace httplib {
class Server;
}

namespace dw::daemon {

class MetricsServer {
 public:
  // Listens on listen ("HOST:PORT", an IPv6 host in brackets, as [metrics] listen checks it)
  // and serves metrics. metrics is borrowed and must outlive the server. Fails, naming the
  // address, when the port cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                      const Metrics& metrics);
  // Stops listening and joins the server's threads.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::string& listen() const { return listen_; }

 private:
  MetricsServer() = default;
  std::string listen_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace dw::daemon
