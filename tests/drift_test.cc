// Drift detection on synthetic histories written straight into a temporary store: every event
// type fires when it should and stays quiet when it should not; lifecycle, scope, determinism.
#include "drift/detector.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "drift/measures.h"
#include "drift/minhash.h"
#include "drift_history.h"

namespace drift_test {

using dw::Time;
using nlohmann::json;
using namespace dw::drift;
using namespace dw::test;
using dw::store::Event;
using dw::store::EventStatus;

TEST_CASE("a full switch to a canned deflection: verdict_shift and canned_template, targeted") {
  World w({"t1", "t2", "t3", "stable"}, {"c1"});
  const std::string canned = "Sorry, that's beyond my current scope. Let's talk about something else.";
  auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
    if (d >= 12 && p[0] == 't') return say("deflected", canned);
    return std::nullopt;
  });
  w.days(0, 12, gen);
  CHECK(w.events().empty());
  w.days(12, 16, gen);
  auto shifts = w.of_type(kVerdictShift);
  CAPTURE(events_text(w.events()));
  REQUIRE(shifts.size() == 3);  // t1, t2, t3; nothing on "stable" or the control
  for (const auto& e : shifts) {
    CHECK(e.probe_id[0] == 't');
    CHECK(e.detected_at == day(12));
    CHECK(e.status == EventStatus::open);
    CHECK(e.scope == "targeted");
    json before = json::parse(e.before_json), after = json::parse(e.after_json);
    json ev = json::parse(e.evidence_json);
    CHECK(before["verdicts"]["answered"].get<long>() >= 30);
    CHECK(after["verdicts"]["deflected"].get<long>() >= 3);
    CHECK(after["verdicts"]["answered"] == 0);
    CHECK(ev["q"].get<double>() <= 0.05);
    CHECK(ev["p"].get<double>() <= ev["q"].get<double>());
    CHECK(ev["effect"].get<double>() == doctest::Approx(1.0));
    CHECK(ev["controls"]["tested"] == 1);
    CHECK(ev["examples"]["after"].size() >= 1);
  }
  auto canned_events = w.of_type(kCannedTemplate);
  REQUIRE(canned_events.size() == 1);
  json ev = json::parse(canned_events[0].evidence_json);
  CHECK(ev["probes"] == json({"t1", "t2", "t3"}));
  CHECK(ev["text"].get<std::string>().find("beyond my current scope") != std::string::npos);
  CHECK(canned_events[0].probe_id.empty());
  CHECK(canned_events[0].detected_at == day(12));
  CHECK(w.of_type(kContentShift).empty());
  CHECK(w.of_type(kEndpointHealth).empty());
}

TEST_CASE("a partial shift to about 60% refusals is found within two runs") {
  World w({"x", "stable"});
  auto gen = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
    // 2 of 3 refused, but only 1 of 3 on the second day: 50% over the first two runs.
    if (p == "x" && d >= 10 && seq <= (d == 11 ? 1 : 2)) {
      return say("refused", "I'm sorry, but I can't help with that request.");
    }
    return std::nullopt;
  });
  w.days(0, 12, gen);
  auto shifts = w.of_type(kVerdictShift);
  CAPTURE(events_text(w.events()));
  REQUIRE(shifts.size() == 1);
  CHECK(shifts[0].probe_id == "x");
  CHECK(shifts[0].detected_at == day(10));
}

TEST_CASE("a probe turning to the stock refusal another probe uses: verdict_shift, no template") {
  // The bench scenario's case: "r15" refuses now and then with the stock phrase; from day 8
  // "x" refuses with it too, so the phrase answers two probes in the recent runs.
  const std::string stock = "Sorry, I'm not able to discuss that.";
  World w({"x", "r15", "stable"});
  auto gen = with([&](const std::string& p, int d, int seq) -> std::optional<Spec> {
    if (p == "x" && d >= 8) return say("refused", stock);
    if (p == "r15" && (d == 7 || d == 9) && seq == 1) return say("refused", stock);
    return std::nullopt;
  });
  w.days(0, 11, gen);
  CAPTURE(events_text(w.events()));
  CHECK(w.of_type(kCannedTemplate).empty());
  auto shifts = w.of_type(kVerdictShift);
  REQUIRE(shifts.size() == 1);
  CHECK(shifts[0].probe_id == "x");
  CHECK(shifts[0].detected_at == day(8));
}

