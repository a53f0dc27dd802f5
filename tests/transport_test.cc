#include "transport/transport.h"

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "common/version.h"
#include "local_server.h"
#include "transport/backoff.h"

namespace transport_test {

using namespace dw::transport;
using dw::testing::Gate;
using dw::testing::LocalServer;
using namespace std::chrono_literals;

namespace {

// Short backoff so that retry tests take milliseconds.
Options fast_options() {
  Options o;
  o.backoff.base = 5ms;
  o.backoff.cap = 20ms;
  o.seed = 42;
  return o;
}

Request post(const std::string& url, std::vector<Response>& out, std::string body = "{}") {
  Request r;
  r.url = url;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = std::move(body);
  r.connect_timeout = 2000ms;
  r.timeout = 5000ms;
  r.done = [&out](Response response) { out.push_back(std::move(response)); };
  return r;
}

// A source that yields `count` requests made by make(i), one at a time.
Source counted(int count, std::function<Request(int)> make) {
  auto next = std::make_shared<int>(0);
  return [=]() -> std::optional<Request> {
    if (*next >= count) return std::nullopt;
    return make((*next)++);
  };
}

std::vector<Response> run_one(Request request, LaneLimits limits,
                              Options options = fast_options()) {
  auto transport = Transport::create(options);
  REQUIRE(transport.ok());
  std::vector<Response> out;
  auto user_done = std::move(request.done);
  request.done = [&](Response r) {
    if (user_done) user_done(r);
    out.push_back(std::move(r));
  };
  std::vector<Lane> lanes;
  lanes.push_back({"one", limits, counted(1, [&](int) { return request; })});
  REQUIRE((*transport)->run(std::move(lanes)).ok());
  return out;
}

Millis gap(const LocalServer::Seen& a, const LocalServer::Seen& b) {
  return std::chrono::duration_cast<Millis>(b.at - a.at);
}

}  // namespace

TEST_CASE("429 and 5xx are retried up to the limit; other statuses are final") {
  struct Case {
    int status;
    int retries;
    int attempts;
  };
  const Case cases[] = {
      {200, 2, 1}, {201, 2, 1}, {429, 2, 3}, {500, 2, 3}, {502, 1, 2}, {503, 2, 3}, {599, 2, 3},
      {400, 2, 1}, {401, 2, 1}, {403, 2, 1}, {404, 2, 1}, {451, 2, 1}, {429, 0, 1}, {500, 5, 6},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    CAPTURE(c.retries);
    LocalServer server([&](const httplib::Request&, httplib::Response& res, int) {
      res.status = c.status;
      res.set_content("{\"status\":" + std::to_string(c.status) + "}", "application/json");
    });
    std::vector<Response> ignored;
    auto out =
        run_one(post(server.url("/v1/chat"), ignored), {.concurrency = 1, .retries = c.retries});
    REQUIRE(out.size() == 1);
    CHECK(out[0].http_status == c.status);
    CHECK(out[0].attempts == c.attempts);
    CHECK(out[0].error == "");
    CHECK(out[0].body == "{\"status\":" + std::to_string(c.status) + "}");
    CHECK(out[0].content_type == "application/json");
    CHECK(server.seen().size() == static_cast<size_t>(c.attempts));
  }
}

TEST_CASE("a request that succeeds on a retry reports the success and every attempt") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int index) {
    res.status = index < 2 ? 502 : 200;
    res.set_content(index < 2 ? "bad gateway" : "{\"ok\":true}", "application/json");
  });
  std::vector<Response> ignored;
  auto out = run_one(post(server.url("/x"), ignored), {.concurrency = 1, .retries = 2});
  REQUIRE(out.size() == 1);
  CHECK(out[0].http_status == 200);
  CHECK(out[0].attempts == 3);
  CHECK(out[0].body == "{\"ok\":true}");
}

