// Requests per kind: the body shape and the authentication each vendor's API requires.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "providers/providers.h"

namespace dw::providers {
namespace {

using OrderedJson = nlohmann::ordered_json;  // keeps fields in the order written: readable bodies

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != s.npos; }

OrderedJson chat_messages(const config::Endpoint& e, std::string_view prompt) {
  OrderedJson messages = OrderedJson::array();
  if (e.system) messages.push_back({{"role", "system"}, {"content", *e.system}});
  messages.push_back({{"role", "user"}, {"content", prompt}});
  return messages;
}

OrderedJson openai_body(const config::Endpoint& e, std::string_view prompt) {
  return {{"model", e.model},
          {"messages", chat_messages(e, prompt)},
          {"temperature", e.temperature},
          {"max_tokens", e.max_tokens}};
}

OrderedJson anthropic_body(const config::Endpoint& e, std::string_view prompt) {
  OrderedJson body = {{"model", e.model}, {"max_tokens", e.max_tokens}};
  if (e.system) body["system"] = *e.system;
  body["messages"] = OrderedJson::array({{{"role", "user"}, {"content", prompt}}});
  body["temperature"] = e.temperature;
  return body;
}

OrderedJson ollama_body(const config::Endpoint& e, std::string_view prompt) {
  return {{"model", e.model},
          {"messages", chat_messages(e, prompt)},
          {"stream", false},
          {"options", {{"temperature", e.temperature}, {"num_predict", e.max_tokens}}}};
}

OrderedJson gemini_body(const config::Endpoint& e, std::string_view prompt) {
  OrderedJson body = {{"contents",
                OrderedJson::array({{{"role", "user"}, {"parts", OrderedJson::array({{{"text", prompt}}})}}})}};
  if (e.system) body["systemInstruction"] = {{"parts", OrderedJson::array({{{"text", *e.system}}})}};
  body["generationConfig"] = {{"temperature", e.temperature}, {"maxOutputTokens", e.max_tokens}};
  return body;
}

}  // namespace

Result<transport::Request> build_request(const config::Endpoint& endpoint, std::string_view prompt,
                                         std::string_view api_key) {
  if (has_line_break(api_key))
    return Error("endpoint '" + endpoint.name + "': the API key contains a line break");
  for (const auto& [name, value] : endpoint.headers) {
    if (name.empty() || has_line_break(name) || name.find(':') != std::string::npos)
      return Error("endpoint '" + endpoint.name + "': invalid header name '" + name + "'");
    if (has_line_break(value))
      return Error("endpoint '" + endpoint.name + "': header '" + name + "' contains a line break");
  }

  transport::Request request;
  request.url = endpoint.request_url();
  request.connect_timeout = endpoint.connect_timeout;
  request.timeout = endpoint.timeout;
  auto& h = request.headers;
  h = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  const std::string key(api_key);
  OrderedJson body;
  switch (endpoint.kind) {
    case config::EndpointKind::openai:
      if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
      body = openai_body(endpoint, prompt);
      break;
    case config::EndpointKind::anthropic:
      if (!key.empty()) h.emplace_back("x-api-key", key);
      h.emplace_back("anthropic-version", std::string(kAnthropicVersion));
      body = anthropic_body(endpoint, prompt);
      break;
    case config::EndpointKind::ollama:
      if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
      body = ollama_body(endpoint, prompt);
      break;
    case config::EndpointKind::gemini:
      if (!key.empty()) h.emplace_back("x-goog-api-key", key);
      body = gemini_body(endpoint, prompt);
      break;
  }
  for (const auto& [name, value] : endpoint.headers) {
    std::erase_if(h, [&](const auto& header) { return iequals(header.first, name); });
    h.emplace_back(name, value);
  }
  // Invalid UTF-8 in a prompt becomes U+FFFD rather than an exception: prompts come from files
  // that were checked, but this must not throw either way.
  request.body = body.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  return request;
}

transport::LaneLimits lane_limits(const config::Endpoint& endpoint) {
  return {.concurrency = endpoint.concurrency, .rate = endpoint.rate, .retries = endpoint.retries};
}

}  // namespace dw::providers
