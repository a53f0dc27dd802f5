#include "drift/measures.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace dw::drift {
namespace {

// Baseline answers kept for the similarity spread: enough for a stable 10th percentile,
// few enough that the pairwise comparison stays cheap (at most 30 x 30 answers on 3 samples).
constexpr size_t kSimilarityRuns = 10;

double share(const Counts& c, size_t column) {
  long n = 0;
  for (long v : c) n += v;
  return n == 0 ? 0 : static_cast<double>(c[column]) / static_cast<double>(n);
}

long total(const Counts& c) {
  long n = 0;
  for (long v : c) n += v;
  return n;
}

// Mean coverage over the coverage columns, counting partial as one half.
double mean_coverage(const Counts& c) {
  long n = total(c);
  return n == 0 ? 0 : (c[0] + 0.5 * c[1]) / static_cast<double>(n);
}

}  // namespace

std::string_view measure_name(Measure m) {
  switch (m) {
    case Measure::verdicts: return "verdicts";
    case Measure::narrative: return "narrative";
    case Measure::coverage: return "expect_coverage";
    case Measure::similarity: return "similarity";
  }
  return "";
}

Counts counts(Measure m, CellSpan cells) {
  Counts out(m == Measure::verdicts ? 4 : m == Measure::coverage ? 3 : 2, 0);
  for (const Cell* c : cells) {
    switch (m) {
      case Measure::verdicts:
        for (size_t i = 0; i < 4; ++i) out[i] += c->verdicts[i];
        break;
      case Measure::narrative:
        out[0] += c->narrative;
        out[1] += c->evidence() - c->narrative;
        break;
      case Measure::coverage:
        for (size_t i = 0; i < 3; ++i) out[i] += c->coverage[i];
        break;
      case Measure::similarity: break;
    }
  }
  return out;
}

std::vector<Signature> answers(CellSpan cells) {
  std::vector<Signature> out;
  for (const Cell* c : cells) {
    const auto held = c->answered.get();
    out.insert(out.end(), held.begin(), held.end());
  }
  return out;
}

