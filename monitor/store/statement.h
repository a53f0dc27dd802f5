// Internal to the store: an owned SQLite connection and prepared statements with RAII, so that
// a statement is never left half-stepped (holding a read snapshot) and values are only ever
// bound, never spliced into SQL text.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/time.h"

namespace dw::store {

class Db;
class Statement;

// Gives a statement of Db::prepare() back to its connection (kept under the SQL it was
// prepared from), or deletes one without.
struct StatementReturn {
  Db* db = nullptr;
  std::string sql;
  void operator()(Statement* s) const;
};
using PreparedStatement = std::unique_ptr<Statement, StatementReturn>;

// How a connection opens its file.
enum class OpenMode {
  create,     // read-write, creating the file when missing
  read_only,  // SQLITE_OPEN_READONLY: never writes; a missing file is an error
  // Read-only, and the file is taken never to change: no locks, no -wal or -shm read or
  // created. Only for a file that no connection has open in WAL mode (see open_readonly).
  immutable,
};

// One connection. Errors name the database file: "FILE: sqlite: MESSAGE (while WHAT)".
class Db {
 public:
  // Opens the database at path as mode says. Never returns a half-open connection.
  static Result<std::unique_ptr<Db>> open(const std::string& path,
                                          OpenMode mode = OpenMode::create);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs SQL without parameters (pragmas, DDL, BEGIN/COMMIT). Values never go through here.
  Status exec(const char* sql, std::string_view what);

  // A statement prepared once and reused for the life of the connection. Only for statements
  // that are stepped to completion before any caller code runs (inserts, lookups): an
  // iteration that calls back into the store must prepare its own (see prepare()).
  Result<Statement*> cached(const char* sql);
  // The one integer of a query without parameters (cached); 0 when it gives no row.
  Result<int64_t> single_int(const char* sql);

  // A statement owned by the caller, who may step it while calling back into the store. When
  // let go it is reset and kept, and the next prepare() of the same SQL takes it instead of
  // compiling the SQL again: a detection runs a few iterations dozens of times each, and
  // compiling them was 3% of its work. At most kMostIdle are kept; release_idle() drops them.
  Result<PreparedStatement> prepare(const std::string& sql);
  void release_idle() { idle_.clear(); }

  // The last SQLite error on this connection as a located Error.
  Error error(std::string_view what) const;

  // An error that did not come from SQLite, still naming the file.
  Error fail(std::string message) const;

  // How many transactions and savepoints have ended without committing: what a cache of ids
  // read or written inside one must check, since those ids may now be gone or given again.
  uint64_t rollbacks() const { return rollbacks_; }

 private:
  friend class Tx;
  friend struct StatementReturn;
  static constexpr size_t kMostIdle = 16;
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Result<std::unique_ptr<Statement>> compile(const std::string& sql);
  void give_back(Statement* s, const std::string& sql) noexcept;

  sqlite3* db_;
  std::string path_;
  // Destroyed before db_ is closed (the destructor clears it first).
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> cache_;
  std::multimap<std::string, std::unique_ptr<Statement>, std::less<>> idle_;  // by their SQL
  uint64_t rollbacks_ = 0;
};

class Statement {
 public:
  Statement(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based as in SQLite. Text is copied by SQLite, so temporaries are safe.
  // Empty text and absent optionals bind as NULL where the *_or_null forms are used.
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view v);
  Statement& bind_blob(int i, std::string_view bytes);  // bytes as they are, never text
  Statement& bind_null(int i);
  Statement& bind_or_null(int i, std::string_view v);  // "" -> NULL
  Statement& bind_or_null(int i, std::optional<int64_t> v);
  Statement& bind_or_null(int i, std::optional<double> v);

  // Advances: true with a row to read, false when done; an error otherwise (bind errors
  // included: they are remembered and reported here).
  Result<bool> step();

  // Steps to completion and resets: for statements that return no rows.
  Status run(std::string_view what);

  // Makes the statement reusable and drops its bindings. Always safe to call.
  void reset();

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  // Valid until the next step or reset.
  std::string_view text(int col) const;
  std::string_view blob(int col) const;  // "" for NULL or an empty blob
  std::optional<int64_t> optional_int64(int col) const;
  std::optional<double> optional_real(int col) const;
  // Times are stored as ISO 8601 text in UTC; a value someone edited into nonsense is an error
  // naming the column, never a silent epoch.
  Result<Time> time(int col) const;
  Result<std::optional<Time>> optional_time(int col) const;

  Db& db() const { return *db_; }

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = SQLITE_OK;
};

// Resets a statement when the scope ends, whatever path leaves it.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& s) : s_(s) {}
  ~ResetOnExit() { s_.reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Statement& s_;
};

// A write transaction that rolls back unless committed. Nests: inside an open transaction it
// becomes a savepoint, so a helper can be atomic on its own and still join a caller's batch.
class Tx {
 public:
  static Result<std::unique_ptr<Tx>> begin(Db& db);
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;

  Status commit();

 private:
  Tx(Db& db, bool nested) : db_(db), nested_(nested) {}
  Db& db_;
  bool nested_;
  bool done_ = false;
};

}  // namespace dw::store
