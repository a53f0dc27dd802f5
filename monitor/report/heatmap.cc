#include "report/heatmap.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "report/escape.h"
#include "report/format.h"

namespace dw::report {
namespace {

constexpr int kLabel = 112;  // row labels, left
constexpr int kCell = 14;
constexpr int kPitch = 16;   // cell and gap
constexpr int kTop = 16;     // the row of endpoint-wide event marks
constexpr int kBottom = 16;  // date labels
constexpr size_t kLabelChars = 15;

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

// Sequential blues (ColorBrewer), dark for nothing answered, light for all: reads in
// greyscale by lightness alone.
std::string colour(double answered) {
  static constexpr std::array<std::array<double, 3>, 5> kStops = {{{8, 48, 107},
                                                                   {33, 113, 181},
                                                                   {107, 174, 214},
                                                                   {198, 219, 239},
                                                                   {247, 251, 255}}};
  double at = std::clamp(answered, 0.0, 1.0) * (kStops.size() - 1);
  size_t i = std::min(static_cast<size_t>(at), kStops.size() - 2);
  double f = at - static_cast<double>(i);
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x",
                static_cast<int>(std::lround(kStops[i][0] + f * (kStops[i + 1][0] - kStops[i][0]))),
                static_cast<int>(std::lround(kStops[i][1] + f * (kStops[i + 1][1] - kStops[i][1]))),
                static_cast<int>(std::lround(kStops[i][2] + f * (kStops[i + 1][2] - kStops[i][2]))));
  return buf;
}

// The letter of the most common of refused, deflected, filtered; '\0' when there is none.
char glyph(const VerdictCounts& c) {
  static constexpr std::array<char, 4> kLetters = {'\0', 'R', 'D', 'F'};
  size_t best = 0;
  for (size_t v = 1; v <= 3; ++v)
    if (c.n[v] > 0 && (best == 0 || c.n[v] > c.n[best])) best = v;
  return kLetters[best];
}

std::string cut(const std::string& s, size_t chars) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // inside a code point
    if (n++ == chars) return s.substr(0, i) + "…";
  }
  return s;
}

double cell_x(size_t day) { return kLabel + static_cast<double>(day) * kPitch; }
double cell_y(int row) { return kTop + static_cast<double>(row) * kPitch; }

std::string cell(const HeatmapRow& row, int r, size_t d, const std::string& events) {
  const DayCounts& day = row.days[d];
  const VerdictCounts& c = day.counts;
  double x = cell_x(d), y = cell_y(r);
  auto answered = c.share(0);
  std::string title = row.label + ", " + day.date + ": " +
                      (answered ? percent(answered) + " answered; " : std::string()) +
                      counts_text(c) + events;
  std::string svg = "<g><title>" + html_escape(title) + "</title>";
  if (!answered) {
    svg += "<rect x=\"" + num(x + 0.5) + "\" y=\"" + num(y + 0.5) + "\" width=\"" +
           std::to_string(kCell - 1) + "\" height=\"" + std::to_string(kCell - 1) +
           "\" fill=\"none\" stroke=\"#888\" stroke-dasharray=\"2 2\"/>";
    if (c.n[kError] > 0)
      svg += "<text x=\"" + num(x + kCell / 2.0) + "\" y=\"" + num(y + 11) +
             "\" font-size=\"10\" text-anchor=\"middle\">!</text>";
    return svg + "</g>";
  }
  svg += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + std::to_string(kCell) +
         "\" height=\"" + std::to_string(kCell) + "\" fill=\"" + colour(*answered) +
         "\" stroke=\"#555\" stroke-width=\"0.5\"/>";
  if (char g = glyph(c))
    svg += "<text x=\"" + num(x + kCell / 2.0) + "\" y=\"" + num(y + 11) +
           "\" font-size=\"11\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"" +
           (*answered < 0.5 ? "#fff" : "#000") + "\">" + std::string(1, g) + "</text>";
  return svg + "</g>";
}

