// The daemon's scheduler over a simulated clock: due times, jitter bounds, catch-up, waiting
// jobs, reloads, across time zones and daylight-saving changes.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "common/time.h"
#include "config/config.h"
#include "daemon/jobs.h"
#include "daemon/scheduler.h"
#include "schedule/schedule.h"

namespace daemon_scheduler_test {

using dw::format_time;
using dw::ManualClock;
using dw::Time;
using dw::daemon::Job;
using dw::daemon::JobKind;
using dw::daemon::Plan;
using dw::daemon::Scheduler;
using dw::schedule::Schedule;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

Time at(const char* text) {
  auto t = dw::parse_time(text);
  REQUIRE(t.ok());
  return *t;
}

Schedule must_parse(const char* text, const char* zone = "UTC") {
  auto s = Schedule::parse(text, zone);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().to_string()));
  return *s;
}

std::string text(std::optional<Time> t) { return t ? format_time(*t) : "none"; }

}  // namespace

TEST_CASE("previous_slot: the latest firing instant not after t") {
  struct Case {
    const char* expr;
    const char* zone;
    const char* t;
    const char* expected;  // "none" for no slot in the 400 days before t
  };
  const Case cases[] = {
      {"0 */6 * * *", "UTC", "2026-01-15T13:00:00Z", "2026-01-15T12:00:00Z"},
      {"0 */6 * * *", "UTC", "2026-01-15T12:00:00Z", "2026-01-15T12:00:00Z"},  // t itself
      {"0 */6 * * *", "UTC", "2026-01-15T11:59:59Z", "2026-01-15T06:00:00Z"},
      {"0 */6 * * *", "UTC", "2026-01-01T00:30:00Z", "2026-01-01T00:00:00Z"},
      {"30 6 * * *", "UTC", "2026-03-01T06:29:00Z", "2026-02-28T06:30:00Z"},   // over a month end
      {"@every 2s", "UTC", "2026-01-15T13:00:01Z", "2026-01-15T13:00:00Z"},
      {"@every 6h", "Asia/Tokyo", "2026-01-15T13:00:00Z", "2026-01-15T12:00:00Z"},  // no zone
      {"0 9 * * mon-fri", "UTC", "2026-01-19T08:00:00Z", "2026-01-16T09:00:00Z"},   // Monday
      {"0 0 31 * *", "UTC", "2026-03-15T00:00:00Z", "2026-01-31T00:00:00Z"},  // skips February
      {"0 0 1 1 *", "UTC", "2026-12-31T23:59:59Z", "2026-01-01T00:00:00Z"},   // yearly
      {"0 0 29 2 *", "UTC", "2026-06-01T00:00:00Z", "none"},  // 2024-02-29 is too far back
      // 06:00 in Berlin is 05:00Z in winter, 04:00Z in summer (DST from 2026-03-29).
      {"0 6 * * *", "Europe/Berlin", "2026-03-29T12:00:00Z", "2026-03-29T04:00:00Z"},
      {"0 6 * * *", "Europe/Berlin", "2026-03-29T04:30:00Z", "2026-03-29T04:00:00Z"},
      {"0 6 * * *", "Europe/Berlin", "2026-03-29T03:59:00Z", "2026-03-28T05:00:00Z"},
      // 02:30 does not exist in New York on 2026-03-08: it fires when the clocks jump (07:00Z).
      {"30 2 * * *", "America/New_York", "2026-03-08T12:00:00Z", "2026-03-08T07:00:00Z"},
      // 01:30 happens twice on 2026-11-01; a fixed-hour schedule fires at the first (05:30Z).
      {"30 1 * * *", "America/New_York", "2026-11-01T06:45:00Z", "2026-11-01T05:30:00Z"},
      // A wall-clock schedule fires at both 01:30s.
      {"30 * * * *", "America/New_York", "2026-11-01T06:45:00Z", "2026-11-01T06:30:00Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expr);
    CAPTURE(c.zone);
    CAPTURE(c.t);
    CHECK(text(dw::daemon::previous_slot(must_parse(c.expr, c.zone), at(c.t))) == c.expected);
  }
  CHECK_FALSE(dw::daemon::previous_slot(Schedule(), at("2026-01-15T00:00:00Z")).has_value());
}

TEST_CASE("jitter_bound: the configured jitter, at most half the gap to the next slot") {
  struct Case {
    const char* expr;
    const char* slot;
    seconds jitter;
    seconds expected;
  };
  const Case cases[] = {
      {"0 */6 * * *", "2026-01-15T12:00:00Z", minutes(5), minutes(5)},
      {"@every 2s", "2026-01-15T12:00:00Z", minutes(5), seconds(1)},
      {"@hourly", "2026-01-15T12:00:00Z", hours(6), minutes(30)},
      {"0 */6 * * *", "2026-01-15T12:00:00Z", seconds(0), seconds(0)},
      // Uneven gaps: 09:00 to 17:00 is 8h, 17:00 to 09:00 is 16h.
      {"0 9,17 * * *", "2026-01-15T09:00:00Z", hours(6), hours(4)},
      {"0 9,17 * * *", "2026-01-15T17:00:00Z", hours(6), hours(6)},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expr);
    CAPTURE(c.slot);
    CHECK(dw::daemon::jitter_bound(must_parse(c.expr), at(c.slot), c.jitter) == c.expected);
  }
}

