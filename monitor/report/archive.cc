#include "report/archive.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

#include "input/json.h"
#include "report/model.h"
#include "report/render.h"
#include "report/text.h"

namespace dw::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kArchiveVersion = 1;  // of archive.json; another version is rebuilt
constexpr uintmax_t kMaxArchiveJson = 16u << 20;
constexpr std::array<std::string_view, 3> kFormats = {"html", "md", "json"};  // link preference

// Reading JSON back: a missing key, a wrong type or a bad time throws (nlohmann's own
// exceptions, or this one), caught where a whole file is read, so a file of another shape is
// rejected as a whole, never half-read with silent defaults.
struct Malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Text read back from a file is as untrusted as the model output it may quote.
std::string text_at(const json& o, const char* key) {
  return sanitise_untrusted(o.at(key).get<std::string>());
}
std::string text_or_empty(const json& o, const char* key) {
  return o.at(key).is_null() ? std::string() : text_at(o, key);
}

bool is_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}
std::string date_at(const json& o, const char* key) {
  std::string d = o.at(key).get<std::string>();
  if (!is_date(d)) throw Malformed(std::string(key) + " is not a date");
  return d;
}

Time time_at(const json& o, const char* key) {
  auto t = parse_time(o.at(key).get<std::string>());
  if (!t) throw Malformed(std::string(key) + ": " + t.error().message());
  return *t;
}
std::optional<Time> optional_time_at(const json& o, const char* key) {
  if (o.at(key).is_null()) return std::nullopt;
  return time_at(o, key);
}
json time_json(std::optional<Time> t) { return t ? json(format_time(*t)) : json(nullptr); }

// An incident as one report told it.
struct Seen {
  int64_t id = 0;
  std::string endpoint, summary;
  Time detected_at;
  std::optional<Time> resolved_at;
  std::vector<int64_t> events;
};

struct Digest {
  ArchivedReport report;
  std::vector<Seen> incidents;
};

// The digest of a report in its JSON shape (render_json.cc, README "Reports"). A report written
// before incidents existed has no "incidents": it is rejected like any other shape, so the
// index says its incidents are unknown rather than none.
Digest digest_of(const json& r) {
  Digest d;
  ArchivedReport& a = d.report;
  a.date = date_at(r, "date");
  a.known = true;
  a.since = time_at(r.at("period"), "since");
  a.until = time_at(r.at("period"), "until");
  const json& hl = r.at("headline");
  a.runs = hl.at("runs").get<long>();
  a.samples = hl.at("samples").get<long>();
  a.endpoints_unhealthy = hl.at("endpoints_unhealthy").get<long>();
  a.endpoints = hl.at("endpoints_healthy").get<long>() + a.endpoints_unhealthy;
  for (const json& i : r.at("incidents")) {
    Seen s;
    s.id = i.at("id").get<int64_t>();
    s.endpoint = text_or_empty(i, "endpoint");
    s.summary = text_at(i, "summary");
    s.detected_at = time_at(i, "detected_at");
    if (!i.at("open").get<bool>()) s.resolved_at = optional_time_at(i, "resolved_at");
    s.events = i.at("events").get<std::vector<int64_t>>();
    std::sort(s.events.begin(), s.events.end());
    if (i.at("new").get<bool>()) {
      ++a.new_incidents;
      if (a.new_lines.size() < kIndexLines) a.new_lines.emplace_back(s.id, s.summary);
    }
    if (!s.resolved_at) ++a.open_incidents;
    else if (*s.resolved_at >= a.since && *s.resolved_at < a.until) ++a.resolved_incidents;
    d.incidents.push_back(std::move(s));
  }
  // Per day over every endpoint's topic categories: {censored, valid} samples.
  std::map<std::string, std::array<long, 2>> days;
  for (const json& c : r.at("categories")) {
    if (c.at("control").get<bool>()) continue;
    for (const json& day : c.at("trend")) {
      const json& n = day.at("counts");
      long censored = n.at("refused").get<long>() + n.at("deflected").get<long>() +
                      n.at("filtered").get<long>();
      auto& [cen, valid] = days[date_at(day, "date")];
      cen += censored;
      valid += censored + n.at("answered").get<long>();
    }
  }
  size_t skip = days.size() > kSparkDays ? days.size() - kSparkDays : 0;
  for (const auto& [date, n] : days) {
    if (skip > 0) {
      --skip;
      continue;
    }
    if (a.spark_from.empty()) a.spark_from = date;
    a.censored.push_back(n[1] > 0 ? std::optional<double>(double(n[0]) / double(n[1]))
                                  : std::nullopt);
  }
  return d;
}