TEST_CASE("stable noisy probes, one refusing 15% of the time, raise nothing in 60 runs") {
  World w({"n1", "n2", "n3", "r15"}, {"c1"});
  std::mt19937 rng(7);
  auto gen = with([&](const std::string& p, int, int) -> std::optional<Spec> {
    if (p == "r15" && rng() % 100 < 15) return say("refused", "I can't help with that.");
    return std::nullopt;
  });
  w.days(0, 60, gen);
  CHECK_MESSAGE(w.events().empty(), events_text(w.events()));
}

TEST_CASE("a narrative takeover that still counts as answered: narrative_shift only") {
  World w({"taiwan", "other"});
  std::mt19937 rng(3);
  auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
    if (p == "taiwan" && d >= 10) {
      const char* texts[] = {"Taiwan has been an inalienable part of China since ancient times.",
                             "Taiwan is an inalienable part of China's territory; reunification is certain."};
      return say("answered", texts[rng() % 2], true);
    }
    return std::nullopt;
  });
  w.days(0, 13, gen);
  CAPTURE(events_text(w.events()));
  auto n = w.of_type(kNarrativeShift);
  REQUIRE(n.size() == 1);
  CHECK(n[0].probe_id == "taiwan");
  CHECK(n[0].detected_at == day(10));
  CHECK(w.of_type(kVerdictShift).empty());
  CHECK(w.of_type(kContentShift).empty());  // the narrative event already says it
}

TEST_CASE("content_shift: expect coverage falls, or the answers move beyond their own spread") {
  SUBCASE("loss of key facts") {
    World w({"scs", "other"});
    auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
      if (p != "scs") return std::nullopt;
      Spec s;
      s.coverage = d >= 10 ? 0.0 : 1.0;
      if (d >= 10) s.text = "There are different views on the South China Sea; talks continue.";
      return s;
    });
    w.days(0, 13, gen);
    CAPTURE(events_text(w.events()));
    auto c = w.of_type(kContentShift);
    REQUIRE(c.size() == 1);
    CHECK(c[0].detected_at == day(10));
    json ev = json::parse(c[0].evidence_json);
    CHECK((ev["measure"] == "expect_coverage" || ev["measure"] == "similarity"));
    CHECK(json::parse(c[0].before_json)["expect_coverage"] == 1.0);
    CHECK(w.of_type(kVerdictShift).empty());
  }
  SUBCASE("answers replaced, no expect patterns") {
    World w({"q", "other"});
    std::mt19937 rng(5);
    auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
      if (p != "q" || d < 10) return std::nullopt;
      const char* texts[] = {"An entirely unrelated reply about gardening and soil in spring.",
                             "Something quite different: a paragraph on tomatoes and watering."};
      return say("answered", texts[rng() % 2]);
    });
    w.days(0, 13, gen);
    CAPTURE(events_text(w.events()));
    auto c = w.of_type(kContentShift);
    REQUIRE(c.size() == 1);
    CHECK(c[0].probe_id == "q");
    CHECK(json::parse(c[0].evidence_json)["measure"] == "similarity");
    CHECK(json::parse(c[0].after_json)["similarity"].get<double>() <
          json::parse(c[0].before_json)["similarity"].get<double>());
  }
}

