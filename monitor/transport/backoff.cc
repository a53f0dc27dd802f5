#include "transport/backoff.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace dw::transport {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Longer than any cap: what a longer wait saturates to, before it could overflow.
constexpr Millis kYear = std::chrono::hours(24 * 365);

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Millis backoff_delay(int retry, const BackoffPolicy& policy, std::optional<Millis> retry_after,
                     std::mt19937_64& rng) {
  if (retry_after) return std::clamp(*retry_after, Millis{0}, policy.retry_after_cap);
  // Doubling stops once past the cap, so large retry numbers cannot overflow.
  const int64_t cap = std::max<int64_t>(policy.cap.count(), 0);
  int64_t ceiling = std::max<int64_t>(policy.base.count(), 0);
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  std::uniform_int_distribution<int64_t> pick(0, ceiling);
  return Millis{pick(rng)};
}

std::optional<Millis> parse_retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (all_digits(value)) {
    // More than ten digits is longer than any cap; saturate rather than overflow.
    if (value.size() > 10) return kYear;
    int64_t seconds = 0;
    std::from_chars(value.data(), value.data() + value.size(), seconds);
    return Millis{seconds * 1000};
  }
  // curl_getdate understands the three date formats RFC 9110 requires recipients to accept.
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  // Compared in seconds first: curl takes any year from 1583, and a date before 1678 or after
  // 2262 does not fit system_clock's nanoseconds.
  const time_t now_s = std::chrono::system_clock::to_time_t(now);
  if (when < now_s) return Millis{0};
  if (when - now_s > std::chrono::duration_cast<std::chrono::seconds>(kYear).count()) return kYear;
  const auto at = std::chrono::system_clock::from_time_t(when);
  if (at <= now) return Millis{0};
  return std::chrono::ceil<Millis>(at - now);
}

std::optional<Millis> parse_retry_after_ms(std::string_view value) {
  value = trim(value);
  if (value.empty() || value.size() > 15) return std::nullopt;
  double ms = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(ms) || ms < 0)
    return std::nullopt;
  // A double past int64_t's range does not convert (1e19 fits in the 15 characters).
  if (ms > static_cast<double>(kYear.count())) return kYear;
  return Millis{static_cast<int64_t>(std::ceil(ms))};
}

RateSpacer::RateSpacer(double per_minute) {
  if (per_minute > 0) {
    interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(60.0 / per_minute));
  }
}

void RateSpacer::started(Clock::time_point now) {
  if (interval_.count() > 0) next_ = now + interval_;
}

}  // namespace dw::transport
