#include "fleet/fleet_status.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "fleet/central_schema.h"
#include "report/text.h"

namespace dw::fleet {
namespace {

long status_long(const std::optional<std::string>& s) {
  long v = 0;
  if (s) std::from_chars(s->data(), s->data() + s->size(), v);
  return v;
}

// Database text on a terminal: sanitised (no controls) and on one line (no tab, no newline).
std::string terminal_line(const std::optional<std::string>& s) {
  std::string out;
  for (char c : report::sanitise_untrusted(s.value_or("")))
    out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : std::string(1, c);
  return out;
}

// "5m ago", "3h ago", "12d ago"; a time after now (a clock ahead) says so.
std::string age(Time t, Time now) {
  long s = (now - t).count();
  if (s < 0) return "ahead of now";
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 120 * 60) return std::to_string(s / 60) + "m ago";
  if (s < 48 * 3600) return std::to_string(s / 3600) + "h ago";
  return std::to_string(s / 86400) + "d ago";
}

// Width on a terminal, near enough: code points (continuation bytes do not count).
size_t width(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

Result<std::vector<MonitorStatus>> fleet_status(Pg& pg) {
  if (auto s = check_central(pg); !s) return s.error();
  // Epoch seconds: independent of the session's DateStyle and TimeZone.
  auto rows = pg.exec(
      "SELECT monitor, vantage, floor(extract(epoch FROM max(run_at)))::bigint, count(*),"
      " floor(extract(epoch FROM max(received_at)))::bigint,"
      " (array_agg(backlog ORDER BY received_at DESC, run_at DESC))[1],"
      " count(*) FILTER (WHERE clock_ahead)"
      " FROM runs GROUP BY monitor, vantage");
  if (!rows) return rows.error();
  std::vector<MonitorStatus> out;
  for (const auto& row : rows->rows) {
    if (row.size() < 7) continue;
    out.push_back({terminal_line(row[0]), terminal_line(row[1]),
                   Time{std::chrono::seconds{status_long(row[2])}}, status_long(row[3]),
                   Time{std::chrono::seconds{status_long(row[4])}}, status_long(row[5]),
                   status_long(row[6])});
  }
  // Sorted here, not by the server: its collation would order names differently by locale.
  std::sort(out.begin(), out.end(), [](const MonitorStatus& a, const MonitorStatus& b) {
    return std::tie(a.monitor, a.vantage) < std::tie(b.monitor, b.vantage);
  });
  return out;
}

std::string render_status(const std::vector<MonitorStatus>& monitors, Time now) {
  if (monitors.empty()) return "no monitor has pushed a run yet\n";
  std::vector<std::vector<std::string>> table{
      {"monitor", "vantage", "last run", "runs", "last received", "backlog", "clock ahead"}};
  for (const auto& m : monitors)
    table.push_back({m.monitor, m.vantage,
                     format_time(m.last_run) + " (" + age(m.last_run, now) + ")",
                     std::to_string(m.runs),
                     format_time(m.last_received) + " (" + age(m.last_received, now) + ")",
                     std::to_string(m.backlog),
                     m.clock_ahead ? std::to_string(m.clock_ahead) + " runs!" : "0"});
  std::vector<size_t> widths(table[0].size(), 0);
  for (const auto& row : table)
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));
  std::string out;
  for (const auto& row : table) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - width(row[i]) + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace dw::fleet
