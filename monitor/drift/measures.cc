#include "drift/measures.h"

#include <algorithm>
#include <cmath>

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

Counts counts(Measure m, const Cells& cells) {
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

std::vector<Signature> answers(const Cells& cells) {
  std::vector<Signature> out;
  for (const Cell* c : cells) out.insert(out.end(), c->answered.begin(), c->answered.end());
  return out;
}

std::optional<SimilarityBaseline> similarity_baseline(std::vector<Signature> answers,
                                                      std::vector<int64_t> runs,
                                                      int min_samples) {
  size_t n = answers.size();
  if (n < 2 || n < static_cast<size_t>(min_samples)) return std::nullopt;
  SimilarityBaseline b;
  b.answers = std::move(answers);
  b.runs = std::move(runs);
  std::vector<double> loo(n, 0);  // each answer's similarity to its nearest other answer
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      double s = similarity(b.answers[i], b.answers[j]);
      loo[i] = std::max(loo[i], s);
      loo[j] = std::max(loo[j], s);
      sum += s;
    }
  }
  b.mean = sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2);
  std::vector<double> sorted = loo;
  std::sort(sorted.begin(), sorted.end());
  b.threshold = sorted[n / 10];
  b.far = std::count_if(loo.begin(), loo.end(), [&](double v) { return v < b.threshold; });
  return b;
}

std::optional<SimilarityBaseline> similarity_baseline(const Cells& base, int min_samples) {
  Cells used;
  for (auto it = base.rbegin(); it != base.rend() && used.size() < kSimilarityRuns; ++it) {
    if ((*it)->texts) used.insert(used.begin(), *it);
  }
  std::vector<int64_t> runs;
  for (const Cell* c : used) runs.push_back(c->run.id);
  return similarity_baseline(answers(used), std::move(runs), min_samples);
}

SimilarityRecent measure_recent(const SimilarityBaseline& base,
                                const std::vector<Signature>& recent) {
  SimilarityRecent r;
  double sum = 0;
  for (const Signature& s : recent) {
    double mean = 0, nearest = 0;
    for (const Signature& b : base.answers) {
      double x = similarity(s, b);
      mean += x;
      nearest = std::max(nearest, x);
    }
    sum += mean / static_cast<double>(base.answers.size());
    (nearest < base.threshold ? r.far : r.near) += 1;
  }
  r.mean = recent.empty() ? 0 : sum / static_cast<double>(recent.size());
  return r;
}

std::optional<Finding> compare(Measure m, const Cells& base, const Cells& recent,
                               const Options& options) {
  Finding f;
  f.measure = m;
  f.base = base;
  f.recent = recent;
  if (m == Measure::similarity) {
    for (const Cell* c : recent) {
      if (!c->texts) return std::nullopt;
    }
    f.similarity = similarity_baseline(base, options.min_baseline_samples);
    std::vector<Signature> now = answers(recent);
    if (!f.similarity || now.empty()) return std::nullopt;
    f.similarity_recent = measure_recent(*f.similarity, now);
    f.before = {f.similarity->far, static_cast<long>(f.similarity->answers.size()) - f.similarity->far};
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
  for (size_t len = 1; len <= static_cast<size_t>(options.recent_runs) && len <= eligible.size();
       ++len) {
    size_t start = eligible.size() - len;
    Time start_at = eligible[start]->run.at;
    if (start_at < run_at - options.baseline_window) break;
    Cells recent(eligible.begin() + static_cast<long>(start), eligible.end());
    Cells base;
    for (size_t i = 0; i < start; ++i) {
      if (eligible[i]->run.at >= start_at - options.baseline_window) base.push_back(eligible[i]);
    }
    auto f = compare(m, base, recent, options);
    if (f) result.tested = true;
    if (!f || f->effect < options.min_effect || !moves_the_right_way(*f)) continue;
    if (!best || f->p < by_length[*best]->p) best = len;
    by_length[len] = std::move(f);
  }
  if (!best) return result;
  // Trim leading runs that did not show the shift themselves.
  size_t len = *best;
  while (len > 1) {
    const Finding& f = *by_length[len];
    auto first = compare(m, f.base, Cells{f.recent.front()}, options);
    bool shows = first && total_variation(first->before, first->after) >= options.min_effect / 2 &&
                 moves_the_right_way(*first);
    if (shows || !by_length[len - 1]) break;
    --len;
  }
  result.finding = std::move(by_length[len]);
  return result;
}

}  // namespace dw::drift
