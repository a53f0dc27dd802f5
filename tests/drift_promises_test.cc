// The edge rules of drift detection, one promise of README.md ("Drift detection") per test case,
// each on a synthetic history (drift_history.h) built so that the event comes out differently
// when the rule is left out: where it helps, the same history without the rule's condition is
// run beside it and must give the other outcome.
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "drift/detector.h"
#include "drift_history.h"

namespace drift_promises_test {

using dw::Time;
using nlohmann::json;
using namespace dw::drift;
using namespace dw::test;
using dw::store::Event;
using dw::store::EventStatus;
using dw::store::RunStatus;

namespace {

const std::string kRefusal = "I can't help with that.";

// Every field of an event, one per line: what "the same event" means.
std::string all_fields(const Event& e) {
  auto opt_time = [](const std::optional<Time>& t) { return t ? dw::format_time(*t) : "-"; };
  auto opt_id = [](const std::optional<int64_t>& i) { return i ? std::to_string(*i) : "-"; };
  std::ostringstream out;
  out << "id " << e.id << "\ntype " << e.type << "\nendpoint " << e.endpoint << "\nprobe "
      << e.probe_id << " " << e.probe_version << "\nscope " << e.scope << "\nstatus "
      << to_string(e.status) << "\ndetected " << dw::format_time(e.detected_at) << " run "
      << opt_id(e.detected_run_id) << "\nresolved " << opt_time(e.resolved_at) << " run "
      << opt_id(e.resolved_run_id) << "\nbefore " << e.before_json << "\nafter " << e.after_json
      << "\nevidence " << e.evidence_json << "\n";
  return out.str();
}

std::vector<std::string> all_fields(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(all_fields(e));
  return out;
}

// The same without the ids (recompute_all may number events differently).
std::vector<std::string> without_ids(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (Event e : events) {
    e.id = 0;
    out.push_back(all_fields(e));
  }
  return out;
}

json evidence(const Event& e) { return json::parse(e.evidence_json); }
json before(const Event& e) { return json::parse(e.before_json); }
json after(const Event& e) { return json::parse(e.after_json); }

// t answers on days 0-9 and refuses from day 10; day 10's run is cut short (incomplete) and
// not detected after, as run --once and the daemon do. Returns each day's run id.
std::map<int, int64_t> history_with_a_cut_run(World& w, int days) {
  auto gen = [](const std::string&, const std::string& p, int d, int) -> Spec {
    if (p == "t" && d >= 10) return say("refused", kRefusal);
    return answered();
  };
  std::map<int, int64_t> runs;
  for (int d = 0; d < days; ++d) {
    if (d == 10) {
      w.run_each(d, gen, RunStatus::incomplete, /*detect=*/false);
    } else {
      w.run_each(d, gen);
    }
    runs[d] = w.last_run();
  }
  return runs;
}

}  // namespace

TEST_CASE("an incomplete run is not detected on: detect_run on it changes nothing") {
  World w({"t", "u"});
  auto runs = history_with_a_cut_run(w, 11);
  auto cut = detect_run(w.store(), runs[10], w.options());
  REQUIRE_MESSAGE(cut.ok(), (cut.ok() ? "" : cut.error().to_string()));
  CHECK(cut->opened == 0);
  CHECK(cut->resolved == 0);
  CHECK_MESSAGE(w.events().empty(), events_text(w.events()));
}

TEST_CASE("an incomplete run is not detected on: rebuilding the events agrees with run by run") {
  // The first complete run after the cut one decides; recompute_all (import, reclassify) must
  // not decide at the incomplete run either, so it gives the same events.
  World w({"t", "u"});
  auto runs = history_with_a_cut_run(w, 14);
  auto run_by_run = w.events();
  CAPTURE(events_text(run_by_run));
  auto shifts = w.of_type(kVerdictShift);
  REQUIRE(shifts.size() == 1);
  CHECK(shifts[0].probe_id == "t");
  CHECK(shifts[0].detected_run_id == runs[11]);
  CHECK(evidence(shifts[0])["decided_at"] == dw::format_time(day(11)));

  auto rebuilt = recompute_all(w.store(), w.options());
  REQUIRE_MESSAGE(rebuilt.ok(), (rebuilt.ok() ? "" : rebuilt.error().to_string()));
  auto events = w.events();
  for (const auto& e : events) {
    CHECK(e.detected_run_id != runs[10]);
    CHECK(e.resolved_run_id != runs[10]);
  }
  CHECK(without_ids(events) == without_ids(run_by_run));
}

TEST_CASE("a run more than half in error is no evidence: it cannot open a censorship event") {
  // From day 10 t refuses in every answer it gets. With 2 of its 3 samples in error, its runs
  // count for nothing; with 1 of 3 in error the same refusals open a verdict_shift.
  auto history = [](int errors) {
    World w({"t", "u"});
    auto gen = with([errors](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p != "t" || d < 10) return std::nullopt;
      return seq <= errors ? say("error") : say("refused", kRefusal);
    });
    w.days(0, 14, gen);
    return w.of_type(kVerdictShift);
  };
  auto outage = history(2);
  CHECK_MESSAGE(outage.empty(), events_text(outage));
  auto some_errors = history(1);  // not more than half: evidence
  REQUIRE(some_errors.size() == 1);
  CHECK(some_errors[0].probe_id == "t");
  CHECK(some_errors[0].detected_at == day(10));
  CHECK(after(some_errors[0])["errors"].get<long>() >= 1);
}

