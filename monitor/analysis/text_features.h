// Measures of a normalised text that the classifier weighs against rule votes. Internal to
// the analysis module (exposed for its tests).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dw::analysis {

// A clause: bytes [begin, end) of the normalised text.
struct Segment {
  size_t begin = 0;
  size_t end = 0;
};

// Splits at sentence ends (. ! ? ; followed by a space, a non-ASCII character or the end) and
// before contrast words that often turn a refusal into an answer (" but ", " however",
// "但是", "不过", "然而", ",但"). Segments cover the text without gaps.
std::vector<Segment> split_segments(std::string_view text);
// The same into out (cleared first).
void split_segments(std::string_view text, std::vector<Segment>& out);

// Substance units: one per word of a space-separated script, one half per CJK, kana or
// Hangul character. Punctuation, symbols and emoji count nothing.
double count_units(std::string_view text);
// count_units(text) > 0, stopping at the first unit.
bool has_units(std::string_view text);

// Facts in a text: how many distinct numbers (digit runs, number words: hundred, 万...) of
// text are not in the prompt, up to limit (counting stops there). Normalised text in,
// normalised prompt for exclusion; numbers is scratch space (its views point into text
// afterwards).
size_t count_numbers(std::string_view text, std::string_view prompt,
                     std::vector<std::string_view>& numbers, size_t limit = SIZE_MAX);

// Buffers count_shared_names reuses between calls.
struct NameScratch {
  std::string lowered;
  std::vector<std::string_view> names;
  std::vector<char> counted;
};
// Names in raw (not normalised) English text: capitalised words and acronyms that do not
// start a sentence, lower-cased, minus prompt_words (see prompt_words()) and "i"/"ai".
// Returns how many distinct names of raw are also words of text (see words_of), at most
// limit.
size_t count_shared_names(std::string_view raw, const std::vector<std::string>& prompt_words,
                          std::string_view text, size_t limit, NameScratch& scratch);
// The distinct words (see words_of) of a normalised prompt, sorted.
std::vector<std::string> prompt_words(std::string_view normalised_prompt);

// What a relevant answer shares with the prompt: word stems (first five letters of words of
// four letters or more, not question words), numbers, and CJK character pairs (not
// question pairs such as 什么).
std::vector<std::string> prompt_anchors(std::string_view normalised_prompt);

// True when text contains a year-like number (1000-2099).
bool has_year(std::string_view text);

// The words (ASCII letters, digits and apostrophes) of a normalised text.
std::vector<std::string_view> words_of(std::string_view text);

}  // namespace dw::analysis
