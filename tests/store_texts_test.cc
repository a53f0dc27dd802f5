// Stored texts: compressed with zstd, with a dictionary per endpoint and one per probe and
// endpoint once they have enough answers, read back exactly whatever dictionary they were
// written with; a damaged text is an error that names it, never a crash or garbage.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <zstd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/hash.h"
#include "scratch.h"
#include "store/compress.h"
#include "store/store.h"

namespace store_texts_test {

using dw::Time;
using namespace dw::store;

namespace {

Time at(const char* text) { return *dw::parse_time(text); }

struct TempDir : dw::test::Scratch {
  std::string db() const { return path("test.db").string(); }
};

// A second connection, as sqlite3 in a shell.
int64_t count(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

void exec_raw(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &error);
  INFO((error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

// Answer number n: about 600 bytes of words from a small vocabulary (as a model's answers
// share theirs), different for every n.
std::string essay(int n) {
  static const char* const kWords[] = {
      "the",     "army",   "moved",     "into",    "square",  "on",       "night",    "of",
      "June",    "third",  "students",  "had",     "gathered", "for",     "weeks",    "to",
      "call",    "reform", "government", "declared", "martial", "law",     "and",      "troops",
      "opened",  "fire",   "many",      "were",    "killed",  "estimates", "vary",    "widely",
      "history", "record", "remains",   "contested", "sources", "report",  "hundreds", "城市",
      "政府",    "学生",   "广场",      "历史"};
  constexpr size_t kCount = sizeof kWords / sizeof *kWords;
  uint64_t x = static_cast<uint64_t>(n) * 0x9e3779b97f4a7c15ULL + 1;
  std::string out = "Answer " + std::to_string(n) + ":";
  while (out.size() < 600) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out += ' ';
    out += kWords[(x >> 33) % kCount];
  }
  return out + ".";
}

std::unique_ptr<Store> open_store(const std::string& path) {
  auto s = Store::open(path, Options{.batch_size = 256});
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().to_string()));
  return std::move(s).value();
}

void seed(Store& s) {
  dw::probes::Probe p;
  p.id = "a";
  p.set = "test-set";
  p.category = "tiananmen";
  p.lang = "en";
  p.prompt = "What happened in 1989?";
  p.version = "v-a";
  REQUIRE(s.upsert_probes({p}));
  REQUIRE(s.upsert_endpoint("e1", "openai", "http://127.0.0.1:1/v1", "m1"));
}

// Probes p0..p(n-1) (version "v") and endpoint e1.
void seed_probes(Store& s, int n) {
  std::vector<dw::probes::Probe> probes;
  for (int k = 0; k < n; ++k) {
    dw::probes::Probe p;
    p.id = "p" + std::to_string(k);
    p.set = "test-set";
    p.category = "tiananmen";
    p.lang = "en";
    p.prompt = "Question " + std::to_string(k) + "?";
    p.version = "v";
    probes.push_back(p);
  }
  REQUIRE(s.upsert_probes(probes));
  REQUIRE(s.upsert_endpoint("e1", "openai", "http://127.0.0.1:1/v1", "m1"));
}

// One run of `n` samples answering essays first..first+n-1 (seq = essay number + 1).
void store_run(Store& s, const char* when, int first, int n) {
  int64_t run = *s.begin_run(at(when), at(when));
  for (int i = first; i < first + n; ++i) {
    dw::providers::Sample answer;
    answer.text = essay(i);
    answer.http_status = 200;
    answer.attempts = 1;
    REQUIRE(s.add_sample({run, "a", "v-a", "e1", i + 1, "m1", std::nullopt}, answer));
  }
  REQUIRE(s.finish_run(run, at(when), RunStatus::complete));
}

// Every stored text is its essay again; returns how many were read.
size_t check_all(Store& s) {
  size_t n = 0;
  auto st = s.for_each_sample({}, [&](const SampleRow& row) {
    CHECK(row.sample.text == essay(row.key.seq - 1));
    ++n;
    return true;
  });
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  return n;
}

}  // namespace

TEST_CASE("texts are compressed, read back before and after each dictionary, and stay "
          "readable after a new one") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  // 250 answers: compressed without a dictionary; then there are enough to train one.
  store_run(*s, "2026-01-01T00:00:00Z", 0, 250);
  CHECK(count(dir.db(), "SELECT count(*) FROM texts t JOIN text_data d ON d.id = t.id "
                        "WHERE t.dict IS NULL AND typeof(d.data) = 'blob'") == 250);
  // The endpoint's dictionary (1), then the probe's own (2), of 100 of its texts.
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries") == 2);
  CHECK(count(dir.db(), "SELECT texts FROM dictionaries WHERE id = 1 AND probe IS NULL") == 250);
  CHECK(count(dir.db(), "SELECT length(data) BETWEEN 1024 AND 32768 FROM dictionaries "
                        "WHERE id = 1") == 1);
  CHECK(count(dir.db(), "SELECT texts FROM dictionaries WHERE id = 2 AND probe = "
                        "(SELECT id FROM probe_keys WHERE probe_id = 'a')") == 100);
  CHECK(count(dir.db(), "SELECT length(data) BETWEEN 1024 AND 8192 FROM dictionaries "
                        "WHERE id = 2") == 1);
  CHECK(check_all(*s) == 250);

  // The probe's texts are compressed with its own; after 16 times what each learnt from,
  // both are trained again.
  store_run(*s, "2026-01-02T00:00:00Z", 250, 4000);
  CHECK(count(dir.db(), "SELECT count(*) FROM texts WHERE dict = 2") == 4000);
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries") == 4);
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries WHERE id = 3 AND probe IS NULL") == 1);
  store_run(*s, "2026-01-03T00:00:00Z", 4250, 20);
  CHECK(count(dir.db(), "SELECT count(*) FROM texts WHERE dict = 4") == 20);
  CHECK(check_all(*s) == 4270);

  // The dictionary pays: its texts take much less room than those compressed without one.
  CHECK(count(dir.db(), "SELECT avg(length(d.data)) * 10 < 7 * (SELECT avg(length(d2.data)) "
                        "FROM texts t2 JOIN text_data d2 ON d2.id = t2.id WHERE t2.dict IS NULL) "
                        "FROM texts t JOIN text_data d ON d.id = t.id WHERE t.dict = 2") == 1);
  CHECK(count(dir.db(), "SELECT max(length(d.data)) < 600 FROM text_data d") == 1);

