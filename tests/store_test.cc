#include "store/store.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "child_main.h"
#include "common/hash.h"
#include "scratch.h"
#include "store/schema.h"
#include "store/statement.h"

namespace store_test {

namespace fs = std::filesystem;
using dw::Time;
using dw::test::slurp;
using namespace dw::store;

namespace {

Time at(const char* text) { return *dw::parse_time(text); }

// A fresh folder per test (tests/scratch.h), removed afterwards, and the database in it.
struct TempDir : dw::test::Scratch {
  std::string db() const { return path("test.db").string(); }
};

// A second, independent connection: what another process (or sqlite3 in a shell) sees.
int64_t count(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

void exec_raw(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(h);
}

dw::probes::Probe probe(const std::string& id, const std::string& prompt, bool control = false) {
  dw::probes::Probe p;
  p.id = id;
  p.set = "test-set";
  p.category = control ? "control" : "tiananmen";
  p.lang = "en";
  p.prompt = prompt;
  p.control = control;
  p.expect = {"tanks|troops"};
  p.version = "v-" + id;
  return p;
}

std::unique_ptr<Store> open_store(const std::string& path, Options options = {}) {
  auto s = Store::open(path, options);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().to_string()));
  return std::move(s).value();
}

// Probes "a" and "b" (control), endpoints "e1" and "e2".
void seed(Store& s) {
  REQUIRE(s.upsert_probes({probe("a", "What happened in 1989?"), probe("b", "2+2?", true)}));
  REQUIRE(s.upsert_endpoint("e1", "openai", "http://127.0.0.1:1/v1", "m1"));
  REQUIRE(s.upsert_endpoint("e2", "ollama", "http://127.0.0.1:2", "m2"));
}

SampleKey key(int64_t run, const std::string& probe_id, const std::string& endpoint, int seq) {
  return SampleKey{run, probe_id, "v-" + probe_id, endpoint, seq, "requested", std::nullopt};
}

dw::providers::Sample answer(const std::string& text) {
  dw::providers::Sample s;
  s.text = text;
  s.http_status = 200;
  s.finish_reason = "stop";
  s.model = "m1-0613";
  s.attempts = 1;
  s.latency = std::chrono::milliseconds(120);
  return s;
}

std::vector<SampleRow> all_samples(Store& s, const SampleFilter& f = {}) {
  std::vector<SampleRow> rows;
  auto st = s.for_each_sample(f, [&](const SampleRow& r) {
    rows.push_back(r);
    return true;
  });
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  return rows;
}

}  // namespace

TEST_CASE("a run with samples round-trips through the file") {
  TempDir dir;
  int64_t run = 0, answered = 0;
  {
    auto s = open_store(dir.db());
    seed(*s);
    run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:05Z"));
    auto ok = answer("Troops and tanks cleared the square.");
    ok.system_fingerprint = "fp_1";
    ok.prompt_tokens = 12;
    ok.completion_tokens = 40;
    SampleKey k = key(run, "a", "e1", 1);
    k.received_at = at("2026-01-15T06:00:07Z");
    answered = *s->add_sample(k, ok);
    dw::providers::Sample filtered;
    filtered.http_status = 400;
    filtered.error = "HTTP 400";
    filtered.error_body = R"({"error":{"code":"content_filter"}})";
    filtered.attempts = 3;
    REQUIRE(s->add_sample(key(run, "a", "e1", 2), filtered));
    REQUIRE(s->set_classification(answered, {"answered", R"(["expect.hit"])", false, 1.0, "c1"}));
    REQUIRE(s->finish_run(run, at("2026-01-15T06:01:00Z"), RunStatus::complete));
  }
  auto s = open_store(dir.db());
  auto rows = all_samples(*s);
  REQUIRE(rows.size() == 2);
  const SampleRow& r = rows[0];
  CHECK(r.id == answered);
  CHECK(r.run_id == run);
  CHECK(r.run_at == at("2026-01-15T06:00:00Z"));
  CHECK(r.key.probe_id == "a");
  CHECK(r.key.probe_version == "v-a");
  CHECK(r.key.endpoint == "e1");
  CHECK(r.key.seq == 1);
  CHECK(r.key.requested_model == "requested");
  CHECK(r.key.received_at == at("2026-01-15T06:00:07Z"));
  CHECK(r.category == "tiananmen");
  CHECK(r.lang == "en");
  CHECK_FALSE(r.control);
  CHECK(r.sample.text == "Troops and tanks cleared the square.");
  CHECK(r.sample.http_status == 200);
  CHECK(r.sample.finish_reason == "stop");
  CHECK(r.sample.model == "m1-0613");
  CHECK(r.sample.system_fingerprint == "fp_1");
  CHECK(r.sample.prompt_tokens == 12);
  CHECK(r.sample.completion_tokens == 40);
  CHECK(r.sample.latency == std::chrono::milliseconds(120));
  CHECK(r.sample.attempts == 1);
  CHECK(r.sample.error.empty());
  REQUIRE(r.classification.has_value());
  CHECK(r.classification->verdict == "answered");
  CHECK(r.classification->signals_json == R"(["expect.hit"])");
  CHECK(r.classification->expect_coverage == 1.0);
  CHECK(r.classification->classifier_version == "c1");

  const SampleRow& f = rows[1];
  CHECK(f.sample.text.empty());
  CHECK(f.response_hash.empty());
  CHECK(f.sample.http_status == 400);
  CHECK(f.sample.error == "HTTP 400");
  CHECK(f.sample.error_body == R"({"error":{"code":"content_filter"}})");
  CHECK(f.sample.attempts == 3);
  CHECK_FALSE(f.sample.prompt_tokens.has_value());
  CHECK_FALSE(f.classification.has_value());

  auto last = s->last_run();
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->id == run);
  CHECK((*last)->status == RunStatus::complete);
  CHECK((*last)->finished_at == at("2026-01-15T06:01:00Z"));
  CHECK((*last)->samples == 2);
  // Absent values are NULL for people who query with sqlite3.
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE http_status IS NULL") == 0);
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE error IS NULL") == 1);
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE response_hash IS NULL") == 1);
}

