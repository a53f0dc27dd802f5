// Runs the built driftwatch binary: `check` on the shipped example config and on broken copies.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "child.h"
#include "common/install_paths.h"
#include "scratch.h"

namespace cli_check_test {

namespace fs = std::filesystem;

namespace {

const fs::path kExample = fs::path(DW_SOURCE_DIR) / "config/driftwatch.example.toml";

using dw::test::Outcome;
using dw::test::contains;
using dw::test::slurp;

// A scratch folder laid out like the repository (config/ beside probes/), removed at the end.
class RepoScratch : public dw::test::Scratch {
 public:
  RepoScratch() {
    fs::create_directories(root() / "config");
    fs::create_directory_symlink(fs::path(DW_SOURCE_DIR) / "probes", root() / "probes");
  }
};

// driftwatch ARGS... with env ("NAME=value") added to an environment without keys or
// DRIFTWATCH_CONFIG.
Outcome run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  dw::test::Scratch io;
  return dw::test::run_driftwatch(io, args, env);
}

// "LINE:COLUMN" of the first occurrence of needle in text at or after from.
std::string position_of(const std::string& text, const std::string& needle, size_t from) {
  size_t at = text.find(needle, from);
  REQUIRE(at != std::string::npos);
  size_t line_start = text.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  int line = 1;
  for (size_t i = 0; i < at; ++i) line += text[i] == '\n' ? 1 : 0;
  return std::to_string(line) + ":" + std::to_string(at - line_start + 1);
}

}  // namespace

TEST_CASE("check accepts the shipped example and summarises it") {
  auto o = run({"-c", kExample, "check", "--at", "2026-01-15T07:00:00Z"},
               {"DEEPSEEK_API_KEY=sk-test-not-a-real-key"});
  INFO(o.err);
  REQUIRE(o.code == 0);
  CHECK(o.err.empty());
  const char* expected[] = {
      "config /",
      "driftwatch.example.toml: ok",
      "endpoints (3):",
      "deepseek    openai     deepseek-chat      https://api.deepseek.com/v1/chat/completions",
      "key: $DEEPSEEK_API_KEY (readable)",
      "key: $ANTHROPIC_API_KEY (not readable now: API key variable $ANTHROPIC_API_KEY is not set)",
      "claude      anthropic  claude-sonnet-4-5  https://api.anthropic.com/v1/messages",
      "qwen-local  ollama     qwen2.5:7b         http://127.0.0.1:11434/api/chat",
      "probe sets (3, ",
      "  china-sensitive: ",
      "  us-politics: ",
      "  controls: ",
      "tiananmen ",
      "zh-Hans ",
      "schedule (UTC, jitter 5m, run deadline 20m):",
      "probes \"0 */6 * * *\": next 2026-01-15T12:00:00Z, 2026-01-15T18:00:00Z, "
      "2026-01-16T00:00:00Z",
      "report \"30 6 * * *\": next 2026-01-16T06:30:00Z",
  };
  for (const char* line : expected) {
    CAPTURE(line);
    CHECK(contains(o.out, line));
  }
  CHECK_FALSE(contains(o.out, "sk-test-not-a-real-key"));
  // Keys from the environment outlive their use in /proc/PID/environ: check says so.
  CHECK(contains(o.out, "note: a key from the environment stays readable in /proc/PID/environ"));
}

TEST_CASE("an error quoting a value with control characters stays one line") {
  RepoScratch dir;
  std::string example = slurp(kExample);
  const std::string from = "base_url = \"https://api.deepseek.com/v1\"";
  size_t at = example.find(from);
  REQUIRE(at != std::string::npos);
  example.replace(at, from.size(), "base_url = \"ftp://x\\r\\nInjected: yes\"");
  fs::path config = dir.write("config/driftwatch.toml", example);
  auto o = run({"-c", config, "check"});
  CHECK(o.code == 1);
  CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
  CHECK(contains(o.err, "\\r\\nInjected: yes"));
}

TEST_CASE("check reads the config named by $DRIFTWATCH_CONFIG when -c is not given") {
  auto o = run({"check"}, {"DRIFTWATCH_CONFIG=" + kExample.string()});
  CHECK(o.code == 0);
  CHECK(contains(o.out, "driftwatch.example.toml: ok"));
}

