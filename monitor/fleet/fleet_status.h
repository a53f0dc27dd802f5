// `driftwatch fleet status`: which monitors push to the central database, and how recently.
//
//   auto pg = dw::fleet::Pg::connect(server);
//   auto monitors = dw::fleet::fleet_status(**pg);
//   if (!monitors) ...                                  // one line, exit 2
//   std::cout << dw::fleet::render_status(*monitors, clock.now());
//
// One entry per (monitor role, declared vantage): the role is the server's record of who
// inserted the runs (session_user), the vantage what the monitor declared; a role seen under
// two vantages, or a vantage under two roles, shows as two lines. Reads the runs table only,
// with one aggregate query (GROUP BY in PostgreSQL).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "fleet/pg.h"

namespace dw::fleet {

struct MonitorStatus {
  std::string monitor;   // database role (untrusted text: sanitised, newlines and tabs as \\n \\t)
  std::string vantage;   // as declared (the same)
  Time last_run{};       // newest run_at
  long runs = 0;         // runs received, all time
  Time last_received{};  // newest received_at (the server's clock)
  long backlog = 0;      // runs.backlog of its newest received run: unpushed runs it reported then
  long clock_ahead = 0;  // runs the server flagged as dated more than an hour ahead of it
};

// Every (monitor, vantage) with a run in the central database, by monitor then vantage.
// Fails with one line when the central schema is missing or of another version, or the
// query fails.
Result<std::vector<MonitorStatus>> fleet_status(Pg& pg);

// A table for a terminal, a header line then one line per entry, columns aligned: monitor,
// vantage, last run (and how long before now), runs, last received (and how long before
// now), backlog, clock ahead ("3 runs!" when any). "no monitor has pushed a run yet\n"
// when empty.
std::string render_status(const std::vector<MonitorStatus>& monitors, Time now);

}  // namespace dw::fleet
