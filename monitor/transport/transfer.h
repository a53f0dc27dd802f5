// Internal to dw_transport: one request on its way through libcurl, and the rules that turn an
// attempt's libcurl outcome into a Response and a retry decision.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "transport/transport.h"

namespace dw::transport::detail {

struct Transfer {
  Request request;
  size_t lane = 0;
  int attempts = 0;                                    // attempts started so far
  std::chrono::steady_clock::time_point not_before{};  // while waiting to be retried
  // While waiting to be retried: the failed attempt, reported if the run's deadline comes first.
  std::optional<Response> last_attempt;

  // State of the current attempt; reset by prepare().
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  size_t max_body = 0;
  bool over_cap = false;
  std::string body;
  std::string retry_after;
  std::string retry_after_ms;
  std::string content_type;
  char errbuf[CURL_ERROR_SIZE] = {};

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer();
};

// Sets `easy` (fresh or curl_easy_reset) up for the next attempt of t. On error (a header that
// would smuggle a line break, a URL libcurl refuses) returns the message and nothing is sent.
std::optional<std::string> prepare(Transfer& t, CURL* easy, const std::string& user_agent,
                                   size_t max_body);

struct Outcome {
  Response response;
  bool retryable = false;
  std::optional<Millis> retry_after;  // what the server asked for, when it did
  bool hold_lane = false;             // 429/503 with a Retry-After: pause the whole lane
};

// Reads the finished attempt of t (its easy handle still attached to t) into an Outcome, moving
// the body out of t.
Outcome finish(Transfer& t, CURLcode code);

// The answer for a request that the run's deadline ended: `last` (the last attempt's answer;
// a blank Response when none came) with attempts and past_deadline set and the error
// "PREFIX WHAT", followed by " (last attempt: HTTP 429)" (or libcurl's text) when `last` holds
// an attempt's outcome. PREFIX is deadline_prefix(deadline).
Response past_deadline(std::optional<Response> last, int attempts, Millis deadline,
                       std::string_view what);

}  // namespace dw::transport::detail