TEST_CASE("check reports broken copies of the example with their exact location") {
  const std::string example = slurp(kExample);
  REQUIRE_FALSE(example.empty());
  struct Case {
    const char* from;     // text in the example
    const char* to;       // what the broken copy has instead
    const char* located;  // the text the error points at, in the broken copy
    const char* message;
  };
  const Case cases[] = {
      {"temperature = 0.0", "temprature = 0.0", "temprature",
       "unknown key 'temprature' in [[endpoint]] 'deepseek'; did you mean 'temperature'?"},
      {"kind = \"anthropic\"", "kind = \"antropic\"", "\"antropic\"",
       "unknown endpoint kind 'antropic'; did you mean 'anthropic'? (kinds: openai, anthropic, "
       "ollama and gemini)"},
      {"max_tokens = 512", "max_tokens = \"512\"", "\"512\"",
       "'max_tokens' must be an integer, not a string"},
      {"timezone = \"UTC\"", "timezone = \"Mars/Base\"", "\"Mars/Base\"",
       "'timezone': unknown time zone 'Mars/Base'"},
      {"probes = \"0 */6 * * *\"", "probes = \"0 */6 * *\"", "\"0 */6 * *\"",
       "'probes': invalid schedule '0 */6 * *': expected five fields"},
      {"listen = \"127.0.0.1:9464\"", "listen = \"127.0.0.1\"", "\"127.0.0.1\"",
       "'listen' must be HOST:PORT such as \"127.0.0.1:9464\"; '127.0.0.1' has no ':PORT'"},
      {"api_key_env = \"DEEPSEEK_API_KEY\"", "api_key = \"sk-oops-a-real-key\"", "api_key",
       "'api_key' in [[endpoint]] 'deepseek' would put the key itself in the config file; say "
       "where it lives instead: api_key_env = \"VARIABLE\", api_key_file = \"PATH\" or "
       "api_key_credential = \"NAME\" (a systemd credential)"},
      {"\"../probes/controls.toml\"", "\"../probes/missing.toml\"", "\"../probes/missing.toml\"",
       "probe set '../probes/missing.toml' not found"},
      {"samples = 3", "samples = 3\ndeadline = \"0s\"", "\"0s\"",
       "'deadline' must be between 1s and 7d, not 0s"},
      {"samples = 3", "samples = 3\ndeadline = \"abc\"", "\"abc\"",
       "'deadline': invalid duration 'abc': expected a whole number"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.to);
    size_t at = example.find(c.from);
    REQUIRE(at != std::string::npos);
    std::string broken = example;
    broken.replace(at, std::string(c.from).size(), c.to);
    RepoScratch dir;
    fs::path file = dir.write("config/driftwatch.toml", broken);
    auto o = run({"-c", file, "check"});
    CHECK(o.code == 1);
    CHECK(o.out.empty());
    std::string prefix = file.string() + ":" + position_of(broken, c.located, at) + ": " + c.message;
    CHECK(o.err.substr(0, prefix.size()) == prefix);
    CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
    CHECK_FALSE(contains(o.err, "sk-oops"));
  }
}

TEST_CASE("check prints every error, one per line") {
  std::string broken = slurp(kExample);
  for (auto [from, to] : {std::pair<std::string, std::string>{"samples = 3", "samples = 0"},
                          {"retries = 2", "retries = 20"},
                          {"concurrency = 1", "concurrency = \"one\""}}) {
    size_t at = broken.find(from);
    REQUIRE(at != std::string::npos);
    broken.replace(at, from.size(), to);
  }
  RepoScratch dir;
  fs::path file = dir.write("config/driftwatch.toml", broken);
  auto o = run({"-c", file, "check"});
  CHECK(o.code == 1);
  std::istringstream lines(o.err);
  std::string line;
  std::vector<std::string> keys{"'samples'", "'retries'", "'concurrency'"};
  size_t n = 0;
  while (std::getline(lines, line)) {
    REQUIRE(n < keys.size());
    CHECK(line.rfind(file.string() + ":", 0) == 0);
    CHECK(contains(line, keys[n]));
    ++n;
  }
  CHECK(n == 3);
}

