#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "scratch.h"

namespace config_test {

namespace fs = std::filesystem;
using namespace dw::config;

namespace {

// A fresh folder with an (empty) probe set p.toml in it, removed at the end of the test.
class TempDir : public dw::test::Scratch {
 public:
  TempDir() { write("p.toml", ""); }
  const fs::path& path() const { return root(); }
};

const char* const kMinimal =
    "[probes]\n"
    "sets = [\"p.toml\"]\n"
    "[[endpoint]]\n"
    "name = \"deepseek\"\n"
    "kind = \"openai\"\n"
    "model = \"deepseek-chat\"\n";

}  // namespace

TEST_CASE("bad configs: one located error naming the key") {
  struct Case {
    std::string text;
    const char* where;    // LINE:COLUMN
    const char* message;  // the message, or its start when it goes on with a path
  };
  const std::string m = kMinimal;  // endpoint 'deepseek' at lines 3-6; next line is 7
  const Case cases[] = {
      {m + "temprature = 0.5\n", "7:1",
       "unknown key 'temprature' in [[endpoint]] 'deepseek'; did you mean 'temperature'?"},
      {m + "max_tokens = \"512\"\n", "7:14", "'max_tokens' must be an integer, not a string"},
      {m + "temperature = 3.5\n", "7:15", "'temperature' must be between 0 and 2, not 3.5"},
      {m + "concurrency = 0\n", "7:15", "'concurrency' must be between 1 and 64, not 0"},
      {m + "retries = 11\n", "7:11", "'retries' must be between 0 and 10, not 11"},
      {m + "rate = -1\n", "7:8", "'rate' must be between 0 and 100000, not -1"},
      {m + "timeout = \"0s\"\n", "7:11", "'timeout' must be between 1s and 1h, not 0s"},
      {m + "connect_timeout = \"10 s\"\n", "7:19",
       "'connect_timeout': invalid duration '10 s': unknown unit ' ' (write e.g. \"90s\", "
       "\"5m\", \"6h\", \"1d\" or \"1h30m\")"},
      {m + "base_url = \"ftp://example.com\"\n", "7:12",
       "'base_url' must start with http:// or https://, not 'ftp://example.com'"},
      {m + "base_url = \"https:///v1\"\n", "7:12", "'base_url' has no host, not 'https:///v1'"},
      {m + "base_url = \"https://example.com:0/v1\"\n", "7:12",
       "'base_url' has an invalid port, not 'https://example.com:0/v1'"},
      // A URL with an '@' is never quoted back: the loop below checks SECRET is not shown.
      {m + "base_url = \"https://me:SECRET@api.example.com/v1\"\n", "7:12",
       "'base_url' must not carry credentials (user:password@); use api_key_env or "
       "api_key_file"},
      {m + "base_url = \"htps://me:SECRET@api.example.com\"\n", "7:12",
       "'base_url' must start with http:// or https://"},
      {"[probes]\nsets = [\"p.toml\"]\n[[endpoint]]\nname = \"g\"\nkind = \"gemini\"\n"
       "model = \"gemini-pro?alt=sse\"\n",
       "6:9", "'model' of a gemini endpoint is part of the request's URL: letters, digits, '-', "
              "'.' and '_' only, not 'gemini-pro?alt=sse'"},
      {m + "api_key_env = \"A\"\napi_key_file = \"key.txt\"\n", "8:1",
       "'api_key_file' and 'api_key_env' both given in [[endpoint]] 'deepseek'; use only one "
       "of api_key_env, api_key_file and api_key_credential"},
      {m + "api_key_credential = \"../key\"\n", "7:22",
       "'api_key_credential' is a credential name, not a path: '../key'"},
      {m + "headers = { Authorization = \"Bearer x\" }\n", "7:13",
       "header 'Authorization' would put a credential in the config file; use api_key_env = "
       "\"VARIABLE\", api_key_file = \"PATH\" or api_key_credential = \"NAME\" (a systemd "
       "credential)"},
      {m + "headers = { X-Team = 5 }\n", "7:22", "header 'X-Team' must be a string, not an integer"},
      {m + "system = 7\n", "7:10", "'system' must be a string, not an integer"},
      {"[probes]\nsets = [\"p.toml\"]\n[[endpoint]]\nname = \"deepseek\"\nkind = \"opnai\"\n"
       "model = \"m\"\n",
       "5:8",
       "unknown endpoint kind 'opnai'; did you mean 'openai'? (kinds: openai, anthropic, "
       "ollama and gemini)"},
      {"[probes]\nsets = [\"p.toml\"]\n[[endpoint]]\nname = \"deepseek\"\nkind = \"openai\"\n",
       "3:1", "missing required key 'model' in [[endpoint]] 'deepseek'"},
      {"[probes]\nsets = [\"p.toml\"]\n[[endpoint]]\nkind = \"openai\"\nmodel = \"m\"\n", "3:1",
       "missing required key 'name' in [[endpoint]] #1"},
      {"[probes]\nsets = [\"p.toml\"]\n[[endpoint]]\nname = \"deep seek\"\nkind = \"openai\"\n"
       "model = \"m\"\n",
       "4:8", "'name' must be 1-64 letters, digits, '-', '_' or '.', not 'deep seek'"},
      {m + "[[endpoint]]\nname = \"deepseek\"\nkind = \"ollama\"\nmodel = \"qwen\"\n", "8:8",
       "duplicate endpoint name 'deepseek' (first defined at line 4)"},
      {"[probes]\nsets = [\"p.toml\"]\nsamples = 0\n[[endpoint]]\nname = \"a\"\n"
       "kind = \"ollama\"\nmodel = \"m\"\n",
       "3:11", "'samples' must be between 1 and 100, not 0"},
      {"[probes]\nsets = [\"p.toml\", \"missing.toml\"]\n[[endpoint]]\nname = \"a\"\n"
       "kind = \"ollama\"\nmodel = \"m\"\n",
       "2:19", "probe set 'missing.toml' not found (looked for "},
      {"[probes]\nsets = [\"p.toml\", 3]\n[[endpoint]]\nname = \"a\"\nkind = \"ollama\"\n"
       "model = \"m\"\n",
       "2:19", "'sets' must hold only strings, not an integer"},
      {"[probes]\nsamples = 2\n[[endpoint]]\nname = \"a\"\nkind = \"ollama\"\nmodel = \"m\"\n",
       "1:1", "missing required key 'sets' in [probes]"},
      {"[probes]\nsets = [\"p.toml\"]\ndeadline = \"0s\"\n[[endpoint]]\nname = \"a\"\n"
       "kind = \"ollama\"\nmodel = \"m\"\n",
       "3:12", "'deadline' must be between 1s and 7d, not 0s"},
      {"[probes]\nsets = [\"p.toml\"]\ndeadline = \"abc\"\n[[endpoint]]\nname = \"a\"\n"
       "kind = \"ollama\"\nmodel = \"m\"\n",
       "3:12",
       "'deadline': invalid duration 'abc': expected a whole number (write e.g. \"90s\", \"5m\", "
       "\"6h\", \"1d\" or \"1h30m\")"},
      {"[probes]\nsets = [\"p.toml\"]\ndeadline = 600\n[[endpoint]]\nname = \"a\"\n"
       "kind = \"ollama\"\nmodel = \"m\"\n",
       "3:12", "'deadline' must be a string, not an integer"},
      {"[probes]\nsets = [\"p.toml\"]\ndeadlin = \"5m\"\n[[endpoint]]\nname = \"a\"\n"
       "kind = \"ollama\"\nmodel = \"m\"\n",
       "3:1", "unknown key 'deadlin' in [probes]; did you mean 'deadline'?"},
      {m + "[storage]\ndatabse = \"x.db\"\n", "8:1",
       "unknown key 'databse' in [storage]; did you mean 'database'?"},
      {m + "[storage]\ndatabase = 5\n", "8:12", "'database' must be a string, not an integer"},
      {m + "[storag]\ndatabase = \"x.db\"\n", "7:2",
       "unknown key 'storag' in the file; did you mean 'storage'?"},
      {m + "[schedule]\ntimezone = \"Europe/Berln\"\n", "8:12",
       "'timezone': unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'? (use an "
       "IANA name such as \"UTC\" or \"Europe/Berlin\")"},
      {m + "[schedule]\nprobes = \"0 */6 * *\"\n", "8:10",
       "'probes': invalid schedule '0 */6 * *': expected five fields (minute hour day-of-month "
       "month day-of-week) or \"@every DURATION\", found 4"},
      {m + "[schedule]\nreport = \"30 25 * * *\"\n", "8:10",
       "'report': invalid schedule '30 25 * * *': hour 25 is out of range 0-23"},
      {m + "[schedule]\njitter = \"7h\"\n", "8:10", "'jitter' must be between 0s and 6h, not 7h"},
      {m + "[report]\nformats = [\"md\", \"pdf\"]\n", "8:18",
       "unknown report format 'pdf' in 'formats' (known: md, html and json)"},
      {m + "[report]\nformats = \"md\"\n", "8:11",
       "'formats' must be an array of strings, not a string"},
      {m + "[metrics]\nlisten = \"9464\"\n", "8:10",
       "'listen' must be HOST:PORT such as \"127.0.0.1:9464\"; '9464' has no ':PORT'"},
      {m + "[metrics]\nlisten = \"localhost:99999\"\n", "8:10",
       "'listen' must be HOST:PORT such as \"127.0.0.1:9464\"; 'localhost:99999' has a port "
       "outside 1-65535"},
      {m + "[metrics]\nlisten = \"[::1:9464\"\n", "8:10",
       "'listen' must be HOST:PORT such as \"127.0.0.1:9464\"; '[::1:9464' has an invalid host"},
      {m + "[classifier]\nrule = \"rules\"\n", "8:1",
       "unknown key 'rule' in [classifier]; did you mean 'rules'?"},
      {m + "[detection]\nalfa = 0.1\n", "8:1",
       "unknown key 'alfa' in [detection]; did you mean 'alpha'?"},
      {m + "[detection]\nalpha = 0.9\n", "8:9", "'alpha' must be between 0.0001 and 0.5, not 0.9"},
      {m + "[detection]\nmin_effect = \"big\"\n", "8:14",
       "'min_effect' must be a number, not a string"},
      {m + "[detection]\nrecent_runs = 0\n", "8:15",
       "'recent_runs' must be between 1 and 20, not 0"},
      {m + "[detection]\nnew_normal_runs = -1\n", "8:19",
       "'new_normal_runs' must be between 0 and 100000, not -1"},
      {m + "[detection]\nbaseline = \"2h\"\n", "8:12",
       "'baseline' must be between 1d and 365d, not 2h"},
      {"[probes]\nsets = [\"p.toml\"]\n[endpoint]\nname = \"a\"\n", "3:1",
       "'endpoint' must be an array of tables: write each one as [[endpoint]]"},
      // A TOML syntax error, located and worded by toml++; the line break it saw is escaped,
      // so the message stays one line.
      {m + "max_tokens = \n", "7:14",
       "Error while parsing key-value pair: expected value, saw '\\n'"},
  };
  TempDir dir;
  fs::path file = dir.path() / "driftwatch.toml";
  for (const auto& c : cases) {
    CAPTURE(c.text);
    REQUIRE(std::string(c.message).size() > 0);  // an empty expectation would check nothing
    auto config = parse(c.text, file);
    REQUIRE_FALSE(config.ok());
    REQUIRE(config.error().size() == 1);
    std::string line = config.error()[0].to_string();
    std::string prefix = file.string() + ":" + c.where + ": ";
    CHECK(line.substr(0, prefix.size()) == prefix);
    CHECK(line.substr(prefix.size(), std::string(c.message).size()) == c.message);
    CHECK(line.find("SECRET") == std::string::npos);
  }
}

TEST_CASE("[detection]: defaults when absent, every key read back when given") {
  TempDir dir;
  auto defaults = parse(kMinimal, dir.path() / "c.toml");
  REQUIRE(defaults.ok());
  CHECK(defaults->detection.baseline_window == std::chrono::days(30));
  CHECK(defaults->detection.recent_runs == 3);
  CHECK(defaults->detection.alpha == doctest::Approx(0.05));
  CHECK(defaults->detection.min_effect == doctest::Approx(0.3));
  CHECK(defaults->detection.new_normal_runs == 28);

  auto given = parse(std::string(kMinimal) +
                         "[detection]\nbaseline = \"14d\"\nrecent_runs = 2\nalpha = 0.01\n"
                         "min_effect = 0.25\nnew_normal_runs = 0\n",
                     dir.path() / "c.toml");
  REQUIRE_MESSAGE(given.ok(), (given.ok() ? "" : given.error()[0].to_string()));
  CHECK(given->detection.baseline_window == std::chrono::days(14));
  CHECK(given->detection.recent_runs == 2);
  CHECK(given->detection.alpha == doctest::Approx(0.01));
  CHECK(given->detection.min_effect == doctest::Approx(0.25));
  CHECK(given->detection.new_normal_runs == 0);
}

TEST_CASE("a literal api_key is refused with the alternatives, never echoing the key") {
  TempDir dir;
  auto config = parse(std::string(kMinimal) + "api_key = \"sk-live-123456\"\n",
                      dir.path() / "driftwatch.toml");
  REQUIRE_FALSE(config.ok());
  REQUIRE(config.error().size() == 1);
  const auto& e = config.error()[0];
  CHECK(e.where().line == 7);
  CHECK(e.where().column == 1);
  CHECK(e.message().find("'api_key' in [[endpoint]] 'deepseek'") == 0);
  for (const char* alternative : {"api_key_env", "api_key_file", "api_key_credential"}) {
    CHECK(e.message().find(alternative) != std::string::npos);
  }
  CHECK(e.message().find("sk-live") == std::string::npos);
}

TEST_CASE("every error is collected, in file order") {
  TempDir dir;
  std::string text =
      "[schedule]\n"
      "timezone = \"Nowhere/City\"\n"
      "[probes]\n"
      "sets = [\"p.toml\"]\n"
      "samples = 500\n"
      "[[endpoint]]\n"
      "name = \"x\"\n"
      "kind = \"gemni\"\n"
      "model = \"m\"\n"
      "temprature = 1\n";
  auto config = parse(text, dir.path() / "c.toml");
  REQUIRE_FALSE(config.ok());
  REQUIRE(config.error().size() == 4);
  CHECK(config.error()[0].where().line == 2);
  CHECK(config.error()[1].where().line == 5);
  CHECK(config.error()[2].where().line == 8);
  CHECK(config.error()[3].where().line == 10);
}

TEST_CASE("missing sections and files") {
  TempDir dir;
  auto none = parse("", dir.path() / "c.toml");
  REQUIRE_FALSE(none.ok());
  REQUIRE(none.error().size() == 2);
  CHECK(none.error()[0].to_string().find((dir.path() / "c.toml").string() +
                                         ": missing [probes] section") == 0);
  CHECK(none.error()[1].message().find("no [[endpoint]] tables") == 0);

  auto missing = load(dir.path() / "absent.toml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error()[0].to_string() ==
        (dir.path() / "absent.toml").string() + ": cannot read config file: No such file or directory");
  auto folder = load(dir.path());
  REQUIRE_FALSE(folder.ok());
  REQUIRE(folder.error().size() == 1);
  CHECK(folder.error()[0].to_string() ==
        dir.path().string() + ": cannot read config file: it is a folder");
}

TEST_CASE("[probes] deadline: as given, or half the probe schedule's shortest gap up to 20m") {
  using namespace std::chrono_literals;
  TempDir dir;
  struct Case {
    const char* extra;  // TOML after kMinimal
    std::chrono::seconds deadline;
  };
  const Case cases[] = {
      {"", 20min},                                             // every 6 hours
      {"[schedule]\nprobes = \"@every 10m\"\n", 5min},
      {"[schedule]\nprobes = \"*/15 * * * *\"\n", 450s},
      {"[schedule]\nprobes = \"* * * * *\"\n", 30s},
      {"[schedule]\nprobes = \"@every 1s\"\n", 1s},           // never below 1s
      {"[schedule]\nprobes = \"0 9,10 * * *\"\n", 20min},     // an hour apart: 20m is shorter
      {"[schedule]\nprobes = \"10,50 0,23 * * *\"\n", 10min},  // 23:50 to 00:10, across midnight
      {"[schedule]\nprobes = \"*/5 * * * mon\"\n", 150s},     // only one day a week
  };
  for (const auto& c : cases) {
    CAPTURE(c.extra);
    auto config = parse(std::string(kMinimal) + c.extra, dir.path() / "c.toml");
    REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error()[0].to_string()));
    CHECK(config->run_deadline == c.deadline);
  }
  // Given, it wins, whatever the schedule: a longer run delays the next (runs never overlap).
  auto given = parse("[probes]\nsets = [\"p.toml\"]\ndeadline = \"45m\"\n[schedule]\n"
                     "probes = \"@every 10m\"\n[[endpoint]]\nname = \"a\"\nkind = \"ollama\"\n"
                     "model = \"m\"\n",
                     dir.path() / "c.toml");
  REQUIRE_MESSAGE(given.ok(), (given.ok() ? "" : given.error()[0].to_string()));
  CHECK(given->run_deadline == 45min);
  CHECK(default_run_deadline(dw::schedule::Schedule{}) == 20min);
}