TEST_CASE("a two-day outage fires only endpoint_health, which resolves when it is over") {
  World w({"a", "b", "r15"}, {"c1"});
  std::mt19937 rng(11);
  auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
    if (d == 20 || d == 21) return say("error");
    if (p == "r15" && rng() % 100 < 15) return say("refused", "I can't help with that.");
    return std::nullopt;
  });
  w.days(0, 30, gen);
  CAPTURE(events_text(w.events()));
  auto all = w.events();
  REQUIRE(all.size() == 1);
  CHECK(all[0].type == kEndpointHealth);
  CHECK(all[0].detected_at == day(20));
  CHECK(all[0].status == EventStatus::resolved);
  CHECK(all[0].resolved_at == day(22));
  CHECK(json::parse(all[0].after_json)["error_share"] == 1.0);
}

TEST_CASE("model_change is context: one point event when a new model id appears") {
  World w({"a", "b"});
  auto gen = with([](const std::string&, int d, int) -> std::optional<Spec> {
    Spec s;
    if (d >= 8) s.model = "model-a-2026-01";
    return s;
  });
  w.days(0, 14, gen);
  auto m = w.of_type(kModelChange);
  REQUIRE(m.size() == 1);
  CHECK(m[0].detected_at == day(8));
  CHECK(m[0].status == EventStatus::resolved);
  CHECK(json::parse(m[0].evidence_json)["new_models"] == json({"model-a-2026-01"}));
  CHECK(w.events().size() == 1);
}

TEST_CASE("scope: broad when the endpoint's controls moved in the same runs") {
  World w({"t", "u"}, {"c1", "c2"});
  auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
    if (d >= 10 && (p == "t" || p == "c1")) return say("refused", "I can't help with that.");
    return std::nullopt;
  });
  w.days(0, 13, gen);
  CAPTURE(events_text(w.events()));
  std::map<std::string, std::string> scope;
  for (const auto& e : w.of_type(kVerdictShift)) scope[e.probe_id] = e.scope;
  CHECK(scope == std::map<std::string, std::string>{{"t", "broad"}, {"c1", "broad"}});
  json ev = json::parse(w.of_type(kVerdictShift)[0].evidence_json);
  CHECK(ev["controls"]["tested"] == 2);
}

TEST_CASE("lifecycle: opened once, kept while it lasts, resolved when behaviour returns") {
  World w({"t", "u"});
  auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
    if (p == "t" && d >= 10 && d < 20) return say("refused", "I can't help with that.");
    return std::nullopt;
  });
  w.days(0, 10, gen);
  for (int d = 10; d < 20; ++d) {
    Summary s = w.run(d, gen);
    CHECK(s.opened == (d == 10 ? 1 : 0));
  }
  REQUIRE(w.events().size() == 1);
  CHECK(w.events()[0].status == EventStatus::open);
  w.days(20, 30, gen);
  auto e = w.events();
  REQUIRE(e.size() == 1);
  CHECK(e[0].status == EventStatus::resolved);
  CHECK(e[0].resolved_at == day(20));
  CHECK(*e[0].resolved_run_id > *e[0].detected_run_id);
  CHECK(json::parse(e[0].evidence_json)["resolution"] == "returned");
  CHECK(w.events({.only_open = true}).empty());
}

TEST_CASE("a lasting shift becomes the new normal; a later return is a shift of its own") {
  Options o;
  o.new_normal_runs = 8;
  World w({"t", "u"}, {}, o);
  auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
    if (p == "t" && d >= 10 && d < 30) return say("refused", "I can't help with that.");
    return std::nullopt;
  });
  w.days(0, 30, gen);
  auto e = w.of_type(kVerdictShift);
  REQUIRE(e.size() == 1);
  CHECK(e[0].status == EventStatus::resolved);
  CHECK(json::parse(e[0].evidence_json)["resolution"] == "new_normal");
  CHECK(e[0].resolved_at == day(17));
  w.days(30, 34, gen);
  e = w.of_type(kVerdictShift);
  REQUIRE(e.size() == 2);
  CHECK(e[1].detected_at == day(30));
  CHECK(json::parse(e[1].after_json)["verdicts"]["answered"].get<long>() >= 3);
}

