#include "probes/expect.h"

#include <re2/re2.h>

namespace dw::probes {
namespace {

RE2::Options pattern_options() {
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_log_errors(false);
  return options;
}

// RE2's error() reads "REASON: FRAGMENT"; say it as "REASON at 'FRAGMENT'" so the fragment
// stands out in a one-line error.
std::string describe(const RE2& re) {
  const std::string& text = re.error();
  const std::string& fragment = re.error_arg();
  if (fragment.empty()) return escape_controls(text);
  std::string reason = text;
  std::string suffix = ": " + fragment;
  if (reason.size() > suffix.size() &&
      reason.compare(reason.size() - suffix.size(), suffix.size(), suffix) == 0) {
    reason.resize(reason.size() - suffix.size());
  }
  return escape_controls(reason) + " at '" + escape_controls(fragment) + "'";
}

}  // namespace

struct ExpectMatcher::Compiled {
  explicit Compiled(const std::string& pattern) : text(pattern), re(pattern, pattern_options()) {}
  std::string text;
  RE2 re;
};

bool matches_empty(const RE2& re) {
  // Word edges, non-edges, line starts and ends, and a CJK character, on either side.
  for (std::string_view text : {"", "x", "xy", " ", "x y", "\n", "\xe3\x80\x82"}) {
    for (size_t at = 0; at <= text.size(); ++at) {
      re2::StringPiece match;
      if (re.Match(text, at, text.size(), RE2::UNANCHORED, &match, 1) && match.empty()) {
        return true;
      }
    }
  }
  return false;
}

Status check_expect_pattern(std::string_view pattern) {
  if (pattern.empty()) return Error("pattern is empty, so any answer would meet it");
  RE2 re(pattern, pattern_options());
  if (!re.ok()) return Error(describe(re));
  if (matches_empty(re)) {
    return Error("pattern matches empty text, so any answer would meet it");
  }
  return Status::Ok();
}

Result<ExpectMatcher> ExpectMatcher::create(const std::vector<std::string>& patterns) {
  std::vector<std::unique_ptr<Compiled>> compiled;
  compiled.reserve(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string& p = patterns[i];
    Status status = check_expect_pattern(p);
    if (!status.ok()) {
      return Error("expect pattern " + std::to_string(i + 1) + " '" + escape_controls(p) +
                   "': " + status.error().message());
    }
    compiled.push_back(std::make_unique<Compiled>(p));
  }
  return ExpectMatcher(std::move(compiled));
}

Result<ExpectMatcher> ExpectMatcher::create(const Probe& probe) {
  auto matcher = create(probe.expect);
  if (!matcher.ok()) {
    return Error("probe '" + probe.id + "': " + matcher.error().message(), probe.where);
  }
  return matcher;
}

ExpectMatcher::ExpectMatcher(std::vector<std::unique_ptr<Compiled>> patterns)
    : patterns_(std::move(patterns)) {}
ExpectMatcher::ExpectMatcher(ExpectMatcher&&) noexcept = default;
ExpectMatcher& ExpectMatcher::operator=(ExpectMatcher&&) noexcept = default;
ExpectMatcher::~ExpectMatcher() = default;

size_t ExpectMatcher::size() const { return patterns_.size(); }

std::optional<double> ExpectMatcher::coverage(std::string_view text) const {
  if (patterns_.empty()) return std::nullopt;
  size_t met = 0;
  for (const auto& p : patterns_) {
    if (RE2::PartialMatch(text, p->re)) ++met;
  }
  return static_cast<double>(met) / static_cast<double>(patterns_.size());
}

std::vector<std::string> ExpectMatcher::missing(std::string_view text) const {
  std::vector<std::string> out;
  for (const auto& p : patterns_) {
    if (!RE2::PartialMatch(text, p->re)) out.push_back(p->text);
  }
  return out;
}

}  // namespace dw::probes
