// Run summaries as bytes (the encoding run_cells.h describes) and the version that names them.
#include "drift/run_cells.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>

#include "drift/cell_codec.h"

namespace dw::drift {
namespace {

using namespace varint;

constexpr uint64_t kFormat = 1;  // of the bytes below; run_cells_version() folds it in
constexpr int kFlagErrors = 4, kFlagNarrative = 5, kFlagCoverage = 6;

size_t kept(long n) { return std::min(static_cast<size_t>(n), kMaxCellIds); }

}  // namespace

bool read_cell(Reader& in, int64_t& prev_id, Cell& c) {
  uint8_t flags = 0;
  if (!in.byte(flags) || (flags & 0x80) != 0) return false;
  for (int i = 0; i < 4; ++i) {
    if (((flags >> i) & 1) && (!in.count(c.verdicts[i]) || c.verdicts[i] == 0)) return false;
  }
  if (((flags >> kFlagErrors) & 1) && (!in.count(c.errors) || c.errors == 0)) return false;
  if (((flags >> kFlagNarrative) & 1) && (!in.count(c.narrative) || c.narrative == 0)) return false;
  if ((flags >> kFlagCoverage) & 1) {
    for (long& n : c.coverage) {
      if (!in.count(n)) return false;
    }
    if (!in.sum(c.coverage_sum)) return false;
  }
  const long evidence = c.evidence();
  if (evidence + c.errors == 0 || c.narrative > evidence ||
      c.coverage[0] + c.coverage[1] + c.coverage[2] > c.verdicts[0]) {
    return false;
  }
  return in.ids(prev_id, kept(evidence), c.ids) && in.ids(prev_id, kept(c.errors), c.error_ids);
}

bool read_endpoint_cell(Reader& in, int64_t& prev_id, EndpointCell& ec) {
  return in.count(ec.samples) && in.count(ec.errors) && ec.errors <= ec.samples &&
         in.counts(ec.models) && in.counts(ec.fingerprints) &&
         in.ids(prev_id, kept(ec.samples - ec.errors), ec.ids) &&
         in.ids(prev_id, kept(ec.errors), ec.error_ids);
}

void put_endpoint_cell(std::string& out, int64_t& prev_id, const EndpointCell& ec) {
  put(out, static_cast<uint64_t>(ec.samples));
  put(out, static_cast<uint64_t>(ec.errors));
  put_counts(out, ec.models);
  put_counts(out, ec.fingerprints);
  put_ids(out, prev_id, ec.ids);
  put_ids(out, prev_id, ec.error_ids);
}

void put_cell(std::string& out, int64_t& prev_id, const Cell& c) {
  const bool coverage = c.coverage[0] + c.coverage[1] + c.coverage[2] > 0 ||
                        std::bit_cast<uint64_t>(c.coverage_sum) != 0;
  uint8_t flags = 0;
  for (int k = 0; k < 4; ++k) flags |= static_cast<uint8_t>((c.verdicts[k] != 0) << k);
  flags |= static_cast<uint8_t>((c.errors != 0) << kFlagErrors);
  flags |= static_cast<uint8_t>((c.narrative != 0) << kFlagNarrative);
  flags |= static_cast<uint8_t>(coverage << kFlagCoverage);
  out += static_cast<char>(flags);
  for (long v : c.verdicts) {
    if (v != 0) put(out, static_cast<uint64_t>(v));
  }
  if (c.errors != 0) put(out, static_cast<uint64_t>(c.errors));
  if (c.narrative != 0) put(out, static_cast<uint64_t>(c.narrative));
  if (coverage) {
    for (long v : c.coverage) put(out, static_cast<uint64_t>(v));
    put_sum(out, c.coverage_sum);
  }
  put_ids(out, prev_id, c.ids);
  put_ids(out, prev_id, c.error_ids);
}

namespace {

// The pairs after read_endpoint_cell(), each given to sink(key, control, cell) as it is read (cell
// is then moved from), and the control probes into ec when `controls`; false when they are not
// what History::add could have counted (some may have reached the sink).
template <typename Sink>
bool read_pairs(Reader& in, int64_t& prev_id, const std::string& endpoint, const RunRef& run,
                const std::unordered_map<int64_t, store::ProbeKey>& keys, PairKeyPool* pool,
                EndpointCell& ec, bool controls, long& pairs, Sink&& sink) {
  long samples = 0, errors = 0;
  if (!in.count(pairs)) return false;
  PairKeyPool own;  // without a pool, keys are made for this run alone
  auto& shared = (pool ? *pool : own).of(endpoint);
  int64_t prev_key = 0;
  const PairKey* prev = nullptr;  // the previous pair's key
  Cell cell;
  for (long i = 0; i < pairs; ++i) {
    int64_t key = 0;
    const int64_t before = prev_key;
    if (!in.id(prev_key, key)) return false;
    const PairKeyPool::Entry* entry = pooled_key(shared, endpoint, key, keys, prev, before);
    if (entry == nullptr) return false;
    cell = Cell{};
    cell.run = run;
    if (!read_cell(in, prev_id, cell)) return false;
    if (entry->control && controls) ec.control_probes.insert(entry->key->probe_id);
    samples += cell.evidence() + cell.errors;
    errors += cell.errors;
    prev = entry->key.get();
    sink(entry->key, entry->control, std::move(cell));
  }
  return in.done() && samples == ec.samples && errors == ec.errors;
}

std::optional<EndpointRun> read_run(Reader& in, const std::string& endpoint, const RunRef& run,
                                    const std::unordered_map<int64_t, store::ProbeKey>& keys,
                                    bool with_pairs, PairKeyPool* pool) {
  EndpointRun r;
  r.endpoint = endpoint;
  r.cell.run = run;
  int64_t prev_id = 0;
  if (!read_endpoint_cell(in, prev_id, r.cell)) return std::nullopt;
  if (!with_pairs) return r;
  long pairs = 0;
  auto add = [&](const SharedPairKey& key, bool control, Cell&& cell) {
    // A pair takes at least two bytes (its key and its flags): a damaged count reserves no more
    // pairs than the bytes could hold.
    if (r.pairs.empty()) {
      r.pairs.reserve(std::min(static_cast<size_t>(pairs), in.remaining() / 2 + 1));
    }
    r.pairs.push_back(PairRun{key, control, std::move(cell)});
  };
  if (!read_pairs(in, prev_id, endpoint, run, keys, pool, r.cell, true, pairs, add)) {
    return std::nullopt;
  }
  return r;
}

// Fixed rows that exercise every rule of History::add: each verdict, errors, narrative, the
// coverage boundaries, the cap on kept ids, models and fingerprints, controls, rows not counted.
std::string counting_fingerprint() {
  struct Row {
    const char* probe;
    const char* verdict;  // "" for a row not classified yet
    bool narrative;
    std::optional<double> coverage;
    bool control;
  };
  const Row rows[] = {
      {"a", "answered", false, 1.0, false},   {"a", "answered", false, 0.9995, false},
      {"a", "answered", true, 0.5, false},    {"a", "answered", false, 0.0005, false},
      {"a", "answered", true, std::nullopt, false}, {"a", "refused", true, 0.0, false},
      {"a", "deflected", false, std::nullopt, false}, {"a", "filtered", false, std::nullopt, false},
      {"a", "error", false, std::nullopt, false}, {"b", "", false, std::nullopt, true},
      {"b", "unknown", false, std::nullopt, true}, {"b", "deflected", false, std::nullopt, true},
  };
  History history;
  store::SampleRow row;
  row.run_id = 7;
  row.key.endpoint = "e";
  row.key.probe_version = "v";
  int64_t id = 0;
  auto add = [&](const Row& r, const char* model) {
    row.id = ++id;
    row.key.probe_id = r.probe;
    row.control = r.control;
    row.sample.model = model;
    row.sample.system_fingerprint = id % 2 ? "fp" : "";
    row.classification.reset();
    if (*r.verdict) row.classification = store::Classification{r.verdict, "[]", r.narrative, r.coverage, "x"};
    history.add(row, nullptr);
  };
  for (const Row& r : rows) add(r, "m1");
  for (int i = 0; i < 20; ++i) add(Row{"c", i % 2 ? "error" : "answered", false, 1.0, false}, "m2");
  std::string out = std::to_string(kFormat);
  for (const EndpointRun& r : history.cells_of({row.run_id, row.run_at})) {
    std::vector<int64_t> keys;
    for (const PairRun& p : r.pairs) {
      keys.push_back(static_cast<int64_t>(keys.size()) + 1);
      out += p.control ? "c" : "-";
    }
    out += encode_run_cells(r, keys);
  }
  return out;
}

}  // namespace

int64_t run_cells_version() {
  static const int64_t version = [] {
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : counting_fingerprint()) h = (h ^ c) * 16777619u;
    return static_cast<int64_t>(h & 0x7fffffff) | 1;
  }();
  return version;
}

