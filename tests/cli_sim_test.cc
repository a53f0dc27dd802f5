// driftwatch-sim as a process: started on a free loopback port, spoken to over real HTTP as
// each provider kind, stepped through days, faulting as scripted, and logging every request
// without the key.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "child.h"

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

// The simulator as a child process; stopped with SIGTERM when the test ends.
class Sim {
 public:
  explicit Sim(std::vector<std::string> args, std::vector<std::string> env = {}) {
    dir_ = fs::temp_directory_path() /
           ("dw-cli-sim-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "scenario.toml") << kScenario;
    for (auto& a : args) {
      if (a == "SCENARIO") a = (dir_ / "scenario.toml").string();
      if (a == "LOG") a = log_path().string();
    }
    exit_code_ = spawn(args, env);
  }

  ~Sim() {
    stop();
    fs::remove_all(dir_);
  }

  // Sends SIGTERM and returns the exit status (or the earlier one).
  int stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }

  int port() const { return port_; }
  const std::string& first_line() const { return first_line_; }
  const std::string& err() const { return err_; }
  fs::path log_path() const { return dir_ / "requests.jsonl"; }

 private:
  // Starts the binary and reads its first stdout line; when it exits first, collects stderr
  // and the exit code instead.
  int spawn(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    int out[2], err[2];
    REQUIRE(pipe(out) == 0);
    REQUIRE(pipe(err) == 0);
    std::string binary = std::string(DW_BINARY_DIR) + "/monitor/sim/driftwatch-sim";
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    dw::test::Exec exec(std::move(argv), env);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      close(out[0]);
      close(err[0]);
      exec.run();
    }
    close(out[1]);
    close(err[1]);
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    first_line_ = line.substr(0, line.find('\n'));
    auto colon = first_line_.rfind(':');
    if (first_line_.rfind("listening on http://127.0.0.1:", 0) == 0 && colon != std::string::npos) {
      port_ = std::stoi(first_line_.substr(colon + 1));
      close(err[0]);
      return -1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(err[0], buf, sizeof buf)) > 0) err_.append(buf, static_cast<size_t>(n));
    close(err[0]);
    return stop();
  }

  static inline int counter_ = 0;
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  std::string first_line_;
  std::string err_;
};

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

std::vector<json> log_entries(int port) {
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/sim/requests");
  REQUIRE(res);
  std::vector<json> entries;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) entries.push_back(json::parse(line));
  return entries;
}

}  // namespace

TEST_CASE("driftwatch-sim answers as each provider kind, in its real shape") {
  Sim sim({"--scenario", "SCENARIO", "--port", "0"}, {std::string("DRIFTWATCH_SIM_KEY=") + kKey});
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
  Sim sim({"--scenario", "SCENARIO", "--api-key", kKey, "--log", "LOG"});
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

  auto entries = log_entries(sim.port());
  REQUIRE(entries.size() == 5);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(entries[i]["outcome"] == "rejected");
    CHECK(entries[i]["key"] == cases[i].logged_key);
  }
  CHECK(entries[4]["key"] == "ok");
  CHECK(sim.stop() == 0);
  std::ifstream in(sim.log_path());
  std::stringstream file;
  file << in.rdbuf();
  std::string log = file.str();
  CHECK(log.find(kKey) == std::string::npos);
  CHECK(log.find("sk-wrong") == std::string::npos);
  CHECK(std::count(log.begin(), log.end(), '\n') == 5);
}

TEST_CASE("the simulated day is set by a control request and changes what is answered") {
  Sim sim({"--scenario", "SCENARIO", "--day", "1"});
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
  Sim sim({"--scenario", "SCENARIO"});
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
  for (const auto& e : log_entries(sim.port())) outcomes.push_back(e["outcome"]);
  std::sort(outcomes.begin(), outcomes.end());
  CHECK(outcomes == std::vector<std::string>{"answer", "answer", "drop", "malformed", "status",
                                             "status", "truncated", "truncated"});
  CHECK(sim.stop() == 0);
}

TEST_CASE("the request log measures concurrency") {
  Sim sim({"--scenario", "SCENARIO"});
  REQUIRE(sim.port() > 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back(
        [&] { post(sim.port(), "/v1/chat/completions", bearer(), openai_body("please wait")); });
  for (auto& t : threads) t.join();
  auto entries = log_entries(sim.port());
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
  fs::path dir = fs::temp_directory_path() / ("dw-cli-sim-bad-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "bad.toml") << "[[rule]]\n[[rule.outcome]]\nkind = \"deflct\"\n";
  {
    Sim sim({"--scenario", (dir / "bad.toml").string()});
    CHECK(sim.port() == 0);
    CHECK(sim.stop() == 1);
    CHECK(sim.err() == (dir / "bad.toml").string() +
                           ":3:8: unknown outcome kind 'deflct' (did you mean 'deflect'?)\n");
  }
  {
    Sim sim({"--scenario", "SCENARIO", "--host", "0.0.0.0"});
    CHECK(sim.port() == 0);
    CHECK(sim.stop() == 1);
    CHECK(sim.err().find("loopback only") != std::string::npos);
  }
  {
    Sim sim({"--port", "0"});
    CHECK(sim.stop() == 1);
    CHECK(sim.err().find("--scenario") != std::string::npos);
  }
  fs::remove_all(dir);
}
