#include "providers/providers.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "local_server.h"

namespace providers_test {

using namespace dw;
using dw::config::EndpointKind;
using dw::testing::LocalServer;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

constexpr const char* kKey = "sk-test-0123456789abcdef";

config::Endpoint endpoint(EndpointKind kind, const std::string& base_url) {
  config::Endpoint e;
  e.name = std::string(config::kind_name(kind));
  e.kind = kind;
  e.base_url = base_url;
  e.model = "m-1";
  e.temperature = 0.7;
  e.max_tokens = 256;
  e.timeout = std::chrono::seconds(5);
  e.connect_timeout = std::chrono::seconds(2);
  return e;
}

// Sends one request through a real transport and returns what came back.
transport::Response exchange(transport::Request request, int retries = 0) {
  auto t = transport::Transport::create({.backoff = {.base = 1ms, .cap = 5ms}});
  REQUIRE(t.ok());
  std::optional<transport::Response> out;
  request.done = [&](transport::Response r) { out = std::move(r); };
  bool given = false;
  std::vector<transport::Lane> lanes;
  lanes.push_back(
      {"p", {.concurrency = 1, .retries = retries}, [&]() -> std::optional<transport::Request> {
         if (given) return std::nullopt;
         given = true;
         return request;
       }});
  REQUIRE((*t)->run(std::move(lanes)).ok());
  REQUIRE(out.has_value());
  return *out;
}

// The API base each kind's endpoint is configured with on the test server.
std::string base_for(EndpointKind kind, const LocalServer& server, const std::string& prefix) {
  return server.url(prefix + (kind == EndpointKind::openai ? "/v1" : ""));
}

}  // namespace

TEST_CASE("each kind sends its path, authentication and body") {
  struct Case {
    EndpointKind kind;
    bool system;
    std::string key;
    std::string path;
    std::vector<std::pair<std::string, std::string>> headers;  // must be present, as given
    std::vector<std::string> absent;                           // must not be sent
    std::string body;
  };
  const std::vector<Case> cases = {
      {EndpointKind::openai,
       false,
       kKey,
       "/v1/chat/completions",
       {{"Authorization", std::string("Bearer ") + kKey}},
       {"x-api-key"},
       R"({"model":"m-1","messages":[{"role":"user","content":"六四？"}],"temperature":0.7,"max_tokens":256})"},
      {EndpointKind::openai,
       true,
       "",
       "/v1/chat/completions",
       {},
       {"Authorization"},
       R"({"model":"m-1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"六四？"}],"temperature":0.7,"max_tokens":256})"},
      {EndpointKind::anthropic,
       false,
       kKey,
       "/v1/messages",
       {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}},
       {"Authorization"},
       R"({"model":"m-1","max_tokens":256,"messages":[{"role":"user","content":"六四？"}],"temperature":0.7})"},
      {EndpointKind::anthropic,
       true,
       kKey,
       "/v1/messages",
       {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}},
       {},
       R"({"model":"m-1","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"六四？"}],"temperature":0.7})"},
      {EndpointKind::ollama,
       true,
       "",
       "/api/chat",
       {},
       {"Authorization", "x-api-key"},
       R"({"model":"m-1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"六四？"}],"stream":false,"options":{"temperature":0.7,"num_predict":256}})"},
      {EndpointKind::ollama,
       false,
       kKey,
       "/api/chat",
       {{"Authorization", std::string("Bearer ") + kKey}},
       {},
       R"({"model":"m-1","messages":[{"role":"user","content":"六四？"}],"stream":false,"options":{"temperature":0.7,"num_predict":256}})"},
      {EndpointKind::gemini,
       false,
       kKey,
       "/v1beta/models/m-1:generateContent",
       {{"x-goog-api-key", kKey}},
       {"Authorization"},
       R"({"contents":[{"role":"user","parts":[{"text":"六四？"}]}],"generationConfig":{"temperature":0.7,"maxOutputTokens":256}})"},
      {EndpointKind::gemini,
       true,
       kKey,
       "/v1beta/models/m-1:generateContent",
       {{"x-goog-api-key", kKey}},
       {},
       R"({"contents":[{"role":"user","parts":[{"text":"六四？"}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]},"generationConfig":{"temperature":0.7,"maxOutputTokens":256}})"},
  };
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.set_content("{}", "application/json");
  });
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    CAPTURE(i);
    CAPTURE(config::kind_name(c.kind));
    auto e = endpoint(c.kind, base_for(c.kind, server, ""));
    if (c.system) e.system = "Be brief.";
    auto request = providers::build_request(e, "六四？", c.key);
    REQUIRE(request.ok());
    CHECK(request->timeout == 5000ms);
    CHECK(request->connect_timeout == 2000ms);
    exchange(std::move(*request));
    auto seen = server.seen();
    REQUIRE(seen.size() == i + 1);
    const auto& got = seen.back();
    CHECK(got.path == c.path);
    CHECK(got.header("Content-Type") == "application/json");
    CHECK(got.header("Accept") == "application/json");
    for (const auto& [name, value] : c.headers) {
      CAPTURE(name);
      CHECK(got.header(name) == value);
    }
    for (const auto& name : c.absent) {
      CAPTURE(name);
      CHECK(got.headers.count(name) == 0);
    }
    CHECK(Json::parse(got.body) == Json::parse(c.body));
  }
}

