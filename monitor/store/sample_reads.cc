// Samples read back: for_each_sample streams them in time order, a run at a time, from the
// file or, for the run this store just stored, from memory (recent_rows.cc).
#include <algorithm>
#include <tuple>
#include <variant>

#include "store/keys.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

// runs is forced to be the outer loop (CROSS JOIN): walking runs_by_time and seeking
// samples_by_run yields rows in time order, nothing sorted by SQLite. Within a run the index
// orders samples by endpoint and probe numbers, not names: for_each_sample holds a run's rows
// and sorts them itself (SQLite sorted whole rows, texts included, and that was a quarter of
// reading a run's samples); only a run too large to hold is sorted by SQLite.
//
// The columns, in Col's order. Endpoints, probes and repeated strings come as their keys, which
// KeyNames spells out; the strings only readers of whole samples use are NULL when
// SampleFilter::with_details is false.
std::string select_columns(bool details) {
  auto detail = [details](const char* column) {
    return details ? std::string("s.") + column : std::string("NULL");
  };
  return "SELECT s.id, s.run_id, r.run_at, s.probe, s.endpoint, s.seq, s.received_at, " +
         detail("requested_model") + ", s.model, s.system_fingerprint, s.http_status, " +
         detail("finish_reason") + ", " + detail("block_reason") +
         ", s.latency_ms, s.prompt_tokens, s.completion_tokens, s.attempts, " + detail("error") +
         ", t.hash, s.verdict, " + detail("signals") + ", s.narrative, s.expect_coverage, " +
         detail("classifier_version") +
         ", j.model, j.verdict, j.reason, j.prompt_version, j.judged_at, s.response, t.dict, "
         "s.error_body, b.dict";
}

enum Col {
  kId,
  kRunId,
  kRunAt,
  kProbe,
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
  kRulesVerdict,
  kSignals,
  kNarrative,
  kCoverage,
  kClassifierVersion,
  kJudgeModel,
  kJudgeVerdict,
  kJudgeReason,
  kJudgePromptVersion,
  kJudgedAt,
  kResponse,
  kResponseDict,
  kErrorBody,
  kErrorBodyDict,
  kText,
  kTextIsFrame,
  kErrorBodyData,
  kErrorBodyIsFrame,
  kFeatures
};

void assign_text(std::string& to, const Statement& q, int col) {
  std::string_view v = q.text(col);
  to.assign(v.data(), v.size());
}

int as_int(std::optional<int64_t> v) { return v ? static_cast<int>(*v) : 0; }

// Fills row from the current result row but for its texts, reusing row's buffers; false when
// its probe version or endpoint is not stored (the row is left out).
Result<bool> read_sample(const Statement& q, const SampleFilter& f, KeyNames& names,
                         std::string& last_run_at, Time& run_at, SampleRow& row) {
  auto probe = names.probe(q.int64(kProbe));
  if (!probe) return probe.error();
  auto endpoint = names.endpoint(q.int64(kEndpoint));
  if (!endpoint) return endpoint.error();
  if (*probe == nullptr || *endpoint == nullptr) return false;
  Status named;  // the first string that could not be read
  auto name = [&](int col, std::string& to) {
    if (named) named = names.string(q.optional_int64(col), to);
  };
  row.id = q.int64(kId);
  row.run_id = q.int64(kRunId);
  if (q.text(kRunAt) != last_run_at) {  // one parse per run, not per row
    auto t = q.time(kRunAt);
    if (!t) return t.error();
    run_at = *t;
    assign_text(last_run_at, q, kRunAt);
  }
  row.run_at = run_at;
  row.key.probe_id = (*probe)->id;
  row.key.probe_version = (*probe)->version;
  row.key.endpoint = **endpoint;
  row.key.run_id = row.run_id;
  row.key.seq = static_cast<int>(q.int64(kSeq));
  auto received = q.optional_int64(kReceivedAt);
  row.key.received_at =
      received ? std::optional<Time>(Time(std::chrono::seconds(*received))) : std::nullopt;
  name(kRequestedModel, row.key.requested_model);
  providers::Sample& s = row.sample;
  name(kModel, s.model);
  name(kFingerprint, s.system_fingerprint);
  s.http_status = as_int(q.optional_int64(kHttpStatus));
  name(kFinishReason, s.finish_reason);
  name(kBlockReason, s.block_reason);
  s.latency = std::chrono::milliseconds(q.int64(kLatency));
  auto pt = q.optional_int64(kPromptTokens);
  auto ct = q.optional_int64(kCompletionTokens);
  s.prompt_tokens = pt ? std::optional<int>(static_cast<int>(*pt)) : std::nullopt;
  s.completion_tokens = ct ? std::optional<int>(static_cast<int>(*ct)) : std::nullopt;
  s.attempts = static_cast<int>(q.int64(kAttempts));
  name(kError, s.error);
  row.response_hash = q.is_null(kResponse) ? std::string() : to_hex(q.blob(kResponseHash));
  s.text.clear();
  s.error_body.clear();
  std::string_view rules = q.is_null(kRulesVerdict) ? "" : verdict_name(q.int64(kRulesVerdict));
  row.rules_verdict.assign(rules.data(), rules.size());
  if (rules.empty()) {
    row.classification.reset();
  } else {
    Classification& c = row.classification ? *row.classification : row.classification.emplace();
    // The final verdict: the judge's, where one applies and the rules' is one it may override.
    if (!q.is_null(kJudgeVerdict) && q.int64(kRulesVerdict) < kFirstNonJudgeable) {
      assign_text(c.verdict, q, kJudgeVerdict);
    } else {
      c.verdict.assign(rules.data(), rules.size());
    }
    name(kSignals, c.signals_json);
    if (c.signals_json.empty()) c.signals_json = "[]";
    c.narrative = q.int64(kNarrative) != 0;
    c.expect_coverage = q.optional_real(kCoverage);
    name(kClassifierVersion, c.classifier_version);
  }
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
  row.category = (*probe)->category;
  row.lang = (*probe)->lang;
  row.control = (*probe)->control;
  std::string_view features = f.features_version ? q.blob(kFeatures) : std::string_view();
  row.features.assign(features.data(), features.size());
  if (!named) return named.error();
  return true;
}

}  // namespace

