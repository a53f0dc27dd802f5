// `driftwatch run --once` end to end: the real binary against driftwatch-sim on loopback
// (scenario tests/data/run-scenario.toml), checked through the database it writes, the
// simulator's own request log and its output.
#include <algorithm>
#include <thread>

#include "cli_run_harness.h"
#include "held_port.h"

namespace cli_run_test {

using namespace dw::test;

namespace {

const char* kKey = "sk-cli-run-test-5f2c9a7e41d0b3";
const char* kAt = "2026-01-15T06:00:00Z";

struct EndpointSpec {
  std::string name, kind, model;
  std::string extra = "";  // more TOML lines
};

std::string base_url(const Sim& sim, const std::string& kind) {
  return sim.url() + (kind == "openai" ? "/v1" : "");
}

// A config in the scratch folder: the database beside it, the shipped rule packs.
fs::path write_config(const Scratch& scratch, const Sim* sim, const std::vector<fs::path>& sets,
                      const std::vector<EndpointSpec>& endpoints, int samples = 1,
                      const std::string& url_override = "") {
  std::ostringstream t;
  t << "[storage]\ndatabase = \"dw.db\"\n\n[probes]\nsets = [";
  for (size_t i = 0; i < sets.size(); ++i) t << (i ? ", " : "") << sets[i];
  t << "]\nsamples = " << samples << "\n\n[classifier]\nrules = "
    << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n";
  for (const auto& e : endpoints) {
    t << "\n[[endpoint]]\nname = \"" << e.name << "\"\nkind = \"" << e.kind << "\"\nbase_url = \""
      << (url_override.empty() ? base_url(*sim, e.kind) : url_override) << "\"\nmodel = \""
      << e.model << "\"\n";
    if (e.kind != "ollama") t << "api_key_env = \"DW_TEST_SIM_KEY\"\n";
    t << e.extra;
  }
  return scratch.write("driftwatch.toml", t.str());
}

const std::string kWithKey = std::string("DW_TEST_SIM_KEY=") + kKey;

}  // namespace

TEST_CASE("each provider kind end to end: every field of the answer is stored and classified") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", kKey});
  auto config = write_config(scratch, &sim, {kData / "run-answers.toml"},
                             {{"gpt", "openai", "gpt-test"},
                              {"claude", "anthropic", "claude-test"},
                              {"llama", "ollama", "llama-test"},
                              {"gem", "gemini", "gemini-test"}},
                             2);
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kWithKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, "run 1 at 2026-01-15T06:00:00Z: complete, 24 of 24 samples stored"));
  CHECK_FALSE(contains(o.err, "\r"));  // no progress bar when stderr is not a terminal
  fs::path db = scratch.path("dw.db");
  auto run = query(db, "SELECT status, run_at, finished_at FROM runs");
  REQUIRE(run.size() == 1);
  CHECK(run[0]["status"] == "complete");
  CHECK(run[0]["run_at"] == kAt);
  CHECK(run[0]["finished_at"].has_value());

  struct Kind {
    std::string endpoint, model, finish, fingerprint;
  };
  const Kind kinds[] = {{"gpt", "gpt-test-0613", "stop", "fp_cli_run_test"},
                        {"claude", "claude-test", "end_turn", "NULL"},
                        {"llama", "llama-test", "stop", "NULL"},
                        {"gem", "gemini-test", "STOP", "NULL"}};
  // Texts are stored compressed: `export` reads them back, by endpoint.
  std::map<std::string, std::vector<std::string>> texts;
  auto exported = driftwatch(scratch, config, {"export", "--probe", "capital-australia"});
  REQUIRE(exported.code == 0);
  for (const auto& line : lines_of(exported.out)) {
    json j = json::parse(line);
    texts[j["endpoint"].get<std::string>()].push_back(j.value("response", ""));
  }
  for (const auto& k : kinds) {
    CAPTURE(k.endpoint);
    auto rows = query(db, "SELECT * FROM samples WHERE endpoint = '" + k.endpoint +
                              "' AND probe_id = 'capital-australia' ORDER BY seq");
    REQUIRE(rows.size() == 2);
    REQUIRE(texts[k.endpoint].size() == 2);
    for (const auto& text : texts[k.endpoint]) {
      CHECK(text.starts_with("Canberra is the capital of Australia."));
    }
    for (auto& r : rows) {
      CHECK(r["response_hash"].has_value());
      CHECK(r["http_status"] == "200");
      CHECK(r["finish_reason"] == k.finish);
      CHECK(r["model"] == k.model);
      CHECK(r["requested_model"] == (k.endpoint == "gpt" ? "gpt-test" : k.model));
      CHECK(r["system_fingerprint"].value_or("NULL") == k.fingerprint);
      CHECK(std::stoi(r["prompt_tokens"].value_or("0")) > 0);
      CHECK(std::stoi(r["completion_tokens"].value_or("0")) > 0);
      CHECK(r["attempts"] == "1");
      CHECK_FALSE(r["error"].has_value());
      CHECK(r["verdict"] == "answered");
      CHECK(r["expect_coverage"] == "1.0");
      CHECK(r["classifier_version"].value_or("").size() == 16);
      CHECK(r["received_at"].has_value());
    }
    CHECK(rows[0]["seq"] == "1");
    CHECK(rows[1]["seq"] == "2");
    CHECK(scalar(db, "SELECT group_concat(DISTINCT verdict) FROM samples WHERE endpoint = '" +
                         k.endpoint + "' AND probe_id = 'refused-topic'") == "refused");
    CHECK(scalar(db, "SELECT group_concat(DISTINCT verdict) FROM samples WHERE endpoint = '" +
                         k.endpoint + "' AND probe_id = 'filtered-topic'") ==
          (k.endpoint == "llama" ? "answered" : "filtered"));
  }
  CHECK(scalar(db, "SELECT block_reason FROM samples WHERE endpoint = 'gem' AND "
                   "probe_id = 'filtered-topic' AND seq = 1") == "PROHIBITED_CONTENT");
  CHECK(scalar(db, "SELECT finish_reason FROM samples WHERE endpoint = 'gpt' AND "
                   "probe_id = 'filtered-topic' AND seq = 1") == "content_filter");
  // The final table: one row per endpoint with counts by HTTP outcome.
  for (const char* name : {"gpt ", "claude ", "llama ", "gem "}) {
    auto at = o.out.find(std::string("\n") + name);
    REQUIRE(at != std::string::npos);
    std::istringstream row(o.out.substr(at + 1, o.out.find('\n', at + 1) - at - 1));
    std::string endpoint;
    long samples, ok, c4, c5, none, malformed, filtered;
    row >> endpoint >> samples >> ok >> c4 >> c5 >> none >> malformed >> filtered;
    CHECK(samples == 6);
    CHECK(ok == 6);
    CHECK(c4 + c5 + none + malformed == 0);
    CHECK(filtered == (endpoint == "llama" ? 0 : 2));
  }
  for (const auto& entry : sim.requests())
    CHECK(entry["key"] == (entry["kind"] == "ollama" ? "not_required" : "ok"));
}

