// Incidents: the events that are one change, told once. A night in which one endpoint starts
// deflecting six Tiananmen probes in two languages opens six verdict_shift events and a
// canned_template; a reader wants one line:
//
//   std::vector<dw::Time> run_times = ...;  // run_at of the runs, oldest first
//   auto incidents = dw::report::group_incidents(report.events, run_times);
//   for (const auto& i : incidents) std::cout << dw::report::describe(i) << "\n";
//   // deepseek-sim, tiananmen: 6 probes (en, zh-Hans) answered -> deflected since 2026-01-11;
//   // stock reply 'sorry, that's beyond my current scope...'; also seen on claude-sim and
//   // qwen-sim the same day (shared upstream change or filter)
//
// Events keep their ids and their own sections in reports; an incident only names them.
//
// Grouping rules (group_incidents), deterministic, a pure function of its inputs:
// - Each event gets a run ordinal: the index in run_times of the last run with
//   run_at <= detected_at (0 when detected before every run). detected_at is the first run
//   that showed the shift, so events of one change share it or lie a run apart even when
//   their tests passed on different nights. With run_times empty, the ordinal is the UTC day
//   of detected_at (nightly runs).
// - Events group when they have the same endpoint and the same subject key, and their
//   ordinals chain: an event joins an incident whose events include one at an ordinal at most
//   one away (so a change that rolls out over three nights stays one incident; two changes
//   with a quiet run between them are two).
// - Subject keys: a censorship event about one probe (verdict_shift, content_shift,
//   narrative_shift) by the probe's category, or by the probe id when its category is unknown
//   (""); canned_template by its template (evidence "template_hash", else its text);
//   endpoint_health and model_change by their type; any other type by its type.
// - A canned_template event joins the category (or probe) incident of the same endpoint that
//   it shares probes with (evidence "probes" against the incident's probe ids) when its
//   ordinal chains with that incident's and exactly one such incident exists; then it is part
//   of it and the incident carries its stock reply. Otherwise (none, or a reply spanning
//   several categories) it is an incident of its own, grouped with the same template's other
//   events by the rules above (subject: the start of its reply), and every incident it shares
//   probes with (same endpoint, chaining ordinals) still names its stock_reply.
// - "Also seen on": for every incident, the other endpoints with an incident of the same
//   subject key detected on the same UTC day, sorted by name. shared_change is set on
//   category incidents that have any: the same category moved on several endpoints at once.
//
// Model output: stock_reply and the subject of a template incident quote a model's reply as
// the detector stored it (normalised: case-folded, whitespace collapsed) after
// sanitise_untrusted (text.h). They, and describe()'s line, are NOT escaped: each renderer
// escapes them for its format.
//
// Threads: no shared state; every function is safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/time.h"

// model.h includes this header (Report::incidents), so the types below are declared, not
// included: callers of group_incidents have model.h, callers of incidents_from_store store.h.
namespace dw::store {
class Store;
struct EventFilter;
}  // namespace dw::store

