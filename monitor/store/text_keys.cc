// Texts by hash (schema 15), in parts kept by triggers on texts: text_keys_new, the keys of
// texts stored since a run last moved them; text_keys_recent, those moved since the last
// merge; text_keys, all the others, with the keys of deleted texts listed in text_keys_gone
// until that merge. A text is found in whichever holds its key.
#include <algorithm>
#include <cmath>

#include "store/keys.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

// Fewer waiting keys are never merged: a merge writes most of text_keys' pages, however few.
constexpr int64_t kLeastKeysMerged = 4096;

}  // namespace

Result<std::optional<int64_t>> Store::find_text(std::string_view hash) {
  if (hash.size() != 32) return std::optional<int64_t>();
  auto q = db_->cached(
      "SELECT id FROM texts WHERE hash = ?2 AND id IN ("
      "SELECT id FROM text_keys_new WHERE key = ?1 UNION ALL "
      "SELECT id FROM text_keys_recent WHERE key = ?1 UNION ALL "
      "SELECT id FROM text_keys WHERE key = ?1)");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind_blob(1, hash.substr(0, 8)).bind_blob(2, hash);
  auto row = (*q)->step();
  if (!row) return row.error();
  return *row ? std::optional<int64_t>((*q)->int64(0)) : std::nullopt;
}

Result<std::optional<int64_t>> Store::find_text_hex(std::string_view hash_hex) {
  auto bytes = from_hex(hash_hex);
  if (!bytes) return std::optional<int64_t>();
  return find_text(*bytes);
}

Status Store::merge_text_keys_if_due() {
  // Inside a transaction (an import's runs) the moves would write the tables again for each
  // run, as the transaction outgrows the page cache: the first run after it moves them.
  if (in_transaction_) return Status::Ok();
  auto fresh = db_->single_int("SELECT count(*) FROM text_keys_new");
  if (!fresh) return fresh.error();
  if (*fresh == 0) return Status::Ok();  // no new text: nothing written
  auto waiting = db_->single_int(
      "SELECT (SELECT count(*) FROM text_keys_recent) + (SELECT count(*) FROM text_keys_gone)");
  if (!waiting) return waiting.error();
  // texts' largest id stands for their number (retention's gaps only delay a merge): counting
  // text_keys would read all of it.
  auto top = db_->single_int("SELECT coalesce(max(id), 0) FROM texts");
  if (!top) return top.error();
  // A run's new keys land on random pages of text_keys_new, which each of its commits writes
  // again: it holds one run's, a few pages. Moved in key order, they write each page of
  // text_keys_recent they touch once. A merge writes about every page of text_keys. With K
  // keys merged, r a run's and n waiting at a merge, the waiting ones cost about
  // n / 2 / (keys a page) pages a run, a merge K / (keys a page) once every n / r runs:
  // n * n = 2 * K * r makes their sum least. About 48,000 keys after a year of a typical
  // configuration (1.3M texts, 900 a run).
  const int64_t waiting_all = *waiting + *fresh;
  const double merged = static_cast<double>(std::max<int64_t>(*top - waiting_all, 0));
  const double due = std::max(static_cast<double>(kLeastKeysMerged),
                              std::sqrt(2.0 * merged * static_cast<double>(*fresh)));
  if (static_cast<double>(waiting_all) < due) {
    return move_text_keys(
        "INSERT OR IGNORE INTO text_keys_recent (key, id) "
        "SELECT key, id FROM text_keys_new ORDER BY key, id; "
        "DELETE FROM text_keys_new");
  }
  // Both sorted sources in one pass, after the deleted texts' keys are gone (a text stored
  // again may have its old id and key).
  return move_text_keys(
      "DELETE FROM text_keys WHERE (key, id) IN (SELECT key, id FROM text_keys_gone); "
      "DELETE FROM text_keys_gone; "
      "INSERT OR IGNORE INTO text_keys (key, id) SELECT key, id FROM ("
      "SELECT key, id FROM text_keys_recent UNION ALL SELECT key, id FROM text_keys_new) "
      "ORDER BY key, id; "
      "DELETE FROM text_keys_recent; DELETE FROM text_keys_new");
}

Status Store::move_text_keys(const char* sql) {
  if (auto st = before_direct_write(); !st) return st;
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  if (auto st = db_->exec(sql, "moving the texts' keys"); !st) return st;
  return (*tx)->commit();
}

}  // namespace dw::store
