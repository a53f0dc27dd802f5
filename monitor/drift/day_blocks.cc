// Day blocks as bytes (the encoding day_blocks.h describes), and how they are added.
#include "drift/day_blocks.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "drift/cell_codec.h"

namespace dw::drift {
namespace {

using namespace varint;

// Of the bytes below. day_block_version() also names run_cells_version(), but not how
// History::fold sums cells into a span (fold_into): a change there must change this too.
constexpr uint64_t kBlockFormat = 1;

void put_string(std::string& out, const std::string& s) {
  put(out, s.size());
  out += s;
}

// Where a cell's first and last runs are in runs (in run order): the first by its id, the last
// by its time, the last of the runs at that time (a span ends at a run it folded, several runs
// may share a second); nullopt when they are not there.
std::optional<std::pair<size_t, size_t>> indexes_of(const std::vector<RunRef>& runs,
                                                     const Cell& c) {
  auto first =
      std::find_if(runs.begin(), runs.end(), [&](const RunRef& r) { return r.id == c.run.id; });
  auto after = std::upper_bound(runs.begin(), runs.end(), c.last_at(),
                                [](Time t, const RunRef& r) { return t < r.at; });
  if (first == runs.end() || after == runs.begin() || std::prev(after)->at != c.last_at() ||
      after <= first) {
    return std::nullopt;
  }
  const auto i = static_cast<size_t>(first - runs.begin());
  const auto last = static_cast<size_t>(after - runs.begin()) - 1;
  return std::pair<size_t, size_t>{i, c.runs > 1 ? last : i};
}

}  // namespace

int64_t day_block_version() {
  static const int64_t version = [] {
    std::string name = "day-blocks/" + std::to_string(kBlockFormat) + " " +
                       std::to_string(run_cells_version());
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : name) h = (h ^ c) * 16777619u;
    return static_cast<int64_t>(h & 0x7fffffff) | 1;
  }();
  return version;
}

Time day_start(Time at) { return std::chrono::floor<std::chrono::days>(at); }

std::string day_of(Time at) { return format_time(day_start(at)).substr(0, 10); }

Time week_start(Time at) {
  const auto day = std::chrono::floor<std::chrono::days>(at);
  return day - (std::chrono::weekday(day) - std::chrono::Monday);
}

std::optional<std::string> encode_day_block(
    const std::vector<RunRef>& runs, const History& day,
    const std::map<std::pair<std::string, std::string>, int64_t>& key_ids) {
  std::string out, cells;
  put(out, kBlockFormat);
  put(out, runs.size());
  int64_t prev_run = 0;
  int64_t prev_at = 0;
  for (const RunRef& r : runs) {
    put_id(out, prev_run, r.id);
    const int64_t at = r.at.time_since_epoch().count();
    if (at < prev_at) return std::nullopt;  // not in run order
    put(out, static_cast<uint64_t>(at - prev_at));
    prev_at = at;
  }
  put(out, day.endpoints().size());
  for (const auto& [name, ep] : day.endpoints()) {
    put_string(out, name);
    int64_t prev_id = 0;
    auto cell = ep.cells.begin();
    for (const RunRef& r : runs) {
      const bool has = cell != ep.cells.end() && cell->run.id == r.id;
      out += static_cast<char>(has ? 1 : 0);
      if (has) put_endpoint_cell(cells, prev_id, *cell++);
    }
    if (cell != ep.cells.end()) return std::nullopt;  // a cell of another run
    auto begin = day.pairs().lower_bound(PairKey{name, "", ""});
    auto end = begin;
    while (end != day.pairs().end() && end->first.endpoint == name) ++end;
    put(out, static_cast<uint64_t>(std::distance(begin, end)));
    int64_t prev_key = 0;
    for (auto it = begin; it != end; ++it) {
      auto id = key_ids.find({it->first.probe_id, it->first.probe_version});
      if (id == key_ids.end()) return std::nullopt;
      put_id(out, prev_key, id->second);
      put(out, it->second.cells.size());
      for (const Cell& c : it->second.cells) {
        auto at = indexes_of(runs, c);
        if (!at) return std::nullopt;
        put(out, at->first);
        put(out, static_cast<uint64_t>(c.runs));
        if (c.runs > 1) put(out, at->second);
        put_cell(cells, prev_id, c);
      }
    }
  }
  return out + cells;
}

