// The rows of the run being stored, kept for its detection (store.h, recent_rows_): which
// reads they stand in for, and when they may no longer be what the database holds.
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

Result<int64_t> Store::data_version() {
  auto q = db_->cached("PRAGMA data_version");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  auto row = (*q)->step();
  if (!row) return row.error();
  if (!*row) return db_->fail("PRAGMA data_version gave no row");
  return (*q)->int64(0);
}

void Store::keep_rows(int64_t run, Time run_at, int64_t version) {
  recent_rows_ = std::make_unique<RecentRows>();
  recent_rows_->run = run;
  recent_rows_->run_at = run_at;
  recent_rows_->data_version = version;
  recent_rows_->rollbacks = db_->rollbacks();
}

void Store::remember_row(RecentRow row) {
  if (recent_rows_->rows.size() >= kRecentRows) {  // a run this large reads its rows back
    forget_rows();
    return;
  }
  recent_rows_->rows.push_back(std::move(row));
}

Result<const Store::RecentRows*> Store::recent_rows_for(const SampleFilter& f) {
  const RecentRows* kept = recent_rows_.get();
  // A text asked for without wants_text comes with its row (for_each_sample): these name
  // theirs, to be read as each row is passed on.
  if (kept == nullptr || f.with_details || f.endpoint || f.probe_id || f.probe_version ||
      (f.with_text && !f.wants_text)) {
    return nullptr;
  }
  if (f.run_id ? *f.run_id != kept->run : !f.since || !f.until) return nullptr;
  if ((f.since && kept->run_at < *f.since) || (f.until && kept->run_at >= *f.until)) {
    return nullptr;
  }
  if (db_->rollbacks() != kept->rollbacks) {  // a batch with some of them may be gone
    forget_rows();
    return nullptr;
  }
  auto version = data_version();
  if (!version) return version.error();
  if (*version != kept->data_version) {  // another connection wrote: they may have changed
    forget_rows();
    return nullptr;
  }
  if (!f.run_id) {  // a time range: it must hold no other run
    auto q = db_->cached("SELECT count(*) FROM runs WHERE run_at >= ? AND run_at < ?");
    if (!q) return q.error();
    ResetOnExit reset(**q);
    (*q)->bind(1, format_time(*f.since)).bind(2, format_time(*f.until));
    auto row = (*q)->step();
    if (!row) return row.error();
    if (!*row || (*q)->int64(0) != 1) return nullptr;
  }
  return kept;
}

}  // namespace dw::store
