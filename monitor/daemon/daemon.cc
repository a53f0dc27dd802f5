#include "daemon/daemon.h"

#include <atomic>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "common/duration.h"
#include "common/memory.h"
#include "common/version.h"
#include "daemon/jobs.h"
#include "daemon/loop.h"
#include "daemon/metrics_server.h"
#include "daemon/pusher.h"
#include "daemon/scheduler.h"
#include "daemon/systemd.h"

namespace dw::daemon {
namespace {

using std::chrono::steady_clock;
using std::chrono::system_clock;

constexpr int kExitOk = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitRuntime = 2;

Plan plan_of(const config::Config& c) { return {c.probe_schedule, c.report_schedule, c.jitter}; }

class Daemon {
 public:
  Daemon(const Options& options, const Logger& log) : options_(options), log_(log) {}
  ~Daemon() {
    // Only reached with a job running when set-up failed half-way; never leave it detached.
    if (worker_.joinable()) {
      cancel_.store(true);
      transport_->stop();
      worker_.join();
    }
  }

  int run();

 private:
  int start();
  void start_pusher(const config::Config& c);
  void start_job(const Job& job);
  void finish_job();
  void release_memory();
  void reload();
  void switch_setup();
  void begin_stop(int signals);
  void cancel_job(const std::string& why);
  void report_status();
  system_clock::time_point next_wakeup() const;

  const Options& options_;
  const Logger& log_;
  SystemClock clock_;
  Systemd systemd_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Setup> setup_;
  std::unique_ptr<Setup> next_setup_;  // a reloaded config, switched to when no job runs
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<transport::Transport> transport_;
  Metrics metrics_{kVersion};
  std::unique_ptr<MetricsServer> metrics_server_;
  std::atomic<bool> cancel_{false};  // aborts notification transfers when stopping
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<Scheduler> scheduler_;
  // [fleet]: pushes finished runs on a thread of its own (pusher.h). Declared after metrics_,
  // which it writes, so that it is stopped first.
  std::unique_ptr<Pusher> pusher_;

  // The job in flight: the thread writes outcome_, then sets job_done_ and wakes the loop.
  std::thread worker_;
  std::optional<Job> running_;
  JobOutcome outcome_;
  std::atomic<bool> job_done_{false};
  std::set<std::pair<JobKind, Time>> wait_logged_;  // due jobs whose wait was logged

  bool stopping_ = false;
  bool cancelled_ = false;
  std::optional<steady_clock::time_point> grace_end_;
  steady_clock::time_point next_watchdog_{};

