#include "analysis/text_features.h"

#include "analysis/text_scan.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>

namespace dw::analysis {
namespace {

using namespace scan;  // the byte tests and word walk of text_scan.h

// Decodes the code point at text[i]; returns its length (1 for a stray byte, as U+FFFD).
inline size_t decode(std::string_view text, size_t i, char32_t& cp) {
  auto b = static_cast<unsigned char>(text[i]);
  if ((b & 0xF0) == 0xE0 && i + 3 <= text.size()) {  // CJK: the common multi-byte case
    cp = ((b & 0x0Fu) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3Fu) << 6) |
         (static_cast<unsigned char>(text[i + 2]) & 0x3Fu);
    return 3;
  }
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > text.size()) {
    cp = 0xFFFD;
    return 1;
  }
  cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  return len;
}

bool is_cjk(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF);
}

constexpr bool is_ascii_alnum(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}
// Letters of scripts that separate words with spaces (Latin with accents, Cyrillic...).
bool is_word_char(char32_t cp) {
  if (cp < 0x80) return is_ascii_alnum(cp) || cp == '\'';
  return !is_cjk(cp) && !(cp >= 0x2000 && cp <= 0x2BFF) && !(cp >= 0x3000 && cp <= 0x303F) &&
         cp < 0x1F000 && cp != 0xFFFD;
}

constexpr std::array<std::string_view, 6> kContrast = {" but ", " however", "但是", "不过",
                                                       "然而", ",但"};

// Question and filler words that say nothing about the topic of a prompt.
bool is_question_word(std::string_view w) {
  static constexpr std::array<std::string_view, 40> kWords = {
      "what",  "which", "when",  "where", "whom",   "whose", "happened", "happen", "tell",
      "about", "does",  "with",  "from",  "have",   "been",  "were",     "there",  "their",
      "this",  "that",  "these", "those", "describe", "explain", "give",  "many",   "much",
      "some",  "should", "would", "could", "please", "really", "during", "into",   "them",
      "they",  "your",  "know",  "like"};
  return std::find(kWords.begin(), kWords.end(), w) != kWords.end();
}

bool is_question_pair(std::string_view pair) {
  static constexpr std::array<std::string_view, 24> kPairs = {
      "什么", "发生", "生了", "为什", "么是", "是否", "怎么", "如何", "哪些", "多少",
      "一个", "是一", "请讲", "讲讲", "介绍", "一下", "是谁", "可以", "我们", "你们",
      "这个", "那个", "是什", "么样"};
  return std::find(kPairs.begin(), kPairs.end(), pair) != kPairs.end();
}

// Whether a clause may end or a contrast word begin at byte i of text: a sentence end, the
// space before " but"/" however", the comma of ",但", or the first byte of 但是, 不过 or 然而
// (whose lead bytes most CJK characters share: the second byte rules those out).
// split_segments checks the rest.
bool may_cut(std::string_view text, size_t i) {
  auto at = [&](size_t k) { return k < text.size() ? static_cast<unsigned char>(text[k]) : 0; };
  unsigned char next = at(i + 1);
  switch (at(i)) {
    case '.': case '!': case '?': case ';': return true;
    case ',': return next == 0xE4;
    case 0xE4: return next == 0xBD || next == 0xB8;
    case 0xE7: return next == 0x84;
    case ' ': return (next == 'b' && at(i + 2) == 'u') || (next == 'h' && at(i + 2) == 'o');
    default: return false;
  }
}

