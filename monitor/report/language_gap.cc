#include "report/language_gap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

#include "report/escape.h"
#include "report/format.h"

namespace dw::report {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool ends_with_suffix(const std::string& id, const std::string& suffix) {
  return !suffix.empty() && id.size() > suffix.size() + 1 &&
         id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         id[id.size() - suffix.size() - 1] == '-';
}

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

// "+60 points" style, for titles.
std::string points(std::optional<double> x) {
  if (!x) return "–";
  long p = std::lround(*x * 100);
  return (p > 0 ? "+" : "") + std::to_string(p);
}

}  // namespace

std::optional<ProbeStem> probe_stem(std::string_view probe_id, std::string_view lang) {
  std::string tag = lower(lang);
  std::string primary = tag.substr(0, tag.find('-'));
  if (primary != kGapEnglish && primary != kGapChinese) return std::nullopt;
  std::string id = lower(probe_id);
  for (const std::string& suffix : {tag, primary}) {  // the longer first
    if (ends_with_suffix(id, suffix))
      return ProbeStem{std::string(probe_id.substr(0, id.size() - suffix.size() - 1)), primary};
  }
  return std::nullopt;
}

std::optional<double> gap(const VerdictCounts& en, const VerdictCounts& zh) {
  auto a = en.share(0), b = zh.share(0);
  if (!a || !b) return std::nullopt;
  return *a - *b;
}

std::optional<double> gap_change(const LanguageGap& g) {
  auto before = gap(g.en_baseline, g.zh_baseline), now = gap(g.en_now, g.zh_now);
  if (!before || !now) return std::nullopt;
  return *now - *before;
}

std::vector<LanguageGap> language_gaps(const std::vector<ProbeTally>& probes) {
  // (endpoint, category, stem) -> the probes of each side.
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, std::pair<std::vector<const ProbeTally*>, std::vector<const ProbeTally*>>> stems;
  for (const auto& p : probes) {
    auto stem = probe_stem(p.probe_id, p.lang);
    if (!stem) continue;
    auto& sides = stems[{p.endpoint, p.category, stem->stem}];
    (stem->language == kGapEnglish ? sides.first : sides.second).push_back(&p);
  }
  std::map<std::pair<std::string, std::string>, LanguageGap> gaps;
  for (const auto& [key, sides] : stems) {
    if (sides.first.empty() || sides.second.empty()) continue;
    const auto& [endpoint, category, stem] = key;
    auto [it, fresh] = gaps.try_emplace({endpoint, category});
    LanguageGap& g = it->second;
    if (fresh) {
      g.endpoint = endpoint;
      g.category = category;
    }
    g.stems.push_back(stem);  // the map's order: sorted
    auto add = [](VerdictCounts& into, const VerdictCounts& from) {
      for (size_t i = 0; i < into.n.size(); ++i) into.n[i] += from.n[i];
      into.unclassified += from.unclassified;
    };
    for (const ProbeTally* p : sides.first) {
      add(g.en_baseline, p->baseline);
      add(g.en_now, p->now);
      g.control |= p->control;
    }
    for (const ProbeTally* p : sides.second) {
      add(g.zh_baseline, p->baseline);
      add(g.zh_now, p->now);
      g.control |= p->control;
    }
  }
  std::vector<LanguageGap> out;
  for (auto& [key, g] : gaps) out.push_back(std::move(g));
  std::stable_sort(out.begin(), out.end(), [](const LanguageGap& a, const LanguageGap& b) {
    return std::tie(a.endpoint, a.control, a.category) <
           std::tie(b.endpoint, b.control, b.category);
  });
  return out;
}

void LanguageGapTally::add(const store::SampleRow& row) {
  if (row.run_at < baseline_since_) return;
  auto [it, fresh] = probes_.try_emplace({row.key.endpoint, row.key.probe_id});
  ProbeTally& p = it->second;
  if (fresh) {
    p.endpoint = row.key.endpoint;
    p.probe_id = row.key.probe_id;
    p.category = row.category;
    p.lang = row.lang;
  }
  p.control |= row.control;
  int verdict = verdict_index(row.classification ? row.classification->verdict : "");
  (row.run_at >= since_ ? p.now : p.baseline).add(verdict);
}

std::vector<LanguageGap> LanguageGapTally::finish() const {
  std::vector<ProbeTally> all;
  all.reserve(probes_.size());
  for (const auto& [key, p] : probes_) all.push_back(p);
  return language_gaps(all);
}

