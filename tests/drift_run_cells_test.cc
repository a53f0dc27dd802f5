// Run summaries (drift/run_cells.h): what History counts of a run, kept in the store as a few
// bytes per probe and read back by later detections instead of the run's samples. They must
// decode to exactly what the rows count, change no decision, really stand in for the samples,
// and rebuild themselves wherever they are missing, of another version, or stale.
#include "drift/run_cells.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "drift/day_blocks.h"
#include "drift/detector.h"
#include "drift/engine.h"
#include "drift_history.h"

namespace drift_run_cells_test {

using dw::Time;
using namespace dw::drift;
using namespace dw::test;
using dw::store::Event;
using dw::store::RunStatus;

namespace {

const std::string kRefusal = "I can't help with that.";
const std::string kCanned = "Sorry, that's beyond my current scope. Let's talk about something else.";

// A run's signatures that are these bytes, when read.
std::shared_ptr<const RunSignatures> signatures_of(std::string bytes) {
  const size_t count = bytes.size() / sizeof(Signature);
  return std::make_shared<const RunSignatures>(
      count, [bytes = std::move(bytes)]() -> dw::Result<std::string> { return bytes; });
}

// The texts of endpoint "e" with one shared text (hash "aa...", raw "bb..."), used by probes
// with sample ids.
EndpointTexts one_shared_text(std::set<std::string> probes, SampleIds ids) {
  EndpointTexts texts;
  texts.endpoint = "e";
  TextUse& use = texts.uses.add(std::string(64, 'a'));
  use.response_hash = std::string(64, 'b');
  use.probes = std::move(probes);
  use.ids = std::move(ids);
  return texts;
}

// --- a second connection, as sqlite3 in a shell ----------------------------------------------

// Every row of the query, its columns joined by '|', one line per row.
std::string query(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK, sql);
  std::string out;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const auto* text = sqlite3_column_text(st, i);
      out += (i ? "|" : "") + std::string(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    out += "\n";
  }
  CHECK_MESSAGE(rc == SQLITE_DONE, sql);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

int64_t count(const std::string& db, const std::string& sql) {
  std::string out = query(db, sql);
  return out.empty() ? 0 : std::stoll(out);
}

// Where sample rows are deleted from (as retention does): `samples`, or the table behind it
// once `samples` is a view (schema 6).
std::string sample_table(const std::string& db) {
  return count(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'samples' AND type = 'view'")
             ? "sample_rows"
             : "samples";
}

// --- what "the same" means ------------------------------------------------------------------

void check_same_cells(const History& a, const History& b) {
  REQUIRE(a.pairs().size() == b.pairs().size());
  for (auto ia = a.pairs().begin(), ib = b.pairs().begin(); ia != a.pairs().end(); ++ia, ++ib) {
    CAPTURE(ia->first.endpoint + " " + ia->first.probe_id + " " + ia->first.probe_version);
    REQUIRE(ia->first == ib->first);
    CHECK(ia->second.control == ib->second.control);
    REQUIRE(ia->second.cells.size() == ib->second.cells.size());
    for (size_t i = 0; i < ia->second.cells.size(); ++i) {
      const Cell& x = ia->second.cells[i];
      const Cell& y = ib->second.cells[i];
      CAPTURE(x.run.id);
      CHECK(x.run.id == y.run.id);
      CHECK(x.run.at == y.run.at);
      CHECK(x.verdicts == y.verdicts);
      CHECK(x.errors == y.errors);
      CHECK(x.narrative == y.narrative);
      CHECK(x.coverage == y.coverage);
      CHECK(x.coverage_sum == y.coverage_sum);  // exactly: evidence prints it
      CHECK(x.ids == y.ids);
      CHECK(x.error_ids == y.error_ids);
    }
  }
  REQUIRE(a.endpoints().size() == b.endpoints().size());
  for (auto ia = a.endpoints().begin(), ib = b.endpoints().begin(); ia != a.endpoints().end();
       ++ia, ++ib) {
    REQUIRE(ia->first == ib->first);
    CHECK(ia->second.name == ib->second.name);
    REQUIRE(ia->second.cells.size() == ib->second.cells.size());
    for (size_t i = 0; i < ia->second.cells.size(); ++i) {
      const EndpointCell& x = ia->second.cells[i];
      const EndpointCell& y = ib->second.cells[i];
      CAPTURE(x.run.id);
      CHECK(x.run.id == y.run.id);
      CHECK(x.run.at == y.run.at);
      CHECK(x.samples == y.samples);
      CHECK(x.errors == y.errors);
      CHECK(x.models == y.models);
      CHECK(x.fingerprints == y.fingerprints);
      CHECK(x.ids == y.ids);
      CHECK(x.error_ids == y.error_ids);
      CHECK(x.control_probes == y.control_probes);
    }
  }
}

// Every field of every event but the id (recompute_all numbers them anew).
std::vector<std::string> without_ids(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) {
    std::ostringstream s;
    s << e.type << " " << e.endpoint << " " << e.probe_id << " " << e.probe_version << " "
      << e.scope << " " << to_string(e.status) << " " << dw::format_time(e.detected_at) << " "
      << e.detected_run_id.value_or(-1) << " "
      << (e.resolved_at ? dw::format_time(*e.resolved_at) : "-") << " "
      << e.resolved_run_id.value_or(-1) << "\n"
      << e.before_json << "\n" << e.after_json << "\n" << e.evidence_json;
    out.push_back(s.str());
  }
  return out;
}

std::vector<std::string> with_ids(const std::vector<Event>& events) {
  std::vector<std::string> out = without_ids(events);
  for (size_t i = 0; i < events.size(); ++i) out[i] = std::to_string(events[i].id) + " " + out[i];
  return out;
}

// --- histories ------------------------------------------------------------------------------

// A baseline window of 60 days, so that with one run a day the baselines reach well beyond
// the 40 runs whose texts detection reads: into the runs it reads from their summaries.
Options long_baseline() {
  Options o;
  o.baseline_window = std::chrono::days(60);
  return o;
}

// Probes t, u, n and r15 and control c1 on e1 and e2: a verdict shift on t that returns, a
// narrative takeover on n that becomes the new normal, an outage on e2, a new model on e1, a
// canned deflection on t and u, a coverage fall on u, and r15 refusing 15% of the time.
EndpointGenerator eventful(unsigned seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng](const std::string& ep, const std::string& p, int d, int) -> Spec {
    if (d == 75 && ep == "e2") return say("error");
    if (p == "t" && d >= 50 && d < 62) return say("refused", kRefusal);
    if ((p == "t" || p == "u") && d >= 85 && d < 89) return say("deflected", kCanned);
    if (p == "n" && d >= 60) return say("answered", "The motherland is one; an inalienable part.", true);
    if (p == "r15" && (*rng)() % 100 < 15) return say("refused", kRefusal);
    Spec s;
    if (d >= 80 && ep == "e1") s.model = "model-b";
    if (p == "u") s.coverage = d >= 92 ? 0.0 : (d % 4 == 0 ? 2.0 / 3 : 1.0);
    return s;
  };
}

World eventful_world() {
  return World({"t", "u", "n", "r15"}, {"c1"}, long_baseline(), {"e1", "e2"});
}

}  // namespace

TEST_CASE("a run's summary decodes to exactly the cells History counts from its rows") {
  // Rows as the store streams them (run, endpoint, probe, version, seq), with every verdict,
  // rows not counted, errors, narrative, coverage on and off the columns' edges, more samples
  // than cells keep ids of, models and fingerprints, a control, an edited probe, and sample
  // ids out of order (samples are stored as answers arrive).
  std::mt19937 rng(7);
  const char* verdicts[] = {"answered", "answered", "answered", "refused", "deflected",
                            "filtered", "error",    "",         "unknown"};
  const std::optional<double> coverages[] = {std::nullopt, 1.0, 0.9995, 2.0 / 3, 0.0005, 0.0};
  History from_rows, from_summaries;
  std::unordered_map<int64_t, dw::store::ProbeKey> keys;
  std::map<std::pair<std::string, std::string>, int64_t> key_ids;
  size_t bytes = 0, pair_runs = 0;
  int64_t next_id = 1000;
  for (int run = 1; run <= 4; ++run) {
    dw::store::SampleRow row;
    row.run_id = run;
    row.run_at = day(run);
    std::vector<dw::store::SampleRow> rows;
    for (const char* ep : {"alpha", "beta"}) {
      for (const char* probe : {"c1", "many", "p1", "p2"}) {
        for (const char* version : {"v1", "v2"}) {
          if (std::string(version) == "v2" && (std::string(probe) != "p2" || run < 3)) continue;
          const int samples = std::string(probe) == "many" ? 12 : 3;
          for (int seq = 1; seq <= samples; ++seq) {
            row.key = {run, probe, version, ep, seq, "m", std::nullopt};
            row.control = std::string(probe) == "c1";
            const char* v = verdicts[rng() % 9];
            row.classification.reset();
            if (*v) {
              row.classification =
                  dw::store::Classification{v, "[]", rng() % 4 == 0, coverages[rng() % 6], "t"};
            }
            row.sample.model = rng() % 5 == 0 ? "" : rng() % 2 ? "model-a" : "model-b";
            row.sample.system_fingerprint = rng() % 3 == 0 ? "fp-" + std::to_string(run) : "";
            rows.push_back(row);
          }
        }
      }
    }
    std::vector<int64_t> ids(rows.size());
    std::iota(ids.begin(), ids.end(), next_id);
    std::shuffle(ids.begin(), ids.end(), rng);
    next_id += static_cast<int64_t>(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i].id = ids[i];
      from_rows.add(rows[i], nullptr);
    }
    for (const EndpointRun& e : from_rows.cells_of({run, day(run)})) {
      std::vector<int64_t> pair_keys;
      for (const PairRun& p : e.pairs) {
        auto [it, added] = key_ids.emplace(std::pair{p.key->probe_id, p.key->probe_version},
                                           static_cast<int64_t>(key_ids.size()) + 1);
        keys[it->second] = {it->second, p.key->probe_id, p.key->probe_version, p.control};
        pair_keys.push_back(it->second);
      }
      std::string encoded = encode_run_cells(e, pair_keys);
      bytes += encoded.size();
      pair_runs += e.pairs.size();
      auto decoded = decode_run_cells(encoded, e.endpoint, {run, day(run)}, keys);
      REQUIRE(decoded);
      from_summaries.add(*decoded);
    }
  }
  REQUIRE(from_rows.pairs().size() == 10);  // 2 endpoints x (4 probes + p2's v2)
  check_same_cells(from_rows, from_summaries);
  // Shuffled ids over 100 samples a run cost 2 bytes each; still small.
  MESSAGE("bytes per pair-run, shuffled ids: " << bytes / pair_runs);
  CHECK(bytes / pair_runs <= 24);
}

