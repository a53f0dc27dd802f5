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

// An ASCII byte as rules see it: 0 for whitespace and control characters, else the byte
// lower-cased.
constexpr std::array<char, 128> kAsciiFold = [] {
  std::array<char, 128> table{};
  for (int c = 0; c < 128; ++c) {
    bool space = c <= 0x20 || c == 0x7F;
    table[static_cast<size_t>(c)] =
        space ? '\0' : static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  return table;
}();

std::string normalise_ascii(std::string_view text) {
  std::string out(text.size(), '\0');  // lower-casing and collapsing never lengthen ASCII
  char* const begin = out.data();
  char* o = begin;
  bool pending = false;
  for (unsigned char c : text) {
    char folded = kAsciiFold[c];
    if (folded == '\0') {
      pending = o != begin;
      continue;
    }
    if (pending) *o++ = ' ';
    pending = false;
    *o++ = folded;
  }
  out.resize(static_cast<size_t>(o - begin));
  return out;
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
  char* const begin = out.data();
  char* o = begin;
  bool pending = false;
  auto emit = [&](char c) {
    if (pending) *o++ = ' ';
    pending = false;
    *o++ = c;
  };
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    if (*p < 0x80) {
      if (char folded = kAsciiFold[*p]; folded != '\0') emit(folded);
      else pending = o != begin;
      ++p;
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
      if (pending) *o++ = ' ';
      pending = false;
      for (size_t k = 0; k < len; ++k) *o++ = static_cast<char>(p[k]);
    } else if (cp == 0x3000) {
      pending = o != begin;
    } else if (cp >= 0xFF01 && cp <= 0xFF5E) {
      emit(kAsciiFold[static_cast<size_t>(cp - 0xFEE0)]);
    } else if (char folded = fold_punctuation(cp); folded != 0) {
      emit(folded);
    } else {
      return false;
    }
    p += len;
  }
  out.resize(static_cast<size_t>(o - begin));
  return true;
}

}  // namespace

std::string normalise(std::string_view text) {
  if (is_ascii(text)) return normalise_ascii(text);
  if (std::string out; normalise_common(text, out)) return out;

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
  std::string out;
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
  return out;
}

}  // namespace dw::analysis
