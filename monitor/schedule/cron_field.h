// One field of a cron expression: internal to dw_schedule.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/error.h"

namespace dw::schedule::detail {

struct FieldSpec {
  std::string_view name;  // "minute", "hour", "day of month", "month", "day of week"
  int min;
  int max;  // day of week allows 7 (Sunday) here; the caller folds it onto 0
  // Three-letter names for min, min + 1, ...; empty when the field has none.
  const std::string_view* names = nullptr;
  int name_count = 0;
};

// Parses text ("*", "5", "1-5", "*/15", "10-50/10", "5/15", "mon-fri", lists of these) into a
// bit mask with bit v set for every value v it selects. On failure the error says what is
// wrong in terms of the field ("minute 61 is out of range 0-59").
Result<uint64_t> parse_field(std::string_view text, const FieldSpec& spec);

}  // namespace dw::schedule::detail
