#include "transport/transfer.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "common/duration.h"

namespace dw::transport::detail {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t.body.size() + n > t.max_body) {
    // Returning less than n makes libcurl abort the transfer with CURLE_WRITE_ERROR; the flag
    // tells finish() why. (CURLOPT_MAXFILESIZE only catches bodies that announce their size.)
    t.over_cap = true;
    return 0;
  }
  t.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 100 Continue, say): only the final one's headers count.
    t.retry_after.clear();
    t.retry_after_ms.clear();
    t.content_type.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  const auto name = trim(line.substr(0, colon));
  const auto value = trim(line.substr(colon + 1));
  if (iequals(name, "retry-after")) {
    t.retry_after = value;
  } else if (iequals(name, "retry-after-ms")) {
    t.retry_after_ms = value;
  } else if (iequals(name, "content-type")) {
    t.content_type = value;
  }
  return n;
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != s.npos; }

// Failures worth another try: the network or the server may behave next time.
bool transient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

}  // namespace

Transfer::~Transfer() { curl_slist_free_all(header_list); }

std::optional<std::string> prepare(Transfer& t, CURL* easy, const std::string& user_agent,
                                   size_t max_body) {
  curl_slist_free_all(t.header_list);
  t.header_list = nullptr;
  t.easy = easy;
  t.max_body = max_body;
  t.over_cap = false;
  t.body.clear();
  t.retry_after.clear();
  t.retry_after_ms.clear();
  t.content_type.clear();
  t.errbuf[0] = '\0';

  for (const auto& [name, value] : t.request.headers) {
    if (name.empty() || has_line_break(name) || name.find(':') != std::string::npos)
      return "invalid request header name '" + name + "'";
    // The value is not quoted back: it may be a credential.
    if (has_line_break(value)) return "request header '" + name + "' contains a line break";
    const std::string line = name + ": " + value;
    curl_slist* grown = curl_slist_append(t.header_list, line.c_str());
    if (grown == nullptr) return "out of memory building request headers";
    t.header_list = grown;
  }
  // libcurl would otherwise send "Expect: 100-continue" for large bodies and wait for a reply
  // that APIs rarely bother to send.
  if (curl_slist* grown = curl_slist_append(t.header_list, "Expect:")) t.header_list = grown;

  const auto& r = t.request;
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_URL, r.url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_POST, 1L);
  set(CURLOPT_POSTFIELDS, r.body.c_str());  // not copied: r outlives the attempt
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  set(CURLOPT_HTTPHEADER, t.header_list);
  set(CURLOPT_USERAGENT, user_agent.c_str());
  set(CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(std::max<int64_t>(r.connect_timeout.count(), 1)));
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(r.timeout.count(), 1)));
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_ACCEPT_ENCODING,
      "");  // any encoding libcurl can decode; the cap counts decoded bytes
  set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_body));
  set(CURLOPT_WRITEFUNCTION, &on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
  set(CURLOPT_ERRORBUFFER, t.errbuf);
  set(CURLOPT_PRIVATE, static_cast<void*>(&t));
  if (rc != CURLE_OK) return std::string("cannot set up request: ") + curl_easy_strerror(rc);
  return std::nullopt;
}

Outcome finish(Transfer& t, CURLcode code) {
  Outcome out;
  Response& r = out.response;
  r.attempts = t.attempts;
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  r.http_status = static_cast<int>(status);
  curl_off_t micros = 0;
  curl_easy_getinfo(t.easy, CURLINFO_TOTAL_TIME_T, &micros);
  r.latency = std::chrono::duration_cast<Millis>(std::chrono::microseconds(micros));
  r.body = std::move(t.body);
  t.body.clear();
  r.retry_after = t.retry_after;
  r.content_type = t.content_type;

  if (code == CURLE_OK) {
    out.retryable = r.http_status == 429 || (r.http_status >= 500 && r.http_status <= 599);
    // retry-after-ms is the more precise of the two when a server sends both.
    out.retry_after = parse_retry_after_ms(t.retry_after_ms);
    if (!out.retry_after)
      out.retry_after = parse_retry_after(t.retry_after, std::chrono::system_clock::now());
    out.hold_lane = out.retry_after && (r.http_status == 429 || r.http_status == 503);
    return out;
  }
  if (t.over_cap || code == CURLE_FILESIZE_EXCEEDED) {
    r.error = body_cap_message(t.max_body);
    return out;  // the same body would come back: not retried
  }
  r.error = t.errbuf[0] != '\0' ? std::string(t.errbuf) : std::string(curl_easy_strerror(code));
  out.retryable = transient(code);
  return out;
}

Response past_deadline(std::optional<Response> last, int attempts, Millis deadline,
                       std::string_view what) {
  std::string error = deadline_prefix(deadline) + " " + std::string(what);
  Response r;
  if (last) {
    error += " (last attempt: " +
             (last->error.empty() ? "HTTP " + std::to_string(last->http_status) : last->error) +
             ")";
    r = std::move(*last);
  }
  r.attempts = attempts;
  r.error = std::move(error);
  r.past_deadline = true;
  return r;
}

}  // namespace dw::transport::detail

namespace dw::transport {

std::string body_cap_message(size_t max_body_bytes) {
  constexpr size_t kMiB = 1 << 20;
  if (max_body_bytes >= kMiB && max_body_bytes % kMiB == 0)
    return "response body over the " + std::to_string(max_body_bytes / kMiB) + " MiB cap";
  return "response body over the " + std::to_string(max_body_bytes) + "-byte cap";
}

std::string deadline_prefix(Millis deadline) {
  const auto whole = std::chrono::duration_cast<std::chrono::seconds>(deadline);
  if (whole.count() > 0 && whole == deadline) return "run deadline of " + format_duration(whole);
  return "run deadline of " + std::to_string(deadline.count()) + "ms";
}

}  // namespace dw::transport