TEST_CASE("every fault ends in the right stored outcome after the right number of attempts") {
  Scratch scratch;
  Sim sim(scratch);
  auto config = write_config(scratch, &sim, {kData / "run-faults.toml"},
                             {{"gpt", "openai", "gpt-test", "concurrency = 8\ntimeout = \"1s\"\n"}});
  auto o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  INFO(o.out << o.err);
  CHECK(o.code == 0);  // failed requests are data: the run itself completed
  CHECK(contains(o.out, ": complete, 8 of 8 samples stored"));

  struct Expected {
    const char* probe;
    const char* http_status;
    const char* error;  // a part of the stored error, "" for none
    const char* verdict;
    int attempts;
  };
  const Expected table[] = {
      {"fault-slow", "NULL", "timed out", "error", 3},
      {"fault-429-once", "200", "", "answered", 2},
      {"fault-429-always", "429", "HTTP 429", "error", 3},
      {"fault-5xx", "503", "HTTP 503", "error", 3},
      {"fault-malformed", "200", "malformed response", "error", 1},
      {"fault-truncated", "200", "transfer closed", "error", 3},
      {"fault-drop", "NULL", "Empty reply from server", "error", 3},
      {"fault-filter-400", "400", "DataInspectionFailed", "filtered", 1},
  };
  fs::path db = scratch.path("dw.db");
  // The slow request's last attempt is logged when the simulator finishes it, after the client
  // gave up: wait for the log to hold all three.
  auto logged_for = [&](const char* probe) {
    auto log = sim.requests();
    return std::count_if(log.begin(), log.end(), [&](const json& j) { return j["probe"] == probe; });
  };
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (logged_for("fault-slow") < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  for (const auto& e : table) {
    INFO("probe " << std::string(e.probe));
    auto rows = query(db, std::string("SELECT * FROM samples WHERE probe_id = '") + e.probe + "'");
    REQUIRE(rows.size() == 1);
    auto& r = rows[0];
    CHECK(r["http_status"].value_or("NULL") == e.http_status);
    if (*e.error) {
      CHECK(contains(r["error"].value_or(""), e.error));
    } else {
      CHECK_FALSE(r["error"].has_value());
    }
    CHECK(r["verdict"] == e.verdict);
    CHECK(r["attempts"].value_or("NULL") == std::to_string(e.attempts));
    long logged = logged_for(e.probe);
    if (std::string(e.probe) == "fault-drop") {
      // libcurl itself resends a request whose reused connection closed without a byte (on
      // another connection, up to five times), inside one of our attempts: the simulator sees
      // at least one request per attempt, often more.
      CHECK(logged >= e.attempts);
    } else {
      CHECK(logged == e.attempts);
    }
  }
  // The 400's body is kept, by hash, for the classifier and for people (`export` reads it).
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE probe_id = 'fault-filter-400' AND "
                   "error_body_hash IS NOT NULL") != "0");
  auto exported = driftwatch(scratch, config, {"export", "--probe", "fault-filter-400"});
  REQUIRE(exported.code == 0);
  REQUIRE_FALSE(lines_of(exported.out).empty());
  CHECK(contains(json::parse(lines_of(exported.out).front()).value("body", ""),
                 "\"code\":\"DataInspectionFailed\""));
  // 429 then success: the retry waited for Retry-After (1 s).
  std::vector<long> starts;
  for (const auto& j : sim.requests())
    if (j["probe"] == "fault-429-once") starts.push_back(j["start_ms"].get<long>());
  REQUIRE(starts.size() == 2);
  CHECK(starts[1] - starts[0] >= 950);
}

