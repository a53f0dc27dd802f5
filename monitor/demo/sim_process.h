// The bundled simulator as a child process: started on a free loopback port, told which
// simulated day it is, stopped when this object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

namespace dw::demo {

class SimProcess {
 public:
  // Runs `binary args... --port 0` with stdout on a pipe and stderr appended to log, and waits
  // up to `wait` for its "listening on http://HOST:PORT" line. Fails, leaving no process
  // behind, when the binary cannot be started, exits, or does not say where it listens in
  // time (the error quotes the end of its log).
  static Result<std::unique_ptr<SimProcess>> start(const std::filesystem::path& binary,
                                                   const std::vector<std::string>& args,
                                                   const std::filesystem::path& log,
                                                   std::chrono::seconds wait = std::chrono::seconds(10));

  // Stops the simulator (SIGTERM, then SIGKILL after two seconds) and reaps it.
  ~SimProcess();
  SimProcess(const SimProcess&) = delete;
  SimProcess& operator=(const SimProcess&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  // POST /sim/day {"day": day}; fails when the simulator does not confirm it.
  Status set_day(int day);

 private:
  SimProcess(pid_t pid, int port) : pid_(pid), port_(port) {}
  pid_t pid_;
  int port_;
};

}  // namespace dw::demo