TEST_CASE("exactly half in error is still evidence") {
  // 4 samples a run, 2 of them errors, 2 refused: not more than half, so the refusals count.
  World w({"t", "u"}, {}, {}, {"e1"}, 4);
  auto gen = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
    if (p != "t" || d < 10) return std::nullopt;
    return seq <= 2 ? say("error") : say("refused", kRefusal);
  });
  w.days(0, 13, gen);
  auto shifts = w.of_type(kVerdictShift);
  CAPTURE(events_text(w.events()));
  REQUIRE(shifts.size() == 1);
  CHECK(shifts[0].detected_at == day(10));
}

TEST_CASE("an outage while an event is open neither resolves it nor keeps it open") {
  SUBCASE("answers that look normal during the outage do not resolve it") {
    // t refuses from day 10 (the event opens), is in outage on days 15-17 with one normal
    // answer of 3 a run, and answers normally from day 18. Counted, the outage's answers would
    // resolve the event at day 17 from day 15; they do not, so it resolves from day 18.
    World w({"t", "u"});
    auto gen = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p != "t") return std::nullopt;
      if (d >= 15 && d < 18) return seq <= 2 ? say("error") : answered();
      if (d >= 10 && d < 15) return say("refused", kRefusal);
      return std::nullopt;
    });
    w.days(0, 18, gen);
    auto shifts = w.of_type(kVerdictShift);
    CAPTURE(events_text(w.events()));
    REQUIRE(shifts.size() == 1);
    CHECK(shifts[0].detected_at == day(10));
    CHECK(shifts[0].status == EventStatus::open);  // through the outage
    w.days(18, 21, gen);
    shifts = w.of_type(kVerdictShift);
    REQUIRE(shifts.size() == 1);
    CHECK(shifts[0].status == EventStatus::resolved);
    CHECK(shifts[0].resolved_at == day(18));
    json ev = evidence(shifts[0]);
    CHECK(ev["resolution"] == "returned");
    CHECK(ev["resolved_after"]["from"] == dw::format_time(day(18)));
    CHECK(ev["resolved_after"]["errors"] == 0);
  }
  SUBCASE("answers that look shifted during the outage do not keep it open") {
    // 5 samples a run. t refuses on days 10-12, answers from day 13, except for day 14: an
    // outage (3 errors of 5) whose 2 answers are refusals. Counted, day 14 would keep the
    // event open until day 17; it is resolved at day 16, from day 13.
    World w({"t", "u"}, {}, {}, {"e1"}, 5);
    auto gen = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p != "t") return std::nullopt;
      if (d == 14) return seq <= 3 ? say("error") : say("refused", kRefusal);
      if (d >= 10 && d < 13) return say("refused", kRefusal);
      return std::nullopt;
    });
    w.days(0, 16, gen);
    auto shifts = w.of_type(kVerdictShift);
    CAPTURE(events_text(w.events()));
    REQUIRE(shifts.size() == 1);
    CHECK(shifts[0].status == EventStatus::open);
    w.run(16, gen);
    shifts = w.of_type(kVerdictShift);
    REQUIRE(shifts.size() == 1);
    CHECK(shifts[0].status == EventStatus::resolved);
    CHECK(shifts[0].resolved_run_id == w.last_run());
    CHECK(shifts[0].resolved_at == day(13));
    json resolved_after = evidence(shifts[0])["resolved_after"];
    CHECK(resolved_after["runs"] == 3);  // days 13, 15 and 16: not 14
    CHECK(resolved_after["errors"] == 0);
  }
  SUBCASE("the outage's runs do not count towards new_normal_runs") {
    // new_normal_runs = 5. t refuses from day 10 on; days 13-16 are an outage (2 errors of 3,
    // the third a refusal). Counted, the shift would become the new normal at day 14; it
    // becomes it at the fifth valid run since detection: day 18.
    Options o;
    o.new_normal_runs = 5;
    World w({"t", "u"}, {}, o);
    auto gen = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p != "t" || d < 10) return std::nullopt;
      if (d >= 13 && d < 17) return seq <= 2 ? say("error") : say("refused", kRefusal);
      return say("refused", kRefusal);
    });
    w.days(0, 18, gen);
    auto shifts = w.of_type(kVerdictShift);
    CAPTURE(events_text(w.events()));
    REQUIRE(shifts.size() == 1);
    CHECK(shifts[0].status == EventStatus::open);
    w.run(18, gen);
    shifts = w.of_type(kVerdictShift);
    REQUIRE(shifts.size() == 1);
    CHECK(shifts[0].status == EventStatus::resolved);
    CHECK(shifts[0].resolved_at == day(18));
    CHECK(evidence(shifts[0])["resolution"] == "new_normal");
  }
}