TEST_CASE("an empty file is migrated, and reopening changes nothing") {
  TempDir dir;
  std::ofstream(dir.db()).close();  // zero bytes, as `touch` leaves it
  {
    auto s = open_store(dir.db());
    seed(*s);
  }
  CHECK(count(dir.db(), "PRAGMA user_version") == 15);
  CHECK(count(dir.db(), "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") ==
        1);
  // Run summaries of 1 KB and more fit their pages (schema 12: with rowids).
  CHECK(count(dir.db(), "SELECT wr FROM pragma_table_list WHERE name = 'run_cells'") == 0);
  // A detection's events are found by when they were resolved (schema 11), not by walking all.
  CHECK(count(dir.db(), "SELECT count(*) FROM sqlite_schema WHERE name = 'events_by_resolution'") ==
        1);
  int64_t tables = count(dir.db(), "SELECT count(*) FROM sqlite_schema");
  for (int i = 0; i < 2; ++i) {
    auto s = open_store(dir.db());
    seed(*s);  // upserts are idempotent too
  }
  CHECK(count(dir.db(), "PRAGMA user_version") == 15);
  CHECK(count(dir.db(), "SELECT count(*) FROM sqlite_schema") == tables);
  CHECK(count(dir.db(), "SELECT count(*) FROM probes") == 2);
  CHECK(count(dir.db(), "SELECT count(*) FROM endpoints") == 2);
}

TEST_CASE("run summaries' signatures: a column read apart, its schema 9 rows dropped; "
          "run_cells kept") {
  TempDir dir;
  int64_t run = 0;
  {
    auto s = open_store(dir.db());
    seed(*s);
    run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:05Z"));
    REQUIRE(s->put_run_texts(run, {{run, {}, "e1", 7, "uses", std::string(256, 's')},
                                   {run, {}, "e2", 7, "more", ""}}));
    REQUIRE(s->put_run_cells(run, {{run, {}, "e1", 7, std::string(1500, 'c'), {}}}));
    REQUIRE(s->flush());
    std::vector<std::pair<std::string, int64_t>> rows;
    REQUIRE(s->run_texts(run, [&](const RunCellsView& r) {
      rows.emplace_back(std::string(r.data), r.signatures_size);
      return true;
    }));
    CHECK(rows == std::vector<std::pair<std::string, int64_t>>{{"uses", 256}, {"more", 0}});
    auto sig = s->run_signatures(run, "e1", 7);
    REQUIRE(sig.ok());
    CHECK(*sig == std::optional<std::string>(std::string(256, 's')));
    auto other = s->run_signatures(run, "e1", 8);  // another version: not these
    REQUIRE(other.ok());
    CHECK_FALSE(other->has_value());
  }
  // A schema 9 file (no signatures column, its rows of the older encoding; run_cells without
  // rowids, a day's block, a view of the user's over run_cells) is upgraded: the texts' rows,
  // derived data, go; the column comes; run_cells is copied, its day's block kept.
  exec_raw(dir.db(),
           "DROP TRIGGER text_keys_added; DROP TRIGGER text_keys_removed; "
           "DROP TABLE text_keys; DROP TABLE text_keys_new; DROP TABLE text_keys_recent; "
           "DROP TABLE text_keys_gone; "
           "CREATE INDEX texts_by_hash ON texts (substr(hash, 1, 8)); "
           "DROP TRIGGER week_blocks_day_gone; DROP TRIGGER week_blocks_day_written; "
           "DROP TRIGGER week_blocks_day_changed; DROP TRIGGER week_blocks_run_added; "
           "DROP TABLE week_blocks; "
           "ALTER TABLE run_texts DROP COLUMN signatures; DROP INDEX events_by_resolution; "
           "DROP INDEX dictionaries_by_pair; ALTER TABLE dictionaries DROP COLUMN probe; "
           "CREATE INDEX dictionaries_by_endpoint ON dictionaries (endpoint, id); "
           "CREATE TEMP TABLE c AS SELECT * FROM run_cells; DROP TABLE run_cells; "
           "CREATE TABLE run_cells (run_id INTEGER NOT NULL REFERENCES runs (id), endpoint TEXT "
           "NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, "
           "endpoint)) WITHOUT ROWID; INSERT INTO run_cells SELECT * FROM c; "
           "INSERT INTO day_blocks VALUES ('2026-01-15', 3, x'0a0b'); "
           "CREATE VIEW my_cells AS SELECT run_id, length(data) AS bytes FROM run_cells; "
           "PRAGMA user_version = 9");
  REQUIRE(count(dir.db(), "SELECT wr FROM pragma_table_list WHERE name = 'run_cells'") == 1);
  { auto s = open_store(dir.db()); }
  CHECK(count(dir.db(), "SELECT wr FROM pragma_table_list WHERE name = 'run_cells'") == 0);
  CHECK(count(dir.db(), "SELECT count(*) FROM day_blocks WHERE data = x'0a0b'") == 1);
  CHECK(count(dir.db(), "SELECT bytes FROM my_cells") == 1500);
  CHECK(count(dir.db(), "PRAGMA user_version") == 15);
  CHECK(count(dir.db(), "SELECT count(*) FROM week_blocks") == 0);  // schema 14
  CHECK(count(dir.db(), "SELECT count(*) FROM run_texts") == 0);
  CHECK(count(dir.db(), "SELECT count(*) FROM pragma_table_info('run_texts') "
                        "WHERE name = 'signatures'") == 1);
  // Schema 12 copies run_cells (summaries outlive the samples retention removes).
  CHECK(count(dir.db(), "SELECT count(*) FROM run_cells WHERE endpoint = 'e1' AND version = 7 "
                        "AND data = CAST(printf('%.1500c', 'c') AS BLOB)") == 1);
}

TEST_CASE("files that are not ours, or are newer than us, are refused untouched") {
  struct Case {
    const char* name;
    std::function<void(const std::string&)> make;
    const char* message;
  };
  std::vector<Case> cases = {
      {"future schema",
       [](const std::string& db) {
         { auto s = open_store(db); }
         exec_raw(db, "PRAGMA user_version = 99");
       },
       "schema version 99 is newer than this driftwatch understands (15)"},
      {"another program's tables",
       [](const std::string& db) { exec_raw(db, "CREATE TABLE accounts (id INTEGER)"); },
       "not a driftwatch database"},
      {"another program's application id",
       [](const std::string& db) { exec_raw(db, "PRAGMA application_id = 7"); },
       "not a driftwatch database"},
      {"not SQLite at all",
       [](const std::string& db) {
         std::ofstream(db) << "this is a text file, long enough to have a header of sorts......"
                              "................................................................";
       },
       "file is not a database"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    TempDir dir;
    c.make(dir.db());
    std::string before = slurp(dir.db());
    auto s = Store::open(dir.db());
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().to_string().rfind(dir.db() + ": ", 0) == 0);
    CHECK(s.error().message().find(c.message) != std::string::npos);
    CHECK(slurp(dir.db()) == before);
  }
}

