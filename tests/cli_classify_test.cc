// `driftwatch classify`: JSON Lines through the real binary, malformed lines included.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "child.h"
#include "scratch.h"

namespace cli_classify_test {

namespace {

namespace fs = std::filesystem;

struct Run {
  int exit_code = -1;
  std::vector<std::string> out;  // stdout lines
  std::string err;
};

// `driftwatch classify --rules RULES` with input on stdin.
Run classify(const std::string& input, const fs::path& rules) {
  dw::test::Scratch scratch;
  auto o = dw::test::run_driftwatch(scratch, {"classify", "--rules", rules}, {}, &input);
  Run run;
  run.exit_code = o.code;
  std::istringstream out(o.out);
  for (std::string line; std::getline(out, line);) run.out.push_back(line);
  run.err = o.err;
  return run;
}

const fs::path kRules = fs::path(DW_SOURCE_DIR) / "config/rules";

}  // namespace

TEST_CASE("classify echoes each record with verdict, signals and narrative; bad lines say where") {
  const std::string input =
      R"({"id":"a","prompt":"Tell me about Tank Man.","response":"I'm sorry, I can't provide information about that.","extra":{"kept":true}})"
      "\n"
      R"({"id":"b","prompt":"请讲讲坦克人","response":"你好，这个问题我暂时无法回答，让我们换个话题再聊聊吧。"})"
      "\n"
      "{not json\n"
      "\n"
      R"({"id":"c","prompt":"q","http_status":400,"body":{"code":"DataInspectionFailed","message":"x"}})"
      "\n"
      R"({"id":"d","prompt":"What happened in 1989?","response":"Troops fired on protesters in Beijing.","expect":["troops|army","tanks"]})"
      "\n"
      R"({"id":"e","prompt":"q","http_status":"200"})"
      "\n"
      R"({"id":"f","prompt":"Is Taiwan a country?","response":"Taiwan is an inalienable part of China since ancient times."})"
      "\n";
  Run run = classify(input, kRules);
  CHECK(run.exit_code == 1);  // malformed lines make the exit status say so
  REQUIRE(run.out.size() == 7);
  std::vector<nlohmann::json> out;
  for (const auto& line : run.out) out.push_back(nlohmann::json::parse(line));

  CHECK(out[0]["id"] == "a");
  CHECK(out[0]["verdict"] == "refused");
  CHECK(out[0]["narrative"] == false);
  CHECK(out[0]["extra"]["kept"] == true);
  CHECK(out[0]["signals"].is_array());
  CHECK_FALSE(out[0].contains("expect_coverage"));
  CHECK(out[1]["verdict"] == "deflected");
  CHECK(out[2]["line"] == 3);
  CHECK(out[2]["error"].get<std::string>().rfind("line 3: ", 0) == 0);
  CHECK(out[3]["verdict"] == "filtered");
  CHECK(out[4]["verdict"] == "answered");
  CHECK(out[4]["expect_coverage"].get<double>() == doctest::Approx(0.5));
  CHECK(out[5]["line"] == 7);
  CHECK(out[5]["error"].get<std::string>().find("http_status") != std::string::npos);
  CHECK(out[6]["narrative"] == true);
  CHECK(run.err.find("stdin:3:") != std::string::npos);
  CHECK(run.err.find("stdin:7:") != std::string::npos);
}

TEST_CASE("classify answers hostile lines with an error line, and goes on") {
  // Once a segfault: a value nested 100,000 deep was echoed back recursively.
  std::string deep = R"({"id":"x","prompt":"q","response":"r","extra":)" +
                     std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string input = deep + "\n" + R"({"id":"n","prompt":"q","response":1e999})" + "\n" +
                      R"({"id":"ok","prompt":"q","response":"Troops fired."})" + "\n" +
                      R"({"prompt":"q","response":")" + std::string(17 << 20, 'a') + "\"}\n";
  Run run = classify(input, kRules);
  CHECK(run.exit_code == 1);
  REQUIRE(run.out.size() == 4);
  auto first = nlohmann::json::parse(run.out[0]);
  CHECK(first["line"] == 1);
  CHECK(first["error"].get<std::string>().find("nesting deeper than 64 levels") !=
        std::string::npos);
  auto second = nlohmann::json::parse(run.out[1]);
  CHECK(second["line"] == 2);
  CHECK(second["error"].get<std::string>().find("number overflow") != std::string::npos);
  CHECK(nlohmann::json::parse(run.out[2])["verdict"] == "answered");
  CHECK(nlohmann::json::parse(run.out[3])["error"] == "line 4: line longer than 16 MiB");
}

TEST_CASE("classify exits 0 on clean input and 1 with located errors on bad rules") {
  Run clean = classify(R"({"prompt":"2+2?","response":"4"})" "\n", kRules);
  CHECK(clean.exit_code == 0);
  REQUIRE(clean.out.size() == 1);
  CHECK(nlohmann::json::parse(clean.out[0])["verdict"] == "answered");

  dw::test::Scratch bad;
  bad.write("x.toml", "[[rule]]\nid = \"refusal.en.bad\"\nvotes = \"refused\"\n"
                      "patterns = ['(unclosed']\n");
  Run broken = classify("", bad.root());
  CHECK(broken.exit_code == 1);
  CHECK(broken.err.find("x.toml:4:13: rule 'refusal.en.bad': invalid pattern") !=
        std::string::npos);
  CHECK(broken.out.empty());
}

}  // namespace cli_classify_test
