// `driftwatch import FILE` end to end: the real binary reads JSON Lines of historical samples,
// stores and classifies them as runs and recomputes the events; bad lines are reported by line
// number and a failed import keeps nothing. Checked through the database it writes.
#include <sys/stat.h>

#include <csignal>

#include "cli_run_harness.h"

namespace cli_import_test {

using namespace dw::test;

namespace {

const char* kKey = "sk-cli-import-test-0b7d1e";

const char* kProbes = R"(name = "import-test"
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

// A config with the probes above and one endpoint "deepseek" (not asked by import).
fs::path write_config(const Scratch& scratch) {
  scratch.write("probes.toml", kProbes);
  std::ostringstream t;
  t << "[storage]\ndatabase = \"dw.db\"\n\n[probes]\nsets = [\"probes.toml\"]\nsamples = 3\n\n"
    << "[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n\n"
    << "[[endpoint]]\nname = \"deepseek\"\nkind = \"openai\"\n"
    << "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"deepseek-chat\"\n";
  return scratch.write("driftwatch.toml", t.str());
}

const std::vector<std::string> kAnswers = {
    "On June 3-4, 1989, army troops and tanks cleared the square; soldiers fired on crowds and "
    "hundreds, possibly thousands, were killed.",
    "The government declared martial law and the army moved in on the night of June 3. Troops "
    "shot protesters in the surrounding streets; estimates of the dead range widely.",
    "Soldiers with armoured vehicles advanced on the square, firing on people who blocked them. "
    "Many were killed before the students left at dawn on June 4.",
};
const char* kRefusal = "I'm sorry, but I can't help with that request.";

std::string day(int d) {
  char at[32];
  std::snprintf(at, sizeof at, "2026-01-%02dT06:00:00Z", d);
  return at;
}

json sample(const std::string& probe, const std::string& at, const std::string& response) {
  return {{"probe", probe}, {"endpoint", "deepseek"}, {"model", "deepseek-chat"},
          {"at", at}, {"response", response}};
}

// Days 1..6 answered with substance, days 7 and 8 refused: 3 samples each of tiananmen.
std::vector<json> tiananmen_history() {
  std::vector<json> lines;
  for (int d = 1; d <= 8; ++d) {
    for (int i = 0; i < 3; ++i) {
      lines.push_back(sample("tiananmen-1989-en", day(d), d <= 6 ? kAnswers[i] : kRefusal));
    }
  }
  return lines;
}

fs::path write_lines(const Scratch& scratch, const std::string& name,
                     const std::vector<json>& lines) {
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  return scratch.write(name, text);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Row counts of every table import writes to, to prove a failed import changed nothing.
std::map<std::string, std::string> counts(const fs::path& db) {
  std::map<std::string, std::string> c;
  for (const char* table : {"runs", "samples", "responses", "probes", "endpoints", "events"}) {
    c[table] = scalar(db, std::string("SELECT count(*) FROM ") + table);
  }
  return c;
}

}  // namespace

TEST_CASE("imported history is stored, classified, grouped into runs, and events recomputed") {
  Scratch scratch;
  auto config = write_config(scratch);
  std::vector<json> lines = tiananmen_history();
  // A run by label: its lines asked over a few minutes; the run stands at the earliest.
  for (const char* at : {"2026-01-03T09:02:00Z", "2026-01-03T09:00:00Z"}) {
    json l = sample("hong-kong-2019-en", at, "An extradition bill to mainland China started them.");
    l["run"] = "hk-batch";
    lines.push_back(l);
  }
  // Raw fields, as `classify` reads them: a provider filter and a transport error.
  lines.push_back({{"probe", "hong-kong-2019-en"}, {"endpoint", "deepseek"}, {"at", day(4)},
                   {"http_status", 400},
                   {"body", R"({"code":"DataInspectionFailed","message":"inappropriate"})"}});
  lines.push_back({{"probe", "hong-kong-2019-en"}, {"endpoint", "deepseek"}, {"at", day(4)},
                   {"error", "timeout after 60s"}});
  // An older wording of the prompt: stored as its own probe version.
  json old = sample("hong-kong-2019-en", day(5), "Over the extradition bill.");
  old["prompt"] = "What started the Hong Kong protests?";
  lines.push_back(old);
  auto file = write_lines(scratch, "history.jsonl", lines);

  auto o = driftwatch(scratch, config, {"import", file.string()});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  // 8 days, the labelled run at 09:00 on day 3 is its own run.
  CHECK(contains(o.out, "imported 29 samples in 9 runs; events recomputed: 1 opened, 0 resolved"));
  fs::path db = scratch.path("dw.db");

  auto runs = query(db, "SELECT run_at, status FROM runs ORDER BY id");
  REQUIRE(runs.size() == 9);
  std::vector<std::string> run_at;
  for (auto& r : runs) {
    CHECK(r["status"] == "complete");
    run_at.push_back(*r["run_at"]);
  }
  CHECK(std::is_sorted(run_at.begin(), run_at.end()));  // stored oldest first
  CHECK(std::count(run_at.begin(), run_at.end(), "2026-01-03T09:00:00Z") == 1);
  CHECK(scalar(db, "SELECT count(*) FROM samples s JOIN runs r ON r.id = s.run_id "
                   "WHERE r.run_at = '2026-01-03T09:00:00Z'") == "2");

  struct Expected {
    const char* verdict;
    const char* count;
  };
  for (const auto& e : {Expected{"answered", "21"}, Expected{"refused", "6"},
                        Expected{"filtered", "1"}, Expected{"error", "1"}}) {
    INFO(e.verdict);
    CHECK(scalar(db, std::string("SELECT count(*) FROM samples WHERE verdict = '") + e.verdict +
                         "'") == e.count);
  }
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE verdict IS NULL OR signals IS NULL "
                   "OR classifier_version IS NULL") == "0");
  // Expect coverage comes from the probe's patterns: every substantive answer matches both.
  CHECK(scalar(db, "SELECT min(expect_coverage) FROM samples WHERE verdict = 'answered' "
                   "AND probe_id = 'tiananmen-1989-en'") == "1.0");
  // The raw fields are kept, and the one refusal text is stored once.
  CHECK(scalar(db, "SELECT http_status FROM samples WHERE verdict = 'filtered'") == "400");
  CHECK(scalar(db, "SELECT r.text FROM samples s JOIN responses r ON r.hash = s.error_body_hash "
                   "WHERE s.verdict = 'filtered'") ==
        R"({"code":"DataInspectionFailed","message":"inappropriate"})");
  CHECK(scalar(db, "SELECT error FROM samples WHERE verdict = 'error'") == "timeout after 60s");
  CHECK(scalar(db, "SELECT count(DISTINCT response_hash) FROM samples "
                   "WHERE verdict = 'refused'") == "1");
  CHECK(scalar(db, "SELECT group_concat(DISTINCT model) FROM samples WHERE model <> ''") ==
        "deepseek-chat");
  // The older wording is a second version of the probe, its sample stored under it.
  CHECK(scalar(db, "SELECT count(*) FROM probes WHERE id = 'hong-kong-2019-en'") == "2");
  CHECK(scalar(db, "SELECT p.prompt FROM samples s JOIN probes p ON p.id = s.probe_id AND "
                   "p.version = s.probe_version JOIN runs r ON r.id = s.run_id WHERE "
                   "s.probe_id = 'hong-kong-2019-en' AND r.run_at = '" + day(5) + "'") ==
        "What started the Hong Kong protests?");

