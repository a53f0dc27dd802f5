// `driftwatch daemon`: the scheduler loop for systemd.
//
//   dw::daemon::Logger log(dw::daemon::LogLevel::info);
//   dw::daemon::Options options{config_path, loader, std::chrono::seconds(30)};
//   return dw::daemon::run(options, log);   // until SIGTERM or SIGINT
//
// Probe runs happen on [schedule] probes and reports on [schedule] report, each with jitter
// (scheduler.h: catch-up of one missed run, no overlap, no backlog). After each run: drift
// detection, the metrics snapshot, notifications of new events. After each report: a
// notification. systemd hears READY=1, STATUS= lines (last run, next run, open events),
// WATCHDOG=1 and STOPPING=1 (systemd.h). Logs are journald lines on stderr (log.h).
//
// Signals: SIGHUP re-reads the config through the loader; when it checks, it replaces the
// running one between jobs (a job in progress finishes with the config it started with);
// when it does not, every located error is logged and the old config stays. SIGTERM or SIGINT
// stops scheduling; a job in progress gets `grace` to finish, then its requests are cancelled
// and the run is stored as incomplete (the samples that arrived are kept); a second SIGTERM or
// SIGINT cancels at once. Then the daemon exits 0.
//
// Threads, and why there are three. The loop thread owns everything and is the only one that
// acts on signals, time and systemd. A job (a run, detection, a report, notifications) runs on
// a job thread, one job at a time: the runner blocks inside Transport::run() for as long as a
// run lasts (hours under rate limits), with no hook back to its caller between samples, and in
// that time the daemon must still answer the watchdog, count down the grace period after
// SIGTERM and take SIGHUP. So the loop never blocks on a job; while a job runs, the loop
// touches none of what the job uses (the store, the transport, the notifier, the config), and
// it reads the job's outcome only after the thread has signalled completion and been joined.
// The only cross-thread calls are Transport::stop() (documented safe from any thread), an
// atomic cancel flag for notification transfers, and the Metrics mutex. The metrics server
// (metrics_server.h) is the third: it only renders the Metrics snapshot under that mutex. With
// [fleet], a fourth is the pusher (pusher.h), with a store and a database connection of its
// own: the loop only calls its thread-safe pause(), resume() and update().
//
// Memory, for a Pi that runs for years. Between jobs the loop gives back what the last one
// left: the store's page cache and compression tables, malloc's free memory (all threads share
// one malloc arena, so that it can), and the HTTP transport, replaced by a fresh one. The rule
// packs are kept as text and compiled by each probe run. The pusher does the same after each
// round.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "analysis/rules.h"
#include "common/error.h"
#include "config/config.h"
#include "daemon/log.h"
#include "probes/probe.h"

namespace dw::daemon {

// What a job needs of the configuration: the config and what it names, all checked.
struct Setup {
  config::Config config;
  std::vector<probes::ProbeSet> sets;
  // The rule packs as read, and compiled without error (analysis::build_rules). A probe run
  // compiles them again: compiled, their patterns take megabytes that a daemon would hold
  // through the hours between runs; compiling takes a fraction of a second.
  std::vector<analysis::PackSource> rule_packs;
};

// Loads and checks the config file and everything it names; every located error on failure.
using Loader = std::function<Result<std::unique_ptr<Setup>, Errors>(const std::filesystem::path&)>;

struct Options {
  std::filesystem::path config_file;
  Loader load;
  std::chrono::seconds grace{30};  // how long a job may go on after SIGTERM before cancelling
};

// Runs the daemon until SIGTERM or SIGINT. Returns the process's exit code: 0 after a stop by
// signal; 1 when the config does not load at start (each error logged); 2 when the database,
// the HTTP transport or the metrics port cannot be set up, or the signal set-up fails.
// Must be called before the process starts any thread (see loop.h).
int run(const Options& options, const Logger& log);

}  // namespace dw::daemon
