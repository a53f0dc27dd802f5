// [fleet]: where this monitor pushes its runs. Every key read back; a bad value is one located
// error naming the key; a password in the connection string is refused without being quoted.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "scratch.h"

namespace config_fleet_test {

namespace fs = std::filesystem;
using namespace dw::config;

namespace {

// Lines 1-6; [fleet] follows on line 7, its keys from line 8.
const char* const kMinimal =
    "[probes]\n"
    "sets = [\"p.toml\"]\n"
    "[[endpoint]]\n"
    "name = \"deepseek\"\n"
    "kind = \"openai\"\n"
    "model = \"deepseek-chat\"\n";

// [fleet] with a valid server and vantage (lines 8 and 9); extra lines from line 10.
std::string fleet(const std::string& extra) {
  return std::string(kMinimal) +
         "[fleet]\n"
         "server = \"host=db.example.org dbname=driftwatch user=monitor_hk\"\n"
         "vantage = \"hk-1\"\n" + extra;
}

}  // namespace

TEST_CASE("[fleet]: absent is none; every key read back; defaults") {
  dw::test::Scratch dir;
  dir.write("p.toml", "");
  fs::path file = dir.path("driftwatch.toml");
  auto absent = parse(kMinimal, file);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->fleet.has_value());

  auto minimal = parse(fleet(""), file);
  REQUIRE_MESSAGE(minimal.ok(), (minimal.ok() ? "" : minimal.error()[0].to_string()));
  REQUIRE(minimal->fleet.has_value());
  CHECK(minimal->fleet->server == "host=db.example.org dbname=driftwatch user=monitor_hk");
  CHECK(minimal->fleet->vantage == "hk-1");
  CHECK(minimal->fleet->country.empty());
  CHECK(minimal->fleet->asn.empty());
  CHECK(minimal->fleet->retry == std::chrono::minutes(1));
  CHECK(minimal->fleet->password.source == SecretRef::Source::none);
  CHECK(minimal->fleet->where.line == 7);

  auto full = parse(fleet("country = \"HK\"\nasn = \"AS4134\"\nretry = \"30s\"\n"
                          "password_file = \"secrets/pg\"\n"),
                    file);
  REQUIRE_MESSAGE(full.ok(), (full.ok() ? "" : full.error()[0].to_string()));
  CHECK(full->fleet->country == "HK");
  CHECK(full->fleet->asn == "AS4134");
  CHECK(full->fleet->retry == std::chrono::seconds(30));
  CHECK(full->fleet->password.source == SecretRef::Source::file);
  CHECK(full->fleet->password.name == (dir.root() / "secrets/pg").string());
  CHECK(full->fleet->password.what == "fleet database password");

  for (const char* source : {"password_env = \"PGPASS_HK\"\n", "password_credential = \"pg\"\n"}) {
    CAPTURE(source);
    auto c = parse(fleet(source), file);
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error()[0].to_string()));
    CHECK(c->fleet->password.source != SecretRef::Source::none);
  }
}

TEST_CASE("[fleet]: connection strings without a password pass, URIs and certificates too") {
  for (const char* server :
       {"host=db.example.org dbname=driftwatch user=monitor_hk",
        "host=/tmp/pg port=5433 dbname=postgres",
        "  host = db.example.org   sslmode=verify-full sslcert=/etc/dw/hk.crt "
        "sslkey=/etc/dw/hk.key sslrootcert=/etc/dw/ca.crt ",
        "application_name='drift watch' options='-c search_path=fleet'",
        "dbname=a\\ b", "passfile=/etc/driftwatch/pgpass",
        "postgresql://monitor_hk@db.example.org:5432/driftwatch?sslmode=verify-full",
        "postgres://db.example.org/driftwatch", "postgresql:///driftwatch?host=/tmp/pg",
        "postgresql://user:@db/x"}) {
    CAPTURE(server);
    CHECK(check_server(server).ok());
  }
}