namespace {

constexpr int kSlots = std::tuple_size_v<Signature>;

// Similarities are counted in slots (equal_slots, 0 to kSlots) and divided at the end: the
// sums of k / kSlots are exact in a double, so the figures are those of summing similarity()
// (bit for bit), at a fraction of the cost.
double in_slots(int64_t slots) { return static_cast<double>(slots) / kSlots; }

// The baseline of answers given as groups of identical ones: group g holds mult[g] answers
// (identical signatures agree in every slot), slots(g, h) the equal slots of groups g != h.
// Grouped, a pair's repeated answers (canned refusals above all) are compared once; answers
// one to a group give the plain pairwise figures. Sums are of whole slots, so the figures do
// not depend on the grouping.
template <typename Slots>
std::optional<SimilarityBaseline> baseline_from(std::span<const size_t> mult,
                                                std::vector<int64_t> runs, int min_samples,
                                                Slots slots) {
  size_t n = 0;
  for (size_t m : mult) n += m;
  if (n < 2 || n < static_cast<size_t>(min_samples)) return std::nullopt;
  SimilarityBaseline b;
  b.answers = n;
  b.runs = std::move(runs);
  const size_t groups = mult.size();
  std::vector<uint8_t> loo(groups, 0);  // each group's equal slots with its nearest other answer
  int64_t sum = 0;
  for (size_t g = 0; g < groups; ++g) {
    const auto m = static_cast<int64_t>(mult[g]);
    if (m > 1) {  // its answers' nearest others are each other
      loo[g] = kSlots;
      sum += m * (m - 1) / 2 * kSlots;
    }
    for (size_t h = g + 1; h < groups; ++h) {
      const uint8_t s = static_cast<uint8_t>(slots(g, h));
      loo[g] = std::max(loo[g], s);
      loo[h] = std::max(loo[h], s);
      sum += m * static_cast<int64_t>(mult[h]) * s;
    }
  }
  b.mean = in_slots(sum) / (static_cast<double>(n) * static_cast<double>(n - 1) / 2);
  // The (n / 10)th smallest of the answers' nearest similarities, and how many are below it,
  // from a count of each value.
  std::array<size_t, kSlots + 1> count{};
  for (size_t g = 0; g < groups; ++g) count[loo[g]] += mult[g];
  size_t below = 0;
  int threshold = 0;
  while (below + count[threshold] <= n / 10) below += count[threshold++];
  b.threshold = in_slots(threshold);
  b.far = static_cast<long>(below);
  return b;
}

// measure_recent of `recent` answers against the baseline's groups (as baseline_from's), with
// slots(k, g) the equal slots of recent answer k and the answers of group g.
template <typename Slots>
SimilarityRecent recent_from(std::span<const size_t> base, double threshold, size_t recent,
                             Slots slots) {
  SimilarityRecent r;
  size_t answers = 0;
  for (size_t m : base) answers += m;
  double sum = 0;
  for (size_t k = 0; k < recent; ++k) {
    int64_t total = 0;
    int nearest = 0;
    for (size_t g = 0; g < base.size(); ++g) {
      const int x = slots(k, g);
      total += static_cast<int64_t>(base[g]) * x;
      nearest = std::max(nearest, x);
    }
    sum += in_slots(total) / static_cast<double>(answers);
    (in_slots(nearest) < threshold ? r.far : r.near) += 1;
  }
  r.mean = recent == 0 ? 0 : sum / static_cast<double>(recent);
  return r;
}

// A window's similarity baseline cells: its last kSimilarityRuns cells with texts.
Cells similarity_cells(CellSpan base) {
  Cells used;
  used.reserve(kSimilarityRuns);
  for (auto it = base.rbegin(); it != base.rend() && used.size() < kSimilarityRuns; ++it) {
    if ((*it)->texts) used.push_back(*it);
  }
  std::reverse(used.begin(), used.end());
  return used;
}

std::vector<int64_t> run_ids(CellSpan cells) {
  std::vector<int64_t> runs;
  for (const Cell* c : cells) runs.push_back(c->run.id);
  return runs;
}

// The similarities among the answers of a pair's last cells with texts, each computed once:
// best_window's windows share most of their baselines and all of their recent answers, and
// recomputing them was a third of a detection. The same numbers, so the same decisions. All
// are computed at once, in one tight loop: the windows use nearly all of them, and computing
// each on first use cost as much again in branches and lookups. Identical answers (one a
// model gives word for word) share one row of the table: a pair that repeats a few answers
// compares those few, not every answer with every other.
class SimilarityMemo {
 public:
  // Past this many distinct answers (many samples a run) the table would cost more memory
  // than the work it saves: best_window then compares without one.
  static constexpr size_t kMostKinds = 512;

  // Holds the answers of the last `cells` cells of eligible that have texts.
  SimilarityMemo(const Cells& eligible, size_t cells) {
    size_t from = eligible.size();
    for (size_t held = 0; from > 0 && held < cells;) {
      if (eligible[--from]->texts) ++held;
    }
    for (size_t i = from; i < eligible.size(); ++i) {
      if (!eligible[i]->texts) continue;
      const auto held = eligible[i]->answered.get();  // empty when it could not be read
      first_.push_back({eligible[i], kind_.size(), held.size()});
      for (const Signature& a : held) {
        kind_.push_back(kind_of(a));
        if (kinds_.size() > kMostKinds) return;  // unusable
      }
    }
    const size_t d = kinds_.size();
    matrix_.assign(d * d, static_cast<uint8_t>(kSlots));
    for (size_t i = 0; i < d; ++i) {
      for (size_t j = i + 1; j < d; ++j) {
        matrix_[i * d + j] = matrix_[j * d + i] =
            static_cast<uint8_t>(equal_slots(*kinds_[i], *kinds_[j]));
      }
    }
    group_of_.assign(d, kNone);
    usable_ = true;
  }

  // Whether it holds the table (see kMostKinds).
  bool usable() const { return usable_; }

  // Where the answers of cells are, [first, end): those of consecutive held cells are
  // consecutive. nullopt when a cell is not held or they are not consecutive.
  std::optional<std::pair<size_t, size_t>> range(CellSpan cells) const {
    if (cells.empty()) return std::pair<size_t, size_t>{0, 0};
    size_t first = 0, end = 0;
    for (size_t i = 0; i < cells.size(); ++i) {
      auto f = std::find_if(first_.begin(), first_.end(),
                            [&](const Held& held) { return held.cell == cells[i]; });
      if (f == first_.end() || (i > 0 && f->first != end)) return std::nullopt;
      if (i == 0) first = f->first;
      end = f->first + f->answers;
    }
    return std::pair<size_t, size_t>{first, end};
  }

