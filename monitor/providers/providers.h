// Providers: what each kind of endpoint (openai, anthropic, ollama, gemini) expects on the wire
// and what it sends back. build_request() turns a prompt into a transport::Request; and
// parse_response() turns the transport's answer into a Sample.
//
//   const std::string key = *config::read_secret(endpoint.api_key);   // caller checks errors
//   auto request = providers::build_request(endpoint, probe.prompt, key);
//   if (!request) ...                                // a key or header that cannot be sent
//   request->done = [&, kind = endpoint.kind](transport::Response r) {
//     providers::Sample sample = providers::parse_response(kind, r, key);
//     store(sample);
//   };
//   lanes.push_back({endpoint.name, providers::lane_limits(endpoint), ...});
//
// Everything the API returns is untrusted: a body that is not JSON, has an unexpected shape, is
// truncated or is huge never crashes or throws; it becomes a Sample whose error starts
// "malformed response: ". The API key is a parameter, never a member of anything returned:
// build_request() puts it only into the request's headers, and parse_response() removes any
// echo of it (APIs do echo keys in "invalid key" errors) from every text it returns.
#pragma once

#include <string_view>

#include "common/error.h"
#include "config/config.h"
#include "providers/sample.h"
#include "transport/transport.h"

namespace dw::providers {

// The most of a failed response's body a Sample keeps.
inline constexpr size_t kErrorBodyCap = 16 * 1024;

// The API version header sent to Anthropic's Messages API.
inline constexpr std::string_view kAnthropicVersion = "2023-06-01";

// The request asking `endpoint` one question: POST to endpoint.request_url() with
// Content-Type/Accept application/json, the kind's authentication and body, then the endpoint's
// extra headers (an extra header replaces a built-in one of the same name, compared without
// case: e.g. a newer anthropic-version). Timeouts come from the endpoint; `done` is left empty
// for the caller to set.
//
// Per kind (an empty api_key sends no credential header at all):
//   openai     Authorization: Bearer KEY; {model, messages: [system?, user], temperature,
//              max_tokens}
//   anthropic  x-api-key: KEY, anthropic-version: 2023-06-01; {model, max_tokens, system?,
//              messages: [user], temperature}
//   ollama     Authorization: Bearer KEY only when a key is set; {model, messages: [system?,
//              user], stream: false, options: {temperature, num_predict}}
//   gemini     x-goog-api-key: KEY; {contents: [{role: user, parts: [{text}]}],
//              systemInstruction?: {parts: [{text}]}, generationConfig: {temperature,
//              maxOutputTokens}}
//
// Fails, naming the endpoint and the header but never the value, when the key or an extra
// header contains a line break (it would let a value forge further headers).
Result<transport::Request> build_request(const config::Endpoint& endpoint, std::string_view prompt,
                                         std::string_view api_key);

// The Sample for one finished request. http_status, latency and attempts are copied from the
// response; then, in order:
//   - transport failure (response.error set: timeout, refused, body cap, cancelled): error is
//     the transport's text; error_body holds the body if a non-2xx status had arrived.
//   - non-2xx status: error "HTTP 403" plus ": MESSAGE" when the body carries one (error.message,
//     error or message; first 200 bytes, on one line); error_body the body up to kErrorBodyCap.
//   - 2xx whose body is not the kind's success shape: error "malformed response: WHAT" (or
//     "API error: MESSAGE" when a 2xx body is an error object), error_body the body up to the cap.
//   - otherwise the fields of the answer, error "":
//       openai     text = choices[0].message.content (or .refusal when content is null),
//                  finish_reason, model, system_fingerprint, usage.prompt/completion_tokens
//       anthropic  text = every "text" block of content joined, finish_reason = stop_reason
//                  ("end_turn", "max_tokens", "refusal"...), model, usage.input/output_tokens
//       ollama     text = message.content, finish_reason = done_reason, model,
//                  prompt_eval_count / eval_count
//       gemini     text = candidates[0]'s text parts joined (thought parts skipped),
//                  finish_reason = finishReason ("STOP", "SAFETY", "PROHIBITED_CONTENT"...),
//                  model = modelVersion, usageMetadata.promptTokenCount/candidatesTokenCount;
//                  with no candidate, block_reason = promptFeedback.blockReason and text "".
// Token counts that are absent or not integers stay nullopt rather than failing the sample.
// Occurrences of api_key (when at least 8 bytes long: real keys are) are replaced by
// "[redacted]" in every text of the sample: text, error, error_body, model,
// system_fingerprint, finish_reason and block_reason.
Sample parse_response(config::EndpointKind kind, const transport::Response& response,
                      std::string_view api_key);

// The transport limits an endpoint asks for: concurrency, rate and retries.
transport::LaneLimits lane_limits(const config::Endpoint& endpoint);

}  // namespace dw::providers
