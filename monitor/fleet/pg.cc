#include "fleet/pg.h"

#include <libpq-fe.h>

#include <cctype>
#include <string_view>

namespace dw::fleet {
namespace {

struct ClearResult {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ClearResult>;

bool looks_like_conninfo(std::string_view s) {
  return s.find('=') != std::string_view::npos || s.starts_with("postgresql://") ||
         s.starts_with("postgres://");
}

// Whether a connection string may carry a password that libpq's own messages could quote:
// a password keyword, or a URI whose user part has a ':'.
bool may_hold_password(std::string_view s) {
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("password") != std::string::npos) return true;
  size_t scheme = s.find("://");
  if (scheme == std::string_view::npos) return false;
  size_t at = s.find('@', scheme + 3);
  return at != std::string_view::npos &&
         s.substr(scheme + 3, at - scheme - 3).find(':') != std::string_view::npos;
}

// Quoted fragments of a message ("...") replaced by "..." (a malformed string's own words).
std::string without_quoted(const std::string& m) {
  std::string out;
  bool inside = false;
  for (char c : m) {
    if (c == '"') {
      out += inside ? "...\"" : "\"";
      inside = !inside;
    } else if (!inside) {
      out += c;
    }
  }
  return out;
}

// message without any of the secrets, on one line. libpq's messages span lines: a tab and a
// lower-case word continue a sentence ("...abnormally\n\tbefore or while..."), a capital
// starts one ("refused\n\tIs the server running..."), anything else is another message (one
// per host tried).
std::string one_line(std::string message, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    for (size_t at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at + 3)) {
      message.replace(at, secret.size(), "***");
    }
  }
  std::string line;
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string_view part(message.data() + start, end - start);
    bool continues = part.starts_with('\t') || part.starts_with(' ');
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) {
      part.remove_prefix(1);
    }
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) {
      part.remove_suffix(1);
    }
    if (!part.empty() && !line.empty()) {
      bool capital = std::isupper(static_cast<unsigned char>(part.front())) != 0;
      bool ended = std::string_view(".?!:;").find(line.back()) != std::string_view::npos;
      line += capital ? (ended ? " " : ". ") : continues ? " " : "; ";
    }
    line += part;
    start = end + 1;
  }
  // Tabs and runs of spaces inside a line ("FATAL:  password ...") as one space.
  std::string out;
  for (char c : line) {
    bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

// "host:port/dbname as user" from what libpq holds (also for a connection that failed).
std::string describe_conn(const PGconn* conn) {
  auto text = [](const char* s) { return std::string(s ? s : ""); };
  std::string host = text(PQhost(conn));
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
  return (host.empty() ? "localhost" : host) + ":" + text(PQport(conn)) + "/" + text(PQdb(conn)) +
         " as " + text(PQuser(conn));
}

}  // namespace

Pg::Pg(PGconn* conn, std::vector<std::string> secrets)
    : conn_(conn), cancel_(PQgetCancel(conn)), secrets_(std::move(secrets)) {}

Pg::~Pg() {
  if (cancel_ != nullptr) PQfreeCancel(cancel_);
  PQfinish(conn_);
}

void Pg::cancel() const {
  cancelled_ = true;  // what was not yet sent is not sent
  if (cancel_ == nullptr) return;
  char error[256];
  (void)PQcancel(cancel_, error, sizeof error);  // best effort: the statement may have ended
}

namespace {

// libpq's reading of conninfo: fails on a malformed string; adds a password it holds to
// secrets (what no message may show).
Status parse_conninfo(const std::string& conninfo, std::vector<std::string>& secrets) {
  if (!looks_like_conninfo(conninfo)) return Status::Ok();
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (!options) {
    std::string why = err ? err : "out of memory";
    PQfreemem(err);
    if (may_hold_password(conninfo)) why = without_quoted(why);
    return Error("fleet: malformed connection string: " + one_line(why, secrets));
  }
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val && *o->val) {
      secrets.emplace_back(o->val);
    }
  }
  PQconninfoFree(options);
  return Status::Ok();
}

}  // namespace

Status check_conninfo(const std::string& conninfo) {
  std::vector<std::string> secrets;
  return parse_conninfo(conninfo, secrets);
}