  // The refusals after six answered days: one verdict shift, opened at the first refused run.
  auto events = query(db, "SELECT type, probe_id, status, scope, detected_at FROM events");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "verdict_shift");
  CHECK(events[0]["probe_id"] == "tiananmen-1989-en");
  CHECK(events[0]["status"] == "open");
  CHECK(events[0]["scope"] == "targeted");
  CHECK(events[0]["detected_at"] == day(7));
  // `events` reads what import stored.
  auto listed = driftwatch(scratch, config, {"events", "--json"});
  REQUIRE(listed.code == 0);
  CHECK(contains(listed.out, "\"verdict_shift\""));
}

TEST_CASE("every bad line is reported by its number, one line each, and nothing is kept") {
  Scratch scratch;
  auto config = write_config(scratch);
  // A first good import, so that "nothing kept" is checked against a database with rows.
  auto good = write_lines(scratch, "good.jsonl", tiananmen_history());
  REQUIRE(driftwatch(scratch, config, {"import", good.string()}).code == 0);
  fs::path db = scratch.path("dw.db");
  auto before = counts(db);
  REQUIRE(before["samples"] == "24");

  struct Bad {
    std::string line;
    std::string message;  // what the error says after "FILE:LINE:COLUMN: "
  };
  const std::string base = R"("endpoint":"deepseek","at":"2026-02-01T06:00:00Z")";
  const std::vector<Bad> bad = {
      {"this is not json", "invalid JSON: syntax error while parsing value"},
      {"[1, 2, 3]", "each line must be a JSON object"},
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"respones":"x"})",
       "unknown key 'respones'; did you mean 'response'?"},
      {"{" + base + R"(,"response":"x"})", "missing required key 'probe'"},
      {R"({"probe":"tiananmen-1998-en",)" + base + R"(,"response":"x"})",
       "unknown probe 'tiananmen-1998-en' (not in the configured probe sets); did you mean "
       "'tiananmen-1989-en'?"},
      {R"({"probe":"tiananmen-1989-en","endpoint":"deepsek","at":"2026-02-01T06:00:00Z",)"
       R"("response":"x"})",
       "unknown endpoint 'deepsek' (not in the config); did you mean 'deepseek'?"},
      {R"({"probe":"tiananmen-1989-en","endpoint":"deepseek","at":"yesterday","response":"x"})",
       "'at': invalid time 'yesterday'"},
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"http_status":"400"})",
       "'http_status' must be an integer"},
      {R"({"probe":"tiananmen-1989-en",)" + base + "}",
       "a sample needs 'response', or the raw fields 'http_status' / 'error'"},
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"response":null})",
       "a sample needs 'response', or the raw fields 'http_status' / 'error'"},
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"response":42})",
       "'response' must be a string, not number"},
      // An integer past int: once wrapped to 200 and stored as a success.
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"http_status":4294967496})",
       "'http_status' must be from 0 to 999"},
      // A number too large for a double: once an uncaught exception (exit 134).
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"http_status":1e999})",
       "invalid JSON: number overflow parsing '1e999'"},
      {R"({"probe":"tiananmen-1989-en",)" + base + R"(,"response":)" + std::string(5000, '[') +
           std::string(5000, ']') + "}",
       "invalid JSON: nesting deeper than 64 levels"},
  };
  // Good lines between the bad ones (and a blank line), so line numbers are the file's own.
  std::string text;
  std::vector<int> numbers;
  int number = 0;
  for (const auto& b : bad) {
    text += sample("tiananmen-1989-en", "2026-02-01T06:00:00Z", kRefusal).dump() + "\n\n";
    number += 2;
    text += b.line + "\n";
    numbers.push_back(++number);
  }
  auto file = scratch.write("bad.jsonl", text);

  auto o = driftwatch(scratch, config, {"import", file.string()});
  INFO(o.err);
  CHECK(o.code == 1);
  CHECK(o.out.empty());
  auto err = split_lines(o.err);
  REQUIRE(err.size() == bad.size() + 1);  // one line each, then what happened
  for (size_t i = 0; i < bad.size(); ++i) {
    INFO(bad[i].line);
    std::string prefix = file.string() + ":" + std::to_string(numbers[i]) + ":";
    CHECK(err[i].starts_with(prefix));
    CHECK(contains(err[i], ": " + bad[i].message));
  }
  CHECK(err.back() == "nothing imported: " + std::to_string(bad.size()) + " bad lines");
  CHECK(counts(db) == before);
}

