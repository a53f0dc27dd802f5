#include "daemon/scheduler.h"

#include <algorithm>

namespace dw::daemon {

using std::chrono::seconds;

std::string_view job_name(JobKind kind) {
  return kind == JobKind::probe_run ? "probe run" : "report";
}

std::optional<Time> previous_slot(const schedule::Schedule& s, Time t) {
  if (s.empty()) return std::nullopt;
  // Look back through growing windows so that a frequent schedule costs a few steps and a
  // yearly one is still found; within a window, walk forward to the last slot not after t.
  using std::chrono::days;
  using std::chrono::hours;
  for (seconds window : {seconds(hours(1)), seconds(days(1)), seconds(days(8)),
                         seconds(days(32)), seconds(days(400))}) {
    Time slot = s.next_after(t - window);
    if (slot > t) continue;
    for (Time next = s.next_after(slot); next <= t; next = s.next_after(slot)) slot = next;
    return slot;
  }
  return std::nullopt;
}

seconds jitter_bound(const schedule::Schedule& s, Time slot, seconds jitter) {
  Time following = s.next_after(slot);
  if (following == Time::max()) return jitter;
  return std::min(jitter, (following - slot) / 2);
}

Scheduler::Scheduler(const Clock& clock, Plan plan, uint64_t seed)
    : clock_(clock), plan_(std::move(plan)), random_(seed) {}

const schedule::Schedule& Scheduler::schedule_of(JobKind kind) const {
  return kind == JobKind::probe_run ? plan_.probes : plan_.report;
}

std::optional<Job> Scheduler::plan_after(JobKind kind, Time t) {
  const schedule::Schedule& s = schedule_of(kind);
  if (s.empty()) return std::nullopt;
  Time slot = s.next_after(t);
  if (slot == Time::max()) return std::nullopt;
  seconds bound = jitter_bound(s, slot, plan_.jitter);
  std::uniform_int_distribution<int64_t> jitter(0, bound.count());
  return Job{kind, slot, slot + seconds(jitter(random_)), false};
}

void Scheduler::start(std::optional<Time> last_complete_run, bool empty_database) {
  pending_.clear();
  Time now = clock_.now();
  std::optional<Time> missed = previous_slot(plan_.probes, now);
  if (missed && !empty_database && (!last_complete_run || *last_complete_run < *missed)) {
    pending_.push_back(Job{JobKind::probe_run, *missed, now, true});
  } else if (auto job = plan_after(JobKind::probe_run, now)) {
    pending_.push_back(*job);
  }
  if (auto job = plan_after(JobKind::report, now)) pending_.push_back(*job);
}

void Scheduler::replace(Plan plan) {
  plan_ = std::move(plan);
  Time now = clock_.now();
  std::vector<Job> kept;
  for (JobKind kind : {JobKind::probe_run, JobKind::report}) {
    auto old = pending(kind);
    // A job whose slot has come (waiting for its jitter, or for the job that runs) is owed
    // whatever the new plan says, unless it has no such jobs at all: planned again from now,
    // a reload just after 06:00 skipped the 06:00 run.
    const bool owed = old && old->slot <= now && !schedule_of(kind).empty();
    if (old && (old->catch_up || owed)) {
      kept.push_back(*old);
    } else if (auto job = plan_after(kind, now)) {
      kept.push_back(*job);
    }
  }
  pending_ = std::move(kept);
}

Time Scheduler::next_due() const {
  Time earliest = Time::max();
  for (const Job& j : pending_) earliest = std::min(earliest, j.due);
  return earliest;
}

std::optional<Job> Scheduler::due_now() const {
  auto it = std::min_element(pending_.begin(), pending_.end(),
                             [](const Job& a, const Job& b) { return a.due < b.due; });
  if (it == pending_.end() || it->due > clock_.now()) return std::nullopt;
  return *it;
}

std::optional<Job> Scheduler::take() {
  auto job = due_now();
  if (!job) return std::nullopt;
  std::erase_if(pending_, [&](const Job& j) { return j.kind == job->kind; });
  if (auto next = plan_after(job->kind, clock_.now())) pending_.push_back(*next);
  return job;
}

std::optional<Job> Scheduler::pending(JobKind kind) const {
  for (const Job& j : pending_) {
    if (j.kind == kind) return j;
  }
  return std::nullopt;
}

}  // namespace dw::daemon
