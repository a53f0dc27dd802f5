#include "report/escape.h"

#include <utf8proc.h>

#include <algorithm>

namespace dw::report {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string md_inline(std::string_view text) {
  // Only characters that can start markup wherever they stand are escaped: emphasis, code
  // spans, links and images ('[' is enough to stop both), raw HTML and entities, table cell
  // boundaries, strikethrough and math. Escaping every punctuation mark would make e-mail and
  // terminal reading painful, so '-', '+', '#', '(' and the like, which mean something only at
  // the start of a line, are left alone: callers always place this output after other text on
  // its line. GFM also links bare "https://...", "www...." and "name@host.org": the ':' of
  // "://", the dot of "www." and every '@' are escaped.
  static constexpr std::string_view kSpecial = "\\`*_[]<>|~&$@";
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool www_dot = c == '.' && i >= 3 && (text[i - 1] | 0x20) == 'w' &&
                   (text[i - 2] | 0x20) == 'w' && (text[i - 3] | 0x20) == 'w';
    bool scheme_colon = c == ':' && text.substr(i + 1, 2) == "//";
    if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (www_dot || scheme_colon || kSpecial.find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string md_code_block(std::string_view text, std::string_view info) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string fence(std::max<size_t>(3, longest + 1), '`');
  std::string out = fence;
  out += info;
  out += '\n';
  out += text;
  if (!text.empty() && text.back() != '\n') out += '\n';
  out += fence;
  out += '\n';
  return out;
}

namespace {

// XML 1.0's Char production (section 2.2) without what it discourages: controls other than
// whitespace, and noncharacters. What is left is also free of HTML5's parse errors.
bool xml_allowed(utf8proc_int32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return true;
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  if (cp >= 0xFDD0 && cp <= 0xFDEF) return false;
  if ((cp & 0xFFFE) == 0xFFFE) return false;
  return cp <= 0x10FFFF;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0 || !xml_allowed(cp)) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += n <= 0 ? 1 : static_cast<size_t>(n);
      continue;
    }
    switch (cp) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.append(text.substr(i, static_cast<size_t>(n)));
    }
    i += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace dw::report