TEST_CASE("extra headers are added and replace built-in ones of the same name") {
  LocalServer server([](const httplib::Request&, httplib::Response& res, int) {
    res.set_content("{}", "application/json");
  });
  auto e = endpoint(EndpointKind::anthropic, server.url(""));
  e.headers = {{"Anthropic-Version", "2099-01-01"}, {"anthropic-beta", "feature-x"}};
  auto request = providers::build_request(e, "hi", kKey);
  REQUIRE(request.ok());
  exchange(std::move(*request));
  auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].headers.count("anthropic-version") == 1);
  CHECK(seen[0].header("anthropic-version") == "2099-01-01");
  CHECK(seen[0].header("anthropic-beta") == "feature-x");
  CHECK(seen[0].header("x-api-key") == kKey);
}

TEST_CASE("a key or header with a line break is refused without quoting it") {
  auto e = endpoint(EndpointKind::openai, "http://127.0.0.1:1/v1");
  auto bad_key = providers::build_request(e, "hi", "sk-secret\r\nX-Evil: 1");
  REQUIRE_FALSE(bad_key.ok());
  CHECK(bad_key.error().message() == "endpoint 'openai': the API key contains a line break");
  e.headers = {{"X-Org", "org-secret\nX-Evil: 1"}};
  auto bad_header = providers::build_request(e, "hi", "");
  REQUIRE_FALSE(bad_header.ok());
  CHECK(bad_header.error().message() == "endpoint 'openai': header 'X-Org' contains a line break");
}

