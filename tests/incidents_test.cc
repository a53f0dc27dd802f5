// Incidents (report/incidents.h): which events group into one change, what an incident says
// of itself in one line, its JSON, and the same from a stored history.
#include "report/incidents.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "report/model.h"
#include "report/render.h"
#include "report_fixture.h"

namespace incidents_test {

using dw::Time;
using dw::report::EventEntry;
using dw::report::Incident;
using dw::report::IncidentKind;
using dw::report::Lifecycle;
using nlohmann::json;

namespace {

// Day d of a month of nightly runs (day 0 = 2026-01-01T06:00:00Z).
Time night(int d) { return *dw::parse_time("2026-01-01T06:00:00Z") + std::chrono::days(d); }

std::vector<Time> month() {
  std::vector<Time> runs;
  for (int d = 0; d < 31; ++d) runs.push_back(night(d));
  return runs;
}

const std::string kReply =
    "sorry, that's beyond my current scope. let's talk about something else.";

EventEntry shift(int64_t id, const std::string& endpoint, const std::string& probe,
                 const std::string& category, const std::string& lang, int day,
                 const std::string& from = "answered", const std::string& to = "deflected") {
  EventEntry e;
  e.id = id;
  e.type = "verdict_shift";
  e.endpoint = endpoint;
  e.probe_id = probe;
  e.category = category;
  e.lang = lang;
  e.scope = "targeted";
  e.lifecycle = Lifecycle::new_event;
  e.detected_at = night(day);
  e.before = {{"verdicts", {{from, 9}, {to, 0}}}};
  e.after = {{"verdicts", {{from, 0}, {to, 6}}}};
  return e;
}

EventEntry canned(int64_t id, const std::string& endpoint, int day,
                  const std::vector<std::string>& probes, const std::string& text = kReply,
                  const std::string& hash = "ab12") {
  EventEntry e;
  e.id = id;
  e.type = "canned_template";
  e.endpoint = endpoint;
  e.scope = "targeted";
  e.lifecycle = Lifecycle::new_event;
  e.detected_at = night(day);
  e.evidence = {{"template_hash", hash}, {"text", text}, {"probes", probes}};
  return e;
}

EventEntry endpoint_event(int64_t id, const std::string& type, const std::string& endpoint,
                          int day) {
  EventEntry e;
  e.id = id;
  e.type = type;
  e.endpoint = endpoint;
  e.lifecycle = Lifecycle::new_event;
  e.detected_at = night(day);
  return e;
}

std::vector<Incident> group(const std::vector<EventEntry>& events) {
  auto runs = month();
  return dw::report::group_incidents(events, runs);
}

const Incident* find(const std::vector<Incident>& incidents, int64_t event_id) {
  for (const auto& i : incidents)
    for (int64_t id : i.event_ids)
      if (id == event_id) return &i;
  return nullptr;
}

}  // namespace

TEST_CASE("one endpoint and category in the same or adjacent runs is one incident") {
  auto incidents = group({shift(7, "deepseek-sim", "tiananmen-1989-zh", "tiananmen", "zh-Hans", 11),
                          shift(3, "deepseek-sim", "tiananmen-1989-en", "tiananmen", "en", 10),
                          shift(9, "deepseek-sim", "tiananmen-tank-man-en", "tiananmen", "en", 10),
                          shift(12, "deepseek-sim", "xinjiang-camps-en", "xinjiang", "en", 10)});
  REQUIRE(incidents.size() == 2);
  const Incident& t = *find(incidents, 3);
  CHECK(t.id == 3);  // its first event: earliest detected_at, then lowest id
  CHECK(t.kind == IncidentKind::category);
  CHECK(t.subject == "tiananmen");
  CHECK(t.event_ids == std::vector<int64_t>{3, 9, 7});
  CHECK(t.probes == std::vector<std::string>{"tiananmen-1989-en", "tiananmen-1989-zh",
                                             "tiananmen-tank-man-en"});
  CHECK(t.langs == std::vector<std::string>{"en", "zh-Hans"});
  CHECK(t.verdict_change == "answered -> deflected");
  CHECK(t.detected_at == night(10));
  CHECK(t.open);
  CHECK(t.is_new);
  CHECK(t.scope == "targeted");
  CHECK(t.also_seen_on.empty());
  CHECK_FALSE(t.shared_change);
  CHECK(find(incidents, 12)->subject == "xinjiang");  // another category, another incident
}

TEST_CASE("runs apart with a quiet run between are two incidents; a chain of runs is one") {
  auto apart = group({shift(1, "qwen-sim", "a-en", "tiananmen", "en", 10),
                      shift(2, "qwen-sim", "b-en", "tiananmen", "en", 12)});
  CHECK(apart.size() == 2);
  auto chained = group({shift(1, "qwen-sim", "a-en", "tiananmen", "en", 10),
                        shift(2, "qwen-sim", "b-en", "tiananmen", "en", 11),
                        shift(3, "qwen-sim", "c-en", "tiananmen", "en", 12)});
  REQUIRE(chained.size() == 1);
  CHECK(chained[0].event_ids.size() == 3);

  // Adjacency is by run, not by day: with two runs a day, days 10 and 11 are runs apart.
  std::vector<Time> twice_a_day;
  for (int d = 0; d < 31; ++d) {
    twice_a_day.push_back(night(d));
    twice_a_day.push_back(night(d) + std::chrono::hours(12));
  }
  std::vector<EventEntry> events = {shift(1, "qwen-sim", "a-en", "tiananmen", "en", 10),
                                    shift(2, "qwen-sim", "b-en", "tiananmen", "en", 11)};
  CHECK(dw::report::group_incidents(events, twice_a_day).size() == 2);
  // Without runs, adjacency falls back to UTC days.
  CHECK(dw::report::group_incidents(events, {}).size() == 1);
}

TEST_CASE("the same category on other endpoints: separate incidents that say so") {
  auto incidents = group({shift(1, "deepseek-sim", "a-en", "tiananmen", "en", 10),
                          shift(2, "qwen-sim", "a-en", "tiananmen", "en", 10),
                          shift(3, "claude-sim", "a-zh", "tiananmen", "zh-Hans", 10),
                          shift(4, "other-sim", "a-en", "tiananmen", "en", 11),
                          shift(5, "qwen-sim", "x-en", "xinjiang", "en", 10)});
  REQUIRE(incidents.size() == 5);
  const Incident& deepseek = *find(incidents, 1);
  CHECK(deepseek.event_ids == std::vector<int64_t>{1});
  CHECK(deepseek.also_seen_on == std::vector<std::string>{"claude-sim", "qwen-sim"});
  CHECK(deepseek.shared_change);
  CHECK(find(incidents, 2)->also_seen_on == std::vector<std::string>{"claude-sim", "deepseek-sim"});
  // Another day is not "the same day"; another category is another subject.
  CHECK(find(incidents, 4)->also_seen_on.empty());
  CHECK_FALSE(find(incidents, 4)->shared_change);
  CHECK(find(incidents, 5)->also_seen_on.empty());
}

TEST_CASE("a canned template joins the one incident whose probes it answers") {
  auto incidents = group({shift(1, "deepseek-sim", "tiananmen-1989-en", "tiananmen", "en", 10),
                          shift(2, "deepseek-sim", "tiananmen-1989-zh", "tiananmen", "zh-Hans", 10),
                          canned(3, "deepseek-sim", 11, {"tiananmen-1989-en", "tank-man-en"})});
  REQUIRE(incidents.size() == 1);
  const Incident& i = incidents[0];
  CHECK(i.kind == IncidentKind::category);
  CHECK(i.event_ids == std::vector<int64_t>{1, 2, 3});
  CHECK(i.stock_reply == kReply);
  CHECK(i.types == std::vector<std::string>{"verdict_shift", "canned_template"});
  // The template's probes count too (the tank-man probe had no verdict shift of its own).
  CHECK(i.probes.size() == 3);

  // Two runs later it does not chain: an incident of its own.
  auto late = group({shift(1, "deepseek-sim", "tiananmen-1989-en", "tiananmen", "en", 10),
                     canned(3, "deepseek-sim", 12, {"tiananmen-1989-en", "tank-man-en"})});
  CHECK(late.size() == 2);
}

TEST_CASE("a template spanning categories is an incident of its own, named by its reply") {
  std::map<std::string, std::string> langs = {{"taiwan-status-zh", "zh-Hans"}};
  std::vector<EventEntry> events = {
      shift(1, "deepseek-sim", "tiananmen-1989-en", "tiananmen", "en", 10),
      shift(2, "deepseek-sim", "xinjiang-camps-en", "xinjiang", "en", 10),
      canned(3, "deepseek-sim", 10, {"tiananmen-1989-en", "xinjiang-camps-en", "taiwan-status-zh"}),
      // The same reply again on the next run (reopened after a resolution): the same incident.
      canned(4, "deepseek-sim", 11, {"hong-kong-zh", "taiwan-status-zh"}),
      // Another reply, on another endpoint, the same day.
      canned(5, "qwen-sim", 10, {"a-en", "b-en"}, "我们换个话题吧。", "cd34"),
      canned(6, "claude-sim", 10, {"a-en", "b-en"})};
  auto runs = month();
  auto incidents = dw::report::group_incidents(events, runs, langs);
  REQUIRE(incidents.size() == 5);
  const Incident& reply = *find(incidents, 3);
  CHECK(reply.kind == IncidentKind::template_reply);
  CHECK(reply.event_ids == std::vector<int64_t>{3, 4});
  CHECK(reply.subject == "sorry, that's beyond my current scope...");
  CHECK(reply.stock_reply == kReply);
  CHECK(reply.probes.size() == 4);
  // From the events about those probes, then from langs (hong-kong-zh is unknown).
  CHECK(reply.langs == std::vector<std::string>{"en", "zh-Hans"});
  CHECK(reply.also_seen_on == std::vector<std::string>{"claude-sim"});  // the same reply
  CHECK_FALSE(reply.shared_change);  // only categories are "shared changes"
  // The category incidents it answers name its reply without holding its event.
  CHECK(find(incidents, 1)->event_ids == std::vector<int64_t>{1});
  CHECK(find(incidents, 1)->stock_reply == kReply);
  CHECK(find(incidents, 2)->stock_reply == kReply);
  CHECK(find(incidents, 5)->subject == "我们换个话题吧。");  // short: not cut
  CHECK(find(incidents, 5)->also_seen_on.empty());
}

TEST_CASE("describe: one line a person reads") {
  std::vector<EventEntry> events;
  int64_t id = 1;
  for (const char* stem : {"tiananmen-1989", "tiananmen-tank-man", "tiananmen-death-toll"}) {
    events.push_back(shift(id++, "deepseek-sim", std::string(stem) + "-en", "tiananmen", "en", 10));
    events.push_back(
        shift(id++, "deepseek-sim", std::string(stem) + "-zh", "tiananmen", "zh-Hans", 10));
  }
  events.push_back(
      canned(id++, "deepseek-sim", 10, {"tiananmen-1989-en", "tiananmen-tank-man-en"}));
  events.push_back(shift(id++, "qwen-sim", "tiananmen-1989-zh", "tiananmen", "zh-Hans", 10));
  events.push_back(shift(id++, "claude-sim", "tiananmen-1989-en", "tiananmen", "en", 10));
  auto incidents = group(events);
  REQUIRE(incidents.size() == 3);
  CHECK(dw::report::describe(*find(incidents, 1)) ==
        "deepseek-sim, tiananmen: 6 probes (en, zh-Hans) answered -> deflected since 2026-01-11; "
        "stock reply 'sorry, that's beyond my current scope...'; also seen on claude-sim and "
        "qwen-sim the same day (shared upstream change or filter)");

  // Resolved, broad, health, a model change and a template alone.
  EventEntry resolved = shift(20, "qwen-sim", "a-en", "history", "en", 3, "answered", "refused");
  resolved.resolved = true;
  resolved.resolved_at = night(5);
  resolved.scope = "broad";
  EventEntry content = shift(21, "qwen-sim", "b-en", "history", "en", 4);
  content.type = "content_shift";
  content.resolved = true;
  content.resolved_at = night(6);
  auto more = group({resolved, content, endpoint_event(22, "endpoint_health", "qwen-sim", 24),
                     endpoint_event(23, "model_change", "claude-sim", 10),
                     canned(24, "qwen-sim", 14, {"c-en", "d-en"})});
  REQUIRE(more.size() == 4);
  const Incident& history = *find(more, 20);
  CHECK_FALSE(history.open);
  CHECK(history.resolved_at == night(6));
  CHECK(dw::report::describe(history) ==
        "qwen-sim, history: 2 probes (en) answered -> refused and answers changed from "
        "2026-01-04 to 2026-01-07, broad (control probes moved too)");
  CHECK(dw::report::describe(*find(more, 22)) ==
        "qwen-sim, endpoint health: errors rose since 2026-01-25");
  CHECK(dw::report::describe(*find(more, 23)) ==
        "claude-sim, model change: reported model changed on 2026-01-11");
  CHECK(dw::report::describe(*find(more, 24)) ==
        "qwen-sim, stock reply 'sorry, that's beyond my current scope...' to 2 probes since "
        "2026-01-15");
}

TEST_CASE("incidents come new first, then by detection; every event is in exactly one") {
  EventEntry old = shift(1, "qwen-sim", "a-en", "tiananmen", "en", 2);
  old.lifecycle = Lifecycle::ongoing;
  std::vector<EventEntry> events = {old, shift(2, "qwen-sim", "x-en", "xinjiang", "en", 20),
                                    shift(3, "deepseek-sim", "x-en", "xinjiang", "en", 15),
                                    endpoint_event(4, "endpoint_health", "qwen-sim", 15)};
  auto incidents = group(events);
  REQUIRE(incidents.size() == 4);
  CHECK(incidents[0].id == 3);
  CHECK(incidents[1].id == 4);
  CHECK(incidents[2].id == 2);
  CHECK(incidents[3].id == 1);
  CHECK_FALSE(incidents[3].is_new);
  CHECK(incidents[1].kind == IncidentKind::health);
  CHECK(incidents[1].subject == "endpoint health");
  CHECK(group({}).empty());
}

TEST_CASE("incident_json carries the ids of its events and its line") {
  auto incidents = group({shift(5, "deepseek-sim", "a-en", "tiananmen", "en", 10),
                          canned(6, "deepseek-sim", 10, {"a-en", "b-en"})});
  REQUIRE(incidents.size() == 1);
  json j = dw::report::incident_json(incidents[0]);
  CHECK(j["id"] == 5);
  CHECK(j["events"] == json::array({5, 6}));
  CHECK(j["endpoint"] == "deepseek-sim");
  CHECK(j["kind"] == "category");
  CHECK(j["subject"] == "tiananmen");
  CHECK(j["verdict_change"] == "answered -> deflected");
  CHECK(j["detected_at"] == "2026-01-11T06:00:00Z");
  CHECK(j["resolved_at"].is_null());
  CHECK(j["open"] == true);
  CHECK(j["new"] == true);
  CHECK(j["stock_reply"] == kReply);
  CHECK(j["also_seen_on"] == json::array());
  CHECK(j["summary"] == dw::report::describe(incidents[0]));
}

TEST_CASE("a hostile stock reply stays text in every report format") {
  const std::string hostile = "<script>alert(1)</script> [x](http://evil.example) | **b**";
  dw::report::Report r;
  r.date = "2026-01-11";
  r.events = {canned(1, "deepseek-sim", 10, {"a-en", "b-en"}, hostile)};
  r.headline.new_events = 1;
  auto runs = month();
  r.incidents = dw::report::group_incidents(r.events, runs);
  REQUIRE(r.incidents.size() == 1);
  std::string html = dw::report::render_html(r);
  CHECK(html.find("<script>") == std::string::npos);
  // The reply's start, cut at a word: the first 25 characters.
  CHECK(html.find("stock reply &#39;&lt;script&gt;alert(1)&lt;/script&gt;...&#39;") !=
        std::string::npos);
  CHECK(html.find("<a href=\"#event-1\">1</a>") != std::string::npos);
  std::string md = dw::report::render_markdown(r);
  CHECK(md.find("\\<script\\>alert(1)\\</script\\>...") != std::string::npos);
  json j = json::parse(dw::report::render_json(r));
  CHECK(j["incidents"][0]["stock_reply"] == hostile);
}

TEST_CASE("incidents_from_store groups a stored history") {
  report_fixture::TempDir dir;
  auto store = dw::store::Store::open((dir.path / "fixture.db").string());
  REQUIRE(store.ok());
  report_fixture::fill(**store);
  // New: detected on the fixture's last day (day 9).
  auto incidents = dw::report::incidents_from_store(**store, {}, report_fixture::day(9));
  REQUIRE(incidents.ok());
  // verdict_shift (day 7) and content_shift (day 4) of tiananmen are runs apart; the template
  // (day 9) does not chain with the shift (day 7); the model change and the outage stand alone.
  REQUIRE(incidents->size() == 5);
  CHECK((*incidents)[0].is_new);
  const Incident* shift = find(*incidents, 1);
  REQUIRE(shift != nullptr);
  CHECK(shift->subject == "tiananmen");
  CHECK(shift->langs == std::vector<std::string>{"en"});  // from the stored probes
  CHECK(shift->verdict_change == "answered -> deflected");
  CHECK_FALSE(shift->is_new);
  const Incident* content = find(*incidents, 3);
  REQUIRE(content != nullptr);
  CHECK_FALSE(content->open);
  const Incident* reply = find(*incidents, 5);
  REQUIRE(reply != nullptr);
  CHECK(reply->kind == IncidentKind::template_reply);
  CHECK(reply->stock_reply == report_fixture::Texts{}.template_text);
  // Only open events: the resolved content shift and model change are left out.
  dw::store::EventFilter open{.only_open = true};
  auto open_only = dw::report::incidents_from_store(**store, open);
  REQUIRE(open_only.ok());
  CHECK(open_only->size() == 3);
}

}  // namespace incidents_test
