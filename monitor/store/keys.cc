// Small integers for repeated values: strings (models, finish reasons, errors, signals,
// explanations...), endpoints and probe versions, each stored once and named by its id; and
// the verdicts' numbers in sample_rows.
#include "store/keys.h"

#include <array>

#include "common/hash.h"
#include "store/compress.h"
#include "store/store.h"

namespace dw::store {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view text_arg(sqlite3_value* v) {
  const unsigned char* p = sqlite3_value_text(v);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(v))};
}

void sql_key(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
  sqlite3_result_int64(ctx, string_key(text_arg(argv[0])));
}

void sql_unhex(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto bytes = sqlite3_value_type(argv[0]) == SQLITE_NULL ? std::nullopt
                                                          : from_hex(text_arg(argv[0]));
  if (!bytes) return sqlite3_result_null(ctx);
  sqlite3_result_blob64(ctx, bytes->data(), bytes->size(), SQLITE_TRANSIENT);
}

void sql_pack(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
  std::string_view text = text_arg(argv[0]);
  auto* codec = static_cast<Codec*>(sqlite3_user_data(ctx));
  if (auto frame = codec->compress(text, nullptr)) {
    return sqlite3_result_blob64(ctx, frame->data(), frame->size(), SQLITE_TRANSIENT);
  }
  sqlite3_result_text64(ctx, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

}  // namespace

std::string sha256_bytes(std::string_view text) { return *from_hex(sha256_hex(text)); }

std::string to_hex(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');  // written in place: every row read names its text
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[c >> 4];
    out[2 * i + 1] = kHex[c & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

namespace {
constexpr std::array<std::string_view, 5> kVerdicts = {"answered", "refused", "deflected",
                                                       "filtered", "error"};
}  // namespace

std::optional<int64_t> verdict_number(std::string_view verdict) {
  for (size_t i = 0; i < kVerdicts.size(); ++i) {
    if (kVerdicts[i] == verdict) return static_cast<int64_t>(i);
  }
  return std::nullopt;
}

std::string_view verdict_name(int64_t number) {
  return number >= 0 && number < static_cast<int64_t>(kVerdicts.size()) ? kVerdicts[number] : "";
}

int64_t string_key(std::string_view value) {
  std::string digest = sha256_bytes(value);
  uint64_t key = 0;
  for (int i = 0; i < 8; ++i) key = key << 8 | static_cast<unsigned char>(digest[i]);
  return static_cast<int64_t>(key);
}

Status register_sql_functions(Db& db) {
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
  sqlite3* h = db.handle();
  // SQLite owns the codec from the first call on (it deletes it also when the call fails).
  auto destroy = [](void* p) { delete static_cast<Codec*>(p); };
  bool ok = sqlite3_create_function_v2(h, "dw_pack", 1, kFlags, new Codec(), sql_pack, nullptr,
                                       nullptr, destroy) == SQLITE_OK &&
            sqlite3_create_function_v2(h, "dw_key", 1, kFlags, nullptr, sql_key, nullptr,
                                       nullptr, nullptr) == SQLITE_OK &&
            sqlite3_create_function_v2(h, "dw_unhex", 1, kFlags, nullptr, sql_unhex, nullptr,
                                       nullptr, nullptr) == SQLITE_OK;
  return ok ? Status::Ok() : Status(db.error("adding the migration functions"));
}

// --- the values of keys, for readers ------------------------------------------------------

Result<const std::string*> KeyNames::endpoint(int64_t id) {
  if (auto it = endpoints_.find(id); it != endpoints_.end()) {
    return it->second ? &*it->second : nullptr;
  }
  auto q = db_.cached("SELECT name FROM endpoint_keys WHERE id = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind(1, id);
  auto row = (*q)->step();
  if (!row) return row.error();
  std::optional<std::string>& name = endpoints_[id];
  if (*row) name = std::string((*q)->text(0));
  return name ? &*name : nullptr;
}

Result<const KeyNames::Probe*> KeyNames::probe(int64_t id) {
  if (auto it = probes_.find(id); it != probes_.end()) return it->second ? &*it->second : nullptr;
  if (probes_loaded_) return nullptr;
  // A reader of whole runs gets them all at once, on first use: it names most of them, and a
  // lookup each cost a detection more than its decisions about some pairs.
  auto q = db_.cached(all_probes_
                          ? "SELECT k.id, k.probe_id, k.probe_version, p.category, p.lang, "
                            "p.control FROM probe_keys k CROSS JOIN probes p "
                            "ON p.id = k.probe_id AND p.version = k.probe_version"
                          : "SELECT k.id, k.probe_id, k.probe_version, p.category, p.lang, "
                            "p.control FROM probe_keys k CROSS JOIN probes p "
                            "ON p.id = k.probe_id AND p.version = k.probe_version "
                            "WHERE k.id = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  if (!all_probes_) (*q)->bind(1, id);
  for (;;) {
    auto row = (*q)->step();
    if (!row) return row.error();
    if (!*row) break;
    const Statement& r = **q;
    probes_.emplace(r.int64(0), Probe{std::string(r.text(1)), std::string(r.text(2)),
                                      std::string(r.text(3)), std::string(r.text(4)),
                                      r.int64(5) != 0});
  }
  probes_loaded_ = all_probes_;
  auto& p = probes_[id];  // nullopt when `probes` does not hold it: a key found missing stays so
  return p ? &*p : nullptr;
}

Status KeyNames::string(std::optional<int64_t> id, std::string& to) {
  if (!id) {
    to.clear();
    return Status::Ok();
  }
  if (auto it = strings_.find(*id); it != strings_.end()) {
    to.assign(it->second);
    return Status::Ok();
  }
  auto q = db_.cached("SELECT value FROM strings WHERE id = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind(1, *id);
  auto row = (*q)->step();
  if (!row) return row.error();
  // A key without its value reads as none, as the subquery it replaces did.
  const std::string_view value = *row ? (*q)->text(0) : std::string_view();
  to.assign(value.data(), value.size());
  if (strings_.size() >= kMostStrings) strings_.clear();
  strings_.emplace(*id, to);
  return Status::Ok();
}

// --- ids of repeated values ----------------------------------------------------------------

Result<int64_t> Store::intern(std::string_view value) {
  // Small and bounded: only short values are kept. Explanations, long and nearly unique, do not
  // come here at all (classification_ids calls intern_uncached for them).
  constexpr size_t kCachedSize = 256, kCachedCount = 1024;
  if (interned_rollbacks_ != db_->rollbacks() || interned_.size() >= kCachedCount) {
    interned_.clear();
    interned_rollbacks_ = db_->rollbacks();
  }
  if (auto it = interned_.find(value); it != interned_.end()) return it->second;
  auto id = intern_uncached(value);
  if (id && value.size() <= kCachedSize) interned_.emplace(value, *id);
  return id;
}

Result<int64_t> Store::intern_uncached(std::string_view value) {
  const int64_t key = string_key(value);
  {
    auto find = db_->cached("SELECT id, value FROM strings WHERE key = ?");
    if (!find) return find.error();
    ResetOnExit reset(**find);
    (*find)->bind(1, key);
    for (;;) {
      auto row = (*find)->step();
      if (!row) return row.error();
      if (!*row) break;
      if ((*find)->text(1) == value) return (*find)->int64(0);
    }
  }
  auto ins = db_->cached("INSERT INTO strings (key, value) VALUES (?, ?)");
  if (!ins) return ins.error();
  (*ins)->bind(1, key).bind(2, value);
  if (auto st = (*ins)->run("storing a value"); !st) return st.error();
  return sqlite3_last_insert_rowid(db_->handle());
}

Result<std::optional<int64_t>> Store::intern_or_null(std::string_view value) {
  if (value.empty()) return std::optional<int64_t>();
  auto id = intern(value);
  if (!id) return id.error();
  return std::optional<int64_t>(*id);
}

Result<std::optional<int64_t>> Store::find_string(std::string_view value) {
  auto find = db_->cached("SELECT id, value FROM strings WHERE key = ?");
  if (!find) return find.error();
  ResetOnExit reset(**find);
  (*find)->bind(1, string_key(value));
  for (;;) {
    auto row = (*find)->step();
    if (!row) return row.error();
    if (!*row) return std::optional<int64_t>();
    if ((*find)->text(1) == value) return std::optional<int64_t>((*find)->int64(0));
  }
}

Result<std::optional<int64_t>> Store::find_endpoint_key(std::string_view name) {
  auto find = db_->cached("SELECT id FROM endpoint_keys WHERE name = ?");
  if (!find) return find.error();
  ResetOnExit reset(**find);
  (*find)->bind(1, name);
  auto row = (*find)->step();
  if (!row) return row.error();
  return *row ? std::optional<int64_t>((*find)->int64(0)) : std::nullopt;
}

Result<int64_t> Store::endpoint_key(std::string_view name) {
  auto found = find_endpoint_key(name);
  if (!found) return found.error();
  if (*found) return **found;
  // Only an endpoint that upsert_endpoint stored gets a key.
  auto ins =
      db_->cached("INSERT INTO endpoint_keys (name) SELECT name FROM endpoints WHERE name = ?");
  if (!ins) return ins.error();
  (*ins)->bind(1, name);
  if (auto st = (*ins)->run("naming endpoint " + std::string(name)); !st) return st.error();
  if (sqlite3_changes(db_->handle()) == 0) {
    return db_->fail("unknown endpoint '" + std::string(name) +
                     "' (store it with upsert_endpoint)");
  }
  return sqlite3_last_insert_rowid(db_->handle());
}

Result<int64_t> Store::sample_probe_key(std::string_view probe_id, std::string_view version) {
  // probe_keys may name versions that `probes` does not hold (drift's run summaries name what
  // they counted): a sample needs the version itself.
  auto find = db_->cached(
      "SELECT k.id, p.id IS NOT NULL FROM probes p LEFT JOIN probe_keys k "
      "ON k.probe_id = p.id AND k.probe_version = p.version WHERE p.id = ? AND p.version = ?");
  if (!find) return find.error();
  {
    ResetOnExit reset(**find);
    (*find)->bind(1, probe_id).bind(2, version);
    auto row = (*find)->step();
    if (!row) return row.error();
    if (!*row) {
      return db_->fail("unknown probe " + std::string(probe_id) + " version " +
                       std::string(version) + " (store it with upsert_probes)");
    }
    if (!(*find)->is_null(0)) return (*find)->int64(0);
  }
  auto ins = db_->cached("INSERT INTO probe_keys (probe_id, probe_version) VALUES (?, ?)");
  if (!ins) return ins.error();
  (*ins)->bind(1, probe_id).bind(2, version);
  if (auto st = (*ins)->run("naming probe " + std::string(probe_id)); !st) return st.error();
  return sqlite3_last_insert_rowid(db_->handle());
}

}  // namespace dw::store
