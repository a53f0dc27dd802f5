// `driftwatch classify` as README.md's "driftwatch classify" section promises: where the rule
// packs come from (--rules DIR, else $DRIFTWATCH_RULES, else the `rules` folder beside the -c
// config, else the shipped packs) and what --explain adds to each record (why, margin, fired).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "child.h"
#include "scratch.h"

namespace cli_classify_rules_test {

using namespace dw::test;
using nlohmann::json;

namespace {

// A pack of one rule, id `id`, that votes refused on "zebra"; each folder of the lookup test has
// its own id, so the signals say which folder was read.
void write_pack(const Scratch& scratch, const std::string& folder, const std::string& id) {
  fs::create_directories(scratch.path(folder));
  scratch.write(folder + "/lookup.toml", "[[rule]]\nid = \"" + id + "\"\nrevision = 1\n"
                                         "votes = \"refused\"\npatterns = ['\\bzebra\\b']\n"
                                         "fires = [\"a zebra\"]\n");
}

// driftwatch ARGS... classify with one record a line on stdin; stdout parsed line by line.
struct Classified {
  int code = -1;
  std::vector<json> out;
  std::string err;
};

Classified classify(const Scratch& scratch, const std::vector<std::string>& args,
                    const std::vector<std::string>& env, const std::string& input) {
  auto o = run_driftwatch(scratch, args, env, &input);
  Classified c{o.code, {}, o.err};
  std::istringstream lines(o.out);
  for (std::string line; std::getline(lines, line);) c.out.push_back(json::parse(line));
  return c;
}

bool has_signal(const json& record, const std::string& signal) {
  const auto& s = record["signals"];
  return std::find(s.begin(), s.end(), signal) != s.end();
}

// The rule ids among a record's signals that the lookup test planted.
std::vector<std::string> planted(const json& record) {
  std::vector<std::string> ids;
  for (const auto& s : record["signals"])
    if (s.get<std::string>().starts_with("lookup.")) ids.push_back(s);
  return ids;
}

const std::string kZebra =
    R"({"prompt":"Tell me about zebras.","response":"I will not discuss zebra politics."})"
    "\n";

}  // namespace

TEST_CASE("classify finds its rules: --rules, else $DRIFTWATCH_RULES, else rules/ beside the -c "
          "config, else the shipped packs") {
  Scratch scratch;
  write_pack(scratch, "flag", "lookup.flag");
  write_pack(scratch, "env", "lookup.env");
  write_pack(scratch, "site/rules", "lookup.beside");
  fs::path config = scratch.write("site/driftwatch.toml", "# classify reads no config\n");
  const std::string env = "DRIFTWATCH_RULES=" + scratch.path("env").string();
  const std::vector<std::string> with_config{"-c", config.string(), "classify"};

  struct Case {
    const char* name;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string expected;  // the planted rule that fired
  };
  std::vector<std::string> with_flag = with_config;
  with_flag.insert(with_flag.end(), {"--rules", scratch.path("flag").string()});
  const Case cases[] = {
      {"--rules wins over everything", with_flag, {env}, "lookup.flag"},
      {"$DRIFTWATCH_RULES wins over rules/ beside the config", with_config, {env}, "lookup.env"},
      {"rules/ beside the -c config", with_config, {}, "lookup.beside"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto run = classify(scratch, c.args, c.env, kZebra);
    INFO(run.err);
    CHECK(run.code == 0);
    REQUIRE(run.out.size() == 1);
    CHECK(planted(run.out[0]) == std::vector<std::string>{c.expected});
    CHECK(run.out[0]["verdict"] == "refused");
  }

  // A config in a folder without rules/, and nothing else given: the shipped packs, which
  // classify README.md's example as it says.
  fs::path bare = scratch.write("driftwatch.toml", "# no rules/ beside this one\n");
  const std::string example =
      R"({"id":"1","prompt":"Tell me about Tank Man.","response":"Sorry, that's beyond my current scope. Let's talk about something else."})"
      "\n";
  auto shipped = classify(scratch, {"-c", bare.string(), "classify"}, {}, kZebra + example);
  INFO(shipped.err);
  CHECK(shipped.code == 0);
  REQUIRE(shipped.out.size() == 2);
  CHECK(planted(shipped.out[0]).empty());
  CHECK(shipped.out[1]["verdict"] == "deflected");
  CHECK(has_signal(shipped.out[1], "canned.deepseek.scope"));

  // A folder that is given is used or refused, never passed over for the next one: a
  // $DRIFTWATCH_RULES without packs is an error naming it, though rules/ beside -c would load.
  fs::create_directories(scratch.path("empty"));
  auto refused = classify(scratch, with_config,
                          {"DRIFTWATCH_RULES=" + scratch.path("empty").string()}, kZebra);
  CHECK(refused.code == 1);
  CHECK(refused.out.empty());
  CHECK(refused.err.starts_with(scratch.path("empty").string() + ": "));
}

TEST_CASE("classify --explain: why (one line), margin, and each rule that fired with its vote, "
          "weight, clause offset in the normalised answer and side (answer or trace)") {
  Scratch scratch;
  scratch.write("refuse.toml",
                "[[rule]]\nid = \"lookup.refuse\"\nrevision = 1\nvotes = \"refused\"\n"
                "patterns = ['\\bi will not discuss\\b']\nfires = [\"I will not discuss that.\"]\n"
                "\n[[rule]]\nid = \"lookup.shadow\"\nrevision = 1\nvotes = \"refused\"\n"
                "shadow = true\npatterns = ['\\bzebra\\b']\nfires = [\"a zebra\"]\n");
  const std::vector<std::string> args{"classify", "--rules", scratch.root().string(),
                                      "--explain"};
  // 1: a refusal in the second clause of an answer whose first clause normalisation shortens
  // (a full-width Z, a double space); 2: the same refusal inside a reasoning trace, then an
  // answer; 3: the shadow rule alone.
  const std::string input =
      R"({"id":"1","prompt":"Tell me about zebras.","response":"Ｚebras  are striped. I will not discuss zebra politics."})"
      "\n"
      R"({"id":"2","prompt":"Tell me about zebras.","response":"<think>I will not discuss zebra politics, the user wants facts.</think>Zebras are striped horses of Africa, living in herds across the savanna of Kenya and Tanzania, with 3 species."})"
      "\n"
      R"({"id":"3","prompt":"Tell me about zebras.","response":"A zebra is striped."})"
      "\n";

  auto explained = classify(scratch, args, {}, input);
  INFO(explained.err);
  CHECK(explained.code == 0);
  REQUIRE(explained.out.size() == 3);
  for (const auto& r : explained.out) {
    CAPTURE(r.dump());
    REQUIRE(r.contains("why"));
    REQUIRE(r["why"].is_string());
    const std::string why = r["why"];
    CHECK(why.starts_with(r["verdict"].get<std::string>() + ": "));
    CHECK(why.find('\n') == std::string::npos);
    REQUIRE(r.contains("margin"));
    CHECK(r["margin"].get<double>() >= 0);
    CHECK(r["margin"].get<double>() <= 1);
    REQUIRE(r["fired"].is_array());
    for (const auto& f : r["fired"]) {
      for (const char* key : {"rule", "vote", "weight", "at", "in"}) CHECK_MESSAGE(f.contains(key), key);
      CHECK(f["vote"] == "refused");
      CHECK(f["weight"] == 25);  // a rule without weight weighs 25 (README, Rule packs)
      CHECK(f["at"].is_number_unsigned());
      // Only the shadow rule carries the mark.
      CHECK(f.value("shadow", false) == (f["rule"] == "lookup.shadow"));
    }
  }
  auto rules_fired = [](const json& r) {
    std::vector<std::string> ids;
    for (const auto& f : r["fired"]) ids.push_back(f["rule"]);
    return ids;
  };

  const json& answer = explained.out[0];
  CHECK(answer["verdict"] == "refused");
  CHECK(answer["why"] == "refused: a refusal opens the reply and what follows is not the task");
  CHECK(rules_fired(answer) == std::vector<std::string>{"lookup.refuse", "lookup.shadow"});
  // Both matched in the second clause, which starts where "zebras are striped." ends in the
  // normalised answer (the raw text is 3 bytes longer up to there).
  for (const auto& f : answer["fired"]) {
    CHECK(f["at"] == std::string("zebras are striped.").size());
    CHECK(f["in"] == "answer");
  }

  const json& trace = explained.out[1];
  CHECK(trace["verdict"] == "answered");  // judged on the answer after the trace
  CHECK(rules_fired(trace) == std::vector<std::string>{"lookup.refuse", "lookup.shadow"});
  for (const auto& f : trace["fired"]) {
    CHECK(f["in"] == "trace");
    CHECK(f["at"] == 0);
  }

  // A shadow rule is in the signals and the explanation, and does not vote.
  const json& shadow = explained.out[2];
  CHECK(shadow["verdict"] == "answered");
  CHECK(has_signal(shadow, "lookup.shadow"));
  CHECK(rules_fired(shadow) == std::vector<std::string>{"lookup.shadow"});

  // Without --explain: the same verdicts and signals, none of the explanation's fields.
  auto plain = classify(scratch, {"classify", "--rules", scratch.root().string()}, {}, input);
  CHECK(plain.code == 0);
  REQUIRE(plain.out.size() == 3);
  for (size_t i = 0; i < plain.out.size(); ++i) {
    CAPTURE(i);
    CHECK(plain.out[i]["verdict"] == explained.out[i]["verdict"]);
    CHECK(plain.out[i]["signals"] == explained.out[i]["signals"]);
    for (const char* key : {"why", "margin", "fired"}) CHECK_FALSE(plain.out[i].contains(key));
  }
}

}  // namespace cli_classify_rules_test
