#include "transport/transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <map>
#include <random>

#include "common/version.h"
#include "transport/transfer.h"

namespace dw::transport {

using detail::Transfer;
using SteadyClock = std::chrono::steady_clock;

namespace detail {

struct LaneState {
  Lane lane;
  RateSpacer spacer;
  int in_flight = 0;
  bool exhausted = false;
  SteadyClock::time_point hold_until{};            // Retry-After for the whole lane
  std::vector<std::unique_ptr<Transfer>> waiting;  // retries not yet due, in no order

  LaneState(Lane l) : lane(std::move(l)), spacer(lane.limits.rate) {}

  bool has_room() const { return in_flight < lane.limits.concurrency; }
  // When this lane may next start something, if it has anything to start (slots aside).
  std::optional<SteadyClock::time_point> next_start() const {
    std::optional<SteadyClock::time_point> earliest;
    if (!exhausted) earliest = SteadyClock::time_point{};
    for (const auto& t : waiting)
      if (!earliest || t->not_before < *earliest) earliest = t->not_before;
    if (!earliest) return std::nullopt;
    return std::max({*earliest, spacer.next_allowed(), hold_until});
  }
};

}  // namespace detail

using detail::LaneState;

namespace {

// The longest single sleep: a safety net, since libcurl's own timers and sockets wake us anyway.
constexpr int kMaxWaitMs = 1000;
// How often Options::cancel is looked at while sleeping.
constexpr int kCancelPollMs = 100;

}  // namespace

class Transport::Impl {
 public:
  Impl(Options options, CURLM* multi)
      : options_(std::move(options)),
        multi_(multi),
        user_agent_(std::string("driftwatch/") + dw::kVersion),
        rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