TEST_CASE("a pair of three answered samples takes a few bytes; bad bytes never decode") {
  History h;
  dw::store::SampleRow row;
  row.run_id = 1;
  row.run_at = day(1);
  int64_t id = 123456;
  for (const char* probe : {"a", "b", "c"}) {
    for (int seq = 1; seq <= 3; ++seq) {
      row.id = id++;
      row.key = {1, probe, "v1", "e", seq, "m", std::nullopt};
      row.classification = dw::store::Classification{"answered", "[]", false, 1.0, "t"};
      row.sample.model = "model-a";
      h.add(row, nullptr);
    }
  }
  auto runs = h.cells_of({1, day(1)});
  REQUIRE(runs.size() == 1);
  std::unordered_map<int64_t, dw::store::ProbeKey> keys = {
      {1, {1, "a", "v1", false}}, {2, {2, "b", "v1", false}}, {3, {3, "c", "v1", false}}};
  const std::string bytes = encode_run_cells(runs[0], {1, 2, 3});
  // The endpoint: counts, one model, 8 example ids (the first absolute); then per pair: key,
  // flags, count, 3 coverage counts and the sum, 3 ids.
  CHECK(bytes.size() <= 60);  // 24 + 3 x 10
  REQUIRE(decode_run_cells(bytes, "e", {1, day(1)}, keys));

  for (size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    CHECK(!decode_run_cells(bytes.substr(0, n), "e", {1, day(1)}, keys));
  }
  CHECK(!decode_run_cells(bytes + '\0', "e", {1, day(1)}, keys));
  CHECK(!decode_run_cells(bytes, "e", {1, day(1)}, {}));  // a probe key the store lacks
  for (size_t n = 0; n < bytes.size(); ++n) {  // whatever a flipped byte gives, no crash
    for (unsigned char bit : {0x01, 0x40, 0x80}) {
      std::string bad = bytes;
      bad[n] = static_cast<char>(bad[n] ^ bit);
      (void)decode_run_cells(bad, "e", {1, day(1)}, keys);
    }
  }
  CHECK(run_cells_version() > 0);
  CHECK(run_cells_version() == run_cells_version());
}

TEST_CASE("folded old runs are spans whose sides read exactly as the cells they fold") {
  // Pair p of endpoint e over days 0..11; day 3 is mostly errors (no evidence). Folding from
  // day 2 until day 10, with an event's time on day 6: cells before day 2 and from day 10 stay
  // whole, day 3 breaks the fold, and the cell of day 6 is folded with neither side of it.
  const dw::store::SampleKey base{0, "p", "v1", "e", 0, "m", std::nullopt};
  History whole, folded;
  std::vector<EndpointRun> runs;
  int64_t id = 100;
  for (int d = 0; d < 12; ++d) {
    for (int seq = 1; seq <= 3; ++seq) {
      dw::store::SampleRow row;
      row.id = id++;
      row.run_id = d + 1;
      row.run_at = day(d);
      row.key = base;
      row.key.run_id = d + 1;
      row.key.seq = seq;
      const char* verdict = d == 3 && seq > 1    ? "error"
                            : seq == 3 && d % 2 ? "refused"
                                                : "answered";
      // Coverages that are no sum of powers of two: a span's sum must still be exact.
      row.classification = dw::store::Classification{verdict, "[]", seq == 1 && d > 6,
                                                     std::optional<double>(1.0 / (seq + 2)), "t"};
      whole.add(row, nullptr);
    }
    for (EndpointRun& e : whole.cells_of({d + 1, day(d)})) runs.push_back(std::move(e));
  }
  Folding plan;
  plan.from = day(2);
  const PairKey key{"e", "p", "v1"};
  plan.until[key] = day(10);
  plan.cuts[key] = {day(6)};
  folded.fold(plan);
  for (EndpointRun& e : runs) folded.add(std::move(e));

  const auto& cells = folded.pairs().at(key).cells;
  std::vector<std::pair<Time, int>> shape;
  for (const Cell& c : cells) shape.emplace_back(c.run.at, c.runs);
  const std::vector<std::pair<Time, int>> expected = {
      {day(0), 1}, {day(1), 1}, {day(2), 1}, {day(3), 1}, {day(4), 2},
      {day(6), 1}, {day(7), 3}, {day(10), 1}, {day(11), 1}};
  CHECK(shape == expected);
  const Cell& span = cells[6];
  CHECK(span.last_at() == day(9));
  CHECK(std::vector<int64_t>(span.ids.begin(), span.ids.end()) ==
        std::vector<int64_t>{121, 122, 123, 124, 125, 126, 127, 128});  // the first eight
  CHECK(folded.cells_of({8, day(7)}).at(0).pairs.empty());  // a span is no run's summary
  CHECK(folded.cells_of({7, day(6)}).at(0).pairs.size() == 1);

  // Any side over the folded cells is the side over the whole ones: counts, runs, from, to,
  // coverage and the first sample ids.
  auto valid_from = [](const std::vector<Cell>& all, Time since, Time until) {
    Cells out;
    for (const Cell& c : all) {
      if (c.valid() && c.run.at >= since && c.last_at() < until) out.push_back(&c);
    }
    return out;
  };
  const auto& all = whole.pairs().at(key).cells;
  for (Time since : {day(0), day(2), day(4), day(6), day(7)}) {
    for (Time until : {day(6), day(7), day(10), day(12)}) {
      CAPTURE(dw::format_time(since));
      CAPTURE(dw::format_time(until));
      Cells a = valid_from(all, since, until), b = valid_from(cells, since, until);
      CHECK(side_json(a).dump() == side_json(b).dump());
      for (Measure m : {Measure::verdicts, Measure::narrative, Measure::coverage}) {
        CHECK(counts(m, a) == counts(m, b));
      }
    }
  }
  CHECK(side_json(valid_from(cells, day(7), day(10)))["runs"] == 3);
  CHECK(side_json(valid_from(cells, day(7), day(10)))["to"] == dw::format_time(day(9)));
}

TEST_CASE("old runs added as they are decoded are the runs decoded, then added") {
  // Two pairs (one a control) of endpoint e over 12 days, day 3 mostly errors for p; folded
  // from day 2 until day 10 with a cut on day 6. add_run_cells() gives the history that
  // decode_run_cells() and History::add give, spans and all; bytes that do not decode fail.
  std::unordered_map<int64_t, dw::store::ProbeKey> keys = {{1, {1, "c", "v1", true}},
                                                           {2, {2, "p", "v1", false}}};
  History whole;
  int64_t id = 100;
  for (int d = 0; d < 12; ++d) {
    for (const char* probe : {"c", "p"}) {
      for (int seq = 1; seq <= 3; ++seq) {
        dw::store::SampleRow row;
        row.id = id++;
        row.run_id = d + 1;
        row.run_at = day(d);
        row.key = {d + 1, probe, "v1", "e", seq, "m", std::nullopt};
        row.control = probe[0] == 'c';
        const char* verdict = d == 3 && seq > 1 && !row.control ? "error"
                              : seq == 3 && d % 2               ? "refused"
                                                                : "answered";
        row.classification = dw::store::Classification{verdict, "[]", seq == 1 && d > 6,
                                                       std::optional<double>(1.0 / (seq + 2)), "t"};
        whole.add(row, nullptr);
      }
    }
  }
  std::vector<std::string> bytes;
  for (int d = 0; d < 12; ++d) {
    for (const EndpointRun& e : whole.cells_of({d + 1, day(d)})) {
      bytes.push_back(encode_run_cells(e, {1, 2}));
    }
  }
  REQUIRE(bytes.size() == 12);
  Folding plan;
  plan.from = day(2);
  for (const char* probe : {"c", "p"}) plan.until[PairKey{"e", probe, "v1"}] = day(10);
  plan.cuts[PairKey{"e", "p", "v1"}] = {day(6)};
  History decoded, added;
  decoded.fold(plan);
  added.fold(plan);
  PairKeyPool pool_a, pool_b;
  for (int d = 0; d < 12; ++d) {
    auto run = decode_run_cells(bytes[d], "e", {d + 1, day(d)}, keys, true, &pool_a);
    REQUIRE(run);
    decoded.add(std::move(*run));
    REQUIRE(add_run_cells(bytes[d], "e", {d + 1, day(d)}, keys, pool_b, added));
  }
  REQUIRE(decoded.pairs().size() == 2);
  REQUIRE(added.pairs().size() == 2);
  for (const auto& [key, pair] : decoded.pairs()) {
    CAPTURE(key.probe_id);
    const auto& mine = added.pairs().at(key);
    CHECK(mine.control == pair.control);
    REQUIRE(mine.cells.size() == pair.cells.size());
    CHECK(pair.cells.size() < 12);  // something was folded
    for (size_t i = 0; i < pair.cells.size(); ++i) {
      const Cell &a = pair.cells[i], &b = mine.cells[i];
      CHECK(b.run.id == a.run.id);
      CHECK(b.runs == a.runs);
      CHECK(b.last_at() == a.last_at());
      CHECK(b.verdicts == a.verdicts);
      CHECK(b.errors == a.errors);
      CHECK(b.narrative == a.narrative);
      CHECK(b.coverage == a.coverage);
      CHECK(b.coverage_sum == a.coverage_sum);
      CHECK(b.ids == a.ids);
      CHECK(b.error_ids == a.error_ids);
    }
  }
  const auto& a = decoded.endpoints().at("e").cells;
  const auto& b = added.endpoints().at("e").cells;
  REQUIRE(a.size() == 12);
  REQUIRE(b.size() == 12);
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(b[i].samples == a[i].samples);
    CHECK(b[i].errors == a[i].errors);
    CHECK(b[i].models == a[i].models);
    CHECK(b[i].ids == a[i].ids);
    CHECK(a[i].control_probes == std::set<std::string>{"c"});
    CHECK(b[i].control_probes.empty());  // read of runs with texts only
  }

  History damaged;
  PairKeyPool pool;
  CHECK_FALSE(add_run_cells(bytes[0] + '\0', "e", {1, day(0)}, keys, pool, damaged));
  CHECK_FALSE(add_run_cells(bytes[0].substr(0, bytes[0].size() - 1), "e", {1, day(0)}, keys, pool,
                            damaged));
  PairKeyPool fresh;
  CHECK_FALSE(add_run_cells(bytes[0], "e", {1, day(0)}, {}, fresh, damaged));  // an unknown key
}

