// Retention: samples older than a time go in small batches with the texts no sample uses any
// more (and what was derived from them); runs, events and run summaries stay; nothing is
// written when nothing is old enough.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/hash.h"
#include "scratch.h"
#include "store/store.h"

namespace store_retention_test {

using dw::Time;
using namespace dw::store;

namespace {

Time day(int d) { return *dw::parse_time("2026-01-0" + std::to_string(d) + "T06:00:00Z"); }

const char* kCanned = "I'm sorry, but I can't discuss that topic. Let's talk about something else.";

std::string answer_of(int d) {
  return "On day " + std::to_string(d) + " the answer told what happened in the square.";
}
std::string body_of(int d) { return R"({"error":"blocked on day )" + std::to_string(d) + "\"}"; }

// A connection of its own, as another process: what is committed, and whether anything was.
class Observer {
 public:
  explicit Observer(const std::string& db) {
    REQUIRE(sqlite3_open_v2(db.c_str(), &h_, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  }
  ~Observer() { sqlite3_close(h_); }
  int64_t count(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  }
  // Changes when another connection commits (SQLite's PRAGMA data_version).
  int64_t version() { return count("PRAGMA data_version"); }

 private:
  sqlite3* h_ = nullptr;
};

}  // namespace

TEST_CASE("old samples go in batches with the texts nothing uses; runs, events and summaries "
          "stay") {
  dw::test::Scratch dir;
  const std::string db = dir.path("test.db").string();
  auto opened = Store::open(db);
  REQUIRE(opened.ok());
  Store& s = **opened;
  dw::probes::Probe p;
  p.id = "a";
  p.set = "s";
  p.category = "tiananmen";
  p.lang = "en";
  p.prompt = "What happened in 1989?";
  p.version = "v-a";
  REQUIRE(s.upsert_probes({p}));
  REQUIRE(s.upsert_endpoint("e1", "openai", "http://127.0.0.1:1/v1", "m1"));
  // Four daily runs of three samples: the canned reply (every day), the day's own answer, and
  // a filtered request with the day's own error body.
  std::vector<int64_t> runs;
  for (int d = 1; d <= 4; ++d) {
    int64_t run = *s.begin_run(day(d), day(d));
    runs.push_back(run);
    dw::providers::Sample canned, own, filtered;
    canned.text = kCanned;
    own.text = answer_of(d);
    canned.http_status = own.http_status = 200;
    filtered.http_status = 400;
    filtered.error_body = body_of(d);
    REQUIRE(s.add_sample({run, "a", "v-a", "e1", 1, "m1", std::nullopt}, canned));
    auto id = s.add_sample({run, "a", "v-a", "e1", 2, "m1", std::nullopt}, own);
    REQUIRE(id.ok());
    REQUIRE(s.add_sample({run, "a", "v-a", "e1", 3, "m1", std::nullopt}, filtered));
    REQUIRE(s.finish_run(run, day(d), RunStatus::complete));
    // What was derived from each day's answer: features and a judgement.
    REQUIRE(s.put_features(dw::sha256_hex(answer_of(d)), "v1", "features"));
    auto judged = s.add_judgement(dw::sha256_hex(answer_of(d)),
                                  {"refused", "it declines", "judge-m", "judge-1", day(d)});
    REQUIRE(judged.ok());
    REQUIRE(s.link_judgement(*id, *judged));
  }
  Event e;
  e.type = "verdict_shift";
  e.endpoint = "e1";
  e.detected_at = day(1);
  e.detected_run_id = runs[0];
  REQUIRE(s.insert_event(e));
  RunCells cells;
  cells.run_id = runs[0];
  cells.endpoint = "e1";
  cells.version = 1;
  cells.data = "summary";
  REQUIRE(s.put_run_cells(runs[0], {cells}));
  REQUIRE(s.flush());

  Observer o(db);
  CHECK(o.count("SELECT count(*) FROM texts") == 9);  // canned + 4 answers + 4 bodies
  const int64_t run_cells = o.count("SELECT count(*) FROM run_cells");
  REQUIRE(run_cells >= 1);

  // Days 1 and 2 are older than day 3: six samples, oldest first, whole runs only: with a
  // limit of 2, day 1's three go together and day 2 waits for the next batch.
  auto first = s.remove_samples_before(day(3), 2);
  REQUIRE(first.ok());
  CHECK(first->samples == 3);  // day 1's three: a run is never split
  CHECK(first->texts == 2);    // day 1's answer and body; the canned reply is still used
  CHECK(o.count("SELECT count(*) FROM samples WHERE run_id = " + std::to_string(runs[0])) == 0);
  CHECK(o.count("SELECT count(*) FROM samples WHERE run_id = " + std::to_string(runs[1])) == 3);
  auto second = s.remove_samples_before(day(3), 4);
  REQUIRE(second.ok());
  CHECK(second->samples == 3);  // fewer than asked: nothing older is left
  CHECK(second->texts == 2);

  const int64_t version = o.version();
  auto none = s.remove_samples_before(day(3), 4);
  REQUIRE(none.ok());
  CHECK(none->samples == 0);
  CHECK(none->texts == 0);
  CHECK(o.version() == version);  // nothing was written

  CHECK(o.count("SELECT count(*) FROM samples") == 6);
  CHECK(o.count("SELECT count(*) FROM texts") == 5);
  CHECK(o.count("SELECT count(*) FROM text_data") == 5);
  CHECK(o.count("SELECT count(*) FROM text_features") == 2);  // days 3 and 4
  CHECK(o.count("SELECT count(*) FROM judgements") == 2);
  CHECK(o.count("SELECT count(*) FROM runs") == 4);
  CHECK(o.count("SELECT count(*) FROM events") == 1);
  CHECK(o.count("SELECT count(*) FROM run_cells") == run_cells);
  auto gone = s.response_text(dw::sha256_hex(answer_of(1)));
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
  auto canned = s.response_text(dw::sha256_hex(kCanned));
  REQUIRE(canned.ok());
  CHECK(*canned == std::optional<std::string>(kCanned));
  size_t read = 0;
  REQUIRE(s.for_each_sample({}, [&](const SampleRow& row) {
    CHECK(row.run_at >= day(3));
    if (row.key.seq == 1) CHECK(row.sample.text == kCanned);
    if (row.key.seq == 2) CHECK(row.sample.text == answer_of(row.run_at == day(3) ? 3 : 4));
    if (row.key.seq == 3) CHECK(row.sample.error_body == body_of(row.run_at == day(3) ? 3 : 4));
    return ++read, true;
  }));
  CHECK(read == 6);
  // A store opened read-only removes nothing.
  auto reader = Store::open_readonly(db);
  REQUIRE(reader.ok());
  CHECK_FALSE((*reader)->remove_samples_before(day(5), 4).ok());
}

}  // namespace store_retention_test
