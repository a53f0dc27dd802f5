// The commands that only read history (events, report, diff) open the database read-only
// (Store::open_readonly): they work on a file chmod 0444 in a folder chmod 0555, leave it byte
// for byte as it was, create nothing when the path is wrong, and see what a running writer
// has committed. Root ignores chmod, so as root each command also runs as `nobody`.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <set>

#include "cli_history.h"
#include "common/time.h"
#include "store/store.h"

namespace cli_readonly_test {

using namespace dw::test;

namespace {

// Who runs a command: this process's user, or (as root) another one.
struct User {
  std::string name;
  std::optional<std::pair<uid_t, gid_t>> ids;  // absent: ourselves
};

// driftwatch -c CONFIG ARGS... as user, its streams in files of scratch.
Outcome driftwatch_as(const User& user, const Scratch& scratch, const fs::path& config,
                      const std::vector<std::string>& args) {
  if (!user.ids) return driftwatch(scratch, config, args);
  // setpriv (util-linux) changes the user, then becomes driftwatch: no fork() in this process
  // (see Exec in child.h).
  auto [uid, gid] = *user.ids;
  std::vector<std::string> argv{"/usr/bin/setpriv", "--reuid=" + std::to_string(uid),
                                "--regid=" + std::to_string(gid), "--clear-groups", "--"};
  std::vector<std::string> own = through_emulator({kDriftwatch.string(), "-c", config.string()});
  argv.insert(argv.end(), own.begin(), own.end());
  argv.insert(argv.end(), args.begin(), args.end());
  // The streams are opened as root, before the user changes.
  fs::path out = scratch.path("as-user.out"), err = scratch.path("as-user.err");
  pid_t pid = spawn(argv, {}, out, err);
  Outcome result;
  result.code = wait_exit(pid);
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

// The users the read-only checks run as: ourselves; as root also `nobody`, before and after
// root's own run (which may leave SQLite's -wal and -shm beside the file: root may create
// them anywhere), when `nobody` can run the binary at all.
std::vector<User> readers(const Scratch& scratch, const fs::path& config) {
  if (geteuid() != 0) return {User{"self", std::nullopt}};
  const passwd* pw = getpwnam("nobody");
  if (!pw) {
    MESSAGE("no user nobody: read-only checks run as root only");
    return {User{"root", std::nullopt}};
  }
  User nobody{"nobody", std::make_pair(pw->pw_uid, pw->pw_gid)};
  if (int code = driftwatch_as(nobody, scratch, config, {"--version"}).code;
      code == 126 || code == 127) {
    MESSAGE("nobody cannot run " << kDriftwatch << ": read-only checks run as root only");
    return {User{"root", std::nullopt}};
  }
  return {nobody, User{"root", std::nullopt}, User{"nobody after root", nobody.ids}};
}

// A file as a reader must leave it.
struct FileState {
  std::string bytes;
  fs::file_time_type mtime;
  bool operator==(const FileState&) const = default;
};

FileState state_of(const fs::path& p) { return {slurp(p), fs::last_write_time(p)}; }

// A copy of the shared history's database alone in a folder, a config over it, and a folder
// anyone may write reports into. lock() makes file and folder read-only; the folder is made
// writable again at the end so that the scratch folder can be removed.
class Copy {
 public:
  Copy() {
    const fs::path original = history().database();
    // The runs that wrote it have ended: no -wal holds anything the file does not.
    REQUIRE_FALSE(fs::exists(original.string() + "-wal"));
    fs::create_directory(dir_);
    fs::copy_file(original, db_);
    std::string text = slurp(history().write_config(scratch_, reports_, {"md"}));
    std::ostringstream from, to;
    from << original;
    to << db_;
    size_t at = text.find(from.str());
    REQUIRE(at != std::string::npos);
    config_ = scratch_.write("driftwatch.toml", text.replace(at, from.str().size(), to.str()));
    fs::create_directory(reports_);
    fs::permissions(reports_, fs::perms::all);
    fs::permissions(scratch_.root(), fs::perms::owner_all | fs::perms::group_read |
                                         fs::perms::group_exec | fs::perms::others_read |
                                         fs::perms::others_exec);
  }
  ~Copy() {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
  }
  Copy(const Copy&) = delete;
  Copy& operator=(const Copy&) = delete;

  void lock() const {
    fs::permissions(db_, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read |
                              fs::perms::others_exec);
  }

  const Scratch& scratch() const { return scratch_; }
  const fs::path& dir() const { return dir_; }
  const fs::path& db() const { return db_; }
  const fs::path& config() const { return config_; }
  const fs::path& reports() const { return reports_; }

 private:
  Scratch scratch_;
  fs::path dir_ = scratch_.path("db");
  fs::path db_ = dir_ / "dw.db";
  fs::path reports_ = scratch_.path("reports");
  fs::path config_;
};

// Stores an event whose evidence names marker; returns nothing, REQUIREs success.
void add_event(dw::store::Store& store, const std::string& marker) {
  dw::store::Event e;
  e.type = "model_change";
  e.detected_at = *dw::parse_time("2030-01-01T00:00:00Z");
  e.evidence_json = R"({"new_models":[")" + marker + R"("],"new_fingerprints":[]})";
  REQUIRE(store.insert_event(e).ok());
}


}  // namespace

TEST_CASE("events, report and diff read a file chmod 0444 in a folder chmod 0555, changing "
          "nothing") {
  Copy c;
  {
    // One event for certain. Closing the writer checkpoints and removes its -wal and -shm;
    // its run lock goes too, so that the folder holds the database alone.
    auto writer = dw::store::Store::open(c.db().string());
    REQUIRE(writer.ok());
    add_event(**writer, "read-only-marker");
  }
  fs::remove(c.db().string() + "-runlock");
  const std::string stored_events = scalar(c.db(), "SELECT count(*) FROM events");
  REQUIRE(file_names(c.dir()) == std::vector<std::string>{"dw.db"});
  c.lock();
  const FileState before = state_of(c.db());
  std::map<std::string, std::string> first_out;  // command -> stdout of the first reader
  for (const User& user : readers(c.scratch(), c.config())) {
    const fs::path out = c.reports() / user.name;
    const std::vector<std::vector<std::string>> commands = {
        {"events", "--json"},
        {"report", "--at", history_date(4, "T07:00:00Z"), "--format", "md,json", "--out",
         out.string()},
        {"diff", "square-1989", "--endpoint", "gpt"},
    };
    for (const auto& args : commands) {
      CAPTURE(user.name);
      CAPTURE(args[0]);
      auto listed = file_names(c.dir());
      Outcome o = driftwatch_as(user, c.scratch(), c.config(), args);
      INFO(o.out << o.err);
      REQUIRE(o.code == 0);
      CHECK(o.err.empty());
      CHECK(state_of(c.db()) == before);
      // Only SQLite's -wal and -shm may appear, and only when root (whom chmod does not stop)
      // read; never the run lock.
      auto now = file_names(c.dir());
      if (user.name == "root") {
        for (const auto& name : now)
          CHECK(std::set<std::string>{"dw.db", "dw.db-wal", "dw.db-shm"}.contains(name));
      } else {
        CHECK(now == listed);
      }
      if (args[0] == "report") {
        const std::string stem = "driftwatch-" + history_date(4);
        CHECK(report_file_names(out) == std::vector<std::string>{stem + ".json", stem + ".md"});
        continue;
      }
      if (args[0] == "events") {
        CHECK(std::to_string(lines_of(o.out).size()) == stored_events);
        CHECK(contains(o.out, "read-only-marker"));
      }
      if (args[0] == "diff") CHECK(contains(o.out, "square-1989 on gpt"));
      // The same history, whoever reads it and however SQLite had to open it.
      auto [it, first] = first_out.emplace(args[0], o.out);
      if (!first) CHECK(o.out == it->second);
    }
  }
}

TEST_CASE("events, report and diff on a mistyped database path: one line naming it, exit 2, "
          "nothing created") {
  Scratch scratch;
  const fs::path missing = scratch.path("dw.bd");
  const fs::path out = scratch.path("out");
  std::string text = slurp(history().write_config(scratch, out, {"md"}));
  std::ostringstream from, to;
  from << history().database();
  to << missing;
  size_t at = text.find(from.str());
  REQUIRE(at != std::string::npos);
  fs::path config = scratch.write("driftwatch.toml", text.replace(at, from.str().size(), to.str()));
  // driftwatch.out and .err are the harness's; nothing else may appear.
  auto listing = [&] {
    auto names = file_names(scratch.root());
    std::erase_if(names, [](const std::string& n) {
      return n == "driftwatch.out" || n == "driftwatch.err";
    });
    return names;
  };
  const std::vector<std::string> listed = listing();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"events"},
           {"events", "--json"},
           {"report", "--at", history_date(4, "T07:00:00Z")},
           {"diff", "square-1989"}}) {
    CAPTURE(args[0]);
    Outcome o = driftwatch(scratch, config, args);
    INFO(o.out << o.err);
    CHECK(o.code == 2);
    CHECK(o.out.empty());
    CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
    CHECK(o.err.starts_with(missing.string() + ": "));
    CHECK(contains(o.err, "no such database"));
    CHECK(listing() == listed);
  }
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("a read-only store: reads, refuses every write, and leaves the file as it was") {
  Copy c;
  const std::string stored_events = scalar(c.db(), "SELECT count(*) FROM events");
  c.lock();
  const FileState before = state_of(c.db());
  {
    auto store = dw::store::Store::open_readonly(c.db().string());
    REQUIRE_MESSAGE(store.ok(), store.error().to_string());
    int64_t n = 0;
    auto counted = (*store)->for_each_event({}, [&](const dw::store::Event&) {
      ++n;
      return true;
    });
    REQUIRE(counted.ok());
    CHECK(std::to_string(n) == stored_events);

    // SQLite itself refuses: the connection is SQLITE_OPEN_READONLY (or immutable).
    auto wrote = (*store)->upsert_endpoint("intruder", "openai", "http://x/v1", "m");
    REQUIRE_FALSE(wrote.ok());
    CHECK(contains(wrote.error().to_string(), "readonly"));
    dw::store::Event e;
    e.type = "model_change";
    e.detected_at = *dw::parse_time("2030-01-01T00:00:00Z");
    CHECK_FALSE((*store)->insert_event(e).ok());
    CHECK_FALSE((*store)->delete_all_events().ok());
    auto now = *dw::parse_time("2030-01-01T00:00:00Z");
    CHECK_FALSE((*store)->begin_run(now, now).ok());
    CHECK_FALSE((*store)->recover_interrupted_runs().ok());
    CHECK(state_of(c.db()) == before);
  }
  CHECK(state_of(c.db()) == before);
  CHECK_FALSE(fs::exists(c.db().string() + "-runlock"));
}

