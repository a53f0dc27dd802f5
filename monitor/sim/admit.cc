// Admission: refuse requests the real API would refuse, in the real API's words and shapes, so
// that a provider which talks to the simulator correctly also talks to the vendor correctly.
#include <nlohmann/json.hpp>

#include "input/json.h"
#include "sim/api.h"

namespace dw::sim {
namespace {

using nlohmann::json;

HttpReply reject(ApiKind kind, int status, std::string_view message) {
  return {status, "application/json", error_body(kind, status, message), {}};
}

// Compares without an early exit, so response timing does not reveal how much of a guessed key
// was right.
bool same_key(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::string sent_key(const Incoming& in) {
  switch (in.kind) {
    case ApiKind::openai: {
      std::string auth = in.header("Authorization");
      constexpr std::string_view bearer = "Bearer ";
      return auth.rfind(bearer, 0) == 0 ? auth.substr(bearer.size()) : "";
    }
    case ApiKind::anthropic: return in.header("x-api-key");
    case ApiKind::gemini: {
      std::string key = in.header("x-goog-api-key");
      return key.empty() ? in.query_key : key;
    }
    case ApiKind::ollama: break;
  }
  return "";
}

std::string_view missing_key_message(ApiKind kind) {
  switch (kind) {
    case ApiKind::openai:
      return "You didn't provide an API key. You need to provide your API key in an "
             "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
    case ApiKind::anthropic: return "x-api-key header is required";
    case ApiKind::gemini:
      return "Method doesn't allow unregistered callers (callers without established identity). "
             "Please use API Key or other form of API consumer identity to call this API.";
    case ApiKind::ollama: break;
  }
  return "";
}

std::string_view wrong_key_message(ApiKind kind) {
  switch (kind) {
    case ApiKind::openai:
      return "Incorrect API key provided. You can find your API key at your provider's console.";
    case ApiKind::anthropic: return "invalid x-api-key";
    case ApiKind::gemini: return "API key not valid. Please pass a valid API key.";
    case ApiKind::ollama: break;
  }
  return "";
}

// The text of a message's content: a string, or an array of parts with "text" members
// (OpenAI content parts, Anthropic content blocks). nullopt when it is neither.
std::optional<std::string> content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object()) return std::nullopt;
    auto t = part.find("text");
    if (t != part.end() && t->is_string()) text += t->get<std::string>();
  }
  return text;
}

// The last user message of a chat-style "messages" array; an error message otherwise.
Result<std::string> last_user_message(const json& body) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return Error("messages: at least one message is required");
  for (auto it = messages->rbegin(); it != messages->rend(); ++it) {
    if (!it->is_object()) break;
    auto role = it->find("role");
    auto content = it->find("content");
    if (role == it->end() || *role != "user" || content == it->end()) continue;
    if (auto text = content_text(*content)) return *text;
  }
  return Error("messages: no user message with text content");
}

Result<std::string> gemini_prompt(const json& body) {
  auto contents = body.find("contents");
  if (contents == body.end() || !contents->is_array() || contents->empty())
    return Error("* GenerateContentRequest.contents: contents is not specified");
  for (auto it = contents->rbegin(); it != contents->rend(); ++it) {
    if (!it->is_object()) break;
    auto role = it->find("role");
    if (role != it->end() && *role != "user") continue;
    auto parts = it->find("parts");
    if (parts == it->end()) continue;
    if (auto text = content_text(*parts)) return *text;
  }
  return Error("* GenerateContentRequest.contents: no user content with text");
}

}  // namespace

std::string_view key_check_name(KeyCheck check) {
  switch (check) {
    case KeyCheck::ok: return "ok";
    case KeyCheck::wrong: return "wrong";
    case KeyCheck::missing: return "missing";
    case KeyCheck::unchecked: return "unchecked";
    case KeyCheck::not_required: return "not_required";
  }
  return "unknown";
}

Admission admit(const Incoming& in, const std::optional<std::string>& expected_key) {
  Admission a;
  a.model = in.path_model;
  if (in.kind != ApiKind::ollama) {
    std::string key = sent_key(in);
    if (key.empty())
      a.key = KeyCheck::missing;
    else if (!expected_key)
      a.key = KeyCheck::unchecked;
    else
      a.key = same_key(key, *expected_key) ? KeyCheck::ok : KeyCheck::wrong;
    if (a.key == KeyCheck::missing || a.key == KeyCheck::wrong) {
      int status = 401;
      a.rejection = reject(
          in.kind, status,
          a.key == KeyCheck::missing ? missing_key_message(in.kind) : wrong_key_message(in.kind));
      return a;
    }
  }
  if (in.kind == ApiKind::anthropic && in.header("anthropic-version").empty()) {
    a.rejection = reject(in.kind, 400, "anthropic-version: header is required");
    return a;
  }

  auto parsed = input::parse_json(in.body);
  json body = parsed ? std::move(parsed).value() : json();
  if (!body.is_object()) {
    a.rejection = reject(in.kind, 400,
                         in.kind == ApiKind::ollama ? "invalid character in request body"
                                                    : "The request body is not valid JSON.");
    return a;
  }
  ApiRequest r;
  r.kind = in.kind;
  if (in.kind == ApiKind::gemini) {
    r.model = in.path_model;
  } else {
    auto model = body.find("model");
    if (model == body.end() || !model->is_string() || model->get<std::string>().empty()) {
      a.rejection = reject(in.kind, 400, "model: a model is required");
      return a;
    }
    r.model = model->get<std::string>();
    a.model = r.model;
  }
  if (in.kind == ApiKind::anthropic) {
    auto max_tokens = body.find("max_tokens");
    if (max_tokens == body.end() || !max_tokens->is_number_integer() || *max_tokens < 1) {
      a.rejection = reject(in.kind, 400, "max_tokens: Field required");
      return a;
    }
  }
  auto stream = body.find("stream");
  bool streaming = stream != body.end() && stream->is_boolean() && stream->get<bool>();
  if (in.kind == ApiKind::ollama && (stream == body.end() || !stream->is_boolean()))
    streaming = true;  // Ollama streams unless told not to
  if (streaming) {
    a.rejection = reject(in.kind, 400, "driftwatch-sim does not stream: send \"stream\": false");
    return a;
  }
  auto prompt = in.kind == ApiKind::gemini ? gemini_prompt(body) : last_user_message(body);
  if (!prompt) {
    a.rejection = reject(in.kind, 400, prompt.error().message());
    return a;
  }
  r.prompt = std::move(prompt).value();
  a.request = std::move(r);
  return a;
}

}  // namespace dw::sim
