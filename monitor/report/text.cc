#include "report/text.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <utility>

namespace dw::report {
namespace {

constexpr utf8proc_int32_t kReplacement = 0xFFFD;

// Decodes the code point at text[i]; advances i by its length (1 for an invalid byte, which
// decodes as U+FFFD).
utf8proc_int32_t next_code_point(std::string_view text, size_t& i) {
  utf8proc_int32_t cp = 0;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                            static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
  if (n <= 0) {
    i += 1;
    return kReplacement;
  }
  i += static_cast<size_t>(n);
  return cp;
}

void append_utf8(std::string& out, utf8proc_int32_t cp) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

bool is_hostile_control(utf8proc_int32_t cp) {
  if (cp == '\n' || cp == '\t') return false;
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// CJK scripts write words without spaces: each of these is a token of its own.
bool is_cjk(utf8proc_int32_t cp) {
  return (cp >= 0x2E80 && cp <= 0x2FDF) ||    // radicals
         (cp >= 0x3000 && cp <= 0x30FF) ||    // CJK punctuation, hiragana, katakana
         (cp >= 0x3100 && cp <= 0x31FF) ||    // bopomofo, kanbun, katakana extensions
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||    // unified ideographs
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // compatibility ideographs
         (cp >= 0xFE30 && cp <= 0xFE4F) ||    // compatibility forms
         (cp >= 0xFF00 && cp <= 0xFFEF) ||    // fullwidth forms
         (cp >= 0x20000 && cp <= 0x3FFFF);    // supplementary ideographs
}

enum class Kind { word, space, other };

Kind kind_of(utf8proc_int32_t cp) {
  if (is_cjk(cp)) return Kind::other;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return Kind::word;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return Kind::space;
    default:
      break;
  }
  if (cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r') return Kind::space;
  return Kind::other;
}

bool is_apostrophe(utf8proc_int32_t cp) { return cp == '\'' || cp == 0x2019; }

std::string fold_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

using Bigrams = std::set<std::pair<std::string, std::string>>;
constexpr size_t kMedoidTokens = 400;

Bigrams bigrams(std::string_view text, size_t max_tokens) {
  std::vector<std::string> words;
  for (auto& token : tokenise(text)) {
    if (words.size() >= max_tokens) break;
    size_t i = 0;
    if (kind_of(next_code_point(token, i)) == Kind::space) continue;
    words.push_back(fold_ascii(std::move(token)));
  }
  Bigrams out;
  if (words.size() == 1) out.emplace(words[0], "");
  for (size_t i = 1; i < words.size(); ++i) out.emplace(words[i - 1], words[i]);
  return out;
}

double jaccard(const Bigrams& x, const Bigrams& y) {
  if (x.empty() && y.empty()) return 1.0;
  size_t common = 0;
  for (const auto& g : x) common += y.count(g);
  size_t all = x.size() + y.size() - common;
  return static_cast<double>(common) / static_cast<double>(all);
}

}  // namespace

std::string sanitise_untrusted(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    utf8proc_int32_t cp = next_code_point(text, i);
    if (is_hostile_control(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u{%04X}", static_cast<unsigned>(cp));
      out += buf;
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}

std::vector<std::string> tokenise(std::string_view text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  std::optional<Kind> current;
  while (i < text.size()) {
    size_t start = i;
    utf8proc_int32_t cp = next_code_point(text, i);
    Kind kind = kind_of(cp);
    // An apostrophe between letters stays inside the word ("don't", "People's").
    if (kind == Kind::other && is_apostrophe(cp) && current == Kind::word && i < text.size()) {
      size_t peek = i;
      if (kind_of(next_code_point(text, peek)) == Kind::word) kind = Kind::word;
    }
    bool joins = current == kind && kind != Kind::other && !tokens.empty();
    if (joins) {
      tokens.back().append(text.substr(start, i - start));
    } else {
      tokens.emplace_back(text.substr(start, i - start));
    }
    current = kind;
  }
  return tokens;
}

double similarity(std::string_view a, std::string_view b, size_t max_tokens) {
  return jaccard(bigrams(a, max_tokens), bigrams(b, max_tokens));
}

size_t medoid(const std::vector<std::string>& texts, const std::vector<long>& counts) {
  size_t n = texts.size();
  std::vector<Bigrams> sets;
  sets.reserve(n);
  for (const auto& t : texts) sets.push_back(bigrams(t, kMedoidTokens));
  std::vector<double> score(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    score[i] += static_cast<double>(counts[i] - 1);  // a text's similarity to its own copies
    for (size_t j = i + 1; j < n; ++j) {
      double s = jaccard(sets[i], sets[j]);
      score[i] += s * static_cast<double>(counts[j]);
      score[j] += s * static_cast<double>(counts[i]);
    }
  }
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    constexpr double kEpsilon = 1e-9;
    if (score[i] > score[best] + kEpsilon ||
        (score[i] > score[best] - kEpsilon && counts[i] > counts[best]))
      best = i;
  }
  return best;
}

}  // namespace dw::report
