#include "common/error.h"

namespace dw {

namespace {

// Control characters as escapes: a message quoting a value with a CR or LF in it (a base_url,
// a file name) stays one line, and a terminal gets no escape sequences from it.
void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
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