// One UTC day of four runs of pair p (mostly errors in the second run) and control c on
// endpoint e, each run's summary as stored: what a day's block is made of.
struct FourRuns {
  std::unordered_map<int64_t, dw::store::ProbeKey> keys = {{1, {1, "c", "v1", true}},
                                                           {2, {2, "p", "v1", false}}};
  std::map<std::pair<std::string, std::string>, int64_t> key_ids = {{{"c", "v1"}, 1},
                                                                    {{"p", "v1"}, 2}};
  std::vector<RunRef> runs;
  std::vector<std::string> bytes;  // by run

  FourRuns() {
    History rows;
    int64_t id = 100;
    for (int r = 0; r < 4; ++r) {
      runs.push_back({r + 1, day(3) + std::chrono::hours(5 * r)});
      for (const char* probe : {"c", "p"}) {
        for (int seq = 1; seq <= 3; ++seq) {
          dw::store::SampleRow row;
          row.id = id++;
          row.run_id = r + 1;
          row.run_at = runs.back().at;
          row.key = {r + 1, probe, "v1", "e", seq, "m", std::nullopt};
          row.control = probe[0] == 'c';
          const char* verdict = r == 1 && seq > 1 && !row.control ? "error"
                                : seq == 3 && r % 2             ? "refused"
                                                                : "answered";
          row.classification = dw::store::Classification{
              verdict, "[]", seq == 1, std::optional<double>(1.0 / (seq + r + 2)), "t"};
          rows.add(row, nullptr);
        }
      }
      for (const EndpointRun& e : rows.cells_of(runs.back())) {
        bytes.push_back(encode_run_cells(e, {1, 2}));
      }
    }
  }
  // The day's block, folded with the cuts given.
  std::string block(std::vector<Time> cuts = {}) const {
    History day;
    Folding all;
    all.from = Time::min();
    for (const char* probe : {"c", "p"}) all.until[PairKey{"e", probe, "v1"}] = Time::max();
    if (!cuts.empty()) all.cuts[PairKey{"e", "p", "v1"}] = cuts;
    day.fold(all);
    PairKeyPool pool;
    for (size_t r = 0; r < runs.size(); ++r) {
      REQUIRE(add_run_cells(bytes[r], "e", runs[r], keys, pool, day));
    }
    auto out = encode_day_block(runs, day, key_ids);
    REQUIRE(out);
    return *out;
  }
};

// Every cell of a history, in one line a pair or endpoint: what a detection reads of it.
std::string cells_text(const History& h) {
  std::ostringstream out;
  for (const auto& [key, pair] : h.pairs()) {
    out << key.probe_id << (pair.control ? " (control):" : ":");
    for (const Cell& c : pair.cells) {
      out << ' ' << c.run.id << 'x' << c.runs << '-' << dw::format_time(c.last_at()) << '/'
          << c.errors << '/' << c.narrative << '/' << c.coverage_sum;
      for (long v : c.verdicts) out << ',' << v;
      for (long v : c.coverage) out << ',' << v;
      for (int64_t i : c.ids) out << '.' << i;
      for (int64_t i : c.error_ids) out << ':' << i;
    }
    out << '\n';
  }
  for (const auto& [name, ep] : h.endpoints()) {
    for (const EndpointCell& c : ep.cells) {
      out << name << ' ' << c.run.id << ' ' << c.samples << '/' << c.errors;
      for (const auto& [m, n] : c.models) out << ' ' << m << '=' << n;
      for (int64_t i : c.ids) out << '.' << i;
      out << '\n';
    }
  }
  return out.str();
}

TEST_CASE("a day's block adds what its runs add one by one, where the folding would fold so") {
  const FourRuns day;
  // A folding that takes in the whole day, with one of p's event times before the day: every
  // valid run of the day is folded, the run in error breaks p's span.
  Folding plan;
  plan.from = day.runs.front().at - std::chrono::hours(1);
  plan.until[PairKey{"e", "p", "v1"}] = day.runs.back().at + std::chrono::hours(1);
  plan.until[PairKey{"e", "c", "v1"}] = day.runs.back().at + std::chrono::hours(1);
  plan.cuts[PairKey{"e", "p", "v1"}] = {day.runs.front().at - std::chrono::hours(2)};
  auto one_by_one = [&](const Folding& f) {
    History h;
    h.fold(f);
    PairKeyPool pool;
    for (size_t r = 0; r < day.runs.size(); ++r) {
      REQUIRE(add_run_cells(day.bytes[r], "e", day.runs[r], day.keys, pool, h));
    }
    return cells_text(h);
  };
  auto by_block = [&](const Folding& f, const std::string& bytes) -> std::optional<std::string> {
    History h;
    h.fold(f);
    PairKeyPool pool;
    auto index = read_day_block(bytes, day.keys, pool);
    REQUIRE(index);
    if (!block_fits(*index, h)) return std::nullopt;
    REQUIRE(add_day_block(bytes, *index, h));
    return cells_text(h);
  };
  const std::string block = day.block();
  const std::string expected = one_by_one(plan);
  CAPTURE(expected);
  CHECK(expected.rfind("c (control): 1x4-", 0) == 0);  // c's four runs in one span
  CHECK(expected.find("p: 1x1-") != std::string::npos);  // p's: 1, 2 (in error), 3-4
  CHECK(expected.find(" 3x2-") != std::string::npos);
  CHECK(by_block(plan, block) == expected);

  // A cut inside one of the block's spans: it does not fit. The block made with that cut (split
  // there) fits, and adds what the runs add.
  Folding cut = plan;
  cut.cuts[PairKey{"e", "p", "v1"}].push_back(day.runs[3].at);
  CHECK_FALSE(by_block(cut, block));
  CHECK(by_block(cut, day.block({day.runs[3].at})) == one_by_one(cut));
  // The block split at a cut the folding no longer has: its spans are folded together again.
  CHECK(by_block(plan, day.block({day.runs[3].at})) == expected);
  // A pair whose windows start inside the day, or a day not all inside the folding: no fit.
  Folding late = plan;
  late.until[PairKey{"e", "c", "v1"}] = day.runs[2].at;
  CHECK_FALSE(by_block(late, block));
  Folding after = plan;
  after.from = day.runs[1].at;
  CHECK_FALSE(by_block(after, block));
  // Pairs the folding has no plan for are not folded: no fit.
  Folding none = plan;
  none.until.erase(PairKey{"e", "c", "v1"});
  CHECK_FALSE(by_block(none, block));

  // Bytes that are not a block.
  PairKeyPool pool;
  CHECK_FALSE(read_day_block(block.substr(0, 20), day.keys, pool));
  CHECK_FALSE(read_day_block(block, {}, pool));  // a key the store lacks
  CHECK_FALSE(read_day_block("", day.keys, pool));
  auto index = read_day_block(block, day.keys, pool);
  REQUIRE(index);
  History h;
  h.fold(plan);
  CHECK_FALSE(add_day_block(block + '\0', *index, h));
  CHECK_FALSE(add_day_block(block.substr(0, block.size() - 1), *index, h));
  for (size_t n = 0; n < block.size(); ++n) {  // whatever a flipped byte gives, no crash
    for (unsigned char bit : {0x01, 0x40, 0x80}) {
      std::string bad = block;
      bad[n] = static_cast<char>(bad[n] ^ bit);
      PairKeyPool fresh;
      auto i = read_day_block(bad, day.keys, fresh);
      History into;
      into.fold(plan);
      if (i && block_fits(*i, into)) (void)add_day_block(bad, *i, into);
    }
  }
}

TEST_CASE("detections that read whole days from their blocks decide as those that read every run") {
  // Four runs a day and the default 30-day baseline: from about day 12 on, the runs before the
  // texts' window are folded, and whole days of them come from their blocks. A twin history
  // whose blocks are deleted before each detection reads them run by run.
  // One day's runs (99-102) classify nothing; u is edited at run 110, after which its first
  // version is decided no more.
  World with = eventful_world(), without = eventful_world();
  const EndpointGenerator a = eventful(3), b = eventful(3);
  Options o;
  for (World* w : {&with, &without}) w->runs_per_day(4);
  auto unclassified = [](World& w, int r) {
    auto run = w.store().begin_run(w.at(r), w.at(r));
    REQUIRE(run.ok());
    dw::providers::Sample sample;
    sample.http_status = 200;
    sample.text = "Not classified yet.";
    REQUIRE(w.store().add_sample({*run, "t", "v1", "e1", 1, "model-a", w.at(r)}, sample).ok());
    REQUIRE(w.store().finish_run(*run, w.at(r), RunStatus::complete).ok());
    return *run;
  };
  Summary last_with, last_without;
  long blocks_read = 0, weeks_read = 0;
  for (int r = 0; r < 150; ++r) {
    if (r == 110) {
      with.edit("u", "v2");
      without.edit("u", "v2");
    }
    if (r >= 99 && r <= 102) {
      REQUIRE(day_of(with.at(r)) == day_of(with.at(99)));
      unclassified(with, r);
      unclassified(without, r);
    } else {
      with.run_each(r, a, RunStatus::complete, false);
      without.run_each(r, b, RunStatus::complete, false);
    }
    query(without.db(), "DELETE FROM day_blocks");
    auto x = detect_run(with.store(), with.last_run(), o);
    auto y = detect_run(without.store(), without.last_run(), o);
    REQUIRE(x.ok());
    REQUIRE(y.ok());
    CHECK(x->day_blocks_read + 7 * x->week_blocks_read <= 20);
    CHECK(y->day_blocks_read + y->week_blocks_read == 0);
    CHECK(x->runs_read == y->runs_read);
    CHECK(x->pair_cells == y->pair_cells);  // the same cells: spans and all
    blocks_read += x->day_blocks_read + 7 * x->week_blocks_read;
    weeks_read += x->week_blocks_read;
    last_with = *x;
    last_without = *y;
  }
  // The days before u's edit too, two weeks of them from the weeks' blocks.
  CHECK(last_with.day_blocks_read + 7 * last_with.week_blocks_read >= 15);
  CHECK(last_with.week_blocks_read == 2);
  CHECK(blocks_read > 1000);
  CHECK(weeks_read > 100);
  CAPTURE(events_text(with.events()));
  CHECK(with.events().size() >= 5);
  CHECK(with_ids(with.events()) == with_ids(without.events()));
  CHECK(count(with.db(), "SELECT count(*) FROM day_blocks") >= 15);

  // A damaged week's block (2026-01-12, a Monday, is day 11): read the careful way, and
  // dropped (then made again).
  const std::string week = dw::format_time(day(11)).substr(0, 10);
  REQUIRE(week_start(day(11)) == day_start(day(11)));
  REQUIRE(count(with.db(), "SELECT count(*) FROM week_blocks WHERE week = '" + week + "'") == 1);
  query(with.db(), "UPDATE week_blocks SET data = data || x'00' WHERE week = '" + week + "'");
  for (int r = 150; r < 152; ++r) {
    with.run_each(r, a, RunStatus::complete, false);
    without.run_each(r, b, RunStatus::complete, false);
    auto x = detect_run(with.store(), with.last_run(), o);
    auto y = detect_run(without.store(), without.last_run(), o);
    REQUIRE(x.ok());
    REQUIRE(y.ok());
    CHECK(x->pair_cells == y->pair_cells);
    CHECK(count(with.db(), "SELECT count(*) FROM week_blocks WHERE week = '" + week + "'") ==
          (r == 150 ? 0 : 1));
  }
  CHECK(with_ids(with.events()) == with_ids(without.events()));

  // A verdict changed in a day of blocks drops its runs' summaries, and so its block. A run
  // added to a past day drops that day's block.
  const auto events = with.events();
  const int64_t blocks = count(with.db(), "SELECT count(*) FROM day_blocks");
  const std::string day10 = dw::format_time(day(10)).substr(0, 10);
  const std::string day11 = dw::format_time(day(11)).substr(0, 10);
  REQUIRE(count(with.db(), "SELECT count(*) FROM day_blocks WHERE day IN ('" + day10 + "', '" +
                               day11 + "')") == 2);
  query(with.db(), "UPDATE sample_rows SET verdict = 1 WHERE id = (SELECT min(s.id) FROM "
                   "sample_rows s JOIN runs r ON r.id = s.run_id WHERE r.run_at LIKE '" + day10 +
                   "%')");
  CHECK(count(with.db(), "SELECT count(*) FROM day_blocks WHERE day = '" + day10 + "'") == 0);
  // ... and a week's block goes with any of its days'.
  const int64_t weeks = count(with.db(), "SELECT count(*) FROM week_blocks");
  REQUIRE(count(with.db(), "SELECT count(*) FROM week_blocks WHERE week = '" + day11 + "'") == 1);
  REQUIRE(with.store().begin_run(day(11) + std::chrono::hours(1), day(160)).ok());
  CHECK(count(with.db(), "SELECT count(*) FROM day_blocks WHERE day = '" + day11 + "'") == 0);
  CHECK(count(with.db(), "SELECT count(*) FROM day_blocks") == blocks - 2);
  CHECK(count(with.db(), "SELECT count(*) FROM week_blocks WHERE week = '" + day11 + "'") == 0);
  CHECK(count(with.db(), "SELECT count(*) FROM week_blocks") == weeks - 1);

  // recompute_all rewrites every summary: no block stays, and the events are the same.
  auto all = recompute_all(without.store(), o);
  REQUIRE(all.ok());
  CHECK(without_ids(without.events()) == without_ids(events));
}