TEST_CASE("open_readonly refuses what it cannot read as it is, and creates and migrates "
          "nothing") {
  Scratch scratch;
  // A missing file: an error naming it, and no file.
  fs::path missing = scratch.path("missing.db");
  auto none = dw::store::Store::open_readonly(missing.string());
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().to_string().starts_with(missing.string() + ": "));
  CHECK(file_names(scratch.root()).empty());
  struct Case {
    const char* name;
    int user_version;  // set on a current database; -1: an empty file
    const char* says;
  };
  for (const Case& k : {Case{"an older schema", 2, "older"}, Case{"a newer schema", 99, "newer"},
                        Case{"an empty file", -1, "no driftwatch history"}}) {
    CAPTURE(k.name);
    fs::path db = scratch.path(std::string(k.name) + ".db");
    if (k.user_version < 0) {
      scratch.write(db.filename().string(), "");
    } else {
      REQUIRE(dw::store::Store::open(db.string()).ok());
      query(db, "PRAGMA user_version = " + std::to_string(k.user_version));
    }
    const FileState before = state_of(db);
    auto store = dw::store::Store::open_readonly(db.string());
    REQUIRE_FALSE(store.ok());
    INFO(store.error().to_string());
    CHECK(store.error().to_string().starts_with(db.string() + ": "));
    CHECK(contains(store.error().to_string(), k.says));
    CHECK(state_of(db) == before);
  }
}

TEST_CASE("events sees what a running writer has committed to its -wal") {
  Copy c;  // not locked: the writer below needs to write
  auto writer = dw::store::Store::open(c.db().string());
  REQUIRE(writer.ok());
  add_event(**writer, "only-in-the-wal");
  // Not checkpointed while the writer is open: the event is in the -wal alone.
  REQUIRE(fs::file_size(c.db().string() + "-wal") > 0);
  for (const User& user : readers(c.scratch(), c.config())) {
    CAPTURE(user.name);
    Outcome o = driftwatch_as(user, c.scratch(), c.config(), {"events", "--json"});
    INFO(o.err);
    REQUIRE(o.code == 0);
    CHECK(contains(o.out, "only-in-the-wal"));
  }
}

}  // namespace cli_readonly_test
