// When the daemon's jobs are due: probe runs on [schedule] probes and reports on [schedule]
// report, each slot delayed by a random jitter. Pure logic over an injected clock: it never
// sleeps and never runs anything; the event loop asks it what is due and when to wake.
//
//   Scheduler s(clock, {config.probe_schedule, config.report_schedule, config.jitter}, seed);
//   s.start(last_complete_run_at, empty);   // from the database: catches up one missed run
//   for (;;) {
//     sleep_until(s.next_due());
//     if (auto job = s.take()) run(*job);   // also plans that kind's next slot
//   }
//
// Rules:
// - Jitter: a job for slot S is due at S + U, U uniform in [0, jitter_bound(S)], where the bound
//   is the configured jitter but at most half the gap to the next slot, so jitter never pushes a
//   run into the next slot's time.
// - Catch-up: start() compares the last complete probe run with the latest probe slot not after
//   now; when the database has no complete run since that slot (or none at all, only runs that
//   were cut short), one run is due at once, however many slots were missed. An empty database
//   catches nothing up (there was no downtime).
// - No overlap, no backlog: take() plans the next job of the kind from the first slot after the
//   *current* time, so slots that pass while a job waits or runs collapse into the one waiting
//   job instead of queueing. The loop runs one job at a time; a job due while another runs waits
//   (due_now() tells the loop so it can log it) and starts when the other ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "schedule/schedule.h"

namespace dw::daemon {

enum class JobKind { probe_run, report };

// "probe run", "report".
std::string_view job_name(JobKind kind);

struct Plan {
  schedule::Schedule probes;  // empty: no probe runs
  schedule::Schedule report;  // empty: no reports
  std::chrono::seconds jitter{0};
};

struct Job {
  JobKind kind = JobKind::probe_run;
  Time slot;              // the scheduled instant (for a catch-up: the missed slot)
  Time due;               // when it may start: slot + jitter, or start() time for a catch-up
  bool catch_up = false;  // stands for slots missed while the daemon was not running
};

// The latest firing instant of s at or before t; nullopt when there is none within the 400
// days before t (or s is empty).
std::optional<Time> previous_slot(const schedule::Schedule& s, Time t);

// The largest jitter for slot: min(jitter, half the time from slot to the following slot).
std::chrono::seconds jitter_bound(const schedule::Schedule& s, Time slot,
                                  std::chrono::seconds jitter);

class Scheduler {
 public:
  // clock is borrowed and must outlive the Scheduler. seed makes jitter reproducible (tests);
  // the daemon passes a random one.
  Scheduler(const Clock& clock, Plan plan, uint64_t seed);

  // Plans the first job of each kind after now. last_complete_run: run_at of the last complete
  // probe run in the database (nullopt when there is none); empty_database: it holds no run,
  // complete or not. See "Catch-up" above.
  void start(std::optional<Time> last_complete_run, bool empty_database);

  // Switches to plan (a reloaded config): each kind's pending job is re-planned from now with
  // the new schedule and jitter, except a pending catch-up and a job whose slot has come
  // (waiting for its jitter or for the job in progress), which stay due as they were; the
  // latter not when the new plan has no jobs of its kind.
  void replace(Plan plan);

  // The earliest due time of the pending jobs; Time::max() when nothing will ever be due.
  Time next_due() const;

  // The pending job due earliest, when its time has come (due <= now); nothing is taken.
  std::optional<Job> due_now() const;

  // Removes and returns the job due earliest if it is due (due <= now), and plans the next job
  // of its kind at the first slot after now. nullopt when nothing is due yet.
  std::optional<Job> take();

  // The pending job of kind, if any (for status lines: "next run ...").
  std::optional<Job> pending(JobKind kind) const;

 private:
  const schedule::Schedule& schedule_of(JobKind kind) const;
  // The job for the first slot of kind strictly after t, or nullopt when the schedule is empty.
  std::optional<Job> plan_after(JobKind kind, Time t);

  const Clock& clock_;
  Plan plan_;
  std::mt19937_64 random_;
  std::vector<Job> pending_;  // at most one per kind
};

}  // namespace dw::daemon