  // Another process (no cached dictionary) reads every one, and by hash.
  s.reset();
  auto again = open_store(dir.db());
  CHECK(check_all(*again) == 4270);
  for (int i : {0, 249, 250, 4249, 4269}) {
    CAPTURE(i);
    auto text = again->response_text(dw::sha256_hex(essay(i)));
    REQUIRE(text.ok());
    CHECK(*text == std::optional<std::string>(essay(i)));
  }
  // Identical texts are still stored once, whatever their form.
  int64_t texts = count(dir.db(), "SELECT count(*) FROM texts");
  store_run(*again, "2026-01-04T00:00:00Z", 0, 10);
  CHECK(count(dir.db(), "SELECT count(*) FROM texts") == texts);
}

TEST_CASE("a dictionary is trained at the run its texts become enough, however they come") {
  // Small runs: a run's end counts the endpoint's texts only when the last count and the
  // texts stored since could reach the number due; it must still train at the first run
  // that reaches it, also after another process stored texts in between.
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int day = 1;
  auto next_run = [&](Store& store, int first, int n) {
    const std::string when = "2026-01-" + std::string(day < 10 ? "0" : "") +
                             std::to_string(day) + "T00:00:00Z";
    ++day;
    store_run(store, when.c_str(), first, n);
  };
  const std::string endpoints = "SELECT count(*) FROM dictionaries WHERE probe IS NULL";
  next_run(*s, 0, 30);
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries") == 0);
  next_run(*s, 30, 30);  // 60 of the probe: its own dictionary, of them all
  CHECK(count(dir.db(), "SELECT texts FROM dictionaries WHERE probe IS NOT NULL") == 60);
  for (int r = 2; r < 5; ++r) next_run(*s, r * 30, 30);
  CHECK(count(dir.db(), endpoints) == 0);  // 150 texts
  {
    auto other = open_store(dir.db());
    next_run(*other, 150, 30);  // 180, stored by another process
  }
  CHECK(count(dir.db(), endpoints) == 0);
  next_run(*s, 180, 19);  // 199
  CHECK(count(dir.db(), endpoints) == 0);
  next_run(*s, 199, 1);  // 200: due
  CHECK(count(dir.db(), endpoints) == 1);
  CHECK(count(dir.db(), "SELECT texts FROM dictionaries WHERE probe IS NULL") == 200);
  // The probe's is not trained again before 16 times the 60 it learnt from.
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries WHERE probe IS NOT NULL") == 1);
}

TEST_CASE("new texts are keyed apart until they are many enough to merge; every text is found "
          "by its hash, and stored once, wherever its key is") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  auto keys = [&](const char* table) {
    return count(dir.db(), std::string("SELECT count(*) FROM ") + table);
  };
  auto found = [&](int n) {
    auto text = s->response_text(dw::sha256_hex(essay(n)));
    REQUIRE(text.ok());
    return *text == std::optional<std::string>(essay(n));
  };
  // A run's keys are new until it ends, then recent.
  int64_t run = *s->begin_run(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"));
  for (int i = 0; i < 3000; ++i) {
    dw::providers::Sample answer;
    answer.text = essay(i);
    answer.http_status = 200;
    REQUIRE(s->add_sample({run, "a", "v-a", "e1", i + 1, "m1", std::nullopt}, answer));
  }
  REQUIRE(s->flush());
  CHECK(keys("text_keys_new") == 3000);
  CHECK(found(0));
  REQUIRE(s->finish_run(run, at("2026-01-01T00:00:00Z"), RunStatus::complete));
  CHECK(keys("text_keys_new") == 0);
  CHECK(keys("text_keys_recent") == 3000);  // fewer than 4,096: never merged
  CHECK(keys("text_keys") == 0);
  CHECK(found(0));
  store_run(*s, "2026-01-02T00:00:00Z", 2990, 1510);  // 10 known, 1,500 new
  CHECK(keys("texts") == 4500);
  CHECK(keys("text_keys_recent") == 0);  // 4,500 and nothing merged before: due
  CHECK(keys("text_keys") == 4500);
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys k JOIN texts t ON t.id = k.id "
                        "AND substr(t.hash, 1, 8) = k.key") == 4500);
  store_run(*s, "2026-01-03T00:00:00Z", 4495, 15);  // 5 known (merged), 10 new
  CHECK(keys("texts") == 4510);
  CHECK(keys("text_keys_recent") == 10);
  CHECK((found(4499) && found(4505) && found(17)));
  // Due at sqrt(2 x merged x the run's new): 5,010 recent after a run of 5,000 with 4,500
  // merged wait (6,708 due); 2,000 more make 7,010 against 4,243.
  store_run(*s, "2026-01-04T00:00:00Z", 4510, 5000);
  CHECK(keys("text_keys_recent") == 5010);
  store_run(*s, "2026-01-05T00:00:00Z", 9510, 2000);
  CHECK(keys("text_keys_recent") == 0);
  CHECK(keys("text_keys") == 11510);
  CHECK(keys("texts") == 11510);
  CHECK(check_all(*s) == 3000 + 1510 + 15 + 5000 + 2000);
  // A deleted text (retention; a user's SQL) takes its new or recent key along; a merged
  // one's stays in text_keys, listed as gone, until the next merge, and finds nothing.
  auto missing = [&](int n) {
    auto text = s->response_text(dw::sha256_hex(essay(n)));
    REQUIRE(text.ok());
    return !text->has_value();
  };
  auto remove = [&](int64_t id) {
    const std::string ids = std::to_string(id);
    exec_raw(dir.db(), "DELETE FROM text_data WHERE id = " + ids +
                           "; DELETE FROM texts WHERE id = " + ids);
  };
  store_run(*s, "2026-01-06T00:00:00Z", 20000, 1);  // id 11511
  CHECK(keys("text_keys_recent") == 1);
  remove(1);  // essay 0, merged
  remove(11511);
  CHECK(keys("text_keys_recent") == 0);
  CHECK(keys("text_keys_gone") == 2);
  CHECK(keys("text_keys") == 11510);
  CHECK((missing(0) && missing(20000)));
  // The newest text deleted, SQLite gives its id again: to another text, which the old key
  // left in text_keys must not find; then to the same text, found again, also after the
  // merge that drops that old key (before it inserts the new one: they are the same).
  remove(11510);  // essay 11509, merged
  store_run(*s, "2026-01-07T00:00:00Z", 30000, 1);
  CHECK(count(dir.db(), "SELECT id FROM texts ORDER BY id DESC LIMIT 1") == 11510);
  CHECK(missing(11509));
  CHECK(found(30000));
  remove(11510);
  store_run(*s, "2026-01-08T00:00:00Z", 11509, 1);
  CHECK(count(dir.db(), "SELECT id FROM texts ORDER BY id DESC LIMIT 1") == 11510);
  CHECK(found(11509));
  CHECK(keys("text_keys_gone") == 4);
  store_run(*s, "2026-01-09T00:00:00Z", 40000, 5000);  // 5,005 waiting, 10,726 due
  CHECK(keys("text_keys_recent") == 5001);
  store_run(*s, "2026-01-10T00:00:00Z", 50000, 2000);  // 7,005 waiting, 6,784 due
  CHECK(count(dir.db(), "SELECT (SELECT count(*) FROM text_keys_gone) + (SELECT count(*) FROM "
                        "text_keys_recent) + (SELECT count(*) FROM text_keys_new)") == 0);
  CHECK(keys("texts") == 18509);
  CHECK(keys("text_keys") == 18509);
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys k JOIN texts t ON t.id = k.id "
                        "AND substr(t.hash, 1, 8) = k.key") == 18509);
  CHECK((found(11509) && found(40000) && found(51999)));
  CHECK((missing(0) && missing(20000) && missing(30000)));
}

