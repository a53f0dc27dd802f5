#include "drift/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace dw::drift {
namespace {

using nlohmann::json;

constexpr std::string_view kPairTypes[] = {kVerdictShift, kNarrativeShift, kContentShift};

bool same_pair(const store::Event& e, std::string_view type, const PairKey& k) {
  return e.type == type && e.endpoint == k.endpoint && e.probe_id == k.probe_id &&
         e.probe_version == k.probe_version;
}

// Indices into events of each pair's resolved events: eligible_cells reads a pair's own, not
// every event for every pair and type. Indices, not pointers: decide() appends events (open
// ones, which eligibility does not look at).
using ResolvedIndex = std::map<PairKey, std::vector<size_t>>;

ResolvedIndex resolved_index(const std::vector<store::Event>& events) {
  ResolvedIndex out;
  for (size_t i = 0; i < events.size(); ++i) {
    const store::Event& e = events[i];
    if (e.status == store::EventStatus::resolved && !e.probe_id.empty()) {
      out[{e.endpoint, e.probe_id, e.probe_version}].push_back(i);
    }
  }
  return out;
}

// A pair's cells that may serve as evidence for events of `type`: valid, not before the last
// new normal, not inside the shifted period of an event that has since returned.
Cells eligible_cells(const PairHistory& pair, std::string_view type,
                     const std::vector<store::Event>& events, const ResolvedIndex& resolved) {
  Time floor = Time::min();
  std::vector<std::pair<Time, Time>> shifted;
  static const std::vector<size_t> none;
  auto own = resolved.find(pair.key);
  for (size_t i : own == resolved.end() ? none : own->second) {
    const store::Event& e = events[i];
    if (!same_pair(e, type, pair.key) || e.status != store::EventStatus::resolved) continue;
    std::string how = resolution_of(e);
    if (how == "new_normal") floor = std::max(floor, e.detected_at);
    if (how == "returned" && e.resolved_at) shifted.emplace_back(e.detected_at, *e.resolved_at);
  }
  Cells out;
  for (const Cell& c : pair.cells) {
    if (!c.valid() || c.run.at < floor) continue;
    bool inside = std::any_of(shifted.begin(), shifted.end(), [&](const auto& s) {
      return c.run.at >= s.first && c.run.at < s.second;
    });
    if (!inside) out.push_back(&c);
  }
  return out;
}

Counts counts_from(const json& side, Measure m) {
  auto get = [&](const char* obj, const char* key) {
    return side.contains(obj) ? side[obj].value(key, 0L) : 0L;
  };
  switch (m) {
    case Measure::verdicts:
      return {get("verdicts", "answered"), get("verdicts", "refused"), get("verdicts", "deflected"),
              get("verdicts", "filtered")};
    case Measure::narrative: {
      long n = side.value("narrative", 0L);
      return {n, side.value("samples", 0L) - n};
    }
    case Measure::coverage:
      return {get("coverage", "full"), get("coverage", "partial"), get("coverage", "none")};
    case Measure::similarity: break;
  }
  return {};
}

Measure measure_of(const store::Event& e) {
  const std::string m = evidence_facts(e.evidence_json).measure;
  for (Measure x : {Measure::narrative, Measure::coverage, Measure::similarity}) {
    if (measure_name(x) == m) return x;
  }
  return Measure::verdicts;
}

// Open pair event: becomes the new normal, resolves because behaviour returned, or stays.
Status lifecycle(store::Event& e, const PairHistory& pair, const RunRef& run,
                 const Options& options, const SignatureLoader& loader, bool& changed) {
  Time decided = decided_at(e);
  Cells after;
  long since = 0;  // valid runs since detection
  const Cell* last_valid = nullptr;
  for (const Cell& c : pair.cells) {
    if (!c.valid()) continue;
    last_valid = &c;
    if (c.run.at >= e.detected_at) since += c.runs;
    if (c.run.at > decided) after.push_back(&c);
  }
  if (options.new_normal_runs > 0 && since >= options.new_normal_runs) {
    resolve(e, run.at, run.id, "new_normal", side_json(Cells{last_valid}));
    changed = true;
    return {};
  }
  if (static_cast<int>(after.size()) < options.recent_runs) return {};
  Cells last(after.end() - options.recent_runs, after.end());
  Measure m = measure_of(e);
  json before = parse_json(e.before_json);
  Counts b, a;
  if (m == Measure::similarity) {
    json sim = parse_json(e.evidence_json).value("similarity", json::object());
    std::vector<Signature> base;
    for (const auto& id : sim.value("baseline_runs", json::array())) {
      auto got = loader(pair.key, id.get<int64_t>());
      if (!got) return got.error();
      base.insert(base.end(), got->begin(), got->end());
    }
    std::vector<Signature> now = answers(last);
    bool texts = std::all_of(last.begin(), last.end(), [](const Cell* c) { return c->texts; });
    if (base.empty() || now.empty() || !texts) return {};
    SimilarityRecent r = measure_recent(base, sim.value("threshold", 0.0), now);
    long far = sim.value("far", 0L);
    b = {far, sim.value("answers", 0L) - far};
    a = {r.far, r.near};
  } else {
    b = counts_from(before, m);
    a = counts(m, last);
  }
  long na = 0;
  for (long v : a) na += v;
  if (na == 0 || total_variation(b, a) >= options.min_effect / 2) return {};
  json side = side_json(last);
  resolve(e, last.front()->run.at, run.id, "returned", side);
  changed = true;
  return {};
}

struct Candidate {
  const PairHistory* pair;
  std::string_view type;
  Finding finding;
  double p = 1;  // multiplied for the windows (and measures) tried
  double q = 1;
};

void apply_bh(std::vector<Candidate*>& family) {
  std::vector<double> p;
  for (const Candidate* c : family) p.push_back(c->p);
  std::vector<double> q = benjamini_hochberg(p);
  for (size_t i = 0; i < family.size(); ++i) family[i]->q = q[i];
}

std::vector<RunRef> runs_of(const Cells& cells) {
  std::vector<RunRef> out;
  for (const Cell* c : cells) out.push_back(c->run);
  return out;
}

}  // namespace

