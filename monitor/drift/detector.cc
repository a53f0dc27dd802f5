// detect_run and recompute_all: feed the history of a bounded window to the decisions of a run
// (engine.h) and write what they decide. recompute_all keeps every cell of the window
// (horizon() for the counts, the last kTextRuns runs for the texts); detect_run only what the
// decisions reach (reach()), with the runs before the texts' window folded where no decision
// tells their cells apart (History::fold): they decide alike. detect_run reads only the run's
// own samples: earlier runs come from their summaries (run_cells.h; with their texts' part for
// the runs of the texts' window), which both write as runs are decided, so its cost does not
// grow with the history.
#include "drift/detector.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "analysis/normalise.h"
#include "drift/answer_features.h"
#include "drift/engine.h"
#include "drift/run_cells.h"

namespace dw::drift {
namespace {

// Runs whose texts are read: covers the recent windows and the similarity baselines behind
// them (10 runs) with room for runs where a pair was not evidence.
constexpr size_t kTextRuns = 40;

// Every run, oldest first; the ids of runs that are not complete go to not_complete: they are
// never decided on (README "Drift detection": an incomplete run is no evidence); of those, the
// ones still running to running (not summarised: they may get more samples).
Result<std::vector<RunRef>> all_runs(store::Store& store, std::set<int64_t>& not_complete,
                                     std::set<int64_t>* running = nullptr) {
  std::vector<RunRef> runs;
  Status s = store.list_runs({}, [&](const store::RunInfo& r) {
    runs.push_back({r.id, r.run_at});
    if (r.status != store::RunStatus::complete) not_complete.insert(r.id);
    if (running && r.status == store::RunStatus::running) running->insert(r.id);
    return true;
  });
  if (!s) return s.error();
  return runs;
}

Time text_horizon(const std::vector<RunRef>& runs, size_t index) {
  return runs[index + 1 > kTextRuns ? index + 1 - kTextRuns : 0].at;
}

SignatureLoader loader_for(store::Store& store, const History& history, FeatureCache& cache) {
  return [&store, &history, &cache](const PairKey& k,
                                    int64_t run_id) -> Result<std::vector<Signature>> {
    auto pair = history.pairs().find(k);
    if (pair != history.pairs().end()) {
      for (const Cell& c : pair->second.cells) {
        if (c.run.id == run_id && c.texts) {
          const auto held = c.answered.get();
          return std::vector<Signature>(held.begin(), held.end());
        }
      }
    }
    std::vector<Signature> out;
    std::optional<Error> failure;
    const store::SampleFilter f =
        cache.filter({.endpoint = k.endpoint, .probe_id = k.probe_id,
                      .probe_version = k.probe_version, .run_id = run_id, .with_details = false});
    Status s = store.for_each_sample(f, [&](const store::SampleRow& row) {
      if (!row.classification || row.classification->verdict != "answered") return true;
      auto features = cache.of(row);
      if (!features) failure = features.error();
      if (features) out.push_back((*features)->signature);
      return !failure;
    });
    if (!s) return s.error();
    if (failure) return *failure;
    return out;
  };
}

TextLoader text_loader(store::Store& store) {
  return [&store](const std::string& hash) -> Result<std::string> {
    auto text = store.response_text(hash);
    if (!text) return text.error();
    if (!*text) return Error("response text " + hash + " is missing from the store");
    return analysis::normalise(**text);
  };
}

// Feeds rows to history: with their features when texts are kept (fetched or computed).
class Feeder {
 public:
  Feeder(History& history, FeatureCache& cache) : history_(history), cache_(cache) {}
  bool operator()(const store::SampleRow& row, bool with_text) {
    if (!with_text) {
      history_.add(row, nullptr);
      return true;
    }
    auto features = cache_.of(row);
    if (!features) {
      failure_ = features.error();
      return false;
    }
    history_.add(row, *features);
    return true;
  }
  Status status() const { return failure_ ? Status(*failure_) : Status(); }

