// Talking to systemd: readiness, status, stopping and watchdog keep-alives for a Type=notify
// unit, through libsystemd's sd_notify (the datagram protocol on $NOTIFY_SOCKET).
//
// Outside systemd ($NOTIFY_SOCKET unset) every call does nothing, so the daemon runs the same
// in a terminal. Failures to notify are ignored on purpose: systemd acts on silence (start
// timeout, watchdog) and there is nothing better to do than carry on.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace dw::daemon {

class Systemd {
 public:
  // Reads $WATCHDOG_USEC (and $WATCHDOG_PID) once. The variables are left in the environment:
  // nothing this process starts is a service of its own.
  Systemd();

  // "EXTEND_TIMEOUT_USEC" with a status line: start-up may take up to `more` from now (a
  // database upgrade rewriting years of samples on a Pi), beyond the unit's start timeout.
  void starting_slowly(std::string_view status, std::chrono::seconds more) const;
  // "READY=1" with a first status line.
  void ready(std::string_view status) const;
  // "STATUS=..." (one line, shown by `systemctl status`).
  void status(std::string_view status) const;
  // "STOPPING=1" with a status line saying why.
  void stopping(std::string_view status) const;
  // "WATCHDOG=1".
  void watchdog() const;

  // How often to send watchdog(): half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises;
  // zero when systemd does not watch this process.
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

 private:
  void send(const std::string& state) const;
  std::chrono::microseconds watchdog_interval_{0};
};

}  // namespace dw::daemon
