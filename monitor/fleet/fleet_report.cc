#include "fleet/fleet_report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <tuple>

#include "drift/stats.h"
#include "fleet/central_schema.h"
#include "report/text.h"

namespace dw::fleet {
namespace {

using Row = std::vector<std::optional<std::string>>;
using Params = std::vector<std::optional<std::string>>;

// Columns come back as text; NULL and unparsable numbers read as 0 / absent (aggregates are
// never NULL where a number is read, except min/max over no rows).
std::string col_text(const Row& row, size_t i) { return i < row.size() && row[i] ? *row[i] : ""; }

long col_long(const Row& row, size_t i) {
  std::string s = col_text(row, i);
  long v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::optional<Time> col_time(const Row& row, size_t i) {
  if (i >= row.size() || !row[i]) return std::nullopt;
  return Time{std::chrono::seconds{col_long(row, i)}};
}

std::optional<double> col_real(const Row& row, size_t i) {
  std::string s = col_text(row, i);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

// Seconds since the epoch: independent of the session's DateStyle and TimeZone.
std::string epoch(const std::string& column) {
  return "floor(extract(epoch FROM " + column + "))::bigint";
}

const std::string kInPeriod = " r.run_at >= $1::timestamptz AND r.run_at < $2::timestamptz ";
const std::string kSampleJoin =
    " FROM samples s JOIN runs r ON r.uuid = s.run_uuid"
    " JOIN probes p ON p.probe_id = s.probe_id AND p.probe_version = s.probe_version"
    " WHERE" +
    kInPeriod;

Result<RawCounts> read_raw(Pg& pg, const Params& period) {
  RawCounts raw;
  auto vantages = pg.exec(
      "SELECT r.vantage, r.monitor, (array_agg(r.country ORDER BY r.run_at DESC))[1],"
      " (array_agg(r.asn ORDER BY r.run_at DESC))[1],"
      " count(*) FILTER (WHERE r.run_at >= $1::timestamptz), " +
          epoch("min(r.run_at) FILTER (WHERE r.run_at >= $1::timestamptz)") + ", " +
          epoch("max(r.run_at) FILTER (WHERE r.run_at >= $1::timestamptz)") + ", " +
          epoch("max(r.run_at)") +
          ", count(*) FILTER (WHERE r.run_at >= $1::timestamptz AND r.clock_ahead)"
          " FROM runs r WHERE r.run_at < $2::timestamptz"
          " AND r.run_at >= $1::timestamptz - make_interval(days => " +
          std::to_string(kSilentVantageDays) + ") GROUP BY r.vantage, r.monitor",
      period);
  if (!vantages) return vantages.error();
  for (const auto& row : vantages->rows)
    raw.vantages.push_back({col_text(row, 0), col_text(row, 1), col_text(row, 2), col_text(row, 3),
                            col_long(row, 4), col_time(row, 5), col_time(row, 6),
                            col_time(row, 7).value_or(Time{}), col_long(row, 8)});

  // Columns 6..11: every sample, then report::kVerdicts' order. A sample with an error and no
  // verdict is an error; one with neither is unclassified (counted, never in a share).
  std::string counts = ", count(*)";
  for (const char* v : {"answered", "refused", "deflected", "filtered"})
    counts += ", count(*) FILTER (WHERE s.verdict = '" + std::string(v) + "')";
  counts += ", count(*) FILTER (WHERE s.verdict = 'error'";
  counts += " OR (s.verdict IS NULL AND s.error IS NOT NULL))";
  auto cells = pg.exec("SELECT s.endpoint, s.probe_id, s.probe_version, p.category, r.vantage," +
                           std::string(" p.control") + counts + kSampleJoin +
                           "GROUP BY s.endpoint, s.probe_id, s.probe_version, p.category,"
                           " r.vantage, p.control",
                       period);
  if (!cells) return cells.error();
  for (const auto& row : cells->rows) {
    RawCell c{col_text(row, 0),
              col_text(row, 1),
              col_text(row, 2),
              col_text(row, 3),
              col_text(row, 4),
              col_text(row, 5) == "t",
              {}};
    long classified = 0;
    for (size_t i = 0; i < c.counts.n.size(); ++i)
      classified += c.counts.n[i] = col_long(row, 7 + i);
    c.counts.unclassified = std::max(0L, col_long(row, 6) - classified);
    raw.cells.push_back(std::move(c));
  }

  auto runs = pg.exec("SELECT s.endpoint, p.category, r.vantage, count(DISTINCT s.run_uuid)" +
                          kSampleJoin + "GROUP BY s.endpoint, p.category, r.vantage",
                      period);
  if (!runs) return runs.error();
  for (const auto& row : runs->rows)
    raw.category_runs.push_back(
        {col_text(row, 0), col_text(row, 1), col_text(row, 2), col_long(row, 3)});

  auto opened = pg.exec(
      "SELECT r.vantage, count(*) FROM events e JOIN runs r ON r.uuid = e.run_uuid"
      " WHERE" +
          kInPeriod + "GROUP BY r.vantage",
      period);
  if (!opened) return opened.error();
  long total = 0;
  for (const auto& row : opened->rows)
    total += raw.events_opened[col_text(row, 0)] = col_long(row, 1);

  auto events = pg.exec(
      "SELECT r.vantage, r.monitor, e.type, e.endpoint, e.probe_id, e.probe_version,"
      " coalesce(p.category, ''), e.scope, " +
          epoch("r.run_at") + ", " + epoch("e.detected_at") +
          ", e.evidence->>'q', e.evidence->>'effect', " + epoch("x.resolved_at") +
          ", x.resolution FROM events e JOIN runs r ON r.uuid = e.run_uuid"
          " LEFT JOIN probes p ON p.probe_id = e.probe_id AND p.probe_version = e.probe_version"
          " LEFT JOIN event_resolutions x ON x.opened_run_uuid = e.run_uuid AND x.type = e.type"
          " AND x.endpoint = e.endpoint AND x.probe_id = e.probe_id"
          " AND x.probe_version = e.probe_version AND x.subject = e.subject"
          " AND x.resolved_at < $2::timestamptz"
          " WHERE" +
          kInPeriod +
          "ORDER BY r.run_at, r.vantage, e.type, e.endpoint, e.probe_id, e.probe_version,"
          " e.subject"
          " LIMIT " +
          std::to_string(kMaxEvents),
      period);
  if (!events) return events.error();
  for (const auto& row : events->rows)
    raw.events.push_back({col_text(row, 0), col_text(row, 1), col_text(row, 2), col_text(row, 3),
                          col_text(row, 4), col_text(row, 5), col_text(row, 6), col_text(row, 7),
                          col_time(row, 8).value_or(Time{}), col_time(row, 9).value_or(Time{}),
                          col_real(row, 10), col_real(row, 11), col_time(row, 12),
                          col_text(row, 13)});
  raw.events_left_out = std::max(0L, total - static_cast<long>(raw.events.size()));
  return raw;
}

std::string clean(const std::string& s) { return report::sanitise_untrusted(s); }

void add_counts(report::VerdictCounts& to, const report::VerdictCounts& from) {
  for (size_t i = 0; i < to.n.size(); ++i) to.n[i] += from.n[i];
  to.unclassified += from.unclassified;
}

// The test's columns: answered, refused, deflected, filtered (never error).
drift::Counts valid_counts(const report::VerdictCounts& c) {
  return drift::Counts(c.n.begin(), c.n.begin() + report::kError);
}

// The exact test enumerates tables: cheap for the few hundred samples of drift's windows, not
// for a period's thousands (a month of hourly runs). A larger row is scaled down to this many
// samples, its shares kept: less evidence, so a larger p, never a smaller one in practice; and
// a difference of min_effect over hundreds of samples a side is far beyond chance anyway.
constexpr long kMaxTestedSamples = 300;

drift::Counts tested_counts(const report::VerdictCounts& c) {
  drift::Counts n = valid_counts(c);
  long total = 0;
  for (long v : n) total += v;
  if (total <= kMaxTestedSamples) return n;
  const double scale = static_cast<double>(kMaxTestedSamples) / static_cast<double>(total);
  for (long& v : n) v = std::lround(static_cast<double>(v) * scale);
  return n;
}

std::vector<VantageInfo> merge_vantages(const RawCounts& raw) {
  std::map<std::string, VantageInfo> by;
  for (const auto& v : raw.vantages) {
    VantageInfo& info = by[clean(v.vantage)];
    if (info.monitors.empty() || v.last_seen >= info.last_seen) {
      info.country = clean(v.country);
      info.asn = clean(v.asn);
      info.last_seen = v.last_seen;
    }
    info.monitors.push_back(clean(v.monitor));
    info.runs += v.runs;
    info.clock_ahead += v.clock_ahead;
    if (v.first_run && (!info.first_run || *v.first_run < *info.first_run))
      info.first_run = v.first_run;
    if (v.last_run && (!info.last_run || *v.last_run > *info.last_run)) info.last_run = v.last_run;
  }
  for (const auto& c : raw.cells) by[clean(c.vantage)];  // a cell's vantage is always listed
  for (const auto& [name, n] : raw.events_opened) by[clean(name)].events_opened += n;
  std::vector<VantageInfo> out;
  for (auto& [name, info] : by) {
    info.name = name;
    std::sort(info.monitors.begin(), info.monitors.end());
    info.monitors.erase(std::unique(info.monitors.begin(), info.monitors.end()),
                        info.monitors.end());
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<CategoryRow> category_rows(const RawCounts& raw,
                                       const std::vector<VantageInfo>& vantages) {
  using Key = std::pair<std::string, std::string>;  // endpoint, category
  std::map<Key, std::pair<bool, std::map<std::string, VantageCell>>> blocks;
  for (const auto& c : raw.cells) {
    auto& [control, cells] = blocks[{clean(c.endpoint), clean(c.category)}];
    control = control || c.control;
    add_counts(cells[clean(c.vantage)].counts, c.counts);
  }
  for (const auto& r : raw.category_runs) {
    auto it = blocks.find({clean(r.endpoint), clean(r.category)});
    if (it != blocks.end()) it->second.second[clean(r.vantage)].runs += r.runs;
  }
  std::vector<CategoryRow> rows;
  for (auto& [key, block] : blocks) {
    CategoryRow row{key.first, key.second, block.first, 0, {}};
    for (const auto& v : vantages) {
      VantageCell cell = block.second[v.name];
      cell.vantage = v.name;
      row.expected_runs = std::max(row.expected_runs, cell.runs);
      row.vantages.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void find_divergences(const RawCounts& raw, FleetReport& r) {
  using Key = std::tuple<std::string, std::string, std::string>;  // endpoint, probe, version
  std::map<Key, std::pair<std::string, std::map<std::string, report::VerdictCounts>>> probes;
  for (const auto& c : raw.cells) {
    auto& [category, by_vantage] =
        probes[{clean(c.endpoint), clean(c.probe_id), clean(c.probe_version)}];
    category = clean(c.category);
    add_counts(by_vantage[clean(c.vantage)], c.counts);
  }
  std::vector<Divergence> tests;
  std::vector<double> p;
  for (const auto& [key, probe] : probes) {
    const auto& by_vantage = probe.second;
    auto valid = [&](const std::string& v) -> const report::VerdictCounts* {
      auto it = by_vantage.find(v);
      return it != by_vantage.end() && it->second.valid() > 0 ? &it->second : nullptr;
    };
    for (size_t i = 0; i < r.vantages.size(); ++i)
      for (size_t j = i + 1; j < r.vantages.size(); ++j) {
        const auto* a = valid(r.vantages[i].name);
        const auto* b = valid(r.vantages[j].name);
        if (!a || !b) {  // missing is not a difference
          r.pairs_missing += (a || b) ? 1 : 0;
          continue;
        }
        Divergence d{std::get<0>(key),
                     std::get<1>(key),
                     std::get<2>(key),
                     probe.first,
                     r.vantages[i].name,
                     r.vantages[j].name,
                     *a,
                     *b,
                     1,
                     1,
                     0};
        d.effect = drift::total_variation(valid_counts(*a), valid_counts(*b));
        // As in drift: below the minimum effect a pair cannot be a finding, so it joins the
        // FDR family with p = 1 and the exact enumeration is spared.
        if (d.effect >= r.min_effect) d.p = drift::exact_test(tested_counts(*a), tested_counts(*b));
        p.push_back(d.p);
        tests.push_back(std::move(d));
      }
  }
  r.pairs_tested = static_cast<long>(tests.size());
  std::vector<double> q = drift::benjamini_hochberg(p);
  for (size_t i = 0; i < tests.size(); ++i) {
    tests[i].q = q[i];
    if (q[i] <= r.alpha && tests[i].effect >= r.min_effect) r.divergences.push_back(tests[i]);
  }
  std::sort(
      r.divergences.begin(), r.divergences.end(), [](const Divergence& x, const Divergence& y) {
        return std::tie(x.q, x.endpoint, x.probe_id, x.probe_version, x.vantage_a, x.vantage_b) <
               std::tie(y.q, y.endpoint, y.probe_id, y.probe_version, y.vantage_a, y.vantage_b);
      });
}

void completeness(FleetReport& r) {
  if (r.vantages.empty()) {
    r.complete = false;
    r.notes.push_back("no vantage sent a run in the period");
  }
  for (const auto& v : r.vantages) {
    if (v.runs == 0) {
      r.complete = false;
      r.notes.push_back(v.name + " sent no run in the period (last run " +
                        format_time(v.last_seen) + ")");
      continue;
    }
    for (const auto& endpoint : r.endpoints) {
      long rows = 0, short_rows = 0, fewest = -1, of = 0;
      for (const auto& row : r.categories) {
        if (row.endpoint != endpoint) continue;
        ++rows;
        for (const auto& cell : row.vantages)
          if (cell.vantage == v.name && cell.runs < row.expected_runs) {
            ++short_rows;
            if (fewest < 0 || cell.runs < fewest) fewest = cell.runs, of = row.expected_runs;
          }
      }
      if (short_rows == 0) continue;
      r.complete = false;
      r.notes.push_back(v.name + " has " + std::to_string(fewest) + " of " + std::to_string(of) +
                        " expected runs of " + endpoint + " (" + std::to_string(short_rows) +
                        " of " + std::to_string(rows) + " categories short)");
    }
    if (v.clock_ahead > 0)
      r.notes.push_back(
          v.name + ": " + std::to_string(v.clock_ahead) +
          " runs dated more than an hour ahead of the server's clock (kept, flagged)");
    if (v.monitors.size() > 1)
      r.notes.push_back(v.name + " is pushed by " + std::to_string(v.monitors.size()) +
                        " monitor roles: check that they are one vantage");
  }
}

}  // namespace

FleetReport build_fleet_report(const RawCounts& raw, const FleetReportOptions& options) {
  FleetReport r;
  r.since = options.since;
  r.at = options.at;
  r.alpha = options.alpha;
  r.min_effect = options.min_effect;
  r.vantages = merge_vantages(raw);
  std::set<std::string> endpoints;
  for (const auto& c : raw.cells) endpoints.insert(clean(c.endpoint));
  r.endpoints.assign(endpoints.begin(), endpoints.end());
  r.categories = category_rows(raw, r.vantages);
  for (FleetEvent e : raw.events) {
    for (std::string* s : {&e.vantage, &e.monitor, &e.type, &e.endpoint, &e.probe_id,
                           &e.probe_version, &e.category, &e.scope, &e.resolution})
      *s = clean(*s);
    r.events.push_back(std::move(e));
  }
  std::sort(r.events.begin(), r.events.end(), [](const FleetEvent& x, const FleetEvent& y) {
    return std::tie(x.opened_at, x.vantage, x.type, x.endpoint, x.probe_id, x.probe_version) <
           std::tie(y.opened_at, y.vantage, y.type, y.endpoint, y.probe_id, y.probe_version);
  });
  r.events_left_out = raw.events_left_out;
  find_divergences(raw, r);
  completeness(r);
  return r;
}

Result<FleetReport> gather_fleet(Pg& pg, const FleetReportOptions& options) {
  if (options.since >= options.at)
    return Error("the fleet report period is empty: since " + format_time(options.since) +
                 " is not before " + format_time(options.at));
  if (auto s = check_central(pg); !s) return s.error();
  // One snapshot for every query, so counts, runs and events agree while monitors push. Read
  // only: the transaction is rolled back when tx goes out of scope, nothing to commit.
  auto tx = pg.begin();
  if (!tx) return tx.error();
  if (auto s = pg.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !s)
    return s.error();
  auto raw = read_raw(pg, {format_time(options.since), format_time(options.at)});
  if (!raw) return raw.error();
  return build_fleet_report(*raw, options);
}

}  // namespace dw::fleet