TEST_CASE("timeouts are retried and reported with libcurl's text") {
  // The server answers nothing until the run is over: every attempt can only end by its
  // timeout, however slow this machine is.
  Gate answers;
  LocalServer server([&](const httplib::Request&, httplib::Response& res, int) {
    answers.wait();
    res.set_content("late", "text/plain");
  });
  std::vector<Response> ignored;
  auto request = post(server.url("/slow"), ignored);
  request.timeout = 100ms;
  const auto start = std::chrono::steady_clock::now();
  auto out = run_one(std::move(request), {.concurrency = 1, .retries = 1});
  const auto took = std::chrono::steady_clock::now() - start;
  answers.open();
  REQUIRE(out.size() == 1);
  CHECK(out[0].attempts == 2);
  CHECK(out[0].http_status == 0);
  CHECK(out[0].error.find("timed out") != std::string::npos);
  CHECK(out[0].latency >= 90ms);
  CHECK(out[0].latency < 2000ms);  // the 100 ms timeout's, not the gate's 30 s
  CHECK(took < 10s);               // two timeouts, not two waits for an answer
  CHECK(server.seen().size() == 2);
}

TEST_CASE("refused connections are retried and reported") {
  Request request;
  dw::testing::HeldPort refused;  // nothing listens there
  request.url = refused.url("/v1");
  request.body = "{}";
  auto out = run_one(std::move(request), {.concurrency = 1, .retries = 2});
  REQUIRE(out.size() == 1);
  CHECK(out[0].attempts == 3);
  CHECK(out[0].http_status == 0);
  CHECK(out[0].error.find("onnect") != std::string::npos);
}

TEST_CASE("Retry-After and retry-after-ms set the wait before the retry, within the cap") {
  struct Case {
    const char* header;
    const char* value;
    Millis retry_after_cap;
    Millis at_least;
    Millis below;
  };
  const Case cases[] = {
      // Lower bounds are exact: the first request was seen before its 429 was sent, and the
      // retry may start only the wait after that 429 arrived. Upper bounds only tell the wait
      // from a much longer one (milliseconds read as seconds, a cap not applied).
      {"Retry-After", "1", 60000ms, 950ms, 5000ms},
      {"retry-after-ms", "300", 60000ms, 280ms, 5000ms},
      {"Retry-After", "30", 200ms, 180ms, 5000ms},  // capped
  };
  for (const auto& c : cases) {
    CAPTURE(c.header);
    CAPTURE(c.value);
    LocalServer server([&](const httplib::Request&, httplib::Response& res, int index) {
      if (index == 0) {
        res.status = 429;
        res.set_header(c.header, c.value);
        res.set_content("{\"error\":\"slow down\"}", "application/json");
      } else {
        res.set_content("{}", "application/json");
      }
    });
    Options options = fast_options();
    options.backoff.retry_after_cap = c.retry_after_cap;
    std::vector<Response> ignored;
    auto out = run_one(post(server.url("/"), ignored), {.concurrency = 1, .retries = 2}, options);
    REQUIRE(out.size() == 1);
    CHECK(out[0].http_status == 200);
    CHECK(out[0].attempts == 2);
    auto seen = server.seen();
    REQUIRE(seen.size() == 2);
    CHECK(gap(seen[0], seen[1]) >= c.at_least);
    CHECK(gap(seen[0], seen[1]) < c.below);
  }
}

TEST_CASE("the final Retry-After header is reported when retries run out") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 429;
    res.set_header("Retry-After", "0");
  });
  std::vector<Response> ignored;
  auto out = run_one(post(server.url("/"), ignored), {.concurrency = 1, .retries = 1});
  REQUIRE(out.size() == 1);
  CHECK(out[0].http_status == 429);
  CHECK(out[0].attempts == 2);
  CHECK(out[0].retry_after == "0");
}

