// Byte tests and the word walk shared by the text measures (text_features.cc, facts.cc).
// Internal to the analysis module.
#pragma once

#include <string_view>

namespace dw::analysis::scan {

// The <cctype> tests for the "C" locale, inline: these loops run over every byte of every
// response, and the library calls cost more than the tests.
constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_alpha(unsigned char c) { return is_upper(c) || (c >= 'a' && c <= 'z'); }
constexpr bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }
constexpr char to_lower(unsigned char c) {
  return static_cast<char>(is_upper(c) ? c + ('a' - 'A') : c);
}

// Whether text holds word at byte i.
constexpr bool starts_with_at(std::string_view text, size_t i, std::string_view word) {
  return text.substr(i, word.size()) == word;
}

// Calls f with each word (ASCII letters and digits, then apostrophes too) of text in order,
// while f returns true.
template <typename F>
void for_each_word(std::string_view text, F&& f) {
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_alnum(static_cast<unsigned char>(text[i]))) ++i;
    size_t begin = i;
    while (i < text.size() && (is_alnum(static_cast<unsigned char>(text[i])) || text[i] == '\'')) {
      ++i;
    }
    if (i > begin && !f(text.substr(begin, i - begin))) return;
  }
}

}  // namespace dw::analysis::scan