// read_sample() for a row the store kept (recent_rows_), read as a reader without details
// reads it: the two must give the same rows.
Result<bool> Store::recent_sample(const RecentRow& r, KeyNames& names,
                                  std::optional<int64_t> features, SampleRow& row) {
  auto probe = names.probe(r.probe);
  if (!probe) return probe.error();
  auto endpoint = names.endpoint(r.endpoint);
  if (!endpoint) return endpoint.error();
  if (*probe == nullptr || *endpoint == nullptr) return false;
  row.id = r.id;
  row.run_id = recent_rows_->run;
  row.run_at = recent_rows_->run_at;
  row.key.probe_id = (*probe)->id;
  row.key.probe_version = (*probe)->version;
  row.key.endpoint = **endpoint;
  row.key.run_id = row.run_id;
  row.key.seq = r.seq;
  row.key.received_at = r.received_at ? std::optional<Time>(Time(std::chrono::seconds(
                                            *r.received_at)))
                                      : std::nullopt;
  row.key.requested_model.clear();
  providers::Sample& s = row.sample;
  if (Status named = names.string(r.model, s.model); !named) return named.error();
  if (Status named = names.string(r.fingerprint, s.system_fingerprint); !named) {
    return named.error();
  }
  s.http_status = r.http_status;
  s.finish_reason.clear();
  s.block_reason.clear();
  s.latency = std::chrono::milliseconds(r.latency_ms);
  s.prompt_tokens = r.prompt_tokens ? std::optional<int>(static_cast<int>(*r.prompt_tokens))
                                    : std::nullopt;
  s.completion_tokens = r.completion_tokens
                            ? std::optional<int>(static_cast<int>(*r.completion_tokens))
                            : std::nullopt;
  s.attempts = r.attempts;
  s.error.clear();
  row.response_hash = r.response ? to_hex(std::string_view(r.hash.data(), r.hash.size()))
                                 : std::string();
  s.text.clear();
  s.error_body.clear();
  const std::string_view rules = r.verdict ? verdict_name(*r.verdict) : "";
  row.rules_verdict.assign(rules.data(), rules.size());
  if (rules.empty()) {
    row.classification.reset();
  } else {  // no judgement: linking one forgets the rows
    Classification& c = row.classification ? *row.classification : row.classification.emplace();
    c.verdict.assign(rules.data(), rules.size());
    c.signals_json = "[]";
    c.narrative = r.narrative;
    c.expect_coverage = r.coverage;
    c.classifier_version.clear();
  }
  row.judgement.reset();
  row.category = (*probe)->category;
  row.lang = (*probe)->lang;
  row.control = (*probe)->control;
  row.features.clear();
  // A text this run stored has none, unless features were stored since.
  if (features && r.response && (!r.new_text || recent_rows_->features_written)) {
    auto q = db_->cached("SELECT data FROM text_features WHERE text = ? AND version = ?");
    if (!q) return q.error();
    ResetOnExit reset(**q);
    (*q)->bind(1, *r.response).bind(2, *features);
    auto found = (*q)->step();
    if (!found) return found.error();
    if (*found) {
      const std::string_view data = (*q)->blob(0);
      row.features.assign(data.data(), data.size());
    }
  }
  return true;
}

