#include "drift/minhash.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace dw::drift {
namespace {

constexpr size_t kShingle = 5;

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Where an empty slot borrows from: the slot's own fixed sequence of other slots, the same
// for every text, so two texts that both lack slot i look at the same slots in the same order
// (densification; Shrivastava, "Optimal densification for fast and accurate minwise hashing",
// 2017). Fixed: signatures are stored and compared across runs and builds.
constexpr size_t borrow_from(size_t slot, uint64_t attempt) {
  return splitmix64(0x5851f42d4c957f2dULL * (slot + 1) + attempt) %
         std::tuple_size_v<Signature>;
}

// Code points of valid UTF-8 (normalise() guarantees it); a stray byte counts as itself.
std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    if (i + len > s.size()) len = 1;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    out.push_back(cp);
    i += len;
  }
  return out;
}

}  // namespace

Signature signature(std::string_view normalised) {
  std::array<uint32_t, std::tuple_size_v<Signature>> mins;
  mins.fill(std::numeric_limits<uint32_t>::max());
  std::vector<uint32_t> cps = code_points(normalised);
  size_t count = cps.size() < kShingle ? 1 : cps.size() - kShingle + 1;
  // One permutation for all slots: a shingle's mixed hash picks its slot by its top bits and
  // competes there with its low 32 bits. One hash per shingle where a hash per slot per
  // shingle (classic MinHash) cost 64: an answer's signature was a tenth of an import's CPU
  // and 15 ms of each detection's. As close to the sets' Jaccard similarity on 100-300 word
  // answers (tests/drift_test.cc measures it). A repeated shingle changes nothing.
  constexpr int kSlotBits = std::countr_zero(std::tuple_size_v<Signature>);
  static_assert(std::has_single_bit(std::tuple_size_v<Signature>));
  std::array<bool, std::tuple_size_v<Signature>> filled{};
  for (size_t i = 0; i < count; ++i) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the shingle's code points
    for (size_t k = i; k < std::min(cps.size(), i + kShingle); ++k) {
      h = (h ^ cps[k]) * 0x100000001b3ULL;
    }
    const uint64_t x = splitmix64(h);
    const size_t slot = x >> (64 - kSlotBits);
    mins[slot] = std::min(mins[slot], static_cast<uint32_t>(x));
    filled[slot] = true;
  }
  // A short text leaves slots empty; each takes the minimum of the first filled slot of its
  // sequence (one always is: every text has at least one shingle).
  std::array<uint32_t, std::tuple_size_v<Signature>> dense = mins;
  for (size_t slot = 0; slot < mins.size(); ++slot) {
    for (uint64_t attempt = 0; !filled[slot]; ++attempt) {
      size_t from = borrow_from(slot, attempt);
      if (filled[from]) {
        dense[slot] = mins[from];
        break;
      }
    }
  }
  Signature sig;
  for (size_t slot = 0; slot < sig.size(); ++slot) sig[slot] = static_cast<uint16_t>(dense[slot]);
  return sig;
}

int equal_slots(const Signature& a, const Signature& b) {
  // Eight slots an instruction (SSE2 on x86-64, NEON on the Pi), counted in 16-bit lanes (at
  // most 8 each) and unrolled: detection calls this hundreds of thousands of times a run, and
  // the loop the compiler made of the plain version cost twice the instructions.
  static_assert(std::is_same_v<Signature::value_type, uint16_t>);
  using Lanes = uint16_t __attribute__((vector_size(16)));
  constexpr size_t kLanes = sizeof(Lanes) / sizeof(uint16_t);
  static_assert(std::tuple_size_v<Signature> % kLanes == 0);
  Lanes same{};
#pragma GCC unroll 8
  for (size_t i = 0; i < a.size(); i += kLanes) {
    Lanes x, y;
    std::memcpy(&x, a.data() + i, sizeof x);
    std::memcpy(&y, b.data() + i, sizeof y);
    same -= reinterpret_cast<Lanes>(x == y);  // an equal lane is all ones: -1
  }
  uint16_t n = 0;
  for (size_t k = 0; k < kLanes; ++k) n = static_cast<uint16_t>(n + same[k]);
  return n;
}

double similarity(const Signature& a, const Signature& b) {
  return static_cast<double>(equal_slots(a, b)) / static_cast<double>(a.size());
}

}  // namespace dw::drift
