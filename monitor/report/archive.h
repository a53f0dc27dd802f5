// The report folder's archive, rewritten with every report (write_reports, report.h):
//   index.html    every report in the folder, newest first: its date, its new incidents (count
//                 and lines), what resolved, and a sparkline of the censored share per day;
//   feed.xml      an Atom feed (RFC 4287) of incidents, one entry per incident, newest first,
//                 an entry's `updated` being its detection, or its resolution once resolved;
//   archive.json  what the two are built from: a digest of each report (a few hundred bytes)
//                 and the incidents the feed tells, so no old report is read again.
//
//   auto files = dw::report::update_archive(report, options.dir);
//   if (!files) return files.error();
//   for (const auto& f : *files) write_atomically(f.path, f.content);  // report.cc
//
// Why a small state file and not the JSON reports themselves: the JSON format is optional
// ([report] formats), a JSON report carries every event with its evidence and answers (large,
// and a year of them would be read every night on a small machine), and the feed needs what no
// single report holds: where an incident first appeared, and the feed's own id. The reports
// stay the source of truth: a report in the folder that archive.json does not know (written
// before the archive existed, or archive.json deleted or unreadable) is read once from its
// JSON file (bounded: input/json.h, at most kMaxReportJson bytes) and kept in archive.json;
// without a JSON file with incidents (another format only, or a report written before
// incidents existed) it is listed by date and files alone. A report whose files were all
// deleted leaves the index. The feed's id is random, made when archive.json is first written
// and kept in it: losing archive.json gives the feed a new id (feed readers then show its
// entries again).
//
// Incidents (incidents.h) are followed across reports by id and, when grouping gives an
// incident a new id (its first event resolved and left the report), by a shared event: the
// feed keeps one entry per change, under the id it had when first seen. A report rewritten for
// an earlier date than the newest one that had an incident changes its own row, not what the
// later report said of the incident (its line, its resolution).
//
// Everything placed in either file goes through xml_escape (escape.h; valid in HTML5 too), and
// all text read back from JSON through sanitise_untrusted (text.h) first: a hostile stock reply
// stays text, and neither file can hold a character XML 1.0 or HTML5 forbids.
//
// Threads: no shared state. Concurrent writers of one folder: the last archive.json wins, and
// a report it lost is read back from its JSON file on the next update.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/time.h"

namespace dw::report {

struct Report;  // model.h

inline constexpr std::string_view kIndexFile = "index.html";
inline constexpr std::string_view kFeedFile = "feed.xml";
inline constexpr std::string_view kArchiveFile = "archive.json";
inline constexpr size_t kFeedEntries = 100;   // newest incidents in the feed
inline constexpr size_t kIndexLines = 5;      // new-incident lines kept per report
inline constexpr size_t kSparkDays = 30;      // days in a report's sparkline
inline constexpr size_t kKeptIncidents = 500;  // newest incidents archive.json remembers
inline constexpr uintmax_t kMaxReportJson = 64u << 20;  // bytes of an old JSON report read

// What the index shows of one report.
struct ArchivedReport {
  std::string date;  // "2026-01-11": the report's files are driftwatch-<date>.<ext>
  bool known = false;  // false: no JSON report with incidents was read; only date and files
  Time since, until;   // its period (known only)
  long new_incidents = 0, resolved_incidents = 0, open_incidents = 0;
  long runs = 0, samples = 0, endpoints_unhealthy = 0, endpoints = 0;
  // Up to kIndexLines new incidents: (incident id, describe() line), in the report's order.
  std::vector<std::pair<int64_t, std::string>> new_lines;
  // The censored share (refused + deflected + filtered among valid samples, topic categories
  // of every endpoint, controls left out) of the last days of its trend, oldest first; nullopt
  // for a day without valid samples. spark_from is the first one's date.
  std::string spark_from;
  std::vector<std::optional<double>> censored;
  // Not stored: the formats found in the folder for this date ("html", "md", "json").
  std::vector<std::string> formats;
};

// What the feed tells of one incident.
struct ArchivedIncident {
  int64_t id = 0;          // the incident's id when first seen (incidents.h: its first event)
  std::string endpoint;    // "" when about no single endpoint
  std::string summary;     // describe() in the newest report that had it
  Time detected_at;
  std::optional<Time> resolved_at;  // once every event is resolved
  std::string first_report;  // date of the report it first appeared in
  std::string last_report;   // date of the newest report that had it
  std::vector<int64_t> event_ids;  // every event it has had, sorted
  Time updated() const { return resolved_at ? *resolved_at : detected_at; }
};

struct Archive {
  std::string feed_uuid;  // "6f1c...-...": the feed's id is urn:uuid:<feed_uuid>
  std::vector<ArchivedReport> reports;      // newest first
  std::vector<ArchivedIncident> incidents;  // newest updated() first, then higher id
};

struct ArchiveFile {
  std::filesystem::path path;
  std::string content;
};

// Reads archive.json and the listing of dir, adds report (already written into dir, so its
// files are listed), and returns archive.json, index.html and feed.xml for the caller to write,
// in that order. An archive.json that is missing, unreadable or of another shape is rebuilt
// from the folder (see above), never an error. Fails only when dir cannot be listed, naming it.
Result<std::vector<ArchiveFile>> update_archive(const Report& report,
                                                const std::filesystem::path& dir);

// The two views, pure functions of the archive (report.formats and first_report pick the
// links: the HTML report where there is one, else Markdown, else JSON).
// index.html: one self-contained HTML5 page, inline CSS and SVG, no scripts, no external
// resources; links are relative to the folder.
std::string render_index(const Archive& archive);
// feed.xml: Atom 1.0, at most kFeedEntries entries in the order of archive.incidents. Entry
// ids are urn:uuid: names derived from feed_uuid and the incident id (stable across updates);
// links (self, the index, each entry's report) are relative to the folder.
std::string render_feed(const Archive& archive);

// The urn:uuid: id of an incident's entry: a name-based UUID (RFC 9562 version 8) from
// SHA-256 of feed_uuid and id.
std::string entry_id(std::string_view feed_uuid, int64_t incident_id);

}  // namespace dw::report
