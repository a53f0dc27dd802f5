// RunSummaries: run summaries read and written through the store (run_cells.h).
#include "drift/run_cells.h"

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

Status RunSummaries::count_from_samples(History& history, const store::RunInfo& run) {
  long rows = 0;
  Status s = store_.for_each_sample({.run_id = run.id, .with_text = false},
                                    [&](const store::SampleRow& row) {
                                      history.add(row, nullptr);
                                      ++rows;
                                      return true;
                                    });
  if (!s) return s;
  ++counted_;
  // A run still running may get more samples: summarised once it is finished. A run without
  // samples (retention removed them) keeps whatever summary it has: its counts are gone.
  if (run.status != store::RunStatus::running && rows > 0) {
    missing_.push_back({run.id, run.run_at});
  }
  return {};
}

Status RunSummaries::feed(History& history, Time since, Time until) {
  if (Status s = load_keys(); !s) return s;
  std::vector<store::RunInfo> runs;
  Status listed = store_.list_runs({.since = since, .until = until}, [&](const store::RunInfo& r) {
    runs.push_back(r);
    return true;
  });
  if (!listed) return listed;
  if (runs.empty()) return {};

  const int64_t version = run_cells_version();
  size_t next = 0;                // the next of runs to add to history
  int64_t group = 0;              // the run whose rows are being read
  bool usable = true;             // every row of the group so far is of this version and decodes
  std::vector<EndpointRun> cells;  // ... into these
  // Adds the runs up to the group's (which comes from its rows when they are usable); the
  // others have no summary: from their samples. upto 0: every run left.
  auto settle = [&](int64_t upto) -> Status {
    for (; next < runs.size(); ++next) {
      const store::RunInfo& r = runs[next];
      if (r.id == upto && usable) {
        for (const EndpointRun& e : cells) history.add(e);
        ++decoded_;
        ++next;
        return {};
      }
      if (Status s = count_from_samples(history, r); !s) return s;
      if (r.id == upto) {
        ++next;
        return {};
      }
    }
    return {};
  };

  std::optional<Error> failure;
  Status read = store_.for_each_run_cells(since, until, [&](const store::RunCells& row) {
    if (row.run_id != group) {
      if (group != 0) {
        if (Status s = settle(group); !s) {
          failure = s.error();
          return false;
        }
      }
      group = row.run_id;
      usable = true;
      cells.clear();
    }
    if (!usable) return true;
    if (row.version != version) {
      usable = false;
    } else if (row.endpoint.empty()) {
      usable = row.data.empty();  // the marker of a run that counted nothing
    } else if (auto d = decode_run_cells(row.data, row.endpoint, {row.run_id, row.run_at}, keys_)) {
      cells.push_back(std::move(*d));
    } else {
      usable = false;  // rebuilt from the samples, like a summary of another version
    }
    return true;
  });
  if (!read) return read;
  if (failure) return *failure;
  if (group != 0) {
    if (Status s = settle(group); !s) return s;
  }
  return settle(0);
}

Status RunSummaries::write(const History& history, const RunRef& run) {
  if (Status s = load_keys(); !s) return s;
  const int64_t version = run_cells_version();
  std::vector<store::RunCells> rows;
  for (const EndpointRun& e : history.cells_of(run)) {
    std::vector<int64_t> ids;
    for (const PairRun& p : e.pairs) {
      auto known = key_ids_.find({p.key.probe_id, p.key.probe_version});
      if (known != key_ids_.end()) {
        ids.push_back(known->second);
        continue;
      }
      auto id = store_.probe_key(p.key.probe_id, p.key.probe_version);
      if (!id) return id.error();
      key_ids_[{p.key.probe_id, p.key.probe_version}] = *id;
      keys_[*id] = {*id, p.key.probe_id, p.key.probe_version, p.control};
      ids.push_back(*id);
    }
    rows.push_back({run.id, run.at, e.endpoint, version, encode_run_cells(e, ids)});
  }
  if (rows.empty()) rows.push_back({run.id, run.at, "", version, ""});
  return store_.put_run_cells(run.id, rows);
}

}  // namespace dw::drift