  ~Impl() {
    for (CURL* easy : idle_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
    curl_global_cleanup();
  }

  Status run(std::vector<Lane> lanes);
  void stop() {
    stopped_.store(true);
    curl_multi_wakeup(multi_);
  }

 private:
  bool stopping() const {
    return stopped_.load() || (options_.cancel != nullptr && options_.cancel->load());
  }
  Status start_ready(SteadyClock::time_point now);
  Status start(std::unique_ptr<Transfer> t, SteadyClock::time_point now);
  int reap();
  int wait_ms(SteadyClock::time_point now) const;
  void cancel_all();
  void deliver(std::unique_ptr<Transfer> t, Response r);
  CURL* take_easy();
  void release_easy(CURL* easy);

  Options options_;
  CURLM* multi_;
  std::string user_agent_;
  std::mt19937_64 rng_;
  std::atomic<bool> stopped_{false};
  std::vector<LaneState> lanes_;
  std::map<CURL*, std::unique_ptr<Transfer>> active_;
  std::vector<CURL*> idle_;  // easy handles kept for reuse (they keep TLS session state)
};

Status Transport::Impl::run(std::vector<Lane> lanes) {
  int total_concurrency = 0;
  for (const auto& lane : lanes) {
    if (lane.limits.concurrency < 1)
      return Error("transport: lane '" + lane.name + "' needs a concurrency of at least 1");
    if (lane.limits.retries < 0)
      return Error("transport: lane '" + lane.name + "' has a negative retry count");
    if (!lane.next) return Error("transport: lane '" + lane.name + "' has no request source");
    total_concurrency += lane.limits.concurrency;
  }
  // Enough cached connections that every lane can keep its full width of connections alive.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                    static_cast<long>(std::max(16, total_concurrency)));

  lanes_.clear();
  for (auto& lane : lanes) lanes_.emplace_back(std::move(lane));

  for (;;) {
    if (stopping()) {
      cancel_all();
      return Status::Ok();
    }
    if (Status s = start_ready(SteadyClock::now()); !s.ok()) {
      cancel_all();
      return s;
    }
    const bool done = active_.empty() && std::all_of(lanes_.begin(), lanes_.end(), [](auto& l) {
                        return l.exhausted && l.waiting.empty();
                      });
    if (done) {
      lanes_.clear();
      return Status::Ok();
    }
    int running = 0;
    if (CURLMcode mc = curl_multi_perform(multi_, &running); mc != CURLM_OK) {
      cancel_all();
      return Error(std::string("transport: ") + curl_multi_strerror(mc));
    }
    if (reap() > 0) continue;  // slots opened: fill them before sleeping
    if (CURLMcode mc = curl_multi_poll(multi_, nullptr, 0, wait_ms(SteadyClock::now()), nullptr);
        mc != CURLM_OK) {
      cancel_all();
      return Error(std::string("transport: ") + curl_multi_strerror(mc));
    }
  }
}

Status Transport::Impl::start_ready(SteadyClock::time_point now) {
  for (size_t i = 0; i < lanes_.size(); ++i) {
    auto& lane = lanes_[i];
    while (lane.has_room() && lane.spacer.allows(now) && now >= lane.hold_until) {
      // Due retries go first: they are older work.
      auto due = std::find_if(lane.waiting.begin(), lane.waiting.end(),
                              [&](const auto& t) { return t->not_before <= now; });
      std::unique_ptr<Transfer> t;
      if (due != lane.waiting.end()) {
        t = std::move(*due);
        lane.waiting.erase(due);
      } else if (!lane.exhausted) {
        std::optional<Request> request = lane.lane.next();
        if (!request) {
          lane.exhausted = true;
          break;
        }
        if (!request->done) {
          return Error("transport: lane '" + lane.lane.name + "' gave a request without done");
        }
        t = std::make_unique<Transfer>();
        t->request = std::move(*request);
        t->lane = i;
      } else {
        break;
      }
      if (Status s = start(std::move(t), now); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status Transport::Impl::start(std::unique_ptr<Transfer> t, SteadyClock::time_point now) {
  auto& lane = lanes_[t->lane];
  CURL* easy = take_easy();
  if (easy == nullptr) return Error("transport: curl_easy_init failed");
  if (auto invalid = detail::prepare(*t, easy, user_agent_, options_.max_body_bytes)) {
    release_easy(easy);
    t->easy = nullptr;
    Response r;
    r.attempts = t->attempts;
    r.error = *invalid;
    deliver(std::move(t), std::move(r));
    return Status::Ok();
  }
  if (CURLMcode mc = curl_multi_add_handle(multi_, easy); mc != CURLM_OK) {
    release_easy(easy);
    return Error(std::string("transport: ") + curl_multi_strerror(mc));
  }
  ++t->attempts;
  ++lane.in_flight;
  lane.spacer.started(now);
  active_.emplace(easy, std::move(t));
  return Status::Ok();
}

int Transport::Impl::reap() {
  int finished = 0;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    // msg dies with curl_multi_remove_handle: copy what is needed first.
    CURL* easy = msg->easy_handle;
    const CURLcode code = msg->data.result;
    auto it = active_.find(easy);
    if (it == active_.end()) continue;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    ++finished;

    detail::Outcome outcome = detail::finish(*t, code);
    curl_multi_remove_handle(multi_, easy);
    release_easy(easy);
    t->easy = nullptr;
    auto& lane = lanes_[t->lane];
    --lane.in_flight;

    if (outcome.retryable && t->attempts <= lane.lane.limits.retries) {
      const auto now = SteadyClock::now();
      const Millis delay = backoff_delay(t->attempts, options_.backoff, outcome.retry_after, rng_);
      t->not_before = now + delay;
      if (outcome.hold_lane) lane.hold_until = std::max(lane.hold_until, t->not_before);
      lane.waiting.push_back(std::move(t));
    } else {
      deliver(std::move(t), std::move(outcome.response));
    }
  }
  return finished;
}

int Transport::Impl::wait_ms(SteadyClock::time_point now) const {
  int wait = options_.cancel != nullptr ? kCancelPollMs : kMaxWaitMs;
  for (const auto& lane : lanes_) {
    if (!lane.has_room()) continue;  // a completion will wake us
    auto at = lane.next_start();
    if (!at) continue;
    const auto ms = std::chrono::ceil<Millis>(*at - now).count();
    wait = static_cast<int>(std::clamp<int64_t>(ms, 0, wait));
  }
  return wait;
}

void Transport::Impl::cancel_all() {
  std::vector<std::unique_ptr<Transfer>> unfinished;
  for (auto& [easy, t] : active_) {
    curl_multi_remove_handle(multi_, easy);
    release_easy(easy);
    t->easy = nullptr;
    unfinished.push_back(std::move(t));
  }
  active_.clear();
  for (auto& lane : lanes_) {
    for (auto& t : lane.waiting) unfinished.push_back(std::move(t));
    lane.waiting.clear();
    lane.in_flight = 0;
  }
  for (auto& t : unfinished) {
    Response r;
    r.attempts = t->attempts;
    r.error = "cancelled";
    r.cancelled = true;
    deliver(std::move(t), std::move(r));
  }
  lanes_.clear();
}

void Transport::Impl::deliver(std::unique_ptr<Transfer> t, Response r) {
  // Take the callback out first: it may hold the caller's state, and t goes away with its body.
  auto done = std::move(t->request.done);
  t.reset();
  done(std::move(r));
}

CURL* Transport::Impl::take_easy() {
  if (idle_.empty()) return curl_easy_init();
  CURL* easy = idle_.back();
  idle_.pop_back();
  curl_easy_reset(easy);
  return easy;
}

void Transport::Impl::release_easy(CURL* easy) { idle_.push_back(easy); }

Result<std::unique_ptr<Transport>> Transport::create(Options options) {
  if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
    return Error(std::string("cannot initialise libcurl: ") + curl_easy_strerror(rc));
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    curl_global_cleanup();
    return Error("cannot initialise libcurl: curl_multi_init failed");
  }
  return std::unique_ptr<Transport>(
      new Transport(std::make_unique<Impl>(std::move(options), multi)));
}

Transport::Transport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transport::~Transport() = default;
Status Transport::run(std::vector<Lane> lanes) { return impl_->run(std::move(lanes)); }
void Transport::stop() { impl_->stop(); }

std::string body_cap_message(size_t max_body_bytes) {
  constexpr size_t kMiB = 1 << 20;
  if (max_body_bytes >= kMiB && max_body_bytes % kMiB == 0)
    return "response body over the " + std::to_string(max_body_bytes / kMiB) + " MiB cap";
  return "response body over the " + std::to_string(max_body_bytes) + "-byte cap";
}

}  // namespace dw::transport
