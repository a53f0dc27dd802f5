#include "analysis/text_features.h"

#include <algorithm>
#include <array>
#include <bitset>

namespace dw::analysis {
namespace {

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
// The <cctype> tests for the "C" locale, inline: these loops run over every byte of every
// response, and the library calls cost more than the tests.
constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_alpha(unsigned char c) { return is_upper(c) || (c >= 'a' && c <= 'z'); }
constexpr bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }
constexpr char to_lower(unsigned char c) {
  return static_cast<char>(is_upper(c) ? c + ('a' - 'A') : c);
}

// Letters of scripts that separate words with spaces (Latin with accents, Cyrillic...).
bool is_word_char(char32_t cp) {
  if (cp < 0x80) return is_ascii_alnum(cp) || cp == '\'';
  return !is_cjk(cp) && !(cp >= 0x2000 && cp <= 0x2BFF) && !(cp >= 0x3000 && cp <= 0x303F) &&
         cp < 0x1F000 && cp != 0xFFFD;
}

// The two bytes at text[i] and text[i + 1] as one number.
size_t pair_at(std::string_view text, size_t i) {
  return static_cast<size_t>(static_cast<unsigned char>(text[i])) << 8 |
         static_cast<unsigned char>(text[i + 1]);
}

bool starts_with_at(std::string_view text, size_t i, std::string_view word) {
  return text.substr(i, word.size()) == word;
}

constexpr std::array<std::string_view, 6> kContrast = {" but ", " however", "但是", "不过",
                                                       "然而", ",但"};

constexpr std::array<std::string_view, 10> kNumberWords = {
    "hundred", "thousand", "million", "billion", "dozens", "百", "千", "万", "亿", "数十"};

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

// Bytes at which a clause may end or a contrast word begin; split_segments skips the rest.
constexpr std::array<bool, 256> kCutBytes = [] {
  std::array<bool, 256> table{};
  for (unsigned char c : {'.', '!', '?', ';', ' ', ',', '\xE4', '\xE7'}) table[c] = true;
  return table;
}();

}  // namespace

std::vector<Segment> split_segments(std::string_view text) {
  std::vector<Segment> out;
  out.reserve(text.size() / 64 + 1);
  size_t start = 0;
  auto cut = [&](size_t at) {
    if (at > start) out.push_back(Segment{start, at});
    start = at;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!kCutBytes[static_cast<unsigned char>(c)]) continue;
    if (c == '.' || c == '!' || c == '?' || c == ';') {
      size_t next = i + 1;
      while (next < text.size() && (text[next] == '.' || text[next] == '!' ||
                                    text[next] == '?' || text[next] == '"')) {
        ++next;
      }
      if (next == text.size() || text[next] == ' ' ||
          static_cast<unsigned char>(text[next]) >= 0x80) {
        cut(next);
        i = next - 1;
      }
      continue;
    }
    // Every contrast word starts with a space, a comma, or the UTF-8 lead byte of 但/不/然.
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (!(c == ' ' && (next == 'b' || next == 'h')) && !(c == ',' && next == '\xE4') &&
        c != '\xE4' && c != '\xE7') {
      continue;
    }
    for (auto word : kContrast) {
      if (word[0] == c && word[1] == next && starts_with_at(text, i, word) && i > start) {
        cut(word[0] == ',' ? i + 1 : i);
        break;
      }
    }
  }
  cut(text.size());
  return out;
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
  double units = 0;
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {  // the common case, without decoding
      if (is_alnum(b)) {
        if (!in_word) units += 1;
        in_word = true;
      } else if (b != '\'') {
        in_word = false;
      }
      ++i;
      continue;
    }
    char32_t cp = 0;
    size_t len = decode(text, i, cp);
    if (is_cjk(cp)) {
      units += 0.5;
      in_word = false;
    } else if (is_word_char(cp) && cp != '\'') {
      if (!in_word) units += 1;
      in_word = true;
    } else if (cp != '\'') {
      in_word = false;
    }
    i += len;
  }
  return units;
}

std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_alnum(static_cast<unsigned char>(text[i]))) ++i;
    size_t begin = i;
    while (i < text.size() && (is_alnum(static_cast<unsigned char>(text[i])) || text[i] == '\'')) {
      ++i;
    }
    if (i > begin) words.push_back(text.substr(begin, i - begin));
  }
  return words;
}

std::unordered_set<std::string> numbers_in(std::string_view text, std::string_view prompt) {
  std::unordered_set<std::string> found;
  // One pass for digit runs and number words alike; only a word's first two bytes stop the
  // scan (one byte would stop at every CJK character and at every 't' of English).
  static const std::bitset<65536> kStarts = [] {
    std::bitset<65536> table;
    for (auto word : kNumberWords) table.set(pair_at(word, 0));
    return table;
  }();
  std::array<bool, kNumberWords.size()> present{};
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (is_digit(c)) {
      size_t begin = i;
      while (i < text.size() && (is_digit(static_cast<unsigned char>(text[i])) ||
                                 (text[i] == ',' && i + 1 < text.size() &&
                                  is_digit(static_cast<unsigned char>(text[i + 1]))))) {
        ++i;
      }
      std::string number(text.substr(begin, i - begin));
      if (prompt.find(number) == std::string_view::npos) found.insert(std::move(number));
      continue;
    }
    if (i + 1 < text.size() && kStarts[pair_at(text, i)]) {
      for (size_t w = 0; w < kNumberWords.size(); ++w) {
        if (!present[w] && starts_with_at(text, i, kNumberWords[w])) present[w] = true;
      }
    }
    ++i;
  }
  for (size_t w = 0; w < kNumberWords.size(); ++w) {
    if (present[w] && prompt.find(kNumberWords[w]) == std::string_view::npos)
      found.insert(std::string(kNumberWords[w]));
  }
  return found;
}

std::unordered_set<std::string> names_in(std::string_view raw, std::string_view prompt) {
  std::unordered_set<std::string> names;
  std::unordered_set<std::string_view> prompt_words;
  for (auto w : words_of(prompt)) prompt_words.insert(w);
  bool sentence_start = true;
  for (size_t i = 0; i < raw.size();) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (is_alpha(c)) {
      size_t begin = i;
      while (i < raw.size() && (is_alnum(static_cast<unsigned char>(raw[i])) || raw[i] == '-')) {
        ++i;
      }
      if (!sentence_start && is_upper(c) && i - begin >= 2) {
        std::string word(raw.substr(begin, i - begin));
        std::transform(word.begin(), word.end(), word.begin(),
                       [](unsigned char ch) { return to_lower(ch); });
        if (word != "ai" && word != "i" && !prompt_words.count(word)) names.insert(word);
      }
      sentence_start = false;
      continue;
    }
    if (c == '.' || c == '!' || c == '?' || c == ':' || c == '\n' || c == '"' || c == '(' ||
        c == '-' || c == '*' || c >= 0x80) {
      sentence_start = true;
    } else if (is_digit(c)) {
      sentence_start = false;
    }
    ++i;
  }
  return names;
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