  // Answers [first, end) as groups of identical ones, for baseline_from: the kind of each
  // group into kinds, its answers into mult.
  void group(size_t first, size_t end, std::vector<uint32_t>& kinds, std::vector<size_t>& mult) {
    kinds.clear();
    mult.clear();
    for (size_t i = first; i < end; ++i) {
      uint32_t& g = group_of_[kind_[i]];
      if (g == kNone) {
        g = static_cast<uint32_t>(kinds.size());
        kinds.push_back(kind_[i]);
        mult.push_back(0);
      }
      ++mult[g];
    }
    for (uint32_t k : kinds) group_of_[k] = kNone;
  }

  // The kind of answer i, and the equal slots of the answers of two kinds.
  uint32_t kind(size_t i) const { return kind_[i]; }
  int between(uint32_t a, uint32_t b) const { return matrix_[a * kinds_.size() + b]; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The kind of signature a, a new one when no earlier answer had it. A scan, not a hash
  // table: a pair's last 13 runs hold a few dozen answers at the usual samples a run (at most
  // kMostKinds kinds are scanned), and two signatures nearly always differ in their first slots.
  uint32_t kind_of(const Signature& a) {
    uint64_t head = 0;
    std::memcpy(&head, a.data(), sizeof head);
    for (size_t k = 0; k < kinds_.size(); ++k) {
      if (heads_[k] == head && *kinds_[k] == a) return static_cast<uint32_t>(k);
    }
    kinds_.push_back(&a);
    heads_.push_back(head);
    return static_cast<uint32_t>(kinds_.size() - 1);
  }
  // The held cells, in eligible's order, with the index of each one's first answer.
  struct Held {
    const Cell* cell;
    size_t first, answers;
  };
  std::vector<Held> first_;
  std::vector<uint32_t> kind_;            // each answer's kind: its index in kinds_
  std::vector<const Signature*> kinds_;   // the distinct signatures, in order of appearance
  std::vector<uint64_t> heads_;           // the first four slots of each
  static_assert(kSlots <= UINT8_MAX);
  std::vector<uint8_t> matrix_;  // kinds_ x kinds_: the slots where they agree
  std::vector<uint32_t> group_of_;  // group()'s scratch: a kind's group, or kNone
  bool usable_ = false;
};

}  // namespace

std::optional<SimilarityBaseline> similarity_baseline(const std::vector<Signature>& answers,
                                                      std::vector<int64_t> runs,
                                                      int min_samples) {
  const std::vector<size_t> each(answers.size(), 1);
  return baseline_from(each, std::move(runs), min_samples,
                       [&](size_t i, size_t j) { return equal_slots(answers[i], answers[j]); });
}

SimilarityRecent measure_recent(const std::vector<Signature>& base, double threshold,
                                const std::vector<Signature>& recent) {
  const std::vector<size_t> each(base.size(), 1);
  return recent_from(each, threshold, recent.size(),
                     [&](size_t k, size_t l) { return equal_slots(recent[k], base[l]); });
}

namespace {

// A comparison's numbers; its cells (base, recent) and its similarity baseline's runs are
// left empty (keep() fills them): most comparisons are not kept, and copying their cells cost
// more than the counting.
std::optional<Finding> measured(Measure m, CellSpan base, CellSpan recent, const Options& options,
                                SimilarityMemo* memo) {
  Finding f;
  f.measure = m;
  if (m == Measure::similarity) {
    for (const Cell* c : recent) {
      if (!c->texts) return std::nullopt;
    }
    Cells used = similarity_cells(base);
    const int least = options.min_baseline_samples;
    // With the memo, answers are read in place: the used cells' answers and the recent ones
    // are each a run of the memo's (consecutive cells with texts).
    auto held = memo ? memo->range(used) : std::nullopt;
    auto held_now = memo ? memo->range(recent) : std::nullopt;
    if (held && held_now) {
      const auto [b0, b1] = *held;
      const auto [r0, r1] = *held_now;
      std::vector<uint32_t> kinds;
      std::vector<size_t> mult;
      memo->group(b0, b1, kinds, mult);
      f.similarity = baseline_from(mult, {}, least, [&](size_t g, size_t h) {
        return memo->between(kinds[g], kinds[h]);
      });
      if (!f.similarity || r1 == r0) return std::nullopt;
      f.similarity_recent =
          recent_from(mult, f.similarity->threshold, r1 - r0, [&](size_t k, size_t g) {
            return memo->between(memo->kind(r0 + k), kinds[g]);
          });
    } else {
      const std::vector<Signature> then = answers(used), now = answers(recent);
      f.similarity = similarity_baseline(then, {}, least);
      if (!f.similarity || now.empty()) return std::nullopt;
      f.similarity_recent = measure_recent(then, f.similarity->threshold, now);
    }
    f.before = {f.similarity->far, static_cast<long>(f.similarity->answers) - f.similarity->far};
    f.after = {f.similarity_recent.far, f.similarity_recent.near};
  } else {
    f.before = counts(m, base);
    f.after = counts(m, recent);
  }
  if (total(f.before) < options.min_baseline_samples || total(f.after) == 0) return std::nullopt;
  f.p = exact_test(f.before, f.after);
  f.effect = total_variation(f.before, f.after);
  return f;
}

// A finding that is kept: with its cells, and the runs of its similarity baseline.
void keep(Finding& f, CellSpan base, CellSpan recent) {
  f.base.assign(base.begin(), base.end());
  f.recent.assign(recent.begin(), recent.end());
  if (f.similarity) f.similarity->runs = run_ids(similarity_cells(base));
}

}  // namespace

std::optional<Finding> compare(Measure m, const Cells& base, const Cells& recent,
                               const Options& options) {
  auto f = measured(m, base, recent, options, nullptr);
  if (f) keep(*f, base, recent);
  return f;
}

bool moves_the_right_way(const Finding& f) {
  switch (f.measure) {
    case Measure::coverage: return mean_coverage(f.after) < mean_coverage(f.before);
    case Measure::similarity: return share(f.after, 0) > share(f.before, 0);
    default: return true;
  }
}

WindowResult best_window(Measure m, const Cells& eligible, Time run_at, const Options& options) {
  WindowResult result;
  std::vector<std::optional<Finding>> by_length(options.recent_runs + 1);
  std::optional<size_t> best;
  std::optional<SimilarityMemo> memo;
  // Every window ends with the last cell: without its texts, no window is measured.
  if (m == Measure::similarity && !eligible.empty() && eligible.back()->texts) {
    memo.emplace(eligible, kSimilarityRuns + static_cast<size_t>(options.recent_runs));
  }
  SimilarityMemo* shared = memo && memo->usable() ? &*memo : nullptr;
  for (size_t len = 1; len <= static_cast<size_t>(options.recent_runs) && len <= eligible.size();
       ++len) {
    size_t start = eligible.size() - len;
    Time start_at = eligible[start]->run.at;
    if (start_at < run_at - options.baseline_window) break;
    // Cells are in run order: the baseline is the eligible cells from start_at - window on.
    const auto base_begin = std::partition_point(
        eligible.begin(), eligible.begin() + static_cast<long>(start),
        [&](const Cell* c) { return c->run.at < start_at - options.baseline_window; });
    const CellSpan base(base_begin, eligible.begin() + static_cast<long>(start));
    const CellSpan recent(eligible.begin() + static_cast<long>(start), eligible.end());
    auto f = measured(m, base, recent, options, shared);
    if (f) result.tested = true;
    if (!f || f->effect < options.min_effect || !moves_the_right_way(*f)) continue;
    keep(*f, base, recent);
    if (!best || f->p < by_length[*best]->p) best = len;
    by_length[len] = std::move(f);
  }
  if (!best) return result;
  // Trim leading runs that did not show the shift themselves.
  size_t len = *best;
  while (len > 1) {
    const Finding& f = *by_length[len];
    auto first = measured(m, f.base, CellSpan(f.recent.data(), 1), options, shared);
    bool shows = first && total_variation(first->before, first->after) >= options.min_effect / 2 &&
                 moves_the_right_way(*first);
    if (shows || !by_length[len - 1]) break;
    --len;
  }
  result.finding = std::move(by_length[len]);
  return result;
}

}  // namespace dw::drift
