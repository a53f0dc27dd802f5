#include "store/statement.h"

#include <new>

#include "common/strings.h"

namespace dw::store {

namespace {

// "file:" and the path percent-encoded, so that '?', '#' and '%' in a file name stay part of
// it; "file://" (an empty authority) before an absolute path, which may start with "//".
std::string file_uri(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string uri = path.starts_with('/') ? "file://" : "file:";
  for (unsigned char c : path) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '/' || c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      uri += static_cast<char>(c);
    } else {
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 15];
    }
  }
  return uri;
}

}  // namespace

Result<std::unique_ptr<Db>> Db::open(const std::string& path, OpenMode mode) {
  // A savepoint keeps the pages it changes in a statement journal, in memory up to this size,
  // then in a temporary file for as long as the enclosing transaction lasts. A store call
  // per sample is a savepoint of a few pages; SQLite's default of 64 KiB let one larger one
  // move the journal to a file, after which an import's single transaction wrote every
  // sample's pages there (6 GB of write() calls for 300,000 samples). SQLite allocates the
  // in-memory journal in one block of this size at each savepoint's first change, so it stays
  // below the 128 KiB past which allocators map memory for each block (glibc, and
  // AddressSanitizer, which made every savepoint of a 4 MiB block an mmap, and the sanitized
  // suite a fifth slower). bench_import's "written" figure shows a spill: 120 KiB keeps a
  // million-line import's journal in memory, 64 KiB did not. Process-wide, so set before
  // SQLite is first used (later calls fail harmlessly).
  static const bool journal_configured = [] {
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 120 << 10) == SQLITE_OK;
  }();
  (void)journal_configured;
  std::string name = path;
  int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case OpenMode::create:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
    case OpenMode::read_only:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case OpenMode::immutable:  // only a URI can say it
      name = file_uri(path) + "?immutable=1";
      flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
      break;
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return Error("sqlite: " + message + " (while opening the database)", Location{path});
  }
  sqlite3_extended_result_codes(raw, 1);
  std::unique_ptr<Db> db(new Db(raw, path));
  // Every rollback of the whole transaction, also those SQLite makes on its own after an
  // I/O error or a full disk, where no Tx sees it (Tx counts its savepoints' rollbacks).
  sqlite3_rollback_hook(raw, [](void* self) { ++static_cast<Db*>(self)->rollbacks_; },
                        db.get());
  return db;
}

Db::~Db() {
  cache_.clear();
  idle_.clear();
  sqlite3_close(db_);
}

Status Db::exec(const char* sql, std::string_view what) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return error(what);
  return Status::Ok();
}

Result<Statement*> Db::cached(const char* sql) {
  auto it = cache_.find(std::string_view(sql));
  if (it != cache_.end()) return it->second.get();
  auto st = compile(sql);
  if (!st) return st.error();
  Statement* raw = st->get();
  cache_.emplace(sql, std::move(st).value());
  return raw;
}

Result<int64_t> Db::single_int(const char* sql) {
  auto q = cached(sql);
  if (!q) return q.error();
  ResetOnExit reset(**q);
  auto row = (*q)->step();
  if (!row) return row.error();
  return *row ? (*q)->int64(0) : int64_t{0};
}

Result<PreparedStatement> Db::prepare(const std::string& sql) {
  if (auto it = idle_.find(sql); it != idle_.end()) {
    PreparedStatement st(it->second.release(), StatementReturn{this, sql});
    idle_.erase(it);
    return st;
  }
  auto st = compile(sql);
  if (!st) return st.error();
  return PreparedStatement(st->release(), StatementReturn{this, sql});
}

void Db::give_back(Statement* s, const std::string& sql) noexcept {
  std::unique_ptr<Statement> owned(s);
  owned->reset();
  if (idle_.size() >= kMostIdle) return;
  try {
    idle_.emplace(sql, std::move(owned));
  } catch (const std::bad_alloc&) {  // not kept: finalized, as any statement may be
  }
}

