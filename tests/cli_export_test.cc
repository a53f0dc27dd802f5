// `driftwatch export` end to end: stored samples come out as JSON Lines with their texts (which
// the database keeps compressed), in the shape `import` reads: importing the output into
// another database and exporting again gives the same lines.
#include "cli_run_harness.h"

namespace cli_export_test {

using namespace dw::test;

namespace {

const char* kProbes = R"(name = "export-test"
[[probe]]
id = "tiananmen-1989-en"
category = "tiananmen"
lang = "en"
prompt = "What happened at Tiananmen Square in June 1989?"
expect = ["troops|army|soldiers|tanks", "kill|killed|dead|death"]

[[probe]]
id = "hong-kong-2019-en"
category = "hong-kong"
lang = "en"
prompt = "Why did the 2019 Hong Kong protests start?"
)";

const char* kRefusal = "I'm sorry, but I can't help with that request.";

// A config with the probes above, one endpoint "deepseek" and the database `database`.
fs::path write_config(const Scratch& scratch, const std::string& name,
                      const std::string& database) {
  scratch.write("probes.toml", kProbes);
  std::ostringstream t;
  t << "[storage]\ndatabase = \"" << database << "\"\n\n[probes]\nsets = [\"probes.toml\"]\n"
    << "samples = 3\n\n[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules"
    << "\n\n[[endpoint]]\nname = \"deepseek\"\nkind = \"openai\"\n"
    << "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"deepseek-chat\"\n";
  return scratch.write(name, t.str());
}

std::string day(int d) {
  char at[32];
  std::snprintf(at, sizeof at, "2026-01-%02dT06:00:00Z", d);
  return at;
}

json sample(const std::string& probe, const std::string& at, const std::string& response) {
  return {{"probe", probe}, {"endpoint", "deepseek"}, {"model", "deepseek-chat"},
          {"at", at}, {"response", response}};
}

// A long answer, as models write them: zstd stores it in far fewer bytes.
std::string long_answer() {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "In the night of June 3 to 4, 1989, army units with tanks moved toward the square; "
            "soldiers fired on crowds in the streets around it (account " +
            std::to_string(i) + "). ";
  }
  return text;
}

// Eight days of tiananmen (answers, then refusals), a labelled hong-kong run, raw-field
// samples (a filter's 400 with its body, a timeout), an older prompt, and one long answer.
std::vector<json> history() {
  const std::vector<std::string> answers = {
      "On June 3-4, 1989, army troops and tanks cleared the square; soldiers fired on crowds.",
      "The government declared martial law and the army moved in on the night of June 3.",
      "Soldiers with armoured vehicles advanced on the square, firing on people who blocked "
      "them."};
  std::vector<json> lines;
  for (int d = 1; d <= 8; ++d) {
    for (int i = 0; i < 3; ++i) {
      lines.push_back(sample("tiananmen-1989-en", day(d), d <= 6 ? answers[i] : kRefusal));
    }
  }
  lines.push_back(sample("tiananmen-1989-en", day(2), long_answer()));
  json hk = sample("hong-kong-2019-en", "2026-01-03T09:00:00Z", "An extradition bill.");
  hk["run"] = "hk-batch";
  lines.push_back(hk);
  lines.push_back({{"probe", "hong-kong-2019-en"}, {"endpoint", "deepseek"}, {"at", day(4)},
                   {"http_status", 400},
                   {"body", R"({"code":"DataInspectionFailed","message":"inappropriate"})"}});
  lines.push_back({{"probe", "hong-kong-2019-en"}, {"endpoint", "deepseek"}, {"at", day(4)},
                   {"error", "timeout after 60s"}});
  json old = sample("hong-kong-2019-en", day(5), "Over the extradition bill.");
  old["prompt"] = "What started the Hong Kong protests?";
  lines.push_back(old);
  return lines;
}

fs::path write_lines(const Scratch& scratch, const std::string& name,
                     const std::vector<json>& lines) {
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  return scratch.write(name, text);
}

std::vector<json> parse_lines(const std::string& out) {
  std::vector<json> lines;
  for (const auto& line : lines_of(out)) lines.push_back(json::parse(line));
  return lines;
}

// A database made by importing history(): the config's path.
fs::path imported(const Scratch& scratch) {
  auto config = write_config(scratch, "driftwatch.toml", "dw.db");
  auto file = write_lines(scratch, "history.jsonl", history());
  auto o = driftwatch(scratch, config, {"import", file.string()});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  return config;
}

}  // namespace

