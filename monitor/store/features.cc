// Response features: data derived from a stored text, cached beside it (see store.h). The
// text's own bytes are in texts.cc.
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

Status Store::put_features(std::string_view response_hash, std::string_view version,
                           std::string_view data) {
  if (auto st = open_batch(); !st) return st;
  auto text = find_text_hex(response_hash);
  if (!text) return text.error();
  if (!*text) {
    return db_->fail("storing the features of response " + std::string(response_hash) +
                     ": no text has this hash");
  }
  auto whole = Tx::begin(*db_);  // the version's string with the row, or neither
  if (!whole) return whole.error();
  auto version_id = intern(version);
  if (!version_id) return version_id.error();
  auto up = db_->cached(
      "INSERT INTO text_features (text, version, data) VALUES (?, ?, ?) "
      "ON CONFLICT (text) DO UPDATE SET version = excluded.version, data = excluded.data");
  if (!up) return up.error();
  (*up)->bind(1, **text).bind(2, *version_id).bind_blob(3, data);
  if (auto st = (*up)->run("storing the features of response " + std::string(response_hash));
      !st) {
    return st;
  }
  if (auto st = (*whole)->commit(); !st) return st;
  if (recent_rows_) recent_rows_->features_written = true;  // a new text may have them now
  return count_batched_write();
}

Status Store::drop_features(int64_t run, bool its_texts_only) {
  if (auto st = flush(); !st) return st;
  // max(id) over samples_by_text (response, then the rowid) is one index lookup per text.
  auto q = db_->cached(
      "DELETE FROM text_features WHERE (?2 = 0 OR text IN (SELECT response FROM sample_rows"
      " WHERE run_id = ?1 AND response IS NOT NULL)) AND (SELECT max(id) FROM sample_rows"
      " WHERE response = text_features.text) <= (SELECT max(id) FROM sample_rows"
      " WHERE run_id = ?1)");
  if (!q) return q.error();
  (*q)->bind(1, run).bind(2, int64_t{its_texts_only ? 1 : 0});
  return (*q)->run("dropping the features of old texts");
}

}  // namespace dw::store
