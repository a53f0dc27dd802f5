// Bounded parsing of untrusted TOML and JSON (monitor/input): what would crash a parser is a
// located error instead, and everything the project ships still reads.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "input/json.h"
#include "input/lines.h"
#include "input/toml.h"
#include "scratch.h"

namespace input_test {

using dw::input::parse_json;
using dw::input::parse_ordered_json;
using dw::input::parse_toml;

namespace fs = std::filesystem;

TEST_CASE("TOML nested beyond the bounds is a located error, not a stack overflow") {
  struct Case {
    const char* name;
    std::string text;
    std::string expected;
  };
  std::string header = "[a";
  for (int i = 0; i < 50000; ++i) header += ".a";
  header += "]\nx = 1\n";
  std::string dotted = "x = 1\n";
  for (int i = 0; i < 40; ++i) dotted += "k.";
  dotted += "k = 2\n";
  // Keys of digits: a dot between two digits is a number's only once a word.
  std::string digits = "[1";
  for (int i = 0; i < 50000; ++i) digits += ".1";
  digits += "]\nx = 1\n";
  std::string mixed = "x = 1\n";
  for (int i = 0; i < 40; ++i) mixed += "k1.1";
  mixed += "k = 2\n";
  const std::vector<Case> cases = {
      {"a table header 50,000 levels deep", header,
       "deep.toml:1:65: nesting deeper than 32 levels"},
      {"a header of digits 50,000 levels deep", digits,
       "deep.toml:1:67: nesting deeper than 32 levels"},
      {"a dotted key of digits and letters", mixed,
       "deep.toml:2:131: nesting deeper than 32 levels"},
      {"a dotted key", dotted, "deep.toml:2:64: nesting deeper than 32 levels"},
      {"arrays in arrays", "x = " + std::string(100000, '['), "deep.toml:1:36: nesting deeper than 32 levels"},
      {"inline tables in a multi-line array",
       "x = [\n" + std::string(40, '{') + "\n]\n", "deep.toml:2:31: nesting deeper than 32 levels"},
      {"a line too long", "x = \"" + std::string(300000, 'y') + "\"\n",
       "deep.toml:1:1: line longer than 262144 bytes"},
      {"a file too large", std::string(17 << 20, '\n'), "deep.toml: file larger than 16 MiB"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto parsed = parse_toml(c.text, "deep.toml");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().to_string() == c.expected);
  }
}

TEST_CASE("TOML within the bounds parses as before: strings, comments and numbers do not nest") {
  const std::string text =
      "# a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h [[[[[\n"
      "pattern = '''[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[a.b.c]]]'''\n"
      "prompt = \"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{ \\\" [[[[[\"\n"
      "floats = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5, 14.5, 15.5,"
      " 16.5, 17.5, 18.5, 19.5, 20.5, 21.5, 22.5, 23.5, 24.5, 25.5, 26.5, 27.5, 28.5, 29.5, 30.5,"
      " 31.5, 32.5, 33.5]\n"
      "times = [1979-05-27T07:32:00.5Z, 1979-05-27T07:32:00.25-07:00, 07:32:00.125, 6.626e-34,"
      " +1.5, -2.5e+3, 1_000.5, 1979-05-27 07:32:00.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5,"
      " 9.5, 10.5, 11.5, 12.5, 13.5, 14.5, 15.5, 16.5, 17.5, 18.5, 19.5, 20.5, 21.5, 22.5, 23.5,"
      " 24.5, 25.5, 26.5, 27.5]\n"
      "versions.1.2 = 3\n"
      "[a.b.c]\nd.e = { f = [[1, 2], [3]] }\n"
      "[[rule]]\nid = \"x.y\"\n";
  auto parsed = parse_toml(text, "ok.toml");
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().to_string()));
  CHECK((*parsed)["a"]["b"]["c"]["d"]["e"]["f"][0][1].value<int64_t>() == 2);
  CHECK((*parsed)["versions"]["1"]["2"].value<int64_t>() == 3);
  CHECK((*parsed)["times"].as_array()->size() == 35);
  // Syntax errors are toml++'s, located as before.
  auto bad = parse_toml("x = \n", "bad.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string().rfind("bad.toml:1:", 0) == 0);
}

TEST_CASE("every TOML file the project ships is within the bounds") {
  int files = 0;
  for (const char* dir : {"config", "config/rules", "probes", "tests/data", "bench"}) {
    for (const auto& entry : fs::directory_iterator(fs::path(DW_SOURCE_DIR) / dir)) {
      if (entry.path().extension() != ".toml") continue;
      auto parsed = parse_toml(dw::test::slurp(entry.path()), entry.path().string());
      CHECK_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().to_string()));
      ++files;
    }
  }
  CHECK(files > 20);
}

TEST_CASE("JSON: nesting is bounded, and every error says where") {
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto nested = parse_ordered_json(deep);
  REQUIRE_FALSE(nested.ok());
  CHECK(nested.error().message == "nesting deeper than 64 levels");
  CHECK(nested.error().column == 69);  // the 65th opening: { and 64 [ after {"a":

  auto overflow = parse_json(R"({"latency_ms": 1e999})");
  REQUIRE_FALSE(overflow.ok());
  CHECK(overflow.error().message == "number overflow parsing '1e999'");
  CHECK(overflow.error().column == 20);

  auto syntax = parse_json(R"({"a": tru})");
  REQUIRE_FALSE(syntax.ok());
  CHECK(syntax.error().message.find("syntax error") == 0);
  CHECK(syntax.error().column == 10);  // where the parser noticed

  auto ok = parse_ordered_json(R"({"z": 1, "a": [[[["deep enough"]]]], "m": null})");
  REQUIRE(ok.ok());
  CHECK(ok->dump() == R"({"z":1,"a":[[[["deep enough"]]]],"m":null})");
  std::string at_limit = std::string(64, '[') + std::string(64, ']');
  CHECK(parse_json(at_limit).ok());
  CHECK_FALSE(parse_json("[" + at_limit + "]").ok());
}

TEST_CASE("read_line keeps at most max bytes of a line and says when it cut") {
  std::istringstream in("short\n" + std::string(100, 'x') + "\nlast");
  std::string line;
  bool too_long = false;
  REQUIRE(dw::input::read_line(in, line, too_long, 10));
  CHECK(line == "short");
  CHECK_FALSE(too_long);
  REQUIRE(dw::input::read_line(in, line, too_long, 10));
  CHECK(line == std::string(10, 'x'));
  CHECK(too_long);
  REQUIRE(dw::input::read_line(in, line, too_long, 10));
  CHECK(line == "last");
  CHECK_FALSE(too_long);
  CHECK_FALSE(dw::input::read_line(in, line, too_long, 10));
}

}  // namespace input_test