TEST_CASE("the run deadline ends a run whose endpoint always asks to come back in a minute") {
  Scratch scratch;
  // Every request is a 429 with Retry-After: 60 (the longest wait the transport honours); with
  // two retries each, the run would take minutes without its deadline.
  fs::path scenario = scratch.write(
      "throttled.toml",
      "description = \"Always throttled, come back in a minute\"\n\n[[rule]]\nname = "
      "\"throttled\"\n[[rule.outcome]]\nkind = \"status\"\nstatus = 429\nretry_after = 60\n");
  Sim sim(scratch, {}, scenario);
  auto config = write_config(scratch, &sim, {kData / "run-answers.toml"},  // 3 probes
                             {{"gpt", "openai", "gpt-test", "concurrency = 2\nretries = 2\n"}}, 2);
  std::string text = slurp(config);
  const std::string samples = "samples = 2\n";
  REQUIRE(text.find(samples) != std::string::npos);
  text.replace(text.find(samples), samples.size(), samples + "deadline = \"2s\"\n");
  config = scratch.write("driftwatch.toml", text);

  const auto started = std::chrono::steady_clock::now();
  auto o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  const auto took = std::chrono::steady_clock::now() - started;
  INFO(o.out << o.err);
  CHECK(took < 30s);  // 2 s of deadline, not the minutes the server asked for
  CHECK(o.code == 0);  // two requests got an HTTP response: the endpoint is reachable
  CHECK(contains(o.out, ": complete, 6 of 6 samples stored"));

  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE verdict = 'error' AND "
                   "error LIKE 'run deadline of 2s %'") == "6");
  // The two sent first came back 429; their retry could only start past the deadline.
  auto sent = query(db, "SELECT DISTINCT http_status, attempts, error FROM samples "
                        "WHERE http_status IS NOT NULL");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0]["http_status"] == "429");
  CHECK(sent[0]["attempts"] == "1");
  CHECK(sent[0]["error"] == "run deadline of 2s leaves no time to retry (last attempt: HTTP 429)");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE http_status = 429") == "2");
  // The lane was held past the deadline: the rest were never sent, yet each is a sample.
  auto unsent = query(db, "SELECT DISTINCT attempts, error FROM samples WHERE http_status IS NULL");
  REQUIRE(unsent.size() == 1);
  CHECK(unsent[0]["attempts"] == "0");
  CHECK(unsent[0]["error"] == "run deadline of 2s leaves no time to send the request");
  CHECK(sim.requests().size() == 2);
  CHECK(scalar(db, "SELECT status FROM runs") == "complete");
}

