// The report folder's archive (report/archive.h): index.html lists every report newest first,
// feed.xml is Atom that a real XML parser (Python's xml.etree, through run_tool) accepts, with
// the elements RFC 4287 requires, one entry per incident, updated when it resolves, stable ids,
// and hostile model output kept as text.
#include "report/archive.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "child.h"
#include "report/escape.h"
#include "report/model.h"
#include "report_fixture.h"

namespace report_archive_test {

using namespace report_fixture;
using nlohmann::json;
using dw::test::slurp;

namespace {

// Reads the Atom feed with a real XML parser and prints what the test checks, as JSON.
constexpr const char* kReadFeed = R"(
import json, sys, xml.etree.ElementTree as ET
A = '{http://www.w3.org/2005/Atom}'
root = ET.parse(sys.argv[1]).getroot()
def one(e, tag):
    found = e.findall(A + tag)
    return [c.text or '' for c in found]
def links(e):
    return [[l.get('rel'), l.get('type'), l.get('href')] for l in e.findall(A + 'link')]
out = {'tag': root.tag, 'id': one(root, 'id'), 'title': one(root, 'title'),
       'updated': one(root, 'updated'),
       'authors': [a.findtext(A + 'name') for a in root.findall(A + 'author')],
       'links': links(root), 'entries': []}
for e in root.findall(A + 'entry'):
    out['entries'].append({'id': one(e, 'id'), 'title': one(e, 'title'),
                           'updated': one(e, 'updated'), 'published': one(e, 'published'),
                           'summary': one(e, 'summary'),
                           'authors': len(e.findall(A + 'author')), 'links': links(e)})
print(json.dumps(out))
)";

// Reads the index with Python's HTML parser: each report's row (its date from the id, the
// text of its facts line, its incident lines) and every link or source outside the folder.
constexpr const char* kReadIndex = R"(
import html.parser, json, sys
class Index(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.external, self.scripts = [], [], 0
        self.in_facts = self.in_lines = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ('href', 'src'):
            if key in a and ':' in (a[key] or ''):
                self.external.append(a[key])
        if tag == 'script':
            self.scripts += 1
        if tag == 'li' and (a.get('id') or '').startswith('report-'):
            self.rows.append({'date': a['id'][len('report-'):], 'facts': '', 'lines': [],
                              'links': []})
        elif tag == 'p' and a.get('class') == 'facts':
            self.in_facts = True
        elif tag == 'ul' and a.get('class') == 'incidents':
            self.in_lines = True
        elif tag == 'li' and self.in_lines:
            self.rows[-1]['lines'].append('')
        elif tag == 'a' and self.rows:
            self.rows[-1]['links'].append(a.get('href'))
    def handle_endtag(self, tag):
        if tag == 'p':
            self.in_facts = False
        if tag == 'ul':
            self.in_lines = False
    def handle_data(self, data):
        if self.in_facts:
            self.rows[-1]['facts'] += data
        elif self.in_lines and self.rows[-1]['lines']:
            self.rows[-1]['lines'][-1] += data
p = Index()
p.feed(open(sys.argv[1], encoding='utf-8').read())
for row in p.rows:
    row['lines'] = [line.strip() for line in row['lines']]
print(json.dumps({'rows': p.rows, 'external': p.external, 'scripts': p.scripts}))
)";

json python(const TempDir& dir, const char* script, const fs::path& file) {
  auto o = dw::test::run_tool(dir.scratch, {"python3", "-c", script, file.string()});
  INFO(o.err.substr(0, 2000));
  REQUIRE_MESSAGE(o.code == 0, "python3 failed on "
                                   << file.string()
                                   << " (scripts/install-deps.sh --test installs it)");
  return json::parse(o.out);
}

// A folder of reports and what Python reads of its index and feed.
struct Folder {
  TempDir dir;
  fs::path reports = dir.path / "reports";
  json feed() const { return python(dir, kReadFeed, reports / "feed.xml"); }
  json index() const { return python(dir, kReadIndex, reports / "index.html"); }
};

// The fixture's history (report_fixture.h) and its reports.
struct History : Folder {
  std::unique_ptr<dw::store::Store> store;

