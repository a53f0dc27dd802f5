#include <algorithm>
#include <sstream>

#include "report/chart.h"
#include "report/escape.h"
#include "report/format.h"
#include "report/incidents.h"
#include "report/language_gap.h"
#include "report/overview.h"
#include "report/render.h"

namespace dw::report {
namespace {

// Every string placed in the page goes through h(): model output above all, but one rule for
// everything leaves nothing to forget.
std::string h(std::string_view text) { return html_escape(text); }

// Print-friendly and colour-blind-safe: changes are told by sign, strike-through and
// underline, verdicts in charts by pattern.
constexpr const char* kStyle = R"(
body { font: 15px/1.45 system-ui, sans-serif; max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; color: #111; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #333; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #999; padding: .2rem .45rem; text-align: left; vertical-align: middle; }
th { background: #eee; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.lang td { font-size: .9em; color: #333; } tr.lang td:first-child { padding-left: 1.5rem; }
.up { font-weight: bold; } .unhealthy { font-weight: bold; text-decoration: underline; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; border: 1px solid #999; padding: .6rem; background: #fafafa; }
del { text-decoration: line-through; background: #fdd; } ins { text-decoration: underline; background: #dfd; }
del::before { content: "[-"; } del::after { content: "-]"; } ins::before { content: "{+"; } ins::after { content: "+}"; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { font-weight: bold; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
details.event { border-left: 4px solid #333; padding-left: 1rem; margin-bottom: 1rem; page-break-inside: avoid; }
svg.trend { display: block; }
ul.incidents li { margin-bottom: .3rem; overflow-wrap: anywhere; }
body { overflow-wrap: break-word; } h1, h2, h3, h4, summary, li { overflow-wrap: anywhere; }
summary { cursor: pointer; } summary > h2, summary > h3 { display: inline; } summary > h2 { border: 0; }
details.section > summary { border-bottom: 2px solid #333; padding-bottom: .2rem; margin-top: 2rem; }
details.section[open] > summary { margin-bottom: .8rem; }
.scroll { overflow-x: auto; max-width: 100%; }
svg.gap, svg.legend { display: block; max-width: 100%; height: auto; }
svg.heatmap { display: block; width: 100%; max-width: 48rem; height: auto; }
figure.heatmap { margin: .5rem 0 1rem; } figure.heatmap figcaption { font-weight: bold; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .2rem 1.2rem; font-size: .9em; }
ul.legend svg { vertical-align: middle; }
@media print { body { max-width: none; margin: 0; } pre, del, ins, th { background: none; } h2 { page-break-after: avoid; } }
)";

std::string share_cell(const VerdictCounts& before, const VerdictCounts& now, int i) {
  auto b = before.share(i), n = now.share(i);
  std::string change = change_points(b, n);
  std::string cell = "<td>" + h(percent(b)) + " → " + h(percent(n));
  if (!change.empty() && change != "0")
    cell += " <span class=\"up\">(" + h(change) + ")</span>";
  return cell + "</td>";
}

void verdict_row(std::ostream& out, const char* css, std::string_view name,
                 std::string_view lang, const VerdictCounts& before, const VerdictCounts& now,
                 const std::string& chart) {
  out << "<tr class=\"" << css << "\"><td>" << h(name) << "</td><td>" << h(lang)
      << "</td><td class=\"n\">" << before.total() << " → " << now.total() << "</td>";
  for (int i = 0; i < kError; ++i) out << share_cell(before, now, i);
  out << "<td class=\"n\">" << now.n[kError] << "</td><td>" << chart << "</td></tr>\n";
}

// One line per incident (report/incidents.h), new first, each linking to its events' sections.
void incident_list(std::ostream& out, const Report& r) {
  out << "<p>" << r.incidents.size() << (r.incidents.size() == 1 ? " incident" : " incidents")
      << " (events that are one change), new first:</p>\n<ul class=\"incidents\">\n";
  for (const auto& i : r.incidents) {
    out << "<li id=\"incident-" << i.id << "\">"
        << (i.is_new ? "<strong>new</strong>" : i.open ? "ongoing" : "resolved") << ": "
        << h(describe(i)) << " (" << (i.event_ids.size() == 1 ? "event" : "events");
    for (size_t k = 0; k < i.event_ids.size(); ++k)
      out << (k == 0 ? " " : ", ") << "<a href=\"#event-" << i.event_ids[k] << "\">"
          << i.event_ids[k] << "</a>";
    out << ")</li>\n";
  }
  out << "</ul>\n";
}

void headline(std::ostream& out, const Report& r) {
  const Headline& hl = r.headline;
  out << "<section id=\"headline\"><h2>What changed</h2>\n<ul>\n";
  out << "<li><strong>" << hl.new_events << " new " << (hl.new_events == 1 ? "event" : "events")
      << "</strong>, " << hl.ongoing_events << " ongoing, " << hl.resolved_events
      << " resolved</li>\n";
  out << "<li>" << hl.runs << (hl.runs == 1 ? " run (" : " runs (") << hl.incomplete_runs
      << " incomplete), " << hl.samples << (hl.samples == 1 ? " sample" : " samples")
      << "</li>\n";
  out << "<li>endpoints: " << hl.endpoints_healthy << " healthy, " << hl.endpoints_unhealthy
      << " not healthy";
  for (const auto& e : r.health)
    if (!e.healthy)
      out << "; <span class=\"unhealthy\">" << h(e.endpoint) << ": " << h(e.reason) << "</span>";
  out << "</li>\n</ul>\n";
  if (r.events.empty()) {
    out << "<p>No drift events in the period.</p></section>\n";
    return;
  }
  incident_list(out, r);
  out << "</section>\n";
}

void categories(std::ostream& out, const Report& r) {
  out << "<details class=\"section\" id=\"categories\"><summary><h2>Verdicts by endpoint and "
         "category</h2></summary>\n";
  if (r.categories.empty()) {
    out << "<p>No samples in the period or its baseline.</p></details>\n";
    return;
  }
  out << "<p>Shares of the samples that got an answer, a refusal or a block (errors left "
         "out), baseline → period, with the change in points. Each chart shows one day per "
         "bar over the last "
      << r.categories.front().trend.size()
      << " days; a dashed slot is a day without valid samples, “!” a day with errors only.</p>\n"
      << legend_svg() << "\n";
  for (size_t i = 0; i < r.categories.size(); ++i) {
    const CategoryBlock& c = r.categories[i];
    if (i == 0 || r.categories[i - 1].endpoint != c.endpoint) {
      out << "<h3>" << h(c.endpoint) << "</h3>\n<table><thead><tr><th>category</th><th>lang</th>"
             "<th>samples</th><th>answered</th><th>refused</th><th>deflected</th>"
             "<th>filtered</th><th>errors</th><th>trend</th></tr></thead><tbody>\n";
    }
    std::string name = c.category + (c.control ? " (control)" : "");
    std::string chart = trend_svg(c.trend, "t" + std::to_string(i),
                                  "trend of " + c.endpoint + " " + c.category);
    verdict_row(out, "all", name, "all", c.baseline, c.now, chart);
    if (c.languages.size() > 1)
      for (const auto& l : c.languages) verdict_row(out, "lang", "", l.lang, l.baseline, l.now, "");
    if (i + 1 == r.categories.size() || r.categories[i + 1].endpoint != c.endpoint)
      out << "</tbody></table>\n";
  }
  out << "</details>\n";
}

// The same questions in English and in Chinese (report/language_gap.h), per endpoint.
void language_gap(std::ostream& out, const Report& r) {
  out << "<details class=\"section\" id=\"language-gap\"><summary><h2>Language gap: English "
         "and Chinese</h2></summary>\n";
  if (r.language_gap.empty()) {
    out << "<p>No question was asked in both English and Chinese.</p></details>\n";
    return;
  }
  out << "<p>Questions asked in both languages (probe ids that differ only in their language "
         "suffix, such as “-en” and “-zh”): the share answered in each, baseline → period, and "
         "the gap, English minus Chinese in points (positive: more answered in English). In "
         "the charts a dot is English and a square Chinese; the upper black line is the "
         "period, the lower grey dashed one the baseline.</p>\n";
  for (size_t i = 0; i < r.language_gap.size(); ++i) {
    const LanguageGap& g = r.language_gap[i];
    bool first = i == 0 || r.language_gap[i - 1].endpoint != g.endpoint;
    bool last = i + 1 == r.language_gap.size() || r.language_gap[i + 1].endpoint != g.endpoint;
    if (first)
      out << "<h3>" << h(g.endpoint) << "</h3>\n<table><thead><tr><th>category</th>"
             "<th>pairs</th><th>answered in English</th><th>answered in Chinese</th>"
             "<th>gap</th><th>change</th></tr></thead><tbody>\n";
    std::string stems;
    for (const auto& s : g.stems) stems += (stems.empty() ? "" : ", ") + s;
    // Points of a gap: "+60", "-3", "0", "–" without one.
    auto points = [](std::optional<double> x) { return x ? change_points(0.0, x) : "–"; };
    std::string change = points(gap_change(g));
    out << "<tr><td>" << h(g.category + (g.control ? " (control)" : "")) << "</td><td class=\"n\""
        << " title=\"" << h(stems) << "\">" << g.stems.size() << "</td><td>"
        << h(percent(g.en_baseline.share(0))) << " → " << h(percent(g.en_now.share(0)))
        << "</td><td>" << h(percent(g.zh_baseline.share(0))) << " → "
        << h(percent(g.zh_now.share(0))) << "</td><td>"
        << h(points(gap(g.en_baseline, g.zh_baseline))) << " → "
        << h(points(gap(g.en_now, g.zh_now))) << "</td><td>"
        << (change == "–" || change == "0" ? h(change) : "<span class=\"up\">" + h(change) + "</span>")
        << "</td></tr>\n";
    if (!last) continue;
    out << "</tbody></table>\n";
    size_t from = i;
    while (from > 0 && r.language_gap[from - 1].endpoint == g.endpoint) --from;
    std::vector<LanguageGap> rows(r.language_gap.begin() + static_cast<long>(from),
                                  r.language_gap.begin() + static_cast<long>(i) + 1);
    out << language_gap_svg(rows, "gap-" + std::to_string(i),
                            "answered share in English and Chinese, " + g.endpoint)
        << "\n";
  }
  out << "</details>\n";
}

void diff_block(std::ostream& out, const std::vector<DiffPiece>& pieces) {
  out << "<pre class=\"diff\">";
  for (const auto& p : pieces) {
    switch (p.op) {
      case DiffOp::same: out << h(p.text); break;
      case DiffOp::removed: out << "<del>" << h(p.text) << "</del>"; break;
      case DiffOp::added: out << "<ins>" << h(p.text) << "</ins>"; break;
    }
  }
  out << "</pre>\n";
}

void side_item(std::ostream& out, const char* name, const TypicalSide& s) {
  out << "<li>" << name << ": " << s.verdicts.total() << " samples (" << h(counts_text(s.verdicts))
      << "), " << format_time(s.from) << " – " << format_time(s.until) << "; ";
  if (s.sample_id)
    out << "typical answer: sample " << *s.sample_id << ", <strong>"
        << h(s.verdict.empty() ? "unclassified" : s.verdict) << "</strong>";
  else
    out << "no answer text";
  out << "</li>\n";
}

void events(std::ostream& out, const Report& r) {
  if (r.events.empty()) return;
  out << "<section id=\"events\"><h2>Events</h2>\n";
  for (const auto& e : r.events) {
    // Tonight's new events are open; the rest are one click away.
    out << "<details class=\"event\" id=\"event-" << e.id << "\""
        << (e.lifecycle == Lifecycle::new_event ? " open" : "") << "><summary><h3>Event " << e.id
        << ": " << h(e.type) << ", " << h(event_subject(e)) << "</h3></summary>\n<p>Detected "
        << format_time(e.detected_at) << " (" << to_string(e.lifecycle) << "), "
        << (e.resolved ? "resolved " + format_time(*e.resolved_at) : std::string("open"));
    if (!e.category.empty()) out << "; category " << h(e.category) << ", language " << h(e.lang);
    out << ".</p>\n<dl class=\"facts\">\n";
    for (const auto& [label, value] : evidence_facts(e))
      out << "<dt>" << h(label) << "</dt><dd>" << h(value) << "</dd>\n";
    out << "</dl>\n";
    if (e.typical_before && e.typical_after) {
      out << "<p>Typical answers (the medoid of each side):</p>\n<ul>\n";
      side_item(out, "before", *e.typical_before);
      side_item(out, "after", *e.typical_after);
      out << "</ul>\n";
      if (e.diff.size() == 1 && e.diff[0].op == DiffOp::same) {
        out << "<p>The typical answers before and after are the same text:</p>\n";
        diff_block(out, e.diff);
      } else if (!e.diff.empty()) {
        out << "<p>Word diff of the typical answers (removed struck through, added "
               "underlined):</p>\n";
        diff_block(out, e.diff);
      } else {
        for (const auto* s : {&*e.typical_before, &*e.typical_after})
          if (s->sample_id) out << "<pre>" << h(s->text) << "</pre>\n";
      }
    }
    out << "</details>\n";
  }
  out << "</section>\n";
}

std::string ms(const std::optional<long>& v) { return v ? std::to_string(*v) : "–"; }

void health(std::ostream& out, const Report& r) {
  out << "<details class=\"section\" id=\"health\"><summary><h2>Endpoint health</h2></summary>\n";
  if (r.health.empty()) {
    out << "<p>No samples in the period or its baseline.</p></details>\n";
    return;
  }
  out << "<table><thead><tr><th>endpoint</th><th>status</th><th>samples</th><th>errors</th>"
         "<th>error share</th><th>HTTP of errors</th><th>latency ms p50 / p90 / p99 / max</th>"
         "</tr></thead><tbody>\n";
  for (const auto& e : r.health) {
    std::string statuses;
    for (const auto& [code, n] : e.http_status)
      statuses += (statuses.empty() ? "" : ", ") +
                  (code == 0 ? std::string("no response") : std::to_string(code)) + " ×" +
                  std::to_string(n);
    out << "<tr><td>" << h(e.endpoint) << "</td><td>"
        << (e.healthy ? std::string("healthy")
                      : "<span class=\"unhealthy\">NOT healthy: " + h(e.reason) + "</span>")
        << "</td><td class=\"n\">" << e.now.total() << "</td><td class=\"n\">" << e.now.n[kError]
        << "</td><td>" << percent(e.baseline.error_share()) << " → "
        << percent(e.now.error_share()) << "</td><td>" << (statuses.empty() ? "–" : statuses)
        << "</td><td>" << ms(e.p50_ms) << " / " << ms(e.p90_ms) << " / " << ms(e.p99_ms) << " / "
        << ms(e.max_ms) << "</td></tr>\n";
  }
  out << "</tbody></table>\n<h3>Models and fingerprints reported</h3>\n<table><thead><tr>"
         "<th>endpoint</th><th>model</th><th>fingerprint</th><th>first seen</th>"
         "<th>last seen</th><th>samples</th></tr></thead><tbody>\n";
  for (const auto& e : r.health)
    for (const auto& m : e.models)
      out << "<tr><td>" << h(e.endpoint) << "</td><td>" << h(m.model)
          << (m.new_in_period ? " <strong>(new in this period)</strong>" : "") << "</td><td>"
          << (m.fingerprint.empty() ? "–" : h(m.fingerprint)) << "</td><td>"
          << format_time(m.first_seen) << "</td><td>" << format_time(m.last_seen)
          << "</td><td class=\"n\">" << m.samples << "</td></tr>\n";
  out << "</tbody></table></details>\n";
}

// Absent without judged samples, so a report without a judge is what it always was. Each
// example is anchored as "sample-N" so that counts here, and links from elsewhere, reach it.
void judge(std::ostream& out, const Report& r) {
  if (r.judge.empty()) return;
  out << "<details class=\"section\" id=\"judge\"><summary><h2>Rules and judge disagree</h2>"
         "</summary>\n<p>Samples of the period "
         "the judge gave an opinion on; where its verdict differs from the rules', the "
         "judge's is the final one. Each disagreement is a candidate for a rule "
         "improvement.</p>\n";
  out << "<table><thead><tr><th>endpoint</th><th>judged</th><th>unusable</th><th>agree</th>"
         "<th>disagree</th></tr></thead><tbody>\n";
  for (const auto& j : r.judge)
    out << "<tr><td>" << h(j.endpoint) << "</td><td class=\"n\">" << j.judged
        << "</td><td class=\"n\">" << j.unusable << "</td><td class=\"n\">"
        << j.judged - j.unusable - j.disagreed << "</td><td class=\"n\">" << j.disagreed
        << "</td></tr>\n";
  out << "</tbody></table>\n";
  for (const auto& j : r.judge) {
    if (j.pairs.empty()) continue;
    out << "<h3>" << h(j.endpoint) << "</h3>\n<table><thead><tr><th>rules</th><th>judge</th>"
           "<th>samples</th></tr></thead><tbody>\n";
    for (const auto& p : j.pairs) {
      out << "<tr><td>" << h(p.rules) << "</td><td>" << h(p.judge) << "</td><td class=\"n\">";
      if (p.example)
        out << "<a href=\"#sample-" << *p.example << "\">" << p.samples << "</a>";
      else
        out << p.samples;
      out << "</td></tr>\n";
    }
    out << "</tbody></table>\n<p>Examples, newest first (a count links to the newest example "
           "of its pair):</p>\n";
    for (const auto& e : j.examples) {
      out << "<div id=\"sample-" << e.sample_id << "\"><h4>Sample " << e.sample_id << ", "
          << h(e.probe_id) << ", run " << format_time(e.run_at) << "</h4>\n<dl class=\"facts\">\n"
          << "<dt>rules</dt><dd>" << h(e.rules_verdict) << "</dd>\n"
          << "<dt>judge</dt><dd><strong>" << h(e.judge_verdict) << "</strong> ("
          << h(e.judge_model) << ")</dd>\n"
          << "<dt>reason</dt><dd>" << (e.reason.empty() ? "–" : h(e.reason)) << "</dd>\n"
          << "<dt>reply</dt><dd>" << (e.excerpt.empty() ? "–" : h(e.excerpt)) << "</dd>\n"
          << "</dl></div>\n";
    }
  }
  out << "</details>\n";
}

// Every table sits in a box of its own that scrolls sideways, so a wide table never widens
// the page on a phone. The renderer's own markup is the only unescaped '<' in the page (all
// text goes through h()), so the literal tags found here are the tables.
std::string scroll_tables(std::string html) {
  std::string out;
  out.reserve(html.size() + 1024);
  static constexpr std::string_view kOpen = "<table>", kClose = "</table>";
  size_t at = 0;
  while (true) {
    size_t open = html.find(kOpen, at), close = html.find(kClose, at);
    size_t next = std::min(open, close);
    if (next == std::string::npos) break;
    out.append(html, at, next - at);
    if (next == open) {
      out += "<div class=\"scroll\"><table>";
      at = open + kOpen.size();
    } else {
      out += "</table></div>";
      at = close + kClose.size();
    }
  }
  out.append(html, at, std::string::npos);
  return out;
}

}  // namespace

std::string render_html(const Report& r) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      // Defence in depth: even if something escaped escaping, the page may run no script and
      // load nothing.
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>driftwatch report " << h(r.date) << "</title>\n<style>" << kStyle
      << "</style></head>\n<body>\n<h1>driftwatch report " << h(r.date) << "</h1>\n"
      << "<p>Period " << h(period_text(r.since, r.until)) << ", against the baseline "
      << h(period_text(r.baseline_since, r.since)) << ".</p>\n";
  out << overview_html(r);
  headline(out, r);
  categories(out, r);
  language_gap(out, r);
  events(out, r);
  health(out, r);
  judge(out, r);
  out << "</body></html>\n";
  return scroll_tables(out.str());
}

}  // namespace dw::report
