#include "drift/history.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace dw::drift {

std::span<const Signature> RunSignatures::slice(size_t first, size_t n) const {
  if (!done_) {
    done_ = true;
    auto bytes = read_();
    read_ = nullptr;  // what it captured is not needed any more
    failed_ = !bytes || bytes->size() != count_ * sizeof(Signature);
    if (!failed_) {
      all_.resize(count_);
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(all_.data(), bytes->data(), bytes->size());  // the stored order already
      } else {
        const auto* b = reinterpret_cast<const unsigned char*>(bytes->data());
        for (Signature& sig : all_) {
          for (uint16_t& v : sig) v = static_cast<uint16_t>(b[0] | b[1] << 8), b += 2;
        }
      }
    }
  }
  if (failed_ || first > all_.size() || n > all_.size() - first) return {};
  return {all_.data() + first, n};
}

namespace {

// What add() counts is named by run_cells_version() (run_cells.cc), which fingerprints it:
// stored run summaries of other counting rules are rebuilt, never mixed in.

// Shorter texts ("Au.", "Canberra.") are legitimately identical across questions.
constexpr size_t kMinTemplateLength = 20;

int verdict_column(const std::string& verdict) {
  for (int i = 0; i < 4; ++i) {
    if (verdict == kVerdictColumns[i]) return i;
  }
  return -1;
}

}  // namespace

void History::add(const store::SampleRow& row, const AnswerFeatures* features) {
  if (!row.classification) return;
  const store::Classification& c = *row.classification;
  const bool error = c.verdict == "error";
  int column = verdict_column(c.verdict);
  if (!error && column < 0) return;

  // Rows of one pair come one after another (store order): look the pair up once for them.
  const bool same_pair = last_pair_ != nullptr && last_pair_->key.endpoint == row.key.endpoint &&
                         last_pair_->key.probe_id == row.key.probe_id &&
                         last_pair_->key.probe_version == row.key.probe_version;
  if (!same_pair) {
    PairKey key{row.key.endpoint, row.key.probe_id, row.key.probe_version};
    last_pair_ = &pairs_[key];
    last_pair_->key = std::move(key);
  }
  PairHistory& pair = *last_pair_;
  pair.control = row.control;
  if (pair.cells.empty() || pair.cells.back().run.id != row.run_id) {
    if (pair.cells.empty()) pair.cells.reserve(expected_runs_);
    pair.fold_tail = false;
    pair.cells.push_back(Cell{});
    pair.cells.back().run = {row.run_id, row.run_at};
  }
  Cell& cell = pair.cells.back();
  cell.texts = features != nullptr;

  if (last_endpoint_ == nullptr || last_endpoint_->name != row.key.endpoint) {
    last_endpoint_ = &endpoints_[row.key.endpoint];
    last_endpoint_->name = row.key.endpoint;
  }
  EndpointHistory& ep = *last_endpoint_;
  if (ep.cells.empty() || ep.cells.back().run.id != row.run_id) {
    ep.cells.push_back(EndpointCell{});
    ep.cells.back().run = {row.run_id, row.run_at};
  }
  EndpointCell& ec = ep.cells.back();
  ec.texts = features != nullptr;
  ++ec.samples;
  if (row.control) ec.control_probes.insert(row.key.probe_id);

  if (error) {
    ++cell.errors;
    cell.error_ids.push_back(row.id);
    ++ec.errors;
    ec.error_ids.push_back(row.id);
    return;
  }
  ++cell.verdicts[column];
  cell.ids.push_back(row.id);
  ec.ids.push_back(row.id);
  if (c.narrative) ++cell.narrative;
  if (column == 0 && c.expect_coverage) {
    double v = *c.expect_coverage;
    ++cell.coverage[v >= 0.999 ? 0 : v > 0.001 ? 1 : 2];
    cell.coverage_sum += v;
  }
  if (!row.sample.model.empty()) ++ec.models[row.sample.model];
  if (!row.sample.system_fingerprint.empty()) ++ec.fingerprints[row.sample.system_fingerprint];

  if (features == nullptr) return;
  if (column == 0) cell.answered.push_back(features->signature);
  // Templates are deflections (or canned lines the rules do not know, classified answered).
  // A plain refusal or a filter message shared by several probes is the model's or provider's
  // stock phrase; each probe that turns to it is a verdict_shift of its own.
  const bool template_candidate = column == 0 || column == 2;
  if (template_candidate && features->normalised_size >= kMinTemplateLength) {
    TextUse& use = ec.uses.add(features->normalised_hash);
    if (use.response_hash.empty()) use.response_hash = row.response_hash;
    use.probes.insert(row.key.probe_id);
    use.ids.push_back(row.id);
  }
}

void History::add(EndpointRun run) {
  begin_run(run.endpoint, std::move(run.cell));
  for (PairRun& p : run.pairs) add_pair(p.key, p.control, std::move(p.cell));
}

