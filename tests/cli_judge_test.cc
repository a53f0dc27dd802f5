// The judge end to end: `driftwatch run --once` and `driftwatch judge` with a [judge] that is
// driftwatch-sim's simulated judge (it reads markers in the judged replies; scenario
// tests/data/judge-scenario.toml), checked through the database, the simulator's request log
// and the commands' output.
#include "cli_run_harness.h"
#include "held_port.h"

namespace cli_judge_test {

using namespace dw::test;

namespace {

const char* kAt = "2026-01-15T06:00:00Z";
const std::string kKey = "DW_TEST_KEY=sk-cli-judge-test-0c1d2e3f";
const fs::path kScenario = kData / "judge-scenario.toml";

// A config probing the simulator with tests/data/judge-probes.toml, and `judge` (TOML lines of
// a [judge] table, or "" for none).
fs::path write_config(const Scratch& scratch, const Sim& sim, const std::string& judge,
                      int samples = 1) {
  std::ostringstream t;
  t << "[storage]\ndatabase = \"dw.db\"\n\n[probes]\nsets = [" << kData / "judge-probes.toml"
    << "]\nsamples = " << samples << "\n\n[classifier]\nrules = "
    << fs::path(DW_SOURCE_DIR) / "config/rules" << "\n\n[[endpoint]]\nname = \"sim\"\n"
    << "kind = \"openai\"\nbase_url = \"" << sim.url() << "/v1\"\nmodel = \"sim-model\"\n"
    << "api_key_env = \"DW_TEST_KEY\"\n";
  if (!judge.empty()) t << "\n[judge]\n" << judge;
  return scratch.write("driftwatch.toml", t.str());
}

std::string judge_at(const std::string& url, const std::string& more = "") {
  return "kind = \"ollama\"\nbase_url = \"" + url + "\"\nmodel = \"judge-model\"\n" + more;
}

// The simulator's requests from the judge (by its model).
long judge_requests(const Sim& sim, const std::string& model = "judge-model") {
  long n = 0;
  for (const auto& r : sim.requests()) n += r["model"] == model ? 1 : 0;
  return n;
}

// The final verdict of a probe's samples as `driftwatch diff` reports it.
std::string diff_line(const Scratch& scratch, const fs::path& config, const std::string& probe) {
  auto o = driftwatch(scratch, config, {"diff", probe, "--endpoint", "sim"});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  return o.out;
}

}  // namespace

TEST_CASE("after a run the judge's verdict is final, the rules' is kept, a text is judged once") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  auto config = write_config(scratch, sim, judge_at(sim.url(), "when = \"all\"\n"));
  auto check = driftwatch(scratch, config, {"check"});
  INFO(check.out << check.err);
  REQUIRE(check.code == 0);
  CHECK(contains(check.out, "judge: judge  ollama  judge-model  " + sim.url() + "/api/chat"));
  CHECK(contains(check.out, "when: all, at most 100 texts a run"));

  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  // Six samples, five texts (two probes get the same reply); the unusable reply asked twice.
  CHECK(contains(o.out, "judged 5 samples (0 from earlier judgements, 2 changed) after asking "
                        "about 5 texts; 1 text unusable, 0 unanswered, 0 samples waiting"));
  CHECK(judge_requests(sim) == 6);
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM judgements") == "5");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE judgement_id IS NULL") == "0");
  CHECK(scalar(db, "SELECT count(DISTINCT judgement_id) FROM samples WHERE probe_id IN "
                   "('judge-same-a', 'judge-same-b')") == "1");

  // Both verdicts are kept: the rules' in samples, the judge's beside it.
  auto rows = query(db,
                    "SELECT s.verdict AS rules, j.verdict AS judge, j.reason, j.model, "
                    "j.prompt_version FROM samples s JOIN judgements j ON j.id = s.judgement_id "
                    "WHERE s.probe_id = 'judge-deflect'");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["rules"] == "answered");
  CHECK(rows[0]["judge"] == "deflected");
  CHECK(rows[0]["reason"] == "The simulated judge found the marker for deflected.");
  CHECK(rows[0]["model"] == "judge-model");
  CHECK(rows[0]["prompt_version"] == "judge-1");
  CHECK(scalar(db, "SELECT s.verdict || '/' || j.verdict FROM samples s JOIN judgements j ON "
                   "j.id = s.judgement_id WHERE s.probe_id = 'judge-voice'") == "deflected/refused");
  // An unusable reply is recorded, never a verdict: the rules' stands.
  auto garbage = query(db,
                       "SELECT s.verdict, j.verdict AS judge, j.reason FROM samples s JOIN "
                       "judgements j ON j.id = s.judgement_id WHERE s.probe_id = 'judge-garbage'");
  REQUIRE(garbage.size() == 1);
  CHECK_FALSE(garbage[0]["judge"].has_value());
  CHECK(garbage[0]["reason"]->starts_with("unusable judge reply: no JSON object"));

  // SQL users see it through the view.
  CHECK(scalar(db, "SELECT v.verdict || '/' || v.rules_verdict || '/' || v.judge_verdict FROM "
                   "verdicts v JOIN samples s ON s.id = v.sample_id WHERE s.probe_id = "
                   "'judge-deflect'") == "deflected/answered/deflected");
  CHECK(scalar(db, "SELECT v.verdict FROM verdicts v JOIN samples s ON s.id = v.sample_id "
                   "WHERE s.probe_id = 'judge-garbage'") == "answered");
  // Readers see the final verdict.
  CHECK(contains(diff_line(scratch, config, "judge-deflect"), "deflected 1 (100%)"));
  CHECK(contains(diff_line(scratch, config, "judge-voice"), "refused 1 (100%)"));
  CHECK(contains(diff_line(scratch, config, "judge-garbage"), "answered 1 (100%)"));

  // The next run's replies are the same texts: linked to their judgements, nothing asked.
  auto again = driftwatch(scratch, config, {"run", "--once", "--at", "2026-01-15T12:00:00Z"}, {kKey});
  INFO(again.out << again.err);
  REQUIRE(again.code == 0);
  CHECK(contains(again.out, "judged 6 samples (6 from earlier judgements, 2 changed) after "
                            "asking about 0 texts"));
  CHECK(judge_requests(sim) == 6);
  CHECK(scalar(db, "SELECT count(*) FROM judgements") == "5");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE judgement_id IS NULL") == "0");
}

