// The `driftwatch classify` record format (SPEC.md): one JSON object per line with `prompt`,
// `response`, and optionally `id`, `lang`, `http_status`, `body`, `finish_reason`, `error`,
// `block_reason` and `expect` (an array of RE2 patterns). Other fields pass through untouched.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "analysis/classifier.h"
#include "common/error.h"

namespace dw::analysis {

// Classifies one record. On success returns the record with `verdict`, `signals`,
// `narrative` and `uncertain` added, `expect_coverage` when it has a non-empty `expect` array,
// and when explain is set the decision path: `why`, `margin` and `fired` (the rules that
// fired, where and with what weight; see explanation()). Fails with a one-line message (no
// location; the caller knows the line) when the line is not JSON (nesting bounded:
// input/json.h) or not an object, a field has the wrong type ("'http_status' must be an
// integer"), or an expect pattern does not compile or matches empty text (as probe sets
// require: probes/expect.h).
Result<nlohmann::ordered_json> classify_record(const RuleSet& rules, std::string_view line,
                                       bool explain = false);

// Same, from an already parsed value.
Result<nlohmann::ordered_json> classify_object(const RuleSet& rules, nlohmann::ordered_json record,
                                       bool explain = false);

}  // namespace dw::analysis