json report_json(const ArchivedReport& a) {
  if (!a.known) return {{"date", a.date}, {"known", false}};
  json lines = json::array();
  for (const auto& [id, line] : a.new_lines) lines.push_back({id, line});
  json censored = json::array();
  for (auto v : a.censored) censored.push_back(v ? json(*v) : json(nullptr));
  return {{"date", a.date}, {"known", true}, {"since", format_time(a.since)},
          {"until", format_time(a.until)}, {"new_incidents", a.new_incidents},
          {"resolved_incidents", a.resolved_incidents}, {"open_incidents", a.open_incidents},
          {"runs", a.runs}, {"samples", a.samples}, {"endpoints", a.endpoints},
          {"endpoints_unhealthy", a.endpoints_unhealthy}, {"new_lines", lines},
          {"spark_from", a.spark_from}, {"censored", censored}};
}

ArchivedReport report_from(const json& o) {
  ArchivedReport a;
  a.date = date_at(o, "date");
  a.known = o.at("known").get<bool>();
  if (!a.known) return a;
  a.since = time_at(o, "since");
  a.until = time_at(o, "until");
  a.new_incidents = o.at("new_incidents").get<long>();
  a.resolved_incidents = o.at("resolved_incidents").get<long>();
  a.open_incidents = o.at("open_incidents").get<long>();
  a.runs = o.at("runs").get<long>();
  a.samples = o.at("samples").get<long>();
  a.endpoints = o.at("endpoints").get<long>();
  a.endpoints_unhealthy = o.at("endpoints_unhealthy").get<long>();
  for (const json& l : o.at("new_lines"))
    a.new_lines.emplace_back(l.at(0).get<int64_t>(),
                             sanitise_untrusted(l.at(1).get<std::string>()));
  a.spark_from = o.at("spark_from").get<std::string>();
  if (!a.spark_from.empty() && !is_date(a.spark_from)) throw Malformed("spark_from is not a date");
  for (const json& v : o.at("censored"))
    a.censored.push_back(v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()));
  return a;
}

json incident_state_json(const ArchivedIncident& i) {
  return {{"id", i.id}, {"endpoint", i.endpoint}, {"summary", i.summary},
          {"detected_at", format_time(i.detected_at)}, {"resolved_at", time_json(i.resolved_at)},
          {"first_report", i.first_report}, {"last_report", i.last_report},
          {"events", i.event_ids}};
}

ArchivedIncident incident_from(const json& o) {
  ArchivedIncident i;
  i.id = o.at("id").get<int64_t>();
  i.endpoint = text_at(o, "endpoint");
  i.summary = text_at(o, "summary");
  i.detected_at = time_at(o, "detected_at");
  i.resolved_at = optional_time_at(o, "resolved_at");
  i.first_report = date_at(o, "first_report");
  i.last_report = date_at(o, "last_report");
  i.event_ids = o.at("events").get<std::vector<int64_t>>();
  std::sort(i.event_ids.begin(), i.event_ids.end());
  return i;
}