// The first i' >= i where may_cut(text, i'), or text.size(). Sixteen bytes at a time, each
// with the two after it, in vector registers where the machine has them (SSE2, NEON): this
// runs over every byte of every response, and most bytes are none.
size_t next_cut(std::string_view text, size_t i) {
  using Bytes = unsigned char __attribute__((vector_size(16)));
  static_assert(std::endian::native == std::endian::little, "the first lane is the low byte");
  for (; i + 18 <= text.size(); i += 16) {
    Bytes b, next, after;
    std::memcpy(&b, text.data() + i, 16);
    std::memcpy(&next, text.data() + i + 1, 16);
    std::memcpy(&after, text.data() + i + 2, 16);
    auto cuts = (b == '.') | (b == '!') | (b == '?') | (b == ';') |
                ((b == ',') & (next == 0xE4)) |
                ((b == 0xE4) & ((next == 0xBD) | (next == 0xB8))) | ((b == 0xE7) & (next == 0x84)) |
                ((b == ' ') & (((next == 'b') & (after == 'u')) | ((next == 'h') & (after == 'o'))));
    uint64_t low, high;  // lanes are 0 or 0xFF; the first set lane is the first cut
    std::memcpy(&low, &cuts, 8);
    std::memcpy(&high, reinterpret_cast<const char*>(&cuts) + 8, 8);
    if (low != 0) return i + static_cast<size_t>(__builtin_ctzll(low) >> 3);
    if (high != 0) return i + 8 + static_cast<size_t>(__builtin_ctzll(high) >> 3);
  }
  while (i < text.size() && !may_cut(text, i)) ++i;
  return i;
}

// What count_units sees in an ASCII byte.
enum class Ascii : unsigned char { other, alnum, apostrophe };
constexpr std::array<Ascii, 128> kAsciiClass = [] {
  std::array<Ascii, 128> table{};
  for (unsigned char c = 0; c < 128; ++c) {
    table[c] = is_alnum(c) ? Ascii::alnum : c == '\'' ? Ascii::apostrophe : Ascii::other;
  }
  return table;
}();

// For eight bytes w (little-endian) that are ASCII without an apostrophe: how many words
// (runs of letters and digits) start in them, given whether a word runs into them; in_word
// becomes whether one runs out of them. Returns false, changing nothing, for other bytes.
inline bool ascii_word_starts(uint64_t w, bool& in_word, size_t& starts) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  // For ASCII bytes b, b + (0x80 - c) sets the high bit exactly when b >= c, with no carry
  // into the next byte.
  auto at_least = [&](unsigned c) { return (w + kOnes * (0x80 - c)) & kHigh; };
  uint64_t apostrophes = ~((w ^ (kOnes * '\'')) + kOnes * 0x7F) & kHigh;
  if ((w & kHigh) != 0 || apostrophes != 0) return false;
  uint64_t alnum = (at_least('0') & ~at_least('9' + 1)) | (at_least('A') & ~at_least('Z' + 1)) |
                   (at_least('a') & ~at_least('z' + 1));
  uint64_t before = alnum << 8 | (in_word ? 0x80 : 0);
  // One bit per byte at most: a multiply sums them into the top byte (popcount would be a
  // library call without -mpopcnt).
  starts = static_cast<size_t>((((alnum & ~before) >> 7) * kOnes) >> 56);
  in_word = (alnum >> 63) != 0;
  return true;
}

}  // namespace

std::vector<Segment> split_segments(std::string_view text) {
  std::vector<Segment> out;
  out.reserve(text.size() / 64 + 1);
  split_segments(text, out);
  return out;
}

void split_segments(std::string_view text, std::vector<Segment>& out) {
  out.clear();
  size_t start = 0;
  auto cut = [&](size_t at) {
    if (at > start) out.push_back(Segment{start, at});
    start = at;
  };
  for (size_t i = next_cut(text, 0); i < text.size(); i = next_cut(text, i + 1)) {
    char c = text[i];
    if (c == ' ') {
      if (i > start && (starts_with_at(text, i, kContrast[0]) ||
                        starts_with_at(text, i, kContrast[1]))) {
        cut(i);
      }
      continue;
    }
    if (c == '.' || c == '!' || c == '?' || c == ';') {
      size_t next = i + 1;
      while (next < text.size() && (text[next] == '.' || text[next] == '!' ||
                                    text[next] == '?' || text[next] == '"')) {
        ++next;
      }
      if (next == text.size() || text[next] == ' ' ||
          static_cast<unsigned char>(text[next]) >= 0x80) {
        cut(next);
      }
      // Past the run either way: from a later mark of it the scan would find the same end (a
      // million dots, scanned from each of them, took minutes).
      i = next - 1;
      continue;
    }
    // ",但", 但是, 不过, 然而.
    for (auto word : kContrast) {
      if (word[0] == c && starts_with_at(text, i, word) && i > start) {
        cut(word[0] == ',' ? i + 1 : i);
        break;
      }
    }
  }
  cut(text.size());
}

