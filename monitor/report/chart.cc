#include "report/chart.h"

#include <cstdio>

#include "report/escape.h"
#include "report/format.h"

namespace dw::report {
namespace {

constexpr int kBarWidth = 8;
constexpr int kGap = 2;
constexpr int kHeight = 48;
constexpr int kAxis = 2;

// Fills of answered, refused, deflected, filtered: white, solid dark, diagonal hatch, dots.
std::string patterns(std::string_view id) {
  std::string p = "<defs>";
  p += "<pattern id=\"" + std::string(id) +
       "-deflected\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" "
       "patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#f2c14e\"/>"
       "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"4\" stroke=\"#222\" stroke-width=\"1.5\"/>"
       "</pattern>";
  p += "<pattern id=\"" + std::string(id) +
       "-filtered\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\"><rect width=\"4\" "
       "height=\"4\" fill=\"#9ecae1\"/><circle cx=\"2\" cy=\"2\" r=\"1\" fill=\"#222\"/></pattern>";
  p += "</defs>";
  return p;
}

std::string fill(std::string_view id, int verdict) {
  switch (verdict) {
    case 0: return "#ffffff";
    case 1: return "#333333";
    case 2: return "url(#" + std::string(id) + "-deflected)";
    default: return "url(#" + std::string(id) + "-filtered)";
  }
}

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}

}  // namespace

std::string trend_svg(const std::vector<DayCounts>& days, std::string_view id,
                      std::string_view label) {
  int width = static_cast<int>(days.size()) * (kBarWidth + kGap) + kGap;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\" width=\"" +
                    std::to_string(width) + "\" height=\"" + std::to_string(kHeight + kAxis) +
                    "\" viewBox=\"0 0 " + std::to_string(width) + " " +
                    std::to_string(kHeight + kAxis) + "\" role=\"img\" aria-label=\"" +
                    html_escape(label) + "\">";
  svg += patterns(id);
  svg += "<line x1=\"0\" y1=\"" + std::to_string(kHeight + 1) + "\" x2=\"" +
         std::to_string(width) + "\" y2=\"" + std::to_string(kHeight + 1) +
         "\" stroke=\"#000\" stroke-width=\"1\"/>";
  for (size_t d = 0; d < days.size(); ++d) {
    const VerdictCounts& c = days[d].counts;
    int x = kGap + static_cast<int>(d) * (kBarWidth + kGap);
    svg += "<g><title>" + html_escape(days[d].date + ": " + counts_text(c)) + "</title>";
    if (c.valid() == 0) {
      // A hollow slot keeps the time axis honest; errors-only days get a marker on it.
      svg += "<rect x=\"" + std::to_string(x) + "\" y=\"0\" width=\"" +
             std::to_string(kBarWidth) + "\" height=\"" + std::to_string(kHeight) +
             "\" fill=\"none\" stroke=\"#bbb\" stroke-dasharray=\"2 2\"/>";
      if (c.n[kError] > 0)
        svg += "<text x=\"" + std::to_string(x + kBarWidth / 2) + "\" y=\"" +
               std::to_string(kHeight - 2) + "\" font-size=\"8\" text-anchor=\"middle\">!</text>";
    } else {
      double y = 0;
      // Censorship stacks from the top so a rising share reads as a growing dark block.
      for (int v : {1, 2, 3, 0}) {
        double h = kHeight * static_cast<double>(c.n[static_cast<size_t>(v)]) /
                   static_cast<double>(c.valid());
        if (h <= 0) continue;
        svg += "<rect x=\"" + std::to_string(x) + "\" y=\"" + num(y) + "\" width=\"" +
               std::to_string(kBarWidth) + "\" height=\"" + num(h) + "\" fill=\"" +
               fill(id, v) + "\" stroke=\"#000\" stroke-width=\"0.5\"/>";
        y += h;
      }
    }
    svg += "</g>";
  }
  svg += "</svg>";
  return svg;
}

std::string legend_svg() {
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"legend\" width=\"420\" height=\"16\" "
      "viewBox=\"0 0 420 16\" role=\"img\" aria-label=\"legend\">";
  svg += patterns("legend");
  int x = 0;
  for (int v : {0, 1, 2, 3}) {
    svg += "<rect x=\"" + std::to_string(x) + "\" y=\"2\" width=\"12\" height=\"12\" fill=\"" +
           fill("legend", v) + "\" stroke=\"#000\" stroke-width=\"0.5\"/>";
    svg += "<text x=\"" + std::to_string(x + 16) + "\" y=\"12\" font-size=\"12\">" +
           std::string(kVerdicts[static_cast<size_t>(v)]) + "</text>";
    x += 100;
  }
  svg += "</svg>";
  return svg;
}

}  // namespace dw::report
