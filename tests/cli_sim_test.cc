// driftwatch-sim as a process: started on a free loopback port, spoken to over real HTTP as
// each provider kind, stepped through days, faulting as scripted, and logging every request
// without the key.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "sim_process.h"

namespace cli_sim_test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kKey = "sk-sim-test-0123456789abcdef";

const char* kScenario = R"(
[[rule]]
name = "drop"
prompt_contains = ["please drop"]
[[rule.outcome]]
kind = "drop"

[[rule]]
name = "truncate"
prompt_contains = ["please truncate"]
[[rule.outcome]]
kind = "truncated"
texts = ["This answer is cut off in the middle of the body, as a broken proxy would do."]

[[rule]]
name = "garble"
prompt_contains = ["please garble"]
[[rule.outcome]]
kind = "malformed"

[[rule]]
name = "throttle"
prompt_contains = ["please throttle"]
[[rule.outcome]]
kind = "status"
status = 429
retry_after = 7

[[rule]]
name = "fail"
prompt_contains = ["please fail"]
[[rule.outcome]]
kind = "status"
status = 503

[[rule]]
name = "wait"
prompt_contains = ["please wait"]
[[rule.outcome]]
kind = "answer"
texts = ["Slow but fine."]
delay_ms = 400

[[rule]]
name = "dashscope"
prompt_contains = ["香港"]
from = 3
[[rule.outcome]]
kind = "status"
status = 400
body = '{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content."}'

[[rule]]
name = "canned"
prompt_contains = ["Tiananmen"]
from = 2
[[rule.outcome]]
kind = "deflect"
texts = ["Sorry, that's beyond my current scope. Let's talk about something else."]

[[rule]]
name = "plain"
[[rule.outcome]]
kind = "answer"
texts = ["A plain answer."]

[[model]]
model = "deepseek-chat"
from = 2
report = "deepseek-chat-v2"
fingerprint = "fp_after"
)";

using dw::test::Scratch;
using dw::test::Sim;
using dw::test::slurp;

// driftwatch-sim --scenario SCENARIO MORE..., SCENARIO the one above written into scratch.
Sim::Command on_scenario(const Scratch& scratch, std::vector<std::string> more,
                         std::vector<std::string> env = {}) {
  std::vector<std::string> args{"--scenario", scratch.write("scenario.toml", kScenario).string()};
  args.insert(args.end(), more.begin(), more.end());
  return Sim::Command(std::move(args), std::move(env));
}

httplib::Result post(int port, const std::string& path, const httplib::Headers& headers,
                     const json& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  return client.Post(path.c_str(), headers, body.dump(), "application/json");
}

json openai_body(const std::string& prompt, const std::string& model = "deepseek-chat") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", prompt}}}}};
}

httplib::Headers bearer(const std::string& key = kKey) {
  return {{"Authorization", "Bearer " + key}};
}

// Sends raw bytes and returns everything the server sent back before closing.
std::string raw_exchange(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return got;
}