std::optional<DayBlockIndex> read_day_block(
    std::string_view bytes, const std::unordered_map<int64_t, store::ProbeKey>& keys,
    PairKeyPool& pool) {
  Reader in(bytes);
  uint64_t format = 0;
  if (!in.varint(format) || format != kBlockFormat) return std::nullopt;
  DayBlockIndex b;
  long runs = 0;
  if (!in.count(runs) || runs == 0 || in.remaining() < static_cast<size_t>(runs)) {
    return std::nullopt;
  }
  int64_t prev_run = 0;
  uint64_t at = 0;
  for (long i = 0; i < runs; ++i) {
    RunRef& r = b.runs.emplace_back();
    uint64_t step = 0;
    if (!in.id(prev_run, r.id) || !in.varint(step) || step > (uint64_t{1} << 40)) {
      return std::nullopt;
    }
    at += step;
    r.at = Time(std::chrono::seconds(static_cast<int64_t>(at)));
  }
  long endpoints = 0;
  if (!in.count(endpoints) || in.remaining() < static_cast<size_t>(endpoints)) return std::nullopt;
  for (long e = 0; e < endpoints; ++e) {
    DayBlockIndex::Endpoint& ep = b.endpoints.emplace_back();
    long size = 0;
    std::string_view name;
    if (!in.count(size) || !in.raw(static_cast<size_t>(size), name) || name.empty()) {
      return std::nullopt;
    }
    ep.name = std::string(name);
    if (e > 0 && !(b.endpoints[static_cast<size_t>(e) - 1].name < ep.name)) return std::nullopt;
    bool any = false;
    for (long i = 0; i < runs; ++i) {
      uint8_t has = 0;
      if (!in.byte(has) || has > 1) return std::nullopt;
      ep.has.push_back(has == 1);
      any = any || has == 1;
    }
    long pairs = 0;
    if (!in.count(pairs) || in.remaining() < static_cast<size_t>(pairs)) return std::nullopt;
    if (pairs > 0 && !any) return std::nullopt;  // a pair's run has its endpoint's cell
    ep.pairs.reserve(static_cast<size_t>(pairs));
    auto& shared = pool.of(ep.name);
    int64_t prev_key = 0;
    for (long p = 0; p < pairs; ++p) {
      int64_t key = 0;
      const int64_t before = prev_key;
      if (!in.id(prev_key, key)) return std::nullopt;
      const PairKey* prev = p > 0 ? ep.pairs.back().key.get() : nullptr;
      const PairKeyPool::Entry* entry = pooled_key(shared, ep.name, key, keys, prev, before);
      if (entry == nullptr) return std::nullopt;
      DayBlockIndex::Pair& pair = ep.pairs.emplace_back();
      pair.key = entry->key;
      pair.control = entry->control;
      long cells = 0;
      if (!in.count(cells) || cells == 0 || cells > runs) return std::nullopt;
      pair.first = b.cells.size();
      pair.count = static_cast<size_t>(cells);
      long next = 0;  // the first run index the next cell may start at
      for (long c = 0; c < cells; ++c) {
        long first = 0, count = 0, last = 0;
        if (!in.count(first) || first < next || first >= runs || !in.count(count) || count < 1 ||
            !ep.has[static_cast<size_t>(first)]) {
          return std::nullopt;
        }
        last = first;
        if (count > 1 && (!in.count(last) || last <= first || last >= runs ||
                          count > last - first + 1 || !ep.has[static_cast<size_t>(last)])) {
          return std::nullopt;
        }
        b.cells.push_back({static_cast<uint32_t>(first), static_cast<uint32_t>(last),
                           static_cast<int>(count)});
        next = last + 1;
      }
    }
  }
  b.payload = bytes.size() - in.remaining();
  return b;
}

bool block_fits(const DayBlockIndex& block, const History& history) {
  // The block's pairs come in key order, as the plan's maps hold theirs: walked together.
  const Folding& plan = history.folding();
  auto until = plan.until.begin();
  auto cuts = plan.cuts.begin();
  for (const DayBlockIndex::Endpoint& ep : block.endpoints) {
    for (const DayBlockIndex::Pair& p : ep.pairs) {
      const std::span<const DayBlockIndex::Cell> cells(block.cells.data() + p.first, p.count);
      Time first = Time::max(), last = Time::min();  // of its spans
      for (const DayBlockIndex::Cell& c : cells) {
        if (c.runs == 1) continue;
        first = std::min(first, block.runs[c.first].at);
        last = std::max(last, block.runs[c.last].at);
      }
      if (first > last) continue;  // no span: its cells are the runs'
      const PairKey& key = *p.key;
      while (until != plan.until.end() && until->first < key) ++until;
      while (cuts != plan.cuts.end() && cuts->first < key) ++cuts;
      // A pair without an `until` is not folded: no span of its fits.
      const Time end =
          until != plan.until.end() && until->first == key ? until->second : Time::min();
      const std::vector<Time>* between =
          cuts != plan.cuts.end() && cuts->first == key ? &cuts->second : nullptr;
      // As History::fold would fold the cells from a to b into one span.
      auto folds = [&](Time a, Time b) {
        if (a < plan.from || b >= end) return false;
        if (between == nullptr) return true;
        auto it = std::lower_bound(between->begin(), between->end(), a);
        return it == between->end() || *it > b;
      };
      if (folds(first, last)) continue;
      // A cut between two spans (the block was split there): each on its own.
      for (const DayBlockIndex::Cell& c : cells) {
        if (c.runs > 1 && !folds(block.runs[c.first].at, block.runs[c.last].at)) return false;
      }
    }
  }
  return true;
}

bool add_day_block(std::string_view bytes, const DayBlockIndex& block, History& history) {
  Reader in(bytes.substr(block.payload));
  std::vector<Cell> cells;  // one pair's
  for (const DayBlockIndex::Endpoint& ep : block.endpoints) {
    int64_t prev_id = 0;
    // Its cells of its runs, then its pairs' (begin_run() finds where the endpoint's pairs
    // start in history).
    for (size_t i = 0; i < block.runs.size(); ++i) {
      if (!ep.has[i]) continue;
      EndpointCell ec;
      ec.run = block.runs[i];
      if (!read_endpoint_cell(in, prev_id, ec)) return false;
      history.begin_run(ep.name, std::move(ec));
    }
    for (const DayBlockIndex::Pair& p : ep.pairs) {
      cells.clear();
      for (size_t i = p.first; i < p.first + p.count; ++i) {
        const DayBlockIndex::Cell& c = block.cells[i];
        Cell& cell = cells.emplace_back();
        cell.run = block.runs[c.first];
        cell.runs = c.runs;
        if (c.runs > 1) cell.span_last = block.runs[c.last].at;
        if (!read_cell(in, prev_id, cell) || (c.runs > 1 && !cell.valid())) return false;
      }
      history.add_cells(p.key, p.control, cells);
    }
  }
  return in.done();
}

}  // namespace dw::drift