namespace {

// The controls of an endpoint that moved over the given runs (scope of censorship events).
json controls_moved(const History& history, const std::vector<store::Event>& events,
                    const ResolvedIndex& resolved, const std::string& endpoint,
                    const std::vector<RunRef>& runs, const Options& options) {
  json moved = json::array();
  long tested = 0;
  if (runs.empty()) return {{"tested", 0}, {"moved", moved}};
  Time first = runs.front().at, last = runs.back().at;
  for (const auto& [key, pair] : history.pairs()) {
    if (key.endpoint != endpoint || !pair.control) continue;
    Cells recent;
    for (const Cell& c : pair.cells) {
      bool in = std::any_of(runs.begin(), runs.end(), [&](const RunRef& r) { return r.id == c.run.id; });
      if (in && c.valid()) recent.push_back(&c);
    }
    if (recent.empty()) continue;
    ++tested;
    bool yes = std::any_of(events.begin(), events.end(), [&](const store::Event& e) {
      return e.endpoint == endpoint && e.probe_id == key.probe_id && is_censorship(e.type) &&
             e.detected_at <= last && (is_open(e) || (e.resolved_at && *e.resolved_at > first));
    });
    Cells base;
    for (const Cell* c : eligible_cells(pair, kVerdictShift, events, resolved)) {
      if (c->run.at < first && c->run.at >= first - options.baseline_window) base.push_back(c);
    }
    for (Measure m : {Measure::verdicts, Measure::narrative, Measure::coverage,
                      Measure::similarity}) {
      if (yes) break;
      auto f = compare(m, base, recent, options);
      yes = f && f->p <= options.alpha && f->effect >= options.min_effect && moves_the_right_way(*f);
    }
    if (yes) moved.push_back(key.probe_id);
  }
  return {{"tested", tested}, {"moved", moved}};
}

store::Event pair_event(const Candidate& c, const RunRef& run, size_t family_size,
                        const json& controls, const Options& options) {
  const Finding& f = c.finding;
  store::Event e;
  e.type = std::string(c.type);
  e.endpoint = c.pair->key.endpoint;
  e.probe_id = c.pair->key.probe_id;
  e.probe_version = c.pair->key.probe_version;
  e.scope = c.pair->control || !controls["moved"].empty() ? "broad" : "targeted";
  e.status = store::EventStatus::open;
  e.detected_at = f.recent.front()->run.at;
  e.detected_run_id = run.id;
  json before = side_json(f.base), after = side_json(f.recent);
  json evidence = {{"test", "exact"},
                   {"measure", measure_name(f.measure)},
                   {"p", c.p},
                   {"q", c.q},
                   {"effect", f.effect},
                   {"alpha", options.alpha},
                   {"min_effect", options.min_effect},
                   {"pairs_tested", family_size},
                   {"window_runs", f.recent.size()},
                   {"controls", controls},
                   {"decided_at", format_time(run.at)},
                   {"examples", {{"before", before["sample_ids"]}, {"after", after["sample_ids"]}}}};
  if (f.similarity) {
    before["similarity"] = f.similarity->mean;
    after["similarity"] = f.similarity_recent.mean;
    evidence["similarity"] = {{"threshold", f.similarity->threshold},
                              {"baseline_runs", f.similarity->runs},
                              {"far", f.similarity->far},
                              {"answers", f.similarity->answers},
                              {"far_after", f.similarity_recent.far}};
  }
  e.before_json = dump(before);
  e.after_json = dump(after);
  e.evidence_json = dump(evidence);
  return e;
}

}  // namespace

