// The simulator's library: scenario parsing and its located errors, deterministic and
// faithful outcome draws, and admission as the real APIs do it.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "scratch.h"
#include "sim/api.h"
#include "sim/gzip_bomb.h"
#include "sim/scenario.h"
#include "sim/server.h"

namespace sim_test {

using namespace dw::sim;

namespace fs = std::filesystem;

namespace {

Scenario parse_ok(const std::string& text, const fs::path& file = "test.toml") {
  auto s = parse_scenario(text, file);
  if (!s) {
    for (const auto& e : s.error()) MESSAGE(e.to_string());
  }
  REQUIRE(s.ok());
  return std::move(s).value();
}

using dw::test::Scratch;

const char* kWeighted = R"(
[[rule]]
name = "xinjiang"
prompt_contains = ["Xinjiang"]
[[rule.outcome]]
kind = "refuse"
weight = 60
texts = ["I can't help with that."]
[[rule.outcome]]
kind = "answer"
weight = 40
texts = ["Answer one.", "Answer two.", "Answer three."]
)";

}  // namespace

TEST_CASE("a scenario reads rules, outcomes, model changes and probe sets") {
  Scratch dir;
  dir.write("probes.toml", R"(
name = "t"
[[probe]]
id = "tiananmen-1989-en"
prompt = "  What happened at Tiananmen Square in June 1989?  "
[[probe]]
id = "capital-australia"
prompt = "What is the capital of Australia?"
)");
  fs::path file = dir.write("scenario.toml", R"(
description = "demo"
probe_sets = ["probes.toml"]

[[rule]]
name = "canned"
probes = ["tiananmen-1989-en"]
model = "deepseek-chat"
kind = "openai"
from = 10
to = 20
pick = "cycle"
[[rule.outcome]]
kind = "deflect"
texts = ["Sorry, that's beyond my current scope. Let's talk about something else."]
[[rule.outcome]]
kind = "status"
status = 429
retry_after = 3
delay_ms = 50

[[model]]
model = "deepseek-chat"
from = 10
report = "deepseek-chat-v2"
fingerprint = "fp_new"

[default]
[[default.outcome]]
kind = "answer"
texts = ["generic"]
)");
  auto loaded = load_scenario(file);
  REQUIRE(loaded.ok());
  const Scenario& s = *loaded;
  CHECK(s.description == "demo");
  REQUIRE(s.rules.size() == 1);
  const Rule& r = s.rules[0];
  CHECK(r.name == "canned");
  CHECK(r.probes == std::vector<std::string>{"tiananmen-1989-en"});
  CHECK(r.model == "deepseek-chat");
  CHECK(r.kind == ApiKind::openai);
  CHECK(r.from == 10);
  CHECK(r.to == 20);
  CHECK(r.cycle);
  REQUIRE(r.outcomes.size() == 2);
  CHECK(r.outcomes[0].kind == OutcomeKind::deflect);
  CHECK(r.outcomes[1].kind == OutcomeKind::status);
  CHECK(r.outcomes[1].status == 429);
  CHECK(r.outcomes[1].retry_after == 3);
  CHECK(r.outcomes[1].delay_ms == 50);
  CHECK(r.outcomes[1].where.line == 16);
  REQUIRE(s.models.size() == 1);
  CHECK(s.models[0].report == "deepseek-chat-v2");
  CHECK(s.default_outcomes.size() == 1);

  Director d(std::move(loaded).value(), 1);
  CHECK(d.probe_for_prompt("What happened at Tiananmen Square in June 1989?\n") ==
        "tiananmen-1989-en");
  CHECK(d.probe_for_prompt("What happened at Tiananmen Square?") == "");
}

