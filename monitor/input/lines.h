// Lines of untrusted input (classify's stdin, import files), read with a bound: one line of a
// few gigabytes would otherwise be held whole before anything could refuse it.
#pragma once

#include <cstddef>
#include <istream>
#include <string>

namespace dw::input {

inline constexpr size_t kMaxLineBytes = size_t{16} << 20;

// Reads the next line of in into line, without its '\n'. A line longer than max is consumed
// whole but only its first max bytes are kept, and too_long is set. Returns false at the end
// of input (no more lines).
bool read_line(std::istream& in, std::string& line, bool& too_long,
               size_t max = kMaxLineBytes);

}  // namespace dw::input