  explicit History(const Texts& texts = {}) {
    auto s = dw::store::Store::open((dir.path / "fixture.db").string());
    REQUIRE(s.ok());
    store = std::move(*s);
    fill(*store, texts);
  }
  // The report of the fixture's day d: the 24 hours up to 12:00 UTC, dated day d.
  void write(int d, std::vector<std::string> formats = {"md", "html", "json"}) {
    auto o = options(reports);
    o.until = day(d) + std::chrono::hours(6);
    o.since = o.until - std::chrono::hours(24);
    o.formats = std::move(formats);
    auto files = dw::report::write_reports(*store, o);
    REQUIRE_MESSAGE(files.ok(), (files.ok() ? "" : files.error().to_string()));
  }
};

std::string date_of(int d) { return dw::format_date(day(d)); }

// "urn:uuid:X" -> "X"
std::string feed_uuid(const json& feed) {
  REQUIRE(feed["id"].size() == 1);
  std::string id = feed["id"][0];
  REQUIRE(id.starts_with("urn:uuid:"));
  return id.substr(9);
}

const json* entry_of(const json& feed, const std::string& id) {
  for (const auto& e : feed["entries"])
    if (e["id"] == json::array({id})) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("index.html lists every report newest first with its date and new incidents") {
  History h;
  // Days 3, 4, 7 and 9: nothing yet; the content shift (event 3); the verdict shift and the
  // model change (events 1, 2); the outage and the canned template (events 4, 5).
  for (int d : {3, 4, 7, 9}) h.write(d);
  json index = h.index();
  CHECK(index["scripts"] == 0);
  CHECK(index["external"] == json::array());  // self-contained: every link stays in the folder
  const json& rows = index["rows"];
  REQUIRE(rows.size() == 4);
  std::vector<std::string> dates;
  for (const auto& r : rows) dates.push_back(r["date"]);
  CHECK(dates == std::vector<std::string>{date_of(9), date_of(7), date_of(4), date_of(3)});

  auto facts = [&](size_t i) { return rows[i]["facts"].get<std::string>(); };
  CHECK(facts(0).starts_with("2 new incidents, 1 resolved, 3 open; 1 run, 18 samples; 1 of 2 "
                             "endpoints not healthy"));
  // The model change is a point in time: new and resolved in the same report.
  CHECK(facts(1).starts_with("2 new incidents, 1 resolved, 2 open;"));
  CHECK(facts(2).starts_with("1 new incident, 0 resolved, 1 open;"));
  CHECK(facts(3).starts_with("0 new incidents, 0 resolved, 0 open;"));
  CHECK(rows[0]["lines"] ==
        json::array({"beta, endpoint health: errors rose since 2026-01-10",
                     "alpha, stock reply 'sorry, that's beyond my current scope...' to 3 probes "
                     "(en) since 2026-01-10"}));
  CHECK(rows[3]["lines"] == json::array());
  // Each line links to the incident in the HTML report; the row to each of its files.
  const json& links = rows[0]["links"];
  auto has = [&](const std::string& href) {
    return std::find(links.begin(), links.end(), json(href)) != links.end();
  };
  const std::string stem = "driftwatch-" + date_of(9);
  CHECK(has(stem + ".html"));
  CHECK(has(stem + ".md"));
  CHECK(has(stem + ".json"));
  CHECK(has(stem + ".html#incident-4"));

  std::string html = slurp(h.reports / "index.html");
  CHECK(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
  CHECK(html.find("<svg class=\"spark\"") != std::string::npos);
  CHECK(html.find("href=\"feed.xml\"") != std::string::npos);
  // Written atomically: no temporary file left beside them.
  for (const auto& e : fs::directory_iterator(h.reports))
    CHECK_FALSE(e.path().filename().string().starts_with("."));
}

TEST_CASE("feed.xml is Atom with one entry per incident, updated when it resolves") {
  History h;
  h.write(4);
  json first = h.feed();
  const std::string uuid = feed_uuid(first);
  REQUIRE(first["entries"].size() == 1);
  const json* opened = entry_of(first, dw::report::entry_id(uuid, 3));
  REQUIRE(opened != nullptr);
  CHECK((*opened)["updated"] == json::array({"2026-01-05T06:00:00Z"}));  // its detection

  for (int d : {7, 9}) h.write(d);
  json feed = h.feed();
  CHECK(feed["tag"] == "{http://www.w3.org/2005/Atom}feed");
  // Required of the feed (RFC 4287, 4.1.1): one id, one title, one updated, and an author
  // (the entries carry none, so the feed must).
  CHECK(feed_uuid(feed) == uuid);  // the same feed from one report to the next
  CHECK(feed["title"] == json::array({"driftwatch incidents"}));
  CHECK(feed["updated"] == json::array({"2026-01-10T12:00:00Z"}));  // the newest report's end
  CHECK(feed["authors"] == json::array({"driftwatch"}));
  CHECK(feed["links"].dump().find(R"(["self","application/atom+xml","feed.xml"])") !=
        std::string::npos);

  // Events 1..5 are five incidents (report_test.cc), newest updated first.
  const json& entries = feed["entries"];
  REQUIRE(entries.size() == 5);
  std::vector<std::string> ids;
  for (const auto& e : entries) {
    CAPTURE(e.dump());
    CHECK(e["id"].size() == 1);
    CHECK(e["title"].size() == 1);
    CHECK(e["updated"].size() == 1);
    CHECK(e["authors"] == 0);
    CHECK(e["links"].size() == 1);
    ids.push_back(e["id"][0]);
  }
  std::vector<std::string> expected;
  for (int id : {5, 4, 3, 2, 1}) expected.push_back(dw::report::entry_id(uuid, id));
  CHECK(ids == expected);

  // The content shift resolved on day 9: its entry (the same id) is updated then and links to
  // the report it first appeared in.
  const json* resolved = entry_of(feed, dw::report::entry_id(uuid, 3));
  REQUIRE(resolved != nullptr);
  CHECK((*resolved)["updated"] == json::array({"2026-01-10T06:00:00Z"}));
  CHECK((*resolved)["published"] == json::array({"2026-01-05T06:00:00Z"}));
  CHECK((*resolved)["title"] ==
        json::array({"alpha, tiananmen: 1 probe (zh-Hans) answers changed from 2026-01-05 to "
                     "2026-01-10"}));
  CHECK((*resolved)["links"] ==
        json::array({json::array({"alternate", "text/html",
                                  "driftwatch-" + date_of(4) + ".html#incident-3"})}));
  CHECK((*resolved)["summary"][0].get<std::string>().find("Resolved at 2026-01-10T06:00:00Z") !=
        std::string::npos);
  // The verdict shift is still open: updated at its detection.
  const json* open = entry_of(feed, dw::report::entry_id(uuid, 1));
  REQUIRE(open != nullptr);
  CHECK((*open)["updated"] == json::array({"2026-01-08T06:00:00Z"}));

  // Rewriting an older report changes its row, not what later reports said.
  h.write(4);
  json again = h.feed();
  const json* still = entry_of(again, dw::report::entry_id(uuid, 3));
  REQUIRE(still != nullptr);
  CHECK((*still)["updated"] == json::array({"2026-01-10T06:00:00Z"}));
  CHECK(h.index()["rows"].size() == 3);
}

TEST_CASE("the archive is rebuilt from the JSON reports and follows the folder") {
  History h;
  h.write(4, {"md"});  // no JSON: listed by date alone once archive.json is gone
  for (int d : {7, 9}) h.write(d);
  fs::remove(h.reports / "archive.json");
  fs::remove(h.reports / ("driftwatch-" + date_of(7) + ".html"));
  h.write(3);  // an older day written last: the others come back from their JSON files
  json rows = h.index()["rows"];
  REQUIRE(rows.size() == 4);
  CHECK(rows[0]["date"] == date_of(9));
  CHECK(rows[0]["facts"].get<std::string>().starts_with("2 new incidents, 1 resolved, 3 open;"));
  CHECK(rows[1]["date"] == date_of(7));
  CHECK(rows[1]["lines"].size() == 2);
  // Without its HTML file, a report's links go to its Markdown file (no incident anchors).
  CHECK(rows[1]["links"][0] == "driftwatch-" + date_of(7) + ".md");
  CHECK(rows[2]["date"] == date_of(4));
  CHECK(rows[2]["facts"] == "Incidents unknown: no JSON report with incidents to read.");
  json feed = h.feed();
  CHECK(feed["entries"].size() == 5);  // events 1..5, from the JSON reports of days 7 and 9

  // A report whose files are all gone leaves the index.
  for (const char* ext : {".md", ".html", ".json"})
    fs::remove(h.reports / ("driftwatch-" + date_of(9) + ext));
  h.write(3);
  rows = h.index()["rows"];
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["date"] == date_of(7));
}

TEST_CASE("an incident whose id moves keeps its entry until it resolves") {
  // Built by hand: report 1 groups events 12 and 13 as incident 12; once event 12 has resolved
  // and left the reports, grouping names the rest incident 13, which resolves in report 3.
  Folder h;
  fs::create_directories(h.reports);
  auto write = [&](const char* date, int64_t id, std::vector<int64_t> events,
                   std::optional<const char*> resolved, bool is_new) {
    dw::report::Report r;
    r.date = date;
    r.until = *dw::parse_time(std::string(date) + "T12:00:00Z");
    r.since = r.until - std::chrono::hours(24);
    dw::report::Incident i;
    i.id = id;
    i.endpoint = "deepseek-sim";
    i.subject = "tiananmen";
    i.event_ids = events;
    i.probes = {"tiananmen-1989-en"};
    i.verdict_change = "answered -> deflected";
    i.detected_at = *dw::parse_time("2026-02-01T06:00:00Z");
    i.is_new = is_new;
    i.open = !resolved;
    if (resolved) i.resolved_at = *dw::parse_time(*resolved);
    r.incidents = {i};
    std::ofstream(h.reports / ("driftwatch-" + r.date + ".md")) << "report\n";
    auto files = dw::report::update_archive(r, h.reports);
    REQUIRE(files.ok());
    REQUIRE(files->size() == 3);
    for (const auto& f : *files) std::ofstream(f.path, std::ios::binary) << f.content;
  };
  write("2026-02-01", 12, {12, 13}, std::nullopt, true);
  write("2026-02-02", 13, {13}, std::nullopt, false);
  write("2026-02-03", 13, {13}, "2026-02-03T06:00:00Z", false);
  json feed = h.feed();
  const std::string uuid = feed_uuid(feed);
  REQUIRE(feed["entries"].size() == 1);
  const json& e = feed["entries"][0];
  CHECK(e["id"] == json::array({dw::report::entry_id(uuid, 12)}));
  CHECK(e["updated"] == json::array({"2026-02-03T06:00:00Z"}));
  CHECK(e["links"][0][2] == "driftwatch-2026-02-01.md");
  CHECK(e["title"][0].get<std::string>().starts_with("deepseek-sim, tiananmen: 1 probe"));
}

TEST_CASE("a hostile stock reply stays text: the feed stays well-formed, the index inert") {
  Texts t;
  // Markup, an entity, a CDATA end, controls and a character XML forbids (U+FFFF).
  t.template_text = "<b>x</b> & ]]> \x01\x1b \xEF\xBF\xBF 'q\"";
  History h(t);
  h.write(9);
  json feed = h.feed();  // parses: well-formed
  std::string title;
  for (const auto& e : feed["entries"])
    if (e["title"][0].get<std::string>().find("stock reply") != std::string::npos)
      title = e["title"][0];
  CAPTURE(title);
  CHECK(title.find("<b>x</b> & ]]>") != std::string::npos);
  CHECK(std::none_of(title.begin(), title.end(), [](unsigned char c) { return c < 0x20; }));
  CHECK(title.find("\xEF\xBF\xBF") == std::string::npos);

  std::string html = slurp(h.reports / "index.html");
  CHECK(html.find("<b>x") == std::string::npos);
  CHECK(html.find("&lt;b&gt;x&lt;/b&gt; &amp; ]]&gt;") != std::string::npos);
  json index = h.index();
  CHECK(index["scripts"] == 0);
  REQUIRE(index["rows"].size() == 1);
  bool shown = false;
  for (const auto& line : index["rows"][0]["lines"])
    shown = shown || line.get<std::string>().find("<b>x</b> & ]]>") != std::string::npos;
  CHECK(shown);
}

TEST_CASE("xml_escape: the five characters, and nothing XML 1.0 forbids") {
  using dw::report::xml_escape;
  CHECK(xml_escape("a<b>&\"'c") == "a&lt;b&gt;&amp;&quot;&apos;c");
  CHECK(xml_escape("]]>") == "]]&gt;");
  CHECK(xml_escape("tab\tline\ncr\r") == "tab\tline\ncr\r");
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  CHECK(xml_escape(std::string("\x00\x01\x1b\x7f", 4)) == r + r + r + r);
  CHECK(xml_escape("\xC2\x85") == r);                      // C1 control (NEL)
  CHECK(xml_escape("\xEF\xBF\xBE\xEF\xBF\xBF") == r + r);  // U+FFFE, U+FFFF
  CHECK(xml_escape("\xED\xA0\x80") == r + r + r);          // a surrogate: invalid UTF-8
  CHECK(xml_escape("\xff") == r);
  CHECK(xml_escape("天安门 — é") == "天安门 — é");
}

}  // namespace report_archive_test