TEST_CASE("a day's block is stored only if its runs' summaries are still those it was made of") {
  // Blocks are made of the summaries a feed read, and stored with the detection's writes: a
  // summary another program rewrote meanwhile (reclassify, import) leaves its day without one.
  World w({"t", "u"}, {"c1"});
  w.runs_per_day(4);
  for (int r = 0; r < 60; ++r) w.run(r, [](const std::string&, int, int) { return Spec{}; });
  query(w.db(), "DELETE FROM day_blocks");
  RunSummaries summaries(w.store());
  FeatureCache cache(w.store());
  History h;
  Folding all;
  all.from = Time::min();
  h.fold(all);
  // Whole days 1-9 lie between the first run and run 40 (day 10, 06:00).
  REQUIRE(summaries.feed(h, w.at(0), w.at(60), w.at(40), cache, w.at(0)));
  query(w.db(), "UPDATE run_cells SET version = version + 1 WHERE run_id = (SELECT min(id) FROM "
                "runs WHERE run_at >= '" + dw::format_time(day(3)).substr(0, 10) + "')");
  auto tx = w.store().transaction();
  REQUIRE(tx.ok());
  REQUIRE(summaries.write_blocks());
  REQUIRE((*tx)->commit());
  CHECK(query(w.db(), "SELECT group_concat(substr(day, 9, 2), ' ') FROM day_blocks") ==
        "02 03 05 06 07 08 09 10\n");
}

TEST_CASE("a week's block is made of its days' blocks, and stored only if they still are") {
  World w({"t", "u"}, {"c1"});
  w.runs_per_day(4);
  for (int r = 0; r < 80; ++r) w.run(r, [](const std::string&, int, int) { return Spec{}; });
  query(w.db(), "DELETE FROM day_blocks");
  auto feed = [&](long& weeks_read) {
    RunSummaries summaries(w.store());
    FeatureCache cache(w.store());
    History h;
    Folding all;
    all.from = Time::min();
    h.fold(all);
    // Whole days 1-17 (2026-01-02 to 01-18) lie between the first run and run 72: the weeks
    // from Mondays 01-05 and 01-12 among them.
    REQUIRE(summaries.feed(h, w.at(0), w.at(80), w.at(72), cache, w.at(0)));
    weeks_read = summaries.weeks_read();
    return summaries;
  };
  auto write = [&](RunSummaries& summaries) {
    auto tx = w.store().transaction();
    REQUIRE(tx.ok());
    REQUIRE(summaries.write_blocks());
    REQUIRE((*tx)->commit());
  };
  long weeks_read = 0;
  auto first = feed(weeks_read);  // reads every run: makes the days' blocks
  write(first);
  CHECK(count(w.db(), "SELECT count(*) FROM day_blocks") == 17);
  CHECK(count(w.db(), "SELECT count(*) FROM week_blocks") == 0);
  auto second = feed(weeks_read);  // reads the days' blocks: makes the weeks'
  CHECK(weeks_read == 0);
  // Another program rewrote a block of the second week meanwhile (a detection of its own).
  query(w.db(), "CREATE TABLE kept AS SELECT data FROM day_blocks WHERE day = '2026-01-14'");
  query(w.db(), "UPDATE day_blocks SET data = data || x'00' WHERE day = '2026-01-14'");
  write(second);
  CHECK(query(w.db(), "SELECT group_concat(week, ' ') FROM week_blocks") == "2026-01-05\n");
  query(w.db(), "UPDATE day_blocks SET data = (SELECT data FROM kept) "
                "WHERE day = '2026-01-14'");  // as it was: it decodes again
  auto third = feed(weeks_read);  // the first week from its block, the second from its days'
  CHECK(weeks_read == 1);
  CHECK(third.blocks_read() == 10);  // 01-02 to 01-04 and 01-12 to 01-18
  write(third);
  CHECK(query(w.db(), "SELECT group_concat(week, ' ') FROM week_blocks") ==
        "2026-01-05 2026-01-12\n");

  // A week's block goes with any of its days' (Monday to Sunday), not with another week's:
  // deleted, written again or changed; and when a run is added to one of its days, which may
  // have no block (2026-01-19 to 01-25 have none here).
  auto weeks = [&] { return query(w.db(), "SELECT group_concat(week, ' ') FROM week_blocks"); };
  query(w.db(), "DELETE FROM day_blocks WHERE day = '2026-01-12'");
  CHECK(weeks() == "2026-01-05\n");
  query(w.db(), "DELETE FROM day_blocks WHERE day = '2026-01-11'");
  CHECK(count(w.db(), "SELECT count(*) FROM week_blocks") == 0);
  const std::string copy = "INSERT INTO week_blocks SELECT '2026-01-05', version, data FROM "
                           "day_blocks WHERE day = '2026-01-05'";
  query(w.db(), copy);
  query(w.db(), "INSERT OR REPLACE INTO day_blocks SELECT day, version, data FROM day_blocks "
                "WHERE day = '2026-01-07'");
  CHECK(count(w.db(), "SELECT count(*) FROM week_blocks") == 0);
  query(w.db(), copy);
  query(w.db(), "UPDATE day_blocks SET version = version WHERE day = '2026-01-10'");
  CHECK(count(w.db(), "SELECT count(*) FROM week_blocks") == 0);
  query(w.db(), copy + "; INSERT INTO week_blocks SELECT '2026-01-19', version, data FROM "
                       "week_blocks");
  REQUIRE(w.store().begin_run(*dw::parse_time("2026-01-25T23:00:00Z"), w.at(80)));
  CHECK(weeks() == "2026-01-05\n");
  CHECK(week_start(*dw::parse_time("2026-01-18T23:59:59Z")) ==
        *dw::parse_time("2026-01-12T00:00:00Z"));
  CHECK(week_start(*dw::parse_time("2026-01-19T00:00:00Z")) ==
        *dw::parse_time("2026-01-19T00:00:00Z"));
}

TEST_CASE("a week's block that no longer fits the folding is read as its days, and made again") {
  // The pairs folded up to run 72: the days' and weeks' blocks hold spans. A later detection
  // cuts t's cells between two days of the second week, at 21:00 on 01-13, after that day's
  // last run (18:00) and before the next day's first (00:00), as an event of t decided then
  // would: that week's block, one span across the cut, no longer fits; its days' do.
  World w({"t", "u"}, {"c1"});
  w.runs_per_day(4);
  for (int r = 0; r < 80; ++r) w.run(r, [](const std::string&, int, int) { return Spec{}; });
  query(w.db(), "DELETE FROM day_blocks");
  Folding plan;
  plan.from = Time::min();
  for (const char* probe : {"t", "u", "c1"}) plan.until[PairKey{"e1", probe, "v1"}] = w.at(72);
  Folding cut = plan;
  cut.cuts[PairKey{"e1", "t", "v1"}] = {*dw::parse_time("2026-01-13T21:00:00Z")};
  struct Read {
    long days, weeks;
    std::string cells;
  };
  auto feed = [&](const Folding& folding) {
    RunSummaries summaries(w.store());
    FeatureCache cache(w.store());
    History h;
    h.fold(folding);
    REQUIRE(summaries.feed(h, w.at(0), w.at(80), w.at(72), cache, w.at(0)));
    auto tx = w.store().transaction();
    REQUIRE(tx.ok());
    REQUIRE(summaries.write_blocks());
    REQUIRE((*tx)->commit());
    return Read{summaries.blocks_read(), summaries.weeks_read(), cells_text(h)};
  };
  auto weeks = [&] { return query(w.db(), "SELECT group_concat(week, ' ') FROM week_blocks"); };
  feed(plan);  // makes the days' blocks
  feed(plan);  // ... and the weeks'
  REQUIRE(weeks() == "2026-01-05 2026-01-12\n");
  const Read whole = feed(plan);
  CHECK(whole.weeks == 2);
  CHECK(whole.days == 3);  // 01-02 to 01-04
  CHECK(whole.cells.find("x72-") != std::string::npos);  // every run before 72 in one span

  const std::string stored = query(w.db(), "SELECT hex(data) FROM week_blocks WHERE week = "
                                           "'2026-01-12'");
  const Read split = feed(cut);
  CHECK(split.weeks == 1);
  CHECK(split.days == 10);  // 01-02 to 01-04 and the second week's seven
  // t's runs in two spans, split at the cut; u's and c1's in one as before.
  auto line_of = [](const std::string& cells, const std::string& probe) {
    const size_t at = cells.find(probe + ":");
    REQUIRE(at != std::string::npos);
    return cells.substr(at, cells.find('\n', at) - at);
  };
  const std::string t_whole = line_of(whole.cells, "t"), t_split = line_of(split.cells, "t");
  CHECK(t_whole.find("x72-") != std::string::npos);
  CHECK(t_split.find("x72-") == std::string::npos);
  CHECK(std::count(t_split.begin(), t_split.end(), ' ') ==
        std::count(t_whole.begin(), t_whole.end(), ' ') + 1);
  CHECK(line_of(split.cells, "u") == line_of(whole.cells, "u"));
  // Made again, split at the cut: read as a week again, giving what its days gave.
  CHECK(weeks() == "2026-01-05 2026-01-12\n");
  CHECK(query(w.db(), "SELECT hex(data) FROM week_blocks WHERE week = '2026-01-12'") != stored);
  const Read again = feed(cut);
  CHECK(again.weeks == 2);
  CHECK(again.days == 3);
  CHECK(again.cells == split.cells);
  // The split week still fits the folding without the cut: its spans of t are folded together
  // again, giving what the whole week gave.
  const Read back = feed(plan);
  CHECK(back.weeks == 2);
  CHECK(back.cells == whole.cells);
  // The reads with the cut are what the runs give read one by one.
  query(w.db(), "DELETE FROM day_blocks");
  const Read runs = feed(cut);
  CHECK(runs.weeks + runs.days == 0);
  CHECK(runs.cells == split.cells);
}

