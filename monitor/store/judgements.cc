// The judge's opinions: judgements cached per response text, and which applies to each sample.
#include "store/keys.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {

Status Store::for_each_unjudged(const UnjudgedFilter& f,
                                const std::function<bool(const Unjudged&)>& callback) {
  // Walks samples by id from the top (the rowid: no index, no sort), down to the first sample
  // of the runs since `since` (found through runs_by_time and samples_by_run), so that a long
  // history is not read at every run. `mine` is a judgement by this judge already linked; `c`
  // one stored for the same text by another sample.
  std::optional<int64_t> lowest;
  if (f.since) {
    auto first = db_->cached(
        "SELECT min((SELECT min(s.id) FROM sample_rows s WHERE s.run_id = r.id)) FROM runs r "
        "WHERE r.run_at >= ?");
    if (!first) return first.error();
    ResetOnExit guard(**first);
    (*first)->bind(1, format_time(*f.since));
    auto row = (*first)->step();
    if (!row) return row.error();
    if (!*row || (*first)->is_null(0)) return Status::Ok();  // no sample since then
    lowest = (*first)->int64(0);
  }
  // Verdicts 0, 1, 2: answered, refused, deflected (keys.h: verdict_number).
  std::string sql =
      "SELECT s.id, e.name, k.probe_id, t.hash, p.prompt, s.verdict, c.id, c.verdict, s.run_id,"
      " s.response, t.dict, d.data, typeof(d.data) = 'blob'"
      " FROM sample_rows s"
      " JOIN runs r ON r.id = s.run_id"
      " JOIN endpoint_keys e ON e.id = s.endpoint"
      " JOIN probe_keys k ON k.id = s.probe"
      " JOIN probes p ON p.id = k.probe_id AND p.version = k.probe_version"
      " JOIN texts t ON t.id = s.response"
      " JOIN text_data d ON d.id = s.response"
      " LEFT JOIN judgements mine ON mine.id = s.judgement_id"
      "   AND mine.model = ?1 AND mine.prompt_version = ?2"
      " LEFT JOIN judgements c ON c.text = s.response"
      "   AND c.model = ?1 AND c.prompt_version = ?2"
      " WHERE mine.id IS NULL AND s.verdict IN (0, 1, 2)"
      "   AND s.response IS NOT NULL AND s.id < ?3";
  if (f.uncertain_only) sql += " AND s.uncertain = 1";
  if (f.since) sql += " AND r.run_at >= ?5 AND s.id >= ?6";
  sql += " ORDER BY s.id DESC LIMIT ?4";
  auto st = db_->prepare(sql);
  if (!st) return st.error();
  Statement& q = **st;
  q.bind(1, f.model).bind(2, f.prompt_version);
  q.bind(3, f.below_id.value_or(INT64_MAX)).bind(4, int64_t{f.limit});
  if (f.since) q.bind(5, format_time(*f.since)).bind(6, *lowest);
  static constexpr const char* kJudgeable[] = {"answered", "refused", "deflected"};
  Unjudged row;
  for (;;) {
    auto more = q.step();
    if (!more) return more.error();
    if (!*more) return Status::Ok();
    row.sample_id = q.int64(0);
    row.endpoint = q.text(1);
    row.probe_id = q.text(2);
    row.response_hash = to_hex(q.blob(3));
    row.prompt = q.text(4);
    row.rules_verdict = kJudgeable[q.int64(5)];
    row.judgement_id = q.optional_int64(6);
    row.judgement_verdict = q.text(7);
    row.run_id = q.int64(8);
    auto text = read_text(q.int64(9), q.optional_int64(10), q.blob(11), q.int64(12) != 0);
    if (!text) return text.error();
    row.text = std::move(text).value();
    if (!callback(row)) return Status::Ok();
  }
}

Result<int64_t> Store::add_judgement(std::string_view response_hash, const Judgement& j) {
  if (auto st = open_batch(); !st) return st.error();
  const std::string what = "storing a judgement of response " + std::string(response_hash);
  auto text = find_text_hex(response_hash);
  if (!text) return text.error();
  if (!*text) return db_->fail(what + ": no text has this hash");
  auto ins = db_->cached(
      "INSERT INTO judgements (text, model, prompt_version, verdict, reason, judged_at)"
      " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
  if (!ins) return ins.error();
  (*ins)->bind(1, **text).bind(2, j.model).bind(3, j.prompt_version);
  (*ins)->bind_or_null(4, j.verdict).bind(5, j.reason).bind(6, format_time(j.judged_at));
  if (auto st = (*ins)->run(what); !st) return st.error();
  auto find = db_->cached(
      "SELECT id FROM judgements WHERE text = ? AND model = ? AND prompt_version = ?");
  if (!find) return find.error();
  ResetOnExit guard(**find);
  (*find)->bind(1, **text).bind(2, j.model).bind(3, j.prompt_version);
  auto row = (*find)->step();
  if (!row) return row.error();
  if (!*row) return db_->fail("add_judgement: the judgement just stored is not there");
  int64_t id = (*find)->int64(0);
  if (auto st = count_batched_write(); !st) return st.error();
  return id;
}

Status Store::link_judgement(int64_t sample_id, int64_t judgement_id) {
  forget_rows();  // a judgement's verdict becomes the sample's
  if (auto st = open_batch(); !st) return st;
  // Checked here, not by a foreign key: removing old judgements would then search every sample.
  auto up = db_->cached(
      "UPDATE sample_rows SET judgement_id = ?1 WHERE id = ?2 "
      "AND EXISTS (SELECT 1 FROM judgements WHERE id = ?1)");
  if (!up) return up.error();
  (*up)->bind(1, judgement_id).bind(2, sample_id);
  if (auto st = (*up)->run("linking sample " + std::to_string(sample_id) + " to its judgement");
      !st) {
    return st;
  }
  if (sqlite3_changes(db_->handle()) == 0) {
    return db_->fail("link_judgement: no sample " + std::to_string(sample_id) +
                     " or no judgement " + std::to_string(judgement_id));
  }
  return count_batched_write();
}

}  // namespace dw::store