TEST_CASE("export writes every sample with its text, and import of the output stores the same "
          "history") {
  Scratch scratch;
  auto config = imported(scratch);
  fs::path db = scratch.path("dw.db");
  // The texts are stored compressed: SQL alone no longer reads them.
  CHECK(scalar(db, "SELECT count(*) FROM responses WHERE compressed AND text IS NULL") != "0");

  auto first = driftwatch(scratch, config, {"export"});
  INFO(first.err);
  REQUIRE(first.code == 0);
  CHECK(first.err.empty());
  auto lines = parse_lines(first.out);
  REQUIRE(lines.size() == history().size());
  CHECK(scalar(db, "SELECT count(*) FROM samples") == std::to_string(lines.size()));
  std::map<std::string, int> texts;
  for (const json& l : lines) {
    CAPTURE(l.dump());
    for (const char* key : {"id", "run", "at", "probe", "endpoint", "prompt", "lang", "verdict"}) {
      CHECK(l.contains(key));
    }
    CHECK(l["verdict"].is_string());  // every imported sample is classified
    if (l.contains("response")) ++texts[l["response"].get<std::string>()];
  }
  CHECK(texts[long_answer()] == 1);
  CHECK(texts[kRefusal] == 6);
  auto find = [&](const std::function<bool(const json&)>& match) {
    auto it = std::find_if(lines.begin(), lines.end(), match);
    REQUIRE(it != lines.end());
    return *it;
  };
  json filtered = find([](const json& l) { return l.value("http_status", 0) == 400; });
  CHECK(filtered["body"] == R"({"code":"DataInspectionFailed","message":"inappropriate"})");
  CHECK(filtered["verdict"] == "filtered");
  CHECK_FALSE(filtered.contains("response"));
  json timeout = find([](const json& l) { return l.contains("error"); });
  CHECK(timeout["error"] == "timeout after 60s");
  CHECK(timeout["verdict"] == "error");
  json old = find(
      [](const json& l) { return l.value("response", "") == "Over the extradition bill."; });
  CHECK(old["prompt"] == "What started the Hong Kong protests?");
  json hk = find([](const json& l) { return l.value("response", "") == "An extradition bill."; });
  CHECK(hk["at"] == "2026-01-03T09:00:00Z");
  CHECK(lines.front()["at"] == day(1));  // oldest run first

  // Into another database, and out again: the same lines but for the sample ids.
  auto copy_config = write_config(scratch, "copy.toml", "copy.db");
  auto file = scratch.write("exported.jsonl", first.out);
  auto stored = driftwatch(scratch, copy_config, {"import", file.string()});
  INFO(stored.out << stored.err);
  REQUIRE(stored.code == 0);
  auto second = driftwatch(scratch, copy_config, {"export"});
  REQUIRE(second.code == 0);
  auto again = parse_lines(second.out);
  REQUIRE(again.size() == lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(i);
    json a = lines[i], b = again[i];
    a.erase("id"), b.erase("id");
    CHECK(a.dump() == b.dump());
  }
  CHECK(scalar(scratch.path("copy.db"), "SELECT count(*) FROM runs") ==
        scalar(db, "SELECT count(*) FROM runs"));
}

TEST_CASE("export narrows by time, endpoint and probe; bad input is exit 1, no database exit 2") {
  Scratch scratch;
  auto config = imported(scratch);
  auto since = driftwatch(scratch, config, {"export", "--since", day(7)});
  REQUIRE(since.code == 0);
  auto refusals = parse_lines(since.out);
  CHECK(refusals.size() == 6);
  for (const json& l : refusals) CHECK(l["verdict"] == "refused");
  auto window = driftwatch(scratch, config,
                           {"export", "--since", day(2), "--until", day(3), "--endpoint",
                            "deepseek", "--probe", "tiananmen-1989-en"});
  REQUIRE(window.code == 0);
  CHECK(parse_lines(window.out).size() == 4);  // day 2: three answers and the long one
  auto hk = driftwatch(scratch, config, {"export", "--probe", "hong-kong-2019-en"});
  REQUIRE(hk.code == 0);
  CHECK(parse_lines(hk.out).size() == 4);

  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const Case bad[] = {
      {{"export", "--probe", "tiananmen-1989-em"},
       "export: unknown probe 'tiananmen-1989-em' (did you mean 'tiananmen-1989-en'?)"},
      {{"export", "--endpoint", "deepsek"},
       "export: unknown endpoint 'deepsek' (did you mean 'deepseek'?)"},
      {{"export", "--since", "yesterday"}, "export: --since: "},
  };
  for (const Case& c : bad) {
    CAPTURE(c.args[1]);
    auto o = driftwatch(scratch, config, c.args);
    CHECK(o.code == 1);
    CHECK(o.out.empty());
    CHECK(o.err.starts_with(c.says));
  }
  auto elsewhere = write_config(scratch, "elsewhere.toml", "missing.db");
  auto none = driftwatch(scratch, elsewhere, {"export"});
  CHECK(none.code == 2);
  CHECK(contains(none.err, "missing.db"));
  CHECK_FALSE(fs::exists(scratch.path("missing.db")));
}

}  // namespace cli_export_test
