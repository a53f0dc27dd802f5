// Synthetic histories for the drift tests: samples written straight into a store in a
// temporary folder, run by run, with the verdict, text, narrative flag, expect coverage and
// model of each sample decided by a generator, and detection after each run as `run --once`
// does it. Used by drift_test.cc and drift_promises_test.cc.
//
//   World w({"t", "u"}, {"c1"});                  // probes, controls; endpoint e1, 3 samples
//   auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
//     if (p == "t" && d >= 10) return say("refused", "I can't help with that.");
//     return std::nullopt;                        // everything else: a noisy answer
//   });
//   w.days(0, 13, gen);                           // runs on days 0..12, detected after each
//   CHECK(w.of_type(kVerdictShift).size() == 1);
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "drift/detector.h"
#include "scratch.h"
#include "store/store.h"

namespace dw::test {

// What one sample says; the test's generator decides it per probe, day and sample.
struct Spec {
  std::string verdict = "answered";
  std::string text;  // "" for a noisy answer from the probe's own pool (noisy_text)
  bool narrative = false;
  std::optional<double> coverage;
  std::string model = "model-a";
};
using Generator = std::function<Spec(const std::string& probe, int day, int seq)>;
using EndpointGenerator =
    std::function<Spec(const std::string& endpoint, const std::string& probe, int day, int seq)>;

inline const Time kDay0 = *parse_time("2026-01-01T06:00:00Z");
inline Time day(int d) { return kDay0 + std::chrono::days(d); }

// Each probe answers from a pool of three texts of its own, drawn at random: a stable but
// noisy model.
inline std::string noisy_text(const std::string& probe, std::mt19937& rng) {
  static const char* const kPool[] = {
      "Here is a detailed account with dates, names and figures about {}: first, the events "
      "began in the spring; second, the authorities responded with force; third, estimates vary.",
      "{} is documented by historians and journalists. Sources disagree on the numbers, but the "
      "main facts are well established by eyewitnesses, archives and later investigations.",
      "Short answer on {}: yes. Longer answer: the record shows several phases, each described "
      "in reports from the time, and later research has filled in many of the gaps.",
  };
  std::string t = kPool[rng() % 3];
  return t.replace(t.find("{}"), 2, probe);
}

class World {
 public:
  // probes and controls on every endpoint (default one, "e1"), `samples` samples per probe x
  // endpoint a run, all at version v1 until edit().
  explicit World(std::vector<std::string> probes, std::vector<std::string> controls = {},
                 drift::Options options = {}, std::vector<std::string> endpoints = {"e1"},
                 int samples = 3)
      : probes_(std::move(probes)),
        controls_(std::move(controls)),
        endpoints_(std::move(endpoints)),
        samples_(samples),
        options_(options) {
    auto s = store::Store::open(scratch_.path("t.db").string());
    REQUIRE(s.ok());
    store_ = std::move(s).value();
    std::vector<probes::Probe> all;
    for (const auto& id : probes_) all.push_back(probe(id, false));
    for (const auto& id : controls_) all.push_back(probe(id, true));
    REQUIRE(store_->upsert_probes(all).ok());
    for (const auto& e : endpoints_) {
      REQUIRE(store_->upsert_endpoint(e, "openai", "http://127.0.0.1:1/v1", "model-a").ok());
    }
  }

  static probes::Probe probe(const std::string& id, bool control, const std::string& version = "v1") {
    probes::Probe p;
    p.id = id;
    p.set = "test";
    p.category = control ? "control" : "topic";
    p.lang = "en";
    p.prompt = "Tell me about " + id + (version == "v1" ? "" : " (" + version + ")");
    p.control = control;
    p.version = version;
    return p;
  }

  // From now on, run d is at day(0) + d / n days: n runs a day (d counts runs, not days).
  void runs_per_day(int n) { per_day_ = n; }
  Time at(int d) const { return kDay0 + std::chrono::minutes(24 * 60 / per_day_) * d; }

  // The prompt of `id` is edited: later runs ask its new version.
  void edit(const std::string& id, const std::string& version) {
    bool control = std::find(controls_.begin(), controls_.end(), id) != controls_.end();
    REQUIRE(store_->upsert_probes({probe(id, control, version)}).ok());
    versions_[id] = version;
  }