TEST_CASE("by default only the verdicts the rules are unsure of are judged") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  auto config = write_config(scratch, sim, judge_at(sim.url()));
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  CHECK(judge_requests(sim) == 1);
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT group_concat(probe_id) FROM samples WHERE judgement_id IS NOT NULL") ==
        "judge-voice");
  CHECK(scalar(db, "SELECT uncertain FROM samples WHERE probe_id = 'judge-voice'") == "1");
  CHECK(contains(diff_line(scratch, config, "judge-voice"), "refused 1 (100%)"));
}

TEST_CASE("the budget: what is over max_per_run waits, and `driftwatch judge` takes it later") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  auto config = write_config(scratch, sim,
                             judge_at(sim.url(), "when = \"all\"\nmax_per_run = 2\n"));
  fs::path db = scratch.path("dw.db");
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  CHECK(contains(o.out, "after asking about 2 texts"));
  CHECK_FALSE(contains(o.out, " 0 samples waiting"));
  CHECK(scalar(db, "SELECT count(*) FROM judgements") == "2");

  long judgements = 2;
  for (int round = 0; round < 3 && judgements < 5; ++round) {
    auto j = driftwatch(scratch, config, {"judge"});
    INFO(j.out << j.err);
    REQUIRE(j.code == 0);
    long now = std::stol(scalar(db, "SELECT count(*) FROM judgements"));
    CHECK(now - judgements <= 2);  // never more than the budget at once
    CHECK(now > judgements);
    CHECK(contains(j.out, "events recomputed over 1 runs"));
    judgements = now;
  }
  CHECK(judgements == 5);
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE judgement_id IS NULL") == "0");
  auto done = driftwatch(scratch, config, {"judge"});
  INFO(done.out << done.err);
  CHECK(done.code == 0);
  CHECK(contains(done.out, "judged 0 samples (0 from earlier judgements, 0 changed) after asking "
                           "about 0 texts; 0 texts unusable, 0 unanswered, 0 samples waiting"));
  CHECK_FALSE(contains(done.out, "events recomputed"));
}

TEST_CASE("an unusable judge reply is asked once more before it is recorded") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  auto config = write_config(
      scratch, sim,
      "kind = \"ollama\"\nbase_url = \"" + sim.url() + "\"\nmodel = \"picky-judge\"\n"
      "when = \"all\"\n");
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  // Each of the five texts: an unusable first reply, then the judge's (garbage twice unusable).
  CHECK(judge_requests(sim, "picky-judge") == 10);
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM judgements WHERE verdict IS NOT NULL") == "4");
  CHECK(scalar(db, "SELECT count(*) FROM judgements WHERE verdict IS NULL") == "1");
  CHECK(contains(diff_line(scratch, config, "judge-deflect"), "deflected 1 (100%)"));
}

