// RunSummaries' day and week blocks (day_blocks.h): which it reads in place of their runs, and
// which it makes of what a detection read, to be stored by write_blocks().
#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "drift/day_blocks.h"
#include "drift/run_cells.h"

namespace dw::drift {
namespace {

// The runs of the `days` UTC days from `start`: runs[first, end).
std::pair<size_t, size_t> runs_of_days(const std::vector<store::RunInfo>& runs, Time start,
                                       int days = 1) {
  auto at_or_after = [&](Time t) {
    return static_cast<size_t>(
        std::lower_bound(runs.begin(), runs.end(), t,
                         [](const store::RunInfo& r, Time x) { return r.run_at < x; }) -
        runs.begin());
  };
  return {at_or_after(start), at_or_after(start + std::chrono::days(days))};
}

// How a block is folded: as the detection that makes it folds, but from its first run on.
Folding from_first_run(const Folding& detection) {
  Folding fold;
  fold.from = Time::min();
  fold.until = detection.until;
  fold.cuts = detection.cuts;
  return fold;
}

// The first second of the day a block's key ("YYYY-MM-DD") names; nullopt for another key.
std::optional<Time> day_named(const std::string& day) {
  auto t = parse_time(day + "T00:00:00Z");
  if (!t || day_of(*t) != day) return std::nullopt;
  return *t;
}

}  // namespace

Status RunSummaries::read_blocks(const History& history, const std::vector<store::RunInfo>& runs,
                                 Time first_day, Time end_day, std::vector<ReadBlock>& out) {
  auto take = [&](const store::DayBlock& b, int days) {
    if (b.version != day_block_version()) return;
    const std::optional<Time> start = day_named(b.day);
    if (!start || *start < first_day || *start + std::chrono::days(days) > end_day) return;
    if (days == kWeekDays && week_start(*start) != *start) return;
    auto index = read_day_block(b.data, keys_, pair_keys_);
    if (!index) return;
    // Exactly the runs listed for its days.
    const auto [first, end] = runs_of_days(runs, *start, days);
    if (end - first != index->runs.size()) return;
    for (size_t i = first; i < end; ++i) {
      const RunRef& r = index->runs[i - first];
      if (runs[i].id != r.id || runs[i].run_at != r.at) return;
    }
    if (!block_fits(*index, history)) return;
    out.push_back({first, end, *start, days, b.data, std::move(*index)});
  };
  if (first_day >= end_day) return {};
  Status weeks = store_.for_each_week_block(
      day_of(first_day), day_of(end_day - std::chrono::days(kWeekDays - 1)),
      [&](const store::DayBlock& b) {
        take(b, kWeekDays);
        return true;
      });
  if (!weeks) return weeks;
  const std::vector<ReadBlock> whole = std::move(out);
  out.clear();
  auto in_week = [&](Time day) {
    return std::any_of(whole.begin(), whole.end(), [&](const ReadBlock& w) {
      return day >= w.start && day < w.start + std::chrono::days(kWeekDays);
    });
  };
  Status days = store_.for_each_day_block(day_of(first_day), day_of(end_day),
                                          [&](const store::DayBlock& b) {
                                            auto start = day_named(b.day);
                                            if (start && !in_week(*start)) take(b, 1);
                                            return true;
                                          });
  if (!days) return days;
  out.insert(out.end(), std::make_move_iterator(whole.begin()),
             std::make_move_iterator(whole.end()));
  std::sort(out.begin(), out.end(),
            [](const ReadBlock& a, const ReadBlock& b) { return a.start < b.start; });
  return {};
}

void RunSummaries::make_days(const History& history, const std::vector<store::RunInfo>& runs,
                             std::map<Time, DayRead>& days) {
  // Blocks for the whole days read run by run, folded as this detection folds but from the
  // day's first run on: the pairs it folds as far as it does, at most at its cuts (the other
  // pairs' cells stay whole, which fits any later detection, and so do spans that end sooner).
  for (auto& [start, day] : days) {
    const auto [first, end] = runs_of_days(runs, start);
    if (end - first != day.runs) continue;  // some were counted from their samples
    std::vector<RunRef> of_day;
    for (size_t i = first; i < end; ++i) of_day.push_back({runs[i].id, runs[i].run_at});
    History one;
    one.fold(from_first_run(history.folding()));
    const bool whole =
        std::all_of(day.rows.begin(), day.rows.end(), [&](const store::RunCells& row) {
          return add_run_cells(row.data, row.endpoint, {row.run_id, row.run_at}, keys_,
                               pair_keys_, one);
        });
    if (!whole) continue;  // decoded a moment ago: never so
    if (auto data = encode_day_block(of_day, one, key_ids_)) {
      pending_blocks_.push_back(
          {start, std::move(day.rows), {day_of(start), day_block_version(), std::move(*data)}});
    }
  }
}

void RunSummaries::make_weeks(const History& history, const std::vector<store::RunInfo>& runs,
                              const std::vector<ReadBlock>& blocks, Time first_day,
                              Time end_day) {
  // Each week inside [first_day, end_day) whose listed runs all came from their days' blocks
  // gets a block of its own: those blocks added to one history, folded as this detection
  // folds but from the week's first run on (as a day's block is made of its runs). Once
  // stored, the next detections read it instead; one that cannot (its days' blocks changed
  // before it was stored, or it does not fit their folding) makes it again.
  for (auto day = blocks.begin(); day != blocks.end();) {
    const Time week = week_start(day->start);
    auto end = day;
    size_t covered = 0;
    while (end != blocks.end() && end->days == 1 && week_start(end->start) == week) {
      covered += end->end - end->first;
      ++end;
    }
    if (end == day) {  // a week's block
      ++day;
      continue;
    }
    const auto [first, last] = runs_of_days(runs, week, kWeekDays);
    if (week >= first_day && week + std::chrono::days(kWeekDays) <= end_day &&
        covered == last - first) {
      History one;
      one.fold(from_first_run(history.folding()));
      PendingWeek pending{day_of(week), {}, {}};
      bool whole = true;
      for (auto d = day; d != end && whole; ++d) {
        whole = add_day_block(d->bytes, d->index, one);
        pending.days.push_back({day_of(d->start), day_block_version(), d->bytes});
      }
      std::vector<RunRef> of_week;
      for (size_t i = first; i < last; ++i) of_week.push_back({runs[i].id, runs[i].run_at});
      std::optional<std::string> data;
      if (whole) data = encode_day_block(of_week, one, key_ids_);  // decoded a moment ago
      if (data) {
        pending.block = {pending.week, day_block_version(), std::move(*data)};
        pending_weeks_.push_back(std::move(pending));
      }
    }
    day = end;
  }
}

Status RunSummaries::write_blocks() {
  // Inside the write transaction: only blocks of summaries that are still the ones stored (no
  // other program rewrote them since they were read), and no block that failed to decode.
  if (bad_block_) {
    const auto& [day, week] = *bad_block_;
    if (Status s = week ? store_.drop_week_block(day) : store_.drop_day_block(day); !s) return s;
  }
  for (const PendingBlock& b : pending_blocks_) {
    std::vector<store::RunCells> now;
    Status read = store_.for_each_run_cells(b.start, b.start + std::chrono::days(1),
                                            [&](const store::RunCellsView& row) {
                                              if (!row.endpoint.empty()) now.push_back(row.copy());
                                              return true;
                                            });
    if (!read) return read;
    auto same = [](const store::RunCells& a, const store::RunCells& b) {
      return a.run_id == b.run_id && a.endpoint == b.endpoint && a.version == b.version &&
             a.data == b.data;
    };
    if (!std::equal(now.begin(), now.end(), b.rows.begin(), b.rows.end(), same)) continue;
    if (Status s = store_.put_day_block(b.block); !s) return s;
  }
  // A week's block goes with any of its days' blocks (the schema): only of days' blocks that
  // are still the ones it was made of.
  for (const PendingWeek& w : pending_weeks_) {
    std::vector<store::DayBlock> now;
    const Time start = *day_named(w.week);
    Status read = store_.for_each_day_block(
        w.week, day_of(start + std::chrono::days(kWeekDays)), [&](const store::DayBlock& b) {
          now.push_back(b);
          return true;
        });
    if (!read) return read;
    auto same = [](const store::DayBlock& a, const store::DayBlock& b) {
      return a.day == b.day && a.version == b.version && a.data == b.data;
    };
    if (!std::equal(now.begin(), now.end(), w.days.begin(), w.days.end(), same)) continue;
    if (Status s = store_.put_week_block(w.block); !s) return s;
  }
  pending_blocks_.clear();
  pending_weeks_.clear();
  bad_block_.reset();
  return {};
}

}  // namespace dw::drift