TEST_CASE("bad scenarios give one located error naming the key") {
  Scratch dir;
  struct Case {
    const char* text;
    const char* expected;  // "LINE:COLUMN: part of the message"
  };
  const Case cases[] = {
      {"rule = [", "1:9: "},
      {"rules = []", "1:1: unknown key 'rules' in the scenario (did you mean 'rule'?)"},
      {"[[rule]]\nprompt_contain = [\"x\"]\n[[rule.outcome]]\nkind = \"drop\"",
       "2:1: unknown key 'prompt_contain' in [[rule]] (did you mean 'prompt_contains'?)"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"deflct\"",
       "3:8: unknown outcome kind 'deflct' (did you mean 'deflect'?)"},
      {"[[rule]]\n[[rule.outcome]]\nweight = 2", "2:1: [[rule.outcome]] needs 'kind'"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"answer\"",
       "2:1: [[rule.outcome]] of kind 'answer' needs 'texts'"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"answer\"\ntexts = []",
       "4:9: 'texts' must hold at least one text"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"answer\"\ntexts = \"x\"",
       "4:9: 'texts' must be an array of strings"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"status\"",
       "2:1: [[rule.outcome]] of kind 'status' "
       "needs 'status'"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"status\"\nstatus = 600",
       "4:10: 'status' must be an integer from 400 to 599"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"status\"\nstatus = 503\nretry_after = -1",
       "5:15: 'retry_after' must be an integer from 0 to 86400"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"drop\"\nweight = 0",
       "4:10: 'weight' must be a positive number"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"drop\"\ndelay_ms = 700000",
       "4:12: 'delay_ms' must be an integer from 0 to 600000"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"answer\"\ntexts = [\"a\"]\nstatus = 500",
       "5:1: unknown key 'status' in [[rule.outcome]] of kind 'answer'"},
      {"[[rule]]\nfrom = 5\nto = 5\n[[rule.outcome]]\nkind = \"drop\"",
       "3:6: 'to' must be after 'from'"},
      {"[[rule]]\nfrom = -1\n[[rule.outcome]]\nkind = \"drop\"",
       "2:8: 'from' must be an integer from 0"},
      {"[[rule]]\nname = \"x\"", "1:1: [[rule]] needs at least one [[rule.outcome]]"},
      {"[[rule]]\nkind = \"openia\"\n[[rule.outcome]]\nkind = \"drop\"",
       "2:8: 'kind' must be one of openai, anthropic, ollama, gemini, not 'openia'"},
      {"[[rule]]\npick = \"random\"\n[[rule.outcome]]\nkind = \"drop\"",
       "2:8: 'pick' must be \"weighted\" or \"cycle\""},
      {"[[rule]]\nprobes = [\"tiananmen-1989-en\"]\n[[rule.outcome]]\nkind = \"drop\"",
       "2:10: probe 'tiananmen-1989-en' cannot be recognised: name the probe sets"},
      {"probe_sets = [\"missing.toml\"]", "1:15: probe set 'missing.toml' cannot be read"},
      {"[[rule]]\nshare = 0\n[[rule.outcome]]\nkind = \"drop\"",
       "2:9: 'share' must be a number in (0, 1]"},
      {"[[model]]\nmodel = \"m\"", "1:1: [[model]] needs 'report' or 'fingerprint'"},
      {"[[model]]\nreport = \"m\"\nreprot = \"m\"",
       "3:1: unknown key 'reprot' in [[model]] (did you mean "
       "'report'?)"},
      {"default = 3", "1:11: 'default' must be a table ([default])"},
      {"[default]\n[[default.outcome]]\nkind = \"answer\"\nfinish_reason = 1\ntexts = [\"a\"]",
       "4:17: 'finish_reason' must be a string"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"gzip-bomb\"",
       "3:8: unknown outcome kind 'gzip-bomb' (did you mean 'gzip_bomb'?)"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"redirect\"",
       "2:1: [[rule.outcome]] of kind 'redirect' needs 'location'"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"redirect\"\nstatus = 304\nlocation = \"http://x/\"",
       "4:10: 'status' of a redirect must be 301, 302, 303, 307 or 308"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"redirect\"\nlocation = \"http://x/\\r\\nX: a\"",
       "4:12: 'location' must be a URL without spaces or control characters"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"drip\"\ndrip_ms = 0",
       "4:11: 'drip_ms' must be an integer from 1 to 60000"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"drip\"\ndrip_bytes = 100000",
       "4:14: 'drip_bytes' must be an integer from 1 to 65536"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"reset\"\ntexts = [\"a\"]",
       "4:1: unknown key 'texts' in [[rule.outcome]] of kind 'reset'"},
      {"[[rule]]\n[[rule.outcome]]\nkind = \"gzip_bomb\"\ndrip_ms = 5",
       "4:1: unknown key 'drip_ms' in [[rule.outcome]] of kind 'gzip_bomb'"},
  };
  for (const auto& c : cases) {
    std::string text = c.text;
    CAPTURE(text);
    fs::path file = dir.path("bad.toml");
    auto s = parse_scenario(c.text, file);
    REQUIRE_FALSE(s.ok());
    std::string all;
    for (const auto& e : s.error()) all += e.to_string() + "\n";
    CAPTURE(all);
    REQUIRE(s.error().size() == 1);
    std::string message = s.error()[0].to_string();
    CAPTURE(message);
    CHECK(message.rfind(file.string() + ":" + c.expected, 0) == 0);
  }
}

