// The archive's two views (archive.h): index.html and feed.xml.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <vector>

#include "common/hash.h"
#include "report/archive.h"
#include "report/escape.h"
#include "report/format.h"

namespace dw::report {
namespace {

// Every string placed in either file goes through x(): its output is valid in XML and HTML5
// alike, and unlike html_escape it replaces the characters either forbids, so text read back
// from a file (archive.json, an old report) needs no other guard.
std::string x(std::string_view text) { return xml_escape(text); }

std::string report_file(const std::string& date, std::string_view format) {
  return "driftwatch-" + date + "." + std::string(format);
}

const ArchivedReport* find_report(const Archive& a, const std::string& date) {
  for (const auto& r : a.reports)
    if (r.date == date && !r.formats.empty()) return &r;
  return nullptr;
}

// Where a person reads a report: its HTML file, else Markdown, else JSON (formats are listed
// in that order), with an anchor to the incident in the HTML report.
std::string report_link(const ArchivedReport& r, std::optional<int64_t> incident = {}) {
  if (r.formats.empty()) return "index.html";  // a report with no file left: nowhere better
  std::string link = report_file(r.date, r.formats.front());
  if (incident && r.formats.front() == "html") link += "#incident-" + std::to_string(*incident);
  return link;
}

std::string_view media_type(std::string_view format) {
  if (format == "html") return "text/html";
  if (format == "md") return "text/markdown";
  return "application/json";
}

std::string coordinate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// The censored share per day as a line on a fixed 0-100% scale (rows compare at a glance),
// broken where a day had no valid samples, the last day marked; the words say the same.
std::string sparkline_svg(const ArchivedReport& r) {
  constexpr double kW = 120, kH = 24, kPad = 2;
  const auto& v = r.censored;
  std::optional<double> low, high, last;
  for (auto s : v)
    if (s) {
      low = std::min(low.value_or(*s), *s);
      high = std::max(high.value_or(*s), *s);
      last = s;
    }
  if (!last) return "";
  std::string label = "censored share per day, " + std::to_string(v.size()) + " days from " +
                      r.spark_from + ": last " + percent(last) + ", lowest " + percent(low) +
                      ", highest " + percent(high);
  auto xy = [&](size_t i) {
    double step = v.size() > 1 ? (kW - 2 * kPad) / double(v.size() - 1) : 0;
    double px = v.size() > 1 ? kPad + step * double(i) : kW / 2;
    return coordinate(px) + "," + coordinate(kPad + (1 - *v[i]) * (kH - 2 * kPad));
  };
  std::ostringstream out;
  out << "<svg class=\"spark\" width=\"" << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 "
      << kW << " " << kH << "\" role=\"img\" aria-label=\"" << x(label) << "\"><title>"
      << x(label) << "</title><line x1=\"0\" y1=\"" << kH - kPad << "\" x2=\"" << kW
      << "\" y2=\"" << kH - kPad << "\" stroke=\"#bbb\" stroke-width=\"1\"/>";
  // One polyline per run of days with answers; a day alone between gaps is a dot.
  std::vector<std::string> run;
  auto flush = [&] {
    if (run.size() == 1) {
      size_t comma = run[0].find(',');
      out << "<circle cx=\"" << run[0].substr(0, comma) << "\" cy=\"" << run[0].substr(comma + 1)
          << "\" r=\"1.2\" fill=\"#333\"/>";
    } else if (run.size() > 1) {
      out << "<polyline fill=\"none\" stroke=\"#333\" stroke-width=\"1.5\" points=\"";
      for (size_t k = 0; k < run.size(); ++k) out << (k ? " " : "") << run[k];
      out << "\"/>";
    }
    run.clear();
  };
  size_t last_i = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i]) {
      flush();
      continue;
    }
    run.push_back(xy(i));
    last_i = i;
  }
  flush();
  std::string at = xy(last_i);  // the last day with answers, marked
  size_t comma = at.find(',');
  out << "<circle cx=\"" << at.substr(0, comma) << "\" cy=\"" << at.substr(comma + 1)
      << "\" r=\"2\" fill=\"#333\"/></svg>";
  return out.str();
}

