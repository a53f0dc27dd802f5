// Samples: batched writes, de-duplicated texts, classifications, and streaming reads.
#include <array>
#include <variant>

#include "common/hash.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

constexpr std::array kVerdicts = {"answered", "refused", "deflected", "filtered", "error"};

bool known_verdict(std::string_view v) {
  for (std::string_view k : kVerdicts) {
    if (v == k) return true;
  }
  return false;
}

// runs is forced to be the outer loop (CROSS JOIN): walking runs_by_time and seeking
// samples_by_run yields rows already in time order, so nothing is sorted or held in memory,
// however long the history.
constexpr const char* kSelect =
    "SELECT s.id, s.run_id, r.run_at, s.probe_id, s.probe_version, s.endpoint, s.seq, "
    "s.received_at, s.requested_model, s.model, s.system_fingerprint, s.http_status, "
    "s.finish_reason, s.block_reason, s.latency_ms, s.prompt_tokens, s.completion_tokens, "
    "s.attempts, s.error, s.response_hash, "
    "CASE WHEN j.verdict IS NOT NULL AND s.verdict IN ('answered', 'refused', 'deflected') "
    "THEN j.verdict ELSE s.verdict END, s.signals, s.narrative, "
    "s.expect_coverage, s.classifier_version, p.category, p.lang, p.control, "
    "s.verdict, j.model, j.verdict, j.reason, j.prompt_version, j.judged_at";

enum Col {
  kId,
  kRunId,
  kRunAt,
  kProbeId,
  kProbeVersion,
  kEndpoint,
  kSeq,
  kReceivedAt,
  kRequestedModel,
  kModel,
  kFingerprint,
  kHttpStatus,
  kFinishReason,
  kBlockReason,
  kLatency,
  kPromptTokens,
  kCompletionTokens,
  kAttempts,
  kError,
  kResponseHash,
  kVerdict,
  kSignals,
  kNarrative,
  kCoverage,
  kClassifierVersion,
  kCategory,
  kLang,
  kControl,
  kRulesVerdict,
  kJudgeModel,
  kJudgeVerdict,
  kJudgeReason,
  kJudgePromptVersion,
  kJudgedAt,
  kText,
  kErrorBody,
  kFeatures
};

void assign_text(std::string& to, const Statement& q, int col) {
  std::string_view v = q.text(col);
  to.assign(v.data(), v.size());
}

int as_int(std::optional<int64_t> v) { return v ? static_cast<int>(*v) : 0; }

// Fills row from the current result row, reusing row's buffers.
Status read_sample(const Statement& q, const SampleFilter& f, std::string& last_run_at,
                   Time& run_at, SampleRow& row) {
  row.id = q.int64(kId);
  row.run_id = q.int64(kRunId);
  if (q.text(kRunAt) != last_run_at) {  // one parse per run, not per row
    auto t = q.time(kRunAt);
    if (!t) return t.error();
    run_at = *t;
    assign_text(last_run_at, q, kRunAt);
  }
  row.run_at = run_at;
  assign_text(row.key.probe_id, q, kProbeId);
  assign_text(row.key.probe_version, q, kProbeVersion);
  assign_text(row.key.endpoint, q, kEndpoint);
  row.key.run_id = row.run_id;
  row.key.seq = static_cast<int>(q.int64(kSeq));
  auto received = q.optional_time(kReceivedAt);
  if (!received) return received.error();
  row.key.received_at = *received;
  assign_text(row.key.requested_model, q, kRequestedModel);
  providers::Sample& s = row.sample;
  assign_text(s.model, q, kModel);
  assign_text(s.system_fingerprint, q, kFingerprint);
  s.http_status = as_int(q.optional_int64(kHttpStatus));
  assign_text(s.finish_reason, q, kFinishReason);
  assign_text(s.block_reason, q, kBlockReason);
  s.latency = std::chrono::milliseconds(q.int64(kLatency));
  auto pt = q.optional_int64(kPromptTokens);
  auto ct = q.optional_int64(kCompletionTokens);
  s.prompt_tokens = pt ? std::optional<int>(static_cast<int>(*pt)) : std::nullopt;
  s.completion_tokens = ct ? std::optional<int>(static_cast<int>(*ct)) : std::nullopt;
  s.attempts = static_cast<int>(q.int64(kAttempts));
  assign_text(s.error, q, kError);
  assign_text(row.response_hash, q, kResponseHash);
  if (f.with_text) {
    assign_text(s.text, q, kText);
    assign_text(s.error_body, q, kErrorBody);
  } else {
    s.text.clear();
    s.error_body.clear();
  }
  if (q.is_null(kVerdict)) {
    row.classification.reset();
  } else {
    Classification& c = row.classification ? *row.classification : row.classification.emplace();
    assign_text(c.verdict, q, kVerdict);
    assign_text(c.signals_json, q, kSignals);
    if (c.signals_json.empty()) c.signals_json = "[]";
    c.narrative = q.int64(kNarrative) != 0;
    c.expect_coverage = q.optional_real(kCoverage);
    assign_text(c.classifier_version, q, kClassifierVersion);
  }
  assign_text(row.rules_verdict, q, kRulesVerdict);
  if (q.is_null(kJudgeModel)) {
    row.judgement.reset();
  } else {
    Judgement& j = row.judgement ? *row.judgement : row.judgement.emplace();
    assign_text(j.model, q, kJudgeModel);
    assign_text(j.verdict, q, kJudgeVerdict);
    assign_text(j.reason, q, kJudgeReason);
    assign_text(j.prompt_version, q, kJudgePromptVersion);
    auto at = q.time(kJudgedAt);
    if (!at) return at.error();
    j.judged_at = *at;
  }
  assign_text(row.category, q, kCategory);
  assign_text(row.lang, q, kLang);
  row.control = q.int64(kControl) != 0;
  std::string_view features = f.features_version ? q.blob(kFeatures) : std::string_view();
  row.features.assign(features.data(), features.size());
  return Status::Ok();
}

}  // namespace

