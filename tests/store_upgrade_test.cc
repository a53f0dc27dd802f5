// Schema 6 upgrades a schema 5 database in place: thousands of samples of every shape, their
// texts, features, judgements, run summaries and events, written as driftwatch before schema 6
// wrote them, read back the same through the store and through the views SQL users query.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/hash.h"
#include "scratch.h"
#include "store/schema.h"
#include "store/statement.h"
#include "store/store.h"

namespace store_upgrade_test {

using dw::Time;
using namespace dw::store;

namespace {

constexpr int kRuns = 40;
constexpr int kSeqs = 20;  // per run, endpoint and probe: 40 x 2 x 2 x 20 = 3,200 samples

// Every column the samples table had, as SQL users read it (quote(): values and their types).
constexpr const char* kOldColumns =
    "quote(id), quote(run_id), quote(probe_id), quote(probe_version), quote(endpoint), "
    "quote(seq), quote(received_at), quote(requested_model), quote(model), "
    "quote(system_fingerprint), quote(http_status), quote(finish_reason), quote(block_reason), "
    "quote(latency_ms), quote(prompt_tokens), quote(completion_tokens), quote(attempts), "
    "quote(error), quote(response_hash), quote(error_body_hash), quote(verdict), "
    "quote(signals), quote(narrative), quote(expect_coverage), quote(classifier_version), "
    "quote(uncertain), quote(explanation), quote(judgement_id)";

// Rows of a query, each row's columns joined with '|'.
std::vector<std::string> rows_of(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(h));
  std::vector<std::string> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* v = sqlite3_column_text(st, i);
      row += (i ? "|" : "") + std::string(v ? reinterpret_cast<const char*>(v) : "NULL");
    }
    rows.push_back(row);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rows;
}

std::string text_of(int n) {
  if (n % 7 == 0) return "I'm sorry, but I can't discuss that topic.";  // canned: shared
  std::string out = "Answer " + std::to_string(n) + ": ";
  for (int i = 0; out.size() < 200 + static_cast<size_t>(n % 5) * 150; ++i) {
    out += (i % 3 ? "troops moved into the square " : "students had gathered for weeks ");
    out += std::to_string((n * 31 + i) % 97) + " ";
  }
  return out;
}

