// What drift detection keeps per run so that it never re-reads old samples: runs listed without
// counting their samples, probe keys, and the run summaries themselves (see store.h).
#include <string>

#include "store/run_row.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

Status Store::list_runs(const RunQuery& query,
                        const std::function<bool(const RunInfo&)>& callback) {
  // Its own statement: the callback may call back into the store. Both orders walk
  // runs_by_time (run_at, then id as the rowid), so nothing is sorted.
  auto st = db_->prepare(std::string(
      "SELECT id, run_at, started_at, finished_at, status FROM runs "
      "WHERE run_at >= coalesce(?1, '') AND (?2 IS NULL OR run_at < ?2) ") +
      (query.newest_first ? "ORDER BY run_at DESC, id DESC" : "ORDER BY run_at, id") +
      " LIMIT ?3");
  if (!st) return st.error();
  Statement& q = **st;
  if (query.since) q.bind(1, format_time(*query.since));
  if (query.until) q.bind(2, format_time(*query.until));
  q.bind(3, query.limit ? *query.limit : int64_t{-1});  // -1: no limit
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    auto r = read_run(q, false);
    if (!r) return r.error();
    if (!callback(*r)) return Status::Ok();
  }
}

Result<int64_t> Store::probe_key(std::string_view probe_id, std::string_view probe_version) {
  {
    auto get = db_->cached("SELECT id FROM probe_keys WHERE probe_id = ? AND probe_version = ?");
    if (!get) return get.error();
    ResetOnExit reset(**get);
    (*get)->bind(1, probe_id).bind(2, probe_version);
    auto row = (*get)->step();
    if (!row) return row.error();
    if (*row) return (*get)->int64(0);
  }
  if (auto st = open_batch(); !st) return st.error();
  auto ins = db_->cached("INSERT INTO probe_keys (probe_id, probe_version) VALUES (?, ?)");
  if (!ins) return ins.error();
  (*ins)->bind(1, probe_id).bind(2, probe_version);
  if (auto st = (*ins)->run("naming probe " + std::string(probe_id) + " " +
                            std::string(probe_version));
      !st) {
    return st.error();
  }
  int64_t id = sqlite3_last_insert_rowid(db_->handle());
  if (auto st = count_batched_write(); !st) return st.error();
  return id;
}

Status Store::for_each_probe_key(const std::function<bool(const ProbeKey&)>& callback) {
  auto st = db_->prepare(
      "SELECT k.id, k.probe_id, k.probe_version, coalesce(p.control, 0) FROM probe_keys k "
      "LEFT JOIN probes p ON p.id = k.probe_id AND p.version = k.probe_version ORDER BY k.id");
  if (!st) return st.error();
  Statement& q = **st;
  ProbeKey k;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    k.id = q.int64(0);
    k.probe_id = q.text(1);
    k.probe_version = q.text(2);
    k.control = q.int64(3) != 0;
    if (!callback(k)) return Status::Ok();
  }
}

namespace {

// Replaces a run's rows of one summary table (run_cells or run_texts), whole or not at all.
Status put_summary(Db& db, const char* table, int64_t run_id, const std::vector<RunCells>& rows) {
  // A savepoint inside the caller's batch: a run's summary is replaced whole or not at all.
  auto whole = Tx::begin(db);
  if (!whole) return whole.error();
  const std::string del_sql = std::string("DELETE FROM ") + table + " WHERE run_id = ?";
  auto del = db.cached(del_sql.c_str());
  if (!del) return del.error();
  (*del)->bind(1, run_id);
  const std::string what = "storing the summary of run " + std::to_string(run_id);
  if (auto st = (*del)->run(what); !st) return st;
  const bool texts = std::string_view(table) == "run_texts";
  const std::string ins_sql =
      std::string("INSERT INTO ") + table +
      (texts ? " (run_id, endpoint, version, data, signatures) VALUES (?, ?, ?, ?, ?)"
             : " (run_id, endpoint, version, data) VALUES (?, ?, ?, ?)");
  auto ins = db.cached(ins_sql.c_str());
  if (!ins) return ins.error();
  for (const RunCells& r : rows) {
    (*ins)->bind(1, run_id).bind(2, r.endpoint).bind(3, r.version).bind_blob(4, r.data);
    if (texts) (*ins)->bind_blob(5, r.signatures);
    if (auto st = (*ins)->run(what); !st) return st;  // "FOREIGN KEY constraint failed"
  }
  return (*whole)->commit();
}

}  // namespace

