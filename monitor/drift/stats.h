// The statistics behind drift events. Models are not deterministic, so driftwatch never
// compares one answer with one answer: it compares the distribution of a probe's recent
// samples with its own baseline, tests whether the difference is beyond chance, corrects for
// the number of probe x endpoint pairs tested, and demands a meaningful effect size as well.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <vector>

namespace dw::drift {

// Counts per category (verdicts, or flagged / not flagged) for one side of a comparison: a
// few numbers, held in place. A detection compares tens of thousands of them, and a vector
// each was a third of its allocations.
class Counts {
 public:
  static constexpr size_t kMaxCategories = 12;

  Counts() = default;
  // More than kMaxCategories is a programming error: asserted, and never written past the
  // array in a release build (the rest are dropped).
  Counts(size_t n, long value) : size_(std::min(n, kMaxCategories)) {
    assert(n <= kMaxCategories);
    std::fill_n(values_.begin(), size_, value);
  }
  Counts(std::initializer_list<long> values) : Counts(values.begin(), values.end()) {}
  template <std::input_iterator It>
  Counts(It first, It last) {
    for (; first != last && size_ < kMaxCategories; ++first) values_[size_++] = *first;
    assert(first == last);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  long& operator[](size_t i) { return values_[i]; }
  long operator[](size_t i) const { return values_[i]; }
  long* begin() { return values_.data(); }
  long* end() { return values_.data() + size_; }
  const long* begin() const { return values_.data(); }
  const long* end() const { return values_.data() + size_; }
  friend bool operator==(const Counts& a, const Counts& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  std::array<long, kMaxCategories> values_{};
  size_t size_ = 0;
};

// Exact test of independence for a 2 x k table (rows: baseline, recent; columns: categories),
// the Freeman-Halton extension of Fisher's exact test: conditional on the margins, the p-value
// is the total probability of every table no more likely than the observed one. For k = 2 it
// is Fisher's two-sided exact test. Exact enumeration runs over the smaller row; rows of up to
// a few hundred samples over five categories are cheap. Returns 1 when either row is empty.
// Requires a.size() == b.size().
double exact_test(const Counts& a, const Counts& b);

// Benjamini-Hochberg adjusted p-values (q-values), in the input's order: reject where
// q <= alpha to keep the expected false discovery rate at alpha across all tests of a run.
std::vector<double> benjamini_hochberg(const std::vector<double>& p);

// Total variation distance between the two rows' shares: half the L1 distance, in [0, 1].
// 0.3 means 30% of the probability mass moved between categories. 0 when either row is empty.
double total_variation(const Counts& a, const Counts& b);

}  // namespace dw::drift