TEST_CASE("[fleet]: a password in the connection string is refused, and never quoted back") {
  struct Case {
    const char* server;
    const char* why;
  };
  const Case cases[] = {
      {"host=db password=hunter2", "holds a password (password=...)"},
      {"host=db password = 'hunter2 x'", "holds a password (password=...)"},
      {"password=hunter2", "holds a password (password=...)"},
      {"postgresql://hk:hunter2@db.example.org/driftwatch", "holds a password (user:password@)"},
      {"postgres://db.example.org/driftwatch?sslmode=require&password=hunter2",
       "holds a password (?password=...)"},
      {"postgresql://db/x?pass%77ord=hunter2", "holds a password (?password=...)"},
      {"host=db hunter2", "is not a libpq connection string: the word at character 9 has no "
                          "'=' after it"},
      {"host=db application_name='hunter2", "is not a libpq connection string: a quoted value "
                                            "is not closed"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.server);
    dw::Status s = check_server(c.server);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message() == c.why);
  }

  dw::test::Scratch dir;
  dir.write("p.toml", "");
  fs::path file = dir.path("driftwatch.toml");
  auto c = parse(std::string(kMinimal) +
                     "[fleet]\nserver = \"postgresql://hk:hunter2@db/driftwatch\"\n"
                     "vantage = \"hk-1\"\n",
                 file);
  REQUIRE_FALSE(c.ok());
  REQUIRE(c.error().size() == 1);
  std::string line = c.error()[0].to_string();
  CHECK(line == file.string() +
                    ":8:10: 'server' in [fleet] holds a password (user:password@); say where it "
                    "lives instead: password_env = \"VARIABLE\", password_file = \"PATH\" or "
                    "password_credential = \"NAME\"");
  CHECK(line.find("hunter2") == std::string::npos);
}

TEST_CASE("[fleet]: a bad table is one located error naming the key") {
  dw::test::Scratch dir;
  dir.write("p.toml", "");
  fs::path file = dir.path("driftwatch.toml");
  const std::string bare = std::string(kMinimal) + "[fleet]\n";  // [fleet] on line 7
  struct Case {
    std::string text;
    const char* where;
    std::string message;
  };
  const Case cases[] = {
      {bare + "vantage = \"hk\"\n", "7:1",
       "missing required key 'server' in [fleet]: the central PostgreSQL's connection string, "
       "e.g. \"host=db.example.org dbname=driftwatch user=monitor_hk\""},
      {bare + "server = \"host=db\"\n", "7:1",
       "missing required key 'vantage' in [fleet]: this monitor's name among the vantage "
       "points, e.g. \"hk-1\""},
      {bare + "server = \"\"\nvantage = \"hk\"\n", "8:10", "'server' must not be empty"},
      {fleet("password = \"hunter2\"\n"), "10:1",
       "'password' in [fleet] would put a secret in the config file; say where it lives "
       "instead: password_env = \"VARIABLE\", password_file = \"PATH\" or "
       "password_credential = \"NAME\""},
      {fleet("password_env = \"A\"\npassword_file = \"b\"\n"), "11:1",
       "'password_file' and 'password_env' both given in [fleet]; use only one of "
       "password_env, password_file and password_credential"},
      {fleet("password_credential = \"/etc/pg\"\n"), "10:23",
       "'password_credential' is a credential name, not a path: '/etc/pg'"},
      {bare + "server = \"host=db\"\nvantage = \"hong kong\"\n", "9:11",
       "'vantage' must be 1-64 letters, digits, '-', '_' or '.', not 'hong kong'"},
      {fleet("country = \"hk\"\n"), "10:11",
       "'country' must be two capital letters (ISO 3166-1), such as \"HK\", not 'hk'"},
      {fleet("country = \"HKG\"\n"), "10:11",
       "'country' must be two capital letters (ISO 3166-1), such as \"HK\", not 'HKG'"},
      {fleet("asn = \"4134\"\n"), "10:7",
       "'asn' must be \"AS\" and the number, such as \"AS4134\", not '4134'"},
      {fleet("asn = \"AS99999999999\"\n"), "10:7",
       "'asn' must be \"AS\" and the number, such as \"AS4134\", not 'AS99999999999'"},
      {fleet("asn = 4134\n"), "10:7", "'asn' must be a string, not an integer"},
      {fleet("retry = \"2h\"\n"), "10:9", "'retry' must be between 1s and 1h, not 2h"},
      {fleet("vantge = \"x\"\n"), "10:1", "unknown key 'vantge' in [fleet]; did you mean "
                                          "'vantage'?"},
      // A top-level key comes before the first table.
      {"fleet = \"db\"\n" + std::string(kMinimal), "1:9", "'fleet' must be a table, not a string"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto config = parse(c.text, file);
    REQUIRE_FALSE(config.ok());
    REQUIRE(config.error().size() == 1);
    CHECK(config.error()[0].to_string() == file.string() + ":" + c.where + ": " + c.message);
  }
}

}  // namespace config_fleet_test