TEST_CASE("a 429 with Retry-After holds back the whole lane, not only the request") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int index) {
    if (index == 0) {
      res.status = 429;
      res.set_header("retry-after-ms", "300");
      return;
    }
    std::this_thread::sleep_for(50ms);
    res.set_content("{}", "application/json");
  });
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  std::vector<Response> out;
  std::vector<Lane> lanes;
  lanes.push_back(
      {"h", {.concurrency = 2}, counted(4, [&](int) { return post(server.url("/h"), out); })});
  REQUIRE((*transport)->run(std::move(lanes)).ok());
  REQUIRE(out.size() == 4);
  auto seen = server.seen();
  REQUIRE(seen.size() == 5);  // four requests and one retry
  // The first two started together; once the 429 came back nothing started before its
  // Retry-After, although the other request finished after 50 ms and freed a slot.
  for (size_t i = 2; i < seen.size(); ++i) {
    CAPTURE(i);
    CHECK(gap(seen[0], seen[i]) >= 280ms);
  }
}

TEST_CASE("each lane keeps to its own concurrency cap") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    std::this_thread::sleep_for(120ms);
    res.set_content("{}", "application/json");
  });
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  std::vector<Response> a, b;
  int pulled_a = 0;
  int most_outstanding_a = 0;
  std::vector<Lane> lanes;
  lanes.push_back({"a", {.concurrency = 3}, counted(9, [&](int) {
                     ++pulled_a;
                     most_outstanding_a = std::max(most_outstanding_a, pulled_a - int(a.size()));
                     return post(server.url("/a"), a);
                   })});
  lanes.push_back(
      {"b", {.concurrency = 1}, counted(3, [&](int) { return post(server.url("/b"), b); })});
  const auto start = std::chrono::steady_clock::now();
  REQUIRE((*transport)->run(std::move(lanes)).ok());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(a.size() == 9);
  CHECK(b.size() == 3);
  for (const auto& r : a) CHECK(r.http_status == 200);
  // Exactly the cap: never above it, and the transport does use the width it is given.
  CHECK(server.max_in_flight("/a") == 3);
  CHECK(server.max_in_flight("/b") == 1);
  // Requests are made lazily: never more built than the lane has slots for.
  CHECK(most_outstanding_a <= 3);
  // Three rounds of 120 ms for each lane, and the lanes ran side by side: lane b's first
  // request arrived before lane a's last one.
  CHECK(elapsed >= 350ms);
  std::optional<std::chrono::steady_clock::time_point> first_b, last_a;
  for (const auto& seen : server.seen()) {
    if (seen.path == "/b" && !first_b) first_b = seen.at;
    if (seen.path == "/a") last_a = seen.at;
  }
  REQUIRE(first_b.has_value());
  REQUIRE(last_a.has_value());
  CHECK(*first_b < *last_a);
}

TEST_CASE("a lane's rate spaces request starts evenly") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.set_content("{}", "application/json");
  });
  std::vector<Response> out;
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  // When each request was taken from the source: the transport takes it the moment the rate
  // allows it to start, and starts it at once. (The server's arrival times would add each
  // request's own delay on the way, which a busy machine makes uneven.)
  std::vector<std::chrono::steady_clock::time_point> taken;
  std::vector<Lane> lanes;
  // 600 a minute: one every 100 ms, even though four could be in flight.
  lanes.push_back({"r", {.concurrency = 4, .rate = 600}, counted(5, [&](int) {
                     taken.push_back(std::chrono::steady_clock::now());
                     return post(server.url("/r"), out);
                   })});
  const auto start = std::chrono::steady_clock::now();
  REQUIRE((*transport)->run(std::move(lanes)).ok());
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(out.size() == 5);
  REQUIRE(server.seen().size() == 5);
  REQUIRE(taken.size() == 5);
  // Exact: the fifth start comes 4 x 100 ms after the first, which came after `start`.
  CHECK(took >= 400ms);
  // Each request is taken within microseconds of the instant its start was allowed; 25 ms
  // leave room for this thread being preempted in between.
  for (size_t i = 1; i < taken.size(); ++i) {
    CAPTURE(i);
    CHECK(taken[i] - taken[i - 1] >= 75ms);
  }
  CHECK(taken.back() - taken.front() < 2000ms);  // spaced, not slowed down
}