TEST_CASE("prune drops the signatures of runs before the texts' horizon") {
  // recompute_all holds two baseline windows of cells but texts of only the last runs: the
  // signatures of every run were 128 bytes an answer.
  History h;
  dw::drift::AnswerFeatures features;
  dw::store::SampleRow row;
  for (int run = 1; run <= 3; ++run) {
    row.run_id = run;
    row.run_at = day(run);
    for (int seq = 1; seq <= 3; ++seq) {
      row.id = run * 10 + seq;
      row.key = {run, "a", "v1", "e", seq, "m", std::nullopt};
      row.classification = dw::store::Classification{"answered", "[]", false, 1.0, "t"};
      h.add(row, &features);
    }
  }
  h.prune(day(1), day(3));
  const auto& cells = h.pairs().begin()->second.cells;
  REQUIRE(cells.size() == 3);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(!cells[i].texts);
    CHECK(cells[i].answered.empty());
    CHECK(cells[i].answered.get().empty());
  }
  CHECK(cells[2].answered.size() == 3);
}

TEST_CASE("detect_run after each run and recompute_all agree, summaries byte for byte") {
  // 100 daily runs with a 60-day baseline: from day 40 on, detection reads the oldest runs of
  // its window from their summaries; recompute_all counts every run from its samples.
  World w = eventful_world();
  auto gen = eventful(21);
  long rebuilt = 0;
  Summary last;
  for (int d = 0; d < 100; ++d) {
    last = w.run_each(d, gen);
    rebuilt += last.summaries_rebuilt;
  }
  CHECK(rebuilt == 0);  // each run was summarised when it was decided
  // The texts of the last 40 runs, the signatures of those the decisions compared (the
  // similarity baselines' 10 runs and the 3 recent ones, further back only past cells that are
  // not evidence): 39 runs' from their summaries, the run's own from its samples.
  CHECK(last.text_runs_read == 2 * 39);
  CHECK(last.signature_runs_read > 0);
  CHECK(last.signature_runs_read <= 2 * 15);
  // 10 pairs, 62 runs of a 60-day baseline: those before the texts' window are folded.
  CHECK(last.pair_runs_read == 62);
  CHECK(last.pair_cells > 10 * 40);
  CHECK(last.pair_cells < 10 * 50);
  auto run_by_run = w.events();
  CAPTURE(events_text(run_by_run));
  std::set<std::string> types;
  for (const Event& e : run_by_run) types.insert(e.type);
  // Decisions of several kinds, over baselines read partly from summaries.
  CHECK(types.count(std::string(kVerdictShift)) == 1);
  CHECK(types.count(std::string(kNarrativeShift)) == 1);
  CHECK(types.count(std::string(kEndpointHealth)) == 1);
  CHECK(types.count(std::string(kModelChange)) == 1);
  CHECK(count(w.db(), "SELECT count(*) FROM run_cells") == 200);  // every run x endpoint
  CHECK(count(w.db(), "SELECT count(DISTINCT version) FROM run_cells") == 1);
  CHECK(count(w.db(), "SELECT max(version) FROM run_cells") == run_cells_version());
  MESSAGE("bytes per pair-run: "
          << count(w.db(), "SELECT sum(length(data)) FROM run_cells") / (100 * 2 * 5));
  const std::string summaries =
      query(w.db(), "SELECT run_id, endpoint, version, hex(data) FROM run_cells ORDER BY 1, 2");
  // The answers of the last 40 runs are kept in their summaries' texts' part, no older ones.
  CHECK(count(w.db(), "SELECT count(DISTINCT run_id) FROM run_texts") == 40);
  CHECK(count(w.db(), "SELECT count(*) FROM run_texts") == 80);
  CHECK(count(w.db(), "SELECT min(run_id) FROM run_texts") ==
        count(w.db(), "SELECT id FROM runs ORDER BY run_at DESC LIMIT 1 OFFSET 39"));
  CHECK(count(w.db(), "SELECT max(version) = min(version) FROM run_texts") == 1);
  CHECK(count(w.db(), "SELECT max(version) FROM run_texts") == run_texts_version());
  const std::string texts =
      query(w.db(), "SELECT run_id, endpoint, version, hex(data), hex(signatures) FROM run_texts "
                    "ORDER BY 1, 2");

  // Neither path writes features (the summaries hold what detection reads again): an import
  // of a million samples once wrote a third of a gigabyte of them, then deleted it.
  CHECK(count(w.db(), "SELECT count(*) FROM text_features") == 0);
  auto rebuilt_all = recompute_all(w.store(), w.options());
  REQUIRE_MESSAGE(rebuilt_all.ok(), (rebuilt_all.ok() ? "" : rebuilt_all.error().to_string()));
  CHECK(count(w.db(), "SELECT count(*) FROM text_features") == 0);
  CHECK(without_ids(w.events()) == without_ids(run_by_run));
  CHECK(query(w.db(), "SELECT run_id, endpoint, version, hex(data) FROM run_cells ORDER BY 1, 2") ==
        summaries);
  CHECK(query(w.db(), "SELECT run_id, endpoint, version, hex(data), hex(signatures) FROM "
                      "run_texts ORDER BY 1, 2") == texts);
}

TEST_CASE("detect_run reads old runs from their summaries, not from their samples") {
  // Two identical histories; in the second, the samples of every run older than the texts'
  // window are deleted before day 80. t refuses from day 80: its baseline reaches back 60
  // days, to day 20. Read from the samples, the second baseline would start at day 41.
  auto refusing = [](unsigned seed) -> EndpointGenerator {  // one per history: it draws
    return [gen = eventful(seed)](const std::string& ep, const std::string& p, int d, int seq) {
      if (p == "t" && d >= 80) return say("refused", kRefusal);
      return gen(ep, p, d < 45 ? d : 45 + d % 2, seq);  // quiet after day 45
    };
  };
  const EndpointGenerator kept_gen = refusing(5), cut_gen = refusing(5);
  World kept = eventful_world(), cut = eventful_world();
  for (int d = 0; d < 80; ++d) {
    kept.run_each(d, kept_gen);
    cut.run_each(d, cut_gen);
  }
  REQUIRE(with_ids(cut.events()) == with_ids(kept.events()));
  int64_t gone = count(cut.db(), "SELECT count(*) FROM samples WHERE run_id IN (SELECT id FROM "
                                 "runs WHERE run_at < '" + dw::format_time(day(41)) + "')");
  CHECK(gone == 41 * 2 * 5 * 3);
  query(cut.db(), "DELETE FROM " + sample_table(cut.db()) +
                      " WHERE run_id IN (SELECT id FROM runs WHERE run_at < '" +
                      dw::format_time(day(41)) + "')");
  REQUIRE(count(cut.db(), "SELECT count(*) FROM samples WHERE run_id IN (SELECT id FROM runs "
                          "WHERE run_at < '" + dw::format_time(day(41)) + "')") == 0);

  Summary k = kept.run_each(80, kept_gen);
  Summary c = cut.run_each(80, cut_gen);
  CHECK(c.opened == k.opened);
  CHECK(c.summaries_rebuilt == 0);
  CAPTURE(events_text(kept.events()));
  CHECK(with_ids(cut.events()) == with_ids(kept.events()));
  // The test means something: the shift's baseline reaches into the deleted runs.
  bool found = false;
  for (const Event& e : cut.events()) {
    if (e.type != kVerdictShift || e.probe_id != "t" || e.detected_at != day(80)) continue;
    found = true;
    auto before = nlohmann::json::parse(e.before_json);
    CHECK(before["from"] == dw::format_time(day(20)));
    CHECK(before["samples"] == 60 * 3);
  }
  CHECK(found);
}

TEST_CASE("detect_run reads pairs' counts only as far back as its decisions reach") {
  // A 60-day baseline, a run a day, 3 recent runs: a pair's windows start at most 2 runs back,
  // so its counts older than 62 days are never read, though the events are read for 120 days
  // (2 x baseline). t refuses from day 125: its baseline is exactly the 60 days before.
  // s is in error (no evidence) from day 80: its recent windows reach back to day 78 and 79,
  // past the runs whose texts are read, so its baselines reach back 120 days from day 125.
  World w({"t", "s"}, {"c1"}, long_baseline());
  auto gen = [](const std::string& p, int d, int) -> Spec {
    if (p == "t" && d >= 125) return say("refused", kRefusal);
    if (p == "s" && d >= 80 && d < 125) return say("error");
    if (p == "s" && d >= 125) return say("deflected", kCanned);
    return Spec{};
  };
  std::vector<long> read, any;
  for (int d = 0; d < 127; ++d) {
    Summary r = w.run(d, gen);
    read.push_back(r.pair_runs_read);
    any.push_back(r.runs_read);
  }
  const auto run_by_run = w.events();
  CAPTURE(events_text(run_by_run));
  CHECK(read[50] == 50);  // a young history: every earlier run
  // Before s's error days reach the recent windows: the 62 runs from day d - 62.
  CHECK(read[70] == 62);
  // The endpoint's health windows also start at most 2 runs back: its counts are read as far
  // as the pairs', not 2 x baseline (70 runs at day 70, 120 from day 120).
  CHECK(any[50] == 50);
  CHECK(any[70] == 62);
  CHECK(any[120] == read[120]);
  CHECK(read[79] == 62);
  CHECK(read[120] == 120);  // s's windows start at day 78 or 79: every run of the 120 days
  bool t_found = false, s_found = false;
  for (const Event& e : run_by_run) {
    auto before = nlohmann::json::parse(e.before_json);
    if (e.type == kVerdictShift && e.probe_id == "t") {
      t_found = true;
      CHECK(e.detected_at == day(125));
      CHECK(before["from"] == dw::format_time(day(65)));
      CHECK(before["samples"] == 60 * 3);
    }
    if (e.type == kVerdictShift && e.probe_id == "s") s_found = true;
  }
  CHECK(t_found);
  CHECK(s_found);
  auto rebuilt = recompute_all(w.store(), w.options());
  REQUIRE_MESSAGE(rebuilt.ok(), (rebuilt.ok() ? "" : rebuilt.error().to_string()));
  CHECK(without_ids(w.events()) == without_ids(run_by_run));
}