EndpointCell& History::begin_run(const std::string& endpoint, EndpointCell cell) {
  last_pair_ = nullptr;  // add(row) must look its pair up afresh
  last_endpoint_ = nullptr;
  EndpointHistory& ep = endpoints_[endpoint];
  ep.name = endpoint;
  ep.cells.push_back(std::move(cell));
  EndpointCell& ec = ep.cells.back();
  ec.texts = false;
  ec.uses = {};
  // The run's pairs come in key order, as pairs_ holds them: walk both together rather than
  // look each pair up from the root (a window of counts is hundreds of runs of hundreds).
  next_pair_ = pairs_.lower_bound(PairKey{endpoint, "", ""});
  return ec;
}

void History::add_pair(const SharedPairKey& shared, bool control, Cell&& c) {
  add_cells(shared, control, std::span<Cell>(&c, 1));
}

void History::add_cells(const SharedPairKey& shared, bool control, std::span<Cell> cells) {
  auto& at = next_pair_;
  const PairKey& key = *shared;
  // Every run of a window names the same pairs by the same shared keys: the pair is usually
  // the next one (`at` moves past each pair fed), known by its key's address without comparing
  // strings.
  if (at == pairs_.end() || at->second.fed_key != shared) {
    while (at != pairs_.end() && at->first < key) ++at;
    if (at == pairs_.end() || at->first != key) {
      at = pairs_.emplace_hint(at, key, PairHistory{});
      at->second.key = key;
      plan_folding(at->second);
    }
    at->second.fed_key = shared;
  }
  PairHistory& pair = at->second;
  pair.control = control;
  ++at;  // the run's pairs are strictly ascending: the next one is at or after this
  for (Cell& c : cells) {
    const bool foldable = c.valid() && c.run.at >= folding_.from && c.run.at < pair.fold_until;
    if (foldable && pair.fold_tail && !cut_between(pair, pair.cells.back().last_at(), c.run.at)) {
      fold_into(pair.cells.back(), c);
      continue;
    }
    // Each of a pair's cuts may start a cell of its own (spans never cross them).
    if (pair.cells.empty()) {
      pair.cells.reserve(expected_runs_ + (pair.cuts ? pair.cuts->size() : 0));
    }
    pair.cells.push_back(std::move(c));
    pair.cells.back().texts = false;
    pair.cells.back().answered = Signatures();
    pair.fold_tail = foldable;
  }
}

void History::drop_cells() {
  pairs_.clear();
  endpoints_.clear();
  last_pair_ = nullptr;
  last_endpoint_ = nullptr;
}

void History::fold(Folding folding) {
  folding_ = std::move(folding);
  for (auto& [key, pair] : pairs_) plan_folding(pair);
}

void History::plan_folding(PairHistory& pair) const {
  auto until = folding_.until.find(pair.key);
  pair.fold_until = until == folding_.until.end() ? Time::min() : until->second;
  auto cuts = folding_.cuts.find(pair.key);
  pair.cuts = cuts == folding_.cuts.end() ? nullptr : &cuts->second;
  pair.fold_tail = false;
}

bool History::cut_between(const PairHistory& pair, Time first, Time last) {
  if (pair.cuts == nullptr) return false;
  auto it = std::lower_bound(pair.cuts->begin(), pair.cuts->end(), first);
  return it != pair.cuts->end() && *it <= last;
}

void History::fold_into(Cell& span, const Cell& c) {
  for (size_t i = 0; i < span.verdicts.size(); ++i) span.verdicts[i] += c.verdicts[i];
  span.errors += c.errors;
  span.narrative += c.narrative;
  for (size_t i = 0; i < span.coverage.size(); ++i) span.coverage[i] += c.coverage[i];
  span.coverage_sum = coverage_steps(span.coverage_sum) + coverage_steps(c.coverage_sum);
  for (int64_t id : c.ids) span.ids.push_back(id);  // the first kMaxCellIds are kept
  for (int64_t id : c.error_ids) span.error_ids.push_back(id);
  span.runs += c.runs;
  span.span_last = c.last_at();
}

namespace {

// A run's cell in cells (in run order; the run is usually the last one: searched from the back).
template <typename C>
auto* cell_of(C& cells, const RunRef& run) {
  for (auto it = cells.rbegin(); it != cells.rend() && it->run.at >= run.at; ++it) {
    if (it->run.id == run.id) return &*it;
  }
  return static_cast<decltype(&*cells.rbegin())>(nullptr);
}

}  // namespace