bool has_units(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    i += decode(text, i, cp);
    if (is_cjk(cp) || (is_word_char(cp) && cp != '\'')) return true;
  }
  return false;
}

double count_units(std::string_view text) {
  // Whole words and CJK characters are counted apart, in integers: a running double sum
  // would make every byte wait for the previous addition. Both sums are exact either way.
  size_t words = 0;
  size_t cjk = 0;
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80 && i + 8 <= text.size()) {  // eight ASCII bytes without an apostrophe
      uint64_t w;
      std::memcpy(&w, text.data() + i, 8);
      if (size_t starts = 0; ascii_word_starts(w, in_word, starts)) {
        words += starts;
        i += 8;
        continue;
      }
    }
    if ((b & 0xF0) == 0xE0 && i + 3 <= text.size()) {  // CJK ideographs, decoded inline
      char32_t cp = ((b & 0x0Fu) << 12) |
                    ((static_cast<unsigned char>(text[i + 1]) & 0x3Fu) << 6) |
                    (static_cast<unsigned char>(text[i + 2]) & 0x3Fu);
      if (cp >= 0x4E00 && cp <= 0x9FFF) {  // what decode() and is_cjk() would say
        ++cjk;
        in_word = false;
        i += 3;
        continue;
      }
    }
    if (b < 0x80) {  // the common case, without decoding or branches
      Ascii kind = kAsciiClass[b];
      bool alnum = kind == Ascii::alnum;
      words += static_cast<size_t>(alnum && !in_word);
      in_word = alnum || (in_word && kind == Ascii::apostrophe);
      ++i;
      continue;
    }
    char32_t cp = 0;
    size_t len = decode(text, i, cp);
    if (is_cjk(cp)) {
      ++cjk;
      in_word = false;
    } else if (is_word_char(cp) && cp != '\'') {
      if (!in_word) ++words;
      in_word = true;
    } else if (cp != '\'') {
      in_word = false;
    }
    i += len;
  }
  return static_cast<double>(words) + 0.5 * static_cast<double>(cjk);
}

std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  for_each_word(text, [&](std::string_view w) {
    words.push_back(w);
    return true;
  });
  return words;
}

std::vector<std::string> prompt_anchors(std::string_view prompt) {
  std::vector<std::string> anchors;
  for (auto w : words_of(prompt)) {
    bool digits = std::all_of(w.begin(), w.end(),
                              [](char c) { return is_digit(static_cast<unsigned char>(c)); });
    if (digits ? w.size() >= 2 : (w.size() >= 4 && !is_question_word(w))) {
      anchors.emplace_back(w.substr(0, digits ? w.size() : 5));
    }
  }
  char32_t previous = 0;
  size_t previous_at = 0;
  for (size_t i = 0; i < prompt.size();) {
    char32_t cp = 0;
    size_t len = decode(prompt, i, cp);
    if (is_cjk(cp) && is_cjk(previous)) {
      std::string pair(prompt.substr(previous_at, i + len - previous_at));
      if (!is_question_pair(pair)) anchors.push_back(std::move(pair));
    }
    previous = cp;
    previous_at = i;
    i += len;
  }
  return anchors;
}

bool has_year(std::string_view text) {
  for (size_t i = 0; i + 4 <= text.size(); ++i) {
    bool starts = i == 0 || !is_digit(static_cast<unsigned char>(text[i - 1]));
    bool ends = i + 4 == text.size() || !is_digit(static_cast<unsigned char>(text[i + 4]));
    if (!starts || !ends) continue;
    if ((text[i] == '1' && text[i + 1] >= '0' && text[i + 1] <= '9') ||
        (text[i] == '2' && text[i + 1] == '0')) {
      if (is_digit(static_cast<unsigned char>(text[i + 2])) &&
          is_digit(static_cast<unsigned char>(text[i + 3]))) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace dw::analysis