namespace {

constexpr int kLabel = 130;  // category names, left
constexpr int kAxisFrom = kLabel + 12;
constexpr int kAxis = 300;   // 0..100% answered
constexpr int kRight = 60;   // the gap in points, right
constexpr int kRow = 26;     // the period's line above the baseline's
constexpr int kTop = 16;     // axis labels

// English a dot, Chinese a square drawn around where it stands, so the two stay visible when
// they coincide (no gap).
std::string marker(bool english, double x, double y, const char* ink) {
  if (english)
    return "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"3.5\" fill=\"" + ink + "\"/>";
  return "<rect x=\"" + num(x - 5) + "\" y=\"" + num(y - 5) +
         "\" width=\"10\" height=\"10\" fill=\"none\" stroke=\"" + ink +
         "\" stroke-width=\"1.5\"/>";
}

// One line of a row: the two languages' answered shares and the gap between them.
std::string pair_line(std::optional<double> en, std::optional<double> zh, double y, bool period) {
  const char* ink = period ? "#111" : "#888";
  auto x = [](double share) { return kAxisFrom + kAxis * share; };
  std::string svg;
  if (en && zh)
    svg += "<line x1=\"" + num(x(*en)) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x(*zh)) +
           "\" y2=\"" + num(y) + "\" stroke=\"" + ink + "\" stroke-width=\"" +
           (period ? "2\"" : "1\" stroke-dasharray=\"3 2\"") + "/>";
  if (zh) svg += marker(false, x(*zh), y, ink);
  if (en) svg += marker(true, x(*en), y, ink);
  return svg;
}

std::string cut(const std::string& s, size_t chars) {
  // By code points, so a cut never splits a UTF-8 sequence.
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (n++ == chars) return s.substr(0, i) + "…";
  }
  return s;
}

}  // namespace

std::string language_gap_svg(const std::vector<LanguageGap>& rows, std::string_view id,
                             std::string_view label) {
  int width = kAxisFrom + kAxis + kRight;
  int height = kTop + static_cast<int>(rows.size()) * kRow + 2;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"gap\" width=\"" +
                    std::to_string(width) + "\" height=\"" + std::to_string(height) +
                    "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
                    "\" role=\"img\" aria-labelledby=\"" + html_escape(id) + "-title\">";
  svg += "<title id=\"" + html_escape(id) + "-title\">" + html_escape(label) + "</title>";
  for (int pct : {0, 50, 100}) {
    double x = kAxisFrom + kAxis * pct / 100.0;
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + std::to_string(kTop - 2) + "\" x2=\"" + num(x) +
           "\" y2=\"" + std::to_string(height) + "\" stroke=\"#ccc\" stroke-width=\"1\"/>";
    svg += "<text x=\"" + num(x) + "\" y=\"11\" font-size=\"10\" text-anchor=\"middle\">" +
           std::to_string(pct) + "%</text>";
  }
  svg += "<text x=\"" + std::to_string(width - 2) +
         "\" y=\"11\" font-size=\"10\" text-anchor=\"end\">gap</text>";
  for (size_t r = 0; r < rows.size(); ++r) {
    const LanguageGap& g = rows[r];
    double top = kTop + static_cast<double>(r) * kRow;
    std::string name = g.category + (g.control ? " (control)" : "");
    svg += "<g><title>" +
           html_escape(name + ": answered in English " + percent(g.en_now.share(0)) +
                       " (baseline " + percent(g.en_baseline.share(0)) + "), in Chinese " +
                       percent(g.zh_now.share(0)) + " (baseline " +
                       percent(g.zh_baseline.share(0)) + "); gap " +
                       points(gap(g.en_now, g.zh_now)) + " points (baseline " +
                       points(gap(g.en_baseline, g.zh_baseline)) + ", change " +
                       points(gap_change(g)) + ")") +
           "</title>";
    svg += "<text x=\"" + std::to_string(kLabel) + "\" y=\"" + num(top + 15) +
           "\" font-size=\"11\" text-anchor=\"end\">" + html_escape(cut(name, 20)) + "</text>";
    svg += pair_line(g.en_baseline.share(0), g.zh_baseline.share(0), top + 18, false);
    svg += pair_line(g.en_now.share(0), g.zh_now.share(0), top + 8, true);
    svg += "<text x=\"" + std::to_string(width - 2) + "\" y=\"" + num(top + 12) +
           "\" font-size=\"11\" text-anchor=\"end\">" +
           html_escape(points(gap(g.en_now, g.zh_now))) + "</text></g>";
  }
  svg += "</svg>";
  return svg;
}

}  // namespace dw::report