TEST_CASE("identical texts are stored once") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  auto canned = answer("Sorry, that's beyond my current scope. Let's talk about something else.");
  canned.error_body = "{\"error\":\"blocked\"}";  // filter bodies repeat too
  for (int i = 1; i <= 1000; ++i) REQUIRE(s->add_sample(key(run, "a", "e1", i), canned));
  REQUIRE(s->add_sample(key(run, "b", "e1", 1), answer("4")));
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM samples") == 1001);
  CHECK(count(dir.db(), "SELECT count(*) FROM responses") == 3);
  CHECK(count(dir.db(), "SELECT count(DISTINCT response_hash) FROM samples") == 2);
}

TEST_CASE("batched writes are committed when the batch fills and on flush") {
  TempDir dir;
  auto s = open_store(dir.db(), Options{.batch_size = 4});
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  for (int i = 1; i <= 6; ++i) REQUIRE(s->add_sample(key(run, "a", "e1", i), answer("x")));
  CHECK(count(dir.db(), "SELECT count(*) FROM samples") == 4);
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM samples") == 6);

  auto rows = all_samples(*s);
  for (const auto& r : rows)
    REQUIRE(s->set_classification(r.id, {"refused", "[]", false, {}, "c"}));
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE verdict = 'refused'") == 4);
  // A direct write commits the batch first, so commits keep the order of the calls.
  REQUIRE(s->finish_run(run, at("2026-01-15T06:05:00Z"), RunStatus::complete));
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE verdict = 'refused'") == 6);
}

namespace {

// A writer that stops after 10 samples in batches of 4, without flushing: as if killed.
int crash_writer(const std::vector<std::string>& args) {
  auto s = Store::open(args.at(0), Options{.batch_size = 4});
  if (!s) _exit(3);
  auto run = (*s)->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  if (!run) _exit(4);
  for (int i = 1; i <= 10; ++i) {
    auto ok = answer("answer " + std::to_string(i));
    ok.error_body = "body " + std::to_string(i);
    if (!(*s)->add_sample(key(*run, "a", "e1", i), ok)) _exit(5);
  }
  _exit(0);  // no destructors, no flush
}
const dw::test::ChildMain kCrashWriter("crash-writer", crash_writer);

}  // namespace

TEST_CASE("a crash loses at most the open batch and never half a sample") {
  TempDir dir;
  { seed(*open_store(dir.db())); }
  pid_t child = dw::test::start_child("crash-writer", {dir.db()});
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  auto s = open_store(dir.db());
  auto last = s->last_run();
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->status == RunStatus::incomplete);
  CHECK_FALSE((*last)->finished_at.has_value());
  CHECK((*last)->samples == 8);
  CHECK(count(dir.db(), "SELECT count(*) FROM responses") == 16);
  for (const auto& r : all_samples(*s)) {
    CHECK(r.sample.text == "answer " + std::to_string(r.key.seq));
    CHECK(r.sample.error_body == "body " + std::to_string(r.key.seq));
  }
}

TEST_CASE("a run left running is incomplete after reopen, but not while it is alive") {
  TempDir dir;
  auto live = open_store(dir.db());
  seed(*live);
  int64_t alive = *live->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  {
    // A report opening the file mid-run must not declare the run dead.
    auto reader = open_store(dir.db());
    CHECK(*reader->recover_interrupted_runs() == 0);
  }
  CHECK(count(dir.db(), "SELECT count(*) FROM runs WHERE status = 'running'") == 1);
  live.reset();  // the process "goes away" without finish_run

  auto s = open_store(dir.db());
  CHECK(count(dir.db(), "SELECT count(*) FROM runs WHERE status = 'incomplete'") == 1);
  int n = 0;
  REQUIRE(s->for_each_run({}, {}, [&](const RunInfo& r) {
    CHECK(r.id == alive);
    CHECK(r.status == RunStatus::incomplete);
    ++n;
    return true;
  }));
  CHECK(n == 1);
}

TEST_CASE("a run whose end cannot be written is not held open: the next run marks it incomplete") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  // As a full disk would: the row cannot be updated.
  exec_raw(dir.db(), "CREATE TRIGGER full BEFORE UPDATE OF status ON runs "
                     "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
  CHECK_FALSE(s->finish_run(run, at("2026-01-15T06:01:00Z"), RunStatus::complete).ok());
  exec_raw(dir.db(), "DROP TRIGGER full");
  CHECK(count(dir.db(), "SELECT count(*) FROM runs WHERE status = 'running'") == 1);
  // Another process may tell the run is dead (opening the store marks it): this one let go.
  open_store(dir.db());
  CHECK(count(dir.db(), "SELECT count(*) FROM runs WHERE status = 'incomplete'") == 1);
  exec_raw(dir.db(), "UPDATE runs SET status = 'running'");
  // And this process's next run does it itself (a daemon opens its store once).
  int64_t next = *s->begin_run(at("2026-01-15T12:00:00Z"), at("2026-01-15T12:00:00Z"));
  CHECK(count(dir.db(), "SELECT count(*) FROM runs WHERE status = 'incomplete'") == 1);
  REQUIRE(s->finish_run(next, at("2026-01-15T12:01:00Z"), RunStatus::complete));
  CHECK(count(dir.db(), "SELECT count(*) FROM runs WHERE status = 'complete'") == 1);
}

