#include "daemon/pusher.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "common/duration.h"
#include "common/memory.h"
#include "fleet/central_schema.h"
#include "fleet/pg.h"
#include "fleet/push.h"
#include "store/store.h"

namespace dw::daemon {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::chrono::seconds kLongestWait = std::chrono::hours(1);
constexpr double kJitter = 0.2;

std::string runs(int64_t n) { return std::to_string(n) + (n == 1 ? " run" : " runs"); }

}  // namespace

milliseconds push_retry_delay(std::chrono::seconds retry, int failures, double jitter) {
  // Doubling stops at the cap long before 2^n could overflow.
  milliseconds wait = std::chrono::duration_cast<milliseconds>(retry);
  for (int n = 1; n < failures && wait < kLongestWait; ++n) wait *= 2;
  wait = std::min<milliseconds>(wait, kLongestWait);
  const double scale = 1.0 + kJitter * std::clamp(jitter, -1.0, 1.0);
  return milliseconds(std::llround(static_cast<double>(wait.count()) * scale));
}

Pusher::Pusher(std::filesystem::path database, config::Fleet fleet, Metrics& metrics,
               const Logger& log)
    : database_(std::move(database)), metrics_(metrics), log_(log), fleet_(std::move(fleet)) {
  thread_ = std::thread([this] { loop(); });
}

Pusher::~Pusher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    // A statement may wait on a slow or vanished server for minutes (statement_timeout):
    // stopping, or a reload, must not.
    if (pushing_ != nullptr) pushing_->cancel();
  }
  cv_.notify_all();
  thread_.join();
}

void Pusher::pause() {
  std::lock_guard lock(mutex_);
  paused_ = true;
  ++generation_;
}

void Pusher::resume() {
  {
    std::lock_guard lock(mutex_);
    paused_ = false;
    wake_ = true;
  }
  cv_.notify_all();
}

void Pusher::update(config::Fleet fleet) {
  {
    std::lock_guard lock(mutex_);
    fleet_ = std::move(fleet);
    wake_ = true;
    reset_backoff_ = true;
  }
  cv_.notify_all();
}

bool Pusher::stopping() {
  std::lock_guard lock(mutex_);
  return stop_;
}

void Pusher::loop() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(-1.0, 1.0);
  int failures = 0;
  // While waiting after a failure: when to try again (a plain time and a flag: GCC 12 warns,
  // wrongly, that an optional time_point may be read uninitialised).
  bool retrying = false;
  steady_clock::time_point retry_at{};
  for (;;) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (stop_) return;
      if (reset_backoff_) {
        failures = 0;
        retrying = false;
        reset_backoff_ = false;
      }
      const bool due = retrying ? steady_clock::now() >= retry_at : wake_;
      if (due && !paused_) break;
      if (retrying && !paused_) {
        cv_.wait_until(lock, retry_at);
      } else {
        cv_.wait(lock);
      }
    }
    wake_ = false;
    const config::Fleet fleet = fleet_;
    const uint64_t generation = generation_;
    lock.unlock();

    Error failure("");
    Round outcome = round(fleet, generation, failure);
    // A push cut short because the daemon stops is not the server's failure.
    if (outcome == Round::failed && stopping()) outcome = Round::interrupted;
    switch (outcome) {
      case Round::done:
        failures = 0;
        retrying = false;
        break;
      case Round::interrupted:  // resume() or the destructor wakes the loop again
        break;
      case Round::failed: {
        ++failures;
        const milliseconds wait = push_retry_delay(fleet.retry, failures, jitter(rng));
        retry_at = steady_clock::now() + wait;
        retrying = true;
        metrics_.record_fleet_push_failure();
        std::string left;
        if (store_) {
          if (auto state = store_->push_state()) {
            metrics_.set_fleet_state(state->backlog, state->last_pushed);
            left = "; " + runs(state->backlog) + " waiting";
          }
        }
        log_.warning("fleet: push failed: " + failure.to_string() + left + "; next try in " +
                     format_duration(std::chrono::duration_cast<std::chrono::seconds>(wait)));
        break;
      }
    }
    // A round reads every text it pushes: give back what it kept, as the daemon does after a
    // job (daemon.cc, release_memory).
    if (store_) store_->release_memory();
    release_freed_memory();
  }
}

Pusher::Round Pusher::round(const config::Fleet& fleet, uint64_t generation, Error& failure) {
  if (!store_) {
    auto store = store::Store::open(database_.string());
    if (!store) {
      failure = store.error();
      return Round::failed;
    }
    store_ = std::move(*store);
  }
  auto state = store_->push_state();
  if (!state) {
    failure = state.error();
    return Round::failed;
  }
  metrics_.set_fleet_state(state->backlog, state->last_pushed);
  if (state->backlog == 0) return Round::done;

  auto password = config::read_secret(fleet.password);
  if (!password) {
    failure = password.error();
    return Round::failed;
  }
  auto pg = fleet::Pg::connect(fleet.server, *password);
  if (!pg) {
    failure = pg.error();
    return Round::failed;
  }
  // The destructor cancels what this connection is doing; the round forgets it on every way out.
  struct Pushing {
    Pusher& p;
    Pushing(Pusher& pusher, const fleet::Pg& pg) : p(pusher) {
      std::lock_guard lock(p.mutex_);
      p.pushing_ = &pg;
    }
    ~Pushing() {
      std::lock_guard lock(p.mutex_);
      p.pushing_ = nullptr;
    }
  } pushing(*this, **pg);
  if (stopping()) return Round::interrupted;
  if (Status s = fleet::check_central(**pg); !s) {
    failure = s.error();
    return Round::failed;
  }
  std::vector<int64_t> ids;
  Status listed = store_->for_each_unpushed([&](const store::RunInfo& run) {
    ids.push_back(run.id);
    return true;
  });
  if (!listed) {
    failure = listed.error();
    return Round::failed;
  }
  {
    // A job that started while the list was read may have finished a run whose detection has
    // not decided its events yet: that list is not to be trusted.
    std::lock_guard lock(mutex_);
    if (paused_ || generation_ != generation) return Round::interrupted;
  }

  const fleet::Vantage vantage{fleet.vantage, fleet.country, fleet.asn};
  long pushed = 0, samples = 0;
  Round outcome = Round::done;
  for (int64_t id : ids) {
    if (stopping()) {
      outcome = Round::interrupted;
      break;
    }
    auto result = fleet::push_run(*store_, **pg, vantage, id);
    if (!result) {
      failure = result.error();
      outcome = Round::failed;
      break;
    }
    ++pushed;
    samples += result->samples;
  }
  if (pushed > 0) {
    std::string left;
    if (auto after = store_->push_state()) {
      metrics_.set_fleet_state(after->backlog, after->last_pushed);
      left = "; " + std::to_string(after->backlog) + " left";
    }
    log_.info("fleet: pushed " + runs(pushed) + " (" + std::to_string(samples) +
              " samples) to " + (*pg)->describe() + left);
  }
  return outcome;
}

}  // namespace dw::daemon
