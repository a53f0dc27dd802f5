// Rendering: each provider's own response shape, with the fields real APIs fill (ids, usage,
// model, fingerprint, finish reasons), so providers are exercised against realistic bodies.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/time.h"
#include "sim/api.h"

namespace dw::sim {
namespace {

using nlohmann::json;

// Roughly four bytes a token: close enough for usage fields that are only recorded.
int tokens(std::string_view text) {
  return std::max<int>(1, static_cast<int>(text.size() + 3) / 4);
}

std::string hex(std::uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf + 16 - digits);
}

std::string_view usual_finish(ApiKind kind, OutcomeKind outcome) {
  bool filtered = outcome == OutcomeKind::filter;
  switch (kind) {
    case ApiKind::openai: return filtered ? "content_filter" : "stop";
    case ApiKind::anthropic: return filtered ? "refusal" : "end_turn";
    case ApiKind::ollama: return "stop";
    case ApiKind::gemini: return filtered ? "SAFETY" : "STOP";
  }
  return "stop";
}

std::string_view status_message(int status) {
  switch (status) {
    case 400: return "Bad request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not found";
    case 429: return "Rate limit reached for requests. Please try again later.";
    case 451: return "Unavailable for legal reasons";
    case 500: return "The server had an error while processing your request. Sorry about that!";
    case 502: return "Bad gateway";
    case 503: return "The engine is currently overloaded, please try again later";
    case 504: return "Gateway timeout";
    case 529: return "Overloaded";
  }
  return status >= 500 ? "Internal server error" : "Request failed";
}

std::string_view redirect_reason(int status) {
  switch (status) {
    case 301: return "Moved Permanently";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
  }
  return "Found";
}

std::string_view anthropic_error_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
  }
  return status >= 500 ? "api_error" : "invalid_request_error";
}

std::string_view gemini_status(int status) {
  switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 429: return "RESOURCE_EXHAUSTED";
    case 500: return "INTERNAL";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
  }
  return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
}

std::string openai_body(const ApiRequest& q, const Choice& c, std::string_view finish,
                        std::int64_t created) {
  int in = tokens(q.prompt), out = c.text.empty() ? 0 : tokens(c.text);
  json body = {
      {"id", "chatcmpl-" + hex(c.draw, 16)},
      {"object", "chat.completion"},
      {"created", created},
      {"model", c.reported_model},
      {"system_fingerprint", c.fingerprint},
      {"choices", json::array({{{"index", 0},
                                {"message", {{"role", "assistant"}, {"content", c.text}}},
                                {"logprobs", nullptr},
                                {"finish_reason", finish}}})},
      {"usage", {{"prompt_tokens", in}, {"completion_tokens", out}, {"total_tokens", in + out}}},
  };
  return body.dump();
}

std::string anthropic_body(const ApiRequest& q, const Choice& c, std::string_view finish) {
  json content = json::array();
  if (!c.text.empty()) content.push_back({{"type", "text"}, {"text", c.text}});
  json body = {
      {"id", "msg_01" + hex(c.draw, 16)},
      {"type", "message"},
      {"role", "assistant"},
      {"model", c.reported_model},
      {"content", content},
      {"stop_reason", finish},
      {"stop_sequence", nullptr},
      {"usage",
       {{"input_tokens", tokens(q.prompt)},
        {"output_tokens", c.text.empty() ? 0 : tokens(c.text)}}},
  };
  return body.dump();
}

std::string ollama_body(const ApiRequest& q, const Choice& c, std::string_view finish,
                        std::chrono::system_clock::time_point now) {
  int in = tokens(q.prompt), out = tokens(c.text);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::string created = format_time(std::chrono::floor<std::chrono::seconds>(now));
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms.count()));
  created.replace(created.size() - 1, 1, frac);
  json body = {
      {"model", c.reported_model},
      {"created_at", created},
      {"message", {{"role", "assistant"}, {"content", c.text}}},
      {"done", true},
      {"done_reason", finish},
      {"total_duration", 40'000'000LL * (in + out)},
      {"load_duration", 2'000'000},
      {"prompt_eval_count", in},
      {"prompt_eval_duration", 5'000'000LL * in},
      {"eval_count", out},
      {"eval_duration", 35'000'000LL * out},
  };
  return body.dump();
}