TEST_CASE("responses of every kind are read into samples") {
  struct Case {
    const char* name;
    EndpointKind kind;
    int status;
    std::string body;
    // Expected sample.
    std::string text;
    std::string finish_reason;
    std::string block_reason;
    std::string model;
    std::string fingerprint;
    std::optional<int> prompt_tokens;
    std::optional<int> completion_tokens;
    std::string error;  // prefix; "" means no error
    bool keeps_body;    // error_body is the whole body
  };
  const std::string zhipu_message =
      "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您"
      "的配合。";
  const std::vector<Case> cases = {
      {"deepseek answer", EndpointKind::openai, 200,
       R"({"id":"c-1","object":"chat.completion","created":1767225600,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"In June 1989, troops cleared the square."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":80,"total_tokens":92},"system_fingerprint":"fp_3a5770e1b4"})",
       "In June 1989, troops cleared the square.", "stop", "", "deepseek-chat", "fp_3a5770e1b4", 12,
       80, "", false},
      {"openai content filter", EndpointKind::openai, 200,
       R"({"model":"qwen-plus","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}],"system_fingerprint":null})",
       "", "content_filter", "", "qwen-plus", "", std::nullopt, std::nullopt, "", false},
      {"openai structured refusal", EndpointKind::openai, 200,
       R"({"model":"gpt-4o","choices":[{"message":{"role":"assistant","content":null,"refusal":"I'm sorry, I can't help with that."},"finish_reason":"stop"}]})",
       "I'm sorry, I can't help with that.", "stop", "", "gpt-4o", "", std::nullopt, std::nullopt,
       "", false},
      {"dashscope inspection failure", EndpointKind::openai, 400,
       R"({"error":{"code":"data_inspection_failed","param":null,"message":"Input data may contain inappropriate content.","type":"data_inspection_failed"},"id":"x"})",
       "", "", "", "", "", std::nullopt, std::nullopt,
       "HTTP 400: data_inspection_failed: Input data may contain inappropriate content.", true},
      {"zhipu 1301", EndpointKind::openai, 400,
       R"({"error":{"code":"1301","message":")" + zhipu_message + R"("}})", "", "", "", "", "",
       std::nullopt, std::nullopt, "HTTP 400: 1301: " + zhipu_message, true},
      // A byte that is not UTF-8, a lone surrogate escape and a NUL escape: the rest is kept.
      {"bad bytes kept", EndpointKind::openai, 200,
       "{\"choices\":[{\"message\":{\"content\":\"a\xff b\\ud800 c\\u0000d\"},"
       "\"finish_reason\":\"stop\"}]}",
       "a\xEF\xBF\xBD b\xEF\xBF\xBD c\xEF\xBF\xBD" "d", "stop", "", "", "", std::nullopt, std::nullopt,
       "", false},
      {"truncated body", EndpointKind::openai, 200,
       R"({"id":"c-2","choices":[{"message":{"content":"Tianan)", "", "", "", "", "", std::nullopt,
       std::nullopt, "malformed response: invalid JSON at byte ", true},
      {"proxy html error", EndpointKind::openai, 502, "<html><body>Bad Gateway</body></html>", "",
       "", "", "", "", std::nullopt, std::nullopt, "HTTP 502", true},
      {"openrouter error with 200", EndpointKind::openai, 200,
       R"({"error":{"message":"Provider returned error","code":502}})", "", "", "", "", "",
       std::nullopt, std::nullopt, "API error: Provider returned error", true},
      {"no choices", EndpointKind::openai, 200, R"({"model":"m","choices":[]})", "", "", "", "", "",
       std::nullopt, std::nullopt, "malformed response: no choices", true},
      {"content of the wrong type", EndpointKind::openai, 200,
       R"({"choices":[{"message":{"content":42}}]})", "", "", "", "", "", std::nullopt,
       std::nullopt, "malformed response: choices[0].message.content is not text", true},
      {"top-level array", EndpointKind::openai, 200, "[1,2,3]", "", "", "", "", "", std::nullopt,
       std::nullopt, "malformed response: not a JSON object", true},
      {"deep nesting", EndpointKind::openai, 200, std::string(50000, '[') + std::string(50000, ']'),
       "", "", "", "", "", std::nullopt, std::nullopt,
       "malformed response: JSON nesting deeper than 64 levels", false},
      {"negative and huge token counts", EndpointKind::openai, 200,
       R"({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-3,"completion_tokens":99999999999}})",
       "ok", "stop", "", "", "", std::nullopt, std::nullopt, "", false},
      {"claude answer in blocks", EndpointKind::anthropic, 200,
       R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Part one. "},{"type":"text","text":"Part two."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"output_tokens":30}})",
       "Part one. Part two.", "end_turn", "", "claude-sonnet-4-5", "", 14, 30, "", false},
      {"claude refusal", EndpointKind::anthropic, 200,
       R"({"id":"msg_02","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":"refusal","usage":{"input_tokens":14,"output_tokens":0}})",
       "", "refusal", "", "claude-sonnet-4-5", "", 14, 0, "", false},
      {"claude overloaded", EndpointKind::anthropic, 529,
       R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", "", "", "",
       "", "", std::nullopt, std::nullopt, "HTTP 529: Overloaded", true},
      {"claude content not an array", EndpointKind::anthropic, 200,
       R"({"type":"message","content":"text"})", "", "", "", "", "", std::nullopt, std::nullopt,
       "malformed response: no content array", true},
      {"ollama answer", EndpointKind::ollama, 200,
       R"({"model":"qwen2.5:7b","created_at":"2026-01-15T06:30:00Z","message":{"role":"assistant","content":"台湾是中国不可分割的一部分。"},"done_reason":"stop","done":true,"total_duration":4883583458,"prompt_eval_count":26,"eval_count":298})",
       "台湾是中国不可分割的一部分。", "stop", "", "qwen2.5:7b", "", 26, 298, "", false},
      {"ollama missing model", EndpointKind::ollama, 404,
       R"({"error":"model \"llama9\" not found, try pulling it first"})", "", "", "", "", "",
       std::nullopt, std::nullopt, "HTTP 404: model \"llama9\" not found, try pulling it first",
       true},
      {"ollama without message", EndpointKind::ollama, 200, R"({"model":"x","done":true})", "", "",
       "", "", "", std::nullopt, std::nullopt, "malformed response: no message", true},
      {"gemini answer", EndpointKind::gemini, 200,
       R"({"candidates":[{"content":{"parts":[{"text":"thinking it over","thought":true},{"text":"Canberra "},{"text":"is the capital."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":6,"totalTokenCount":15},"modelVersion":"gemini-2.0-flash-001"})",
       "Canberra is the capital.", "STOP", "", "gemini-2.0-flash-001", "", 9, 6, "", false},
      {"gemini safety stop", EndpointKind::gemini, 200,
       R"({"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-1.5-flash"})",
       "", "SAFETY", "", "gemini-1.5-flash", "", 9, std::nullopt, "", false},
      {"gemini prompt blocked", EndpointKind::gemini, 200,
       R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-2.0-flash"})",
       "", "", "PROHIBITED_CONTENT", "gemini-2.0-flash", "", 7, std::nullopt, "", false},
      {"gemini neither candidate nor block", EndpointKind::gemini, 200, R"({"modelVersion":"g"})",
       "", "", "", "", "", std::nullopt, std::nullopt,
       "malformed response: no candidates and no promptFeedback.blockReason", true},
      {"gemini bad key", EndpointKind::gemini, 400,
       R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}})",
       "", "", "", "", "", std::nullopt, std::nullopt,
       "HTTP 400: API key not valid. Please pass a valid API key.", true},
  };
  LocalServer server([&](const httplib::Request& req, httplib::Response& res, int) {
    // Paths are /case/N/...: the case to answer with.
    const size_t n = std::stoul(req.path.substr(6));
    res.status = cases.at(n).status;
    res.set_content(cases.at(n).body, "application/json");
  });
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    INFO(std::string(c.name));
    auto e = endpoint(c.kind, base_for(c.kind, server, "/case/" + std::to_string(i)));
    auto request = providers::build_request(e, "q", kKey);
    REQUIRE(request.ok());
    const auto response = exchange(std::move(*request));
    const auto s = providers::parse_response(c.kind, response, kKey);
    CHECK(s.http_status == c.status);
    CHECK(s.attempts == 1);
    CHECK(s.text == c.text);
    CHECK(s.finish_reason == c.finish_reason);
    CHECK(s.block_reason == c.block_reason);
    CHECK(s.model == c.model);
    CHECK(s.system_fingerprint == c.fingerprint);
    CHECK(s.prompt_tokens == c.prompt_tokens);
    CHECK(s.completion_tokens == c.completion_tokens);
    if (c.error.empty()) {
      CHECK(s.error == "");
      CHECK(s.error_body == "");
    } else {
      CAPTURE(s.error);
      CHECK(s.error.starts_with(c.error));
    }
    if (c.keeps_body) CHECK(s.error_body == c.body);
  }
}