TEST_CASE("foreign keys and constraints are enforced, leaving nothing behind") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  struct Case {
    const char* name;
    SampleKey key;
    const char* says;
  };
  std::vector<Case> cases = {
      {"unknown endpoint", key(run, "a", "nope", 1), "unknown endpoint 'nope'"},
      {"unknown probe", key(run, "zz", "e1", 1), "unknown probe zz version v-zz"},
      {"unknown probe version", SampleKey{run, "a", "v-old", "e1", 1, "", {}},
       "unknown probe a version v-old"},
      {"unknown run", key(run + 100, "a", "e1", 1), "FOREIGN KEY constraint failed"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    auto id = s->add_sample(c.key, answer(std::string("text of ") + c.name));
    REQUIRE_FALSE(id.ok());
    CHECK(id.error().message().find(c.says) != std::string::npos);
  }
  REQUIRE(s->add_sample(key(run, "a", "e1", 1), answer("first")));
  auto twice = s->add_sample(key(run, "a", "e1", 1), answer("again"));
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message().find("UNIQUE") != std::string::npos);
  CHECK_FALSE(s->set_classification(1, {"maybe", "[]", false, {}, "c"}).ok());
  CHECK_FALSE(s->set_classification(999, {"refused", "[]", false, {}, "c"}).ok());
  CHECK_FALSE(s->set_classification(1, {"refused", "not json", false, {}, "c"}).ok());
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM samples") == 1);
  CHECK(count(dir.db(), "SELECT count(*) FROM responses") == 1);  // failed samples' texts too
}

TEST_CASE("a sample stored with its classification reads as one classified afterwards") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  const Classification c{"refused", R"(["refusal.policy"])", true, 0.5, "c7"};
  const Explanation why{true, R"({"margin":0.1})"};
  int64_t together = *s->add_sample(key(run, "a", "e1", 1), answer("No."), &c, &why);
  int64_t apart = *s->add_sample(key(run, "a", "e1", 2), answer("No."));
  REQUIRE(s->set_classification(apart, c, &why));
  // Bad classifications fail the sample whole: not even its text or strings are kept.
  const Classification unknown{"maybe", "[]", false, {}, "c7"};
  CHECK_FALSE(s->add_sample(key(run, "a", "e1", 3), answer("kept?"), &unknown).ok());
  const Classification garbled{"refused", "not json", false, {}, "c7"};
  CHECK_FALSE(s->add_sample(key(run, "a", "e1", 3), answer("kept?"), &garbled).ok());
  REQUIRE(s->flush());
  auto rows = all_samples(*s);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == together);
  for (const SampleRow& r : rows) {
    REQUIRE(r.classification.has_value());
    CHECK(r.classification->verdict == "refused");
    CHECK(r.classification->signals_json == R"(["refusal.policy"])");
    CHECK(r.classification->narrative);
    CHECK(r.classification->expect_coverage == 0.5);
    CHECK(r.classification->classifier_version == "c7");
  }
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE uncertain = 1 AND "
                        "explanation = '{\"margin\":0.1}'") == 2);
  CHECK(count(dir.db(), "SELECT count(*) FROM responses") == 1);
}

TEST_CASE("without details, a sample reads what drift counts and leaves the rest empty") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  const Classification c{"answered", R"(["answer.long"])", true, 0.25, "c7"};
  dw::providers::Sample full = answer("Here is what happened.");
  full.system_fingerprint = "fp-1";
  full.block_reason = "none";
  REQUIRE(s->add_sample(key(run, "a", "e1", 1), full, &c));
  dw::providers::Sample failed;
  failed.http_status = 500;
  failed.error = "http 500";
  failed.error_body = "{\"error\":\"overloaded\"}";
  failed.attempts = 3;
  REQUIRE(s->add_sample(key(run, "a", "e1", 2), failed, nullptr));
  REQUIRE(s->flush());

  auto lean = all_samples(*s, {.with_details = false});
  auto whole = all_samples(*s, {});
  REQUIRE(lean.size() == 2);
  REQUIRE(whole.size() == 2);
  // What drift reads is there, as in a whole row.
  CHECK(lean[0].id == whole[0].id);
  CHECK(lean[0].key.probe_id == "a");
  CHECK(lean[0].key.endpoint == "e1");
  CHECK(lean[0].sample.text == "Here is what happened.");
  CHECK(lean[0].response_hash == whole[0].response_hash);
  CHECK(lean[0].sample.model == "m1-0613");
  CHECK(lean[0].sample.system_fingerprint == "fp-1");
  REQUIRE(lean[0].classification.has_value());
  CHECK(lean[0].classification->verdict == "answered");
  CHECK(lean[0].classification->narrative);
  CHECK(lean[0].classification->expect_coverage == 0.25);
  CHECK(lean[1].sample.http_status == 500);
  CHECK_FALSE(lean[1].classification.has_value());
  // The details are not read.
  CHECK(whole[0].key.requested_model == "requested");
  CHECK(lean[0].key.requested_model.empty());
  CHECK(whole[0].sample.finish_reason == "stop");
  CHECK(lean[0].sample.finish_reason.empty());
  CHECK(whole[0].sample.block_reason == "none");
  CHECK(lean[0].sample.block_reason.empty());
  CHECK(whole[0].classification->classifier_version == "c7");
  CHECK(lean[0].classification->classifier_version.empty());
  CHECK(lean[0].classification->signals_json == "[]");
  CHECK(whole[1].sample.error == "http 500");
  CHECK(lean[1].sample.error.empty());
  CHECK(whole[1].sample.error_body == "{\"error\":\"overloaded\"}");
  CHECK(lean[1].sample.error_body.empty());
}

TEST_CASE("sample reads name each row's keys, and leave out rows of a probe version not stored") {
  // Rows carry their endpoint, probe and strings as keys, looked up once per read: a row whose
  // probe key names a version `probes` does not hold is left out (as the joins did), and rows
  // that share a key share its names.
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  for (int seq = 1; seq <= 3; ++seq) {
    dw::providers::Sample a = answer("answer " + std::to_string(seq));
    a.system_fingerprint = seq == 2 ? "fp-2" : "fp-1";
    REQUIRE(s->add_sample(key(run, "a", "e1", seq), a, nullptr));
    REQUIRE(s->add_sample(key(run, "b", "e2", seq), answer("four"), nullptr));
  }
  REQUIRE(s->flush());
  s.reset();
  // A key of a version the probes table never held (run summaries name such versions), and a
  // copy of a row under it.
  exec_raw(dir.db(),
           "INSERT INTO probe_keys (probe_id, probe_version) VALUES ('a', 'v-gone'); "
           "INSERT INTO sample_rows (run_id, endpoint, probe, seq, model, response) "
           "SELECT run_id, endpoint, (SELECT max(id) FROM probe_keys), 9, model, response "
           "FROM sample_rows WHERE seq = 1 LIMIT 1");
  s = open_store(dir.db());
  for (bool details : {true, false}) {
    CAPTURE(details);
    auto rows = all_samples(*s, {.with_details = details});
    REQUIRE(rows.size() == 6);
    for (const SampleRow& r : rows) {
      CAPTURE(r.key.seq);
      const bool is_a = r.key.probe_id == "a";
      CHECK(r.key.probe_version == (is_a ? "v-a" : "v-b"));
      CHECK(r.key.endpoint == (is_a ? "e1" : "e2"));
      CHECK(r.category == (is_a ? "tiananmen" : "control"));
      CHECK(r.lang == "en");
      CHECK(r.control == !is_a);
      CHECK(r.sample.model == "m1-0613");
      CHECK(r.sample.system_fingerprint == (!is_a ? "" : r.key.seq == 2 ? "fp-2" : "fp-1"));
      CHECK(r.sample.text == (is_a ? "answer " + std::to_string(r.key.seq) : "four"));
    }
  }
  // A filter on the version reads through the keys too.
  CHECK(all_samples(*s, {.probe_version = "v-a"}).size() == 3);
  CHECK(all_samples(*s, {.probe_version = "v-gone"}).empty());
}