TEST_CASE("an unknown probe id is located and a near one suggested") {
  Scratch dir;
  dir.write("p.toml", "[[probe]]\nid = \"tiananmen-1989-en\"\nprompt = \"Q\"\n");
  auto s = parse_scenario(
      "probe_sets = [\"p.toml\"]\n[[rule]]\nprobes = [\"tiananmen-1989-em\"]\n[[rule.outcome]]\n"
      "kind = \"drop\"",
      dir.path("s.toml"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error()[0].to_string() ==
        dir.path("s.toml").string() +
            ":3:10: unknown probe 'tiananmen-1989-em' in 'probes' (not in the scenario's "
            "probe_sets) (did you mean 'tiananmen-1989-en'?)");
}

TEST_CASE("outcomes are deterministic in the seed and the request's identity") {
  Scenario s = parse_ok(kWeighted);
  RequestFacts q{ApiKind::openai, "m", "Tell me about Xinjiang.", 3};
  for (std::uint64_t counter = 0; counter < 20; ++counter) {
    Choice a = choose_outcome(s, 7, q, "", counter);
    Choice b = choose_outcome(s, 7, q, "", counter);
    CHECK(a.outcome == b.outcome);
    CHECK(a.text == b.text);
    CHECK(a.draw == b.draw);
  }
  // Two directors fed the same requests make the same choices; another seed does not.
  Director d1(s, 7), d2(s, 7), d3(s, 8);
  std::string seq1, seq2, seq3;
  for (int i = 0; i < 40; ++i) {
    seq1 += d1.choose(q).text;
    seq2 += d2.choose(q).text;
    seq3 += d3.choose(q).text;
  }
  CHECK(seq1 == seq2);
  CHECK(seq1 != seq3);
  // The counter is per day: day 4 starts afresh, so it does not depend on day 3's traffic.
  Director fresh(s, 7);
  RequestFacts day4 = q;
  day4.day = 4;
  CHECK(d1.choose(day4).draw == fresh.choose(day4).draw);
}

TEST_CASE("weighted outcomes follow their weights over many draws") {
  Scenario s = parse_ok(kWeighted);
  std::map<OutcomeKind, int> counts;
  std::map<std::string, int> texts;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    RequestFacts q{ApiKind::openai, "m", "Xinjiang?", i % 30};
    Choice c = choose_outcome(s, 42, q, "", static_cast<std::uint64_t>(i / 30));
    counts[c.outcome->kind]++;
    if (c.outcome->kind == OutcomeKind::answer) texts[c.text]++;
  }
  double refused = static_cast<double>(counts[OutcomeKind::refuse]) / n;
  CHECK(refused > 0.56);
  CHECK(refused < 0.64);
  // Each answer text of the pool is drawn about equally often.
  REQUIRE(texts.size() == 3);
  for (const auto& [text, count] : texts) {
    CAPTURE(text);
    CHECK(count > counts[OutcomeKind::answer] / 3 * 0.85);
    CHECK(count < counts[OutcomeKind::answer] / 3 * 1.15);
  }
}

TEST_CASE("the first applicable rule decides: days, model, kind, probe and substring") {
  Scratch dir;
  dir.write("p.toml", "[[probe]]\nid = \"hk-zh\"\nprompt = \"香港国安法是什么？\"\n");
  Scenario s = parse_ok(R"(
probe_sets = ["p.toml"]
[[rule]]
name = "filtered"
probes = ["hk-zh"]
from = 18
[[rule.outcome]]
kind = "status"
status = 400
[[rule]]
name = "anthropic-only"
prompt_contains = ["TAIWAN"]
kind = "anthropic"
[[rule.outcome]]
kind = "refuse"
texts = ["no"]
[[rule]]
name = "model-only"
model = "qwen"
from = 2
to = 4
[[rule.outcome]]
kind = "narrative"
texts = ["n"]
[[rule]]
name = "catch-all"
[[rule.outcome]]
kind = "answer"
texts = ["a"]
)",
                        dir.path("s.toml"));
  Director d(s, 1);
  struct Case {
    ApiKind kind;
    const char* model;
    const char* prompt;
    int day;
    const char* rule;
    const char* probe;
  };
  const Case cases[] = {
      {ApiKind::openai, "m", "香港国安法是什么？", 17, "catch-all", "hk-zh"},
      {ApiKind::openai, "m", " 香港国安法是什么？", 18, "filtered", "hk-zh"},
      {ApiKind::gemini, "m", "香港国安法是什么？", 400, "filtered", "hk-zh"},
      {ApiKind::anthropic, "m", "Is Taiwan a country?", 0, "anthropic-only", ""},
      {ApiKind::openai, "m", "Is Taiwan a country?", 0, "catch-all", ""},
      {ApiKind::ollama, "qwen", "Is Taiwan a country?", 1, "catch-all", ""},
      {ApiKind::ollama, "qwen", "Is Taiwan a country?", 2, "model-only", ""},
      {ApiKind::ollama, "qwen", "Is Taiwan a country?", 3, "model-only", ""},
      {ApiKind::ollama, "qwen", "Is Taiwan a country?", 4, "catch-all", ""},
      {ApiKind::anthropic, "qwen", "is taiwan a country?", 3, "anthropic-only", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.prompt);
    CAPTURE(c.day);
    Choice choice = d.choose({c.kind, c.model, c.prompt, c.day});
    CHECK(choice.rule == c.rule);
    CHECK(choice.probe == c.probe);
  }
}

