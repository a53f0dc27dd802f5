// The overview heatmaps of the HTML report: one per endpoint, its categories as rows and the
// days of the trend window (the last 30 by default) as columns, so a month reads at a glance.
//
//   for (const auto& map : heatmaps(report))
//     html += heatmap_svg(map, "hm-" + std::to_string(n++));
//   html += heatmap_legend_html();
//
// A cell's colour is the share answered among the day's valid samples (light: all answered,
// dark: none). Colour is never the only signal: a cell where anything was not answered also
// carries a letter for the most common of the three other verdicts (R refused, D deflected,
// F filtered; ties in that order), a day without valid samples is a dashed empty slot ("!"
// when it had errors only), and a triangle in a cell's corner marks the start of an event of
// that category (above the grid, in the column, for events of the whole endpoint). Every
// cell and mark has a <title> with the day's counts and the events, for hover.
//
// Pure: data in, SVG or HTML text out; no store, no clock. Every label (endpoint, category,
// event type and subject) is escaped here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "report/model.h"

namespace dw::report {

struct HeatmapRow {
  std::string label;            // the category, " (control)" added for controls not so named
  std::vector<DayCounts> days;  // one per column, oldest first (CategoryBlock::trend)
};

// The start of an event inside the window.
struct HeatmapMark {
  int64_t event_id = 0;  // linked as "#event-<id>"
  int row = -1;          // index into rows; -1 for an event of the whole endpoint
  size_t day = 0;        // column
  std::string text;      // what the event is: "event 12: verdict_shift, alpha / probe"
};

struct Heatmap {
  std::string endpoint;
  std::vector<HeatmapRow> rows;  // all of the same length
  std::vector<HeatmapMark> marks;
};

// The heatmaps of a report: one per endpoint of report.categories (in their order: topics,
// then controls), each row a category's trend; marks for the report's events whose detected_at
// falls on a day of the window (an event about a probe on its category's row, else on the
// endpoint's). Events the report does not list (resolved before its period) are not marked.
std::vector<Heatmap> heatmaps(const Report& report);

// The SVG of one heatmap: scales to its container (viewBox, max-width), role="img" with a
// <title> and <desc> naming the endpoint and the window. id must be unique in the page.
// Returns "" for a heatmap without rows.
std::string heatmap_svg(const Heatmap& map, std::string_view id);

// The legend as HTML text with small inline swatches (hidden from screen readers, whose
// reading is the text): the colour scale, the letters, the empty slot and the event mark.
std::string heatmap_legend_html();

}  // namespace dw::report