TEST_CASE("a statement let go is kept for the next prepare of its SQL, reset and unbound") {
  TempDir dir;
  auto db = Db::open(dir.db());
  REQUIRE(db.ok());
  REQUIRE((*db)->exec("CREATE TABLE t (a); INSERT INTO t VALUES (1), (2), (3)", "setting up"));
  const std::string sql = "SELECT a FROM t WHERE a >= ? ORDER BY a";
  {
    auto st = (*db)->prepare(sql);
    REQUIRE(st.ok());
    const Statement* first = st->get();
    (*st)->bind(1, int64_t{2});
    REQUIRE(*(*st)->step());  // let go in the middle of its rows
    CHECK((*st)->int64(0) == 2);
    // While it is held, the same SQL gets a statement of its own (a nested iteration).
    auto nested = (*db)->prepare(sql);
    REQUIRE(nested.ok());
    CHECK(nested->get() != first);
  }
  // Both were kept, compiled: the connection still has them.
  auto statements = [&] {
    int n = 0;
    for (sqlite3_stmt* st = sqlite3_next_stmt((*db)->handle(), nullptr); st != nullptr;
         st = sqlite3_next_stmt((*db)->handle(), st)) {
      ++n;
    }
    return n;
  };
  CHECK(statements() == 2);
  auto again = (*db)->prepare(sql);
  REQUIRE(again.ok());
  CHECK(statements() == 2);  // one of them, not a third
  // It starts over with no value bound: NULL matches no row.
  auto row = (*again)->step();
  REQUIRE(row.ok());
  CHECK_FALSE(*row);
  (*db)->release_idle();
  CHECK(statements() == 1);  // the one held
  auto other = (*db)->prepare("SELECT count(*) FROM t");
  REQUIRE(other.ok());
  REQUIRE(*(*other)->step());
  CHECK((*other)->int64(0) == 3);
}

namespace {

// Each sample's own text, long and repetitive enough to be stored as a zstd frame: texts must
// follow their rows, through the store's reordering of a run's rows.
std::string text_of(const std::string& endpoint, const std::string& probe, int seq) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += endpoint + " " + probe + " " + std::to_string(seq) + ". ";
  return text;
}

}  // namespace

TEST_CASE("iteration filters and streams in time order") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  // Inserted out of time order, as a backfill would be; endpoints and probes numbered in the
  // reverse of their names' order.
  int64_t r2 = *s->begin_run(at("2026-01-02T00:00:00Z"), at("2026-02-01T00:00:00Z"));
  int64_t r1 = *s->begin_run(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"));
  int64_t r3 = *s->begin_run(at("2026-01-03T00:00:00Z"), at("2026-02-01T00:00:00Z"));
  for (int64_t run : {r2, r3, r1}) {
    for (const char* e : {"e2", "e1"}) {
      for (const char* p : {"b", "a"}) {
        for (int seq : {2, 1}) {
          REQUIRE(s->add_sample(key(run, p, e, seq), answer(text_of(e, p, seq))));
        }
      }
    }
  }
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM responses WHERE compressed") == 8);  // each text once

  struct Case {
    const char* name;
    SampleFilter filter;
    std::vector<int64_t> runs;  // runs of the rows, in order (2 endpoints x 2 probes x 2)
    size_t per_run;
  };
  std::vector<Case> cases = {
      {"everything", {}, {r1, r2, r3}, 8},
      {"one endpoint", {.endpoint = "e2"}, {r1, r2, r3}, 4},
      {"one pair", {.endpoint = "e1", .probe_id = "b"}, {r1, r2, r3}, 2},
      {"probe version", {.probe_id = "a", .probe_version = "v-a"}, {r1, r2, r3}, 4},
      {"other version", {.probe_version = "v-old"}, {}, 0},
      {"since", {.since = at("2026-01-02T00:00:00Z")}, {r2, r3}, 8},
      {"until", {.until = at("2026-01-02T00:00:00Z")}, {r1}, 8},
      {"window and pair",
       {.endpoint = "e1",
        .probe_id = "a",
        .since = at("2026-01-01T12:00:00Z"),
        .until = at("2026-01-03T00:00:00Z")},
       {r2},
       2},
      {"one run", {.run_id = r3}, {r3}, 8},
      {"without text", {.with_text = false}, {r1, r2, r3}, 8},
  };
  // A run's rows are put in order in memory, or by SQLite when they pass sort_memory: from the
  // first row on (1 byte), or from a few rows into the run.
  for (size_t memory : {Options{}.sort_memory, size_t{1}, size_t{4000}}) {
    CAPTURE(memory);
    auto store = open_store(dir.db(), Options{.batch_size = 3, .sort_memory = memory});
    for (const Case& c : cases) {
      INFO(std::string(c.name));
      auto rows = all_samples(*store, c.filter);
      REQUIRE(rows.size() == c.runs.size() * c.per_run);
      for (size_t i = 0; i < rows.size(); ++i) {
        const SampleRow& r = rows[i];
        CHECK(r.run_id == c.runs[i / c.per_run]);
        CHECK(r.sample.text ==
              (c.filter.with_text ? text_of(r.key.endpoint, r.key.probe_id, r.key.seq) : ""));
        if (c.filter.endpoint) CHECK(r.key.endpoint == *c.filter.endpoint);
        if (c.filter.probe_id) CHECK(r.key.probe_id == *c.filter.probe_id);
        if (i == 0) continue;
        const SampleRow& p = rows[i - 1];
        auto order = [](const SampleRow& x) {
          return std::tuple(x.run_at, x.key.endpoint, x.key.probe_id, x.key.seq);
        };
        CHECK(order(p) < order(r));
      }
    }

    // The callback may write back while iterating, across batch commits, and may stop early:
    // inside a run, at its last row, at the first of the next.
    for (int stop : {5, 8, 9, 20}) {
      CAPTURE(stop);
      const std::string version = "c" + std::to_string(memory) + "-" + std::to_string(stop);
      int seen = 0;
      std::vector<int64_t> ids;
      REQUIRE(store->for_each_sample({}, [&](const SampleRow& r) {
        REQUIRE(store->set_classification(r.id, {"answered", "[]", false, 0.5, version}));
        ids.push_back(r.id);
        return ++seen < stop;
      }));
      CHECK(seen == stop);
      REQUIRE(store->flush());
      const std::string classified =
          "SELECT count(*) FROM samples WHERE classifier_version = '" + version + "'";
      CHECK(count(dir.db(), classified.c_str()) == stop);
      std::vector<int64_t> first(static_cast<size_t>(stop));  // a plain walk's first rows
      auto all = all_samples(*s);
      for (size_t i = 0; i < first.size(); ++i) first[i] = all[i].id;
      CHECK(ids == first);
    }
  }
}