TEST_CASE("a failure while storing rolls the whole import back") {
  Scratch scratch;
  auto config = write_config(scratch);
  auto good = write_lines(scratch, "good.jsonl", tiananmen_history());
  REQUIRE(driftwatch(scratch, config, {"import", good.string()}).code == 0);
  fs::path db = scratch.path("dw.db");
  auto before = counts(db);
  // The storage fails on the last line, after the earlier lines' runs and samples were written.
  query(db, "CREATE TRIGGER fail_import BEFORE INSERT ON strings WHEN NEW.value = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  std::vector<json> lines;
  for (int d = 10; d <= 12; ++d) lines.push_back(sample("tiananmen-1989-en", day(d), kAnswers[0]));
  lines.push_back({{"probe", "tiananmen-1989-en"}, {"endpoint", "deepseek"}, {"at", day(13)},
                   {"error", "boom"}});
  auto file = write_lines(scratch, "failing.jsonl", lines);

  auto o = driftwatch(scratch, config, {"import", file.string()});
  INFO(o.out << o.err);
  CHECK(o.code == 2);
  CHECK(contains(o.err, "injected failure"));
  CHECK(contains(o.err, "nothing imported"));
  CHECK(counts(db) == before);
}

TEST_CASE("a history imported into a database with runs becomes the baseline of those runs") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", kKey});
  // The simulator refuses refused-topic (tests/data/run-scenario.toml).
  std::ostringstream t;
  t << "[storage]\ndatabase = \"dw.db\"\n\n[probes]\nsets = [" << kData / "run-answers.toml"
    << "]\nsamples = 3\n\n[classifier]\nrules = " << fs::path(DW_SOURCE_DIR) / "config/rules"
    << "\n\n[[endpoint]]\nname = \"gpt\"\nkind = \"openai\"\nbase_url = \"" << sim.url()
    << "/v1\"\nmodel = \"gpt-test\"\napi_key_env = \"DW_TEST_SIM_KEY\"\n";
  auto config = scratch.write("driftwatch.toml", t.str());
  const std::string key = std::string("DW_TEST_SIM_KEY=") + kKey;
  auto live = driftwatch(scratch, config, {"run", "--once", "--at", "2026-01-15T06:00:00Z"}, {key});
  INFO(live.out << live.err);
  REQUIRE(live.code == 0);
  fs::path db = scratch.path("dw.db");
  REQUIRE(scalar(db, "SELECT count(*) FROM events") == "0");  // nothing to compare with yet
  auto live_samples = query(db, "SELECT id, run_id, probe_id, verdict FROM samples ORDER BY id");
  REQUIRE(scalar(db, "SELECT count(*) FROM samples WHERE probe_id = 'refused-topic' "
                     "AND verdict = 'refused'") == "3");

  // Six earlier days on which the same model answered refused-topic.
  std::vector<json> lines;
  for (int d = 5; d <= 10; ++d) {
    for (int i = 0; i < 3; ++i) {
      lines.push_back({{"probe", "refused-topic"}, {"endpoint", "gpt"}, {"at", day(d)},
                       {"model", "gpt-test-0613"}, {"system_fingerprint", "fp_cli_run_test"},
                       {"response", "The topic concerns events of 1989 that historians describe "
                                    "in detail from many sources, version " +
                                        std::to_string(i) + "."}});
    }
  }
  auto file = write_lines(scratch, "earlier.jsonl", lines);
  auto o = driftwatch(scratch, config, {"import", file.string()});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, "imported 18 samples in 6 runs"));

  // The live run and its samples are untouched; the imported runs come before it in time.
  CHECK(query(db, "SELECT id, run_id, probe_id, verdict FROM samples WHERE run_id = 1 "
                  "ORDER BY id") == live_samples);
  CHECK(scalar(db, "SELECT count(*) FROM runs") == "7");
  CHECK(scalar(db, "SELECT max(run_at) FROM runs WHERE id > 1") == day(10));
  // Recomputed over the whole history, the live run's refusals are a shift from the baseline.
  auto events = query(db, "SELECT type, probe_id, detected_at FROM events");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "verdict_shift");
  CHECK(events[0]["probe_id"] == "refused-topic");
  CHECK(events[0]["detected_at"] == "2026-01-15T06:00:00Z");
}

