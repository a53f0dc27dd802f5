// Expect coverage: how many of a probe's `expect` patterns an answer meets.
//
//   auto matcher = dw::probes::ExpectMatcher::create(probe);
//   std::optional<double> share = matcher->coverage(response_text);
//
// Patterns are RE2, matched case-insensitively (Unicode case folding) anywhere in the text,
// which is UTF-8 as given: the caller decides whether to pass raw or normalised text (the
// classifier, analysis/classifier.h, passes the normalised text). Model output is untrusted;
// RE2 matches in linear time whatever it holds.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "probes/probe.h"

namespace re2 {
class RE2;
}

namespace re2 {
class RE2;
}

namespace dw::probes {

// Whether re can match an empty stretch of text: on the empty text, or at a position of a few
// short ones ("\b" matches none of "" but every word's edge, "x?" everywhere). Such a pattern
// fires on nearly any text. Rule packs refuse them too (analysis/rules_load.cc).
bool matches_empty(const re2::RE2& re);

// Compiles pattern the way probe sets use it (case-insensitive, UTF-8, no logging). On failure
// the error (no location) names the RE2 reason and the offending fragment, e.g.
// "missing ): '(troops|army'"; a pattern that can match empty text (matches_empty) is refused
// too, because it would count as met by any answer.
Status check_expect_pattern(std::string_view pattern);

// A probe's patterns compiled once; immutable after creation, so one matcher may be shared by
// threads. Movable, not copyable.
class ExpectMatcher {
 public:
  // Compiles probe.expect (in order). Patterns of a probe from load_set always compile; for a
  // hand-built probe the first bad pattern is an error naming the probe id, the pattern's
  // number (from 1) and the pattern: "probe 'p': expect pattern 2 '(x': missing ) at '(x'".
  static Result<ExpectMatcher> create(const Probe& probe);
  static Result<ExpectMatcher> create(const std::vector<std::string>& patterns);

  ExpectMatcher(ExpectMatcher&&) noexcept;
  ExpectMatcher& operator=(ExpectMatcher&&) noexcept;
  ~ExpectMatcher();

  // Number of patterns; 0 when the probe has no `expect`.
  size_t size() const;

  // The share of patterns that match somewhere in text, 0..1; nullopt when there are no
  // patterns (nothing is expected, which is not the same as everything found).
  std::optional<double> coverage(std::string_view text) const;

  // The patterns (as written) that do not match text, in order: the evidence for
  // `expect.missing`. Empty when all match or there are no patterns.
  std::vector<std::string> missing(std::string_view text) const;

 private:
  struct Compiled;
  explicit ExpectMatcher(std::vector<std::unique_ptr<Compiled>> patterns);
  std::vector<std::unique_ptr<Compiled>> patterns_;
};

}  // namespace dw::probes
