// dw::providers::parse_response over any body: the first byte picks the endpoint kind and how
// the request ended, the rest is the body. Whatever arrives, the Sample keeps providers.h's
// promises: no crash or exception, the API key never echoed, failures named, bodies capped.
#include <array>
#include <string>
#include <string_view>

#include "fuzz.h"
#include "providers/providers.h"

using dw::fuzz::require;

namespace {

constexpr std::string_view kKey = "sk-fuzz-0123456789abcdef";

constexpr std::array kKinds = {dw::config::EndpointKind::openai, dw::config::EndpointKind::anthropic,
                               dw::config::EndpointKind::ollama, dw::config::EndpointKind::gemini};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > dw::fuzz::kMaxInput) return 0;
  const uint8_t pick = data[0];
  dw::transport::Response response;
  response.body = std::string(dw::fuzz::text(data + 1, size - 1));
  response.attempts = 1;
  // Bits 2-3: a success, a client error, a server error, or a transport failure after a 502.
  switch ((pick >> 2) & 3) {
    case 0: response.http_status = 200; break;
    case 1: response.http_status = 400; break;
    case 2: response.http_status = 503; break;
    default:
      response.http_status = 502;
      response.error = "response body over the 1 MiB cap";
  }
  const bool success = response.http_status == 200 && response.error.empty();

  dw::providers::Sample s = dw::providers::parse_response(kKinds[pick & 3], response, kKey);

  for (const std::string* field : {&s.text, &s.error, &s.error_body})
    require(field->find(kKey) == std::string::npos, "the API key is never echoed");
  require(s.error_body.size() <= dw::providers::kErrorBodyCap, "error bodies are capped");
  require(s.http_status == response.http_status && s.attempts == response.attempts,
          "the transport's measures are copied");
  if (success) {
    require(s.error.empty() || starts_with(s.error, "malformed response: ") ||
                starts_with(s.error, "API error"),
            "a 2xx that is not an answer says why");
    if (!s.error.empty()) require(s.text.empty(), "a failed answer keeps no half-read text");
  } else {
    require(!s.error.empty(), "a failed request is an error");
  }
  if (response.error.empty())
    require(s.error.find('\n') == std::string::npos, "the error is one line");
  return 0;
}