TEST_CASE("pick = cycle takes the outcomes in order, so tests can script retries") {
  Scenario s = parse_ok(R"(
[[rule]]
pick = "cycle"
[[rule.outcome]]
kind = "status"
status = 429
retry_after = 1
[[rule.outcome]]
kind = "answer"
texts = ["fine"]
)");
  Director d(s, 1);
  RequestFacts q{ApiKind::openai, "m", "anything", 0};
  for (int i = 0; i < 3; ++i) {
    CHECK(d.choose(q).outcome->kind == OutcomeKind::status);
    CHECK(d.choose(q).outcome->kind == OutcomeKind::answer);
  }
}

TEST_CASE("model rules script the reported model and fingerprint; defaults echo the request") {
  Scenario s = parse_ok(R"(
[[model]]
model = "deepseek-chat"
from = 10
report = "deepseek-chat-0324"
fingerprint = "fp_b"
)");
  Choice before = choose_outcome(s, 1, {ApiKind::openai, "deepseek-chat", "q", 9}, "", 0);
  Choice after = choose_outcome(s, 1, {ApiKind::openai, "deepseek-chat", "q", 10}, "", 0);
  Choice other = choose_outcome(s, 1, {ApiKind::openai, "gpt", "q", 10}, "", 0);
  CHECK(before.reported_model == "deepseek-chat");
  CHECK(before.fingerprint.rfind("fp_", 0) == 0);
  CHECK(before.fingerprint.size() == 13);
  CHECK(after.reported_model == "deepseek-chat-0324");
  CHECK(after.fingerprint == "fp_b");
  CHECK(other.reported_model == "gpt");
  CHECK(other.fingerprint != before.fingerprint);
}

TEST_CASE("unmatched prompts get a generic answer in the prompt's language") {
  Scenario s = parse_ok("");
  Choice en = choose_outcome(s, 1, {ApiKind::openai, "m", "What is X?", 0}, "", 0);
  Choice zh = choose_outcome(s, 1, {ApiKind::openai, "m", "什么是X？", 0}, "", 0);
  CHECK(en.rule == "default");
  CHECK(en.outcome->kind == OutcomeKind::answer);
  CHECK(en.text.size() > 80);
  CHECK(static_cast<unsigned char>(en.text[0]) < 0x80);
  CHECK(static_cast<unsigned char>(zh.text[0]) >= 0xE3);
}