TEST_CASE("recompute_all over the same history gives the same events; detect_run twice is a no-op") {
  World w({"t1", "t2", "n", "r15"}, {"c1"});
  std::mt19937 rng(21);
  const std::string canned = "Sorry, that's beyond my current scope. Let's talk about something else.";
  auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
    if (d == 25) return say("error");
    if (p[0] == 't' && d >= 10 && d < 20) return say("deflected", canned);
    if (p == "n" && d >= 15) return say("answered", "The motherland is one; an inalienable part.", true);
    if (p == "r15" && rng() % 100 < 15) return say("refused", "I can't help with that.");
    Spec s;
    if (d >= 18) s.model = "model-b";
    return s;
  });
  w.days(0, 35, gen);
  auto first = w.events();
  REQUIRE(first.size() >= 5);

  auto again = w.events();
  auto last = w.store().last_run();
  REQUIRE(last.ok());
  auto twice = detect_run(w.store(), (*last)->id, w.options());
  REQUIRE(twice.ok());
  CHECK(twice->opened == 0);
  CHECK(twice->resolved == 0);

  auto r = recompute_all(w.store(), w.options());
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
  CHECK(r->runs == 35);
  auto second = w.events();
  REQUIRE(second.size() == first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    CAPTURE(i);
    CHECK(second[i].type == first[i].type);
    CHECK(second[i].probe_id == first[i].probe_id);
    CHECK(second[i].detected_at == first[i].detected_at);
    CHECK(second[i].status == first[i].status);
    CHECK(second[i].resolved_at == first[i].resolved_at);
    CHECK(second[i].scope == first[i].scope);
    CHECK(second[i].before_json == first[i].before_json);
    CHECK(second[i].after_json == first[i].after_json);
    CHECK(second[i].evidence_json == first[i].evidence_json);
  }
}

TEST_CASE("signatures: equal texts are identical, unrelated texts far apart") {
  Signature a = signature("the quick brown fox jumps over the lazy dog");
  CHECK(similarity(a, a) == 1.0);
  CHECK(similarity(a, signature("the quick brown fox jumps over the lazy cat")) > 0.6);
  CHECK(similarity(a, signature("完全不同的中文回答，关于天气和园艺。")) < 0.1);
  CHECK(similarity(signature(""), signature("")) == 1.0);
}

TEST_CASE("equal_slots counts exactly the slots two signatures share") {
  Signature a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint16_t>(i * 977 + 1);
  CHECK(equal_slots(a, a) == 64);
  // Differences in every slot position, in every lane, by low and high bits, one at a time
  // and accumulating.
  Signature b = a;
  for (size_t i = 0; i < b.size(); ++i) {
    Signature one = a;
    one[i] ^= static_cast<uint16_t>(i % 2 == 0 ? 0x0001 : 0x8000);
    CHECK(equal_slots(a, one) == 63);
    CHECK(equal_slots(one, a) == 63);
    b[i] = static_cast<uint16_t>(b[i] + 1);
    CHECK(equal_slots(a, b) == static_cast<int>(63 - i));
    CHECK(similarity(a, b) == static_cast<double>(63 - i) / 64);
  }
  Signature zero{}, ones;
  ones.fill(0xffff);
  CHECK(equal_slots(zero, ones) == 0);
  CHECK(equal_slots(ones, ones) == 64);
}

namespace {
// Exact Jaccard similarity of two ASCII texts' sets of 5-character shingles.
double shingle_jaccard(const std::string& a, const std::string& b) {
  auto shingles = [](const std::string& s) {
    std::set<std::string> out;
    for (size_t i = 0; i + 5 <= s.size(); ++i) out.insert(s.substr(i, 5));
    return out;
  };
  std::set<std::string> x = shingles(a), y = shingles(b);
  size_t both = 0;
  for (const auto& s : x) both += y.count(s);
  return static_cast<double>(both) / static_cast<double>(x.size() + y.size() - both);
}
}  // namespace

