// HTTP for driftwatch: many JSON POSTs to a few endpoints, each endpoint with its own limits,
// driven by one thread through the libcurl multi interface.
//
//   auto transport = dw::transport::Transport::create();
//   if (!transport) ...  // libcurl could not be initialised
//   std::vector<dw::transport::Lane> lanes;
//   lanes.push_back({"deepseek", {.concurrency = 2, .rate = 60, .retries = 2},
//                    [&]() -> std::optional<dw::transport::Request> {
//                      if (jobs.empty()) return std::nullopt;       // lane finished
//                      auto request = build(jobs.back());           // built only now
//                      request.done = [job = jobs.back()](dw::transport::Response r) { ... };
//                      jobs.pop_back();
//                      return request;
//                    }});
//   auto status = (*transport)->run(std::move(lanes));   // blocks until every lane is done
//
// Work is pulled, not pushed: a lane's source is asked for its next request only when the lane
// has room (a free concurrency slot and the rate allows a start), so only the requests in flight
// or waiting for a retry exist at any moment. A run of thousands of probes holds a few bodies,
// not thousands.
//
// Threads: run() drives everything on the calling thread; sources and `done` callbacks are
// called on that thread, one at a time, and may use the caller's state without locks. They must
// not throw and must not call run(). stop() is the one call that is safe from another thread.
//
// Connections are reused: one libcurl multi handle owns one connection cache for the life of the
// Transport, across run() calls, so keep one Transport for the life of the program.
//
// Fixed behaviour, not options: method POST; TLS peer and host verification always on; only
// http and https URLs; redirects not followed; the standard proxy variables (http_proxy,
// https_proxy, no_proxy...) honoured as libcurl does by default; "User-Agent: driftwatch/VERSION".
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "transport/backoff.h"