std::string gemini_body(const ApiRequest& q, const Choice& c, std::string_view finish) {
  const Outcome& o = *c.outcome;
  int in = tokens(q.prompt), out = c.text.empty() ? 0 : tokens(c.text);
  json body;
  if (o.kind == OutcomeKind::filter && !o.block_reason.empty()) {
    // A blocked prompt: no candidates at all, only the feedback.
    body["promptFeedback"] = {{"blockReason", o.block_reason}};
    out = 0;
  } else {
    json candidate = {{"finishReason", finish}, {"index", 0}};
    if (!c.text.empty() || o.kind != OutcomeKind::filter)
      candidate["content"] = {{"parts", json::array({{{"text", c.text}}})}, {"role", "model"}};
    if (o.kind == OutcomeKind::filter)
      candidate["safetyRatings"] = json::array({{{"category", "HARM_CATEGORY_DANGEROUS_CONTENT"},
                                                 {"probability", "HIGH"},
                                                 {"blocked", true}}});
    body["candidates"] = json::array({candidate});
  }
  body["usageMetadata"] = {
      {"promptTokenCount", in}, {"candidatesTokenCount", out}, {"totalTokenCount", in + out}};
  body["modelVersion"] = c.reported_model;
  body["responseId"] = hex(c.draw, 16);
  return body.dump();
}

}  // namespace

std::string error_body(ApiKind kind, int status, std::string_view message) {
  json body;
  switch (kind) {
    case ApiKind::openai:
      body = {{"error",
               {{"message", message},
                {"type", status == 429   ? "requests"
                         : status >= 500 ? "server_error"
                                         : "invalid_request_error"},
                {"param", nullptr},
                {"code", status == 401   ? json("invalid_api_key")
                         : status == 429 ? json("rate_limit_exceeded")
                                         : json(nullptr)}}}};
      break;
    case ApiKind::anthropic:
      body = {{"type", "error"},
              {"error", {{"type", anthropic_error_type(status)}, {"message", message}}}};
      break;
    case ApiKind::ollama: body = {{"error", message}}; break;
    case ApiKind::gemini:
      body = {
          {"error", {{"code", status}, {"message", message}, {"status", gemini_status(status)}}}};
      break;
  }
  return body.dump();
}

HttpReply render(const ApiRequest& request, const Choice& choice,
                 std::chrono::system_clock::time_point now) {
  const Outcome& o = *choice.outcome;
  HttpReply reply;
  if (!o.content_type.empty()) reply.content_type = o.content_type;
  if (o.kind == OutcomeKind::status) {
    reply.status = o.status;
    reply.body =
        o.body.empty() ? error_body(request.kind, o.status, status_message(o.status)) : o.body;
    if (o.retry_after) reply.headers.emplace_back("Retry-After", std::to_string(*o.retry_after));
    return reply;
  }
  if (o.kind == OutcomeKind::redirect) {
    // As a load balancer or a moved API sends it: a small HTML page beside the Location.
    const std::string line =
        std::to_string(o.status) + " " + std::string(redirect_reason(o.status));
    reply.status = o.status;
    reply.content_type = "text/html";
    reply.body = "<html><head><title>" + line + "</title></head><body><h1>" + line +
                 "</h1></body></html>\n";
    reply.headers.emplace_back("Location", o.location);
    return reply;
  }
  std::string_view finish =
      o.finish_reason.empty() ? usual_finish(request.kind, o.kind) : o.finish_reason;
  switch (request.kind) {
    case ApiKind::openai:
      reply.body = openai_body(
          request, choice, finish,
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
      break;
    case ApiKind::anthropic: reply.body = anthropic_body(request, choice, finish); break;
    case ApiKind::ollama: reply.body = ollama_body(request, choice, finish, now); break;
    case ApiKind::gemini: reply.body = gemini_body(request, choice, finish); break;
  }
  if (o.kind == OutcomeKind::malformed)
    reply.body = o.body.empty() ? reply.body.substr(0, reply.body.size() / 2) : o.body;
  return reply;
}

}  // namespace dw::sim