TEST_CASE("an edited prompt starts a new baseline") {
  // t answers at version v1 for 10 days; its prompt is edited on day 10 and the new version
  // refuses. The refusals are not a shift from v1's answers: v2 has no baseline yet, then its
  // own. When v2 starts answering on day 16, that is a shift against v2's baseline alone.
  World w({"t", "u"});
  auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
    if (p == "t" && d >= 10 && d < 16) return say("refused", kRefusal);
    return std::nullopt;
  });
  w.days(0, 10, gen);
  w.edit("t", "v2");
  w.days(10, 16, gen);
  CHECK_MESSAGE(w.of_type(kVerdictShift).empty(), events_text(w.events()));
  w.days(16, 19, gen);
  auto shifts = w.of_type(kVerdictShift);
  CAPTURE(events_text(w.events()));
  REQUIRE(shifts.size() == 1);
  CHECK(shifts[0].probe_id == "t");
  CHECK(shifts[0].probe_version == "v2");
  CHECK(shifts[0].detected_at == day(16));
  json base = before(shifts[0]);
  CHECK(base["from"] == dw::format_time(day(10)));  // v1's days are not in it
  CHECK(base["verdicts"]["answered"] == 0);
  CHECK(base["verdicts"]["refused"].get<long>() >= 6);

  SUBCASE("without the edit, the same answers are a shift on day 10") {
    World same({"t", "u"});
    same.days(0, 12, gen);
    auto s = same.of_type(kVerdictShift);
    REQUIRE(s.size() == 1);
    CHECK(s[0].detected_at == day(10));
    CHECK(s[0].probe_version == "v1");
  }
}

