// Responses per kind. Every field is looked up with its type checked first: the body is
// untrusted, and a wrong shape must become an error text, never an exception or a crash.
#include <limits>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "input/json.h"
#include "providers/providers.h"

namespace dw::providers {
namespace {

using Json = nlohmann::json;

// The member `key` of j, or nullptr when j is not an object or has no such member.
const Json* member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::optional<std::string> string_at(const Json& j, const char* key) {
  const Json* v = member(j, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::string string_or_empty(const Json& j, const char* key) {
  return string_at(j, key).value_or("");
}

std::optional<int> int_at(const Json& j, const char* key) {
  const Json* v = member(j, key);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    return static_cast<int>(u);
  }
  const auto i = v->get<int64_t>();
  if (i < 0 || i > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(i);
}

// Cuts s to at most max bytes without splitting a UTF-8 sequence.
std::string utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

// Removes every copy of the API key from text: as sent, and as JSON may escape it ('/' as
// "\/"). Keys shorter than 8 bytes are not looked for: they would match ordinary words.
void redact(std::string& text, std::string_view key) {
  static constexpr std::string_view kMark = "[redacted]";
  if (key.size() < 8) return;
  std::string escaped;
  for (char c : key) {
    if (c == '/') escaped += '\\';
    escaped += c;
  }
  for (std::string_view form : {key, std::string_view(escaped)}) {
    for (size_t at = text.find(form); at != std::string::npos;
         at = text.find(form, at + kMark.size())) {
      text.replace(at, form.size(), kMark);
    }
    if (escaped == key) break;
  }
}

// A message from an error body, on one line and short: for the error column and people.
// The key is redacted before the cut: a copy across it would keep its first bytes.
std::string error_message(const Json& body, std::string_view api_key) {
  std::optional<std::string> text, code;
  if (const Json* e = member(body, "error")) {
    text = e->is_string() ? std::optional(e->get<std::string>()) : string_at(*e, "message");
    if (e->is_object()) code = string_at(*e, "code");
  }
  if (!text) text = string_at(body, "message");
  // Providers name the filter in the code (DashScope's "DataInspectionFailed"), not the text.
  if (!code) code = string_at(body, "code");
  if (code && text) text = *code + ": " + *text;
  if (!text) text = code;
  if (!text) return "";
  redact(*text, api_key);
  std::string line = utf8_prefix(*text, 200);
  for (char& c : line)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return line;
}

// Each returns "" on success, else what is wrong with the shape (for "malformed response: ").
using Reader = std::string (*)(const Json&, Sample&);

std::string read_openai(const Json& body, Sample& s) {
  const Json* choices = member(body, "choices");
  if (choices == nullptr || !choices->is_array() || choices->empty()) return "no choices";
  const Json& choice = (*choices)[0];
  const Json* message = member(choice, "message");
  if (message == nullptr || !message->is_object()) return "choices[0] has no message";
  const Json* content = member(*message, "content");
  if (content != nullptr && content->is_string()) {
    s.text = content->get<std::string>();
  } else if (content != nullptr && content->is_array()) {
    // Some compatible servers send content as parts, like the request format allows.
    for (const Json& part : *content) s.text += string_or_empty(part, "text");
  } else if (content == nullptr || content->is_null()) {
    s.text = string_or_empty(*message, "refusal");
  } else {
    return "choices[0].message.content is not text";
  }
  s.finish_reason = string_or_empty(choice, "finish_reason");
  s.model = string_or_empty(body, "model");
  s.system_fingerprint = string_or_empty(body, "system_fingerprint");
  if (const Json* usage = member(body, "usage")) {
    s.prompt_tokens = int_at(*usage, "prompt_tokens");
    s.completion_tokens = int_at(*usage, "completion_tokens");
  }
  return "";
}

std::string read_anthropic(const Json& body, Sample& s) {
  const Json* content = member(body, "content");
  if (content == nullptr || !content->is_array()) return "no content array";
  for (const Json& block : *content) {
    if (string_or_empty(block, "type") == "text") s.text += string_or_empty(block, "text");
  }
  s.finish_reason = string_or_empty(body, "stop_reason");
  s.model = string_or_empty(body, "model");
  if (const Json* usage = member(body, "usage")) {
    s.prompt_tokens = int_at(*usage, "input_tokens");
    s.completion_tokens = int_at(*usage, "output_tokens");
  }
  return "";
}

std::string read_ollama(const Json& body, Sample& s) {
  const Json* message = member(body, "message");
  if (message == nullptr || !message->is_object()) return "no message";
  auto content = string_at(*message, "content");
  if (!content) return "message.content is not text";
  s.text = std::move(*content);
  s.finish_reason = string_or_empty(body, "done_reason");
  s.model = string_or_empty(body, "model");
  s.prompt_tokens = int_at(body, "prompt_eval_count");
  s.completion_tokens = int_at(body, "eval_count");
  return "";
}

std::string read_gemini(const Json& body, Sample& s) {
  s.model = string_or_empty(body, "modelVersion");
  if (const Json* feedback = member(body, "promptFeedback"))
    s.block_reason = string_or_empty(*feedback, "blockReason");
  if (const Json* usage = member(body, "usageMetadata")) {
    s.prompt_tokens = int_at(*usage, "promptTokenCount");
    s.completion_tokens = int_at(*usage, "candidatesTokenCount");
  }
  const Json* candidates = member(body, "candidates");
  if (candidates == nullptr || (candidates->is_array() && candidates->empty())) {
    // A prompt blocked outright has no candidate; only the block reason says why.
    return s.block_reason.empty() ? "no candidates and no promptFeedback.blockReason" : "";
  }
  if (!candidates->is_array()) return "candidates is not an array";
  const Json& candidate = (*candidates)[0];
  if (!candidate.is_object()) return "candidates[0] is not an object";
  s.finish_reason = string_or_empty(candidate, "finishReason");
  // A candidate stopped for SAFETY may carry no content at all.
  const Json* content = member(candidate, "content");
  const Json* parts = content != nullptr ? member(*content, "parts") : nullptr;
  if (parts == nullptr) return "";
  if (!parts->is_array()) return "candidates[0].content.parts is not an array";
  for (const Json& part : *parts) {
    const Json* thought = member(part, "thought");
    if (thought != nullptr && thought->is_boolean() && thought->get<bool>()) continue;
    s.text += string_or_empty(part, "text");
  }
  return "";
}

Reader reader_for(config::EndpointKind kind) {
  switch (kind) {
    case config::EndpointKind::openai:
      return read_openai;
    case config::EndpointKind::anthropic:
      return read_anthropic;
    case config::EndpointKind::ollama:
      return read_ollama;
    case config::EndpointKind::gemini:
      return read_gemini;
  }
  return read_openai;
}

// The body parsed (nesting bounded: input/json.h), or why it is not JSON. Only the error's
// byte offset is kept: the parser's message quotes the untrusted input.
std::optional<Json> parse_json(const std::string& body, std::string& why) {
  auto parsed = input::parse_json(body);
  if (parsed) return std::move(parsed).value();
  why = parsed.error().message.rfind("nesting deeper", 0) == 0
            ? "JSON " + parsed.error().message
            : "invalid JSON at byte " + std::to_string(parsed.error().column);
  return std::nullopt;
}

// A sample with only what the transport measured, for answers that failed; body, when given,
// is kept as its error body (up to kErrorBodyCap).
Sample failure(const transport::Response& r, std::string error, const std::string* body) {
  Sample s;
  s.http_status = r.http_status;
  s.latency = r.latency;
  s.attempts = r.attempts;
  s.error = std::move(error);
  if (body) s.error_body = utf8_prefix(*body, kErrorBodyCap);
  return s;
}

Sample read(config::EndpointKind kind, const transport::Response& r, std::string_view api_key) {
  const bool success = r.http_status >= 200 && r.http_status <= 299;
  // The key goes before the body is cut to kErrorBodyCap (see error_message).
  std::string raw = r.body;
  redact(raw, api_key);
  if (!r.error.empty()) {
    return failure(r, r.error, r.http_status != 0 && !success ? &raw : nullptr);
  }

  // Bytes that are not UTF-8 and lone surrogate escapes become U+FFFD: one bad byte must not
  // cost the whole answer (the classifier signals text.repaired).
  std::string text = raw;
  repair_utf8(text);
  repair_json_surrogates(text);
  std::string why;
  std::optional<Json> body = parse_json(text, why);
  if (!success) {
    std::string message = body ? error_message(*body, api_key) : "";
    return failure(
        r, "HTTP " + std::to_string(r.http_status) + (message.empty() ? "" : ": " + message),
        &raw);
  }
  if (!body) return failure(r, "malformed response: " + why, &raw);
  if (!body->is_object()) return failure(r, "malformed response: not a JSON object", &raw);

  Sample s = failure(r, "", nullptr);
  why = reader_for(kind)(*body, s);
  if (why.empty()) {
    repair_utf8(s.text);  // "\u0000" escapes: SQLite's text functions stop at a NUL
    return s;
  }
  // Some servers answer an error with 200: say so rather than "malformed".
  if (member(*body, "error") != nullptr) {
    const std::string message = error_message(*body, api_key);
    return failure(r, "API error" + (message.empty() ? "" : ": " + message), &raw);
  }
  // Half-read fields would mislead: keep only what the transport measured.
  return failure(r, "malformed response: " + why, &raw);
}

}  // namespace

Sample parse_response(config::EndpointKind kind, const transport::Response& response,
                      std::string_view api_key) {
  Sample s = read(kind, response, api_key);
  // Decoded fields too: JSON may spell the key with \u escapes.
  for (std::string* field : {&s.text, &s.error, &s.error_body, &s.model, &s.system_fingerprint,
                             &s.finish_reason, &s.block_reason}) {
    redact(*field, api_key);
  }
  return s;
}

}  // namespace dw::providers
