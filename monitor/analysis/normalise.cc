#include "analysis/normalise.h"

#include <utf8proc.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace dw::analysis {
namespace {

// Eight bytes at a time: most responses are ASCII, and this is asked of every one.
bool is_ascii(std::string_view text) {
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if (word & 0x8080808080808080ULL) return false;
  }
  for (; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) >= 0x80) return false;
  }
  return true;
}

// Copies text with each byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp < 0) {
      out += "\xEF\xBF\xBD";
      n = 1;
    } else {
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
    p += n;
    left -= n;
  }
  return out;
}

// Punctuation NFKC leaves alone but rules want as ASCII; 0 when cp is not one of them.
char fold_punctuation(utf8proc_int32_t cp) {
  switch (cp) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x02BC:
      return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: case 0x00AB:
    case 0x00BB: case 0x300C: case 0x300D: case 0x300E: case 0x300F: case 0x301D:
    case 0x301E: case 0x301F:
      return '"';
    case 0x3002: case 0xFF61:
      return '.';
    case 0x3001: case 0xFF64:
      return ',';
    case 0x3010: case 0x3014: case 0x3016:
      return '[';
    case 0x3011: case 0x3015: case 0x3017:
      return ']';
    case 0x300A: case 0x3008:
      return '<';
    case 0x300B: case 0x3009:
      return '>';
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:
    case 0x2212:
      return '-';
    default:
      return 0;
  }
}

bool is_space(utf8proc_int32_t cp) {
  if (cp < 0x80) return cp <= 0x20 || cp == 0x7F;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
      return true;
    default:
      return false;
  }
}

// Writes into out, turning whitespace runs into one space and dropping leading space. out is
// sized to an upper bound of the result up front, and cut to the result by finish().
class Collapser {
 public:
  explicit Collapser(std::string& out, size_t bound) : out_(out) {
    out_.resize(bound);
    data_ = out_.data();
  }
  void finish() { out_.resize(size_); }
  void space() { pending_ = size_ != 0; }
  void put(char c) {
    flush();
    data_[size_++] = c;
  }
  void put(const char* bytes, size_t n) {
    flush();
    for (size_t k = 0; k < n; ++k) data_[size_++] = bytes[k];
  }

 private:
  void flush() {
    if (pending_) data_[size_++] = ' ';
    pending_ = false;
  }
  std::string& out_;
  char* data_ = nullptr;
  size_t size_ = 0;
  bool pending_ = false;
};

// An ASCII byte as rules see it: ' ' for whitespace and control characters, else the byte
// lower-cased. No other byte folds to ' '.
constexpr std::array<char, 128> kAsciiFold = [] {
  std::array<char, 128> table{};
  for (int c = 0; c < 128; ++c) {
    bool space = c <= 0x20 || c == 0x7F;
    table[static_cast<size_t>(c)] =
        space ? ' ' : static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  return table;
}();

// Writes folded characters, one space for each run of spaces and none at either end. The
// space is written and kept only when it follows a non-space, without a branch: whether a
// byte is a space is unpredictable, and this runs over every byte of every response.
class Sink {
 public:
  explicit Sink(char* begin) : begin_(begin), o_(begin) {}
  void ascii(unsigned char c) {
    char folded = kAsciiFold[c];
    bool space = folded == ' ';
    *o_ = folded;
    o_ += !(space && last_space_);
    last_space_ = space;
  }
  // Eight ASCII bytes at once (w as loaded from memory, little-endian) when they need no
  // more than lower-casing: no control character or DEL, no space that a space precedes.
  // Returns false, having written nothing, otherwise.
  bool ascii8(uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHigh = 0x8080808080808080ULL;
    // Per byte b < 0x80, b + k < 0x100 for every k below: no carry crosses a byte.
    uint64_t below_bang = ~(w + kOnes * (0x80 - 0x21)) & kHigh;   // b <= 0x20
    uint64_t spaces = ~((w ^ (kOnes * 0x20)) + kOnes * 0x7F) & kHigh;  // b == 0x20
    uint64_t del = (w + kOnes) & kHigh;                             // b == 0x7F
    if (del != 0 || below_bang != spaces || (spaces & (spaces << 8)) != 0 ||
        (last_space_ && (spaces & 0x80) != 0)) {
      return false;
    }
    uint64_t upper = (w + kOnes * (0x80 - 'A')) & ~(w + kOnes * (0x80 - 'Z' - 1)) & kHigh;
    w |= upper >> 2;  // 0x80 >> 2 == 'a' - 'A'
    std::memcpy(o_, &w, 8);
    o_ += 8;
    last_space_ = (spaces >> 63) != 0;
    return true;
  }
  void space() {
    *o_ = ' ';
    o_ += !last_space_;
    last_space_ = true;
  }
  void put(char c) {
    *o_++ = c;
    last_space_ = false;
  }
  void put(const unsigned char* bytes, size_t n) {
    for (size_t k = 0; k < n; ++k) *o_++ = static_cast<char>(bytes[k]);
    last_space_ = false;
  }
  void put3(const unsigned char* bytes) {  // a CJK character: a fixed-size copy
    std::memcpy(o_, bytes, 3);
    o_ += 3;
    last_space_ = false;
  }
  // The length written, without a trailing space.
  size_t size() const {
    return static_cast<size_t>(o_ - begin_) - (o_ != begin_ && last_space_ ? 1 : 0);
  }

 private:
  char* begin_;
  char* o_;
  bool last_space_ = true;  // drops leading spaces
};

void normalise_ascii(std::string_view text, std::string& out) {
  out.resize(text.size());  // lower-casing and collapsing never lengthen ASCII
  Sink sink(out.data());
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if (sink.ascii8(word)) continue;
    for (size_t k = i; k < i + 8; ++k) sink.ascii(static_cast<unsigned char>(text[k]));
  }
  for (; i < text.size(); ++i) sink.ascii(static_cast<unsigned char>(text[i]));
  out.resize(sink.size());
}

