// Day blocks: the old runs of a detection's window, one UTC day at a time. A detection folds
// the pairs' cells of the runs before its texts' window into spans (History::fold); a day's
// block holds them folded already (Store::put_day_block), so that a detection at a long
// history reads a block a day instead of every run's summary. Derived data, checked before
// use: a block stands in for its day only when it names exactly the day's runs and each of
// its spans is one the detection would have folded (block_fits()); otherwise the day's runs
// are read one by one. Internal to the drift module.
//
// Encoding (integers varints, ids zigzag deltas as in run_cells.h), an index then the cells:
//   format; the runs (count, then each: id delta, seconds since the previous run, the first
//   since the Unix epoch); the endpoints (count, then each: name (length, bytes), a byte for
//   each run (1: it has a cell in it), its pairs (count, then each: key (delta from the
//   previous pair's probe key), its cells (count, then each: its first run's index, the runs
//   it counts, the index of the last when more than one))); then for each endpoint its cells
//   of the runs it has one in (run_cells.h's endpoint part) and its pairs' cells, in the
//   index's order (cell_codec.h), ids continuing from one to the next within an endpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "drift/history.h"
#include "drift/run_cells.h"
#include "store/store.h"

namespace dw::drift {

// Names the encoding and what a cell counts (run_cells_version()).
int64_t day_block_version();

// "YYYY-MM-DD" of a time's UTC day, and the day's first second.
std::string day_of(Time at);
Time day_start(Time at);
// A week's block (Store::put_week_block) is encoded as a day's, over the runs of the seven
// days from a Monday: the first second of the Monday of a time's week (UTC).
inline constexpr int kWeekDays = 7;
Time week_start(Time at);

// The index of a block: its runs and which cells its endpoints and pairs have, read without
// the cells themselves (enough to tell whether it fits a detection's folding).
struct DayBlockIndex {
  std::vector<RunRef> runs;
  struct Cell {
    uint32_t first = 0, last = 0;  // its runs' indexes in `runs`
    int runs = 1;                  // the valid runs it counts (> 1: a span)
  };
  struct Pair {
    SharedPairKey key;
    bool control = false;
    size_t first = 0, count = 0;  // its cells in `cells`, in run order
  };
  struct Endpoint {
    std::string name;
    std::vector<bool> has;     // a cell in each run
    std::vector<Pair> pairs;   // in key order
  };
  std::vector<Endpoint> endpoints;  // in name order
  std::vector<Cell> cells;          // every pair's, one after another
  size_t payload = 0;               // where the cells' bytes start
};

// A day's or a week's block that a detection reads in place of its runs: runs[first, end) of
// those it lists (RunSummaries::feed).
struct ReadBlock {
  size_t first, end;
  Time start;  // of its first day
  int days;    // 1 or kWeekDays
  std::string bytes;
  DayBlockIndex index;
};

// The block of a day, from a History that holds exactly the runs given (oldest first), added
// whole, folded as the detection that makes it folds but from the day's first run on (its
// Folding with from Time::min()). key_ids: the store's probe key of each pair's (probe id,
// version). nullopt when a pair has no key there.
std::optional<std::string> encode_day_block(
    const std::vector<RunRef>& runs, const History& day,
    const std::map<std::pair<std::string, std::string>, int64_t>& key_ids);

// The index of the block's bytes; nullopt when it is not one (or names a key missing from
// keys). Pair keys come from pool, as decode_run_cells() takes them.
std::optional<DayBlockIndex> read_day_block(
    std::string_view bytes, const std::unordered_map<int64_t, store::ProbeKey>& keys,
    PairKeyPool& pool);

// Whether history, as it folds, would have folded the block's runs into its spans just so.
bool block_fits(const DayBlockIndex& block, const History& history);

// Adds the block's runs to history, as adding them one by one would have (when it fits): the
// cells are decoded as they are added. The endpoints' cells come without control_probes, like
// add_run_cells(). False when the cells' bytes do not decode; history then holds part of the
// block (as add_run_cells()).
bool add_day_block(std::string_view bytes, const DayBlockIndex& block, History& history);

}  // namespace dw::drift