TEST_CASE("an import's runs leave their texts' keys new; the first run after it merges them, "
          "new texts or not") {
  // Moving them run by run inside one transaction would write the tables again for each run
  // once the transaction outgrows SQLite's page cache.
  TempDir dir;
  {
    auto importer = open_store(dir.db());
    seed(*importer);
    auto tx = importer->transaction();
    REQUIRE(tx.ok());
    for (int r = 0; r < 3; ++r) {
      const std::string when = "2026-01-0" + std::to_string(r + 1) + "T00:00:00Z";
      store_run(*importer, when.c_str(), r * 2000, 2000);
    }
    REQUIRE((*tx)->commit());
  }
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys_new") == 6000);
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys_recent") == 0);
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys") == 0);
  auto s = open_store(dir.db());
  store_run(*s, "2026-01-04T00:00:00Z", 5990, 10);  // known texts only
  CHECK(count(dir.db(), "SELECT count(*) FROM texts") == 6000);
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys_new") == 0);
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys_recent") == 0);  // straight in: due
  CHECK(count(dir.db(), "SELECT count(*) FROM text_keys") == 6000);
}

TEST_CASE("each probe gets a dictionary of its own once it has enough texts, a few a run; "
          "the others use the endpoint's") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed_probes(*s, 12);
  // p0-p9 answer essays; p10 short distinct lines (too little to learn from); p11 few essays.
  std::map<std::pair<int, int>, std::string> sent;  // (probe, seq) -> text
  int day = 1;
  auto run = [&](int per_probe, int few) {
    const std::string when = "2026-02-0" + std::to_string(day++) + "T00:00:00Z";
    int64_t id = *s->begin_run(at(when.c_str()), at(when.c_str()));
    for (int k = 0; k < 12; ++k) {
      const int n = k == 11 ? few : per_probe;
      for (int i = 0; i < n; ++i) {
        const int seq = static_cast<int>(sent.size()) + 1;
        dw::providers::Sample answer;
        answer.text = k == 10 ? "No, " + std::to_string(seq) + "." : essay(seq * 100 + k);
        answer.http_status = 200;
        answer.attempts = 1;
        sent[{k, seq}] = answer.text;
        REQUIRE(s->add_sample({id, "p" + std::to_string(k), "v", "e1", seq, "m1", std::nullopt},
                              answer));
      }
    }
    REQUIRE(s->finish_run(id, at(when.c_str()), RunStatus::complete));
  };
  const std::string pair_dicts = "SELECT count(*) FROM dictionaries WHERE probe IS NOT NULL";
  run(40, 5);  // 445 texts: the endpoint's dictionary; 12 pairs to try, 8 tried
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries WHERE probe IS NULL") == 1);
  CHECK(count(dir.db(), pair_dicts) >= 6);  // p10 and p11 may be among the 8, and fail
  CHECK(count(dir.db(), pair_dicts) <= 8);
  run(1, 1);  // the rest of them at the next run: those with one are not tried again
  CHECK(count(dir.db(), pair_dicts) == 10);
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries WHERE probe IN "
                        "(SELECT id FROM probe_keys WHERE probe_id IN ('p10', 'p11'))") == 0);

  // A failed request's body is no probe's answer: the endpoint's dictionary.
  {
    int64_t id = *s->begin_run(at("2026-02-09T00:00:00Z"), at("2026-02-09T00:00:00Z"));
    dw::providers::Sample failed;
    failed.http_status = 500;
    failed.error = "http 500";
    failed.error_body = essay(7);
    REQUIRE(s->add_sample({id, "p0", "v", "e1", 9999, "m1", std::nullopt}, failed));
    REQUIRE(s->finish_run(id, at("2026-02-09T00:00:00Z"), RunStatus::incomplete));
  }
  CHECK(count(dir.db(), "SELECT t.dict FROM texts t JOIN samples s ON s.error_body_id = t.id") ==
        1);

  run(1, 1);  // each probe's new text, with its own dictionary or the endpoint's
  for (int k : {0, 9, 11}) {
    CAPTURE(k);
    const std::string probe = "'p" + std::to_string(k) + "'";
    CHECK(count(dir.db(), "SELECT t.dict FROM texts t JOIN samples s ON s.response_id = t.id "
                          "WHERE s.probe_id = " + probe + " ORDER BY t.id DESC LIMIT 1") ==
          (k == 11 ? 1
                   : count(dir.db(), "SELECT d.id FROM dictionaries d JOIN probe_keys p ON "
                                     "p.id = d.probe WHERE p.probe_id = " + probe)));
  }
  // A run that asks one probe (as a probe set on its own schedule does) does not make its
  // dictionary again before the texts since, shared out among all ten pairs, are 16 times the
  // 40 it learnt from.
  {
    const std::string p0 = "SELECT count(*) FROM dictionaries d JOIN probe_keys p ON "
                           "p.id = d.probe WHERE p.probe_id = 'p0'";
    REQUIRE(count(dir.db(), p0) == 1);
    int64_t id = *s->begin_run(at("2026-02-10T00:00:00Z"), at("2026-02-10T00:00:00Z"));
    for (int i = 0; i < 700; ++i) {
      const int seq = static_cast<int>(sent.size()) + 1;
      dw::providers::Sample answer;
      answer.text = essay(seq * 100);
      answer.http_status = 200;
      sent[{0, seq}] = answer.text;
      REQUIRE(s->add_sample({id, "p0", "v", "e1", seq, "m1", std::nullopt}, answer));
    }
    REQUIRE(s->finish_run(id, at("2026-02-10T00:00:00Z"), RunStatus::complete));
    CHECK(count(dir.db(), p0) == 1);
  }

  // Every text reads back, in this process and another.
  for (int pass = 0; pass < 2; ++pass) {
    size_t n = 0;
    REQUIRE(s->for_each_sample({}, [&](const SampleRow& row) {
      if (row.key.seq == 9999) return true;
      const int k = std::stoi(row.key.probe_id.substr(1));
      CHECK(row.sample.text == sent.at({k, static_cast<int>(row.key.seq)}));
      ++n;
      return true;
    }));
    CHECK(n == sent.size());
    s.reset();
    s = open_store(dir.db());
  }
}