std::string raw_openai(const std::string& prompt) {
  std::string body = openai_body(prompt).dump();
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
         std::string(kKey) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("driftwatch-sim answers as each provider kind, in its real shape") {
  Scratch scratch;
  Sim sim(scratch,
          on_scenario(scratch, {"--port", "0"}, {std::string("DRIFTWATCH_SIM_KEY=") + kKey}));
  REQUIRE(sim.port() > 0);

  for (const char* path : {"/v1/chat/completions", "/chat/completions"}) {
    CAPTURE(path);
    auto res = post(sim.port(), path, bearer(), openai_body("What is 2+2?"));
    REQUIRE(res);
    CHECK(res->status == 200);
    json body = json::parse(res->body);
    CHECK(body["object"] == "chat.completion");
    CHECK(body["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
    CHECK(body["created"].is_number_integer());
    CHECK(body["model"] == "deepseek-chat");
    CHECK(body["system_fingerprint"].get<std::string>().rfind("fp_", 0) == 0);
    CHECK(body["choices"][0]["message"]["content"] == "A plain answer.");
    CHECK(body["choices"][0]["finish_reason"] == "stop");
    CHECK(body["usage"]["total_tokens"].get<int>() ==
          body["usage"]["prompt_tokens"].get<int>() +
              body["usage"]["completion_tokens"].get<int>());
  }

  json claude = {
      {"model", "claude-sonnet-4"},
      {"max_tokens", 64},
      {"system", "Be brief."},
      {"messages", {{{"role", "user"}, {{"content", {{{"type", "text"}, {"text", "Hi"}}}}}}}}};
  claude["messages"][0] = {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi"}}}}};
  auto res = post(sim.port(), "/v1/messages",
                  {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}}, claude);
  REQUIRE(res);
  CHECK(res->status == 200);
  json body = json::parse(res->body);
  CHECK(body["type"] == "message");
  CHECK(body["model"] == "claude-sonnet-4");
  CHECK(body["content"][0]["type"] == "text");
  CHECK(body["content"][0]["text"] == "A plain answer.");
  CHECK(body["stop_reason"] == "end_turn");
  CHECK(body["usage"]["input_tokens"].get<int>() > 0);
  CHECK(body["usage"]["output_tokens"].get<int>() > 0);

  claude.erase("max_tokens");
  res = post(sim.port(), "/v1/messages", {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}},
             claude);
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(json::parse(res->body)["error"]["type"] == "invalid_request_error");

  res = post(sim.port(), "/api/chat", {},
             {{"model", "qwen2.5:7b"},
              {"stream", false},
              {"options", {{"temperature", 0}, {"num_predict", 64}}},
              {"messages", {{{"role", "user"}, {"content", "Hi"}}}}});
  REQUIRE(res);
  CHECK(res->status == 200);
  body = json::parse(res->body);
  CHECK(body["model"] == "qwen2.5:7b");
  CHECK(body["message"]["content"] == "A plain answer.");
  CHECK(body["done"] == true);
  CHECK(body["done_reason"] == "stop");
  CHECK(body["prompt_eval_count"].get<int>() > 0);
  CHECK(body["eval_count"].get<int>() > 0);

  res = post(sim.port(), "/v1beta/models/gemini-2.0-flash:generateContent",
             {{"x-goog-api-key", kKey}},
             {{"contents", {{{"role", "user"}, {"parts", {{{"text", "Hi"}}}}}}},
              {"generationConfig", {{"maxOutputTokens", 64}}}});
  REQUIRE(res);
  CHECK(res->status == 200);
  body = json::parse(res->body);
  CHECK(body["candidates"][0]["content"]["parts"][0]["text"] == "A plain answer.");
  CHECK(body["candidates"][0]["finishReason"] == "STOP");
  CHECK(body["usageMetadata"]["promptTokenCount"].get<int>() > 0);
  CHECK(body["modelVersion"] == "gemini-2.0-flash");

  CHECK(sim.stop() == 0);  // SIGTERM is a clean stop
}

TEST_CASE("a wrong or missing key gets 401, and the key is never logged") {
  Scratch scratch;
  const fs::path log_path = scratch.path("requests.jsonl");
  Sim sim(scratch, on_scenario(scratch, {"--api-key", kKey, "--log", log_path.string()}));
  REQUIRE(sim.port() > 0);
  struct Case {
    std::string path;
    httplib::Headers headers;
    json body;
    const char* logged_key;
  };
  json gemini = {{"contents", {{{"parts", {{{"text", "Hi"}}}}}}}};
  json claude = {
      {"model", "c"}, {"max_tokens", 8}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  const Case cases[] = {
      {"/v1/chat/completions", bearer("sk-wrong"), openai_body("Hi"), "wrong"},
      {"/v1/chat/completions", {}, openai_body("Hi"), "missing"},
      {"/v1/messages",
       {{"x-api-key", "sk-wrong"}, {"anthropic-version", "2023-06-01"}},
       claude,
       "wrong"},
      {"/v1beta/models/gemini-pro:generateContent",
       {{"x-goog-api-key", "sk-wrong"}},
       gemini,
       "wrong"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.path);
    auto res = post(sim.port(), c.path, c.headers, c.body);
    REQUIRE(res);
    CHECK(res->status == 401);
    CHECK(json::accept(res->body));
  }
  auto ok = post(sim.port(), "/v1/chat/completions", bearer(), openai_body("Hi"));
  REQUIRE(ok);
  CHECK(ok->status == 200);

  auto entries = sim.requests();
  REQUIRE(entries.size() == 5);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(entries[i]["outcome"] == "rejected");
    CHECK(entries[i]["key"] == cases[i].logged_key);
  }
  CHECK(entries[4]["key"] == "ok");
  CHECK(sim.stop() == 0);
  std::string log = slurp(log_path);
  CHECK(log.find(kKey) == std::string::npos);
  CHECK(log.find("sk-wrong") == std::string::npos);
  CHECK(std::count(log.begin(), log.end(), '\n') == 5);
}

TEST_CASE("the simulated day is set by a control request and changes what is answered") {
  Scratch scratch;
  Sim sim(scratch, on_scenario(scratch, {"--day", "1"}));
  REQUIRE(sim.port() > 0);
  httplib::Client client("127.0.0.1", sim.port());
  auto day = client.Get("/sim/day");
  REQUIRE(day);
  CHECK(json::parse(day->body)["day"] == 1);

  auto ask = [&](const std::string& prompt) {
    auto res = post(sim.port(), "/v1/chat/completions", bearer("anything"), openai_body(prompt));
    REQUIRE(res);
    return std::make_pair(res->status, json::parse(res->body));
  };
  auto [status1, before] = ask("What happened at Tiananmen Square in 1989?");
  CHECK(status1 == 200);
  CHECK(before["choices"][0]["message"]["content"] == "A plain answer.");
  CHECK(before["model"] == "deepseek-chat");

  auto set = client.Post("/sim/day", R"({"day": 3})", "application/json");
  REQUIRE(set);
  CHECK(set->status == 200);
  CHECK(json::parse(client.Get("/sim/day")->body)["day"] == 3);
  auto [status3, after] = ask("What happened at Tiananmen Square in 1989?");
  CHECK(status3 == 200);
  CHECK(after["choices"][0]["message"]["content"] ==
        "Sorry, that's beyond my current scope. Let's talk about something else.");
  CHECK(after["model"] == "deepseek-chat-v2");
  CHECK(after["system_fingerprint"] == "fp_after");
  auto [filtered_status, filtered] = ask("香港国安法是什么？");
  CHECK(filtered_status == 400);
  CHECK(filtered["code"] == "DataInspectionFailed");

  for (const char* bad : {R"({"day": -1})", R"({"day": "3"})", "nonsense", "{}"}) {
    CAPTURE(bad);
    auto res = client.Post("/sim/day", bad, "application/json");
    REQUIRE(res);
    CHECK(res->status == 400);
  }
  auto health = client.Get("/sim/health");
  REQUIRE(health);
  CHECK(json::parse(health->body)["status"] == "ok");
  CHECK(json::parse(health->body)["day"] == 3);
}

TEST_CASE("every scripted fault is observable on the wire") {
  Scratch scratch;
  Sim sim(scratch, on_scenario(scratch, {}));
  REQUIRE(sim.port() > 0);

  auto throttled =
      post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please throttle"));
  REQUIRE(throttled);
  CHECK(throttled->status == 429);
  CHECK(throttled->get_header_value("Retry-After") == "7");
  CHECK(json::parse(throttled->body)["error"]["code"] == "rate_limit_exceeded");

  auto failed = post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please fail"));
  REQUIRE(failed);
  CHECK(failed->status == 503);
  CHECK(json::parse(failed->body)["error"]["type"] == "server_error");

  auto garbled = post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please garble"));
  REQUIRE(garbled);
  CHECK(garbled->status == 200);
  CHECK_FALSE(json::accept(garbled->body));

  auto start = std::chrono::steady_clock::now();
  auto slow = post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please wait"));
  REQUIRE(slow);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(400));
  CHECK(slow->status == 200);

  // A dropped connection closes without one byte of response.
  CHECK(raw_exchange(sim.port(), raw_openai("please drop")).empty());

  // A truncated body promises more than it delivers, then the connection closes.
  std::string truncated = raw_exchange(sim.port(), raw_openai("please truncate"));
  REQUIRE(truncated.rfind("HTTP/1.1 200", 0) == 0);
  auto header_end = truncated.find("\r\n\r\n");
  REQUIRE(header_end != std::string::npos);
  auto length_at = truncated.find("Content-Length: ");
  REQUIRE(length_at != std::string::npos);
  size_t promised = std::stoul(truncated.substr(length_at + 16));
  size_t delivered = truncated.size() - header_end - 4;
  CHECK(delivered > 0);
  CHECK(delivered < promised);
  // httplib's own client sees it as a failed read, as libcurl would.
  auto cut = post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please truncate"));
  CHECK_FALSE(cut);

  // The server survives all of it.
  auto fine = post(sim.port(), "/v1/chat/completions", bearer(), openai_body("Hello"));
  REQUIRE(fine);
  CHECK(fine->status == 200);

  // Entries are logged when a response ends; a cut connection may end after the next request
  // began, so compare what was logged, not in which order.
  std::vector<std::string> outcomes;
  for (const auto& e : sim.requests()) outcomes.push_back(e["outcome"]);
  std::sort(outcomes.begin(), outcomes.end());
  CHECK(outcomes == std::vector<std::string>{"answer", "answer", "drop", "malformed", "status",
                                             "status", "truncated", "truncated"});
  CHECK(sim.stop() == 0);
}

TEST_CASE("the request log measures concurrency") {
  Scratch scratch;
  Sim sim(scratch, on_scenario(scratch, {}));
  REQUIRE(sim.port() > 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back(
        [&] { post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please wait")); });
  for (auto& t : threads) t.join();
  auto entries = sim.requests();
  REQUIRE(entries.size() == 4);
  int max_in_flight = 0;
  for (const auto& e : entries) {
    max_in_flight = std::max(max_in_flight, e["in_flight"].get<int>());
    CHECK(e["end_ms"].get<std::int64_t>() - e["start_ms"].get<std::int64_t>() >= 400);
    CHECK(e["kind"] == "openai");
    CHECK(e["path"] == "/v1/chat/completions");
    CHECK(e["rule"] == "wait");
    CHECK(e["model"] == "deepseek-chat");
    CHECK(e["day"] == 0);
    CHECK(e["status"] == 200);
    CHECK(e["time"].get<std::string>().size() == 24);  // 2026-01-15T06:30:00.123Z
  }
  CHECK(max_in_flight == 4);
}

TEST_CASE("driftwatch-sim refuses bad input with exit 1 and a located message") {
  Scratch scratch;
  fs::path bad = scratch.write("bad.toml", "[[rule]]\n[[rule.outcome]]\nkind = \"deflct\"\n");
  {
    Sim sim(scratch, Sim::Command({"--scenario", bad.string()}));
    CHECK(sim.port() == 0);
    CHECK(sim.stop() == 1);
    CHECK(sim.err() == bad.string() +
                           ":3:8: unknown outcome kind 'deflct' (did you mean 'deflect'?)\n");
  }
  {
    Sim sim(scratch, on_scenario(scratch, {"--host", "0.0.0.0"}));
    CHECK(sim.port() == 0);
    CHECK(sim.stop() == 1);
    CHECK(sim.err().find("loopback only") != std::string::npos);
  }
  {
    Sim sim(scratch, Sim::Command({"--port", "0"}));
    CHECK(sim.stop() == 1);
    CHECK(sim.err().find("--scenario") != std::string::npos);
  }
}

}  // namespace cli_sim_test