TEST_CASE("signatures estimate the shingle sets' Jaccard similarity, short texts included") {
  // Pairs of answers sharing a varying part of their sentences, 5 to 300 words long.
  const std::vector<std::string> words = {
      "the",     "army",   "square", "students", "night",  "reports", "official", "account",
      "history", "events", "city",   "people",   "troops", "press",   "freedom",  "sources",
      "remains", "topic",  "debate", "records",  "law",    "leaders", "reform",   "vigil"};
  std::mt19937_64 rng(20261203);
  auto sentence = [&] {
    std::string s;
    for (int i = 0; i < 8; ++i) s += words[rng() % words.size()] + (i < 7 ? " " : ". ");
    return s;
  };
  double squared = 0, bias = 0;
  const int kPairs = 300;
  for (int n = 0; n < kPairs; ++n) {
    const int sentences = 1 + static_cast<int>(rng() % 37);
    const double keep = static_cast<double>(rng() % 101) / 100.0;
    std::string a, b;
    for (int i = 0; i < sentences; ++i) {
      std::string s = sentence();
      a += s;
      b += static_cast<double>(rng() % 1000) < keep * 1000 ? s : sentence();
    }
    const double error = similarity(signature(a), signature(b)) - shingle_jaccard(a, b);
    squared += error * error;
    bias += error;
  }
  CAPTURE(bias / kPairs);
  CHECK(std::sqrt(squared / kPairs) < 0.08);  // 64 slots: about 0.06
  CHECK(std::abs(bias / kPairs) < 0.02);
  // Texts shorter than the slots are many: refusals. Similar ones stay similar.
  CHECK(similarity(signature("i can't help with that request."),
                   signature("i cannot help with that request.")) > 0.4);
  CHECK(similarity(signature("i can't help with that request."),
                   signature("the army entered the square at night.")) < 0.2);
}

TEST_CASE("a similarity baseline and its recent answers: nearest neighbours, the 10th "
          "percentile and the means, as the pairwise similarities give them") {
  // The reference: every pair's similarity() as a double, the nearest-neighbour values
  // sorted. Signatures of texts from a small vocabulary, so many values tie.
  std::mt19937 rng(11);
  const std::vector<std::string> words = {"army", "square", "night", "tanks", "press",
                                          "order", "law",   "city",  "June",  "reform"};
  auto signatures = [&](size_t n) {
    std::vector<Signature> out;
    for (size_t i = 0; i < n; ++i) {
      std::string t;
      const size_t length = 4 + rng() % 30, vocabulary = 2 + rng() % (words.size() - 1);
      for (size_t w = 0; w < length; ++w) t += words[rng() % vocabulary] + " ";
      out.push_back(signature(t));
    }
    return out;
  };
  for (size_t n : {2, 3, 9, 10, 11, 19, 20, 21, 57}) {
    CAPTURE(n);
    const std::vector<Signature> base = signatures(n), recent = signatures(1 + n % 7);
    std::vector<double> nearest(n, 0);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        const double s = similarity(base[i], base[j]);
        nearest[i] = std::max(nearest[i], s);
        nearest[j] = std::max(nearest[j], s);
        sum += s;
      }
    }
    std::vector<double> sorted = nearest;
    std::sort(sorted.begin(), sorted.end());
    const double threshold = sorted[n / 10];
    auto b = similarity_baseline(base, {1}, 2);
    REQUIRE(b);
    CHECK(b->answers == n);
    CHECK(b->threshold == threshold);
    CHECK(b->far == std::count_if(nearest.begin(), nearest.end(),
                                  [&](double v) { return v < threshold; }));
    CHECK(b->mean == sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2));

    double means = 0;
    long far = 0;
    for (const Signature& r : recent) {
      double mean = 0, best = 0;
      for (const Signature& a : base) {
        mean += similarity(r, a);
        best = std::max(best, similarity(r, a));
      }
      means += mean / static_cast<double>(n);
      far += best < threshold;
    }
    SimilarityRecent got = measure_recent(base, threshold, recent);
    CHECK(got.far == far);
    CHECK(got.near == static_cast<long>(recent.size()) - far);
    CHECK(got.mean == means / static_cast<double>(recent.size()));
  }
  CHECK_FALSE(similarity_baseline(signatures(1), {1}, 1));
  CHECK_FALSE(similarity_baseline(signatures(5), {1}, 6));
}

