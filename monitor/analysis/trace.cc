#include "analysis/trace.h"

#include <algorithm>

#include "analysis/normalise.h"
#include "analysis/text_scan.h"

namespace dw::analysis {
namespace {

constexpr std::string_view kSpace = " \t\r\n";
constexpr size_t kOpeningBytes = 240;

// s from its first non-blank byte; its (empty) end when it is all blank, so that offsets
// taken from the result stay within s.
std::string_view trim_front(std::string_view s) {
  size_t i = s.find_first_not_of(kSpace);
  return s.substr(i == std::string_view::npos ? s.size() : i);
}

struct Tag {
  std::string_view open, close;
};
constexpr Tag kTags[] = {{"<think>", "</think>"},
                         {"<thinking>", "</thinking>"},
                         {"<reasoning>", "</reasoning>"}};

// Case-insensitive: whether s starts with the ASCII word w.
bool starts_with_ci(std::string_view s, std::string_view w) {
  if (s.size() < w.size()) return false;
  for (size_t i = 0; i < w.size(); ++i) {
    if (scan::to_lower(static_cast<unsigned char>(s[i])) != w[i]) return false;
  }
  return true;
}

size_t find_ci(std::string_view s, std::string_view w) {
  for (size_t i = 0; i + w.size() <= s.size(); ++i) {
    if (starts_with_ci(s.substr(i), w)) return i;
  }
  return std::string_view::npos;
}

// The end of the paragraph that starts at begin: the first blank line after it, or the end.
size_t paragraph_end(std::string_view s, size_t begin) {
  for (size_t i = s.find('\n', begin); i != std::string_view::npos; i = s.find('\n', i + 1)) {
    size_t j = i + 1;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r')) ++j;
    if (j < s.size() && s[j] == '\n') return i;
  }
  return s.size();
}

}  // namespace

TraceSplit split_trace(const RuleSet& rules, std::string_view raw, std::string& normalised,
                       std::vector<const Rule*>& fired, std::vector<int>& indices) {
  TraceSplit out;
  out.answer = raw;
  std::string_view rest = trim_front(raw);
  for (const Tag& tag : kTags) {
    if (!starts_with_ci(rest, tag.open)) continue;
    std::string_view inside = rest.substr(tag.open.size());
    size_t end = find_ci(inside, tag.close);
    out.tagged = true;
    out.trace = inside.substr(0, end);
    out.answer = end == std::string_view::npos ? std::string_view()
                                               : trim_front(inside.substr(end + tag.close.size()));
    return out;
  }
  // Untagged: paragraphs of self-talk, as long as each has a trace rule in it.
  auto is_trace = [&](std::string_view paragraph) {
    normalise(paragraph, normalised);
    if (rules.fired(Target::text, normalised, fired, indices) == RuleSet::Scan::failed)
      return false;
    return std::any_of(fired.begin(), fired.end(), [](const Rule* r) {
      return r->vote == Vote::trace && !r->shadow;
    });
  };
  // A trace needs an answer after it: a reply of one paragraph has none to split.
  size_t start = static_cast<size_t>(rest.data() - raw.data());
  if (paragraph_end(raw, start) == raw.size()) return out;
  size_t begin = start;
  size_t end = start;
  while (begin < raw.size()) {
    size_t stop = paragraph_end(raw, begin);
    // The first paragraph says at its start whether it is self-talk; reading all of a long
    // opening answer to learn that it is not would double the cost of most replies.
    size_t length = stop - begin;
    if (begin == start) length = std::min<size_t>(length, kOpeningBytes);
    if (!is_trace(raw.substr(begin, length))) break;
    end = stop;
    begin = stop;
    while (begin < raw.size() && kSpace.find(raw[begin]) != std::string_view::npos) ++begin;
  }
  if (end == start || begin >= raw.size()) return out;  // no trace, or nothing after it
  out.trace = raw.substr(start, end - start);
  out.answer = raw.substr(begin);
  return out;
}

}  // namespace dw::analysis
