// JSON from outside (classify's stdin, import files, model endpoints' bodies, the simulator's
// requests), bounded and located: nesting is capped before a value is built (a document
// nested 100,000 deep would be echoed back, and destroyed, recursively), and every error,
// a number too large for a double included, says where it is.
//
//   auto value = dw::input::parse_json(line);
//   if (!value) std::cerr << "line 3:" << value.error().column << ": " << value.error().message;
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.h"

namespace dw::input {

struct JsonError {
  std::string message;  // "number overflow parsing '1e999'", "nesting deeper than 64 levels"
  size_t column = 0;    // 1-based byte offset into the text where it was noticed
};

inline constexpr int kMaxJsonDepth = 64;

// Parses text as one JSON document; ordered keeps the members' order (what classify echoes).
Result<nlohmann::json, JsonError> parse_json(std::string_view text, int max_depth = kMaxJsonDepth);
Result<nlohmann::ordered_json, JsonError> parse_ordered_json(std::string_view text,
                                                             int max_depth = kMaxJsonDepth);
// Parses the JSON value text starts with, in one pass, and ignores whatever follows it (a
// model's remark after the object it was asked for).
Result<nlohmann::json, JsonError> parse_json_prefix(std::string_view text,
                                                    int max_depth = kMaxJsonDepth);

}  // namespace dw::input
