#include "common/time.h"

#include <date/date.h>

#include <cctype>

namespace dw {
namespace {

// Reads exactly n digits at pos; returns -1 when they are not there.
int digits(std::string_view s, size_t& pos, int n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

}  // namespace

Result<Time> parse_time(std::string_view s) {
  auto bad = [&] {
    return Error("invalid time '" + std::string(s) +
                 "': expected ISO 8601 such as 2026-01-15T06:30:00Z or 2026-01-15");
  };
  size_t pos = 0;
  int y = digits(s, pos, 4);
  if (y < 0 || !expect(s, pos, '-')) return bad();
  int mo = digits(s, pos, 2);
  if (mo < 0 || !expect(s, pos, '-')) return bad();
  int d = digits(s, pos, 2);
  if (d < 0) return bad();
  date::year_month_day ymd{date::year{y}, date::month(static_cast<unsigned>(mo)),
                           date::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return bad();
  Time t = std::chrono::time_point_cast<std::chrono::seconds>(date::sys_days{ymd});
  if (pos == s.size()) return t;

  if (!expect(s, pos, 'T') && !expect(s, pos, ' ')) return bad();
  int h = digits(s, pos, 2);
  if (h < 0 || h > 23 || !expect(s, pos, ':')) return bad();
  int mi = digits(s, pos, 2);
  if (mi < 0 || mi > 59) return bad();
  int sec = 0;
  if (expect(s, pos, ':')) {
    sec = digits(s, pos, 2);
    if (sec < 0 || sec > 60) return bad();
    if (expect(s, pos, '.') || expect(s, pos, ',')) {
      size_t start = pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
      if (pos == start) return bad();
    }
  }
  t += std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(sec);
  if (pos == s.size() || expect(s, pos, 'Z') || expect(s, pos, 'z')) {
    return pos == s.size() ? Result<Time>(t) : bad();
  }
  int sign = s[pos] == '+' ? 1 : s[pos] == '-' ? -1 : 0;
  if (sign == 0) return bad();
  ++pos;
  int oh = digits(s, pos, 2);
  if (oh < 0 || oh > 23) return bad();
  expect(s, pos, ':');
  int om = digits(s, pos, 2);
  if (om < 0 || om > 59 || pos != s.size()) return bad();
  return t - sign * (std::chrono::hours(oh) + std::chrono::minutes(om));
}

std::string format_time(Time t) { return date::format("%FT%TZ", t); }

std::string format_date(Time t) { return date::format("%F", t); }

Time SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace dw
