// RunSummaries: run summaries read and written through the store (run_cells.h).
#include "drift/run_cells.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "drift/day_blocks.h"

namespace dw::drift {

// A day's or a week's block that stands in for its runs, runs[first, end) of a feed.
struct ReadBlock {
  size_t first, end;
  Time start;  // of its first day
  int days;    // 1 or kWeekDays
  std::string bytes;
  DayBlockIndex index;
};

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

// The blocks of the whole days [first_day, end_day), in day order: each week from a Monday
// that lies inside them from its block, the other days from theirs, of the blocks that name
// exactly the listed runs of their days and fit history's folding (the days of none are read
// run by run).
Status read_blocks(store::Store& store, const History& history,
                   const std::vector<store::RunInfo>& runs, Time first_day, Time end_day,
                   const std::unordered_map<int64_t, store::ProbeKey>& keys, PairKeyPool& pool,
                   std::vector<ReadBlock>& out) {
  auto take = [&](const store::DayBlock& b, int days) {
    if (b.version != day_block_version()) return;
    const std::optional<Time> start = day_named(b.day);
    if (!start || *start < first_day || *start + std::chrono::days(days) > end_day) return;
    if (days == kWeekDays && week_start(*start) != *start) return;
    auto index = read_day_block(b.data, keys, pool);
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
  Status weeks = store.for_each_week_block(
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
  Status days = store.for_each_day_block(day_of(first_day), day_of(end_day),
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

}  // namespace

Status RunSummaries::load_keys() {
  if (loaded_) return {};
  Status s = store_.for_each_probe_key([&](const store::ProbeKey& k) {
    keys_[k.id] = k;
    key_ids_[{k.probe_id, k.probe_version}] = k.id;
    return true;
  });
  if (!s) return s;
  loaded_ = true;
  return {};
}

Result<long> RunSummaries::count_from_samples(History& history, const store::RunInfo& run,
                                              FeatureCache* cache) {
  long rows = 0;
  std::optional<Error> failure;
  store::SampleFilter filter{.run_id = run.id, .with_text = cache != nullptr,
                             .with_details = false};
  if (cache != nullptr) filter = cache->filter(std::move(filter));
  Status s = store_.for_each_sample(filter, [&](const store::SampleRow& row) {
    ++rows;
    if (cache == nullptr) {
      history.add(row, nullptr);
      return true;
    }
    auto features = cache->of(row);
    if (!features) {
      failure = features.error();
      return false;
    }
    history.add(row, *features);
    return true;
  });
  if (!s) return s.error();
  if (failure) return *failure;
  ++counted_;
  // A run still running may get more samples: summarised once it is finished. A run without
  // samples (retention removed them) keeps whatever summary it has: its counts are gone.
  if (run.status != store::RunStatus::running && rows > 0) {
    missing_.push_back({run.id, run.run_at});
  }
  return rows;
}

Result<bool> RunSummaries::add_texts(History& history, const RunRef& run,
                                     std::vector<EndpointRun>& counts) {
  const int64_t version = run_texts_version();
  std::vector<EndpointTexts> texts;
  bool usable = true;
  auto next = counts.begin();  // both in endpoint order: every endpoint needs its texts
  Status s = store_.run_texts(run.id, [&](const store::RunCellsView& row) {
    usable = next != counts.end() && row.endpoint == next->endpoint && row.version == version &&
             row.signatures_blob && row.signatures_size % sizeof(Signature) == 0;
    if (!usable) return false;
    // Read when a decision first compares one of them (most runs' never are), in the
    // caller's transaction: the same row.
    const auto size = static_cast<size_t>(row.signatures_size);
    auto read = [&store = store_, reads = reads_, id = run.id, endpoint = next->endpoint,
                 version, size]() -> Result<std::string> {
      auto bytes = store.run_signatures(id, endpoint, version);
      if (bytes && (!*bytes || (*bytes)->size() != size)) {
        bytes = Error("the signatures of run " + std::to_string(id) + " on " + endpoint +
                      " changed while detection read them");
      }
      if (!bytes) {
        if (!reads->failure) reads->failure = bytes.error();
        return bytes.error();
      }
      ++reads->read;
      return std::move(**bytes);
    };
    auto t = decode_run_texts(
        row.data, *next++,
        std::make_shared<const RunSignatures>(size / sizeof(Signature), std::move(read)));
    usable = t.has_value();
    if (usable) texts.push_back(std::move(*t));
    return usable;
  });
  if (!s) return s.error();
  if (!usable || next != counts.end()) return false;
  for (EndpointRun& e : counts) history.add(std::move(e));
  for (EndpointTexts& t : texts) history.add_texts(run, std::move(t));
  text_runs_ += static_cast<long>(texts.size());
  return true;
}

Status RunSummaries::feed(History& history, Time since, Time until, Time texts_since,
                          FeatureCache& cache, Time pairs_since, size_t runs_after) {
  if (!history.empty()) {
    return feed_runs(history, since, until, texts_since, cache, pairs_since, runs_after, nullptr);
  }
  // Into an empty history, the old runs' counts are added as they are decoded. Bytes that do
  // not decode (never written so; a damaged file) then leave part of a run in history: it is
  // emptied, and everything read again the careful way.
  const auto counters =
      std::tuple(missing_.size(), decoded_, pairs_decoded_, counted_, blocks_read_, weeks_read_);
  bool undecodable = false;
  Status s =
      feed_runs(history, since, until, texts_since, cache, pairs_since, runs_after, &undecodable);
  if (s || !undecodable) return s;
  history.drop_cells();
  missing_.resize(std::get<0>(counters));
  std::tie(std::ignore, decoded_, pairs_decoded_, counted_, blocks_read_, weeks_read_) = counters;
  return feed_runs(history, since, until, texts_since, cache, pairs_since, runs_after, nullptr);
}

Status RunSummaries::feed_runs(History& history, Time since, Time until, Time texts_since,
                               FeatureCache& cache, Time pairs_since, size_t runs_after,
                               bool* undecodable) {
  const bool direct = undecodable != nullptr;
  if (Status s = load_keys(); !s) return s;
  std::vector<store::RunInfo> runs;
  Status listed = store_.list_runs({.since = since, .until = until}, [&](const store::RunInfo& r) {
    runs.push_back(r);
    return true;
  });
  if (!listed) return listed;
  if (runs.empty()) return {};
  // The runs whose pairs' cells are added (appending the recent ones later grows them once).
  const Time pairs_from = std::min(pairs_since, texts_since);
  // Runs a folding history takes into spans count as one: most pairs' are one span.
  const auto held = std::count_if(runs.begin(), runs.end(), [&](const store::RunInfo& r) {
    return r.run_at >= pairs_from && r.run_at < history.fold_from();
  });
  const bool folds = runs.back().run_at >= history.fold_from();
  history.expect_runs(runs_after + static_cast<size_t>(held) + (folds ? 1 : 0));

  // Whole days of runs whose pairs are folded: each read from its block when it has one that
  // fits, else run by run (and given one).
  const Time days_from = std::max(pairs_from, history.fold_from());
  auto in_days = [&](Time at) {
    return direct && day_start(at) >= days_from &&
           day_start(at) + std::chrono::days(1) <= texts_since;
  };
  std::vector<ReadBlock> blocks;
  // The whole days among them: none when days_from is not before texts_since (Time::max()
  // when history does not fold, which no day may be added to).
  const Time end_day = day_start(texts_since);
  Time first_day = end_day;
  if (days_from < texts_since) {
    first_day = day_start(days_from) == days_from ? days_from
                                                  : day_start(days_from) + std::chrono::days(1);
  }
  if (direct && days_from < texts_since) {
    if (Status s = read_blocks(store_, history, runs, first_day, end_day, keys_, pair_keys_,
                               blocks);
        !s) {
      return s;
    }
  }
  pending_blocks_.clear();
  pending_weeks_.clear();

  const int64_t version = run_cells_version();
  size_t next = 0;                // the next of runs to add to history
  int64_t group = 0;              // the run whose rows are being read
  bool usable = true;             // every row of the group so far is of this version and decodes
  std::vector<EndpointRun> cells;  // ... into these
  std::vector<store::RunCells> rows;  // or, directly: its rows, decoded as they are added
  // The whole days read run by run, by their first second: a day whose runs all came from
  // their summaries gets a block.
  struct DayRead {
    std::vector<store::RunCells> rows;  // of its runs
    size_t runs = 0;                    // its runs that came from their summaries
  };
  std::map<Time, DayRead> days;
  // Adds the group's counts; fails when a row does not decode after all (direct).
  auto add_counts = [&](const store::RunInfo& r) -> Status {
    for (EndpointRun& e : cells) history.add(std::move(e));
    for (const store::RunCells& row : rows) {
      if (!add_run_cells(row.data, row.endpoint, {row.run_id, row.run_at}, keys_, pair_keys_,
                         history)) {
        *undecodable = true;
        return Error("the summary of run " + std::to_string(row.run_id) + " does not decode");
      }
    }
    if (in_days(r.run_at) && cells.empty()) {
      DayRead& day = days[day_start(r.run_at)];
      std::move(rows.begin(), rows.end(), std::back_inserter(day.rows));
      ++day.runs;
    }
    return {};
  };
  // Adds the runs before `bound` up to the group's (which comes from its rows when they are
  // usable); the others have no summary: from their samples. upto 0: every run before bound.
  auto settle = [&](int64_t upto, Time bound) -> Status {
    for (; next < runs.size() && runs[next].run_at < bound; ++next) {
      const store::RunInfo& r = runs[next];
      const bool texts = r.run_at >= texts_since;
      if (r.id == upto && usable) {
        if (!texts) {
          if (Status s = add_counts(r); !s) return s;
          ++decoded_;
          pairs_decoded_ += r.run_at >= pairs_from ? 1 : 0;
          ++next;
          return {};
        }
        auto added = add_texts(history, {r.id, r.run_at}, cells);
        if (!added) return added.error();
        if (*added) {
          ++decoded_;
          ++pairs_decoded_;
          ++next;
          return {};
        }
      }
      auto counted = count_from_samples(history, r, texts ? &cache : nullptr);
      if (!counted) return counted.error();
      if (*counted == 0 && r.id == upto && usable) {
        // Retention took its samples and its texts: its counts stand alone, as recompute_all
        // reads such runs.
        if (Status s = add_counts(r); !s) return s;
        ++decoded_;
      }
      if (r.id == upto) {
        ++next;
        return {};
      }
    }
    return {};
  };
  // The runs of [from, to) from their rows.
  auto read_rows = [&](Time from, Time to) -> Status {
    group = 0;
    std::optional<Error> failure;
    Status read = store_.for_each_run_cells(from, to, [&](const store::RunCellsView& row) {
      if (row.run_id != group) {
        if (group != 0) {
          if (Status s = settle(group, to); !s) {
            failure = s.error();
            return false;
          }
        }
        group = row.run_id;
        usable = true;
        cells.clear();
        rows.clear();
      }
      if (!usable) return true;
      if (row.version != version) {
        usable = false;
      } else if (row.endpoint.empty()) {
        usable = row.data.empty();  // the marker of a run that counted nothing
      } else if (direct && row.run_at >= pairs_from && row.run_at < texts_since) {
        rows.push_back(row.copy());
      } else if (auto d = decode_run_cells(row.data, std::string(row.endpoint),
                                           {row.run_id, row.run_at}, keys_,
                                           row.run_at >= pairs_from, &pair_keys_)) {
        cells.push_back(std::move(*d));
      } else {
        usable = false;  // rebuilt from the samples, like a summary of another version
      }
      return true;
    });
    if (!read) return read;
    if (failure) return *failure;
    if (group != 0) {
      if (Status s = settle(group, to); !s) return s;
    }
    return settle(0, to);
  };

  Time from = since;
  for (ReadBlock& b : blocks) {
    if (Status s = read_rows(from, runs[b.first].run_at); !s) return s;
    if (next != b.first) return Error("runs changed while a detection read them");
    if (!add_day_block(b.bytes, b.index, history)) {
      *undecodable = true;
      bad_block_ = {day_of(b.start), b.days == kWeekDays};  // goes with the next write_blocks()
      return Error("the block of " + bad_block_->first + " does not decode");
    }
    decoded_ += static_cast<long>(b.end - b.first);
    pairs_decoded_ += static_cast<long>(b.end - b.first);
    ++(b.days == kWeekDays ? weeks_read_ : blocks_read_);
    next = b.end;
    from = b.start + std::chrono::days(b.days);
  }
  if (Status s = read_rows(from, until); !s) return s;
  make_weeks(history, runs, blocks, first_day, end_day);

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
  return {};
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

Status RunSummaries::write(const History& history, const RunRef& run, bool with_texts) {
  if (Status s = load_keys(); !s) return s;
  const int64_t version = run_cells_version();
  std::vector<store::RunCells> rows;
  const std::vector<EndpointRun> counts = history.cells_of(run);
  for (const EndpointRun& e : counts) {
    std::vector<int64_t> ids;
    for (const PairRun& p : e.pairs) {
      auto known = key_ids_.find({p.key->probe_id, p.key->probe_version});
      if (known != key_ids_.end()) {
        ids.push_back(known->second);
        continue;
      }
      auto id = store_.probe_key(p.key->probe_id, p.key->probe_version);
      if (!id) return id.error();
      key_ids_[{p.key->probe_id, p.key->probe_version}] = *id;
      keys_[*id] = {*id, p.key->probe_id, p.key->probe_version, p.control};
      ids.push_back(*id);
    }
    rows.push_back({run.id, run.at, e.endpoint, version, encode_run_cells(e, ids), {}});
  }
  if (rows.empty()) rows.push_back({run.id, run.at, "", version, "", {}});
  if (Status s = store_.put_run_cells(run.id, rows); !s) return s;
  if (!with_texts) return {};

  // Texts for every endpoint of the counts, or none (feed() reads them only whole, and counts
  // such a run from its samples).
  std::vector<store::RunCells> texts;
  const std::vector<EndpointTexts> held = history.texts_of(run);
  for (size_t i = 0; i < counts.size() && held.size() == counts.size(); ++i) {
    auto bytes = held[i].endpoint == counts[i].endpoint ? encode_run_texts(counts[i], held[i])
                                                        : std::nullopt;
    if (!bytes) break;
    texts.push_back({run.id, run.at, counts[i].endpoint, run_texts_version(),
                     std::move(bytes->data), std::move(bytes->signatures)});
  }
  if (texts.size() != counts.size()) texts.clear();
  return store_.put_run_texts(run.id, texts);
}

}  // namespace dw::drift