TEST_CASE("content_shift from expect coverage alone, the wording unchanged") {
  // scs keeps answering from the same three texts; only the expect coverage the classifier
  // gives falls from full to none on day 10. The similarity measure cannot see it (every
  // answer is one of the baseline's); coverage does. up's coverage rises: no event.
  World w({"scs", "up", "other"});
  auto gen = with([](const std::string& p, int d, int) -> std::optional<Spec> {
    Spec s;  // text "": the probe's own pool, before and after
    if (p == "scs") s.coverage = d >= 10 ? 0.0 : 1.0;
    if (p == "up") s.coverage = d >= 10 ? 1.0 : 0.0;
    return s;
  });
  w.days(0, 13, gen);
  CAPTURE(events_text(w.events()));
  auto c = w.of_type(kContentShift);
  REQUIRE(c.size() == 1);
  CHECK(c[0].probe_id == "scs");
  CHECK(c[0].detected_at == day(10));
  json ev = evidence(c[0]);
  CHECK(ev["measure"] == "expect_coverage");
  CHECK_FALSE(ev.contains("similarity"));
  CHECK(before(c[0])["expect_coverage"] == 1.0);
  CHECK(after(c[0])["expect_coverage"] == 0.0);
  CHECK(after(c[0])["coverage"]["none"].get<long>() >= 3);
  CHECK(w.events().size() == 1);  // no verdict, narrative or other event
}

TEST_CASE("the baseline reaches back `baseline`, no further") {
  Options o;
  o.baseline_window = std::chrono::days(10);
  auto refuse_on = [](int from) {
    return with([from](const std::string& p, int d, int) -> std::optional<Spec> {
      if (p == "t" && d >= from) return say("refused", kRefusal);
      return std::nullopt;
    });
  };
  SUBCASE("the baseline holds the runs of the window before the recent side") {
    World w({"t", "u"}, {}, o);
    w.days(0, 21, refuse_on(20));
    auto s = w.of_type(kVerdictShift);
    CAPTURE(events_text(w.events()));
    REQUIRE(s.size() == 1);
    CHECK(s[0].detected_at == day(20));
    json base = before(s[0]);
    CHECK(base["from"] == dw::format_time(day(10)));
    CHECK(base["runs"] == 10);
    CHECK(base["samples"] == 30);
  }
  SUBCASE("samples older than the window are no baseline: the pair is not tested") {
    // Runs on days 0-5, nothing until day 20: with a 10-day window t has no baseline at day
    // 20. With the default 30 days, days 0-5 are its baseline and the refusals a shift.
    auto history = [&](const Options& options, long pairs_tested) {
      World w({"t", "u"}, {}, options);
      auto gen = refuse_on(20);
      w.days(0, 6, gen);
      Summary s = w.run(20, gen);
      CHECK(s.pairs_tested == pairs_tested);
      return w.of_type(kVerdictShift);
    };
    auto expired = history(o, 0);
    CHECK_MESSAGE(expired.empty(), events_text(expired));
    auto kept = history(Options{}, 2);
    REQUIRE(kept.size() == 1);
    CHECK(before(kept[0])["from"] == dw::format_time(day(0)));
  }
}

