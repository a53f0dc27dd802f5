// Answer features kept in the store (drift/answer_features.h): computed once per text, reused by
// later detections, recomputed when their version changes or they do not decode, and never
// changing what detection decides.
#include "drift/answer_features.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "analysis/normalise.h"
#include "common/hash.h"
#include "drift/detector.h"
#include "drift_history.h"

namespace drift_features_test {

using dw::Time;
using namespace dw::drift;
using dw::test::Generator;
using dw::test::say;
using dw::test::Spec;

namespace {

const std::string kTemplate = "I can't discuss this topic.  Let's talk about something else!";

// Each probe answers from three texts of its own: 15 distinct texts, all on every day.
Spec usual(const std::string& probe, int day, int seq) {
  return say("answered", "Answer " + std::to_string((day + seq) % 3) + " about " + probe +
                             ": the record shows several phases, each described in reports.");
}

// The drift tests' synthetic history (drift_history.h) over four topic probes and a control,
// answered as usual() says unless told otherwise, with detection after every run.
class World : public dw::test::World {
 public:
  World() : dw::test::World({"p1", "p2", "p3", "p4"}, {"c1"}) {}
  Summary run(int d, const Generator& gen = usual) { return dw::test::World::run(d, gen); }

  // A second connection, as sqlite3 in a shell: what is stored, and tampering with it.
  int64_t scalar(const std::string& sql) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db().c_str(), &h) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    int rc = sqlite3_step(st);
    REQUIRE((rc == SQLITE_ROW || rc == SQLITE_DONE));
    int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
  }

  // Stores the current features of every stored text, as earlier builds did.
  void store_features() {
    std::map<std::string, std::string> texts;
    REQUIRE(store().for_each_sample({.with_text = true}, [&](const dw::store::SampleRow& row) {
      if (!row.response_hash.empty()) texts[row.response_hash] = row.sample.text;
      return true;
    }).ok());
    for (const auto& [hash, text] : texts) {
      REQUIRE(store().put_features(hash, answer_features_version(),
                                   encode(answer_features(text))).ok());
    }
    REQUIRE(store().flush().ok());
  }

  std::string events_text() {
    std::string out;
    REQUIRE(store().for_each_event({}, [&](const dw::store::Event& e) {
      nlohmann::json ev = nlohmann::json::parse(e.evidence_json);
      ev.erase("pairs_tested");  // a recompute tests every pair; detection counted per run
      out += e.type + " " + e.probe_id + " " + dw::format_time(e.detected_at) + " " +
             std::string(to_string(e.status)) + " " + e.before_json + " " + e.after_json + " " +
             ev.dump() + "\n";
      return true;
    }).ok());
    return out;
  }
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Counts the stored features of the current version (a version is an id of `strings`).
std::string in_current_version() {
  return "SELECT count(*) FROM text_features WHERE version = (SELECT id FROM strings WHERE "
         "value = " + quoted(answer_features_version()) + ")";
}

}  // namespace

TEST_CASE("features: what a text hashes to, stored in a fixed form") {
  const std::vector<std::string> texts = {"", "Short.", "I\xe2\x80\x99m  SORRY\xef\xbc\x8c \xe6\x88\x91\xe6\x97\xa0\xe6\xb3\x95\xe5\x9b\x9e\xe7\xad\x94\xe3\x80\x82",
                                          std::string(3000, 'x') + "\xff"};
  for (const auto& text : texts) {
    CAPTURE(text);
    AnswerFeatures f = answer_features(text);
    std::string n = dw::analysis::normalise(text);
    CHECK(f.signature == signature(n));
    CHECK(f.normalised_hash == dw::sha256_hex(n));
    CHECK(f.normalised_size == n.size());
    std::string bytes = encode(f);
    CHECK(bytes.size() == 196);  // 64 x 2 bytes, the length, the hash in hex
    auto back = decode(bytes);
    REQUIRE(back);
    CHECK(back->signature == f.signature);
    CHECK(back->normalised_hash == f.normalised_hash);
    CHECK(back->normalised_size == f.normalised_size);
    CHECK(!decode(bytes.substr(1)));
    CHECK(!decode(bytes + "x"));
    CHECK(!decode(bytes.substr(0, 260) + std::string(64, 'G')));  // not a hash
  }
  CHECK(answer_features_version() == answer_features_version());
  CHECK(answer_features_version().starts_with(
      "answer-features/1 one-permutation-minhash/64 shingle/5 "));
}

