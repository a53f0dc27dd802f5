// The timing rules of the transport, as pure functions of their inputs so that tests can check
// them without a network or a real clock: when to retry, how long a server asked us to wait,
// and when a rate-limited lane may send next.
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace dw::transport {

using Millis = std::chrono::milliseconds;

struct BackoffPolicy {
  Millis base{1000};              // ceiling of the first retry's delay
  Millis cap{30000};              // no computed delay is longer than this
  Millis retry_after_cap{60000};  // a server's Retry-After is honoured up to this long
};

// The delay before retry number `retry` (1 for the first retry).
//
// Without retry_after: "full jitter" exponential backoff, a delay drawn uniformly from
// [0, min(cap, base * 2^(retry-1))] with rng. Drawing from the whole range (rather than adding
// a little jitter to a fixed delay) spreads the retries of many requests that failed together.
//
// With retry_after (the server said when to come back): exactly min(*retry_after,
// retry_after_cap), rng unused. Honouring it beats guessing; the cap keeps a hostile or confused
// server from parking a run for hours.
//
// retry < 1 is treated as 1. Deterministic for a given rng state.
Millis backoff_delay(int retry, const BackoffPolicy& policy, std::optional<Millis> retry_after,
                     std::mt19937_64& rng);

// How long a Retry-After header value asks the client to wait, as of `now`:
// delta-seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"; a date in the past
// means 0). Surrounding whitespace is ignored. nullopt when the value is neither (the caller then
// falls back to its own backoff).
std::optional<Millis> parse_retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now);

// The "retry-after-ms" header some APIs (OpenAI among them) send beside Retry-After: a
// non-negative number of milliseconds, possibly fractional ("1500", "20.5"). nullopt when not
// such a number.
std::optional<Millis> parse_retry_after_ms(std::string_view value);

// Rate limiting for one lane by even spacing: with a rate of R requests per minute, a request
// may start no sooner than 60/R seconds after the previous one started. There is no burst
// allowance (unlike a token bucket): a provider that allows R per minute often enforces it over
// shorter windows, and even spacing never exceeds R in any window of 60 s (plus one at the
// window's edge). A start that happens late does not earn a catch-up burst either.
// Retries are requests too and take their place in the same spacing.
class RateSpacer {
 public:
  using Clock = std::chrono::steady_clock;

  // per_minute <= 0 means no limit.
  explicit RateSpacer(double per_minute);

  // The earliest instant the next request may start (Clock's epoch when unlimited or when
  // nothing has started yet).
  Clock::time_point next_allowed() const { return next_; }
  bool allows(Clock::time_point now) const { return now >= next_; }

  // Records a request started at `now`.
  void started(Clock::time_point now);

 private:
  Clock::duration interval_{0};
  Clock::time_point next_{};
};

}  // namespace dw::transport
