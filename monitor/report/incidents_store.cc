// incidents_from_store (incidents.h): incidents for callers without a gathered report.
#include <algorithm>
#include <utility>

#include "report/gather.h"
#include "report/incidents.h"
#include "report/model.h"
#include "store/store.h"

namespace dw::report {

Result<std::vector<Incident>> incidents_from_store(store::Store& store,
                                                   const store::EventFilter& filter,
                                                   std::optional<Time> new_since) {
  auto probes = stored_probe_info(store);
  if (!probes) return probes.error();

  std::vector<EventEntry> events;
  Status read = store.for_each_event(filter, [&](const store::Event& ev) {
    events.push_back(event_entry(ev, *probes, new_since, std::nullopt));
    return true;
  });
  if (!read) return read.error();

  // Every run up to the last event: adjacency needs the runs between events, not only theirs.
  std::vector<Time> run_times;
  read = store.for_each_run(std::nullopt, std::nullopt, [&](const store::RunInfo& run) {
    if (run.status == store::RunStatus::complete) run_times.push_back(run.run_at);
    return true;
  });
  if (!read) return read.error();
  // Oldest first already; each instant once, as the report counts them (gather_events.cc).
  run_times.erase(std::unique(run_times.begin(), run_times.end()), run_times.end());

  std::map<std::string, std::string> langs;
  for (const auto& [id, info] : *probes) langs[id] = info.second;
  return group_incidents(events, run_times, langs);
}

}  // namespace dw::report
