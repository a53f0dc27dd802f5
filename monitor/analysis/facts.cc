// Facts in a text: numbers and names the prompt does not already hold (see text_features.h).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>

#include "analysis/text_features.h"
#include "analysis/text_scan.h"

namespace dw::analysis {
namespace {

using namespace scan;  // the byte tests and word walk of text_scan.h

// The two bytes at text[i] and text[i + 1] as one number.
size_t pair_at(std::string_view text, size_t i) {
  return static_cast<size_t>(static_cast<unsigned char>(text[i])) << 8 |
         static_cast<unsigned char>(text[i + 1]);
}

constexpr std::array<std::string_view, 10> kNumberWords = {
    "hundred", "thousand", "million", "billion", "dozens", "百", "千", "万", "亿", "数十"};

// What count_shared_names sees in a raw byte: a letter starts a word; a sentence mark (or
// any non-ASCII byte) lets the next word start a sentence; a digit does not.
enum class RawClass : unsigned char { other, letter, digit, sentence_mark };
constexpr std::array<RawClass, 256> kRawClass = [] {
  std::array<RawClass, 256> table{};
  for (int c = 0; c < 256; ++c) {
    auto b = static_cast<unsigned char>(c);
    table[b] = is_alpha(b) ? RawClass::letter : is_digit(b) ? RawClass::digit : RawClass::other;
  }
  for (unsigned char c : {'.', '!', '?', ':', '\n', '"', '(', '-', '*'})
    table[c] = RawClass::sentence_mark;
  for (int c = 0x80; c < 256; ++c) table[static_cast<size_t>(c)] = RawClass::sentence_mark;
  return table;
}();
// Bytes of a name once started: letters, digits and hyphens.
constexpr std::array<bool, 256> kNameByte = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 128; ++c) {
    table[static_cast<size_t>(c)] = is_alnum(static_cast<unsigned char>(c)) || c == '-';
  }
  return table;
}();

}  // namespace

size_t count_numbers(std::string_view text, std::string_view prompt,
                     std::vector<std::string_view>& numbers, size_t limit) {
  // One pass for digit runs and number words alike; only a word's first two bytes stop the
  // scan (one byte would stop at every CJK character and at every 't' of English), and they
  // name the one word that can start there (no two words share them).
  static constexpr auto kStarts = [] {
    std::array<unsigned char, 65536> table{};
    for (size_t w = 0; w < kNumberWords.size(); ++w) {
      table[static_cast<size_t>(static_cast<unsigned char>(kNumberWords[w][0])) << 8 |
            static_cast<unsigned char>(kNumberWords[w][1])] = static_cast<unsigned char>(w + 1);
    }
    return table;
  }();
  static constexpr auto kFirstBytes = [] {  // most bytes start no word: a smaller table
    std::array<bool, 256> table{};
    for (std::string_view word : kNumberWords) table[static_cast<unsigned char>(word[0])] = true;
    return table;
  }();
  // Distinct digit runs: those not in the prompt stop at limit, and the prompt holds few, so
  // looking each up here stays linear (a million distinct numbers took minutes).
  numbers.clear();
  size_t count = 0;
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
      std::string_view number = text.substr(begin, i - begin);
      if (std::find(numbers.begin(), numbers.end(), number) == numbers.end()) {
        numbers.push_back(number);
        if (prompt.find(number) == prompt.npos && ++count >= limit) return limit;
      }
      continue;
    }
    if (kFirstBytes[c] && i + 1 < text.size()) {
      if (size_t w = kStarts[pair_at(text, i)]; w != 0 && !present[w - 1] &&
                                                 starts_with_at(text, i, kNumberWords[w - 1])) {
        present[w - 1] = true;
      }
    }
    ++i;
  }
  for (size_t w = 0; w < kNumberWords.size(); ++w) {
    if (present[w] && prompt.find(kNumberWords[w]) == std::string_view::npos) ++count;
  }
  return std::min(count, limit);
}

size_t count_shared_names(std::string_view raw, const std::vector<std::string>& prompt_words,
                          std::string_view text, size_t limit, NameScratch& scratch) {
  if (limit == 0) return 0;
  std::string& lowered = scratch.lowered;  // the names, lower-cased; never reallocated below
  lowered.resize(raw.size());
  size_t used = 0;
  std::vector<std::string_view>& names = scratch.names;
  names.clear();
  bool sentence_start = true;
  for (size_t i = 0; i < raw.size();) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x80 && i + 8 <= raw.size()) {  // CJK text: eight bytes that hold no name
      uint64_t w;
      std::memcpy(&w, raw.data() + i, 8);
      if ((w & 0x8080808080808080ULL) == 0x8080808080808080ULL) {
        sentence_start = true;
        i += 8;
        continue;
      }
    }
    RawClass kind = kRawClass[c];
    if (kind == RawClass::letter) {
      size_t begin = i;
      while (i < raw.size() && kNameByte[static_cast<unsigned char>(raw[i])]) ++i;
      if (!sentence_start && is_upper(c) && i - begin >= 2) {
        char* out = lowered.data() + used;
        for (size_t k = begin; k < i; ++k) *out++ = to_lower(static_cast<unsigned char>(raw[k]));
        names.emplace_back(lowered.data() + used, i - begin);
        used += i - begin;
      }
      sentence_start = false;
      continue;
    }
    if (kind == RawClass::sentence_mark) sentence_start = true;
    else if (kind == RawClass::digit) sentence_start = false;
    ++i;
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::erase_if(names, [&](std::string_view name) {
    return name == "ai" || std::binary_search(prompt_words.begin(), prompt_words.end(), name,
                                              std::less<>());
  });
  if (names.empty()) return 0;
  // Most words of a text are no name: their length or first letter says so cheaply.
  uint64_t lengths = 0;
  std::array<bool, 256> initials{};
  for (std::string_view name : names) {
    lengths |= uint64_t{1} << std::min<size_t>(name.size(), 63);
    initials[static_cast<unsigned char>(name[0])] = true;
  }
  std::vector<char>& counted = scratch.counted;
  counted.assign(names.size(), 0);
  size_t count = 0;
  for_each_word(text, [&](std::string_view w) {
    if (!(lengths >> std::min<size_t>(w.size(), 63) & 1) ||
        !initials[static_cast<unsigned char>(w[0])]) {
      return true;
    }
    auto it = std::lower_bound(names.begin(), names.end(), w);
    if (it != names.end() && *it == w && !counted[static_cast<size_t>(it - names.begin())]) {
      counted[static_cast<size_t>(it - names.begin())] = 1;
      ++count;
    }
    return count < limit;
  });
  return count;
}

std::vector<std::string> prompt_words(std::string_view prompt) {
  std::vector<std::string> words;
  for_each_word(prompt, [&](std::string_view w) {
    words.emplace_back(w);
    return true;
  });
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

}  // namespace dw::analysis