std::string random_uuid() {
  std::random_device device;
  std::array<unsigned, 16> b{};
  for (auto& x : b) x = device() & 0xFFu;
  b[6] = (b[6] & 0x0Fu) | 0x40u;  // version 4 (random)
  b[8] = (b[8] & 0x3Fu) | 0x80u;  // RFC 9562 variant
  std::string out;
  char hex[3];
  for (size_t k = 0; k < b.size(); ++k) {
    if (k == 4 || k == 6 || k == 8 || k == 10) out += '-';
    std::snprintf(hex, sizeof hex, "%02x", b[k]);
    out += hex;
  }
  return out;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t k = 0; k < s.size(); ++k) {
    bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash != (s[k] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(s[k]))) return false;
  }
  return true;
}

// A file's text, or nullopt when it is missing, unreadable or larger than cap.
std::optional<std::string> read_capped(const fs::path& path, uintmax_t cap) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec || size > cap) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

struct State {
  std::string feed_uuid;
  std::map<std::string, ArchivedReport> reports;  // by date
  std::vector<ArchivedIncident> incidents;
};

// archive.json as it was; a fresh state (a new feed id) when it is missing or not of this
// version's shape.
State load_state(const fs::path& path) {
  State fresh{random_uuid(), {}, {}};
  auto text = read_capped(path, kMaxArchiveJson);
  if (!text) return fresh;
  auto parsed = input::parse_json(*text);
  if (!parsed) return fresh;
  try {
    const json& o = *parsed;
    if (o.at("archive_version").get<int>() != kArchiveVersion) return fresh;
    State s;
    s.feed_uuid = o.at("feed_uuid").get<std::string>();
    if (!is_uuid(s.feed_uuid)) return fresh;
    for (const json& r : o.at("reports")) {
      ArchivedReport a = report_from(r);
      s.reports[a.date] = std::move(a);
    }
    for (const json& i : o.at("incidents")) s.incidents.push_back(incident_from(i));
    return s;
  } catch (const std::exception&) {
    return fresh;
  }
}

bool share_an_event(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  auto i = a.begin(), j = b.begin();
  while (i != a.end() && j != b.end()) {
    if (*i == *j) return true;
    *i < *j ? ++i : ++j;
  }
  return false;
}

// Adds what the report of date said of an incident: by its id, else by a shared event with an
// incident that no other incident of this report has claimed (taken: ids already matched, and
// this report's own ids), else by its endpoint, first detection and sentence.
void merge(std::vector<ArchivedIncident>& all, const Seen& s, const std::string& date,
           std::set<int64_t>& taken) {
  auto same = std::find_if(all.begin(), all.end(), [&](const ArchivedIncident& a) {
    return a.id == s.id && a.endpoint == s.endpoint;
  });
  if (same == all.end())
    same = std::find_if(all.begin(), all.end(), [&](const ArchivedIncident& a) {
      return !taken.contains(a.id) && a.endpoint == s.endpoint &&
             share_an_event(a.event_ids, s.events);
    });
  // Detection recomputed (reclassify, judge, import) gives the same changes new event ids
  // (never reused ones: the store's ids only grow): the same endpoint, first detection and
  // sentence is the same incident.
  if (same == all.end())
    same = std::find_if(all.begin(), all.end(), [&](const ArchivedIncident& a) {
      return !taken.contains(a.id) && a.endpoint == s.endpoint &&
             a.detected_at == s.detected_at && a.summary == s.summary;
    });
  if (same == all.end()) {
    all.push_back({s.id, s.endpoint, s.summary, s.detected_at, s.resolved_at, date, date,
                   s.events});
    return;
  }
  ArchivedIncident& a = *same;
  taken.insert(a.id);
  a.first_report = std::min(a.first_report, date);
  a.detected_at = std::min(a.detected_at, s.detected_at);
  std::vector<int64_t> events;
  std::set_union(a.event_ids.begin(), a.event_ids.end(), s.events.begin(), s.events.end(),
                 std::back_inserter(events));
  a.event_ids = std::move(events);
  if (date < a.last_report) return;  // an older report rewritten: later ones know better
  a.last_report = date;
  a.summary = s.summary;
  a.resolved_at = s.resolved_at;
}

