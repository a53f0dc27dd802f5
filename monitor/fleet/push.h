// Pushing finished runs from a monitor's local store to the fleet's central PostgreSQL.
//
//   auto pg = dw::fleet::Pg::connect(config.fleet.server, password);
//   dw::fleet::Vantage here{"hk-pi", "HK", "AS4760"};
//   auto one = dw::fleet::push_run(*store, **pg, here, run_id);   // after detection decided it
//   auto all = dw::fleet::push_backlog(*store, **pg, here);        // `driftwatch push`
//   if (all.failure) ...   // one line; all.pushed went through, all.left wait for the next try
//
// One PostgreSQL transaction per run: the central schema's version is checked, then the run
// row (its UUID from Store::run_uuid), the probe versions its samples asked, the response texts
// they got (keyed by SHA-256, stored once centrally; error bodies are not sent), its samples
// with their final verdicts, the events it opened (detected_run_id) and the resolutions it
// made (resolved_run_id), each table in one INSERT ... SELECT unnest(...) ON CONFLICT DO
// NOTHING. The run is marked pushed locally (Store::mark_pushed, at the system clock's now)
// only after COMMIT returned: a failure anywhere marks nothing and leaves nothing central, and
// a run already central (a push whose mark was lost, a restarted monitor) adds nothing and is
// marked. Events detection opens for a run after it was pushed are not sent: push a run once
// detection has decided it.
//
// Central values follow the local ones: "" and 0 (no HTTP status) become NULL, except the keys
// of endpoint-wide events, which stay "". Text that PostgreSQL cannot hold (a NUL byte, bytes
// that are not UTF-8) is sent with U+FFFD in their place, under the hash of what is sent (the
// central database checks that every text hashes to its key). Times go as ISO 8601 UTC.
//
// Memory: one run's samples and texts at a time. Threads: as Pg and Store (one thread each).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "fleet/pg.h"
#include "store/store.h"

namespace dw::fleet {

// Where a monitor says it stands ([fleet] vantage, country, asn); the server adds who it is.
struct Vantage {
  std::string name, country, asn;  // country and asn "" when not declared (NULL centrally)
};

// What one push did. Counts are rows this push added centrally: 0 when already_there; texts
// other runs had already sent are not counted.
struct PushResult {
  int64_t run_id = 0;
  std::string uuid;
  long samples = 0, texts = 0, events = 0;  // events: opened and resolutions
  bool already_there = false;  // the run was central already (its row's INSERT added nothing)
};

// Pushes one finished run (complete or incomplete) in one transaction and marks it pushed.
// The run row's backlog is the local unpushed count at the time, this run not included (the
// runs still waiting: 0 for a monitor that has caught up). Fails, one line, marking nothing,
// for a run that is unknown or still running, a central schema of another version, a refused
// insert, a lost connection; or when the run went through but marking it failed (it is then
// found central and marked on the next push).
Result<PushResult> push_run(store::Store& local, Pg& central, const Vantage& v, int64_t run_id);

// Pushes the unpushed runs oldest first, calling progress after each; stops at the first
// failure (returned, with what was pushed before it). left: runs still unpushed afterwards.
struct BacklogResult {
  std::vector<PushResult> pushed;
  std::optional<Error> failure;
  long left = 0;
};
BacklogResult push_backlog(store::Store& local, Pg& central, const Vantage& v,
                           const std::function<void(const PushResult&)>& progress = {});

}  // namespace dw::fleet
