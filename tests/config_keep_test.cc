// [storage] keep: how long the daemon keeps samples. Read as durations are elsewhere, or as
// whole years; a bad value is one located error naming the key.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "scratch.h"

namespace config_keep_test {

namespace fs = std::filesystem;
using namespace dw::config;
using std::chrono::days;

namespace {

// Lines 1-6; [storage] follows on line 7, its key on line 8.
const char* const kMinimal =
    "[probes]\n"
    "sets = [\"p.toml\"]\n"
    "[[endpoint]]\n"
    "name = \"deepseek\"\n"
    "kind = \"openai\"\n"
    "model = \"deepseek-chat\"\n";

}  // namespace

TEST_CASE("[storage] keep: absent keeps everything; durations and whole years are read") {
  dw::test::Scratch dir;
  dir.write("p.toml", "");
  fs::path file = dir.path("driftwatch.toml");
  auto absent = parse(kMinimal, file);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->keep.has_value());
  struct Case {
    const char* value;
    std::chrono::seconds keep;
  };
  for (const Case& c : {Case{"2y", days(730)}, Case{"730d", days(730)}, Case{"1d", days(1)},
                        Case{"100y", days(36500)}, Case{"36h", std::chrono::hours(36)}}) {
    INFO(std::string(c.value));
    auto config = parse(std::string(kMinimal) + "[storage]\nkeep = \"" + c.value + "\"\n", file);
    REQUIRE(config.ok());
    REQUIRE(config->keep.has_value());
    CHECK(*config->keep == c.keep);
  }
}

TEST_CASE("[storage] keep: a bad value is one error at the value") {
  dw::test::Scratch dir;
  dir.write("p.toml", "");
  fs::path file = dir.path("driftwatch.toml");
  struct Case {
    const char* line;  // line 8
    const char* where;
    const char* message;
  };
  const Case cases[] = {
      {"keep = \"0s\"", "8:8", "'keep' must be between 1d and 100y, not 0s"},
      {"keep = \"12h\"", "8:8", "'keep' must be between 1d and 100y, not 12h"},
      {"keep = \"101y\"", "8:8", "'keep' must be between 1d and 100y, not 101y"},
      {"keep = \"2 years\"", "8:8",
       "'keep' must be a duration such as \"730d\" or whole years such as \"2y\", not '2 years'"},
      {"keep = \"y\"", "8:8",
       "'keep' must be a duration such as \"730d\" or whole years such as \"2y\", not 'y'"},
      {"keep = 730", "8:8", "'keep' must be a string, not an integer"},
      {"kept = \"2y\"", "8:1", "unknown key 'kept' in [storage]; did you mean 'keep'?"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.line));
    auto config = parse(std::string(kMinimal) + "[storage]\n" + c.line + "\n", file);
    REQUIRE_FALSE(config.ok());
    REQUIRE(config.error().size() == 1);
    CHECK(config.error()[0].to_string() ==
          file.string() + ":" + c.where + ": " + std::string(c.message));
  }
}

}  // namespace config_keep_test