TEST_CASE("jitter: due times spread over [slot, slot + bound] and never past it") {
  ManualClock clock(at("2026-01-15T13:00:00Z"));
  Plan plan{must_parse("0 */6 * * *"), Schedule(), minutes(5)};
  seconds lowest = minutes(5), highest{0};
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    Scheduler s(clock, plan, seed);
    s.start(std::nullopt, true);
    auto job = s.pending(JobKind::probe_run);
    REQUIRE(job);
    CHECK(job->slot == at("2026-01-15T18:00:00Z"));
    seconds jitter = job->due - job->slot;
    REQUIRE(jitter >= seconds(0));
    REQUIRE(jitter <= minutes(5));
    lowest = std::min(lowest, jitter);
    highest = std::max(highest, jitter);
  }
  // 300 draws from 301 values: both ends of the range are reached closely.
  CHECK(lowest < seconds(30));
  CHECK(highest > minutes(4) + seconds(30));

  // The same seed gives the same plan.
  Scheduler a(clock, plan, 7), b(clock, plan, 7);
  a.start(std::nullopt, true);
  b.start(std::nullopt, true);
  CHECK(a.next_due() == b.next_due());
}

TEST_CASE("jobs become due at their time, one at a time, each planning its next slot") {
  ManualClock clock(at("2026-01-15T12:00:01Z"));
  Scheduler s(clock, {must_parse("@every 2s"), must_parse("@every 5s"), seconds(0)}, 1);
  s.start(std::nullopt, true);
  CHECK(format_time(s.next_due()) == "2026-01-15T12:00:02Z");
  CHECK_FALSE(s.due_now());
  CHECK_FALSE(s.take());

  clock.set(at("2026-01-15T12:00:02Z"));
  REQUIRE(s.due_now());
  CHECK(s.due_now()->kind == JobKind::probe_run);
  auto job = s.take();
  REQUIRE(job);
  CHECK(job->kind == JobKind::probe_run);
  CHECK(format_time(job->slot) == "2026-01-15T12:00:02Z");
  CHECK_FALSE(job->catch_up);
  CHECK(format_time(s.next_due()) == "2026-01-15T12:00:04Z");
  CHECK_FALSE(s.take());

  // At 12:00:05 both kinds are due; the earlier (the probe run due at :04) comes first.
  clock.set(at("2026-01-15T12:00:05Z"));
  job = s.take();
  REQUIRE(job);
  CHECK(job->kind == JobKind::probe_run);
  job = s.take();
  REQUIRE(job);
  CHECK(job->kind == JobKind::report);
  CHECK(format_time(job->slot) == "2026-01-15T12:00:05Z");
  CHECK_FALSE(s.take());
  CHECK(format_time(s.pending(JobKind::report)->slot) == "2026-01-15T12:00:10Z");
}

TEST_CASE("a job that waited behind a long one runs once, and the slots it covered are skipped") {
  ManualClock clock(at("2026-01-15T06:00:00Z"));
  Scheduler s(clock, {must_parse("0 */6 * * *"), Schedule(), seconds(0)}, 1);
  s.start(at("2026-01-15T00:00:00Z"), false);  // nothing missed
  REQUIRE(s.take());                     // the 06:00 run starts...
  clock.set(at("2026-01-15T19:30:00Z"));  // ...and takes 13.5 hours: 12:00 and 18:00 pass
  auto waited = s.take();
  REQUIRE(waited);
  CHECK(format_time(waited->slot) == "2026-01-15T12:00:00Z");
  CHECK_FALSE(s.take());  // 18:00 is not run on top of it
  CHECK(format_time(s.next_due()) == "2026-01-16T00:00:00Z");
}

