// Small string helpers shared by the modules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dw {

// Edit distance between a and b in bytes, a swap of two neighbours counting as one edit
// (optimal string alignment).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to word, if one is close enough to be a plausible misspelling
// (distance at most a third of the word's length, and at least 1 allowed); otherwise nullopt.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// s without leading and trailing ASCII whitespace (space, tab, CR, LF).
std::string_view trim(std::string_view s);

// "a, b and c".
std::string join_words(const std::vector<std::string>& words);

// text whole when it has at most max bytes; otherwise cut at the last space within max bytes,
// with "..." added. Never inside a word: text without a space there stays whole.
std::string shorten_at_word(std::string_view text, size_t max);

}  // namespace dw

namespace dw {

// Replaces, in place, each byte that does not start or continue a well-formed UTF-8 sequence
// (overlong forms, encoded surrogates and code points past U+10FFFF included), and each NUL,
// with U+FFFD: a model's answer keeps what can be kept, and SQLite's text functions see all of
// it. Returns how many replacements were made.
size_t repair_utf8(std::string& text);

// In JSON text, replaces each \uD800-\uDFFF escape that is not half of a well-formed
// surrogate pair with \uFFFD, so that one bad escape does not make a whole body unreadable.
// Returns how many replacements were made.
size_t repair_json_surrogates(std::string& json);

}  // namespace dw
