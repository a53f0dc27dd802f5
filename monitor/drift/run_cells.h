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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/error.h"
#include "drift/answer_features.h"
#include "drift/history.h"
#include "store/store.h"

namespace dw::drift {

// Names the encoding and what a cell counts: a fingerprint of History::add over fixed rows, so
// a change to the counting rules changes it. Positive; the same for the life of the program.
int64_t run_cells_version();

// The bytes of one endpoint's run; key_ids[i] is the probe key of run.pairs[i].
std::string encode_run_cells(const EndpointRun& run, const std::vector<int64_t>& key_ids);

// The keys of the pairs decodings have named, by endpoint and probe key id: every run of a
// window names the same pairs, and shares their keys (RunSummaries keeps one for its reads).
class PairKeyPool {
 public:
  struct Entry {
    SharedPairKey key;   // empty until made
    bool control = false;
    int64_t after = -1;  // a probe key id whose pair's key was found to sort before this one
  };
  // The keys of one endpoint's pairs, by probe key id.
  std::unordered_map<int64_t, Entry>& of(const std::string& endpoint) { return keys_[endpoint]; }

 private:
  std::map<std::string, std::unordered_map<int64_t, Entry>> keys_;
};

// The entry of the pair named by probe key `id` among an endpoint's (`shared`: its
// PairKeyPool::of()), its key made once from keys; null when keys lacks it, or when it does
// not sort after the previous pair's (prev, named by probe key prev_id; null for the first):
// a run's pairs come in key order, each once. Every run of a window names the same pairs in
// the same order: two keys found in that order once are not compared again. keys may grow
// between calls, never lose or change a key: the entries made stay.
const PairKeyPool::Entry* pooled_key(std::unordered_map<int64_t, PairKeyPool::Entry>& shared,
                                     const std::string& endpoint, int64_t id,
                                     const std::unordered_map<int64_t, store::ProbeKey>& keys,
                                     const PairKey* prev, int64_t prev_id);

// Back, for the run and endpoint the stored row names; nullopt for bytes that are not such an
// encoding, or that name a probe key missing from keys. Without with_pairs, only the endpoint's
// cell (no pairs, no control probes), read no further than its end. The pairs' keys come from
// pool when given (made there once), else each is made anew.
std::optional<EndpointRun> decode_run_cells(
    std::string_view bytes, const std::string& endpoint, const RunRef& run,
    const std::unordered_map<int64_t, store::ProbeKey>& keys, bool with_pairs = true,
    PairKeyPool* pool = nullptr);

// What decode_run_cells() and then History::add() of its result do, without building the run
// (a detection adds the pairs' counts of a hundred old runs), except that the endpoint cell's
// control_probes stay empty: they are read of runs with texts only (EndpointCell). False for
// bytes decode_run_cells() rejects; history then holds part of the run, so the caller must
// start it again (History::drop_cells()).
bool add_run_cells(std::string_view bytes, const std::string& endpoint, const RunRef& run,
                   const std::unordered_map<int64_t, store::ProbeKey>& keys, PairKeyPool& pool,
                   History& history);

// The texts' part (Store::put_run_texts), kept for the runs detection reads texts of: what
// History::add(row, features) keeps beyond the counts, in two parts, read apart: the shared
// texts (RunCells::data) of every run of the window, the signatures (RunCells::signatures)
// only of the runs a decision compares answers of. Version: names this encoding, the answers'
// features (answer_features_version()) and run_cells_version(). Encoding: signatures, the
// answered signatures of each pair of the counts with answered samples, in the counts' pair
// order, as many as it answered, each 64 little-endian 16-bit words; data, the number of
// shared-text uses and each: the normalised text's sha256 (32 bytes), its probes (count, then
// each one's index, ascending, among the probe ids of the counts' pairs that answered or
// deflected, sorted and each once), its sample ids (count, then zigzag deltas as above). Not
// the raw text's hash (TextUse::response_hash): only the run being decided quotes its words.
int64_t run_texts_version();
struct RunTextsBytes {
  std::string data;        // the shared texts
  std::string signatures;  // the answered signatures
};
// nullopt when texts does not fit counts (a pair's signatures are not its answered count, a
// use names a probe none of the pairs answered or deflected, the pairs are not in key order)
// or a hash is not a lowercase hex sha256, or when signatures read from a summary cannot be
// read again: such texts are not stored (their run is counted from its samples next time).
std::optional<RunTextsBytes> encode_run_texts(const EndpointRun& counts,
                                              const EndpointTexts& texts);
// The signatures' bytes a run's texts have for these counts: 128 for each answered sample.
size_t run_signatures_size(const EndpointRun& counts);
// Back from data, given the counts decoded from the same run and endpoint and that run's
// signatures (read when first used: their count must be run_signatures_size()'s); nullopt for
// other bytes, or signatures of another count.
std::optional<EndpointTexts> decode_run_texts(std::string_view data, const EndpointRun& counts,
                                              std::shared_ptr<const RunSignatures> signatures);

struct ReadBlock;  // day_blocks.h

// Reads and writes the run summaries of one detection through the store.
class RunSummaries {
 public:
  explicit RunSummaries(store::Store& store) : store_(store) {}

