// A throw-away PostgreSQL 15 cluster for one test: initdb and pg_ctl (Debian's postgresql-15)
// in a fresh folder under /tmp, listening only on a Unix socket in that folder (no TCP), the
// superuser `admin` trusted on the socket and every other role asked for its password
// (scram-sha-256). Stopped and removed, with everything in it, when the object goes.
//
//   dw::test::PgCluster pg;
//   pg.create_database("fleet");
//   pg.sql("fleet", "CREATE TABLE t (a int)");              // as admin
//   pg.create_login("pi_hk", "pw-hk", "driftwatch_monitor");
//   auto conn = dw::fleet::Pg::connect(pg.conninfo("fleet", "pi_hk"), "pw-hk");
//
// initdb refuses to run as root: as root, the folder belongs to nobody and initdb and pg_ctl
// run as nobody (setpriv, else runuser). Without PostgreSQL installed the test fails, never
// skips: CI must run it. Programs start as tests/child.h starts them (posix_spawn, argv
// vectors, a time limit on every wait).
#pragma once

#include <doctest/doctest.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "child.h"

namespace dw::test {

class PgCluster {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";
  static constexpr int kPort = 5432;  // only names the socket file: there is no TCP

  PgCluster() {
    REQUIRE_MESSAGE(fs::exists(fs::path(kBin) / "initdb"),
                    "PostgreSQL 15 is not installed (apt-get install postgresql-15): "
                    "the fleet tests need it");
    // /tmp, not $TMPDIR: the socket path must stay short (108 bytes) and nobody must reach it.
    std::string pattern = "/tmp/dw-pg-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    folder_.path = pattern;
    if (geteuid() == 0) {
      const passwd* nobody = getpwnam("nobody");
      const group* nogroup = getgrnam("nogroup");
      REQUIRE_MESSAGE((nobody && nogroup), "no user nobody or group nogroup to run PostgreSQL as");
      REQUIRE(chown(dir_.c_str(), nobody->pw_uid, nogroup->gr_gid) == 0);
    }
    REQUIRE_MESSAGE(tool({"initdb", "-D", data().string(), "-U", "admin", "--auth=trust",
                          "--encoding=UTF8", "--no-locale", "--no-sync"}) == 0,
                    slurp(dir_ / "tool.err"));
    // Appended settings win over initdb's; the files stay nobody's. fsync off: what a commit
    // wrote survives stop() (the process dies, the kernel keeps its writes), only a power cut
    // would lose it. Commits stay synchronous: an asynchronous one could be lost by stop().
    std::ofstream(data() / "postgresql.conf", std::ios::app)
        << "listen_addresses = ''\nunix_socket_directories = '" << dir_.string()
        << "'\nport = " << kPort << "\nfsync = off\nfull_page_writes = off\n"
        << "max_connections = 30\nshared_buffers = 16MB\n";
    std::ofstream(data() / "pg_hba.conf", std::ios::trunc)
        << "local all admin trust\nlocal all all scram-sha-256\n";
    start();
  }

