// The top of the HTML report, what a person reads in one minute: what changed tonight in at
// most ten lines, then the month as one heatmap per endpoint (heatmap.h).
//
//   for (const auto& line : tonight_lines(report)) mail_text += line + "\n";  // plain text
//   html += overview_html(report);                                            // the section
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "report/model.h"

namespace dw::report {

inline constexpr size_t kTonightLines = 10;

// What changed in the period, at most max_lines lines (max_lines >= 3), each one sentence
// without a newline:
// - first, the counts: new, ongoing and resolved incidents (with the new events), runs,
//   samples and endpoint health;
// - then one line per new incident, describe() of each (incidents.h) in the report's order,
//   as many as fit, and "... and N more new incidents" when they do not all fit;
// - last, when some endpoint x category's language gap (language_gap.h) moved by at least
//   kGapNewsworthy in the period, the largest such move.
// Plain text, NOT escaped (it quotes model output through describe()).
std::vector<std::string> tonight_lines(const Report& report, size_t max_lines = kTonightLines);

inline constexpr double kGapNewsworthy = 0.2;  // a move of the gap of 20 points or more
// ... over at least this many valid samples on each side, now and at the baseline (the
// detector's floor).
inline constexpr long kGapMinSamples = 6;

// The overview section: <section id="overview"> with the tonight lines (each new incident's
// line links to its first event's section, "#event-<id>"), the heatmaps of every endpoint and
// their legend. A heatmap scales with the page, so the whole month stays in view on a phone.
// Every text is escaped here.
std::string overview_html(const Report& report);

}  // namespace dw::report
