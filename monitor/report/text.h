// Untrusted text made safe to show, split into words, and compared. Model output can hold any
// bytes: invalid UTF-8, terminal escape sequences, bidirectional overrides. Everything a
// report or `driftwatch diff` shows passes through sanitise_untrusted() first; the formats'
// own escaping (escape.h) comes after.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dw::report {

// Returns text as valid UTF-8 that cannot act on a terminal or reorder what surrounds it:
// invalid bytes become U+FFFD; C0 and C1 control characters (ESC, BEL, CR...) other than
// newline and tab, DEL, and the bidirectional embedding, override and isolate characters
// (U+202A..U+202E, U+2066..U+2069) become visible "\u{XXXX}"-style escapes. Never fails.
std::string sanitise_untrusted(std::string_view text);

// Splits text into the tokens a word diff works on, keeping every byte so that concatenating
// the tokens gives text back: runs of letters, digits and in-word apostrophes; runs of
// whitespace; single other characters (punctuation). Chinese, Japanese and Korean text has no
// spaces between words, so each CJK ideograph, kana or fullwidth punctuation character is a
// token of its own. Expects valid UTF-8 (sanitise first).
std::vector<std::string> tokenise(std::string_view text);

// Similarity of two texts in [0, 1]: the Jaccard index of their sets of word bigrams (tokens
// from tokenise(), whitespace dropped, case-folded ASCII), so it is language-independent and
// works per character for CJK. Only the first max_tokens tokens of each text are compared.
// Two empty texts are identical (1).
double similarity(std::string_view a, std::string_view b, size_t max_tokens = 400);

// The index of the medoid of texts weighted by count (a text seen 5 times counts 5 times): the
// one whose weighted sum of similarities to all texts is highest; ties go to the higher
// count, then the lower index. Requires texts.size() == counts.size() > 0.
size_t medoid(const std::vector<std::string>& texts, const std::vector<long>& counts);

}  // namespace dw::report