 private:
  History& history_;
  FeatureCache& cache_;
  std::optional<Error> failure_;
};

// Writes the decisions: new events get their ids, changed ones are rewritten.
Status write(store::Store& store, std::vector<store::Event>& events, const Decisions& d,
             Summary& summary) {
  for (size_t i : d.inserted) {
    auto id = store.insert_event(events[i]);
    if (!id) return id.error();
    events[i].id = *id;
    ++summary.opened;
  }
  for (size_t i : d.updated) {
    if (Status s = store.update_event(events[i]); !s) return s;
    if (events[i].status == store::EventStatus::resolved) ++summary.resolved;
  }
  summary.pairs_tested += d.pairs_tested;
  ++summary.runs;
  return {};
}

void forget_old(std::vector<store::Event>& events, Time horizon) {
  std::erase_if(events, [&](const store::Event& e) {
    return e.status == store::EventStatus::resolved && e.resolved_at && *e.resolved_at < horizon;
  });
}

// In detection order (detected_at, then id).
Result<std::vector<store::Event>> events_since(store::Store& store, Time since) {
  std::vector<store::Event> events;
  Status s = store.for_each_event({.since = since, .ordered = false}, [&](const store::Event& e) {
    events.push_back(e);
    return true;
  });
  if (!s) return s.error();
  std::sort(events.begin(), events.end(), [](const store::Event& a, const store::Event& b) {
    return std::tie(a.detected_at, a.id) < std::tie(b.detected_at, b.id);
  });
  return events;
}

// The run_at of the first run that still has samples; nullopt when none has.
Result<std::optional<Time>> first_sampled(store::Store& store) {
  std::optional<Time> at;
  store::SampleFilter any{.with_text = false, .with_details = false};
  Status s = store.for_each_sample(any, [&](const store::SampleRow& row) {
    at = row.run_at;
    return false;
  });
  if (!s) return s.error();
  return at;
}

Result<Summary> recompute_inside(store::Store& store, const Options& options) {
  std::set<int64_t> not_complete, running;
  auto runs = all_runs(store, not_complete, &running);
  if (!runs) return runs.error();
  auto sampled = first_sampled(store);
  if (!sampled) return sampled.error();
  // Retention removes the samples of the oldest runs, never their events or summaries: those
  // runs are not decided again, their events stay as they were decided, and their summaries
  // stand in for their samples in the baselines of the runs after them.
  const bool trimmed = *sampled && !runs->empty() && runs->front().at < **sampled;
  std::vector<store::Event> events;
  if (trimmed) {
    Status kept = store.for_each_event({}, [&](const store::Event& e) {
      if (e.detected_at < **sampled) events.push_back(e);
      return true;
    });
    if (!kept) return kept.error();
  }
  if (auto n = store.delete_all_events(trimmed ? *sampled : std::nullopt); !n) return n.error();
  Summary summary;
  History history;
  FeatureCache cache(store);
  Feeder feed(history, cache);
  // Every run with samples gets its summary rewritten from them (verdicts may have changed);
  // runs without samples keep theirs (retention removes samples, never summaries).
  RunSummaries summaries(store);
  if (trimmed) {
    // No texts: these runs have no samples left to compare answers with.
    if (Status s = summaries.feed(history, horizon(**sampled, events, options), **sampled,
                                  **sampled, cache);
        !s) {
      return s.error();
    }
  }
  SignatureLoader loader = loader_for(store, history, cache);
  TextLoader text = text_loader(store);
  size_t next = 0;  // index into runs of the next run to decide
  std::optional<Error> failure;

  auto decide_run = [&](int64_t run_id) -> Status {
    while (next < runs->size() && (*runs)[next].id != run_id) ++next;
    if (next == runs->size()) return Error("sample of run " + std::to_string(run_id) + " out of order");
    const RunRef& run = (*runs)[next];
    if (!running.count(run.id)) {
      // Texts only for the runs the next detection reads texts of.
      if (Status w = summaries.write(history, run, next + kTextRuns >= runs->size()); !w) {
        return w;
      }
    }
    if (not_complete.count(run.id)) return Status();
    Time h = horizon(run.at, events, options);
    history.prune(h, text_horizon(*runs, next));
    forget_old(events, h);
    auto d = decide(history, run, events, options, loader, text);
    if (!d) return d.error();
    return write(store, events, *d, summary);
  };

  std::optional<int64_t> current;
  const store::SampleFilter all = cache.filter({.with_details = false});
  Status s = store.for_each_sample(all, [&](const store::SampleRow& row) {
    if (current && *current != row.run_id) {
      if (Status ok = decide_run(*current); !ok) {
        failure = ok.error();
        return false;
      }
      cache.discard();  // the run's signatures are in history now
    }
    current = row.run_id;
    return feed(row, true);
  });
  if (!s) return s.error();
  if (failure) return *failure;
  if (Status f = feed.status(); !f) return f.error();
  if (current) {
    if (Status ok = decide_run(*current); !ok) return ok.error();
  }
  if (!runs->empty()) {
    if (Status d = store.drop_run_texts(text_horizon(*runs, runs->size() - 1)); !d) {
      return d.error();
    }
  }
  // Features earlier builds stored: those of texts no run of the text window uses go.
  if (runs->size() > kTextRuns) {
    if (Status f = store.drop_features((*runs)[runs->size() - kTextRuns - 1].id, false); !f) {
      return f.error();
    }
  }
  summary.texts_hashed = cache.computed();
  return summary;
}

// detect_run of a run that is not the latest: unknown, not complete, or a backfill.
Result<Summary> detect_not_latest(store::Store& store, int64_t run_id, const Options& options) {
  std::set<int64_t> not_complete;
  auto runs = all_runs(store, not_complete);
  if (!runs) return runs.error();
  auto it = std::find_if(runs->begin(), runs->end(), [&](const RunRef& r) { return r.id == run_id; });
  if (it == runs->end()) return Error("no run " + std::to_string(run_id) + " in the store");
  if (not_complete.count(run_id)) return Summary{};
  return recompute_all(store, options);  // a backfill
}

}  // namespace

Result<Summary> recompute_all(store::Store& store, const Options& options, Atomicity atomicity) {
  if (atomicity == Atomicity::callers_transaction) return recompute_inside(store, options);
  auto tx = store.transaction();
  if (!tx) return tx.error();
  auto summary = recompute_inside(store, options);
  if (!summary) return summary;  // the transaction rolls back
  if (Status s = (*tx)->commit(); !s) return s.error();
  return summary;
}

Result<Summary> detect_run(store::Store& store, int64_t run_id, const Options& options) {
  // The runs whose texts are read, newest first: the run itself when it is the latest.
  std::vector<store::RunInfo> latest;
  // One more: the run whose texts just left the window, whose features are dropped below.
  Status listed = store.list_runs({.newest_first = true, .limit = int64_t{kTextRuns + 1}},
                                  [&](const store::RunInfo& r) {
                                    latest.push_back(r);
                                    return true;
                                  });
  if (!listed) return listed.error();
  if (latest.empty() || latest.front().id != run_id) {
    return detect_not_latest(store, run_id, options);
  }
  if (latest.front().status != store::RunStatus::complete) return Summary{};
  const RunRef run{latest.front().id, latest.front().run_at};
  std::optional<int64_t> left_window;
  if (latest.size() > kTextRuns) {
    left_window = latest.back().id;
    latest.pop_back();
  }

  // One transaction from the first read to the last write: the runs' signatures are read when
  // a decision first compares them, long after their summaries' other parts, and must be the
  // same rows (a reclassify or import elsewhere waits its turn). The events and the run's
  // summary are written in it too: few writes.
  auto tx = store.transaction();
  if (!tx) return tx.error();
  auto events = events_since(store, run.at - 2 * options.baseline_window);
  if (!events) return events.error();
  for (const store::Event& e : *events) {
    if (e.detected_run_id == run.id || e.resolved_run_id == run.id) return Summary{};  // done
  }
  Time h = horizon(run.at, *events, options);
  if (h < run.at - 2 * options.baseline_window) {
    events = events_since(store, h);
    if (!events) return events.error();
  }
  forget_old(*events, h);

  History history, recent;  // recent: the runs of the texts' window and this one
  FeatureCache cache(store);
  Feeder feed(recent, cache);
  RunSummaries summaries(store);
  const Time texts = latest.back().run_at;  // text_horizon() of the latest run
  const Time split = std::max(h, texts);
  // Earlier runs from their summaries (texts too for those of the window), this one from its
  // samples: what is read does not grow with the history. The recent runs first, which say how
  // far back the decisions can read counts (reach()); older runs are skipped.
  // Each feed counts the runs added after it, so that a pair's cells are allocated once: at a
  // long history, growing them again doubled a detection's memory, and its pages are faulted
  // in anew by every detection.
  Status s = summaries.feed(recent, split, run.at, texts, cache, Time::min(), 1);
  if (s) {
    const store::SampleFilter now = cache.filter(
        {.since = run.at, .until = run.at + std::chrono::seconds(1), .with_details = false});
    s = store.for_each_sample(now, [&](const store::SampleRow& row) { return feed(row, true); });
  }
  if (!s) return s.error();
  if (Status f = feed.status(); !f) return f.error();
  // The old runs' cells are folded into spans where no decision tells them apart: a pair
  // holds a few cells of them, not a hundred.
  Folding folding;
  const Reach reached = reach(recent, run, *events, options, &folding);
  history.fold(std::move(folding));
  if (Status old = summaries.feed(history, std::min(reached.pairs, reached.endpoints), split,
                                  texts, cache, reached.pairs, latest.size());
      !old) {
    return old.error();
  }
  history.append(std::move(recent));
  history.prune(h, texts);

  auto d = decide(history, run, *events, options, loader_for(store, history, cache),
                  text_loader(store));
  if (!d) return d.error();
  if (Status r = summaries.signatures_status(); !r) return r.error();
  Summary summary;
  // Old runs counted from their samples get their summary too (an upgraded database fills
  // itself in, one detection at a time).
  if (Status w = write(store, *events, *d, summary); !w) return w.error();
  if (Status w = summaries.write(history, run, true); !w) return w.error();
  if (Status w = summaries.write_blocks(); !w) return w.error();
  for (const RunRef& old : summaries.take_missing()) {
    if (Status w = summaries.write(history, old, old.at >= texts); !w) return w.error();
    ++summary.summaries_rebuilt;
  }
  if (Status d = store.drop_run_texts(texts); !d) return d.error();
  if (left_window) {  // features earlier builds stored for the texts leaving the window
    if (Status f = store.drop_features(*left_window, true); !f) return f.error();
  }
  if (Status c = (*tx)->commit(); !c) return c.error();
  summary.texts_hashed = cache.computed();
  summary.runs_read = summaries.decoded() + summaries.counted();
  summary.pair_runs_read = summaries.pairs_decoded() + summaries.counted();
  summary.day_blocks_read = summaries.blocks_read();
  summary.week_blocks_read = summaries.weeks_read();
  summary.signature_runs_read = summaries.signatures_read();
  summary.text_runs_read = summaries.text_runs_read();
  for (const auto& [key, pair] : history.pairs()) {
    summary.pair_cells += static_cast<long>(pair.cells.size());
  }
  return summary;
}

}  // namespace dw::drift
