// What detection knows of the past: each probe x endpoint's samples aggregated per run (a
// "cell"), and each endpoint's per run. Built from streamed store::SampleRow, or for old runs
// from their stored summaries (run_cells.h: whole cells without texts), so history never has
// to be loaded whole: the caller feeds the runs of a bounded window, in time order, and prunes
// what falls out of it. Internal to the drift module.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "drift/answer_features.h"
#include "drift/minhash.h"
#include "drift/stats.h"
#include "store/store.h"

namespace dw::drift {

// The verdict columns of every verdict test, in this order; `error` is never one of them.
inline constexpr const char* kVerdictColumns[] = {"answered", "refused", "deflected",
                                                  "filtered"};
// Expect coverage columns: full, partial, none.
inline constexpr const char* kCoverageColumns[] = {"full", "partial", "none"};

// Sample ids a cell keeps as examples (of non-error and of error samples each): enough for
// evidence, bounded for long histories.
inline constexpr size_t kMaxCellIds = 8;

// The first kMaxCellIds sample ids of a cell: up to four in place, more (a pair asked more
// than four times a run) in one heap block. A detection builds and frees tens of thousands of
// cells: two heap lists a cell were a quarter of its time in the allocator, and eight ids in
// place made every cell 100 bytes larger. push_back past kMaxCellIds keeps nothing more.
class SampleIds {
 public:
  SampleIds() = default;
  SampleIds(std::initializer_list<int64_t> ids) {
    for (int64_t id : ids) push_back(id);
  }
  SampleIds(const SampleIds& other) { *this = other; }
  SampleIds(SampleIds&& other) noexcept
      : inline_(other.inline_), heap_(std::move(other.heap_)), size_(other.size_) {
    other.size_ = 0;
  }
  SampleIds& operator=(const SampleIds& other) {
    if (this != &other) {
      resize(other.size());
      std::copy(other.begin(), other.end(), begin());
    }
    return *this;
  }
  SampleIds& operator=(SampleIds&& other) noexcept {
    if (this != &other) {
      inline_ = other.inline_;
      heap_ = std::move(other.heap_);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  void push_back(int64_t id) {
    if (size_ == kMaxCellIds) return;
    if (size_ == kInline && !heap_) spill();
    begin()[size_++] = id;
  }
  // Makes room for n ids (at most kMaxCellIds), to be written through begin().
  void resize(size_t n) {
    n = std::min(n, kMaxCellIds);
    if (n > kInline && !heap_) spill();
    size_ = static_cast<uint8_t>(n);
  }
  void clear() { size_ = 0; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](size_t i) const { return begin()[i]; }
  int64_t* begin() { return heap_ ? heap_.get() : inline_.data(); }
  int64_t* end() { return begin() + size_; }
  const int64_t* begin() const { return heap_ ? heap_.get() : inline_.data(); }
  const int64_t* end() const { return begin() + size_; }
  operator std::span<const int64_t>() const { return {begin(), end()}; }
  friend bool operator==(const SampleIds& a, const SampleIds& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  static constexpr size_t kInline = 4;
  void spill() {
    auto block = std::make_unique<int64_t[]>(kMaxCellIds);
    std::copy(inline_.begin(), inline_.begin() + size_, block.get());
    heap_ = std::move(block);
  }

  std::array<int64_t, kInline> inline_{};
  std::unique_ptr<int64_t[]> heap_;  // once more than kInline were held: all of them
  uint8_t size_ = 0;
};

// The answered signatures of one endpoint's run as its summary stores them (run_cells.h), read
// from the store when a decision first compares one of them: a detection holds the texts of
// its last 40 runs, but its similarity tests compare the answers of a dozen, and the
// signatures are most of those runs' bytes. `read` queries the store (RunSummaries makes it,
// and reports its failures: RunSummaries::signatures_status()): the store must outlive every
// copy, and the first slice() may not come from inside a store callback. A read that fails,
// or gives other than `count` signatures, gives no signatures, nor does a slice out of range.
// One thread: a detection's.
class RunSignatures {
 public:
  using Read = std::function<Result<std::string>()>;  // the bytes, little-endian words
  RunSignatures(size_t count, Read read) : count_(count), read_(std::move(read)) {}
  size_t count() const { return count_; }
  // Signatures [first, first + n) of the run's, read on first call; empty when the read failed.
  std::span<const Signature> slice(size_t first, size_t n) const;

 private:
  size_t count_;
  mutable Read read_;
  mutable bool done_ = false;
  mutable std::vector<Signature> all_;
  mutable bool failed_ = false;
};

// A cell's answered signatures: its own (counted from rows), or a slice of its run's
// RunSignatures, whose get() may read them (see there). Copies share the run's.
class Signatures {
 public:
  Signatures() = default;
  // n of run's signatures from `first` (a run's are fewer than 2^32: its samples).
  Signatures(std::shared_ptr<const RunSignatures> run, size_t first, size_t n)
      : run_(std::move(run)),
        first_(static_cast<uint32_t>(first)),
        size_(static_cast<uint32_t>(n)) {}
  void push_back(const Signature& s) {  // an owned list only (never a slice)
    assert(!run_);
    own_.push_back(s);
    size_ = static_cast<uint32_t>(own_.size());
  }
  // Empty when a slice's read failed.
  std::span<const Signature> get() const { return run_ ? run_->slice(first_, size_) : own_; }
  size_t size() const { return size_; }  // never reads
  bool empty() const { return size_ == 0; }

 private:
  std::vector<Signature> own_;
  std::shared_ptr<const RunSignatures> run_;
  uint32_t first_ = 0, size_ = 0;
};

struct PairKey {
  std::string endpoint;
  std::string probe_id;
  std::string probe_version;
  auto operator<=>(const PairKey&) const = default;
};

// A pair's key shared by every run that names it: a window of summaries names the same few
// hundred pairs in each of its runs, and copying three strings for each was a sixth of a
// detection's time.
using SharedPairKey = std::shared_ptr<const PairKey>;

struct RunRef {
  int64_t id = 0;
  Time at;
};

// One pair's classified samples in one run (unclassified samples are not counted at all), or
// in a span of runs (History::fold).
struct Cell {
  RunRef run;
  // Arrays, not Counts: a window holds tens of thousands of cells, decoded at every detection.
  std::array<long, 4> verdicts{};  // kVerdictColumns
  long errors = 0;
  long narrative = 0;              // of the non-error samples
  std::array<long, 3> coverage{};  // answered samples with a coverage, kCoverageColumns
  double coverage_sum = 0;         // of its answered samples' coverages (a span: coverage_steps)
  bool texts = false;               // its run's texts are held: `answered` below is whole
  // A span (History::fold) stands for this many consecutive valid runs of the pair, from run
  // to span_last: their counts summed, their first ids. 1: one run's cell.
  int runs = 1;
  Time span_last{};
  Signatures answered;              // of the answered samples' normalised texts
  SampleIds ids;                    // non-error sample ids, the first kMaxCellIds
  SampleIds error_ids;              // the same of error samples

  long evidence() const {  // non-error samples
    return verdicts[0] + verdicts[1] + verdicts[2] + verdicts[3];
  }
  Time last_at() const { return runs > 1 ? span_last : run.at; }  // of the last run it counts
  // Not evidence either way: nothing classified, or more than half of it errors.
  bool valid() const { return evidence() > 0 && errors <= evidence(); }
};

// A cell's coverage_sum in steps of 2^-20. Sums of such are exact in a double, in any order:
// a side sums its cells' steps, and a span holds the sum of its cells' steps, so a side over
// spans is the side over the cells they fold. A span's coverage_sum is already in steps.
inline double coverage_steps(double sum) { return std::round(sum * 0x1p20) / 0x1p20; }

struct PairHistory {
  PairKey key;
  SharedPairKey fed_key;  // the shared key add(EndpointRun) last matched: equal, compared fast
  bool control = false;
  std::vector<Cell> cells;  // in run order
  // Folding (History::fold): cells before this may be folded; never across one of the cuts.
  Time fold_until = Time::min();
  const std::vector<Time>* cuts = nullptr;
  bool fold_tail = false;  // the last cell may take the next one in
};

// Where History::add(EndpointRun) may fold a pair's consecutive valid cells into one span
// (Cell::runs): where no decision of the run can tell them apart (engine.h reach()). Every
// baseline of the run starts at or before `from`; each pair's recent windows, and the runs of
// every window its cells are compared over (as a control), start at or after its `until`; no
// span may hold cells on both sides of a cut (an event's detection, decision or resolution).
// Pairs without an `until` are not folded.
struct Folding {
  Time from = Time::max();
  std::map<PairKey, Time> until;
  std::map<PairKey, std::vector<Time>> cuts;  // each sorted
};

// One normalised text seen on an endpoint in one run, with the probes it answered.
struct TextUse {
  // The raw text of one of these samples, whose words a new template's evidence quotes: only
  // the run being decided, counted from its rows, has it (a summary does not store it).
  std::string response_hash;
  std::set<std::string> probes;
  SampleIds ids;
};

// The shared texts of one endpoint's run, by sha256 (hex) of the normalised text: built by
// History::add as rows come, or read back from the run's summary (run_cells.h, the texts'
// part), where they stay in their encoding and are looked up in place: the forty runs of
// answers a detection reads are mostly texts no other probe shares, never asked about.
class TextUses {
 public:
  // The use of this text, created empty on first call. The built form only.
  TextUse& add(const std::string& hash);
  // The use of this text; nullopt when the run has none.
  std::optional<TextUse> find(const std::string& hash) const;
  bool contains(const std::string& hash) const;
  // The probes of this text into `into` (none when the run has no use of it): find() without
  // the ids, which most of the texts a decision asks about never need.
  void add_probes(const std::string& hash, std::set<std::string>& into) const;
  size_t size() const { return packed_ ? offsets_.size() : built_.size(); }
  // Every use, by hash.
  std::map<std::string, TextUse> all() const;
  // The built form's uses in place (all() without the copy); null for a decoded form.
  const std::map<std::string, TextUse>* built() const { return packed_ ? nullptr : &built_; }

  // The encoding (run_cells.h): the number of uses, then each in hash order, naming its
  // probes by their index in `probes`: the keys of the pairs whose texts could be shared, in
  // probe id order, one per probe id. nullopt when a hash is not a lowercase hex sha256 or a
  // probe is not among them.
  std::optional<std::string> encode(std::span<const SharedPairKey> probes) const;
  // Back from the bytes encode() gave with the same probes, which the uses keep to name them;
  // the bytes must end there. nullopt for other bytes, and for a probe index out of range.
  static std::optional<TextUses> decode(std::string_view bytes, std::vector<SharedPairKey> probes);

 private:
  struct Entry {
    uint32_t offset;  // of the entry in *packed_
    int64_t prev_id;  // the id its zigzag deltas start from
  };
  std::optional<TextUse> entry(const Entry& e) const;
  const Entry* locate(const std::string& hash) const;  // the packed form's entry, if any

  std::map<std::string, TextUse> built_;
  std::shared_ptr<const std::string> packed_;  // decoded: the bytes, shared by copies
  std::shared_ptr<const std::vector<SharedPairKey>> probes_;  // ... and the probes they name
  std::vector<Entry> offsets_;                 // in hash order
};

struct EndpointCell {
  RunRef run;
  long samples = 0;  // classified samples
  long errors = 0;
  std::map<std::string, long> models;  // reported model ids of non-error samples
  std::map<std::string, long> fingerprints;
  SampleIds ids;  // non-error samples (examples)
  SampleIds error_ids;
  bool texts = false;
  // Answered and deflected texts of >= 20 characters, by sha256 of the normalised text.
  TextUses uses;
  // Probes of the run that are controls. Read (canned templates) of runs with texts only:
  // old runs' counts may be added without them (add_run_cells).
  std::set<std::string> control_probes;
};

struct EndpointHistory {
  std::string name;
  std::vector<EndpointCell> cells;  // in run order
};

// One pair's cell of one run as a run summary holds it (run_cells.h): no texts.
struct PairRun {
  SharedPairKey key;  // never null
  bool control = false;
  Cell cell;
};

// One endpoint's counts in one run: its cell and its pairs' cells (in key order), no texts.
struct EndpointRun {
  std::string endpoint;
  EndpointCell cell;
  std::vector<PairRun> pairs;
};

// The texts of one endpoint's run: what add(row, features) keeps beyond the counts.
struct EndpointTexts {
  std::string endpoint;
  // The answered signatures of each pair that has any, in key order (as Cell::answered).
  std::vector<std::pair<SharedPairKey, Signatures>> answered;
  TextUses uses;  // as EndpointCell::uses
};

class History {
 public:
  History() = default;
  History(const History&) = delete;  // holds pointers into its own maps
  History& operator=(const History&) = delete;

  // Adds one sample. Rows must come in store order (run by run). features: those of the
  // row's text when texts are kept for its run (signatures and canned templates), else null.
  void add(const store::SampleRow& row, const AnswerFeatures* features);
  // Adds one endpoint's cells of one run, as add() would have counted the run's rows without
  // features (folded into the pair's last cell where fold() allows). The run must come after
  // every run already added. Taken by value: a window holds hundreds of runs of hundreds of
  // cells, moved in rather than copied. The endpoint cell's control_probes must name the run's
  // control pairs (as decoding and cells_of() give them).
  void add(EndpointRun run);
  // add(EndpointRun) in steps, for a decoder that reads a run pair by pair rather than build
  // it first (a window's old runs are hundreds of runs of hundreds of pairs): begin_run() with
  // the endpoint's cell, whose control_probes the caller fills in through the reference it
  // returns (valid until the next add), then add_pair() for each of its pairs in key order.
  EndpointCell& begin_run(const std::string& endpoint, EndpointCell cell);
  void add_pair(const SharedPairKey& key, bool control, Cell&& cell);
  // add_pair() of several cells of one pair (a day's block: its cells of the day's runs), in
  // run order. Spans among them (Cell::runs > 1) are taken as they are, and folded further
  // where the folding allows: give only spans it would have made (block_fits()).
  void add_cells(const SharedPairKey& key, bool control, std::span<Cell> cells);
  // Drops every cell (the folding stays): the history is as it was before the first add.
  void drop_cells();
  bool empty() const { return pairs_.empty() && endpoints_.empty(); }
  // From now on, add(EndpointRun) folds cells as `folding` allows: a long window of old runs
  // is then held in a few cells a pair. Decisions over the spans are those over the cells
  // they fold (counts are sums; run counts, times and ids are kept), so callers fold only
  // where that holds: detect_run's old runs, never a history decided run after run.
  void fold(Folding folding);
  Time fold_from() const { return folding_.from; }  // Time::max() when not folding
  const Folding& folding() const { return folding_; }
  // How many runs the adds that follow (either add(), or append()) will add: a pair's list of
  // cells is made that large when its first cell comes, instead of growing (a window is a
  // hundred runs of hundreds of pairs). A hint: more runs still fit, fewer leave room unused.
  void expect_runs(size_t runs) { expected_runs_ = runs; }
  // What history holds of one run, one entry per endpoint in name order, without texts (what
  // add(EndpointRun) takes back); empty when no sample of the run was counted. A run folded
  // into a span has no pairs' cells here: ask only of runs that were added whole.
  std::vector<EndpointRun> cells_of(const RunRef& run) const;
  // Adds the texts of a run whose counts add(EndpointRun) has just added, as add(row, features)
  // would have kept them: every cell of the endpoint's run then holds texts. False, changing
  // nothing, when history holds no cell of that endpoint in that run.
  bool add_texts(const RunRef& run, EndpointTexts texts);
  // What history holds of one run's texts, one entry per endpoint whose cell of the run holds
  // texts, in name order (what add_texts takes back).
  std::vector<EndpointTexts> texts_of(const RunRef& run) const;
  // Moves every cell of `later` in after this history's, as if its runs had been added here
  // (they must all come after the runs already added). `later` is left empty.
  void append(History&& later);
  // Drops cells of runs before horizon, and the texts of runs before text_horizon.
  void prune(Time horizon, Time text_horizon);

  const std::map<PairKey, PairHistory>& pairs() const { return pairs_; }
  const std::map<std::string, EndpointHistory>& endpoints() const { return endpoints_; }

 private:
  std::map<PairKey, PairHistory> pairs_;
  std::map<std::string, EndpointHistory> endpoints_;
  void plan_folding(PairHistory& pair) const;  // its part of folding_
  // Whether one of the pair's cuts is in [first, last].
  static bool cut_between(const PairHistory& pair, Time first, Time last);
  static void fold_into(Cell& span, const Cell& c);

  Folding folding_;
  PairHistory* last_pair_ = nullptr;  // where the previous row went (map nodes stay put)
  // Where begin_run()'s endpoint's next pair is looked for: its pairs come in key order.
  std::map<PairKey, PairHistory>::iterator next_pair_;
  EndpointHistory* last_endpoint_ = nullptr;
  size_t expected_runs_ = 0;
};

}  // namespace dw::drift
