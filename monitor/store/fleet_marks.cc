// Fleet bookkeeping (store.h, "fleet"): each run's UUID and whether it reached the central
// database, in the table run_pushes (schema 8).
#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "store/run_row.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

// A random (version 4) UUID from the kernel's generator: ids made on many machines must not
// collide, so no seeded or time-based generator will do.
Result<std::string> random_uuid() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(std::string("cannot make a run UUID: getrandom: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < sizeof b; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

// The runs for_each_unpushed yields and push_state counts: one condition for both. A complete
// run waits for its detection (and the judge before it), which writes its summary (run_cells)
// in the transaction of its events: pushed earlier, it would go without them, for good. A run
// older than one so summarised is decided too, summary or not (a database from before schema
// 5; a summary deleted). Detection never decides an incomplete run.
#define DW_UNPUSHED                                                                         \
  "FROM runs r LEFT JOIN run_pushes p ON p.run_id = r.id "                                  \
  "WHERE p.pushed_at IS NULL AND (r.status = 'incomplete' OR (r.status = 'complete' AND ("  \
  "EXISTS (SELECT 1 FROM run_cells c WHERE c.run_id = r.id) OR r.run_at < (SELECT s.run_at " \
  "FROM runs s WHERE EXISTS (SELECT 1 FROM run_cells c WHERE c.run_id = s.id) "             \
  "ORDER BY s.run_at DESC LIMIT 1)))) "

}  // namespace

Result<std::string> Store::run_uuid(int64_t run_id) {
  {
    auto q = db_->cached(
        "SELECT (SELECT uuid FROM run_pushes WHERE run_id = ?1), "
        "EXISTS (SELECT 1 FROM runs WHERE id = ?1)");
    if (!q) return q.error();
    ResetOnExit reset(**q);
    (*q)->bind(1, run_id);
    auto row = (*q)->step();
    if (!row) return row.error();
    if (!*row || (*q)->int64(1) == 0) return db_->fail("no run " + std::to_string(run_id));
    if (!(*q)->is_null(0)) return std::string((*q)->text(0));
  }
  if (read_only_) {
    return db_->fail("opened read-only: cannot give run " + std::to_string(run_id) + " a UUID");
  }
  auto uuid = random_uuid();
  if (!uuid) return uuid.error();
  if (auto st = before_direct_write(); !st) return st.error();
  auto ins = db_->cached("INSERT INTO run_pushes (run_id, uuid) VALUES (?, ?)");
  if (!ins) return ins.error();
  (*ins)->bind(1, run_id).bind(2, *uuid);
  if (auto st = (*ins)->run("giving run " + std::to_string(run_id) + " a UUID"); !st) {
    return st.error();
  }
  return uuid;
}

Status Store::mark_pushed(int64_t run_id, Time at) {
  if (auto uuid = run_uuid(run_id); !uuid) return uuid.error();
  if (auto st = before_direct_write(); !st) return st;
  auto up = db_->cached("UPDATE run_pushes SET pushed_at = ? WHERE run_id = ?");
  if (!up) return up.error();
  (*up)->bind(1, static_cast<int64_t>(at.time_since_epoch().count())).bind(2, run_id);
  return (*up)->run("marking run " + std::to_string(run_id) + " pushed");
}

Status Store::for_each_unpushed(const std::function<bool(const RunInfo&)>& callback) {
  // Its own statement, as every iteration that runs caller code has.
  auto st = db_->prepare("SELECT r.id, r.run_at, r.started_at, r.finished_at, r.status "
                         DW_UNPUSHED "ORDER BY r.run_at, r.id");
  if (!st) return st.error();
  Statement& q = **st;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return Status::Ok();
    auto run = read_run(q, false);
    if (!run) return run.error();
    if (!callback(*run)) return Status::Ok();
  }
}

Result<std::optional<RunInfo>> Store::find_run(int64_t run_id) {
  auto q = db_->cached("SELECT id, run_at, started_at, finished_at, status FROM runs WHERE id = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind(1, run_id);
  auto row = (*q)->step();
  if (!row) return row.error();
  if (!*row) return std::optional<RunInfo>();
  auto run = read_run(**q, false);
  if (!run) return run.error();
  return std::optional<RunInfo>(*run);
}

Result<PushState> Store::push_state() {
  auto q = db_->cached("SELECT (SELECT count(*) " DW_UNPUSHED
                       "), (SELECT max(pushed_at) FROM run_pushes)");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  auto row = (*q)->step();
  if (!row) return row.error();
  PushState s;
  if (!*row) return s;
  s.backlog = (*q)->int64(0);
  if (auto last = (*q)->optional_int64(1)) s.last_pushed = Time(std::chrono::seconds(*last));
  return s;
}

}  // namespace dw::store