TEST_CASE("catch-up: a missed run is caught up once, from the database's last run") {
  struct Case {
    const char* name;
    std::optional<const char*> last_run;  // complete
    bool catch_up;
    bool empty = false;  // the database holds no run at all
  };
  const Case cases[] = {
      {"the 12:00 run is missing", "2026-01-15T05:00:00Z", true},
      {"three days of runs are missing: still one", "2026-01-12T06:00:00Z", true},
      {"the 12:00 run happened (jittered)", "2026-01-15T12:03:00Z", false},
      {"a run right at the slot", "2026-01-15T12:00:00Z", false},
      {"an empty database: no downtime to make up", std::nullopt, false, true},
      {"only a run cut short (the first one, by a power cut)", std::nullopt, true},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    ManualClock clock(at("2026-01-15T13:00:00Z"));
    Scheduler s(clock, {must_parse("0 */6 * * *"), Schedule(), minutes(5)}, 3);
    s.start(c.last_run ? std::optional<Time>(at(*c.last_run)) : std::nullopt, c.empty);
    auto job = s.take();
    CHECK(job.has_value() == c.catch_up);
    if (job) {
      CHECK(job->catch_up);
      CHECK(format_time(job->slot) == "2026-01-15T12:00:00Z");
      CHECK(format_time(job->due) == "2026-01-15T13:00:00Z");
    }
    // Either way the next run is the 18:00 slot, and nothing else is due now.
    CHECK_FALSE(s.take());
    auto next = s.pending(JobKind::probe_run);
    REQUIRE(next);
    CHECK(format_time(next->slot) == "2026-01-15T18:00:00Z");
    CHECK_FALSE(next->catch_up);
  }
}

TEST_CASE("replace: the new plan applies from now; a pending catch-up stays due") {
  ManualClock clock(at("2026-01-15T13:00:00Z"));
  Scheduler s(clock, {must_parse("0 */6 * * *"), must_parse("30 6 * * *"), seconds(0)}, 1);
  s.start(at("2026-01-14T00:00:00Z"), false);
  REQUIRE(s.pending(JobKind::probe_run)->catch_up);
  s.replace({must_parse("@every 2s"), must_parse("0 7 * * *", "Europe/Berlin"), seconds(0)});
  CHECK(s.pending(JobKind::probe_run)->catch_up);
  REQUIRE(s.take());  // the catch-up
  CHECK(format_time(s.pending(JobKind::probe_run)->slot) == "2026-01-15T13:00:02Z");
  // 07:00 in Berlin in January is 06:00Z.
  CHECK(format_time(s.pending(JobKind::report)->slot) == "2026-01-16T06:00:00Z");

  s.replace({Schedule(), Schedule(), seconds(0)});
  CHECK(s.next_due() == Time::max());
  CHECK_FALSE(s.pending(JobKind::probe_run));
}

TEST_CASE("replace: a job whose slot has come stays due, whatever its jitter") {
  for (uint64_t seed : {1, 2, 3, 4}) {
    CAPTURE(seed);
    ManualClock clock(at("2026-01-15T05:59:00Z"));
    const Plan plan{must_parse("0 */6 * * *"), must_parse("0 6 * * *"), minutes(5)};
    Scheduler s(clock, plan, seed);
    s.start(at("2026-01-15T00:00:00Z"), false);  // nothing missed
    REQUIRE(format_time(s.pending(JobKind::probe_run)->slot) == "2026-01-15T06:00:00Z");
    const Time due = s.pending(JobKind::probe_run)->due;
    clock.set(at("2026-01-15T06:00:00Z"));  // the slot has come; its jittered start may not
    s.replace(plan);                        // a reload with the same schedules
    for (JobKind kind : {JobKind::probe_run, JobKind::report}) {
      REQUIRE(s.pending(kind));
      CHECK(format_time(s.pending(kind)->slot) == "2026-01-15T06:00:00Z");
    }
    CHECK(s.pending(JobKind::probe_run)->due == due);
  }
}

TEST_CASE("a report covers the time since the report schedule's previous slot") {
  dw::config::Config c;
  struct Case {
    const char* expr;
    const char* slot;
    const char* since;
  };
  const Case cases[] = {
      {"30 6 * * *", "2026-01-15T06:30:00Z", "2026-01-14T06:30:00Z"},
      {"0 8 * * mon", "2026-01-19T08:00:00Z", "2026-01-12T08:00:00Z"},
      {"0 8 * * mon-fri", "2026-01-19T08:00:00Z", "2026-01-16T08:00:00Z"},  // Monday: Friday on
      {"@every 2s", "2026-01-15T06:30:00Z", "2026-01-15T06:29:58Z"},
      {"0 0 29 2 *", "2028-02-29T00:00:00Z", "2028-02-28T00:00:00Z"},  // none near: one day
  };
  for (const auto& k : cases) {
    CAPTURE(k.expr);
    c.report_schedule = must_parse(k.expr);
    CHECK(format_time(dw::daemon::report_period_start(c, at(k.slot))) == k.since);
  }
}

}  // namespace daemon_scheduler_test