  // Adds to history the cells of the runs with since <= run_at < until, in run order: decoded
  // from their summaries, or counted from their samples when a run has no summary of this
  // version (remembered for take_missing() once the run is finished). Runs at or after
  // texts_since come with their texts: the texts' part of their summaries, or their samples
  // with the features `cache` gives. Runs before pairs_since come with their endpoints' cells
  // only (those with a summary: the others are counted whole). Sets history.expect_runs() to
  // the runs whose pairs it adds (those a folding history may fold count as one) plus
  // runs_after, the runs the caller will add after them (so that a pair's cells are allocated
  // once, not again for each later run). Fails when the store does.
  Status feed(History& history, Time since, Time until, Time texts_since, FeatureCache& cache,
              Time pairs_since = Time::min(), size_t runs_after = 0);

  // Replaces the stored summary of run with what history holds of it (a row for every
  // endpoint; one marker row when it holds nothing), and, when with_texts, its texts' part
  // (when history holds the run's texts). Writes: inside the caller's transaction.
  Status write(const History& history, const RunRef& run, bool with_texts);

  // The finished runs feed() had to count from their samples, since the last call.
  std::vector<RunRef> take_missing() { return std::exchange(missing_, {}); }

  long decoded() const { return decoded_; }  // runs read from their summaries
  long pairs_decoded() const { return pairs_decoded_; }  // ... of them with their pairs' cells
  long counted() const { return counted_; }  // runs counted from their samples
  long blocks_read() const { return blocks_read_; }  // days read from their blocks (day_blocks.h)
  long weeks_read() const { return weeks_read_; }    // weeks read from theirs
  // The runs' signatures that feed() left to be read on first use (RunSignatures), which must
  // be in the transaction feed() read in (the rows may not change meanwhile): whether a read
  // failed (decisions made since may have missed answers: not to be kept), and how many
  // endpoint runs' were read, of how many whose texts came from their summaries.
  Status signatures_status() const {
    return reads_->failure ? Status(*reads_->failure) : Status();
  }
  long signatures_read() const { return reads_->read; }
  long text_runs_read() const { return text_runs_; }

  // Stores the day blocks the last feed() made of the whole days it read run by run (those
  // whose runs' summaries are still the ones it read), and the week blocks it made of the
  // days' blocks it read (those whose days' blocks are still stored), and drops a block it
  // found damaged.
  // Writes: inside the caller's transaction.
  Status write_blocks();

 private:
  Status load_keys();
  // feed(). With undecodable, the pairs' counts of the runs before texts_since are added to
  // history as they are decoded (add_run_cells): when one does not decode after all, part of
  // its run is in history, *undecodable is set and it fails.
  Status feed_runs(History& history, Time since, Time until, Time texts_since,
                   FeatureCache& cache, Time pairs_since, size_t runs_after, bool* undecodable);
  // The rows it read (0: the run has no samples left, and history is unchanged).
  Result<long> count_from_samples(History& history, const store::RunInfo& run, FeatureCache* cache);
  // run_summary_blocks.cc (with write_blocks()): the blocks feed() reads, and those it makes
  // for write_blocks().
  // The blocks of the whole days [first_day, end_day) of runs, in day order: each week from a
  // Monday that lies inside them from its block, the other days from theirs, of the blocks
  // that name exactly the listed runs of their days and fit history's folding (the days of
  // none are read run by run).
  Status read_blocks(const History& history, const std::vector<store::RunInfo>& runs,
                     Time first_day, Time end_day, std::vector<ReadBlock>& out);
  // A whole day feed() read run by run (its map holds them by their first second).
  struct DayRead {
    std::vector<store::RunCells> rows;  // of its runs
    size_t runs = 0;                    // its runs that came from their summaries
  };
  // The day blocks to store of those days whose runs all came from their summaries.
  void make_days(const History& history, const std::vector<store::RunInfo>& runs,
                 std::map<Time, DayRead>& days);
  // The week blocks to store of the weeks whose runs all came from their days' blocks
  // (blocks: what the feed read, in day order), inside [first_day, end_day).
  void make_weeks(const History& history, const std::vector<store::RunInfo>& runs,
                  const std::vector<ReadBlock>& blocks, Time first_day, Time end_day);
  // The texts' part of run's summary added to history after its counts, which are moved in;
  // false when it is missing, of another version or does not decode (history and counts are
  // then unchanged).
  Result<bool> add_texts(History& history, const RunRef& run, std::vector<EndpointRun>& counts);

  store::Store& store_;
  bool loaded_ = false;
  std::unordered_map<int64_t, store::ProbeKey> keys_;                // by key
  std::map<std::pair<std::string, std::string>, int64_t> key_ids_;  // (probe id, version)
  PairKeyPool pair_keys_;  // the pairs' keys of every run read
  std::vector<RunRef> missing_;
  struct SignatureReads {  // by the readers feed() gave the runs' signatures
    long read = 0;
    std::optional<Error> failure;  // the first
  };
  std::shared_ptr<SignatureReads> reads_ = std::make_shared<SignatureReads>();
  long text_runs_ = 0;  // endpoint runs whose texts feed() read from their summaries
  long decoded_ = 0;
  long pairs_decoded_ = 0;
  long counted_ = 0;
  long blocks_read_ = 0;
  long weeks_read_ = 0;
  struct PendingBlock {
    Time start;                         // of its day
    std::vector<store::RunCells> rows;  // the summaries it was made of
    store::DayBlock block;
  };
  std::vector<PendingBlock> pending_blocks_;
  struct PendingWeek {
    std::string week;                   // its Monday
    std::vector<store::DayBlock> days;  // the days' blocks it was made of
    store::DayBlock block;
  };
  std::vector<PendingWeek> pending_weeks_;
  // The first day of a block that did not decode, and whether it is a week's.
  std::optional<std::pair<std::string, bool>> bad_block_;
};

}  // namespace dw::drift
