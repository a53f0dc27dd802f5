// Samples: batched writes and classifications. A sample row holds integers only: its endpoint,
// probe version, texts and repeated strings are named by id (keys.cc, texts.cc); the `samples`
// view spells them out for SQL users. Reading them back: sample_reads.cc.
#include <array>
#include <nlohmann/json.hpp>

#include "store/keys.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

bool valid_json(std::string_view text) { return nlohmann::json::accept(text); }

}  // namespace

// The stored columns of a classification: checked, its strings interned (inside the caller's
// savepoint, so they go with the row or not at all).
struct Store::ClassificationIds {
  int64_t verdict = 0, signals = 0;
  int64_t narrative = 0;
  std::optional<double> expect_coverage;
  std::optional<int64_t> version, uncertain, why;

  // Binds the seven classification columns from parameter `first` on: verdict, signals,
  // narrative, expect_coverage, classifier_version, uncertain, explanation.
  void bind(Statement& q, int first) const {
    q.bind(first, verdict).bind(first + 1, signals).bind(first + 2, narrative);
    q.bind_or_null(first + 3, expect_coverage).bind_or_null(first + 4, version);
    q.bind_or_null(first + 5, uncertain).bind_or_null(first + 6, why);
  }
};

namespace {

// What is wrong with a classification, or "" when nothing is. Checked before anything is
// written: the strings table holds every kind of value, so no column check can.
std::string classification_problem(const Classification& c, const Explanation* explanation) {
  if (!verdict_number(c.verdict)) return "unknown verdict '" + c.verdict + "'";
  if ((!c.signals_json.empty() && !valid_json(c.signals_json)) ||
      (explanation && !explanation->json.empty() && !valid_json(explanation->json))) {
    return "signals and explanation must be valid JSON";
  }
  return "";
}

}  // namespace

Result<Store::ClassificationIds> Store::classification_ids(const Classification& c,
                                                           const Explanation* explanation) {
  ClassificationIds ids;
  ids.verdict = *verdict_number(c.verdict);  // checked by classification_problem
  const std::string& signals = c.signals_json.empty() ? std::string("[]") : c.signals_json;
  auto signals_id = intern(signals);
  if (!signals_id) return signals_id.error();
  ids.signals = *signals_id;
  ids.narrative = c.narrative ? 1 : 0;
  ids.expect_coverage = c.expect_coverage;
  auto version = intern_or_null(c.classifier_version);
  if (!version) return version.error();
  ids.version = *version;
  if (explanation) ids.uncertain = explanation->uncertain ? 1 : 0;
  if (explanation && !explanation->json.empty()) {  // nearly unique: not worth remembering
    auto why = intern_uncached(explanation->json);
    if (!why) return why.error();
    ids.why = *why;
  }
  return ids;
}

