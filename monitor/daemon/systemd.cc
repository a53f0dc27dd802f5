#include "daemon/systemd.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace dw::daemon {
namespace {

// STATUS= ends at the first line break: keep one line.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

Systemd::Systemd() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
  }
}

void Systemd::send(const std::string& state) const { (void)sd_notify(0, state.c_str()); }

void Systemd::ready(std::string_view status) const {
  send("READY=1\nSTATUS=" + one_line(status));
}

void Systemd::status(std::string_view status) const { send("STATUS=" + one_line(status)); }

void Systemd::starting_slowly(std::string_view status, std::chrono::seconds more) const {
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(more).count();
  send("EXTEND_TIMEOUT_USEC=" + std::to_string(usec) + "\nSTATUS=" + one_line(status));
}

void Systemd::stopping(std::string_view status) const {
  send("STOPPING=1\nSTATUS=" + one_line(status));
}

void Systemd::watchdog() const { send("WATCHDOG=1"); }

}  // namespace dw::daemon