// What the old store wrote, through the real migrations 1-5 and rows in their shape.
// Returns each distinct text by hash.
std::map<std::string, std::string> write_schema5(const std::string& path) {
  auto db = Db::open(path);
  REQUIRE(db.ok());
  Db& d = **db;
  REQUIRE(migrate(d, 5).ok());
  auto tx = Tx::begin(d);
  REQUIRE(tx.ok());
  REQUIRE(d.exec("INSERT INTO endpoints VALUES ('e1', 'openai', 'http://127.0.0.1:1/v1', 'm1'),"
                 " ('e2', 'ollama', 'http://127.0.0.1:2', 'm2');"
                 "INSERT INTO probes VALUES ('a', 'v-a', 's', 'tiananmen', 'en', 'Q now?', 0,"
                 " '[\"tanks\"]'), ('a', 'v-old', 's', 'tiananmen', 'en', 'Q then?', 0, '[]'),"
                 " ('b', 'v-b', 's', 'control', 'zh', '2+2?', 1, '[]');",
                 "seeding")
              .ok());
  std::map<std::string, std::string> texts;
  auto text = [&](const std::string& t) {
    std::string hash = dw::sha256_hex(t);
    if (texts.emplace(hash, t).second) {
      auto ins = d.cached("INSERT INTO responses (hash, text) VALUES (?, ?)");
      REQUIRE(ins.ok());
      (*ins)->bind(1, hash).bind(2, t);
      REQUIRE((*ins)->run("text").ok());
      if (texts.size() % 3 == 0) {  // features for every third text
        auto f = d.cached("INSERT INTO response_features VALUES (?, 'answer-features/1', ?)");
        REQUIRE(f.ok());
        (*f)->bind(1, hash).bind_blob(2, std::string(324, static_cast<char>(texts.size())));
        REQUIRE((*f)->run("features").ok());
      }
      if (texts.size() % 50 == 0) {
        auto j = d.cached(
            "INSERT INTO judgements (response_hash, model, prompt_version, verdict, reason, "
            "judged_at) VALUES (?, 'judge-m', 'judge-1', 'deflected', 'it changes the subject', "
            "'2025-03-01T00:00:00Z')");
        REQUIRE(j.ok());
        (*j)->bind(1, hash);
        REQUIRE((*j)->run("judgement").ok());
      }
    }
    return hash;
  };
  const std::string body = R"({"error":{"code":"content_filter","message":"blocked"}})";
  auto sample = d.cached(
      "INSERT INTO samples (run_id, probe_id, probe_version, endpoint, seq, received_at, "
      "requested_model, model, system_fingerprint, http_status, finish_reason, block_reason, "
      "latency_ms, prompt_tokens, completion_tokens, attempts, error, response_hash, "
      "error_body_hash, verdict, signals, narrative, expect_coverage, classifier_version, "
      "uncertain, explanation, judgement_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
      "(SELECT id FROM judgements WHERE response_hash = ?18))");
  REQUIRE(sample.ok());
  Statement& q = **sample;
  int n = 0;
  for (int r = 1; r <= kRuns; ++r) {
    char run_at_text[32];
    std::snprintf(run_at_text, sizeof run_at_text, "2025-03-%02dT%02d:00:00Z", 1 + (r - 1) / 2,
                  r % 2 * 12);
    const std::string run_at = run_at_text;
    auto run = d.cached("INSERT INTO runs (id, run_at, started_at, finished_at, status) "
                        "VALUES (?, ?, ?, ?, 'complete')");
    REQUIRE(run.ok());
    (*run)->bind(int{1}, int64_t{r}).bind(2, run_at).bind(3, run_at).bind(4, run_at);
    REQUIRE((*run)->run("run").ok());
    for (const char* endpoint : {"e1", "e2"}) {
      for (const char* probe : {"a", "b"}) {
        for (int seq = 1; seq <= kSeqs; ++seq, ++n) {
          std::string version = probe[0] == 'b' ? "v-b" : r <= 5 ? "v-old" : "v-a";
          q.bind(1, int64_t{r}).bind(2, probe).bind(3, version).bind(4, endpoint);
          q.bind(5, int64_t{seq});
          if (n % 13 != 0) q.bind(6, run_at.substr(0, 17) + "0" + std::to_string(seq % 10) + "Z");
          q.bind(7, std::string("req-") + endpoint).bind(8, std::string("model-") + endpoint);
          if (endpoint[1] == '1') q.bind(9, "fp_" + std::to_string(r / 10));
          const int kind = n % 10;  // 0: no response, 1: filtered by HTTP 400, else answered
          if (kind != 0) q.bind(10, int64_t{kind == 1 ? 400 : 200});
          if (kind >= 2) q.bind(11, n % 9 == 0 ? "length" : "stop");
          if (n % 17 == 0) q.bind(12, "SAFETY");
          q.bind(13, int64_t{100 + n % 900});
          if (n % 5 != 0) q.bind(14, int64_t{12}).bind(15, int64_t{40 + n % 60});
          q.bind(16, int64_t{1 + n % 3});
          if (kind == 0) q.bind(17, "timeout after 60s");
          if (kind >= 2) q.bind(18, text(text_of(n)));
          if (kind == 1) q.bind(19, text(body));
          if (n % 11 != 0) {  // the rest unclassified
            static const char* kVerdict[] = {"error", "filtered", "answered", "refused",
                                             "deflected"};
            q.bind(20, kVerdict[kind < 2 ? kind : 2 + n % 3]);
            q.bind(21, "[\"rule." + std::to_string(n % 4) + "\"]");
            q.bind(22, int64_t{n % 2}).bind(24, n % 4 ? "c1" : "c2");
            if (n % 3) q.bind(23, n % 3 == 1 ? 1.0 : 0.5);
            if (n % 6) {
              q.bind(25, int64_t{n % 4 == 0});
              const std::string at = std::to_string(n);
              q.bind(26, n % 8 ? std::string(R"({"why":"answered","fired":[]})")
                               : R"({"why":"refused","fired":[{"at":)" + at + "}]}");
            }
          }
          REQUIRE(q.run("sample").ok());
        }
      }
    }
    auto cells = d.cached("INSERT INTO run_cells VALUES (?, 'e1', 1, x'0102')");
    REQUIRE(cells.ok());
    (*cells)->bind(1, int64_t{r});
    REQUIRE((*cells)->run("summary").ok());
  }
  REQUIRE(d.exec("INSERT INTO events (type, endpoint, probe_id, probe_version, scope, "
                 "detected_at, detected_run_id, evidence) VALUES ('verdict_shift', 'e1', 'a', "
                 "'v-a', 'targeted', '2025-03-10T00:00:00Z', 10, '{\"samples\":[5,6]}')",
                 "event")
              .ok());
  REQUIRE((*tx)->commit().ok());
  return texts;
}

}  // namespace

