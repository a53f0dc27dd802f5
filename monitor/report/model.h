// The model of a report: plain facts gathered from the store (gather.h), in the order a report
// tells them. Renderers (render.h) only format these; they never query the store. Every string
// that came from a model or an API (answers, reported model ids, fingerprints, template texts)
// has been through sanitise_untrusted() (text.h) but is NOT escaped: each renderer escapes
// for its own format.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.h"
#include "report/diff.h"
#include "report/incidents.h"

namespace dw::report {

// The five verdicts in the order reports show them.
inline constexpr std::array<std::string_view, 5> kVerdicts = {"answered", "refused", "deflected",
                                                              "filtered", "error"};
inline constexpr int kError = 4;  // index of "error" in kVerdicts

// The index of verdict in kVerdicts; -1 for anything else (unclassified samples).
int verdict_index(std::string_view verdict);

// Samples counted by verdict. Shares leave errors out: an error says nothing about censorship,
// so "refused 40%" means 40% of the samples that got an answer, a refusal or a block.
struct VerdictCounts {
  std::array<long, 5> n{};
  long unclassified = 0;

  void add(int verdict_index);  // -1 counts as unclassified
  long total() const;           // every sample, unclassified included
  long valid() const;           // samples with a verdict other than error
  // Share of verdict i among valid() samples; nullopt when there are none (or i is error).
  std::optional<double> share(int i) const;
  // Share of errors among classified samples; nullopt when there are none.
  std::optional<double> error_share() const;
  // Share of refused + deflected + filtered among valid() samples (what the trend shows).
  std::optional<double> censored_share() const;
};

struct DayCounts {
  std::string date;  // "2026-01-15", UTC
  VerdictCounts counts;
};

struct LanguageRow {
  std::string lang;
  VerdictCounts baseline;
  VerdictCounts now;
};

// One endpoint x category: the period against its baseline, all languages and each one.
struct CategoryBlock {
  std::string endpoint;
  std::string category;
  bool control = false;
  VerdictCounts baseline;
  VerdictCounts now;
  std::vector<LanguageRow> languages;  // by tag
  std::vector<DayCounts> trend;        // one per day of the trend window, oldest first
};

// One endpoint x category's questions asked in both English and Chinese (pairs by probe id
// stem: report/language_gap.h), each language's samples in the baseline and the period.
struct LanguageGap {
  std::string endpoint;
  std::string category;
  bool control = false;
  std::vector<std::string> stems;  // the pairs, by stem ("tiananmen-1989"), sorted
  VerdictCounts en_baseline, en_now;  // the pairs' English probes
  VerdictCounts zh_baseline, zh_now;  // the pairs' Chinese probes
};

// The typical answer of one side of a comparison: the medoid of the side's texts (the answer
// with the highest summed similarity to all the others), and what the whole side looked like.
struct TypicalSide {
  Time from;  // the window read: from <= run_at < until
  Time until;
  VerdictCounts verdicts;  // every sample of the side
  long texts = 0;          // samples with a text (the medoid is chosen among them)
  std::optional<int64_t> sample_id;  // the medoid sample; absent when no sample had a text
  std::optional<Time> run_at;
  std::string verdict;  // the medoid's verdict ("" when unclassified or absent)
  std::string text;     // the medoid's text, sanitised; "" when absent
};

enum class Lifecycle { new_event, ongoing };
std::string_view to_string(Lifecycle l);

struct EventEntry {
  int64_t id = 0;
  std::string type;
  std::string endpoint;
  std::string probe_id;  // "" for endpoint-wide events
  std::string probe_version;
  std::string category;  // of the probe, "" when unknown or endpoint-wide
  std::string lang;
  std::string scope;  // "broad", "targeted" or ""
  Lifecycle lifecycle = Lifecycle::ongoing;  // decided inside the period, or before it
  bool resolved = false;                     // resolved before the report's "now"
  Time detected_at;  // the first run that showed the shift
  // The run that decided it (evidence "decided_at"; detected_at when not recorded): a shift is
  // dated back to the run that first showed it, but known only from this one.
  Time decided_at;
  std::optional<Time> resolved_at;
  // The detector's JSON, parsed (an empty object when the stored text is not an object).
  // Strings inside may hold model output; renderers escape them.
  nlohmann::json before;
  nlohmann::json after;
  nlohmann::json evidence;
  // Typical answers before and after detection and their word diff; only for events about
  // one probe that had texts on both sides.
  std::optional<TypicalSide> typical_before;
  std::optional<TypicalSide> typical_after;
  std::vector<DiffPiece> diff;
};

struct ModelSeen {
  std::string model;        // as the API reported it (sanitised)
  std::string fingerprint;  // "" when the API gives none
  Time first_seen;
  Time last_seen;
  long samples = 0;
  bool new_in_period = false;  // first seen inside the period, after another one was seen
};

struct EndpointHealth {
  std::string endpoint;
  VerdictCounts now;       // samples of the period
  VerdictCounts baseline;  // samples of the baseline
  std::map<int, long> http_status;  // of the period's error samples; 0 = no HTTP response
  long latency_samples = 0;         // period samples that got an HTTP response
  std::optional<long> p50_ms, p90_ms, p99_ms, max_ms;
  std::vector<ModelSeen> models;  // over the baseline and the period, by first_seen
  bool model_changed = false;     // a model or fingerprint new in the period
  bool healthy = true;
  std::string reason;  // why not healthy, "" when healthy
};

inline constexpr size_t kJudgeExamples = 3;  // examples per endpoint

// One sample whose verdict the judge (monitor/judge) changed, shown as an example.
struct JudgeExample {
  int64_t sample_id = 0;
  std::string probe_id;
  Time run_at;
  std::string rules_verdict;  // answered | refused | deflected
  std::string judge_verdict;  // another of the three: the final verdict
  std::string judge_model;    // as configured
  std::string reason;         // the judge's sentence: sanitised, on one line, cut short
  std::string excerpt;        // the start of the reply: sanitised, on one line, cut short
};

// How many of an endpoint's judged samples went from one verdict of the rules to another of
// the judge's.
struct VerdictPair {
  std::string rules;
  std::string judge;
  long samples = 0;
  std::optional<int64_t> example;  // the newest of the endpoint's examples of this pair
};

// What the judge said of one endpoint's samples in the period. Counted are the samples a
// judgement applies to: linked to one, with a rules' verdict of answered, refused or deflected
// (the only verdicts the judge may replace).
struct JudgeSummary {
  std::string endpoint;
  long judged = 0;     // the judge gave an opinion: a verdict, or a reply that was unusable
  long unusable = 0;   // its reply was unusable: the rules' verdict stands
  long disagreed = 0;  // its verdict differs from the rules' (and is the final one)
  std::vector<VerdictPair> pairs;  // only differing pairs, by rules' then judge's verdict
  // At most kJudgeExamples, newest first. Chosen so that as many pairs as can have one: the
  // newest of each pair (pairs with most samples first), then the newest of the rest.
  std::vector<JudgeExample> examples;
};

struct Headline {
  long new_events = 0;
  long ongoing_events = 0;  // detected before the period, still open at its end
  long resolved_events = 0;  // resolved inside the period
  long runs = 0;
  long incomplete_runs = 0;
  long samples = 0;
  long endpoints_healthy = 0;
  long endpoints_unhealthy = 0;
};

struct Report {
  Time since;  // the period: since <= run_at < until
  Time until;
  Time baseline_since;  // the baseline: baseline_since <= run_at < since
  std::string date;     // the report's date, "2026-01-15" (of until - 1s)
  Headline headline;
  std::vector<CategoryBlock> categories;  // by endpoint, then category (controls last)
  std::vector<LanguageGap> language_gap;  // by endpoint, then category (controls last)
  std::vector<EventEntry> events;         // new first, then ongoing; each by detected_at
  // The events grouped into incidents (report/incidents.h): new first, then by detected_at.
  std::vector<Incident> incidents;
  std::vector<EndpointHealth> health;     // by endpoint
  // By endpoint, only endpoints with judged samples in the period; empty when none was (no
  // judge configured): renderers then leave the section out.
  std::vector<JudgeSummary> judge;
};

}  // namespace dw::report
