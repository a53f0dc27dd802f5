// cpp-httplib's task queue for the simulator: one thread per connection, started when the
// connection is accepted and ended when it closes, instead of httplib's fixed pool.
//
//   http.new_task_queue = [] { return new dw::sim::ConnectionThreads(4096); };
//
// Why: httplib gives each accepted connection one task that serves its requests until the
// connection closes, keep-alive included. A fixed pool of N threads serves N connections; the
// N+1st waits, unanswered, until some client closes or a keep-alive timeout (5 s) frees a
// thread. A client that opens a connection per request, or holds many keep-alive connections,
// stalls there. Here connection N+1 gets a thread of its own at once, up to the cap.
//
// Contract:
// - enqueue(task) runs task on a new thread while fewer than cap tasks run; beyond the cap it
//   is queued and run, in arrival order, by the next thread whose task ends. When no thread can
//   be created (out of memory or the process's thread limit) the task is queued behind the
//   running ones, or run on the caller's thread when none runs: served late, never lost.
// - A thread ends when its task ends and none is queued; nothing waits idle.
// - shutdown() returns once every task enqueued before it has ended and every thread started
//   has been joined. httplib calls it after its accept loop stops; the destructor calls it too.
//   Calling enqueue() during or after shutdown() is not supported.
// - Threads start with the creating thread's signal mask (the simulator blocks SIGPIPE there)
//   and a stack of stack_bytes.
// - Memory: one stack per running task, of which only the pages a request touches are resident;
//   at most one ended thread waits to be joined at any time.
// Thread-safe; httplib calls enqueue() from its one accept thread.
#pragma once

#include <httplib.h>
#include <pthread.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace dw::sim {

// The stack of a connection thread. Handlers need little (JSON nesting is capped at 64 levels,
// RE2 matches without recursing), but libstdc++'s std::regex, which httplib uses to route paths
// and to parse Range headers, recurses once per character of its input, and httplib admits a
// request line or a header of up to 8 KiB. Measured with Debian 12's httplib on x86-64: a
// 7,240-byte Gemini path or an 8,930-byte Range header overflows 4 MiB, 1,760 bytes of path
// overflow 1 MiB (aarch64, under qemu, needs about the same). 8 MiB, glibc's usual default,
// holds the longest such request with a margin. A thread resides only in the pages it
// touches (tens of KiB), so the size costs address space, not memory.
inline constexpr std::size_t kConnectionStackBytes = std::size_t{8} << 20;

class ConnectionThreads final : public httplib::TaskQueue {
 public:
  // cap: tasks run at once (at least 1).
  explicit ConnectionThreads(std::size_t cap, std::size_t stack_bytes = kConnectionStackBytes);
  ~ConnectionThreads() override;
  ConnectionThreads(const ConnectionThreads&) = delete;
  ConnectionThreads& operator=(const ConnectionThreads&) = delete;

  void enqueue(std::function<void()> task) override;
  void shutdown() override;

  // Tasks running now, and queued behind the cap.
  std::size_t running() const;
  std::size_t queued() const;

 private:
  struct Start;
  static void* run(void* start);

  const std::size_t cap_;
  pthread_attr_t attributes_;  // constant after construction

  mutable std::mutex mutex_;
  std::condition_variable none_running_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  std::size_t running_ = 0;                  // guarded by mutex_
  // The thread that ended last, not yet joined: each ending thread joins the one before it,
  // and shutdown() joins the last, so every thread is joined without keeping a list.
  pthread_t ended_{};       // guarded by mutex_
  bool has_ended_ = false;  // guarded by mutex_
};

}  // namespace dw::sim