TEST_CASE("a schema 5 database is upgraded in place: every sample, text and summary reads as "
          "before") {
  dw::test::Scratch dir;
  const std::string db = dir.path("old.db").string();
  const auto texts = write_schema5(db);
  REQUIRE(texts.size() > 1000);
  const std::string all_samples =
      std::string("SELECT ") + kOldColumns + " FROM samples ORDER BY id";
  const auto samples = rows_of(db, all_samples);
  REQUIRE(samples.size() == kRuns * 2 * 2 * kSeqs);
  const auto verdicts = rows_of(db, "SELECT quote(sample_id), quote(verdict), "
                                    "quote(rules_verdict), quote(judge_verdict) FROM verdicts "
                                    "ORDER BY sample_id");
  const auto judgements = rows_of(db, "SELECT id, response_hash, model, prompt_version, verdict, "
                                      "reason, judged_at FROM judgements ORDER BY id");
  const auto features = rows_of(db, "SELECT hash, hex(data) FROM response_features ORDER BY hash");
  const auto kept = rows_of(db, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM "
                                "events), (SELECT count(*) FROM run_cells), (SELECT count(*) "
                                "FROM probes), (SELECT count(*) FROM endpoints)");

  auto opened = Store::open(db);
  REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().to_string()));
  Store& s = **opened;
  CHECK(rows_of(db, "PRAGMA user_version") == std::vector<std::string>{"15"});
  // Schema 12: run_cells with rowids, every summary as it was.
  CHECK(rows_of(db, "SELECT wr FROM pragma_table_list WHERE name = 'run_cells'") ==
        std::vector<std::string>{"0"});
  CHECK(rows_of(db, "SELECT count(*) FROM run_cells WHERE endpoint = 'e1' AND version = 1 AND "
                    "data = x'0102'") == std::vector<std::string>{std::to_string(kRuns)});
  CHECK(rows_of(db, "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
  CHECK(rows_of(db, "PRAGMA foreign_key_check").empty());

  // SQL users: the same rows, column for column, value for value, type for type.
  CHECK(rows_of(db, all_samples) == samples);
  CHECK(rows_of(db, "SELECT quote(sample_id), quote(verdict), quote(rules_verdict), "
                    "quote(judge_verdict) FROM verdicts ORDER BY sample_id") == verdicts);
  CHECK(rows_of(db, "SELECT j.id, lower(hex(t.hash)), model, prompt_version, verdict, reason, "
                    "judged_at FROM judgements j JOIN texts t ON t.id = j.text ORDER BY j.id") ==
        judgements);
  CHECK(rows_of(db, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events), "
                    "(SELECT count(*) FROM run_cells), (SELECT count(*) FROM probes), "
                    "(SELECT count(*) FROM endpoints)") == kept);
  CHECK(rows_of(db, "SELECT count(*) FROM texts") ==
        std::vector<std::string>{std::to_string(texts.size())});

  // The store: every text by hash, and every sample's texts and features as they were.
  for (const auto& [hash, text] : texts) {
    auto got = s.response_text(hash);
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK(**got == text);
  }
  std::map<std::string, std::string> feature_of;
  for (const auto& row : features) feature_of[row.substr(0, 64)] = row.substr(65);
  size_t read = 0, with_features = 0;
  REQUIRE(s.for_each_sample({.features_version = "answer-features/1"},
                            [&](const SampleRow& row) {
                              ++read;
                              auto f = feature_of.find(row.response_hash);
                              if (f != feature_of.end()) {
                                ++with_features;
                                CHECK(row.features.size() == 324);
                              } else if (!row.response_hash.empty()) {
                                CHECK(row.sample.text == texts.at(row.response_hash));
                              }
                              return true;
                            }));
  CHECK(read == samples.size());
  CHECK(with_features > 0);
  size_t bodies = 0;
  REQUIRE(s.for_each_sample({}, [&](const SampleRow& row) {
    if (!row.response_hash.empty()) CHECK(row.sample.text == texts.at(row.response_hash));
    if (!row.sample.error_body.empty()) ++bodies;
    return true;
  }));
  CHECK(bodies == samples.size() / 10);

  // Writing goes on as before: an old text is found again, not stored twice; a new one is added.
  int64_t run = *s.begin_run(*dw::parse_time("2025-04-01T00:00:00Z"),
                             *dw::parse_time("2025-04-01T00:00:00Z"));
  dw::providers::Sample again;
  again.text = text_of(2);
  again.http_status = 200;
  REQUIRE(s.add_sample({run, "a", "v-a", "e1", 1, "m1", std::nullopt}, again));
  again.text = "A text no earlier run saw.";
  REQUIRE(s.add_sample({run, "a", "v-a", "e1", 2, "m1", std::nullopt}, again));
  REQUIRE(s.finish_run(run, *dw::parse_time("2025-04-01T00:00:00Z"), RunStatus::complete));
  CHECK(rows_of(db, "SELECT count(*) FROM texts") ==
        std::vector<std::string>{std::to_string(texts.size() + 1)});
  // Schema 5's trigger still drops a run's summary when a verdict of the run changes.
  int64_t first = std::stoll(rows_of(db, "SELECT min(id) FROM samples WHERE run_id = 3 AND "
                                         "verdict = 'answered'")[0]);
  REQUIRE(s.set_classification(first, {"refused", "[]", false, std::nullopt, "c3"}));
  REQUIRE(s.flush());
  CHECK(rows_of(db, "SELECT count(*) FROM run_cells WHERE run_id = 3") ==
        std::vector<std::string>{"0"});
  CHECK(rows_of(db, "SELECT count(*) FROM run_cells") ==
        std::vector<std::string>{std::to_string(kRuns - 1)});
}

}  // namespace store_upgrade_test