TEST_CASE("a judge whose API refuses the request records it at once, without asking again") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  auto config = write_config(
      scratch, sim,
      "kind = \"ollama\"\nbase_url = \"" + sim.url() + "\"\nmodel = \"strict-judge\"\n"
      "when = \"all\"\n");
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  CHECK(judge_requests(sim, "strict-judge") == 5);  // one a text: a 400 will not change
  CHECK(contains(o.out, "5 texts unusable, 0 unanswered"));
  CHECK(contains(o.out, "(last problem: the judge's endpoint refused the request: HTTP 400"));
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM judgements WHERE verdict IS NULL AND reason LIKE "
                   "'unusable judge reply: the judge''s endpoint refused the request: HTTP 400%'") ==
        "5");
  CHECK(contains(diff_line(scratch, config, "judge-deflect"), "answered 1 (100%)"));
  // Recorded: the next `driftwatch judge` asks nothing.
  auto again = driftwatch(scratch, config, {"judge"});
  CHECK(again.code == 0);
  CHECK(judge_requests(sim, "strict-judge") == 5);
}

TEST_CASE("a judge that is down changes nothing; its samples wait and are judged when it is back") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  dw::testing::HeldPort closed;
  auto config = write_config(
      scratch, sim,
      judge_at("http://127.0.0.1:" + std::to_string(closed.port()), "when = \"all\"\nretries = 0\n"));
  fs::path db = scratch.path("dw.db");
  auto o = driftwatch(scratch, config, {"run", "--once", "--at", kAt}, {kKey});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);  // the run itself is whole
  CHECK(contains(o.out, "5 unanswered"));
  CHECK(scalar(db, "SELECT count(*) FROM judgements") == "0");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE judgement_id IS NOT NULL") == "0");
  CHECK(contains(diff_line(scratch, config, "judge-deflect"), "answered 1 (100%)"));

  auto down = driftwatch(scratch, config, {"judge"});
  INFO(down.out << down.err);
  CHECK(down.code == 2);
  CHECK(contains(down.err, "the judge left 5 texts unanswered"));

  config = write_config(scratch, sim, judge_at(sim.url(), "when = \"all\"\n"));
  auto back = driftwatch(scratch, config, {"judge"});
  INFO(back.out << back.err);
  CHECK(back.code == 0);
  CHECK(scalar(db, "SELECT count(*) FROM judgements") == "5");
  CHECK(contains(diff_line(scratch, config, "judge-deflect"), "deflected 1 (100%)"));
}

TEST_CASE("a judge added later backfills the history and the events follow the final verdicts") {
  Scratch scratch;
  Sim sim(scratch, {}, kScenario);
  auto config = write_config(scratch, sim, "", 2);
  for (int day = 0; day < 9; ++day) {
    sim.set_day(day);
    std::string at = "2026-01-0" + std::to_string(day + 1) + "T06:00:00Z";
    auto o = driftwatch(scratch, config, {"run", "--once", "--at", at}, {kKey});
    INFO(o.out << o.err);
    REQUIRE(o.code == 0);
    CHECK_FALSE(contains(o.out, "judged"));  // no [judge]: nothing asked
  }
  CHECK(judge_requests(sim) == 0);
  auto shifts = [&] {
    auto o = driftwatch(scratch, config, {"events", "--json"});
    REQUIRE(o.code == 0);
    std::vector<std::string> found;
    std::istringstream lines(o.out);
    for (std::string line; std::getline(lines, line);) {
      auto e = json::parse(line);
      if (e["type"] == "verdict_shift") found.push_back(e["probe"].get<std::string>());
    }
    return found;
  };
  CHECK(shifts().empty());  // the rules call every reply answered

  config = write_config(scratch, sim, judge_at(sim.url(), "when = \"all\"\n"), 2);
  auto j = driftwatch(scratch, config, {"judge", "--since", "2026-01-01T00:00:00Z"});
  INFO(j.out << j.err);
  REQUIRE(j.code == 0);
  CHECK(contains(j.out, "events recomputed over 9 runs"));
  // judge-drift's reply gained its marker on day 6: deflected from then on, by the judge.
  CHECK(shifts() == std::vector<std::string>{"judge-drift"});
  fs::path db = scratch.path("dw.db");
  CHECK(scalar(db, "SELECT count(*) FROM samples WHERE verdict = 'answered' AND probe_id = "
                   "'judge-drift'") == "18");
}

}  // namespace cli_judge_test