TEST_CASE("check reports errors in a probe set with that file's location") {
  std::string config = slurp(kExample);
  const std::string from = "\"../probes/controls.toml\"";
  config.replace(config.find(from), from.size(), "\"bad.toml\"");
  RepoScratch dir;
  fs::path file = dir.write("config/driftwatch.toml", config);
  fs::path set = dir.write("config/bad.toml",
                           "name = \"bad\"\n\n[[probe]]\nid = \"x\"\ncategory = \"c\"\n"
                           "lang = \"en\"\npromt = \"What?\"\n");
  auto o = run({"-c", file, "check"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, set.string() + ":7:1: unknown key 'promt'"));

  // A broken rule pack beside it: both are reported, the probe set's first.
  const fs::path shipped = fs::path(DW_SOURCE_DIR) / "config/rules";
  fs::copy(shipped, dir.root() / "config/rules");
  std::string canned = slurp(shipped / "canned.toml");
  canned.replace(canned.find("weight = "), 9, "wieght = ");
  fs::path pack = dir.write("config/rules/canned.toml", canned);
  o = run({"-c", file, "check"});
  INFO(o.err);
  CHECK(o.code == 1);
  // The set's two (its prompt is missing, its key unknown), then the pack's.
  CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 3);
  const size_t set_line = o.err.find(set.string() + ":7:1: unknown key 'promt'");
  const size_t pack_line = o.err.find(pack.string() + ":");
  REQUIRE(set_line != std::string::npos);
  REQUIRE(pack_line != std::string::npos);
  CHECK(set_line < pack_line);
  CHECK(contains(o.err.substr(pack_line), "unknown key 'wieght' (did you mean 'weight'?)"));
}

TEST_CASE("check fails cleanly without a config file, and --help works") {
  RepoScratch dir;
  fs::path missing = dir.root() / "nowhere.toml";
  auto o = run({"-c", missing, "check"});
  CHECK(o.code == 1);
  CHECK(o.out.empty());
  CHECK(o.err == missing.string() + ": cannot read config file: No such file or directory\n");

  auto bad_time = run({"-c", kExample, "check", "--at", "yesterday"});
  CHECK(bad_time.code == 1);
  CHECK(contains(bad_time.err, "invalid time 'yesterday'"));

  auto help = run({"--help"});
  CHECK(help.code == 0);
  CHECK(contains(help.out, "check"));
  auto check_help = run({"check", "--help"});
  CHECK(check_help.code == 0);
  CHECK(contains(check_help.out, "--at TIME"));
  CHECK(contains(check_help.out, "validate the config"));
}

TEST_CASE("check bounds every TOML file before parsing: a located error, exit 1, no crash") {
  std::string deep = "[a";
  for (int i = 0; i < 50000; ++i) deep += ".a";
  RepoScratch dir;
  fs::path config = dir.write("config/driftwatch.toml", deep + "]\n");
  auto o = run({"-c", config, "check"});
  CHECK(o.code == 1);
  CHECK(o.err == config.string() + ":1:65: nesting deeper than 32 levels\n");

  // A probe set and a rule pack the config names are bounded too.
  fs::path shipped = fs::path(DW_SOURCE_DIR) / "config/rules";
  fs::copy(shipped, dir.root() / "config/rules");
  fs::path pack = dir.write("config/rules/zz-deep.toml", "x = " + std::string(1000, '[') + "\n");
  config = dir.write("config/driftwatch.toml", slurp(kExample));
  o = run({"-c", config, "check"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, pack.string() + ":1:36: nesting deeper than 32 levels"));
}

TEST_CASE("check summarises the rule packs the config names") {
  auto o = run({"-c", kExample, "check"}, {"DEEPSEEK_API_KEY=sk-test"});
  INFO(o.err);
  REQUIRE(o.code == 0);
  const std::string rules_dir = (fs::path(DW_SOURCE_DIR) / "config/rules").string();
  size_t at = o.out.find("rules (12 packs, ");
  REQUIRE(at != std::string::npos);
  std::string line = o.out.substr(at, o.out.find('\n', at) - at);
  size_t version = line.find("classifier ");
  REQUIRE(version != std::string::npos);
  std::string hex = line.substr(version + 11, 16);
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(line.substr(version + 27) == "): " + fs::weakly_canonical(rules_dir).string());
  for (const char* pack : {"  boilerplate: ", "  canned: ", "  declines: ", "  deflections: ",
                           "  filters: ", "  lectures: ", "  narrative: ", "  refusals: ",
                           "  scoring: ", "  state-voice: ", "  tasks: ", "  traces: "}) {
    CAPTURE(pack);
    CHECK(contains(o.out, pack));
  }
  CHECK(contains(o.out, "  refusals: 12 rules (refused "));
}