TEST_CASE("retries count against the lane's rate") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int index) {
    res.status = index == 0 ? 500 : 200;
  });
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  std::vector<Response> out;
  std::vector<Lane> lanes;
  lanes.push_back({"r", {.concurrency = 1, .rate = 300, .retries = 2},
                   counted(1, [&](int) { return post(server.url("/"), out); })});
  const auto start = std::chrono::steady_clock::now();
  REQUIRE((*transport)->run(std::move(lanes)).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].attempts == 2);
  CHECK(server.seen().size() == 2);
  // 300 a minute: the retry starts 200 ms after the first attempt, which started after
  // `start`, though the backoff alone is ~5 ms. Exact, however busy the machine.
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
}

TEST_CASE("a response body over the cap ends the request with an error that says so") {
  struct Case {
    size_t size;
    bool chunked;  // no Content-Length: the cap must hold while the body streams in
    bool over;
  };
  const Case cases[] = {
      {5000, false, true}, {5000, true, true}, {1000, false, false}, {1000, true, false}};
  for (const auto& c : cases) {
    CAPTURE(c.size);
    CAPTURE(c.chunked);
    const std::string payload(c.size, 'x');
    LocalServer server([&](const httplib::Request&, httplib::Response& res, int) {
      if (c.chunked) {
        res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
          for (size_t at = 0; at < payload.size(); at += 500) sink.write(payload.data() + at, 500);
          sink.done();
          return true;
        });
      } else {
        res.set_content(payload, "text/plain");
      }
    });
    Options options = fast_options();
    options.max_body_bytes = 1000;
    std::vector<Response> ignored;
    auto out =
        run_one(post(server.url("/big"), ignored), {.concurrency = 1, .retries = 2}, options);
    REQUIRE(out.size() == 1);
    CHECK(out[0].attempts == 1);
    if (c.over) {
      CHECK(out[0].error == "response body over the 1000-byte cap");
      CHECK(out[0].body.size() <= 1000);
    } else {
      CHECK(out[0].error == "");
      CHECK(out[0].body == payload);
    }
  }
  CHECK(body_cap_message(1 << 20) == "response body over the 1 MiB cap");
}

TEST_CASE("requests go out as POST with the caller's headers, body and driftwatch's User-Agent") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.set_content("{}", "application/json");
  });
  std::vector<Response> ignored;
  auto request = post(server.url("/v1/messages"), ignored, "{\"model\":\"m\",\"q\":\"天安门\"}");
  request.headers.push_back({"x-api-key", "secret-value"});
  auto out = run_one(std::move(request), {.concurrency = 1});
  REQUIRE(out.size() == 1);
  auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].path == "/v1/messages");
  CHECK(seen[0].body == "{\"model\":\"m\",\"q\":\"天安门\"}");
  CHECK(seen[0].header("User-Agent") == std::string("driftwatch/") + dw::kVersion);
  CHECK(seen[0].header("x-api-key") == "secret-value");
  CHECK(seen[0].header("Content-Type") == "application/json");
  CHECK(seen[0].header("Expect") == "");
}

TEST_CASE("sequential requests reuse one connection") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.set_content("{}", "application/json");
  });
  std::vector<Response> out;
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  for (int run = 0; run < 2; ++run) {  // the connection also outlives one run()
    std::vector<Lane> lanes;
    lanes.push_back(
        {"s", {.concurrency = 1}, counted(3, [&](int) { return post(server.url("/s"), out); })});
    REQUIRE((*transport)->run(std::move(lanes)).ok());
  }
  REQUIRE(out.size() == 6);
  std::set<int> ports;
  for (const auto& s : server.seen()) ports.insert(s.remote_port);
  CHECK(ports.size() == 1);
}

TEST_CASE("a header that would smuggle a line break is refused before sending") {
  LocalServer server([](const httplib::Request&, httplib::Response&, int) {});
  std::vector<Response> ignored;
  auto request = post(server.url("/"), ignored);
  request.headers.push_back({"Authorization", "Bearer abc\r\nX-Evil: 1"});
  auto out = run_one(std::move(request), {.concurrency = 1});
  REQUIRE(out.size() == 1);
  CHECK(out[0].attempts == 0);
  CHECK(out[0].error == "request header 'Authorization' contains a line break");
  CHECK(server.seen().empty());
}

