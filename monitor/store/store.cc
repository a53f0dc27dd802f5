// Opening, runs, probes, endpoints and the batching that every write goes through. Samples are
// written in samples.cc and read in sample_reads.cc, events in events.cc, the schema in
// schema.cc.
#include "store/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "store/compress.h"
#include "store/keys.h"
#include "store/schema.h"
#include "store/run_row.h"
#include "store/statement.h"

namespace dw::store {
namespace {

bool is_memory(const std::string& path) { return path.empty() || path == ":memory:"; }

// The size of the file at path; nullopt when there is none.
std::optional<off_t> size_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_size;
}

// SQLite's answers when a reader cannot create or map the -wal and -shm files it needs.
bool cannot_make_wal_files(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PERM:
      return true;
    default:
      return false;
  }
}

// A read-only connection that has read the file once (the read that needs the -wal and -shm
// files); Store::open_readonly says which way and why.
Result<std::unique_ptr<Db>> open_for_reading(const std::string& path, uid_t owner,
                                             std::chrono::milliseconds busy_timeout) {
  auto open = [&](OpenMode mode) {
    auto db = Db::open(path, mode);
    if (db) sqlite3_busy_timeout((*db)->handle(), static_cast<int>(busy_timeout.count()));
    return db;
  };
  auto first_read = [](Db& db) {
    return sqlite3_exec(db.handle(), "SELECT count(*) FROM sqlite_schema", nullptr, nullptr,
                        nullptr);
  };
  auto wal = size_of(path + "-wal");
  bool commits_in_wal = wal && *wal > 0;  // the file alone may miss some
  bool pair_there = wal && size_of(path + "-shm");
  bool creates_as_owner = geteuid() == 0 || geteuid() == owner;
  if (commits_in_wal || pair_there || creates_as_owner) {
    auto db = open(OpenMode::read_only);
    if (!db) return db.error();
    int rc = first_read(**db);
    if (rc == SQLITE_OK) return db;
    if (commits_in_wal || !cannot_make_wal_files(rc)) return (*db)->error("reading the database");
  }
  auto db = open(OpenMode::immutable);
  if (!db) return db.error();
  if (first_read(**db) != SQLITE_OK) return (*db)->error("reading the database");
  return db;
}

std::string run_lock_path(const Db& db) { return db.path() + "-runlock"; }

// A macro so that the queries below stay string literals: cached statements are keyed by text.
#define DW_RUN_COLUMNS                                   \
  "SELECT id, run_at, started_at, finished_at, status, " \
  "(SELECT count(*) FROM sample_rows WHERE run_id = runs.id) FROM runs "

}  // namespace

Result<RunInfo> read_run(const Statement& st, bool counted) {
  RunInfo r;
  r.id = st.int64(0);
  auto run_at = st.time(1);
  if (!run_at) return run_at.error();
  auto started = st.time(2);
  if (!started) return started.error();
  auto finished = st.optional_time(3);
  if (!finished) return finished.error();
  r.run_at = *run_at;
  r.started_at = *started;
  r.finished_at = *finished;
  std::string_view status = st.text(4);
  r.status = status == "complete"     ? RunStatus::complete
             : status == "incomplete" ? RunStatus::incomplete
                                      : RunStatus::running;
  if (counted) r.samples = st.int64(5);
  return r;
}

std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::running:
      return "running";
    case RunStatus::complete:
      return "complete";
    case RunStatus::incomplete:
      return "incomplete";
  }
  return "running";
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, Options options) {
  auto db = Db::open(path);
  if (!db) return db.error();
  sqlite3_busy_timeout((*db)->handle(), static_cast<int>(options.busy_timeout.count()));
  // WAL: readers never block the writer; NORMAL: no fsync per commit (an SD card would wear
  // and crawl), still never corrupt after a power cut. The journal size limit keeps the -wal
  // file from staying large after a big import.
  const char* pragmas =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
      "PRAGMA journal_size_limit = 67108864;";
  // Checked before the pragmas: another program's file must be left exactly as it was.
  if (auto st = check_schema(**db); !st) return st.error();
  if (auto st = (*db)->exec(pragmas, "configuring the connection"); !st) return st.error();
  if (auto st = register_sql_functions(**db); !st) return st.error();
  if (auto st = migrate(**db); !st) return st.error();
  std::unique_ptr<Store> store(new Store(std::move(db).value(), options));
  if (auto n = store->recover_interrupted_runs(); !n) return n.error();
  return store;
}

