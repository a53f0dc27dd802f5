// Response features: data derived from a stored text, cached beside it (see store.h).
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

Status Store::put_features(std::string_view response_hash, std::string_view version,
                           std::string_view data) {
  if (auto st = open_batch(); !st) return st;
  auto up = db_->cached(
      "INSERT INTO response_features (hash, version, data) VALUES (?, ?, ?) "
      "ON CONFLICT (hash) DO UPDATE SET version = excluded.version, data = excluded.data");
  if (!up) return up.error();
  (*up)->bind(1, response_hash).bind(2, version).bind_blob(3, data);
  // The foreign key names the unknown text: "FOREIGN KEY constraint failed".
  if (auto st = (*up)->run("storing the features of response " + std::string(response_hash));
      !st) {
    return st;
  }
  return count_batched_write();
}

Result<std::optional<std::string>> Store::response_text(std::string_view hash) {
  auto q = db_->cached("SELECT text FROM responses WHERE hash = ?");
  if (!q) return q.error();
  ResetOnExit guard(**q);
  (*q)->bind(1, hash);
  auto row = (*q)->step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(std::string((*q)->text(0)));
}

}  // namespace dw::store
