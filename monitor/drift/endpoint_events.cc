// Endpoint-wide decisions: endpoint_health, model_change and canned_template.
#include <algorithm>
#include <set>

#include "drift/engine.h"

namespace dw::drift {
namespace {

using nlohmann::json;
using ECells = std::vector<const EndpointCell*>;

const EndpointHistory* current(const EndpointContext& ctx, const EndpointHistory& ep) {
  return !ep.cells.empty() && ep.cells.back().run.id == ctx.run.id ? &ep : nullptr;
}

Counts error_counts(const ECells& cells) {
  Counts c{0, 0};
  for (const EndpointCell* x : cells) {
    c[0] += x->errors;
    c[1] += x->samples - x->errors;
  }
  return c;
}

double error_share(const Counts& c) {
  return c[0] + c[1] == 0 ? 0 : static_cast<double>(c[0]) / static_cast<double>(c[0] + c[1]);
}

json health_side(const ECells& cells) {
  Counts c = error_counts(cells);
  std::vector<int64_t> ids;
  for (const EndpointCell* x : cells) ids.insert(ids.end(), x->error_ids.begin(), x->error_ids.end());
  return {{"from", cells.empty() ? json() : json(format_time(cells.front()->run.at))},
          {"to", cells.empty() ? json() : json(format_time(cells.back()->run.at))},
          {"runs", cells.size()},
          {"samples", c[0] + c[1]},
          {"errors", c[0]},
          {"error_share", error_share(c)},
          {"sample_ids", ids_json(ids)}};
}

// Cells that may serve as evidence for events of `type` keyed by `match`: not before the last
// new normal, not inside the period of an event that has since returned.
template <typename Match>
ECells eligible(const EndpointHistory& ep, std::string_view type,
                const std::vector<store::Event>& events, Match match) {
  Time floor = Time::min();
  std::vector<std::pair<Time, Time>> shifted;
  for (const store::Event& e : events) {
    if (e.type != type || e.endpoint != ep.name || is_open(e) || !match(e)) continue;
    std::string how = resolution_of(e);
    if (how == "new_normal") floor = std::max(floor, e.detected_at);
    if (how == "returned" && e.resolved_at) shifted.emplace_back(e.detected_at, *e.resolved_at);
  }
  ECells out;
  for (const EndpointCell& c : ep.cells) {
    bool inside = std::any_of(shifted.begin(), shifted.end(), [&](const auto& s) {
      return c.run.at >= s.first && c.run.at < s.second;
    });
    if (c.samples > 0 && c.run.at >= floor && !inside) out.push_back(&c);
  }
  return out;
}

// Open event: new normal after new_normal_runs of the `counted` cells since its detection,
// returned when `back(cells after)` says.
template <typename Back>
void lifecycle(EndpointContext& ctx, size_t index, const ECells& counted, const ECells& cells,
               size_t need, Back back) {
  store::Event& e = ctx.events[index];
  Time decided = decided_at(e);
  ECells after;
  for (const EndpointCell* c : cells) {
    if (c->run.at > decided) after.push_back(c);
  }
  const auto since = std::count_if(counted.begin(), counted.end(), [&](const EndpointCell* c) {
    return c->run.at >= e.detected_at;
  });
  if (ctx.options.new_normal_runs > 0 && since >= ctx.options.new_normal_runs) {
    resolve(e, ctx.run.at, ctx.run.id, "new_normal", json::object());
    ctx.out.updated.push_back(index);
    return;
  }
  if (after.size() < need) return;
  ECells last(after.end() - static_cast<long>(need), after.end());
  if (!back(last)) return;
  resolve(e, last.front()->run.at, ctx.run.id, "returned", health_side(last));
  ctx.out.updated.push_back(index);
}

std::optional<size_t> open_event(const EndpointContext& ctx, std::string_view type,
                                 const std::string& endpoint, const std::string& hash = "") {
  for (size_t i = 0; i < ctx.events.size(); ++i) {
    const store::Event& e = ctx.events[i];
    if (!is_open(e) || e.type != type || e.endpoint != endpoint) continue;
    if (!hash.empty() && evidence_facts(e.evidence_json).template_hash != hash) continue;
    return i;
  }
  return std::nullopt;
}

struct HealthCandidate {
  const EndpointHistory* ep;
  ECells base, recent;
  double p = 1, q = 1, effect = 0;
};

}  // namespace

void decide_health(EndpointContext& ctx) {
  const Options& o = ctx.options;
  std::vector<HealthCandidate> candidates;
  for (const auto& [name, ep_all] : ctx.history.endpoints()) {
    const EndpointHistory* ep = current(ctx, ep_all);
    if (ep == nullptr) continue;
    ECells cells = eligible(*ep, kEndpointHealth, ctx.events, [](const store::Event&) { return true; });
    if (auto i = open_event(ctx, kEndpointHealth, name)) {
      Counts before{parse_json(ctx.events[*i].before_json).value("errors", 0L), 0};
      before[1] = parse_json(ctx.events[*i].before_json).value("samples", 0L) - before[0];
      lifecycle(ctx, *i, cells, cells, 1, [&](const ECells& last) {
        return total_variation(before, error_counts(last)) < o.min_effect / 2;
      });
      continue;
    }
    HealthCandidate best{ep, {}, {}, 2, 1, 0};
    bool tested = false;
    for (size_t len = 1; len <= static_cast<size_t>(o.recent_runs) && len <= cells.size(); ++len) {
      size_t start = cells.size() - len;
      Time start_at = cells[start]->run.at;
      if (start_at < ctx.run.at - o.baseline_window) break;
      ECells recent(cells.begin() + static_cast<long>(start), cells.end()), base;
      for (size_t k = 0; k < start; ++k) {
        if (cells[k]->run.at >= start_at - o.baseline_window) base.push_back(cells[k]);
      }
      Counts b = error_counts(base), a = error_counts(recent);
      if (b[0] + b[1] < o.min_baseline_samples) continue;
      tested = true;
      // The first run of the window must itself show the errors (that is when it started).
      Counts first = error_counts(ECells{recent.front()});
      if (error_share(first) <= error_share(b) || total_variation(b, first) < o.min_effect / 2) continue;
      double effect = total_variation(b, a);
      if (error_share(a) <= error_share(b) || effect < o.min_effect) continue;
      double p = exact_test(b, a);
      if (p < best.p) best = {ep, base, recent, p, 1, effect};
    }
    if (!tested) continue;
    best.p = std::min(1.0, best.p * o.recent_runs);
    candidates.push_back(best);
  }
  std::vector<double> p;
  for (const auto& c : candidates) p.push_back(c.p);
  std::vector<double> q = benjamini_hochberg(p);
  for (size_t i = 0; i < candidates.size(); ++i) {
    const HealthCandidate& c = candidates[i];
    if (c.recent.empty() || q[i] > o.alpha) continue;
    store::Event e;
    e.type = std::string(kEndpointHealth);
    e.endpoint = c.ep->name;
    e.detected_at = c.recent.front()->run.at;
    e.detected_run_id = ctx.run.id;
    e.before_json = dump(health_side(c.base));
    e.after_json = dump(health_side(c.recent));
    e.evidence_json = dump({{"test", "exact"}, {"measure", "errors"}, {"p", c.p}, {"q", q[i]},
                            {"effect", c.effect}, {"alpha", o.alpha}, {"min_effect", o.min_effect},
                            {"pairs_tested", candidates.size()}, {"window_runs", c.recent.size()},
                            {"decided_at", format_time(ctx.run.at)}});
    ctx.events.push_back(e);
    ctx.out.inserted.push_back(ctx.events.size() - 1);
  }
}

namespace {

json model_side(const ECells& cells) {
  std::map<std::string, long> models, fingerprints;
  for (const EndpointCell* c : cells) {
    for (const auto& [k, n] : c->models) models[k] += n;
    for (const auto& [k, n] : c->fingerprints) fingerprints[k] += n;
  }
  return {{"from", cells.empty() ? json() : json(format_time(cells.front()->run.at))},
          {"to", cells.empty() ? json() : json(format_time(cells.back()->run.at))},
          {"models", models},
          {"fingerprints", fingerprints}};
}

// The first max_chars code points of UTF-8 text.
std::string head(const std::string& text, size_t max_chars) {
  size_t chars = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80 && chars++ == max_chars) break;
  }
  return text.substr(0, i);
}

}  // namespace