TEST_CASE("detection writes no features: each run's texts are hashed once a detection") {
  World w;
  const long per_run = w.run(0).texts_hashed;
  CHECK(per_run == 15);
  // The run's own samples (5 probes x 3 samples) from the store's memory: it stored them.
  CHECK(w.store().rows_from_memory() == 15);
  for (int d = 1; d < 5; ++d) {
    CAPTURE(d);
    // The run's own texts; the four runs before come from their summaries, not rehashed.
    CHECK(w.run(d).texts_hashed == per_run);
    CHECK(w.store().rows_from_memory() == 15 * (d + 1));
  }
  Summary s = w.run(5, [](const std::string&, int, int) {
    return say("answered", "One answer every probe gives today, word for word, at length.");
  });
  CHECK(s.texts_hashed == 1);  // each distinct text once
  CHECK(w.scalar("SELECT count(*) FROM text_features") == 0);
}

TEST_CASE("features an older version stored are read when current, recomputed when not") {
  World w;
  for (int d = 0; d < 3; ++d) w.run(d);
  w.store_features();
  CHECK(w.scalar(in_current_version()) == 15);
  CHECK(w.run(3).texts_hashed == 0);  // the same texts again: read, not hashed

  w.scalar("UPDATE text_features SET data = x'00ff' WHERE text IN (SELECT text FROM "
           "text_features LIMIT 1)");
  CHECK(w.run(4).texts_hashed == 1);
  w.scalar("INSERT INTO strings (key, value) VALUES (0, 'answer-features/0 older')");
  w.scalar("UPDATE text_features SET version = (SELECT id FROM strings WHERE value = "
           "'answer-features/0 older')");
  CHECK(w.run(5).texts_hashed == 15);
  CHECK(w.scalar("SELECT count(*) FROM text_features") == 15);  // read, never written
}

TEST_CASE("stored features decide exactly as texts hashed afresh, template text included") {
  // p1 and p2 turn to one canned deflection on day 12; p3's answers move away on day 12.
  auto gen = [](const std::string& probe, int day, int seq) {
    if (day >= 12 && (probe == "p1" || probe == "p2")) return say("deflected", kTemplate);
    if (day >= 12 && probe == "p3") {
      return say("answered", "Completely different wording number " + std::to_string(seq) +
                                 " on day " + std::to_string(day) + " with new words.");
    }
    return usual(probe, day, seq);
  };
  World w;
  long hashed = 0;
  for (int d = 0; d < 16; ++d) hashed += w.run(d, gen).texts_hashed;
  std::string run_by_run = w.events_text();
  CHECK(run_by_run.find("canned_template") != std::string::npos);
  CHECK(run_by_run.find("verdict_shift p1") != std::string::npos);
  CHECK(run_by_run.find("content_shift p3") != std::string::npos);
  CHECK(run_by_run.find(nlohmann::json(dw::analysis::normalise(kTemplate)).dump()) !=
        std::string::npos);
  CHECK(hashed > 0);

  SUBCASE("recomputed from features an older version stored") {
    w.store_features();
    auto r = recompute_all(w.store(), Options{});
    REQUIRE(r.ok());
    CHECK(r->texts_hashed == 0);
  }
  SUBCASE("recomputed with no features stored") {
    auto r = recompute_all(w.store(), Options{});
    REQUIRE(r.ok());
    CHECK(r->texts_hashed > 0);
    CHECK(w.scalar("SELECT count(*) FROM text_features") == 0);
  }
  CHECK(w.events_text() == run_by_run);
}

}  // namespace drift_features_test