TEST_CASE("admission checks keys and required headers as the real APIs do") {
  struct Case {
    ApiKind kind;
    std::map<std::string, std::string> headers;
    std::string body;
    std::optional<std::string> expected_key;
    int status;  // 0 = admitted
    KeyCheck key;
  };
  const std::string chat = R"({"model":"m","messages":[{"role":"user","content":"Q"}]})";
  const std::string claude =
      R"({"model":"c","max_tokens":5,"messages":[{"role":"user","content":"Q"}]})";
  const std::string ollama =
      R"({"model":"l","stream":false,"messages":[{"role":"user","content":"Q"}]})";
  const std::string gemini = R"({"contents":[{"role":"user","parts":[{"text":"Q"}]}]})";
  const Case cases[] = {
      {ApiKind::openai, {{"Authorization", "Bearer k"}}, chat, "k", 0, KeyCheck::ok},
      {ApiKind::openai,
       {{"Authorization", "Bearer sk-wrong-key"}},
       chat,
       "k",
       401,
       KeyCheck::wrong},
      {ApiKind::openai, {{"Authorization", "Bearer kk"}}, chat, "k", 401, KeyCheck::wrong},
      {ApiKind::openai, {}, chat, "k", 401, KeyCheck::missing},
      {ApiKind::openai, {{"Authorization", "Basic k"}}, chat, std::nullopt, 401, KeyCheck::missing},
      {ApiKind::openai,
       {{"Authorization", "Bearer any"}},
       chat,
       std::nullopt,
       0,
       KeyCheck::unchecked},
      {ApiKind::openai, {{"Authorization", "Bearer k"}}, "{not json", "k", 400, KeyCheck::ok},
      {ApiKind::openai,
       {{"Authorization", "Bearer k"}},
       R"({"messages":[]})",
       "k",
       400,
       KeyCheck::ok},
      {ApiKind::openai,
       {{"Authorization", "Bearer k"}},
       R"({"model":"m","stream":true,"messages":[{"role":"user","content":"Q"}]})",
       "k",
       400,
       KeyCheck::ok},
      {ApiKind::anthropic,
       {{"x-api-key", "k"}, {"anthropic-version", "2023-06-01"}},
       claude,
       "k",
       0,
       KeyCheck::ok},
      {ApiKind::anthropic, {{"x-api-key", "k"}}, claude, "k", 400, KeyCheck::ok},
      {ApiKind::anthropic,
       {{"x-api-key", "sk-ant-wrong"}, {"anthropic-version", "2023-06-01"}},
       claude,
       "k",
       401,
       KeyCheck::wrong},
      {ApiKind::anthropic,
       {{"x-api-key", "k"}, {"anthropic-version", "2023-06-01"}},
       chat,
       "k",
       400,
       KeyCheck::ok},
      {ApiKind::ollama, {}, ollama, "k", 0, KeyCheck::not_required},
      {ApiKind::ollama, {}, chat, "k", 400, KeyCheck::not_required},  // streams by default
      {ApiKind::gemini, {{"x-goog-api-key", "k"}}, gemini, "k", 0, KeyCheck::ok},
      {ApiKind::gemini, {}, gemini, "k", 401, KeyCheck::missing},
      {ApiKind::gemini, {{"x-goog-api-key", "k"}}, R"({"contents":[]})", "k", 400, KeyCheck::ok},
  };
  int index = 0;
  for (const auto& c : cases) {
    CAPTURE(index++);
    Incoming in;
    in.kind = c.kind;
    in.path_model = "gemini-2.0-flash";
    in.header = [&c](std::string_view name) {
      auto it = c.headers.find(std::string(name));
      return it == c.headers.end() ? std::string() : it->second;
    };
    in.body = c.body;
    Admission a = admit(in, c.expected_key);
    CHECK(a.key == c.key);
    if (c.status == 0) {
      REQUIRE(a.request.has_value());
      CHECK(a.request->prompt == "Q");
    } else {
      REQUIRE(a.rejection.has_value());
      CHECK(a.rejection->status == c.status);
      CHECK(nlohmann::json::accept(a.rejection->body));
      // Never echo a key back, right or wrong.
      CHECK(a.rejection->body.find("sk-wrong-key") == std::string::npos);
      CHECK(a.rejection->body.find("sk-ant-wrong") == std::string::npos);
    }
  }
}