TEST_CASE("the dictionaries held in memory stay bounded however many probes train one") {
  TempDir dir;
  auto s = open_store(dir.db());
  constexpr int kProbes = 48;  // each with a dictionary of its own after six runs
  seed_probes(*s, kProbes);
  int seq = 0;
  for (int day = 1; day <= 7; ++day) {
    const std::string when = "2026-03-0" + std::to_string(day) + "T00:00:00Z";
    int64_t id = *s->begin_run(at(when.c_str()), at(when.c_str()));
    for (int k = 0; k < kProbes; ++k) {
      for (int i = 0; i < (day == 1 ? 40 : 1); ++i) {
        dw::providers::Sample answer;
        answer.text = essay(++seq);
        answer.http_status = 200;
        REQUIRE(s->add_sample({id, "p" + std::to_string(k), "v", "e1", seq, "m1", std::nullopt},
                              answer));
      }
    }
    REQUIRE(s->finish_run(id, at(when.c_str()), RunStatus::complete));
    CAPTURE(day);
    CHECK(s->dictionaries_held() <= Store::kDictionariesHeld);
  }
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries WHERE probe IS NOT NULL") == kProbes);
  // Those let go are read again when a text needs them.
  size_t n = 0;
  REQUIRE(s->for_each_sample({}, [&](const SampleRow& row) {
    CHECK(row.sample.text == essay(static_cast<int>(row.key.seq)));
    ++n;
    return true;
  }));
  CHECK(n == static_cast<size_t>(seq));
  CHECK(s->dictionaries_held() <= Store::kDictionariesHeld);
}

TEST_CASE("a probe's dictionary trained inside a transaction that rolls back is gone, and "
          "the texts after it read back") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  {
    auto tx = s->transaction();
    REQUIRE(tx.ok());
    store_run(*s, "2026-01-01T00:00:00Z", 0, 250);  // the endpoint's and the probe's, inside
    // Rolled back: the runs, texts and both dictionaries go.
  }
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries") == 0);
  CHECK(count(dir.db(), "SELECT count(*) FROM texts") == 0);
  store_run(*s, "2026-01-02T00:00:00Z", 1000, 250);
  store_run(*s, "2026-01-03T00:00:00Z", 2000, 20);  // with the probe's new dictionary
  CHECK(count(dir.db(), "SELECT count(*) FROM texts WHERE dict = "
                        "(SELECT id FROM dictionaries WHERE probe IS NOT NULL)") == 20);
  size_t n = 0;
  REQUIRE(s->for_each_sample({}, [&](const SampleRow& row) {
    CHECK(row.sample.text == essay(row.key.seq - 1));
    ++n;
    return true;
  }));
  CHECK(n == 270);
}

TEST_CASE("a probe's dictionary, loaded into each frame, compresses at the higher level; "
          "no dictionary or an endpoint's prepared one at the lower") {
  std::vector<std::string> answers;
  for (int i = 0; i < 140; ++i) answers.push_back(essay(i));
  const std::vector<std::string> training(answers.begin(), answers.begin() + 100);
  auto small = train_small_dictionary(training, 8 << 10);
  REQUIRE(small);
  // An endpoint's: larger than a frame loads, so prepared once.
  std::vector<std::string> many;
  for (int i = 1000; i < 2000; ++i) many.push_back(essay(i));
  const auto large = train_dictionary(many, 32 << 10);
  REQUIRE(large);
  REQUIRE(large->size() > Dictionary::kLoadedPerFrame);
  auto probes = Dictionary::load(1, *small);
  auto endpoints = Dictionary::load(2, *large);
  REQUIRE(probes.ok());
  REQUIRE(endpoints.ok());
  REQUIRE(kLoadedDictionaryLevel > kCompressionLevel);
  // The frame zstd makes at `level` with the store's frame parameters, the dictionary loaded
  // into the frame or prepared.
  auto at_level = [](const std::string& text, const std::string* dict, int level,
                     bool prepared = false) {
    std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c(ZSTD_createCCtx(), ZSTD_freeCCtx);
    std::unique_ptr<ZSTD_CDict, size_t (*)(ZSTD_CDict*)> cdict(
        prepared ? ZSTD_createCDict(dict->data(), dict->size(), level) : nullptr, ZSTD_freeCDict);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_dictIDFlag, 0);
    if (cdict) {
      REQUIRE(!ZSTD_isError(ZSTD_CCtx_refCDict(c.get(), cdict.get())));
    } else if (dict) {
      REQUIRE(!ZSTD_isError(ZSTD_CCtx_loadDictionary(c.get(), dict->data(), dict->size())));
    }
    std::string frame(ZSTD_compressBound(text.size()), '\0');
    const size_t n = ZSTD_compress2(c.get(), frame.data(), frame.size(), text.data(), text.size());
    REQUIRE(!ZSTD_isError(n));
    frame.resize(n);
    return frame;
  };
  Codec codec;
  size_t stored = 0, lower = 0;
  int plain_differs = 0, prepared_differs = 0;
  for (size_t i = 100; i < answers.size(); ++i) {
    const std::string& text = answers[i];
    auto with_probes = codec.compress(text, probes->get());
    REQUIRE(with_probes);
    CHECK(*with_probes == at_level(text, &*small, kLoadedDictionaryLevel));
    CHECK(*codec.decompress(*with_probes, probes->get()) == text);
    stored += with_probes->size();
    lower += at_level(text, &*small, kCompressionLevel).size();
    auto plain = codec.compress(text, nullptr);
    REQUIRE(plain);
    CHECK(*plain == at_level(text, nullptr, kCompressionLevel));
    plain_differs += *plain != at_level(text, nullptr, kLoadedDictionaryLevel);
    auto with_endpoints = codec.compress(text, endpoints->get());
    REQUIRE(with_endpoints);
    CHECK(*with_endpoints == at_level(text, &*large, kCompressionLevel, true));
    prepared_differs += *with_endpoints != at_level(text, &*large, kLoadedDictionaryLevel, true);
    CHECK(*codec.decompress(*with_endpoints, endpoints->get()) == text);
  }
  CHECK(stored < lower);  // what the higher level is for
  // The frames that stay at the lower level would not be the same at the higher: the checks
  // above tell the levels apart.
  CHECK(plain_differs > 0);
  CHECK(prepared_differs > 0);
}