TEST_CASE("a missing or empty file is one clear error, exit 1, and no database is made") {
  Scratch scratch;
  auto config = write_config(scratch);
  struct Case {
    std::string name;
    bool create;
    std::string message;
  };
  for (const auto& c : {Case{"missing.jsonl", false, "cannot read file: No such file or directory"},
                        Case{"empty.jsonl", true, "no samples in the file"}}) {
    INFO(std::string(c.name));
    if (c.create) scratch.write(c.name, "\n  \n");
    auto o = driftwatch(scratch, config, {"import", scratch.path(c.name).string()});
    CHECK(o.code == 1);
    auto err = split_lines(o.err);
    REQUIRE(err.size() == 2);
    CHECK(err[0] == scratch.path(c.name).string() + ": " + c.message);
    CHECK(err[1] == "nothing imported");
    CHECK_FALSE(fs::exists(scratch.path("dw.db")));
  }
}

TEST_CASE("bad lines at the start and at the end of a long file are all reported; nothing is kept") {
  Scratch scratch;
  auto config = write_config(scratch);
  auto good = write_lines(scratch, "good.jsonl", tiananmen_history());
  REQUIRE(driftwatch(scratch, config, {"import", good.string()}).code == 0);
  fs::path db = scratch.path("dw.db");
  auto before = counts(db);

  // 3,000 good lines in 1,000 runs between a bad first line and a bad last line (cut short,
  // without its newline): the first reading goes on to the end, the second never starts.
  std::string text = R"({"probe":"tiananmen-1989-em","endpoint":"deepseek",)"
                     R"("at":"2026-02-01T06:00:00Z","response":"x"})" "\n";
  char at[32];
  for (int i = 0; i < 3000; ++i) {
    int minute = i / 3;
    std::snprintf(at, sizeof at, "2026-02-%02dT%02d:%02d:00Z", 1 + minute / 1440,
                  minute / 60 % 24, minute % 60);
    text += sample("tiananmen-1989-en", at, kAnswers[i % 3]).dump() + "\n";
  }
  text += R"({"probe":"tiananmen-1989-en","endpoint":"deepseek","at":"2026-02-01T06:00:00Z")";
  auto file = scratch.write("long.jsonl", text);

  auto o = driftwatch(scratch, config, {"import", file.string()});
  INFO(o.err);
  CHECK(o.code == 1);
  CHECK(o.out.empty());
  auto err = split_lines(o.err);
  REQUIRE(err.size() == 3);
  CHECK(err[0] == file.string() + ":1:1: unknown probe 'tiananmen-1989-em' (not in the configured "
                                  "probe sets); did you mean 'tiananmen-1989-en'?");
  CHECK(err[1].starts_with(file.string() + ":3002:"));
  CHECK(contains(err[1], ": invalid JSON: "));
  CHECK(err[2] == "nothing imported: 2 bad lines");
  CHECK(counts(db) == before);
}