TEST_CASE("missing, outdated or unreadable summaries are rebuilt from the samples") {
  // An upgraded database has no summaries: the first detection counts the runs its decisions
  // reach (62 of a 60-day baseline) from their samples and stores their summaries. Summaries of another version or that do not
  // decode, and texts' parts that are lost, are rebuilt alike. Decisions never change: a twin
  // history that kept its summaries agrees.
  const EndpointGenerator gen = eventful(9), twin = eventful(9);  // one per history
  World kept = eventful_world(), lost = eventful_world();
  for (int d = 0; d < 70; ++d) {
    kept.run_each(d, gen);
    lost.run_each(d, twin);
  }
  query(lost.db(), "DELETE FROM run_cells");
  auto same = [&] { CHECK(with_ids(lost.events()) == with_ids(kept.events())); };

  CHECK(kept.run_each(70, gen).summaries_rebuilt == 0);
  CHECK(lost.run_each(70, twin).summaries_rebuilt == 62);  // days 8-69
  same();
  CHECK(count(lost.db(), "SELECT count(DISTINCT run_id) FROM run_cells") == 63);
  kept.run_each(71, gen);
  CHECK(lost.run_each(71, twin).summaries_rebuilt == 0);
  same();

  query(lost.db(), "UPDATE run_cells SET version = version + 1 WHERE run_id IN (SELECT id FROM "
                   "runs WHERE run_at >= '" + dw::format_time(day(20)) + "' AND run_at < '" +
                   dw::format_time(day(23)) + "')");
  query(lost.db(), "UPDATE run_cells SET data = x'00ff' WHERE run_id IN (SELECT id FROM runs "
                   "WHERE run_at = '" + dw::format_time(day(10)) + "')");
  // Whole pairs and a byte too many: found only once the pairs were added (old runs' are added
  // as they are decoded), so the detection must read its old runs again.
  query(lost.db(), "UPDATE run_cells SET data = data || x'00' WHERE run_id IN (SELECT id FROM "
                   "runs WHERE run_at = '" + dw::format_time(day(15)) + "')");
  // The texts of two runs of the window lost, of one more unreadable.
  query(lost.db(), "DELETE FROM run_texts WHERE run_id IN (SELECT id FROM runs WHERE run_at IN ('" +
                       dw::format_time(day(40)) + "', '" + dw::format_time(day(50)) + "'))");
  query(lost.db(), "UPDATE run_texts SET data = x'01' WHERE run_id IN (SELECT id FROM runs "
                   "WHERE run_at = '" + dw::format_time(day(60)) + "')");
  // What a feed of the old runs adds is the same, damaged rows or not: counted again from the
  // samples, never added twice (day 15's pairs were added before its last byte failed).
  auto old_cells = [](World& w) {
    RunSummaries summaries(w.store());
    FeatureCache cache(w.store());
    History h;
    REQUIRE(summaries.feed(h, day(5), day(33), day(33), cache, day(5)));
    CHECK(summaries.pairs_decoded() + summaries.counted() == 28);
    std::ostringstream out;
    for (const auto& [key, pair] : h.pairs()) {
      out << key.endpoint << ' ' << key.probe_id << ':';
      for (const Cell& c : pair.cells) {
        out << ' ' << c.run.id << '/' << c.errors << '/' << c.narrative;
        for (long v : c.verdicts) out << ',' << v;
        for (int64_t i : c.ids) out << '.' << i;
      }
      out << '\n';
    }
    return out.str();
  };
  CHECK(old_cells(lost) == old_cells(kept));
  kept.run_each(72, gen);
  // Days 20-22, 10, 15; 40, 50, 60.
  CHECK(lost.run_each(72, twin).summaries_rebuilt == 3 + 1 + 1 + 3);
  same();
  const std::string texts =
      "SELECT run_id, endpoint, version, hex(data), hex(signatures) FROM run_texts ORDER BY 1, 2";
  CHECK(count(lost.db(), "SELECT count(*) FROM run_texts") == 80);
  CHECK(query(lost.db(), texts) == query(kept.db(), texts));
  // What was rebuilt is what was kept, byte for byte.
  auto lines = [](const std::string& text) {
    std::set<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.insert(line);
    return out;
  };
  const std::string sql = "SELECT run_id, endpoint, version, hex(data) FROM run_cells";
  std::set<std::string> rebuilt = lines(query(lost.db(), sql)), all = lines(query(kept.db(), sql));
  CHECK(rebuilt.size() == 2 * 65);  // days 8-72, two endpoints
  for (const std::string& row : rebuilt) CHECK_MESSAGE(all.count(row) == 1, row);
}

TEST_CASE("a changed verdict drops its run's summary; removing samples does not") {
  World w({"t", "u"});
  auto gen = with([](const std::string&, int, int) { return std::nullopt; });
  w.days(0, 6, gen);
  auto id_of_day = [&](int d) {
    return count(w.db(), "SELECT id FROM runs WHERE run_at = '" + dw::format_time(day(d)) + "'");
  };
  auto rows_of = [&](int d) {
    return count(w.db(), "SELECT count(*) FROM run_cells WHERE run_id = " + std::to_string(id_of_day(d)));
  };
  for (int d = 0; d < 6; ++d) REQUIRE(rows_of(d) == 1);
  auto sample_of = [&](int d) {
    return count(w.db(), "SELECT min(id) FROM samples WHERE run_id = " + std::to_string(id_of_day(d)));
  };
  // The same classification again changes nothing; another verdict drops the run's rows.
  dw::store::Classification same{"answered", "[]", false, std::nullopt, "t"};
  REQUIRE(w.store().set_classification(sample_of(2), same).ok());
  REQUIRE(w.store().flush().ok());
  CHECK(rows_of(2) == 1);
  REQUIRE(w.store().set_classification(sample_of(2), {"refused", "[]", false, std::nullopt, "t"}).ok());
  REQUIRE(w.store().flush().ok());
  CHECK(rows_of(2) == 0);
  CHECK(rows_of(1) == 1);
  CHECK(rows_of(3) == 1);
  // So does a judgement that now applies to a sample.
  std::string hash = query(w.db(), "SELECT response_hash FROM samples WHERE id = " +
                                       std::to_string(sample_of(3)));
  hash.pop_back();  // the newline
  auto judgement = w.store().add_judgement(hash, {"refused", "why", "judge", "judge-1", day(3)});
  REQUIRE(judgement.ok());
  REQUIRE(w.store().link_judgement(sample_of(3), *judgement).ok());
  REQUIRE(w.store().flush().ok());
  CHECK(rows_of(3) == 0);

  // recompute_all writes them again; samples removed (retention) leave a summary as it was.
  REQUIRE(recompute_all(w.store(), w.options()).ok());
  for (int d = 0; d < 6; ++d) CHECK(rows_of(d) == 1);
  const std::string day0 = query(w.db(), "SELECT hex(data) FROM run_cells WHERE run_id = " +
                                             std::to_string(id_of_day(0)));
  query(w.db(), "DELETE FROM " + sample_table(w.db()) + " WHERE run_id = " +
                    std::to_string(id_of_day(0)));
  REQUIRE(recompute_all(w.store(), w.options()).ok());
  CHECK(query(w.db(), "SELECT hex(data) FROM run_cells WHERE run_id = " +
                          std::to_string(id_of_day(0))) == day0);
}

TEST_CASE("a run that counted nothing is summarised as such, and not rebuilt") {
  // Day 2's run stored its samples but classified none: nothing of it counts. Its summary is
  // one marker row, read back as "nothing" once it is older than the texts' window.
  World w({"t", "u"});
  auto gen = with([](const std::string&, int, int) { return std::nullopt; });
  w.days(0, 2, gen);
  auto run = w.store().begin_run(day(2), day(2));
  REQUIRE(run.ok());
  dw::providers::Sample sample;
  sample.http_status = 200;
  sample.text = "Not classified yet.";
  REQUIRE(w.store().add_sample({*run, "t", "v1", "e1", 1, "model-a", day(2)}, sample).ok());
  REQUIRE(w.store().finish_run(*run, day(2), RunStatus::complete).ok());
  auto nothing = detect_run(w.store(), *run, w.options());
  REQUIRE(nothing.ok());
  CHECK(query(w.db(), "SELECT endpoint, length(data) FROM run_cells WHERE run_id = " +
                          std::to_string(*run)) == "|0\n");
  long rebuilt = 0;
  for (int d = 3; d < 50; ++d) rebuilt += w.run(d, gen).summaries_rebuilt;
  CHECK(rebuilt == 0);
  CHECK(count(w.db(), "SELECT count(*) FROM run_cells") == 50);
}

TEST_CASE("list_runs: newest or oldest first, bounded, without counting samples") {
  World w({"t"});
  auto gen = with([](const std::string&, int, int) { return std::nullopt; });
  w.days(0, 5, gen);
  auto list = [&](const dw::store::RunQuery& q) {
    std::vector<Time> at;
    REQUIRE(w.store().list_runs(q, [&](const dw::store::RunInfo& r) {
      at.push_back(r.run_at);
      CHECK(r.samples == 0);
      CHECK(r.status == RunStatus::complete);
      return true;
    }).ok());
    return at;
  };
  CHECK(list({}) == std::vector<Time>{day(0), day(1), day(2), day(3), day(4)});
  CHECK(list({.newest_first = true, .limit = 2}) == std::vector<Time>{day(4), day(3)});
  CHECK(list({.since = day(1), .until = day(3)}) == std::vector<Time>{day(1), day(2)});
  CHECK(list({.since = day(1), .until = day(4), .newest_first = true}) ==
        std::vector<Time>{day(3), day(2), day(1)});
}