Time horizon(Time run_at, const std::vector<store::Event>& events, const Options& options) {
  Time h = run_at - 2 * options.baseline_window;
  if (options.new_normal_runs > 0) {
    for (const store::Event& e : events) {
      if (is_open(e)) h = std::min(h, e.detected_at);
    }
  }
  return h;
}

Reach reach(const History& recent, const RunRef& run, const std::vector<store::Event>& events,
            const Options& options, Folding* folding) {
  const size_t k = static_cast<size_t>(options.recent_runs);
  const Time oldest_window = run.at - options.baseline_window;
  Time start = run.at;  // the earliest start of a recent window
  Time reach = Time::max();
  // Returned events' periods are no evidence for their type: a window of that type reaches
  // past them (eligible_cells). By pair and type.
  std::map<std::pair<PairKey, std::string_view>, std::vector<std::pair<Time, Time>>> returned;
  std::map<std::string, std::vector<std::pair<Time, Time>>> returned_health;  // by endpoint
  for (const store::Event& e : events) {
    if (is_open(e)) {
      reach = std::min(reach, e.detected_at);
    } else if (!e.resolved_at || resolution_of(e) != "returned") {
      continue;
    } else if (auto type = std::find(std::begin(kPairTypes), std::end(kPairTypes), e.type);
               type != std::end(kPairTypes)) {
      returned[{{e.endpoint, e.probe_id, e.probe_version}, *type}].emplace_back(e.detected_at,
                                                                              *e.resolved_at);
    } else if (e.type == kEndpointHealth) {
      returned_health[e.endpoint].emplace_back(e.detected_at, *e.resolved_at);
    }
  }
  auto outside = [](const auto* periods, Time at) {
    return periods == nullptr ||
           std::none_of(periods->begin(), periods->end(),
                        [&](const auto& p) { return at >= p.first && at < p.second; });
  };
  // The time of the k-th last cell that `counts` (from the newest), or of the oldest of fewer
  // when older cells are all before oldest_window; oldest_window when `recent` may not hold
  // them all.
  auto window_start = [&](const auto& cells, auto counts) {
    size_t found = 0;
    Time first = run.at;
    for (auto it = cells.rbegin(); it != cells.rend(); ++it) {
      if (it->run.at < oldest_window) return first;
      if (!counts(*it)) continue;
      first = it->run.at;
      if (++found == k) return first;
    }
    return oldest_window;
  };
  for (const auto& [key, pair] : recent.pairs()) {
    // A pair not decided at this run has no windows; as a control it is compared over others'
    // (never folded: it is left out of folding->until).
    if (pair.cells.empty() || pair.cells.back().run.id != run.id) continue;
    Time own = run.at;  // the earliest start of the pair's windows, of any type
    for (std::string_view type : kPairTypes) {
      auto found = returned.find({key, type});
      const auto* periods = found == returned.end() ? nullptr : &found->second;
      own = std::min(own, window_start(pair.cells, [&](const Cell& c) {
        return c.valid() && outside(periods, c.run.at);
      }));
    }
    start = std::min(start, own);
    if (folding) folding->until[key] = own;
  }
  Time health_start = run.at;  // the earliest start of an endpoint's health window
  for (const auto& [name, ep] : recent.endpoints()) {
    if (ep.cells.empty() || ep.cells.back().run.id != run.id) continue;
    // Only runs with texts can be a template's: `recent` holds every one of them.
    Time t = window_start(ep.cells, [](const EndpointCell& c) {
      return c.texts && c.samples > 0 && 2 * c.errors <= c.samples;
    });
    start = std::min(start, std::max(t, oldest_window));
    auto found = returned_health.find(name);
    const auto* periods = found == returned_health.end() ? nullptr : &found->second;
    health_start = std::min(health_start, window_start(ep.cells, [&](const EndpointCell& c) {
      return c.samples > 0 && outside(periods, c.run.at);
    }));
  }
  if (folding) {
    folding->from = oldest_window;
    for (auto& [key, until] : folding->until) {
      if (recent.pairs().at(key).control) until = std::min(until, start);
    }
    // The times eligibility and lifecycle compare cells with (eligible_cells, lifecycle).
    for (const store::Event& e : events) {
      if (e.probe_id.empty()) continue;
      auto& cuts = folding->cuts[{e.endpoint, e.probe_id, e.probe_version}];
      cuts.push_back(e.detected_at);
      if (e.resolved_at) cuts.push_back(*e.resolved_at);
      if (is_open(e)) cuts.push_back(decided_at(e));
    }
    for (auto& [key, cuts] : folding->cuts) std::sort(cuts.begin(), cuts.end());
  }
  const Time h = horizon(run.at, events, options);
  return {std::max(std::min(reach, start - options.baseline_window), h),
          std::max(std::min(reach, health_start - options.baseline_window), h)};
}