Result<std::unique_ptr<Pg>> Pg::connect(const std::string& conninfo, const std::string& password) {
  std::vector<std::string> secrets;
  if (!password.empty()) secrets.push_back(password);
  if (Status parsed = parse_conninfo(conninfo, secrets); !parsed) return parsed.error();
  // Entries before dbname (which expands conninfo) are defaults it may override; those after
  // it win (libpq, PQconnectdbParams).
  // TCP keepalives: a server that vanishes without a word (a cut link) is noticed in about a
  // minute, not the system's two hours, so a push fails instead of hanging.
  std::vector<const char*> keys = {"connect_timeout", "application_name", "keepalives_idle",
                                   "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                   "dbname"};
  std::vector<const char*> values = {"10", "driftwatch", "30", "10", "3", "60000",
                                     conninfo.c_str()};
  if (!password.empty()) keys.push_back("password"), values.push_back(password.c_str());
  keys.push_back("client_encoding"), values.push_back("UTF8");
  keys.push_back(nullptr), values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!conn) return Error("fleet: cannot connect: out of memory");
  std::unique_ptr<Pg> pg(new Pg(conn, std::move(secrets)));
  if (PQstatus(conn) != CONNECTION_OK) return pg->fail(PQerrorMessage(conn));
  // The server's notices and warnings ("terminating connection due to ...") would go to
  // stderr; what matters comes back as errors.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  // A statement stuck behind a lock must not hold a push (and the daemon's thread) forever.
  if (auto st = pg->run("SELECT set_config('statement_timeout', '120s', false), "
                        "set_config('TimeZone', 'UTC', false)");
      !st) {
    return st.error();
  }
  return pg;
}

std::string Pg::redact(std::string message) const { return one_line(std::move(message), secrets_); }

bool Pg::connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

std::string Pg::describe() const { return conn_ ? describe_conn(conn_) : "PostgreSQL"; }

Error Pg::fail(const std::string& message) const {
  return Error("fleet: " + describe() + ": " + redact(message));
}

Result<Pg::Rows> Pg::exec(const std::string& sql,
                          const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) {
    // libpq takes text parameters as C strings: a NUL would silently cut the value short.
    if (p && p->find('\0') != std::string::npos) {
      return fail("a value holds a NUL byte, which PostgreSQL text cannot store");
    }
    values.push_back(p ? p->c_str() : nullptr);
  }
  // After a loss libpq answers with no result and every message it gave before, repeated.
  const char* lost = "the connection to the server was lost";
  if (!connected()) return fail(lost);
  if (cancelled_) return fail("cancelled: driftwatch is stopping");
  ResultPtr res(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, /*resultFormat=*/0));
  if (!res) return fail(connected() ? PQerrorMessage(conn_) : lost);
  ExecStatusType status = PQresultStatus(res.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
    const char* primary = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_DETAIL);
    if (!primary) return fail(PQresultErrorMessage(res.get()));  // libpq's: a lost connection
    std::string message = primary;
    if (detail) message += std::string(" (") + detail + ")";
    return fail(message);
  }
  Rows out;
  int columns = PQnfields(res.get());
  for (int c = 0; c < columns; ++c) out.columns.emplace_back(PQfname(res.get(), c));
  int rows = PQntuples(res.get());
  out.rows.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    auto& row = out.rows.emplace_back();
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(res.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(res.get(), r, c),
                                     static_cast<size_t>(PQgetlength(res.get(), r, c))));
      }
    }
  }
  return out;
}

Status Pg::run(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  auto rows = exec(sql, params);
  if (!rows) return rows.error();
  return Status::Ok();
}

Result<std::unique_ptr<Pg::Tx>> Pg::begin() {
  if (auto st = run("BEGIN"); !st) return st.error();
  return std::unique_ptr<Tx>(new Tx(*this));
}

Pg::Tx::~Tx() {
  if (done_ || !pg_.connected()) return;
  PQclear(PQexec(pg_.conn_, "ROLLBACK"));
}

Status Pg::Tx::commit() {
  if (done_) return pg_.fail("the transaction is already finished");
  done_ = true;
  if (!pg_.connected()) return pg_.fail("the connection to the server was lost");
  ResultPtr res(PQexec(pg_.conn_, "COMMIT"));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    const char* primary = res ? PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string why = primary ? primary : res ? PQresultErrorMessage(res.get()) : "";
    return pg_.fail("COMMIT failed: " + (why.empty() ? PQerrorMessage(pg_.conn_) : why));
  }
  // The server answers COMMIT of a transaction an error aborted with ROLLBACK, and no error.
  if (std::string_view(PQcmdStatus(res.get())) != "COMMIT") {
    return pg_.fail("the transaction was rolled back after an earlier error");
  }
  return Status::Ok();
}

std::string array_literal(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace dw::fleet