bool History::add_texts(const RunRef& run, EndpointTexts texts) {
  auto ep = endpoints_.find(texts.endpoint);
  if (ep == endpoints_.end()) return false;
  EndpointCell* ec = cell_of(ep->second.cells, run);
  if (ec == nullptr) return false;
  ec->texts = true;
  ec->uses = std::move(texts.uses);
  auto answered = texts.answered.begin();
  for (auto it = pairs_.lower_bound(PairKey{texts.endpoint, "", ""});
       it != pairs_.end() && it->first.endpoint == texts.endpoint; ++it) {
    Cell* c = cell_of(it->second.cells, run);
    if (c == nullptr || c->runs > 1) continue;  // a span holds no texts
    c->texts = true;
    // Keys a summary's counts and texts were read with are the pair's own (the same pointer):
    // compared by address first, by their strings only when they are not.
    auto same = [&](const SharedPairKey& k) { return k == it->second.fed_key || *k == it->first; };
    while (answered != texts.answered.end() && !same(answered->first) &&
           *answered->first < it->first) {
      ++answered;
    }
    if (answered != texts.answered.end() && same(answered->first)) {
      c->answered = std::move(answered->second);
    }
  }
  return true;
}

std::vector<EndpointTexts> History::texts_of(const RunRef& run) const {
  std::vector<EndpointTexts> out;
  for (const auto& [name, ep] : endpoints_) {
    const EndpointCell* ec = cell_of(ep.cells, run);
    if (ec == nullptr || !ec->texts) continue;
    EndpointTexts& t = out.emplace_back();
    t.endpoint = name;
    t.uses = ec->uses;
    for (auto it = pairs_.lower_bound(PairKey{name, "", ""});
         it != pairs_.end() && it->first.endpoint == name; ++it) {
      const Cell* c = cell_of(it->second.cells, run);
      if (c != nullptr && !c->answered.empty()) {
        t.answered.emplace_back(std::make_shared<const PairKey>(it->first), c->answered);
      }
    }
  }
  return out;
}

std::vector<EndpointRun> History::cells_of(const RunRef& run) const {
  auto find = [&](const auto& cells) { return cell_of(cells, run); };
  std::vector<EndpointRun> out;
  for (const auto& [name, ep] : endpoints_) {
    const EndpointCell* ec = find(ep.cells);
    if (ec == nullptr) continue;
    EndpointRun& r = out.emplace_back();
    r.endpoint = name;
    r.cell.run = ec->run;
    r.cell.samples = ec->samples;
    r.cell.errors = ec->errors;
    r.cell.models = ec->models;
    r.cell.fingerprints = ec->fingerprints;
    r.cell.ids = ec->ids;
    r.cell.error_ids = ec->error_ids;
    r.cell.control_probes = ec->control_probes;
    for (auto it = pairs_.lower_bound(PairKey{name, "", ""});
         it != pairs_.end() && it->first.endpoint == name; ++it) {
      const Cell* c = find(it->second.cells);
      if (c == nullptr || c->runs > 1) continue;  // a span is no run's own cell
      PairRun& p = r.pairs.emplace_back();
      p.key = std::make_shared<const PairKey>(it->first);
      p.control = it->second.control;
      p.cell.run = c->run;
      p.cell.verdicts = c->verdicts;
      p.cell.errors = c->errors;
      p.cell.narrative = c->narrative;
      p.cell.coverage = c->coverage;
      p.cell.coverage_sum = c->coverage_sum;
      p.cell.ids = c->ids;
      p.cell.error_ids = c->error_ids;
    }
  }
  return out;
}

void History::append(History&& later) {
  last_pair_ = nullptr;  // the maps change below
  last_endpoint_ = nullptr;
  auto move_cells = [](auto& to, auto& from) {
    if (to.empty()) {
      to = std::move(from);
      return;
    }
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  for (auto& [key, pair] : later.pairs_) {
    PairHistory& here = pairs_[key];
    here.key = key;
    here.fold_tail = false;  // the later runs are whole
    here.control = pair.control;  // as the later runs' rows would have set it
    move_cells(here.cells, pair.cells);
  }
  for (auto& [name, ep] : later.endpoints_) {
    EndpointHistory& here = endpoints_[name];
    here.name = name;
    move_cells(here.cells, ep.cells);
  }
  later.pairs_.clear();
  later.endpoints_.clear();
  later.last_pair_ = nullptr;
  later.last_endpoint_ = nullptr;
}

void History::prune(Time horizon, Time text_horizon) {
  last_pair_ = nullptr;  // may be erased below
  last_endpoint_ = nullptr;
  auto old = [&](const auto& cell) { return cell.run.at < horizon; };
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    auto& cells = it->second.cells;
    cells.erase(cells.begin(), std::find_if_not(cells.begin(), cells.end(), old));
    for (Cell& c : cells) {
      if (c.run.at >= text_horizon) break;
      c.texts = false;
      c.answered = Signatures();
    }
    it = cells.empty() ? pairs_.erase(it) : std::next(it);
  }
  for (auto it = endpoints_.begin(); it != endpoints_.end();) {
    auto& cells = it->second.cells;
    cells.erase(cells.begin(), std::find_if_not(cells.begin(), cells.end(), old));
    for (EndpointCell& c : cells) {
      if (c.run.at >= text_horizon) break;
      c.texts = false;
      c.uses = {};
    }
    it = cells.empty() ? endpoints_.erase(it) : std::next(it);
  }
}

}  // namespace dw::drift