TEST_CASE("after retention, recompute_all keeps the events of runs without samples and counts "
          "them from their summaries") {
  World w = eventful_world();
  auto gen = eventful(21);
  for (int d = 0; d < 100; ++d) w.run_each(d, gen);
  const auto before = w.events();
  REQUIRE_FALSE(before.empty());
  // Retention up to the day after the first event: the samples of the days before it go.
  dw::Time cut = before.front().detected_at;
  for (const Event& e : before) cut = std::min(cut, e.detected_at);
  cut += std::chrono::days(1);
  REQUIRE(cut < dw::test::day(90));
  for (;;) {
    auto removed = w.store().remove_samples_before(cut, 100000);
    REQUIRE(removed.ok());
    if (removed->samples < 100000) break;
  }
  CHECK(count(w.db(), "SELECT count(*) FROM samples s JOIN runs r ON r.id = s.run_id WHERE "
                      "r.run_at < '" + dw::format_time(cut) + "'") == 0);
  auto again = recompute_all(w.store(), w.options());
  REQUIRE_MESSAGE(again.ok(), (again.ok() ? "" : again.error().to_string()));
  auto after = w.events();
  // The events of days without samples are kept as they were, ids and all.
  auto early = [&](const std::vector<Event>& events) {
    std::vector<Event> out;
    for (const Event& e : events) {
      if (e.detected_at < cut) out.push_back(e);
    }
    return out;
  };
  REQUIRE_FALSE(early(before).empty());
  CHECK(with_ids(early(after)) == with_ids(early(before)));
  // And a second recompute over the same history decides as the first.
  auto twice = recompute_all(w.store(), w.options());
  REQUIRE(twice.ok());
  CHECK(without_ids(w.events()) == without_ids(after));
}

TEST_CASE("retention inside the texts' window: detect_run counts runs without samples from "
          "their summaries, as recompute_all does") {
  World w = eventful_world();
  auto gen = eventful(23);
  for (int d = 0; d < 70; ++d) w.run_each(d, gen);
  // keep = 25 days: the samples (and texts) of days 0-44 go, days 31-44 of the last 40 runs too.
  for (;;) {
    auto removed = w.store().remove_samples_before(day(45), 100000);
    REQUIRE(removed.ok());
    if (removed->samples < 100000) break;
  }
  CHECK(count(w.db(), "SELECT count(*) FROM run_texts t JOIN runs r ON r.id = t.run_id WHERE "
                      "r.run_at < '" + dw::format_time(day(45)) + "'") == 0);
  History history;
  FeatureCache cache(w.store());
  RunSummaries summaries(w.store());
  REQUIRE(summaries.feed(history, day(0), day(70), day(31), cache).ok());
  const int64_t day40 = count(w.db(), "SELECT id FROM runs WHERE run_at = '" +
                                          dw::format_time(day(40)) + "'");
  const auto cells = history.cells_of({day40, day(40)});
  CHECK(cells.size() == 2);  // both endpoints, counts without texts
  CHECK(history.texts_of({day40, day(40)}).empty());

  for (int d = 70; d < 76; ++d) w.run_each(d, gen);
  const auto incremental = w.events();
  auto again = recompute_all(w.store(), w.options());
  REQUIRE_MESSAGE(again.ok(), (again.ok() ? "" : again.error().to_string()));
  CHECK(without_ids(w.events()) == without_ids(incremental));
}

TEST_CASE("a run's signatures are read from its summary when first compared; a read that "
          "fails is kept, damaged ones at rest are never used") {
  World w = eventful_world();
  auto gen = eventful(29);
  for (int d = 0; d < 50; ++d) w.run_each(d, gen);
  auto run_of = [&](int d) {
    return count(w.db(), "SELECT id FROM runs WHERE run_at = '" + dw::format_time(day(d)) + "'");
  };
  History history;
  FeatureCache cache(w.store());
  RunSummaries summaries(w.store());
  REQUIRE(summaries.feed(history, day(0), day(50), day(10), cache).ok());
  CHECK(summaries.text_runs_read() == 2 * 40);
  CHECK(summaries.signatures_read() == 0);  // the texts, not their signatures

  // A cell's signatures, read on first use, are its answers' (as their texts give them).
  const int64_t run45 = run_of(45);
  const auto& [key, pair] = *history.pairs().begin();
  auto cell = std::find_if(pair.cells.begin(), pair.cells.end(),
                           [&](const Cell& c) { return c.run.id == run45; });
  REQUIRE(cell != pair.cells.end());
  REQUIRE(cell->texts);
  REQUIRE(cell->answered.size() > 0);
  std::vector<Signature> truth;
  auto filter = cache.filter({.endpoint = key.endpoint, .probe_id = key.probe_id,
                              .run_id = run45, .with_details = false});
  REQUIRE(w.store()
              .for_each_sample(filter,
                               [&](const dw::store::SampleRow& row) {
                                 auto f = cache.of(row);
                                 REQUIRE(f.ok());
                                 if (row.classification->verdict == "answered") {
                                   truth.push_back((*f)->signature);
                                 }
                                 return true;
                               })
              .ok());
  const auto held = cell->answered.get();
  CHECK(std::vector<Signature>(held.begin(), held.end()) == truth);
  CHECK(summaries.signatures_read() == 1);  // that endpoint's run, once
  CHECK(summaries.signatures_status().ok());

  // Signatures changed under the reader (outside the transaction a detection reads in): none
  // given, and the failure kept.
  const int64_t run44 = run_of(44);
  query(w.db(), "UPDATE run_texts SET signatures = x'00' WHERE run_id = " + std::to_string(run44));
  auto damaged = std::find_if(pair.cells.begin(), pair.cells.end(),
                              [&](const Cell& c) { return c.run.id == run44; });
  REQUIRE(damaged != pair.cells.end());
  REQUIRE(damaged->answered.size() > 0);
  CHECK(damaged->answered.get().empty());
  REQUIRE_FALSE(summaries.signatures_status().ok());
  CHECK(summaries.signatures_status().error().to_string().find("changed while detection") !=
        std::string::npos);

  // At rest, signatures that are not the answers counted (a damaged row) are never used: the
  // detection counts that run from its samples, and stores its summary again. Not a whole
  // number of signatures; one more than the answers; text of the right length in characters.
  const std::string damaged_rows = "SELECT run_id, endpoint, typeof(signatures), "
                                   "hex(signatures) FROM run_texts WHERE run_id BETWEEN " +
                                   std::to_string(run_of(45)) + " AND " +
                                   std::to_string(run_of(49)) + " ORDER BY 1, 2";
  const std::string good = query(w.db(), damaged_rows);
  auto damage = [&](int d, const std::string& value) {
    query(w.db(), "UPDATE run_texts SET signatures = " + value +
                      " WHERE run_id = " + std::to_string(run_of(d)));
  };
  damage(47, "x'0000'");
  damage(48, "signatures || zeroblob(128)");
  // As many characters as it had bytes, each two bytes long.
  damage(49, "CAST(replace(hex(zeroblob(length(signatures))), '00', '\xc3\xa9') AS TEXT)");
  CHECK(count(w.db(), "SELECT count(*) FROM run_texts WHERE typeof(signatures) = 'text' AND "
                      "length(signatures) % 128 = 0 AND length(signatures) > 0") == 2);
  CHECK(w.run_each(50, gen).summaries_rebuilt == 4);  // with run 44's, damaged above
  CHECK(query(w.db(), damaged_rows) == good);
}

TEST_CASE("the texts' part never decodes from bytes that do not hold it") {
  EndpointRun counts;
  counts.endpoint = "e";
  PairRun& p = counts.pairs.emplace_back();
  p.key = std::make_shared<const PairKey>(PairKey{"e", "a", "v"});
  p.cell.verdicts = {1L << 30, 0, 0, 0};  // a damaged count: nothing is allocated for it
  CHECK_FALSE(decode_run_texts("", counts, signatures_of("")).has_value());
  CHECK_FALSE(decode_run_texts(std::string(4096, '\0'), counts, signatures_of("")).has_value());
  CHECK_FALSE(
      decode_run_texts("", counts, signatures_of(std::string(4096, '\0'))).has_value());
  // A use naming a probe that shared no text, and one that is fine.
  p.cell.verdicts = {0, 0, 1, 0};
  EndpointTexts texts = one_shared_text({"a"}, {5});
  auto encoded = encode_run_texts(counts, texts);
  REQUIRE(encoded.has_value());
  CHECK(encoded->signatures.empty());  // nothing answered
  const std::string* bytes = &encoded->data;
  auto back = decode_run_texts(*bytes, counts, signatures_of(""));
  REQUIRE(back.has_value());
  auto found = back->uses.find(std::string(64, 'a'));
  REQUIRE(found.has_value());
  CHECK(found->response_hash.empty());  // not stored: only the run being decided quotes it
  CHECK(found->ids == SampleIds{5});
  CHECK(found->probes == std::set<std::string>{"a"});
  CHECK_FALSE(back->uses.contains(std::string(64, 'c')));
  CHECK(back->uses.all().size() == 1);
  for (size_t cut = 0; cut < bytes->size(); ++cut) {
    CHECK_FALSE(decode_run_texts(bytes->substr(0, cut), counts, signatures_of("")).has_value());
  }
  // Read with counts in which "a" shared no text, the use names a probe out of range.
  EndpointRun refused = counts;
  refused.pairs[0].cell.verdicts = {0, 1, 0, 0};
  CHECK_FALSE(decode_run_texts(*bytes, refused, signatures_of("")).has_value());
  // Signatures of another count than the answers counted.
  CHECK_FALSE(decode_run_texts(*bytes, counts, signatures_of(std::string(128, 'x'))).has_value());
  // A probe none of the pairs shares a text for is never written.
  CHECK_FALSE(encode_run_texts(counts, one_shared_text({"z"}, {5})).has_value());
}

