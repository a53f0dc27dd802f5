#include "common/duration.h"

#include <cctype>
#include <cstdint>

namespace dw {
namespace {

constexpr int64_t kMaxSeconds = int64_t{100} * 366 * 86400;

// Seconds per unit letter, 0 for a letter that is not a unit.
int64_t unit_seconds(char unit) {
  switch (unit) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    default: return 0;
  }
}

}  // namespace

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error("invalid duration '" + std::string(text) + "': " + std::string(why) +
                 " (write e.g. \"90s\", \"5m\", \"6h\", \"1d\" or \"1h30m\")");
  };
  if (text.empty()) return bad("empty");
  int64_t total = 0;
  std::string seen;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    int64_t number = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      number = number * 10 + (text[pos] - '0');
      if (number > kMaxSeconds) return bad("too long");
      ++pos;
    }
    if (pos == start) return bad("expected a whole number");
    if (pos == text.size()) return bad("missing unit after " + std::string(text.substr(start)));
    char unit = text[pos++];
    int64_t scale = unit_seconds(unit);
    if (scale == 0) return bad(std::string("unknown unit '") + unit + "'");
    if (seen.find(unit) != std::string::npos) return bad(std::string("unit '") + unit + "' repeated");
    seen += unit;
    total += number * scale;
    if (total > kMaxSeconds) return bad("too long");
  }
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds d) {
  int64_t left = d.count();
  if (left <= 0) return "0s";
  std::string out;
  for (char unit : {'d', 'h', 'm', 's'}) {
    int64_t scale = unit_seconds(unit);
    if (left >= scale) {
      out += std::to_string(left / scale) + unit;
      left %= scale;
    }
  }
  return out;
}

}  // namespace dw