// Decodes a well-formed UTF-8 sequence at p (at most left bytes); returns its length, or 0
// for anything malformed, overlong, a surrogate or beyond U+10FFFF.
inline size_t decode_utf8(const unsigned char* p, size_t left, int32_t& cp) {
  unsigned char b = p[0];
  size_t len = b < 0xC2 ? 0 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF5 ? 4 : 0;
  if (len == 0 || len > left) return 0;
  cp = b & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  static constexpr int32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Code points whose NFKC + case fold is themselves and that never compose with a neighbour:
// CJK unified ideographs and kana (the bulk of Chinese and Japanese text).
bool is_stable(utf8proc_int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA);
}

// ASCII, CJK and the punctuation around them, without utf8proc: same result as the general
// path for such text (full-width forms U+FF01..FF5E are NFKC-equivalent to ASCII). Returns
// false, with out in an unspecified state, when the text holds anything else.
bool normalise_common(std::string_view text, std::string& out) {
  out.resize(text.size());  // every fold here maps a character to one no longer than itself
  Sink sink(out.data());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    if (*p < 0x80) {
      uint64_t word = 0;
      if (end - p >= 8) std::memcpy(&word, p, 8);
      if (end - p >= 8 && (word & 0x8080808080808080ULL) == 0 && sink.ascii8(word)) {
        p += 8;
      } else {
        sink.ascii(*p++);
      }
      continue;
    }
    int32_t cp = 0;
    size_t len = 0;
    if ((*p & 0xF0) == 0xE0 && end - p >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
      // Three bytes, the whole of CJK: decoded inline (stable code points are never overlong
      // or surrogates, and the other folds check their own ranges).
      cp = ((*p & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
      len = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
    } else {
      len = decode_utf8(p, static_cast<size_t>(end - p), cp);
    }
    if (len == 0) return false;
    if (is_stable(cp)) {
      if (len == 3) sink.put3(p);
      else sink.put(p, len);
    } else if (cp == 0x3000) {
      sink.space();
    } else if (cp >= 0xFF01 && cp <= 0xFF5E) {
      sink.put(kAsciiFold[static_cast<size_t>(cp - 0xFEE0)]);
    } else if (char folded = fold_punctuation(cp); folded != 0) {
      sink.put(folded);
    } else {
      return false;
    }
    p += len;
  }
  out.resize(sink.size());
  return true;
}

}  // namespace

std::string normalise(std::string_view text) {
  std::string out;
  normalise(text, out);
  return out;
}

void normalise(std::string_view text, std::string& out) {
  if (is_ascii(text)) return normalise_ascii(text, out);
  if (normalise_common(text, out)) return;

  std::string repaired = repair_utf8(text);
  utf8proc_uint8_t* mapped = nullptr;
  const auto options = static_cast<utf8proc_option_t>(
      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
      UTF8PROC_IGNORE);
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(repaired.data()),
                   static_cast<utf8proc_ssize_t>(repaired.size()), &mapped, options);
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped, &std::free);
  // After repair only allocation failure remains; fall back to the repaired text unmapped.
  std::string_view source = n < 0 ? std::string_view(repaired)
                                  : std::string_view(reinterpret_cast<const char*>(mapped),
                                                     static_cast<size_t>(n));
  Collapser sink(out, source.size());  // folds only shorten: the bound holds
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(source.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(source.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t len = utf8proc_iterate(p, left, &cp);
    if (len <= 0) len = 1;  // cannot happen after repair; never loop forever
    if (cp >= 0 && is_space(cp)) {
      sink.space();
    } else if (char folded = cp >= 0x80 ? fold_punctuation(cp) : 0; folded != 0) {
      sink.put(folded);
    } else if (cp >= 'A' && cp <= 'Z') {
      sink.put(static_cast<char>(cp + ('a' - 'A')));  // only reached when mapping failed
    } else {
      sink.put(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
    }
    p += len;
    left -= len;
  }
  sink.finish();
}

}  // namespace dw::analysis