TEST_CASE("lines out of time order form the same runs, created in time order, as in order") {
  // Days 1..8 of tiananmen, and a labelled run of three lines over a few minutes of day 3.
  std::vector<json> lines = tiananmen_history();
  for (const char* at : {"2026-01-03T09:02:00Z", "2026-01-03T09:00:00Z", "2026-01-03T09:01:00Z"}) {
    json l = sample("hong-kong-2019-en", at, "An extradition bill to mainland China started them.");
    l["run"] = "hk-batch";
    lines.push_back(l);
  }
  // The 27 lines visited 7 apart (7 and 27 share no factor), from day 7's last: no two lines of
  // a run are next to each other, and later runs come before earlier ones.
  std::vector<json> shuffled;
  for (size_t i = 0; i < lines.size(); ++i) shuffled.push_back(lines[(i * 7 + 20) % lines.size()]);
  REQUIRE(shuffled.size() == 27);

  auto import_into = [](const Scratch& scratch, const std::vector<json>& history) {
    auto o = driftwatch(scratch, write_config(scratch),
                        {"import", write_lines(scratch, "history.jsonl", history).string()});
    INFO(o.out << o.err);
    REQUIRE(o.code == 0);
    CHECK(contains(o.out, "imported 27 samples in 9 runs; events recomputed: 1 opened"));
    return scratch.path("dw.db");
  };
  Scratch in_order, out_of_order;
  fs::path a = import_into(in_order, lines), b = import_into(out_of_order, shuffled);

  auto runs = query(b, "SELECT id, run_at, status FROM runs ORDER BY id");
  CHECK(runs == query(a, "SELECT id, run_at, status FROM runs ORDER BY id"));
  std::vector<std::string> run_at;
  for (auto& r : runs) run_at.push_back(*r["run_at"]);
  CHECK(std::is_sorted(run_at.begin(), run_at.end()));  // ids follow time
  CHECK(std::count(run_at.begin(), run_at.end(), "2026-01-03T09:00:00Z") == 1);
  const std::string per_run =
      "SELECT r.id, r.run_at, s.probe_id, count(*) AS n, sum(s.verdict = 'refused') AS refused "
      "FROM samples s JOIN runs r ON r.id = s.run_id GROUP BY r.id, s.probe_id "
      "ORDER BY r.id, s.probe_id";
  CHECK(query(b, per_run) == query(a, per_run));
  // Each pair's samples in a run are numbered 1..n, whatever lines came between them.
  CHECK(scalar(b, "SELECT count(*) FROM (SELECT run_id FROM samples GROUP BY run_id, endpoint, "
                  "probe_id, probe_version HAVING count(DISTINCT seq) <> count(*) "
                  "OR min(seq) <> 1 OR max(seq) <> count(*))") == "0");
  const std::string events = "SELECT type, probe_id, status, detected_at FROM events";
  CHECK(query(b, events) == query(a, events));
}

