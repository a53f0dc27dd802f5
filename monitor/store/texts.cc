// Texts: each distinct answer or error body stored once, as a zstd frame when that is smaller,
// compressed with a dictionary trained on its probe's answers from its endpoint once there are
// enough of them, else with one trained on all the endpoint's answers once there are enough of
// those. Every frame's row names its dictionary, so old texts stay readable after a new one.
#include <algorithm>

#include "store/compress.h"
#include "store/keys.h"
#include "store/statement.h"
#include "store/store.h"

namespace dw::store {
namespace {

// When an endpoint gets a dictionary. The first waits for enough answers to learn from; each
// later one for many times what the last learnt from (model updates change the wording, and a
// dictionary is only worth its 32 KiB when it serves thousands of texts).
constexpr int64_t kFirstDictionaryTexts = 200;
constexpr int64_t kRetrainFactor = 16;
constexpr int64_t kMostTextsBetweenDictionaries = 32000;
// Counting looks at this many of the newest texts at most: the work per run stays bounded
// however long the history, for an endpoint that is rarely asked too.
constexpr int64_t kCountWindow = 100000;
// Training reads the endpoint's newest texts, up to these bounds (memory: twice this).
constexpr int64_t kTrainingTexts = 2000;
constexpr size_t kTrainingBytes = size_t{1} << 20;
constexpr size_t kMinTrainingBytes = size_t{16} << 10;  // below this zstd learns nothing useful
constexpr size_t kDictionaryBytes = size_t{32} << 10;
// A probe's own dictionary on an endpoint: a model words its answers to one question alike
// (measured on the store bench's answers at zstd's level 3: 320 bytes a 1.3 KB answer against
// the endpoint's 410; compress.h on levels). The first once the newest runs hold this many
// distinct texts of the pair; trained on those texts up to these bounds
// (train_small_dictionary: about a millisecond). Then again after about kRetrainFactor times
// what the last learnt from (train_pair_dictionaries).
constexpr size_t kFirstPairTexts = 32;
constexpr size_t kPairTrainingTexts = 100;
constexpr size_t kPairTrainingBytes = size_t{128} << 10;
constexpr int64_t kPairTrainingRuns = 200;  // the newest runs looked in for a pair's texts
constexpr size_t kPairDictionaryBytes = size_t{8} << 10;
// A new configuration's pairs all come due in the same run: they are tried a few a run.
constexpr int kPairTrainingsPerRun = 8;

}  // namespace

Codec& Store::codec() {
  if (!codec_) codec_ = std::make_unique<Codec>();
  return *codec_;
}

void Store::forget_dictionaries() {
  dictionaries_.clear();
  current_dictionary_.clear();
  dictionaries_rollbacks_ = db_->rollbacks();
}

void Store::forget_dictionaries_after_rollback() {
  // A rollback SQLite made on its own (a failed batch) takes dictionaries trained inside it too.
  if (dictionaries_rollbacks_ != db_->rollbacks()) forget_dictionaries();
}

Result<Dictionary*> Store::dictionary(int64_t id) {
  forget_dictionaries_after_rollback();
  if (auto it = dictionaries_.find(id); it != dictionaries_.end()) return it->second.get();
  auto q = db_->cached("SELECT data FROM dictionaries WHERE id = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind(1, id);
  auto row = (*q)->step();
  if (!row) return row.error();
  if (!*row) return db_->fail("dictionary " + std::to_string(id) + " is missing");
  auto loaded = Dictionary::load(id, std::string((*q)->blob(0)));
  if (!loaded) return db_->fail(loaded.error().message());
  return hold_dictionary(id, std::move(loaded).value());
}

Dictionary* Store::hold_dictionary(int64_t id, std::unique_ptr<Dictionary> dictionary) {
  // An endpoint's takes 60 KB once used to read and 0.45 MB once used to write, a probe's
  // (loaded into each frame it writes) its 8-16 KiB, and 36 KB once used to read.
  if (dictionaries_.size() >= kDictionariesHeld) {
    // Keep the endpoints' current ones (prepared to write); the rest are read again when needed.
    std::erase_if(dictionaries_, [&](const auto& entry) {
      return std::none_of(current_dictionary_.begin(), current_dictionary_.end(),
                          [&](const auto& c) {
                            return c.first.second == 0 && c.second == entry.first;
                          });
    });
  }
  return (dictionaries_[id] = std::move(dictionary)).get();
}

Result<Dictionary*> Store::current_dictionary(int64_t endpoint, std::optional<int64_t> probe) {
  forget_dictionaries_after_rollback();
  const std::pair<int64_t, int64_t> key{endpoint, probe.value_or(0)};
  auto it = current_dictionary_.find(key);
  if (it == current_dictionary_.end()) {
    auto q = db_->cached("SELECT max(id) FROM dictionaries WHERE endpoint = ? AND probe IS ?");
    if (!q) return q.error();
    ResetOnExit reset(**q);
    (*q)->bind(1, endpoint).bind_or_null(2, probe);
    auto row = (*q)->step();
    if (!row) return row.error();
    it = current_dictionary_.emplace(key, (*q)->optional_int64(0)).first;
  }
  if (!it->second) {
    return probe ? current_dictionary(endpoint, std::nullopt) : static_cast<Dictionary*>(nullptr);
  }
  return dictionary(*it->second);
}

void Store::remember_text(int64_t id, std::string_view hash, std::string_view text) {
  const size_t bytes = text.size() + kRecentTextEntry;
  if (hash.size() != 32 || recent_text_bytes_ + bytes > kRecentTextBytes ||
      recent_texts_.contains(id)) {
    return;
  }
  RecentText& r = recent_texts_[id];
  std::copy(hash.begin(), hash.end(), r.hash.begin());
  r.text = text;
  recent_text_bytes_ += bytes;
}

void Store::forget_texts() {
  std::unordered_map<int64_t, RecentText>().swap(recent_texts_);
  recent_text_bytes_ = 0;
}

const std::string* Store::recent_text(int64_t id, std::string_view hash) const {
  auto it = recent_texts_.find(id);
  if (it == recent_texts_.end() || hash.size() != 32) return nullptr;
  return std::equal(hash.begin(), hash.end(), it->second.hash.begin()) ? &it->second.text
                                                                       : nullptr;
}

Result<Store::TextStored> Store::store_text(std::string_view text, int64_t endpoint,
                                            std::optional<int64_t> probe, bool answer) {
  std::string hash = sha256_bytes(text);
  TextStored stored;
  std::copy(hash.begin(), hash.end(), stored.hash.begin());
  auto found = find_text(hash);
  if (!found) return found.error();
  if (*found) {
    if (answer) remember_text(**found, hash, text);
    stored.id = **found;
    return stored;
  }
  auto dict = current_dictionary(endpoint, probe);
  if (!dict) return dict.error();
  std::optional<std::string> frame = codec().compress(text, *dict);
  auto ins = db_->cached("INSERT INTO texts (hash, endpoint, dict) VALUES (?, ?, ?)");
  if (!ins) return ins.error();
  (*ins)->bind_blob(1, hash).bind(2, endpoint);
  (*ins)->bind_or_null(3, frame && *dict ? std::optional<int64_t>((*dict)->id()) : std::nullopt);
  if (auto st = (*ins)->run("storing a text"); !st) return st.error();
  int64_t id = sqlite3_last_insert_rowid(db_->handle());
  if (probe) new_text_pairs_.insert({endpoint, *probe});
  // Plain texts are TEXT, frames BLOB: the storage class says which (the `responses` view).
  auto data = db_->cached("INSERT INTO text_data (id, data) VALUES (?, ?)");
  if (!data) return data.error();
  (*data)->bind(1, id);
  frame ? (*data)->bind_blob(2, *frame) : (*data)->bind(2, text);
  if (auto st = (*data)->run("storing a text"); !st) return st.error();
  if (answer) remember_text(id, hash, text);
  stored.id = id;
  stored.added = true;
  return stored;
}

Result<std::string> Store::read_text(int64_t id, std::optional<int64_t> dict,
                                     std::string_view data, bool compressed) {
  if (!compressed) return std::string(data);
  Dictionary* d = nullptr;
  if (dict) {
    auto got = dictionary(*dict);
    if (!got) return got.error();
    d = *got;
  }
  auto text = codec().decompress(data, d);
  if (!text) {
    return db_->fail("text " + std::to_string(id) + " cannot be read: " +
                     text.error().message() + " (the database is damaged: restore a backup)");
  }
  return std::move(text).value();
}

Result<std::optional<Store::StoredData>> Store::text_data(int64_t id, std::string_view hash) {
  auto q = db_->cached(
      "SELECT d.data, typeof(d.data) = 'blob', t.dict FROM texts t "
      "JOIN text_data d ON d.id = t.id WHERE t.id = ? AND t.hash = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind(1, id).bind_blob(2, hash);
  auto row = (*q)->step();
  if (!row) return row.error();
  if (!*row) return std::optional<StoredData>();
  return std::optional<StoredData>(
      StoredData{std::string((*q)->blob(0)), (*q)->int64(1) != 0, (*q)->optional_int64(2)});
}

Result<std::optional<std::string>> Store::response_text(std::string_view hash) {
  auto id = find_text_hex(hash);
  if (!id) return id.error();
  if (!*id) return std::optional<std::string>();
  auto q = db_->cached(
      "SELECT t.dict, d.data, typeof(d.data) = 'blob' FROM texts t "
      "JOIN text_data d ON d.id = t.id WHERE t.id = ?");
  if (!q) return q.error();
  ResetOnExit reset(**q);
  (*q)->bind(1, **id);
  auto row = (*q)->step();
  if (!row) return row.error();
  if (!*row) return db_->fail("text " + std::to_string(**id) + " has no data");
  auto text = read_text(**id, (*q)->optional_int64(0), (*q)->blob(1), (*q)->int64(2) != 0);
  if (!text) return text.error();
  return std::optional<std::string>(std::move(text).value());
}

// --- dictionaries --------------------------------------------------------------------------

Status Store::train_dictionaries(int64_t run_id, Time now) {
  std::vector<int64_t> endpoints;
  {
    auto q = db_->cached("SELECT DISTINCT endpoint FROM sample_rows WHERE run_id = ?");
    if (!q) return q.error();
    ResetOnExit reset(**q);
    (*q)->bind(1, run_id);
    for (;;) {
      auto row = (*q)->step();
      if (!row) return row.error();
      if (!*row) break;
      endpoints.push_back((*q)->int64(0));
    }
  }
  for (int64_t endpoint : endpoints) {
    if (auto st = train_dictionary_if_due(endpoint, now); !st) return st;
  }
  return train_pair_dictionaries(now);
}

Status Store::train_dictionary_if_due(int64_t endpoint, Time now) {
  int64_t after = 0, needed = kFirstDictionaryTexts, newest = 0;
  {
    auto last = db_->cached(
        "SELECT texts, last_text FROM dictionaries WHERE endpoint = ? AND probe IS NULL "
        "ORDER BY id DESC LIMIT 1");
    if (!last) return last.error();
    ResetOnExit reset(**last);
    (*last)->bind(1, endpoint);
    auto row = (*last)->step();
    if (!row) return row.error();
    if (*row) {
      needed = std::clamp((*last)->int64(0) * kRetrainFactor, kFirstDictionaryTexts,
                          kMostTextsBetweenDictionaries);
      after = (*last)->int64(1);
    }
  }
  {
    auto top = db_->single_int("SELECT coalesce(max(id), 0) FROM texts");
    if (!top) return top.error();
    newest = *top;
  }
  // A failed attempt waits until as many texts again have come (in this process).
  if (auto skipped = training_skipped_.find(endpoint);
      skipped != training_skipped_.end() && newest - skipped->second < needed) {
    return Status::Ok();
  }
  after = std::max(after, newest - kCountWindow);
  // Counting scans up to `needed` texts: not again until the last count plus every text stored
  // since (of any endpoint) could reach it. An import finishes thousands of runs.
  if (auto last = text_counts_.find(endpoint); last != text_counts_.end() &&
      last->second.after == after && last->second.count + (newest - last->second.newest) < needed) {
    return Status::Ok();
  }
  {
    auto count = db_->cached(
        "SELECT count(*) FROM (SELECT 1 FROM texts WHERE id > ? AND endpoint = ? LIMIT ?)");
    if (!count) return count.error();
    ResetOnExit reset(**count);
    (*count)->bind(1, after).bind(2, endpoint).bind(3, needed);
    auto row = (*count)->step();
    if (!row) return row.error();
    const int64_t n = *row ? (*count)->int64(0) : 0;
    text_counts_[endpoint] = {after, newest, n};
    if (n < needed) return Status::Ok();
  }

  std::vector<std::string> samples;
  size_t bytes = 0;
  {
    auto q = db_->prepare(
        "SELECT t.id, t.dict, d.data, typeof(d.data) = 'blob' FROM texts t "
        "JOIN text_data d ON d.id = t.id WHERE t.id > ? AND t.endpoint = ? "
        "ORDER BY t.id DESC LIMIT ?");
    if (!q) return q.error();
    (*q)->bind(1, after).bind(2, endpoint).bind(3, kTrainingTexts);
    if (auto st = read_training_texts(**q, static_cast<size_t>(kTrainingTexts), kTrainingBytes,
                                      samples, bytes);
        !st) {
      return st;
    }
  }
  const auto trained_on = static_cast<int64_t>(samples.size());
  std::optional<std::string> data;
  if (bytes >= kMinTrainingBytes) {
    data = train_dictionary(samples, std::clamp(bytes / 10, size_t{1} << 10, kDictionaryBytes));
  }
  samples = {};
  auto id = data ? add_dictionary(endpoint, std::nullopt, now, trained_on, newest, *data)
                 : Result<std::optional<int64_t>>(std::optional<int64_t>());
  if (!id) return id.error();
  if (!*id) {
    training_skipped_[endpoint] = newest;  // not an error: texts are stored without one
    return Status::Ok();
  }
  std::optional<int64_t>& current = current_dictionary_[{endpoint, 0}];
  // The one it replaces compresses nothing more: its 0.45 MB of compression tables go (it is
  // read again for a text that names it). An import retrains every 32,000 texts.
  if (current && *current != **id) dictionaries_.erase(*current);
  current = **id;
  return Status::Ok();
}

Status Store::train_pair_dictionaries(Time now) {
  const std::vector<std::pair<int64_t, int64_t>> pairs(new_text_pairs_.begin(),
                                                       new_text_pairs_.end());
  new_text_pairs_.clear();
  if (pairs.empty()) return Status::Ok();
  auto top = db_->single_int("SELECT coalesce(max(id), 0) FROM texts");
  if (!top) return top.error();
  const int64_t newest = *top;
  // The pairs with dictionaries, of every endpoint: they share the texts' ids.
  auto trained = db_->single_int(
      "SELECT count(*) FROM (SELECT DISTINCT endpoint, probe FROM dictionaries "
      "WHERE probe IS NOT NULL)");
  if (!trained) return trained.error();
  const int64_t trained_pairs = *trained;
  int tries = 0;
  // Each call starts somewhere else (the newest text's id moves with every text stored):
  // pairs that cannot train (too few or too short texts) do not keep the same others waiting.
  // Pairs not reached come back when they store a text again.
  const size_t start = static_cast<size_t>(newest) % pairs.size();
  for (size_t i = 0; i < pairs.size() && tries < kPairTrainingsPerRun; ++i) {
    const auto [endpoint, probe] = pairs[(start + i) % pairs.size()];
    {
      auto last = db_->cached(
          "SELECT texts, last_text FROM dictionaries WHERE endpoint = ? AND probe = ? "
          "ORDER BY id DESC LIMIT 1");
      if (!last) return last.error();
      ResetOnExit reset(**last);
      (*last)->bind(1, endpoint).bind(2, probe);
      auto row = (*last)->step();
      if (!row) return row.error();
      if (*row) {
        // Not before the texts stored since its last (of any endpoint and probe), shared out
        // among the pairs with dictionaries, are kRetrainFactor times what it learnt from: a
        // pair's own texts are not counted (that would read its samples run by run).
        const int64_t needed = (*last)->int64(0) * kRetrainFactor;
        if (newest - (*last)->int64(1) < needed * std::max<int64_t>(trained_pairs, 1)) continue;
      }
    }
    ++tries;
    std::vector<std::string> samples;
    size_t bytes = 0;
    if (auto st = read_pair_texts(endpoint, probe, samples, bytes); !st) return st;
    if (samples.size() < kFirstPairTexts || bytes < kMinTrainingBytes) {
      continue;  // not yet, or answers too short to learn from: the endpoint's serves them
    }
    auto data = train_small_dictionary(
        samples, std::clamp(bytes / 10, size_t{1} << 10, kPairDictionaryBytes));
    if (!data) continue;
    auto id = add_dictionary(endpoint, probe, now, static_cast<int64_t>(samples.size()),
                             newest, *data);
    if (!id) return id.error();
    if (*id) current_dictionary_[{endpoint, probe}] = **id;
  }
  return Status::Ok();
}

Status Store::read_pair_texts(int64_t endpoint, int64_t probe, std::vector<std::string>& samples,
                              size_t& bytes) {
  // Run by run, newest first: each a seek into samples_by_run.
  auto runs = db_->prepare("SELECT id FROM runs ORDER BY id DESC LIMIT ?");
  if (!runs) return runs.error();
  (*runs)->bind(1, kPairTrainingRuns);
  auto texts = db_->prepare(
      "SELECT t.id, t.dict, d.data, typeof(d.data) = 'blob' FROM sample_rows s "
      "JOIN texts t ON t.id = s.response JOIN text_data d ON d.id = t.id "
      "WHERE s.run_id = ? AND s.endpoint = ? AND s.probe = ?");
  if (!texts) return texts.error();
  std::set<int64_t> seen;
  while (samples.size() < kPairTrainingTexts && bytes < kPairTrainingBytes) {
    auto run = (*runs)->step();
    if (!run) return run.error();
    if (!*run) break;
    (*texts)->reset();
    (*texts)->bind(1, (*runs)->int64(0)).bind(2, endpoint).bind(3, probe);
    if (auto st = read_training_texts(**texts, kPairTrainingTexts, kPairTrainingBytes, samples,
                                      bytes, &seen);
        !st) {
      return st;
    }
  }
  return Status::Ok();
}

Status Store::read_training_texts(Statement& q, size_t max_texts, size_t max_bytes,
                                  std::vector<std::string>& samples, size_t& bytes,
                                  std::set<int64_t>* seen) {
  while (samples.size() < max_texts && bytes < max_bytes) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) break;
    if (seen && !seen->insert(q.int64(0)).second) continue;
    // Each decoded with the dictionary it was stored with, if any.
    auto text = read_text(q.int64(0), q.optional_int64(1), q.blob(2), q.int64(3) != 0);
    if (!text) return text.error();
    bytes += text->size();
    samples.push_back(std::move(text).value());
  }
  return Status::Ok();
}

Result<std::optional<int64_t>> Store::add_dictionary(int64_t endpoint,
                                                     std::optional<int64_t> probe, Time now,
                                                     int64_t trained_on, int64_t last_text,
                                                     std::string data) {
  // Eviction below must not keep a dictionary a rollback took (hold_dictionary).
  forget_dictionaries_after_rollback();
  auto tx = Tx::begin(*db_);
  if (!tx) return tx.error();
  auto ins = db_->cached(
      "INSERT INTO dictionaries (endpoint, probe, created_at, texts, last_text, data) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  (*ins)->bind(1, endpoint).bind_or_null(2, probe).bind(3, format_time(now));
  (*ins)->bind(4, trained_on).bind(5, last_text).bind_blob(6, data);
  if (auto st = (*ins)->run("storing a dictionary"); !st) return st.error();
  const int64_t id = sqlite3_last_insert_rowid(db_->handle());
  auto loaded = Dictionary::load(id, std::move(data));
  if (!loaded || !(*loaded)->usable()) {
    return std::optional<int64_t>();  // rolled back with tx: zstd cannot use it
  }
  if (auto st = (*tx)->commit(); !st) return st.error();
  // Inside a Transaction this is not yet durable: Transaction's rollback forgets it again.
  hold_dictionary(id, std::move(loaded).value());
  return std::optional<int64_t>(id);
}

}  // namespace dw::store