TEST_CASE("short texts that zstd cannot shrink are stored as they are, readable with SQL") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  int64_t run = *s->begin_run(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z"));
  dw::providers::Sample short_answer;
  short_answer.text = "No.";
  short_answer.http_status = 200;
  REQUIRE(s->add_sample({run, "a", "v-a", "e1", 1, "m1", std::nullopt}, short_answer));
  REQUIRE(s->flush());
  CHECK(count(dir.db(), "SELECT count(*) FROM responses WHERE text = 'No.' AND NOT compressed") ==
        1);
  CHECK(count(dir.db(), "SELECT count(*) FROM samples s JOIN responses t ON t.id = s.response_id "
                        "WHERE t.hash = s.response_hash AND t.text = 'No.'") == 1);
}

TEST_CASE("a damaged stored text is an error naming it, never a crash or garbage") {
  struct Case {
    const char* name;
    const char* data;  // SQL for the new text_data.data of the long text
    const char* says;
  };
  const Case cases[] = {
      {"not a frame", "x'00ff00ff'", "not a zstd frame"},
      {"its last bytes changed", "substr(data, 1, length(data) - 4) || x'01020304'",
       "checksum"},
      {"cut short", "substr(data, 1, length(data) - 20)", "cannot be read"},
      // A header that declares a terabyte: nothing that size is ever allocated.
      {"declares a huge size", "x'28b52ffde00000000000010000'", "more than the 64 MiB"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    TempDir dir;
    auto s = open_store(dir.db());
    seed(*s);
    store_run(*s, "2026-01-01T00:00:00Z", 0, 3);
    int64_t damaged = count(dir.db(), "SELECT max(id) FROM texts");
    exec_raw(dir.db(), std::string("UPDATE text_data SET data = CAST(") + c.data +
                           " AS BLOB) WHERE id = " + std::to_string(damaged));
    std::string names = "text " + std::to_string(damaged) + " cannot be read";

    size_t read = 0;
    auto st = s->for_each_sample({}, [&](const SampleRow&) { return ++read, true; });
    REQUIRE_FALSE(st.ok());
    CHECK(read == 2);  // the two before it
    CHECK(st.error().to_string().starts_with(dir.db() + ": "));
    CHECK(st.error().message().find(names) != std::string::npos);
    CHECK(st.error().message().find(c.says) != std::string::npos);
    auto text = s->response_text(dw::sha256_hex(essay(2)));
    REQUIRE_FALSE(text.ok());
    CHECK(text.error().message().find(names) != std::string::npos);
    // Without the texts, the samples still read.
    size_t counted = 0;
    REQUIRE(s->for_each_sample({.with_text = false}, [&](const SampleRow&) {
      return ++counted, true;
    }));
    CHECK(counted == 3);
  }
}

TEST_CASE("a damaged dictionary is an error when a text that needs it is read, never garbage") {
  struct Case {
    const char* name;
    const char* data;  // SQL for the probe's dictionary's new data
    const char* says;
  };
  const Case cases[] = {
      {"not a dictionary", "x'00ff00ff'", "is not a zstd dictionary"},
      // Its magic number and id kept, its entropy tables overwritten.
      {"tables overwritten", "substr(data, 1, 8) || zeroblob(length(data) - 8)",
       "cannot load it"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.name));
    TempDir dir;
    {
      auto s = open_store(dir.db());
      seed(*s);
      store_run(*s, "2026-01-01T00:00:00Z", 0, 250);  // trains the endpoint's and the probe's
      store_run(*s, "2026-01-02T00:00:00Z", 250, 3);  // written with the probe's
    }
    REQUIRE(count(dir.db(), "SELECT count(*) FROM texts WHERE dict = 2") == 3);
    exec_raw(dir.db(), std::string("UPDATE dictionaries SET data = CAST(") + c.data +
                           " AS BLOB) WHERE id = 2");
    auto s = open_store(dir.db());
    size_t read = 0;
    auto st = s->for_each_sample({}, [&](const SampleRow& row) {
      CHECK(row.sample.text == essay(row.key.seq - 1));
      return ++read, true;
    });
    REQUIRE_FALSE(st.ok());
    CHECK(read == 250);  // those written before it
    CHECK(st.error().message().find(c.says) != std::string::npos);
    CHECK(st.error().message().find("dictionary 2") != std::string::npos);
  }
}

