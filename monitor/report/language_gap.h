// The language gap: does a model answer a question in English that it deflects in Chinese?
// Reports compare, per endpoint and category, the answered share of the same questions asked
// in both languages, in the period and in the baseline.
//
//   LanguageGapTally gaps(report.baseline_since, report.since);
//   store.for_each_sample(filter, [&](const store::SampleRow& row) { gaps.add(row); ... });
//   report.language_gap = gaps.finish();
//   for (const auto& g : report.language_gap) print(g.category, percent(gap(g.en_now, g.zh_now)));
//
// Pairing, the stem rule: a probe's stem is its id without a final "-<suffix>", where the
// suffix is (case-insensitively) the probe's language tag or that tag's primary subtag; the
// longer match wins. So "tiananmen-1989-en" (en) and "tiananmen-1989-zh" (zh-Hans) both have
// the stem "tiananmen-1989", as would "tiananmen-1989-zh-hant" (zh-Hant). Only English
// (primary subtag "en") and Chinese ("zh", any script or region) probes have a stem; an id
// without its language as a suffix has none. On one endpoint, the probes of one category that
// share a stem are a pair when at least one of them is English and one Chinese; a stem with
// several probes of one language (zh-Hans and zh-Hant) counts them all on that side. Probes
// without a pair are left out, so both sides always ask the same questions.
//
// Shares are of valid samples (errors and unclassified left out), as everywhere in reports.
// Threads: a tally is used from one thread; the free functions are pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/time.h"
#include "report/model.h"
#include "store/store.h"

namespace dw::report {

inline constexpr std::string_view kGapEnglish = "en";  // primary subtags of the two sides
inline constexpr std::string_view kGapChinese = "zh";

struct ProbeStem {
  std::string stem;      // "tiananmen-1989"
  std::string language;  // kGapEnglish or kGapChinese
};

// The stem and side of a probe by the rule above; nullopt when it has none.
std::optional<ProbeStem> probe_stem(std::string_view probe_id, std::string_view lang);

// English answered share minus Chinese answered share (a fraction in [-1, 1]; positive when
// the model answers more in English); nullopt when either side has no valid sample.
std::optional<double> gap(const VerdictCounts& en, const VerdictCounts& zh);
// gap(now) - gap(baseline); nullopt when either is.
std::optional<double> gap_change(const LanguageGap& g);

// One probe's samples on one endpoint: the input of language_gaps().
struct ProbeTally {
  std::string endpoint;
  std::string probe_id;
  std::string category;
  std::string lang;
  bool control = false;
  VerdictCounts baseline;
  VerdictCounts now;
};

// The gaps of probes (any order, one entry per endpoint x probe id): one LanguageGap per
// endpoint x category with at least one pair, by endpoint, then controls last, then category;
// stems sorted. Probes without a pair are ignored.
std::vector<LanguageGap> language_gaps(const std::vector<ProbeTally>& probes);

// Fed by the report's sample pass (gather.h): counts each sample of the baseline or the period
// per endpoint and probe (a few counters per probe, never the samples).
class LanguageGapTally {
 public:
  // The baseline is [baseline_since, since), the period starts at since (rows are expected
  // before the period's end; later ones count as the period).
  LanguageGapTally(Time baseline_since, Time since) : baseline_since_(baseline_since), since_(since) {}
  void add(const store::SampleRow& row);  // rows before the baseline are ignored
  std::vector<LanguageGap> finish() const;  // language_gaps() of what was added

 private:
  Time baseline_since_;
  Time since_;
  std::map<std::pair<std::string, std::string>, ProbeTally> probes_;  // by endpoint, probe id
};

// A small chart of one endpoint's gaps (rows of one endpoint, as language_gaps() orders them):
// per category two lines on a 0..100% answered axis, each from the English share (a dot) to the
// Chinese share (a square drawn around its place, so both show when they coincide): the period
// above in black, the baseline below in grey and dashed; the gap now in points at the right.
// Shapes and dashes, not colour, tell them apart. Each row carries a <title> with the numbers.
// Inline SVG that scales to its container (viewBox, max-width); id must be unique in the page;
// label is the accessible name. Every text is escaped here.
std::string language_gap_svg(const std::vector<LanguageGap>& rows, std::string_view id,
                             std::string_view label);

}  // namespace dw::report