namespace {

// A text of a row as stored (a zstd frame when compressed), kept until the row is passed on.
struct StoredText {
  bool present = false;  // false: the row has none, or it was not asked for
  int64_t id = 0;
  std::optional<int64_t> dict;
  bool frame = false;
  std::string bytes;

  bool later = false;  // present, its bytes not read yet (see for_each_sample)
  std::string hash;     // when later: the text's hash (texts.hash), which the read checks

  void keep(const Statement& q, int id_col, int dict_col, int data_col, int frame_col) {
    later = false;
    present = !q.is_null(data_col);
    if (!present) return;
    id = q.int64(id_col);
    dict = q.optional_int64(dict_col);
    frame = q.int64(frame_col) != 0;
    std::string_view data = q.blob(data_col);
    bytes.assign(data.data(), data.size());
  }
  // Names the text only: its bytes are read if the row is wanted.
  void name(const Statement& q, int id_col, int hash_col, bool wanted) {
    if (q.is_null(id_col)) {
      present = later = false;
      return;
    }
    name(q.int64(id_col), q.blob(hash_col), wanted);
  }
  void name(int64_t text, std::string_view text_hash, bool wanted) {
    present = later = wanted;
    if (!present) return;
    id = text;
    hash.assign(text_hash.data(), text_hash.size());
    std::string().swap(bytes);
  }
};

struct HeldRow {
  SampleRow row;  // but for its texts
  StoredText text, body;

  // Roughly what it holds, in bytes (its texts, and its strings but the shortest): what
  // Options::sort_memory counts.
  size_t size() const {
    return sizeof(HeldRow) + text.bytes.capacity() + body.bytes.capacity() +
           row.response_hash.size() + row.sample.model.size() + row.sample.error.size() +
           row.features.size();
  }
};

// Fills h from the current result row, its texts as stored (the response's only named, when
// `later`); false when the row is left out (read_sample).
Result<bool> read_held(const Statement& q, const SampleFilter& f, KeyNames& names, bool later,
                       std::string& last_run_at, Time& run_at, HeldRow& h) {
  auto rs = read_sample(q, f, names, last_run_at, run_at, h.row);
  if (!rs || !*rs) return rs;
  if (later) {  // a row with features is never read for its text (as the join said)
    h.text.name(q, kResponse, kResponseHash, !f.features_version || h.row.features.empty());
  } else {
    h.text.keep(q, kResponse, kResponseDict, kText, kTextIsFrame);
  }
  h.body.keep(q, kErrorBody, kErrorBodyDict, kErrorBodyData, kErrorBodyIsFrame);
  return true;
}

}  // namespace

