#include <cmath>
#include <sstream>

#include "report/escape.h"
#include "report/format.h"
#include "report/incidents.h"
#include "report/language_gap.h"
#include "report/render.h"

namespace dw::report {
namespace {

// Every string placed here goes through md_inline (or into a code block), trusted or not:
// endpoint names and probe ids are the user's, but one rule for all leaves nothing to forget.
std::string md(std::string_view text) { return md_inline(text); }

std::string share_cell(const VerdictCounts& before, const VerdictCounts& now, int i) {
  auto b = before.share(i), n = now.share(i);
  std::string cell = percent(b) + " → " + percent(n);
  std::string change = change_points(b, n);
  if (!change.empty() && change != "0") cell += " (" + change + ")";
  return cell;
}

void verdict_row(std::ostream& out, std::string_view category, std::string_view lang,
                 const VerdictCounts& before, const VerdictCounts& now, std::string_view trend) {
  out << "| " << md(category) << " | " << md(lang) << " | " << before.total() << " → "
      << now.total();
  for (int i = 0; i < kError; ++i) out << " | " << share_cell(before, now, i);
  out << " | " << now.n[kError] << " | " << trend << " |\n";
}

// One line per incident (report/incidents.h), new first, each naming its events' sections
// ("Event 12" below). By number, not by link: the Markdown report holds no links at all, so
// none can be forged either.
void incident_lines(std::ostream& out, const Report& r) {
  out << r.incidents.size() << (r.incidents.size() == 1 ? " incident" : " incidents")
      << " (events that are one change), new first:\n\n";
  for (const auto& i : r.incidents) {
    out << "- " << (i.is_new ? "**new**" : i.open ? "ongoing" : "resolved") << ": "
        << md(describe(i)) << " (" << (i.event_ids.size() == 1 ? "event" : "events");
    for (size_t k = 0; k < i.event_ids.size(); ++k) out << (k == 0 ? " " : ", ") << i.event_ids[k];
    out << ")\n";
  }
  out << "\n";
}

void headline(std::ostream& out, const Report& r) {
  const Headline& h = r.headline;
  out << "## What changed\n\n";
  out << "- **" << h.new_events << " new " << (h.new_events == 1 ? "event" : "events") << "**, "
      << h.ongoing_events << " ongoing, " << h.resolved_events << " resolved\n";
  out << "- " << h.runs << (h.runs == 1 ? " run (" : " runs (") << h.incomplete_runs
      << " incomplete), " << h.samples << (h.samples == 1 ? " sample\n" : " samples\n");
  out << "- endpoints: " << h.endpoints_healthy << " healthy, " << h.endpoints_unhealthy
      << " not healthy";
  for (const auto& e : r.health)
    if (!e.healthy) out << "; " << md(e.endpoint) << ": " << md(e.reason);
  out << "\n\n";
  if (r.events.empty()) {
    out << "No drift events in the period.\n\n";
    return;
  }
  incident_lines(out, r);
}

void categories(std::ostream& out, const Report& r) {
  out << "## Verdicts by endpoint and category\n\n";
  if (r.categories.empty()) {  // no table, no trend to say the length of
    out << "No samples in the period or its baseline.\n\n";
    return;
  }
  out << "Shares of the samples that got an answer, a refusal or a block (errors left out), "
         "baseline → period, with the change in points. Trend: refused + deflected + filtered "
         "per day over the last "
      << r.categories.front().trend.size() << " days (▁ none … █ all, · no data).\n\n";
  std::string endpoint;
  for (const auto& c : r.categories) {
    if (c.endpoint != endpoint || &c == &r.categories.front()) {
      endpoint = c.endpoint;
      out << "### " << md(endpoint) << "\n\n";
      out << "| category | lang | samples | answered | refused | deflected | filtered | errors "
             "| trend |\n";
      out << "| --- | --- | ---: | --- | --- | --- | --- | ---: | --- |\n";
    }
    std::string name = c.category + (c.control ? " (control)" : "");
    verdict_row(out, name, "all", c.baseline, c.now, sparkline(c.trend));
    if (c.languages.size() > 1)
      for (const auto& l : c.languages) verdict_row(out, "", l.lang, l.baseline, l.now, "");
    if (&c == &r.categories.back() || (&c + 1)->endpoint != endpoint) out << "\n";
  }
}

// A share as ten cells, "███░░░░░░░", or "·" without one: the chart of the language gap.
std::string bar(std::optional<double> share) {
  if (!share) return "·";
  long full = std::lround(*share * 10);
  std::string out;
  for (long i = 0; i < 10; ++i) out += i < full ? "█" : "░";
  return out;
}

// The same questions in English and in Chinese (report/language_gap.h), per endpoint.
void language_gap(std::ostream& out, const Report& r) {
  out << "## Language gap: English and Chinese\n\n";
  if (r.language_gap.empty()) {
    out << "No question was asked in both English and Chinese.\n\n";
    return;
  }
  out << "Questions asked in both languages (probe ids that differ only in their language "
         "suffix, such as -en and -zh): the share answered in each, baseline → period, and the "
         "gap, English minus Chinese in points (positive: more answered in English). Chart: "
         "answered in the period, English then Chinese, a block for each tenth.\n\n";
  auto points = [](std::optional<double> x) { return x ? change_points(0.0, x) : "–"; };
  for (size_t i = 0; i < r.language_gap.size(); ++i) {
    const LanguageGap& g = r.language_gap[i];
    if (i == 0 || r.language_gap[i - 1].endpoint != g.endpoint)
      out << "### " << md(g.endpoint) << "\n\n"
          << "| category | pairs | answered in English | answered in Chinese | gap | change | "
             "chart |\n| --- | ---: | --- | --- | --- | --- | --- |\n";
    out << "| " << md(g.category + (g.control ? " (control)" : "")) << " | " << g.stems.size()
        << " | " << percent(g.en_baseline.share(0)) << " → " << percent(g.en_now.share(0))
        << " | " << percent(g.zh_baseline.share(0)) << " → " << percent(g.zh_now.share(0))
        << " | " << points(gap(g.en_baseline, g.zh_baseline)) << " → "
        << points(gap(g.en_now, g.zh_now)) << " | " << points(gap_change(g)) << " | en "
        << bar(g.en_now.share(0)) << " zh " << bar(g.zh_now.share(0)) << " |\n";
    if (i + 1 == r.language_gap.size() || r.language_gap[i + 1].endpoint != g.endpoint)
      out << "\n";
  }
}

std::string diff_text(const std::vector<DiffPiece>& pieces) {
  std::string out;
  for (const auto& p : pieces) {
    switch (p.op) {
      case DiffOp::same: out += p.text; break;
      case DiffOp::removed: out += "[-" + p.text + "-]"; break;
      case DiffOp::added: out += "{+" + p.text + "+}"; break;
    }
  }
  return out;
}

std::string side_line(const char* name, const TypicalSide& s) {
  std::string line = std::string(name) + ": " + std::to_string(s.verdicts.total()) + " samples (" +
                     counts_text(s.verdicts) + "), " + format_time(s.from) + " – " +
                     format_time(s.until);
  if (s.sample_id)
    line += "; typical answer: sample " + std::to_string(*s.sample_id) + ", " +
            (s.verdict.empty() ? "unclassified" : s.verdict);
  else
    line += "; no answer text";
  return line;
}

void events(std::ostream& out, const Report& r) {
  if (r.events.empty()) return;
  out << "## Events\n\n";
  for (const auto& e : r.events) {
    out << "### Event " << e.id << ": " << md(e.type) << ", " << md(event_subject(e)) << "\n\n";
    out << "Detected " << format_time(e.detected_at) << " (" << to_string(e.lifecycle) << "), "
        << (e.resolved ? "resolved " + format_time(*e.resolved_at) : std::string("open"));
    if (!e.category.empty()) out << "; category " << md(e.category) << ", language " << md(e.lang);
    out << ".\n\n";
    for (const auto& [label, value] : evidence_facts(e))
      out << "- " << md(label) << ": " << md(value) << "\n";
    out << "\n";
    if (!e.typical_before || !e.typical_after) continue;
    // Counts, times, ids and the five verdict names only: nothing untrusted to escape.
    out << "Typical answers (the medoid of each side):\n\n";
    out << "- " << side_line("before", *e.typical_before) << "\n";
    out << "- " << side_line("after", *e.typical_after) << "\n\n";
    if (e.diff.size() == 1 && e.diff[0].op == DiffOp::same) {
      out << "The typical answers before and after are the same text:\n\n";
      out << md_code_block(e.diff[0].text, "text") << "\n";
    } else if (!e.diff.empty()) {
      out << "Word diff of the typical answers ([-removed-] {+added+}):\n\n";
      out << md_code_block(diff_text(e.diff), "text") << "\n";
    } else {
      for (const auto* s : {&*e.typical_before, &*e.typical_after})
        if (s->sample_id) out << md_code_block(s->text, "text") << "\n";
    }
  }
}

std::string ms(const std::optional<long>& v) { return v ? std::to_string(*v) : "–"; }

void health(std::ostream& out, const Report& r) {
  out << "## Endpoint health\n\n";
  if (r.health.empty()) {
    out << "No samples in the period or its baseline.\n\n";
    return;
  }
  out << "| endpoint | status | samples | errors | error share | HTTP of errors | latency ms "
         "p50 / p90 / p99 / max |\n";
  out << "| --- | --- | ---: | ---: | --- | --- | --- |\n";
  for (const auto& h : r.health) {
    std::string statuses;
    for (const auto& [code, n] : h.http_status)
      statuses += (statuses.empty() ? "" : ", ") +
                  (code == 0 ? std::string("no response") : std::to_string(code)) + " ×" +
                  std::to_string(n);
    out << "| " << md(h.endpoint) << " | " << (h.healthy ? "healthy" : "NOT healthy: " + md(h.reason))
        << " | " << h.now.total() << " | " << h.now.n[kError] << " | "
        << percent(h.baseline.error_share()) << " → " << percent(h.now.error_share()) << " | "
        << (statuses.empty() ? "–" : statuses) << " | " << ms(h.p50_ms) << " / " << ms(h.p90_ms)
        << " / " << ms(h.p99_ms) << " / " << ms(h.max_ms) << " |\n";
  }
  out << "\nModels and fingerprints reported:\n\n";
  for (const auto& h : r.health) {
    for (const auto& m : h.models) {
      out << "- " << md(h.endpoint) << ": model " << md(m.model);
      if (!m.fingerprint.empty()) out << ", fingerprint " << md(m.fingerprint);
      out << ", " << format_time(m.first_seen) << " – " << format_time(m.last_seen) << ", "
          << m.samples << " samples" << (m.new_in_period ? " **(new in this period)**" : "")
          << "\n";
    }
  }
  out << "\n";
}

// Absent without judged samples, so a report without a judge is what it always was.
void judge(std::ostream& out, const Report& r) {
  if (r.judge.empty()) return;
  out << "## Rules and judge disagree\n\n";
  out << "Samples of the period the judge gave an opinion on; where its verdict differs from "
         "the rules', the judge's is the final one. Each disagreement is a candidate for a rule "
         "improvement.\n\n";
  out << "| endpoint | judged | unusable | agree | disagree |\n";
  out << "| --- | ---: | ---: | ---: | ---: |\n";
  for (const auto& j : r.judge)
    out << "| " << md(j.endpoint) << " | " << j.judged << " | " << j.unusable << " | "
        << j.judged - j.unusable - j.disagreed << " | " << j.disagreed << " |\n";
  out << "\n";
  for (const auto& j : r.judge) {
    if (j.pairs.empty()) continue;
    out << "### " << md(j.endpoint) << "\n\n";
    out << "| rules | judge | samples | example |\n";
    out << "| --- | --- | ---: | --- |\n";
    for (const auto& p : j.pairs)
      out << "| " << md(p.rules) << " | " << md(p.judge) << " | " << p.samples << " | "
          << (p.example ? "sample " + std::to_string(*p.example) : std::string("–")) << " |\n";
    out << "\nExamples, newest first:\n\n";
    for (const auto& e : j.examples) {
      out << "- sample " << e.sample_id << ", " << md(e.probe_id) << ", run "
          << format_time(e.run_at) << ": rules " << md(e.rules_verdict) << ", judge "
          << md(e.judge_verdict) << " (" << md(e.judge_model) << ")\n";
      out << "  - reason: " << (e.reason.empty() ? "–" : md(e.reason)) << "\n";
      out << "  - reply: " << (e.excerpt.empty() ? "–" : md(e.excerpt)) << "\n";
    }
    out << "\n";
  }
}

}  // namespace

std::string render_markdown(const Report& r) {
  std::ostringstream out;
  out << "# driftwatch report " << r.date << "\n\n";
  out << "Period " << period_text(r.since, r.until) << ", against the baseline "
      << period_text(r.baseline_since, r.since) << ".\n\n";
  headline(out, r);
  categories(out, r);
  language_gap(out, r);
  events(out, r);
  health(out, r);
  judge(out, r);
  return out.str();
}

}  // namespace dw::report
