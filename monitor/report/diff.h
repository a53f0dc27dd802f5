// Word-level diffs of two answers, computed with dtl (an O(ND) shortest edit script), on the
// tokens of tokenise() (text.h): words, whitespace and punctuation, CJK per character.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dw::report {

enum class DiffOp { same, removed, added };
std::string_view to_string(DiffOp op);  // "same", "removed", "added"

// A run of consecutive tokens with the same operation.
struct DiffPiece {
  DiffOp op = DiffOp::same;
  std::string text;
};

// The pieces that turn before into after: concatenating the same and removed pieces gives
// before; the same and added pieces gives after. Adjacent pieces never share an op, and a
// removal comes before the addition that replaces it. Inputs must be valid UTF-8 (sanitise
// them first). Texts longer than max_tokens tokens are diffed on their first max_tokens
// tokens and the rest of each side follows as one removed and one added piece, so the cost
// stays bounded on hostile input.
std::vector<DiffPiece> word_diff(std::string_view before, std::string_view after,
                                 size_t max_tokens = 3000);

}  // namespace dw::report