Status Store::put_run_cells(int64_t run_id, const std::vector<RunCells>& rows) {
  if (auto st = open_batch(); !st) return st;
  if (auto st = put_summary(*db_, "run_cells", run_id, rows); !st) return st;
  return count_batched_write();
}

Status Store::put_run_texts(int64_t run_id, const std::vector<RunCells>& rows) {
  if (auto st = open_batch(); !st) return st;
  if (auto st = put_summary(*db_, "run_texts", run_id, rows); !st) return st;
  return count_batched_write();
}

Status Store::run_texts(int64_t run_id,
                        const std::function<bool(const RunCellsView&)>& callback) {
  auto st = db_->cached(
      // length() and typeof() of a blob read the row's header, not its pages: the signatures
      // come after data in the row, so their pages are not read.
      "SELECT t.endpoint, t.version, t.data, r.run_at, length(t.signatures), "
      "typeof(t.signatures) = 'blob' FROM run_texts t "
      "JOIN runs r ON r.id = t.run_id WHERE t.run_id = ? ORDER BY t.endpoint");
  if (!st) return st.error();
  Statement& q = **st;
  ResetOnExit reset(q);
  q.bind(1, run_id);
  RunCellsView r;
  r.run_id = run_id;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    r.endpoint = q.text(0);
    r.version = q.int64(1);
    r.data = q.blob(2);
    auto at = q.time(3);
    if (!at) return at.error();
    r.run_at = *at;
    r.signatures_size = q.int64(4);
    r.signatures_blob = q.int64(5) != 0;
    if (!callback(r)) return Status::Ok();
  }
}

Result<std::optional<std::string>> Store::run_signatures(int64_t run_id,
                                                         std::string_view endpoint,
                                                         int64_t version) {
  auto st = db_->cached(
      "SELECT signatures FROM run_texts WHERE run_id = ? AND endpoint = ? AND version = ?");
  if (!st) return st.error();
  Statement& q = **st;
  ResetOnExit reset(q);
  q.bind(1, run_id).bind(2, endpoint).bind(3, version);
  auto row = q.step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(q.blob(0)));
}

Status Store::drop_run_texts(Time before) {
  // Read first: a detection calls this after every run, and most calls find nothing. Both
  // walk run_texts (40 runs), not runs (every run ever).
  {
    auto any = db_->cached(
        "SELECT 1 FROM run_texts t CROSS JOIN runs r ON r.id = t.run_id WHERE r.run_at < ? "
        "LIMIT 1");
    if (!any) return any.error();
    ResetOnExit reset(**any);
    (*any)->bind(1, format_time(before));
    auto row = (*any)->step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
  }
  if (auto st = open_batch(); !st) return st;
  auto del = db_->cached(
      "DELETE FROM run_texts WHERE run_id IN (SELECT t.run_id FROM run_texts t CROSS JOIN runs r "
      "ON r.id = t.run_id WHERE r.run_at < ?)");
  if (!del) return del.error();
  (*del)->bind(1, format_time(before));
  if (auto st = (*del)->run("dropping the texts of old run summaries"); !st) return st;
  return count_batched_write();
}