TEST_CASE("a full config reads back every key") {
  TempDir dir;
  fs::create_directories(dir.path() / "etc");
  dir.write("q.toml", "");
  fs::path file = dir.write("etc/driftwatch.toml", R"(
[storage]
database = "/var/lib/driftwatch/dw.db"

[probes]
sets = ["../p.toml", "../q.toml"]
samples = 5
deadline = "1h30m"

[schedule]
probes = "@every 6h"
report = "15 7 * * mon-fri"
jitter = "2m"
timezone = "Europe/Berlin"

[report]
dir = "../out/reports"
formats = ["json", "md"]

[metrics]
listen = "[::1]:9464"

[classifier]
rules = "/usr/share/driftwatch/rules"

[[endpoint]]
name = "deepseek"
kind = "openai"
base_url = "https://api.deepseek.com/v1/"
model = "deepseek-chat"
api_key_env = "DEEPSEEK_API_KEY"
temperature = 0.7
max_tokens = 1024
concurrency = 4
rate = 30.5
retries = 3
timeout = "2m"
connect_timeout = "5s"
system = "You are a helpful assistant."
headers = { "X-Team" = "research", "User-Agent" = "driftwatch" }

[[endpoint]]
name = "claude"
kind = "anthropic"
model = "claude-sonnet-4-5"
api_key_file = "secrets/anthropic.key"

[[endpoint]]
name = "gemini"
kind = "gemini"
model = "gemini-2.0-flash"
api_key_credential = "gemini-key"
rate = 10
)");
  auto config = load(file);
  REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error()[0].to_string()));
  const Config& c = *config;
  CHECK(c.file == file);
  CHECK(c.database == "/var/lib/driftwatch/dw.db");
  REQUIRE(c.probe_sets.size() == 2);
  CHECK(c.probe_sets[0] == dir.path() / "p.toml");
  CHECK(c.probe_sets[1] == dir.path() / "q.toml");
  CHECK(c.samples == 5);
  CHECK(c.run_deadline == std::chrono::minutes(90));
  CHECK(c.probe_schedule.text() == "@every 6h");
  CHECK(c.report_schedule.text() == "15 7 * * mon-fri");
  CHECK(c.report_schedule.timezone() == "Europe/Berlin");
  CHECK(c.jitter == std::chrono::minutes(2));
  CHECK(c.timezone == "Europe/Berlin");
  CHECK(c.report_dir == dir.path() / "out/reports");
  CHECK(c.report_formats == std::vector<std::string>{"json", "md"});
  CHECK(c.metrics_listen == "[::1]:9464");
  CHECK(c.rules_dir == "/usr/share/driftwatch/rules");
  REQUIRE(c.endpoints.size() == 3);

  const Endpoint& d = c.endpoints[0];
  CHECK(d.name == "deepseek");
  CHECK(d.kind == EndpointKind::openai);
  CHECK(d.base_url == "https://api.deepseek.com/v1");
  CHECK(d.request_url() == "https://api.deepseek.com/v1/chat/completions");
  CHECK(d.model == "deepseek-chat");
  CHECK(d.api_key.source == SecretRef::Source::env);
  CHECK(d.api_key.name == "DEEPSEEK_API_KEY");
  CHECK(d.temperature == doctest::Approx(0.7));
  CHECK(d.max_tokens == 1024);
  CHECK(d.concurrency == 4);
  CHECK(d.rate == doctest::Approx(30.5));
  CHECK(d.retries == 3);
  CHECK(d.timeout == std::chrono::minutes(2));
  CHECK(d.connect_timeout == std::chrono::seconds(5));
  CHECK(d.system == "You are a helpful assistant.");
  CHECK(d.headers.size() == 2);
  CHECK(d.where.line == 26);

  const Endpoint& a = c.endpoints[1];
  CHECK(a.base_url == "https://api.anthropic.com");
  CHECK(a.api_key.source == SecretRef::Source::file);
  CHECK(a.api_key.name == (dir.path() / "etc/secrets/anthropic.key").string());
  CHECK(a.temperature == 0.0);
  CHECK(a.max_tokens == 512);
  CHECK(a.concurrency == 2);
  CHECK(a.retries == 2);
  CHECK(a.timeout == std::chrono::seconds(60));
  CHECK_FALSE(a.system.has_value());

  const Endpoint& g = c.endpoints[2];
  CHECK(g.api_key.source == SecretRef::Source::credential);
  CHECK(g.api_key.name == "gemini-key");
  CHECK(g.rate == 10.0);
}