TEST_CASE("wants_text: a row's texts are decompressed only when the caller wants them") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  store_run(*s, "2026-01-01T00:00:00Z", 0, 6);
  int64_t run = *s->begin_run(at("2026-01-02T00:00:00Z"), at("2026-01-02T00:00:00Z"));
  dw::providers::Sample failed;
  failed.http_status = 500;
  failed.error = "HTTP 500";
  failed.error_body = "{\"error\": \"upstream overloaded\"}";
  failed.attempts = 1;
  REQUIRE(s->add_sample({run, "a", "v-a", "e1", 100, "m1", std::nullopt}, failed));
  REQUIRE(s->finish_run(run, at("2026-01-02T00:00:00Z"), RunStatus::complete));

  for (bool want_failed : {false, true}) {
    CAPTURE(want_failed);
    SampleFilter f;
    // Wanted: the even essays, and the failed sample when want_failed.
    f.wants_text = [&](const SampleRow& row) {
      if (row.key.seq == 100) return want_failed;
      CHECK(row.response_hash == dw::sha256_hex(essay(row.key.seq - 1)));
      return (row.key.seq - 1) % 2 == 0;
    };
    int rows = 0;
    auto st = s->for_each_sample(f, [&](const SampleRow& row) {
      CAPTURE(row.key.seq);
      ++rows;
      if (row.key.seq == 100) {
        CHECK(row.sample.error == "HTTP 500");
        CHECK(row.sample.error_body == (want_failed ? failed.error_body : ""));
      } else {
        CHECK(row.sample.text == ((row.key.seq - 1) % 2 == 0 ? essay(row.key.seq - 1) : ""));
        CHECK(row.response_hash == dw::sha256_hex(essay(row.key.seq - 1)));
      }
      return true;
    });
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
    CHECK(rows == 7);
  }
}

TEST_CASE("wants_text: a text is read when its row is passed on, and only the text it named") {
  // Texts wanted are read as their rows are passed on, after the run's rows were read (and,
  // for the last run, after SQLite's snapshot of them ended). A text another connection
  // removed in between reads as none, as the join read it; one whose id was given to another
  // text is not that text.
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  store_run(*s, "2026-01-01T00:00:00Z", 0, 6);
  s = open_store(dir.db());  // one that did not store them (it would give its own copies)
  const std::string db = dir.db();
  auto id_of = [&](int n) {
    return std::to_string(count(db, "SELECT s.response FROM sample_rows s WHERE s.seq = " +
                                        std::to_string(n + 1)));
  };
  const std::string gone = id_of(3), other = id_of(4);
  bool changed = false;
  std::map<int, std::string> read;
  SampleFilter f;
  f.wants_text = [](const SampleRow&) { return true; };
  auto st = s->for_each_sample(f, [&](const SampleRow& row) {
    if (!changed) {  // the first row passed on: the others are held, their texts not read
      exec_raw(db, "DELETE FROM text_data WHERE id = " + gone + "; DELETE FROM texts WHERE id = " +
                       gone + "; UPDATE text_data SET data = 'another text' WHERE id = " + other +
                       "; UPDATE texts SET hash = zeroblob(32), dict = NULL WHERE id = " + other);
      changed = true;
    }
    read[row.key.seq] = row.sample.text;
    return true;
  });
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  REQUIRE(read.size() == 6);
  CHECK(read[1] == essay(0));
  CHECK(read[3] == essay(2));
  CHECK(read[4].empty());  // removed
  CHECK(read[5].empty());  // its id now names another text
  CHECK(read[6] == essay(5));
}

TEST_CASE("wants_text: the texts of the run a store just stored are given as it stored them") {
  // A detection reads its run's answers right after the run stored them: the store keeps them
  // until the next run begins (or it releases its memory), not reading the file for them. The
  // file's copies are changed here behind its back to tell the two apart.
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  store_run(*s, "2026-01-01T00:00:00Z", 0, 3);
  REQUIRE(s->flush());
  exec_raw(dir.db(), "UPDATE text_data SET data = 'from the file'");
  SampleFilter wanted;
  wanted.wants_text = [](const SampleRow&) { return true; };
  auto texts = [&](Store& store) {
    std::vector<std::string> out;
    auto st = store.for_each_sample(wanted, [&](const SampleRow& row) {
      out.push_back(row.sample.text);
      return true;
    });
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
    return out;
  };
  CHECK(texts(*s) == std::vector<std::string>{essay(0), essay(1), essay(2)});
  auto other = open_store(dir.db());
  CHECK(texts(*other) == std::vector<std::string>(3, "from the file"));
  // A text whose row now names another hash is not given for it.
  exec_raw(dir.db(), "UPDATE texts SET hash = zeroblob(32) WHERE id = (SELECT min(id) FROM texts)");
  CHECK(texts(*s) == std::vector<std::string>{"from the file", essay(1), essay(2)});
  // A new run: the last one's texts are read from the file.
  REQUIRE(s->begin_run(at("2026-01-02T00:00:00Z"), at("2026-01-02T00:00:00Z")));
  CHECK(texts(*s) == std::vector<std::string>(3, "from the file"));
  // Nor after release_memory().
  store_run(*s, "2026-01-03T00:00:00Z", 10, 1);
  REQUIRE(s->flush());
  exec_raw(dir.db(), "UPDATE text_data SET data = 'from the file'");
  s->release_memory();
  CHECK(texts(*s) == std::vector<std::string>(4, "from the file"));
}

TEST_CASE("release_memory between runs, or inside a batch, loses nothing and keeps the "
          "dictionary") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  store_run(*s, "2026-01-01T00:00:00Z", 0, 250);  // trains the endpoint's (1), the probe's (2)
  REQUIRE(count(dir.db(), "SELECT count(*) FROM dictionaries") == 2);
  s->release_memory();
  CHECK(check_all(*s) == 250);  // read with the dictionary prepared again
  s->release_memory();

  // Inside an open batch: the samples written before and after are committed with it.
  int64_t run = *s->begin_run(at("2026-01-02T00:00:00Z"), at("2026-01-02T00:00:00Z"));
  for (int i = 250; i < 300; ++i) {
    dw::providers::Sample answer;
    answer.text = essay(i);
    answer.http_status = 200;
    answer.attempts = 1;
    REQUIRE(s->add_sample({run, "a", "v-a", "e1", i + 1, "m1", std::nullopt}, answer));
    if (i == 270) s->release_memory();
  }
  REQUIRE(s->finish_run(run, at("2026-01-02T00:00:00Z"), RunStatus::complete));
  CHECK(count(dir.db(), "SELECT count(*) FROM texts WHERE dict = 2") == 50);
  CHECK(count(dir.db(), "SELECT count(*) FROM dictionaries") == 2);
  s->release_memory();
  CHECK(check_all(*s) == 300);
  s.reset();
  CHECK(check_all(*open_store(dir.db())) == 300);
}

