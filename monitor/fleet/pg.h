// A PostgreSQL connection through libpq, for the fleet's central database: statements with
// text parameters, text results, transactions that roll back unless committed.
//
//   auto pg = dw::fleet::Pg::connect("host=db.example.org dbname=fleet user=pi_hk "
//                                    "sslmode=verify-full", password);  // "" for none
//   if (!pg) ...                                           // "fleet: ...: message", one line
//   auto tx = (*pg)->begin();
//   auto rows = (*pg)->exec("SELECT version FROM driftwatch_fleet");
//   (*pg)->run("INSERT INTO texts (hash, body) SELECT * FROM unnest($1::text[], $2::text[]) "
//              "ON CONFLICT DO NOTHING", {array_literal(hashes), array_literal(bodies)});
//   (*tx)->commit();                                       // destroyed uncommitted: ROLLBACK
//
// Values only ever travel as parameters ($1..$n, sent apart from the SQL text: PQexecParams),
// never spliced into SQL. Every message is one line, "fleet: HOST:PORT/DBNAME as USER: what
// went wrong" (the server's primary message, then its detail), and never holds the password:
// neither the one passed in nor one written into the connection string, which is never shown.
// Sessions run in UTC (timestamptz prints as "2026-01-15 06:30:00+00"; select
// to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') for dw::parse_time).
//
// Threads: a Pg is used from one thread at a time. Errors are values; nothing throws.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

typedef struct pg_conn PGconn;  // libpq-fe.h's, so that callers need not include libpq
typedef struct pg_cancel PGcancel;

namespace dw::fleet {

// Whether libpq can read conninfo (a URI or keyword = value pairs): one line saying why not
// ("fleet: malformed connection string: ...", never a password it holds). Pg::connect checks
// the same first; this is for a string given on the command line, a user's mistake.
Status check_conninfo(const std::string& conninfo);

class Pg {
 public:
  // conninfo: a libpq connection string ("host=... dbname=...") or URI ("postgresql://...").
  // password: "" for none (then libpq's own PGPASSWORD, ~/.pgpass or TLS client certificates
  // apply); otherwise it wins over one in conninfo. Sets connect_timeout=10,
  // application_name=driftwatch and TCP keepalives (a silent server is given up after about
  // a minute) unless conninfo sets them, client_encoding=UTF8, and after connecting
  // statement_timeout 120 s and TimeZone UTC. The server's notices are dropped. Fails with one
  // line naming the server (never the password) on a malformed string, an unreachable server,
  // a refused login.
  static Result<std::unique_ptr<Pg>> connect(const std::string& conninfo,
                                             const std::string& password = "");
  ~Pg();
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;

  // One statement with text parameters ($1..$n; std::nullopt is SQL NULL; cast in SQL where
  // the type matters: $1::uuid, $2::int[]). Rows come back as text (nullopt for NULL), in the
  // server's text format ("t"/"f" for booleans). Fails with the server's message (primary +
  // detail), or libpq's when the connection is lost. Inside a transaction a failure leaves it
  // aborted: only the Tx's destruction (ROLLBACK) is of use then.
  struct Rows {
    std::vector<std::string> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
  };
  Result<Rows> exec(const std::string& sql,
                    const std::vector<std::optional<std::string>>& params = {});
  // exec, rows ignored.
  Status run(const std::string& sql, const std::vector<std::optional<std::string>>& params = {});

  // BEGIN ... COMMIT. Destroying an uncommitted one sends ROLLBACK (errors ignored: a lost
  // connection rolls back on the server by itself). At most one open at a time.
  class Tx {
   public:
    ~Tx();
    Tx(const Tx&) = delete;
    Tx& operator=(const Tx&) = delete;
    // Sends COMMIT. Ok means the server committed; a failure (or a transaction an earlier
    // error aborted, which the server answers with ROLLBACK) means nothing was kept.
    Status commit();

   private:
    friend class Pg;
    explicit Tx(Pg& pg) : pg_(pg) {}
    Pg& pg_;
    bool done_ = false;
  };
  Result<std::unique_ptr<Tx>> begin();

  // False once the connection is lost (the server went away, the network failed): every
  // call then fails at once, and only a new connect() helps.
  bool connected() const;

  // Asks the server to cancel the statement in progress, which then fails ("canceling
  // statement due to user request"), and fails every later one before it is sent. The one call
  // safe from another thread, while a statement runs: a daemon stopping need not wait for a
  // slow server.
  void cancel() const;

  // "host:port/dbname as user" (no password) for messages; a socket folder stands for host.
  std::string describe() const;
  // An error about this connection in the style of its own: "fleet: DESCRIBE: message".
  Error fail(const std::string& message) const;

 private:
  Pg(PGconn* conn, std::vector<std::string> secrets);
  std::string redact(std::string message) const;  // secrets out, on one line

  PGconn* conn_;
  PGcancel* cancel_;  // made at connect: PQcancel on it is thread-safe
  mutable std::atomic<bool> cancelled_{false};
  std::vector<std::string> secrets_;  // every password known: never in a message
};

// A PostgreSQL array literal holding items, for one parameter cast to text[], int[],
// boolean[], jsonb[] and so on: {"a","b\"c",NULL}. Every item is quoted (so "", "NULL", commas
// and braces stay themselves); nullopt is NULL.
std::string array_literal(const std::vector<std::optional<std::string>>& items);

}  // namespace dw::fleet
