#include "daemon/deliver.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>

namespace dw::daemon {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using ListPtr = std::unique_ptr<curl_slist, ListDeleter>;

int on_progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* flag = static_cast<const std::atomic<bool>*>(cancel);
  return flag != nullptr && flag->load() ? 1 : 0;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

// Options every notification transfer shares: timeouts, cancellation, no redirects, no signals
// (we are not on the main thread's terms), the standard proxy variables as libcurl reads them.
void common_options(CURL* c, std::chrono::seconds timeout, const std::atomic<bool>* cancel) {
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, std::min(10L, static_cast<long>(timeout.count())));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel));
}

Status failure(CURLcode code) {
  if (code == CURLE_ABORTED_BY_CALLBACK) return Error("cancelled (the daemon is stopping)");
  return Error(curl_easy_strerror(code));
}

std::string base64(std::string_view in) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// A header value on one line; non-ASCII as an RFC 2047 encoded word.
std::string header_text(const std::string& text) {
  std::string flat;
  bool ascii = true;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) ascii = false;
    flat += u < 0x20 || u == 0x7f ? ' ' : c;
  }
  return ascii ? flat : "=?UTF-8?B?" + base64(flat) + "?=";
}

// text with every line ending in CRLF ("\n" and "\r\n" both end a line); no line for the
// empty rest after a final line break.
std::string crlf_lines(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? end : end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (end == std::string::npos && line.empty()) break;
    out += line + "\r\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// The body of a text/html part: base64 in lines of 76 characters, as RFC 2045 asks.
std::string base64_lines(std::string_view data) {
  std::string encoded = base64(data);
  std::string out;
  out.reserve(encoded.size() + encoded.size() / 76 * 2 + 2);
  for (size_t at = 0; at < encoded.size(); at += 76) out += encoded.substr(at, 76) + "\r\n";
  return out;
}

// A boundary no line of the text can end early: the random local part of the message id, and
// '_' added while some line starts with "--" and it (base64 has no '-' at all).
std::string boundary_for(const std::string& message_id, const std::string& crlf_text) {
  std::string boundary = "=_dw." + message_id.substr(0, message_id.find('@'));
  auto clashes = [&] {
    const std::string marker = "--" + boundary;
    if (crlf_text.rfind(marker, 0) == 0) return true;
    return crlf_text.find("\r\n" + marker) != std::string::npos;
  };
  while (clashes()) boundary += '_';
  return boundary;
}

}  // namespace

std::string webhook_body(const std::string& text) {
  // The text quotes model output (stock replies): nothing in it may ping a channel or become a
  // link. A word joiner (U+2060) after '@' breaks @channel, @here, @all and @everyone, and one
  // inside "://" breaks bare URLs; '&', '<' and '>' are escaped as Slack asks.
  constexpr std::string_view kJoiner = "\u2060";
  std::string escaped;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '&') {
      escaped += "&amp;";
    } else if (c == '<') {
      escaped += "&lt;";
    } else if (c == '>') {
      escaped += "&gt;";
    } else if (c == '@') {
      escaped += c;
      escaped += kJoiner;
    } else if (c == ':' && text.compare(i, 3, "://") == 0) {
      escaped += ":/";
      escaped += kJoiner;
      escaped += "/";
      i += 2;
    } else {
      escaped += c;
    }
  }
  // Replace invalid UTF-8 rather than throw: the text may quote stored data.
  return nlohmann::json{{"text", escaped}}.dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace);
}

Status post_webhook(const std::string& url, const std::string& body, std::chrono::seconds timeout,
                    const std::atomic<bool>* cancel) {
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
    return Error("the webhook URL does not start with http:// or https://");
  }
  CurlPtr c(curl_easy_init());
  if (!c) return Error("libcurl could not start a transfer");
  ListPtr headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  common_options(c.get(), timeout, cancel);
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "driftwatch");
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, discard);
  if (CURLcode code = curl_easy_perform(c.get()); code != CURLE_OK) return failure(code);
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) return Error("HTTP " + std::to_string(status));
  return Status::Ok();
}

std::string format_mail(const config::Notify& target, const std::string& subject,
                        const std::string& text, Time now, const std::string& message_id,
                        std::string_view html) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[64];
  // RFC 5322 names are English whatever the locale: format the names by hand.
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  std::string to;
  for (const auto& address : target.to) to += (to.empty() ? "" : ", ") + address;
  std::string mail = std::string("Date: ") + date + "\r\n" + "From: " + target.from + "\r\n" +
                     "To: " + to + "\r\n" + "Subject: " + header_text(subject) + "\r\n" +
                     "Message-ID: <" + message_id + ">\r\n" + "MIME-Version: 1.0\r\n";
  const std::string plain_headers =
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  const std::string body = crlf_lines(text);
  if (html.empty()) return mail + plain_headers + body;
  const std::string boundary = boundary_for(message_id, body);
  mail += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n" +
          "This is a message in two forms: plain text, then the HTML report.\r\n";
  mail += "--" + boundary + "\r\n" + plain_headers + body;
  mail += "--" + boundary + "\r\n" +
          "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
          base64_lines(html);
  mail += "--" + boundary + "--\r\n";
  return mail;
}

Status send_mail(const config::Notify& target, const std::string& password,
                 const std::string& subject, const std::string& text, Time now,
                 const std::atomic<bool>* cancel, std::string_view html) {
  std::random_device device;
  std::string domain = target.from.substr(target.from.find('@') + 1);
  std::string id = std::to_string(now.time_since_epoch().count()) + "." +
                   std::to_string(device()) + "@" + domain;
  std::string mail = format_mail(target, subject, text, now, id, html);

  CurlPtr c(curl_easy_init());
  if (!c) return Error("libcurl could not start a transfer");
  common_options(c.get(), target.timeout, cancel);
  curl_easy_setopt(c.get(), CURLOPT_URL, target.smtp_url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  bool implicit_tls = target.smtp_url.rfind("smtps://", 0) == 0;
  if (!implicit_tls && target.starttls) curl_easy_setopt(c.get(), CURLOPT_USE_SSL, CURLUSESSL_ALL);
  if (!target.username.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_USERNAME, target.username.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PASSWORD, password.c_str());
  }
  std::string from = "<" + target.from + ">";
  curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, from.c_str());
  curl_slist* raw = nullptr;
  for (const auto& to : target.to) raw = curl_slist_append(raw, ("<" + to + ">").c_str());
  ListPtr recipients(raw);
  curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, recipients.get());

  struct Reader {
    const std::string* data;
    size_t offset = 0;
  } reader{&mail};
  auto read = +[](char* buffer, size_t size, size_t n, void* user) -> size_t {
    auto* r = static_cast<Reader*>(user);
    size_t take = std::min(size * n, r->data->size() - r->offset);
    std::memcpy(buffer, r->data->data() + r->offset, take);
    r->offset += take;
    return take;
  };
  curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, read);
  curl_easy_setopt(c.get(), CURLOPT_READDATA, &reader);
  curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
  if (CURLcode code = curl_easy_perform(c.get()); code != CURLE_OK) {
    long reply = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &reply);
    Status s = failure(code);
    if (reply != 0) return Error(s.error().message() + " (SMTP reply " + std::to_string(reply) + ")");
    return s;
  }
  return Status::Ok();
}

}  // namespace dw::daemon