TEST_CASE("check reports a broken rule pack with its exact location") {
  const fs::path shipped = fs::path(DW_SOURCE_DIR) / "config/rules";
  struct Case {
    const char* pack;
    const char* from;     // text in the shipped pack
    const char* to;       // what the broken copy has instead
    const char* located;  // the text the error points at, in the broken copy
    const char* message;
  };
  const Case cases[] = {
      {"refusals.toml", "votes = \"refused\"", "votes = \"refussed\"", "\"refussed\"",
       "rule 'refusal.en.cannot': unknown vote 'refussed' (did you mean 'refused'?); one of "},
      {"canned.toml", "weight = ", "wieght = ", "wieght",
       "unknown key 'wieght' (did you mean 'weight'?)"},
      {"narrative.toml", "patterns = ['''", "patterns = ['''(?<=x)", "'''(?<=x)",
       "invalid pattern: invalid perl operator: (?< (at '(?<')"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.to);
    RepoScratch dir;
    fs::copy(shipped, dir.root() / "config/rules");
    std::string text = slurp(shipped / c.pack);
    size_t at = text.find(c.from);
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string(c.from).size(), c.to);
    fs::path pack = dir.write(std::string("config/rules/") + c.pack, text);
    fs::path config = dir.write("config/driftwatch.toml", slurp(kExample));
    auto o = run({"-c", config, "check"});
    CHECK(o.code == 1);
    CHECK(o.out.empty());
    std::string prefix = pack.string() + ":" + position_of(text, c.located, at) + ": ";
    CHECK(o.err.substr(0, prefix.size()) == prefix);
    CHECK(contains(o.err.substr(0, o.err.find('\n')), c.message));
    CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
  }
}

TEST_CASE("a config without [classifier] rules uses the rules beside it, else the shipped packs") {
  const std::string minimal = "[probes]\nsets = [\"" +
                              (fs::path(DW_SOURCE_DIR) / "probes/controls.toml").string() +
                              "\"]\n[[endpoint]]\nname = \"local\"\nkind = \"ollama\"\n"
                              "model = \"qwen2.5:7b\"\n";
  // The "rules (...): DIR" line and the "from:" line after it.
  auto rules_lines = [](const std::string& out) {
    size_t at = out.find("\nrules (");
    REQUIRE(at != std::string::npos);
    size_t end = out.find('\n', at + 1);
    size_t next = out.find('\n', end + 1);
    return std::pair{out.substr(at + 1, end - at - 1), out.substr(end + 1, next - end - 1)};
  };
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };

  SUBCASE("no rules folder beside it: the shipped packs, and check says which") {
    dw::test::Scratch dir;
    fs::path config = dir.write("driftwatch.toml", minimal);
    auto o = run({"-c", config, "check"});
    INFO(o.err);
    REQUIRE(o.code == 0);
    CHECK_FALSE(contains(o.err, "rules folder not found"));
    const dw::ShippedRules shipped = dw::shipped_rules_dir();
    auto [line, from] = rules_lines(o.out);
    CHECK(ends_with(line, "): " + shipped.dir.string()));
    CHECK(from == (shipped.installed
                       ? "  from: the installed rule packs ([classifier] rules is not set and "
                         "no rules folder is beside the config)"
                       : "  from: the source tree's rule packs, none are installed ([classifier] "
                         "rules is not set and no rules folder is beside the config)"));
  }

  SUBCASE("a rules folder beside it wins over the shipped packs") {
    dw::test::Scratch dir;
    fs::copy(fs::path(DW_SOURCE_DIR) / "config/rules", dir.root() / "rules");
    fs::path config = dir.write("driftwatch.toml", minimal);
    auto o = run({"-c", config, "check"});
    INFO(o.err);
    REQUIRE(o.code == 0);
    auto [line, from] = rules_lines(o.out);
    CHECK(ends_with(line, "): " + (dir.root() / "rules").string()));
    CHECK(from == "  from: the rules folder beside the config ([classifier] rules is not set)");
  }

  SUBCASE("the key, when given, is the only place looked at") {
    dw::test::Scratch dir;
    fs::path config = dir.write("driftwatch.toml", minimal + "[classifier]\nrules = \"packs\"\n");
    auto o = run({"-c", config, "check"});
    CHECK(o.code == 1);
    CHECK(contains(o.err, (dir.root() / "packs").string()));
    CHECK(contains(o.err, "rules folder not found"));

    auto example = run({"-c", kExample, "check"}, {"DEEPSEEK_API_KEY=sk-test"});
    REQUIRE(example.code == 0);
    CHECK(rules_lines(example.out).second == "  from: named by [classifier] rules");
  }
}

}  // namespace cli_check_test