void StatementReturn::operator()(Statement* s) const {
  if (db == nullptr) {
    delete s;
  } else {
    db->give_back(s, sql);
  }
}

Result<std::unique_ptr<Statement>> Db::compile(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return error("preparing a statement");
  }
  return std::make_unique<Statement>(*this, stmt);
}

Error Db::error(std::string_view what) const {
  return fail("sqlite: " + std::string(sqlite3_errmsg(db_)) + " (while " + std::string(what) + ")");
}

Error Db::fail(std::string message) const { return Error(std::move(message), Location{path_}); }

Statement& Statement::bind(int i, int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, i, v);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind(int i, double v) {
  int rc = sqlite3_bind_double(stmt_, i, v);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind(int i, std::string_view v) {
  int rc = sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_blob(int i, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, i, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_null(int i) {
  int rc = sqlite3_bind_null(stmt_, i);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_or_null(int i, std::string_view v) {
  return v.empty() ? bind_null(i) : bind(i, v);
}

Statement& Statement::bind_or_null(int i, std::optional<int64_t> v) {
  return v ? bind(i, *v) : bind_null(i);
}

Statement& Statement::bind_or_null(int i, std::optional<double> v) {
  return v ? bind(i, *v) : bind_null(i);
}

Result<bool> Statement::step() {
  if (bind_error_ != SQLITE_OK) {
    return db_->fail("sqlite: binding a parameter: " + std::string(sqlite3_errstr(bind_error_)));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->error("running " + shorten_at_word(sqlite3_sql(stmt_), 60));
}

Status Statement::run(std::string_view what) {
  ResetOnExit guard(*this);
  for (;;) {
    auto more = step();
    if (!more) return db_->fail(more.error().message() + " [" + std::string(what) + "]");
    if (!*more) return Status::Ok();
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = SQLITE_OK;
}

std::string_view Statement::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::string_view Statement::blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))};
}

std::optional<int64_t> Statement::optional_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

std::optional<double> Statement::optional_real(int col) const {
  if (is_null(col)) return std::nullopt;
  return real(col);
}

Result<Time> Statement::time(int col) const {
  auto t = parse_time(text(col));
  if (!t) {
    return db_->fail("column " + std::string(sqlite3_column_name(stmt_, col)) + ": " +
                     t.error().message());
  }
  return *t;
}

Result<std::optional<Time>> Statement::optional_time(int col) const {
  if (is_null(col)) return std::optional<Time>();
  auto t = time(col);
  if (!t) return t.error();
  return std::optional<Time>(*t);
}

Result<std::unique_ptr<Tx>> Tx::begin(Db& db) {
  bool nested = sqlite3_get_autocommit(db.handle()) == 0;
  // IMMEDIATE takes the write lock up front, so the busy timeout applies here instead of a
  // deadlock error at the first write.
  // Prepared once: a store call per sample opens one of these, and parsing the SQL each time
  // was a twentieth of an import.
  auto q = db.cached(nested ? "SAVEPOINT dw_tx" : "BEGIN IMMEDIATE");
  if (!q) return q.error();
  if (auto st = (*q)->run("starting a transaction"); !st) return st.error();
  return std::unique_ptr<Tx>(new Tx(db, nested));
}

Tx::~Tx() {
  if (done_) return;
  ++db_.rollbacks_;
  // Best effort: if even the rollback fails, SQLite rolls back when the connection closes.
  if (nested_) {
    (void)db_.exec("ROLLBACK TO dw_tx; RELEASE dw_tx", "rolling back");
  } else if (sqlite3_get_autocommit(db_.handle()) == 0) {
    (void)db_.exec("ROLLBACK", "rolling back");
  }
}

Status Tx::commit() {
  auto q = db_.cached(nested_ ? "RELEASE dw_tx" : "COMMIT");
  if (!q) return q.error();
  auto st = (*q)->run("committing");
  if (st) done_ = true;
  return st;
}

}  // namespace dw::store
