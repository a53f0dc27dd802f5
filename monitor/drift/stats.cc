#include "drift/stats.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

namespace dw::drift {
namespace {

// log(n!), from a table of lgamma's values: the enumeration below takes three of these at every
// step, and lgamma was most of a detection's arithmetic (far more under emulation, where
// floating point is done in software). The table grows to the largest sample total tested
// (na + nb: a pair's samples in a baseline window, thousands at most) and is kept.
double log_factorial(long n) {
  thread_local std::vector<double> table;
  while (static_cast<long>(table.size()) <= n) {
    table.push_back(std::lgamma(static_cast<double>(table.size()) + 1.0));
  }
  return table[static_cast<size_t>(n)];
}

double log_choose(long n, long k) { return log_factorial(n) - log_factorial(k) - log_factorial(n - k); }

// Walks every way of placing `left` samples into columns j.. with x_j <= column[j], summing
// the probability of each complete table whose log probability is at most `threshold`.
struct Enumerator {
  std::span<const long> column;
  std::span<const double> tail_capacity;  // sum of column[j..], to prune placements that cannot fit
  double log_denominator;
  double threshold;
  double total = 0;

  void walk(size_t j, long left, double log_numerator) {
    if (j + 1 == column.size()) {
      if (left > column[j]) return;
      double lp = log_numerator + log_choose(column[j], left) - log_denominator;
      if (lp <= threshold) total += std::exp(lp);
      return;
    }
    long lo = std::max(0L, left - static_cast<long>(tail_capacity[j + 1]));
    long hi = std::min(left, column[j]);
    for (long x = lo; x <= hi; ++x) {
      walk(j + 1, left - x, log_numerator + log_choose(column[j], x));
    }
  }
};

}  // namespace

double exact_test(const Counts& a, const Counts& b) {
  assert(a.size() == b.size());
  long na = std::accumulate(a.begin(), a.end(), 0L);
  long nb = std::accumulate(b.begin(), b.end(), 0L);
  if (na == 0 || nb == 0) return 1.0;
  const Counts& small = na <= nb ? a : b;
  long n_small = std::min(na, nb);

  // Columns that are empty on both sides carry no information; dropping them keeps the
  // enumeration small.
  const size_t k = a.size();
  std::array<long, Counts::kMaxCategories> column_all, observed_all;
  std::array<double, Counts::kMaxCategories> tail_all;
  size_t columns = 0;
  for (size_t j = 0; j < k; ++j) {
    if (a[j] + b[j] == 0) continue;
    column_all[columns] = a[j] + b[j];
    observed_all[columns] = small[j];
    ++columns;
  }
  if (columns < 2) return 1.0;
  const std::span<const long> column = std::span<const long>(column_all).first(columns);

  double log_denominator = log_choose(na + nb, n_small);
  double log_observed = -log_denominator;
  for (size_t j = 0; j < columns; ++j) log_observed += log_choose(column[j], observed_all[j]);

  double capacity = 0;
  for (size_t j = columns; j-- > 0;) {
    capacity += column[j];
    tail_all[j] = capacity;
  }
  Enumerator e{column, std::span<const double>(tail_all).first(columns), log_denominator,
               // Relative tolerance so that tables as likely as the observed one, up to
               // rounding, count as "no more likely".
               log_observed + 1e-7};
  e.walk(0, n_small, 0.0);
  return std::min(1.0, e.total);
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p) {
  size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p[x] < p[y]; });
  std::vector<double> q(m);
  double running = 1.0;
  for (size_t rank = m; rank-- > 0;) {
    size_t i = order[rank];
    running = std::min(running, p[i] * static_cast<double>(m) / static_cast<double>(rank + 1));
    q[i] = std::min(1.0, running);
  }
  return q;
}

double total_variation(const Counts& a, const Counts& b) {
  assert(a.size() == b.size());
  double na = std::accumulate(a.begin(), a.end(), 0.0);
  double nb = std::accumulate(b.begin(), b.end(), 0.0);
  if (na == 0 || nb == 0) return 0.0;
  double sum = 0;
  for (size_t j = 0; j < a.size(); ++j) sum += std::fabs(a[j] / na - b[j] / nb);
  return sum / 2;
}

}  // namespace dw::drift