TEST_CASE("a pair with fewer than 6 non-error baseline samples is not tested") {
  // One baseline run, then t refuses everything. With 6 answers before, the refusals are a
  // shift; with 5 (or 6 of which one is an error), the pair is not tested at all.
  auto history = [](int samples, bool one_error) {
    World w({"t", "u"}, {}, {}, {"e1"}, samples);
    auto gen = with([one_error](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p == "t" && d >= 1) return say("refused", kRefusal);
      if (one_error && p == "t" && d == 0 && seq == 1) return say("error");
      return std::nullopt;
    });
    w.run(0, gen);
    Summary s = w.run(1, gen);
    return std::pair(s.pairs_tested, w.of_type(kVerdictShift));
  };
  auto [tested6, events6] = history(6, false);
  CHECK(tested6 == 2);
  REQUIRE(events6.size() == 1);
  CHECK(events6[0].probe_id == "t");
  CHECK(before(events6[0])["samples"] == 6);

  auto [tested5, events5] = history(5, false);
  CHECK(tested5 == 0);
  CHECK_MESSAGE(events5.empty(), events_text(events5));

  auto [tested_err, events_err] = history(6, true);  // t: 5 answers and 1 error before
  CHECK(tested_err == 1);                            // u only
  CHECK_MESSAGE(events_err.empty(), events_text(events_err));
}

TEST_CASE("alpha, min_effect and recent_runs change the outcome") {
  // A single probe: its q is its p (Bonferroni-multiplied by recent_runs), nothing to share.
  auto shifts = [](const Options& o, int samples, const Generator& gen, int days) {
    World w({"t"}, {}, o, {"e1"}, samples);
    w.days(0, days, gen);
    return w.of_type(kVerdictShift);
  };
  SUBCASE("alpha") {
    // Days 10 and 11: 1 refusal in 3. Over both, p = 15/630 x 3 = 0.071: above 0.05, below 0.1.
    auto gen = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p == "t" && (d == 10 || d == 11) && seq == 1) return say("refused", kRefusal);
      return std::nullopt;
    });
    CHECK(shifts(Options{}, 3, gen, 14).empty());
    Options loose;
    loose.alpha = 0.1;
    auto s = shifts(loose, 3, gen, 14);
    REQUIRE(s.size() == 1);
    CHECK(s[0].detected_at == day(10));
    CHECK(evidence(s[0])["alpha"] == 0.1);
    CHECK(evidence(s[0])["q"].get<double>() > 0.05);

    // Day 10: 2 refusals in 3, p = 3/528 x 3 = 0.017: below 0.05, above 0.01.
    auto two = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p == "t" && d == 10 && seq <= 2) return say("refused", kRefusal);
      return std::nullopt;
    });
    REQUIRE(shifts(Options{}, 3, two, 14).size() == 1);
    Options strict;
    strict.alpha = 0.01;
    CHECK(shifts(strict, 3, two, 14).empty());
  }
  SUBCASE("min_effect") {
    // From day 10, 1 refusal in 4 every run: a shift of 0.25, significant over 3 runs
    // (p = 220/22100 x 3 = 0.03). Below the default 0.3; an event with min_effect 0.2.
    auto quarter = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p == "t" && d >= 10 && seq == 1) return say("refused", kRefusal);
      return std::nullopt;
    });
    CHECK(shifts(Options{}, 4, quarter, 16).empty());
    Options small;
    small.min_effect = 0.2;
    auto s = shifts(small, 4, quarter, 16);
    REQUIRE(s.size() == 1);
    CHECK(s[0].detected_at == day(10));
    CHECK(evidence(s[0])["effect"].get<double>() < 0.3);
    CHECK(evidence(s[0])["min_effect"] == 0.2);

    // Two refusals in 3 from day 10: an effect of 2/3, an event by default, none at 0.8.
    auto two_thirds = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p == "t" && d >= 10 && seq <= 2) return say("refused", kRefusal);
      return std::nullopt;
    });
    REQUIRE(shifts(Options{}, 3, two_thirds, 14).size() == 1);
    Options large;
    large.min_effect = 0.8;
    CHECK(shifts(large, 3, two_thirds, 14).empty());
  }
  SUBCASE("recent_runs") {
    // From day 10, 1 refusal in 3 every run: no single run is significant (p = 3/33), three
    // together are (p = 84/9139 x 3 = 0.028). Found with recent_runs = 3, not with 1.
    auto third = with([](const std::string& p, int d, int seq) -> std::optional<Spec> {
      if (p == "t" && d >= 10 && seq == 1) return say("refused", kRefusal);
      return std::nullopt;
    });
    auto s = shifts(Options{}, 3, third, 14);
    REQUIRE(s.size() == 1);
    CHECK(s[0].detected_at == day(10));
    CHECK(evidence(s[0])["window_runs"] == 3);
    CHECK(evidence(s[0])["decided_at"] == dw::format_time(day(12)));
    Options one;
    one.recent_runs = 1;
    CHECK(shifts(one, 3, third, 14).empty());
  }
}