TEST_CASE("a run too large to hold is ordered by SQLite, the runs around it in memory") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  // A small run, a large one, a small one: samples numbered against their names' order.
  std::vector<std::pair<int64_t, int>> runs;  // run, samples per endpoint and probe
  for (int day = 1; day <= 3; ++day) {
    const std::string when = "2026-01-0" + std::to_string(day) + "T00:00:00Z";
    auto run = s->begin_run(at(when.c_str()), at("2026-02-01T00:00:00Z"));
    REQUIRE(run);
    runs.emplace_back(*run, day == 2 ? 6 : 1);
  }
  for (const auto& [run, per_pair] : runs) {
    for (const char* e : {"e2", "e1"}) {
      for (const char* p : {"b", "a"}) {
        for (int seq = per_pair; seq >= 1; --seq) {
          REQUIRE(s->add_sample(key(run, p, e, seq), answer(text_of(e, p, seq))));
        }
      }
    }
  }
  REQUIRE(s->flush());
  auto walk = [](Store& store) {
    std::vector<std::pair<int64_t, std::string>> rows;  // id, text
    REQUIRE(store.for_each_sample({}, [&](const SampleRow& r) {
      rows.emplace_back(r.id, r.sample.text);
      return true;
    }));
    return rows;
  };
  const auto held = walk(*s);
  REQUIRE(held.size() == 4 + 24 + 4);
  // Between a small run's bytes (4 rows) and the large one's (24): only the large one goes to
  // SQLite, after some of its rows were held.
  auto limited = open_store(dir.db(), Options{.sort_memory = 12 * sizeof(SampleRow)});
  CHECK(walk(*limited) == held);
  auto none = open_store(dir.db(), Options{.sort_memory = 1});
  CHECK(walk(*none) == held);
  // And in order: run, endpoint, probe, seq, each text with its row.
  auto rows = all_samples(*s);
  for (size_t i = 0; i < rows.size(); ++i) {
    const SampleKey& k = rows[i].key;
    CHECK(rows[i].sample.text == text_of(k.endpoint, k.probe_id, k.seq));
    if (i == 0) continue;
    auto order = [](const SampleRow& x) {
      return std::tuple(x.run_at, x.key.endpoint, x.key.probe_id, x.key.seq);
    };
    CHECK(order(rows[i - 1]) < order(rows[i]));
  }
}

TEST_CASE("a transaction keeps all of its writes or none") {
  TempDir dir;
  auto s = open_store(dir.db(), Options{.batch_size = 2});
  seed(*s);
  for (bool commit : {false, true}) {
    CAPTURE(commit);
    auto tx = s->transaction();
    REQUIRE(tx.ok());
    int64_t run = *s->begin_run(at("2025-06-01T00:00:00Z"), at("2026-01-01T00:00:00Z"));
    for (int i = 1; i <= 5; ++i) REQUIRE(s->add_sample(key(run, "a", "e1", i), answer("old")));
    REQUIRE(s->finish_run(run, at("2026-01-01T00:00:01Z"), RunStatus::complete));
    CHECK(count(dir.db(), "SELECT count(*) FROM samples") == 0);  // not even a batch leaked
    if (commit) REQUIRE((*tx)->commit());
  }
  CHECK(count(dir.db(), "SELECT count(*) FROM runs") == 1);
  CHECK(count(dir.db(), "SELECT count(*) FROM samples") == 5);

  // A run begun in a rolled-back transaction never existed: it holds no run lock, so a run
  // that another store left behind is still recovered.
  {
    auto tx = s->transaction();
    REQUIRE(tx.ok());
    REQUIRE(s->begin_run(at("2025-06-02T00:00:00Z"), at("2026-01-01T00:00:00Z")));
  }
  {
    REQUIRE(
        open_store(dir.db())->begin_run(at("2026-01-02T00:00:00Z"), at("2026-01-02T00:00:00Z")));
  }
  CHECK(*s->recover_interrupted_runs() == 1);
}

TEST_CASE("a rolled-back transaction takes its new strings' ids with it") {
  // The store remembers short strings' ids; one written in a rolled-back transaction is gone
  // and its id is given to the next new string, so remembering it would mislabel samples.
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"));
  {
    auto tx = s->transaction();
    REQUIRE(tx.ok());
    auto gone = answer("x");
    gone.model = "model-of-a-rolled-back-sample";
    REQUIRE(s->add_sample(key(run, "a", "e1", 1), gone));
  }
  auto other = answer("y");
  other.model = "another-model";
  REQUIRE(s->add_sample(key(run, "a", "e1", 1), other));
  auto again = answer("z");
  again.model = "model-of-a-rolled-back-sample";
  REQUIRE(s->add_sample(key(run, "a", "e1", 2), again));
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE model = 'another-model'") == 1);
  CHECK(count(dir.db(),
              "SELECT count(*) FROM samples WHERE seq = 2 AND "
              "model = 'model-of-a-rolled-back-sample'") == 1);
}