namespace dw::transport {

// What came back for one request, after any retries.
struct Response {
  int http_status = 0;  // of the final attempt; 0 when no HTTP response arrived
  std::string body;     // of the final attempt, at most Options::max_body_bytes
  // Headers of interest from the final attempt, as sent ("" when absent).
  std::string retry_after;
  std::string content_type;
  Millis latency{0};  // of the final attempt: from its start to its last byte or failure
  int attempts = 0;   // requests sent, retries included (0 only when cancelled before sending)
  // "" when a complete HTTP response arrived, whatever its status (a 500 is an answer: the
  // caller decides what it means). Otherwise why not: libcurl's error text ("Connection refused",
  // "Operation timed out after 100 milliseconds with 0 bytes received"...), or
  // "response body over the 1 MiB cap", or "cancelled" after stop().
  // After the run's deadline (see run()) it starts "run deadline of 20m" and says what was cut.
  std::string error;
  bool cancelled = false;      // stop() ended the request before it finished
  bool past_deadline = false;  // the run's deadline ended the request; error says how
};

struct Request {
  std::string url;                                           // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given, in order
  std::string body;                                          // sent as the POST body
  Millis connect_timeout{10000};                             // TCP + TLS handshake, per attempt
  Millis timeout{60000};                                     // the whole attempt, per attempt
  // Called once with the outcome, on the thread running run(); required.
  std::function<void(Response)> done;
};

// Limits of one lane (one endpoint). Retries take a concurrency slot and a rate slot like any
// request, because the provider counts them too.
struct LaneLimits {
  int concurrency = 2;  // requests in flight at once, at least 1
  double rate = 0;      // requests started per minute, evenly spaced (see RateSpacer); 0 = none
  int retries = 2;      // retries after the first attempt, at least 0
};

// Yields the lane's next request, or nullopt when the lane has no more work (it is then never
// called again during this run()).
using Source = std::function<std::optional<Request>()>;

struct Lane {
  std::string name;  // for the caller's messages; not sent anywhere
  LaneLimits limits;
  Source next;
};

struct Options {
  size_t max_body_bytes = 1 << 20;  // a longer response ends the attempt with an error
  BackoffPolicy backoff;            // when to retry
  uint64_t seed = 0;                // backoff jitter; 0 = seeded from std::random_device
  // When set, run() also stops soon (within about 100 ms) after it becomes true: for callers
  // whose signal handlers may only set a flag.
  const std::atomic<bool>* cancel = nullptr;
};

// Work of the caller's that must not wait for the next answer (the runner commits the samples
// it holds): beat() is called on run()'s thread, between transfers, at least every `every`
// while run() lasts, however long the answers take. Not at all when beat is empty.
struct Heartbeat {
  Millis every{0};
  std::function<void()> beat;
};

// Retried: HTTP 429 and 5xx, timeouts, connection failures (refused, reset, DNS failure, empty
// reply, truncated transfer). Not retried: any other status (a 4xx will not change), TLS
// verification failures, the body cap, bad URLs. Between attempts: backoff_delay() with the
// server's Retry-After (or retry-after-ms) when it sent one. A 429 or 503 that carries a
// Retry-After also holds back the whole lane until then: the server spoke about the client, not
// about one request.
class Transport {
 public:
  // Initialises libcurl. Fails only if libcurl cannot be set up.
  static Result<std::unique_ptr<Transport>> create(Options options = {});
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Runs every lane until each source returned nullopt and every request it gave has been
  // answered through its `done`, or until stop(). Every request a source returned gets exactly
  // one `done` call before run() returns (with cancelled = true after stop()). Sleeps in
  // curl_multi_poll between events; never spins.
  //
  // With a deadline (counted on the steady clock from the call), run() returns by then, however
  // long servers ask it to wait: every request not answered in time is reported through `done`
  // with past_deadline = true and an error naming the deadline. In order of the run's life:
  //   - a retry that could not start before the deadline (its delay, a Retry-After hold on the
  //     lane or the lane's rate puts it at or past the deadline) is not scheduled: the request is
  //     answered at once with its last attempt's status and body and the error "run deadline of
  //     D leaves no time to retry (last attempt: HTTP 429)";
  //   - when a lane can start nothing more before the deadline (held or rate-limited past it),
  //     its source is drained at once: each request it still gives is answered, never sent,
  //     with "run deadline of D leaves no time to send the request";
  //   - at the deadline, transfers in flight are cut ("run deadline of D passed before an
  //     answer"), retries still waiting are answered with their last attempt ("... passed
  //     before an answer (last attempt: HTTP 503)"), and the sources are drained ("... passed
  //     before the request was sent").
  // Sources are thus always run to their end, so a caller that records every request it plans
  // gets one `done` per plan. D is written as the config writes durations ("20m", "1h30m"), or
  // in milliseconds ("1500ms") when it is not a whole number of seconds.
  // stop() still wins: what it cuts is reported as cancelled, and the sources are not drained.
  //
  // Returns an error only when the transport itself failed (libcurl refused a handle) or was
  // misused, never for failed requests: those are answers, reported through `done`. A lane with
  // concurrency < 1, negative retries or no source, or a deadline that is not positive, is an
  // error before anything is sent; a request without a `done` ends the run with an error
  // (others then reported as cancelled).
  Status run(std::vector<Lane> lanes, std::optional<Millis> deadline = std::nullopt,
             Heartbeat heartbeat = {});

  // Makes a run() in progress return soon, reporting the requests not finished as cancelled;
  // sticky: later run() calls return at once. Safe to call from any thread (not from a signal
  // handler: use Options::cancel there).
  void stop();

  class Impl;

 private:
  explicit Transport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "response body over the 1 MiB cap" (or "... the N-byte cap" when not a whole number of MiB).
std::string body_cap_message(size_t max_body_bytes);

// "run deadline of 20m": how errors after a run's deadline begin ("run deadline of 1500ms" when
// the deadline is not a whole number of seconds).
std::string deadline_prefix(Millis deadline);

}  // namespace dw::transport