// A mark linking to the first of the events that started in one place.
std::string mark(const std::vector<const HeatmapMark*>& marks) {
  const HeatmapMark& m = *marks.front();
  std::string title;
  for (const auto* each : marks) title += (title.empty() ? "" : "; ") + each->text;
  double x = cell_x(m.day);
  std::string shape;
  if (m.row < 0) {  // above the column, pointing down at it
    shape = "M" + num(x + 2) + " 3H" + num(x + kCell - 2) + "L" + num(x + kCell / 2.0) + " 13Z";
  } else {  // the cell's top left corner
    double y = cell_y(m.row);
    shape = "M" + num(x) + " " + num(y) + "H" + num(x + 8) + "L" + num(x) + " " + num(y + 8) + "Z";
  }
  return "<a href=\"#event-" + std::to_string(m.event_id) + "\"><title>" + html_escape(title) +
         "</title><path class=\"mark\" d=\"" + shape +
         "\" fill=\"#000\" stroke=\"#fff\" stroke-width=\"1\"/></a>";
}

}  // namespace

std::vector<Heatmap> heatmaps(const Report& report) {
  std::vector<Heatmap> out;
  std::vector<std::map<std::string, int>> rows_of;  // per heatmap: category -> row
  for (const auto& c : report.categories) {
    if (out.empty() || out.back().endpoint != c.endpoint) {
      out.push_back(Heatmap{c.endpoint, {}, {}});
      rows_of.emplace_back();
    }
    rows_of.back().emplace(c.category, static_cast<int>(out.back().rows.size()));
    bool named = c.category.find("control") != std::string::npos;  // "control (control)" reads oddly
    out.back().rows.push_back({c.category + (c.control && !named ? " (control)" : ""), c.trend});
  }
  for (size_t i = 0; i < out.size(); ++i) {
    Heatmap& map = out[i];
    std::map<std::string, size_t> columns;
    for (size_t d = 0; d < map.rows.front().days.size(); ++d)
      columns.emplace(map.rows.front().days[d].date, d);
    for (const auto& e : report.events) {
      if (e.endpoint != map.endpoint) continue;
      auto column = columns.find(format_date(e.detected_at));
      if (column == columns.end()) continue;
      auto row = e.category.empty() ? rows_of[i].end() : rows_of[i].find(e.category);
      map.marks.push_back({e.id, row == rows_of[i].end() ? -1 : row->second, column->second,
                           "event " + std::to_string(e.id) + ": " + e.type + ", " +
                               event_subject(e) + ", detected " + format_time(e.detected_at)});
    }
  }
  return out;
}

std::string heatmap_svg(const Heatmap& map, std::string_view id) {
  if (map.rows.empty()) return "";
  const auto& days = map.rows.front().days;
  int width = kLabel + static_cast<int>(days.size()) * kPitch + 2;
  int height = kTop + static_cast<int>(map.rows.size()) * kPitch + kBottom;
  std::string ids = html_escape(id);
  std::string first = days.empty() ? "" : days.front().date;
  std::string last = days.empty() ? "" : days.back().date;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"" +
                    std::to_string(width) + "\" height=\"" + std::to_string(height) +
                    "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
                    "\" role=\"img\" aria-labelledby=\"" + ids + "-title " + ids + "-desc\">";
  svg += "<title id=\"" + ids + "-title\">" +
         html_escape("Answered share per category and day, " + map.endpoint) + "</title>";
  svg += "<desc id=\"" + ids + "-desc\">" +
         html_escape(std::to_string(map.rows.size()) + " categories by day from " + first +
                     " to " + last + "; " + std::to_string(map.marks.size()) +
                     " event starts marked. The table of verdicts by category has the numbers.") +
         "</desc>";
  for (size_t r = 0; r < map.rows.size(); ++r) {
    const HeatmapRow& row = map.rows[r];
    svg += "<g><title>" + html_escape(row.label) + "</title><text x=\"" +
           std::to_string(kLabel - 4) + "\" y=\"" + num(cell_y(static_cast<int>(r)) + 11) +
           "\" font-size=\"12\" text-anchor=\"end\">" + html_escape(cut(row.label, kLabelChars)) +
           "</text></g>";
    for (size_t d = 0; d < row.days.size() && d < days.size(); ++d) {
      std::string events;
      for (const auto& m : map.marks)
        if (m.row == static_cast<int>(r) && m.day == d) events += "; " + m.text;
      svg += cell(row, static_cast<int>(r), d, events);
    }
  }
  // Marks after the cells, so they are drawn on top; one per place.
  std::map<std::pair<int, size_t>, std::vector<const HeatmapMark*>> places;
  for (const auto& m : map.marks) places[{m.row, m.day}].push_back(&m);
  for (const auto& [place, marks] : places) svg += mark(marks);
  double axis_y = cell_y(static_cast<int>(map.rows.size())) + 11;
  auto date_label = [&](size_t d, const char* anchor) {
    double x = anchor[0] == 's' ? cell_x(d) : anchor[0] == 'e' ? cell_x(d) + kCell
                                                                : cell_x(d) + kCell / 2.0;
    return "<text x=\"" + num(x) + "\" y=\"" + num(axis_y) + "\" font-size=\"11\" text-anchor=\"" +
           anchor + "\">" + html_escape(days[d].date.substr(days[d].date.size() >= 5 ? 5 : 0)) +
           "</text>";
  };
  if (!days.empty()) {
    svg += date_label(0, "start");
    if (days.size() >= 5) svg += date_label(days.size() / 2, "middle");
    if (days.size() >= 2) svg += date_label(days.size() - 1, "end");
  }
  svg += "</svg>";
  return svg;
}

