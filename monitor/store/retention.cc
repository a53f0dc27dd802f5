// Retention: old samples go in small batches, with the texts nothing uses any more; what
// detection and reports keep of the past (runs, events, run summaries) stays.
#include <set>
#include <vector>

#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

Result<Removed> Store::remove_samples_before(Time before, int limit) {
  if (read_only_) return db_->fail("opened read-only: cannot remove samples");
  struct Doomed {
    int64_t run;
    int64_t id;
    std::optional<int64_t> response, body;
  };
  std::vector<Doomed> doomed;
  {
    // Oldest runs first, through runs_by_time and samples_by_run: nothing sorted, and a run
    // emptied earlier costs one index probe. Whole runs only: a run left with part of its
    // samples would be counted anew from them (drift's summaries, recompute_all) as if that
    // part were all it had.
    auto q = db_->prepare(
        "SELECT s.id, s.response, s.error_body, r.id FROM runs r CROSS JOIN sample_rows s "
        "ON s.run_id = r.id WHERE r.run_at < ? ORDER BY r.run_at, r.id");
    if (!q) return q.error();
    (*q)->bind(1, format_time(before));
    int64_t last_run = 0;
    for (;;) {
      auto row = (*q)->step();
      if (!row) return row.error();
      if (!*row) break;
      const int64_t run = (*q)->int64(3);
      if (static_cast<int>(doomed.size()) >= limit && run != last_run) break;
      last_run = run;
      doomed.push_back({run, (*q)->int64(0), (*q)->optional_int64(1), (*q)->optional_int64(2)});
    }
  }
  Removed removed;
  if (doomed.empty()) return removed;  // nothing written: an idle daemon stays idle

  if (auto st = before_direct_write(); !st) return st.error();
  forget_rows();  // the samples and texts they name may go
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  auto del = db_->cached("DELETE FROM sample_rows WHERE id = ?");
  if (!del) return del.error();
  std::set<int64_t> texts, runs;
  for (const Doomed& d : doomed) {
    runs.insert(d.run);
    (*del)->bind(1, d.id);
    if (auto st = (*del)->run("removing old samples"); !st) return st.error();
    removed.samples += sqlite3_changes(db_->handle());
    if (d.response) texts.insert(*d.response);
    if (d.body) texts.insert(*d.body);
  }
  // The texts' part of their summaries goes with the samples (the counts stay).
  auto texts_part = db_->cached("DELETE FROM run_texts WHERE run_id = ?");
  if (!texts_part) return texts_part.error();
  for (int64_t run : runs) {
    (*texts_part)->bind(1, run);
    if (auto st = (*texts_part)->run("removing old samples"); !st) return st.error();
  }
  // A text goes when no sample is left that uses it (samples_by_text, samples_by_body), and
  // with it what was derived from it.
  auto used = db_->cached(
      "SELECT EXISTS (SELECT 1 FROM sample_rows WHERE response = ?1) "
      "OR EXISTS (SELECT 1 FROM sample_rows WHERE error_body = ?1)");
  if (!used) return used.error();
  static constexpr const char* kDeletes[] = {
      "DELETE FROM judgements WHERE text = ?", "DELETE FROM text_features WHERE text = ?",
      "DELETE FROM text_data WHERE id = ?", "DELETE FROM texts WHERE id = ?"};
  for (int64_t text : texts) {
    {
      ResetOnExit reset(**used);
      (*used)->bind(1, text);
      auto row = (*used)->step();
      if (!row) return row.error();
      if (*row && (*used)->int64(0) != 0) continue;
    }
    for (const char* sql : kDeletes) {
      auto q = db_->cached(sql);
      if (!q) return q.error();
      (*q)->bind(1, text);
      if (auto st = (*q)->run("removing unused texts"); !st) return st.error();
    }
    ++removed.texts;
  }
  if (auto st = (*tx)->commit(); !st) return st.error();
  return removed;
}

}  // namespace dw::store