namespace {

// Everything a reader gets of a row, on one line.
std::string describe(const SampleRow& r) {
  std::string out = std::to_string(r.id) + " run " + std::to_string(r.run_id) + " " +
                    dw::format_time(r.run_at) + " " + r.key.endpoint + "/" + r.key.probe_id +
                    "@" + r.key.probe_version + "#" + std::to_string(r.key.seq) + " [" +
                    r.key.requested_model + "] " +
                    (r.key.received_at ? dw::format_time(*r.key.received_at) : "-") + " " +
                    r.category + " " + r.lang + (r.control ? " control" : "") + " | ";
  const dw::providers::Sample& s = r.sample;
  out += s.text + " | " + std::to_string(s.http_status) + " " + s.finish_reason + " " +
         s.block_reason + " " + s.model + " " + s.system_fingerprint + " " +
         (s.prompt_tokens ? std::to_string(*s.prompt_tokens) : "-") + " " +
         (s.completion_tokens ? std::to_string(*s.completion_tokens) : "-") + " " +
         std::to_string(s.latency.count()) + " " + std::to_string(s.attempts) + " " + s.error +
         " " + s.error_body + " | " + r.response_hash + " | ";
  if (r.classification) {
    const Classification& c = *r.classification;
    out += c.verdict + " " + c.signals_json + (c.narrative ? " narrative " : " ") +
           (c.expect_coverage ? std::to_string(*c.expect_coverage) : "-") + " " +
           c.classifier_version;
  }
  out += " | " + r.rules_verdict + " | " + (r.judgement ? r.judgement->verdict : "-") + " | " +
         r.features;
  return out;
}

std::vector<std::string> rows_of(Store& s, const SampleFilter& f) {
  std::vector<std::string> out;
  auto st = s.for_each_sample(f, [&](const SampleRow& row) {
    out.push_back(describe(row));
    return true;
  });
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  return out;
}

}  // namespace

TEST_CASE("the rows of the run a store just stored are read from memory, as the file gives "
          "them, and from the file whenever they may differ") {
  // A detection reads its run's rows right after the run stored them. The same rows as a
  // second connection reads from the file, in the same order, whatever the samples hold.
  TempDir dir;
  auto s = open_store(dir.db());
  seed_probes(*s, 3);
  REQUIRE(s->upsert_endpoint("e2", "anthropic", "http://127.0.0.1:1", "m2"));
  store_run(*s, "2026-01-01T00:00:00Z", 0, 0);  // no samples: an empty run before
  const std::string version = "features/1";
  // A text stored by an earlier run, with features: the run's row that repeats it has them.
  const Time first = at("2026-01-02T00:00:00Z");
  int64_t before = *s->begin_run(first, first);
  dw::providers::Sample old;
  old.text = essay(7);
  old.attempts = 1;
  REQUIRE(s->add_sample({before, "p0", "v", "e1", 1, "", std::nullopt}, old));
  REQUIRE(s->finish_run(before, first, RunStatus::complete));
  REQUIRE(s->put_features(dw::sha256_hex(essay(7)), version, "old features"));
  REQUIRE(s->flush());

  const Time when = at("2026-01-03T00:00:00Z");
  const int64_t run = *s->begin_run(when, when);
  auto add = [&](const char* probe, const char* endpoint, int seq, dw::providers::Sample sample,
                 std::optional<Classification> c) {
    SampleKey key{run, probe, "v", endpoint, seq, "asked-model", at("2026-01-03T00:00:07Z")};
    if (seq == 2) key.received_at.reset();
    REQUIRE(s->add_sample(key, sample, c ? &*c : nullptr));
  };
  dw::providers::Sample answer;
  answer.text = essay(1);
  answer.http_status = 200;
  answer.model = "m1-2026";
  answer.system_fingerprint = "fp_1";
  answer.prompt_tokens = 12;
  answer.completion_tokens = 345;
  answer.latency = std::chrono::milliseconds(812);
  answer.attempts = 2;
  answer.finish_reason = "stop";
  Classification answered{"answered", R"(["a.rule"])", true, 0.5, "rules/9"};
  dw::providers::Sample failed;
  failed.error = "timeout";
  failed.error_body = "{\"error\": \"overloaded\"}";
  failed.attempts = 3;
  failed.http_status = 529;
  Classification error{"error", "[]", false, std::nullopt, "rules/9"};
  // Stored out of order: endpoints, probes and seqs mixed.
  add("p1", "e2", 1, failed, error);
  add("p0", "e1", 2, answer, answered);  // essay 1 again below: stored by this run
  add("p2", "e1", 1, answer, std::nullopt);  // not classified
  dw::providers::Sample repeated = answer;
  repeated.text = essay(7);  // the earlier run's, with features
  add("p0", "e1", 1, repeated, Classification{"refused", "[]", false, std::nullopt, "rules/9"});
  add("p0", "e2", 1, answer, answered);
  REQUIRE(s->finish_run(run, when, RunStatus::complete));

  auto other = open_store(dir.db());
  const auto every = [](const SampleRow&) { return true; };
  std::vector<SampleFilter> filters(4);
  filters[0] = {.run_id = run, .with_details = false, .wants_text = every};
  filters[1] = {.since = when, .until = when + std::chrono::seconds(1), .with_text = false,
                .with_details = false};
  filters[2] = {.run_id = run, .features_version = version, .with_details = false,
                .wants_text = every};
  filters[3] = {.since = when, .until = when + std::chrono::hours(1),
                .features_version = version, .with_details = false,
                .wants_text = [](const SampleRow& r) { return r.key.probe_id != "p2"; }};
  int64_t read = 0;
  for (const SampleFilter& f : filters) {
    const auto memory = rows_of(*s, f);
    CHECK(s->rows_from_memory() == read + 5);
    read = s->rows_from_memory();
    CHECK(memory == rows_of(*other, f));
    REQUIRE(memory.size() == 5);
  }
  CHECK(other->rows_from_memory() == 0);
  const auto features = rows_of(*s, filters[2]);
  read = s->rows_from_memory();
  CHECK(features[0].find("e1/p0@v#1") != std::string::npos);
  CHECK(features[0].ends_with("| old features"));
  CHECK(features[0].find(essay(7)) == std::string::npos);  // features stand in for the text
  CHECK(features[1].find(essay(1)) != std::string::npos);
  CHECK(features[4].find("e2/p1@v#1") != std::string::npos);

  // What they cannot stand in for is read from the file: details, texts read with their rows
  // (without wants_text), another run, a range holding another run.
  SampleFilter details{.run_id = run};
  CHECK(rows_of(*s, details) == rows_of(*other, details));
  SampleFilter with_rows{.run_id = run, .with_details = false};
  CHECK(rows_of(*s, with_rows) == rows_of(*other, with_rows));
  CHECK(rows_of(*s, {.run_id = before, .with_text = false, .with_details = false}).size() == 1);
  CHECK(rows_of(*s, {.since = first, .until = when + std::chrono::seconds(1),
                     .with_text = false, .with_details = false}).size() == 6);
  CHECK(s->rows_from_memory() == read);

  // Features stored since: a text this run stored has them too.
  REQUIRE(s->put_features(dw::sha256_hex(essay(1)), version, "new features"));
  REQUIRE(s->flush());
  CHECK(rows_of(*s, filters[2]) == rows_of(*other, filters[2]));
  CHECK(s->rows_from_memory() == read + 5);
  read = s->rows_from_memory();

  SUBCASE("another connection wrote: read from the file") {
    exec_raw(dir.db(), "UPDATE sample_rows SET narrative = 1 WHERE run_id = " +
                           std::to_string(run));
    CHECK(rows_of(*s, filters[0]) == rows_of(*other, filters[0]));
    CHECK(rows_of(*s, filters[0])[1].find(" narrative ") != std::string::npos);
  }
  SUBCASE("a classification changed: read from the file") {
    REQUIRE(s->set_classification(
        std::stoll(rows_of(*s, filters[0])[1]),
        Classification{"deflected", "[]", false, std::nullopt, "rules/10"}));
    read = s->rows_from_memory();
    REQUIRE(s->flush());
    CHECK(rows_of(*s, filters[0]) == rows_of(*other, filters[0]));
    CHECK(rows_of(*s, filters[0])[1].find("| deflected") != std::string::npos);
  }
  SUBCASE("a judgement linked: read from the file") {
    auto judged = s->add_judgement(dw::sha256_hex(essay(1)),
                                   {"refused", "lectures", "judge-m", "j/1", when});
    REQUIRE(judged);
    const std::string row = rows_of(*s, filters[0])[1];
    read = s->rows_from_memory();
    REQUIRE(s->link_judgement(std::stoll(row), *judged));
    REQUIRE(s->flush());
    CHECK(rows_of(*s, filters[0]) == rows_of(*other, filters[0]));
    CHECK(rows_of(*s, filters[0])[1].find("| refused") != std::string::npos);
  }
  SUBCASE("samples removed: read from the file") {
    REQUIRE(s->remove_samples_before(when + std::chrono::hours(1)));
    read = s->rows_from_memory();
    CHECK(rows_of(*s, filters[0]).empty());
  }
  SUBCASE("a transaction rolled back: read from the file") {
    const int64_t next = *s->begin_run(when + std::chrono::hours(6), when);
    {
      auto tx = s->transaction();
      REQUIRE(tx);
      REQUIRE(s->add_sample({next, "p0", "v", "e1", 1, "", std::nullopt}, answer));
    }  // not committed
    read = s->rows_from_memory();
    CHECK(rows_of(*s, {.run_id = next, .with_text = false, .with_details = false}).empty());
  }
  CHECK(s->rows_from_memory() == read);
}

