// The fleet report's three renderings and its files. Every string from the database has been
// sanitised by build_fleet_report; here each one is escaped for its format (report/escape.h),
// trusted-looking or not: one rule for all leaves nothing to forget.
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "fleet/fleet_report.h"
#include "report/escape.h"
#include "report/format.h"
#include "report/report.h"

namespace dw::fleet {
namespace {

using nlohmann::json;
using report::kError;
using report::kVerdicts;
using report::percent;
using report::VerdictCounts;

std::string plural(long n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The verdict x leans to most compared with y, with its share: "refused 100%".
std::string leaning(const VerdictCounts& x, const VerdictCounts& y) {
  int best = 0;
  double gap = -2;
  for (int i = 0; i < kError; ++i) {
    double d = x.share(i).value_or(0) - y.share(i).value_or(0);
    if (d > gap) gap = d, best = i;
  }
  return std::string(kVerdicts[static_cast<size_t>(best)]) + " " + percent(x.share(best));
}

std::string divergence_text(const Divergence& d) {
  return d.endpoint + " x " + d.probe_id + " " + leaning(d.a, d.b) + " from " + d.vantage_a + ", " +
         leaning(d.b, d.a) + " from " + d.vantage_b;
}

std::string opt_time(const std::optional<Time>& t) { return t ? format_time(*t) : "–"; }
std::string opt_number(const std::optional<double>& x) { return x ? report::number_text(*x) : "–"; }

std::string event_status(const FleetEvent& e) {
  if (!e.resolved_at) return "open";
  return "resolved " + format_time(*e.resolved_at) +
         (e.resolution.empty() ? "" : " (" + e.resolution + ")");
}

std::string subject(const FleetEvent& e) {
  return e.probe_id.empty() ? e.endpoint : e.endpoint + " / " + e.probe_id;
}

// The cells of one vantage's row in a category table, unescaped (numbers and fixed words).
std::vector<std::string> share_cells(const VantageCell& c, long expected) {
  std::vector<std::string> cells;
  for (int i = 0; i < kError; ++i)
    cells.push_back(c.missing() ? "missing" : percent(c.counts.share(i)));
  cells.push_back(c.missing() ? "missing" : percent(c.counts.error_share()));
  cells.push_back(std::to_string(c.runs) + "/" + std::to_string(expected));
  cells.push_back(std::to_string(c.counts.total()));
  return cells;
}

const char* const kDivergenceRule =
    "an endpoint x probe whose answered / refused / deflected / filtered counts differ between "
    "two vantages (exact test; Benjamini-Hochberg q <= alpha over every pair tested; total "
    "variation >= the minimum effect). Errors are never counted.";

const char* const kCategoryLegend =
    "Shares are of valid samples (errors left out); error is the share of classified samples; "
    "runs are seen / expected (the most any vantage has); missing means no sample from that "
    "vantage, which is not a refusal.";

std::string md(std::string_view s) { return report::md_inline(s); }
std::string h(std::string_view s) { return report::html_escape(s); }

void md_row(std::ostream& out, const std::vector<std::string>& escaped) {
  for (const auto& c : escaped) out << "| " << c << " ";
  out << "|\n";
}

void html_row(std::ostream& out, const std::vector<std::string>& escaped, const char* tag = "td") {
  out << "<tr>";
  for (const auto& c : escaped) out << "<" << tag << ">" << c << "</" << tag << ">";
  out << "</tr>\n";
}

// Both table renderers walk the same rows; only escaping and markup differ.
// heading(level, text) and para(text) escape their text; row takes escaped cells.
template <typename Escape, typename Row, typename Heading, typename Para>
void tables(const FleetReport& r, Escape esc, Row row, Heading heading, Para para) {
  heading(2, "Vantages");
  row({"vantage", "monitor roles", "country", "ASN", "runs", "first run", "last run", "clock ahead",
       "events opened"},
      true);
  for (const auto& v : r.vantages) {
    std::string monitors;
    for (const auto& m : v.monitors) monitors += (monitors.empty() ? "" : ", ") + esc(m);
    row({esc(v.name), monitors, esc(v.country), esc(v.asn), std::to_string(v.runs),
         opt_time(v.first_run),
         v.runs ? opt_time(v.last_run) : "none since " + format_time(v.last_seen),
         std::to_string(v.clock_ahead), std::to_string(v.events_opened)},
        false);
  }
  heading(2, "Divergences");
  para(plural(r.pairs_tested, "vantage pair", "vantage pairs") + " tested (alpha " +
       report::number_text(r.alpha) + ", minimum effect " + report::number_text(r.min_effect) +
       "), " + std::to_string(r.pairs_missing) +
       " not compared because one vantage had no valid samples. A divergence is " +
       kDivergenceRule);
  if (!r.divergences.empty()) {
    row({"endpoint", "probe", "version", "category", "vantage", "verdicts", "vantage", "verdicts",
         "p", "q", "effect"},
        true);
    for (const auto& d : r.divergences)
      row({esc(d.endpoint), esc(d.probe_id), esc(d.probe_version), esc(d.category),
           esc(d.vantage_a), report::counts_text(d.a), esc(d.vantage_b), report::counts_text(d.b),
           report::number_text(d.p), report::number_text(d.q), report::number_text(d.effect)},
          false);
  }
  heading(2, "Verdicts by endpoint and category");
  para(kCategoryLegend);
  for (const auto& endpoint : r.endpoints) {
    heading(3, endpoint);
    row({"category", "vantage", "answered", "refused", "deflected", "filtered", "error", "runs",
         "samples"},
        true);
    for (const auto& c : r.categories) {
      if (c.endpoint != endpoint) continue;
      for (const auto& cell : c.vantages) {
        std::vector<std::string> cells{esc(c.category + (c.control ? " (control)" : "")),
                                       esc(cell.vantage)};
        for (auto& s : share_cells(cell, c.expected_runs)) cells.push_back(std::move(s));
        row(cells, false);
      }
    }
  }
  heading(2, "Events opened");
  if (r.events.empty())
    para("None in the period.");
  else
    row({"opened", "vantage", "type", "subject", "category", "scope", "q", "effect", "status"},
        true);
  for (const auto& e : r.events)
    row({format_time(e.opened_at), esc(e.vantage), esc(e.type), esc(subject(e)), esc(e.category),
         esc(e.scope), opt_number(e.q), opt_number(e.effect), esc(event_status(e))},
        false);
  if (r.events_left_out > 0)
    para("… and " + std::to_string(r.events_left_out) + " more not listed");
}

const char* const kStyle =
    "body{font:15px/1.45 system-ui,sans-serif;max-width:80rem;margin:1.5rem auto;padding:0 1rem;"
    "color:#111;overflow-wrap:anywhere}table{border-collapse:collapse;margin:.5rem 0 1rem;"
    "display:block;overflow-x:auto}th,td{border:1px solid #999;padding:.2rem .45rem;"
    "text-align:left}th{background:#eee}p.summary{font-size:1.1rem;font-weight:bold}";

json counts_json(const VerdictCounts& c) {
  json counts = json::object(), shares = json::object();
  for (size_t i = 0; i < kVerdicts.size(); ++i) {
    counts[std::string(kVerdicts[i])] = c.n[i];
    auto s = static_cast<int>(i) == kError ? c.error_share() : c.share(static_cast<int>(i));
    shares[std::string(kVerdicts[i])] = s ? json(*s) : json(nullptr);
  }
  return {{"samples", c.total()},
          {"unclassified", c.unclassified},
          {"counts", counts},
          {"shares", shares}};
}

json opt_json(const std::optional<Time>& t) { return t ? json(format_time(*t)) : json(nullptr); }
json opt_json(const std::optional<double>& x) { return x ? json(*x) : json(nullptr); }
json opt_json(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

std::string fleet_summary(const FleetReport& r) {
  std::string s = plural(static_cast<long>(r.vantages.size()), "vantage", "vantages") + ", " +
                  plural(static_cast<long>(r.endpoints.size()), "endpoint", "endpoints") + ", ";
  if (r.divergences.empty())
    s += "no divergence";
  else
    s += plural(static_cast<long>(r.divergences.size()), "divergence", "divergences") + ": ";
  for (size_t i = 0; i < r.divergences.size() && i < 3; ++i)
    s += (i ? "; " : "") + divergence_text(r.divergences[i]);
  if (r.divergences.size() > 3) s += "; and " + std::to_string(r.divergences.size() - 3) + " more";
  if (!r.complete) s += " (data incomplete: see the notes)";
  return s;
}

std::string render_fleet_markdown(const FleetReport& r) {
  std::ostringstream out;
  out << "# driftwatch fleet report\n\nPeriod " << md(report::period_text(r.since, r.at))
      << ".\n\n**" << md(fleet_summary(r)) << "**\n\n## Data completeness\n\n";
  if (r.complete) out << "- complete: every vantage has every expected run\n";
  for (const auto& n : r.notes) out << "- " << md(n) << "\n";
  out << "\n";
  tables(
      r, md,
      [&](const std::vector<std::string>& cells, bool header) {
        md_row(out, cells);
        if (header) md_row(out, std::vector<std::string>(cells.size(), "---"));
      },
      [&](int level, const std::string& title) {
        out << "\n" << std::string(static_cast<size_t>(level), '#') << " " << md(title) << "\n\n";
      },
      [&](const std::string& text) { out << "\n"
                                         << md(text) << "\n\n"; });
  return out.str();
}

std::string render_fleet_html(const FleetReport& r) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>driftwatch fleet report " << h(format_date(r.at - std::chrono::seconds(1)))
      << "</title>\n<style>" << kStyle << "</style></head>\n<body>\n"
      << "<h1>driftwatch fleet report</h1>\n<p>Period " << h(report::period_text(r.since, r.at))
      << ".</p>\n<p class=\"summary\">" << h(fleet_summary(r))
      << "</p>\n<h2>Data completeness</h2>\n<ul>\n";
  if (r.complete) out << "<li>complete: every vantage has every expected run</li>\n";
  for (const auto& n : r.notes) out << "<li>" << h(n) << "</li>\n";
  out << "</ul>\n";
  bool open = false;  // a <table> waiting for its </table>
  auto close = [&] {
    if (open) out << "</table>\n";
    open = false;
  };
  tables(
      r, h,
      [&](const std::vector<std::string>& cells, bool header) {
        if (header) {
          close();
          out << "<table>\n";
          open = true;
        }
        html_row(out, cells, header ? "th" : "td");
      },
      [&](int level, const std::string& title) {
        close();
        out << "<h" << level << ">" << h(title) << "</h" << level << ">\n";
      },
      [&](const std::string& text) {
        close();
        out << "<p>" << h(text) << "</p>\n";
      });
  close();
  out << "</body></html>\n";
  return out.str();
}

std::string render_fleet_json(const FleetReport& r) {
  json j = {{"version", 1},
            {"since", format_time(r.since)},
            {"at", format_time(r.at)},
            {"alpha", r.alpha},
            {"min_effect", r.min_effect},
            {"summary", fleet_summary(r)},
            {"complete", r.complete},
            {"notes", r.notes},
            {"endpoints", r.endpoints},
            {"pairs_tested", r.pairs_tested},
            {"pairs_missing", r.pairs_missing},
            {"events_left_out", r.events_left_out}};
  j["vantages"] = json::array();
  for (const auto& v : r.vantages)
    j["vantages"].push_back({{"name", v.name},
                             {"monitors", v.monitors},
                             {"country", opt_json(v.country)},
                             {"asn", opt_json(v.asn)},
                             {"runs", v.runs},
                             {"first_run", opt_json(v.first_run)},
                             {"last_run", opt_json(v.last_run)},
                             {"last_seen", format_time(v.last_seen)},
                             {"clock_ahead_runs", v.clock_ahead},
                             {"events_opened", v.events_opened}});
  j["categories"] = json::array();
  for (const auto& c : r.categories) {
    json cells = json::array();
    for (const auto& v : c.vantages)
      cells.push_back({{"vantage", v.vantage},
                       {"runs", v.runs},
                       {"missing", v.missing()},
                       {"verdicts", counts_json(v.counts)}});
    j["categories"].push_back({{"endpoint", c.endpoint},
                               {"category", c.category},
                               {"control", c.control},
                               {"expected_runs", c.expected_runs},
                               {"vantages", cells}});
  }
  j["divergences"] = json::array();
  for (const auto& d : r.divergences)
    j["divergences"].push_back({{"endpoint", d.endpoint},
                                {"probe", d.probe_id},
                                {"probe_version", d.probe_version},
                                {"category", d.category},
                                {"a", {{"vantage", d.vantage_a}, {"verdicts", counts_json(d.a)}}},
                                {"b", {{"vantage", d.vantage_b}, {"verdicts", counts_json(d.b)}}},
                                {"p", d.p},
                                {"q", d.q},
                                {"effect", d.effect}});
  j["events"] = json::array();
  for (const auto& e : r.events)
    j["events"].push_back({{"vantage", e.vantage},
                           {"monitor", e.monitor},
                           {"type", e.type},
                           {"endpoint", e.endpoint},
                           {"probe", e.probe_id},
                           {"probe_version", e.probe_version},
                           {"category", e.category},
                           {"scope", e.scope},
                           {"opened_at", format_time(e.opened_at)},
                           {"detected_at", format_time(e.detected_at)},
                           {"q", opt_json(e.q)},
                           {"effect", opt_json(e.effect)},
                           {"resolved_at", opt_json(e.resolved_at)},
                           {"resolution", opt_json(e.resolution)}});
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Status write_fleet_report(const FleetReport& report, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error("cannot create the report folder: " + ec.message(), Location{dir.string()});
  const std::pair<const char*, std::string> files[] = {
      {"fleet-report.md", render_fleet_markdown(report)},
      {"fleet-report.html", render_fleet_html(report)},
      {"fleet-report.json", render_fleet_json(report)}};
  for (const auto& [name, content] : files)
    if (auto s = report::write_atomically(dir / name, content); !s) return s;
  return {};
}

}  // namespace dw::fleet