void decide_models(EndpointContext& ctx) {
  for (const auto& [name, ep_all] : ctx.history.endpoints()) {
    const EndpointHistory* ep = current(ctx, ep_all);
    if (ep == nullptr) continue;
    const EndpointCell& now = ep->cells.back();
    ECells base;
    for (const EndpointCell& c : ep->cells) {
      if (c.run.id != now.run.id && c.run.at >= ctx.run.at - ctx.options.baseline_window) {
        base.push_back(&c);
      }
    }
    json before = model_side(base), after = model_side(ECells{&now});
    json new_models = json::array(), new_fingerprints = json::array();
    for (const char* field : {"models", "fingerprints"}) {
      json& fresh = std::string(field) == "models" ? new_models : new_fingerprints;
      if (before[field].empty()) continue;  // nothing reported before: nothing to compare with
      for (const auto& [value, n] : after[field].items()) {
        if (!before[field].contains(value)) fresh.push_back(value);
      }
    }
    if (new_models.empty() && new_fingerprints.empty()) continue;
    store::Event e;
    e.type = std::string(kModelChange);
    e.endpoint = name;
    e.status = store::EventStatus::resolved;  // a point in time: context for other events
    e.detected_at = ctx.run.at;
    e.detected_run_id = ctx.run.id;
    e.resolved_at = ctx.run.at;
    e.resolved_run_id = ctx.run.id;
    e.before_json = dump(before);
    e.after_json = dump(after);
    e.evidence_json = dump({{"new_models", new_models},
                            {"new_fingerprints", new_fingerprints},
                            {"sample_ids", ids_json(now.ids)},
                            {"decided_at", format_time(ctx.run.at)},
                            {"resolution", "point"}});
    ctx.events.push_back(e);
    ctx.out.inserted.push_back(ctx.events.size() - 1);
  }
}