Result<Decisions> decide(const History& history, const RunRef& run,
                         std::vector<store::Event>& events, const Options& options,
                         const SignatureLoader& loader, const TextLoader& text) {
  Decisions out;
  std::vector<const PairHistory*> current;  // pairs with valid evidence in this run
  for (const auto& [key, pair] : history.pairs()) {
    if (!pair.cells.empty() && pair.cells.back().run.id == run.id && pair.cells.back().valid()) {
      current.push_back(&pair);
    }
  }
  // The events open as the run starts, then those it opens: what open_index looks through
  // for every pair and type (the window's events are mostly resolved ones).
  std::vector<size_t> open;
  for (size_t i = 0; i < events.size(); ++i) {
    if (is_open(events[i])) open.push_back(i);
  }
  auto open_index = [&](std::string_view type, const PairKey& k) -> std::optional<size_t> {
    for (size_t i : open) {
      if (is_open(events[i]) && same_pair(events[i], type, k)) return i;
    }
    return std::nullopt;
  };

  for (const PairHistory* pair : current) {
    for (std::string_view type : kPairTypes) {
      auto i = open_index(type, pair->key);
      if (!i) continue;
      bool changed = false;
      if (Status s = lifecycle(events[*i], *pair, run, options, loader, changed); !s) {
        return s.error();
      }
      if (changed) out.updated.push_back(*i);
    }
  }

  const ResolvedIndex resolved = resolved_index(events);  // lifecycle() may have resolved some
  std::vector<Candidate> candidates;
  candidates.reserve(current.size() * 3);
  std::map<std::string_view, std::vector<Candidate*>> families;
  for (const PairHistory* pair : current) {
    bool tested_any = false;
    // Without a resolved event of its own, a pair's eligible cells are the same for every type.
    const bool any_resolved = resolved.count(pair->key) > 0;
    std::optional<Cells> shared;
    for (std::string_view type : kPairTypes) {
      if (open_index(type, pair->key)) continue;
      std::optional<Cells> own;
      std::optional<Cells>& cached = any_resolved ? own : shared;
      if (!cached) cached = eligible_cells(*pair, type, events, resolved);
      const Cells& eligible = *cached;
      std::vector<Measure> measures = {Measure::verdicts};
      if (type == kNarrativeShift) measures = {Measure::narrative};
      if (type == kContentShift) measures = {Measure::coverage, Measure::similarity};
      Candidate c{pair, type, {}, 1, 1};
      bool tested = false;
      int tried = 0;
      for (Measure m : measures) {
        WindowResult w = best_window(m, eligible, run.at, options);
        tried += w.tested ? 1 : 0;
        tested = tested || w.tested;
        if (w.finding && (c.finding.recent.empty() || w.finding->p < c.finding.p)) {
          c.finding = std::move(*w.finding);
        }
      }
      if (!tested) continue;
      tested_any = true;
      if (!c.finding.recent.empty()) {
        c.p = std::min(1.0, c.finding.p * options.recent_runs * std::max(tried, 1));
      }
      candidates.push_back(std::move(c));
      families[type].push_back(&candidates.back());
    }
    out.pairs_tested += tested_any ? 1 : 0;
  }
  for (auto& [type, family] : families) apply_bh(family);

  for (std::string_view type : kPairTypes) {
    for (Candidate* c : families[type]) {
      if (c->finding.recent.empty() || c->q > options.alpha) continue;
      // A narrative takeover moves the answers too; the narrative event already says so.
      if (type == kContentShift && open_index(kNarrativeShift, c->pair->key)) continue;
      json controls = controls_moved(history, events, resolved, c->pair->key.endpoint,
                                     runs_of(c->finding.recent), options);
      events.push_back(pair_event(*c, run, families[type].size(), controls, options));
      out.inserted.push_back(events.size() - 1);
      open.push_back(events.size() - 1);
    }
  }

  EndpointContext ctx{history, run, events, options, out,
                      [&](const std::string& endpoint, const std::vector<RunRef>& runs) {
                        return controls_moved(history, events, resolved, endpoint, runs, options);
                      },
                      text};
  decide_health(ctx);
  decide_models(ctx);
  if (Status s = decide_templates(ctx); !s) return s.error();
  return out;
}

bool is_open(const store::Event& e) { return e.status == store::EventStatus::open; }

Time decided_at(const store::Event& e) {
  return evidence_facts(e.evidence_json).decided_at.value_or(e.detected_at);
}

}  // namespace dw::drift
