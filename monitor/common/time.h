// Time for driftwatch: whole seconds on the UTC system clock, read through an injected Clock so
// that runs can be recorded "as of" another instant and tests can simulate days.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"

namespace dw {

using Time = std::chrono::sys_seconds;

// Parses ISO 8601: "2026-01-15T06:30:00Z", with an offset ("+02:00", "-0500"), without seconds
// ("2026-01-15T06:30Z"), with a space for 'T', or a bare date ("2026-01-15", midnight UTC).
// A time without a zone is taken as UTC. Fractional seconds are accepted and dropped.
Result<Time> parse_time(std::string_view text);

// "2026-01-15T06:30:00Z".
std::string format_time(Time t);

// "2026-01-15" (the UTC date of t).
std::string format_date(Time t);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Time now() const override;
};

// A clock that only moves when told to: for tests, backfills and simulated days.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Time start) : now_(start) {}
  Time now() const override { return now_; }
  void set(Time t) { now_ = t; }
  void advance(std::chrono::seconds d) { now_ += d; }

 private:
  Time now_;
};

}  // namespace dw
