// Text normalisation: the one form every rule pattern is written against.
//
//   std::string t = dw::analysis::normalise("I’m  SORRY，我无法回答。");
//   // t == "i'm sorry,我无法回答."
//
// Model output is untrusted: any byte sequence is accepted, and invalid UTF-8 is replaced by
// U+FFFD rather than rejected.
#pragma once

#include <string>
#include <string_view>

namespace dw::analysis {

// Returns text in the form rules match against:
// - invalid UTF-8 sequences replaced by U+FFFD (one per bad byte);
// - Unicode NFKC, then case folding (so full-width ASCII becomes ASCII, "ﬁ" becomes "fi");
// - default-ignorable characters (zero-width spaces and joiners, soft hyphens) dropped;
// - curly and CJK quotes folded to ' and ", CJK punctuation (。、【】《》) to . , [ ] < >,
//   dashes to -;
// - every run of whitespace and control characters collapsed to one space, none at either end.
// The result is valid UTF-8. Never fails.
std::string normalise(std::string_view text);
// The same into out (its content replaced): reusing out across calls keeps its capacity.
void normalise(std::string_view text, std::string& out);

}  // namespace dw::analysis