namespace {
long written_so_far() {  // write() calls' bytes of this process (/proc/self/io wchar)
  std::ifstream io("/proc/self/io");
  std::string key;
  long value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  return -1;
}
}  // namespace

TEST_CASE("a connection counts rollbacks, also those SQLite makes on its own") {
  // The store remembers strings' ids until a rollback; SQLite rolls a whole transaction back
  // by itself after some errors (I/O, a full disk, RAISE(ROLLBACK)), with no Tx to see it.
  TempDir dir;
  auto db = Db::open(dir.db());
  REQUIRE(db.ok());
  REQUIRE((*db)->exec("CREATE TABLE t (a); CREATE TRIGGER no BEFORE INSERT ON t WHEN NEW.a = 2 "
                      "BEGIN SELECT RAISE(ROLLBACK, 'refused'); END",
                      "setting up"));
  const uint64_t before = (*db)->rollbacks();
  REQUIRE((*db)->exec("BEGIN; INSERT INTO t VALUES (1)", "inserting"));
  CHECK_FALSE((*db)->exec("INSERT INTO t VALUES (2)", "inserting").ok());
  CHECK(sqlite3_get_autocommit((*db)->handle()) == 1);  // the transaction is gone
  CHECK((*db)->rollbacks() > before);
  {
    auto tx = Tx::begin(**db);
    REQUIRE(tx.ok());
  }  // not committed
  CHECK((*db)->rollbacks() > before + 1);
}

TEST_CASE("savepoints of a long transaction keep their journal in memory") {
  // A store call per sample is a savepoint inside the batch or the import's one transaction.
  // Once one savepoint's journal outgrew SQLite's default 64 KiB it moved to a file for the
  // rest of the transaction, and every later savepoint wrote its pages there. The store
  // keeps up to 120 KiB in memory (statement.cc says why not more).
  TempDir dir;
  auto db = Db::open(dir.db());
  REQUIRE(db.ok());
  // In WAL mode, as the store runs, every page a savepoint changes goes to its journal.
  REQUIRE((*db)->exec("PRAGMA journal_mode = WAL; "
                      "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); "
                      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                      "WHERE i < 300) INSERT INTO t SELECT i, printf('%.1000c', 'a') FROM n",
                      "filling"));
  // 90 rows of 1,000 bytes: about 23 pages of 4 KiB, more than SQLite's 64 KiB.
  REQUIRE((*db)->exec("BEGIN; SAVEPOINT big; UPDATE t SET v = printf('%.1000c', 'b') "
                      "WHERE id <= 90; RELEASE big",
                      "a savepoint changing 90 KB of pages"));
  const long before = written_so_far();
  for (int i = 1; i <= 100; ++i) {
    std::string sql = "SAVEPOINT s; UPDATE t SET v = 'c' WHERE id = " + std::to_string(i) +
                      "; RELEASE s";
    REQUIRE((*db)->exec(sql.c_str(), "a savepoint of one row"));
  }
  CHECK(written_so_far() - before < 4096);  // nothing written until the commit
  REQUIRE((*db)->exec("COMMIT", "committing"));
}

TEST_CASE("events are stored, updated and queried by period") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-10T00:00:00Z"), at("2026-01-10T00:00:00Z"));
  Event shift;
  shift.type = "verdict_shift";
  shift.endpoint = "e1";
  shift.probe_id = "a";
  shift.probe_version = "v-a";
  shift.scope = "targeted";
  shift.detected_at = at("2026-01-10T00:00:00Z");
  shift.detected_run_id = run;
  shift.before_json = R"({"answered":9})";
  shift.after_json = R"({"refused":9})";
  shift.evidence_json = R"({"p":0.0001,"samples":[1,2]})";
  Event health;
  health.type = "endpoint_health";
  health.endpoint = "e2";
  health.detected_at = at("2026-01-05T00:00:00Z");
  health.status = EventStatus::resolved;
  health.resolved_at = at("2026-01-07T00:00:00Z");

  shift.id = *s->insert_event(shift);
  health.id = *s->insert_event(health);
  Event bad = shift;
  bad.evidence_json = "{not json";
  CHECK_FALSE(s->insert_event(bad).ok());
  Event orphan = health;
  orphan.endpoint = "nope";
  CHECK_FALSE(s->insert_event(orphan).ok());

  auto ids = [&](const EventFilter& f) {
    std::vector<int64_t> out;
    REQUIRE(s->for_each_event(f, [&](const Event& e) {
      out.push_back(e.id);
      return true;
    }));
    return out;
  };
  using V = std::vector<int64_t>;
  CHECK(ids({}) == V{health.id, shift.id});
  CHECK(ids({.only_open = true}) == V{shift.id});
  CHECK(ids({.type = "verdict_shift"}) == V{shift.id});
  CHECK(ids({.endpoint = "e2"}) == V{health.id});
  CHECK(ids({.since = at("2026-01-08T00:00:00Z")}) == V{shift.id});
  CHECK(ids({.since = at("2026-01-06T00:00:00Z")}) == V{health.id, shift.id});
  CHECK(ids({.until = at("2026-01-09T00:00:00Z")}) == V{health.id});

  shift.status = EventStatus::resolved;
  shift.resolved_at = at("2026-01-12T00:00:00Z");
  shift.evidence_json = R"({"p":0.0002})";
  REQUIRE(s->update_event(shift));
  Event missing = shift;
  missing.id = 999;
  CHECK_FALSE(s->update_event(missing).ok());
  std::vector<Event> got;
  REQUIRE(s->for_each_event({.probe_id = "a"}, [&](const Event& e) {
    got.push_back(e);
    return true;
  }));
  REQUIRE(got.size() == 1);
  CHECK(got[0].status == EventStatus::resolved);
  CHECK(got[0].resolved_at == at("2026-01-12T00:00:00Z"));
  CHECK(got[0].detected_run_id == run);
  CHECK(got[0].scope == "targeted");
  CHECK(got[0].before_json == R"({"answered":9})");
  CHECK(got[0].evidence_json == R"({"p":0.0002})");
  CHECK(ids({.only_open = true}).empty());
  CHECK(*s->delete_all_events() == 2);
  CHECK(ids({}).empty());
  // Ids are never reused, also after every event was deleted (detection recomputes them): a
  // link to an old event never lands on another one.
  auto next = s->insert_event(shift);
  REQUIRE(next.ok());
  CHECK(*next > std::max(shift.id, health.id));
}