TEST_CASE("the concurrency and rate limits hold, as the simulator measures them") {
  Scratch scratch;
  Sim sim(scratch);
  auto set = kData / "run-pace.toml";  // 12 probes answered after 150 ms
  auto config = write_config(scratch, &sim, {set},
                             {{"gpt", "openai", "gpt-test", "concurrency = 3\n"}});
  auto o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  auto log = sim.requests();
  REQUIRE(log.size() == 12);
  int widest = 0;
  for (const auto& j : log) widest = std::max(widest, j["in_flight"].get<int>());
  CHECK(widest == 3);  // reached, never passed

  // 1200 a minute: one start every 50 ms, however many could be in flight.
  config = write_config(scratch, &sim, {set},
                        {{"gpt", "openai", "gpt-test", "concurrency = 12\nrate = 1200\n"}});
  o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  REQUIRE(o.code == 0);
  log = sim.requests(12);
  REQUIRE(log.size() == 12);
  std::vector<long> starts;
  for (const auto& j : log) starts.push_back(j["start_ms"].get<long>());
  std::sort(starts.begin(), starts.end());
  // driftwatch starts each request at least 50 ms after the one before; the simulator logs a
  // start late by its own scheduling delay, which differs between requests by up to kJitter
  // (11 ms seen on a busy machine; 60 ms allows for four times a busy machine's delay). So
  // starts j > i apart must be 50 (j - i) ms apart, less kJitter: a limiter letting three or
  // more through at once fails for j = i + 2, one spacing them at half the interval fails on
  // the whole span.
  constexpr long kJitter = 60;
  for (size_t i = 0; i < starts.size(); ++i) {
    for (size_t j = i + 1; j < starts.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(starts[j] - starts[i] >= 50 * static_cast<long>(j - i) - kJitter);
    }
  }
}

TEST_CASE("a run killed mid-way leaves a consistent database, reported incomplete next time") {
  Scratch scratch;
  Sim sim(scratch);
  auto config = write_config(scratch, &sim, {kData / "run-pace.toml"},
                             {{"gpt", "openai", "gpt-test", "concurrency = 2\n"}}, 4);
  fs::path db = scratch.path("dw.db");
  // 48 requests of 150 ms, two at a time: at least 3.6 s. Killed as soon as samples can be read
  // back, that is once the first timed commit (2 s into the run, runner.h) has landed.
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kWithKey}, [&](pid_t pid) {
    CHECK(await_count(db, "SELECT count(*) FROM samples", 1));
    kill(pid, SIGKILL);
  });
  CHECK(o.code == 128 + SIGKILL);
  CHECK(scalar(db, "PRAGMA integrity_check") == "ok");
  CHECK(scalar(db, "SELECT status FROM runs WHERE id = 1") == "running");  // as it was left
  long stored = std::stol(scalar(db, "SELECT count(*) FROM samples"));
  CHECK(stored > 0);
  CHECK(stored < 48);
  // Every stored sample is whole: its answer, its text and its verdict.
  CHECK(scalar(db, "SELECT count(*) FROM samples s JOIN responses t ON t.hash = s.response_hash "
                   "WHERE s.http_status = 200 AND s.verdict = 'answered' AND s.attempts = 1 "
                   "AND s.error IS NULL") == std::to_string(stored));

  // The next run notices, says so, and the interrupted run stays incomplete beside it.
  config = write_config(scratch, &sim, {kData / "run-answers.toml"},
                        {{"gpt", "openai", "gpt-test"}});
  o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  INFO(o.out << o.err);
  CHECK(o.code == 0);
  CHECK(contains(o.err, "note: the last run, 1 at 2026-01-15T06:00:00Z, did not complete and is "
                        "marked incomplete (" + std::to_string(stored) + " samples stored)"));
  auto runs = query(db, "SELECT id, status, finished_at FROM runs ORDER BY id");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0]["status"] == "incomplete");
  CHECK_FALSE(runs[0]["finished_at"].has_value());
  CHECK(runs[1]["status"] == "complete");
  CHECK(scalar(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("an answer is committed within the commit interval while a slow one keeps the run going") {
  Scratch scratch;
  Sim sim(scratch);
  auto config = write_config(scratch, &sim, {kData / "run-linger.toml"},
                             {{"gpt", "openai", "gpt-test", "concurrency = 2\n"}});
  fs::path db = scratch.path("dw.db");
  // One answer at once and one after 9 s: the first is readable (committed, and the write lock
  // released) within runner.h's 2 s, not only once the second comes or the run ends.
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kWithKey}, [&](pid_t) {
    CHECK(await_count(db, "SELECT count(*) FROM samples", 1, 7s));
    CHECK(scalar(db, "SELECT count(*) FROM samples") == "1");
    CHECK(scalar(db, "SELECT status FROM runs") == "running");
  });
  INFO(o.out << o.err);
  CHECK(o.code == 0);
  CHECK(scalar(db, "SELECT count(*) FROM samples") == "2");
}