  ~PgCluster() {
    if (running_) (void)tool({"pg_ctl", "stop", "-D", data().string(), "-m", "immediate", "-w"});
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // Starts (again) and waits until the server accepts connections; stop() ends it at once, as
  // a crash or a pulled cable would (clients see the connection drop).
  void start() {
    REQUIRE_MESSAGE(tool({"pg_ctl", "start", "-D", data().string(), "-l",
                          (dir_ / "server.log").string(), "-w", "-t", "60"}) == 0,
                    slurp(dir_ / "server.log"));
    running_ = true;
  }
  void stop() {
    REQUIRE(tool({"pg_ctl", "stop", "-D", data().string(), "-m", "immediate", "-w"}) == 0);
    running_ = false;
  }

  const fs::path& dir() const { return dir_; }

  // A libpq connection string for dbname as user, over the socket.
  std::string conninfo(const std::string& dbname = "postgres",
                       const std::string& user = "admin") const {
    return "host=" + dir_.string() + " port=" + std::to_string(kPort) + " dbname=" + dbname +
           " user=" + user;
  }

  // Runs statements (one or several, ';'-separated) as admin in dbname; the test fails with
  // the server's message when they do.
  void sql(const std::string& dbname, const std::string& statements) const {
    Conn c(conninfo(dbname));
    PGresult* r = PQexec(c.get(), statements.c_str());
    ExecStatusType s = PQresultStatus(r);
    std::string message = PQresultErrorMessage(r);
    PQclear(r);
    INFO(statements);
    REQUIRE_MESSAGE((s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK), message);
  }

  // The first column of the first row of query (as admin in dbname); "" for NULL or no row.
  std::string value(const std::string& dbname, const std::string& query) const {
    Conn c(conninfo(dbname));
    PGresult* r = PQexec(c.get(), query.c_str());
    std::string message = PQresultErrorMessage(r);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string v = ok && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    INFO(query);
    REQUIRE_MESSAGE(ok, message);
    return v;
  }

  void create_database(const std::string& name, const std::string& owner = "admin") const {
    Conn c(conninfo());
    sql("postgres", "CREATE DATABASE " + c.identifier(name) + " OWNER " + c.identifier(owner));
  }

  // A role that logs in with password; a member of member_of (a group role) unless "".
  void create_login(const std::string& name, const std::string& password,
                    const std::string& member_of = "") const {
    Conn c(conninfo());
    std::string statement =
        "CREATE ROLE " + c.identifier(name) + " LOGIN PASSWORD " + c.literal(password);
    if (!member_of.empty()) statement += " IN ROLE " + c.identifier(member_of);
    sql("postgres", statement);
  }

 private:
  // An admin connection, closed at the end of the scope.
  class Conn {
   public:
    explicit Conn(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
      REQUIRE_MESSAGE(PQstatus(c_) == CONNECTION_OK, PQerrorMessage(c_));
    }
    ~Conn() { PQfinish(c_); }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    PGconn* get() const { return c_; }
    std::string identifier(const std::string& s) const {
      return escaped(PQescapeIdentifier(c_, s.c_str(), s.size()));
    }
    std::string literal(const std::string& s) const {
      return escaped(PQescapeLiteral(c_, s.c_str(), s.size()));
    }

   private:
    static std::string escaped(char* s) {
      REQUIRE(s != nullptr);
      std::string out = s;
      PQfreemem(s);
      return out;
    }
    PGconn* c_;
  };

  fs::path data() const { return dir_ / "data"; }

  // A PostgreSQL program of kBin run to its end in the cluster's folder (as nobody when we
  // are root), its output in tool.out and tool.err there; the exit code (-1: over the limit).
  int tool(const std::vector<std::string>& args) const {
    std::vector<std::string> argv;
    if (geteuid() == 0) {
      fs::path setpriv = find_program("setpriv");
      if (!setpriv.empty()) {
        argv = {setpriv.string(), "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
      } else {
        fs::path runuser = find_program("runuser");
        argv = {runuser.empty() ? "/usr/sbin/runuser" : runuser.string(), "-u", "nobody", "--"};
      }
    }
    argv.push_back((fs::path(kBin) / args[0]).string());
    argv.insert(argv.end(), args.begin() + 1, args.end());
    Exec exec(std::move(argv), {});
    const std::string out = (dir_ / "tool.out").string(), err = (dir_ / "tool.err").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // Away from our working folder (the build tree), which nobody may be unable to enter.
    posix_spawn_file_actions_addchdir_np(&actions, "/");
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = exec.spawn(&actions, nullptr);
    posix_spawn_file_actions_destroy(&actions);
    if (pid <= 0) return -1;
    return wait_exit(pid, std::chrono::seconds(120));
  }

  // Removed with everything in it, also when the constructor fails half-way.
  struct Folder {
    fs::path path;
    ~Folder() {
      std::error_code ignored;
      if (!path.empty()) fs::remove_all(path, ignored);
    }
  };
  Folder folder_;
  const fs::path& dir_ = folder_.path;
  bool running_ = false;
};

}  // namespace dw::test
