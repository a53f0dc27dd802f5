// Run summaries: what History counted of each endpoint in one run (its cells without texts),
// kept in the store (Store::put_run_cells) as a few bytes per probe, so that a detection reads
// the counts of old runs instead of their samples and costs the same after years of history.
// Internal to the drift module.
//
//   RunSummaries summaries(store);
//   summaries.feed(history, horizon, text_horizon);   // old runs: summaries, else samples
//   ...                                               // newer runs: samples with features
//   summaries.write(history, run);                    // in the run's write transaction
//   for (const RunRef& r : summaries.take_missing()) summaries.write(history, r);
//
// A summary is derived data: rows of another run_cells_version() are ignored and rebuilt from
// the samples, as are rows that do not decode; the schema drops a run's rows when one of its
// verdicts changes. Pair keys are stored as the store's probe keys (Store::probe_key); a
// pair's control flag is read from the probe as it is now, as sample rows are.
//
// Encoding (version 1; all integers unsigned LEB128 varints, ids as zigzag deltas from the
// previous id written in the same blob, starting at 0):
//   endpoint: samples, errors, models (count, then length + bytes + count each), fingerprints
//   (the same), its non-error ids (min(samples - errors, 8) of them), its error ids
//   (min(errors, 8)), then the number of pairs and each pair:
//   key (zigzag delta from the previous pair's probe key), a flags byte (bits 0-3: verdict
//   column i counted, bit 4 errors, bit 5 narrative, bit 6 coverage), the counts flagged, in
//   that order; with coverage: full, partial, none, then the sum (2k for an integer k, else 1
//   and the 8 bytes of the double, little-endian); then its ids (min(evidence, 8)) and error
//   ids (min(errors, 8)). About 8 bytes for a pair of 3 answered samples.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/error.h"
#include "drift/history.h"
#include "store/store.h"

namespace dw::drift {

// Names the encoding and what a cell counts: a fingerprint of History::add over fixed rows, so
// a change to the counting rules changes it. Positive; the same for the life of the program.
int64_t run_cells_version();

// The bytes of one endpoint's run; key_ids[i] is the probe key of run.pairs[i].
std::string encode_run_cells(const EndpointRun& run, const std::vector<int64_t>& key_ids);

// Back, for the run and endpoint the stored row names; nullopt for bytes that are not such an
// encoding, or that name a probe key missing from keys.
std::optional<EndpointRun> decode_run_cells(
    std::string_view bytes, const std::string& endpoint, const RunRef& run,
    const std::unordered_map<int64_t, store::ProbeKey>& keys);

// Reads and writes the run summaries of one detection through the store.
class RunSummaries {
 public:
  explicit RunSummaries(store::Store& store) : store_(store) {}

  // Adds to history the cells of the runs with since <= run_at < until, in run order, without
  // texts: decoded from their summaries, or counted from their samples when a run has no
  // summary of this version (remembered for take_missing() once the run is finished). Fails
  // when the store does.
  Status feed(History& history, Time since, Time until);

  // Replaces the stored summary of run with what history holds of it (a row for every
  // endpoint; one marker row when it holds nothing). Writes: inside the caller's transaction.
  Status write(const History& history, const RunRef& run);

  // The finished runs feed() had to count from their samples, since the last call.
  std::vector<RunRef> take_missing() { return std::exchange(missing_, {}); }

  long decoded() const { return decoded_; }  // runs read from their summaries
  long counted() const { return counted_; }  // runs counted from their samples

 private:
  Status load_keys();
  Status count_from_samples(History& history, const store::RunInfo& run);

  store::Store& store_;
  bool loaded_ = false;
  std::unordered_map<int64_t, store::ProbeKey> keys_;                // by key
  std::map<std::pair<std::string, std::string>, int64_t> key_ids_;  // (probe id, version)
  std::vector<RunRef> missing_;
  long decoded_ = 0;
  long counted_ = 0;
};

}  // namespace dw::drift