TEST_CASE("transport failures become sample errors with the attempt count") {
  dw::testing::HeldPort refused;  // nothing listens there
  auto e = endpoint(EndpointKind::openai, refused.url("/v1"));
  auto request = providers::build_request(e, "q", kKey);
  REQUIRE(request.ok());
  const auto s = providers::parse_response(e.kind, exchange(std::move(*request), 1), kKey);
  CHECK(s.http_status == 0);
  CHECK(s.attempts == 2);
  CHECK(s.error.find("onnect") != std::string::npos);
  CHECK(s.text == "");
  CHECK(s.error_body == "");
}

TEST_CASE("error bodies are capped at 16 KiB without splitting a character") {
  std::string body = R"({"error":{"message":")";
  for (int i = 0; i < 7000; ++i) body += "错";  // 3 bytes each
  body += R"("}})";
  transport::Response r;
  r.http_status = 500;
  r.attempts = 3;
  r.body = body;
  const auto s = providers::parse_response(EndpointKind::openai, r, "");
  CHECK(s.error_body.size() <= providers::kErrorBodyCap);
  CHECK(s.error_body.size() > providers::kErrorBodyCap - 4);
  CHECK(body.starts_with(s.error_body));
  CHECK(((s.error_body.size() - 21) % 3) == 0);  // 21 bytes of ASCII before the first 错
  CHECK(s.error.size() <= std::string("HTTP 500: ").size() + 200);
  CHECK(s.attempts == 3);
}