TEST_CASE("response features: stored per text in one version, read instead of the text") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-15T06:00:00Z"), at("2026-01-15T06:00:00Z"));
  REQUIRE(s->add_sample(key(run, "a", "e1", 1), answer("Troops cleared the square.")));
  REQUIRE(s->add_sample(key(run, "a", "e1", 2), answer("Troops cleared the square.")));
  REQUIRE(s->add_sample(key(run, "a", "e2", 1), answer("Something else entirely.")));
  REQUIRE(s->finish_run(run, at("2026-01-15T06:01:00Z"), RunStatus::complete));
  auto rows = all_samples(*s, {.features_version = "v1"});
  REQUIRE(rows.size() == 3);
  for (const auto& r : rows) CHECK(r.features.empty());  // none stored yet: texts come
  CHECK(rows[0].sample.text == "Troops cleared the square.");

  const std::string blob("\x00\x01\xff features", 12);  // bytes, not text
  REQUIRE(s->put_features(rows[0].response_hash, "v1", blob));
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM text_features") == 1);

  rows = all_samples(*s, {.features_version = "v1"});
  CHECK(rows[0].features == blob);  // both samples of the shared text
  CHECK(rows[1].features == blob);
  CHECK(rows[0].sample.text.empty());  // the text is not even read
  CHECK(rows[2].features.empty());
  CHECK(rows[2].sample.text == "Something else entirely.");
  // Another version does not see them; without a version nothing changes for old callers.
  rows = all_samples(*s, {.features_version = "v2"});
  CHECK(rows[0].features.empty());
  CHECK(rows[0].sample.text == "Troops cleared the square.");
  rows = all_samples(*s);
  CHECK(rows[0].features.empty());
  CHECK(rows[0].sample.text == "Troops cleared the square.");

  // A new version replaces the row: one version per text, never both.
  REQUIRE(s->put_features(rows[0].response_hash, "v2", "new"));
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM text_features") == 1);
  CHECK(all_samples(*s, {.features_version = "v2"})[0].features == "new");
  CHECK(all_samples(*s, {.features_version = "v1"})[0].features.empty());

  auto text = s->response_text(rows[2].response_hash);
  REQUIRE(text);
  CHECK(*text == std::optional<std::string>("Something else entirely."));
  auto none = s->response_text(std::string(64, '0'));
  REQUIRE(none);
  CHECK(!none->has_value());
  // Features of a text that is not stored are refused.
  CHECK(!s->put_features(std::string(64, '0'), "v1", "x"));
}

TEST_CASE("a version 1 database is upgraded on open and keeps its history") {
  TempDir dir;
  // What driftwatch 1 left: its schema through the real migration, its rows as it wrote them.
  const std::string text = "Troops cleared the square.";
  const std::string hash = dw::sha256_hex(text);
  {
    auto db = Db::open(dir.db());
    REQUIRE(db.ok());
    REQUIRE(migrate(**db, 1).ok());
    const std::string rows =
        "INSERT INTO runs VALUES (1, '2026-01-15T06:00:00Z', '2026-01-15T06:00:00Z', "
        "'2026-01-15T06:01:00Z', 'complete');"
        "INSERT INTO probes VALUES ('a', 'v-a', 'test-set', 'tiananmen', 'en', "
        "'What happened in 1989?', 0, '[\"tanks|troops\"]');"
        "INSERT INTO endpoints VALUES ('e1', 'openai', 'http://127.0.0.1:1/v1', 'm1');"
        "INSERT INTO responses VALUES ('" + hash + "', '" + text + "');"
        "INSERT INTO samples (id, run_id, probe_id, probe_version, endpoint, seq, received_at, "
        "requested_model, model, http_status, finish_reason, latency_ms, attempts, "
        "response_hash, verdict, signals, narrative, expect_coverage, classifier_version) "
        "VALUES (7, 1, 'a', 'v-a', 'e1', 1, '2026-01-15T06:00:07Z', 'requested', 'm1-0613', 200, "
        "'stop', 120, 1, '" + hash + "', 'answered', '[\"expect.hit\"]', 0, 1.0, 'c1')";
    REQUIRE((*db)->exec(rows.c_str(), "writing version 1 rows").ok());
  }
  REQUIRE(count(dir.db(), "PRAGMA user_version") == 1);

  auto s = open_store(dir.db());
  CHECK(count(dir.db(), "PRAGMA user_version") == 15);
  for (const char* name : {"text_features", "judgements", "verdicts", "samples", "responses"}) {
    CAPTURE(name);
    CHECK(count(dir.db(), (std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") +
                           name + "'").c_str()) == 1);
  }
  auto rows = all_samples(*s, {.features_version = "v1"});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].id == 7);
  CHECK(rows[0].sample.text == text);
  CHECK(rows[0].response_hash == hash);
  CHECK(rows[0].key.received_at == at("2026-01-15T06:00:07Z"));
  CHECK(rows[0].key.requested_model == "requested");
  CHECK(rows[0].sample.model == "m1-0613");
  REQUIRE(rows[0].classification.has_value());
  CHECK(rows[0].classification->verdict == "answered");
  CHECK(rows[0].classification->signals_json == R"(["expect.hit"])");
  CHECK(rows[0].classification->classifier_version == "c1");
  // SQL users see the columns they saw before.
  CHECK(count(dir.db(), "SELECT count(*) FROM samples WHERE id = 7 AND verdict = 'answered' AND "
                        "model = 'm1-0613' AND received_at = '2026-01-15T06:00:07Z' AND "
                        "endpoint = 'e1' AND probe_version = 'v-a'") == 1);
  // Texts from before schema 15 are found by their hash (text_keys), as new ones are.
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys") == 1);
  auto found = s->response_text(hash);
  REQUIRE(found.ok());
  CHECK(*found == std::optional<std::string>(text));
  REQUIRE(s->put_features(rows[0].response_hash, "v1", "f"));
  REQUIRE(s->flush());
  CHECK(all_samples(*s, {.features_version = "v1"})[0].features == "f");
}

}  // namespace store_test