namespace dw::report {

struct EventEntry;  // model.h

enum class IncidentKind {
  category,        // censorship events about probes of one category
  probe,           // censorship events about one probe whose category is unknown
  template_reply,  // a canned_template that did not join a category incident
  health,          // endpoint_health
  model_change,    // model_change
  other,           // an event type this code does not know (grouped by type)
};
// "category", "probe", "template", "health", "model_change", "other" (the JSON "kind").
std::string_view to_string(IncidentKind k);

struct Incident {
  // The id of its first event (earliest detected_at, then lowest id): stable from one report
  // to the next as long as that event stays in the incident.
  int64_t id = 0;
  std::string endpoint;  // "" when its events are about no single endpoint
  IncidentKind kind = IncidentKind::category;
  // category: the category name; probe: the probe id; template_reply: the start of the stock
  // reply, at most kSubjectChars characters (cut at the last space past half of that when
  // there is one, trailing punctuation dropped, "..." added when cut), on one line;
  // health: "endpoint health"; model_change: "model change"; other: the type.
  std::string subject;
  std::vector<int64_t> event_ids;   // every event of it, by detected_at then id
  std::vector<std::string> types;   // distinct event types, in the order of event_ids
  std::vector<std::string> probes;  // distinct probe ids (events' and joined templates'), sorted
  std::vector<std::string> langs;   // distinct language tags of those probes (known ones), sorted
  // The dominant verdict change of its verdict_shift events, "answered -> deflected": each
  // event's most frequent verdict before and after (evidence sides' "verdicts"), the pair most
  // events share (ties: the pair of the earliest event). "" without verdict shifts.
  std::string verdict_change;
  std::string scope;  // "broad" when any event is broad, else "targeted" when any is, else ""
  Time detected_at;   // of its first event
  // The latest resolved_at when every event is resolved (EventEntry::resolved); else nullopt.
  std::optional<Time> resolved_at;
  bool open = true;     // some event is not resolved
  bool is_new = false;  // some event is new in the period (Lifecycle::new_event)
  // The template text (full, as stored) of a canned_template in it (the one naming the most
  // probes), else of a template incident it shares probes with; "" when neither.
  std::string stock_reply;
  std::vector<std::string> also_seen_on;  // other endpoints, same subject key, same UTC day
  bool shared_change = false;  // a category incident also seen on other endpoints
};

inline constexpr size_t kSubjectChars = 40;  // characters of a stock reply in a subject/line

// Groups events (any order; typically Report::events) into incidents by the rules above.
// run_times: run_at of the runs, ascending (all runs the events may have been detected at;
// events before the first run get ordinal 0). probe_langs: probe id -> language tag, used for
// probes named only by a canned_template (events' own EventEntry::lang is used first); may be
// empty. Returns the incidents new first, then by detected_at, then id. Every event is in
// exactly one incident.
std::vector<Incident> group_incidents(const std::vector<EventEntry>& events,
                                      std::span<const Time> run_times,
                                      const std::map<std::string, std::string>& probe_langs = {});

// One line for a person, no newline:
//   "<endpoint>, <subject>: <n> probes (<langs>) <change> since <date>[, broad (control
//    probes moved too)]; stock reply '<start>'; also seen on <a>, <b> and <c> the same day
//    (shared upstream change or filter)"
// <change> is verdict_change, then the other types in words ("verdicts changed", "answers
// changed", "narrative changed", "errors rose", "reported model changed"; a joined
// canned_template is told by the stock reply part), joined by ", " and " and ". A template
// incident reads "<endpoint>, stock reply '<start>' to <n> probes (<langs>) since <date>".
// "since <date>" becomes "from <date> to <date>" once resolved, "on <date>" for a model
// change (a point in time). <start> is at most kSubjectChars characters (see subject). Parts
// without facts are left out (no probes, no languages, no stock reply, not seen elsewhere).
// "all endpoints" stands for an empty endpoint. Dates are UTC days. Not escaped.
std::string describe(const Incident& incident);

// The incident as JSON, the shape of the JSON report's "incidents" array and of
// `driftwatch events --incidents --json` (one object a line):
//   {"id": 12, "endpoint": "deepseek-sim" | null, "kind": "category", "subject": "tiananmen",
//    "events": [12, 13], "types": ["verdict_shift"], "probes": [...], "langs": [...],
//    "verdict_change": "answered -> deflected" | null, "scope": "targeted" | null,
//    "detected_at": "2026-01-11T06:00:00Z", "resolved_at": ... | null, "open": true,
//    "new": true, "stock_reply": "..." | null, "also_seen_on": ["qwen-sim"],
//    "shared_change": true, "summary": describe()}
// Strings are not escaped (JSON's own escaping applies when dumped).
nlohmann::json incident_json(const Incident& incident);

// For callers without a gathered report (`driftwatch events --incidents`, the demo): reads
// the events matching filter, the probes' categories and languages, and the run times from
// the store, and groups them. Events detected at or after new_since are new (all of them
// when new_since is nullopt); an event counts as resolved when the store says so. Strings are
// sanitised as in reports. Fails only when the store does.
Result<std::vector<Incident>> incidents_from_store(store::Store& store,
                                                   const store::EventFilter& filter,
                                                   std::optional<Time> new_since = std::nullopt);

}  // namespace dw::report