TEST_CASE("an echoed API key is redacted from every text of the sample") {
  const std::string key = kKey;
  struct Case {
    EndpointKind kind;
    int status;
    std::string body;
  };
  const Case cases[] = {
      {EndpointKind::anthropic, 401,
       R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key )" +
           key + R"("}})"},
      {EndpointKind::openai, 200,
       R"({"choices":[{"message":{"content":"Your key is )" + key +
           R"("},"finish_reason":"stop"}]})"},
      {EndpointKind::openai, 200, R"({"choices":[{"message":{"content":")" + key},
      // Echoed in the reported model and fingerprint: fields the fuzzer found unredacted.
      {EndpointKind::openai, 200,
       R"({"model":"m-)" + key + R"(","system_fingerprint":"fp-)" + key +
           R"(","choices":[{"message":{"content":"ok"},"finish_reason":"stop-)" + key + R"("}]})"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    transport::Response r;
    r.http_status = c.status;
    r.body = c.body;
    const auto s = providers::parse_response(c.kind, r, key);
    for (const std::string* field : {&s.text, &s.error, &s.error_body, &s.model,
                                     &s.system_fingerprint, &s.finish_reason, &s.block_reason}) {
      CHECK(field->find(key) == std::string::npos);
    }
    CHECK((s.text + s.error + s.error_body + s.model).find("[redacted]") != std::string::npos);
  }
}

TEST_CASE("an echoed API key is redacted before anything is cut to a length") {
  const std::string key = kKey;
  const std::string start = key.substr(0, 12);  // what a cut through the key would keep
  // Straddling the error message's 200 bytes ("authentication_error: " is 22 of them), and
  // the error body's cap.
  const std::string message = std::string(160, 'm') + key;
  std::string body =
      R"({"error":{"code":"authentication_error","message":")" + message + R"("},"pad":")";
  body += std::string(providers::kErrorBodyCap - body.size() - 16, ' ') + key + "\"}";
  transport::Response r;
  r.http_status = 401;
  r.body = body;
  auto s = providers::parse_response(EndpointKind::openai, r, key);
  CHECK(s.error.find(start) == std::string::npos);
  CHECK(s.error_body.find(start) == std::string::npos);
  CHECK(s.error.find("[redacted]") != std::string::npos);
  CHECK(s.error_body.find("[redacted]") != std::string::npos);

  // A key with a '/' that the server's JSON writes as "\/", cut in the body and in the message.
  const std::string slashed = "sk-test/0123456789/abcdef";
  std::string escaped = slashed;
  for (size_t at = escaped.find('/'); at != std::string::npos; at = escaped.find('/', at + 2)) {
    escaped.insert(at, "\\");
  }
  r.body = R"({"error":{"message":")" + std::string(190, 'm') + escaped + "\"}}" +
           std::string(providers::kErrorBodyCap, ' ');
  s = providers::parse_response(EndpointKind::openai, r, slashed);
  CHECK(s.error.find("sk-test") == std::string::npos);
  CHECK(s.error_body.find("sk-test") == std::string::npos);
}

TEST_CASE("lane_limits carries the endpoint's concurrency, rate and retries") {
  auto e = endpoint(EndpointKind::openai, "http://x/v1");
  e.concurrency = 5;
  e.rate = 30;
  e.retries = 4;
  const auto limits = providers::lane_limits(e);
  CHECK(limits.concurrency == 5);
  CHECK(limits.rate == 30);
  CHECK(limits.retries == 4);
}

}  // namespace providers_test
