#include "daemon/log.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

namespace dw::daemon {
namespace {

void write_stderr(std::string_view line) {
  while (!line.empty()) {
    ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to complain to
    line.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  constexpr std::array<std::pair<std::string_view, LogLevel>, 5> kLevels{{
      {"error", LogLevel::error},
      {"warning", LogLevel::warning},
      {"notice", LogLevel::notice},
      {"info", LogLevel::info},
      {"debug", LogLevel::debug},
  }};
  for (const auto& [n, level] : kLevels) {
    if (n == name) return level;
  }
  return std::nullopt;
}

Logger::Logger(LogLevel level, Sink sink)
    : level_(level), sink_(sink ? std::move(sink) : Sink(write_stderr)) {}

void Logger::log(LogLevel level, std::string_view message) const {
  if (!enabled(level)) return;
  std::string line = "<" + std::to_string(static_cast<int>(level)) + ">";
  line.reserve(line.size() + message.size() + 1);
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    line.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  line.push_back('\n');
  std::lock_guard lock(mutex_);
  sink_(line);
}

}  // namespace dw::daemon