std::string heatmap_legend_html() {
  auto swatch = [](const std::string& inner) {
    return "<svg aria-hidden=\"true\" width=\"16\" height=\"16\" viewBox=\"0 0 16 16\">" + inner +
           "</svg>";
  };
  auto letter = [&](const char* fill, char g, const char* ink) {
    return swatch("<rect x=\"1\" y=\"1\" width=\"14\" height=\"14\" fill=\"" + std::string(fill) +
                  "\" stroke=\"#555\" stroke-width=\"0.5\"/><text x=\"8\" y=\"12\" font-size=\"10\" "
                  "font-weight=\"bold\" text-anchor=\"middle\" fill=\"" + ink + "\">" +
                  std::string(1, g) + "</text>");
  };
  std::string scale = "<svg aria-hidden=\"true\" width=\"80\" height=\"16\" viewBox=\"0 0 80 16\">";
  for (int i = 0; i < 5; ++i)
    scale += "<rect x=\"" + std::to_string(i * 16) + "\" y=\"1\" width=\"16\" height=\"14\" fill=\"" +
             colour(i / 4.0) + "\" stroke=\"#555\" stroke-width=\"0.5\"/>";
  scale += "</svg>";
  std::string html = "<ul class=\"legend\">\n";
  html += "<li>" + scale + " answered share of the day's valid samples: 0% (dark) to 100% (light)</li>\n";
  html += "<li>" + letter(colour(0.2).c_str(), 'R', "#fff") + " refused, " +
          letter(colour(0.2).c_str(), 'D', "#fff") + " deflected, " +
          letter(colour(0.8).c_str(), 'F', "#000") +
          " filtered: the most common answer other than answered, where not all were answered</li>\n";
  html += "<li>" + swatch("<rect x=\"1.5\" y=\"1.5\" width=\"13\" height=\"13\" fill=\"none\" "
                          "stroke=\"#888\" stroke-dasharray=\"2 2\"/>") +
          " no valid samples that day (“!”: errors only)</li>\n";
  html += "<li>" + swatch("<rect x=\"1\" y=\"1\" width=\"14\" height=\"14\" fill=\"#f7fbff\" "
                          "stroke=\"#555\" stroke-width=\"0.5\"/><path d=\"M1 1H9L1 9Z\"/>") +
          " an event of the category started (above the grid: of the whole endpoint); hover a "
          "cell or mark for its counts, click a mark for the event</li>\n";
  html += "</ul>\n";
  return html;
}

}  // namespace dw::report
