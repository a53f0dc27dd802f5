// Inline SVG charts for the HTML report: no scripts, no external references, and verdicts
// told apart by fill pattern as well as colour, so they read in greyscale and on paper.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report/model.h"

namespace dw::report {

// A stacked bar per day: the shares of answered, refused, deflected and filtered among the
// day's valid samples (errors left out, a short mark on the axis for days with errors only),
// an empty slot for days without samples. Each bar carries a <title> with the day's counts.
// id must be unique in the document (pattern ids are derived from it); label is the chart's
// accessible name (escaped here).
std::string trend_svg(const std::vector<DayCounts>& days, std::string_view id,
                      std::string_view label);

// A small legend of the four patterns, for the top of the section the charts are in.
std::string legend_svg();

}  // namespace dw::report