TEST_CASE("stop() and the cancel flag end a run and report unfinished requests as cancelled") {
  for (bool use_flag : {false, true}) {
    CAPTURE(use_flag);
    Gate answers;  // nothing is answered before the run is over
    LocalServer server([&](const httplib::Request&, httplib::Response& res, int) {
      answers.wait();
      res.set_content("{}", "application/json");
    });
    std::atomic<bool> cancel{false};
    Options options = fast_options();
    options.cancel = &cancel;
    auto transport = Transport::create(options);
    REQUIRE(transport.ok());
    std::vector<Response> out;
    std::vector<Lane> lanes;
    lanes.push_back(
        {"c", {.concurrency = 2}, counted(10, [&](int) { return post(server.url("/c"), out); })});
    std::thread stopper([&] {
      server.await_seen(2);  // both requests in flight
      if (use_flag) {
        cancel = true;
      } else {
        (*transport)->stop();
      }
    });
    const auto start = std::chrono::steady_clock::now();
    auto status = (*transport)->run(std::move(lanes));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    stopper.join();
    answers.open();
    CHECK(status.ok());
    CHECK(elapsed < 10s);  // the server answers only after run() returned; this only bounds it
    REQUIRE(out.size() == 2);  // only what the source gave: the two in flight
    for (const auto& r : out) {
      CHECK(r.cancelled);
      CHECK(r.error == "cancelled");
      CHECK(r.attempts == 1);
    }
  }
}

namespace {

// A source of `count` requests to url whose answers land in got[i], i the request's number.
Source numbered(int count, const std::string& url, std::map<int, Response>& got) {
  return counted(count, [&got, url](int i) {
    std::vector<Response> unused;
    Request r = post(url, unused);
    r.done = [&got, i](Response response) { got.emplace(i, std::move(response)); };
    return r;
  });
}

}  // namespace

TEST_CASE("at the run deadline: in flight cut, a waiting retry ends, the rest is never sent") {
  // Request 0 gets a 500 asking for a retry in 200 ms; request 1 takes the lane's one slot
  // meanwhile and is not answered before the run is over, so the retry never starts and
  // request 2 is never sent.
  Gate answers;
  LocalServer server([&](const httplib::Request&, httplib::Response& res, int index) {
    if (index == 0) {
      res.status = 500;
      res.set_header("retry-after-ms", "200");
      res.set_content("{\"error\":\"busy\"}", "application/json");
      return;
    }
    answers.wait();
    res.set_content("{}", "application/json");
  });
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  std::map<int, Response> got;
  std::vector<Lane> lanes;
  lanes.push_back({"d", {.concurrency = 1, .retries = 2}, numbered(3, server.url("/d"), got)});
  const auto start = std::chrono::steady_clock::now();
  REQUIRE((*transport)->run(std::move(lanes), 500ms).ok());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  answers.open();
  CHECK(elapsed >= 450ms);
  CHECK(elapsed < 10s);  // cut, not waited for (the answer would come after the gate's 30 s)
  REQUIRE(got.size() == 3);
  for (auto& [i, r] : got) {
    CAPTURE(i);
    CHECK(r.past_deadline);
    CHECK_FALSE(r.cancelled);
  }
  CHECK(got[0].error == "run deadline of 500ms passed before an answer (last attempt: HTTP 500)");
  CHECK(got[0].http_status == 500);  // the last attempt's answer is kept
  CHECK(got[0].body == "{\"error\":\"busy\"}");
  CHECK(got[0].attempts == 1);
  CHECK(got[1].error == "run deadline of 500ms passed before an answer");
  CHECK(got[1].http_status == 0);
  CHECK(got[1].attempts == 1);
  CHECK(got[2].error == "run deadline of 500ms passed before the request was sent");
  CHECK(got[2].attempts == 0);
  CHECK(server.seen().size() == 2);
}

