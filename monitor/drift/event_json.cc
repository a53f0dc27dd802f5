// The JSON of events (shapes documented in detector.h) and small helpers shared by the
// decision files.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "drift/engine.h"

namespace dw::drift {

using nlohmann::json;

bool is_censorship(std::string_view type) {
  return type == kVerdictShift || type == kContentShift || type == kNarrativeShift ||
         type == kCannedTemplate;
}

Options options_from(const config::Config& config) {
  Options o;
  const config::Detection& d = config.detection;
  o.baseline_window = d.baseline_window;
  o.recent_runs = d.recent_runs;
  o.alpha = d.alpha;
  o.min_effect = d.min_effect;
  o.new_normal_runs = d.new_normal_runs;
  return o;
}

json ids_json(std::span<const int64_t> ids, size_t limit) {
  json out = json::array();
  for (size_t i = 0; i < ids.size() && i < limit; ++i) out.push_back(ids[i]);
  return out;
}

json side_json(const Cells& cells) {
  json side;
  side["from"] = cells.empty() ? json() : json(format_time(cells.front()->run.at));
  side["to"] = cells.empty() ? json() : json(format_time(cells.back()->last_at()));
  long runs = 0;
  for (const Cell* c : cells) runs += c->runs;
  side["runs"] = runs;
  Counts verdicts = counts(Measure::verdicts, cells);
  Counts coverage = counts(Measure::coverage, cells);
  long samples = 0, errors = 0, narrative = 0;
  double coverage_sum = 0;
  std::vector<int64_t> ids;
  for (const Cell* c : cells) {
    samples += c->evidence();
    errors += c->errors;
    narrative += c->narrative;
    coverage_sum += coverage_steps(c->coverage_sum);
    for (int64_t id : c->ids) {
      if (ids.size() < 5) ids.push_back(id);
    }
  }
  side["samples"] = samples;
  json v = json::object();
  for (size_t i = 0; i < 4; ++i) v[kVerdictColumns[i]] = verdicts[i];
  side["verdicts"] = v;
  side["errors"] = errors;
  side["narrative"] = narrative;
  long covered = coverage[0] + coverage[1] + coverage[2];
  // Six places: the sum is in steps of 2^-20 (coverage_steps), not of the coverages' digits.
  side["expect_coverage"] =
      covered == 0 ? json()
                   : json(std::round(coverage_sum / static_cast<double>(covered) * 1e6) / 1e6);
  side["coverage"] = {{"full", coverage[0]}, {"partial", coverage[1]}, {"none", coverage[2]}};
  side["similarity"] = json();
  side["sample_ids"] = ids_json(ids);
  return side;
}

json parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

namespace {

// Reads the top-level strings of an evidence that EvidenceFacts holds without building the
// document. Evidence is valid JSON (the events table checks it; dump() writes it); a value of
// another type counts as absent.
class FactsReader : public nlohmann::json_sax<json> {
 public:
  EvidenceFacts facts;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t& value) override {
    if (wanted_ == nullptr) return true;
    *wanted_ = std::move(value);
    wanted_ = nullptr;
    return true;
  }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t& key) override {
    wanted_ = nullptr;
    if (depth_ != 1) return true;
    if (key == "resolution") wanted_ = &facts.resolution;
    if (key == "measure") wanted_ = &facts.measure;
    if (key == "template_hash") wanted_ = &facts.template_hash;
    if (key == "decided_at") wanted_ = &decided_at_;
    return true;
  }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    facts = {};
    decided_at_.clear();
    return false;
  }

  EvidenceFacts take() {
    if (!decided_at_.empty()) {
      if (auto t = parse_time(decided_at_)) facts.decided_at = *t;
    }
    return std::move(facts);
  }

 private:
  bool scalar() {
    wanted_ = nullptr;
    return true;
  }
  bool enter() {
    wanted_ = nullptr;
    ++depth_;
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }
  int depth_ = 0;
  std::string* wanted_ = nullptr;
  std::string decided_at_;
};

}  // namespace

EvidenceFacts evidence_facts(const std::string& evidence_json) {
  // Decisions ask these of the same events for every pair and type, and an evidence is a
  // kilobyte or more of JSON (parsing each whole was a sixth of a detection, and parsing the
  // open ones again at each decision a twentieth): remembered by the whole text (never a
  // hash: evidence holds model text), a few hundred events a detection, for the daemon's
  // next runs too; forgotten past 1 MiB of texts.
  thread_local std::unordered_map<std::string, EvidenceFacts> known;
  thread_local size_t known_bytes = 0;
  if (auto it = known.find(evidence_json); it != known.end()) return it->second;
  if (known_bytes > (size_t{1} << 20)) {
    known.clear();
    known_bytes = 0;
  }
  FactsReader reader;
  json::sax_parse(evidence_json, &reader);
  known_bytes += evidence_json.size();
  return known[evidence_json] = reader.take();
}

std::string resolution_of(const store::Event& e) {
  return is_open(e) ? "" : evidence_facts(e.evidence_json).resolution;
}

std::string dump(const nlohmann::json& j) {
  // Replace, not throw, on invalid UTF-8: model text in evidence is untrusted.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void resolve(store::Event& e, Time at, int64_t run_id, std::string_view resolution,
             const json& resolved_after) {
  e.status = store::EventStatus::resolved;
  e.resolved_at = std::max(at, e.detected_at);
  e.resolved_run_id = run_id;
  json evidence = parse_json(e.evidence_json);
  evidence["resolution"] = resolution;
  evidence["resolved_after"] = resolved_after;
  e.evidence_json = dump(evidence);
}

}  // namespace dw::drift
