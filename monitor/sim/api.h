// The four provider protocols as the simulator speaks them: admitting a request (the headers
// and body fields the real API requires, the API key) and rendering a chosen outcome in the
// provider's own response shape. Pure functions of their inputs, free of any HTTP library.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/scenario.h"

namespace dw::sim {

// A response to send, fully formed.
struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Retry-After
};

// What became of the request's API key. The key itself is never kept.
enum class KeyCheck {
  ok,            // the expected key
  wrong,         // another key (401)
  missing,       // no key header (401)
  unchecked,     // a key was sent and the simulator was given none to compare with
  not_required,  // ollama: the API takes no key
};

std::string_view key_check_name(KeyCheck check);

// A request as it arrived, reduced to what admission looks at.
struct Incoming {
  ApiKind kind = ApiKind::openai;
  std::string path_model;                               // gemini: the {model} of the path
  std::function<std::string(std::string_view)> header;  // value of a header, "" when absent
  std::string query_key;  // gemini: ?key= (the API accepts the key there too)
  std::string body;
};

// A request that passed admission.
struct ApiRequest {
  ApiKind kind = ApiKind::openai;
  std::string model;
  std::string prompt;  // text of the last user message
};

struct Admission {
  std::optional<ApiRequest> request;   // set when admitted
  std::optional<HttpReply> rejection;  // set otherwise: 401, 400, shaped as the provider does
  KeyCheck key = KeyCheck::not_required;
  std::string model;  // the requested model, when it could be read (for the log)
};

// Checks the key (when expected_key is set, any other key is refused; the header itself is
// always required where the real API requires it), the required headers (anthropic-version)
// and the body (JSON, model, messages, Anthropic max_tokens, Ollama stream:false).
Admission admit(const Incoming& in, const std::optional<std::string>& expected_key);

// The response for a chosen outcome. For truncated and drip outcomes this is the complete
// response the server then cuts short or trickles out; for gzip_bomb only its status and content
// type are used (the body is gzip_bomb()); for drop and reset it is unused. A redirect is its
// status, Location and a small HTML page.
HttpReply render(const ApiRequest& request, const Choice& choice,
                 std::chrono::system_clock::time_point now);

// A provider-shaped error body for status, e.g. OpenAI {"error":{"message",...}}, Anthropic
// {"type":"error","error":{...}}, Ollama {"error":"..."}, Gemini {"error":{"code","status"}}.
std::string error_body(ApiKind kind, int status, std::string_view message);

}  // namespace dw::sim