TEST_CASE("canned_template resolves when the text answered nothing in the last recent_runs runs") {
  const std::string canned = "Sorry, that's beyond my current scope. Let's talk about something else.";
  SUBCASE("every probe answers again") {
    // t1-t3 get the canned text on days 12-15 and answer normally from day 16. The last
    // recent_runs (3) runs without it are 16-18: resolved at day 18's run, from day 16.
    World w({"t1", "t2", "t3", "stable"});
    auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
      if (d >= 12 && d < 16 && p[0] == 't') return say("deflected", canned);
      return std::nullopt;
    });
    w.days(0, 18, gen);
    auto c = w.of_type(kCannedTemplate);
    CAPTURE(events_text(w.events()));
    REQUIRE(c.size() == 1);
    CHECK(c[0].detected_at == day(12));
    CHECK(c[0].status == EventStatus::open);  // day 15 is among the last 3
    w.run(18, gen);
    c = w.of_type(kCannedTemplate);
    REQUIRE(c.size() == 1);
    CHECK(c[0].status == EventStatus::resolved);
    CHECK(c[0].resolved_run_id == w.last_run());
    CHECK(c[0].resolved_at == day(16));
    json ev = evidence(c[0]);
    CHECK(ev["resolution"] == "returned");
    CHECK(ev["resolved_after"]["from"] == dw::format_time(day(16)));
    CHECK(ev["resolved_after"]["runs"] == 3);
  }
  SUBCASE("new_normal_runs past the 40 runs whose texts are held") {
    // The text from day 12 on, for good: new normal after 45 valid runs since detection, on
    // day 56 (only the last 40 runs' texts are held, and counting those never reached 45).
    Options o;
    o.new_normal_runs = 45;
    World w({"t1", "t2", "t3", "stable"}, {}, o);
    auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
      if (d >= 12 && p[0] == 't') return say("deflected", canned);
      return std::nullopt;
    });
    w.days(0, 56, gen);
    auto c = w.of_type(kCannedTemplate);
    CAPTURE(events_text(w.events()));
    REQUIRE(c.size() == 1);
    CHECK(c[0].status == EventStatus::open);  // 44 runs, days 12-55
    w.run(56, gen);
    c = w.of_type(kCannedTemplate);
    REQUIRE(c.size() == 1);
    CHECK(c[0].status == EventStatus::resolved);
    CHECK(evidence(c[0])["resolution"] == "new_normal");
  }
  SUBCASE("one probe still given the text keeps it open") {
    World w({"t1", "t2", "t3", "stable"});
    auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
      if (d >= 12 && p == "t1") return say("deflected", canned);
      if (d >= 12 && d < 16 && p[0] == 't') return say("deflected", canned);
      return std::nullopt;
    });
    w.days(0, 22, gen);
    auto c = w.of_type(kCannedTemplate);
    CAPTURE(events_text(w.events()));
    REQUIRE(c.size() == 1);
    CHECK(c[0].status == EventStatus::open);
  }
}