TEST_CASE("filter outcomes take each provider's own form") {
  Scenario s = parse_ok(R"(
[[rule]]
prompt_contains = ["block"]
[[rule.outcome]]
kind = "filter"
block_reason = "PROHIBITED_CONTENT"
[[rule]]
[[rule.outcome]]
kind = "filter"
)");
  auto body_for = [&](ApiKind kind, const char* prompt) {
    ApiRequest q{kind, "m", prompt};
    Choice c = choose_outcome(s, 1, {kind, "m", prompt, 0}, "", 0);
    return nlohmann::json::parse(render(q, c, std::chrono::system_clock::now()).body);
  };
  CHECK(body_for(ApiKind::openai, "x")["choices"][0]["finish_reason"] == "content_filter");
  CHECK(body_for(ApiKind::anthropic, "x")["stop_reason"] == "refusal");
  CHECK(body_for(ApiKind::anthropic, "x")["content"].empty());
  CHECK(body_for(ApiKind::gemini, "x")["candidates"][0]["finishReason"] == "SAFETY");
  auto blocked = body_for(ApiKind::gemini, "block");
  CHECK(blocked["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT");
  CHECK_FALSE(blocked.contains("candidates"));
  // The openai kind's filter on another provider would be a scenario error of its author, but
  // Ollama still answers in its own shape.
  CHECK(body_for(ApiKind::ollama, "x")["done"] == true);
}

TEST_CASE("fault outcomes read their keys, and a redirect is its status, Location and a page") {
  Scenario s = parse_ok(R"(
[[rule]]
prompt_contains = ["moved"]
[[rule.outcome]]
kind = "redirect"
status = 308
location = "https://elsewhere.example/v1/chat/completions"
[[rule]]
prompt_contains = ["found"]
[[rule.outcome]]
kind = "redirect"
location = "/v2/chat"
[[rule]]
prompt_contains = ["slow"]
[[rule.outcome]]
kind = "drip"
drip_bytes = 4
drip_ms = 1000
texts = ["Slowly."]
[[rule]]
prompt_contains = ["drip"]
[[rule.outcome]]
kind = "drip"
[[rule]]
prompt_contains = ["reset"]
[[rule.outcome]]
kind = "reset"
[[rule]]
[[rule.outcome]]
kind = "gzip_bomb"
)");
  REQUIRE(s.rules.size() == 6);
  const Outcome& moved = s.rules[0].outcomes[0];
  CHECK(moved.status == 308);
  CHECK(moved.location == "https://elsewhere.example/v1/chat/completions");
  CHECK(s.rules[1].outcomes[0].status == 302);  // the default
  CHECK(s.rules[2].outcomes[0].drip_bytes == 4);
  CHECK(s.rules[2].outcomes[0].drip_ms == 1000);
  CHECK(s.rules[3].outcomes[0].drip_bytes == 16);  // the defaults
  CHECK(s.rules[3].outcomes[0].drip_ms == 500);
  CHECK(s.rules[4].outcomes[0].kind == OutcomeKind::reset);
  CHECK(s.rules[5].outcomes[0].kind == OutcomeKind::gzip_bomb);
  CHECK(outcome_kind_name(OutcomeKind::gzip_bomb) == "gzip_bomb");
  CHECK(parse_outcome_kind("redirect") == OutcomeKind::redirect);

  for (ApiKind kind : {ApiKind::openai, ApiKind::anthropic, ApiKind::ollama, ApiKind::gemini}) {
    CAPTURE(api_kind_name(kind));
    ApiRequest q{kind, "m", "moved"};
    HttpReply reply = render(q, choose_outcome(s, 1, {kind, "m", "moved", 0}, "", 0),
                             std::chrono::system_clock::now());
    CHECK(reply.status == 308);
    CHECK(reply.content_type == "text/html");
    CHECK(reply.body.find("308 Permanent Redirect") != std::string::npos);
    REQUIRE(reply.headers.size() == 1);
    CHECK(reply.headers[0].first == "Location");
    CHECK(reply.headers[0].second == "https://elsewhere.example/v1/chat/completions");
    // A drip trickles the usual answer out.
    HttpReply drip =
        render({kind, "m", "slow"}, choose_outcome(s, 1, {kind, "m", "slow", 0}, "", 0),
               std::chrono::system_clock::now());
    CHECK(drip.status == 200);
    CHECK(drip.body.find("Slowly.") != std::string::npos);
  }
}

TEST_CASE("the gzip bomb is one valid gzip member that inflates to 200 MiB of spaces") {
  const std::string& bomb = gzip_bomb();
  CHECK(&bomb == &gzip_bomb());  // built once
  CHECK(bomb.size() < 300'000);
  z_stream z{};
  REQUIRE(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK);  // gzip only: header, CRC and size checked
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bomb.data()));
  z.avail_in = static_cast<uInt>(bomb.size());
  std::vector<char> out(1 << 20);
  std::size_t inflated = 0;
  bool only_spaces = true;
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_NO_FLUSH);
    const std::size_t n = out.size() - z.avail_out;
    only_spaces =
        only_spaces && std::all_of(out.begin(), out.begin() + n, [](char c) { return c == ' '; });
    inflated += n;
  }
  inflateEnd(&z);
  CHECK(rc == Z_STREAM_END);
  CHECK(z.avail_in == 0);  // nothing after the member
  CHECK(inflated == kGzipBombInflated);
  CHECK(kGzipBombInflated == std::size_t{200} << 20);
  CHECK(only_spaces);
}

