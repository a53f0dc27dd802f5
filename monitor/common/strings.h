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

}  // namespace dw
