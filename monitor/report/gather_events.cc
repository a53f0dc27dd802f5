#include <algorithm>
#include <chrono>

#include "drift/detector.h"
#include "report/gather.h"
#include "report/incidents.h"
#include "report/text.h"
#include "report/typical.h"

namespace dw::report {
namespace {

using std::chrono::seconds;

nlohmann::json parse_object(const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : nlohmann::json::object();
}

// Strings anywhere in a detector JSON may quote model output (a canned template's text):
// sanitised here, escaped by each renderer.
void sanitise_strings(nlohmann::json& j) {
  if (j.is_string()) {
    j = sanitise_untrusted(j.get_ref<const std::string&>());
  } else if (j.is_structured()) {
    for (auto& child : j) sanitise_strings(child);
  }
}

std::optional<Time> time_field(const nlohmann::json& side, const char* key) {
  auto it = side.find(key);
  if (it == side.end() || !it->is_string()) return std::nullopt;
  auto t = parse_time(it->get_ref<const std::string&>());
  if (!t) return std::nullopt;
  return *t;
}

// Events about one probe's answers get a before/after comparison of typical answers.
bool compares_answers(const EventEntry& e) {
  return !e.probe_id.empty() && (e.type == drift::kVerdictShift ||
                                 e.type == drift::kContentShift ||
                                 e.type == drift::kNarrativeShift);
}

Status add_typical(store::Store& store, const ReportOptions& options, EventEntry& e) {
  // Before: the baseline the detector compared against (from its "before" side, which ends
  // before detection), else the baseline window before detection. After: from detection to
  // resolution or the report's now.
  TypicalQuery before{.probe_id = e.probe_id, .endpoint = e.endpoint};
  if (!e.probe_version.empty()) before.probe_version = e.probe_version;
  before.from = time_field(e.before, "from").value_or(e.detected_at - options.baseline);
  before.until = e.detected_at;
  TypicalQuery after = before;
  after.from = e.detected_at;
  after.until = e.resolved && e.resolved_at ? *e.resolved_at : options.until;
  after.until = std::min(after.until, options.until);

  auto b = typical_side(store, before);
  if (!b) return b.error();
  auto a = typical_side(store, after);
  if (!a) return a.error();
  if (b->sample_id && a->sample_id) e.diff = word_diff(b->text, a->text);
  e.typical_before = std::move(*b);
  e.typical_after = std::move(*a);
  return {};
}

}  // namespace

Result<ProbeInfo> stored_probe_info(store::Store& store) {
  ProbeInfo probes;
  Status read = store.for_each_probe([&](const probes::Probe& p) {
    probes[p.id] = {p.category, p.lang};
    return true;
  });
  if (!read) return read.error();
  return probes;
}

EventEntry event_entry(const store::Event& ev, const ProbeInfo& probe_info,
                       std::optional<Time> new_since, std::optional<Time> resolved_before) {
  EventEntry e;
  e.id = ev.id;
  e.type = ev.type;
  e.endpoint = ev.endpoint;
  e.probe_id = ev.probe_id;
  e.probe_version = ev.probe_version;
  e.scope = ev.scope;
  e.detected_at = ev.detected_at;
  e.before = parse_object(ev.before_json);
  e.after = parse_object(ev.after_json);
  e.evidence = parse_object(ev.evidence_json);
  e.decided_at = time_field(e.evidence, "decided_at").value_or(ev.detected_at);
  e.lifecycle = !new_since || e.decided_at >= *new_since ? Lifecycle::new_event
                                                         : Lifecycle::ongoing;
  e.resolved = ev.status == store::EventStatus::resolved && ev.resolved_at &&
               (!resolved_before || *ev.resolved_at < *resolved_before);
  if (e.resolved) e.resolved_at = ev.resolved_at;
  for (auto* j : {&e.before, &e.after, &e.evidence}) sanitise_strings(*j);
  if (auto it = probe_info.find(e.probe_id); it != probe_info.end()) {
    e.category = it->second.first;
    e.lang = it->second.second;
  }
  return e;
}

Status gather_events(store::Store& store, const ReportOptions& options,
                     const ProbeInfo& probe_info, Report& report) {
  std::vector<EventEntry> entries;
  store::EventFilter filter{.since = options.since, .until = options.until};
  auto status = store.for_each_event(filter, [&](const store::Event& ev) {
    EventEntry e = event_entry(ev, probe_info, options.since, options.until);
    // Not known by the report's end (decided by a later run, though dated back into the
    // period): a report written again later says what the one of that day said.
    if (e.decided_at >= options.until) return true;
    entries.push_back(std::move(e));
    return true;
  });
  if (!status) return status;

  for (auto& e : entries) {
    if (!compares_answers(e)) continue;
    if (auto typical = add_typical(store, options, e); !typical) return typical;
  }
  // New events first, then ongoing ones; each group keeps the store's detected_at, id order.
  std::stable_partition(entries.begin(), entries.end(), [](const EventEntry& e) {
    return e.lifecycle == Lifecycle::new_event;
  });
  for (const auto& e : entries) {
    if (e.lifecycle == Lifecycle::new_event) ++report.headline.new_events;
    if (e.resolved && *e.resolved_at >= options.since) ++report.headline.resolved_events;
    if (e.lifecycle == Lifecycle::ongoing && !e.resolved) ++report.headline.ongoing_events;
  }
  report.events = std::move(entries);

  // Incidents: adjacency counts every complete run up to the report's end (ongoing events may
  // be old; an incomplete run decides nothing), each instant once.
  std::vector<Time> run_times;
  auto runs = store.for_each_run(std::nullopt, options.until, [&](const store::RunInfo& run) {
    if (run.status == store::RunStatus::complete) run_times.push_back(run.run_at);
    return true;
  });
  if (!runs) return runs;
  run_times.erase(std::unique(run_times.begin(), run_times.end()), run_times.end());
  std::map<std::string, std::string> langs;
  for (const auto& [id, info] : probe_info) langs[id] = info.second;
  report.incidents = group_incidents(report.events, run_times, langs);
  return {};
}

}  // namespace dw::report