TEST_CASE("what could only start past the deadline is answered at once, not waited for") {
  SUBCASE("a Retry-After beyond the deadline: the retry is given up, the held lane drained") {
    LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
      res.status = 429;
      res.set_header("Retry-After", "60");
      res.set_content("{\"error\":\"rate limited\"}", "application/json");
    });
    auto transport = Transport::create(fast_options());
    REQUIRE(transport.ok());
    std::map<int, Response> got;
    std::vector<Lane> lanes;
    lanes.push_back({"t", {.concurrency = 2, .retries = 2}, numbered(6, server.url("/t"), got)});
    const auto start = std::chrono::steady_clock::now();
    REQUIRE((*transport)->run(std::move(lanes), 2000ms).ok());
    CHECK(std::chrono::steady_clock::now() - start < 1500ms);  // not even to the deadline
    REQUIRE(got.size() == 6);
    REQUIRE(server.seen().size() == 2);  // the first two, sent together
    for (auto& [i, r] : got) {
      CAPTURE(i);
      CHECK(r.past_deadline);
      if (i < 2) {
        CHECK(r.error == "run deadline of 2s leaves no time to retry (last attempt: HTTP 429)");
        CHECK(r.http_status == 429);
        CHECK(r.retry_after == "60");
        CHECK(r.attempts == 1);
      } else {
        CHECK(r.error == "run deadline of 2s leaves no time to send the request");
        CHECK(r.http_status == 0);
        CHECK(r.attempts == 0);
      }
    }
  }
  SUBCASE("a rate that spaces the next start past the deadline") {
    LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
      res.set_content("{}", "application/json");
    });
    auto transport = Transport::create(fast_options());
    REQUIRE(transport.ok());
    std::map<int, Response> got;
    std::vector<Lane> lanes;
    // 30 a minute: starts at 0 s and 2 s; the third could only start at 4 s.
    lanes.push_back({"r", {.concurrency = 4, .rate = 30}, numbered(5, server.url("/r"), got)});
    const auto start = std::chrono::steady_clock::now();
    REQUIRE((*transport)->run(std::move(lanes), 3000ms).ok());
    CHECK(std::chrono::steady_clock::now() - start < 2800ms);
    REQUIRE(got.size() == 5);
    CHECK(server.seen().size() == 2);
    for (int i = 0; i < 2; ++i) {
      CHECK(got[i].http_status == 200);
      CHECK_FALSE(got[i].past_deadline);
    }
    for (int i = 2; i < 5; ++i) {
      CHECK(got[i].error == "run deadline of 3s leaves no time to send the request");
      CHECK(got[i].past_deadline);
    }
  }
}

TEST_CASE("a run deadline must be positive, and is written as the config writes durations") {
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  bool asked = false;
  std::vector<Lane> lanes;
  lanes.push_back({"z", {.concurrency = 1}, [&]() -> std::optional<Request> {
                     asked = true;
                     return std::nullopt;
                   }});
  auto status = (*transport)->run(std::move(lanes), 0ms);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "transport: the run deadline must be positive");
  CHECK_FALSE(asked);
  CHECK(deadline_prefix(20min) == "run deadline of 20m");
  CHECK(deadline_prefix(5400s) == "run deadline of 1h30m");
  CHECK(deadline_prefix(1500ms) == "run deadline of 1500ms");
}

TEST_CASE("a lane without room to run is refused before anything is sent") {
  auto transport = Transport::create(fast_options());
  REQUIRE(transport.ok());
  bool asked = false;
  std::vector<Lane> lanes;
  lanes.push_back({"zero", {.concurrency = 0}, [&]() -> std::optional<Request> {
                     asked = true;
                     return std::nullopt;
                   }});
  auto status = (*transport)->run(std::move(lanes));
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "transport: lane 'zero' needs a concurrency of at least 1");
  CHECK_FALSE(asked);
}