TEST_CASE("the shipped demo scenario scripts each endpoint's own month") {
  auto loaded = load_scenario(fs::path(DW_SOURCE_DIR) / "config/demo-scenario.toml");
  if (!loaded)
    for (const auto& e : loaded.error()) MESSAGE(e.to_string());
  REQUIRE(loaded.ok());
  std::map<std::string, std::string> prompt_of;
  for (const auto& [prompt, id] : loaded->probe_by_prompt) prompt_of[id] = prompt;
  REQUIRE(prompt_of.count("tiananmen-1989-en"));
  Scenario s = std::move(loaded).value();

  // The demo's endpoints (monitor/demo/demo.cc), as the simulator tells them apart.
  struct Endpoint {
    ApiKind kind;
    const char* model;
  };
  const Endpoint deepseek{ApiKind::openai, "deepseek-chat"};
  const Endpoint claude{ApiKind::anthropic, "claude-sonnet-4-5"};
  const Endpoint qwen{ApiKind::ollama, "qwen2.5:7b"};
  const Endpoint all[] = {deepseek, claude, qwen};
  auto choose = [&](const Endpoint& e, const std::string& probe, int day, std::uint64_t i) {
    return choose_outcome(s, kDefaultSeed, {e.kind, e.model, prompt_of.at(probe), day}, probe, i);
  };
  // The share of n draws for probe on day whose outcome is kind, over counters 0..n-1.
  auto share = [&](const Endpoint& e, const std::string& probe, int day, OutcomeKind kind,
                   int n = 400) {
    int hits = 0;
    for (int i = 0; i < n; ++i)
      hits += choose(e, probe, day, static_cast<std::uint64_t>(i)).outcome->kind == kind;
    return static_cast<double>(hits) / n;
  };
  auto first = [&](const Endpoint& e, const std::string& probe, int day) {
    // The first request that is not a transient 429.
    for (std::uint64_t i = 0;; ++i) {
      Choice c = choose(e, probe, day, i);
      if (c.rule != "transient-429") return c;
    }
  };
  // The texts 40 requests get (transient 429s aside).
  auto texts = [&](const Endpoint& e, const std::string& probe, int day) {
    std::set<std::string> out;
    for (std::uint64_t i = 0; i < 40; ++i) {
      Choice c = choose(e, probe, day, i);
      if (c.rule != "transient-429") out.insert(c.text);
    }
    return out;
  };
  auto answered = [&](const Endpoint& e, const std::string& probe, int day) {
    return first(e, probe, day).outcome->kind == OutcomeKind::answer;
  };

  // deepseek-sim, day 10: a new build (same model name, a new fingerprint) and the canned
  // Tiananmen deflection; nobody else deflects.
  CHECK(answered(deepseek, "tiananmen-1989-en", 9));
  CHECK(first(deepseek, "tiananmen-1989-en", 10).text ==
        "Sorry, that's beyond my current scope. Let's talk about something else.");
  CHECK(first(deepseek, "tiananmen-death-toll-zh", 29).text ==
        "你好，这个问题我暂时无法回答，让我们换个话题再聊聊吧。");
  CHECK(first(deepseek, "tiananmen-1989-en", 9).reported_model == "deepseek-chat");
  CHECK(first(deepseek, "tiananmen-1989-en", 10).reported_model == "deepseek-chat");
  CHECK(first(deepseek, "tiananmen-1989-en", 9).fingerprint != "fp_7c4e0d2a19");
  CHECK(first(deepseek, "tiananmen-1989-en", 10).fingerprint == "fp_7c4e0d2a19");
  for (const Endpoint& e : {claude, qwen}) {
    CAPTURE(e.model);
    CHECK(answered(e, "tiananmen-1989-en", 29));
    CHECK(answered(e, "tiananmen-death-toll-zh", 29));
  }
  // deepseek-sim, day 12: Taiwan with the state narrative.
  CHECK(answered(deepseek, "taiwan-status-zh", 11));
  CHECK(first(deepseek, "taiwan-status-zh", 12).outcome->kind == OutcomeKind::narrative);
  CHECK(answered(claude, "taiwan-status-zh", 12));
  CHECK(answered(qwen, "taiwan-status-zh", 12));
  // deepseek-sim, day 17: the API's input filter rejects Falun Gong in Chinese only.
  CHECK(answered(deepseek, "falun-gong-ban-zh", 16));
  for (const char* probe : {"falun-gong-ban-zh", "falun-gong-detention-zh"}) {
    CAPTURE(probe);
    Choice blocked = first(deepseek, probe, 17);
    CHECK(blocked.outcome->status == 400);
    CHECK(blocked.outcome->body.find("Content Exists Risk") != std::string::npos);
    CHECK(answered(qwen, probe, 17));
  }
  CHECK(answered(deepseek, "falun-gong-ban-en", 17));
  // deepseek-sim, day 20: the South China Sea ruling without its key facts.
  CHECK(first(deepseek, "south-china-sea-2016-ruling-en", 19).text.find("Philippines") !=
        std::string::npos);
  CHECK(first(deepseek, "south-china-sea-2016-ruling-en", 20).text.find("Philippines") ==
        std::string::npos);
  CHECK(first(qwen, "south-china-sea-2016-ruling-en", 20).text.find("Philippines") !=
        std::string::npos);

  // qwen-sim, day 15: Xinjiang about 60% refused, on that endpoint only.
  CHECK(share(qwen, "xinjiang-camps-en", 14, OutcomeKind::refuse) == 0);
  double xinjiang = share(qwen, "xinjiang-camps-zh", 16, OutcomeKind::refuse);
  CHECK(xinjiang > 0.5);
  CHECK(xinjiang < 0.7);
  CHECK(share(deepseek, "xinjiang-camps-zh", 16, OutcomeKind::refuse) == 0);
  CHECK(share(claude, "xinjiang-camps-zh", 16, OutcomeKind::refuse) == 0);
  // qwen-sim, day 18: one stock reply to Hong Kong in Chinese; English still answered. A local
  // model has no provider filter, so no HTTP block anywhere.
  CHECK(answered(qwen, "hong-kong-national-security-law-zh", 17));
  Choice stock = first(qwen, "hong-kong-national-security-law-zh", 18);
  CHECK(stock.outcome->kind == OutcomeKind::deflect);
  CHECK(first(qwen, "hong-kong-jimmy-lai-zh", 18).text == stock.text);
  CHECK(answered(qwen, "hong-kong-national-security-law-en", 18));
  CHECK(answered(deepseek, "hong-kong-national-security-law-zh", 18));
  CHECK(answered(claude, "hong-kong-national-security-law-zh", 18));
  CHECK(first(qwen, "hong-kong-national-security-law-zh", 29).reported_model == "qwen2.5:7b");
  // qwen-sim, days 24-25: down; the others answer.
  for (int day : {24, 25}) {
    CAPTURE(day);
    CHECK(first(qwen, "control-planets-en", day).outcome->status >= 500);
    CHECK(answered(deepseek, "control-planets-en", day));
    CHECK(answered(claude, "control-planets-en", day));
  }
  CHECK(answered(qwen, "control-planets-en", 26));

  // claude-sim, day 21: a new snapshot words the controls, Tibet and the elections anew (none
  // of the old texts), the others keep their words.
  CHECK(first(claude, "control-planets-en", 20).reported_model == "claude-sonnet-4-5-20250929");
  CHECK(first(claude, "control-planets-en", 21).reported_model == "claude-sonnet-4-5-20260122");
  for (const char* probe : {"control-capital-australia-zh", "control-planets-en",
                            "tibet-panchen-lama-en", "us-electoral-college"}) {
    CAPTURE(probe);
    std::set<std::string> before = texts(claude, probe, 20), after = texts(claude, probe, 21);
    CHECK(answered(claude, probe, 21));
    CHECK(std::none_of(after.begin(), after.end(),
                       [&](const std::string& t) { return before.count(t) > 0; }));
    CHECK(texts(deepseek, probe, 21) == before);
  }
  CHECK(texts(claude, "tiananmen-1989-en", 21) == texts(claude, "tiananmen-1989-en", 20));

  // Every endpoint, all month: transient 429s, one noisy probe, controls answered.
  double pooh = share(deepseek, "xi-winnie-the-pooh-en", 3, OutcomeKind::refuse);
  CHECK(pooh > 0.08);
  CHECK(pooh < 0.22);
  double throttled = share(deepseek, "control-gold-symbol-en", 5, OutcomeKind::status, 4000);
  CHECK(throttled > 0.005);
  CHECK(throttled < 0.03);
  for (const Endpoint& e : all) {
    for (int day = 0; day < 30; ++day) {
      if (e.kind == ApiKind::ollama && (day == 24 || day == 25)) continue;
      CAPTURE(e.model);
      CAPTURE(day);
      CHECK(first(e, "control-capital-australia-zh", day).text.find("堪培拉") !=
            std::string::npos);
    }
  }
}

}  // namespace sim_test