Status Store::for_each_sample(const SampleFilter& f,
                              const std::function<bool(const SampleRow&)>& callback) {
  // Only fixed SQL fragments are appended; every value is bound below, in the same order.
  std::vector<std::variant<int64_t, std::string>> values;
  // With wants_text, a response text is read only for a row it wants (a run repeats many
  // answers, and the join read every row's).
  const bool later = f.with_text && f.wants_text;
  std::optional<int64_t> features;  // the features' version id, when asked for
  std::string sql = select_columns(f.with_details);
  sql += f.with_text && !later ? ", d.data, typeof(d.data) = 'blob'" : ", NULL, 0";
  sql += f.with_text && f.with_details ? ", bd.data, typeof(bd.data) = 'blob'" : ", NULL, 0";
  sql += f.features_version ? ", x.data" : ", NULL";
  sql +=
      " FROM runs r CROSS JOIN sample_rows s ON s.run_id = r.id"
      " LEFT JOIN judgements j ON j.id = s.judgement_id"
      " LEFT JOIN texts t ON t.id = s.response"
      " LEFT JOIN texts b ON b.id = s.error_body";
  if (f.features_version) {
    auto version = find_string(*f.features_version);
    if (!version) return version.error();
    sql += " LEFT JOIN text_features x ON x.text = s.response AND x.version = ?";
    features = version->value_or(-1);  // never stored: no row has it
    values.emplace_back(*features);
  }
  if (f.with_text) {
    // With features, the text is not even read: that is what they are kept for.
    if (!later) {
      sql += f.features_version ? " LEFT JOIN text_data d ON d.id = s.response AND x.text IS NULL"
                                : " LEFT JOIN text_data d ON d.id = s.response";
    }
    if (f.with_details) sql += " LEFT JOIN text_data bd ON bd.id = s.error_body";
  }
  // Only a run sorted by SQLite (pass_sorted) needs the names in SQL.
  const std::string names_joined =
      " CROSS JOIN endpoint_keys e ON e.id = s.endpoint CROSS JOIN probe_keys k ON k.id = s.probe";
  const size_t joins_at = sql.size();
  sql += " WHERE 1";
  if (f.since) sql += " AND r.run_at >= ?", values.emplace_back(format_time(*f.since));
  if (f.until) sql += " AND r.run_at < ?", values.emplace_back(format_time(*f.until));
  if (f.run_id) sql += " AND r.id = ?", values.emplace_back(*f.run_id);
  if (f.endpoint) {
    auto endpoint = find_endpoint_key(*f.endpoint);
    if (!endpoint) return endpoint.error();
    if (!*endpoint) return Status::Ok();  // no sample was ever stored for it
    sql += " AND s.endpoint = ?", values.emplace_back(**endpoint);
  }
  if (f.probe_id) {
    sql += " AND s.probe IN (SELECT id FROM probe_keys WHERE probe_id = ?)";
    values.emplace_back(*f.probe_id);
  }
  if (f.probe_version) {
    sql += " AND s.probe IN (SELECT id FROM probe_keys WHERE probe_version = ?)";
    values.emplace_back(*f.probe_version);
  }
  // Prepared per call, not cached: the callback may start another iteration.
  auto prepare = [&](const std::string& query) -> Result<PreparedStatement> {
    auto st = db_->prepare(query);
    if (!st) return st.error();
    for (size_t i = 0; i < values.size(); ++i) {
      int at = static_cast<int>(i) + 1;
      std::visit([&](const auto& v) { (*st)->bind(at, v); }, values[i]);
    }
    return st;
  };
  KeyNames names(*db_, !f.probe_id && !f.probe_version);

  // Passes one row on, its texts decompressed for the call only (and only when wanted): a held
  // run keeps its texts as stored.
  auto pass = [&](HeldRow& h) -> Result<bool> {
    const bool wanted = !f.wants_text || f.wants_text(h.row);
    for (auto [from, to] : {std::pair(&h.text, &h.row.sample.text),
                            std::pair(&h.body, &h.row.sample.error_body)}) {
      if (!from->present || !wanted) continue;
      if (from->later) {
        if (const std::string* recent = recent_text(from->id, from->hash)) {
          *to = *recent;  // stored by this run a moment ago (store_text)
          continue;
        }
        // Read after the row, perhaps after the iteration's snapshot ended (the last run's
        // rows are passed on once SQLite is done): the text is the one of this id and hash,
        // or none, as the join gave none for a text that is gone.
        auto data = text_data(from->id, from->hash);
        if (!data) return data.error();
        if (!*data) continue;
        auto text = read_text(from->id, (*data)->dict, (*data)->bytes, (*data)->frame);
        if (!text) return text.error();
        *to = std::move(text).value();
        continue;
      }
      auto text = read_text(from->id, from->dict, from->bytes, from->frame);
      if (!text) return text.error();
      *to = std::move(text).value();
    }
    const bool go_on = callback(h.row);
    std::string().swap(h.row.sample.text);
    std::string().swap(h.row.sample.error_body);
    return go_on;
  };
  // A run's rows come in samples_by_run's order: grouped by endpoint and probe version (by
  // their numbers), by seq within a group. They are held until the run ends, then only the
  // groups are sorted, by name.
  std::vector<HeldRow> held;
  size_t used = 0, held_bytes = 0;
  std::vector<std::pair<uint32_t, uint32_t>> groups;  // [first, end) of held
  auto pass_held = [&]() -> Result<bool> {
    groups.clear();
    for (uint32_t i = 0; i < used; ++i) {
      const SampleKey& k = held[i].row.key;
      const SampleKey* last = groups.empty() ? nullptr : &held[groups.back().first].row.key;
      if (last && last->endpoint == k.endpoint && last->probe_id == k.probe_id &&
          last->probe_version == k.probe_version) {
        groups.back().second = i + 1;
      } else {
        groups.emplace_back(i, i + 1);
      }
    }
    std::sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) {
      const SampleKey& x = held[a.first].row.key;
      const SampleKey& y = held[b.first].row.key;
      return std::tie(x.endpoint, x.probe_id, x.probe_version) <
             std::tie(y.endpoint, y.probe_id, y.probe_version);
    });
    for (const auto& [first, end] : groups) {
      for (uint32_t i = first; i < end; ++i) {
        auto go_on = pass(held[i]);
        if (!go_on || !*go_on) return go_on;
      }
    }
    return true;
  };
  // A run larger than options_.sort_memory is not held: SQLite sorts it (spilling to a
  // temporary file when it must), row by row. Its rows are then stepped over in q, read a
  // second time: a cost only such runs pay.
  auto pass_sorted = [&](int64_t run_id) -> Result<bool> {
    values.emplace_back(run_id);
    auto sorted = prepare(sql.substr(0, joins_at) + names_joined + sql.substr(joins_at) +
                          " AND r.id = ? ORDER BY e.name, k.probe_id, k.probe_version, s.seq");
    values.pop_back();
    if (!sorted) return sorted.error();
    HeldRow h;
    std::string last_at;
    Time at{};
    for (;;) {
      auto more = (*sorted)->step();
      if (!more) return more.error();
      if (!*more) return true;
      auto rs = read_held(**sorted, f, names, later, last_at, at, h);
      if (!rs) return rs.error();
      if (!*rs) continue;
      auto go_on = pass(h);
      if (!go_on || !*go_on) return go_on;
    }
  };

  // The run this store is storing or just stored, from memory (recent_rows_), in the
  // indexes' order as below.
  auto recent = recent_rows_for(f);
  if (!recent) return recent.error();
  // Held to be put in order, as a run read from the file is, within the same bound.
  if (*recent && (*recent)->rows.size() * sizeof(HeldRow) <= options_.sort_memory) {
    const std::vector<RecentRow>& rows = (*recent)->rows;
    std::vector<uint32_t> order(rows.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::tie(rows[a].endpoint, rows[a].probe, rows[a].seq) <
             std::tie(rows[b].endpoint, rows[b].probe, rows[b].seq);
    });
    held.resize(order.size());
    for (uint32_t i : order) {
      const RecentRow& r = rows[i];
      HeldRow& h = held[used];
      auto rs = recent_sample(r, names, features, h.row);
      if (!rs) return rs.error();
      if (!*rs) continue;
      h.text.present = h.text.later = false;
      if (f.with_text && r.response) {
        h.text.name(*r.response, std::string_view(r.hash.data(), r.hash.size()),
                    !f.features_version || h.row.features.empty());
      }
      h.body.present = h.body.later = false;
      ++used;
    }
    rows_from_memory_ += used;
    auto go_on = pass_held();
    if (!go_on) return go_on.error();
    return Status::Ok();
  }

  // The indexes' order (see the top of this file): nothing is sorted by SQLite.
  auto st = prepare(sql + " ORDER BY r.run_at, r.id, s.endpoint, s.probe, s.seq");
  if (!st) return st.error();
  Statement& q = **st;
  std::string last_run_at;
  Time run_at{};
  std::optional<int64_t> skipped_run;  // the run pass_sorted passed on: skipped here
  for (;;) {
    auto more = q.step();
    if (!more) return more.error();
    if (!*more) break;
    if (q.int64(kRunId) == skipped_run) continue;
    // Every column of the row is copied before the callbacks of the run before it: a callback
    // that writes to rows already passed on (reclassify does) never changes what is read
    // (a text read when wanted is checked against the hash read with its row).
    if (used == held.size()) held.emplace_back();
    HeldRow& h = held[used];
    auto rs = read_held(q, f, names, later, last_run_at, run_at, h);
    if (!rs) return rs.error();
    if (!*rs) continue;
    if (used > 0 && h.row.run_id != held[0].row.run_id) {
      auto go_on = pass_held();
      if (!go_on) return go_on.error();
      if (!*go_on) return Status::Ok();
      std::swap(held[0], held[used]);
      used = 0;
      held_bytes = 0;
    }
    held_bytes += held[used].size();
    ++used;
    if (held_bytes > options_.sort_memory) {
      skipped_run = held[0].row.run_id;
      std::vector<HeldRow>().swap(held);  // what it held goes before SQLite sorts
      used = 0;
      held_bytes = 0;
      auto go_on = pass_sorted(*skipped_run);
      if (!go_on) return go_on.error();
      if (!*go_on) return Status::Ok();
    }
  }
  auto go_on = pass_held();
  if (!go_on) return go_on.error();
  return Status::Ok();
}

}  // namespace dw::store