TEST_CASE("backoff_delay draws full jitter under a doubling ceiling") {
  BackoffPolicy policy{.base = 100ms, .cap = 1000ms, .retry_after_cap = 5000ms};
  struct Case {
    int retry;
    Millis ceiling;
  };
  const Case cases[] = {{0, 100ms}, {1, 100ms},  {2, 200ms},  {3, 400ms},
                        {4, 800ms}, {5, 1000ms}, {60, 1000ms}};
  for (const auto& c : cases) {
    CAPTURE(c.retry);
    std::mt19937_64 rng(7);
    Millis lo = Millis::max(), hi = Millis::min();
    for (int i = 0; i < 400; ++i) {
      const Millis d = backoff_delay(c.retry, policy, std::nullopt, rng);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    CHECK(lo >= 0ms);
    CHECK(hi <= c.ceiling);
    // Spread over the whole range, not clustered near the top as with small jitter.
    CHECK(lo <= c.ceiling / 10);
    CHECK(hi >= c.ceiling * 9 / 10);
  }
  std::mt19937_64 r1(3), r2(3);
  CHECK(backoff_delay(3, policy, std::nullopt, r1) == backoff_delay(3, policy, std::nullopt, r2));
  std::mt19937_64 rng(1);
  CHECK(backoff_delay(1, policy, 2500ms, rng) == 2500ms);
  CHECK(backoff_delay(1, policy, 9000ms, rng) == 5000ms);  // capped
  CHECK(backoff_delay(1, policy, 0ms, rng) == 0ms);
}

TEST_CASE("parse_retry_after reads delta-seconds and HTTP dates") {
  // Wed, 21 Oct 2015 07:28:00 GMT
  const auto date = std::chrono::system_clock::from_time_t(1445412480);
  struct Case {
    const char* value;
    std::optional<Millis> expected;
  };
  const Case cases[] = {
      {"120", 120000ms},
      {" 5 ", 5000ms},
      {"0", 0ms},
      {"Wed, 21 Oct 2015 07:28:00 GMT", 30000ms},      // now is 30 s before
      {"Wednesday, 21-Oct-15 07:28:00 GMT", 30000ms},  // RFC 850
      {"Wed Oct 21 07:28:00 2015", 30000ms},           // asctime
      {"Tue, 20 Oct 2015 07:28:00 GMT", 0ms},          // in the past
      {"99999999999", Millis{std::chrono::hours(24 * 365)}},
      {"Fri, 23 Oct 2015 07:28:00 GMT", 30000ms + std::chrono::hours(48)},
      // Dates curl reads that system_clock's nanoseconds cannot hold: saturated, not wrapped.
      {"Sun, 01 Jan 2300 00:00:00 GMT", Millis{std::chrono::hours(24 * 365)}},
      {"Sat, 01 Jan 1600 00:00:00 GMT", 0ms},
      {"", std::nullopt},
      {"soon", std::nullopt},
      {"-5", std::nullopt},
      {"1.5", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(parse_retry_after(c.value, date - 30s) == c.expected);
  }
}

TEST_CASE("parse_retry_after_ms reads milliseconds, fractions rounded up") {
  struct Case {
    const char* value;
    std::optional<Millis> expected;
  };
  const Case cases[] = {
      {"1500", 1500ms},     {"20.5", 21ms},        {"0", 0ms},         {" 7 ", 7ms},
      {"-1", std::nullopt}, {"abc", std::nullopt}, {"", std::nullopt}, {"12ms", std::nullopt},
      // Past int64_t's milliseconds: saturated at a year, not converted.
      {"1e19", Millis{std::chrono::hours(24 * 365)}}, {"1e300", Millis{std::chrono::hours(24 * 365)}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(parse_retry_after_ms(c.value) == c.expected);
  }
}

TEST_CASE("RateSpacer allows one start per interval and nothing when unlimited") {
  using C = RateSpacer::Clock;
  const C::time_point t0{std::chrono::seconds(1000)};
  RateSpacer limited(120);  // every 500 ms
  CHECK(limited.allows(t0));
  limited.started(t0);
  CHECK_FALSE(limited.allows(t0 + 499ms));
  CHECK(limited.allows(t0 + 500ms));
  limited.started(t0 + 800ms);  // late start: no catch-up burst
  CHECK_FALSE(limited.allows(t0 + 1000ms));
  CHECK(limited.next_allowed() == t0 + 1300ms);

  RateSpacer unlimited(0);
  unlimited.started(t0);
  CHECK(unlimited.allows(t0));
}

}  // namespace transport_test
