// The daemon's fleet pusher ([fleet]): sends finished runs to the central PostgreSQL on a
// thread of its own, so that pushing never delays probing.
//
//   Pusher pusher(config.database, *config.fleet, metrics, log);  // pushes the backlog now
//   pusher.pause();    // a probe run starts
//   pusher.resume();   // it ended, detection included: push what is waiting
//   // ~Pusher: stops and joins
//
// The thread has its own store::Store on the same database file (WAL: its reads never block
// the job's writes, its few writes, a mark per run pushed, wait at most the busy timeout) and
// its own PostgreSQL connection, made for each round of pushing and closed after it (a
// connection idle for hours between runs would be cut by firewalls anyway). A round reads the
// backlog (store.h: push_state), connects only when there is one, and pushes it oldest first,
// one run a transaction (fleet/push.h): a run reaches the central database once, whole, and
// is marked pushed only after its COMMIT.
//
// A run is pushed only after detection has decided its events, which go with it: no round
// starts while a probe job runs (between pause() and resume()), and a round that was listing
// the backlog when a job started drops its list and waits for resume(). Runs listed before
// the job started are decided and may go on being pushed during it.
//
// Failures (the database, the password, the server unreachable, a refused login, a schema of
// another version, a refused insert) are logged, one warning line each (never the password),
// counted in the metrics, and retried: after the n-th failure in a row the next round waits
// push_retry_delay([fleet] retry, n, jitter); a resume() in that wait does not cut it short
// (the server was failing), new settings (update) do. A monitor offline for a week pushes its
// week when the server answers again, by itself.
//
// Metrics: the backlog and the time of the last push (seeded from the database when the
// thread starts, then after each round), and the failed rounds.
//
// Stopping: the destructor wakes the thread and joins it. A round stops between two runs; a
// run in flight is finished or failed first, which libpq's timeouts bound (connecting 10 s,
// a statement 120 s; fleet/pg.h).
//
// Threads: every public call is safe from any thread; the pusher's store and connection are
// used on its thread only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "config/config.h"
#include "daemon/log.h"
#include "daemon/metrics.h"

namespace dw::store {
class Store;
}
namespace dw::fleet {
class Pg;
}

namespace dw::daemon {

// The wait before the next round after the failures-th failed round in a row (1 for the
// first): retry doubled for each failure after the first, at most one hour, then scaled by
// 1 + 0.2 * jitter, with jitter in [-1, 1] (the pusher draws it uniformly), so that monitors
// that lost the server at the same moment do not all come back at the same moment. failures
// < 1 counts as 1; jitter outside [-1, 1] is clamped.
std::chrono::milliseconds push_retry_delay(std::chrono::seconds retry, int failures,
                                           double jitter);

class Pusher {
 public:
  // Starts the thread, which opens its store on database and pushes the backlog at once.
  // Never fails here: what goes wrong is logged and retried. metrics and log must outlive it.
  Pusher(std::filesystem::path database, config::Fleet fleet, Metrics& metrics,
         const Logger& log);
  // Stops the thread (see Stopping above) and joins it.
  ~Pusher();
  Pusher(const Pusher&) = delete;
  Pusher& operator=(const Pusher&) = delete;

  // A probe job starts: no round starts until resume().
  void pause();
  // The probe job ended (its detection included): push what waits, now, or when the wait
  // after a failure ends.
  void resume();
  // Settings of a reloaded config (same database) for the next round, which starts now: a
  // new server or password deserves a try without waiting out the old one's failures.
  void update(config::Fleet fleet);

 private:
  enum class Round { done, failed, interrupted };
  void loop();
  // One round with these settings; generation: of the pause() count when it started.
  Round round(const config::Fleet& fleet, uint64_t generation, Error& failure);
  bool stopping();

  const std::filesystem::path database_;
  Metrics& metrics_;
  const Logger& log_;
  std::unique_ptr<store::Store> store_;  // the thread's own; opened by the thread

  std::mutex mutex_;
  std::condition_variable cv_;
  config::Fleet fleet_;        // guarded by mutex_
  bool stop_ = false;          // guarded by mutex_
  bool paused_ = false;        // guarded by mutex_: a probe job runs
  bool wake_ = true;           // guarded by mutex_: a round is wanted (true: the backlog at start)
  bool reset_backoff_ = false;  // guarded by mutex_: update() asks to forget past failures
  uint64_t generation_ = 0;    // guarded by mutex_: pause() calls so far
  const fleet::Pg* pushing_ = nullptr;  // guarded by mutex_: the connection of a round

  std::thread thread_;  // last: started once everything above is ready
};

}  // namespace dw::daemon
