#include "report/overview.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "report/escape.h"
#include "report/format.h"
#include "report/heatmap.h"
#include "report/language_gap.h"

namespace dw::report {
namespace {

struct Line {
  std::string text;
  std::optional<int64_t> event;  // the section the line links to
};

std::string count(long n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string counts_line(const Report& r) {
  long fresh = 0, ongoing = 0, resolved = 0;
  for (const auto& i : r.incidents) {
    if (i.is_new) ++fresh;
    else if (i.open) ++ongoing;
    if (i.resolved_at && *i.resolved_at >= r.since) ++resolved;
  }
  const Headline& h = r.headline;
  return count(fresh, "new incident", "new incidents") + " (" +
         count(h.new_events, "new event", "new events") + "), " + std::to_string(ongoing) +
         " ongoing, " + std::to_string(resolved) + " resolved; " +
         count(h.runs, "run", "runs") + ", " + count(h.samples, "sample", "samples") +
         "; endpoints: " + std::to_string(h.endpoints_healthy) + " healthy, " +
         std::to_string(h.endpoints_unhealthy) + " not healthy";
}

std::string points(double x) {
  long p = std::lround(x * 100);
  return (p > 0 ? "+" : "") + std::to_string(p);
}

std::optional<std::string> gap_line(const Report& r) {
  const LanguageGap* biggest = nullptr;
  double size = 0;
  for (const auto& g : r.language_gap) {
    // As the detector does, a side with fewer than 6 valid samples is no evidence: one answer
    // flipped among two would move the gap by 50 points.
    bool enough = true;
    for (const VerdictCounts* c : {&g.en_now, &g.zh_now, &g.en_baseline, &g.zh_baseline}) {
      enough = enough && c->valid() >= kGapMinSamples;
    }
    auto change = gap_change(g);
    if (enough && change && std::abs(*change) >= kGapNewsworthy && std::abs(*change) > size) {
      biggest = &g;
      size = std::abs(*change);
    }
  }
  if (!biggest) return std::nullopt;
  const LanguageGap& g = *biggest;
  return "Language gap, " + g.endpoint + ", " + g.category + ": answered in English " +
         percent(g.en_now.share(0)) + " (baseline " + percent(g.en_baseline.share(0)) +
         "), in Chinese " + percent(g.zh_now.share(0)) + " (baseline " +
         percent(g.zh_baseline.share(0)) + "); the gap moved " + points(*gap_change(g)) +
         " points";
}

std::vector<Line> lines(const Report& r, size_t max_lines) {
  max_lines = std::max<size_t>(max_lines, 3);
  std::vector<Line> out{{counts_line(r), std::nullopt}};
  auto gap = gap_line(r);
  size_t room = max_lines - 1 - (gap ? 1 : 0);
  std::vector<const Incident*> fresh;
  for (const auto& i : r.incidents)
    if (i.is_new) fresh.push_back(&i);
  size_t shown = fresh.size() <= room ? fresh.size() : room - 1;  // one line says how many more
  for (size_t k = 0; k < shown; ++k) {
    const Incident& i = *fresh[k];
    std::optional<int64_t> first;
    if (!i.event_ids.empty()) first = i.event_ids.front();
    out.push_back({describe(i), first});
  }
  if (shown < fresh.size())
    out.push_back({"... and " + count(static_cast<long>(fresh.size() - shown), "more new incident",
                                      "more new incidents") + " below",
                   std::nullopt});
  if (gap) out.push_back({*gap, std::nullopt});
  return out;
}

}  // namespace

std::vector<std::string> tonight_lines(const Report& report, size_t max_lines) {
  std::vector<std::string> out;
  for (auto& line : lines(report, max_lines)) out.push_back(std::move(line.text));
  return out;
}

std::string overview_html(const Report& r) {
  std::string html = "<section id=\"overview\"><h2>Tonight</h2>\n<ul class=\"tonight\">\n";
  for (const auto& line : lines(r, kTonightLines)) {
    html += "<li>";
    if (line.event)
      html += "<a href=\"#event-" + std::to_string(*line.event) + "\">" + html_escape(line.text) +
              "</a>";
    else
      html += html_escape(line.text);
    html += "</li>\n";
  }
  html += "</ul>\n";
  auto maps = heatmaps(r);
  if (maps.empty()) return html + "</section>\n";
  html += "<h3>The last " + std::to_string(maps.front().rows.front().days.size()) +
          " days</h3>\n" + heatmap_legend_html();
  for (size_t i = 0; i < maps.size(); ++i)
    html += "<figure class=\"heatmap\"><figcaption>" + html_escape(maps[i].endpoint) +
            "</figcaption>" + heatmap_svg(maps[i], "heatmap-" + std::to_string(i)) +
            "</figure>\n";
  return html + "</section>\n";
}

}  // namespace dw::report