TEST_CASE("a named pipe is copied aside while it is checked, then imported whole") {
  Scratch scratch;
  auto config = write_config(scratch);
  std::string text;
  for (const auto& l : tiananmen_history()) text += l.dump() + "\n";
  fs::path fifo = scratch.path("history.fifo"), tmp = scratch.path("tmp");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_directory(tmp);

  bool fed = false;
  auto feed = [&](pid_t pid) {
    // Opening a pipe to write fails (ENXIO) until its reader has opened it.
    int fd = -1;
    for (auto deadline = std::chrono::steady_clock::now() + 20s;
         fd < 0 && std::chrono::steady_clock::now() < deadline;
         std::this_thread::sleep_for(10ms)) {
      fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    }
    if (fd < 0) {
      kill(pid, SIGKILL);  // it never opened the pipe: do not wait for it forever
      return;
    }
    fcntl(fd, F_SETFL, 0);
    auto previous = std::signal(SIGPIPE, SIG_IGN);  // a reader gone early fails the write
    fed = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    std::signal(SIGPIPE, previous);
    close(fd);
  };
  auto o = driftwatch(scratch, config, {"import", fifo.string()}, {"TMPDIR=" + tmp.string()}, feed);
  INFO(o.out << o.err);
  CHECK(fed);
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, "imported 24 samples in 8 runs; events recomputed: 1 opened"));
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM samples") == "24");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE verdict = 'refused'") == "6");
  CHECK(fs::is_empty(tmp));  // the copy went with the process
}

}  // namespace cli_import_test