Status Store::for_each_run_cells(std::optional<Time> since, std::optional<Time> until,
                                 const std::function<bool(const RunCellsView&)>& callback) {
  // runs is the outer loop (CROSS JOIN), walked by runs_by_time; each run's rows come from the
  // primary key in endpoint order: nothing is sorted or held.
  auto st = db_->prepare(
      "SELECT c.run_id, r.run_at, c.endpoint, c.version, c.data FROM runs r "
      "CROSS JOIN run_cells c ON c.run_id = r.id "
      "WHERE r.run_at >= coalesce(?1, '') AND (?2 IS NULL OR r.run_at < ?2) "
      "ORDER BY r.run_at, r.id, c.endpoint");
  if (!st) return st.error();
  Statement& q = **st;
  if (since) q.bind(1, format_time(*since));
  if (until) q.bind(2, format_time(*until));
  RunCellsView r;
  std::string last_run_at;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    r.run_id = q.int64(0);
    if (q.text(1) != last_run_at) {  // one parse per run, not per row
      auto t = q.time(1);
      if (!t) return t.error();
      r.run_at = *t;
      last_run_at = q.text(1);
    }
    r.endpoint = q.text(2);
    r.version = q.int64(3);
    r.data = q.blob(4);
    if (!callback(r)) return Status::Ok();
  }
}

namespace {

// The statements of the blocks of one day or of one week: fixed texts, as Db::cached takes.
struct BlockSql {
  const char* put;
  const char* drop;
  const char* range;
};
constexpr BlockSql kDays{
    "INSERT OR REPLACE INTO day_blocks (day, version, data) VALUES (?, ?, ?)",
    "DELETE FROM day_blocks WHERE day = ?",
    "SELECT day, version, data FROM day_blocks WHERE day >= ? AND day < ? ORDER BY day"};
constexpr BlockSql kWeeks{
    "INSERT OR REPLACE INTO week_blocks (week, version, data) VALUES (?, ?, ?)",
    "DELETE FROM week_blocks WHERE week = ?",
    "SELECT week, version, data FROM week_blocks WHERE week >= ? AND week < ? ORDER BY week"};

}  // namespace

Status Store::put_block(BlockTable table, const DayBlock& block) {
  const BlockSql& t = table == BlockTable::weeks ? kWeeks : kDays;
  if (auto st = open_batch(); !st) return st;
  auto ins = db_->cached(t.put);
  if (!ins) return ins.error();
  (*ins)->bind(1, block.day).bind(2, block.version).bind_blob(3, block.data);
  if (auto st = (*ins)->run("storing the block of " + block.day); !st) return st;
  return count_batched_write();
}

Status Store::drop_block(BlockTable table, std::string_view day) {
  const BlockSql& t = table == BlockTable::weeks ? kWeeks : kDays;
  if (auto st = open_batch(); !st) return st;
  auto del = db_->cached(t.drop);
  if (!del) return del.error();
  (*del)->bind(1, day);
  if (auto st = (*del)->run("dropping the block of " + std::string(day)); !st) return st;
  return count_batched_write();
}

Status Store::for_each_block(BlockTable table, std::string_view from, std::string_view until,
                             const std::function<bool(const DayBlock&)>& callback) {
  const BlockSql& t = table == BlockTable::weeks ? kWeeks : kDays;
  auto st = db_->prepare(t.range);
  if (!st) return st.error();
  Statement& q = **st;
  q.bind(1, from).bind(2, until);
  DayBlock b;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    b.day = q.text(0);
    b.version = q.int64(1);
    std::string_view data = q.blob(2);
    b.data.assign(data.data(), data.size());
    if (!callback(b)) return Status::Ok();
  }
}

Status Store::put_day_block(const DayBlock& block) { return put_block(BlockTable::days, block); }
Status Store::drop_day_block(std::string_view day) { return drop_block(BlockTable::days, day); }
Status Store::for_each_day_block(std::string_view from, std::string_view until,
                                 const std::function<bool(const DayBlock&)>& callback) {
  return for_each_block(BlockTable::days, from, until, callback);
}
Status Store::put_week_block(const DayBlock& block) { return put_block(BlockTable::weeks, block); }
Status Store::drop_week_block(std::string_view week) { return drop_block(BlockTable::weeks, week); }
Status Store::for_each_week_block(std::string_view from, std::string_view until,
                                  const std::function<bool(const DayBlock&)>& callback) {
  return for_each_block(BlockTable::weeks, from, until, callback);
}

}  // namespace dw::store
