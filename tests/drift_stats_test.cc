#include <doctest/doctest.h>

#include "drift/stats.h"

namespace drift_stats_test {

using namespace dw::drift;

TEST_CASE("exact_test equals Fisher's two-sided test on 2x2 tables") {
  // Reference values: the classic published examples, and for the others a brute-force sum
  // over every table with the same margins (an independent implementation).
  struct Case {
    Counts a, b;
    double p;
  };
  Case cases[] = {
      {{3, 1}, {1, 3}, 0.4857142857},     // the lady tasting tea
      {{10, 0}, {0, 10}, 1.082509e-05},
      {{12, 5}, {2, 9}, 0.0183066},
      {{1, 9}, {11, 3}, 0.002759456},
      {{5, 5}, {5, 5}, 1.0},
  };
  for (const auto& c : cases) {
    CHECK(exact_test(c.a, c.b) == doctest::Approx(c.p).epsilon(1e-3));
    CHECK(exact_test(c.b, c.a) == doctest::Approx(c.p).epsilon(1e-3));  // symmetric in rows
  }
}

TEST_CASE("exact_test on 2xk tables matches Freeman-Halton reference values") {
  // Brute-force reference; the all-zero column is ignored.
  CHECK(exact_test({20, 2, 1, 0}, {1, 4, 1, 0}) == doctest::Approx(0.00253463).epsilon(1e-4));
  // Only the observed table is this extreme: 1 / C(33, 3).
  CHECK(exact_test({30, 0, 0}, {0, 3, 0}) == doctest::Approx(1.0 / 5456).epsilon(1e-6));
}

TEST_CASE("exact_test: empty columns change nothing, in tables of up to 12 categories") {
  // Up to Counts::kMaxCategories: each gives the p of the same table without its empty
  // columns.
  const double p = exact_test({20, 2, 1}, {1, 4, 1});
  CHECK(p == doctest::Approx(0.00253463).epsilon(1e-4));
  CHECK(exact_test({20, 0, 2, 0, 0, 1, 0, 0}, {1, 0, 4, 0, 0, 1, 0, 0}) == p);
  CHECK(exact_test({0, 20, 0, 2, 0, 0, 1, 0, 0, 0, 0}, {0, 1, 0, 4, 0, 0, 1, 0, 0, 0, 0}) == p);
  // Nine non-empty categories, more than any measure has: the same in another order.
  const Counts a{3, 1, 4, 1, 5, 2, 6, 5, 3}, b{2, 7, 1, 8, 2, 8, 1, 8, 2};
  const Counts ra(std::make_reverse_iterator(a.end()), std::make_reverse_iterator(a.begin()));
  const Counts rb(std::make_reverse_iterator(b.end()), std::make_reverse_iterator(b.begin()));
  const double nine = exact_test(a, b);
  CHECK(nine > 0);
  CHECK(nine < 0.01);
  CHECK(exact_test(ra, rb) == doctest::Approx(nine).epsilon(1e-9));
}

TEST_CASE("exact_test gives no evidence from empty rows or a single category") {
  CHECK(exact_test({0, 0}, {3, 4}) == 1.0);
  CHECK(exact_test({9, 0, 0}, {3, 0, 0}) == 1.0);
}

TEST_CASE("a stable 15% refusal rate is not evidence of drift") {
  // 60 baseline samples at 15% refused, then 3 recent samples of which 1 refused.
  CHECK(exact_test({51, 9}, {2, 1}) > 0.3);
  // A full switch of 3 recent samples against a clean 60-sample baseline is strong evidence.
  CHECK(exact_test({60, 0}, {0, 3}) < 1e-4);
}

TEST_CASE("benjamini_hochberg adjusts in input order and is monotone in p") {
  // p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
  auto q = benjamini_hochberg({0.01, 0.04, 0.03, 0.005});
  REQUIRE(q.size() == 4);
  CHECK(q[0] == doctest::Approx(0.02));
  CHECK(q[1] == doctest::Approx(0.04));
  CHECK(q[2] == doctest::Approx(0.04));
  CHECK(q[3] == doctest::Approx(0.02));
  CHECK(benjamini_hochberg({}).empty());
  CHECK(benjamini_hochberg({0.9, 0.8})[0] == doctest::Approx(0.9));
}

TEST_CASE("total_variation measures how much of the distribution moved") {
  CHECK(total_variation({10, 0}, {0, 5}) == doctest::Approx(1.0));
  CHECK(total_variation({5, 5}, {1, 1}) == doctest::Approx(0.0));
  CHECK(total_variation({6, 4, 0}, {3, 3, 4}) == doctest::Approx(0.4));
  CHECK(total_variation({0, 0}, {1, 2}) == 0.0);
}

}  // namespace drift_stats_test
