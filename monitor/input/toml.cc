#include "input/toml.h"

namespace dw::input {
namespace {

// Walks TOML text outside strings and comments, measuring how deep a value nests: the parts
// of a dotted key or table header on the line, plus the arrays and inline tables open around
// it. A dot between two digits may be a number's, but a number holds one at most: the first of
// a bare word (1.5, 1979-05-27T07:32:00.5) is not counted, the others of the word are key
// parts (1.1.1 is a key of three, which toml++ nests as deeply as a.a.a). Deliberately
// forgiving of everything else: syntax is the parser's job, and an estimate off by one a word
// only matters at the limit.
class DepthScanner {
 public:
  DepthScanner(std::string_view text, const std::string& file, const TomlLimits& limits)
      : text_(text), file_(file), limits_(limits) {}

  Status run() {
    int line = 1;
    size_t line_start = 0;
    bool line_begins = true;  // nothing but blanks yet on this line
    int dots = 0;             // key parts on this line beyond the first
    int brackets = 0;         // arrays and inline tables open, across lines
    int word_digit_dots = 0;  // dots between two digits in this bare word so far
    for (size_t i = 0; i < text_.size(); ++i) {
      char c = text_[i];
      if (!word_char(c)) word_digit_dots = 0;
      if (c == '\n') {
        if (i - line_start > limits_.max_line) return too_long(line);
        ++line;
        line_start = i + 1;
        line_begins = true;
        dots = 0;
        continue;
      }
      if (c == '#') {
        i = skip_to_eol(i) - 1;  // the newline is seen next
        continue;
      }
      if (c == '"' || c == '\'') {
        size_t end = skip_string(i);
        if (end == std::string_view::npos) break;  // unterminated: the parser says so
        for (size_t j = i; j < end; ++j) {  // multi-line strings still count as lines
          if (text_[j] != '\n') continue;
          if (j - line_start > limits_.max_line) return too_long(line);
          ++line;
          line_start = j + 1;
        }
        i = end - 1;
        line_begins = false;
        continue;
      }
      if (line_begins && c == '[' && brackets == 0) {  // a [table] or [[array]] header
        while (i + 1 < text_.size() && text_[i + 1] == '[') ++i;
        line_begins = false;
        continue;
      }
      if (c != ' ' && c != '\t' && c != '\r') line_begins = false;
      int depth = 0;
      if (c == '.' && (!between_digits(i) || word_digit_dots++ > 0)) {
        depth = 1 + ++dots + brackets;
      } else if (c == '[' || c == '{') {
        depth = 1 + dots + ++brackets;
      } else if ((c == ']' || c == '}') && brackets > 0) {
        --brackets;
      }
      if (depth > limits_.max_depth) return too_deep(line, i - line_start);
    }
    if (text_.size() - line_start > limits_.max_line) return too_long(line);
    return Status::Ok();
  }

 private:
  // What a bare key or a number (a date, a time) may be written with.
  static bool word_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_' || c == '-' || c == '+' || c == ':' || c == '.';
  }
  bool between_digits(size_t i) const {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    return i > 0 && i + 1 < text_.size() && digit(text_[i - 1]) && digit(text_[i + 1]);
  }

  size_t skip_to_eol(size_t i) const {
    size_t eol = text_.find('\n', i);
    return eol == std::string_view::npos ? text_.size() : eol;
  }

  // The index just past the string that opens at i, or npos when it never closes.
  size_t skip_string(size_t i) const {
    char q = text_[i];
    bool triple = text_.substr(i, 3) == std::string(3, q);
    size_t j = i + (triple ? 3 : 1);
    while (j < text_.size()) {
      char c = text_[j];
      if (q == '"' && c == '\\') {
        j += 2;
        continue;
      }
      if (!triple && c == '\n') return j;  // the parser reports it
      if (c == q && (!triple || text_.substr(j, 3) == std::string(3, q))) {
        return j + (triple ? 3 : 1);
      }
      ++j;
    }
    return std::string_view::npos;
  }

  Status too_deep(int line, size_t column) const {
    return Error("nesting deeper than " + std::to_string(limits_.max_depth) + " levels",
                 Location{file_, line, static_cast<int>(column) + 1});
  }
  Status too_long(int line) const {
    return Error("line longer than " + std::to_string(limits_.max_line) + " bytes",
                 Location{file_, line, 1});
  }

  std::string_view text_;
  const std::string& file_;
  const TomlLimits& limits_;
};

}  // namespace

Status check_toml_bounds(std::string_view text, const std::string& file,
                         const TomlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error("file larger than " + std::to_string(limits.max_bytes >> 20) + " MiB",
                 Location{file, 0, 0});
  }
  return DepthScanner(text, file, limits).run();
}

Result<toml::table> parse_toml(std::string_view text, const std::string& file,
                               const TomlLimits& limits) {
  if (Status bounded = check_toml_bounds(text, file, limits); !bounded) return bounded.error();
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return Error(std::string(e.description()),
                 Location{file, static_cast<int>(e.source().begin.line),
                          static_cast<int>(e.source().begin.column)});
  }
}

}  // namespace dw::input
