// Texts by hash (schema 15): the keys of new texts in text_keys_new, small, merged in key order
// into text_keys, of all the others, once they are many enough. Triggers on texts keep both.
#include <algorithm>
#include <cmath>

#include "store/keys.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

// Fewer new keys are never merged: a merge writes most of text_keys' pages, however few.
constexpr int64_t kLeastKeysMerged = 4096;

}  // namespace

Result<std::optional<int64_t>> Store::find_text(std::string_view hash) {
  if (hash.size() != 32) return std::optional<int64_t>();
  auto q = db_->cached(
      "SELECT id FROM texts WHERE hash = ?2 AND id IN ("
      "SELECT id FROM text_keys_new WHERE key = ?1 UNION ALL "
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
  // When to merge. A run's new keys land on random pages of text_keys_new, which each of the
  // run's commits writes again; a merge writes about every page of text_keys. With K keys
  // merged, r new in the run and n at a merge, the first costs about n / 2 / (keys a page)
  // pages a commit, the second K / (keys a page) once every n / r runs: n * n = 2 * K * r
  // balances them for a run of one commit, and stays near the least for the runner's commits
  // of 64 samples. Measured (bench_store, 120 days, 900 texts a run): 4.3 MiB written a run,
  // against 8.1 with one index of all the keys.
  // Inside a transaction (an import's runs) a merge would write text_keys again for each, as
  // the transaction outgrows the page cache: the first run after it merges.
  const int64_t added = text_keys_added_;
  if (added == 0 || in_transaction_) return Status::Ok();
  auto fresh = db_->single_int("SELECT count(*) FROM text_keys_new");
  if (!fresh) return fresh.error();
  // texts' largest id stands for their number (retention's gaps only delay a merge): counting
  // text_keys would read all of it.
  auto top = db_->single_int("SELECT coalesce(max(id), 0) FROM texts");
  if (!top) return top.error();
  const double merged = static_cast<double>(std::max<int64_t>(*top - *fresh, 0));
  const double due = std::max(static_cast<double>(kLeastKeysMerged),
                              std::sqrt(2.0 * merged * static_cast<double>(added)));
  text_keys_added_ = 0;
  if (static_cast<double>(*fresh) < due) return Status::Ok();
  return merge_text_keys();
}

Status Store::merge_text_keys() {
  if (auto st = before_direct_write(); !st) return st;
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  // text_keys_new is read in its key order: text_keys takes the keys as a sorted stream.
  if (auto st = db_->exec("INSERT INTO text_keys (key, id) SELECT key, id FROM text_keys_new; "
                          "DELETE FROM text_keys_new",
                          "merging the new texts' keys");
      !st) {
    return st;
  }
  return (*tx)->commit();
}

}  // namespace dw::store