TEST_CASE("SIGINT stops a run cleanly: exit 2, the run marked incomplete, and said so") {
  Scratch scratch;
  Sim sim(scratch);
  // 48 requests of 150 ms, one at a time: at least 7.2 s, so that a clean stop within seconds
  // cannot be mistaken for the run's end.
  auto config = write_config(scratch, &sim, {kData / "run-pace.toml"},
                             {{"gpt", "openai", "gpt-test", "concurrency = 1\n"}}, 4);
  auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration stopping{};
  auto o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey}, [&](pid_t pid) {
    CHECK(sim.await_requests(6));
    kill(pid, SIGINT);
    started = std::chrono::steady_clock::now();
  });
  stopping = std::chrono::steady_clock::now() - started;
  INFO(o.out << o.err);
  CHECK(o.code == 2);
  CHECK(stopping < 5s);  // finishing the run instead would take 6 s more
  fs::path db = scratch.path("dw.db");
  std::string stored = scalar(db, "SELECT count(*) FROM samples");
  CHECK(std::stol(stored) > 0);
  CHECK(std::stol(stored) < 48);
  CHECK(contains(o.err, "interrupted: run 1 is marked incomplete (" + stored +
                            " of 48 samples stored)"));
  CHECK(contains(o.out, "run 1 at "));
  CHECK(contains(o.out, ": incomplete, " + stored + " of 48 samples stored"));
  CHECK(scalar(db, "SELECT status FROM runs") == "incomplete");
  // Requests cut short are not samples: nothing stored says "cancelled".
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE error IS NOT NULL") == "0");
  CHECK(scalar(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("the API key reaches the simulator from the environment and is written nowhere") {
  Scratch scratch;
  Sim sim(scratch, {"--api-key", kKey});
  const std::string wrong = "sk-wrong-key-for-cli-run-9d8e7f";
  auto config = write_config(scratch, &sim, {kData / "run-answers.toml"},
                             {{"gpt", "openai", "gpt-test"}, {"claude", "anthropic", "claude-t"},
                              {"gem", "gemini", "gemini-t"}});
  auto good = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  CHECK(good.code == 0);
  auto bad = driftwatch(scratch, config, {"run", "--once"}, {"DW_TEST_SIM_KEY=" + wrong});
  CHECK(bad.code == 0);  // 401s are answers: the endpoints were reachable
  auto none = driftwatch(scratch, config, {"run", "--once"});
  INFO(good.out << good.err << bad.out << bad.err << none.out << none.err);
  CHECK(none.code == 2);
  CHECK(contains(none.out, "skipped: "));
  CHECK(contains(none.out, "DW_TEST_SIM_KEY"));
  CHECK(contains(none.err, "no request of run 3 could be sent: every endpoint was skipped"));

  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT group_concat(DISTINCT http_status) FROM samples WHERE run_id = 1") ==
        "200");
  auto rejected = query(db, "SELECT DISTINCT http_status, verdict, attempts FROM samples "
                            "WHERE run_id = 2");
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0]["http_status"] == "401");
  CHECK(rejected[0]["verdict"] == "error");
  CHECK(rejected[0]["attempts"] == "1");  // a 401 is not retried
  std::map<std::string, int> keys;
  for (const auto& e : sim.requests()) ++keys[e["key"].get<std::string>()];
  CHECK(keys["ok"] == 9);
  CHECK(keys["wrong"] == 9);

  std::string everything = good.out + good.err + bad.out + bad.err + none.out + none.err;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::path file = scratch.path(std::string("dw.db") + suffix);
    if (fs::exists(file)) everything += slurp(file);
  }
  CHECK(everything.size() > 4096);
  CHECK_FALSE(contains(everything, kKey));
  CHECK_FALSE(contains(everything, wrong));
}