void add_digest(State& state, Digest digest) {
  std::set<int64_t> taken;
  for (const auto& s : digest.incidents) taken.insert(s.id);
  for (const auto& s : digest.incidents) merge(state.incidents, s, digest.report.date, taken);
  state.reports[digest.report.date] = std::move(digest.report);
}

// A report the state does not know, read once from its JSON file; by date alone without one.
Digest read_old_report(const fs::path& dir, const std::string& date) {
  Digest unknown;
  unknown.report.date = date;
  auto text = read_capped(dir / ("driftwatch-" + date + ".json"), kMaxReportJson);
  if (!text) return unknown;
  auto parsed = input::parse_json(*text);
  if (!parsed) return unknown;
  try {
    Digest d = digest_of(*parsed);
    return d.report.date == date ? d : unknown;
  } catch (const std::exception&) {
    return unknown;
  }
}

// The report files in dir by date: "driftwatch-YYYY-MM-DD.<html|md|json>", formats in link
// preference order.
Result<std::map<std::string, std::vector<std::string>>> list_reports(const fs::path& dir) {
  std::map<std::string, std::vector<std::string>> found;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with("driftwatch-") || name.size() < 23 || name[21] != '.') continue;
    std::string date = name.substr(11, 10), ext = name.substr(22);
    std::error_code type_ec;
    if (!is_date(date) || !it->is_regular_file(type_ec)) continue;
    if (std::find(kFormats.begin(), kFormats.end(), ext) != kFormats.end())
      found[date].push_back(ext);
  }
  if (ec) return Error("cannot list the report folder: " + ec.message(), Location{dir.string()});
  for (auto& [date, formats] : found)
    std::sort(formats.begin(), formats.end(), [](const std::string& a, const std::string& b) {
      return std::find(kFormats.begin(), kFormats.end(), a) <
             std::find(kFormats.begin(), kFormats.end(), b);
    });
  return found;
}

std::string state_text(const State& s) {
  json reports = json::array(), incidents = json::array();
  for (auto it = s.reports.rbegin(); it != s.reports.rend(); ++it)
    reports.push_back(report_json(it->second));
  for (const auto& i : s.incidents) incidents.push_back(incident_state_json(i));
  json out = {{"archive_version", kArchiveVersion}, {"feed_uuid", s.feed_uuid},
              {"reports", reports}, {"incidents", incidents}};
  return out.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

Result<std::vector<ArchiveFile>> update_archive(const Report& report, const fs::path& dir) {
  auto listed = list_reports(dir);
  if (!listed) return listed.error();
  State state = load_state(dir / kArchiveFile);
  for (const auto& [date, formats] : *listed)
    if (date != report.date && !state.reports.contains(date))
      add_digest(state, read_old_report(dir, date));
  try {
    add_digest(state, digest_of(to_json(report)));
  } catch (const std::exception& e) {
    // to_json's shape is this file's input: a mismatch is a bug, told rather than hidden.
    return Error(std::string("cannot add the report to the archive: ") + e.what(),
                 Location{(dir / kArchiveFile).string()});
  }
  std::erase_if(state.reports, [&](const auto& r) { return !listed->contains(r.first); });
  std::sort(state.incidents.begin(), state.incidents.end(),
            [](const ArchivedIncident& a, const ArchivedIncident& b) {
              return a.updated() != b.updated() ? a.updated() > b.updated() : a.id > b.id;
            });
  if (state.incidents.size() > kKeptIncidents) state.incidents.resize(kKeptIncidents);

  Archive archive{state.feed_uuid, {}, state.incidents};
  for (auto it = state.reports.rbegin(); it != state.reports.rend(); ++it) {
    archive.reports.push_back(it->second);
    archive.reports.back().formats = listed->at(it->first);
  }
  return std::vector<ArchiveFile>{{dir / kArchiveFile, state_text(state)},
                                  {dir / kIndexFile, render_index(archive)},
                                  {dir / kFeedFile, render_feed(archive)}};
}

}  // namespace dw::report