namespace {

// The file at path, or why there is none: for the commands that must not create it.
Result<struct stat> existing_file(const std::string& path) {
  struct stat file{};
  if (::stat(path.c_str(), &file) != 0) {
    if (errno == ENOENT) {
      return Error("no such database (a command that writes, such as run or import, creates it)",
                   {path});
    }
    return Error(std::string("cannot open the database: ") + std::strerror(errno), {path});
  }
  return file;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open_existing(const std::string& path, Options options) {
  if (auto file = existing_file(path); !file) return file.error();
  return open(path, options);
}

Result<std::unique_ptr<Store>> Store::open_readonly(const std::string& path, Options options) {
  auto file = existing_file(path);
  if (!file) return file.error();
  auto db = open_for_reading(path, file->st_uid, options.busy_timeout);
  if (!db) return db.error();
  if (auto st = check_schema(**db); !st) return st.error();
  int64_t version = 0;
  {
    auto q = (*db)->prepare("PRAGMA user_version");
    if (!q) return q.error();
    auto row = (*q)->step();
    if (!row) return row.error();
    if (*row) version = (*q)->int64(0);
  }
  // Reading code knows one schema, and migrating is a write.
  if (version == 0) {
    return (*db)->fail("holds no driftwatch history yet (a command that writes, such as run or "
                       "import, sets it up)");
  }
  if (version < latest_schema_version()) {
    return (*db)->fail("database schema version " + std::to_string(version) +
                       " is older than this driftwatch's (" +
                       std::to_string(latest_schema_version()) +
                       "); a command that writes, such as run, import or reclassify, migrates "
                       "it first");
  }
  std::unique_ptr<Store> store(new Store(std::move(db).value(), options));
  store->read_only_ = true;
  return store;
}

Store::Store(std::unique_ptr<Db> db, Options options) : db_(std::move(db)), options_(options) {
  if (options_.batch_size < 1) options_.batch_size = 1;
}

Store::~Store() {
  (void)flush();
  release_run_lock();
  // Keeps the planner's statistics fresh over years of growth; cheap when nothing changed.
  if (!read_only_) (void)db_->exec("PRAGMA optimize", "optimizing");
}

// --- batching ------------------------------------------------------------------------------

Status Store::flush() {
  if (!batch_) return Status::Ok();
  auto st = batch_->commit();
  batch_.reset();  // after a failed COMMIT this rolls back: the batch is lost, not half-kept
  batch_writes_ = 0;
  return st;
}

void Store::release_memory() {
  forget_texts();
  forget_rows();
  codec_.reset();
  forget_dictionaries();
  db_->release_idle();
  sqlite3_db_release_memory(db_->handle());
}

Status Store::before_direct_write() { return in_transaction_ ? Status::Ok() : flush(); }

Status Store::open_batch() {
  if (in_transaction_ || batch_) return Status::Ok();
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  batch_ = std::move(tx).value();
  return Status::Ok();
}

Status Store::count_batched_write() {
  if (in_transaction_) return Status::Ok();
  if (++batch_writes_ >= options_.batch_size) return flush();
  return Status::Ok();
}

Result<std::unique_ptr<Transaction>> Store::transaction() {
  if (in_transaction_) return db_->fail("a transaction is already open on this store");
  if (auto st = flush(); !st) return st.error();
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  in_transaction_ = true;
  return std::unique_ptr<Transaction>(new Transaction(*this, std::move(tx).value()));
}

Transaction::Transaction(Store& store, std::unique_ptr<Tx> tx)
    : store_(store), tx_(std::move(tx)), runs_before_(store.my_open_runs_) {}

Transaction::~Transaction() {
  if (!tx_) return;
  tx_.reset();
  store_.in_transaction_ = false;
  store_.forget_dictionaries();  // those trained inside are gone, and their ids free again
  store_.my_open_runs_ = runs_before_;
  if (store_.my_open_runs_.empty()) store_.release_run_lock();
}

Status Transaction::commit() {
  if (!tx_) return store_.db_->fail("transaction already finished");
  auto st = tx_->commit();
  tx_.reset();
  store_.in_transaction_ = false;
  return st;
}

// --- runs ----------------------------------------------------------------------------------

// The lock file says "a run is alive": begin_run holds it shared, recovery needs it
// exclusively. flock() locks vanish with their process, so a crash or power cut frees it,
// and unlike a stored pid it cannot be fooled by pid reuse after a reboot.
Status Store::take_run_lock() {
  if (run_lock_fd_ >= 0 || is_memory(db_->path())) return Status::Ok();
  std::string path = run_lock_path(*db_);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Error(std::string("cannot open run lock: ") + std::strerror(errno), {path});
  // Blocks only while another process is recovering, which takes milliseconds.
  if (flock(fd, LOCK_SH) != 0) {
    int e = errno;
    ::close(fd);
    return Error(std::string("cannot lock: ") + std::strerror(e), {path});
  }
  run_lock_fd_ = fd;
  return Status::Ok();
}

void Store::release_run_lock() {
  if (run_lock_fd_ < 0) return;
  ::close(run_lock_fd_);
  run_lock_fd_ = -1;
}

Result<int64_t> Store::recover_interrupted_runs() {
  if (read_only_) return db_->fail("opened read-only: cannot mark interrupted runs");
  if (!my_open_runs_.empty()) return int64_t{0};  // one of ours is alive: cannot tell
  int fd = -1;
  if (!is_memory(db_->path())) {
    fd = ::open(run_lock_path(*db_).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    // Without the lock file (a read-only folder) nobody can be told apart: change nothing.
    if (fd < 0) return int64_t{0};
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return int64_t{0};  // another process is in the middle of a run
    }
  }
  struct CloseFd {
    int fd;
    ~CloseFd() {
      if (fd >= 0) ::close(fd);
    }
  } unlock{fd};

  // Look before writing, so that a read-only reader of a healthy file never needs a write lock.
  auto any = db_->cached("SELECT count(*) FROM runs WHERE status = 'running'");
  if (!any) return any.error();
  int64_t stale = 0;
  {
    ResetOnExit reset(**any);
    auto row = (*any)->step();
    if (!row) return row.error();
    stale = *row ? (*any)->int64(0) : 0;
  }
  if (stale == 0) return int64_t{0};
  if (auto st = before_direct_write(); !st) return st.error();
  auto up = db_->cached("UPDATE runs SET status = 'incomplete' WHERE status = 'running'");
  if (!up) return up.error();
  if (auto st = (*up)->run("marking interrupted runs incomplete"); !st) return st.error();
  return static_cast<int64_t>(sqlite3_changes(db_->handle()));
}

Result<int64_t> Store::begin_run(Time run_at, Time started_at) {
  if (read_only_) return db_->fail("opened read-only: cannot begin a run");
  if (auto st = before_direct_write(); !st) return st.error();
  // What open() does for runs of dead processes, for one of this process's own whose end
  // could not be written (finish_run): a daemon opens its store once.
  if (auto n = recover_interrupted_runs(); !n) return n.error();
  if (auto st = take_run_lock(); !st) return st.error();
  forget_texts();  // the last run's: the next detection reads this one's
  forget_rows();
  // Before the run exists: a write by another connection from then on moves it.
  auto version = data_version();
  if (!version) {
    if (my_open_runs_.empty()) release_run_lock();
    return version.error();
  }
  auto ins = db_->cached("INSERT INTO runs (run_at, started_at, status) VALUES (?, ?, 'running')");
  if (!ins) return ins.error();
  (*ins)->bind(1, format_time(run_at)).bind(2, format_time(started_at));
  if (auto st = (*ins)->run("recording a run"); !st) {
    if (my_open_runs_.empty()) release_run_lock();
    return st.error();
  }
  int64_t id = sqlite3_last_insert_rowid(db_->handle());
  my_open_runs_.insert(id);
  keep_rows(id, run_at, *version);
  return id;
}

Status Store::finish_run(int64_t run_id, Time finished_at, RunStatus status) {
  if (status == RunStatus::running)
    return db_->fail("finish_run: a finished run cannot be running");
  Status written = write_run_end(run_id, finished_at, status);
  // The run is over for this process whether its row could be written or not (a full disk):
  // holding its lock would keep every process, this one's next runs included, from marking
  // the row it left 'running' incomplete (recover_interrupted_runs), for as long as it lives.
  my_open_runs_.erase(run_id);
  if (my_open_runs_.empty()) release_run_lock();
  if (!written) return written;
  // Best effort (store.h): a failure here is the next finish_run's to retry, and a store that
  // really fails shows it in the writes that need it.
  (void)train_dictionaries(run_id, finished_at);
  (void)merge_text_keys_if_due();
  return Status::Ok();
}

Status Store::write_run_end(int64_t run_id, Time finished_at, RunStatus status) {
  if (auto st = before_direct_write(); !st) return st;
  auto up = db_->cached("UPDATE runs SET finished_at = ?, status = ? WHERE id = ?");
  if (!up) return up.error();
  (*up)->bind(1, format_time(finished_at)).bind(2, to_string(status)).bind(3, run_id);
  if (auto st = (*up)->run("finishing a run"); !st) return st;
  if (sqlite3_changes(db_->handle()) == 0) {
    return db_->fail("finish_run: no run " + std::to_string(run_id));
  }
  return Status::Ok();
}

Status Store::for_each_run(std::optional<Time> since, std::optional<Time> until,
                           const std::function<bool(const RunInfo&)>& callback) {
  // Its own statement: the callback may call back into the store.
  auto st = db_->prepare(DW_RUN_COLUMNS
                         "WHERE run_at >= coalesce(?1, '') AND (?2 IS NULL OR run_at < ?2) "
                         "ORDER BY run_at, id");
  if (!st) return st.error();
  Statement& q = **st;
  if (since) q.bind(1, format_time(*since));
  if (until) q.bind(2, format_time(*until));
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    auto run = read_run(q, true);
    if (!run) return run.error();
    if (!callback(*run)) return Status::Ok();
  }
}

Result<std::optional<RunInfo>> Store::last_run(std::optional<RunStatus> status) {
  auto st =
      db_->cached(status ? DW_RUN_COLUMNS "WHERE status = ? ORDER BY run_at DESC, id DESC LIMIT 1"
                         : DW_RUN_COLUMNS "ORDER BY run_at DESC, id DESC LIMIT 1");
  if (!st) return st.error();
  Statement& q = **st;
  ResetOnExit reset(q);
  if (status) q.bind(1, to_string(*status));
  auto row = q.step();
  if (!row) return row.error();
  if (!*row) return std::optional<RunInfo>();
  auto run = read_run(q, true);
  if (!run) return run.error();
  return std::optional<RunInfo>(*run);
}

// --- probes and endpoints ------------------------------------------------------------------

Status Store::upsert_probes(const std::vector<probes::Probe>& probes) {
  if (auto st = before_direct_write(); !st) return st;
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  auto up = db_->cached(
      "INSERT INTO probes (id, version, set_name, category, lang, prompt, control, expect) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, version) DO UPDATE SET "
      "set_name = excluded.set_name, category = excluded.category, lang = excluded.lang, "
      "control = excluded.control, expect = excluded.expect");
  if (!up) return up.error();
  for (const probes::Probe& p : probes) {
    if (p.version.empty()) return db_->fail("probe " + p.id + " has no version");
    (*up)->bind(1, p.id).bind(2, p.version).bind(3, p.set).bind(4, p.category).bind(5, p.lang);
    (*up)->bind(6, p.prompt).bind(7, int64_t{p.control ? 1 : 0});
    (*up)->bind(8, nlohmann::json(p.expect).dump());
    if (auto st = (*up)->run("storing probe " + p.id); !st) return st;
  }
  return (*tx)->commit();
}

Status Store::for_each_probe(const std::function<bool(const probes::Probe&)>& callback) {
  // Its own statement: the callback may call back into the store.
  auto st = db_->prepare(
      "SELECT id, version, set_name, category, lang, prompt, control, expect FROM probes "
      "ORDER BY id, version");
  if (!st) return st.error();
  Statement& q = **st;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    probes::Probe p;
    p.id = q.text(0);
    p.version = q.text(1);
    p.set = q.text(2);
    p.category = q.text(3);
    p.lang = q.text(4);
    p.prompt = q.text(5);
    p.control = q.int64(6) != 0;
    auto expect = nlohmann::json::parse(q.text(7), nullptr, /*allow_exceptions=*/false);
    if (!expect.is_array()) return db_->fail("probe " + p.id + ": stored expect is not an array");
    for (const auto& pattern : expect) {
      if (!pattern.is_string()) return db_->fail("probe " + p.id + ": stored expect is not text");
      p.expect.push_back(pattern.get<std::string>());
    }
    if (!callback(p)) return Status::Ok();
  }
}

Status Store::upsert_endpoint(std::string_view name, std::string_view kind,
                              std::string_view base_url, std::string_view model) {
  if (auto st = before_direct_write(); !st) return st;
  auto up = db_->cached(
      "INSERT INTO endpoints (name, kind, base_url, model) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, "
      "model = excluded.model");
  if (!up) return up.error();
  (*up)->bind(1, name).bind(2, kind).bind(3, base_url).bind(4, model);
  return (*up)->run("storing endpoint " + std::string(name));
}

}  // namespace dw::store