TEST_CASE("shared texts name their probes by index among the probes that answered or deflected") {
  EndpointRun counts;
  counts.endpoint = "e";
  // "b" refused only: it shares no text, so "c" is the second of the sharing probes.
  for (const auto& [probe, verdicts] : std::vector<std::pair<std::string, std::array<long, 4>>>{
           {"a", {0, 0, 1, 0}}, {"b", {0, 1, 0, 0}}, {"c", {0, 0, 2, 0}}}) {
    PairRun& p = counts.pairs.emplace_back();
    p.key = std::make_shared<const PairKey>(PairKey{"e", probe, "v"});
    p.cell.verdicts = verdicts;
  }
  auto encoded = encode_run_texts(counts, one_shared_text({"a", "c"}, {5, 9}));
  REQUIRE(encoded.has_value());
  const std::string* bytes = &encoded->data;
  auto back = decode_run_texts(*bytes, counts, signatures_of(""));
  REQUIRE(back.has_value());
  auto found = back->uses.find(std::string(64, 'a'));
  REQUIRE(found.has_value());
  CHECK(found->probes == std::set<std::string>{"a", "c"});
  CHECK(found->ids == SampleIds{5, 9});
  // Its probes alone, read in place, as in the built form; none for a text it does not hold.
  std::set<std::string> probes_of, built_probes_of;
  back->uses.add_probes(std::string(64, 'a'), probes_of);
  one_shared_text({"a", "c"}, {5, 9}).uses.add_probes(std::string(64, 'a'), built_probes_of);
  CHECK(probes_of == std::set<std::string>{"a", "c"});
  CHECK(built_probes_of == probes_of);
  back->uses.add_probes(std::string(64, 'b'), probes_of);
  CHECK(probes_of.size() == 2);

  // By hand: one use, its hash, the probe indices given, one id (5, as a zigzag delta).
  auto one_use = [](std::initializer_list<int> indices) {
    std::string b(1, '\x01');
    b += std::string(32, '\xaa');
    b += static_cast<char>(indices.size());
    for (int i : indices) b += static_cast<char>(i);
    return b + '\x01' + '\x0a';
  };
  std::vector<SharedPairKey> probes = {counts.pairs[0].key, counts.pairs[2].key};
  auto good = TextUses::decode(one_use({0, 1}), probes);
  REQUIRE(good.has_value());
  CHECK(good->all().begin()->second.probes == std::set<std::string>{"a", "c"});
  CHECK(good->all().begin()->second.ids == SampleIds{5});
  CHECK_FALSE(TextUses::decode(one_use({0, 0}), probes).has_value());  // twice
  CHECK_FALSE(TextUses::decode(one_use({1, 0}), probes).has_value());  // descending
  CHECK_FALSE(TextUses::decode(one_use({0, 2}), probes).has_value());  // out of range
  CHECK_FALSE(TextUses::decode(one_use({}), probes).has_value());      // no probe
}

TEST_CASE("a cell keeps the first eight sample ids of each kind, and its summary the same") {
  History h;
  dw::store::SampleRow row;
  row.run_id = 1;
  row.run_at = day(1);
  for (int i = 1; i <= 12; ++i) {
    row.id = 100 + i;
    row.key = {1, "a", "v1", "e", i, "m", std::nullopt};
    row.classification =
        dw::store::Classification{i % 3 == 0 ? "error" : "refused", "[]", false, std::nullopt, "t"};
    h.add(row, nullptr);
  }
  const Cell& cell = h.pairs().begin()->second.cells.at(0);
  CHECK(cell.ids == SampleIds{101, 102, 104, 105, 107, 108, 110, 111});
  CHECK(cell.error_ids == SampleIds{103, 106, 109, 112});
  SampleIds capped;
  for (int64_t id = 1; id <= 20; ++id) capped.push_back(id);
  CHECK(capped.size() == kMaxCellIds);
  CHECK(capped[kMaxCellIds - 1] == static_cast<int64_t>(kMaxCellIds));
  // Past four the ids move to the heap: copies are deep, a moved-from list is empty.
  SampleIds copy = capped;
  copy.clear();
  copy.push_back(99);
  CHECK(capped.size() == kMaxCellIds);
  CHECK(capped[0] == 1);
  CHECK(copy == SampleIds{99});
  SampleIds moved = std::move(capped);
  CHECK(moved.size() == kMaxCellIds);
  CHECK(capped.empty());  // NOLINT(bugprone-use-after-move): what a move leaves is specified
  copy = moved;
  CHECK(copy == moved);
  SampleIds small{1, 2, 3};
  copy = small;
  CHECK(copy == SampleIds{1, 2, 3});

  auto runs = h.cells_of({1, day(1)});
  REQUIRE(runs.size() == 1);
  std::unordered_map<int64_t, dw::store::ProbeKey> keys = {{1, {1, "a", "v1", false}}};
  auto back = decode_run_cells(encode_run_cells(runs[0], {1}), "e", {1, day(1)}, keys);
  REQUIRE(back);
  REQUIRE(back->pairs.size() == 1);
  CHECK(back->pairs[0].cell.ids == cell.ids);
  CHECK(back->pairs[0].cell.error_ids == cell.error_ids);
}

TEST_CASE("an event's resolution follows its evidence, however often it is asked") {
  dw::store::Event e;
  e.type = "verdict_shift";
  e.evidence_json = R"({"measure":"verdicts","resolution":"returned"})";
  CHECK(dw::drift::resolution_of(e) == "");  // open: not resolved, whatever the evidence says
  e.status = dw::store::EventStatus::resolved;
  CHECK(dw::drift::resolution_of(e) == "returned");
  CHECK(dw::drift::resolution_of(e) == "returned");
  dw::store::Event other = e;
  other.evidence_json = R"({"measure":"narrative","resolution":"new_normal"})";
  CHECK(dw::drift::resolution_of(other) == "new_normal");
  // Resolving rewrites the evidence: the answer is the new one, not a remembered one.
  e.status = dw::store::EventStatus::open;
  e.evidence_json = R"({"measure":"verdicts"})";
  dw::drift::resolve(e, day(3), 3, "new_normal", nlohmann::json::object());
  CHECK(dw::drift::resolution_of(e) == "new_normal");
  e.evidence_json = "not json";
  CHECK(dw::drift::resolution_of(e) == "");
  // Only the evidence's own key: not one inside another object, not one that is not a string.
  e.evidence_json = R"({"resolved_after":{"resolution":"returned"},"z":1})";
  CHECK(dw::drift::resolution_of(e) == "");
  e.evidence_json = R"({"a":[{"resolution":"returned"}],"resolution":7})";
  CHECK(dw::drift::resolution_of(e) == "");
  e.evidence_json = R"({"a":[1,{"b":2}],"resolution":"returned","z":{}})";
  CHECK(dw::drift::resolution_of(e) == "returned");
}

TEST_CASE("an evidence's facts are its own top-level strings, read in one pass") {
  using dw::drift::evidence_facts;
  auto f = evidence_facts(
      R"({"a":{"measure":"coverage","decided_at":"2026-01-01T00:00:00Z"},"decided_at":)"
      R"("2026-01-10T06:00:00Z","measure":"narrative","resolution":"returned",)"
      R"("similarity":{"template_hash":"x"},"template_hash":"ab12"})");
  CHECK(f.measure == "narrative");
  CHECK(f.resolution == "returned");
  CHECK(f.template_hash == "ab12");
  REQUIRE(f.decided_at);
  CHECK(*f.decided_at == *dw::parse_time("2026-01-10T06:00:00Z"));
  // Another text, other facts (remembered by the whole text, never mixed up).
  f = evidence_facts(R"({"measure":"similarity","decided_at":"yesterday","template_hash":3})");
  CHECK(f.measure == "similarity");
  CHECK(f.resolution.empty());
  CHECK(f.template_hash.empty());  // not a string
  CHECK(!f.decided_at);            // not a time
  // Text that is not JSON, even after a good start, has none.
  f = evidence_facts(R"({"measure":"narrative","resolution":"returned",)");
  CHECK(f.measure.empty());
  CHECK(f.resolution.empty());
  // An open event decided at its evidence's time, else at its detection.
  dw::store::Event e;
  e.detected_at = day(4);
  e.evidence_json = R"({"decided_at":")" + dw::format_time(day(5)) + R"("})";
  CHECK(dw::drift::decided_at(e) == day(5));
  e.evidence_json = R"({"examples":{"decided_at":")" + dw::format_time(day(6)) + R"("}})";
  CHECK(dw::drift::decided_at(e) == day(4));
}

TEST_CASE("decoded runs share each endpoint's pair keys; History keeps one pair for each") {
  History from_rows;
  dw::store::SampleRow row;
  int64_t id = 1;
  auto add = [&](int run, const char* endpoint, const char* probe) {
    row.id = id++;
    row.run_id = run;
    row.run_at = day(run);
    row.key = {run, probe, "v1", endpoint, 1, "m", std::nullopt};
    row.classification = dw::store::Classification{"answered", "[]", false, 1.0, "t"};
    from_rows.add(row, nullptr);
  };
  for (int run = 1; run <= 2; ++run) {
    for (const char* endpoint : {"e1", "e2"}) {
      for (const char* probe : {"a", "b"}) add(run, endpoint, probe);
    }
  }
  for (const char* probe : {"a", "ab", "b"}) add(3, "e1", probe);  // a new pair between two
  std::unordered_map<int64_t, dw::store::ProbeKey> keys = {
      {1, {1, "a", "v1", false}}, {2, {2, "b", "v1", false}}, {3, {3, "ab", "v1", false}}};
  std::map<std::string, int64_t> key_of = {{"a", 1}, {"b", 2}, {"ab", 3}};

  PairKeyPool pool;
  std::vector<std::vector<EndpointRun>> runs;  // by run, then endpoint
  for (int run = 1; run <= 3; ++run) {
    runs.emplace_back();
    for (const EndpointRun& e : from_rows.cells_of({run, day(run)})) {
      std::vector<int64_t> ids;
      for (const PairRun& p : e.pairs) ids.push_back(key_of.at(p.key->probe_id));
      auto back = decode_run_cells(encode_run_cells(e, ids), e.endpoint, {run, day(run)}, keys,
                                   true, &pool);
      REQUIRE(back);
      runs.back().push_back(std::move(*back));
    }
  }
  REQUIRE(runs[0].size() == 2);
  REQUIRE(runs[2].size() == 1);
  // The same endpoint's pair in two runs: one key. The same key id on another endpoint: not.
  CHECK(runs[0][0].pairs[0].key == runs[1][0].pairs[0].key);
  CHECK(runs[0][0].pairs[0].key == runs[2][0].pairs[0].key);
  CHECK(runs[0][0].pairs[0].key != runs[0][1].pairs[0].key);
  CHECK(runs[0][1].pairs[0].key->endpoint == "e2");
  CHECK(*runs[0][1].pairs[0].key == PairKey{"e2", "a", "v1"});

  History h;
  for (auto& run : runs) {
    for (EndpointRun& e : run) h.add(std::move(e));
  }
  std::vector<std::pair<std::string, size_t>> pairs;  // "endpoint probe", cells
  for (const auto& [key, pair] : h.pairs()) {
    pairs.emplace_back(key.endpoint + " " + key.probe_id, pair.cells.size());
  }
  CHECK(pairs == std::vector<std::pair<std::string, size_t>>{
                     {"e1 a", 3}, {"e1 ab", 1}, {"e1 b", 3}, {"e2 a", 2}, {"e2 b", 2}});
  CHECK(h.pairs().at(PairKey{"e1", "ab", "v1"}).cells[0].run.id == 3);
}

}  // namespace drift_run_cells_test
