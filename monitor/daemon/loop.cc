#include "daemon/loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace dw::daemon {

static_assert(sizeof(sigset_t) <= 128, "EventLoop::old_mask_ is too small for sigset_t");

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigset_t old;
  if (int e = pthread_sigmask(SIG_BLOCK, &set, &old); e != 0) {
    return Error(std::string("cannot block signals: ") + std::strerror(e));
  }
  std::memcpy(loop->old_mask_, &old, sizeof old);
  loop->restore_mask_ = true;
  loop->old_sigpipe_ = std::signal(SIGPIPE, SIG_IGN);
  loop->signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (loop->signal_fd_ < 0) return Error(std::string("signalfd: ") + std::strerror(errno));
  loop->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wake_fd_ < 0) return Error(std::string("eventfd: ") + std::strerror(errno));
  return loop;
}

EventLoop::~EventLoop() {
  if (signal_fd_ >= 0) close(signal_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (restore_mask_) {
    sigset_t old;
    std::memcpy(&old, old_mask_, sizeof old);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    std::signal(SIGPIPE, old_sigpipe_ == SIG_ERR ? SIG_DFL : old_sigpipe_);
  }
}

Wakeup EventLoop::wait_until(std::chrono::system_clock::time_point deadline,
                             std::chrono::milliseconds max_sleep) {
  using namespace std::chrono;
  auto left = duration_cast<milliseconds>(deadline - system_clock::now());
  // Round up: waking a millisecond early would only loop back here.
  if (deadline - system_clock::now() > left) left += milliseconds(1);
  left = std::clamp(left, milliseconds(0), max_sleep);
  timespec timeout{static_cast<time_t>(left.count() / 1000),
                   static_cast<long>(left.count() % 1000) * 1000000L};
  pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  Wakeup w;
  int n = ppoll(fds, 2, &timeout, nullptr);
  if (n <= 0) return w;  // timeout, or EINTR from a signal outside the set: look again
  if (fds[0].revents & POLLIN) {
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGHUP) {
        w.reload = true;
      } else {
        ++w.stop_signals;
      }
    }
  }
  if (fds[1].revents & POLLIN) {
    uint64_t count = 0;
    if (read(wake_fd_, &count, sizeof count) == static_cast<ssize_t>(sizeof count)) w.woken = true;
  }
  return w;
}

void EventLoop::wake() {
  uint64_t one = 1;
  // Only fails when the counter would overflow, which means a wake-up is pending anyway.
  (void)!write(wake_fd_, &one, sizeof one);
}

}  // namespace dw::daemon
