// Measures of a normalised text that the classifier weighs against rule votes. Internal to
// the analysis module (exposed for its tests).
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
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

// Substance units: one per word of a space-separated script, one half per CJK, kana or
// Hangul character. Punctuation, symbols and emoji count nothing.
double count_units(std::string_view text);
// count_units(text) > 0, stopping at the first unit.
bool has_units(std::string_view text);

// Facts in a text: the distinct numbers (digit runs, number words: hundred, 万...) of text
// not in the prompt. Normalised text in, normalised prompt for exclusion.
std::unordered_set<std::string> numbers_in(std::string_view text, std::string_view prompt);

// Names in raw (not normalised) English text: capitalised words and acronyms that do not
// start a sentence, lower-cased, minus words of the normalised prompt and "i"/"ai".
std::unordered_set<std::string> names_in(std::string_view raw, std::string_view prompt);

// What a relevant answer shares with the prompt: word stems (first five letters of words of
// four letters or more, not question words), numbers, and CJK character pairs (not
// question pairs such as 什么).
std::vector<std::string> prompt_anchors(std::string_view normalised_prompt);

// True when text contains a year-like number (1000-2099).
bool has_year(std::string_view text);

// The words (ASCII letters, digits and apostrophes) of a normalised text.
std::vector<std::string_view> words_of(std::string_view text);

}  // namespace dw::analysis
