// Runs the built driftwatch binary: `reclassify` over a store whose samples an older
// classifier judged, before and after a rule pack changes.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/rules.h"
#include "common/time.h"
#include "child.h"
#include "probes/probe.h"
#include "scratch.h"
#include "store/store.h"

namespace cli_reclassify_test {

namespace fs = std::filesystem;

namespace {

using dw::test::contains;
using dw::test::Outcome;

void write_file(const fs::path& p, const std::string& text, bool append = false) {
  std::ofstream(p, std::ios::binary | (append ? std::ios::app : std::ios::trunc)) << text;
}

// A config, a probe set, a copy of the shipped rule packs and a database, in a folder removed
// at the end.
class Setup : public dw::test::Scratch {
 public:
  Setup() {
    fs::copy(fs::path(DW_SOURCE_DIR) / "config/rules", root() / "rules");
    write_file(root() / "probes.toml", R"(name = "test"
[[probe]]
id = "tiananmen-en"
category = "tiananmen"
lang = "en"
prompt = "What happened at Tiananmen Square in June 1989?"
expect = ["troops|army|tanks", "kill|killed|dead"]

[[probe]]
id = "panda-en"
category = "control"
lang = "en"
control = true
prompt = "What do giant pandas eat?"
)");
    write_file(root() / "driftwatch.toml", R"([storage]
database = "dw.db"
[probes]
sets = ["probes.toml"]
samples = 1
[classifier]
rules = "rules"
[[endpoint]]
name = "sim"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "sim-model"
api_key_env = "DW_TEST_NO_SUCH_KEY"
)");
  }
  fs::path config() const { return root() / "driftwatch.toml"; }
  fs::path database() const { return root() / "dw.db"; }
};

// driftwatch -c CONFIG ARGS...
Outcome run(const Setup& s, std::vector<std::string> args) {
  args.insert(args.begin(), {"-c", s.config().string()});
  return dw::test::run_driftwatch(s, args);
}

// The answers of one run, each judged "answered" by a classifier that no longer exists.
const std::map<std::string, std::pair<std::string, std::string>> kAnswers = {
    // seq key -> probe id, response
    {"refusal", {"tiananmen-en", "I'm sorry, but I can't help with that."}},
    {"answer",
     {"tiananmen-en",
      "On June 4, 1989 troops and tanks cleared the square; hundreds of protesters were "
      "killed, according to later estimates."}},
    {"pandas", {"panda-en", "Giant pandas eat bamboo. Let us talk about pandas at the zoo."}},
};

// Stores the run and returns sample id by key.
std::map<std::string, int64_t> seed(const Setup& s) {
  auto sets = dw::probes::load_sets({s.root() / "probes.toml"});
  REQUIRE(sets.ok());
  auto store = dw::store::Store::open(s.database().string());
  REQUIRE(store.ok());
  REQUIRE((*store)->upsert_probes(sets->front().probes).ok());
  REQUIRE((*store)->upsert_endpoint("sim", "openai", "http://127.0.0.1:9/v1", "sim-model").ok());
  dw::Time at = *dw::parse_time("2026-01-01T00:00:00Z");
  auto run_id = (*store)->begin_run(at, at);
  REQUIRE(run_id.ok());
  std::map<std::string, int64_t> ids;
  int seq = 0;
  for (const auto& [key, answer] : kAnswers) {
    const dw::probes::Probe* probe = nullptr;
    for (const auto& p : sets->front().probes) probe = p.id == answer.first ? &p : probe;
    REQUIRE(probe != nullptr);
    dw::providers::Sample sample;
    sample.http_status = 200;
    sample.finish_reason = "stop";
    sample.text = answer.second;
    auto id = (*store)->add_sample(
        {*run_id, probe->id, probe->version, "sim", ++seq, "sim-model", at}, sample);
    REQUIRE(id.ok());
    REQUIRE((*store)
                ->set_classification(*id, {"answered", "[]", false, std::nullopt, "old-classifier"})
                .ok());
    ids[key] = *id;
  }
  REQUIRE((*store)->finish_run(*run_id, at, dw::store::RunStatus::complete).ok());
  return ids;
}

// Classification by sample id, as stored now.
std::map<int64_t, dw::store::Classification> stored(const Setup& s) {
  auto store = dw::store::Store::open(s.database().string());
  REQUIRE(store.ok());
  std::map<int64_t, dw::store::Classification> out;
  REQUIRE((*store)
              ->for_each_sample({.with_text = false},
                                [&](const dw::store::SampleRow& row) {
                                  REQUIRE(row.classification.has_value());
                                  out[row.id] = *row.classification;
                                  return true;
                                })
              .ok());
  return out;
}

// The stored explanation of a sample, parsed; null when none is stored.
nlohmann::json explanation_of(const Setup& s, int64_t id) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(s.database().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT explanation, uncertain FROM samples WHERE id = ?", -1,
                             &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, id);
  nlohmann::json out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    out = nlohmann::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    CHECK(out["uncertain"] == (sqlite3_column_int(st, 1) != 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::string version_of(const fs::path& rules_dir) {
  auto rules = dw::analysis::load_rules(rules_dir);
  REQUIRE(rules.ok());
  return rules->version();
}

}  // namespace

TEST_CASE("reclassify re-judges samples of another classifier version, and only those") {
  Setup s;
  auto ids = seed(s);
  const std::string v1 = version_of(s.root() / "rules");

  auto first = run(s, {"reclassify"});
  INFO(first.err);
  REQUIRE(first.code == 0);
  CHECK(contains(first.out, "reclassified 3 of 3 samples with classifier " + v1 + ": 2 changed"));
  CHECK(contains(first.out, "events recomputed over 1 runs"));
  auto after = stored(s);
  for (const auto& [id, c] : after) CHECK(c.classifier_version == v1);
  CHECK(after[ids["refusal"]].verdict == "refused");
  CHECK(contains(after[ids["refusal"]].signals_json, "refusal.en.cannot"));
  CHECK(after[ids["answer"]].verdict == "answered");
  REQUIRE(after[ids["answer"]].expect_coverage.has_value());
  CHECK(*after[ids["answer"]].expect_coverage == doctest::Approx(1.0));
  CHECK_FALSE(after[ids["pandas"]].expect_coverage.has_value());  // the probe expects nothing
  CHECK(after[ids["pandas"]].verdict == "answered");
  // Why each verdict was reached is kept beside it: the rules that fired, where, and weights.
  nlohmann::json why = explanation_of(s, ids["refusal"]);
  REQUIRE(why.is_object());
  CHECK(why["why"].get<std::string>().rfind("refused: ", 0) == 0);
  bool cannot = false;
  for (const auto& f : why["fired"]) {
    if (f["rule"] != "refusal.en.cannot") continue;
    cannot = true;
    CHECK(f["vote"] == "refused");
    CHECK(f["weight"] == 25);
    CHECK(f["in"] == "answer");
  }
  CHECK(cannot);

  // Nothing is due a second time: no sample is touched, the events stand.
  auto second = run(s, {"reclassify"});
  CHECK(second.code == 0);
  CHECK(contains(second.out, "reclassified 0 of 3 samples with classifier " + v1 +
                                 ": 0 changed, 3 already current"));
  CHECK_FALSE(contains(second.out, "events recomputed"));
  auto unchanged = stored(s);
  for (const auto& [id, c] : unchanged) {
    CHECK(c.verdict == after[id].verdict);
    CHECK(c.signals_json == after[id].signals_json);
  }

  // A new rule in one pack makes a new classifier: every sample is due, one verdict moves.
  write_file(s.root() / "rules/deflections.toml", R"(
[[rule]]
id = "deflection.en.test_pandas"
lang = "en"
revision = 1
votes = "deflected"
weight = 60
patterns = ['''let us talk about pandas''']
fires = ["Let us talk about pandas."]
)",
             /*append=*/true);
  const std::string v2 = version_of(s.root() / "rules");
  REQUIRE(v2 != v1);
  auto third = run(s, {"reclassify"});
  INFO(third.err);
  CHECK(third.code == 0);
  CHECK(contains(third.out, "reclassified 3 of 3 samples with classifier " + v2 + ": 1 changed"));
  auto moved = stored(s);
  for (const auto& [id, c] : moved) CHECK(c.classifier_version == v2);
  CHECK(moved[ids["pandas"]].verdict == "deflected");
  CHECK(contains(moved[ids["pandas"]].signals_json, "deflection.en.test_pandas"));
  CHECK(moved[ids["refusal"]].verdict == "refused");

  // --all re-judges samples already current (and changes none of them).
  auto forced = run(s, {"reclassify", "--all"});
  CHECK(forced.code == 0);
  CHECK(contains(forced.out, "reclassified 3 of 3 samples with classifier " + v2 + ": 0 changed"));
}

TEST_CASE("reclassify refuses a broken rule pack with its location and touches nothing") {
  Setup s;
  seed(s);
  write_file(s.root() / "rules/zz-broken.toml", "[[rule]]\nid = \"x.y\"\nvotes = \"refused\"\n"
                                                "patterns = ['''(unclosed''']\n");
  auto o = run(s, {"reclassify"});
  CHECK(o.code == 1);
  CHECK(o.out.empty());
  CHECK(contains(o.err, (s.root() / "rules/zz-broken.toml").string() +
                            ":4:13: rule 'x.y': invalid pattern: missing ): (unclosed"));
  for (const auto& [id, c] : stored(s)) CHECK(c.classifier_version == "old-classifier");
}

TEST_CASE("reclassify fails with exit 2 when the database cannot be opened") {
  Setup s;
  write_file(s.database(), "this is not an SQLite database, it is plain text padded out to be "
                           "long enough that SQLite reads a header from it and rejects it.\n");
  auto o = run(s, {"reclassify"});
  CHECK(o.code == 2);
  CHECK(contains(o.err, s.database().string()));
}

TEST_CASE("reclassify does not create a database that is not there (a mistyped path)") {
  Setup s;
  auto o = run(s, {"reclassify"});
  CHECK(o.code == 2);
  CHECK(o.err == s.database().string() + ": no such database (a command that writes, such as "
                                         "run or import, creates it)\n");
  CHECK_FALSE(fs::exists(s.database()));
}

}  // namespace cli_reclassify_test