std::string plural(long n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

constexpr const char* kStyle = R"(
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; color: #111; overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; }
ul.reports { list-style: none; padding: 0; }
ul.reports > li { border-top: 1px solid #999; padding: .6rem 0; }
ul.reports h2 { font-size: 1.15rem; margin: 0 .6rem 0 0; display: inline; }
.files a { margin-right: .4rem; } .facts, .trend { margin: .3rem 0; }
svg.spark { vertical-align: middle; margin-right: .5rem; }
ul.incidents { margin: .3rem 0; padding-left: 1.2rem; } ul.incidents li { margin-bottom: .2rem; }
)";

void report_item(std::ostream& out, const ArchivedReport& r) {
  out << "<li id=\"report-" << x(r.date) << "\">\n<h2><a href=\"" << x(report_link(r)) << "\">"
      << x(r.date) << "</a></h2>\n<span class=\"files\">";
  for (const auto& f : r.formats)
    out << "<a href=\"" << x(report_file(r.date, f)) << "\" type=\"" << media_type(f) << "\">"
        << (f == "html" ? "HTML" : f == "md" ? "Markdown" : "JSON") << "</a>";
  out << "</span>\n";
  if (!r.known) {
    out << "<p class=\"facts\">Incidents unknown: no JSON report with incidents to read.</p>\n"
           "</li>\n";
    return;
  }
  out << "<p class=\"facts\"><strong>" << plural(r.new_incidents, "new incident", "new incidents")
      << "</strong>, " << r.resolved_incidents << " resolved, " << r.open_incidents << " open; "
      << plural(r.runs, "run", "runs") << ", " << plural(r.samples, "sample", "samples") << "; "
      << r.endpoints_unhealthy << " of " << plural(r.endpoints, "endpoint", "endpoints")
      << " not healthy</p>\n";
  std::string spark = sparkline_svg(r);
  auto from = parse_time(r.spark_from);
  if (!spark.empty() && from) {
    size_t last = 0;
    for (size_t i = 0; i < r.censored.size(); ++i)
      if (r.censored[i]) last = i;
    out << "<p class=\"trend\">" << spark << "censored " << x(percent(r.censored[last]))
        << " on " << x(format_date(*from + std::chrono::days(last))) << " ("
        << r.censored.size() << "-day trend)</p>\n";
  }
  if (!r.new_lines.empty()) {
    out << "<ul class=\"incidents\">\n";
    for (const auto& [id, line] : r.new_lines)
      out << "<li><a href=\"" << x(report_link(r, id)) << "\">" << x(line) << "</a></li>\n";
    if (r.new_incidents > static_cast<long>(r.new_lines.size()))
      out << "<li>and " << r.new_incidents - static_cast<long>(r.new_lines.size())
          << " more in the report</li>\n";
    out << "</ul>\n";
  }
  out << "</li>\n";
}

// What an entry says beyond its title: where the incident stands and where to read more.
std::string entry_summary(const ArchivedIncident& i) {
  std::string s = i.summary + "\n";
  s += i.resolved_at ? "Resolved at " + format_time(*i.resolved_at) + ". "
                     : std::string("Open: not resolved as of the report of ") + i.last_report +
                           ". ";
  s += i.event_ids.size() == 1 ? "Event" : "Events";
  for (size_t k = 0; k < i.event_ids.size(); ++k)
    s += (k == 0 ? " " : ", ") + std::to_string(i.event_ids[k]);
  return s + "; first in the report of " + i.first_report + ".";
}

}  // namespace

std::string entry_id(std::string_view feed_uuid, int64_t incident_id) {
  std::string hex =
      sha256_hex(std::string(feed_uuid) + "/incident/" + std::to_string(incident_id)).substr(0, 32);
  hex[12] = '8';  // version 8: a name-based UUID of our own hash (RFC 9562, 5.8)
  int variant = (std::stoi(hex.substr(16, 1), nullptr, 16) & 0x3) | 0x8;
  hex[16] = "0123456789abcdef"[variant];
  return "urn:uuid:" + hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) +
         "-" + hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::string render_index(const Archive& a) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>driftwatch reports</title>\n"
         "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"driftwatch incidents\" "
         "href=\""
      << kFeedFile << "\">\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
      << "<h1>driftwatch reports</h1>\n<p>" << plural(long(a.reports.size()), "report", "reports")
      << ", newest first, each with its new incidents and the share of censored answers (refused, "
         "deflected or filtered) per day. Incidents as they appear and resolve: <a href=\""
      << kFeedFile << "\" type=\"application/atom+xml\">Atom feed</a>.</p>\n";
  if (a.reports.empty()) {
    out << "<p>No reports yet.</p>\n";
  } else {
    out << "<ul class=\"reports\">\n";
    for (const auto& r : a.reports) report_item(out, r);
    out << "</ul>\n";
  }
  out << "</body>\n</html>\n";
  return out.str();
}

std::string render_feed(const Archive& a) {
  Time updated{};  // the newest report's end, or a later entry's (none: the epoch)
  for (const auto& r : a.reports)
    if (r.known) updated = std::max(updated, r.until);
  size_t n = std::min(a.incidents.size(), kFeedEntries);
  for (size_t k = 0; k < n; ++k) updated = std::max(updated, a.incidents[k].updated());
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
      << "  <id>urn:uuid:" << x(a.feed_uuid) << "</id>\n"
      << "  <title>driftwatch incidents</title>\n"
      << "  <subtitle>Changes in how language models answer, one entry per incident, updated "
         "when it resolves</subtitle>\n"
      << "  <updated>" << format_time(updated) << "</updated>\n"
      << "  <author><name>driftwatch</name></author>\n"
      << "  <link rel=\"self\" type=\"application/atom+xml\" href=\"" << kFeedFile << "\"/>\n"
      << "  <link rel=\"alternate\" type=\"text/html\" href=\"" << kIndexFile << "\"/>\n"
      << "  <generator>driftwatch</generator>\n";
  for (size_t k = 0; k < n; ++k) {
    const ArchivedIncident& i = a.incidents[k];
    const ArchivedReport* r = find_report(a, i.first_report);
    if (!r) r = find_report(a, i.last_report);
    out << "  <entry>\n"
        << "    <id>" << entry_id(a.feed_uuid, i.id) << "</id>\n"
        << "    <title type=\"text\">" << x(i.summary) << "</title>\n"
        << "    <published>" << format_time(i.detected_at) << "</published>\n"
        << "    <updated>" << format_time(i.updated()) << "</updated>\n";
    if (r)
      out << "    <link rel=\"alternate\" type=\"" << media_type(r->formats.front())
          << "\" href=\"" << x(report_link(*r, i.id)) << "\"/>\n";
    else
      out << "    <link rel=\"alternate\" type=\"text/html\" href=\"" << kIndexFile << "\"/>\n";
    if (!i.endpoint.empty()) out << "    <category term=\"" << x(i.endpoint) << "\"/>\n";
    out << "    <summary type=\"text\">" << x(entry_summary(i)) << "</summary>\n"
        << "  </entry>\n";
  }
  out << "</feed>\n";
  return out.str();
}

}  // namespace dw::report
