// A sample: one request to one endpoint for one probe, and everything about its answer that the
// analysis needs. Providers fill it from the HTTP exchange; the store keeps it; the classifier
// decides its verdict from it. Nothing here is interpreted yet: fields hold what the API said.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace dw::providers {

struct Sample {
  std::string text;                // the answer's text, "" when there is none
  int http_status = 0;             // of the final attempt; 0 when no HTTP response arrived
  std::string finish_reason;       // as the API spelled it: "stop", "content_filter",
                                   // "end_turn", "refusal", "SAFETY"...; "" when none
  std::string block_reason;        // Gemini promptFeedback.blockReason, "" when none
  std::string model;               // the model id the API reported, "" when none
  std::string system_fingerprint;  // where the API gives one
  std::optional<int> prompt_tokens;
  std::optional<int> completion_tokens;
  std::chrono::milliseconds latency{0};  // of the final attempt
  int attempts = 0;                      // requests sent, retries included
  std::string error;       // why there is no answer: libcurl's error text, "response body over
                           // the 1 MiB cap", "malformed JSON: ..."; "" on success
  std::string error_body;  // body of a non-2xx response, capped at 16 KiB
};

}  // namespace dw::providers
