// The daemon's log: one line per event on stderr, each line prefixed with its syslog priority
// ("<3>" error ... "<7>" debug) as journald reads it (SyslogLevelPrefix=, on by default), so
// `journalctl -p warning -u driftwatch` filters the way people expect.
//
//   Logger log(LogLevel::info);
//   log.warning("SIGHUP: keeping the old config: " + error.to_string());
//
// Threads: every call is safe from any thread; each line is written whole with one write().
// Messages must never carry secrets: callers log names of keys and where they live, never
// their values. Control characters (line breaks included) in a message are replaced by
// spaces, so untrusted text (a model's output, a server's reply) cannot forge log lines.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace dw::daemon {

// Syslog priorities, lower is more severe.
enum class LogLevel { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// "error", "warning", "notice", "info", "debug"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

class Logger {
 public:
  // Receives each finished line, newline included. The default writes it to stderr.
  using Sink = std::function<void(std::string_view line)>;

  explicit Logger(LogLevel level, Sink sink = {});

  // Writes "<P>message\n" when level is at or above the logger's level.
  void log(LogLevel level, std::string_view message) const;
  void error(std::string_view m) const { log(LogLevel::error, m); }
  void warning(std::string_view m) const { log(LogLevel::warning, m); }
  void notice(std::string_view m) const { log(LogLevel::notice, m); }
  void info(std::string_view m) const { log(LogLevel::info, m); }
  void debug(std::string_view m) const { log(LogLevel::debug, m); }

  bool enabled(LogLevel level) const { return level <= level_; }

 private:
  LogLevel level_;
  Sink sink_;
  mutable std::mutex mutex_;  // keeps lines from different threads whole and in order
};

}  // namespace dw::daemon