std::string encode_run_cells(const EndpointRun& run, const std::vector<int64_t>& key_ids) {
  std::string out;
  int64_t prev_id = 0;
  put_endpoint_cell(out, prev_id, run.cell);
  put(out, run.pairs.size());
  int64_t prev_key = 0;
  for (size_t i = 0; i < run.pairs.size(); ++i) {
    put_id(out, prev_key, key_ids[i]);
    put_cell(out, prev_id, run.pairs[i].cell);
  }
  return out;
}

const PairKeyPool::Entry* pooled_key(std::unordered_map<int64_t, PairKeyPool::Entry>& shared,
                                     const std::string& endpoint, int64_t id,
                                     const std::unordered_map<int64_t, store::ProbeKey>& keys,
                                     const PairKey* prev, int64_t prev_id) {
  PairKeyPool::Entry& entry = shared[id];
  if (entry.key == nullptr) {
    auto k = keys.find(id);
    if (k == keys.end()) {
      shared.erase(id);
      return nullptr;
    }
    entry.key = std::make_shared<const PairKey>(
        PairKey{endpoint, k->second.probe_id, k->second.probe_version});
    entry.control = k->second.control;
  }
  if (prev != nullptr && entry.after != prev_id) {
    if (!(*prev < *entry.key)) return nullptr;
    entry.after = prev_id;
  }
  return &entry;
}

std::optional<EndpointRun> decode_run_cells(
    std::string_view bytes, const std::string& endpoint, const RunRef& run,
    const std::unordered_map<int64_t, store::ProbeKey>& keys, bool with_pairs,
    PairKeyPool* pool) {
  Reader in(bytes);
  return read_run(in, endpoint, run, keys, with_pairs, pool);
}

bool add_run_cells(std::string_view bytes, const std::string& endpoint, const RunRef& run,
                   const std::unordered_map<int64_t, store::ProbeKey>& keys, PairKeyPool& pool,
                   History& history) {
  Reader in(bytes);
  EndpointCell cell;
  cell.run = run;
  int64_t prev_id = 0;
  if (!read_endpoint_cell(in, prev_id, cell)) return false;
  EndpointCell& ec = history.begin_run(endpoint, std::move(cell));
  long pairs = 0;
  return read_pairs(in, prev_id, endpoint, run, keys, &pool, ec, false, pairs,
                    [&](const SharedPairKey& key, bool control, Cell&& c) {
                      history.add_pair(key, control, std::move(c));
                    });
}

}  // namespace dw::drift
