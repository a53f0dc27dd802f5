// RunSummaries: run summaries read and written through the store (run_cells.h); the day and
// week blocks it reads and makes in run_summary_blocks.cc.
#include "drift/run_cells.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "drift/day_blocks.h"

namespace dw::drift {

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
    if (Status s = read_blocks(history, runs, first_day, end_day, blocks); !s) return s;
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
  make_days(history, runs, days);
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