TEST_CASE("exit 2 when no endpoint answers, exit 1 on a bad config or time") {
  Scratch scratch;
  dw::testing::HeldPort refused;  // nothing listens there
  auto config = write_config(scratch, nullptr, {kData / "run-answers.toml"},
                             {{"gpt", "openai", "gpt-test", "retries = 0\n"}}, 1,
                             refused.url("/v1"));
  auto o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  INFO(o.out << o.err);
  CHECK(o.code == 2);
  CHECK(contains(o.err, "no request of run 1 got an HTTP response: no endpoint answered"));
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE http_status IS NULL AND verdict = 'error' "
                   "AND error LIKE '%connect%'") == "3");
  CHECK(scalar(db, "SELECT status FROM runs") == "complete");

  fs::remove(db);
  std::string text = slurp(config);
  config = scratch.write("driftwatch.toml", text + "temprature = 0.5\n");
  o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  CHECK(o.code == 1);
  CHECK(contains(o.err, config.string() + ":"));
  CHECK(contains(o.err, "unknown key 'temprature'"));
  CHECK_FALSE(fs::exists(db));  // nothing runs with a config that does not check

  config = scratch.write("driftwatch.toml", text);
  o = driftwatch(scratch, config, {"run", "--once", "--at", "yesterday"});
  CHECK(o.code == 1);
  CHECK(contains(o.err, "--at: "));
  o = driftwatch(scratch, config, {"run"});
  CHECK(o.code == 1);  // --once is required: the loop is `driftwatch daemon`
}

TEST_CASE("a 1,000-probe set runs to the end") {
  Scratch scratch;
  Sim sim(scratch);
  std::ostringstream set;
  set << "name = \"thousand\"\n";
  for (int i = 0; i < 1000; ++i) {
    set << "\n[[probe]]\nid = \"p" << i << "\"\ncategory = \"bulk\"\nlang = \"en\"\nprompt = "
        << "\"Question number " << i << ": what is the capital of Australia?\"\n";
  }
  auto config = write_config(scratch, &sim, {scratch.write("thousand.toml", set.str())},
                             {{"gpt", "openai", "gpt-test", "concurrency = 16\n"}});
  auto o = driftwatch(scratch, config, {"run", "--once"}, {kWithKey});
  INFO(o.out << o.err);
  CHECK(o.code == 0);
  CHECK(contains(o.out, ": complete, 1000 of 1000 samples stored"));
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE verdict = 'answered'") == "1000");
  CHECK(scalar(db, "SELECT count(*) FROM responses") == "1");  // one text, stored once
}

TEST_CASE("on a terminal a progress bar shows done/total, errors, rate and ETA") {
  Scratch scratch;
  Sim sim(scratch);
  auto config = write_config(scratch, &sim, {kData / "run-answers.toml"},
                             {{"gpt", "openai", "gpt-test"}}, 2);
  Outcome o = on_terminal(config, {"run", "--once"}, {kWithKey});
  CHECK(o.code == 0);
  const std::string& screen = o.out;
  INFO(screen);
  CHECK(contains(screen, "\r["));
  CHECK(contains(screen, "] 6/6  errors 0  "));
  CHECK(contains(screen, "/s  ETA 0m00s"));
  CHECK(contains(screen, "run 1 at "));
}

}  // namespace cli_run_test
