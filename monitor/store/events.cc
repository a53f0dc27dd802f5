// Events: generic rows with JSON payloads; the drift module decides what they mean.
#include <variant>

#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

// Binds parameters 1..13 in the column order that insert and update share.
void bind_event(Statement& q, const Event& e) {
  q.bind(1, e.type).bind_or_null(2, e.endpoint).bind_or_null(3, e.probe_id);
  q.bind_or_null(4, e.probe_version).bind_or_null(5, e.scope);
  q.bind(6, to_string(e.status)).bind(7, format_time(e.detected_at));
  q.bind_or_null(8, e.detected_run_id);
  if (e.resolved_at) q.bind(9, format_time(*e.resolved_at));
  q.bind_or_null(10, e.resolved_run_id);
  q.bind(11, e.before_json.empty() ? "{}" : e.before_json);
  q.bind(12, e.after_json.empty() ? "{}" : e.after_json);
  q.bind(13, e.evidence_json.empty() ? "{}" : e.evidence_json);
}

Status read_event(const Statement& q, Event& e) {
  e.id = q.int64(0);
  e.type = q.text(1);
  e.endpoint = q.text(2);
  e.probe_id = q.text(3);
  e.probe_version = q.text(4);
  e.scope = q.text(5);
  e.status = q.text(6) == "resolved" ? EventStatus::resolved : EventStatus::open;
  auto detected = q.time(7);
  if (!detected) return detected.error();
  e.detected_at = *detected;
  e.detected_run_id = q.optional_int64(8);
  auto resolved = q.optional_time(9);
  if (!resolved) return resolved.error();
  e.resolved_at = *resolved;
  e.resolved_run_id = q.optional_int64(10);
  e.before_json = q.text(11);
  e.after_json = q.text(12);
  e.evidence_json = q.text(13);
  return Status::Ok();
}

}  // namespace

std::string_view to_string(EventStatus s) {
  return s == EventStatus::resolved ? "resolved" : "open";
}

Result<int64_t> Store::insert_event(const Event& e) {
  if (auto st = before_direct_write(); !st) return st.error();
  auto ins = db_->cached(
      "INSERT INTO events (type, endpoint, probe_id, probe_version, scope, status, detected_at, "
      "detected_run_id, resolved_at, resolved_run_id, before, after, evidence) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  bind_event(**ins, e);
  if (auto st = (*ins)->run("recording a " + e.type + " event"); !st) return st.error();
  return sqlite3_last_insert_rowid(db_->handle());
}

Status Store::update_event(const Event& e) {
  if (auto st = before_direct_write(); !st) return st;
  auto up = db_->cached(
      "UPDATE events SET type = ?, endpoint = ?, probe_id = ?, probe_version = ?, scope = ?, "
      "status = ?, detected_at = ?, detected_run_id = ?, resolved_at = ?, resolved_run_id = ?, "
      "before = ?, after = ?, evidence = ? WHERE id = ?");
  if (!up) return up.error();
  bind_event(**up, e);
  (*up)->bind(14, e.id);
  if (auto st = (*up)->run("updating event " + std::to_string(e.id)); !st) return st;
  if (sqlite3_changes(db_->handle()) == 0) {
    return db_->fail("update_event: no event " + std::to_string(e.id));
  }
  return Status::Ok();
}

Status Store::for_each_event(const EventFilter& f,
                             const std::function<bool(const Event&)>& callback) {
  std::string sql =
      "SELECT id, type, endpoint, probe_id, probe_version, scope, status, detected_at, "
      "detected_run_id, resolved_at, resolved_run_id, before, after, evidence FROM events "
      "WHERE 1";
  // Only fixed SQL fragments are appended; every value is bound below, in the same order.
  std::vector<std::string> values;
  if (f.type) sql += " AND type = ?", values.push_back(*f.type);
  if (f.endpoint) sql += " AND endpoint = ?", values.push_back(*f.endpoint);
  if (f.probe_id) sql += " AND probe_id = ?", values.push_back(*f.probe_id);
  if (f.until) sql += " AND detected_at < ?", values.push_back(format_time(*f.until));
  if (f.since) {
    sql += " AND (resolved_at IS NULL OR resolved_at >= ?)";
    values.push_back(format_time(*f.since));
  }
  if (f.only_open) sql += " AND status = 'open'";
  // With `since` alone, the few events of a window come from events_by_resolution and are
  // sorted; `+` keeps SQLite from walking every event ever stored in events_by_time's order
  // instead. With `until`, events_by_time bounds the walk already.
  const bool by_resolution = f.since && !f.until;
  if (f.ordered) sql += by_resolution ? " ORDER BY +detected_at, id" : " ORDER BY detected_at, id";

  auto st = db_->prepare(sql);  // per call: the callback may call back into the store
  if (!st) return st.error();
  Statement& q = **st;
  for (size_t i = 0; i < values.size(); ++i) q.bind(static_cast<int>(i) + 1, values[i]);
  Event e;
  for (;;) {
    auto more = q.step();
    if (!more) return more.error();
    if (!*more) return Status::Ok();
    if (auto rs = read_event(q, e); !rs) return rs;
    if (!callback(e)) return Status::Ok();
  }
}

Result<int64_t> Store::delete_all_events(std::optional<Time> detected_since) {
  if (auto st = before_direct_write(); !st) return st.error();
  auto del = db_->cached("DELETE FROM events WHERE ?1 IS NULL OR detected_at >= ?1");
  if (!del) return del.error();
  if (detected_since) {
    (*del)->bind(1, format_time(*detected_since));
  } else {
    (*del)->bind_null(1);
  }
  if (auto st = (*del)->run("deleting events"); !st) return st.error();
  return static_cast<int64_t>(sqlite3_changes(db_->handle()));
}

}  // namespace dw::store
