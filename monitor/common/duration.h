// Durations as people write them in config files: "90s", "5m", "6h", "1d", "1h30m".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"

namespace dw {

// Parses one or more NUMBER UNIT parts, units s, m, h, d (in any order, each at most once),
// into whole seconds. "0s" is accepted: callers check their own range (a timeout must be
// positive, a jitter may be zero). Fails, naming the text, on an empty string, a missing or
// unknown unit, a repeated unit, a sign or fraction, or a total beyond 100 years.
Result<std::chrono::seconds> parse_duration(std::string_view text);

// The shortest form parse_duration reads back as d: "6h", "1h30m", "90s" stays "1m30s", "0s".
std::string format_duration(std::chrono::seconds d);

}  // namespace dw
