#include "report/incidents.h"
#include "report/language_gap.h"
#include "report/render.h"

namespace dw::report {
namespace {

using nlohmann::json;

// Bumped when a field changes meaning or goes away; new fields do not bump it.
constexpr int kSchemaVersion = 1;

json optional_number(std::optional<double> x) { return x ? json(*x) : json(nullptr); }
json optional_time(std::optional<Time> t) { return t ? json(format_time(*t)) : json(nullptr); }

json counts_json(const VerdictCounts& c) {
  json counts = json::object();
  json shares = json::object();
  for (size_t i = 0; i < kVerdicts.size(); ++i) {
    counts[std::string(kVerdicts[i])] = c.n[i];
    if (static_cast<int>(i) != kError)
      shares[std::string(kVerdicts[i])] = optional_number(c.share(static_cast<int>(i)));
  }
  return {{"samples", c.total()},           {"unclassified", c.unclassified},
          {"counts", counts},               {"shares", shares},
          {"error_share", optional_number(c.error_share())},
          {"censored_share", optional_number(c.censored_share())}};
}

json change_json(const VerdictCounts& before, const VerdictCounts& now) {
  json change = json::object();
  for (int i = 0; i < kError; ++i) {
    auto b = before.share(i), n = now.share(i);
    change[std::string(kVerdicts[static_cast<size_t>(i)])] = b && n ? json(*n - *b) : json(nullptr);
  }
  return change;
}

// Shares are fractions like everywhere in the JSON; the gap is English minus Chinese.
json language_gap_json(const LanguageGap& g) {
  return {{"endpoint", g.endpoint},
          {"category", g.category},
          {"control", g.control},
          {"stems", g.stems},
          {"en", {{"baseline", counts_json(g.en_baseline)}, {"now", counts_json(g.en_now)}}},
          {"zh", {{"baseline", counts_json(g.zh_baseline)}, {"now", counts_json(g.zh_now)}}},
          {"gap",
           {{"baseline", optional_number(gap(g.en_baseline, g.zh_baseline))},
            {"now", optional_number(gap(g.en_now, g.zh_now))},
            {"change", optional_number(gap_change(g))}}}};
}

json category_json(const CategoryBlock& c) {
  json languages = json::array();
  for (const auto& l : c.languages)
    languages.push_back({{"lang", l.lang},
                         {"baseline", counts_json(l.baseline)},
                         {"now", counts_json(l.now)},
                         {"change", change_json(l.baseline, l.now)}});
  json trend = json::array();
  for (const auto& d : c.trend) {
    json counts = json::object();
    for (size_t i = 0; i < kVerdicts.size(); ++i) counts[std::string(kVerdicts[i])] = d.counts.n[i];
    trend.push_back({{"date", d.date},
                     {"counts", counts},
                     {"censored_share", optional_number(d.counts.censored_share())}});
  }
  return {{"endpoint", c.endpoint},           {"category", c.category},
          {"control", c.control},             {"baseline", counts_json(c.baseline)},
          {"now", counts_json(c.now)},        {"change", change_json(c.baseline, c.now)},
          {"languages", languages},           {"trend", trend}};
}

json side_json(const TypicalSide& s) {
  return {{"from", format_time(s.from)},
          {"until", format_time(s.until)},
          {"verdicts", counts_json(s.verdicts)},
          {"texts", s.texts},
          {"sample_id", s.sample_id ? json(*s.sample_id) : json(nullptr)},
          {"run_at", optional_time(s.run_at)},
          {"verdict", s.sample_id ? json(s.verdict) : json(nullptr)},
          {"text", s.sample_id ? json(s.text) : json(nullptr)}};
}

json event_json(const EventEntry& e) {
  json typical = nullptr;
  if (e.typical_before && e.typical_after)
    typical = {{"before", side_json(*e.typical_before)}, {"after", side_json(*e.typical_after)}};
  json diff = json::array();
  for (const auto& p : e.diff) diff.push_back({{"op", to_string(p.op)}, {"text", p.text}});
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"id", e.id},
          {"type", e.type},
          {"endpoint", or_null(e.endpoint)},
          {"probe", or_null(e.probe_id)},
          {"probe_version", or_null(e.probe_version)},
          {"category", or_null(e.category)},
          {"lang", or_null(e.lang)},
          {"scope", or_null(e.scope)},
          {"lifecycle", to_string(e.lifecycle)},
          {"status", e.resolved ? "resolved" : "open"},
          {"detected_at", format_time(e.detected_at)},
          {"resolved_at", optional_time(e.resolved_at)},
          {"before", e.before},
          {"after", e.after},
          {"evidence", e.evidence},
          {"typical", typical},
          {"diff", diff}};
}