TEST_CASE("a run of more samples than the store keeps is read from the file, whole") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  const Time when = at("2026-01-01T00:00:00Z");
  const int64_t run = *s->begin_run(when, when);
  dw::providers::Sample failed;  // no text: cheap to store
  failed.error = "timeout";
  failed.attempts = 1;
  auto add = [&](int seq) {
    REQUIRE(s->add_sample({run, "a", "v-a", "e1", seq, "", std::nullopt}, failed));
  };
  const SampleFilter filter{.run_id = run, .with_text = false, .with_details = false};
  auto seqs = [&] {
    std::vector<int> out;
    REQUIRE(s->for_each_sample(filter, [&](const SampleRow& row) {
      out.push_back(row.key.seq);
      return true;
    }));
    return out;
  };
  const int most = static_cast<int>(Store::kRecentRows);
  for (int seq = 1; seq <= most; ++seq) add(seq);
  std::vector<int> expected(most);
  for (int i = 0; i < most; ++i) expected[i] = i + 1;
  CHECK(seqs() == expected);
  CHECK(s->rows_from_memory() == most);
  add(most + 1);  // one more than it keeps: none kept
  expected.push_back(most + 1);
  CHECK(seqs() == expected);
  CHECK(s->rows_from_memory() == most);
}

TEST_CASE("the answers a run keeps in memory stop at 2 MiB; the others are read from the file") {
  TempDir dir;
  auto s = open_store(dir.db());
  seed(*s);
  store_run(*s, "2026-01-01T00:00:00Z", 0, 3200);  // about 2.2 MB of answers and their entries
  REQUIRE(s->flush());
  exec_raw(dir.db(), "UPDATE text_data SET data = 'from the file'");
  SampleFilter wanted;
  wanted.wants_text = [](const SampleRow&) { return true; };
  int kept = 0, read = 0;
  REQUIRE(s->for_each_sample(wanted, [&](const SampleRow& row) {
    if (row.sample.text == essay(row.key.seq - 1)) {
      CHECK(read == 0);  // the first ones stored are the ones kept
      ++kept;
    } else {
      CHECK(row.sample.text == "from the file");
      ++read;
    }
    return true;
  }));
  // Each kept answer counts its bytes and an entry's: a little over 700 bytes.
  CHECK(kept > 2800);
  CHECK(kept < 3100);
  CHECK(kept + read == 3200);
}

}  // namespace store_texts_test
