// The fleet's central schema in PostgreSQL: what monitors push into and the fleet report
// reads, versioned like the local one (the table driftwatch_fleet holds the version).
//
//   auto pg = dw::fleet::Pg::connect(server);              // as a role that may create tables
//   if (auto st = dw::fleet::init_central(**pg); !st) ...  // `driftwatch fleet init`
//   ...
//   if (auto st = dw::fleet::check_central(**pg); !st) ... // a monitor, before pushing
//
// Version 2 (README, "Fleet"): tables driftwatch_fleet, runs, probes, texts, samples, events,
// event_resolutions in the connection's current schema (public unless the connection string
// sets search_path), the trigger runs_identity that records on every new run the role that
// inserted it (session_user), the client address, the server's time and whether the run's
// clock was more than an hour ahead, whatever the payload said; and two NOLOGIN group roles
// (cluster-wide, made when missing): driftwatch_monitor may only insert (plus read the
// version), driftwatch_reader may only read. Monitors log in as roles of their own that are
// members of driftwatch_monitor. Events and resolutions are keyed by run, type, endpoint,
// probe and subject (a canned template's hash; version 1 had no subject).
#pragma once

#include "common/error.h"
#include "fleet/pg.h"

namespace dw::fleet {

// The central schema version this driftwatch writes and reads.
inline constexpr int kCentralVersion = 2;

// The version of the central schema in pg's current schema: 0 when none of its tables are
// there (an empty database). Fails, one line, on tables of ours without driftwatch_fleet (a
// database of another program's, or a half-made one), or a driftwatch_fleet without one row.
Result<int> central_version(Pg& pg);

// Ok when the central schema is version kCentralVersion; else one line: "no driftwatch
// central schema ...: run driftwatch fleet init", "central schema is version 1; ...: run
// driftwatch fleet init to upgrade it" or "central schema is version N; this driftwatch
// knows 2: upgrade driftwatch".
Status check_central(Pg& pg);

// Creates the latest version in one transaction (tables, trigger, indexes, roles when missing,
// grants) on an empty database, or brings version 1 up to it; does nothing on the latest
// version; fails with one line, changing nothing, on a newer version, on tables that are not
// ours, on a database whose encoding is not UTF8, or when the role may not create tables or
// roles. Safe against a concurrent init (an advisory lock). The connecting role owns what it
// creates.
Status init_central(Pg& pg);

}  // namespace dw::fleet
