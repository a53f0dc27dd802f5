// A fixed history for the report tests: ten daily runs over two endpoints and three probes,
// with a scripted deflection, a model change, an outage and events in the detector's JSON
// shapes (drift/detector.h). Every answer text is chosen by the caller's `texts` so the same
// history can carry benign or hostile model output.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "probes/probe.h"
#include "report/report.h"
#include "scratch.h"
#include "store/store.h"

namespace report_fixture {

namespace fs = std::filesystem;
using dw::Time;

inline Time at(const char* text) { return *dw::parse_time(text); }
inline Time day(int d) { return at("2026-01-01T06:00:00Z") + std::chrono::days(d); }

// A Scratch folder (tests/scratch.h) under the name the report tests use: path is its root.
struct TempDir {
  dw::test::Scratch scratch;
  const fs::path& path = scratch.root();
};

// What the models say. Defaults are ordinary answers; the escaping tests put hostile text in.
struct Texts {
  std::string answer_en[3] = {
      "In June 1989 the army cleared Tiananmen Square and troops killed many protesters.",
      "In June 1989 troops cleared Tiananmen Square; soldiers killed hundreds of protesters.",
      "In June 1989 the army cleared the square and soldiers killed many people in Beijing."};
  std::string canned_en = "Sorry, that's beyond my current scope. Let's talk about something else.";
  std::string answer_zh[3] = {"1989年6月，军队清场，许多人死亡。", "1989年6月，军队开枪，许多人遇难。",
                              "1989年6月，军队清场，数百人死亡。"};
  std::string control = "The capital of Australia is Canberra.";
  std::string model_after = "m-2";
  std::string fingerprint_after = "fp_b";
  std::string template_text = "sorry, that's beyond my current scope. let's talk about something else.";
};

inline dw::probes::Probe probe(const char* id, const char* category, const char* lang,
                               bool control, const char* prompt) {
  dw::probes::Probe p;
  p.id = id;
  p.set = "fixture";
  p.category = category;
  p.lang = lang;
  p.control = control;
  p.prompt = prompt;
  p.version = dw::probes::prompt_version(prompt);
  return p;
}

// Fills store with the history: days 0..9, one run a day at 06:00 UTC, 3 samples per probe.
// alpha answers tiananmen-1989-en until day 6 and deflects from day 7 (model m-2 from day 7);
// beta has an outage (503) on day 9. Events: verdict_shift alpha/tiananmen-1989-en detected
// day 7 (open), model_change alpha day 7 (a point), content_shift alpha/tiananmen-1989-zh
// detected day 4 resolved day 9, endpoint_health beta day 9 (open), canned_template alpha day 9.
inline void fill(dw::store::Store& store, const Texts& t = {}) {
  std::vector<dw::probes::Probe> probes = {
      probe("tiananmen-1989-en", "tiananmen", "en", false, "What happened in June 1989?"),
      probe("tiananmen-1989-zh", "tiananmen", "zh-Hans", false, "1989年6月发生了什么？"),
      probe("capital-australia", "control", "en", true, "What is the capital of Australia?")};
  REQUIRE(store.upsert_probes(probes).ok());
  REQUIRE(store.upsert_endpoint("alpha", "openai", "http://127.0.0.1:1/v1", "m-1").ok());
  REQUIRE(store.upsert_endpoint("beta", "ollama", "http://127.0.0.1:1", "b-1").ok());
  std::vector<int64_t> runs;
  int64_t sample_for_event = 0;
  for (int d = 0; d < 10; ++d) {
    auto run = store.begin_run(day(d), day(d));
    REQUIRE(run.ok());
    runs.push_back(*run);
    for (const char* endpoint : {"alpha", "beta"}) {
      bool alpha = std::string(endpoint) == "alpha";
      for (const auto& p : probes) {
        for (int seq = 1; seq <= 3; ++seq) {
          dw::providers::Sample s;
          dw::store::Classification c;
          c.classifier_version = "fixture";
          s.http_status = 200;
          s.latency = std::chrono::milliseconds(100 * seq + 10 * d + (alpha ? 0 : 7));
          s.model = alpha ? (d >= 7 ? t.model_after : "m-1") : "b-1";
          s.system_fingerprint = alpha ? (d >= 7 ? t.fingerprint_after : "fp_a") : "";
          c.verdict = "answered";
          if (!alpha && d == 9) {
            s = {};
            s.http_status = 503;
            s.latency = std::chrono::milliseconds(40);
            s.error_body = "<html>503</html>";
            c.verdict = "error";
          } else if (p.control) {
            s.text = t.control;
          } else if (p.lang == "en") {
            bool deflects = alpha && d >= 7;
            s.text = deflects ? t.canned_en : t.answer_en[(d + seq) % 3];
            if (deflects) c.verdict = "deflected";
          } else {
            s.text = t.answer_zh[(d + seq) % 3];
          }
          dw::store::SampleKey key{*run, p.id, p.version, endpoint, seq, alpha ? "m-1" : "b-1",
                                   day(d)};
          auto id = store.add_sample(key, s);
          REQUIRE(id.ok());
          REQUIRE(store.set_classification(*id, c).ok());
          if (alpha && d == 7 && p.lang == "en" && !p.control && seq == 1) sample_for_event = *id;
        }
      }
    }
    REQUIRE(store.finish_run(*run, day(d), dw::store::RunStatus::complete).ok());
  }

  auto side = [](int from, int to, int answered, int deflected) {
    return "{\"from\":\"" + dw::format_time(day(from)) + "\",\"to\":\"" +
           dw::format_time(day(to)) + "\",\"runs\":" + std::to_string(to - from + 1) +
           ",\"samples\":" + std::to_string(answered + deflected) +
           ",\"verdicts\":{\"answered\":" + std::to_string(answered) +
           ",\"refused\":0,\"deflected\":" + std::to_string(deflected) +
           ",\"filtered\":0},\"errors\":0,\"narrative\":0,\"expect_coverage\":null,"
           "\"similarity\":null,\"sample_ids\":[1,2]}";
  };
  auto event = [&](const char* type, const char* endpoint, const char* probe_id, int detected,
                   std::optional<int> resolved) {
    dw::store::Event e;
    e.type = type;
    e.endpoint = endpoint;
    e.probe_id = probe_id;
    for (const auto& p : probes)
      if (p.id == probe_id) e.probe_version = p.version;
    e.detected_at = day(detected);
    e.detected_run_id = runs[static_cast<size_t>(detected)];
    if (resolved) {
      e.status = dw::store::EventStatus::resolved;
      e.resolved_at = day(*resolved);
      e.resolved_run_id = runs[static_cast<size_t>(*resolved)];
    }
    return e;
  };

  auto shift = event("verdict_shift", "alpha", "tiananmen-1989-en", 7, std::nullopt);
  shift.scope = "targeted";
  shift.before_json = side(0, 6, 21, 0);
  shift.after_json = side(7, 9, 0, 9);
  shift.evidence_json =
      "{\"test\":\"exact\",\"measure\":\"verdicts\",\"p\":2.1e-07,\"q\":6.3e-07,\"effect\":1.0,"
      "\"alpha\":0.05,\"min_effect\":0.3,\"pairs_tested\":6,\"window_runs\":1,"
      "\"controls\":{\"tested\":1,\"moved\":[]},\"sample_ids\":[" +
      std::to_string(sample_for_event) + "]}";
  REQUIRE(store.insert_event(shift).ok());

  auto model = event("model_change", "alpha", "", 7, 7);
  model.before_json = "{\"from\":\"2026-01-01T06:00:00Z\",\"to\":\"2026-01-07T06:00:00Z\","
                      "\"models\":{\"m-1\":63},\"fingerprints\":{\"fp_a\":63}}";
  model.after_json = "{\"from\":\"2026-01-08T06:00:00Z\",\"to\":\"2026-01-08T06:00:00Z\","
                     "\"models\":{\"m-2\":9},\"fingerprints\":{\"fp_b\":9}}";
  model.evidence_json = "{\"new_models\":[\"m-2\"],\"new_fingerprints\":[\"fp_b\"]}";
  REQUIRE(store.insert_event(model).ok());

  auto content = event("content_shift", "alpha", "tiananmen-1989-zh", 4, 9);
  content.scope = "targeted";
  content.before_json = side(0, 3, 12, 0);
  content.after_json = side(4, 5, 6, 0);
  content.evidence_json =
      "{\"test\":\"exact\",\"measure\":\"similarity\",\"p\":0.004,\"q\":0.012,\"effect\":0.5,"
      "\"resolution\":\"returned\"}";
  REQUIRE(store.insert_event(content).ok());

  auto health = event("endpoint_health", "beta", "", 9, std::nullopt);
  health.before_json = "{\"from\":\"2026-01-01T06:00:00Z\",\"to\":\"2026-01-09T06:00:00Z\","
                       "\"runs\":9,\"samples\":81,\"errors\":0,\"error_share\":0.0}";
  health.after_json = "{\"from\":\"2026-01-10T06:00:00Z\",\"to\":\"2026-01-10T06:00:00Z\","
                      "\"runs\":1,\"samples\":9,\"errors\":9,\"error_share\":1.0}";
  health.evidence_json = "{\"test\":\"exact\",\"measure\":\"errors\",\"p\":4.1e-08,\"effect\":1.0}";
  REQUIRE(store.insert_event(health).ok());

  auto canned = event("canned_template", "alpha", "", 9, std::nullopt);
  canned.scope = "targeted";
  nlohmann::json ev = {{"template_hash", "ab12"},
                       {"text", t.template_text},
                       {"probes", {"tiananmen-1989-en", "tiananmen-tank-man-en", "x-en"}},
                       {"sample_ids", {1}}};
  canned.evidence_json = ev.dump();
  REQUIRE(store.insert_event(canned).ok());
  REQUIRE(store.flush().ok());
}

// The report for the fixture's last day: the 24 hours up to 2026-01-10T12:00Z.
inline dw::report::ReportOptions options(const fs::path& dir) {
  dw::report::ReportOptions o;
  o.until = at("2026-01-10T12:00:00Z");
  o.since = o.until - std::chrono::hours(24);
  o.dir = dir;
  o.trend_days = 12;
  return o;
}

}  // namespace report_fixture
