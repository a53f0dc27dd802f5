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

// What the run's deadline did to a request, after deadline_prefix().
constexpr std::string_view kNoTimeToRetry = "leaves no time to retry";
constexpr std::string_view kNoTimeToSend = "leaves no time to send the request";
constexpr std::string_view kCutInFlight = "passed before an answer";
constexpr std::string_view kNeverSent = "passed before the request was sent";

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

  Status run(std::vector<Lane> lanes, std::optional<Millis> deadline, Heartbeat heartbeat);
  void stop() {
    stopped_.store(true);
    curl_multi_wakeup(multi_);
  }

 private:
  bool stopping() const {
    return stopped_.load() || (options_.cancel != nullptr && options_.cancel->load());
  }
  Status pull(size_t lane, std::unique_ptr<Transfer>& out);
  Status start_ready(SteadyClock::time_point now);
  Status start(std::unique_ptr<Transfer> t, SteadyClock::time_point now);
  int reap();
  int wait_ms(SteadyClock::time_point now) const;
  Status give_up_late();
  Status expire();
  Status drain(size_t lane, std::string_view what);
  void take_unfinished(std::vector<std::unique_ptr<Transfer>>& in_flight,
                       std::vector<std::unique_ptr<Transfer>>& waiting);
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
  // Of the current run(); deadline_at_ is the far future without a deadline.
  std::optional<Millis> deadline_;
  SteadyClock::time_point deadline_at_ = SteadyClock::time_point::max();
  Heartbeat heartbeat_;  // of the current run(); next_beat_ is when it is next due
  SteadyClock::time_point next_beat_ = SteadyClock::time_point::max();
};

Status Transport::Impl::run(std::vector<Lane> lanes, std::optional<Millis> deadline,
                            Heartbeat heartbeat) {
  if (deadline && *deadline <= Millis{0})
    return Error("transport: the run deadline must be positive");
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
  deadline_ = deadline;
  deadline_at_ = deadline ? SteadyClock::now() + *deadline : SteadyClock::time_point::max();
  heartbeat_ = std::move(heartbeat);
  const bool beats = heartbeat_.beat && heartbeat_.every > Millis{0};
  next_beat_ = beats ? SteadyClock::now() + heartbeat_.every : SteadyClock::time_point::max();

  for (;;) {
    if (stopping()) {
      cancel_all();
      return Status::Ok();
    }
    const auto now = SteadyClock::now();
    Status s = now >= deadline_at_ ? expire() : start_ready(now);
    if (s.ok() && now < deadline_at_) s = give_up_late();
    if (!s.ok()) {
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
    if (const auto at = SteadyClock::now(); at >= next_beat_) {
      heartbeat_.beat();
      next_beat_ = at + heartbeat_.every;
    }
    if (CURLMcode mc = curl_multi_poll(multi_, nullptr, 0, wait_ms(SteadyClock::now()), nullptr);
        mc != CURLM_OK) {
      cancel_all();
      return Error(std::string("transport: ") + curl_multi_strerror(mc));
    }
  }
}

// Sets out to the lane's next new request, or to null once its source is done.
Status Transport::Impl::pull(size_t i, std::unique_ptr<Transfer>& out) {
  auto& lane = lanes_[i];
  out.reset();
  if (lane.exhausted) return Status::Ok();
  std::optional<Request> request = lane.lane.next();
  if (!request) {
    lane.exhausted = true;
    return Status::Ok();
  }
  if (!request->done)
    return Error("transport: lane '" + lane.lane.name + "' gave a request without done");
  out = std::make_unique<Transfer>();
  out->request = std::move(*request);
  out->lane = i;
  return Status::Ok();
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
      } else {
        if (Status s = pull(i, t); !s.ok()) return s;
        if (!t) break;
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
  t->last_attempt.reset();  // superseded by the attempt now starting
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
      // Kept for the answer should the deadline come first (give_up_late, expire).
      t->last_attempt = std::move(outcome.response);
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
  for (auto at : {deadline_at_, next_beat_}) {
    if (at == SteadyClock::time_point::max()) continue;
    const auto ms = std::chrono::ceil<Millis>(at - now).count();
    wait = static_cast<int>(std::clamp<int64_t>(ms, 0, wait));
  }
  return wait;
}

// Answers at once what a lane could only start at or past the deadline (held by a Retry-After
// or spaced by its rate beyond it): holding it until the deadline's cut would gain nothing.
Status Transport::Impl::give_up_late() {
  if (!deadline_) return Status::Ok();
  for (size_t i = 0; i < lanes_.size(); ++i) {
    auto& lane = lanes_[i];
    const auto earliest = std::max(lane.spacer.next_allowed(), lane.hold_until);
    std::vector<std::unique_ptr<Transfer>> late, keep;
    for (auto& t : lane.waiting)
      (std::max(t->not_before, earliest) < deadline_at_ ? keep : late).push_back(std::move(t));
    lane.waiting = std::move(keep);
    for (auto& t : late) {
      Response r = detail::past_deadline(std::move(t->last_attempt), t->attempts, *deadline_,
                                         kNoTimeToRetry);
      deliver(std::move(t), std::move(r));
    }
    if (earliest >= deadline_at_) {
      if (Status s = drain(i, kNoTimeToSend); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

// At the deadline: transfers in flight are cut, waiting retries answered with their last
// attempt, and every source drained.
Status Transport::Impl::expire() {
  std::vector<std::unique_ptr<Transfer>> in_flight, waiting;
  take_unfinished(in_flight, waiting);
  for (auto& t : in_flight) {
    Response r = detail::past_deadline(std::nullopt, t->attempts, *deadline_, kCutInFlight);
    deliver(std::move(t), std::move(r));
  }
  for (auto& t : waiting) {
    Response r =
        detail::past_deadline(std::move(t->last_attempt), t->attempts, *deadline_, kCutInFlight);
    deliver(std::move(t), std::move(r));
  }
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (Status s = drain(i, kNeverSent); !s.ok()) return s;
  }
  return Status::Ok();
}

// Answers every request the lane's source still gives, without sending it. Stops early on
// stop(): the run then ends as cancelled.
Status Transport::Impl::drain(size_t i, std::string_view what) {
  while (!stopping()) {
    std::unique_ptr<Transfer> t;
    if (Status s = pull(i, t); !s.ok()) return s;
    if (!t) break;
    Response r = detail::past_deadline(std::nullopt, 0, *deadline_, what);
    deliver(std::move(t), std::move(r));
  }
  return Status::Ok();
}

// Detaches every transfer in flight and every waiting retry from libcurl and the lanes.
void Transport::Impl::take_unfinished(std::vector<std::unique_ptr<Transfer>>& in_flight,
                                      std::vector<std::unique_ptr<Transfer>>& waiting) {
  for (auto& [easy, t] : active_) {
    curl_multi_remove_handle(multi_, easy);
    release_easy(easy);
    t->easy = nullptr;
    in_flight.push_back(std::move(t));
  }
  active_.clear();
  for (auto& lane : lanes_) {
    for (auto& t : lane.waiting) waiting.push_back(std::move(t));
    lane.waiting.clear();
    lane.in_flight = 0;
  }
}

void Transport::Impl::cancel_all() {
  std::vector<std::unique_ptr<Transfer>> unfinished;
  take_unfinished(unfinished, unfinished);
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
Status Transport::run(std::vector<Lane> lanes, std::optional<Millis> deadline,
                      Heartbeat heartbeat) {
  return impl_->run(std::move(lanes), deadline, std::move(heartbeat));
}
void Transport::stop() { impl_->stop(); }

}  // namespace dw::transport