Result<int64_t> Store::add_sample(const SampleKey& key, const providers::Sample& s,
                                  const Classification* c, const Explanation* explanation) {
  if (c) {
    if (std::string problem = classification_problem(*c, explanation); !problem.empty()) {
      return db_->fail("storing a sample of " + key.probe_id + " from " + key.endpoint + ": " +
                       problem);
    }
  }
  if (auto st = open_batch(); !st) return st.error();
  // A savepoint inside the batch: a sample whose insert fails leaves not even its texts.
  auto whole = Tx::begin(*db_);
  if (!whole) return whole.error();
  const std::string what = "storing a sample of " + key.probe_id + " from " + key.endpoint;
  auto endpoint = endpoint_key(key.endpoint);
  if (!endpoint) return db_->fail(what + ": " + endpoint.error().message());
  auto probe = sample_probe_key(key.probe_id, key.probe_version);
  if (!probe) return db_->fail(what + ": " + probe.error().message());
  std::optional<int64_t> response, body;
  std::optional<TextStored> answer;
  if (!s.text.empty()) {
    auto stored = store_text(s.text, *endpoint, *probe, /*answer=*/true);
    if (!stored) return stored.error();
    answer = *stored;
    response = stored->id;
  }
  if (!s.error_body.empty()) {
    auto stored = store_text(s.error_body, *endpoint, std::nullopt, /*answer=*/false);
    if (!stored) return stored.error();
    body = stored->id;
  }
  std::array<std::optional<int64_t>, 6> strings;
  const std::array<std::string_view, 6> values = {key.requested_model, s.model,
                                                  s.system_fingerprint, s.finish_reason,
                                                  s.block_reason, s.error};
  for (size_t i = 0; i < values.size(); ++i) {
    auto id = intern_or_null(values[i]);
    if (!id) return id.error();
    strings[i] = *id;
  }
  std::optional<ClassificationIds> classified;
  if (c) {
    auto ids = classification_ids(*c, explanation);
    if (!ids) return ids.error();
    classified = *ids;
  }
  // Classified in the same row: an UPDATE after the INSERT rewrote the row and fired
  // run_cells_stale for every sample a run stores.
  auto ins = db_->cached(
      "INSERT INTO sample_rows (run_id, endpoint, probe, seq, received_at, requested_model, "
      "model, system_fingerprint, http_status, finish_reason, block_reason, latency_ms, "
      "prompt_tokens, completion_tokens, attempts, error, response, error_body, verdict, "
      "signals, narrative, expect_coverage, classifier_version, uncertain, explanation) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  Statement& q = **ins;
  q.bind(1, key.run_id).bind(2, *endpoint).bind(3, *probe).bind(4, int64_t{key.seq});
  const std::optional<int64_t> received =
      key.received_at ? std::optional<int64_t>(key.received_at->time_since_epoch().count())
                      : std::nullopt;
  q.bind_or_null(5, received);
  q.bind_or_null(6, strings[0]).bind_or_null(7, strings[1]).bind_or_null(8, strings[2]);
  q.bind_or_null(9, s.http_status ? std::optional<int64_t>(s.http_status) : std::nullopt);
  q.bind_or_null(10, strings[3]).bind_or_null(11, strings[4]);
  q.bind(12, static_cast<int64_t>(s.latency.count()));
  q.bind_or_null(13, s.prompt_tokens ? std::optional<int64_t>(*s.prompt_tokens) : std::nullopt);
  q.bind_or_null(14,
                 s.completion_tokens ? std::optional<int64_t>(*s.completion_tokens) : std::nullopt);
  q.bind(15, int64_t{s.attempts}).bind_or_null(16, strings[5]);
  q.bind_or_null(17, response).bind_or_null(18, body);
  if (classified) classified->bind(q, 19);  // else the seven stay NULL: not yet classified
  // An unknown run: "FOREIGN KEY constraint failed"; the same key twice: "UNIQUE constraint".
  if (auto st = q.run(what); !st) return st.error();
  int64_t id = sqlite3_last_insert_rowid(db_->handle());
  if (auto st = (*whole)->commit(); !st) return st.error();
  if (recent_rows_ && recent_rows_->run == key.run_id) {
    remember_row({.id = id, .endpoint = *endpoint, .probe = *probe, .seq = key.seq,
                  .received_at = received, .model = strings[1], .fingerprint = strings[2],
                  .http_status = s.http_status,
                  .latency_ms = static_cast<int64_t>(s.latency.count()),
                  .prompt_tokens = s.prompt_tokens, .completion_tokens = s.completion_tokens,
                  .attempts = s.attempts, .response = response,
                  .hash = answer ? answer->hash : std::array<char, 32>{},
                  .new_text = answer && answer->added,
                  .verdict = classified ? std::optional(classified->verdict) : std::nullopt,
                  .narrative = classified && classified->narrative != 0,
                  .coverage = classified ? classified->expect_coverage : std::nullopt});
  }
  if (auto st = count_batched_write(); !st) return st.error();
  return id;
}

Status Store::set_classification(int64_t sample_id, const Classification& c,
                                 const Explanation* explanation) {
  if (std::string problem = classification_problem(c, explanation); !problem.empty()) {
    return db_->fail("set_classification: " + problem);
  }
  forget_rows();  // they would read the verdict stored before
  if (auto st = open_batch(); !st) return st;
  auto whole = Tx::begin(*db_);  // the strings with the update, or neither
  if (!whole) return whole.error();
  auto ids = classification_ids(c, explanation);
  if (!ids) return ids.error();
  auto up = db_->cached(
      "UPDATE sample_rows SET verdict = ?, signals = ?, narrative = ?, expect_coverage = ?, "
      "classifier_version = ?, uncertain = ?, explanation = ? WHERE id = ?");
  if (!up) return up.error();
  ids->bind(**up, 1);
  (*up)->bind(8, sample_id);
  if (auto st = (*up)->run("classifying sample " + std::to_string(sample_id)); !st) return st;
  if (sqlite3_changes(db_->handle()) == 0) {
    return db_->fail("set_classification: no sample " + std::to_string(sample_id));
  }
  if (auto st = (*whole)->commit(); !st) return st;
  return count_batched_write();
}

}  // namespace dw::store