  std::string last_run_;  // for STATUS
  long open_events_ = 0;
};

int Daemon::start() {
  auto loop = EventLoop::create();
  if (!loop) {
    log_.error(loop.error().to_string());
    return kExitRuntime;
  }
  loop_ = std::move(*loop);

  auto setup = options_.load(options_.config_file);
  if (!setup) {
    for (const auto& e : setup.error()) log_.error(e.to_string());
    log_.error("not starting: " + options_.config_file.string() + " does not check");
    return kExitInvalid;
  }
  setup_ = std::move(*setup);
  const config::Config& c = setup_->config;

  // Opening migrates an older database, which rewrites every sample (schema 6): minutes for
  // years of history on a Pi, past systemd's default start timeout of 90 s.
  systemd_.starting_slowly("opening the database (upgrading an older one may take minutes)",
                           std::chrono::minutes(30));
  auto store = store::Store::open(c.database.string());
  if (!store) {
    log_.error(store.error().to_string());
    return kExitRuntime;
  }
  store_ = std::move(*store);
  auto transport = transport::Transport::create();
  if (!transport) {
    log_.error(transport.error().to_string());
    return kExitRuntime;
  }
  transport_ = std::move(*transport);

  if (Status s = seed_metrics(*store_, metrics_); !s) {
    log_.error("reading the database: " + s.error().to_string());
    return kExitRuntime;
  }
  if (c.metrics_listen) {
    auto server = MetricsServer::start(*c.metrics_listen, metrics_);
    if (!server) {
      log_.error(server.error().to_string());
      return kExitRuntime;
    }
    metrics_server_ = std::move(*server);
    log_.info("metrics on http://" + *c.metrics_listen + "/metrics");
  }

  auto last = store_->last_run();
  auto last_complete = store_->last_run(store::RunStatus::complete);
  if (!last || !last_complete) {
    log_.error("reading the database: " + (last ? last_complete.error() : last.error()).to_string());
    return kExitRuntime;
  }
  if (*last) {
    last_run_ = format_time((*last)->run_at) + " " + std::string(store::to_string((*last)->status));
  }
  if (auto open = count_open_events(*store_)) {
    for (const auto& [key, n] : *open) open_events_ += n;
  }
  std::optional<Time> last_complete_at;
  if (*last_complete) last_complete_at = (*last_complete)->run_at;
  scheduler_ = std::make_unique<Scheduler>(clock_, plan_of(c), std::random_device{}());
  scheduler_->start(last_complete_at, !*last);
  if (auto p = scheduler_->pending(JobKind::probe_run); p && p->catch_up) {
    log_.notice("the run of " + format_time(p->slot) + " was missed (last complete run: " +
                (last_complete_at ? format_time(*last_complete_at) : std::string("none yet")) +
                "): catching it up now, once");
  }
  notifier_ = std::make_unique<Notifier>(c.notify, log_, clock_, &cancel_);
  if (c.fleet) start_pusher(c);
  return kExitOk;
}

void Daemon::start_pusher(const config::Config& c) {
  pusher_ = std::make_unique<Pusher>(c.database, *c.fleet, metrics_, log_);
  log_.info("fleet: vantage '" + c.fleet->vantage +
            "'; finished runs are pushed to the central database after each run");
}

void Daemon::report_status() {
  std::string s;
  if (running_) {
    s = std::string(job_name(running_->kind)) + " in progress";
  } else if (stopping_) {
    s = "stopping";
  } else {
    s = "idle";
  }
  s += "; last run: " + (last_run_.empty() ? std::string("none") : last_run_);
  if (auto next = scheduler_->pending(JobKind::probe_run)) {
    s += "; next run: " + format_time(next->due);
  }
  s += "; open events: " + std::to_string(open_events_);
  systemd_.status(s);
}

void Daemon::start_job(const Job& job) {
  running_ = job;
  job_done_.store(false);
  // The run this job makes is pushed once its detection is done (finish_job).
  if (pusher_ && job.kind == JobKind::probe_run) pusher_->pause();
  log_.info(std::string(job_name(job.kind)) + " due at " + format_time(job.due) + " starts");
  worker_ = std::thread([this, job] {
    JobContext ctx{*setup_, *store_, *transport_, clock_, metrics_, *notifier_, log_};
    outcome_ = run_job(ctx, job);
    job_done_.store(true);
    loop_->wake();
  });
  report_status();
}

void Daemon::finish_job() {
  worker_.join();
  if (outcome_.run_at) last_run_ = outcome_.summary;
  if (outcome_.open_events) open_events_ = *outcome_.open_events;
  if (pusher_ && running_->kind == JobKind::probe_run) pusher_->resume();
  running_.reset();
  wait_logged_.clear();
  // The job's libcurl handles and connections (which the servers close long before the next
  // job) would hold memory through the wait: a fresh transport holds none.
  if (auto fresh = transport::Transport::create()) {
    transport_ = std::move(*fresh);
  } else {
    log_.warning("keeping the HTTP transport of the last job: " + fresh.error().to_string());
  }
  release_memory();
  report_status();
}

// The daemon waits hours between jobs: it gives back what is no longer used. The heap keeps
// freed memory until then (keep_freed_memory(), which main() sets for every command), and the
// store its page cache and compression tables. On a Pi that is most of an idle daemon.
void Daemon::release_memory() {
  store_->release_memory();
  release_freed_memory();
}

void Daemon::reload() {
  if (stopping_) return;
  log_.notice("SIGHUP: re-reading " + options_.config_file.string());
  auto setup = options_.load(options_.config_file);
  if (!setup) {
    for (const auto& e : setup.error()) log_.error("SIGHUP: " + e.to_string());
    log_.error("SIGHUP: the new config does not check; keeping the running one");
    return;
  }
  next_setup_ = std::move(*setup);
  if (running_) {
    log_.notice("SIGHUP: the new config checks; switching to it when the " +
                std::string(job_name(running_->kind)) + " in progress ends");
  }
}

void Daemon::switch_setup() {
  std::unique_ptr<Setup> next = std::move(next_setup_);
  const config::Config& c = next->config;
  if (c.database != setup_->config.database) {
    auto store = store::Store::open(c.database.string());
    if (!store) {
      log_.error("SIGHUP: " + store.error().to_string() + "; keeping the running config");
      return;
    }
    store_ = std::move(*store);
  }
  if (c.metrics_listen != setup_->config.metrics_listen) {
    log_.warning("SIGHUP: [metrics] listen changed; it takes effect at the next restart");
  }
  auto notifier = std::make_unique<Notifier>(c.notify, log_, clock_, &cancel_);
  notifier->adopt(*notifier_);
  notifier_ = std::move(notifier);
  // The pusher follows [fleet]. Replacing it waits for a push in flight (seconds), which only
  // happens when [fleet] goes away or the database moves.
  const bool same_database = c.database == setup_->config.database;
  if (!c.fleet) {
    if (pusher_) log_.notice("SIGHUP: no [fleet] any more: runs are no longer pushed");
    pusher_.reset();
  } else if (pusher_ && same_database) {
    pusher_->update(*c.fleet);
  } else {
    pusher_.reset();
    start_pusher(c);
  }
  setup_ = std::move(next);
  scheduler_->replace(plan_of(c));
  log_.notice("SIGHUP: now running with the new config (probes \"" + c.probe_schedule.text() +
              "\", report \"" + c.report_schedule.text() + "\")");
  release_memory();  // the old setup's
  report_status();
}

void Daemon::cancel_job(const std::string& why) {
  if (cancelled_ || !running_) return;
  cancelled_ = true;
  log_.warning(why + ": cancelling the " + std::string(job_name(running_->kind)) +
               " in progress; a run is stored as incomplete");
  cancel_.store(true);
  transport_->stop();
}

void Daemon::begin_stop(int signals) {
  if (stopping_) {
    cancel_job("second stop signal");
    return;
  }
  stopping_ = true;
  if (!running_) {
    log_.notice("stop signal: stopping");
    systemd_.stopping("stopping");
    return;
  }
  log_.notice("stop signal: no new jobs; the " + std::string(job_name(running_->kind)) +
              " in progress has " + format_duration(options_.grace) + " to finish");
  systemd_.stopping("stopping: waiting up to " + format_duration(options_.grace) + " for the " +
                    std::string(job_name(running_->kind)) + " in progress");
  grace_end_ = steady_clock::now() + options_.grace;
  if (signals > 1 || options_.grace.count() == 0) cancel_job("stop");
}

system_clock::time_point Daemon::next_wakeup() const {
  auto now = system_clock::now();
  auto wakeup = now + std::chrono::hours(1);
  if (!stopping_) {
    Time due = scheduler_->next_due();
    // While a job runs, a due job waits for its end (which wakes the loop); only wake for it
    // to log the wait.
    bool waiting = running_ && due <= clock_.now();
    if (due != Time::max() && !waiting) wakeup = std::min<system_clock::time_point>(wakeup, due);
  }
  if (systemd_.watchdog_interval().count() > 0) {
    wakeup = std::min(wakeup, now + (next_watchdog_ - steady_clock::now()));
  }
  if (grace_end_ && !cancelled_) wakeup = std::min(wakeup, now + (*grace_end_ - steady_clock::now()));
  return wakeup;
}

int Daemon::run() {
  if (int code = start(); code != kExitOk) return code;
  const config::Config& c = setup_->config;
  std::string ready = "ready; probes \"" + c.probe_schedule.text() + "\", report \"" +
                      c.report_schedule.text() + "\"";
  log_.notice("driftwatch " + std::string(kVersion) + " daemon " + ready + ", database " +
              c.database.string());
  systemd_.ready(ready);
  release_memory();  // what reading the config and compiling the rule packs left
  report_status();

  for (;;) {
    if (!stopping_ && !running_) {
      if (next_setup_) switch_setup();
      if (auto job = scheduler_->take()) {
        start_job(*job);
        continue;
      }
    }
    if (stopping_ && !running_) break;
    if (running_ && !stopping_) {
      if (auto due = scheduler_->due_now(); due && wait_logged_.insert({due->kind, due->slot}).second) {
        log_.notice(std::string(job_name(due->kind)) + " due at " + format_time(due->due) +
                    " waits: the " + std::string(job_name(running_->kind)) + " started at " +
                    format_time(running_->due) + " is still going");
      }
    }
    if (systemd_.watchdog_interval().count() > 0 && steady_clock::now() >= next_watchdog_) {
      systemd_.watchdog();
      next_watchdog_ = steady_clock::now() + systemd_.watchdog_interval();
    }
    if (grace_end_ && !cancelled_ && steady_clock::now() >= *grace_end_) {
      cancel_job("grace period of " + format_duration(options_.grace) + " over");
    }

    Wakeup w = loop_->wait_until(next_wakeup());
    // A job that ended in the same wait as a signal is collected first, so that a stop does
    // not announce a grace period (STOPPING, STATUS) for a job that is already over.
    if (job_done_.load() && running_) finish_job();
    if (w.stop_signals > 0) begin_stop(w.stop_signals);
    if (w.reload) reload();
  }
  pusher_.reset();  // between two runs' pushes, or after the one in flight
  log_.notice("stopped");
  return kExitOk;
}

}  // namespace

int run(const Options& options, const Logger& log) {
  Daemon daemon(options, log);
  return daemon.run();
}

}  // namespace dw::daemon
