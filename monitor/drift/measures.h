// The per-pair measures detection tests (internal to the drift module): what is counted on each
// side of a comparison, and the choice of the recent window. See detector.h for the rules.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "drift/detector.h"
#include "drift/history.h"

namespace dw::drift {

enum class Measure { verdicts, narrative, coverage, similarity };
std::string_view measure_name(Measure m);

using Cells = std::vector<const Cell*>;
using CellSpan = std::span<const Cell* const>;  // a part of Cells, read in place

// The counts a measure compares (not for similarity): verdicts (4 columns), narrative
// (flagged, not flagged), coverage (full, partial, none).
Counts counts(Measure m, CellSpan cells);

// The baseline's own spread of answers: each answer's similarity to its nearest neighbour
// among the others. Nearest, not mean: a model that answers from a few typical phrasings has a
// many-peaked distribution, and a new answer is "as usual" when it is close to any of them.
struct SimilarityBaseline {
  size_t answers = 0;         // baseline answers measured
  std::vector<int64_t> runs;  // the runs they came from
  double threshold = 0;       // 10th percentile of the nearest-neighbour similarities
  long far = 0;               // baseline answers below the threshold
  double mean = 0;            // mean pairwise similarity (reported, not tested)
};
// Needs at least min_samples answers (and two); nullopt otherwise.
std::optional<SimilarityBaseline> similarity_baseline(const std::vector<Signature>& answers,
                                                      std::vector<int64_t> runs,
                                                      int min_samples);
// Recent answers whose nearest baseline answer is below the baseline's threshold are far.
struct SimilarityRecent {
  long far = 0;
  long near = 0;
  double mean = 0;  // mean similarity of the recent answers to the baseline answers
};
// base: the baseline's answers; threshold: its SimilarityBaseline::threshold.
SimilarityRecent measure_recent(const std::vector<Signature>& base, double threshold,
                                const std::vector<Signature>& recent);

// The answered signatures of cells, in order.
std::vector<Signature> answers(CellSpan cells);

// One measure's comparison of a recent window with its baseline.
struct Finding {
  Measure measure = Measure::verdicts;
  double p = 1;  // exact test of the chosen window (not yet multiplied for the windows tried)
  double effect = 0;
  Counts before, after;  // for similarity: (far, near)
  Cells base, recent;
  std::optional<SimilarityBaseline> similarity;
  SimilarityRecent similarity_recent;
};

// Compares one side with another for a measure: nullopt when either side has too little to
// say (min_samples on the baseline, one on the recent side). For similarity the baseline is
// the answers of the base's last 10 cells with texts.
std::optional<Finding> compare(Measure m, const Cells& base, const Cells& recent,
                               const Options& options);

// Whether a finding moves the way its measure's event is about: expect coverage falls, far
// answers become more common; verdicts and narrative count in either direction.
bool moves_the_right_way(const Finding& f);

struct WindowResult {
  bool tested = false;             // some window had enough samples on both sides
  std::optional<Finding> finding;  // the chosen window, when one moved by min_effect
};

// Tries recent windows of the last 1..recent_runs cells of `eligible` (in run order, so by
// non-decreasing run time, as History holds them; it ends with the current run; cells before
// run_at - baseline_window are only baseline), each against the
// eligible cells in the baseline_window before it, and keeps the window with the smallest p
// among those moving in the measure's direction by at least min_effect. Leading cells of the
// window that on their own stay within min_effect / 2 of the baseline are trimmed off, so
// that the window starts at the first run that showed the shift.
WindowResult best_window(Measure m, const Cells& eligible, Time run_at, const Options& options);

}  // namespace dw::drift