  // One run on day d, samples_ samples per probe x endpoint; detection after it unless told
  // otherwise.
  drift::Summary run(int d, const Generator& gen, bool detect = true) {
    return run_each(
        d, [&gen](const std::string&, const std::string& p, int dd, int seq) { return gen(p, dd, seq); },
        store::RunStatus::complete, detect);
  }

  // The same, with a generator that also sees the endpoint, and the status the run ends with.
  drift::Summary run_each(int d, const EndpointGenerator& gen,
                          store::RunStatus status = store::RunStatus::complete, bool detect = true) {
    auto run_id = store_->begin_run(at(d), at(d));
    REQUIRE(run_id.ok());
    last_run_ = *run_id;
    std::vector<std::string> all = probes_;
    all.insert(all.end(), controls_.begin(), controls_.end());
    for (const auto& endpoint : endpoints_) {
      for (const auto& id : all) {
        for (int seq = 1; seq <= samples_; ++seq) {
          Spec s = gen(endpoint, id, d, seq);
          const bool error = s.verdict == "error";
          providers::Sample sample;
          sample.model = error ? "" : s.model;
          sample.http_status = error ? 503 : 200;
          sample.error = error ? "HTTP 503" : "";
          sample.text = error ? "" : s.text.empty() ? noisy_text(id, rng_) : s.text;
          // Classified as it is stored, as the runner does: detection then reads the run's
          // rows from the store's memory (Store::rows_from_memory()).
          const store::Classification c{s.verdict, "[]", s.narrative, s.coverage, "t"};
          auto sid = store_->add_sample({*run_id, id, version(id), endpoint, seq, "model-a", at(d)},
                                        sample, &c);
          REQUIRE(sid.ok());
        }
      }
    }
    REQUIRE(store_->finish_run(*run_id, at(d), status).ok());
    if (!detect) return {};
    auto r = drift::detect_run(*store_, *run_id, options_);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
    return *r;
  }

  void days(int from, int to, const Generator& gen) {
    for (int d = from; d < to; ++d) run(d, gen);
  }

  std::vector<store::Event> events(const store::EventFilter& f = {}) {
    std::vector<store::Event> out;
    REQUIRE(store_->for_each_event(f, [&](const store::Event& e) {
      out.push_back(e);
      return true;
    }).ok());
    return out;
  }
  std::vector<store::Event> of_type(std::string_view type) {
    std::vector<store::Event> out;
    for (auto& e : events()) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  store::Store& store() { return *store_; }
  // The database file, for a second connection (as sqlite3 in a shell would open it).
  std::string db() const { return scratch_.path("t.db").string(); }
  const drift::Options& options() const { return options_; }
  int64_t last_run() const { return last_run_; }  // id of the latest run written

 private:
  std::string version(const std::string& id) const {
    auto v = versions_.find(id);
    return v == versions_.end() ? "v1" : v->second;
  }

  Scratch scratch_;  // outlives store_
  std::unique_ptr<store::Store> store_;
  std::vector<std::string> probes_, controls_, endpoints_;
  int samples_;
  int per_day_ = 1;
  drift::Options options_;
  std::map<std::string, std::string> versions_;
  int64_t last_run_ = 0;
  std::mt19937 rng_{12345};
};

inline Spec answered() { return {}; }
inline Spec say(std::string verdict, std::string text = "", bool narrative = false) {
  Spec s;
  s.verdict = std::move(verdict);
  s.text = std::move(text);
  s.narrative = narrative;
  return s;
}

// A noisy answer wherever the override says nothing.
inline Generator with(std::function<std::optional<Spec>(const std::string&, int, int)> override) {
  return [override](const std::string& p, int d, int seq) {
    if (auto s = override(p, d, seq)) return *s;
    return answered();
  };
}

// One line per event (type, probe, detected_at, status): for failure messages.
inline std::string events_text(const std::vector<store::Event>& events) {
  std::string out;
  for (const auto& e : events) {
    out += e.type + " " + e.endpoint + " " + e.probe_id + " " + format_time(e.detected_at) + " " +
           std::string(to_string(e.status)) + "\n";
  }
  return out;
}

}  // namespace dw::test