Result<std::string> Store::store_text(std::string_view text) {
  std::string hash = sha256_hex(text);
  auto ins = db_->cached("INSERT INTO responses (hash, text) VALUES (?, ?) ON CONFLICT DO NOTHING");
  if (!ins) return ins.error();
  (*ins)->bind(1, hash).bind(2, text);
  if (auto st = (*ins)->run("storing a response text"); !st) return st.error();
  return hash;
}

Result<int64_t> Store::add_sample(const SampleKey& key, const providers::Sample& s) {
  if (auto st = open_batch(); !st) return st.error();
  // A savepoint inside the batch: a sample whose insert fails leaves not even its texts.
  auto whole = Tx::begin(*db_);
  if (!whole) return whole.error();
  std::string response_hash, body_hash;
  if (!s.text.empty()) {
    auto h = store_text(s.text);
    if (!h) return h.error();
    response_hash = std::move(h).value();
  }
  if (!s.error_body.empty()) {
    auto h = store_text(s.error_body);
    if (!h) return h.error();
    body_hash = std::move(h).value();
  }
  auto ins = db_->cached(
      "INSERT INTO samples (run_id, probe_id, probe_version, endpoint, seq, received_at, "
      "requested_model, model, system_fingerprint, http_status, finish_reason, block_reason, "
      "latency_ms, prompt_tokens, completion_tokens, attempts, error, response_hash, "
      "error_body_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  Statement& q = **ins;
  q.bind(1, key.run_id).bind(2, key.probe_id).bind(3, key.probe_version).bind(4, key.endpoint);
  q.bind(5, int64_t{key.seq});
  if (key.received_at) q.bind(6, format_time(*key.received_at));
  q.bind_or_null(7, key.requested_model).bind_or_null(8, s.model);
  q.bind_or_null(9, s.system_fingerprint);
  q.bind_or_null(10, s.http_status ? std::optional<int64_t>(s.http_status) : std::nullopt);
  q.bind_or_null(11, s.finish_reason).bind_or_null(12, s.block_reason);
  q.bind(13, static_cast<int64_t>(s.latency.count()));
  q.bind_or_null(14, s.prompt_tokens ? std::optional<int64_t>(*s.prompt_tokens) : std::nullopt);
  q.bind_or_null(15,
                 s.completion_tokens ? std::optional<int64_t>(*s.completion_tokens) : std::nullopt);
  q.bind(16, int64_t{s.attempts}).bind_or_null(17, s.error);
  q.bind_or_null(18, response_hash).bind_or_null(19, body_hash);
  if (auto st = q.run("storing a sample of " + key.probe_id + " from " + key.endpoint); !st) {
    return st.error();
  }
  int64_t id = sqlite3_last_insert_rowid(db_->handle());
  if (auto st = (*whole)->commit(); !st) return st.error();
  if (auto st = count_batched_write(); !st) return st.error();
  return id;
}

Status Store::set_classification(int64_t sample_id, const Classification& c,
                                 const Explanation* explanation) {
  if (!known_verdict(c.verdict)) {
    return db_->fail("set_classification: unknown verdict '" + c.verdict + "'");
  }
  if (auto st = open_batch(); !st) return st;
  auto up = db_->cached(
      "UPDATE samples SET verdict = ?, signals = ?, narrative = ?, expect_coverage = ?, "
      "classifier_version = ?, uncertain = ?, explanation = ? WHERE id = ?");
  if (!up) return up.error();
  (*up)->bind(1, c.verdict).bind(2, c.signals_json.empty() ? "[]" : c.signals_json);
  (*up)->bind(3, int64_t{c.narrative ? 1 : 0}).bind_or_null(4, c.expect_coverage);
  (*up)->bind_or_null(5, c.classifier_version);
  if (explanation) {
    (*up)->bind(6, int64_t{explanation->uncertain ? 1 : 0}).bind_or_null(7, explanation->json);
  } else {
    (*up)->bind_or_null(6, std::optional<int64_t>()).bind_or_null(7, std::string_view());
  }
  (*up)->bind(8, sample_id);
  if (auto st = (*up)->run("classifying sample " + std::to_string(sample_id)); !st) return st;
  if (sqlite3_changes(db_->handle()) == 0) {
    return db_->fail("set_classification: no sample " + std::to_string(sample_id));
  }
  return count_batched_write();
}

Status Store::for_each_sample(const SampleFilter& f,
                              const std::function<bool(const SampleRow&)>& callback) {
  std::string sql = kSelect;
  sql += f.with_text ? ", t.text, b.text" : ", NULL, NULL";
  sql += f.features_version ? ", d.data" : ", NULL";
  sql +=
      " FROM runs r CROSS JOIN samples s ON s.run_id = r.id"
      " CROSS JOIN probes p ON p.id = s.probe_id AND p.version = s.probe_version"
      " LEFT JOIN judgements j ON j.id = s.judgement_id";
  // Only fixed SQL fragments are appended; every value is bound below, in the same order.
  std::vector<std::variant<int64_t, std::string>> values;
  if (f.features_version) {
    sql += " LEFT JOIN response_features d ON d.hash = s.response_hash AND d.version = ?";
    values.emplace_back(*f.features_version);
  }
  if (f.with_text) {
    // With features, the text is not even read: that is what they are kept for.
    sql += f.features_version
               ? " LEFT JOIN responses t ON t.hash = s.response_hash AND d.hash IS NULL"
               : " LEFT JOIN responses t ON t.hash = s.response_hash";
    sql += " LEFT JOIN responses b ON b.hash = s.error_body_hash";
  }
  sql += " WHERE 1";
  if (f.since) sql += " AND r.run_at >= ?", values.emplace_back(format_time(*f.since));
  if (f.until) sql += " AND r.run_at < ?", values.emplace_back(format_time(*f.until));
  if (f.run_id) sql += " AND r.id = ?", values.emplace_back(*f.run_id);
  if (f.endpoint) sql += " AND s.endpoint = ?", values.emplace_back(*f.endpoint);
  if (f.probe_id) sql += " AND s.probe_id = ?", values.emplace_back(*f.probe_id);
  if (f.probe_version) sql += " AND s.probe_version = ?", values.emplace_back(*f.probe_version);
  sql += " ORDER BY r.run_at, r.id, s.endpoint, s.probe_id, s.probe_version, s.seq";

  // Prepared per call, not cached: the callback may start another iteration.
  auto st = db_->prepare(sql);
  if (!st) return st.error();
  Statement& q = **st;
  for (size_t i = 0; i < values.size(); ++i) {
    int at = static_cast<int>(i) + 1;
    std::visit([&](const auto& v) { q.bind(at, v); }, values[i]);
  }
  SampleRow row;
  std::string last_run_at;
  Time run_at{};
  for (;;) {
    auto more = q.step();
    if (!more) return more.error();
    if (!*more) return Status::Ok();
    if (auto rs = read_sample(q, f, last_run_at, run_at, row); !rs) return rs;
    if (!callback(row)) return Status::Ok();
  }
}

}  // namespace dw::store
