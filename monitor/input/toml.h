// TOML from files driftwatch does not control (configs, probe sets, rule packs, simulator
// scenarios), bounded before the parser sees it: toml++ recurses on nesting, and a 100 KB
// header of "[a.a.a...]" overflows the stack. Every TOML file is read through here.
//
//   auto root = dw::input::parse_toml(text, "probes.toml");
//   if (!root) return root.error();   // "probes.toml:3:40001: nesting deeper than 32 levels"
#pragma once

#include <toml++/toml.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.h"

namespace dw::input {

struct TomlLimits {
  size_t max_bytes = size_t{16} << 20;  // far beyond any probe set a person writes
  size_t max_line = size_t{256} << 10;  // a long prompt or pattern fits on one line
  int max_depth = 32;                   // tables, dotted keys, arrays and inline tables
};

// Checks text against limits, then parses it. Errors are located "FILE:LINE:COLUMN: message":
// the first line that is too long or nests too deep, or toml++'s own syntax error.
Result<toml::table> parse_toml(std::string_view text, const std::string& file,
                               const TomlLimits& limits = {});

// The bounds check alone, for a caller that parses by other means.
Status check_toml_bounds(std::string_view text, const std::string& file,
                         const TomlLimits& limits = {});

}  // namespace dw::input