Status decide_templates(EndpointContext& ctx) {
  const Options& o = ctx.options;
  for (const auto& [name, ep_all] : ctx.history.endpoints()) {
    const EndpointHistory* ep = current(ctx, ep_all);
    if (ep == nullptr) continue;
    // Runs that count toward a template's new normal, and of those the ones whose texts are
    // held (the last 40: detector.h), which say whether it is still answered. Counting only
    // those, a new_normal_runs above 40 was never reached.
    ECells counted, valid;
    for (const EndpointCell& c : ep->cells) {
      if (c.samples == 0 || 2 * c.errors > c.samples) continue;
      counted.push_back(&c);
      if (c.texts) valid.push_back(&c);
    }
    if (valid.empty() || valid.back()->run.id != ctx.run.id) continue;  // not evidence

    for (size_t i = 0; i < ctx.events.size(); ++i) {
      const store::Event& e = ctx.events[i];
      if (!is_open(e) || e.type != kCannedTemplate || e.endpoint != name) continue;
      const std::string hash = evidence_facts(e.evidence_json).template_hash;
      auto gone = [&](const ECells& last) {
        return std::none_of(last.begin(), last.end(),
                            [&](const EndpointCell* c) { return c->uses.contains(hash); });
      };
      lifecycle(ctx, i, counted, valid, static_cast<size_t>(o.recent_runs), gone);
    }

    ECells recent;
    for (auto it = valid.rbegin(); it != valid.rend() && recent.size() < static_cast<size_t>(o.recent_runs); ++it) {
      if ((*it)->run.at < ctx.run.at - o.baseline_window) break;
      recent.insert(recent.begin(), *it);
    }
    ECells base(valid.begin(), valid.end() - static_cast<long>(recent.size()));
    if (base.size() < 2) continue;  // too little history to call any text new
    // The run's own uses are counted from its rows (built): read in place.
    std::map<std::string, TextUse> decoded;
    const TextUses& now = valid.back()->uses;
    for (const auto& [hash, use] : now.built() ? *now.built() : (decoded = now.all())) {
      std::set<std::string> probes;  // first the probes: most texts answer one, and stop here
      for (const EndpointCell* c : recent) c->uses.add_probes(hash, probes);
      if (probes.size() < 2 || open_event(ctx, kCannedTemplate, name, hash)) continue;
      std::vector<int64_t> ids;
      for (const EndpointCell* c : recent) {
        if (auto found = c->uses.find(hash)) {
          ids.insert(ids.end(), found->ids.begin(), found->ids.end());
        }
      }
      // A text that already answered several probes before (a model's stock phrase for a
      // whole family of questions) is its normal behaviour, not a new template.
      std::set<std::string> before;
      for (const EndpointCell* c : base) c->uses.add_probes(hash, before);
      if (before.size() >= 2) continue;
      ECells shown;  // the recent runs from the first that used the text
      for (const EndpointCell* c : recent) {
        if (!shown.empty() || c->uses.contains(hash)) shown.push_back(c);
      }
      std::vector<RunRef> runs;
      for (const EndpointCell* c : shown) runs.push_back(c->run);
      json controls = ctx.controls(name, runs);
      bool control_probe = std::any_of(probes.begin(), probes.end(), [&](const std::string& p) {
        return valid.back()->control_probes.count(p) > 0;
      });
      long template_samples = 0, samples = 0;
      for (const EndpointCell* c : shown) {
        samples += c->samples - c->errors;
        if (auto found = c->uses.find(hash)) template_samples += static_cast<long>(found->ids.size());
      }
      long base_samples = 0;
      for (const EndpointCell* c : base) base_samples += c->samples - c->errors;
      store::Event e;
      e.type = std::string(kCannedTemplate);
      e.endpoint = name;
      e.scope = control_probe || !controls["moved"].empty() ? "broad" : "targeted";
      e.detected_at = shown.front()->run.at;
      e.detected_run_id = ctx.run.id;
      e.before_json = dump({{"from", format_time(base.front()->run.at)},
                            {"to", format_time(base.back()->run.at)},
                            {"runs", base.size()},
                            {"samples", base_samples},
                            {"template_samples", 0}});
      e.after_json = dump({{"from", format_time(shown.front()->run.at)},
                           {"to", format_time(shown.back()->run.at)},
                           {"runs", shown.size()},
                           {"samples", samples},
                           {"template_samples", template_samples},
                           {"probes", probes},
                           {"sample_ids", ids_json(ids, 10)}});
      if (use.response_hash.empty()) {  // a summary's uses name no raw text (history.h)
        return Error("the texts of run " + std::to_string(ctx.run.id) + " on " + name +
                     " were not counted from its samples: no template's words to quote");
      }
      auto text = ctx.text(use.response_hash);
      if (!text) return text.error();
      e.evidence_json = dump({{"template_hash", hash},
                              {"text", head(*text, 280)},
                              {"probes", probes},
                              {"sample_ids", ids_json(ids, 10)},
                              {"controls", controls},
                              {"decided_at", format_time(ctx.run.at)}});
      ctx.events.push_back(e);
      ctx.out.inserted.push_back(ctx.events.size() - 1);
    }
  }
  return {};
}

}  // namespace dw::drift