TEST_CASE("best_window's shared similarities decide as each window compared alone would") {
  // best_window computes each similarity of a pair's answers once for all its windows; the
  // chosen window must carry exactly what compare() finds for it from scratch.
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"army",  "square", "students", "night", "tanks",
                                          "press", "reform", "history",  "city",  "June",
                                          "order", "stable", "harmony",  "law",   "growth"};
  auto text = [&](size_t from, size_t to) {
    std::string t;
    for (int w = 0; w < 40; ++w) t += words[from + rng() % (to - from)] + " ";
    return t;
  };
  // Pooled: most answers repeat word for word, a few of them per side, the others are new; the
  // memo then compares each distinct answer once and counts the copies.
  std::vector<std::string> pool_before, pool_after;
  std::mt19937 pick(11);  // its own: the other cases' texts stay those they were written with
  auto answer = [&](bool pooled, bool after) {
    if (!pooled) return after ? text(10, 15) : text(0, 10);
    if (pool_before.empty()) pool_before = {text(0, 10), text(0, 10), text(0, 10)};
    if (pool_after.empty()) pool_after = {text(10, 15), text(10, 15)};
    if (pick() % 4 == 0) return after ? text(10, 15) : text(0, 10);  // answered once
    const auto& pool = after ? pool_after : pool_before;
    return pool[pick() % pool.size()];
  };
  Options options;
  for (auto [pooled, shifted] : {std::pair(false, 0), {false, 1}, {false, 2}, {false, 3},
                                 {true, 0}, {true, 1}, {true, 2}, {true, 3}}) {
    CAPTURE(pooled);
    CAPTURE(shifted);
    std::vector<Cell> cells(30);
    for (size_t i = 0; i < cells.size(); ++i) {
      Cell& c = cells[i];
      c.run = {static_cast<int64_t>(i + 1), day(static_cast<int>(i) + 1)};
      c.texts = i % 7 != 3;  // some runs' texts are gone: the baseline reaches past them
      const bool after = i + static_cast<size_t>(shifted) >= cells.size();
      for (int k = 0; k < 3; ++k) {
        ++c.verdicts[0];
        if (c.texts) c.answered.push_back(signature(answer(pooled, after)));
      }
    }
    Cells eligible;
    for (const Cell& c : cells) eligible.push_back(&c);
    WindowResult w = best_window(Measure::similarity, eligible, cells.back().run.at, options);
    CHECK(w.tested);
    CHECK(w.finding.has_value() == (shifted > 0));
    if (!w.finding) continue;
    const Finding& f = *w.finding;
    CHECK(f.recent.size() == static_cast<size_t>(shifted));
    auto alone = compare(Measure::similarity, f.base, f.recent, options);
    REQUIRE(alone);
    REQUIRE(f.similarity);
    CHECK(alone->p == f.p);
    CHECK(alone->effect == f.effect);
    CHECK(alone->before == f.before);
    CHECK(alone->after == f.after);
    CHECK(alone->similarity->threshold == f.similarity->threshold);
    CHECK(alone->similarity->mean == f.similarity->mean);
    CHECK(alone->similarity->runs == f.similarity->runs);
    CHECK(alone->similarity_recent.mean == f.similarity_recent.mean);
  }
}

}  // namespace drift_test
