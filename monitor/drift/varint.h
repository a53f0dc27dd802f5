// The bytes of run summaries (run_cells.h): unsigned LEB128 varints, ids as zigzag deltas from
// the previous id written, names as length + bytes. Internal to the drift module.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dw::drift::varint {

// Counts above this are not from a run: a damaged blob, refused before it allocates.
inline constexpr uint64_t kMaxCount = uint64_t{1} << 31;

// --- writing -------------------------------------------------------------------------------

inline void put(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

inline void put_id(std::string& out, int64_t& prev, int64_t id) {
  // Zigzag: ids of one run are close together but not always ascending.
  int64_t d = id - prev;
  put(out, (static_cast<uint64_t>(d) << 1) ^ static_cast<uint64_t>(d >> 63));
  prev = id;
}

inline void put_ids(std::string& out, int64_t& prev, std::span<const int64_t> ids) {
  for (int64_t id : ids) put_id(out, prev, id);
}

inline void put_counts(std::string& out, const std::map<std::string, long>& counts) {
  put(out, counts.size());
  for (const auto& [name, n] : counts) {
    put(out, name.size());
    out += name;
    put(out, static_cast<uint64_t>(n));
  }
}

// An integer sum (every coverage full or none) in a byte, any other exactly in eight.
inline void put_sum(std::string& out, double sum) {
  if (sum >= 0 && sum < 0x1p52 && sum == std::floor(sum) && !std::signbit(sum)) {
    put(out, static_cast<uint64_t>(sum) << 1);
    return;
  }
  put(out, 1);
  uint64_t bits = std::bit_cast<uint64_t>(sum);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
}

// --- reading -------------------------------------------------------------------------------

class Reader {
 public:
  explicit Reader(std::string_view bytes) : b_(bytes) {}

  // varint, count, id and ids are inlined even where the compiler would rather call them: a
  // detection reads hundreds of thousands of values (the cells of a hundred runs).
  [[gnu::always_inline]] bool varint(uint64_t& v) {
    // Most values (counts, id deltas) fit one byte: a detection reads hundreds of thousands.
    if (pos_ < b_.size() && (static_cast<uint8_t>(b_[pos_]) & 0x80) == 0) {
      v = static_cast<uint8_t>(b_[pos_++]);
      return true;
    }
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == b_.size()) return false;
      auto byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  [[gnu::always_inline]] bool count(long& n) {
    uint64_t v = 0;
    if (!varint(v) || v >= kMaxCount) return false;
    n = static_cast<long>(v);
    return true;
  }
  [[gnu::always_inline]] bool id(int64_t& prev, int64_t& out) {
    uint64_t z = 0;
    if (!varint(z)) return false;
    auto d = static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
    // Wrapping arithmetic: a damaged blob must not overflow (undefined), only fail below.
    out = static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(d));
    prev = out;
    return out > 0;
  }
  // n ids into out, which must have room for them (SampleIds: at most kMaxCellIds).
  template <typename Ids>
  [[gnu::always_inline]] bool ids(int64_t& prev, size_t n, Ids& out) {
    out.resize(n);
    if (out.size() != n) return false;
    for (int64_t& v : out) {
      if (!id(prev, v)) return false;
    }
    return true;
  }
  // n ids passed over, checked as ids() checks them.
  bool skip_ids(int64_t& prev, size_t n) {
    int64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!id(prev, v)) return false;
    }
    return true;
  }
  bool counts(std::map<std::string, long>& out) {
    long n = 0;
    if (!count(n)) return false;
    for (long i = 0; i < n; ++i) {
      long size = 0, times = 0;
      if (!count(size) || static_cast<size_t>(size) > b_.size() - pos_) return false;
      std::string name(b_.substr(pos_, static_cast<size_t>(size)));
      pos_ += static_cast<size_t>(size);
      if (!count(times) || times == 0 || name.empty()) return false;
      if (!out.emplace(std::move(name), times).second) return false;
    }
    return true;
  }
  bool sum(double& out) {
    uint64_t tag = 0;
    if (!varint(tag)) return false;
    if ((tag & 1) == 0) {
      out = static_cast<double>(tag >> 1);
      return true;
    }
    if (tag != 1 || b_.size() - pos_ < 8) return false;
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(b_[pos_++])) << (8 * i);
    out = std::bit_cast<double>(bits);
    return std::isfinite(out);
  }
  bool byte(uint8_t& out) {
    if (pos_ == b_.size()) return false;
    out = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  // n bytes as they are (a view into the bytes being read).
  bool raw(size_t n, std::string_view& out) {
    if (b_.size() - pos_ < n) return false;
    out = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == b_.size(); }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

}  // namespace dw::drift::varint
