#include "common/error.h"

namespace dw {

namespace {

// How many bytes at text[i] spell a control that UTF-8 carries above ASCII: a C1 control
// (U+0080..U+009F: U+009B is the 8-bit CSI, which some terminals obey), or a bidirectional
// embedding, override or isolate (U+202A..U+202E, U+2066..U+2069), which reorders what
// surrounds it. 0 for anything else.
size_t wide_control(std::string_view text, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  if (i + 1 < text.size() && at(0) == 0xc2 && at(1) >= 0x80 && at(1) <= 0x9f) return 2;
  if (i + 2 < text.size() && at(0) == 0xe2 &&
      ((at(1) == 0x80 && at(2) >= 0xaa && at(2) <= 0xae) ||
       (at(1) == 0x81 && at(2) >= 0xa6 && at(2) <= 0xa9))) {
    return 3;
  }
  return 0;
}

void append_hex(std::string& out, char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto u = static_cast<unsigned char>(c);
  out += "\\x";
  out += kHex[u >> 4];
  out += kHex[u & 0xf];
}

// Control characters as escapes: a message quoting a value with a CR or LF in it (a base_url,
// a file name) stays one line, and a terminal gets no escape sequences from it.
void append_escaped(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (const size_t n = wide_control(text, i); n > 0) {
      for (const size_t end = i + n; i < end; ++i) append_hex(out, text[i]);
      continue;
    }
    const char c = text[i++];
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      append_hex(out, c);
    }
  }
}

}  // namespace

std::string escape_controls(std::string_view text) {
  std::string out;
  append_escaped(out, text);
  return out;
}

std::string Error::to_string() const {
  std::string out;
  if (!where_.file.empty()) {
    append_escaped(out, where_.file);
    if (where_.line > 0) {
      out += ':' + std::to_string(where_.line);
      if (where_.column > 0) out += ':' + std::to_string(where_.column);
    }
    out += ": ";
  }
  append_escaped(out, message_);
  return out;
}

}  // namespace dw
