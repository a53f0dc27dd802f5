#include "sim/connection_threads.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace dw::sim {

struct ConnectionThreads::Start {
  ConnectionThreads* self;
  std::function<void()> task;
};

ConnectionThreads::ConnectionThreads(std::size_t cap, std::size_t stack_bytes)
    : cap_(std::max<std::size_t>(1, cap)) {
  pthread_attr_init(&attributes_);
  // Fails only below PTHREAD_STACK_MIN; the default stack is then kept.
  pthread_attr_setstacksize(&attributes_, stack_bytes);
}

ConnectionThreads::~ConnectionThreads() {
  shutdown();
  pthread_attr_destroy(&attributes_);
}

void ConnectionThreads::enqueue(std::function<void()> task) {
  std::unique_lock lock(mutex_);
  if (running_ >= cap_) {
    queue_.push_back(std::move(task));
    return;
  }
  auto start = std::make_unique<Start>(Start{this, std::move(task)});
  pthread_t thread;
  if (pthread_create(&thread, &attributes_, &ConnectionThreads::run, start.get()) == 0) {
    start.release();  // the thread's now
    ++running_;
    return;
  }
  if (running_ > 0) {
    queue_.push_back(std::move(start->task));
    return;
  }
  lock.unlock();
  start->task();
}

void* ConnectionThreads::run(void* arg) {
  std::unique_ptr<Start> start(static_cast<Start*>(arg));
  ConnectionThreads& self = *start->self;
  std::function<void()> task = std::move(start->task);
  start.reset();
  pthread_t previous{};
  bool join_previous = false;
  for (;;) {
    task();
    task = nullptr;  // destroyed outside the lock
    std::lock_guard lock(self.mutex_);
    if (!self.queue_.empty()) {
      task = std::move(self.queue_.front());
      self.queue_.pop_front();
      continue;
    }
    --self.running_;
    join_previous = std::exchange(self.has_ended_, true);
    previous = std::exchange(self.ended_, pthread_self());
    if (self.running_ == 0) self.none_running_.notify_all();
    break;
  }
  // Outside the lock: the predecessor may itself be joining the thread that ended before it.
  if (join_previous) pthread_join(previous, nullptr);
  return nullptr;
}

void ConnectionThreads::shutdown() {
  std::unique_lock lock(mutex_);
  none_running_.wait(lock, [this] { return running_ == 0; });
  if (!std::exchange(has_ended_, false)) return;
  pthread_t last = ended_;
  lock.unlock();
  pthread_join(last, nullptr);
}

std::size_t ConnectionThreads::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::size_t ConnectionThreads::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace dw::sim