json health_json(const EndpointHealth& h) {
  json statuses = json::object();
  for (const auto& [code, n] : h.http_status) statuses[std::to_string(code)] = n;
  json models = json::array();
  for (const auto& m : h.models)
    models.push_back({{"model", m.model},
                      {"fingerprint", m.fingerprint.empty() ? json(nullptr) : json(m.fingerprint)},
                      {"first_seen", format_time(m.first_seen)},
                      {"last_seen", format_time(m.last_seen)},
                      {"samples", m.samples},
                      {"new_in_period", m.new_in_period}});
  auto ms = [](const std::optional<long>& v) { return v ? json(*v) : json(nullptr); };
  return {{"endpoint", h.endpoint},
          {"healthy", h.healthy},
          {"reason", h.healthy ? json(nullptr) : json(h.reason)},
          {"now", counts_json(h.now)},
          {"baseline", counts_json(h.baseline)},
          {"error_http_status", statuses},
          {"latency_ms",
           {{"samples", h.latency_samples},
            {"p50", ms(h.p50_ms)},
            {"p90", ms(h.p90_ms)},
            {"p99", ms(h.p99_ms)},
            {"max", ms(h.max_ms)}}},
          {"models", models},
          {"model_changed", h.model_changed}};
}

json judge_json(const JudgeSummary& j) {
  json pairs = json::array();
  for (const auto& p : j.pairs)
    pairs.push_back({{"rules", p.rules},
                     {"judge", p.judge},
                     {"samples", p.samples},
                     {"example", p.example ? json(*p.example) : json(nullptr)}});
  json examples = json::array();
  for (const auto& e : j.examples)
    examples.push_back({{"sample_id", e.sample_id},
                        {"probe", e.probe_id},
                        {"run_at", format_time(e.run_at)},
                        {"rules_verdict", e.rules_verdict},
                        {"judge_verdict", e.judge_verdict},
                        {"judge_model", e.judge_model},
                        {"reason", e.reason},
                        {"excerpt", e.excerpt}});
  return {{"endpoint", j.endpoint}, {"judged", j.judged}, {"unusable", j.unusable},
          {"disagreed", j.disagreed}, {"pairs", pairs}, {"examples", examples}};
}

}  // namespace

json to_json(const Report& r) {
  const Headline& h = r.headline;
  json categories = json::array();
  for (const auto& c : r.categories) categories.push_back(category_json(c));
  json language_gap = json::array();
  for (const auto& g : r.language_gap) language_gap.push_back(language_gap_json(g));
  json events = json::array();
  for (const auto& e : r.events) events.push_back(event_json(e));
  json incidents = json::array();
  for (const auto& i : r.incidents) incidents.push_back(incident_json(i));
  json health = json::array();
  for (const auto& e : r.health) health.push_back(health_json(e));
  json out = {{"report_version", kSchemaVersion},
             {"date", r.date},
             {"period", {{"since", format_time(r.since)}, {"until", format_time(r.until)}}},
             {"baseline",
              {{"since", format_time(r.baseline_since)}, {"until", format_time(r.since)}}},
             {"headline",
              {{"new_events", h.new_events},
               {"ongoing_events", h.ongoing_events},
               {"resolved_events", h.resolved_events},
               {"runs", h.runs},
               {"incomplete_runs", h.incomplete_runs},
               {"samples", h.samples},
               {"endpoints_healthy", h.endpoints_healthy},
               {"endpoints_unhealthy", h.endpoints_unhealthy}}},
             {"categories", categories},
             {"language_gap", language_gap},
             {"events", events},
             {"incidents", incidents},
             {"health", health}};
  // Only when the period has judged samples: a report without a judge keeps its shape.
  if (!r.judge.empty()) {
    json judge = json::array();
    for (const auto& j : r.judge) judge.push_back(judge_json(j));
    out["judge"] = std::move(judge);
  }
  return out;
}

std::string render_json(const Report& r) {
  // Texts are sanitised (valid UTF-8) before they get here; replace is a second guard so a
  // bad byte can never turn into an exception.
  return to_json(r).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace dw::report