TEST_CASE("defaults resolve beside the config file") {
  TempDir dir;
  auto config = parse(kMinimal, dir.path() / "driftwatch.toml");
  REQUIRE(config.ok());
  CHECK(config->database == dir.path() / "driftwatch.db");
  CHECK(config->report_dir == dir.path() / "reports");
  CHECK(config->rules_dir == dir.path() / "rules");
  CHECK(config->samples == 3);
  CHECK(config->probe_schedule.text() == "0 */6 * * *");
  CHECK(config->report_schedule.text() == "30 6 * * *");
  CHECK(config->timezone == "UTC");
  CHECK(config->jitter == std::chrono::minutes(5));
  CHECK(config->report_formats == std::vector<std::string>{"md", "html", "json"});
  CHECK_FALSE(config->metrics_listen.has_value());
  REQUIRE(config->endpoints.size() == 1);
  CHECK(config->endpoints[0].api_key.source == SecretRef::Source::none);
}

TEST_CASE("each kind has its vendor's base URL and request path") {
  struct Case {
    EndpointKind kind;
    const char* name;
    const char* base;
    const char* request;
  };
  const Case cases[] = {
      {EndpointKind::openai, "openai", "https://api.openai.com/v1",
       "https://api.openai.com/v1/chat/completions"},
      {EndpointKind::anthropic, "anthropic", "https://api.anthropic.com",
       "https://api.anthropic.com/v1/messages"},
      {EndpointKind::ollama, "ollama", "http://127.0.0.1:11434", "http://127.0.0.1:11434/api/chat"},
      {EndpointKind::gemini, "gemini", "https://generativelanguage.googleapis.com",
       "https://generativelanguage.googleapis.com/v1beta/models/m-1:generateContent"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    CHECK(kind_name(c.kind) == c.name);
    CHECK(parse_kind(c.name) == c.kind);
    CHECK(default_base_url(c.kind) == c.base);
    std::string text = std::string("[probes]\nsets = [\"p.toml\"]\n[[endpoint]]\nname = \"e\"\n") +
                       "kind = \"" + c.name + "\"\nmodel = \"m-1\"\n";
    auto config = parse(text, dir.path() / "c.toml");
    REQUIRE(config.ok());
    CHECK(config->endpoints[0].base_url == c.base);
    CHECK(config->endpoints[0].request_url() == c.request);
  }
  CHECK_FALSE(parse_kind("OpenAI").has_value());
}

TEST_CASE("read_secret reads env, files and systemd credentials") {
  TempDir dir;
  setenv("DW_TEST_KEY", "sk-env-value", 1);
  CHECK(*read_secret({SecretRef::Source::env, "DW_TEST_KEY"}) == "sk-env-value");
  CHECK(*read_secret({SecretRef::Source::none, ""}) == "");

  fs::path file = dir.write("key.txt", "sk-file-value\n");
  CHECK(*read_secret({SecretRef::Source::file, file.string()}) == "sk-file-value");

  fs::create_directories(dir.path() / "creds");
  dir.write("creds/anthropic", "sk-cred-value\r\n");
  setenv("CREDENTIALS_DIRECTORY", (dir.path() / "creds").c_str(), 1);
  CHECK(*read_secret({SecretRef::Source::credential, "anthropic"}) == "sk-cred-value");
  unsetenv("DW_TEST_KEY");
}

TEST_CASE("secret errors name the source and never the key") {
  TempDir dir;
  dir.write("two-lines", "sk-secret-one\nsk-secret-two\n");
  dir.write("empty", "\n");
  // One line of 70 KB: once read as its first 64 KiB and sent as the key.
  dir.write("huge", std::string(70000, 'k') + "\n");
  fs::create_directories(dir.path() / "creds");
  struct Case {
    SecretRef ref;
    std::string message;
  };
  unsetenv("DW_TEST_ABSENT");
  setenv("CREDENTIALS_DIRECTORY", (dir.path() / "creds").c_str(), 1);
  const Case cases[] = {
      {{SecretRef::Source::env, "DW_TEST_ABSENT"}, "API key variable $DW_TEST_ABSENT is not set"},
      {{SecretRef::Source::file, (dir.path() / "nope").string()},
       "cannot read API key file '" + (dir.path() / "nope").string() +
           "': No such file or directory"},
      {{SecretRef::Source::file, (dir.path() / "two-lines").string()},
       "API key file '" + (dir.path() / "two-lines").string() +
           "' holds more than one line or a control character"},
      {{SecretRef::Source::file, (dir.path() / "empty").string()},
       "API key file '" + (dir.path() / "empty").string() + "' is empty"},
      {{SecretRef::Source::file, (dir.path() / "huge").string()},
       "API key file '" + (dir.path() / "huge").string() +
           "' is larger than 64 KiB: not an API key"},
      {{SecretRef::Source::credential, "absent"},
       "cannot read API key credential '" + (dir.path() / "creds/absent").string() +
           "': No such file or directory"},
  };
  for (const auto& c : cases) {
    auto secret = read_secret(c.ref);
    REQUIRE_FALSE(secret.ok());
    CHECK(secret.error().message() == c.message);
    CHECK(secret.error().message().find("sk-secret") == std::string::npos);
  }
  unsetenv("CREDENTIALS_DIRECTORY");
  auto no_dir = read_secret({SecretRef::Source::credential, "anthropic"});
  REQUIRE_FALSE(no_dir.ok());
  CHECK(no_dir.error().message().find("$CREDENTIALS_DIRECTORY") != std::string::npos);
}

TEST_CASE("[[notify]]: bad tables give one located error naming the key") {
  struct Case {
    std::string text;
    const char* where;    // LINE:COLUMN
    const char* message;  // the whole message
  };
  const std::string m = std::string(kMinimal) + "[[notify]]\nname = \"ops\"\n";  // lines 7-8
  const std::string hook = m + "kind = \"webhook\"\n";                             // line 9
  const std::string mail = m + "kind = \"email\"\nsmtp_url = \"smtp://mail.example.org:587\"\n"
                               "from = \"dw@example.org\"\nto = [\"ops@example.org\"]\n";  // 9-12
  const Case cases[] = {
      {hook, "7:1",
       "missing webhook URL in [[notify]] 'ops'; say where it lives: url_env = \"VARIABLE\", "
       "url_file = \"PATH\" or url_credential = \"NAME\" (a systemd credential)"},
      {hook + "url = \"https://hooks.slack.com/services/T/B/SECRET\"\nurl_env = \"HOOK\"\n",
       "10:1",
       "'url' in [[notify]] 'ops' would put a secret in the config file; say where it lives "
       "instead: url_env"},
      {hook + "url_env = \"A\"\nurl_file = \"hook.txt\"\n", "11:1",
       "'url_file' and 'url_env' both given in [[notify]] 'ops'; use only one of url_env, "
       "url_file and url_credential"},
      {hook + "url_credential = \"../hook\"\n", "10:18",
       "'url_credential' is a credential name, not a path: '../hook'"},
      {hook + "url_env = \"A\"\non = [\"event\"]\n", "11:7",
       "unknown value 'event' in 'on' (known: events, reports)"},
      {hook + "url_env = \"A\"\non = []\n", "11:6",
       "'on' must list at least one of \"events\" and \"reports\""},
      {hook + "url_env = \"A\"\ntimeout = \"0s\"\n", "11:11",
       "'timeout' must be between 1s and 10m, not 0s"},
      {hook + "url_env = \"A\"\nsmtp_url = \"smtp://x\"\n", "11:1",
       "unknown key 'smtp_url' in [[notify]] 'ops'"},
      {m + "kind = \"slack\"\n", "9:8", "unknown notify kind 'slack' (kinds: webhook, email)"},
      {m + "url_env = \"A\"\n", "7:1",
       "missing required key 'kind' in [[notify]] 'ops' (\"webhook\" or \"email\")"},
      {std::string(kMinimal) + "[[notify]]\nkind = \"webhook\"\nurl_env = \"A\"\n", "7:1",
       "missing required key 'name' in [[notify]] #1"},
      {std::string(kMinimal) + "[[notify]]\nname = \"a b\"\nkind = \"webhook\"\nurl_env = \"A\"\n",
       "8:8", "'name' must be 1-64 letters, digits, '-', '_' or '.', not 'a b'"},
      {m + "kind = \"email\"\nfrom = \"dw@example.org\"\nto = [\"ops@example.org\"]\n", "7:1",
       "missing required key 'smtp_url' in [[notify]] 'ops'"},
      {mail + "starttls = \"yes\"\n", "13:12", "'starttls' must be true or false, not a string"},
      {mail + "password_env = \"SMTP_PASSWORD\"\n", "7:1",
       "a password is given in [[notify]] 'ops' but no 'username' to log in with"},
      {mail + "username = \"dw\"\npassword = \"hunter2\"\n", "14:1",
       "'password' in [[notify]] 'ops' would put a secret in the config file; say where it "
       "lives instead: password_env"},
      {m + "kind = \"email\"\nsmtp_url = \"https://mail.example.org\"\nfrom = \"a@b\"\n"
           "to = [\"c@d\"]\n",
       "10:12", "'smtp_url' must start with smtp:// or smtps://, not 'https://mail.example.org'"},
      {m + "kind = \"email\"\nsmtp_url = \"smtp://u:hunter2@mail.example.org\"\nfrom = \"a@b\"\n"
           "to = [\"c@d\"]\n",
       "10:12", "'smtp_url' must not carry credentials (user:password@)"},
      {m + "kind = \"email\"\nsmtp_url = \"smtp://m\"\nfrom = \"a@b\"\n"
           "to = [\"c@d\\r\\nBcc: e@f\"]\n",
       "12:7", "'to' must hold plain mail addresses such as \"ops@example.org\", not 'c@d"},
      {m + "kind = \"email\"\nsmtp_url = \"smtp://m\"\nfrom = \"Drift Watch <a@b>\"\n"
           "to = [\"c@d\"]\n",
       "11:8", "'from' must be a plain mail address such as \"driftwatch@example.org\""},
      {m + "kind = \"email\"\nsmtp_url = \"smtp://m\"\nfrom = \"a@b\"\nto = []\n", "12:6",
       "'to' must list at least one address"},
      {hook + "url_env = \"A\"\n[[notify]]\nname = \"ops\"\nkind = \"webhook\"\nurl_env = \"B\"\n",
       "12:8", "duplicate notify name 'ops' (first defined at line 8)"},
      {std::string(kMinimal) + "[notify]\nname = \"a\"\n", "7:1",
       "'notify' must be an array of tables: write each one as [[notify]]"},
  };
  TempDir dir;
  fs::path file = dir.path() / "driftwatch.toml";
  for (const auto& c : cases) {
    CAPTURE(c.text);
    REQUIRE(std::string(c.message).size() > 0);  // an empty expectation would check nothing
    auto config = parse(c.text, file);
    REQUIRE_FALSE(config.ok());
    REQUIRE(config.error().size() == 1);
    std::string line = config.error()[0].to_string();
    std::string prefix = file.string() + ":" + c.where + ": ";
    CHECK(line.substr(0, prefix.size()) == prefix);
    CHECK(line.substr(prefix.size(), std::string(c.message).size()) == c.message);
    CHECK(line.find("SECRET") == std::string::npos);
    CHECK(line.find("hunter2") == std::string::npos);
  }
}

TEST_CASE("[[notify]]: defaults, every key read back, secrets only by reference") {
  TempDir dir;
  auto none = parse(kMinimal, dir.path() / "c.toml");
  REQUIRE(none.ok());
  CHECK(none->notify.empty());

  std::string text = std::string(kMinimal) +
                     "[[notify]]\n"
                     "name = \"slack\"\n"
                     "kind = \"webhook\"\n"
                     "url_file = \"secrets/slack-url\"\n"
                     "\n"
                     "[[notify]]\n"
                     "name = \"mail\"\n"
                     "kind = \"email\"\n"
                     "on = [\"reports\"]\n"
                     "timeout = \"1m\"\n"
                     "smtp_url = \"smtps://mail.example.org:465\"\n"
                     "starttls = false\n"
                     "from = \"driftwatch@example.org\"\n"
                     "to = [\"ops@example.org\", \"desk@example.org\"]\n"
                     "username = \"driftwatch\"\n"
                     "password_credential = \"smtp-password\"\n";
  auto c = parse(text, dir.path() / "c.toml");
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error()[0].to_string()));
  REQUIRE(c->notify.size() == 2);
  const Notify& hook = c->notify[0];
  CHECK(hook.name == "slack");
  CHECK(hook.kind == Notify::Kind::webhook);
  CHECK(hook.on_events);
  CHECK(hook.on_reports);
  CHECK(hook.timeout == std::chrono::seconds(30));
  CHECK(hook.url.source == SecretRef::Source::file);
  CHECK(hook.url.name == (dir.path() / "secrets/slack-url").string());
  CHECK(hook.url.what == "webhook URL");
  CHECK(hook.where.line == 7);

  const Notify& mail = c->notify[1];
  CHECK(mail.kind == Notify::Kind::email);
  CHECK_FALSE(mail.on_events);
  CHECK(mail.on_reports);
  CHECK(mail.timeout == std::chrono::minutes(1));
  CHECK(mail.smtp_url == "smtps://mail.example.org:465");
  CHECK_FALSE(mail.starttls);
  CHECK(mail.from == "driftwatch@example.org");
  CHECK(mail.to == std::vector<std::string>{"ops@example.org", "desk@example.org"});
  CHECK(mail.username == "driftwatch");
  CHECK(mail.password.source == SecretRef::Source::credential);
  CHECK(mail.password.name == "smtp-password");

  // The secrets' messages say what they are.
  unsetenv("DW_TEST_NO_HOOK");
  auto missing = read_secret({SecretRef::Source::env, "DW_TEST_NO_HOOK", "webhook URL"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "webhook URL variable $DW_TEST_NO_HOOK is not set");
}

}  // namespace config_test
