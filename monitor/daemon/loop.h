// The daemon's event loop primitive: one thread sleeps in ppoll until a deadline, a signal, or
// a wake-up from the job thread. No busy loop: with nothing to do it sleeps until the deadline.
//
// Signals are not handled by handlers at all: SIGTERM, SIGINT and SIGHUP are blocked and read
// from a signalfd, so they arrive as ordinary events in the loop, and nothing runs in signal
// context (the strictest form of "handlers only set flags"). The mask is set by create() in the
// calling thread and inherited by every thread started after it, which is why create() must
// run before any thread exists (the metrics server, the job thread, libcurl's resolver).
#pragma once

#include <chrono>
#include <memory>

#include "common/error.h"

namespace dw::daemon {

struct Wakeup {
  int stop_signals = 0;  // SIGTERM or SIGINT received since the last wait
  bool reload = false;   // SIGHUP received
  bool woken = false;    // wake() was called
};

class EventLoop {
 public:
  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, ignores SIGPIPE (a peer closing a
  // socket must be an error value, not death), and opens the signalfd and the wake-up eventfd.
  // Fails with the system's reason.
  static Result<std::unique_ptr<EventLoop>> create();
  // Closes the descriptors and restores the signal mask and SIGPIPE disposition.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Sleeps until deadline (on the system clock; at most max_sleep at a time, so a wall-clock
  // step is noticed), a signal or a wake(); returns what happened. Returns at once when a
  // signal or a wake-up is already pending.
  Wakeup wait_until(std::chrono::system_clock::time_point deadline,
                    std::chrono::milliseconds max_sleep = std::chrono::seconds(60));

  // Makes a wait in progress (or the next one) return with woken = true. Safe from any thread.
  void wake();

 private:
  EventLoop() = default;
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  bool restore_mask_ = false;
  unsigned char old_mask_[128] = {};  // the sigset_t before create(), restored on destruction
  void (*old_sigpipe_)(int) = nullptr;
};

}  // namespace dw::daemon