TEST_CASE("endpoint_health: Benjamini-Hochberg across endpoints") {
  // Eight endpoints. e0 has a blip on day 10 (2 errors in 6 samples: p = 15/2145 x 3 = 0.021),
  // e1 a full outage that day, the others now and then one error. Alone, e0's blip is an event
  // (q = p); among the eight, its q is p x 8 / 2 = 0.084 and only e1's outage opens one.
  const std::vector<std::string> eight = {"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"};
  auto gen = [](const std::string& endpoint, const std::string& p, int d, int seq) -> Spec {
    if (d == 10 && endpoint == "e0" && p == "a" && seq <= 2) return say("error");
    if (d == 10 && endpoint == "e1") return say("error");
    if (endpoint >= "e2" && (d + endpoint.back()) % 4 == 0 && p == "b" && seq == 1) {
      return say("error");
    }
    return answered();
  };
  auto health = [&](const std::vector<std::string>& endpoints) {
    World w({"a", "b"}, {}, {}, endpoints);
    for (int d = 0; d < 13; ++d) w.run_each(d, gen);
    return w.of_type(kEndpointHealth);
  };
  auto alone = health({"e0"});
  REQUIRE(alone.size() == 1);
  CHECK(alone[0].endpoint == "e0");
  CHECK(alone[0].detected_at == day(10));
  CHECK(evidence(alone[0])["pairs_tested"] == 1);
  CHECK(evidence(alone[0])["q"].get<double>() ==
        doctest::Approx(evidence(alone[0])["p"].get<double>()));

  auto among = health(eight);
  CAPTURE(events_text(among));
  REQUIRE(among.size() == 1);
  CHECK(among[0].endpoint == "e1");
  CHECK(among[0].detected_at == day(10));
  json ev = evidence(among[0]);
  CHECK(ev["pairs_tested"] == 8);
  // The smallest p of 8: q = p x 8.
  CHECK(ev["q"].get<double>() == doctest::Approx(ev["p"].get<double>() * 8));
}

TEST_CASE("detect_run twice is a no-op: the same events, field for field") {
  // A history with every kind of decision (opening, resolving, new normal, templates, health,
  // model change); after each run, detect_run again on the same run must leave every stored
  // event exactly as it was, whether the first call opened, resolved or did nothing.
  Options o;
  o.new_normal_runs = 12;
  World w({"t1", "t2", "n", "r15"}, {"c1"}, o);
  std::mt19937 rng(21);
  const std::string canned = "Sorry, that's beyond my current scope. Let's talk about something else.";
  auto gen = with([&](const std::string& p, int d, int) -> std::optional<Spec> {
    if (d == 25) return say("error");
    if (p[0] == 't' && d >= 10 && d < 20) return say("deflected", canned);
    if (p == "n" && d >= 15) return say("answered", "The motherland is one; an inalienable part.", true);
    if (p == "r15" && rng() % 100 < 15) return say("refused", kRefusal);
    Spec s;
    if (d >= 18) s.model = "model-b";
    return s;
  });
  std::set<std::string> seen_types;
  int opened_at = 0, resolved_at = 0, quiet = 0;
  for (int d = 0; d < 35; ++d) {
    CAPTURE(d);
    Summary first = w.run(d, gen);
    auto events = w.events();
    for (const auto& e : events) seen_types.insert(e.type + (e.status == EventStatus::resolved ? " resolved" : ""));
    opened_at += first.opened > 0;
    resolved_at += first.resolved > 0;
    quiet += first.opened == 0 && first.resolved == 0;
    auto again = detect_run(w.store(), w.last_run(), w.options());
    REQUIRE_MESSAGE(again.ok(), (again.ok() ? "" : again.error().to_string()));
    CHECK(again->opened == 0);
    CHECK(again->resolved == 0);
    CHECK(all_fields(w.events()) == all_fields(events));
  }
  // The history did exercise each path.
  CHECK(opened_at >= 3);
  CHECK(resolved_at >= 2);
  CHECK(quiet >= 10);
  CAPTURE(events_text(w.events()));
  for (const char* t : {"verdict_shift resolved", "canned_template resolved", "narrative_shift",
                        "endpoint_health resolved", "model_change resolved"}) {
    CHECK_MESSAGE(seen_types.count(t) == 1, t);
  }
}

}  // namespace drift_promises_test
